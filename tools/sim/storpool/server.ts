/**
 * A simulated StorPool JSON API over real HTTP on 127.0.0.1.
 *
 * Follows the real API names and shapes: `/ctrl/1.0/<Method>[/<name>]`, header
 * `Authorization: Storpool v1:<token>`, replies `{"generation": N, "data": …}` and
 * `{"error": {"name", "descr", "transient"}}`. Modelled: templates (replication, placeAll,
 * placeTail, placeHead, capacity), volumes (named, or unnamed: `~<globalId>`) and snapshots
 * with parent chains and tags, attachments per client id (ro/rw, force detach, "open" state),
 * delayed delete (deleteAfter → targetDeleteDate, purged when due), group snapshots (atomic),
 * revert; and the layout under them (layout.ts): a disk per copy of each template on servers
 * 1..3, and placement groups (stored; those a template or volume names are made).
 *
 * Volume data lives in sparse files under `<stateDir>/data/`; snapshots, clones and reverts
 * copy bytes (`cp --sparse=always`). Attaching to a client that `clients` maps to host X
 * creates `<hostsRoot>/X/dev/storpool/<name>` as a symlink to the data file; detach removes it.
 *
 * Capacity accounting: a template's `stored.free` = capacity − Σ provisioned size of the
 * volumes and snapshots in it (never below 0); creating or growing a volume beyond it fails
 * (insufficientResources). Snapshots are never refused (they share the volume's data). Each
 * of the template's disks is `capacity` bytes and uses the provisioned sizes, so DisksList adds
 * up to the template's capacity and free space.
 *
 * Error names used: objectDoesNotExist (404), objectExists (409), invalidParam (400),
 * jsonError (400), busy (409: attached or open; a template or placement group in use),
 * insufficientResources (400), timeout (500:
 * a client outside `clients` with attachTimeout ≠ 0), authorization (401), notImplemented
 * (404), internalError (500, injected).
 *
 * Requests are checked as the API checks them (names of at most 199 characters, none of the
 * words it keeps for itself such as `list`; replication 1 to 3; placement group names), and
 * every reply carries the fields StorPool's Python bindings require of it (README: the check
 * against them).
 *
 * Control endpoints (not StorPool, no token): see SIM_ENDPOINTS.
 *
 * Files: model.ts (objects, errors, request checks), store.ts (state, data files, device links,
 * disks and placement groups, attachments, snapshots), views.ts (object summaries, disks),
 * methods.ts (the API methods), layout.ts (those of services, servers, disks and placement
 * groups); this file serves them over HTTP with the token check, latency, fault injection and
 * the controls.
 */
import { resolve } from "node:path";
import { invalid, type Json, SimError, type SimStateDump, type SimTemplateSpec } from "./model.ts";
import { apiMethods } from "./methods.ts";
import { SpStore } from "./store.ts";

/** Control endpoints under /_sim/ (documentation). */
export const SIM_ENDPOINTS = [
  "GET  /_sim/stats                 → {requests, byMethod, errors}",
  "POST /_sim/stats/reset",
  "GET  /_sim/state                 → templates, volumes, snapshots, attachments, clients",
  "POST /_sim/in-use {volume|snapshot, client: id|host, in_use: bool}",
  "POST /_sim/fault {method?='*', delayMs?, status?, transient?, errorName?, drop?, " +
  "dropAfterApply?, times?}",
  "GET  /_sim/fault                 → active faults",
  "DELETE /_sim/fault               → clear faults",
  "POST /_sim/restart {downMs?}     → drop connections, listen again (state kept)",
  "POST /_sim/clock {advanceSeconds} → move the sim clock (delayed deletes fall due)",
] as const;

/** An injected fault. */
export interface SimFault {
  /** API method name ("VolumesList") or "*" (default). */
  method?: string;
  /** Delay before answering (or dropping), ms. */
  delayMs?: number;
  /** Answer with this HTTP status and a StorPool error body. */
  status?: number;
  /** The error's `transient` flag (default false). */
  transient?: boolean;
  /** The error's name (default internalError). */
  errorName?: string;
  /** Drop the connection: headers go out, then the body breaks (nothing is applied). */
  drop?: boolean;
  /** Apply the call, then drop its reply the same way (a reply lost after the change). */
  dropAfterApply?: boolean;
  /** How many requests it applies to (default: until cleared). */
  times?: number;
}

/** Options of startStorpoolSim. */
export interface StorpoolSimOptions {
  /** TCP port (default 0 = ephemeral). */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** API token (default: random). */
  token?: string;
  /** Client name → StorPool client id; names are host dirs under hostsRoot. */
  clients?: Record<string, number>;
  templates?: SimTemplateSpec[];
  /** Added to every API request, ms. */
  latencyMs?: number;
  /** Where state.json and data/ live (default: a temp dir removed by stop()). */
  stateDir?: string;
  /** `<hostsRoot>/<host>/dev/storpool/<name>` symlinks for attachments (default: none). */
  hostsRoot?: string;
}

/** Request counters. */
export interface SimStats {
  requests: number;
  byMethod: Record<string, number>;
  errors: number;
}

/** A running simulator. */
export interface StorpoolSim {
  url: string;
  port: number;
  token: string;
  stateDir: string;
  hostsRoot?: string;
  clients: Record<string, number>;
  /** Stop serving; removes the state dir when it was a temp dir. */
  stop(): Promise<void>;
  /** Drop every connection and listen again on the same port after downMs; state kept. */
  restart(downMs?: number): Promise<void>;
  stats(): SimStats;
  resetStats(): void;
  /** JSON-able dump of the whole state. */
  state(): SimStateDump;
  /** Mark a volume/snapshot attachment open (in use) on a client (saved to the state file). */
  setInUse(name: string, client: number | string, inUse: boolean): void;
  /** Resolves once the state file holds every change made so far. */
  flush(): Promise<void>;
  addFault(f: SimFault): void;
  clearFaults(): void;
  advanceClock(seconds: number): void;
  /** Data file of a volume (or snapshot), undefined when missing. */
  dataPath(name: string, kind?: "volume" | "snapshot"): string | undefined;
}

/** Start a simulator (see module doc). */
export async function startStorpoolSim(opts: StorpoolSimOptions = {}): Promise<StorpoolSim> {
  const token = opts.token ?? crypto.randomUUID().replaceAll("-", "");
  const hostname = opts.hostname ?? "127.0.0.1";
  const tempState = !opts.stateDir;
  const stateDir = resolve(opts.stateDir ?? await Deno.makeTempDir({ prefix: "oneblk-spsim-" }));
  const hostsRoot = opts.hostsRoot ? resolve(opts.hostsRoot) : undefined;
  const clients: Record<string, number> = { ...(opts.clients ?? {}) };
  const latencyMs = opts.latencyMs ?? 0;
  const store = await SpStore.open({ stateDir, hostsRoot, clients, templates: opts.templates });
  const methods = apiMethods(store);

  const stats: SimStats = { requests: 0, byMethod: {}, errors: 0 };
  let faults: SimFault[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const aborts = new Set<AbortController>();
  let stopped = false;

  const sleep = (ms: number) =>
    new Promise<boolean>((res) => {
      const ac = new AbortController();
      aborts.add(ac);
      const id = setTimeout(() => {
        timers.delete(id);
        aborts.delete(ac);
        res(true);
      }, ms);
      timers.add(id);
      ac.signal.addEventListener("abort", () => {
        clearTimeout(id);
        timers.delete(id);
        aborts.delete(ac);
        res(false);
      });
    });

  // ---- HTTP ----
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  const apiError = (e: SimError) =>
    json(e.status, { error: { name: e.apiName, descr: e.descr, transient: e.transient } });
  // A reply cut short: the headers promise more bytes than ever come, so the connection is
  // aborted mid-body (an errored stream would do the same but makes Deno log it).
  const dropped = () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("{"));
          c.close();
        },
      }),
      { status: 200, headers: { "Content-Type": "application/json", "Content-Length": "4096" } },
    );

  const readBody = async (req: Request): Promise<Json> => {
    const text = await req.text();
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new SimError(400, "jsonError", "Request body is not valid JSON");
    }
  };

  const control = async (req: Request, path: string): Promise<Response> => {
    const m = req.method;
    if (path === "/_sim/stats" && m === "GET") return json(200, stats);
    if (path === "/_sim/stats/reset" && m === "POST") {
      resetStats();
      return json(200, { ok: true });
    }
    if (path === "/_sim/state" && m === "GET") return json(200, store.dump());
    if (path === "/_sim/in-use" && m === "POST") {
      const b = await readBody(req);
      const name = b?.volume ?? b?.snapshot;
      if (typeof name !== "string") throw invalid("volume (or snapshot) is required");
      await store.locked(async () => {
        store.setInUse(name, b.client, b.in_use !== false, b.volume === undefined);
        await store.save();
      });
      return json(200, { ok: true });
    }
    if (path === "/_sim/fault") {
      if (m === "GET") return json(200, faults);
      if (m === "DELETE") {
        faults = [];
        return json(200, { ok: true });
      }
      if (m === "POST") {
        const b = await readBody(req);
        if (!b || typeof b !== "object") throw invalid("fault object expected");
        faults.push({ ...b });
        return json(200, { ok: true, faults });
      }
    }
    if (path === "/_sim/restart" && m === "POST") {
      const b = await readBody(req);
      const downMs = Number(b?.downMs ?? 0) || 0;
      const id = setTimeout(() => {
        timers.delete(id);
        restart(downMs).catch(() => {});
      }, 5);
      timers.add(id);
      return json(200, { ok: true });
    }
    if (path === "/_sim/clock" && m === "POST") {
      const b = await readBody(req);
      store.st.clockOffset += Number(b?.advanceSeconds ?? 0) || 0;
      await store.locked(() => store.save());
      return json(200, { ok: true, now: store.now() });
    }
    return json(404, { error: { name: "notImplemented", descr: `No such control ${path}` } });
  };

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path.startsWith("/_sim/")) {
      try {
        return await control(req, path);
      } catch (e) {
        if (e instanceof SimError) return apiError(e);
        return json(500, { error: { name: "internalError", descr: String(e) } });
      }
    }
    const prefix = "/ctrl/1.0/";
    const rest = path.startsWith(prefix) ? path.slice(prefix.length) : "";
    const slash = rest.indexOf("/");
    const method = slash < 0 ? rest : rest.slice(0, slash);
    const arg = slash < 0 ? undefined : decodeURIComponent(rest.slice(slash + 1));
    stats.requests++;
    stats.byMethod[method || "?"] = (stats.byMethod[method || "?"] ?? 0) + 1;
    const fail = (e: SimError) => {
      stats.errors++;
      return apiError(e);
    };
    if (req.headers.get("authorization") !== `Storpool v1:${token}`) {
      await req.body?.cancel();
      return fail(new SimError(401, "authorization", "Invalid or missing authorization token"));
    }
    if (latencyMs > 0 && !(await sleep(latencyMs))) return dropped();
    const fault = faults.find((f) => (f.method ?? "*") === "*" || f.method === method);
    if (fault) {
      if (fault.times !== undefined && --fault.times <= 0) {
        faults.splice(faults.indexOf(fault), 1);
      }
      if (fault.delayMs && !(await sleep(fault.delayMs))) return dropped();
      if (fault.drop) {
        await req.body?.cancel();
        stats.errors++;
        return dropped();
      }
      if (fault.status) {
        await req.body?.cancel();
        return fail(
          new SimError(
            fault.status,
            fault.errorName ?? "internalError",
            "Simulated failure",
            fault.transient ?? false,
          ),
        );
      }
    }
    const route = methods[method];
    if (!route) {
      await req.body?.cancel();
      return fail(new SimError(404, "notImplemented", `Unknown API call '${method}'`));
    }
    if (route.http !== req.method) {
      await req.body?.cancel();
      return fail(invalid(`${method} needs ${route.http}`));
    }
    try {
      const body = route.http === "POST" ? await readBody(req) : undefined;
      const data = await store.locked(async () => {
        await store.purgeDue();
        const d = await route.fn(arg, body ?? {});
        if (route.mutates) {
          store.st.generation++;
          if (d && typeof d === "object" && "generation" in d) {
            (d as { generation: number }).generation = store.st.generation;
          }
          await store.save();
        }
        return d;
      });
      if (fault?.dropAfterApply) {
        stats.errors++;
        return dropped();
      }
      return json(200, { generation: store.st.generation, data });
    } catch (e) {
      if (e instanceof SimError) return fail(e);
      return fail(new SimError(500, "internalError", String(e)));
    }
  };

  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  const listen = (port: number) =>
    Deno.serve({ port, hostname, onListen() {} }, (req) => {
      if (stopped) return dropped();
      return handle(req);
    });
  server = listen(opts.port ?? 0);
  const port = server.addr.port;

  const abortAll = () => {
    for (const ac of [...aborts]) ac.abort();
  };

  const restart = async (downMs = 0) => {
    if (stopped) return;
    abortAll();
    await server?.shutdown();
    server = undefined;
    if (downMs > 0) await sleep(downMs);
    if (!stopped) server = listen(port);
  };

  const resetStats = () => {
    stats.requests = 0;
    stats.errors = 0;
    stats.byMethod = {};
  };

  return {
    url: `http://${hostname}:${port}`,
    port,
    token,
    stateDir,
    hostsRoot,
    clients,
    async stop() {
      if (stopped) return;
      stopped = true;
      abortAll();
      for (const id of timers) clearTimeout(id);
      timers.clear();
      await server?.shutdown();
      server = undefined;
      await store.settled();
      if (tempState) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    },
    restart,
    stats: () => JSON.parse(JSON.stringify(stats)),
    resetStats,
    state: () => store.dump(),
    setInUse(name, client, inUse) {
      store.setInUse(name, client, inUse);
      // Saved like a change over HTTP (in order, after the changes before it): a copy of the
      // state directory must not bring back an open device that was closed.
      store.locked(() => store.save()).catch(() => {});
    },
    flush: () => store.locked(() => store.save()),
    addFault(f) {
      faults.push({ ...f });
    },
    clearFaults() {
      faults = [];
    },
    advanceClock(seconds) {
      store.st.clockOffset += seconds;
    },
    dataPath(name, kind = "volume") {
      return (kind === "volume" ? store.st.volumes[name] : store.st.snapshots[name])?.file;
    },
  };
}

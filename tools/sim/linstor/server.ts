/**
 * Simulated LINSTOR controller: a real HTTP(S) server on 127.0.0.1 speaking the LINSTOR REST API
 * (the subset in {@link ROUTES}), backed by {@link SimController}.
 *
 * The server uses node:http / node:https (not Deno.serve) because it needs two things Deno.serve
 * cannot do: mutual TLS (client certificate verification) and dropping a connection after the
 * request was read (fault injection of a lost reply).
 *
 * Control endpoints (not part of LINSTOR), under `/_sim/`:
 * - `GET /_sim/state`                  state dump (JSON)
 * - `GET /_sim/stats`                  `{requests, by_route}`
 * - `POST /_sim/faults`                `{method?, path, action: "delay"|"error"|"drop"|"fail-clone",
 *                                        delay_ms?, status?, times?}` → `{id}`; path is a regex
 *                                        matched against the URL path; times defaults to unlimited
 * - `DELETE /_sim/faults`              clear all faults
 * - `POST /_sim/in-use`                `{resource|volume, node|client, in_use}`
 * - `POST /_sim/node`                  `{node, online}` disconnect (false) or reconnect (true) a
 *                                        satellite; kept in state.json (a restart keeps it)
 * - `POST /_sim/latency`               `{ms}` global latency added to every LINSTOR request
 * - `POST /_sim/restart`               `{down_ms?}` stop listening, keep state, listen again
 */
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import {
  MASK_CRT,
  MASK_DEL,
  MASK_MOD,
  OBJ,
  stringifyJsonLossless,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  checkBody,
  fail,
  internalErrorReply,
  parseErrorReply,
  type PoolKind,
  rcReply,
  SimApiError,
  SimController,
  type SimReply,
  type SimState,
} from "./controller.ts";

/** Options of {@link startLinstorSim}. */
export interface LinstorSimOptions {
  /** TCP port (0 or undefined: ephemeral). */
  port?: number;
  /** Satellite names (default alpha, bravo, charlie, delta). */
  nodes?: string[];
  /** Storage pools created on every node (default DfltStorPool, 100 GiB, LVM thin). */
  pools?: { name: string; sizeGiB: number; thin?: boolean; kind?: PoolKind }[];
  /** Resource groups to create (each with volume group 0). */
  resourceGroups?: { name: string; placeCount?: number; storagePools?: string[] }[];
  /** State dir (volumes, snapshots, state.json). Default: a temp dir removed on stop(). */
  stateDir?: string;
  /** Directory holding the host dirs: device links go to `<hostsRoot>/<node>/dev/drbd/by-res/…`. */
  hostsRoot?: string;
  /** Latency added to every LINSTOR request (ms). */
  latencyMs?: number;
  /** Time a clone stays CLONING (ms, default 40). */
  cloneDurationMs?: number;
  /** Serve HTTPS (PEM strings). `requireClientCert` enables mutual TLS against `ca`. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
  /** Called for every LINSTOR (non /_sim/) exchange: for spec conformance tests. */
  record?: (ex: SimExchange) => void;
}

/** One recorded request/response pair. */
export interface SimExchange {
  method: string;
  /** Path without query, as received (percent-encoded). */
  path: string;
  query: URLSearchParams;
  /** Raw request body text ("" when none). */
  requestBody: string;
  /** HTTP status, or 0 when the connection was dropped. */
  status: number;
  /** Raw response body text. */
  responseBody: string;
  /** Request headers (lower-case names). */
  headers: Record<string, string>;
}

/** A fault rule. */
export interface SimFault {
  method?: string;
  /** Regular expression matched against the URL path. */
  path: string;
  action: "delay" | "error" | "drop" | "fail-clone";
  delayMs?: number;
  status?: number;
  /** How many matching requests it applies to (default: unlimited). */
  times?: number;
}

/** A running simulator. */
export interface LinstorSim {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly port: number;
  /** LINSTOR requests served (excluding /_sim/). */
  readonly requests: number;
  /** Requests per route ("GET /v1/view/resources"). */
  readonly byRoute: Record<string, number>;
  readonly stateDir: string;
  readonly hostsRoot: string | undefined;
  /** The controller logic (state inspection in tests). */
  readonly controller: SimController;
  /** Add a fault; returns its id. */
  addFault(f: SimFault): number;
  clearFaults(): void;
  /** Mark a device open/closed on a node. */
  setInUse(resource: string, node: string, inUse: boolean): boolean;
  /**
   * Disconnect (`online` false) or reconnect a satellite: OFFLINE in `GET /v1/nodes`, never
   * picked by the autoplacer, no capacity, unknown disk states, FAIL_NOT_CONNECTED (995) for
   * resize, snapshot rollback, clone and make-available there. False for an unknown node.
   */
  setNodeOnline(node: string, online: boolean): boolean;
  setLatency(ms: number): void;
  /** Data file of volume `vnr` of resource `res`. */
  dataPath(res: string, vnr?: number): string;
  /** Stop and listen again on the same port; state is kept. */
  restart(downMs?: number): Promise<void>;
  /** Stop serving (state persisted; a temp state dir is removed). */
  stop(): Promise<void>;
}

type Handler = (
  c: SimController,
  p: string[],
  q: URLSearchParams,
  body: unknown,
  extra: { failClone: boolean },
) => SimReply;

interface Route {
  method: string;
  re: RegExp;
  name: string;
  shape?: string;
  /** Object mask for error replies (the handler's response context). */
  obj: bigint;
  handler: Handler;
}

const S = "([^/]+)";
function r(method: string, tpl: string, handler: Handler, shape?: string): Route {
  const re = new RegExp("^" + tpl.replace(/\{[^}]+\}/g, S) + "$");
  return { method, re, name: `${method} ${tpl}`, shape, obj: objFor(method, tpl), handler };
}

function objFor(method: string, tpl: string): bigint {
  if (/snapshot/.test(tpl)) return OBJ.SNAPSHOT;
  if (/make-available|\/resources|autoplace/.test(tpl)) return OBJ.RSC;
  if (/volume-definitions/.test(tpl)) return OBJ.VLM_DFN;
  if (/volume-groups/.test(tpl)) return OBJ.VLM_GRP;
  if (/spawn|clone/.test(tpl)) return OBJ.RSC_DFN;
  if (/resource-groups/.test(tpl)) return OBJ.RSC_GRP;
  if (/resource-definitions/.test(tpl)) return OBJ.RSC_DFN;
  if (/storage-pools/.test(tpl)) return OBJ.STOR_POOL;
  if (/nodes/.test(tpl)) return OBJ.NODE;
  return method === "GET" ? 0n : 0n;
}
const obj = (b: unknown) => (b ?? {}) as Record<string, unknown>;

/** The LINSTOR REST endpoints the simulator implements. */
export const ROUTES: Route[] = [
  r("GET", "/v1/controller/version", (c) => c.version()),
  r("GET", "/v1/nodes", (c, _p, q) => c.listNodes(q)),
  r("POST", "/v1/nodes", (c, _p, _q, b) => c.createNode(obj(b)), "Node"),
  r("GET", "/v1/nodes/{node}/storage-pools", (c, p, q) => c.listPools(q, p[0])),
  r(
    "POST",
    "/v1/nodes/{node}/storage-pools",
    (c, p, _q, b) => c.createPool(p[0], obj(b)),
    "StoragePool",
  ),
  r("GET", "/v1/view/storage-pools", (c, _p, q) => c.listPools(q)),
  r("GET", "/v1/view/resources", (c, _p, q) => c.viewResources(q)),
  r("GET", "/v1/view/snapshots", (c, _p, q) => c.viewSnaps(q)),
  r("GET", "/v1/resource-groups", (c, _p, q) => c.listRgs(q)),
  r("POST", "/v1/resource-groups", (c, _p, _q, b) => c.createRg(obj(b)), "ResourceGroup"),
  r(
    "PUT",
    "/v1/resource-groups/{rg}",
    (c, p, _q, b) => c.modifyRg(p[0], obj(b)),
    "ResourceGroupModify",
  ),
  r("DELETE", "/v1/resource-groups/{rg}", (c, p) => c.deleteRg(p[0])),
  r("GET", "/v1/resource-groups/{rg}/volume-groups", (c, p) => c.listVgs(p[0])),
  r(
    "POST",
    "/v1/resource-groups/{rg}/volume-groups",
    (c, p, _q, b) => c.createVg(p[0], obj(b)),
    "VolumeGroup",
  ),
  r(
    "POST",
    "/v1/resource-groups/{rg}/spawn",
    (c, p, _q, b) => c.spawn(p[0], obj(b)),
    "ResourceGroupSpawn",
  ),
  r(
    "POST",
    "/v1/resource-groups/{rg}/query-size-info",
    (c, p, _q, b) => c.querySizeInfo(p[0], obj(b)),
    "QuerySizeInfoRequest",
  ),
  r("GET", "/v1/resource-definitions", (c, _p, q) => c.listRds(q)),
  r(
    "POST",
    "/v1/resource-definitions",
    (c, _p, _q, b) => c.createRdApi(obj(b)),
    "ResourceDefinitionCreate",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}",
    (c, p, _q, b) => c.modifyRd(p[0], obj(b)),
    "ResourceDefinitionModify",
  ),
  r("DELETE", "/v1/resource-definitions/{r}", (c, p) => c.deleteRd(p[0])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/clone",
    (c, p, _q, b, x) => c.clone(p[0], obj(b), x.failClone),
    "ResourceDefinitionCloneRequest",
  ),
  r("GET", "/v1/resource-definitions/{r}/clone/{c}", (c, p) => c.cloneStatus(p[0], p[1])),
  r("GET", "/v1/resource-definitions/{r}/sync-status", (c, p) => c.syncStatus(p[0])),
  r("GET", "/v1/resource-definitions/{r}/volume-definitions", (c, p) => c.listVds(p[0])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/volume-definitions",
    (c, p, _q, b) => c.createVdApi(p[0], obj(b)),
    "VolumeDefinitionCreate",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/volume-definitions/{v}",
    (c, p, _q, b) => c.modifyVd(p[0], vnr(p[1]), obj(b)),
    "VolumeDefinitionModify",
  ),
  r("GET", "/v1/resource-definitions/{r}/resources", (c, p, q) => c.listRscs(p[0], q)),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources",
    (c, p, _q, b) => c.createRscs(p[0], Array.isArray(b) ? b : []),
    "ResourceCreate[]",
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources/{n}",
    (c, p, _q, b) => c.createRscs(p[0], [obj(b)], p[1]),
    "ResourceCreate",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}",
    (c, p, _q, b) => c.modifyRsc(p[0], p[1], obj(b)),
    "ResourceModify",
  ),
  r(
    "DELETE",
    "/v1/resource-definitions/{r}/resources/{n}",
    (c, p, q) => c.deleteRsc(p[0], p[1], q.get("keep_tiebreaker") === "true"),
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources/{n}/make-available",
    (c, p, _q, b) => c.makeAvailable(p[0], p[1], obj(b)),
    "ResourceMakeAvailable",
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/autoplace",
    (c, p, _q, b) => c.autoplaceApi(p[0], obj(b)),
    "AutoPlaceRequest",
  ),
  r("GET", "/v1/resource-definitions/{r}/snapshots", (c, p) => c.listSnaps(p[0])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshots",
    (c, p, _q, b) => c.createSnap(p[0], obj(b)),
    "Snapshot",
  ),
  r("GET", "/v1/resource-definitions/{r}/snapshots/{s}", (c, p) => c.getSnap(p[0], p[1])),
  r("DELETE", "/v1/resource-definitions/{r}/snapshots/{s}", (c, p) => c.deleteSnap(p[0], p[1])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshot-rollback/{s}",
    (c, p) => c.rollback(p[0], p[1]),
    "SnapshotRollback",
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshot-restore-volume-definition/{s}",
    (c, p, _q, b) => c.restoreVd(p[0], p[1], obj(b)),
    "SnapshotRestore",
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshot-restore-resource/{s}",
    (c, p, _q, b) => c.restoreRsc(p[0], p[1], obj(b)),
    "SnapshotRestore",
  ),
  r(
    "POST",
    "/v1/actions/snapshot/multi",
    (c, _p, _q, b) => c.createMultiSnap(obj(b)),
    "CreateMultiSnapshotRequest",
  ),
];

function vnr(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) fail(205, `Invalid volume number '${s}'.`);
  return n;
}

/** Error reply for an unknown path (the real controller's JAX-RS 404 is HTML; we send JSON). */
function notFoundRoute(method: string, path: string): SimReply {
  return {
    status: 404,
    body: [{
      ret_code: BigInt.asIntN(64, 0xC000000000000000n | 0x0FFFFFFFFFFFFFFFn),
      message: `Unknown API call: ${method} ${path}`,
      created_at: new Date().toISOString(),
    }],
  };
}

/** Start a simulated LINSTOR controller. */
export async function startLinstorSim(opts: LinstorSimOptions = {}): Promise<LinstorSim> {
  let tempDir: string | null = null;
  let stateDir = opts.stateDir;
  if (!stateDir) {
    stateDir = await Deno.makeTempDir({ prefix: "linstor-sim-" });
    tempDir = stateDir;
  }
  await Deno.mkdir(stateDir, { recursive: true });
  const statePath = join(stateDir, "state.json");
  let loaded: SimState | undefined;
  try {
    loaded = JSON.parse(await Deno.readTextFile(statePath)) as SimState;
  } catch { /* fresh */ }
  const controller = new SimController({
    stateDir,
    hostsRoot: opts.hostsRoot,
    nodes: opts.nodes ?? ["alpha", "bravo", "charlie", "delta"],
    pools: opts.pools ?? [{ name: "DfltStorPool", sizeGiB: 100, thin: true }],
    resourceGroups: opts.resourceGroups,
    cloneDurationMs: opts.cloneDurationMs ?? 40,
  }, loaded);
  if (opts.hostsRoot) {
    for (const n of controller.state.nodes) {
      await Deno.mkdir(join(opts.hostsRoot, n.name), { recursive: true });
    }
  }
  for (const rd of controller.state.rds) controller.reconcile(rd.name);

  let latencyMs = opts.latencyMs ?? 0;
  let requests = 0;
  const byRoute: Record<string, number> = {};
  const faults = new Map<number, SimFault & { left: number }>();
  let faultSeq = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const sockets = new Set<Socket>();
  let port = opts.port ?? 0;
  let server: http.Server | https.Server | null = null;
  let stopped = false;

  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const persist = () => {
    Deno.writeTextFileSync(statePath + ".tmp", JSON.stringify(controller.state));
    Deno.renameSync(statePath + ".tmp", statePath);
  };

  const send = (res: http.ServerResponse, reply: SimReply): string => {
    const text = reply.body === undefined ? "" : stringifyJsonLossless(reply.body);
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(reply.status, {
        "content-type": "application/json",
        "content-length": String(new TextEncoder().encode(text).length),
      });
      res.end(text);
    }
    return text;
  };

  const matchFault = (method: string, path: string, action?: SimFault["action"]) => {
    for (const [id, f] of faults) {
      if (action ? f.action !== action : f.action === "fail-clone") continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (!new RegExp(f.path).test(path)) continue;
      if (f.left > 0) f.left--;
      if (f.left === 0) faults.delete(id);
      return f;
    }
    return null;
  };

  const simControl = (
    method: string,
    path: string,
    body: Record<string, unknown>,
  ): SimReply => {
    if (method === "GET" && path === "/_sim/state") return { status: 200, body: controller.state };
    if (method === "GET" && path === "/_sim/stats") {
      return { status: 200, body: { requests, by_route: byRoute } };
    }
    if (method === "POST" && path === "/_sim/faults") {
      const id = handle.addFault({
        method: body.method as string | undefined,
        path: String(body.path ?? ".*"),
        action: String(body.action ?? "error") as SimFault["action"],
        delayMs: Number(body.delay_ms ?? 0),
        status: body.status === undefined ? undefined : Number(body.status),
        times: body.times === undefined ? undefined : Number(body.times),
      });
      return { status: 200, body: { id } };
    }
    if (method === "DELETE" && path === "/_sim/faults") {
      faults.clear();
      return { status: 200, body: {} };
    }
    if (method === "POST" && path === "/_sim/in-use") {
      const res = String(body.resource ?? body.volume ?? "");
      const node = String(body.node ?? body.client ?? "");
      const ok = controller.setInUse(res, node, body.in_use !== false);
      if (ok) persist();
      return ok ? { status: 200, body: { ok: true } } : {
        status: 404,
        body: { error: `no resource ${res} on node ${node}` },
      };
    }
    if (method === "POST" && path === "/_sim/node") {
      const node = String(body.node ?? "");
      if (typeof body.online !== "boolean") {
        return { status: 400, body: { error: "online must be true or false" } };
      }
      const ok = handle.setNodeOnline(node, body.online);
      return ok
        ? { status: 200, body: { node: controller.node(node)!.name, online: body.online } }
        : { status: 404, body: { error: `no node ${node}` } };
    }
    if (method === "POST" && path === "/_sim/latency") {
      latencyMs = Number(body.ms ?? 0);
      return { status: 200, body: { ms: latencyMs } };
    }
    if (method === "POST" && path === "/_sim/restart") {
      const downMs = Number(body.down_ms ?? 0);
      const t = setTimeout(() => {
        timers.delete(t);
        handle.restart(downMs).catch(() => {});
      }, 10);
      timers.add(t);
      return { status: 200, body: { restarting: true } };
    }
    return { status: 404, body: { error: `unknown sim control ${method} ${path}` } };
  };

  const onRequest = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Uint8Array[] = [];
    for await (const c of req) chunks.push(c as Uint8Array);
    const raw = new TextDecoder().decode(concat(chunks));
    const url = new URL(req.url ?? "/", "http://sim");
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname;
    if (path.startsWith("/_sim/")) {
      let b: Record<string, unknown> = {};
      try {
        b = raw.trim() ? JSON.parse(raw) : {};
      } catch { /* ignore */ }
      send(res, simControl(method, path, b));
      return;
    }
    requests++;
    const route = ROUTES.find((x) => x.method === method && x.re.test(path));
    const routeName = route?.name ?? `${method} (unknown)`;
    byRoute[routeName] = (byRoute[routeName] ?? 0) + 1;
    const rec = (status: number, text: string) =>
      opts.record?.({
        method,
        path,
        query: url.searchParams,
        requestBody: raw,
        status,
        responseBody: text,
        headers: Object.fromEntries(
          Object.entries(req.headers).map((
            [k, v],
          ) => [k, Array.isArray(v) ? v.join(", ") : String(v)]),
        ),
      });
    if (latencyMs > 0) await delay(latencyMs);
    const fault = matchFault(method, path);
    if (fault?.action === "delay" && fault.delayMs) await delay(fault.delayMs);
    if (stopped) {
      req.socket.destroy();
      return;
    }
    if (fault?.action === "error") {
      rec(
        fault.status ?? 500,
        send(res, internalErrorReply("Simulated internal controller error")),
      );
      return;
    }
    let reply: SimReply;
    let mutated = false;
    if (!route) {
      reply = notFoundRoute(method, path);
      const allowed = ROUTES.filter((x) => x.re.test(path)).map((x) => x.method);
      if (allowed.length) {
        reply = { ...reply, status: 405 };
        res.setHeader("allow", [...new Set(allowed)].join(", "));
      }
    } else {
      let body: unknown = undefined;
      let bad: SimReply | null = null;
      if (raw.trim() !== "") {
        try {
          body = JSON.parse(raw);
        } catch (e) {
          bad = parseErrorReply(String(e));
        }
      }
      if (!bad && route.shape && body !== undefined) {
        if (route.shape.endsWith("[]")) {
          if (!Array.isArray(body)) bad = parseErrorReply("expected a JSON array");
          else {
            for (const it of body) {
              bad = checkBody(it, route.shape.slice(0, -2));
              if (bad) break;
            }
          }
        } else bad = checkBody(body, route.shape);
      }
      if (bad) reply = bad;
      else {
        const params = (path.match(route.re) ?? []).slice(1).map((s) => decodeURIComponent(s));
        const failClone = method === "POST" && /\/clone$/.test(path) &&
          matchFault(method, path, "fail-clone") !== null;
        try {
          reply = route.handler(controller, params, url.searchParams, body, { failClone });
          mutated = method !== "GET";
        } catch (e) {
          if (e instanceof SimApiError) {
            reply = rcReply(e.entries, { op: opFor(method), obj: route.obj }, 200);
            mutated = false;
          } else {
            reply = internalErrorReply(`Implementation error: ${(e as Error).message}`);
          }
        }
      }
    }
    if (mutated) persist();
    if (fault?.action === "drop") {
      rec(0, "");
      req.socket.destroy();
      return;
    }
    rec(reply.status, send(res, reply));
  };

  const listen = async () => {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      onRequest(req, res).catch((e) => {
        try {
          send(res, internalErrorReply(`Implementation error: ${(e as Error).message}`));
        } catch { /* socket gone */ }
      });
    };
    const srv = opts.tls
      ? https.createServer({
        cert: opts.tls.cert,
        key: opts.tls.key,
        ca: opts.tls.ca,
        requestCert: !!opts.tls.requireClientCert,
        rejectUnauthorized: !!opts.tls.requireClientCert,
      }, handler)
      : http.createServer(handler);
    srv.keepAliveTimeout = 5000;
    srv.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    srv.on("secureConnection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", () => {
        srv.off("error", reject);
        resolve();
      });
    });
    port = (srv.address() as AddressInfo).port;
    server = srv;
  };

  const close = async () => {
    const srv = server;
    server = null;
    if (!srv) return;
    const done = new Promise<void>((resolve) => srv.close(() => resolve()));
    for (const s of sockets) s.destroy();
    sockets.clear();
    (srv as http.Server).closeAllConnections?.();
    await done;
  };

  await listen();
  const scheme = opts.tls ? "https" : "http";

  const handle: LinstorSim = {
    get url() {
      return `${scheme}://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get requests() {
      return requests;
    },
    get byRoute() {
      return { ...byRoute };
    },
    stateDir,
    hostsRoot: opts.hostsRoot,
    controller,
    addFault(f: SimFault): number {
      const id = ++faultSeq;
      faults.set(id, { ...f, left: f.times === undefined || f.times <= 0 ? -1 : f.times });
      return id;
    },
    clearFaults() {
      faults.clear();
    },
    setInUse(resource: string, node: string, inUse: boolean): boolean {
      const ok = controller.setInUse(resource, node, inUse);
      if (ok) persist();
      return ok;
    },
    setNodeOnline(node: string, online: boolean): boolean {
      const ok = controller.setNodeOnline(node, online);
      if (ok) persist();
      return ok;
    },
    setLatency(ms: number) {
      latencyMs = ms;
    },
    dataPath(res: string, v = 0) {
      return controller.volumeFile(res, v);
    },
    async restart(downMs = 0) {
      await close();
      if (downMs > 0) await delay(downMs);
      if (!stopped) await listen();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await close();
      if (tempDir) await Deno.remove(tempDir, { recursive: true }).catch(() => {});
      else persist();
    },
  };
  return handle;
}

function opFor(method: string): bigint {
  if (method === "POST") return MASK_CRT;
  if (method === "PUT") return MASK_MOD;
  if (method === "DELETE") return MASK_DEL;
  return 0n;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

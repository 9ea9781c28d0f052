/**
 * Simulated LINSTOR controller: a real HTTP(S) server on 127.0.0.1 speaking the LINSTOR REST API
 * (the subset in routes.ts), backed by {@link SimController}.
 *
 * The server uses node:http / node:https (not Deno.serve) because it needs two things Deno.serve
 * cannot do: mutual TLS (client certificate verification) and dropping a connection after the
 * request was read (fault injection of a lost reply).
 *
 * Control endpoints (not part of LINSTOR), under `/_sim/`:
 * - `GET /_sim/state`                  state dump (JSON)
 * - `GET /_sim/stats`                  `{requests, by_route, bytes_out, bytes_decoded, restarts}`
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
import { Buffer } from "node:buffer";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { createGzip } from "node:zlib";
import { stringifyJsonLossless } from "../../../lib/backend/linstor/api_call_rc.ts";
import { SimController } from "./controller.ts";
import type { PoolKind } from "./model.ts";
import { loadState, reconcileAll, StateStore, volumeFile } from "./persistence.ts";
import {
  internalErrorReply,
  parseErrorReply,
  rcReply,
  SimApiError,
  type SimReply,
} from "./replies.ts";
import { notFoundRoute, opFor, ROUTES } from "./routes.ts";
import { finishMigrations } from "./evacuate.ts";
import { bindBody } from "./shapes.ts";
import { SECRET_BODY_UNPARSED } from "./encryption.ts";

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
  /** How many matching requests go through untouched before it applies (default 0). */
  skip?: number;
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
  /** Reply body bytes sent on the wire (gzipped where the client accepted it). */
  readonly bytesOut: number;
  /** The same replies' bytes before compression. */
  readonly bytesDecoded: number;
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

/** Smallest JSON reply the controller compresses (Grizzly's compression minimum size). */
const GZIP_MIN_BYTES = 1000;

/** Start a simulated LINSTOR controller. */
export async function startLinstorSim(opts: LinstorSimOptions = {}): Promise<LinstorSim> {
  let tempDir: string | null = null;
  let stateDir = opts.stateDir;
  if (!stateDir) {
    stateDir = await Deno.makeTempDir({ prefix: "linstor-sim-" });
    tempDir = stateDir;
  }
  await Deno.mkdir(stateDir, { recursive: true });
  const loaded = await loadState(stateDir);
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
  reconcileAll(controller);
  const store = new StateStore(stateDir);
  store.compact(controller);

  let latencyMs = opts.latencyMs ?? 0;
  let requests = 0;
  const byRoute: Record<string, number> = {};
  let bytesOut = 0;
  let bytesDecoded = 0;
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

  const persist = () => store.save(controller);

  // Every error report id a reply gives names a report GET /v1/error-reports can show. Only
  // failures carry one: a success (a listing of 10,000 definitions, say) is not looked through.
  const reported = (req: http.IncomingMessage, reply: SimReply): SimReply => {
    if (reply.status < 400) return reply;
    const agent = req.headers["user-agent"];
    controller.errorReports.note(reply.body, {
      call: `${(req.method ?? "GET").toUpperCase()} ${
        new URL(req.url ?? "/", "http://sim").pathname
      }`,
      peer: `RestClient(${req.socket.remoteAddress ?? "?"}${agent ? `; '${agent}'` : ""})`,
    });
    return reply;
  };

  // Like the controller (Grizzly with compression on): JSON replies of 1000 bytes or more are
  // gzipped for clients that accept it, so the bytes on the wire are what a real one sends.
  const send = (res: http.ServerResponse, reply: SimReply, gzipOk = false): string => {
    const text = reply.body === undefined ? "" : toJson(reply.body);
    if (!res.headersSent && !res.destroyed) {
      const raw = new TextEncoder().encode(text);
      bytesDecoded += raw.length;
      if (gzipOk && raw.length >= GZIP_MIN_BYTES) {
        // compressed as it is sent, in chunks (chunked transfer coding), like Grizzly does
        res.writeHead(reply.status, {
          "content-type": "application/json",
          "content-encoding": "gzip",
        });
        const gz = createGzip();
        gz.on("data", (c: Uint8Array) => {
          bytesOut += c.length;
        });
        gz.on("error", () => res.destroy());
        gz.pipe(res);
        gz.end(raw);
      } else {
        res.writeHead(reply.status, {
          "content-type": "application/json",
          "content-length": String(raw.length),
        });
        res.end(raw);
        bytesOut += raw.length;
      }
    }
    return text;
  };

  const matchFault = (method: string, path: string, action?: SimFault["action"]) => {
    for (const [id, f] of faults) {
      if (action ? f.action !== action : f.action === "fail-clone") continue;
      if (f.method && f.method.toUpperCase() !== method) continue;
      if (!new RegExp(f.path).test(path)) continue;
      if (f.skip && f.skip > 0) {
        f.skip--;
        continue;
      }
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
      return {
        status: 200,
        body: {
          requests,
          by_route: byRoute,
          bytes_out: bytesOut,
          bytes_decoded: bytesDecoded,
          restarts,
        },
      };
    }
    if (method === "POST" && path === "/_sim/faults") {
      const id = handle.addFault({
        method: body.method as string | undefined,
        path: String(body.path ?? ".*"),
        action: String(body.action ?? "error") as SimFault["action"],
        delayMs: Number(body.delay_ms ?? 0),
        status: body.status === undefined ? undefined : Number(body.status),
        times: body.times === undefined ? undefined : Number(body.times),
        skip: body.skip === undefined ? undefined : Number(body.skip),
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
      // a migration off an evacuated node waited for the device to be closed
      if (ok && body.in_use === false) finishMigrations(controller);
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
    const raw = new TextDecoder().decode(Buffer.concat(chunks));
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
        send(res, reported(req, internalErrorReply("Simulated internal controller error"))),
      );
      return;
    }
    let reply: SimReply;
    let mutated = false;
    if (!route) {
      const nf = notFoundRoute(method, path);
      if (nf.allow) res.setHeader("allow", nf.allow.join(", "));
      reply = { status: nf.status, body: nf.body };
    } else {
      let body: unknown = undefined;
      let bad: SimReply | null = null;
      if (raw.trim() !== "") {
        try {
          body = JSON.parse(raw);
        } catch (e) {
          bad = parseErrorReply(
            route.secret ? SECRET_BODY_UNPARSED : (e as Error).message,
            route.sync,
          );
        }
      }
      if (!bad && route.shape && body !== undefined) {
        const bound = bindBody(body, route.shape);
        if (bound.ok) body = bound.body;
        else bad = parseErrorReply(bound.details, route.sync);
      }
      if (bad) reply = bad;
      else {
        const params = (path.match(route.re) ?? []).slice(1).map((s) => decodeURIComponent(s));
        const failClone = method === "POST" && /\/clone$/.test(path) &&
          matchFault(method, path, "fail-clone") !== null;
        try {
          reply = method === "GET"
            ? route.handler(controller, params, url.searchParams, body, { failClone })
            : controller.transaction(() =>
              route.handler(controller, params, url.searchParams, body, { failClone })
            );
          // the REST method, not the operation, decides the status of a success
          if (method !== "GET" && reply.status < 300) reply = { ...reply, status: route.ok };
          mutated = method !== "GET";
        } catch (e) {
          if (e instanceof SimApiError) {
            reply = rcReply(e.entries, { op: opFor(method), obj: route.obj }, route.ok);
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
    rec(
      reply.status,
      send(res, reported(req, reply), /\bgzip\b/i.test(req.headers["accept-encoding"] ?? "")),
    );
  };

  const listen = async () => {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      onRequest(req, res).catch((e) => {
        try {
          send(
            res,
            reported(req, internalErrorReply(`Implementation error: ${(e as Error).message}`)),
          );
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

  /** Restarts done (`/_sim/restart` answers before its restart: a client can wait for this). */
  let restarts = 0;
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
    get bytesOut() {
      return bytesOut;
    },
    get bytesDecoded() {
      return bytesDecoded;
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
      return volumeFile(controller, res, v);
    },
    async restart(downMs = 0) {
      await close();
      if (downMs > 0) await delay(downMs);
      if (!stopped) await listen();
      restarts++;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await close();
      if (tempDir) {
        store.close();
        await Deno.remove(tempDir, { recursive: true }).catch(() => {});
      } else {
        store.compact(controller);
        store.close();
      }
    },
  };
  return handle;
}

/**
 * JSON text of a reply: plain JSON.stringify (fast: listings of thousands of objects), or the
 * lossless form when the body holds BigInt ret_codes (plain stringify refuses those).
 */
function toJson(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    return stringifyJsonLossless(body);
  }
}

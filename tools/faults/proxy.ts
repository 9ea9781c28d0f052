/**
 * A fault-injecting HTTP proxy on loopback, between the driver programs and a simulated store
 * (the LINSTOR controller or the StorPool API): the datastores name the proxy instead of the
 * store, so every REST request of an action passes through it.
 *
 * Requests are counted from `arm()` on (one action's requests: the caller arms the proxy right
 * before the action starts and disarms it when the action ended). One fault per arm: the k-th
 * request meets it, every other request is relayed unchanged. A GET repeating the one before it
 * (a client polling a state, as often as the time it takes asks) is counted with it, so k names
 * the same request whatever the timing.
 *
 * Fault modes (REST_FAULT_MODES):
 *  - `error`  the request is not forwarded; the client gets HTTP 500 with the store's own error
 *             body (an internal error of the controller);
 *  - `reset`  the request is not forwarded; its connection is closed without a reply;
 *  - `lost`   the request is forwarded and applied by the store, then the connection is closed
 *             before the reply reaches the client (outcome unknown to the client);
 *  - `stall`  the request is held for `stallMs` (10 s), then forwarded: the store applies it
 *             late, whether or not the client still waits, and the reply goes back when it does;
 *  - `gone`   the controller dies: the request's connection is closed without forwarding and the
 *             proxy stops listening, so every later connection is refused, until `revive()`.
 *
 * The proxy was written instead of extending the simulators' own fault rules
 * (tools/sim/linstor/server.ts, tools/sim/storpool/server.ts): those match requests by path or
 * API method, not "the k-th request of this action", neither can refuse connections from a
 * given request on, and they differ per store (the StorPool rule drops a request before it is
 * applied, the LINSTOR one after); one proxy gives both stores the same five modes. The store
 * specific clone fault (a LINSTOR clone that ends FAILED) still uses the simulator's rule.
 */
import { Buffer } from "node:buffer";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** The REST fault modes, in the order the matrix runs them. */
export const REST_FAULT_MODES = ["error", "reset", "lost", "stall", "gone"] as const;
/** A REST fault mode (see the module doc). */
export type RestFaultMode = typeof REST_FAULT_MODES[number];

/** How long a stalled request is held (ms): beyond what an action should wait for one reply. */
export const STALL_MS = 10_000;

/** One request seen while armed. */
export interface ProxiedRequest {
  /** 1-based position since arm(). */
  n: number;
  /** How many times it came in a row (a polling GET). */
  times: number;
  method: string;
  /** URL path without the query. */
  path: string;
  /** The HTTP status relayed, or the fault mode the request met. */
  outcome: number | RestFaultMode;
}

/** The fault of one arm(). */
export interface RestFault {
  /** The 1-based position (since arm()) of the request that meets the fault. */
  k: number;
  /** The fault (none: the request is relayed, only `onHit` runs). */
  mode?: RestFaultMode;
  /** Called when the k-th request arrives, before anything is forwarded. */
  onHit?: (req: ProxiedRequest) => void;
}

/** Options of {@link FaultProxy.start}. */
export interface FaultProxyOptions {
  /** Base URL of the store, e.g. `http://127.0.0.1:40123`. */
  upstream: string;
  /** The reply of a request in mode `error` (status and body as the store would send them). */
  errorReply: (method: string, path: string) => { status: number; body: string };
  /** How long `stall` holds a request (default STALL_MS). */
  stallMs?: number;
}

const HOP_HEADERS = new Set([
  "host",
  "connection",
  "keep-alive",
  "content-length",
  "transfer-encoding",
  "proxy-connection",
  "upgrade",
]);

/** A running fault proxy (see the module doc). */
export class FaultProxy {
  readonly #opts: FaultProxyOptions;
  readonly #sockets = new Set<Socket>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #server: http.Server | null = null;
  #port = 0;
  #armed = false;
  #fault: RestFault | undefined;
  #log: ProxiedRequest[] = [];
  #lastUrl = "";
  #down = false;
  #stopped = false;

  private constructor(opts: FaultProxyOptions) {
    this.#opts = opts;
  }

  /** Start a proxy on an ephemeral loopback port. */
  static async start(opts: FaultProxyOptions): Promise<FaultProxy> {
    const p = new FaultProxy(opts);
    await p.#listen();
    return p;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  /** True between a `gone` fault and revive(). */
  get down(): boolean {
    return this.#down;
  }

  /** Start counting requests (from 1) and arm `fault` (none: count only). */
  arm(fault?: RestFault): void {
    this.#armed = true;
    this.#fault = fault;
    this.#log = [];
    this.#lastUrl = "";
  }

  /** Stop counting; returns the requests seen since arm(). */
  disarm(): ProxiedRequest[] {
    this.#armed = false;
    this.#fault = undefined;
    const log = this.#log;
    this.#log = [];
    return log;
  }

  /** Requests seen since arm() so far. */
  get seen(): readonly ProxiedRequest[] {
    return this.#log;
  }

  /** Resolves when no request is held or being forwarded (a stalled request has landed). */
  async settled(): Promise<void> {
    while (this.#inFlight.size) await Promise.allSettled([...this.#inFlight]);
  }

  /** Listen again after a `gone` fault (same port). */
  async revive(): Promise<void> {
    if (!this.#down || this.#stopped) return;
    this.#down = false;
    await this.#listen();
  }

  /** Stop listening and drop every connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await this.#close();
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p);
    p.finally(() => this.#inFlight.delete(p)).catch(() => {});
    return p;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        resolve();
      }, ms);
      this.#timers.add(t);
    });
  }

  async #listen(): Promise<void> {
    const srv = http.createServer((req, res) => {
      this.#handle(req, res).catch(() => req.socket.destroy());
    });
    srv.keepAliveTimeout = 5000;
    srv.on("connection", (s: Socket) => {
      this.#sockets.add(s);
      s.on("close", () => this.#sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(this.#port, "127.0.0.1", () => {
        srv.off("error", reject);
        resolve();
      });
    });
    this.#port = (srv.address() as AddressInfo).port;
    this.#server = srv;
  }

  async #close(): Promise<void> {
    const srv = this.#server;
    this.#server = null;
    if (!srv) return;
    const done = new Promise<void>((resolve) => srv.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    srv.closeAllConnections?.();
    await done;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const c of req) chunks.push(c as Uint8Array);
    const body = Buffer.concat(chunks);
    const method = (req.method ?? "GET").toUpperCase();
    const url = req.url ?? "/";
    const path = new URL(url, "http://proxy").pathname;
    let entry: ProxiedRequest = { n: 0, times: 1, method, path, outcome: 0 };
    let fault: RestFault | undefined;
    if (this.#armed) {
      const last = this.#log.at(-1);
      if (last && method === "GET" && last.method === "GET" && this.#lastUrl === url) {
        last.times++;
        entry = last;
      } else {
        entry.n = this.#log.length + 1;
        this.#log.push(entry);
        if (this.#fault?.k === entry.n) fault = this.#fault;
      }
      this.#lastUrl = url;
    }
    fault?.onHit?.(entry);
    switch (fault?.mode) {
      case "error": {
        entry.outcome = "error";
        const r = this.#opts.errorReply(method, path);
        const bytes = new TextEncoder().encode(r.body);
        res.writeHead(r.status, {
          "content-type": "application/json",
          "content-length": String(bytes.length),
        });
        res.end(bytes);
        return;
      }
      case "reset":
        entry.outcome = "reset";
        req.socket.destroy();
        return;
      case "gone":
        entry.outcome = "gone";
        this.#down = true;
        req.socket.destroy();
        await this.#close();
        return;
      case "stall":
        entry.outcome = "stall";
        await this.#track(this.#sleep(this.#opts.stallMs ?? STALL_MS));
        if (this.#stopped) return;
        break;
    }
    let reply: { status: number; type: string; body: Uint8Array };
    try {
      reply = await this.#track(this.#forward(method, req, body));
    } catch {
      req.socket.destroy();
      return;
    }
    if (fault?.mode === "lost") {
      entry.outcome = "lost";
      req.socket.destroy();
      return;
    }
    if (fault?.mode !== "stall") entry.outcome = reply.status;
    if (res.destroyed || req.socket.destroyed) return;
    res.writeHead(reply.status, {
      "content-type": reply.type,
      "content-length": String(reply.body.length),
    });
    res.end(reply.body);
  }

  async #forward(
    method: string,
    req: http.IncomingMessage,
    body: Uint8Array,
  ): Promise<{ status: number; type: string; body: Uint8Array }> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined || HOP_HEADERS.has(k)) continue;
      headers[k] = Array.isArray(v) ? v.join(", ") : v;
    }
    const r = await fetch(this.#opts.upstream + (req.url ?? "/"), {
      method,
      headers,
      body: body.length || !["GET", "HEAD"].includes(method)
        ? body as Uint8Array<ArrayBuffer>
        : undefined,
      signal: AbortSignal.timeout(120_000),
    });
    const bytes = new Uint8Array(await r.arrayBuffer());
    return {
      status: r.status,
      type: r.headers.get("content-type") ?? "application/json",
      body: bytes,
    };
  }
}

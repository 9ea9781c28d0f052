/**
 * LINSTOR REST client over lib/wire.ts (HTTP/1.1 on the runtime's sockets).
 *
 * - Controller list like LINSTOR_CONTROLLERS: comma separated `host`, `host:port`, `http://…`,
 *   `https://…`, `linstor://host[:port]` (http, 3370) or `linstor+ssl://host[:port]` (https, 3371).
 * - Failover to the next controller on connect errors (a short TCP connect probe, 2 s by default,
 *   the first time a controller is used); the working controller is remembered for the rest of
 *   the process.
 * - TLS with verification always on: optional CA file, client certificate and key.
 * - Optional bearer token.
 * - A deadline on every call (covers retries and failover), the retry rule and the failure text
 *   of lib/http.ts: reads (GET) are retried on connection failures and HTTP 5xx; writes only
 *   when no connection was made (nothing was sent: a controller restarting), never once the
 *   request may have reached the controller. Writes go only over connections that never carried
 *   a request (lib/wire.ts: a kept connection the server closed is only ever replayed for a
 *   read; a change is never sent on one). The probe's connection carries the first request.
 * - While every controller refuses connections, the call keeps trying for up to 20 s within its
 *   deadline (a controller restarting takes seconds). Once no controller could be reached (or a
 *   call timed out), the process's later calls share a short grace and then fail at once with
 *   that cause (lib/http.ts `Outage`: one deadline per action). Each distinct cause of a
 *   failure is reported once.
 * - The token is checked and scrubbed from every error (lib/http.ts secretHeaderValue).
 * - `ret_code` is parsed losslessly (see api_call_rc.ts).
 */
import { isKind, OneblkError } from "../../errors.ts";
import { after } from "../../timer.ts";
import { WireClient, type WireResponse, type WireTls } from "../../wire.ts";
import {
  backoffMs,
  Deadline,
  mayRetry,
  Outage,
  replyText,
  type RequestKind,
  secretHeaderValue,
  shortTransportError,
  type TransportFailure,
  transportFailure,
} from "../../http.ts";
import type { BackendStats } from "../types.ts";
import { readPicked } from "../../json_items.ts";
import {
  type ApiCallRc,
  describeRc,
  isError,
  isExists,
  isInUse,
  isNotFound,
  parseJsonLossless,
  type RetCode,
  toRcList,
} from "./api_call_rc.ts";

/** One controller address. */
export interface ControllerEndpoint {
  /** Base URL without trailing slash, e.g. `http://10.0.0.1:3370`. */
  url: string;
  host: string;
  port: number;
  tls: boolean;
}

/** Default REST ports (CtrlConfig.DEFAULT_HTTP_REST_PORT / DEFAULT_HTTPS_REST_PORT). */
export const DEFAULT_HTTP_PORT = 3370;
/** Default HTTPS REST port. */
export const DEFAULT_HTTPS_PORT = 3371;

function splitHostPort(s: string, defPort: number): { host: string; port: number } {
  let host = s;
  let port = defPort;
  const v6 = s.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (v6) {
    host = v6[1];
    if (v6[2]) port = Number(v6[2]);
  } else {
    const m = s.match(/^([^:/]+)(?::(\d+))?$/);
    if (!m) throw new OneblkError("config", `invalid LINSTOR controller address "${s}"`);
    host = m[1];
    if (m[2]) port = Number(m[2]);
  }
  if (!host || !(port > 0 && port < 65536)) {
    throw new OneblkError("config", `invalid LINSTOR controller address "${s}"`);
  }
  return { host, port };
}

/**
 * Parse a LINSTOR_CONTROLLERS style list. Empty input means `linstor://localhost`.
 * Throws OneblkError("config") on a malformed entry.
 */
export function parseControllers(raw: string): ControllerEndpoint[] {
  const entries = (raw ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (entries.length === 0) entries.push("linstor://localhost");
  const out: ControllerEndpoint[] = [];
  for (const e of entries) {
    const m = e.match(/^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/);
    let scheme = "linstor";
    let rest = e;
    if (m) {
      scheme = m[1].toLowerCase();
      rest = m[2];
    }
    rest = rest.replace(/\/+$/, "");
    let tls: boolean;
    switch (scheme) {
      case "linstor":
      case "http":
        tls = false;
        break;
      case "linstor+ssl":
      case "https":
        tls = true;
        break;
      default:
        throw new OneblkError("config", `unsupported LINSTOR controller scheme "${scheme}://"`);
    }
    if (rest.includes("/")) {
      throw new OneblkError("config", `LINSTOR controller "${e}" must not contain a path`);
    }
    const { host, port } = splitHostPort(rest, tls ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT);
    const h = host.includes(":") ? `[${host}]` : host;
    out.push({ url: `${tls ? "https" : "http"}://${h}:${port}`, host, port, tls });
  }
  return out;
}

/** Options of {@link LinstorClient}. */
export interface LinstorClientOptions {
  /** Raw controller list (LINSTOR_CONTROLLERS / LS_CONTROLLERS). */
  controllers: string;
  /** PEM CA bundle used to verify the controller certificate (in addition to system roots). */
  caFile?: string;
  /** PEM client certificate (mutual TLS). */
  certFile?: string;
  /** PEM client key (mutual TLS). */
  keyFile?: string;
  /** Bearer token (Authorization header). */
  token?: string;
  /** Deadline of one call in ms, retries and failover included (default 60000). */
  timeoutMs?: number;
  /** TCP connect probe timeout in ms when a controller is first used (default 2000). */
  connectTimeoutMs?: number;
  /** Extra attempts for GET on connection failure / 5xx (default 2). */
  getRetries?: number;
  /**
   * How long to keep retrying while every controller refuses connections (nothing was sent,
   * e.g. the controller restarts), in ms (default 20000; capped at 80 % of the deadline).
   */
  refusedWaitMs?: number;
  /** Base delay between GET retries in ms (default 150, doubled each time). */
  retryDelayMs?: number;
}

/** Query values: arrays repeat the key (`?resources=a&resources=b`). */
export type Query = Record<string, string | number | boolean | string[] | undefined>;

/** A controller reply. */
export interface LinstorReply {
  status: number;
  /** Parsed JSON body (ret_code values as their exact decimal text), or null for an empty body. */
  data: unknown;
  /** ApiCallRc entries found in the body (empty for list replies). */
  rcs: ApiCallRc[];
}

/** A LINSTOR reply with an error entry or an HTTP error status. Kind derived from ret_code. */
export class LinstorApiError extends OneblkError {
  /** HTTP status. */
  readonly status: number;
  /** Every entry of the reply. */
  readonly rcs: ApiCallRc[];

  constructor(what: string, status: number, rcs: ApiCallRc[]) {
    const errs = rcs.filter((r) => isError(r.ret_code));
    const shown = errs.length ? errs : rcs;
    let kind: "not_found" | "exists" | "in_use" | "backend" = "backend";
    if (errs.some((r) => isInUse(r.ret_code))) kind = "in_use";
    else if (errs.length && errs.every((r) => isNotFound(r.ret_code))) kind = "not_found";
    else if (errs.length && errs.every((r) => isExists(r.ret_code))) kind = "exists";
    else if (!errs.length && status === 404) kind = "not_found";
    const text = shown.length ? shown.map(describeRc).join(" | ") : `HTTP ${status}`;
    const ids = [...new Set(shown.flatMap((r) => r.error_report_ids ?? []))];
    super(
      kind,
      `LINSTOR ${what}: ${text}`,
      ids.length ? `error reports ${ids.join(", ")}` : undefined,
    );
    this.status = status;
    this.rcs = rcs;
  }

  /** True when some error entry matches the predicate. */
  some(pred: (rc: RetCode) => boolean): boolean {
    return this.rcs.some((r) => pred(r.ret_code));
  }
}

/** The working controller per controller-list string, remembered for the process lifetime. */
const preferredController = new Map<string, number>();
/** Controllers whose TCP connect probe succeeded in this process. */
const reachedControllers = new Set<string>();

function readPem(path: string | undefined, what: string): string | undefined {
  if (!path) return undefined;
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    throw new OneblkError(
      "config",
      `cannot read LINSTOR ${what} file ${path}: ${(e as Error).message}`,
    );
  }
}

/** One request on its way through the controllers. */
interface Call {
  method: string;
  kind: RequestKind;
  pathQs: string;
  headers: Record<string, string>;
  body: string | undefined;
  deadline: Deadline;
  /** Every failed attempt: how far it got, and its text for the final message. */
  failures: { failure: TransportFailure; text: string }[];
  /** A listing read element by element (getItems): what to keep of each. */
  pick?: (item: unknown) => unknown;
}

/**
 * One key or value of a query string, form-encoded as URLSearchParams writes it (space as `+`,
 * everything but letters, digits and `*-._` percent-encoded as UTF-8; a lone surrogate as
 * U+FFFD). Written out because the runtime's URLSearchParams costs a process about 0.15 MiB of
 * code on first use, for what this does.
 */
function formEncode(s: string): string {
  if (/^[\w.*-]*$/.test(s)) return s; // (names: nothing to encode)
  return encodeURIComponent(s.toWellFormed())
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** Build a query string; arrays repeat the key. */
export function buildQuery(q?: Query): string {
  if (!q) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [String(v)]) {
      parts.push(`${formEncode(k)}=${formEncode(x)}`);
    }
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/**
 * `names` cut into lists whose `param=<name>&…` query string stays within `maxQueryBytes`: the
 * controller's HTTP server refuses request heads over 8 KiB, so a name filter of thousands of
 * resources is sent as several requests.
 */
export function nameChunks(names: string[], param: string, maxQueryBytes = 6000): string[][] {
  const chunks: string[][] = [];
  let cur: string[] = [];
  let size = 0;
  for (const n of names) {
    const len = param.length + 2 + encodeURIComponent(n).length;
    if (cur.length && size + len > maxQueryBytes) {
      chunks.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(n);
    size += len;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

/** Encode one path segment. */
export function seg(s: string | number): string {
  return encodeURIComponent(String(s));
}

/** LINSTOR REST client. */
export class LinstorClient {
  /** REST requests sent (every attempt). */
  readonly stats: BackendStats = { requests: 0, bytes: 0 };
  readonly endpoints: ControllerEndpoint[];
  readonly #key: string;
  readonly #opts: LinstorClientOptions;
  readonly #wire: WireClient;
  #closed = false;
  #version: Promise<Record<string, unknown>> | null = null;
  readonly #auth: string | undefined;
  readonly #outage = new Outage();

  constructor(opts: LinstorClientOptions) {
    this.#opts = opts;
    this.#auth = opts.token === undefined
      ? undefined
      : secretHeaderValue(opts.token, "LINSTOR_TOKEN", (t) => `Bearer ${t}`);
    this.endpoints = parseControllers(opts.controllers);
    this.#key = this.endpoints.map((e) => e.url).join(",");
    if (!!opts.certFile !== !!opts.keyFile) {
      throw new OneblkError("config", "LINSTOR client certificate and key must be given together");
    }
    const ca = readPem(opts.caFile, "CA");
    const cert = readPem(opts.certFile, "client certificate");
    const key = readPem(opts.keyFile, "client key");
    const tls: WireTls = {};
    if (ca) tls.caCerts = [ca];
    if (cert && key) {
      tls.cert = cert;
      tls.key = key;
    }
    this.#wire = new WireClient({ tls });
  }

  /** The controller that answered last (or the first one). */
  get currentUrl(): string {
    return this.endpoints[preferredController.get(this.#key) ?? 0].url;
  }

  async #probe(ep: ControllerEndpoint, ms: number): Promise<void> {
    if (reachedControllers.has(ep.url)) return;
    const ac = new AbortController();
    const cancel = after(Math.max(1, ms), () => ac.abort());
    try {
      // the connection is kept: the first request goes over it
      await this.#wire.connect(ep.url, ac.signal);
      reachedControllers.add(ep.url);
    } catch (e) {
      if (ac.signal.aborted) throw new Error(`tcp connect error: no answer within ${ms} ms`);
      throw e;
    } finally {
      cancel();
    }
  }

  /**
   * Send one request with failover, deadline and (for GET) retries. Returns any HTTP status;
   * throws OneblkError "timeout" / "unavailable" on transport failure.
   */
  async request(
    method: string,
    path: string,
    opts: {
      query?: Query;
      body?: unknown;
      timeoutMs?: number;
      /** A JSON array reply is parsed element by element; `data` holds what this returns. */
      pick?: (item: unknown) => unknown;
    } = {},
  ): Promise<LinstorReply> {
    if (this.#closed) throw new OneblkError("internal", "LINSTOR client used after close()");
    const what = `${method} ${path}`;
    const down = this.#outage.check();
    if (down?.leftMs === 0) {
      throw new OneblkError(
        "unavailable",
        `LINSTOR ${what}: not sent, no controller answered earlier in this action (${down.text})`,
      );
    }
    const timeoutMs = Math.min(
      opts.timeoutMs ?? this.#opts.timeoutMs ?? 60_000,
      down?.leftMs ?? Infinity,
    );
    const headers: Record<string, string> = {
      "accept": "application/json",
      "user-agent": "oneblk",
    };
    if (this.#auth) headers["authorization"] = this.#auth;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers["content-type"] = "application/json";
    }
    const call: Call = {
      method,
      kind: method === "GET" ? "read" : "write",
      pathQs: path + buildQuery(opts.query),
      headers,
      body,
      deadline: new Deadline(timeoutMs),
      failures: [],
      pick: method === "GET" ? opts.pick : undefined,
    };
    const n = this.endpoints.length;
    const retryDelay = this.#opts.retryDelayMs ?? 150;
    // Reads: whole rounds over the controllers are repeated on connection failures. Any
    // method: a round is repeated while every controller refuses the connection, for up to
    // refusedWaitMs (capped at 80 % of the deadline).
    const rounds = down ? 1 : (this.#opts.getRetries ?? 2) + 1;
    const waitUntil = call.deadline.started +
      (down ? 0 : Math.min(this.#opts.refusedWaitMs ?? 20_000, Math.floor(timeoutMs * 0.8)));
    let allRefused = false;
    try {
      for (
        let round = 0;
        (round < rounds || (allRefused && Date.now() < waitUntil)) && !call.deadline.expired;
        round++
      ) {
        if (round > 0) {
          const delay = backoffMs(round, retryDelay, 2_000);
          await call.deadline.sleep(Math.min(delay, Math.max(0, waitUntil - Date.now()) || delay));
          if (call.deadline.expired) break;
        }
        const seen = call.failures.length;
        const start = preferredController.get(this.#key) ?? 0;
        for (let i = 0; i < n; i++) {
          const reply = await this.#attempt((start + i) % n, call);
          if (reply) {
            this.#outage.clear();
            return reply;
          }
          if (call.deadline.expired) break;
        }
        const fresh = call.failures.slice(seen);
        allRefused = fresh.length > 0 && fresh.every((f) => f.failure === "refused");
      }
      if (call.deadline.expired) throw this.#timeout(what, timeoutMs);
      // One cause per controller: its last failure (the attempts before say the same).
      const last = new Map<string, string>();
      for (const f of call.failures) last.set(f.text.slice(0, f.text.indexOf(": ")), f.text);
      const errors = [...last.values()].join("; ");
      this.#outage.record(errors);
      throw new OneblkError("unavailable", `LINSTOR ${what}: no controller reachable (${errors})`);
    } catch (e) {
      if (isKind(e, "timeout")) this.#outage.record(`no reply within ${timeoutMs} ms`);
      throw e;
    } finally {
      call.deadline.clear();
    }
  }

  /**
   * One controller: probe, then send with per-controller retries (GET only). Returns the reply,
   * or null to move on to the next controller (the failure recorded in `call.failures`).
   */
  async #attempt(idx: number, call: Call): Promise<LinstorReply | null> {
    const ep = this.endpoints[idx];
    const { deadline, kind } = call;
    const timeoutMs = deadline.ms;
    const what = `${call.method} ${call.pathQs.split("?")[0]}`;
    const failed = (e: unknown) => {
      call.failures.push({
        failure: transportFailure(e),
        text: `${ep.url}: ${shortTransportError(e)}`,
      });
      return null;
    };
    try {
      await this.#probe(ep, Math.min(this.#opts.connectTimeoutMs ?? 2_000, deadline.remaining()));
    } catch (e) {
      if (deadline.expired) throw this.#timeout(what, timeoutMs);
      return failed(e);
    }
    const getRetries = kind === "read" ? (this.#opts.getRetries ?? 2) : 0;
    let attempt = 0;
    for (;;) {
      let res: WireResponse;
      this.stats.requests++;
      try {
        res = await this.#wire.request(ep.url + call.pathQs, {
          method: call.method,
          headers: call.headers,
          body: call.body,
          signal: deadline.signal,
          reuse: kind === "read",
          // listings read element by element may be large: gzip on the wire
          gzip: call.pick !== undefined,
        });
      } catch (e) {
        if (deadline.expired) throw this.#timeout(what, timeoutMs);
        const f = transportFailure(e);
        // Never connected (any method; this controller is probed again next time), or a read
        // that the next round or controller repeats.
        if (f !== "lost") reachedControllers.delete(ep.url);
        if (mayRetry(kind, f)) return failed(e);
        throw new OneblkError(
          "unavailable",
          `LINSTOR ${what}: connection to ${ep.url} lost after sending ` +
            `(${shortTransportError(e)}); not retried, outcome unknown`,
        );
      }
      if (call.pick && res.status < 400) return this.#items(res, call, ep, idx, failed);
      let text: string;
      try {
        text = await replyText(res, this.stats);
      } catch (e) {
        if (deadline.expired) throw this.#timeout(what, timeoutMs);
        if (mayRetry(kind, "lost")) return failed(e);
        throw new OneblkError(
          "unavailable",
          `LINSTOR ${what}: reply from ${ep.url} was cut off (${shortTransportError(e)}); not ` +
            `retried, outcome unknown`,
        );
      }
      if (res.status >= 500 && mayRetry(kind, "5xx") && attempt < getRetries) {
        await deadline.sleep(backoffMs(++attempt, this.#opts.retryDelayMs ?? 150));
        if (deadline.expired) throw this.#timeout(what, timeoutMs);
        continue;
      }
      preferredController.set(this.#key, idx);
      let data: unknown = null;
      if (text.trim() !== "") {
        try {
          // The reviver is slow on large listings: lossless only where ApiCallRc entries are,
          // i.e. replies to changes, error replies, and listings that carry one (a pool of an
          // offline node has a `reports` entry); a native substring search decides that.
          const rcReply = call.method !== "GET" || res.status >= 400 ||
            text.includes('"ret_code"');
          data = rcReply ? parseJsonLossless(text, String) : JSON.parse(text);
        } catch {
          if (res.status < 400) {
            throw new OneblkError("backend", `LINSTOR ${what}: reply is not JSON`);
          }
          data = null;
        }
      }
      const rcs = Array.isArray(data) || (data && typeof data === "object" && "ret_code" in data)
        ? toRcList(data)
        : [];
      return { status: res.status, data, rcs };
    }
  }

  /**
   * A successful GET reply of a listing read element by element (getItems): only what
   * `call.pick` keeps of each element is held, never the whole text or tree. The ApiCallRc
   * entries among the elements are the reply's rcs (as for a whole reply).
   */
  async #items(
    res: WireResponse,
    call: Call,
    ep: ControllerEndpoint,
    idx: number,
    failed: (e: unknown) => null,
  ): Promise<LinstorReply | null> {
    const what = `${call.method} ${call.pathQs.split("?")[0]}`;
    const rcEntries: unknown[] = [];
    const r = await readPicked(res, this.stats, call.pick!, {
      // the ApiCallRc entries are the reply's rcs, not elements
      other: (item) => {
        if (!item || typeof item !== "object" || !("ret_code" in item)) return false;
        rcEntries.push(item);
        return true;
      },
      // lossless only where ApiCallRc entries are (see #attempt)
      parse: (t) => t.includes('"ret_code"') ? parseJsonLossless(t, String) : JSON.parse(t),
    });
    if (!r.ok) {
      const e = r.error;
      if (call.deadline.expired) throw this.#timeout(what, call.deadline.ms);
      if (e instanceof SyntaxError) {
        throw new OneblkError("backend", `LINSTOR ${what}: reply is not JSON`);
      }
      if (e instanceof OneblkError) throw e;
      // cut off: a read, repeated by the next round or controller
      return failed(e);
    }
    const { end, kept } = r;
    preferredController.set(this.#key, idx);
    if (!end.array) {
      const rcs = end.value && typeof end.value === "object" && "ret_code" in end.value
        ? toRcList(end.value)
        : [];
      if (rcs.length) return { status: res.status, data: end.value, rcs };
      throw new OneblkError("backend", `LINSTOR ${what}: reply from ${ep.url} is not a list`);
    }
    return { status: res.status, data: kept, rcs: toRcList(rcEntries) };
  }

  #timeout(what: string, ms: number): OneblkError {
    return new OneblkError("timeout", `LINSTOR ${what}: no reply within ${ms} ms`);
  }

  /** GET returning the parsed body; HTTP errors throw LinstorApiError. */
  async get<T>(path: string, query?: Query, timeoutMs?: number): Promise<T> {
    const r = await this.request("GET", path, { query, timeoutMs });
    if (r.status >= 400 || r.rcs.some((e) => isError(e.ret_code))) {
      throw new LinstorApiError(`GET ${path}`, r.status, r.rcs);
    }
    return r.data as T;
  }

  /**
   * GET a listing (a JSON array) and keep, of each element, what `pick` returns (elements it
   * returns undefined for are dropped). The reply is parsed element by element as it arrives:
   * a multi-MB listing never sits in memory whole, as text or as objects. HTTP errors and
   * error entries throw LinstorApiError, as get() does.
   */
  async getItems<T, U>(
    path: string,
    query: Query | undefined,
    pick: (item: T) => U | undefined,
    timeoutMs?: number,
  ): Promise<U[]> {
    const r = await this.request("GET", path, {
      query,
      timeoutMs,
      pick: pick as (item: unknown) => unknown,
    });
    if (r.status >= 400 || r.rcs.some((e) => isError(e.ret_code))) {
      throw new LinstorApiError(`GET ${path}`, r.status, r.rcs);
    }
    if (!Array.isArray(r.data)) {
      throw new OneblkError("backend", `LINSTOR GET ${path}: reply is not a list`);
    }
    return r.data as U[];
  }

  /**
   * A mutating call. Returns the ApiCallRc entries; throws LinstorApiError when the status is
   * an error or any entry is an error (warnings and infos are success).
   */
  async write(
    method: "POST" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
    query?: Query,
    timeoutMs?: number,
  ): Promise<LinstorReply> {
    const r = await this.request(method, path, { body, query, timeoutMs });
    if (r.status >= 400 || r.rcs.some((e) => isError(e.ret_code))) {
      throw new LinstorApiError(`${method} ${path}`, r.status, r.rcs);
    }
    return r;
  }

  /** `GET /v1/controller/version`, at most once per client (lazy). */
  version(): Promise<Record<string, unknown>> {
    this.#version ??= this.get<Record<string, unknown>>("/v1/controller/version");
    return this.#version;
  }

  /** Release pooled connections. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wire.close();
  }
}

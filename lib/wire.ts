/**
 * HTTP/1.1 over the runtime's TCP and TLS sockets: the transport of the store clients (LINSTOR
 * REST, StorPool JSON API) and of the oned XML-RPC client.
 *
 * Why not `fetch`: an action is a short process, and the runtime builds fetch, Request, Response,
 * Headers and web streams on first use — measured in an action process (no JIT): the first
 * fetch 6-8 ms and +3-4 MiB, a socket request 1-2 ms and +1.5 MiB. What a store client needs
 * of HTTP is small and fixed, so it is done here:
 * - one request at a time per connection; a reply's body framed by Content-Length, chunked
 *   transfer coding, or the end of the connection; a gzip body (asked for by `gzip: true`, for
 *   large listings) decoded with the runtime's DecompressionStream;
 * - connections kept per origin for the next request (a client lives for one action). A request
 *   marked `reuse` (a read: repeating it changes nothing) may go on a connection that already
 *   carried one; if that connection turns out closed before any byte of the reply, the request
 *   is sent once more on a new connection. Any other request (a change) goes only on a
 *   connection that never carried a request and was opened within the last second (`connect()`,
 *   a reachability check), so a change is never sent on a connection the server may be closing;
 * - TLS verified against the runtime's roots or the given CA certificates, optionally with a
 *   client certificate; the handshake is finished while connecting, so a refused certificate is
 *   a connect failure (nothing was sent);
 * - every wait (connect, handshake, write, each read) ends when `signal` aborts: the
 *   connection is closed and the signal's reason thrown.
 * Not done (not needed by the clients): proxies (HTTP_PROXY and the like are not used: the
 * clients connect directly), redirects, HTTP/2, cookies, codings other than gzip.
 *
 * Failures are {@link WireError}s saying how far the request got (lib/http.ts: the retry rule).
 */

/** How far a failed request got: nothing sent ("refused", "unreachable"), or maybe sent. */
export type TransportFailure = "refused" | "unreachable" | "lost";

/** A transport failure, with how far the request got. */
export class WireError extends Error {
  /** "refused"/"unreachable": no connection, nothing sent; "lost": the server may have it. */
  readonly failure: TransportFailure;

  constructor(failure: TransportFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WireError";
    this.failure = failure;
  }
}

/** TLS settings: CA certificates (PEM) instead of the runtime's roots, a client certificate. */
export interface WireTls {
  caCerts?: string[];
  cert?: string;
  key?: string;
}

/** One request. */
export interface WireRequest {
  /** GET unless given. */
  method?: string;
  /** Header names are case-insensitive; Host, Content-Length and Connection are set here. */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
  /** Ask for a gzip body (large listings; the reply is decoded here). */
  gzip?: boolean;
  /** The request may be repeated (a read): it may use a connection that carried one before. */
  reuse?: boolean;
  /** Keep the connection for later requests (default); false: `connection: close`. */
  keep?: boolean;
}

/** Longest reply head, and longest chunk-size line, accepted. */
const MAX_HEAD = 64 * 1024;
const MAX_LINE = 4 * 1024;
/**
 * A connection's read buffer starts at READ_FIRST bytes and doubles, up to READ_MAX, each time
 * a read fills it: most replies are under 2 KiB (a store's answer to a change, oned's document of
 * a datastore), and a process holds one buffer per connection it opened (a migration opens about
 * ten) until it ends.
 */
const READ_FIRST = 4 * 1024;
const READ_MAX = 64 * 1024;

import { concatBytes } from "./bytes.ts";
import { after } from "./timer.ts";

const CLOSED_EARLY = "connection closed before message completed";
/** How long a connection that never carried a request may still carry a change. */
const FRESH_MS = 1_000;

const encoder = new TextEncoder();

/** Requests of this process (any WireClient) whose bytes are not all written yet. */
let unsent = 0;
/** Waiters of requestsSent, resolved when `unsent` drops to 0. */
let whenSent: PromiseWithResolvers<void> | null = null;

function sentOne(): void {
  if (--unsent > 0 || !whenSent) return;
  const w = whenSent;
  whenSent = null;
  w.resolve();
}

/** Whether a request of this process (any WireClient) is not all written yet (requestsSent). */
export function requestsUnsent(): boolean {
  return unsent > 0;
}

/**
 * Resolves once every request this process has started (any WireClient) has been written to its
 * connection or has failed to be (the replies may still be on their way), or after `maxMs`. A
 * step that blocks this thread for a while (starting a process forks it) waits for this first, so
 * that the requests under way are not held back by it: their servers work meanwhile.
 */
export function requestsSent(maxMs: number): Promise<void> {
  if (unsent === 0) return Promise.resolve();
  whenSent ??= Promise.withResolvers<void>();
  let cancel = () => {};
  const late = new Promise<void>((resolve) => cancel = after(maxMs, resolve));
  return Promise.race([whenSent.promise, late]).finally(() => cancel());
}

/** Where a URL's requests go. */
interface Origin {
  key: string;
  hostname: string;
  port: number;
  tls: boolean;
  host: string;
}

function originOf(url: URL): Origin {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`unsupported URL scheme ${url.protocol} (http: or https:)`);
  }
  if (url.username || url.password) {
    throw new TypeError("a URL with a user name or password is not used (give credentials apart)");
  }
  const tls = url.protocol === "https:";
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return {
    key: `${url.protocol}//${url.host}`,
    hostname,
    port: url.port ? Number(url.port) : tls ? 443 : 80,
    tls,
    host: url.host,
  };
}

/** Origins by their URL text (`scheme://authority`), parsed once per process. */
const origins = new Map<string, Origin>();
/** The scheme and authority of an http(s) URL, and the rest. */
const SPLIT = /^(https?:\/\/[^/?#]*)(.*)$/is;
/**
 * A request target that the URL parser would leave exactly as it is: ASCII that needs no
 * escaping, no dot segment. Long name-filtered queries (6 KB) skip the parser, which runs as
 * JavaScript, character by character (0.7 ms each without the JIT).
 */
const PLAIN_TARGET = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/;

/** The origin of `url` and its request target (path and query). */
function targetOf(url: string | URL): { o: Origin; target: string } {
  if (typeof url === "string") {
    const m = SPLIT.exec(url);
    if (m && PLAIN_TARGET.test(m[2]) && !DOT_SEGMENT.test(m[2])) {
      let o = origins.get(m[1]);
      if (!o) origins.set(m[1], o = originOf(new URL(m[1])));
      return { o, target: m[2] };
    }
    url = new URL(url);
  }
  return { o: originOf(url), target: `${url.pathname}${url.search}` };
}

/** Wait for `p`, or throw the signal's reason when it aborts first (`p`'s value is then `drop`ped). */
function raced<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  drop: (v: T) => void,
): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.then(drop, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      p.then(drop, () => {});
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) drop(v);
        else resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** One kept-alive socket with its read buffer. */
class Connection {
  readonly origin: string;
  /** It carried a request (a change may not be sent on it). */
  used = false;
  /** When it was opened (ms since epoch). */
  readonly opened = Date.now();
  closed = false;
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(READ_FIRST);
  /** The last read filled all the room there was: an emptied buffer is then made larger. */
  #filled = false;
  /** Unread bytes: #buf[#start, #end). */
  #start = 0;
  #end = 0;
  /** Bytes of the current reply seen so far (0: a kept connection may have been closed). */
  received = 0;

  constructor(origin: string, conn: Deno.Conn) {
    this.origin = origin;
    this.#conn = conn;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  async write(data: Uint8Array): Promise<void> {
    let off = 0;
    while (off < data.length) off += await this.#conn.write(data.subarray(off));
  }

  /** Read more bytes after the unread ones; false at the end of the connection. */
  async #more(limit: number): Promise<boolean> {
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        if (this.#buf.length >= limit) return true;
        const bigger = new Uint8Array(Math.min(limit, this.#buf.length * 2));
        bigger.set(this.#buf.subarray(0, this.#end));
        this.#buf = bigger;
      }
    }
    const room = this.#buf.length - this.#end;
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#filled = n === room;
    this.#end += n;
    this.received += n;
    return true;
  }

  /** Text up to (not including) `sep`, consumed with it; `max`: longest accepted. */
  async #until(sep: string, max: number, what: string): Promise<string> {
    const s0 = sep.charCodeAt(0);
    let scanned = 0; // bytes after the unread start known not to begin `sep`
    for (;;) {
      const buf = this.#buf;
      for (let i = this.#start + scanned; i + sep.length <= this.#end; i++) {
        if (buf[i] !== s0) continue;
        let j = 1;
        while (j < sep.length && buf[i + j] === sep.charCodeAt(j)) j++;
        if (j === sep.length) {
          const text = new TextDecoder().decode(buf.subarray(this.#start, i));
          this.#start = i + sep.length;
          return text;
        }
      }
      scanned = Math.max(0, this.#end - this.#start - sep.length + 1);
      if (this.#end - this.#start > max) {
        throw new WireError("lost", `invalid HTTP reply: ${what} longer than ${max} bytes`);
      }
      if (!await this.#more(max + sep.length)) throw new WireError("lost", CLOSED_EARLY);
    }
  }

  /** The reply head: status line and header lines. */
  head(): Promise<string> {
    return this.#until("\r\n\r\n", MAX_HEAD, "reply head");
  }

  /** One line (a chunk size, a trailer). */
  line(): Promise<string> {
    return this.#until("\r\n", MAX_LINE, "line");
  }

  /**
   * Up to `max` bytes of the body (null: the connection ended). The bytes are a view of the
   * read buffer, valid until the next read.
   */
  async some(max: number): Promise<Uint8Array | null> {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      // (the pieces given out before stay valid: they are views of the old buffer)
      if (this.#filled && this.#buf.length < READ_MAX) {
        this.#buf = new Uint8Array(this.#buf.length * 2);
      }
      if (!await this.#more(READ_MAX)) return null;
    }
    const n = Math.min(max, this.#end - this.#start);
    const piece = this.#buf.subarray(this.#start, this.#start + n);
    this.#start += n;
    return piece;
  }
}

/** A reply: status, headers, and the body read piece by piece. */
export class WireResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header values by lowercase name (repeated headers joined with ", "). */
  readonly headers: Map<string, string>;
  readonly #next: () => Promise<Uint8Array | null>;
  readonly #stop: () => void;

  constructor(
    status: number,
    statusText: string,
    headers: Map<string, string>,
    next: () => Promise<Uint8Array | null>,
    stop: () => void,
  ) {
    this.status = status;
    this.statusText = statusText;
    this.headers = headers;
    this.#next = next;
    this.#stop = stop;
  }

  /** A 2xx status. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  /** The next piece of the body (decoded), valid until the next read; null at its end. */
  read(): Promise<Uint8Array | null> {
    return this.#next();
  }

  /** The rest of the body, whole. */
  async bytes(): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let p = await this.read(); p; p = await this.read()) parts.push(p.slice());
    return concatBytes(parts);
  }

  /** The rest of the body as UTF-8 text (invalid bytes replaced). */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  /** Drop the rest of the body (the connection is closed). */
  cancel(): Promise<void> {
    this.#stop();
    return Promise.resolve();
  }
}

/** A token (RFC 9110) for a header name; a value without line breaks or NUL. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\r\n\0]/;

/** Headers this module sets itself. */
const OWN_HEADERS = new Set(["host", "content-length", "connection", "transfer-encoding"]);

function requestHead(
  o: Origin,
  target: string,
  method: string,
  req: WireRequest,
  length: number,
) {
  if (!TOKEN.test(method)) throw new TypeError(`invalid HTTP method ${JSON.stringify(method)}`);
  const given = new Map<string, string>();
  for (const [k, v] of Object.entries(req.headers ?? {})) {
    if (!TOKEN.test(k) || BAD_VALUE.test(v)) {
      throw new TypeError(`invalid HTTP header ${JSON.stringify(k)} (value not shown)`);
    }
    const name = k.toLowerCase();
    if (!OWN_HEADERS.has(name)) given.set(name, v);
  }
  if (!given.has("user-agent")) given.set("user-agent", "oneblk");
  if (!given.has("accept")) given.set("accept", "*/*");
  given.set("accept-encoding", req.gzip ? "gzip" : "identity");
  let head = `${method} ${target} HTTP/1.1\r\nhost: ${o.host}\r\n`;
  for (const [k, v] of given) head += `${k}: ${v}\r\n`;
  if (length >= 0) head += `content-length: ${length}\r\n`;
  if (req.keep === false) head += "connection: close\r\n";
  return head + "\r\n";
}

/** Methods whose request carries a (possibly empty) body. */
const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);

/** A status line and header lines, parsed. */
function parseHead(text: string) {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new WireError("lost", "invalid HTTP reply: no status line");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    const name = line.slice(0, i).toLowerCase();
    if (i <= 0 || !TOKEN.test(name)) throw new WireError("lost", "invalid HTTP reply: header line");
    const value = line.slice(i + 1).trim();
    const had = headers.get(name);
    headers.set(name, had === undefined ? value : `${had}, ${value}`);
  }
  return { minor: Number(m[1]), status: Number(m[2]), statusText: m[3] ?? "", headers };
}

/**
 * The body's framing: a function giving its raw pieces (null at the end), and whether the
 * connection can carry another request after it.
 */
function framing(
  conn: Connection,
  method: string,
  head: ReturnType<typeof parseHead>,
): { raw: () => Promise<Uint8Array | null>; keep: boolean } {
  const { status, headers } = head;
  const conn_ = headers.get("connection")?.toLowerCase() ?? "";
  let keep = head.minor === 1 ? !/\bclose\b/.test(conn_) : /\bkeep-alive\b/.test(conn_);
  if (method === "HEAD" || status === 204 || status === 304) {
    return { raw: () => Promise.resolve(null), keep };
  }
  const te = headers.get("transfer-encoding");
  if (te !== undefined) {
    if (!/(^|,)\s*chunked\s*$/i.test(te)) {
      throw new WireError("lost", `invalid HTTP reply: transfer coding ${te} not supported`);
    }
    let left = 0;
    let ended = false;
    const raw = async (): Promise<Uint8Array | null> => {
      if (ended) return null;
      if (left === 0) {
        const size = (await conn.line()).split(";")[0].trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(size)) {
          throw new WireError("lost", "invalid HTTP reply: chunk size");
        }
        left = parseInt(size, 16);
        if (left === 0) {
          while ((await conn.line()) !== ""); // trailer fields
          ended = true;
          return null;
        }
      }
      const piece = await conn.some(left);
      if (!piece) throw new WireError("lost", CLOSED_EARLY);
      left -= piece.length;
      if (left === 0 && (await conn.line()) !== "") {
        throw new WireError("lost", "invalid HTTP reply: chunk not ended by a line break");
      }
      return piece;
    };
    return { raw, keep };
  }
  const cl = headers.get("content-length");
  if (cl !== undefined) {
    if (!/^\d{1,15}$/.test(cl)) throw new WireError("lost", "invalid HTTP reply: content-length");
    let left = Number(cl);
    const raw = async (): Promise<Uint8Array | null> => {
      if (left === 0) return null;
      const piece = await conn.some(left);
      if (!piece) throw new WireError("lost", CLOSED_EARLY);
      left -= piece.length;
      return piece;
    };
    return { raw, keep };
  }
  keep = false;
  return { raw: () => conn.some(READ_MAX), keep };
}

/** A gzip body's decoded pieces, from its raw pieces. */
function gunzip(raw: () => Promise<Uint8Array | null>): () => Promise<Uint8Array | null> {
  const ds = new DecompressionStream("gzip");
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  let pump: Promise<void> | undefined;
  const feed = async () => {
    try {
      for (let p = await raw(); p; p = await raw()) await writer.write(p.slice());
      await writer.close();
    } catch (e) {
      await writer.abort(e).catch(() => {});
    }
  };
  return async () => {
    pump ??= feed();
    const { done, value } = await reader.read();
    return done ? null : value;
  };
}

/**
 * An HTTP/1.1 client: its connections, kept per origin until `close()`. One client per store
 * and action.
 */
export class WireClient {
  readonly #tls: WireTls;
  readonly #idle = new Map<string, Connection[]>();
  #closed = false;

  constructor(opts: { tls?: WireTls } = {}) {
    this.#tls = opts.tls ?? {};
  }

  async #open(o: Origin, signal?: AbortSignal): Promise<Connection> {
    try {
      if (!o.tls) {
        return new Connection(
          o.key,
          await Deno.connect({ hostname: o.hostname, port: o.port, signal }),
        );
      }
      const { caCerts, cert, key } = this.#tls;
      const opts: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem> = {
        hostname: o.hostname,
        port: o.port,
      };
      if (caCerts?.length) opts.caCerts = caCerts;
      if (cert && key) Object.assign(opts, { cert, key });
      const tls = await raced(
        Deno.connectTls(opts as Deno.ConnectTlsOptions),
        signal,
        (c) => c.close(),
      );
      try {
        await raced(tls.handshake(), signal, () => tls.close());
      } catch (e) {
        try {
          tls.close();
        } catch {
          // closed already
        }
        throw e;
      }
      return new Connection(o.key, tls);
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const text = e instanceof Error ? e.message : String(e);
      if (e instanceof Deno.errors.ConnectionRefused) {
        throw new WireError("refused", `tcp connect error: ${text}`, { cause: e });
      }
      const tlsFailure = /certificate|tls|handshake|alert/i.test(text);
      throw new WireError("unreachable", tlsFailure ? text : `tcp connect error: ${text}`, {
        cause: e,
      });
    }
  }

  /**
   * A kept connection to take: any for a repeatable request, else one never used and opened
   * moments ago (the server cannot have closed it for being idle).
   */
  #take(key: string, reuse: boolean): Connection | undefined {
    const list = this.#idle.get(key);
    if (!list?.length) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i];
      if (reuse || (!c.used && Date.now() - c.opened < FRESH_MS)) return list.splice(i, 1)[0];
    }
    return undefined;
  }

  #keep(c: Connection): void {
    if (this.#closed || c.closed) return c.close();
    const list = this.#idle.get(c.origin);
    if (list) list.push(c);
    else this.#idle.set(c.origin, [c]);
  }

  /**
   * Open a connection to `url`'s server and keep it for the next request (a reachability
   * check that is not wasted). Throws as a request would when it cannot connect.
   */
  async connect(url: string | URL, signal?: AbortSignal): Promise<void> {
    const { o } = targetOf(url);
    this.#keep(await this.#open(o, signal));
  }

  /** Send one request; resolves with the reply once its head has arrived. */
  async request(url: string | URL, req: WireRequest = {}): Promise<WireResponse> {
    unsent++;
    let pending = true;
    const written = () => {
      if (!pending) return;
      pending = false;
      sentOne();
    };
    try {
      return await this.#request(url, req, written);
    } finally {
      written();
    }
  }

  async #request(
    url: string | URL,
    req: WireRequest,
    written: () => void,
  ): Promise<WireResponse> {
    if (this.#closed) throw new TypeError("HTTP client used after close()");
    const { o, target } = targetOf(url);
    const method = (req.method ?? "GET").toUpperCase();
    const body = typeof req.body === "string" ? encoder.encode(req.body) : req.body;
    const length = body ? body.length : WITH_BODY.has(method) ? 0 : -1;
    const headBytes = encoder.encode(requestHead(o, target, method, req, length));
    let payload = headBytes;
    if (body?.length) {
      payload = new Uint8Array(headBytes.length + body.length);
      payload.set(headBytes);
      payload.set(body, headBytes.length);
    }
    const { signal } = req;
    if (signal?.aborted) throw signal.reason;
    for (let attempt = 0;; attempt++) {
      const kept = attempt === 0 ? this.#take(o.key, req.reuse === true) : undefined;
      const conn = kept ?? await this.#open(o, signal);
      const wasUsed = conn.used;
      const onAbort = () => conn.close();
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = (keep: boolean) => {
        signal?.removeEventListener("abort", onAbort);
        if (keep) this.#keep(conn);
        else conn.close();
      };
      let head: ReturnType<typeof parseHead>;
      try {
        conn.used = true;
        conn.received = 0;
        await conn.write(payload);
        written();
        for (;;) {
          head = parseHead(await conn.head());
          // interim replies (100 Continue, 103 Early Hints) precede the reply
          if (head.status >= 200 || head.status === 101) break;
        }
      } catch (e) {
        done(false);
        if (signal?.aborted) throw signal.reason;
        // a kept connection the server had closed (nothing of a reply came): the others kept
        // for this server are as old, drop them; send once more on a new connection
        if (wasUsed && conn.received === 0 && attempt === 0) {
          for (const c of this.#idle.get(o.key) ?? []) c.close();
          this.#idle.delete(o.key);
          continue;
        }
        throw e instanceof WireError
          ? e
          : new WireError("lost", String((e as Error)?.message ?? e), {
            cause: e,
          });
      }
      let frame: ReturnType<typeof framing>;
      try {
        frame = framing(conn, method, head);
      } catch (e) {
        done(false);
        throw e;
      }
      let finished = false;
      const finish = (keep: boolean) => {
        if (finished) return;
        finished = true;
        done(keep);
      };
      const raw = async (): Promise<Uint8Array | null> => {
        if (finished) return null;
        try {
          const p = await frame.raw();
          if (p === null) finish(frame.keep && req.keep !== false);
          return p;
        } catch (e) {
          finish(false);
          if (signal?.aborted) throw signal.reason;
          throw e instanceof WireError
            ? e
            : new WireError("lost", String((e as Error)?.message ?? e), {
              cause: e,
            });
        }
      };
      const coding = head.headers.get("content-encoding")?.toLowerCase().trim();
      let next = raw;
      if (coding === "gzip" || coding === "x-gzip") next = gunzip(raw);
      else if (coding && coding !== "identity") {
        finish(false);
        throw new WireError("lost", `invalid HTTP reply: content coding ${coding} not supported`);
      }
      return new WireResponse(
        head.status,
        head.statusText,
        head.headers,
        next,
        () => finish(false),
      );
    }
  }

  /** Close the kept connections; later requests are refused. */
  close(): void {
    this.#closed = true;
    for (const list of this.#idle.values()) for (const c of list) c.close();
    this.#idle.clear();
  }
}

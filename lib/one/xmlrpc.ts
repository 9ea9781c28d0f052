/**
 * oned XML-RPC: a small codec (methodCall / methodResponse, faults, arrays, structs, ints,
 * booleans, doubles, strings) and `OneClient`, which fetches VM, image, datastore and host
 * documents and returns them as views.
 *
 * Credentials come from ONE_AUTH (path of a `user:password` file) or `~/.one/one_auth`; the
 * endpoint from ONE_XMLRPC, `~/.one/one_endpoint`, or http://localhost:2633/RPC2. The session
 * string is never put in an error message.
 */
import { join } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { Deadline, transportErrorText } from "../http.ts";
import { WireClient } from "../wire.ts";
import { child, children, escapeXml, parseXml, text, type XmlNode } from "./xml.ts";
import {
  datastoreFromNode,
  type DatastoreView,
  hostFromNode,
  type HostView,
  imageFromNode,
  type ImageView,
  vmFromNode,
  type VmView,
} from "./views.ts";

// ---------------------------------------------------------------------------------------------
// codec

/** An XML-RPC value. Integers encode as i4 (i8 beyond 32 bits), other numbers as double. */
export type XmlRpcValue =
  | string
  | number
  | boolean
  | null
  | XmlRpcValue[]
  | { [member: string]: XmlRpcValue };

/** Encode one value as `<value>…</value>`. */
export function encodeValue(v: XmlRpcValue): string {
  if (v === null) return "<value><nil/></value>";
  switch (typeof v) {
    case "string":
      return `<value><string>${escapeXml(v)}</string></value>`;
    case "boolean":
      return `<value><boolean>${v ? 1 : 0}</boolean></value>`;
    case "number":
      if (Number.isInteger(v)) {
        return v >= -2147483648 && v <= 2147483647
          ? `<value><i4>${v}</i4></value>`
          : `<value><i8>${v}</i8></value>`;
      }
      if (!Number.isFinite(v)) throw new OneblkError("internal", "XML-RPC cannot encode " + v);
      return `<value><double>${v}</double></value>`;
  }
  if (Array.isArray(v)) {
    return `<value><array><data>${v.map(encodeValue).join("")}</data></array></value>`;
  }
  const members = Object.entries(v).map(([k, x]) =>
    `<member><name>${escapeXml(k)}</name>${encodeValue(x)}</member>`
  );
  return `<value><struct>${members.join("")}</struct></value>`;
}

function bad(what: string): never {
  throw new OneblkError("backend", `malformed XML-RPC ${what}`);
}

/** Decode a `<value>` element. */
export function decodeValue(node: XmlNode): XmlRpcValue {
  if (node.name !== "value") bad(`value (got <${node.name}>)`);
  const t = node.children[0];
  if (!t) return node.text;
  switch (t.name) {
    case "string":
    case "dateTime.iso8601":
      return t.text;
    case "i4":
    case "i8":
    case "int": {
      if (!/^[-+]?\d+$/.test(t.text.trim())) bad(`integer ${JSON.stringify(t.text)}`);
      return Number(t.text);
    }
    case "boolean":
      if (t.text.trim() !== "0" && t.text.trim() !== "1") bad("boolean");
      return t.text.trim() === "1";
    case "double": {
      const n = Number(t.text);
      if (!t.text.trim() || !Number.isFinite(n)) bad("double");
      return n;
    }
    case "nil":
      return null;
    case "base64": {
      try {
        return new TextDecoder().decode(Uint8Array.fromBase64(t.text.replace(/\s+/g, "")));
      } catch {
        return bad("base64");
      }
    }
    case "array":
      return children(child(t, "data"), "value").map(decodeValue);
    case "struct": {
      const out: { [k: string]: XmlRpcValue } = {};
      for (const m of children(t, "member")) {
        const v = child(m, "value");
        if (!v) bad("struct member");
        out[text(m, "name")] = decodeValue(v);
      }
      return out;
    }
    default:
      return bad(`type <${t.name}>`);
  }
}

/** `<methodCall>` document for `method(params…)`. */
export function encodeMethodCall(method: string, params: XmlRpcValue[]): string {
  const ps = params.map((p) => `<param>${encodeValue(p)}</param>`).join("");
  return `<?xml version="1.0"?><methodCall><methodName>${
    escapeXml(method)
  }</methodName><params>${ps}</params></methodCall>`;
}

/** Decode a `<methodCall>` document (used by the simulated oned). */
export async function decodeMethodCall(
  xml: string,
): Promise<{ method: string; params: XmlRpcValue[] }> {
  const root = await parseXml(xml, "XML-RPC call");
  if (root.name !== "methodCall") bad("call");
  const method = text(root, "methodName").trim();
  if (!method) bad("call (no methodName)");
  const params = children(child(root, "params"), "param").map((p) => {
    const v = child(p, "value");
    return v ? decodeValue(v) : bad("param");
  });
  return { method, params };
}

/** `<methodResponse>` document carrying one value. */
export function encodeMethodResponse(value: XmlRpcValue): string {
  return `<?xml version="1.0"?><methodResponse><params><param>${
    encodeValue(value)
  }</param></params></methodResponse>`;
}

/** `<methodResponse>` fault document. */
export function encodeFault(code: number, message: string): string {
  return `<?xml version="1.0"?><methodResponse><fault>${
    encodeValue({ faultCode: code, faultString: message })
  }</fault></methodResponse>`;
}

/** A decoded methodResponse: either a value or a fault. */
export type MethodResponse =
  | { value: XmlRpcValue; fault?: undefined }
  | { fault: { code: number; message: string }; value?: undefined };

/** Decode a `<methodResponse>` document. Malformed input is OneblkError("backend"). */
export async function decodeMethodResponse(xml: string): Promise<MethodResponse> {
  let root: XmlNode;
  try {
    root = await parseXml(xml, "XML-RPC response");
  } catch (e) {
    throw new OneblkError("backend", (e as Error).message);
  }
  if (root.name !== "methodResponse") bad(`response (root <${root.name}>)`);
  const fault = child(root, "fault");
  if (fault) {
    const v = child(fault, "value");
    const s = v ? decodeValue(v) : null;
    if (!s || typeof s !== "object" || Array.isArray(s)) bad("fault");
    return {
      fault: { code: Number(s.faultCode ?? 0), message: String(s.faultString ?? "") },
    };
  }
  const v = child(child(child(root, "params"), "param"), "value");
  if (!v) bad("response (no value)");
  return { value: decodeValue(v) };
}

// ---------------------------------------------------------------------------------------------
// oned error codes

/** oned error codes (third element of a failed response). */
export const ONED_ERROR = {
  SUCCESS: 0x0000,
  AUTHENTICATION: 0x0100,
  AUTHORIZATION: 0x0200,
  NO_EXISTS: 0x0400,
  ACTION: 0x0800,
  XML_RPC_API: 0x1000,
  INTERNAL: 0x2000,
  ALLOCATE: 0x4000,
  LOCKED: 0x8000,
} as const;

function kindFor(code: number): "config" | "not_found" | "in_use" | "backend" {
  if (code === ONED_ERROR.AUTHENTICATION || code === ONED_ERROR.AUTHORIZATION) return "config";
  if (code === ONED_ERROR.NO_EXISTS) return "not_found";
  if (code === ONED_ERROR.LOCKED) return "in_use";
  return "backend";
}

// ---------------------------------------------------------------------------------------------
// configuration

/** Where to reach oned and as whom. */
export interface OneConfig {
  endpoint: string;
  /** `user:password` session string. Never log it. */
  session: string;
}

/** Default oned endpoint. */
export const DEFAULT_ONE_XMLRPC = "http://localhost:2633/RPC2";

function firstLine(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).split("\n").map((l) => l.trim()).find((l) => l !== "");
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new OneblkError("config", `cannot read ${path}: ${(e as Error).message}`);
  }
}

/**
 * Resolve endpoint and session like the OpenNebula CLI: ONE_XMLRPC / `<home>/.one/one_endpoint`
 * / default, and ONE_AUTH (a file path) / `<home>/.one/one_auth`. `env` defaults to the
 * process environment, `home` to env.HOME.
 */
export function resolveOneConfig(
  opts: { env?: Record<string, string | undefined>; home?: string } = {},
): OneConfig {
  const env = opts.env ?? Deno.env.toObject();
  const home = opts.home ?? env.HOME ?? "/var/lib/one";
  const endpoint = env.ONE_XMLRPC?.trim() ||
    firstLine(join(home, ".one/one_endpoint")) || DEFAULT_ONE_XMLRPC;
  const authFile = env.ONE_AUTH?.trim() || join(home, ".one/one_auth");
  const session = firstLine(authFile);
  if (session === undefined) {
    throw new OneblkError(
      "config",
      `no OpenNebula credentials: ${authFile} is missing or empty (set ONE_AUTH or create it)`,
    );
  }
  if (!session.includes(":")) {
    throw new OneblkError("config", `${authFile} must contain user:password`);
  }
  try {
    new URL(endpoint);
  } catch {
    throw new OneblkError("config", `invalid oned endpoint ${JSON.stringify(endpoint)}`);
  }
  return { endpoint, session };
}

/** Endpoint URL without any user:password part, for messages. */
export function safeEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    u.username = "";
    u.password = "";
    return u.toString();
  } catch {
    return "<invalid endpoint>";
  }
}

// ---------------------------------------------------------------------------------------------
// client

/** OneClient construction options. */
export interface OneClientOptions extends OneConfig {
  /** Deadline per call in ms (default 15000). */
  timeoutMs?: number;
  /**
   * Keep the answers of read calls (VM, datastore, host pool) for the life of the client: for
   * a client that lives one action (the action context's). Default false.
   */
  remember?: boolean;
}

/**
 * oned XML-RPC client. Every call has a deadline (lib/http.ts) and is sent once: an XML-RPC
 * call does not tell the transport whether it changes anything, so none is repeated. Failures
 * are OneblkError with kind not_found (NO_EXISTS), config (authentication/authorization),
 * in_use (LOCKED), backend (other oned failures, faults, bad responses), unavailable (network),
 * timeout.
 */
export class OneClient {
  /** Endpoint URL (may carry credentials; use safeEndpoint for messages). */
  readonly endpoint: string;
  /** Deadline per call (ms). */
  readonly timeoutMs: number;
  readonly #session: string;
  #requests = 0;
  #byMethod: Record<string, number> = {};
  /**
   * With `remember`: answers of read calls, by method and arguments, for the life of this
   * client (one action):
   * the helpers of an action ask for the same VM, datastores and hosts several times, and a
   * second round trip to oned would only cost time. A call that changes a VM (vmUpdate) drops
   * that VM's answer; a failed call is not kept.
   */
  #answers = new Map<string, Promise<unknown>>();
  #wire: WireClient | undefined;
  readonly #remember: boolean;

  constructor(opts: OneClientOptions) {
    this.endpoint = opts.endpoint;
    this.#session = opts.session;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.#remember = opts.remember === true;
  }

  /** Build a client from the environment (see resolveOneConfig). */
  static fromEnv(
    opts: {
      env?: Record<string, string | undefined>;
      home?: string;
      timeoutMs?: number;
      remember?: boolean;
    } = {},
  ): Promise<OneClient> {
    // (a configuration error rejects, as the callers expect of a client being made)
    return Promise.resolve().then(() =>
      new OneClient({
        ...resolveOneConfig(opts),
        timeoutMs: opts.timeoutMs,
        remember: opts.remember,
      })
    );
  }

  /** Number of XML-RPC requests sent so far. */
  get requests(): number {
    return this.#requests;
  }

  /** Requests per method name. */
  get requestsByMethod(): Readonly<Record<string, number>> {
    return { ...this.#byMethod };
  }

  /**
   * Call an oned method with the session prepended; returns the second element of oned's
   * `[success, value, code, …]` answer.
   */
  async call(method: string, ...params: XmlRpcValue[]): Promise<XmlRpcValue> {
    const where = safeEndpoint(this.endpoint);
    const body = encodeMethodCall(method, [this.#session, ...params]);
    this.#requests++;
    this.#byMethod[method] = (this.#byMethod[method] ?? 0) + 1;
    const deadline = new Deadline(this.timeoutMs);
    let textBody: string;
    try {
      this.#wire ??= new WireClient();
      const res = await this.#wire.request(this.endpoint, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body,
        signal: deadline.signal,
        // every call is a change to the transport (never resent): a new connection each
        keep: false,
      });
      if (!res.ok) {
        await res.cancel();
        throw new OneblkError(
          res.status >= 500 ? "unavailable" : "backend",
          `oned ${method} at ${where}: HTTP ${res.status} ${res.statusText}`.trim(),
        );
      }
      textBody = await res.text();
    } catch (e) {
      if (e instanceof OneblkError) throw e;
      if (deadline.expired) {
        throw new OneblkError(
          "timeout",
          `oned ${method} at ${where} did not answer within ${this.timeoutMs} ms`,
        );
      }
      throw new OneblkError(
        "unavailable",
        `oned ${method} at ${where} failed: ${transportErrorText(e)}`,
      );
    } finally {
      deadline.clear();
    }
    const r = await decodeMethodResponse(textBody);
    if (r.fault) {
      throw new OneblkError(
        "backend",
        `oned ${method}: XML-RPC fault ${r.fault.code}: ${r.fault.message}`,
      );
    }
    const v = r.value;
    if (!Array.isArray(v) || typeof v[0] !== "boolean" || v.length < 2) {
      throw new OneblkError("backend", `oned ${method}: unexpected response shape`);
    }
    if (!v[0]) {
      const code = typeof v[2] === "number" ? v[2] : ONED_ERROR.INTERNAL;
      throw new OneblkError(
        kindFor(code),
        `oned: ${String(v[1])}`,
        `oned error 0x${code.toString(16).padStart(4, "0")}`,
      );
    }
    return v[1];
  }

  /** Call a method whose answer is an XML document and parse it. */
  async callXml(method: string, ...params: XmlRpcValue[]): Promise<XmlNode> {
    const v = await this.call(method, ...params);
    if (typeof v !== "string") {
      throw new OneblkError("backend", `oned ${method}: expected an XML document`);
    }
    try {
      return await parseXml(v, `${method} answer`);
    } catch (e) {
      throw new OneblkError("backend", (e as Error).message);
    }
  }

  /** The kept answer of read call `key`, else `ask()`'s (kept unless it fails). */
  #once<T>(key: string, ask: () => Promise<T>): Promise<T> {
    if (!this.#remember) return ask();
    let p = this.#answers.get(key) as Promise<T> | undefined;
    if (!p) {
      p = ask();
      this.#answers.set(key, p);
      p.catch(() => this.#answers.delete(key));
    }
    return p;
  }

  /** one.vm.info (with `remember`: asked once unless the VM is updated through this client). */
  vmInfo(id: number, decrypt = false): Promise<VmView> {
    const args: XmlRpcValue[] = decrypt ? [id, true] : [id];
    return this.#once(
      `vm:${id}:${decrypt}`,
      async () => vmFromNode(await this.callXml("one.vm.info", ...args)),
    );
  }

  /** one.datastore.info (with `remember`: asked once). */
  datastoreInfo(id: number, decrypt = false): Promise<DatastoreView> {
    const args: XmlRpcValue[] = decrypt ? [id, true] : [id];
    return this.#once(
      `ds:${id}:${decrypt}`,
      async () => datastoreFromNode(await this.callXml("one.datastore.info", ...args)),
    );
  }

  /** one.datastorepool.info: every datastore. */
  async datastorePool(): Promise<DatastoreView[]> {
    const pool = await this.callXml("one.datastorepool.info");
    return children(pool, "DATASTORE").map(datastoreFromNode);
  }

  /** one.image.info. */
  async imageInfo(id: number, decrypt = false): Promise<ImageView> {
    const args: XmlRpcValue[] = decrypt ? [id, true] : [id];
    return imageFromNode(await this.callXml("one.image.info", ...args));
  }

  /** one.system.version: oned's version (also proves the credentials: it authenticates). */
  async systemVersion(): Promise<string> {
    const v = await this.call("one.system.version");
    if (typeof v !== "string") throw new OneblkError("backend", "oned one.system.version: no text");
    return v;
  }

  /**
   * one.image.allocate: register an image from template text in datastore `dsId`; returns its
   * id. With SOURCE in the template oned copies nothing (no datastore cp).
   */
  async imageAllocate(template: string, dsId: number): Promise<number> {
    const v = await this.call("one.image.allocate", template, dsId);
    if (typeof v !== "number") throw new OneblkError("backend", "oned one.image.allocate: no id");
    return v;
  }

  /** one.imagepool.info: every image the session may see (filter -2, whole range). */
  async imagePool(): Promise<ImageView[]> {
    const pool = await this.callXml("one.imagepool.info", -2, -1, -1);
    return children(pool, "IMAGE").map(imageFromNode);
  }

  /** one.hostpool.info: every host (with `remember`: asked once). */
  hostPool(): Promise<HostView[]> {
    return this.#once("hostpool", async () => {
      const pool = await this.callXml("one.hostpool.info");
      return children(pool, "HOST").map(hostFromNode);
    });
  }

  /**
   * A host by id (one.host.info) or by name (one.hostpool.info lookup; OneblkError("not_found")
   * when no host has that name).
   */
  async hostInfo(idOrName: number | string): Promise<HostView> {
    if (typeof idOrName === "number") {
      return hostFromNode(await this.callXml("one.host.info", idOrName));
    }
    const h = (await this.hostPool()).find((x) => x.name === idOrName);
    if (!h) {
      throw new OneblkError("not_found", `oned has no host named ${JSON.stringify(idOrName)}`);
    }
    return h;
  }

  /** one.vm.update of the USER_TEMPLATE (`merge` true: append/replace given attributes). */
  async vmUpdate(id: number, template: string, merge = true): Promise<void> {
    this.#answers.delete(`vm:${id}:false`);
    this.#answers.delete(`vm:${id}:true`);
    try {
      await this.call("one.vm.update", id, template, merge ? 1 : 0);
    } finally {
      this.#answers.delete(`vm:${id}:false`);
      this.#answers.delete(`vm:${id}:true`);
    }
  }

  /** one.image.update of the image TEMPLATE (`merge` true: append/replace given attributes). */
  async imageUpdate(id: number, template: string, merge = true): Promise<void> {
    await this.call("one.image.update", id, template, merge ? 1 : 0);
  }
}

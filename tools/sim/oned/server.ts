/**
 * Simulated oned XML-RPC endpoint (real HTTP on 127.0.0.1) answering the calls oneblk makes:
 * one.vm.info, one.datastore.info, one.datastorepool.info, one.image.info, one.host.info,
 * one.hostpool.info, one.imagepool.info, one.system.version, one.vm.update, one.image.update and
 * one.image.allocate (images with a SOURCE: registered READY without any datastore action, as
 * oned does), from scenario state that tests (and the scripted oned) fill with XML documents. It
 * checks the session string and fails like oned does
 * (`[one.vm.info] Error getting virtual machine [99].`, error code 0x0400).
 *
 * Control endpoints (not part of oned): GET /_sim/stats, GET /_sim/state,
 * POST /_sim/object (body: an XML document to add or replace), POST /_sim/fault
 * ({method?, delayMs?, status?, drop?, fail?: {code, message}, count?}), DELETE /_sim/fault.
 */
import { OneblkError } from "../../../lib/errors.ts";
import { child, text, toXml, type XmlNode } from "../../../lib/one/xml.ts";
import { parseXmlSync } from "../../../lib/one/xml_saxes.ts";
import { parseTemplate } from "../../../lib/one/template.ts";
import { buildImageXml } from "./builders.ts";
import {
  decodeMethodCall,
  encodeFault,
  encodeMethodResponse,
  ONED_ERROR,
  type XmlRpcValue,
} from "../../../lib/one/xmlrpc.ts";

/** Object kinds the simulator stores. */
export type OnedObjectKind = "VM" | "IMAGE" | "DATASTORE" | "HOST";

/** Injected misbehaviour for matching calls. */
export interface OnedFault {
  /** XML-RPC method name, or "*" (default) for every call. */
  method?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Answer with this HTTP status instead. */
  status?: number;
  /**
   * Break the connection instead of answering (the response body errors; Deno.serve logs that
   * error's stack on stderr).
   */
  drop?: boolean;
  /** Answer with an oned failure `[false, message, code]`. */
  fail?: { code: number; message: string };
  /** How many calls it applies to (default: until cleared). */
  count?: number;
}

/** One recorded call (the session parameter is not recorded). */
export interface OnedCall {
  method: string;
  params: XmlRpcValue[];
}

const LABEL: Record<OnedObjectKind, string> = {
  VM: "virtual machine",
  IMAGE: "image",
  DATASTORE: "datastore",
  HOST: "host",
};

/** Scenario state of the simulated oned. All objects are stored as XML text. */
export class OnedSimState {
  /** Expected session string (`user:password`). */
  session: string;
  /** What one.system.version answers. */
  version = "7.0.0";
  /** VM id → `<VM>` XML. */
  readonly vms = new Map<number, string>();
  /** Image id → `<IMAGE>` XML. */
  readonly images = new Map<number, string>();
  /** Datastore id → `<DATASTORE>` XML. */
  readonly datastores = new Map<number, string>();
  /** Host id → `<HOST>` XML. */
  readonly hosts = new Map<number, string>();
  /** XML-RPC requests answered (control endpoints not counted). */
  requests = 0;
  /** Requests per method. */
  readonly byMethod: Record<string, number> = {};
  /** Every call, in order. */
  readonly calls: OnedCall[] = [];
  /** Active faults (first match wins). */
  faults: OnedFault[] = [];

  constructor(session: string) {
    this.session = session;
  }

  /** The map holding objects of `kind`. */
  mapOf(kind: OnedObjectKind): Map<number, string> {
    return { VM: this.vms, IMAGE: this.images, DATASTORE: this.datastores, HOST: this.hosts }[
      kind
    ];
  }

  /** Add or replace an object from its XML (kind taken from the root element); returns it. */
  put(xml: string): { kind: OnedObjectKind; id: number } {
    const node = parseXmlSync(xml, "object XML");
    if (!(node.name in LABEL)) {
      throw new OneblkError(
        "input",
        `simulated oned stores VM/IMAGE/DATASTORE/HOST, not <${node.name}>`,
      );
    }
    const kind = node.name as OnedObjectKind;
    const id = Number(text(node, "ID"));
    if (!Number.isInteger(id)) throw new OneblkError("input", `<${kind}> has no valid ID`);
    this.mapOf(kind).set(id, xml.trim());
    return { kind, id };
  }

  /** Add or replace a VM; returns its id. */
  putVm(xml: string): number {
    return this.putKind("VM", xml);
  }
  /** Add or replace an image; returns its id. */
  putImage(xml: string): number {
    return this.putKind("IMAGE", xml);
  }
  /** Add or replace a datastore; returns its id. */
  putDatastore(xml: string): number {
    return this.putKind("DATASTORE", xml);
  }
  /** Add or replace a host; returns its id. */
  putHost(xml: string): number {
    return this.putKind("HOST", xml);
  }

  private putKind(kind: OnedObjectKind, xml: string): number {
    const r = this.put(xml);
    if (r.kind !== kind) throw new OneblkError("input", `expected <${kind}>, got <${r.kind}>`);
    return r.id;
  }

  /** Remove an object; true when it existed. */
  remove(kind: OnedObjectKind, id: number): boolean {
    return this.mapOf(kind).delete(id);
  }

  /** Parsed copy of an object, or undefined. */
  get(kind: OnedObjectKind, id: number): XmlNode | undefined {
    const x = this.mapOf(kind).get(id);
    return x === undefined ? undefined : parseXmlSync(x);
  }

  /** Modify an object in place through its XmlNode tree; OneblkError("not_found") if absent. */
  edit(kind: OnedObjectKind, id: number, fn: (node: XmlNode) => void): void {
    const node = this.get(kind, id);
    if (!node) throw new OneblkError("not_found", `simulated oned has no ${kind} ${id}`);
    fn(node);
    this.mapOf(kind).set(id, toXml(node));
  }

  /** Add a fault (see OnedFault). */
  addFault(f: OnedFault): void {
    this.faults.push({ ...f });
  }

  /** Remove all faults. */
  clearFaults(): void {
    this.faults = [];
  }

  /** The fault applying to `method`, consuming one use. */
  takeFault(method: string): OnedFault | undefined {
    const i = this.faults.findIndex((f) => (f.method ?? "*") === "*" || f.method === method);
    if (i < 0) return undefined;
    const f = this.faults[i];
    if (f.count !== undefined) {
      f.count--;
      if (f.count <= 0) this.faults.splice(i, 1);
    }
    return f;
  }
}

/** Set (create or replace) leaf `name` under `parent` to `value`. */
export function setLeaf(parent: XmlNode, name: string, value: string): void {
  const c = child(parent, name);
  if (c) {
    c.text = value;
    c.children = [];
  } else parent.children.push({ name, attrs: {}, text: value, children: [] });
}

/** Apply template text to a TEMPLATE-like element (merge, or replace everything). */
export function applyTemplate(target: XmlNode, templateText: string, merge: boolean): void {
  const attrs = parseTemplate(templateText, "template");
  if (!merge) target.children = [];
  for (const a of attrs) {
    target.children = target.children.filter((c) => c.name !== a.name || !merge);
    if (a.value !== undefined) setLeaf(target, a.name, a.value);
    else {
      target.children.push({
        name: a.name,
        attrs: {},
        text: "",
        children: Object.entries(a.vector).map(([k, v]) => ({
          name: k,
          attrs: {},
          text: v,
          children: [],
        })),
      });
    }
  }
}

/** Options of startOnedSim. */
export interface OnedSimOptions {
  /** TCP port (default 0: ephemeral). */
  port?: number;
  /** Expected session string (default "oneadmin:opennebula"). */
  auth?: string;
  /** Reuse an existing state (restart with state kept). */
  state?: OnedSimState;
}

/** A running simulated oned. */
export interface OnedSim {
  /** XML-RPC endpoint, e.g. http://127.0.0.1:41234/RPC2. */
  url: string;
  /** Bound port. */
  port: number;
  /** Scenario state (shared with the server; mutate freely). */
  state: OnedSimState;
  /** Stop the server (pending delayed answers are abandoned). */
  stop(): Promise<void>;
  /** Stop and start again on the same port with the same state. */
  restart(): Promise<void>;
}

type Answer = XmlRpcValue[];

function ok(v: XmlRpcValue): Answer {
  return [true, v, ONED_ERROR.SUCCESS];
}
function failure(code: number, message: string): Answer {
  return [false, message, code, -1];
}

class RpcFault extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

function intParam(params: XmlRpcValue[], i: number, method: string): number {
  const v = params[i];
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw new RpcFault(-501, `${method}: parameter ${i + 1} must be an integer`);
  }
  return v;
}

function answer(state: OnedSimState, method: string, params: XmlRpcValue[]): Answer {
  const session = params[0];
  if (typeof session !== "string") {
    throw new RpcFault(-501, `${method}: parameter 1 (session) must be a string`);
  }
  if (session !== state.session) {
    return failure(
      ONED_ERROR.AUTHENTICATION,
      `[${method}] User couldn't be authenticated, aborting call.`,
    );
  }
  const info = (kind: OnedObjectKind) => {
    const id = intParam(params, 1, method);
    const x = state.mapOf(kind).get(id);
    return x === undefined
      ? failure(ONED_ERROR.NO_EXISTS, `[${method}] Error getting ${LABEL[kind]} [${id}].`)
      : ok(x);
  };
  const update = (kind: OnedObjectKind, section: string) => {
    const id = intParam(params, 1, method);
    const tplText = params[2];
    const type = params.length > 3 ? intParam(params, 3, method) : 0;
    if (typeof tplText !== "string") {
      throw new RpcFault(-501, `${method}: parameter 3 must be a string`);
    }
    if (!state.mapOf(kind).has(id)) {
      return failure(ONED_ERROR.NO_EXISTS, `[${method}] Error getting ${LABEL[kind]} [${id}].`);
    }
    try {
      state.edit(kind, id, (n) => {
        let sec = child(n, section);
        if (!sec) {
          sec = { name: section, attrs: {}, text: "", children: [] };
          n.children.push(sec);
        }
        applyTemplate(sec, tplText, type === 1);
      });
    } catch (e) {
      return failure(ONED_ERROR.ACTION, `[${method}] ${(e as Error).message}`);
    }
    return ok(id);
  };
  switch (method) {
    case "one.image.allocate":
      return allocateImage(state, method, params);
    case "one.imagepool.info":
      return ok(`<IMAGE_POOL>${[...state.images.values()].join("")}</IMAGE_POOL>`);
    case "one.vm.info":
      return info("VM");
    case "one.image.info":
      return info("IMAGE");
    case "one.datastore.info":
      return info("DATASTORE");
    case "one.host.info":
      return info("HOST");
    case "one.hostpool.info":
      return ok(`<HOST_POOL>${[...state.hosts.values()].join("")}</HOST_POOL>`);
    case "one.datastorepool.info":
      return ok(`<DATASTORE_POOL>${[...state.datastores.values()].join("")}</DATASTORE_POOL>`);
    case "one.system.version":
      return ok(state.version);
    case "one.vm.update":
      return update("VM", "USER_TEMPLATE");
    case "one.image.update":
      return update("IMAGE", "TEMPLATE");
    default:
      throw new RpcFault(-506, `Requested method '${method}' not defined`);
  }
}

const IMAGE_TYPES: Record<string, number> = { OS: 0, CDROM: 1, DATABLOCK: 2 };

/**
 * one.image.allocate(session, template, ds_id[, skip_capacity_check]) for an image with a
 * SOURCE (oned then copies nothing: the image is READY at once); NAME and SIZE are required,
 * the datastore must be an image datastore and the name unused.
 */
function allocateImage(state: OnedSimState, method: string, params: XmlRpcValue[]): Answer {
  const tplText = params[1];
  if (typeof tplText !== "string") {
    throw new RpcFault(-501, `${method}: parameter 2 must be a string`);
  }
  const dsId = intParam(params, 2, method);
  const ds = state.get("DATASTORE", dsId);
  if (!ds) return failure(ONED_ERROR.NO_EXISTS, `[${method}] Error getting datastore [${dsId}].`);
  if (text(ds, "TYPE") !== "0") {
    return failure(ONED_ERROR.ACTION, `[${method}] Datastore ${dsId} is not an image datastore.`);
  }
  let attrs: Record<string, string>;
  try {
    attrs = Object.fromEntries(
      parseTemplate(tplText, "template").filter((a) => a.value !== undefined).map((
        a,
      ) => [a.name.toUpperCase(), a.value as string]),
    );
  } catch (e) {
    return failure(ONED_ERROR.ACTION, `[${method}] Parse error: ${(e as Error).message}`);
  }
  const name = attrs.NAME ?? "";
  if (!name) return failure(ONED_ERROR.ACTION, `[${method}] No NAME in template.`);
  for (const [id, x] of state.images) {
    if (text(parseXmlSync(x), "NAME") === name) {
      return failure(ONED_ERROR.ACTION, `[${method}] NAME is already taken by IMAGE ${id}.`);
    }
  }
  const source = attrs.SOURCE ?? "";
  if (!source) {
    return failure(
      ONED_ERROR.ACTION,
      `[${method}] The simulated oned registers images with a SOURCE only.`,
    );
  }
  const size = Number(attrs.SIZE ?? "");
  if (!Number.isInteger(size) || size <= 0) {
    return failure(ONED_ERROR.ACTION, `[${method}] SIZE is mandatory for an image with SOURCE.`);
  }
  const type = IMAGE_TYPES[(attrs.TYPE ?? "OS").toUpperCase()];
  if (type === undefined) return failure(ONED_ERROR.ACTION, `[${method}] Wrong image type.`);
  let id = 0;
  for (const k of state.images.keys()) id = Math.max(id, k + 1);
  const rest: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (!["NAME", "SOURCE", "SIZE", "TYPE", "PERSISTENT", "FORMAT", "PATH"].includes(k)) {
      rest[k] = v;
    }
  }
  state.putImage(buildImageXml({
    id,
    name,
    type,
    persistent: /^(yes|1|true)$/i.test(attrs.PERSISTENT ?? ""),
    source,
    format: attrs.FORMAT ?? "raw",
    size,
    state: 1,
    datastoreId: dsId,
    datastore: text(ds, "NAME"),
    template: rest,
  }));
  return ok(id);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

const XML_HEADERS = { "content-type": "text/xml" };

async function control(state: OnedSimState, req: Request, path: string): Promise<Response> {
  const json = (v: unknown, status = 200) =>
    new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });
  try {
    if (path === "/_sim/stats" && req.method === "GET") {
      return json({ requests: state.requests, byMethod: state.byMethod });
    }
    if (path === "/_sim/state" && req.method === "GET") {
      const dump = (m: Map<number, string>) => Object.fromEntries(m);
      return json({
        vms: dump(state.vms),
        images: dump(state.images),
        datastores: dump(state.datastores),
        hosts: dump(state.hosts),
        faults: state.faults,
      });
    }
    if (path === "/_sim/object" && req.method === "POST") {
      return json(state.put(await req.text()));
    }
    if (path === "/_sim/fault" && req.method === "POST") {
      state.addFault(await req.json());
      return json({ faults: state.faults.length });
    }
    if (path === "/_sim/fault" && req.method === "DELETE") {
      state.clearFaults();
      return json({ faults: 0 });
    }
    await req.body?.cancel();
    return json({ error: "not found" }, 404);
  } catch (e) {
    return json({ error: (e as Error).message }, 400);
  }
}

/** Start a simulated oned on 127.0.0.1. */
export function startOnedSim(opts: OnedSimOptions = {}): Promise<OnedSim> {
  const state = opts.state ?? new OnedSimState(opts.auth ?? "oneadmin:opennebula");
  if (opts.auth !== undefined) state.session = opts.auth;
  let stopper = new AbortController();

  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/_sim/")) return control(state, req, path);
    if (req.method !== "POST") {
      await req.body?.cancel();
      return new Response("XML-RPC endpoint: POST only\n", { status: 405 });
    }
    const body = await req.text();
    let call: { method: string; params: XmlRpcValue[] };
    try {
      call = await decodeMethodCall(body);
    } catch (e) {
      return new Response(
        encodeFault(-503, `Call XML not a proper XML-RPC call: ${(e as Error).message}`),
        {
          headers: XML_HEADERS,
        },
      );
    }
    state.requests++;
    state.byMethod[call.method] = (state.byMethod[call.method] ?? 0) + 1;
    state.calls.push({ method: call.method, params: call.params.slice(1) });
    const fault = state.takeFault(call.method);
    if (fault?.delayMs) await sleep(fault.delayMs, stopper.signal);
    if (fault?.drop) {
      return new Response(
        new ReadableStream({
          start(c) {
            c.error(new Error("connection dropped by simulator"));
          },
        }),
        { headers: XML_HEADERS },
      );
    }
    if (fault?.status) return new Response("simulated failure\n", { status: fault.status });
    let out: string;
    try {
      out = encodeMethodResponse(
        fault?.fail
          ? failure(fault.fail.code, fault.fail.message)
          : answer(state, call.method, call.params),
      );
    } catch (e) {
      out = e instanceof RpcFault
        ? encodeFault(e.code, e.message)
        : encodeFault(-500, (e as Error).message);
    }
    return new Response(out, { headers: XML_HEADERS });
  };

  const listen = (port: number) =>
    Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler);
  let server = listen(opts.port ?? 0);
  const port = server.addr.port;
  const sim: OnedSim = {
    url: `http://127.0.0.1:${port}/RPC2`,
    port,
    state,
    async stop() {
      stopper.abort();
      await server.shutdown();
    },
    async restart() {
      await sim.stop();
      stopper = new AbortController();
      server = listen(port);
    },
  };
  return Promise.resolve(sim);
}

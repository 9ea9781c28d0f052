/**
 * The simulated LINSTOR controller: object model, placement, snapshots, clones and the
 * REST semantics (ret_codes, HTTP statuses) of the real controller, without the HTTP layer.
 *
 * Volume data lives in sparse files under the state dir (`volumes/<RD>/<vnr>.img`); all
 * replicas of a volume share that file (DRBD keeps them identical). Snapshots copy the file
 * (`snapshots/<RD>/<snap>/<vnr>.img`). When a hosts root is configured, every resource on node
 * X has the device symlink `<hostsRoot>/X/dev/drbd/by-res/<RD>/<vnr>` to the data file.
 *
 * Names of nodes, pools, groups, resource definitions and snapshots are case-insensitive (as in
 * LINSTOR); the display name keeps the case used at creation.
 */
import { join } from "node:path";
import {
  API_CALL_PARSE_ERROR,
  CODE,
  MASK_BITS_OBJ,
  MASK_BITS_OP,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_INFO,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import type { ApiCallRc } from "../../../lib/backend/linstor/api_call_rc.ts";

// ---------------------------------------------------------------------------------------------
// Replies and errors

/** One ApiCallRc entry as the simulator emits it (ret_code exact as BigInt). */
export type SimRc = ApiCallRc;

/** A reply of the controller logic: HTTP status and JSON body. */
export interface SimReply {
  status: number;
  body: unknown;
}

/** Operation/object context used to fill in the ret_code masks (like ResponseConverter). */
export interface RcContext {
  op: bigint;
  obj: bigint;
  refs?: Record<string, string>;
}

let errorReportSeq = 0;

/** Build an entry. `type` is MASK_ERROR/MASK_WARN/MASK_INFO/0n. */
export function rc(
  type: bigint,
  code: number,
  message: string,
  extra: Partial<Omit<SimRc, "ret_code" | "message">> = {},
): SimRc {
  return { ret_code: type | BigInt(code), message, ...extra };
}

/** Apply context masks (without overriding masks already set) and make the value signed. */
export function withContext(e: SimRc, ctx: RcContext): SimRc {
  let v = BigInt.asUintN(64, e.ret_code);
  if ((v & MASK_BITS_OP) === 0n) v |= ctx.op;
  if ((v & MASK_BITS_OBJ) === 0n) v |= ctx.obj;
  const out: SimRc = { ...e, ret_code: BigInt.asIntN(64, v) };
  if (ctx.refs && !out.obj_refs) out.obj_refs = ctx.refs;
  if (!out.created_at) out.created_at = new Date().toISOString();
  return out;
}

/** An ApiCallRc exception: stops the handler, becomes the reply. */
export class SimApiError extends Error {
  readonly entries: SimRc[];
  constructor(entries: SimRc[] | SimRc) {
    const list = Array.isArray(entries) ? entries : [entries];
    super(list.map((e) => e.message).join("; "));
    this.entries = list;
  }
}

/** Throw an error entry. */
export function fail(
  code: number,
  message: string,
  extra: Partial<Omit<SimRc, "ret_code" | "message">> = {},
): never {
  throw new SimApiError(rc(MASK_ERROR, code, message, extra));
}

/** HTTP status for a list of entries, as ApiCallRcRestUtils.toResponse computes it. */
export function statusFor(entries: SimRc[], success: number): number {
  for (const e of entries) {
    const v = BigInt.asUintN(64, e.ret_code);
    if ((v & MASK_ERROR) === MASK_ERROR) {
      const code = Number(v & 0x7FFFn);
      if (code >= 300 && code <= 399) return 404;
      if (code >= 400 && code <= 499) return 403;
      return 500;
    }
  }
  return success;
}

/** Build a reply from entries and context. */
export function rcReply(entries: SimRc[], ctx: RcContext, success: number): SimReply {
  const list = entries.map((e) => withContext(e, ctx));
  return { status: statusFor(list, success), body: list };
}

/** A bad-JSON reply (HTTP 400, API_CALL_PARSE_ERROR), like Jackson parse failures. */
export function parseErrorReply(details: string): SimReply {
  return {
    status: 400,
    body: [{
      ret_code: BigInt.asIntN(64, API_CALL_PARSE_ERROR),
      message: "Unable to parse input json.",
      details,
      created_at: new Date().toISOString(),
    }],
  };
}

/** A simulated internal error reply with an error report id. */
export function internalErrorReply(message: string): SimReply {
  errorReportSeq++;
  const id = `SIM-${String(Date.now() % 1e8).padStart(8, "0")}-${
    String(errorReportSeq).padStart(6, "0")
  }`;
  return {
    status: 500,
    body: [{
      ret_code: BigInt.asIntN(64, MASK_ERROR | BigInt(CODE.FAIL_UNKNOWN_ERROR)),
      message,
      cause: "Simulated controller failure (fault injection)",
      error_report_ids: [id],
      created_at: new Date().toISOString(),
    }],
  };
}

// ---------------------------------------------------------------------------------------------
// Model

/** Storage provider kinds the simulator supports. */
export type PoolKind = "LVM" | "LVM_THIN" | "ZFS" | "ZFS_THIN" | "FILE" | "FILE_THIN" | "DISKLESS";

/** A satellite. */
export interface SimNode {
  name: string;
  type: string;
  address: string;
  props: Record<string, string>;
  uuid: string;
  /** The satellite is disconnected (the /_sim/node control); absent = online. */
  offline?: boolean;
}

/** A storage pool on one node. */
export interface SimPool {
  node: string;
  name: string;
  kind: PoolKind;
  totalKib: number;
  props: Record<string, string>;
  uuid: string;
}

/** A resource group. */
export interface SimRg {
  name: string;
  props: Record<string, string>;
  filter: Record<string, unknown>;
  peerSlots?: number;
  vgs: { nr: number; props: Record<string, string>; flags: string[]; uuid: string }[];
  uuid: string;
}

/** A volume definition. */
export interface SimVd {
  nr: number;
  sizeKib: number;
  props: Record<string, string>;
  flags: string[];
  minor: number;
  uuid: string;
}

/** A resource (one node's replica or diskless attachment). */
export interface SimRsc {
  node: string;
  /** Storage pool (DISKLESS pool for diskless). */
  pool: string;
  diskless: boolean;
  tieBreaker: boolean;
  /** DRBD client (non-voting diskless, what make-available creates). */
  client: boolean;
  props: Record<string, string>;
  nodeId: number;
  created: number;
  uuid: string;
}

/** A snapshot definition with its per-node snapshots. */
export interface SimSnap {
  name: string;
  nodes: string[];
  /** Pool per node at snapshot time. */
  pools: Record<string, string>;
  vds: { nr: number; sizeKib: number }[];
  props: Record<string, string>;
  created: number;
  uuid: string;
}

/** A resource definition. */
export interface SimRd {
  name: string;
  rg: string;
  props: Record<string, string>;
  flags: string[];
  extName?: string;
  port: number;
  vds: SimVd[];
  rscs: SimRsc[];
  snaps: SimSnap[];
  created: number;
  uuid: string;
}

/** An asynchronous clone operation. */
export interface SimClone {
  src: string;
  dst: string;
  readyAt: number;
  failed: boolean;
}

/** Whole persisted state. */
export interface SimState {
  version: 1;
  nodes: SimNode[];
  pools: SimPool[];
  rgs: SimRg[];
  rds: SimRd[];
  clones: SimClone[];
  /** "RD/node" (upper-case keys) → in use. */
  inUse: Record<string, boolean>;
  nextPort: number;
  nextMinor: number;
  seq: number;
}

/** Options of the controller logic. */
export interface ControllerOptions {
  stateDir: string;
  hostsRoot?: string;
  nodes: string[];
  pools: { name: string; sizeGiB: number; thin?: boolean; kind?: PoolKind }[];
  resourceGroups?: { name: string; placeCount?: number; storagePools?: string[] }[];
  /** How long a clone stays CLONING (ms). */
  cloneDurationMs: number;
}

const DISKLESS_POOL = "DfltDisklessStorPool";
/** ApiConsts.WARN_NOT_CONNECTED (code part; MASK_WARN added where used). */
const WARN_NOT_CONNECTED = 1001;
const NAME_RE = /^[a-zA-Z0-9_][a-zA-Z0-9_-]{1,47}$/;
const NODE_RE = /^[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}$/;
const THIN_KINDS = new Set<PoolKind>(["LVM_THIN", "ZFS_THIN", "FILE_THIN"]);
const SNAP_KINDS = new Set<PoolKind>(["LVM_THIN", "ZFS", "ZFS_THIN", "FILE_THIN"]);
const PEER_SLOTS = 7;

function k(s: string): string {
  return s.toUpperCase();
}

function uuid(): string {
  return crypto.randomUUID();
}

function align(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/** DRBD internal metadata size in KiB for a volume (superblock + activity log + bitmaps). */
export function drbdMetaKib(sizeKib: number): number {
  return align(36 + Math.ceil((PEER_SLOTS * sizeKib) / 32768), 4);
}

function asStrings(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return undefined;
  return v.map(String);
}

function splitNames(v: unknown): string[] {
  return asStrings(v) ?? [];
}

// ---------------------------------------------------------------------------------------------
// Request body checking (Jackson rejects unknown properties and wrong types with HTTP 400)

type FieldType =
  | "string"
  | "int"
  | "bool"
  | "number"
  | "strings"
  | "ints"
  | "props"
  | "intmap"
  | { obj: Shape }
  | { arr: Shape };
/** Allowed fields of a request object. */
export type Shape = Record<string, FieldType>;

const FILTER: Shape = {
  place_count: "int",
  additional_place_count: "int",
  node_name_list: "strings",
  storage_pool: "string",
  storage_pool_list: "strings",
  storage_pool_diskless_list: "strings",
  not_place_with_rsc: "strings",
  not_place_with_rsc_regex: "string",
  replicas_on_same: "strings",
  replicas_on_different: "strings",
  x_replicas_on_different_map: "intmap",
  layer_stack: "strings",
  provider_list: "strings",
  diskless_on_remaining: "bool",
  diskless_type: "string",
  overprovision: "number",
  port_count: "int",
};
const RD_SHAPE: Shape = {
  name: "string",
  external_name: "string",
  props: "props",
  flags: "strings",
  layer_data: { arr: { type: "string", data: { obj: {} } } },
  uuid: "string",
  resource_group_name: "string",
  volume_definitions: { arr: {} },
};
const VD_SHAPE: Shape = {
  volume_number: "int",
  size_kib: "int",
  props: "props",
  flags: "strings",
  layer_data: { arr: {} },
  uuid: "string",
};
const RSC_SHAPE: Shape = {
  name: "string",
  node_name: "string",
  props: "props",
  effective_props: "props",
  flags: "strings",
  layer_object: { obj: {} },
  state: { obj: { in_use: "bool" } },
  uuid: "string",
  create_timestamp: "int",
};
const SNAP_SHAPE: Shape = {
  name: "string",
  resource_name: "string",
  nodes: "strings",
  props: "props",
  snapshot_definition_props: "props",
  resource_definition_props: "props",
  flags: "strings",
  volume_definitions: { arr: { volume_number: "int", size_kib: "int" } },
  uuid: "string",
  snapshots: { arr: {} },
};

/** Request shapes by name. */
export const SHAPES: Record<string, Shape> = {
  Node: {
    name: "string",
    type: "string",
    flags: "strings",
    props: "props",
    net_interfaces: {
      arr: {
        name: "string",
        address: "string",
        satellite_port: "int",
        satellite_encryption_type: "string",
        is_active: "bool",
        uuid: "string",
      },
    },
    connection_status: "string",
    uuid: "string",
    storage_providers: "strings",
    resource_layers: "strings",
  },
  StoragePool: {
    storage_pool_name: "string",
    node_name: "string",
    provider_kind: "string",
    props: "props",
    free_space_mgr_name: "string",
    uuid: "string",
    supports_snapshots: "bool",
    shared_space: "string",
    external_locking: "bool",
    free_capacity: "int",
    total_capacity: "int",
  },
  ResourceGroup: {
    name: "string",
    props: "props",
    select_filter: { obj: FILTER },
    uuid: "string",
    peer_slots: "int",
  },
  ResourceGroupModify: {
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    select_filter: { obj: FILTER },
    peer_slots: "int",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  VolumeGroup: { volume_number: "int", props: "props", uuid: "string", flags: "strings" },
  ResourceGroupSpawn: {
    resource_definition_name: "string",
    resource_definition_external_name: "string",
    volume_sizes: "ints",
    select_filter: { obj: FILTER },
    partial: "bool",
    definitions_only: "bool",
    peer_slots: "int",
    volume_passphrases: "strings",
    resource_definition_props: "props",
  },
  QuerySizeInfoRequest: { select_filter: { obj: FILTER }, ignore_cache_older_than_sec: "int" },
  ResourceDefinitionCreate: {
    drbd_port: "int",
    drbd_secret: "string",
    drbd_peer_slots: "int",
    drbd_transport_type: "string",
    resource_definition: { obj: RD_SHAPE },
  },
  ResourceDefinitionModify: {
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    drbd_port: "int",
    drbd_peer_slots: "int",
    layer_stack: "strings",
    resource_group: "string",
  },
  VolumeDefinitionCreate: {
    volume_definition: { obj: VD_SHAPE },
    drbd_minor_number: "int",
    passphrase: "string",
  },
  VolumeDefinitionModify: {
    size_kib: "int",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    flags: "strings",
  },
  ResourceCreate: {
    resource: { obj: RSC_SHAPE },
    layer_list: "strings",
    drbd_node_id: "int",
    drbd_tcp_port_count: "int",
    drbd_tcp_ports: "ints",
    snap_names: "strings",
    copy_all_snaps: "bool",
    drbd_client: "bool",
  },
  ResourceMakeAvailable: {
    layer_list: "strings",
    diskful: "bool",
    drbd_tcp_ports: "ints",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  ResourceModify: {
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    drbd_tiebreaker: "bool",
    drbd_client: "bool",
  },
  AutoPlaceRequest: {
    diskless_on_remaining: "bool",
    select_filter: { obj: FILTER },
    layer_list: "strings",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  Snapshot: SNAP_SHAPE,
  CreateMultiSnapshotRequest: { snapshots: { arr: SNAP_SHAPE } },
  SnapshotRestore: { to_resource: "string", nodes: "strings", stor_pool_rename: "props" },
  SnapshotRollback: { zfs_rollback_strategy: "string" },
  ResourceDefinitionCloneRequest: {
    name: "string",
    external_name: "string",
    use_zfs_clone: "bool",
    layer_list: "strings",
    volume_passphrases: "strings",
    resource_group: "string",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
  },
};

function checkShape(v: unknown, shape: Shape, path: string): string | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return `${path}: expected an object`;
  const lenient = Object.keys(shape).length === 0;
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    const t = shape[key];
    const p = `${path}.${key}`;
    if (!t) {
      if (lenient) continue;
      return `Unrecognized field "${key}" (${path})`;
    }
    if (val === null) continue;
    const err = checkType(val, t, p);
    if (err) return err;
  }
  return null;
}

function checkType(val: unknown, t: FieldType, p: string): string | null {
  if (t === "string") return typeof val === "string" ? null : `${p}: expected a string`;
  if (t === "int") return Number.isInteger(val) ? null : `${p}: expected an integer`;
  if (t === "number") return typeof val === "number" ? null : `${p}: expected a number`;
  if (t === "bool") return typeof val === "boolean" ? null : `${p}: expected a boolean`;
  if (t === "strings") {
    return Array.isArray(val) && val.every((x) => typeof x === "string")
      ? null
      : `${p}: expected an array of strings`;
  }
  if (t === "ints") {
    return Array.isArray(val) && val.every((x) => Number.isInteger(x))
      ? null
      : `${p}: expected an array of integers`;
  }
  if (t === "props" || t === "intmap") {
    if (typeof val !== "object" || Array.isArray(val)) return `${p}: expected an object`;
    for (const x of Object.values(val as Record<string, unknown>)) {
      if (t === "props" && typeof x !== "string") return `${p}: values must be strings`;
      if (t === "intmap" && !Number.isInteger(x)) return `${p}: values must be integers`;
    }
    return null;
  }
  if ("obj" in t) return checkShape(val, t.obj, p);
  if (!Array.isArray(val)) return `${p}: expected an array`;
  for (let i = 0; i < val.length; i++) {
    const e = checkShape(val[i], t.arr, `${p}[${i}]`);
    if (e) return e;
  }
  return null;
}

/** Validate a request body against a shape; returns a 400 reply or null. */
export function checkBody(body: unknown, shapeName: string): SimReply | null {
  const err = checkShape(body ?? {}, SHAPES[shapeName], shapeName);
  return err ? parseErrorReply(err) : null;
}

// ---------------------------------------------------------------------------------------------
// The controller

/** The controller state machine. All methods are synchronous except data copies. */
export class SimController {
  state: SimState;
  readonly opts: ControllerOptions;

  constructor(opts: ControllerOptions, loaded?: SimState) {
    this.opts = opts;
    this.state = loaded ?? this.#seed();
  }

  #seed(): SimState {
    const st: SimState = {
      version: 1,
      nodes: [],
      pools: [],
      rgs: [],
      rds: [],
      clones: [],
      inUse: {},
      nextPort: 7000,
      nextMinor: 1000,
      seq: 0,
    };
    this.state = st;
    this.#addRg("DfltRscGrp", {});
    let i = 1;
    for (const n of this.opts.nodes) {
      st.nodes.push({
        name: n,
        type: "Satellite",
        address: `10.0.0.${i++}`,
        props: {},
        uuid: uuid(),
      });
      st.pools.push({
        node: n,
        name: DISKLESS_POOL,
        kind: "DISKLESS",
        totalKib: 0,
        props: {},
        uuid: uuid(),
      });
      for (const p of this.opts.pools) {
        const kind: PoolKind = p.kind ?? (p.thin === false ? "LVM" : "LVM_THIN");
        st.pools.push({
          node: n,
          name: p.name,
          kind,
          totalKib: Math.round(p.sizeGiB * 1024 * 1024),
          props: kind.startsWith("LVM")
            ? {
              "StorDriver/LvmVg": "linstorpool",
              ...(kind === "LVM_THIN" ? { "StorDriver/ThinPool": `thin_${p.name}` } : {}),
            }
            : {},
          uuid: uuid(),
        });
      }
    }
    for (const g of this.opts.resourceGroups ?? []) {
      const filter: Record<string, unknown> = {};
      if (g.placeCount !== undefined) filter.place_count = g.placeCount;
      if (g.storagePools?.length) filter.storage_pool_list = g.storagePools;
      const rg = this.#addRg(g.name, filter);
      rg.vgs.push({ nr: 0, props: {}, flags: [], uuid: uuid() });
    }
    return st;
  }

  #addRg(name: string, filter: Record<string, unknown>): SimRg {
    const rg: SimRg = { name, props: {}, filter, vgs: [], uuid: uuid() };
    this.state.rgs.push(rg);
    return rg;
  }

  // ----- lookups ------------------------------------------------------------------------------

  node(name: string): SimNode | undefined {
    return this.state.nodes.find((n) => k(n.name) === k(name));
  }
  rg(name: string): SimRg | undefined {
    return this.state.rgs.find((g) => k(g.name) === k(name));
  }
  rd(name: string): SimRd | undefined {
    return this.state.rds.find((r) => k(r.name) === k(name));
  }
  /** Per-listing cache of volume file allocations (set while a listing is built). */
  #allocMemo: Map<string, number> | undefined;

  pool(node: string, name: string): SimPool | undefined {
    return this.state.pools.find((p) => k(p.node) === k(node) && k(p.name) === k(name));
  }
  rsc(rd: SimRd, node: string): SimRsc | undefined {
    return rd.rscs.find((r) => k(r.node) === k(node));
  }
  snap(rd: SimRd, name: string): SimSnap | undefined {
    return rd.snaps.find((s) => k(s.name) === k(name));
  }

  #needRd(name: string): SimRd {
    const rd = this.rd(name);
    if (!rd) fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`);
    return rd;
  }
  #needNode(name: string): SimNode {
    const n = this.node(name);
    if (!n) fail(CODE.FAIL_NOT_FOUND_NODE, `Node '${name}' not found.`);
    return n;
  }
  #needRg(name: string): SimRg {
    const g = this.rg(name);
    if (!g) fail(CODE.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${name}' not found.`);
    return g;
  }
  #needSnap(rd: SimRd, name: string): SimSnap {
    const s = this.snap(rd, name);
    if (!s) {
      fail(
        CODE.FAIL_NOT_FOUND_SNAPSHOT_DFN,
        `Snapshot definition '${name}' of resource '${rd.name}' not found.`,
      );
    }
    return s;
  }

  isInUse(rd: SimRd, node: string): boolean {
    return this.state.inUse[`${k(rd.name)}/${k(node)}`] === true;
  }

  /** Mark a device open/closed (the /_sim/in-use control). */
  setInUse(res: string, node: string, inUse: boolean): boolean {
    const rd = this.rd(res);
    if (!rd || !this.rsc(rd, node)) return false;
    const key = `${k(rd.name)}/${k(node)}`;
    if (inUse) this.state.inUse[key] = true;
    else delete this.state.inUse[key];
    return true;
  }

  /** Whether the satellite `name` is connected (unknown nodes count as offline). */
  isOnline(name: string): boolean {
    const n = this.node(name);
    return !!n && !n.offline;
  }

  /** Disconnect / reconnect a satellite (the /_sim/node control); false for an unknown node. */
  setNodeOnline(name: string, online: boolean): boolean {
    const n = this.node(name);
    if (!n) return false;
    if (online) delete n.offline;
    else n.offline = true;
    return true;
  }

  /** LINSTOR's FAIL_NOT_CONNECTED for an operation that needs every satellite of `rd`. */
  #needConnected(rscs: SimRsc[], message: (node: string) => string, details?: string): void {
    const off = rscs.find((r) => !this.isOnline(r.node));
    if (off) {
      fail(CODE.FAIL_NOT_CONNECTED, message(off.node), details ? { details } : {});
    }
  }

  // ----- files ------------------------------------------------------------------------------

  volumeFile(rd: string, nr: number): string {
    return join(this.opts.stateDir, "volumes", k(rd), `${nr}.img`);
  }
  snapFile(rd: string, snap: string, nr: number): string {
    return join(this.opts.stateDir, "snapshots", k(rd), k(snap), `${nr}.img`);
  }
  devicePath(node: string, rd: string, nr: number): string | undefined {
    if (!this.opts.hostsRoot) return undefined;
    return join(this.opts.hostsRoot, node, "dev", "drbd", "by-res", rd, String(nr));
  }

  /** Make files and device links match the state for one RD name. */
  reconcile(name: string): void {
    const rd = this.rd(name);
    const volDir = join(this.opts.stateDir, "volumes", k(name));
    const snapDir = join(this.opts.stateDir, "snapshots", k(name));
    if (!rd) {
      rmrf(volDir);
      rmrf(snapDir);
    } else {
      Deno.mkdirSync(volDir, { recursive: true });
      const want = new Set(rd.vds.map((v) => `${v.nr}.img`));
      for (const e of readDir(volDir)) if (!want.has(e)) rmrf(join(volDir, e));
      for (const vd of rd.vds) {
        const f = this.volumeFile(rd.name, vd.nr);
        const fh = Deno.openSync(f, { create: true, write: true });
        try {
          const size = fh.statSync().size;
          if (size !== vd.sizeKib * 1024) fh.truncateSync(vd.sizeKib * 1024);
        } finally {
          fh.close();
        }
      }
      const snaps = new Set(rd.snaps.map((s) => k(s.name)));
      for (const e of readDir(snapDir)) if (!snaps.has(e)) rmrf(join(snapDir, e));
    }
    if (!this.opts.hostsRoot) return;
    for (const n of this.state.nodes) {
      // A host whose directory is gone is down (FT tests): its /dev is not touched (and so
      // not brought back to life by a mkdir).
      if (!isDir(join(this.opts.hostsRoot, n.name))) continue;
      const base = join(this.opts.hostsRoot, n.name, "dev", "drbd", "by-res");
      // LINSTOR names are case-insensitive: remove links under any spelling first.
      for (const e of readDir(base)) {
        if (k(e) !== k(name)) continue;
        const r = rd && this.rsc(rd, n.name);
        if (!r || e !== rd!.name) rmrf(join(base, e));
      }
      const r = rd && this.rsc(rd, n.name);
      if (!rd || !r) continue;
      const dir = join(base, rd.name);
      Deno.mkdirSync(dir, { recursive: true });
      const want = new Set(rd.vds.map((v) => String(v.nr)));
      for (const e of readDir(dir)) if (!want.has(e)) rmrf(join(dir, e));
      for (const vd of rd.vds) {
        const link = join(dir, String(vd.nr));
        const target = this.volumeFile(rd.name, vd.nr);
        let cur: string | null = null;
        try {
          cur = Deno.readLinkSync(link);
        } catch { /* missing */ }
        if (cur !== target) {
          rmrf(link);
          Deno.symlinkSync(target, link);
        }
      }
    }
  }

  /** Allocated KiB of one replica of a volume in its pool. */
  allocatedKib(rd: SimRd, rsc: SimRsc, vd: SimVd): number {
    if (rsc.diskless) return 0;
    const pool = this.pool(rsc.node, rsc.pool);
    const md = drbdMetaKib(vd.sizeKib);
    if (pool && THIN_KINDS.has(pool.kind)) {
      const f = this.volumeFile(rd.name, vd.nr);
      const memo = this.#allocMemo;
      let kib = memo?.get(f);
      if (kib === undefined) {
        kib = fileAllocKib(f);
        memo?.set(f, kib);
      }
      return kib + md;
    }
    return align(vd.sizeKib + md, 4096);
  }

  /** Used KiB of a pool: replicas plus (thin) snapshot copies. */
  poolUsedKib(pool: SimPool): number {
    if (pool.kind === "DISKLESS") return 0;
    let used = 0;
    for (const rd of this.state.rds) {
      const r = this.rsc(rd, pool.node);
      if (r && !r.diskless && k(r.pool) === k(pool.name)) {
        for (const vd of rd.vds) used += this.allocatedKib(rd, r, vd);
      }
      for (const s of rd.snaps) {
        const sp = Object.entries(s.pools).find(([n]) => k(n) === k(pool.node))?.[1];
        if (!sp || k(sp) !== k(pool.name)) continue;
        for (const v of s.vds) {
          used += THIN_KINDS.has(pool.kind)
            ? fileAllocKib(this.snapFile(rd.name, s.name, v.nr))
            : v.sizeKib;
        }
      }
    }
    return used;
  }

  poolFreeKib(pool: SimPool): number {
    return Math.max(0, pool.totalKib - this.poolUsedKib(pool));
  }

  // ----- placement ----------------------------------------------------------------------------

  #mergedFilter(rg: SimRg, over?: Record<string, unknown>): Record<string, unknown> {
    const f: Record<string, unknown> = { ...rg.filter };
    for (const [key, v] of Object.entries(over ?? {})) {
      if (v !== undefined && v !== null) f[key] = v;
    }
    if (typeof f.storage_pool === "string" && !f.storage_pool_list) {
      f.storage_pool_list = [f.storage_pool];
    }
    return f;
  }

  #rdSizeKib(rd: SimRd): number {
    return rd.vds.reduce((a, v) => a + v.sizeKib, 0);
  }

  /** Candidate (node, pool) pairs for `count` new diskful replicas, best first. */
  #select(
    rd: SimRd | null,
    filter: Record<string, unknown>,
    count: number,
    sizeKib: number,
  ): SimPool[] {
    const pools = splitNames(filter.storage_pool_list);
    const providers = splitNames(filter.provider_list).map(k);
    const onlyNodes = splitNames(filter.node_name_list).map(k);
    const notWith = splitNames(filter.not_place_with_rsc).map(k);
    const notWithRe = typeof filter.not_place_with_rsc_regex === "string" &&
        filter.not_place_with_rsc_regex !== ""
      ? new RegExp(filter.not_place_with_rsc_regex, "i")
      : null;
    const same = splitNames(filter.replicas_on_same);
    const different = splitNames(filter.replicas_on_different);
    const existing = rd ? rd.rscs.filter((r) => !r.diskless) : [];
    const cands: { pool: SimPool; free: number; node: SimNode }[] = [];
    for (const n of this.state.nodes) {
      // the autoplacer only considers connected satellites
      if (n.offline) continue;
      if (onlyNodes.length && !onlyNodes.includes(k(n.name))) continue;
      if (rd && existing.some((r) => k(r.node) === k(n.name))) continue;
      if (
        this.state.rds.some((o) =>
          (notWith.includes(k(o.name)) || (notWithRe && notWithRe.test(o.name))) &&
          (!rd || k(o.name) !== k(rd.name)) &&
          o.rscs.some((r) => k(r.node) === k(n.name) && !r.diskless)
        )
      ) continue;
      let best: { pool: SimPool; free: number } | null = null;
      for (const p of this.state.pools) {
        if (k(p.node) !== k(n.name) || p.kind === "DISKLESS") continue;
        if (pools.length && !pools.some((x) => k(x) === k(p.name))) continue;
        if (providers.length && !providers.includes(p.kind)) continue;
        const free = this.poolFreeKib(p);
        const need = THIN_KINDS.has(p.kind) ? 0 : align(sizeKib + drbdMetaKib(sizeKib), 4096);
        if (THIN_KINDS.has(p.kind) ? free <= 0 : free < need) continue;
        if (!best || free > best.free) best = { pool: p, free };
      }
      if (best) cands.push({ ...best, node: n });
    }
    cands.sort((a, b) => b.free - a.free || a.node.name.localeCompare(b.node.name));
    const propOf = (n: SimNode, key: string) => n.props[key] ?? n.props[`Aux/${key}`] ?? "";
    let chosen: typeof cands = [];
    if (same.length) {
      const groups = new Map<string, typeof cands>();
      const fixed = existing.map((r) => this.node(r.node)!).filter(Boolean);
      for (const c of cands) {
        const key = same.map((s) => propOf(c.node, s)).join("\u0000");
        if (
          fixed.length && fixed.some((f) => same.map((s) => propOf(f, s)).join("\u0000") !== key)
        ) {
          continue;
        }
        groups.set(key, [...(groups.get(key) ?? []), c]);
      }
      for (const g of groups.values()) {
        if (g.length >= count) {
          chosen = g.slice(0, count);
          break;
        }
      }
    } else if (different.length) {
      const seen = new Set<string>(
        existing.map((r) => different.map((d) => propOf(this.node(r.node)!, d)).join("\u0000")),
      );
      for (const c of cands) {
        const key = different.map((d) => propOf(c.node, d)).join("\u0000");
        if (seen.has(key)) continue;
        seen.add(key);
        chosen.push(c);
        if (chosen.length === count) break;
      }
    } else {
      chosen = cands.slice(0, count);
    }
    if (chosen.length < count) {
      fail(CODE.FAIL_NOT_ENOUGH_NODES, "Not enough available nodes", {
        details: "Not enough nodes fulfilling the following auto-place criteria:\n" +
          (pools.length
            ? ` * has a deployed storage pool named [${pools.join(", ")}]\n` +
              ` * the storage pools have to have at least '${sizeKib}' free space\n`
            : "") +
          " * the current access context has enough privileges to use the node and the storage pool\n" +
          " * the node is online",
      });
    }
    return chosen.map((c) => c.pool);
  }

  #newRsc(rd: SimRd, node: string, pool: string, diskless: boolean, client: boolean): SimRsc {
    const used = new Set(rd.rscs.map((r) => r.nodeId));
    let id = 0;
    while (used.has(id)) id++;
    const r: SimRsc = {
      node: this.node(node)?.name ?? node,
      pool,
      diskless,
      tieBreaker: false,
      client,
      props: { StorPoolName: pool },
      nodeId: id,
      created: Date.now(),
      uuid: uuid(),
    };
    rd.rscs.push(r);
    return r;
  }

  #placeDiskful(rd: SimRd, pools: SimPool[]): string[] {
    const out: string[] = [];
    for (const p of pools) {
      const existing = this.rsc(rd, p.node);
      if (existing) {
        existing.diskless = false;
        existing.tieBreaker = false;
        existing.client = false;
        existing.pool = p.name;
        existing.props.StorPoolName = p.name;
      } else {
        this.#newRsc(rd, p.node, p.name, false, false);
      }
      out.push(`${p.node} (${p.name})`);
    }
    return out;
  }

  /** Create or remove the auto tie-breaker like CtrlRscAutoTieBreakerHelper. */
  manageTieBreaker(rd: SimRd, out: SimRc[], deleting?: SimRsc): boolean {
    if (rd.props["DrbdOptions/auto-add-quorum-tiebreaker"] === "false") return false;
    const live = rd.rscs.filter((r) => r !== deleting);
    const diskful = live.filter((r) => !r.diskless).length;
    const voting = live.filter((r) => r.diskless && !r.tieBreaker && !r.client).length;
    const tb = live.find((r) => r.tieBreaker);
    const should = diskful >= 2 && diskful % 2 === 0 && voting === 0;
    if (should && !tb) {
      if (deleting && deleting.diskless && !deleting.tieBreaker) {
        deleting.tieBreaker = true;
        deleting.client = false;
        out.push(
          rc(
            MASK_INFO,
            CODE.INFO_TIE_BREAKER_TAKEOVER,
            "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
          ),
        );
        return true;
      }
      const node = this.state.nodes
        .filter((n) => !n.offline && !rd.rscs.some((r) => k(r.node) === k(n.name)))
        .find((n) => this.pool(n.name, DISKLESS_POOL));
      if (!node) {
        out.push(
          rc(
            MASK_WARN,
            CODE.WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER,
            `Could not find suitable node to automatically create a tie breaking resource for '${rd.name}'.`,
          ),
        );
      } else {
        const r = this.#newRsc(rd, node.name, DISKLESS_POOL, true, false);
        r.tieBreaker = true;
        out.push(
          rc(
            MASK_INFO,
            CODE.INFO_TIE_BREAKER_CREATED,
            `Tie breaker resource '${rd.name}' created on ${node.name}`,
          ),
        );
      }
    } else if (!should && tb) {
      rd.rscs = rd.rscs.filter((r) => r !== tb);
      this.#forgetInUse(rd, tb.node);
      out.push(rc(MASK_INFO, CODE.INFO_TIE_BREAKER_DELETING, "Tie breaker marked for deletion"));
    }
    return false;
  }

  #forgetInUse(rd: SimRd, node: string): void {
    delete this.state.inUse[`${k(rd.name)}/${k(node)}`];
  }

  // ----- transactions -------------------------------------------------------------------------

  /** Run a mutation; on error restore the state and the files of the touched RDs. */
  tx<T>(names: string[], fn: () => T): T {
    const before = structuredClone(this.state);
    try {
      const r = fn();
      for (const n of names) this.reconcile(n);
      return r;
    } catch (e) {
      this.state = before;
      for (const n of names) {
        try {
          this.reconcile(n);
        } catch { /* best effort */ }
      }
      throw e;
    }
  }

  // ----- controller -------------------------------------------------------------------------

  version(): SimReply {
    return {
      status: 200,
      body: {
        version: "1.34.0",
        git_hash: "0000000000000000000000000000000000000000",
        build_time: "2026-06-02T00:00:00+00:00",
        rest_api_version: "1.28.0",
      },
    };
  }

  // ----- nodes and pools --------------------------------------------------------------------

  nodeView(n: SimNode): Record<string, unknown> {
    return {
      name: n.name,
      type: n.type,
      flags: [],
      props: { CurStltConnName: "default", NodeUname: n.name, ...n.props },
      net_interfaces: [{
        name: "default",
        address: n.address,
        satellite_port: 3366,
        satellite_encryption_type: "PLAIN",
        is_active: true,
        uuid: n.uuid,
      }],
      connection_status: n.offline ? "OFFLINE" : "ONLINE",
      uuid: n.uuid,
      storage_providers: ["DISKLESS", "LVM", "LVM_THIN", "ZFS", "ZFS_THIN", "FILE", "FILE_THIN"],
      resource_layers: ["DRBD", "LUKS", "STORAGE"],
      unsupported_providers: {},
      unsupported_layers: {},
    };
  }

  listNodes(q: URLSearchParams): SimReply {
    const names = q.getAll("nodes").map(k);
    const props = q.getAll("props");
    const list = this.state.nodes
      .filter((n) => !names.length || names.includes(k(n.name)))
      .filter((n) => propsMatch(n.props, props))
      .map((n) => this.nodeView(n));
    return { status: 200, body: page(list, q) };
  }

  createNode(body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.NODE };
    const name = String(body.name ?? "");
    if (!NODE_RE.test(name)) fail(CODE.FAIL_INVLD_NODE_NAME, `Invalid node name '${name}'.`);
    if (this.node(name)) {
      fail(CODE.FAIL_EXISTS_NODE, `Node '${name}' already exists.`);
    }
    const t = String(body.type ?? "Satellite").toLowerCase();
    const type = { controller: "Controller", satellite: "Satellite", combined: "Combined" }[t];
    if (!type) fail(201, `Invalid node type '${body.type}'.`);
    const nis = (body.net_interfaces as { address?: string }[] | undefined) ?? [];
    const n: SimNode = {
      name,
      type,
      address: nis[0]?.address ?? "127.0.0.1",
      props: { ...(body.props as Record<string, string> ?? {}) },
      uuid: uuid(),
    };
    this.state.nodes.push(n);
    if (this.opts.hostsRoot) Deno.mkdirSync(join(this.opts.hostsRoot, name), { recursive: true });
    this.state.pools.push({
      node: name,
      name: DISKLESS_POOL,
      kind: "DISKLESS",
      totalKib: 0,
      props: {},
      uuid: uuid(),
    });
    return rcReply(
      [rc(0n, CODE.CREATED, `New node '${name}' registered.`, {
        details: `Node '${name}' UUID is: ${n.uuid}`,
      })],
      ctx,
      201,
    );
  }

  poolView(p: SimPool): Record<string, unknown> {
    const thin = THIN_KINDS.has(p.kind);
    const v: Record<string, unknown> = {
      storage_pool_name: p.name,
      node_name: p.node,
      provider_kind: p.kind,
      props: { ...p.props },
      static_traits: p.kind === "DISKLESS" ? { SupportsSnapshots: "false" } : {
        Provisioning: thin ? "Thin" : "Fat",
        SupportsSnapshots: String(SNAP_KINDS.has(p.kind)),
      },
      free_space_mgr_name: `${p.node};${p.name}`,
      uuid: p.uuid,
      reports: [],
      supports_snapshots: SNAP_KINDS.has(p.kind),
      external_locking: false,
    };
    if (!this.isOnline(p.node)) {
      // no satellite, no free-space report: capacities unknown, a WARN_NOT_CONNECTED report
      v.reports = [{
        ret_code: BigInt.asIntN(64, MASK_WARN | BigInt(WARN_NOT_CONNECTED)),
        message: `No active connection to satellite '${p.node}'`,
        created_at: new Date().toISOString(),
      }];
    } else if (p.kind !== "DISKLESS") {
      v.free_capacity = this.poolFreeKib(p);
      v.total_capacity = p.totalKib;
    }
    return v;
  }

  listPools(q: URLSearchParams, node?: string): SimReply {
    if (node) this.#needNode(node);
    const nodes = node ? [k(node)] : q.getAll("nodes").map(k);
    const pools = q.getAll("storage_pools").map(k);
    const props = q.getAll("props");
    const list = this.state.pools
      .filter((p) => !nodes.length || nodes.includes(k(p.node)))
      .filter((p) => !pools.length || pools.includes(k(p.name)))
      .filter((p) => propsMatch(p.props, props))
      .sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name))
      .map((p) => this.poolView(p));
    return { status: 200, body: page(list, q) };
  }

  createPool(nodeName: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.STOR_POOL };
    const node = this.#needNode(nodeName);
    const name = String(body.storage_pool_name ?? "");
    if (!NAME_RE.test(name)) {
      fail(CODE.FAIL_INVLD_STOR_POOL_NAME, `Invalid storage pool name '${name}'.`);
    }
    if (this.pool(node.name, name)) {
      fail(
        CODE.FAIL_EXISTS_STOR_POOL,
        `Storage pool '${name}' on node '${node.name}' already exists.`,
      );
    }
    const kind = String(body.provider_kind ?? "") as PoolKind;
    if (!["LVM", "LVM_THIN", "ZFS", "ZFS_THIN", "FILE", "FILE_THIN", "DISKLESS"].includes(kind)) {
      fail(221, `Invalid storage driver '${kind}'.`);
    }
    const p: SimPool = {
      node: node.name,
      name,
      kind,
      totalKib: kind === "DISKLESS" ? 0 : 100 * 1024 * 1024,
      props: { ...(body.props as Record<string, string> ?? {}) },
      uuid: uuid(),
    };
    this.state.pools.push(p);
    return rcReply(
      [rc(0n, CODE.CREATED, `Successfully created storage pool '${name}' on node '${node.name}'.`)],
      ctx,
      201,
    );
  }

  // ----- resource groups ----------------------------------------------------------------------

  rgView(g: SimRg): Record<string, unknown> {
    const v: Record<string, unknown> = {
      name: g.name,
      props: { ...g.props },
      select_filter: { ...g.filter },
      uuid: g.uuid,
    };
    if (g.peerSlots !== undefined) v.peer_slots = g.peerSlots;
    return v;
  }

  listRgs(q: URLSearchParams): SimReply {
    const names = q.getAll("resource_groups").map(k);
    const props = q.getAll("props");
    const list = this.state.rgs
      .filter((g) => !names.length || names.includes(k(g.name)))
      .filter((g) => propsMatch(g.props, props))
      .map((g) => this.rgView(g));
    return { status: 200, body: page(list, q) };
  }

  createRg(body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_GRP };
    const name = String(body.name ?? "");
    if (!NAME_RE.test(name)) {
      fail(CODE.FAIL_INVLD_RSC_GRP_NAME, `Invalid resource group name '${name}'.`);
    }
    if (this.rg(name)) fail(CODE.FAIL_EXISTS_RSC_GRP, `Resource group '${name}' already exists.`);
    const g = this.#addRg(name, cleanFilter(body.select_filter));
    g.props = { ...(body.props as Record<string, string> ?? {}) };
    if (typeof body.peer_slots === "number") g.peerSlots = body.peer_slots;
    return rcReply(
      [rc(0n, CODE.CREATED, `New resource group '${name}' created.`, {
        details: `Resource group '${name}' UUID is: ${g.uuid}`,
      })],
      ctx,
      201,
    );
  }

  modifyRg(name: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC_GRP };
    const g = this.#needRg(name);
    applyProps(g.props, body);
    if (body.select_filter) g.filter = { ...g.filter, ...cleanFilter(body.select_filter) };
    if (typeof body.peer_slots === "number") g.peerSlots = body.peer_slots;
    return rcReply([rc(0n, CODE.MODIFIED, `Resource group '${g.name}' modified.`)], ctx, 200);
  }

  deleteRg(name: string): SimReply {
    const ctx: RcContext = { op: MASK_DEL, obj: OBJ.RSC_GRP };
    const g = this.rg(name);
    if (!g) {
      return rcReply(
        [rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Resource group '${name}' not found.`)],
        ctx,
        200,
      );
    }
    if (k(g.name) === "DFLTRSCGRP") {
      fail(CODE.FAIL_INVLD_RSC_GRP_NAME, "Cannot delete default resource group");
    }
    if (this.state.rds.some((r) => k(r.rg) === k(g.name))) {
      fail(
        CODE.FAIL_EXISTS_RSC_DFN,
        `Cannot delete resource group '${g.name}' because it has existing resource definitions.`,
      );
    }
    this.state.rgs = this.state.rgs.filter((x) => x !== g);
    return rcReply([rc(0n, CODE.DELETED, `Resource group '${g.name}' deleted.`)], ctx, 200);
  }

  listVgs(rgName: string): SimReply {
    const g = this.#needRg(rgName);
    return {
      status: 200,
      body: g.vgs.map((v) => ({
        volume_number: v.nr,
        props: { ...v.props },
        uuid: v.uuid,
        flags: [...v.flags],
      })),
    };
  }

  createVg(rgName: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.VLM_GRP };
    const g = this.#needRg(rgName);
    const nr = typeof body.volume_number === "number"
      ? body.volume_number
      : (g.vgs.length ? Math.max(...g.vgs.map((v) => v.nr)) + 1 : 0);
    if (g.vgs.some((v) => v.nr === nr)) {
      fail(
        CODE.FAIL_EXISTS_VLM_GRP,
        `Volume group ${nr} of resource group '${g.name}' already exists.`,
      );
    }
    g.vgs.push({
      nr,
      props: { ...(body.props as Record<string, string> ?? {}) },
      flags: asStrings(body.flags) ?? [],
      uuid: uuid(),
    });
    return rcReply(
      [rc(
        0n,
        CODE.CREATED,
        `New volume group with number '${nr}' of resource group '${g.name}' created.`,
      )],
      ctx,
      201,
    );
  }

  /** POST /v1/resource-groups/{rg}/spawn (one transaction: RD + VDs + autoplace). */
  spawn(rgName: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_DFN };
    const name = String(body.resource_definition_name ?? "");
    ctx.refs = { RscDfn: name };
    return this.tx([name], () => {
      const g = this.#needRg(rgName);
      const sizes = (body.volume_sizes as number[] | undefined) ?? [];
      const out: SimRc[] = [];
      const partial = body.partial === true || g.vgs.length === 0;
      if (g.vgs.length === 0 && body.partial !== true) {
        out.push(
          rc(
            MASK_INFO | OBJ.RSC_GRP,
            0,
            "Resource-group doesn't have any volume-groups, automatically assume partial mode.",
          ),
        );
      }
      if (!partial && sizes.length !== g.vgs.length) {
        fail(
          CODE.FAIL_INVLD_VLM_SIZES,
          `Invalid count of volume sizes to spawn resource group '${g.name}'`,
          {
            details:
              `The resource group '${g.name}' has ${g.vgs.length} Volume groups, but only ${sizes.length} sizes were provided.`,
            correction:
              "Either provide the correct count of volume sizes or use the 'partial' option",
          },
        );
      }
      const rd = this.#createRd(
        name,
        g.name,
        (body.resource_definition_props as Record<string, string>) ?? {},
        out,
      );
      if (typeof body.resource_definition_external_name === "string") {
        rd.extName = body.resource_definition_external_name;
      }
      sizes.forEach((s, i) => {
        const vg = g.vgs[i];
        this.#createVd(rd, vg ? vg.nr : i, s, vg ? [...vg.flags] : [], {}, out);
      });
      const filter = this.#mergedFilter(g, cleanFilter(body.select_filter));
      if (typeof filter.place_count === "number" && body.definitions_only !== true) {
        this.#autoplace(rd, filter, out);
      } else {
        const reason = typeof filter.place_count !== "number"
          ? "No autoplace configuration in the given resource group (at least place-count required)"
          : "--definitions-only was set";
        out.push(
          rc(
            MASK_INFO,
            CODE.INFO_NO_RSC_SPAWNED,
            `Resource definition ${rd.name} and ${sizes.length} created but no resources deployed`,
            { details: reason },
          ),
        );
      }
      return rcReply(out, ctx, 201);
    });
  }

  /** POST /v1/resource-groups/{rg}/query-size-info. */
  querySizeInfo(rgName: string, body: Record<string, unknown>): SimReply {
    const g = this.#needRg(rgName);
    const filter = this.#mergedFilter(g, cleanFilter(body.select_filter));
    const placeCount = typeof filter.place_count === "number" ? filter.place_count : 2;
    const pools = splitNames(filter.storage_pool_list);
    const providers = splitNames(filter.provider_list).map(k);
    const avail = this.state.pools.filter((p) =>
      p.kind !== "DISKLESS" && this.isOnline(p.node) && (!pools.length || pools.some((x) =>
        k(x) === k(p.name)
      )) &&
      (!providers.length || providers.includes(p.kind))
    );
    let selected: SimPool[] = [];
    try {
      selected = this.#select(null, filter, placeCount, 0);
    } catch { /* not placeable */ }
    const maxVlm = selected.length ? Math.min(...selected.map((p) => this.poolFreeKib(p))) : 0;
    const available = selected.length
      ? simulateSpace(avail.map((p) => this.poolFreeKib(p)), placeCount)
      : 0;
    const capacity = simulateSpace(avail.map((p) => p.totalKib), placeCount);
    return {
      status: 200,
      body: {
        space_info: {
          max_vlm_size_in_kib: maxVlm,
          available_size_in_kib: available,
          capacity_in_kib: capacity,
          default_max_oversubscription_ratio: 20,
          max_oversubscription_ratio: 20,
          max_free_capacity_oversubscription_ratio: 20,
          max_total_capacity_oversubscription_ratio: 20,
          next_spawn_result: selected.map((p) => ({
            node_name: p.node,
            stor_pool_name: p.name,
            stor_pool_oversubscription_ratio: 20,
            stor_pool_free_capacity_oversubscription_ratio: 20,
            stor_pool_total_capacity_oversubscription_ratio: 20,
          })),
        },
        reports: [],
      },
    };
  }

  // ----- resource definitions -----------------------------------------------------------------

  #createRd(name: string, rgName: string, props: Record<string, string>, out: SimRc[]): SimRd {
    if (!NAME_RE.test(name)) fail(CODE.FAIL_INVLD_RSC_NAME, `Invalid resource name '${name}'.`);
    if (this.rd(name)) {
      fail(
        CODE.FAIL_EXISTS_RSC_DFN,
        `A resource definition with the name '${name}' already exists.`,
        {
          cause: "The resource definition already exists.",
        },
      );
    }
    const g = this.#needRg(rgName);
    const rd: SimRd = {
      name,
      rg: g.name,
      props: { ...props },
      flags: [],
      port: this.state.nextPort++,
      vds: [],
      rscs: [],
      snaps: [],
      created: Date.now(),
      uuid: uuid(),
    };
    this.state.rds.push(rd);
    out.push(
      rc(0n | OBJ.RSC_DFN | MASK_CRT, CODE.CREATED, `New resource definition '${name}' created.`, {
        details: `Resource definition '${name}' UUID is: ${rd.uuid}`,
      }),
    );
    return rd;
  }

  #createVd(
    rd: SimRd,
    nr: number,
    sizeKib: number,
    flags: string[],
    props: Record<string, string>,
    out: SimRc[],
  ): SimVd {
    if (!Number.isInteger(sizeKib) || sizeKib <= 0) {
      fail(CODE.FAIL_INVLD_VLM_SIZE, `Invalid volume size ${sizeKib} KiB.`);
    }
    if (rd.vds.some((v) => v.nr === nr)) {
      fail(
        CODE.FAIL_EXISTS_VLM_DFN,
        `A volume definition with the number ${nr} already exists in resource definition '${rd.name}'.`,
      );
    }
    const vd: SimVd = {
      nr,
      sizeKib,
      props: { ...props },
      flags,
      minor: this.state.nextMinor++,
      uuid: uuid(),
    };
    rd.vds.push(vd);
    rd.vds.sort((a, b) => a.nr - b.nr);
    out.push(
      rc(
        0n | OBJ.VLM_DFN | MASK_CRT,
        CODE.CREATED,
        `New volume definition with number '${nr}' of resource definition '${rd.name}' created.`,
      ),
    );
    return vd;
  }

  rdView(rd: SimRd, withVds: boolean): Record<string, unknown> {
    const v: Record<string, unknown> = {
      name: rd.name,
      props: { ...rd.props },
      flags: [...rd.flags],
      layer_data: [{
        type: "DRBD",
        data: {
          resource_name_suffix: "",
          peer_slots: PEER_SLOTS,
          al_stripes: 1,
          al_stripe_size_kib: 32,
          port: rd.port,
          transport_type: "IP",
          secret: "simulated",
          down: false,
        },
      }, { type: "STORAGE" }],
      uuid: rd.uuid,
      resource_group_name: rd.rg,
    };
    if (rd.extName !== undefined) v.external_name = rd.extName;
    if (withVds) v.volume_definitions = rd.vds.map((vd) => this.vdView(vd));
    return v;
  }

  vdView(vd: SimVd): Record<string, unknown> {
    return {
      volume_number: vd.nr,
      size_kib: vd.sizeKib,
      props: { ...vd.props },
      flags: [...vd.flags],
      layer_data: [{
        type: "DRBD",
        data: { resource_name_suffix: "", volume_number: vd.nr, minor_number: vd.minor },
      }, { type: "STORAGE" }],
      uuid: vd.uuid,
    };
  }

  listRds(q: URLSearchParams): SimReply {
    const names = q.getAll("resource_definitions").map(k);
    const props = q.getAll("props");
    const withVds = q.get("with_volume_definitions") === "true";
    const list = this.state.rds
      .filter((r) => !names.length || names.includes(k(r.name)))
      .filter((r) => propsMatch(r.props, props))
      .map((r) => this.rdView(r, withVds));
    return { status: 200, body: page(list, q) };
  }

  createRdApi(body: Record<string, unknown>): SimReply {
    const def = (body.resource_definition ?? {}) as Record<string, unknown>;
    const name = String(def.name ?? "");
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_DFN, refs: { RscDfn: name } };
    return this.tx([name], () => {
      const out: SimRc[] = [];
      const rd = this.#createRd(
        name,
        typeof def.resource_group_name === "string" && def.resource_group_name !== ""
          ? def.resource_group_name
          : "DfltRscGrp",
        (def.props as Record<string, string>) ?? {},
        out,
      );
      if (typeof def.external_name === "string") rd.extName = def.external_name;
      if (typeof body.drbd_port === "number") rd.port = body.drbd_port;
      return rcReply(out, ctx, 201);
    });
  }

  modifyRd(name: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC_DFN, refs: { RscDfn: name } };
    const rd = this.#needRd(name);
    const out: SimRc[] = [];
    if (typeof body.resource_group === "string" && body.resource_group !== "") {
      const g = this.#needRg(body.resource_group);
      rd.rg = g.name;
    }
    for (const d of (asStrings(body.delete_props) ?? [])) {
      if (!(d in rd.props)) {
        out.push(
          rc(
            MASK_WARN,
            CODE.WARN_DEL_UNSET_PROP,
            `Could not delete property '${d}' as it did not exist. This operation had no effect.`,
          ),
        );
      }
    }
    applyProps(rd.props, body);
    out.push(rc(0n, CODE.MODIFIED, `Resource definition '${rd.name}' modified.`, {
      details: `Resource definition '${rd.name}' UUID is: ${rd.uuid}`,
    }));
    return rcReply(out, ctx, 200);
  }

  deleteRd(name: string): SimReply {
    const ctx: RcContext = { op: MASK_DEL, obj: OBJ.RSC_DFN, refs: { RscDfn: name } };
    const rd = this.rd(name);
    if (!rd) {
      return rcReply(
        [rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Resource definition '${name}' not found.`)],
        ctx,
        200,
      );
    }
    if (rd.snaps.length) {
      fail(
        CODE.FAIL_EXISTS_SNAPSHOT_DFN,
        `Cannot delete resource definition '${rd.name}' because it has snapshots.`,
      );
    }
    const used = rd.rscs.find((r) => this.isInUse(rd, r.node));
    if (used) {
      fail(CODE.FAIL_IN_USE, `Resource '${rd.name}' on node '${used.node}' is still in use.`, {
        cause: "Resource is mounted/in use.",
        correction: `Un-mount resource '${rd.name}' on the node '${used.node}'.`,
      });
    }
    this.state.rds = this.state.rds.filter((r) => r !== rd);
    for (const key of Object.keys(this.state.inUse)) {
      if (key.startsWith(`${k(rd.name)}/`)) delete this.state.inUse[key];
    }
    this.state.clones = this.state.clones.filter((c) => k(c.dst) !== k(rd.name));
    this.reconcile(rd.name);
    return rcReply(
      [rc(0n, CODE.DELETED, `Resource definition '${rd.name}' deleted.`, {
        details: `Resource definition '${rd.name}' UUID was: ${rd.uuid}`,
      })],
      ctx,
      200,
    );
  }

  syncStatus(name: string): SimReply {
    const rd = this.#needRd(name);
    // a disconnected satellite reports no disk state: its replica is not known to be UpToDate
    const synced = rd.rscs.every((r) => r.diskless || this.isOnline(r.node));
    return { status: 200, body: { synced_on_all: synced } };
  }

  // ----- volume definitions -------------------------------------------------------------------

  listVds(name: string): SimReply {
    const rd = this.#needRd(name);
    return { status: 200, body: rd.vds.map((v) => this.vdView(v)) };
  }

  createVdApi(name: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.VLM_DFN, refs: { RscDfn: name } };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const def = (body.volume_definition ?? {}) as Record<string, unknown>;
      const nr = typeof def.volume_number === "number"
        ? def.volume_number
        : (rd.vds.length ? Math.max(...rd.vds.map((v) => v.nr)) + 1 : 0);
      const out: SimRc[] = [];
      this.#createVd(
        rd,
        nr,
        Number(def.size_kib),
        asStrings(def.flags) ?? [],
        (def.props as Record<string, string>) ?? {},
        out,
      );
      return rcReply(out, ctx, 201);
    });
  }

  modifyVd(name: string, nr: number, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = {
      op: MASK_MOD,
      obj: OBJ.VLM_DFN,
      refs: { RscDfn: name, VlmNr: String(nr) },
    };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const vd = rd.vds.find((v) => v.nr === nr);
      if (!vd) {
        fail(
          CODE.FAIL_NOT_FOUND_VLM_DFN,
          `Volume definition ${nr} of resource definition '${rd.name}' not found.`,
        );
      }
      const out: SimRc[] = [];
      if (typeof body.size_kib === "number") {
        if (body.size_kib < vd.sizeKib && rd.rscs.some((r) => !r.diskless)) {
          fail(CODE.FAIL_INVLD_VLM_SIZE, "Deployed volumes can only grow in size, not shrink.", {
            correction:
              "If you want to shrink the volume definition, you have to remove all volumes of this volume definition first.",
          });
        }
        if (body.size_kib <= 0) {
          fail(CODE.FAIL_INVLD_VLM_SIZE, `Invalid volume size ${body.size_kib} KiB.`);
        }
        if (body.size_kib !== vd.sizeKib) {
          // the resize has to reach every satellite holding the resource
          this.#needConnected(rd.rscs, (n) => `No connection to satellite '${n}'`);
        }
        if (body.size_kib === vd.sizeKib) {
          out.push(
            rc(
              MASK_WARN,
              CODE.WARN_VLMDFN_RESIZE_SAME_SIZE,
              "New size equals the current size, nothing to do.",
            ),
          );
        }
        vd.sizeKib = body.size_kib;
      }
      applyProps(vd.props, body);
      out.push(
        rc(
          0n,
          CODE.MODIFIED,
          `Volume definition with number '${vd.nr}' on resource definition '${rd.name}' modified.`,
        ),
      );
      return rcReply(out, ctx, 200);
    });
  }

  // ----- resources ----------------------------------------------------------------------------

  rscFlags(r: SimRsc): string[] {
    if (r.tieBreaker) return ["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"];
    if (r.diskless) return ["DISKLESS", "DRBD_DISKLESS"];
    return [];
  }

  rscView(rd: SimRd, r: SimRsc, withVolumes: boolean): Record<string, unknown> {
    const inUse = this.isInUse(rd, r.node);
    const otherPrimary = rd.rscs.some((o) => o !== r && this.isInUse(rd, o.node));
    const pool = this.pool(r.node, r.pool);
    // A disconnected satellite reports nothing (no state, no connections, no disk states);
    // its connected peers see their DRBD connection to it as Connecting.
    const online = this.isOnline(r.node);
    const connections: Record<string, unknown> = {};
    for (const o of rd.rscs) {
      if (o === r || !online) continue;
      connections[o.node] = this.isOnline(o.node)
        ? { connected: true, message: "Connected" }
        : { connected: false, message: "Connecting" };
    }
    const v: Record<string, unknown> = {
      name: rd.name,
      node_name: r.node,
      props: { ...r.props },
      flags: this.rscFlags(r),
      layer_object: {
        children: [{
          type: "STORAGE",
          resource_name_suffix: "",
          storage: {
            storage_volumes: rd.vds.map((vd) => ({
              volume_number: vd.nr,
              ...(r.diskless ? {} : {
                device_path: `/dev/linstorpool/${rd.name}_${String(vd.nr).padStart(5, "0")}`,
              }),
              allocated_size_kib: this.allocatedKib(rd, r, vd),
              usable_size_kib: r.diskless ? 0 : vd.sizeKib + drbdMetaKib(vd.sizeKib),
              disk_state: r.diskless ? "[]" : "",
            })),
          },
        }],
        resource_name_suffix: "",
        type: "DRBD",
        drbd: {
          node_id: r.nodeId,
          tcp_ports: [rd.port],
          peer_slots: PEER_SLOTS,
          al_stripes: 1,
          al_size: 32,
          flags: r.tieBreaker
            ? ["INITIALIZED", "DISKLESS"]
            : r.diskless
            ? ["DISKLESS", "INITIALIZED"]
            : ["INITIALIZED"],
          connections,
          promotion_score: otherPrimary ? 0 : r.diskless ? 1 : 10102,
          may_promote: !otherPrimary && !inUse,
        },
      },
      uuid: r.uuid,
      create_timestamp: r.created,
    };
    if (online) v.state = { in_use: inUse };
    if (withVolumes) {
      v.volumes = rd.vds.map((vd) => ({
        volume_number: vd.nr,
        storage_pool_name: r.pool,
        provider_kind: pool?.kind ?? "DISKLESS",
        device_path: `/dev/drbd${vd.minor}`,
        allocated_size_kib: this.allocatedKib(rd, r, vd),
        usable_size_kib: vd.sizeKib,
        props: { ...vd.props },
        flags: [],
        ...(online ? { state: { disk_state: r.diskless ? "Diskless" : "UpToDate" } } : {}),
        // only the DRBD entry: the spec's oneOf cannot tell a STORAGE entry from an NVME one
        layer_data_list: [{
          type: "DRBD",
          data: {
            drbd_volume_definition: {
              resource_name_suffix: "",
              volume_number: vd.nr,
              minor_number: vd.minor,
            },
            device_path: `/dev/drbd${vd.minor}`,
            ...(r.diskless ? {} : {
              backing_device: `/dev/linstorpool/${rd.name}_${String(vd.nr).padStart(5, "0")}`,
            }),
            meta_disk: "internal",
            allocated_size_kib: this.allocatedKib(rd, r, vd),
            usable_size_kib: vd.sizeKib,
            disk_state: !online ? "Unknown" : r.diskless ? "Diskless" : "UpToDate",
          },
        }],
        uuid: vd.uuid,
        reports: [],
      }));
    }
    return v;
  }

  viewResources(q: URLSearchParams): SimReply {
    // One listing stats each volume file once, however many replicas show it.
    this.#allocMemo = new Map();
    try {
      return this.#viewResources(q);
    } finally {
      this.#allocMemo = undefined;
    }
  }

  #viewResources(q: URLSearchParams): SimReply {
    const nodes = q.getAll("nodes").map(k);
    const rscs = q.getAll("resources").map(k);
    const pools = q.getAll("storage_pools").map(k);
    const props = q.getAll("props");
    const list: Record<string, unknown>[] = [];
    for (const rd of this.state.rds) {
      if (rscs.length && !rscs.includes(k(rd.name))) continue;
      for (const r of rd.rscs) {
        if (nodes.length && !nodes.includes(k(r.node))) continue;
        if (!propsMatch(r.props, props)) continue;
        if (pools.length && !pools.includes(k(r.pool))) continue;
        list.push(this.rscView(rd, r, true));
      }
    }
    return { status: 200, body: page(list, q) };
  }

  listRscs(name: string, q: URLSearchParams): SimReply {
    const rd = this.#needRd(name);
    return { status: 200, body: page(rd.rscs.map((r) => this.rscView(rd, r, false)), q) };
  }

  /** POST …/resources (array) or …/resources/{node} (single). */
  createRscs(name: string, items: Record<string, unknown>[], nodeFromPath?: string): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: name } };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const out: SimRc[] = [];
      for (const it of items) {
        const res = (it.resource ?? {}) as Record<string, unknown>;
        const nodeName = nodeFromPath ?? String(res.node_name ?? "");
        const node = this.#needNode(nodeName);
        if (this.rsc(rd, node.name)) {
          fail(
            CODE.FAIL_EXISTS_RSC,
            `A resource with the name '${rd.name}' already exists on node '${node.name}'.`,
          );
        }
        const flags = asStrings(res.flags) ?? [];
        const props = (res.props as Record<string, string>) ?? {};
        let diskless = flags.includes("DISKLESS") || flags.includes("DRBD_DISKLESS");
        let poolName = props.StorPoolName;
        if (!poolName) poolName = diskless ? DISKLESS_POOL : "DfltStorPool";
        const pool = this.pool(node.name, poolName);
        if (!pool) {
          fail(
            CODE.FAIL_NOT_FOUND_STOR_POOL,
            `Storage pool '${poolName}' not found on node '${node.name}'.`,
          );
        }
        if (pool.kind === "DISKLESS" && !diskless) {
          diskless = true;
          out.push(
            rc(
              MASK_WARN,
              0,
              `Resource will be automatically flagged diskless as it is placed in a diskless storage pool '${pool.name}'.`,
            ),
          );
        }
        if (!diskless && rd.vds.length) {
          const need = align(this.#rdSizeKib(rd) + drbdMetaKib(this.#rdSizeKib(rd)), 4096);
          if (!THIN_KINDS.has(pool.kind) && this.poolFreeKib(pool) < need) {
            fail(
              CODE.FAIL_NOT_ENOUGH_FREE_SPACE,
              `Not enough free space in storage pool '${pool.name}' on node '${node.name}'.`,
            );
          }
        }
        const r = this.#newRsc(
          rd,
          node.name,
          pool.name,
          diskless,
          diskless && it.drbd_client !== false,
        );
        Object.assign(r.props, props);
        out.push(rc(0n, CODE.CREATED, `Successfully set property key(s): StorPoolName`));
        out.push(
          rc(0n, CODE.CREATED, `New resource '${rd.name}' on node '${node.name}' registered.`, {
            details: `Resource '${rd.name}' on node '${node.name}' UUID is: ${r.uuid}`,
          }),
        );
      }
      this.manageTieBreaker(rd, out);
      out.push(rc(0n, CODE.CREATED, `Created resource '${rd.name}' on ${items.length} node(s)`));
      return rcReply(out, ctx, 201);
    });
  }

  #autoplace(rd: SimRd, filter: Record<string, unknown>, out: SimRc[]): void {
    const live = rd.rscs.filter((r) => !r.diskless).length;
    let add: number;
    if (typeof filter.additional_place_count === "number" && filter.additional_place_count > 0) {
      add = filter.additional_place_count;
    } else {
      const count = typeof filter.place_count === "number" ? filter.place_count : 2;
      add = count - live;
    }
    if (add < 0) {
      throw new SimApiError(
        rc(
          MASK_WARN,
          CODE.WARN_RSC_ALREADY_DEPLOYED,
          `The resource '${rd.name}' was already deployed on ${rd.rscs.length} nodes: ${
            rd.rscs.map((r) => `'${r.node}'`).join(", ")
          }. The resource would have to be deleted from nodes to reach the placement count.`,
        ),
      );
    }
    if (add === 0 && filter.diskless_on_remaining !== true) {
      out.push(
        rc(
          MASK_WARN,
          CODE.WARN_RSC_ALREADY_DEPLOYED,
          `Resource '${rd.name}' was already deployed on ${live} nodes. Skipping.`,
        ),
      );
      return;
    }
    const chosen = add > 0 ? this.#select(rd, filter, add, this.#rdSizeKib(rd)) : [];
    const used = this.#placeDiskful(rd, chosen);
    if (filter.diskless_on_remaining === true) {
      for (const n of this.state.nodes) {
        if (!n.offline && !this.rsc(rd, n.name) && this.pool(n.name, DISKLESS_POOL)) {
          this.#newRsc(rd, n.name, DISKLESS_POOL, true, false);
        }
      }
    }
    this.manageTieBreaker(rd, out);
    out.push(
      rc(
        0n | OBJ.RSC | MASK_CRT,
        CODE.CREATED,
        `Resource '${rd.name}' successfully autoplaced on ${chosen.length} nodes`,
        {
          details: `Used nodes (storage pool name): ${used.map((u) => `'${u}'`).join(", ")}`,
        },
      ),
    );
  }

  autoplaceApi(name: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: name } };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const g = this.rg(rd.rg) ?? this.#needRg("DfltRscGrp");
      const over = cleanFilter(body.select_filter);
      if (body.diskless_on_remaining === true) over.diskless_on_remaining = true;
      const filter = this.#mergedFilter(g, over);
      if (!rd.vds.length) {
        fail(
          CODE.FAIL_NOT_FOUND_VLM_DFN,
          `Resource definition '${rd.name}' has no volume definitions.`,
        );
      }
      const out: SimRc[] = [];
      this.#autoplace(rd, filter, out);
      return rcReply(out, ctx, 201);
    });
  }

  makeAvailable(name: string, nodeName: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const node = this.#needNode(nodeName);
      if (node.offline) {
        fail(CODE.FAIL_NOT_CONNECTED, `No active connection to satellite '${node.name}'.`, {
          details:
            "Resources cannot be made available when the corresponding satellite is not connected.",
        });
      }
      const diskful = body.diskful === true;
      const out: SimRc[] = [];
      const r = this.rsc(rd, node.name);
      if (r) {
        if (r.diskless && diskful) {
          const g = this.rg(rd.rg) ?? this.#needRg("DfltRscGrp");
          const filter = this.#mergedFilter(g, { node_name_list: [node.name] });
          let pools: SimPool[];
          try {
            pools = this.#select({ ...rd, rscs: [] }, filter, 1, this.#rdSizeKib(rd));
          } catch {
            fail(
              CODE.FAIL_NOT_FOUND_STOR_POOL,
              `Autoplacer could not find diskful stor pool on node ${node.name} matching resource-groups autoplace-settings`,
            );
          }
          this.#placeDiskful(rd, pools);
          out.push(
            rc(
              0n,
              CODE.MODIFIED,
              `Successfully toggled disk of resource '${rd.name}' on node '${node.name}' into diskful.`,
            ),
          );
        } else {
          if (r.tieBreaker) {
            r.tieBreaker = false;
            r.client = false;
          }
          out.push(rc(0n, 0, "Resource already deployed as requested"));
        }
      } else {
        const g = this.rg(rd.rg) ?? this.#needRg("DfltRscGrp");
        if (diskful) {
          const filter = this.#mergedFilter(g, { node_name_list: [node.name] });
          let pools: SimPool[];
          try {
            pools = this.#select(rd, filter, 1, this.#rdSizeKib(rd));
          } catch {
            fail(
              CODE.FAIL_NOT_FOUND_STOR_POOL,
              `Autoplacer could not find diskful stor pool on node ${node.name} matching resource-groups autoplace-settings`,
            );
          }
          this.#placeDiskful(rd, pools);
        } else {
          const dl = splitNames(g.filter.storage_pool_diskless_list);
          let pool = this.state.pools.find((p) =>
            k(p.node) === k(node.name) && p.kind === "DISKLESS" &&
            (!dl.length || dl.some((x) => k(x) === k(p.name)))
          );
          // retried once ignoring the resource group's restrictions
          pool ??= this.state.pools.find((p) =>
            k(p.node) === k(node.name) && p.kind === "DISKLESS"
          );
          if (!pool) {
            fail(
              CODE.FAIL_NOT_FOUND_STOR_POOL,
              `Autoplacer could not find diskless stor pool on node ${node.name} matching resource-groups autoplace-settings`,
            );
          }
          this.#newRsc(rd, node.name, pool.name, true, true);
        }
        out.push(
          rc(0n, CODE.CREATED, `New resource '${rd.name}' on node '${node.name}' registered.`),
        );
      }
      this.manageTieBreaker(rd, out);
      return rcReply(out, ctx, 200);
    });
  }

  deleteRsc(name: string, nodeName: string, keepTiebreaker: boolean): SimReply {
    const ctx: RcContext = { op: MASK_DEL, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
    return this.tx([name], () => {
      const rd = this.rd(name);
      const r = rd && this.rsc(rd, nodeName);
      if (!rd || !r) {
        return rcReply(
          [rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Node: ${nodeName}, Resource: ${name} not found.`)],
          ctx,
          200,
        );
      }
      if (this.isInUse(rd, r.node)) {
        fail(CODE.FAIL_IN_USE, `Resource '${rd.name}' is still in use.`, {
          cause: "Resource is mounted/in use.",
          correction: `Un-mount resource '${rd.name}' on the node '${r.node}'.`,
        });
      }
      if (!r.diskless) {
        const others = rd.rscs.filter((o) => o !== r && !o.diskless).length;
        const dl = rd.rscs.some((o) => o !== r && o.diskless && !o.tieBreaker);
        if (others === 0 && dl) {
          fail(
            CODE.FAIL_IN_USE,
            `Last resource of '${rd.name}' with disk still has diskless resources attached.`,
            {
              cause: "Resource still has diskless users.",
              correction:
                "Before deleting this resource, delete the diskless resources attached to it.",
            },
          );
        }
      }
      const out: SimRc[] = [];
      if (r.tieBreaker) {
        if (keepTiebreaker) {
          out.push(
            rc(
              MASK_INFO,
              CODE.INFO_TIE_BREAKER_TAKEOVER,
              "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
            ),
          );
          return rcReply(out, ctx, 200);
        }
        rd.props["DrbdOptions/auto-add-quorum-tiebreaker"] = "false";
        out.push(
          rc(
            MASK_INFO,
            CODE.INFO_PROP_SET,
            `Disabling auto-tiebreaker on resource-definition '${rd.name}' as tiebreaker resource was manually deleted`,
          ),
        );
      } else if (this.manageTieBreaker(rd, out, r)) {
        return rcReply(out, ctx, 200);
      }
      rd.rscs = rd.rscs.filter((o) => o !== r);
      this.#forgetInUse(rd, r.node);
      if (!r.tieBreaker) this.manageTieBreaker(rd, out);
      out.push(
        rc(0n, CODE.DELETED, `Resource '${rd.name}' on node '${r.node}' preparing for deletion.`, {
          details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}`,
        }),
      );
      out.push(
        rc(0n, CODE.DELETED, `Resource '${rd.name}' on node '${r.node}' deletion complete.`),
      );
      return rcReply(out, ctx, 200);
    });
  }

  modifyRsc(name: string, nodeName: string, body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
    const rd = this.#needRd(name);
    const r = this.rsc(rd, nodeName);
    if (!r) fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${name}' on node '${nodeName}' not found.`);
    applyProps(r.props, body);
    return rcReply(
      [rc(0n, CODE.MODIFIED, `Resource '${rd.name}' on node '${r.node}' modified.`)],
      ctx,
      200,
    );
  }

  // ----- snapshots ----------------------------------------------------------------------------

  snapView(rd: SimRd, s: SimSnap): Record<string, unknown> {
    return {
      name: s.name,
      resource_name: rd.name,
      nodes: [...s.nodes],
      props: { ...s.props },
      snapshot_definition_props: { ...s.props },
      resource_definition_props: {},
      flags: ["SUCCESSFUL"],
      volume_definitions: s.vds.map((v) => ({ volume_number: v.nr, size_kib: v.sizeKib })),
      uuid: s.uuid,
      snapshots: s.nodes.map((n) => ({
        snapshot_name: s.name,
        node_name: n,
        create_timestamp: s.created,
        flags: [],
        uuid: s.uuid,
        snapshot_volumes: s.vds.map((v) => ({ uuid: s.uuid, vlm_nr: v.nr, state: "" })),
      })),
    };
  }

  listSnaps(name: string): SimReply {
    const rd = this.#needRd(name);
    return { status: 200, body: rd.snaps.map((s) => this.snapView(rd, s)) };
  }

  getSnap(name: string, snap: string): SimReply {
    const rd = this.#needRd(name);
    return { status: 200, body: this.snapView(rd, this.#needSnap(rd, snap)) };
  }

  viewSnaps(q: URLSearchParams): SimReply {
    const nodes = q.getAll("nodes").map(k);
    const rscs = q.getAll("resources").map(k);
    const list: Record<string, unknown>[] = [];
    for (const rd of this.state.rds) {
      if (rscs.length && !rscs.includes(k(rd.name))) continue;
      for (const s of rd.snaps) {
        if (nodes.length && !s.nodes.some((n) => nodes.includes(k(n)))) continue;
        list.push(this.snapView(rd, s));
      }
    }
    return { status: 200, body: page(list, q) };
  }

  #snapshot(rd: SimRd, name: string, nodes: string[] | undefined, out: SimRc[]): SimSnap {
    if (!NAME_RE.test(name)) {
      fail(CODE.FAIL_INVLD_SNAPSHOT_NAME, `Invalid snapshot name '${name}'.`);
    }
    if (this.snap(rd, name)) {
      fail(
        CODE.FAIL_EXISTS_SNAPSHOT_DFN,
        `A snapshot definition with the name '${name}' already exists in resource definition '${rd.name}'.`,
      );
    }
    let diskful = rd.rscs.filter((r) => !r.diskless);
    if (nodes?.length) {
      const want = nodes.map(k);
      for (const n of nodes) {
        if (!diskful.some((r) => k(r.node) === k(n))) {
          fail(
            CODE.FAIL_NOT_FOUND_RSC,
            `Resource '${rd.name}' on node '${n}' not found or diskless.`,
          );
        }
      }
      diskful = diskful.filter((r) => want.includes(k(r.node)));
    }
    if (!diskful.length || !rd.vds.length) {
      fail(CODE.FAIL_NOT_ENOUGH_NODES, `No diskful resources of '${rd.name}' to snapshot.`);
    }
    for (const r of diskful) {
      const p = this.pool(r.node, r.pool);
      if (!p || !SNAP_KINDS.has(p.kind)) {
        fail(
          CODE.FAIL_SNAPSHOTS_NOT_SUPPORTED,
          `Storage driver '${p?.kind ?? "?"}' does not support snapshots.`,
          {
            details: `Used for storage pool '${r.pool}' on '${r.node}'.`,
          },
        );
      }
    }
    if (nodes?.length) {
      this.#needConnected(
        diskful,
        (n) => `No active connection to satellite '${n}'.`,
        "Snapshots cannot be created when the corresponding satellites are not connected.",
      );
    } else {
      // LINSTOR >= 1.2x: a disconnected diskful node is skipped with a warning; at least one
      // connected diskful satellite is needed
      const online = diskful.filter((r) => this.isOnline(r.node));
      if (!online.length) {
        fail(
          CODE.FAIL_NOT_CONNECTED,
          "No diskful connected satellite for snapshot or no resources.",
          {
            details: "Snapshots need at least one diskful online satellite.",
          },
        );
      }
      for (const r of diskful) {
        if (online.includes(r)) continue;
        out.push(rc(
          MASK_WARN,
          0,
          `Snapshot for resource '${rd.name}' will not be created on node '${r.node}' because that node is currently offline.`,
        ));
      }
      diskful = online;
    }
    const s: SimSnap = {
      name,
      nodes: diskful.map((r) => r.node),
      pools: Object.fromEntries(diskful.map((r) => [r.node, r.pool])),
      vds: rd.vds.map((v) => ({ nr: v.nr, sizeKib: v.sizeKib })),
      props: {},
      created: Date.now(),
      uuid: uuid(),
    };
    rd.snaps.push(s);
    for (const v of s.vds) {
      const dst = this.snapFile(rd.name, s.name, v.nr);
      Deno.mkdirSync(join(dst, ".."), { recursive: true });
      copySparse(this.volumeFile(rd.name, v.nr), dst);
    }
    out.push(rc(0n, CODE.CREATED, `New snapshot '${name}' of resource '${rd.name}' registered.`, {
      details: `Snapshot '${name}' of resource '${rd.name}' UUID is: ${s.uuid}`,
    }));
    out.push(
      rc(
        0n,
        CODE.CREATED,
        `Suspended IO of '[${rd.name}]' on '${s.nodes.join(", ")}' for snapshot`,
      ),
    );
    out.push(rc(0n, CODE.CREATED, `Took snapshot of '[${rd.name}]' on '${s.nodes.join(", ")}'`));
    out.push(
      rc(
        0n,
        CODE.CREATED,
        `Resumed IO of '[${rd.name}]' on '${s.nodes.join(", ")}' after snapshot`,
      ),
    );
    return s;
  }

  createSnap(name: string, body: Record<string, unknown>): SimReply {
    const snapName = String(body.name ?? "");
    const ctx: RcContext = {
      op: MASK_CRT,
      obj: OBJ.SNAPSHOT,
      refs: { RscDfn: name, SnapshotName: snapName },
    };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const out: SimRc[] = [];
      this.#snapshot(rd, snapName, asStrings(body.nodes), out);
      return rcReply(out, ctx, 201);
    });
  }

  createMultiSnap(body: Record<string, unknown>): SimReply {
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.SNAPSHOT };
    const items = (body.snapshots as Record<string, unknown>[] | undefined) ?? [];
    const names = items.map((i) => String(i.resource_name ?? ""));
    return this.tx(names, () => {
      if (!items.length) fail(CODE.FAIL_INVLD_REQUEST, "No snapshots given.");
      const out: SimRc[] = [];
      for (const it of items) {
        const rd = this.#needRd(String(it.resource_name ?? ""));
        this.#snapshot(rd, String(it.name ?? ""), asStrings(it.nodes), out);
      }
      return rcReply(out, ctx, 201);
    });
  }

  deleteSnap(name: string, snapName: string): SimReply {
    const ctx: RcContext = {
      op: MASK_DEL,
      obj: OBJ.SNAPSHOT,
      refs: { RscDfn: name, SnapshotName: snapName },
    };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const s = this.#needSnap(rd, snapName);
      rd.snaps = rd.snaps.filter((x) => x !== s);
      return rcReply(
        [rc(0n, CODE.DELETED, `Snapshot '${s.name}' of resource '${rd.name}' deleted.`, {
          details: `Snapshot '${s.name}' of resource '${rd.name}' UUID was: ${s.uuid}`,
        })],
        ctx,
        200,
      );
    });
  }

  /** LINSTOR >= 1.31 rollback: any snapshot; no resource of the RD may be in use. */
  rollback(name: string, snapName: string): SimReply {
    const ctx: RcContext = {
      op: MASK_MOD,
      obj: OBJ.SNAPSHOT,
      refs: { RscDfn: name, SnapshotName: snapName },
    };
    return this.tx([name], () => {
      const rd = this.#needRd(name);
      const s = this.#needSnap(rd, snapName);
      const used = rd.rscs.find((r) => this.isInUse(rd, r.node));
      if (used) {
        fail(CODE.FAIL_IN_USE, `Resource '${rd.name}' on node '${used.node}' is still in use.`, {
          cause: "Resource is mounted/in use.",
          correction: `Un-mount resource '${rd.name}' on the node '${used.node}'.`,
        });
      }
      if (rd.vds.some((v) => !s.vds.some((sv) => sv.nr === v.nr))) {
        fail(315, "Some volumes were not captured by the snapshot. Cannot rollback.");
      }
      this.#needConnected(
        rd.rscs,
        (n) => `No active connection to satellite '${n}'.`,
        "Snapshot rollback cannot be performed when the corresponding satellites are not connected.",
      );
      for (const sv of s.vds) {
        const vd = rd.vds.find((v) => v.nr === sv.nr)!;
        vd.sizeKib = sv.sizeKib;
        copySparse(this.snapFile(rd.name, s.name, sv.nr), this.volumeFile(rd.name, sv.nr));
      }
      return rcReply(
        [rc(
          0n,
          CODE.MODIFIED,
          `Successfully rolled back resource '${rd.name}' to snapshot '${s.name}'.`,
        )],
        ctx,
        200,
      );
    });
  }

  restoreVd(name: string, snapName: string, body: Record<string, unknown>): SimReply {
    const to = String(body.to_resource ?? "");
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.VLM_DFN, refs: { RscDfn: to } };
    return this.tx([to], () => {
      const rd = this.#needRd(name);
      const s = this.#needSnap(rd, snapName);
      const target = this.#needRd(to);
      if (target.vds.length) {
        fail(
          CODE.FAIL_EXISTS_VLM_DFN,
          `Target resource definition '${target.name}' already has volume definitions.`,
        );
      }
      const out: SimRc[] = [];
      for (const v of s.vds) this.#createVd(target, v.nr, v.sizeKib, [], {}, out);
      return rcReply(out, ctx, 200);
    });
  }

  restoreRsc(name: string, snapName: string, body: Record<string, unknown>): SimReply {
    const to = String(body.to_resource ?? "");
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: to } };
    return this.tx([to], () => {
      const rd = this.#needRd(name);
      const s = this.#needSnap(rd, snapName);
      const target = this.#needRd(to);
      if (!target.vds.length) {
        fail(
          CODE.FAIL_NOT_FOUND_VLM_DFN,
          `Target resource definition '${target.name}' has no volume definitions; restore them first.`,
        );
      }
      if (target.rscs.length) {
        fail(
          CODE.FAIL_EXISTS_RSC,
          `Target resource definition '${target.name}' already has resources.`,
        );
      }
      const nodes = asStrings(body.nodes)?.length ? asStrings(body.nodes)! : s.nodes;
      const rename = (body.stor_pool_rename as Record<string, string>) ?? {};
      const out: SimRc[] = [];
      for (const n of nodes) {
        const node = this.#needNode(n);
        const orig = Object.entries(s.pools).find(([x]) => k(x) === k(node.name))?.[1];
        if (!orig) {
          fail(
            CODE.FAIL_NOT_FOUND_SNAPSHOT_DFN,
            `Snapshot '${s.name}' has no data on node '${node.name}'.`,
          );
        }
        const poolName = rename[orig] ?? orig;
        if (!this.pool(node.name, poolName)) {
          fail(
            CODE.FAIL_NOT_FOUND_STOR_POOL,
            `Storage pool '${poolName}' not found on node '${node.name}'.`,
          );
        }
        this.#newRsc(target, node.name, poolName, false, false);
      }
      this.reconcile(target.name);
      for (const v of s.vds) {
        copySparse(this.snapFile(rd.name, s.name, v.nr), this.volumeFile(target.name, v.nr));
      }
      this.manageTieBreaker(target, out);
      out.push(
        rc(
          0n,
          CODE.CREATED,
          `Restored resource '${target.name}' from snapshot '${s.name}' of resource '${rd.name}'.`,
        ),
      );
      return rcReply(out, ctx, 200);
    });
  }

  // ----- clone --------------------------------------------------------------------------------

  clone(name: string, body: Record<string, unknown>, failIt: boolean): SimReply {
    const dst = String(body.name ?? "");
    const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_DFN, refs: { RscDfn: dst } };
    return this.tx([dst], () => {
      const src = this.#needRd(name);
      const rgName = typeof body.resource_group === "string" && body.resource_group !== ""
        ? this.#needRg(body.resource_group).name
        : src.rg;
      const diskful = src.rscs.filter((r) => !r.diskless);
      if (!diskful.length) {
        fail(
          CODE.FAIL_NOT_ENOUGH_NODES,
          `Resource definition '${src.name}' has no diskful resources to clone from.`,
        );
      }
      // the copy runs on the satellites of the source's replicas (and the clone lands there)
      this.#needConnected(
        diskful,
        (n) => `No active connection to satellite '${n}'.`,
        "Resources cannot be cloned when the corresponding satellites are not connected.",
      );
      const out: SimRc[] = [];
      const props: Record<string, string> = {};
      for (const [key, v] of Object.entries(src.props)) {
        if (!key.startsWith("Internal/")) props[key] = v;
      }
      const rd = this.#createRd(dst, rgName, props, out);
      applyProps(rd.props, body);
      for (const v of src.vds) {
        this.#createVd(rd, v.nr, v.sizeKib, [...v.flags], { ...v.props }, out);
      }
      for (const r of diskful) this.#newRsc(rd, r.node, r.pool, false, false);
      this.manageTieBreaker(rd, out);
      this.reconcile(rd.name);
      if (!failIt) {
        for (const v of src.vds) {
          copySparse(this.volumeFile(src.name, v.nr), this.volumeFile(rd.name, v.nr));
        }
      }
      this.state.clones = this.state.clones.filter((c) => k(c.dst) !== k(dst));
      this.state.clones.push({
        src: src.name,
        dst: rd.name,
        readyAt: Date.now() + this.opts.cloneDurationMs,
        failed: failIt,
      });
      const list = out.map((e) => withContext(e, ctx));
      return {
        status: 201,
        body: {
          location: `/v1/resource-definitions/${encodeURIComponent(src.name)}/clone/${
            encodeURIComponent(rd.name)
          }`,
          source_name: src.name,
          clone_name: rd.name,
          messages: list,
        },
      };
    });
  }

  cloneStatus(name: string, cloneName: string): SimReply {
    this.#needRd(name);
    const c = this.state.clones.find((x) => k(x.src) === k(name) && k(x.dst) === k(cloneName));
    if (!c || !this.rd(cloneName)) {
      fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${cloneName}' not found.`);
    }
    const status = c.failed
      ? (Date.now() >= c.readyAt ? "FAILED" : "CLONING")
      : (Date.now() >= c.readyAt ? "COMPLETE" : "CLONING");
    return { status: 200, body: { status } };
  }
}

// ---------------------------------------------------------------------------------------------
// helpers

function applyProps(target: Record<string, string>, body: Record<string, unknown>): void {
  for (const ns of asStrings(body.delete_namespaces) ?? []) {
    const pre = ns.endsWith("/") ? ns : `${ns}/`;
    for (const key of Object.keys(target)) if (key.startsWith(pre)) delete target[key];
  }
  for (const d of asStrings(body.delete_props) ?? []) delete target[d];
  const over = body.override_props as Record<string, string> | undefined;
  if (over) {
    for (const [key, v] of Object.entries(over)) {
      if (!/^[A-Za-z0-9_./-]+$/.test(key) || key.startsWith("/") || key.endsWith("/")) {
        fail(CODE.FAIL_INVLD_PROP, `The key '${key}' is not whitelisted.`);
      }
      target[key] = v;
    }
  }
}

function cleanFilter(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!v || typeof v !== "object") return out;
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    if (val !== null && val !== undefined) out[key] = val;
  }
  return out;
}

function propsMatch(props: Record<string, string>, filters: string[]): boolean {
  for (const f of filters) {
    const i = f.indexOf("=");
    const key = i < 0 ? f : f.slice(0, i);
    const v = props[key];
    if (v === undefined) return false;
    if (i >= 0 && v !== f.slice(i + 1)) return false;
  }
  return true;
}

function page<T>(list: T[], q: URLSearchParams): T[] {
  const limit = Number(q.get("limit") ?? 0);
  const offset = Number(q.get("offset") ?? 0);
  if (limit > 0) return list.slice(offset, offset + limit);
  return list;
}

/** The capacity "simulation" of LINSTOR's query-size-info (fill place_count-wide stripes). */
export function simulateSpace(sizes: number[], placeCount: number): number {
  const s = sizes.filter((x) => x > 0);
  let ret = 0;
  if (placeCount <= 0) return 0;
  while (s.length >= placeCount) {
    s.sort((a, b) => a - b);
    const idx = s.length - placeCount;
    const nth = s[idx];
    ret += nth;
    for (let i = idx; i < s.length; i++) s[i] -= nth;
    for (let i = s.length - 1; i >= 0; i--) if (s[i] === 0) s.splice(i, 1);
  }
  return ret;
}

function readDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

function rmrf(p: string): void {
  try {
    Deno.removeSync(p, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function fileAllocKib(f: string): number {
  try {
    const st = Deno.statSync(f);
    return Math.ceil(((st.blocks ?? 0) * 512) / 1024);
  } catch {
    return 0;
  }
}

/**
 * Copy a (sparse) file keeping holes: GNU cp (SEEK_DATA/SEEK_HOLE, reflink when possible),
 * or a block scan when cp is not available. The destination is replaced atomically.
 */
export function copySparse(src: string, dst: string): void {
  const tmp = `${dst}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  let done = false;
  try {
    const out = new Deno.Command("cp", {
      args: ["--sparse=always", "--reflink=auto", src, tmp],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    done = out.success;
  } catch {
    done = false;
  }
  if (!done) copyScan(src, tmp);
  Deno.renameSync(tmp, dst);
}

function copyScan(src: string, tmp: string): void {
  const size = Deno.statSync(src).size;
  const inF = Deno.openSync(src, { read: true });
  const outF = Deno.openSync(tmp, { write: true, create: true, truncate: true });
  try {
    outF.truncateSync(size);
    const buf = new Uint8Array(1 << 20);
    let off = 0;
    for (;;) {
      const n = inF.readSync(buf);
      if (n === null || n === 0) break;
      for (let b = 0; b < n; b += 4096) {
        const blk = buf.subarray(b, Math.min(n, b + 4096));
        if (blk.some((x) => x !== 0)) {
          outF.seekSync(off + b, Deno.SeekMode.Start);
          let w = 0;
          while (w < blk.length) w += outF.writeSync(blk.subarray(w));
        }
      }
      off += n;
    }
  } finally {
    inF.close();
    outF.close();
  }
}

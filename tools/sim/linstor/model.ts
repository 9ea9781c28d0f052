/**
 * The simulated LINSTOR controller's object model: the persisted state (nodes, pools, groups,
 * resource definitions with their volumes, resources and snapshots, clones), LINSTOR's naming
 * rules and the small rules every operation shares (case-insensitive names, DRBD metadata
 * size, property edits, selection filters).
 *
 * Names of nodes, pools, groups, resource definitions and snapshots are case-insensitive (as in
 * LINSTOR); the display name keeps the case used at creation.
 */
import { grossSizeKiB, MIN_NET_KIB } from "../../../lib/drbd/metadata.ts";

/** Storage provider kinds the simulator supports. */
export type PoolKind = "LVM" | "LVM_THIN" | "ZFS" | "ZFS_THIN" | "FILE" | "FILE_THIN" | "DISKLESS";

/** A network interface of a node. */
export interface SimNic {
  name: string;
  address: string;
  port: number;
  encryption: string;
  active: boolean;
  uuid: string;
}

/**
 * The node property a satellite's first answer sets (the host's uname; the node's name here):
 * a node whose satellite never answered has none.
 */
export const UNAME_PROP = "NodeUname";

/** A satellite. */
export interface SimNode {
  name: string;
  type: string;
  /** Address of the first interface (states written before interfaces were kept). */
  address: string;
  /** Its network interfaces (absent: one, `default`, at `address`). */
  nics?: SimNic[];
  props: Record<string, string>;
  uuid: string;
  /** The satellite is disconnected (the /_sim/node control); absent = online. */
  offline?: boolean;
  /**
   * The satellite is down (`/_sim/node` with `online: false`): no connection attempt reaches
   * it until `/_sim/node` brings it back (a reconnect leaves it offline).
   */
  down?: boolean;
  /**
   * Being evacuated (the EVACUATE flag, evacuate.ts): no new resources on it, the autoplacer
   * passes it over; `node restore` clears it.
   */
  evacuate?: boolean;
}

/** The network interfaces of a node. */
export function nicsOf(n: SimNode): SimNic[] {
  return n.nics ?? [{
    name: "default",
    address: n.address,
    port: 3366,
    encryption: "PLAIN",
    active: true,
    uuid: n.uuid,
  }];
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
  description?: string;
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
  /**
   * The node whose existing backing volume (named by OverrideVlmId) gave this volume its data
   * when a satellite first took it over (adopted volumes); absent for volumes LINSTOR made.
   */
  adoptedFrom?: string;
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
  /** DRBD peer slots of its meta data (the definition's at creation; absent in old states). */
  peerSlots?: number;
  /**
   * Its volumes' own properties by volume number (absent: none), set with
   * `PUT …/resources/{node}/volumes/{vlmNr}` (volumes.ts).
   */
  vlmProps?: Record<string, Record<string, string>>;
  /** Deactivated (the INACTIVE flag, activation.ts): its satellite took the resource down. */
  inactive?: boolean;
  /** Evacuated with its node (the EVACUATE flag, evacuate.ts): not counted as placed. */
  evacuate?: boolean;
  created: number;
  uuid: string;
}

/** A snapshot definition with its per-node snapshots. */
export interface SimSnap {
  name: string;
  nodes: string[];
  /** Pool per node at snapshot time. */
  pools: Record<string, string>;
  /** Its volume definitions: number, size, and the definition's generation identifier then. */
  vds: { nr: number; sizeKib: number; gi?: string }[];
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
  /**
   * Peer slots of the definition's DRBD layer data, fixed when that data is created (see
   * resources.ts `ensureDrbdLayer`); absent until then.
   */
  peerSlots?: number;
  /** DRBD shared secret given at creation (`drbd_secret`); LINSTOR makes one otherwise. */
  secret?: string;
  vds: SimVd[];
  rscs: SimRsc[];
  snaps: SimSnap[];
  /** Resource connections given properties (rsc_conns.ts; absent: none). */
  conns?: SimRscConn[];
  created: number;
  uuid: string;
}

/**
 * A resource connection with properties: between the resources of two nodes (`a` before `b`
 * by name), made for those resources (their uuids: a resource deleted takes it along).
 */
export interface SimRscConn {
  a: string;
  b: string;
  rscUuids: [string, string];
  props: Record<string, string>;
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
  /** Key-value store instances (absent in states saved before they were kept). */
  kvs?: SimKvs[];
  /** The controller's own properties (ctrl_props.ts; absent in states saved before). */
  ctrlProps?: Record<string, string>;
  /** Node connections given properties (node_conns.ts; absent: none). */
  nodeConns?: SimNodeConn[];
}

/** A node connection with properties: `a` before `b` by name. */
export interface SimNodeConn {
  a: string;
  b: string;
  props: Record<string, string>;
  uuid: string;
}

/** A key-value store instance: free-form properties under a name (kvs.ts). */
export interface SimKvs {
  name: string;
  props: Record<string, string>;
  uuid: string;
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

/** The diskless storage pool LINSTOR creates on every node. */
export const DISKLESS_POOL = "DfltDisklessStorPool";
/**
 * A name LINSTOR accepts for a resource, group, snapshot, pool or network interface
 * (Checks.nameCheck): `min`-`max` characters, a letter or `_` first, then letters, digits, `_`
 * and `-`, at least one letter. Resource, group and snapshot names are 2-48, storage pools 3-48,
 * network interfaces 3-32.
 */
export function isLinstorName(name: string, min = 2, max = 48): boolean {
  return name.length >= min && name.length <= max && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(name) &&
    /[A-Za-z]/.test(name);
}
/** Node names LINSTOR accepts. */
export const NODE_RE = /^[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}$/;
/** Thinly provisioned pool kinds (space is what the data file allocates). */
export const THIN_KINDS = new Set<PoolKind>(["LVM_THIN", "ZFS_THIN", "FILE_THIN"]);
/** Pool kinds that support snapshots. */
export const SNAP_KINDS = new Set<PoolKind>(["LVM_THIN", "ZFS", "ZFS_THIN", "FILE_THIN"]);
/** DRBD peer slots of a resource when nothing sets them (InternalApiConsts.DEFAULT_PEER_SLOTS). */
export const PEER_SLOTS = 7;
/** The property that sets the peer slots of new resources (RD, RG or controller). */
export const PEER_SLOTS_PROP = "PeerSlotsNewResource";
/** The volume-definition property that names an existing backing volume. */
export const OVERRIDE_VLM_ID = "OverrideVlmId";

/** The own properties of `r`'s volume `nr` (a copy; empty when none were set). */
export function volumeProps(r: SimRsc, nr: number): Record<string, string> {
  return { ...r.vlmProps?.[nr] };
}

/** The case-insensitive key of a LINSTOR name. */
export function k(s: string): string {
  return s.toUpperCase();
}

/** A fresh object UUID. */
export function uuid(): string {
  return crypto.randomUUID();
}

/** The volume definition property holding its initial DRBD current generation identifier. */
export const CURRENT_GI_PROP = "DrbdCurrentGi";

/**
 * A random DRBD generation identifier as the controller makes one for a new volume definition
 * (GidGenerator): 64 random bits with the lowest (the primary flag) cleared, never 0 or 4, in
 * upper-case hex without leading zeros (Java's `%X` of the long).
 */
export function randomGid(): string {
  for (;;) {
    const v = crypto.getRandomValues(new BigUint64Array(1))[0] & ~1n;
    if (v !== 0n && v !== 4n) return v.toString(16).toUpperCase();
  }
}

/**
 * Give a new volume definition its generation identifier (CtrlVlmDfnApiCallHandler
 * createVlmDfns: a volume definition or resource definition created, or spawned). The
 * controller skips it only when `DrbdOptions/DrbdCurrentGi` is set, and otherwise overwrites a
 * `DrbdCurrentGi` given with the request.
 */
export function newCurrentGi(vd: SimVd): void {
  if (vd.props[`DrbdOptions/${CURRENT_GI_PROP}`] === undefined) {
    vd.props[CURRENT_GI_PROP] = randomGid();
  }
}

/** `v` rounded up to a multiple of `a`. */
export function align(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

/**
 * DRBD internal metadata size in KiB for a volume of `sizeKib` net with `peerSlots` bitmap slots
 * (superblock + activity log + bitmaps, DRBD's layout: lib/drbd/metadata.ts).
 */
export function drbdMetaKib(sizeKib: number, peerSlots = PEER_SLOTS): number {
  const net = Math.max(MIN_NET_KIB, Math.ceil(sizeKib));
  return grossSizeKiB(net, peerSlots) - align(net, 4);
}

/**
 * The allocation unit of a pool kind in KiB (the storage layer rounds every volume up to it):
 * the volume group's extent for LVM (4 MiB by default), the zvol block for ZFS, 1 KiB for
 * files.
 */
export function extentKib(kind: PoolKind): number {
  if (kind === "LVM" || kind === "LVM_THIN") return 4096;
  if (kind === "ZFS" || kind === "ZFS_THIN") return 8;
  return 1;
}

/**
 * A UUID-shaped identifier derived from `base` and `parts` (stable: the same inputs give the
 * same value), for objects the simulator does not store one for (per-node snapshots,
 * snapshot volumes, volumes of a resource).
 */
export function derivedUuid(base: string, ...parts: (string | number)[]): string {
  const text = [base, ...parts].join("\u0000");
  let id = derived.get(text);
  if (id === undefined) {
    if (derived.size >= DERIVED_MAX) derived.clear();
    derived.set(text, id = hashUuid(text));
  }
  return id;
}

/** derivedUuid's answers (a listing of thousands of objects asks again for each one). */
const derived = new Map<string, string>();
const DERIVED_MAX = 200_000;

function hashUuid(text: string): string {
  let hex = "";
  for (let seed = 0; seed < 4; seed++) {
    let h = 0x811c9dc5 ^ seed;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    hex += (h >>> 0).toString(16).padStart(8, "0");
  }
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${
    ((parseInt(hex[16], 16) & 3) | 8).toString(16)
  }${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** A request field as a string list (undefined when absent or not a list). */
export function asStrings(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) return undefined;
  return v.map(String);
}

/** A request field as a string list ([] when absent). */
export function splitNames(v: unknown): string[] {
  return asStrings(v) ?? [];
}

/** The selection-filter fields a resource group keeps (LINSTOR's AutoSelectorConfig). */
const GROUP_FILTER_FIELDS = [
  "place_count",
  "node_name_list",
  "storage_pool_list",
  "storage_pool_diskless_list",
  "diskless_on_remaining",
  "not_place_with_rsc",
  "not_place_with_rsc_regex",
  "layer_stack",
  "provider_list",
  "replicas_on_same",
  "replicas_on_different",
  "x_replicas_on_different_map",
];

/**
 * A resource group's selection filter after a create or modify request, as the controller
 * keeps it: a single `storage_pool` is the one-entry pool list, given lists and maps replace
 * the kept ones (an empty one clears it), given scalars replace theirs, layers and providers
 * are upper-case; fields a group does not keep (additional place count, …) are dropped.
 */
export function groupFilter(
  old: Record<string, unknown>,
  req: unknown,
): Record<string, unknown> {
  const r = cleanFilter(req);
  if (typeof r.storage_pool === "string" && !(asStrings(r.storage_pool_list) ?? []).length) {
    r.storage_pool_list = r.storage_pool === "" ? [] : [r.storage_pool];
  }
  const out: Record<string, unknown> = { ...old };
  for (const key of GROUP_FILTER_FIELDS) {
    let v = r[key];
    if (v === undefined) continue;
    if (key === "layer_stack" || key === "provider_list") {
      v = (asStrings(v) ?? []).map((x) => x.toUpperCase());
    }
    const empty = (Array.isArray(v) && !v.length) ||
      (typeof v === "object" && v !== null && !Array.isArray(v) && !Object.keys(v).length);
    if (empty) delete out[key];
    else out[key] = v;
  }
  return out;
}

/** A selection filter without its null/undefined fields. */
export function cleanFilter(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!v || typeof v !== "object") return out;
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    if (val !== null && val !== undefined) out[key] = val;
  }
  return out;
}

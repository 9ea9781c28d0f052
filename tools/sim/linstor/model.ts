/**
 * The simulated LINSTOR controller's object model: the persisted state (nodes, pools, groups,
 * resource definitions with their volumes, resources and snapshots, clones), LINSTOR's naming
 * rules and the small rules every operation shares (case-insensitive names, DRBD metadata
 * size, property edits, selection filters).
 *
 * Names of nodes, pools, groups, resource definitions and snapshots are case-insensitive (as in
 * LINSTOR); the display name keeps the case used at creation.
 */
import { CODE } from "../../../lib/backend/linstor/api_call_rc.ts";
import { grossSizeKiB, MIN_NET_KIB } from "../../../lib/drbd/metadata.ts";
import { fail } from "./replies.ts";

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

/** The diskless storage pool LINSTOR creates on every node. */
export const DISKLESS_POOL = "DfltDisklessStorPool";
/** Resource, group, pool and snapshot names LINSTOR accepts. */
export const NAME_RE = /^[a-zA-Z0-9_][a-zA-Z0-9_-]{1,47}$/;
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

/** The case-insensitive key of a LINSTOR name. */
export function k(s: string): string {
  return s.toUpperCase();
}

/** A fresh object UUID. */
export function uuid(): string {
  return crypto.randomUUID();
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

/** Apply a modify request's delete_namespaces, delete_props and override_props to `target`. */
export function applyProps(target: Record<string, string>, body: Record<string, unknown>): void {
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

/** A selection filter without its null/undefined fields. */
export function cleanFilter(v: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!v || typeof v !== "object") return out;
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    if (val !== null && val !== undefined) out[key] = val;
  }
  return out;
}

/**
 * The backend interface: everything an action may ask of a replicated block store.
 *
 * Actions are written once against this interface; LINSTOR and StorPool implement it.
 * No action may branch on the backend kind. Where a store cannot do something natively
 * the backend emulates it (e.g. StorPool has no "diskless replica": attach = client attach).
 *
 * Units: sizes are MiB (OpenNebula's MB) unless the name says otherwise.
 *
 * Idempotency is part of the contract:
 *  - createVolume on an existing complete volume of the same size succeeds (returns
 *    created=false); an existing volume of a different size fails with kind "exists";
 *  - cloneVolume onto an existing complete clone succeeds (returns created=false);
 *  - deleteVolume / deleteSnapshot of something missing succeeds;
 *  - attach on a host that already has it, detach on a host that does not, succeed;
 *  - createSnapshot of an existing snapshot name on that volume succeeds.
 * Errors are OneblkError with kind not_found / exists / in_use / timeout / unavailable /
 * backend / config.
 *
 * Unknown outcomes are resolved by reading the store, never by assuming (every store):
 *  - a call whose outcome is unknown (the reply was lost, the call timed out, an earlier run was
 *    killed between two steps) is followed by a read of what exists: a clone that was started
 *    is waited for, a snapshot that exists was taken, a volume that does not exist was not made;
 *  - an existing volume is reused only when it is complete: its clone finished and succeeded,
 *    it has its volume (data) and replicas, and it has the expected size (the asked size for a
 *    create; at least the source's size for a clone, then grown to the asked size). A clone
 *    still running is waited for. A failed clone, or a volume that holds no data (no volume, no
 *    replica, no snapshot), is deleted and made again. Anything else fails with kind "exists"
 *    and is left as it is: a reuse is never a guess;
 *  - `unavailable` (the store cannot be reached) ends the call: it is no reason to try another
 *    method (clone API → snapshot restore → block copy); each distinct cause is reported once,
 *    and once a store was found unreachable the other calls of the same process fail at once
 *    instead of waiting again (lib/http.ts, one deadline per action).
 *
 * Temporaries and leftovers: what a store call creates for itself (a snapshot, an attachment,
 * a half-made volume) is removed on every exit path. What cannot be removed now is marked, so
 * that the next call of the same kind or `oneblk gc` finds it (findLeftovers): temporary
 * snapshots carry the `oneblk-tmp-` name prefix ({@link TEMP_PREFIX}); volumes and attachments get
 * a mark (markLeftover, or `pending` at creation) with its owner and time. A `pending` mark is
 * set by the request that makes the volume (no moment where it exists unmarked). An attach
 * wants its attachment: it removes that attachment's mark, left by an earlier call that could
 * not release it. A store never marks, lists or removes as a leftover anything else.
 *
 * Placement: a new volume, and a new clone whichever method made it, is placed by the same
 * rule: the placement's replica count, with a full replica on `preferHost` when given.
 *
 * A store is one folder (lib/backend/<store>/) whose index.ts exports a StoreImpl, listed once
 * in lib/backend/index.ts; its placement type extends PlacementBase with the store's own knobs.
 */
import type { HostRunner } from "../host/types.ts";
import type { OneClient } from "../one/xmlrpc.ts";

/**
 * Where and how new volumes are placed: built by the add-on's profile from the datastore
 * template. Each store extends it with its own typed fields (LinstorPlacement,
 * StorpoolPlacement); a store ignores the fields of the others.
 */
export interface PlacementBase {
  /** LINSTOR resource group / StorPool template. Empty when the store has none configured. */
  group: string;
  /** Replica count when set explicitly by the datastore (REPLICA_COUNT, SP_REPLICATION). */
  replicas?: number;
  /**
   * Volatile disks get a full replica on the VM's host (read by the actions that create them,
   * passed to the store as `preferHost`).
   */
  preferLocal?: boolean;
  /** Replica count of checkpoint volumes, when the datastore sets one of their own. */
  checkpointReplicas?: number;
}

/** A volume as the backend sees it. */
export interface VolumeInfo {
  name: string;
  sizeMiB: number;
  /** Owner/metadata properties (LINSTOR Aux/one/* props, StorPool tags), keys without prefix. */
  props: Record<string, string>;
}

/** Space actually used by a volume and its snapshots (for per-VM DISK_SIZE / SNAPSHOT_SIZE). */
export interface UsageFigures {
  /** Allocated MiB of the volume itself (max over replicas). */
  allocatedMiB: number;
  /** Allocated MiB per snapshot name. */
  snapshots: Record<string, number>;
}

/** A volume with its metadata and usage. */
export interface VolumeUsage extends UsageFigures {
  name: string;
  props: Record<string, string>;
}

/** A volume found by Backend.usageVolumes, before its usage is read. */
export interface UsageVolume {
  name: string;
  props: Record<string, string>;
  /**
   * Identity of what the name stands for now: changes when the volume is replaced by another
   * of the same name (LINSTOR: the RD's uuid; StorPool: global id and size, so a resize too).
   * A usage figure read under another stamp is not this volume's.
   */
  stamp: string;
  /** The usage, when the store's listing carries it anyway (StorPool); else see readUsage. */
  usage?: UsageFigures;
}

/** One host's relation to a volume. */
export interface Attachment {
  host: string;
  /** The host stores a full replica (LINSTOR diskful resource). */
  diskful: boolean;
  /** LINSTOR tie-breaker (never removed by detach). */
  tieBreaker: boolean;
  /** The device is open (VM running on it). */
  inUse: boolean;
  readOnly: boolean;
}

/** A snapshot of one volume. */
export interface SnapshotInfo {
  name: string;
  volume: string;
  sizeMiB: number;
  /** Creation time, ms since epoch (0 when unknown). */
  createdAt: number;
}

/** Datastore capacity in MiB, as oned wants it for USED_MB / TOTAL_MB / FREE_MB. */
export interface Capacity {
  totalMiB: number;
  freeMiB: number;
  usedMiB: number;
}

/** Options for createVolume. */
export interface CreateOptions<P extends PlacementBase = PlacementBase> {
  placement: P;
  /** Metadata to set at creation (same semantics as setProps). */
  props?: Record<string, string>;
  /** Try to put a full replica on this host (LINSTOR PREFER_NODE / clone locality). */
  preferHost?: string;
  /**
   * Mark the new volume as unfinished, owned by this owner (e.g. "datastore cp image 12"), in
   * the same call that creates it: findLeftovers reports it until clearMark.
   */
  pending?: string;
}

/** Options for cloneVolume. */
export interface CloneOptions<P extends PlacementBase = PlacementBase> {
  placement: P;
  /** Grow the clone to this size after cloning (never shrinks). */
  sizeMiB?: number;
  props?: Record<string, string>;
  preferHost?: string;
  /** Clone from this snapshot of the source instead of its current state. */
  fromSnapshot?: string;
  /** Mark the clone as unfinished (see CreateOptions.pending); set as soon as it exists. */
  pending?: string;
}

/**
 * Name prefix of every temporary snapshot (and only those): the name is its mark. Distinct from
 * the names of snapshots oneblk keeps on purpose (`oneblk-backup-…` chain bases,
 * `oneblk-restore-…`), which are never leftovers.
 */
export const TEMP_PREFIX = "oneblk-tmp-";

/** Something oneblk made for itself and could not remove, as findLeftovers reports it. */
export interface Leftover {
  /** A volume (half-made or orphaned), a temporary snapshot, a temporary attachment. */
  kind: "volume" | "snapshot" | "attachment";
  /** The volume's, the snapshot's, or (attachment) the volume's name. */
  name: string;
  /** The volume a snapshot or an attachment belongs to. */
  volume?: string;
  /** The host of an attachment. */
  host?: string;
  /** Who left it, e.g. "tm clone vm 7 disk 0", "datastore cp image 12". */
  owner: string;
  /** When it was made or marked, ms since epoch (0 when unknown). */
  since: number;
  /** Why it is a leftover, one line. */
  reason: string;
}

/** What markLeftover and clearMark act on. */
export type LeftoverRef =
  | { kind: "volume"; name: string }
  | { kind: "attachment"; name: string; host: string };

/** Options for attach. */
export interface AttachOptions {
  readOnly?: boolean;
}

/** Every backend exposes its request counter so the benchmark can report REST calls. */
export interface BackendStats {
  requests: number;
  /** Bytes of the reply bodies read, as decoded (after any content encoding). */
  bytes: number;
}

/** The interface every block store implements; `P` is the store's placement type. */
export interface Backend<P extends PlacementBase = PlacementBase> {
  /** "linstor" or "storpool": for logs and stats only, never for branching in actions. */
  readonly kind: string;
  readonly stats: BackendStats;

  /** Device path of a volume on a host where it is attached. */
  devicePath(volume: string): string;

  /** Volume info, or null when it does not exist. */
  getVolume(volume: string): Promise<VolumeInfo | null>;
  /** Create an empty volume. Returns true when created, false when it already existed. */
  createVolume(volume: string, sizeMiB: number, opts: CreateOptions<P>): Promise<boolean>;
  /**
   * Delete a volume and all its snapshots. Missing volume: success. Refuses while in use.
   * Stores with a delayed-delete safety net (StorPool) keep a recoverable copy for a while,
   * unless `immediate` is set: use it for temporaries and for undoing a half-made volume.
   */
  deleteVolume(volume: string, opts?: { immediate?: boolean }): Promise<void>;
  /**
   * Server-side clone (fast path), falling back to snapshot-restore and then to a block copy
   * done by the backend (never after `unavailable`). Returns true when this call made the
   * clone, false when `target` existed already as a complete clone (module doc: it is then
   * grown to `sizeMiB` and gets `props`); an existing target that is not complete and holds no
   * data is made again, any other fails with kind "exists". On failure nothing this call
   * created is left behind, except what an unknown outcome leaves for a later read.
   */
  cloneVolume(source: string, target: string, opts: CloneOptions<P>): Promise<boolean>;
  /**
   * Grow to sizeMiB (no-op when already that size or larger; never shrinks). Returns the size
   * it had before, in MiB (as getVolume says it), from the one read it makes: a caller that
   * refuses to shrink needs no read of its own. OneblkError "not_found" when it does not exist.
   */
  resizeVolume(volume: string, sizeMiB: number): Promise<number>;
  /** Rename a volume (used by crash-safe flatten and delete-keeping schemes). */
  renameVolume(volume: string, newName: string): Promise<void>;

  /** Snapshots of a volume, oldest first. */
  listSnapshots(volume: string): Promise<SnapshotInfo[]>;
  createSnapshot(volume: string, snapshot: string): Promise<void>;
  /** Atomic crash-consistent snapshot of several volumes (one VM's disks). */
  createSnapshots(items: { volume: string; snapshot: string }[]): Promise<void>;
  deleteSnapshot(volume: string, snapshot: string): Promise<void>;
  /** Make the volume's content equal to the snapshot (volume must not be in use). */
  rollbackSnapshot(volume: string, snapshot: string): Promise<void>;
  /**
   * Make snapshot `snapshot` of `volume` readable on `host` as a read-only block device and
   * return the device path (the caller waits for it to appear). A store that can attach a
   * snapshot does so (StorPool); the others restore it into the scratch volume `scratch`,
   * placed where the snapshot's data lives (LINSTOR: diskful replicas on the snapshot's nodes,
   * so a host holding a replica of `volume` reads locally), and attach that read-only. A
   * leftover `scratch` of an earlier attempt is replaced (its content is unknown). Undo with
   * closeSnapshot.
   */
  openSnapshot(
    volume: string,
    snapshot: string,
    host: string,
    scratch: string,
    placement: P,
  ): Promise<string>;
  /** Undo openSnapshot: detach from `host`, delete `scratch`. Nothing there: success. */
  closeSnapshot(volume: string, snapshot: string, host: string, scratch: string): Promise<void>;

  /**
   * Hosts related to the volume (replicas, diskless/client attachments); with `host`, only that
   * host's (the store is asked for no more where it can filter).
   */
  attachments(volume: string, host?: string): Promise<Attachment[]>;
  /**
   * Make the volume usable on host (diskless/client attach where no local replica). A leftover
   * mark of that attachment is removed: the attachment is wanted now.
   */
  attach(volume: string, host: string, opts?: AttachOptions): Promise<void>;
  /**
   * Remove the host's access. Never removes a diskful replica or a tie-breaker (those
   * stay; the call succeeds). Fails with kind "in_use" while the device is open.
   */
  detach(volume: string, host: string): Promise<void>;
  /** Allow (or stop allowing) the volume to be open read-write on two hosts (live migration). */
  setDualPrimary(volume: string, allow: boolean): Promise<void>;
  /**
   * Start finding out, without waiting, what calls about `hosts` will need (StorPool: their
   * client ids, which may take an oned call), so that it overlaps the action's other waits. A
   * failure is not reported here: the call that needs the answer asks again.
   */
  warmHosts(hosts: readonly string[]): void;

  /** Set metadata; a null value deletes the key. */
  setProps(volume: string, props: Record<string, string | null>): Promise<void>;
  /**
   * Volumes whose props match every given key=value, in one bulk query (with their usage when
   * that listing carries it). lib/backend/usage.ts listUsage joins it with readUsage.
   */
  usageVolumes(match: Record<string, string>): Promise<UsageVolume[]>;
  /**
   * Usage of `volumes` (from usageVolumes), by name, one entry for each. The requests grow with the number of volumes asked (LINSTOR: name-filtered chunks), never a
   * cluster-wide listing where the store has filters.
   */
  readUsage(volumes: UsageVolume[]): Promise<Map<string, UsageFigures>>;

  /**
   * Mark a volume or an attachment that could not be removed as a leftover of `owner`, now,
   * so that findLeftovers reports it. Idempotent.
   */
  markLeftover(ref: LeftoverRef, owner: string): Promise<void>;
  /** Remove the mark (the volume is complete, the attachment is wanted). Missing: success. */
  clearMark(ref: LeftoverRef): Promise<void>;
  /**
   * Read-only: every marked volume and attachment and every temporary snapshot (TEMP_PREFIX)
   * of the store, with its owner and time. Nothing else is ever reported.
   */
  findLeftovers(): Promise<Leftover[]>;

  /** Real placeable capacity of new volumes under this placement. */
  capacity(placement: P): Promise<Capacity>;

  /** Release connections (keep-alive sockets). */
  close(): Promise<void>;
}

/** What a backend may need from the process. */
export interface BackendDeps {
  env: Record<string, string>;
  hosts: HostRunner;
  one: () => Promise<OneClient>;
}

/**
 * One store implementation: its store settings `C` (with the `kind` that selects it; built by
 * the add-on's profile from the datastore template) open a Backend of placement type `P`.
 */
export interface StoreImpl<C extends { kind: string }, P extends PlacementBase> {
  readonly kind: C["kind"];
  open(config: C, deps: BackendDeps): Backend<P>;
}

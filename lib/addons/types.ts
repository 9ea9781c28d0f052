/**
 * What an add-on file describes: everything oneblk must match to be a drop-in replacement for
 * one OpenNebula storage add-on, selected by the driver name in the invoked path.
 *
 * The profile owns volume and snapshot names, the SOURCE string, which datastore attributes
 * configure the store and placement, and the metadata written for monitoring; the add-on adds
 * what is installed for it (VMM override file names, oned.conf rows). Actions ask the profile,
 * never the driver name.
 */
import type { Placement, StoreConfig } from "../backend/index.ts";
import type { Setting } from "./setting.ts";

export type { Setting } from "./setting.ts";

/** Anything with template-style attributes ("" when absent). */
export interface Attrs {
  get(name: string): string;
}

/** The disk facts naming depends on. */
export interface DiskFacts {
  diskId: number;
  source: string;
  imageId: string;
  /** CLONE=YES (non-persistent image disk). */
  clone: boolean;
  persistent: boolean;
  /** CDROM, FS, BLOCK, swap, … (upper case as in the XML). */
  type: string;
  /** No image behind it (volatile FS/swap disk). */
  volatile: boolean;
  /** Volatile format/fs (raw, qcow2, swap, ext4 …) for names that carry it. */
  format: string;
}

/**
 * VM-level state an add-on may keep on the store: UEFI NVRAM, TPM state, and the memory of a
 * VM snapshot taken with its memory.
 */
export type VmStateKind = "nvram" | "tpm" | "memory";

/** A compatibility profile. */
export interface Profile {
  /** Driver name: linstor, linstor_un, storpool. */
  readonly name: string;
  /**
   * A process-wide add-on setting (ONE_PX, DISKSNAPSHOT_LIMIT, VMSNAPSHOT_LIMIT,
   * VMSNAPSHOT_FSFREEZE, OVMF_PATH, ONE_TPM_SAVE…): the environment, else the add-on's rc
   * files when it has some (read once per process, only when the environment lacks it); null
   * when unset.
   */
  setting(env: Readonly<Record<string, string | undefined>>, name: string): Setting | null;
  /** Image volumes keep their uploaded format (qcow2 stays qcow2) instead of converting to raw. */
  readonly keepImageFormat: boolean;
  /** CDROM disks get their own read-only clone per VM instead of sharing the image volume. */
  readonly cdromClone: boolean;

  /** Store connection settings for a datastore. */
  store(ds: Attrs, dsId: number): StoreConfig;
  /** Placement of new volumes on a datastore. */
  placement(ds: Attrs, dsId: number): Placement;

  /** Volume holding image `imageId` of datastore `dsId`. */
  imageVolume(imageId: number, dsId: number): string;
  /** SOURCE string oned stores for that image. */
  imageSource(imageId: number, dsId: number): string;
  /** Volume named by a SOURCE string (image or save-as target). */
  sourceVolume(source: string): string;
  /**
   * SOURCE string of an image held by the existing volume `volume` of datastore `dsId` (an
   * adopted resource registered as an image): `sourceVolume` of it gives `volume` back.
   */
  volumeSource(volume: string, dsId: number): string;
  /** Volume backing a VM disk: its private clone, its volatile volume, or the image itself. */
  diskVolume(vmId: number, disk: DiskFacts): string;
  /** Volume for a volatile disk created by mkimage/mkswap. */
  volatileVolume(vmId: number, diskId: number, format: string): string;
  /**
   * Temporary volume holding the bytes of image `imageId` while datastore cp converts them (a
   * qcow2 cannot be converted from a pipe); removed when cp ends, by a repeat if cp died.
   */
  importStageVolume(imageId: number): string;
  /** Checkpoint volume of a VM (VMM save/restore overrides). */
  checkpointVolume(vmId: number): string;
  /**
   * Snapshot of `volume` holding disk `diskId` of VM `vmId` as backup increment `inc` saw it:
   * the base the next increment is computed from (docs/contract.md "tm backups"). oneblk's own
   * name in every profile (none of the add-ons has incremental backups).
   */
  backupSnapshotName(volume: string, vmId: number, diskId: number, inc: number): string;
  /** The increment id of a backupSnapshotName of that disk, or null for any other snapshot. */
  backupSnapshotInc(volume: string, vmId: number, diskId: number, snapshot: string): number | null;
  /** Scratch volume backup snapshot `inc` of the disk is read through (Backend.openSnapshot). */
  backupVolume(vmId: number, diskId: number, inc: number): string;
  /**
   * Snapshot of `volume` that keeps disk `diskId`'s content while tm restore writes the backup
   * into it: rolled back to on failure, deleted once the restore is complete.
   */
  restoreUndoName(volume: string, vmId: number, diskId: number): string;
  /** Name of disk snapshot `snapId` of `volume`. */
  snapshotName(volume: string, snapId: number): string;
  /** Snapshot id from a snapshot name of this profile, or null for foreign snapshots. */
  snapshotId(volume: string, snapshot: string): number | null;
  /**
   * Snapshot of `volume` taken by VM snapshot `snapId` at unix time `ts` (VMM snapshotcreate
   * override; every disk of the VM gets one, atomically). Never matches `snapshotId`.
   */
  vmSnapshotName(volume: string, snapId: number, ts: number): string;
  /**
   * Volume holding the context ISO of VM `vmId` (context disk `diskId`), or null when the ISO
   * stays a plain file in the VM directory.
   */
  contextVolume(vmId: number, diskId: number): string | null;
  /**
   * Volume holding VM `vmId`'s state of `kind` on the store, or null when the add-on keeps it
   * in the VM directory (lib/domain/vm_state.ts).
   */
  vmStateVolume(vmId: number, kind: VmStateKind): string | null;
  /** Metadata of that volume (it names the VM but no disk: monitoring leaves it out). */
  vmStateProps(vmId: number, kind: VmStateKind): Record<string, string>;
  /** Metadata tying a volume to a VM disk (monitoring, ownership). */
  diskProps(vmId: number, diskId: number, dsId: number): Record<string, string>;
  /** Metadata match for "volumes of this system datastore" (per-VM disk monitoring). */
  dsMatch(dsId: number): Record<string, string>;
}

/** One drop-in add-on: a file under lib/addons/, listed once in lib/addons/index.ts. */
export interface AddOn {
  /** Driver name: the DS_MAD/TM_MAD value and the datastore/tm directory under the remotes. */
  readonly driver: string;
  /**
   * The kind of store its datastores are on (a store of lib/backend/list.ts; what its profile's
   * `store()` returns as `kind`). The bundle builds each driver's datastore and tm programs with
   * that store alone (tools/bundle.ts).
   */
  readonly store: string;
  /** The add-on replaced (for messages and the install report). */
  readonly replaces: string;
  /**
   * The compatibility profile in this process's environment; `rc`: the add-on's rc values to
   * use instead of reading its rc files (tests).
   */
  profile(env: Record<string, string | undefined>, rc?: Readonly<Record<string, string>>): Profile;
  /**
   * File names under vmm/kvm/ by VM_MAD action (`-l <action>=<file>`), as the add-on names
   * them. Only those whose action oneblk implements are installed.
   */
  readonly vmmOverrides: Readonly<Record<string, string>>;
  /**
   * The add-on's shell rc files (`KEY=value`), in reading order, later files winning: settings
   * the VMM overrides read (persistent CDROM drives at deploy) and what the operator's deploy
   * helpers find in their environment. None when the add-on has no rc file.
   */
  readonly rcFiles?: readonly string[];
  /** The TM_MAD_CONF attributes for oned.conf, one line of the block each. */
  readonly tmMadConf: readonly string[];
  /** The DS_MAD_CONF attributes, with the reasons for differing from the add-on (comments). */
  readonly dsMadConf: { readonly lines: readonly string[]; readonly notes: readonly string[] };
}

/**
 * oneblk's backup and restore snapshot names, the same in every profile apart from a prefix
 * (`<volume>-` where the store scopes snapshot names globally): `oneblk-backup-vm<vm>-disk<disk>-inc<inc>`
 * and `oneblk-restore-vm<vm>-disk<disk>`. At most 48 characters without the prefix (LINSTOR's
 * limit) for any VM id, disk id and increment id below 10^10, 10^3 and 10^10.
 */
export const backupNames = {
  snapshot: (prefix: string, vmId: number, diskId: number, inc: number): string =>
    `${prefix}oneblk-backup-vm${vmId}-disk${diskId}-inc${inc}`,
  inc: (prefix: string, vmId: number, diskId: number, name: string): number | null =>
    numbered(`${prefix}oneblk-backup-vm${vmId}-disk${diskId}-inc`)(name),
  undo: (prefix: string, vmId: number, diskId: number): string =>
    `${prefix}oneblk-restore-vm${vmId}-disk${diskId}`,
};

/** `name` → N for names `<prefix>N<suffix>`, else null (snapshot ids from snapshot names). */
export function numbered(prefix: string, suffix = ""): (name: string) => number | null {
  return (name) => {
    if (!name.startsWith(prefix) || !name.endsWith(suffix)) return null;
    const mid = name.slice(prefix.length, name.length - suffix.length);
    return /^\d+$/.test(mid) ? Number(mid) : null;
  };
}

/** Parse a positive integer attribute, or undefined. */
export function intAttr(v: string): number | undefined {
  const n = Number(v.trim());
  return v.trim() && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** A list attribute (blank and/or comma separated), or undefined when empty. */
export function listAttr(v: string): string[] | undefined {
  const l = v.split(/[\s,]+/).filter(Boolean);
  return l.length ? l : undefined;
}

/** A yes attribute (YES, TRUE or 1, any case): true, else undefined. */
export function flagAttr(v: string): true | undefined {
  return /^(yes|true|1)$/i.test(v.trim()) || undefined;
}

/**
 * Volume metadata naming a VM disk as VM_ID, DISK_ID and DS_ID (the keys addon-linstor_un
 * writes; the LINSTOR store keeps them as Aux/one/<key>), and the match for "volumes of
 * datastore `dsId`" over them.
 */
export const vmDiskIds = {
  props: (vmId: number, diskId: number, dsId: number): Record<string, string> => ({
    VM_ID: String(vmId),
    DISK_ID: String(diskId),
    DS_ID: String(dsId),
  }),
  match: (dsId: number): Record<string, string> => ({ DS_ID: String(dsId) }),
};

/**
 * What the scripted oned keeps and records: its image and VM models (the documents it shows in
 * the simulated oned are built from them), the record of every driver program run, and the
 * failure of an oned operation.
 */
import { OneblkError } from "../../../../lib/errors.ts";
import { DRIVERS } from "../../../../lib/addons/index.ts";
import type { ActionStats, ProcessUsage } from "../../cluster.ts";
import type { HistoryInput, IncrementInput, SnapshotInput } from "../builders.ts";

/** A driver profile: one of the runtime's drivers (DRIVERS). */
export type ProfileName = (typeof DRIVERS)[number];

/** Every profile, in the runtime's fixed order. */
export const PROFILES: readonly ProfileName[] = DRIVERS;

/** One driver program run, as the MAD saw it. */
export interface DriverCall {
  /** Sequence number (1-based) within this scripted oned. */
  seq: number;
  /** The oned operation it belongs to ("registerImage", "liveMigrate", …). */
  op: string;
  kind: "datastore" | "tm" | "vmm";
  /** Driver directory (datastore/tm driver name, or "kvm"). */
  dir: string;
  /** File actually run (after the `.sys` fallback). */
  script: string;
  args: string[];
  /** What went to stdin. */
  stdin: "none" | "base64" | "xml";
  code: number;
  ok: boolean;
  /** Wall time of the process, ms. */
  wallMs: number;
  stdout: string;
  stderr: string;
  /** The failure text oned would record ("" on success, "-" when it cannot find any). */
  info: string;
  /** Log-prefixed stderr lines (oned ≥7.0 turns them into LOG messages). */
  logs: string[];
  /** Contract deviations oned would tolerate. */
  complaints: string[];
  /** The action's own stats line (REST/ssh/oned calls), when it could be matched. */
  stats?: ActionStats;
  /** What the process cost, when the cluster meters its driver programs. */
  usage?: ProcessUsage;
  /** Run the same program again with the same arguments, stdin and environment (benchmark). */
  rerun?: () => Promise<DriverCall>;
}

/** A failed oned operation: the driver refused, or the driver program is missing. */
export class OnedFailure extends OneblkError {
  /** The call that failed (absent when nothing could be run). */
  readonly call?: DriverCall;
  /** True when the driver program does not exist (action not implemented). */
  readonly missing: boolean;

  constructor(message: string, opts: { call?: DriverCall; missing?: boolean } = {}) {
    super(opts.missing ? "usage" : "backend", message);
    this.name = "OnedFailure";
    this.call = opts.call;
    this.missing = opts.missing ?? false;
  }
}

/** Image states (`/IMAGE/STATE`). */
export const IMAGE_STATE = {
  INIT: 0,
  READY: 1,
  USED: 2,
  DISABLED: 3,
  LOCKED: 4,
  ERROR: 5,
  CLONE: 6,
  DELETE: 7,
  USED_PERS: 8,
} as const;

/** An image as the scripted oned keeps it. */
export interface ImageModel {
  id: number;
  name: string;
  dsId: number;
  source: string;
  path: string;
  sizeMb: number;
  format: string;
  fs: string;
  /** TYPE number (0 OS, 1 CDROM, 2 DATABLOCK). */
  type: number;
  persistent: boolean;
  state: number;
  cloningId: number;
  targetSnapshot: number;
  snapshots: SnapshotInput[];
  nextSnapshot: number;
  vms: number[];
  template: Record<string, string>;
  /** ERROR text of the last failed operation. */
  error?: string;
  /** BACKUP_INCREMENTS of a backup image (MODE=INCREMENT). */
  increments?: IncrementInput[];
}

/** A VM disk as the scripted oned keeps it. */
export interface VmDiskModel {
  diskId: number;
  /** Image behind the disk; undefined for volatile disks. */
  imageId?: number;
  image?: string;
  source: string;
  /** CLONE=YES. */
  clone: boolean;
  persistent: boolean;
  /** TYPE: BLOCK, CDROM, fs, swap. */
  type: string;
  sizeMb: number;
  originalSize?: number;
  format: string;
  fs: string;
  dsId: number;
  tmMad: string;
  /** The `.sys` suffix ("" for none). */
  tmMadSystem: string;
  target: string;
  readonly: boolean;
  snapshots: SnapshotInput[];
  nextSnapshot: number;
  /** ATTACH=YES: being hot-plugged (disk attach). */
  attach?: boolean;
}

/** A VM snapshot (`onevm snapshot-create`), TEMPLATE/SNAPSHOT. */
export interface VmSnapshotModel {
  id: number;
  name: string;
  /** What the snapshotcreate driver printed. */
  hypervisorId: string;
  time: number;
  /** ACTIVE=YES: the snapshot the current operation is about. */
  active: boolean;
}

/** A volume marked in use by a running VM. */
export interface InUseMark {
  store: "linstor" | "storpool";
  name: string;
  host: string;
}

/** A VM as the scripted oned keeps it. */
export interface VmModel {
  id: number;
  name: string;
  state: number;
  lcmState: number;
  disks: VmDiskModel[];
  contextDiskId: number | null;
  history: HistoryInput[];
  backupConfig: Record<string, string | number>;
  userTemplate: Record<string, string>;
  /** TEMPLATE/MEMORY in MB. */
  memoryMb: number;
  /** TEMPLATE/TPM/MODEL, when the VM has a TPM. */
  tpmModel?: string;
  /** VM (system) snapshots: TEMPLATE/SNAPSHOT. */
  vmSnapshots: VmSnapshotModel[];
  /** Volumes this VM holds open. */
  marks: InUseMark[];
  /** Sequence of transfer files written. */
  transferSeq: number;
  /** DEPLOY_ID: what the deploy printed (the domain UUID on 6.0+, `one-<id>` on 5.12). */
  deployId: string;
  /** The libvirt domain's UUID once deployed (kept across redeploys). */
  uuid?: string;
  /** BACKUPS/BACKUP_IDS. */
  backupIds?: number[];
  /** `<BACKUP_RESULT>` carried by the VM XML (oned after 7.4 adds it for a failed backup). */
  backupResult?: string;
}

/** A disk of instantiate(). */
export type DiskSpec =
  | { image: number; sizeMb?: number; readonly?: boolean }
  | { volatile: "fs" | "swap"; sizeMb: number; format?: string; fs?: string };

/** Options of instantiate(). */
export interface InstantiateOptions {
  host: string;
  disks: DiskSpec[];
  name?: string;
  /** Add a CONTEXT disk (default true). */
  context?: boolean;
  backupConfig?: Record<string, string | number>;
  /** TEMPLATE/MEMORY in MB (default 128). */
  memoryMb?: number;
  /** TEMPLATE/TPM/MODEL (an emulated TPM; none by default). */
  tpmModel?: string;
  /** USER_TEMPLATE attributes (e.g. T_PERSISTENT_CDROM). */
  userTemplate?: Record<string, string>;
}

/** One file produced by a backup. */
export interface BackupFile {
  diskId: number;
  /** Copy of the backup file, owned by the scripted oned (under `<root>/backups/`). */
  path: string;
  /** File name on the host (`disk.0.0`). */
  name: string;
  /** qemu-img format of the file. */
  format: string;
}

/** Result of backup(). */
export interface BackupResult {
  files: BackupFile[];
  /** Directory holding the copies. */
  dir: string;
  /** The backup datastore's id of this backup (its `<BASE_PATH>/<vm>/<id>` directory). */
  backupId: string;
  /** The backup image: new for a full backup, the chain's image for an increment. */
  imageId: number;
  /** Increment id (0 for a full backup). */
  increment: number;
  /** Names of every file the datastore stored for this backup (vm.xml, disk.tpm.0 …). */
  stored: string[];
}

/** Options of ScriptedOned. */
export interface ScriptedOnedOptions {
  profile: ProfileName;
  /** OpenNebula version whose calling convention is played (default: $R/VERSION, else 7.0.0). */
  version?: string;
  /** 6.6.2/6.6.3 with the MAD's `-i`: `- id` + stdin for DS actions. */
  dsDashStdin?: boolean;
  /** Image datastore id (default: the cluster's for the profile). */
  imageDs?: number;
  /** System datastore id (default: the cluster's for the profile). */
  systemDs?: number;
  /** `kvm-<tm>` is in LIVE_DISK_SNAPSHOTS (default true): snapshots of running VMs are live. */
  liveDiskSnapshots?: boolean;
  /** Deadline per driver program (default 120 s). */
  timeoutMs?: number;
  /**
   * Called before every driver program run. A returned result is taken as the program's
   * answer and the program is not started (a failure oned sees without any driver work).
   */
  beforeCall?: (call: PendingCall) => Promise<PendingResult | void> | PendingResult | void;
  /** Called after every driver program run; a returned promise is awaited before oned goes on. */
  onCall?: (call: DriverCall) => Promise<void> | void;
}

/** What a scripted oned keeps between operations (its models and id counters), as JSON. */
export interface ScriptedState {
  images: ImageModel[];
  vms: VmModel[];
  lastImageId: number;
  lastVmId: number;
  complaints: string[];
}

/** A driver program about to run (see ScriptedOnedOptions.beforeCall). */
export interface PendingCall {
  /** Sequence number the call will have. */
  seq: number;
  op: string;
  kind: DriverCall["kind"];
  dir: string;
  script: string;
  args: string[];
}

/** An answer given in place of running a driver program. */
export interface PendingResult {
  code: number;
  stdout: string;
  stderr: string;
}

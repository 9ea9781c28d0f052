/**
 * A scripted oned: plays OpenNebula's core and its Ruby MADs on top of the simulated cloud of
 * lib/sim/cluster.ts. It keeps the simulated oned's VM, image, datastore and host documents in
 * step with what it does, and runs the driver programs through the installed symlinks exactly
 * as oned's MADs run them (contract §0, §1, §4.0, §5, §8):
 *
 *  - datastore actions: `$R/datastore/<DS_MAD>/<action>` with `b64 id` on argv (≤6.6), `- id`
 *    plus stdin (6.6.2 `-i`), or `id` plus base64 on stdin (≥6.8); a system datastore with
 *    SHARED=YES is monitored through `$R/tm/<TM_MAD>/monitor`;
 *  - transfer files (`CLONE[.sys] tm args…`), one line after the other, stopping at the first
 *    failure, resolving `clone.ssh` → `clone` like one_tm.rb;
 *  - VMM steps that are TM scripts (context, pre/post/failmigrate with base64 `<VM>` on stdin,
 *    pre/postbackup[_live] with raw `<VM>` on stdin, snap_create_live, resize);
 *  - VMM local overrides (`-l save=…,restore=…`) with base64 VMM_DRIVER_ACTION_DATA on stdin.
 *    Without an installed override the stock host action is emulated (checkpoint file).
 *
 * Every call runs with the front-end's working directory (`/var/lib/one` of host alpha),
 * the cluster's environment and a deadline. Each answer is judged the way oned judges it:
 * exit code, stdout shape per action (cp: `SOURCE FORMAT`, 5.12 accepts `SOURCE`; mkfs: one
 * line; monitor: USED_MB/TOTAL_MB/FREE_MB; stat: an integer) and the failure text each version
 * extracts from stderr (ERROR MESSAGE block before 6.2, all of stderr until 6.10, non-log
 * lines on 7.x). Deviations that oned would tolerate but that break the contract (several
 * error lines, stray stdout lines) are collected as complaints.
 *
 * A running VM holds its disks open: after deploy / migrate / resume the volumes behind each
 * `DIR/disk.i` link on the VM's host are marked in use in the simulators (LINSTOR
 * setInUse(resource, node), StorPool setInUse(volume, client)); poweroff, stop and terminate
 * unmark them, and live migration moves the marks from the source to the destination host
 * between premigrate and postmigrate (the "virsh migrate").
 */
import { join } from "node:path";
import { OneblkError } from "../errors.ts";
import { parseTransferLine } from "../one/args.ts";
import { parseTemplate } from "../one/template.ts";
import { ERROR_BLOCK_END, ERROR_BLOCK_START, versionAtLeast } from "../one/output.ts";
import { parseDatastore } from "../one/views.ts";
import { child, parseXml, type XmlNode } from "../one/xml.ts";
import { profileFor } from "../addons/index.ts";
import type { Profile } from "../addons/index.ts";
import { VMM_OVERRIDES } from "../addons/index.ts";
import { type ActionStats, type Cluster, CLUSTER_DS, CLUSTER_HOSTS } from "./cluster.ts";
import {
  buildDsActionXml,
  buildImageXml,
  buildVmmActionXml,
  buildVmXml,
  type DiskInput,
  type HistoryInput,
  type SnapshotInput,
} from "./oned_builders.ts";

/** The three driver profiles. */
export type ProfileName = "linstor" | "linstor_un" | "storpool";

/** Every profile, in a fixed order. */
export const PROFILES: readonly ProfileName[] = ["linstor", "linstor_un", "storpool"];

// ---------------------------------------------------------------------------------------------
// calling conventions

/** How one OpenNebula version calls drivers and reads their answers (contract §8). */
export interface Convention {
  /** Version string written to `$R/VERSION`. */
  version: string;
  /** DS actions (and system-DS tm monitor): `b64 id` argv, `- id` + stdin, or `id` + stdin. */
  dsArgs: "argv" | "dash" | "stdin";
  /** IMAGE XML carries FSTYPE instead of FORMAT/FS (≤5.12); mkimage's 2nd arg is the FS. */
  legacyFstype: boolean;
  /** cp must print `SOURCE FORMAT` (≥6.0); 5.x takes the first word. */
  cpFormatRequired: boolean;
  /** Failure text: ERROR MESSAGE block (<6.2), all stderr (6.2–6.10), non-log lines (≥7.0). */
  errorStyle: "block" | "stderr" | "log";
  /** Backups exist (≥6.6). */
  backups: boolean;
  /** pre/postbackup get the backup-job id argument (≥6.8). */
  backupJobArg: boolean;
}

/** The convention of an OpenNebula version (`"5.12.0"`, `"6.6.0"`, `"6.8.0"`, `"7.0.0"` …). */
export function conventionFor(version: string, opts: { dsDashStdin?: boolean } = {}): Convention {
  const at = (min: string) => versionAtLeast(version, min);
  return {
    version,
    dsArgs: at("6.7.80") ? "stdin" : opts.dsDashStdin ? "dash" : "argv",
    legacyFstype: !at("5.13.80"),
    cpFormatRequired: at("5.13.80"),
    errorStyle: !at("6.1.80") ? "block" : !at("6.99.80") ? "stderr" : "log",
    backups: at("6.5.80"),
    backupJobArg: at("6.7.80"),
  };
}

/** The calling conventions the tests play, by short name. */
export const CONVENTIONS: Readonly<Record<string, string>> = {
  "5.12": "5.12.0",
  "6.6": "6.6.0",
  "6.8": "6.8.0",
  "7.x": "7.0.0",
};

// ---------------------------------------------------------------------------------------------
// call records

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

// ---------------------------------------------------------------------------------------------
// models

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
  /** VM (system) snapshots: TEMPLATE/SNAPSHOT. */
  vmSnapshots: VmSnapshotModel[];
  /** Volumes this VM holds open. */
  marks: InUseMark[];
  /** Sequence of transfer files written. */
  transferSeq: number;
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
  /** Called after every driver program run. */
  onCall?: (call: DriverCall) => void;
}

const LIVE_SNAPSHOT_LCM = 57;

function b64(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const LOG_RE = /^(ERROR|INFO|WARN|DEBUG):\s+(\d+)?\s*(.*)$/;

/**
 * The failure text and LOG messages oned derives from a script's stderr (contract §1.7), plus
 * complaints when the text is not one plain line.
 */
export function onedErrorText(
  stderr: string,
  style: Convention["errorStyle"],
): { info: string; logs: string[]; complaints: string[] } {
  const lines = stderr.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const complaints: string[] = [];
  if (style === "block") {
    const start = lines.indexOf(ERROR_BLOCK_START);
    const end = lines.indexOf(ERROR_BLOCK_END, start + 1);
    if (start < 0 || end < 0) {
      complaints.push("no ERROR MESSAGE block on stderr (oned <6.2 shows '-')");
      return { info: "-", logs: [], complaints };
    }
    const inner = lines.slice(start + 1, end);
    if (inner.length !== 1) complaints.push(`error block has ${inner.length} lines, not 1`);
    return { info: inner.join(" ").trim() || "-", logs: [], complaints };
  }
  if (style === "stderr") {
    if (lines.length !== 1) complaints.push(`stderr has ${lines.length} lines, not 1`);
    return { info: lines.join(" ").trim() || "-", logs: [], complaints };
  }
  const logs: string[] = [];
  const plain: string[] = [];
  for (const l of lines) (LOG_RE.test(l) ? logs : plain).push(l);
  if (plain.length !== 1) complaints.push(`stderr has ${plain.length} non-log lines, not 1`);
  return { info: plain.join("").trim() || "-", logs, complaints };
}

/** Parse the three capacity keys of a monitor answer; null when one is missing. */
export function parseMonitor(
  stdout: string,
): { usedMb: number; totalMb: number; freeMb: number } | null {
  let attrs;
  try {
    attrs = parseTemplate(stdout, "monitor output");
  } catch {
    return null;
  }
  const get = (k: string) => {
    const a = attrs.find((x) => x.name === k);
    const n = a?.value === undefined ? NaN : Number(a.value);
    return Number.isFinite(n) ? n : null;
  };
  const usedMb = get("USED_MB");
  const totalMb = get("TOTAL_MB");
  const freeMb = get("FREE_MB");
  if (usedMb === null || totalMb === null || freeMb === null) return null;
  return { usedMb, totalMb, freeMb };
}

function setLeaf(parent: XmlNode, name: string, value: string): void {
  const c = child(parent, name);
  if (c) {
    c.text = value;
    c.children = [];
  } else parent.children.push({ name, attrs: {}, text: value, children: [] });
}

function leafMap(node: XmlNode | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of node?.children ?? []) if (c.children.length === 0) out[c.name] = c.text;
  return out;
}

/**
 * The simulated hosts' libvirt: a `virsh` that keeps domains as files under the host's
 * directory (`var/run/oneblk-sim/domains/<name>`; SimRunner runs commands with the host's
 * directory as cwd and maps absolute path arguments into it). The scripted oned creates a
 * domain on deploy/resume, moves it on live migration and removes it on shutdown. Supported:
 * domstate, save <dom> <file> (writes a checkpoint header, removes the domain), restore
 * <file> (recreates it), and domfsfreeze/domfsthaw/blockresize/suspend/resume (no-ops on an
 * existing domain). Actions find it through ONEBLK_VIRSH.
 */
export const SIM_VIRSH = `#!/bin/sh
# Simulated virsh for oneblk's simulated hosts (written by lib/sim/scripted_oned.ts).
set -u
dir=./var/run/oneblk-sim/domains
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--connect) shift 2 ;;
    -q|--quiet|-r|--readonly) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "error: no command" >&2; exit 1; }
cmd=$1; shift
need() { [ -f "$dir/$1" ] || { echo "error: failed to get domain '$1'" >&2; exit 1; }; }
case "$cmd" in
  domstate)
    need "$1"; echo running; echo ;;
  save)
    need "$1"
    { printf 'ONEBLK-SIM-CHECKPOINT %s\\n' "$1"; cat "$dir/$1"; } |
      dd of="$2" conv=notrunc status=none || exit 1
    rm -f "$dir/$1"
    echo; echo "Domain '$1' saved to $2" ;;
  restore)
    hdr=$(head -c 200 "$1" 2>/dev/null | head -n 1)
    case "$hdr" in
      "ONEBLK-SIM-CHECKPOINT "*) dom=\${hdr#ONEBLK-SIM-CHECKPOINT } ;;
      *) echo "error: Failed to restore domain from $1" >&2; exit 1 ;;
    esac
    [ -f "$dir/$dom" ] && { echo "error: domain '$dom' is already active" >&2; exit 1; }
    mkdir -p "$dir" && echo "$dom restored" > "$dir/$dom"
    echo "Domain restored from $1" ;;
  domfsfreeze|domfsthaw|blockresize|suspend|resume|domblklist)
    need "$1" ;;
  *)
    echo "error: simulated virsh does not know '$cmd'" >&2; exit 1 ;;
esac
`;

// ---------------------------------------------------------------------------------------------
// the scripted oned

/** Plays oned and its MADs against a simulated cluster (see the file header). */
export class ScriptedOned {
  readonly cluster: Cluster;
  readonly profileName: ProfileName;
  readonly profile: Profile;
  readonly convention: Convention;
  readonly imageDs: number;
  readonly systemDs: number;
  /** Front-end host name (oned's HOSTNAME). */
  readonly frontend: string;
  /** Every driver program run, in order. */
  readonly calls: DriverCall[] = [];
  /** Images by id. */
  readonly images = new Map<number, ImageModel>();
  /** VMs by id. */
  readonly vms = new Map<number, VmModel>();
  /** Which store the profile's datastores live on. */
  readonly store: "linstor" | "storpool";
  readonly #opts: ScriptedOnedOptions;
  #seq = 0;
  #inFlight = 0;
  #statsOffset = 0;
  #reqId = 9000;
  #ownsCluster = false;

  constructor(cluster: Cluster, opts: ScriptedOnedOptions) {
    this.cluster = cluster;
    this.#opts = opts;
    this.profileName = opts.profile;
    this.profile = profileFor(opts.profile, cluster.env);
    this.convention = conventionFor(opts.version ?? "7.0.0", { dsDashStdin: opts.dsDashStdin });
    this.imageDs = opts.imageDs ?? CLUSTER_DS[opts.profile].image;
    this.systemDs = opts.systemDs ?? CLUSTER_DS[opts.profile].system;
    this.frontend = cluster.frontend;
    const ds = this.datastore(this.imageDs);
    this.store = this.profile.store(ds.template, ds.id).kind;
  }

  /**
   * Start a cluster and a scripted oned for `profile` playing `version` (written to
   * `$R/VERSION`). close() then stops the cluster too.
   */
  static async start(
    opts: ScriptedOnedOptions & { latencyMs?: number; cluster?: Cluster },
  ): Promise<ScriptedOned> {
    const { startCluster } = await import("./cluster.ts");
    const version = opts.version ?? "7.0.0";
    const cluster = opts.cluster ?? await startCluster({
      latencyMs: opts.latencyMs,
      oneVersion: version,
    });
    const s = new ScriptedOned(cluster, { ...opts, version });
    s.#ownsCluster = !opts.cluster;
    await s.prepare();
    return s;
  }

  /** Write `$R/VERSION` and the front-end's working directory. Call once before use. */
  async prepare(): Promise<void> {
    await Deno.writeTextFile(join(this.cluster.remotes, "VERSION"), `${this.convention.version}\n`);
    await Deno.mkdir(this.feCwd, { recursive: true });
    await Deno.mkdir(join(this.cluster.root, "bin"), { recursive: true });
    await Deno.writeTextFile(this.virsh, SIM_VIRSH, { mode: 0o755 });
    try {
      this.#statsOffset = (await Deno.stat(join(this.cluster.root, "stats.jsonl"))).size;
    } catch {
      this.#statsOffset = 0;
    }
  }

  /** Stop the cluster when this scripted oned started it (see start()). */
  async close(): Promise<void> {
    if (this.#ownsCluster) await this.cluster.stop();
  }

  /** The simulated virsh (ONEBLK_VIRSH of every action run). */
  get virsh(): string {
    return join(this.cluster.root, "bin", "virsh");
  }

  /** Real local path of the libvirt domain `one-<vm>` on `host` (exists while it runs). */
  domainPath(vm: VmModel | number, host: string): string {
    const id = typeof vm === "number" ? vm : vm.id;
    return this.cluster.hostPath(host, `/var/run/oneblk-sim/domains/one-${id}`);
  }

  async #domainUp(vm: VmModel, host: string): Promise<void> {
    const p = this.domainPath(vm, host);
    await Deno.mkdir(join(p, ".."), { recursive: true });
    await Deno.writeTextFile(p, `one-${vm.id} running on ${host}\n`);
  }

  async #domainDown(vm: VmModel, host: string): Promise<void> {
    await Deno.remove(this.domainPath(vm, host)).catch(() => {});
  }

  async #domainExists(vm: VmModel, host: string): Promise<boolean> {
    try {
      await Deno.stat(this.domainPath(vm, host));
      return true;
    } catch {
      return false;
    }
  }

  /** Real local path of oned's working directory (`/var/lib/one` on the front-end). */
  get feCwd(): string {
    return this.cluster.hostPath(this.frontend, "/var/lib/one");
  }

  // ----- what is installed ----------------------------------------------------------------------

  /** True when `$R/<kind>/<dir>/<name>` exists (the driver program oned would run). */
  installed(kind: "datastore" | "tm" | "vmm", dir: string, name: string): boolean {
    try {
      Deno.lstatSync(join(this.cluster.remotes, kind, dir, name));
      return true;
    } catch {
      return false;
    }
  }

  /** The VMM override file for `save`/`restore` of this profile, or null when none exists. */
  vmmOverride(action: "save" | "restore"): string | null {
    const e = Object.entries(VMM_OVERRIDES).find(([, v]) =>
      v.driver === this.profileName && v.action === action
    );
    return e && this.installed("vmm", "kvm", e[0]) ? e[0] : null;
  }

  /**
   * Which of the named actions (`datastore/cp`, `tm/clone`, `vmm/save`) are not installed for
   * this profile. VMM actions count as present only as overrides of this profile.
   */
  missing(actions: string[]): string[] {
    const tm = this.datastore(this.systemDs).tmMad;
    const dsMad = this.datastore(this.imageDs).dsMad;
    return actions.filter((a) => {
      const [kind, name] = a.split("/");
      if (kind === "vmm") return this.vmmOverride(name as "save" | "restore") === null;
      if (kind === "datastore") return !this.installed("datastore", dsMad, name);
      return !this.installed("tm", tm, name);
    });
  }

  // ----- oned objects ---------------------------------------------------------------------------

  /** Datastore view from the simulated oned. */
  datastore(id: number) {
    const xml = this.cluster.oned.state.datastores.get(id);
    if (!xml) throw new OneblkError("not_found", `simulated oned has no datastore ${id}`);
    return parseDatastore(xml);
  }

  /** Host id of a host name. */
  hostId(name: string): number {
    const i = (CLUSTER_HOSTS as readonly string[]).indexOf(name);
    if (i >= 0) return i;
    for (const [id, xml] of this.cluster.oned.state.hosts) {
      if (xml.includes(`<NAME>${name}</NAME>`)) return id;
    }
    throw new OneblkError("not_found", `simulated oned has no host ${name}`);
  }

  /** An image model; OneblkError("not_found") when unknown. */
  image(id: number): ImageModel {
    const i = this.images.get(id);
    if (!i) throw new OneblkError("not_found", `no image ${id}`);
    return i;
  }

  /** A VM model; OneblkError("not_found") when unknown. */
  vm(id: number): VmModel {
    const v = this.vms.get(id);
    if (!v) throw new OneblkError("not_found", `no VM ${id}`);
    return v;
  }

  #nextImageId(): number {
    let id = 0;
    for (const k of this.cluster.oned.state.images.keys()) id = Math.max(id, k + 1);
    for (const k of this.images.keys()) id = Math.max(id, k + 1);
    return id;
  }

  #nextVmId(): number {
    let id = 0;
    for (const k of this.cluster.oned.state.vms.keys()) id = Math.max(id, k + 1);
    for (const k of this.vms.keys()) id = Math.max(id, k + 1);
    return id;
  }

  /** `<IMAGE>` XML of a model (TEMPLATE updates made by drivers are kept). */
  imageXml(img: ImageModel): string {
    const cur = this.cluster.oned.state.get("IMAGE", img.id);
    if (cur) img.template = { ...img.template, ...leafMap(child(cur, "TEMPLATE")) };
    return buildImageXml({
      id: img.id,
      name: img.name,
      source: img.source,
      path: img.path,
      size: img.sizeMb,
      format: img.format,
      fs: img.fs,
      legacyFstype: this.convention.legacyFstype,
      type: img.type,
      diskType: 2,
      persistent: img.persistent,
      state: img.state,
      datastoreId: img.dsId,
      datastore: this.datastore(img.dsId).name,
      cloningId: img.cloningId,
      targetSnapshot: img.targetSnapshot,
      vms: img.vms,
      template: img.error ? { ...img.template, ERROR: img.error } : img.template,
      snapshots: img.snapshots,
    });
  }

  #putImage(img: ImageModel): void {
    this.cluster.oned.state.putImage(this.imageXml(img));
  }

  /** `<VM>` XML of a model (USER_TEMPLATE updates made by drivers are kept). */
  vmXml(vm: VmModel, opts: { historyLimit?: number } = {}): string {
    const cur = this.cluster.oned.state.get("VM", vm.id);
    if (cur) vm.userTemplate = { ...vm.userTemplate, ...leafMap(child(cur, "USER_TEMPLATE")) };
    const history = opts.historyLimit ? vm.history.slice(-opts.historyLimit) : vm.history;
    return buildVmXml({
      id: vm.id,
      name: vm.name,
      state: vm.state,
      lcmState: vm.lcmState,
      deployId: `one-${vm.id}`,
      disks: vm.disks.map((d) => this.#diskInput(d)),
      contextDiskId: vm.contextDiskId ?? undefined,
      history,
      userTemplate: vm.userTemplate,
      snapshots: vm.disks.filter((d) => d.snapshots.length)
        .map((d) => ({ diskId: d.diskId, snapshots: d.snapshots })),
      backupConfig: vm.backupConfig,
      template: {
        CPU: "1",
        MEMORY: String(vm.memoryMb),
        VCPU: "1",
        ...(vm.vmSnapshots.length
          ? {
            SNAPSHOT: vm.vmSnapshots.map((x) => ({
              ...(x.active ? { ACTIVE: "YES" } : {}),
              HYPERVISOR_ID: x.hypervisorId,
              NAME: x.name,
              SNAPSHOT_ID: x.id,
              TIME: x.time,
            })),
          }
          : {}),
        ...(this.#diskSys(vm) ? { TM_MAD_SYSTEM: this.#diskSys(vm) } : {}),
      },
    });
  }

  #diskSys(vm: VmModel): string {
    return vm.disks.find((d) => d.tmMadSystem)?.tmMadSystem ?? "";
  }

  #diskInput(d: VmDiskModel): DiskInput {
    const extra: Record<string, string | number> = { DEV_PREFIX: "vd" };
    if (d.imageId !== undefined) {
      extra.CLONE_TARGET = "SELF";
      extra.LN_TARGET = "NONE";
      extra.IMAGE_STATE = this.images.get(d.imageId)?.state ?? IMAGE_STATE.USED;
    }
    extra.ALLOW_ORPHANS = "YES";
    return {
      diskId: d.diskId,
      imageId: d.imageId,
      image: d.image,
      source: d.imageId === undefined ? undefined : d.source,
      clone: d.imageId === undefined ? undefined : d.clone,
      persistent: d.persistent,
      type: d.type,
      diskType: d.imageId === undefined ? "FILE" : "BLOCK",
      size: d.sizeMb,
      originalSize: d.originalSize,
      datastoreId: d.dsId,
      datastore: this.datastore(d.dsId).name,
      tmMad: d.tmMad,
      tmMadSystem: d.tmMadSystem || undefined,
      format: d.format,
      driver: d.format,
      fs: d.fs || undefined,
      target: d.target,
      readonly: d.readonly,
      extra,
    };
  }

  #putVm(vm: VmModel): void {
    this.cluster.oned.state.putVm(this.vmXml(vm));
  }

  #setVmState(vm: VmModel, state: number, lcm: number): void {
    vm.state = state;
    vm.lcmState = lcm;
    this.#putVm(vm);
  }

  /** Update capacity (and the image list) of a datastore in the simulated oned. */
  #putDsCapacity(dsId: number, c: { usedMb: number; totalMb: number; freeMb: number }): void {
    this.cluster.oned.state.edit("DATASTORE", dsId, (n) => {
      setLeaf(n, "TOTAL_MB", String(Math.round(c.totalMb)));
      setLeaf(n, "FREE_MB", String(Math.round(c.freeMb)));
      setLeaf(n, "USED_MB", String(Math.round(c.usedMb)));
    });
  }

  #putDsImages(dsId: number): void {
    const ids = [...this.images.values()].filter((i) => i.dsId === dsId).map((i) => i.id);
    this.cluster.oned.state.edit("DATASTORE", dsId, (n) => {
      const list = child(n, "IMAGES");
      const node: XmlNode = {
        name: "IMAGES",
        attrs: {},
        text: "",
        children: ids.map((i) => ({ name: "ID", attrs: {}, text: String(i), children: [] })),
      };
      if (list) Object.assign(list, node);
      else n.children.push(node);
    });
  }

  #putHostVms(): void {
    const byHost = new Map<string, number[]>();
    for (const vm of this.vms.values()) {
      const h = vm.history.at(-1)?.hostname;
      if (h && vm.state !== 6 && vm.state !== 4) byHost.set(h, [...(byHost.get(h) ?? []), vm.id]);
    }
    for (const [id, xml] of this.cluster.oned.state.hosts) {
      const name = /<NAME>([^<]*)<\/NAME>/.exec(xml)?.[1] ?? "";
      const ids = byHost.get(name) ?? [];
      this.cluster.oned.state.edit("HOST", id, (n) => {
        const node: XmlNode = {
          name: "VMS",
          attrs: {},
          text: "",
          children: ids.map((i) => ({ name: "ID", attrs: {}, text: String(i), children: [] })),
        };
        const list = child(n, "VMS");
        if (list) Object.assign(list, node);
        else n.children.push(node);
      });
    }
  }

  // ----- running driver programs ----------------------------------------------------------------

  async #exec(
    op: string,
    kind: DriverCall["kind"],
    dir: string,
    script: string,
    args: string[],
    stdin: { text: string; mode: DriverCall["stdin"] } | undefined,
  ): Promise<DriverCall> {
    const path = join(this.cluster.remotes, kind, dir, script);
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.#opts.timeoutMs ?? 120_000);
    const t0 = performance.now();
    this.#inFlight++;
    let out: Deno.CommandOutput;
    try {
      const child = new Deno.Command(path, {
        args,
        cwd: this.feCwd,
        env: { ...this.cluster.env, ONEBLK_VIRSH: this.virsh },
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        signal: ac.signal,
      }).spawn();
      const w = child.stdin.getWriter();
      if (stdin) await w.write(new TextEncoder().encode(stdin.text)).catch(() => {});
      await w.close().catch(() => {});
      out = await child.output();
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
    }
    const wallMs = Math.round((performance.now() - t0) * 10) / 10;
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout);
    let stderr = dec.decode(out.stderr);
    if (ac.signal.aborted) stderr += `\nTimeout executing ${path}`;
    const ok = out.code === 0 && !ac.signal.aborted;
    const judged = onedErrorText(stderr, this.convention.errorStyle);
    const call: DriverCall = {
      seq: ++this.#seq,
      op,
      kind,
      dir,
      script,
      args,
      stdin: stdin?.mode ?? "none",
      code: out.code,
      ok,
      wallMs,
      stdout,
      stderr,
      info: ok ? "" : judged.info,
      logs: judged.logs,
      complaints: ok ? [] : judged.complaints,
    };
    if (ok && this.convention.errorStyle === "log") {
      const plain = stderr.split("\n").filter((l) => l.trim() && !LOG_RE.test(l));
      if (plain.length) call.complaints.push(`successful run wrote non-log stderr: ${plain[0]}`);
    }
    call.stats = await this.#takeStats(call);
    this.calls.push(call);
    this.#opts.onCall?.(call);
    return call;
  }

  /** Attach the action's stats line (sequential runs only; concurrent runs share the file). */
  async #takeStats(call: DriverCall): Promise<ActionStats | undefined> {
    const file = join(this.cluster.root, "stats.jsonl");
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch {
      return undefined;
    }
    const fresh = new TextDecoder().decode(bytes.subarray(this.#statsOffset));
    this.#statsOffset = bytes.length;
    // With other programs still running the new lines cannot be told apart.
    if (this.#inFlight > 0) return undefined;
    const lines = fresh.split("\n").filter(Boolean);
    if (lines.length !== 1) return undefined;
    try {
      const s = JSON.parse(lines[0]) as ActionStats;
      return s.kind === call.kind ? s : undefined;
    } catch {
      return undefined;
    }
  }

  #fail(op: string, what: string, call: DriverCall): never {
    // The runner prefixes its errors with `kind/driver/action:` already.
    const info = call.info.startsWith(`${what}:`) ? call.info : `${what}: ${call.info}`;
    throw new OnedFailure(`${op}: ${info}`, { call });
  }

  /** Run a datastore action (or a system datastore's tm monitor) as one_datastore.rb does. */
  async dsAction(
    op: string,
    action: string,
    dsId: number,
    payloadXml: string,
    id: number | string,
  ): Promise<DriverCall> {
    const ds = this.datastore(dsId);
    const sysMonitor = ds.isSystem && action === "monitor";
    const kind = sysMonitor ? "tm" : "datastore";
    const dir = sysMonitor ? ds.tmMad : ds.dsMad;
    if (!this.installed(kind, dir, action)) {
      throw new OnedFailure(
        `${op}: ${kind}/${dir}/${action} is not installed (action not implemented)`,
        { missing: true },
      );
    }
    const payload = b64(payloadXml);
    const style = this.convention.dsArgs;
    const args = style === "argv" ? [payload, String(id)] : style === "dash" ? ["-", String(id)] : [
      String(id),
    ];
    const stdin = style === "argv" ? undefined : { text: payload, mode: "base64" as const };
    const call = await this.#exec(op, kind, dir, action, args, stdin);
    if (call.ok && !["monitor", "export"].includes(action)) {
      const lines = call.stdout.split("\n").filter((l) => l !== "");
      if (lines.length > 1) {
        call.complaints.push(`stdout has ${lines.length} lines; oned reads only one`);
      }
    }
    return call;
  }

  /** Resolve `cmd` of a transfer line to the script one_tm.rb runs (`clone.ssh` → `clone`). */
  resolveTm(tm: string, script: string): string | null {
    if (this.installed("tm", tm, script)) return script;
    const dot = script.indexOf(".");
    if (dot > 0 && this.installed("tm", tm, script.slice(0, dot))) return script.slice(0, dot);
    return null;
  }

  /** Run one TM command line (a transfer-file line or a VMM TM step). */
  async tmLine(
    op: string,
    line: string,
    stdin?: { text: string; mode: DriverCall["stdin"] },
  ): Promise<DriverCall> {
    const l = parseTransferLine(line);
    if (!l) throw new OneblkError("internal", `empty TM command in ${op}`);
    const script = this.resolveTm(l.tm, l.script);
    if (!script) {
      const base = join(this.cluster.remotes, "tm", l.tm);
      const tried = l.sysTm
        ? `Driver path '${base}/${l.script}' nor '${base}/${l.action}' exists`
        : `Driver path '${base}/${l.script}' does not exist`;
      throw new OnedFailure(`${op}: ${tried} (action not implemented)`, { missing: true });
    }
    return await this.#exec(op, "tm", l.tm, script, l.args, stdin);
  }

  /**
   * Run a transfer file: write it where oned writes it, then run its lines in order,
   * stopping at the first failure (OnedFailure).
   */
  async transfer(op: string, vm: VmModel, suffix: string, lines: string[]): Promise<DriverCall[]> {
    const dir = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, `transfer.${vm.transferSeq++}.${suffix}`),
      lines.join("\n") + "\n",
    );
    const out: DriverCall[] = [];
    for (const line of lines) {
      const call = await this.tmLine(op, line);
      out.push(call);
      if (!call.ok) this.#fail(op, `${call.script} ${call.args.join(" ")}`, call);
    }
    return out;
  }

  /** Run a VMM local override (`-l action=script`) with base64 driver message on stdin. */
  async vmmLocal(op: string, script: string, args: string[], dataXml: string): Promise<DriverCall> {
    const call = await this.#exec(op, "vmm", "kvm", script, args, {
      text: b64(dataXml),
      mode: "base64",
    });
    if (!call.ok) this.#fail(op, `vmm/kvm/${script}`, call);
    return call;
  }

  // ----- paths and data ---------------------------------------------------------------------------

  /** The VM directory as oned writes it (`/var/lib/one//datastores/<sys>/<vm>`). */
  vmDir(vm: VmModel | number): string {
    const v = typeof vm === "number" ? this.vm(vm) : vm;
    const ds = v.history.at(-1)?.dsId ?? this.systemDs;
    return `/var/lib/one//datastores/${ds}/${v.id}`;
  }

  /** The host a VM currently runs on (last HISTORY record). */
  hostOf(vm: VmModel | number): string {
    const v = typeof vm === "number" ? this.vm(vm) : vm;
    const h = v.history.at(-1)?.hostname;
    if (!h) throw new OneblkError("input", `VM ${v.id} was never deployed`);
    return h;
  }

  /** Real local path of `DIR/disk.<diskId>` of a VM on `host` (default: its current host). */
  diskPath(vmId: number, diskId: number, host?: string): string {
    const vm = this.vm(vmId);
    return this.cluster.hostPath(host ?? this.hostOf(vm), `${this.vmDir(vm)}/disk.${diskId}`);
  }

  /** The simulator data file of a store volume (for checks), or undefined. */
  volumeFile(volume: string): string | undefined {
    if (this.store === "linstor") {
      const rd = this.cluster.linstor.controller.rd(volume);
      return rd ? this.cluster.linstor.dataPath(rd.name, 0) : undefined;
    }
    return this.cluster.storpool.dataPath(volume);
  }

  /** The store volume behind an image's SOURCE. */
  imageVolume(imageId: number): string {
    return this.profile.sourceVolume(this.image(imageId).source);
  }

  /** Which store volume a `disk.i` link on `host` points at, or null. */
  async linkedVolume(host: string, path: string): Promise<InUseMark | null> {
    let target: string;
    try {
      target = await Deno.readLink(this.cluster.hostPath(host, path));
    } catch {
      return null;
    }
    const ls = /\/dev\/drbd\/by-res\/([^/]+)\/\d+$/.exec(target);
    if (ls) return { store: "linstor", name: ls[1], host };
    const sp = /\/dev\/storpool\/([^/]+)$/.exec(target);
    if (sp) return { store: "storpool", name: sp[1], host };
    return null;
  }

  async #marksOn(vm: VmModel, host: string): Promise<InUseMark[]> {
    const ids = vm.disks.map((d) => d.diskId);
    if (vm.contextDiskId !== null) ids.push(vm.contextDiskId);
    const out: InUseMark[] = [];
    for (const id of ids) {
      const m = await this.linkedVolume(host, `${this.vmDir(vm)}/disk.${id}`);
      if (m) out.push(m);
    }
    return out;
  }

  #setMark(m: InUseMark, inUse: boolean): string | null {
    try {
      if (m.store === "linstor") {
        return this.cluster.linstor.setInUse(m.name, m.host, inUse)
          ? null
          : `LINSTOR has no resource ${m.name} on ${m.host}`;
      }
      this.cluster.storpool.setInUse(m.name, m.host, inUse);
      return null;
    } catch (e) {
      return `StorPool: ${(e as Error).message}`;
    }
  }

  /** Open the VM's disks on `host` (the domain starts); complaints for links to nothing. */
  async #open(vm: VmModel, host: string, op: string): Promise<void> {
    const marks = await this.#marksOn(vm, host);
    for (const m of marks) {
      const err = this.#setMark(m, true);
      if (err) this.#complain(op, `disk link to ${m.name} on ${host}, but ${err}`);
      else vm.marks.push(m);
    }
  }

  /** Close every disk the VM holds open (the domain stops). */
  #close(vm: VmModel): void {
    for (const m of vm.marks) this.#setMark(m, false);
    vm.marks = [];
  }

  /** Complaints not tied to one driver call (e.g. links to unattached devices). */
  readonly complaints: string[] = [];

  #complain(op: string, text: string): void {
    this.complaints.push(`${op}: ${text}`);
  }

  /** Every complaint: per call and global. */
  allComplaints(): string[] {
    return [
      ...this.calls.flatMap((c) =>
        c.complaints.map((t) => `${c.op}: ${c.kind}/${c.dir}/${c.script}: ${t}`)
      ),
      ...this.complaints,
    ];
  }

  // ----- images -----------------------------------------------------------------------------------

  /** DS payload for an image action. */
  #dsPayload(img: ImageModel, extra?: Record<string, string | number>): string {
    return buildDsActionXml({
      image: this.imageXml(img),
      datastore: this.cluster.oned.state.datastores.get(img.dsId)!,
      extra,
    });
  }

  #newImage(p: Partial<ImageModel> & { name: string; dsId: number }): ImageModel {
    return {
      id: this.#nextImageId(),
      source: "",
      path: "",
      sizeMb: 0,
      format: "raw",
      fs: "",
      type: 0,
      persistent: false,
      state: IMAGE_STATE.LOCKED,
      cloningId: -1,
      targetSnapshot: -1,
      snapshots: [],
      nextSnapshot: 0,
      vms: [],
      template: {},
      ...p,
    };
  }

  #imageError(img: ImageModel, text: string): void {
    img.state = IMAGE_STATE.ERROR;
    img.error = text;
    this.#putImage(img);
  }

  /**
   * `oneimage create` with PATH: DS stat (synchronous, request id), then cp. Sets SOURCE,
   * FORMAT and SIZE; the image ends READY (or ERROR, and OnedFailure is thrown).
   */
  async registerImage(
    opts: { name: string; path: string; persistent?: boolean; type?: number; dsId?: number },
  ): Promise<ImageModel> {
    const op = "registerImage";
    const dsId = opts.dsId ?? this.imageDs;
    const statXml = buildDsActionXml({
      image: `<IMAGE><PATH>${escapeText(opts.path)}</PATH><SIZE>0</SIZE></IMAGE>`,
      datastore: this.cluster.oned.state.datastores.get(dsId)!,
    });
    const stat = await this.dsAction(op, "stat", dsId, statXml, this.#reqId++);
    if (!stat.ok) this.#fail(op, "Cannot parse image SIZE", stat);
    const size = stat.stdout.trim();
    if (!/^\d+$/.test(size)) {
      throw new OnedFailure(`${op}: Cannot parse image SIZE: ${JSON.stringify(size)}`, {
        call: stat,
      });
    }
    const img = this.#newImage({
      name: opts.name,
      dsId,
      path: opts.path,
      sizeMb: Number(size),
      format: "",
      type: opts.type ?? 0,
      persistent: opts.persistent ?? false,
    });
    this.images.set(img.id, img);
    this.#putImage(img);
    this.#putDsImages(dsId);
    const cp = await this.dsAction(op, "cp", dsId, this.#dsPayload(img), img.id);
    if (!cp.ok) {
      this.#imageError(img, `Error copying image in the datastore: ${cp.info}`);
      this.#fail(op, "Error copying image in the datastore", cp);
    }
    const words = cp.stdout.split("\n")[0]?.trim().split(/\s+/).filter(Boolean) ?? [];
    if (words.length === 0) {
      this.#imageError(img, "CP operation succeeded but image SOURCE was not returned");
      throw new OnedFailure(`${op}: cp printed no SOURCE`, { call: cp });
    }
    if (words.length < 2 && this.convention.cpFormatRequired) {
      this.#imageError(img, "CP operation succeeded but image FORMAT was not returned.");
      throw new OnedFailure(`${op}: CP operation succeeded but image FORMAT was not returned.`, {
        call: cp,
      });
    }
    if (words.length > 2) cp.complaints.push(`cp printed ${words.length} words`);
    img.source = words[0];
    img.format = words[1] ?? "raw";
    img.state = IMAGE_STATE.READY;
    this.#putImage(img);
    await this.#monitorAfter(op, dsId);
    return img;
  }

  /** `oneimage create` without PATH: an empty DATABLOCK of `sizeMb` (DS mkfs). */
  async createDatablock(
    opts: {
      name: string;
      sizeMb: number;
      persistent?: boolean;
      format?: string;
      fs?: string;
      dsId?: number;
    },
  ): Promise<ImageModel> {
    const op = "createDatablock";
    const dsId = opts.dsId ?? this.imageDs;
    const img = this.#newImage({
      name: opts.name,
      dsId,
      sizeMb: opts.sizeMb,
      format: opts.format ?? "raw",
      fs: opts.fs ?? "",
      type: 2,
      persistent: opts.persistent ?? false,
    });
    this.images.set(img.id, img);
    this.#putImage(img);
    this.#putDsImages(dsId);
    const source = await this.#mkfs(op, img);
    img.source = source;
    img.state = IMAGE_STATE.READY;
    this.#putImage(img);
    await this.#monitorAfter(op, dsId);
    return img;
  }

  async #mkfs(op: string, img: ImageModel): Promise<string> {
    const call = await this.dsAction(op, "mkfs", img.dsId, this.#dsPayload(img), img.id);
    if (!call.ok) {
      this.#imageError(img, `Error creating datablock: ${call.info}`);
      this.#fail(op, "Error creating datablock", call);
    }
    const lines = call.stdout.split("\n").filter((l) => l.trim() !== "");
    if (lines.length !== 1) {
      this.#imageError(img, "MKFS printed no single SOURCE line");
      throw new OnedFailure(`${op}: mkfs printed ${lines.length} lines, not one SOURCE`, { call });
    }
    const source = lines[0].trim();
    if (/\s/.test(source)) call.complaints.push(`mkfs SOURCE contains blanks: ${source}`);
    return source;
  }

  /** `oneimage clone`: DS clone into a new image of the same datastore. */
  async cloneImage(srcId: number, name: string): Promise<ImageModel> {
    const op = "cloneImage";
    const src = this.image(srcId);
    const img = this.#newImage({
      name,
      dsId: src.dsId,
      path: src.source,
      sizeMb: src.sizeMb,
      format: src.format,
      fs: src.fs,
      type: src.type,
      cloningId: src.id,
    });
    this.images.set(img.id, img);
    this.#putImage(img);
    this.#putDsImages(img.dsId);
    const prev = src.state;
    src.state = IMAGE_STATE.CLONE;
    this.#putImage(src);
    const srcDs = this.datastore(src.dsId);
    let call: DriverCall;
    try {
      call = await this.dsAction(
        op,
        "clone",
        img.dsId,
        this.#dsPayload(img, { SOURCE_BRIDGE_LIST: srcDs.template.get("BRIDGE_LIST") }),
        img.id,
      );
    } finally {
      src.state = prev;
      this.#putImage(src);
    }
    if (!call.ok) {
      this.#imageError(img, `Error cloning image: ${call.info}`);
      this.#fail(op, "Error cloning image", call);
    }
    const words = call.stdout.split("\n")[0]?.trim().split(/\s+/).filter(Boolean) ?? [];
    if (!words.length) throw new OnedFailure(`${op}: clone printed no SOURCE`, { call });
    img.source = words[0];
    if (words[1]) img.format = words[1];
    img.state = IMAGE_STATE.READY;
    this.#putImage(img);
    await this.#monitorAfter(op, img.dsId);
    return img;
  }

  /** `oneimage delete`: DS rm; the image leaves oned on success. */
  async deleteImage(id: number): Promise<void> {
    const op = "deleteImage";
    const img = this.image(id);
    if (img.vms.length) throw new OneblkError("in_use", `image ${id} is used by VMs ${img.vms}`);
    img.state = IMAGE_STATE.DELETE;
    this.#putImage(img);
    const call = await this.dsAction(op, "rm", img.dsId, this.#dsPayload(img), img.id);
    if (!call.ok) {
      this.#imageError(img, `Error removing image from datastore: ${call.info}`);
      this.#fail(op, "Error removing image from datastore", call);
    }
    this.images.delete(id);
    this.cluster.oned.state.remove("IMAGE", id);
    this.#putDsImages(img.dsId);
    await this.#monitorAfter(op, img.dsId);
  }

  /**
   * Image snapshot operations (image not in use): DS snap_revert (the snapshot becomes
   * ACTIVE), snap_delete (it goes away; not the ACTIVE one), snap_flatten (the image becomes
   * the snapshot, every snapshot goes away). IMAGE/TARGET_SNAPSHOT names the snapshot.
   */
  async imageSnapshot(
    action: "snap_revert" | "snap_delete" | "snap_flatten",
    imageId: number,
    snapId: number,
  ): Promise<void> {
    const op = `image ${action}`;
    const img = this.image(imageId);
    if (img.vms.length) throw new OneblkError("in_use", `image ${imageId} is in use`);
    const snap = img.snapshots.find((x) => x.id === snapId);
    if (!snap) throw new OneblkError("input", `image ${imageId} has no snapshot ${snapId}`);
    if (action === "snap_delete" && snap.active) {
      throw new OnedFailure(`${op}: Cannot delete the active snapshot`);
    }
    const prev = img.state;
    img.targetSnapshot = snapId;
    img.state = IMAGE_STATE.LOCKED;
    this.#putImage(img);
    let call: DriverCall;
    try {
      call = await this.dsAction(op, action, img.dsId, this.#dsPayload(img), img.id);
    } finally {
      img.targetSnapshot = -1;
      img.state = prev;
    }
    if (!call.ok) {
      this.#putImage(img);
      this.#fail(op, `Error on image snapshot ${snapId}`, call);
    }
    if (action === "snap_revert") { for (const x of img.snapshots) x.active = x.id === snapId; }
    else if (action === "snap_delete") img.snapshots = img.snapshots.filter((x) => x.id !== snapId);
    else img.snapshots = [];
    this.#putImage(img);
  }

  /**
   * Marketplace export (one_market.rb): DS export with `app_id`; returns the parsed
   * IMPORT_INFO (IMPORT_SOURCE, MD5, SIZE, FORMAT, DISPOSE, DISPOSE_CMD).
   */
  async exportImage(imageId: number, appId: number): Promise<Record<string, string>> {
    const op = "exportImage";
    const img = this.image(imageId);
    const call = await this.dsAction(op, "export", img.dsId, this.#dsPayload(img), appId);
    if (!call.ok) this.#fail(op, "Error exporting image", call);
    let node: XmlNode;
    try {
      node = parseXml(call.stdout, "export output");
    } catch (e) {
      throw new OnedFailure(`${op}: export printed no IMPORT_INFO: ${(e as Error).message}`, {
        call,
      });
    }
    if (node.name !== "IMPORT_INFO") {
      throw new OnedFailure(`${op}: export printed <${node.name}>, not <IMPORT_INFO>`, { call });
    }
    return leafMap(node);
  }

  /**
   * Monitor a datastore (image DS: datastore/<DS_MAD>/monitor; shared system DS:
   * tm/<TM_MAD>/monitor with DATASTORE_LOCATION and MONITOR_VM_DISKS). Updates its capacity.
   */
  async monitorDatastore(
    dsId: number,
    opts: { vmDisks?: boolean } = {},
  ): Promise<{ usedMb: number; totalMb: number; freeMb: number }> {
    const op = "monitorDatastore";
    const ds = this.datastore(dsId);
    const extra = ds.isSystem
      ? { DATASTORE_LOCATION: "/var/lib/one//datastores", MONITOR_VM_DISKS: opts.vmDisks ? 1 : 0 }
      : undefined;
    const xml = buildDsActionXml({
      datastore: this.cluster.oned.state.datastores.get(dsId)!,
      extra,
    });
    const call = await this.dsAction(op, "monitor", dsId, xml, dsId);
    if (!call.ok) this.#fail(op, `Error monitoring datastore ${dsId}`, call);
    const cap = parseMonitor(call.stdout);
    if (!cap) {
      throw new OnedFailure(`${op}: monitor output lacks USED_MB/TOTAL_MB/FREE_MB`, { call });
    }
    this.#putDsCapacity(dsId, cap);
    return cap;
  }

  /** oned re-monitors a datastore after cp/clone/mkfs/rm; a missing monitor is skipped. */
  async #monitorAfter(op: string, dsId: number): Promise<void> {
    const ds = this.datastore(dsId);
    if (!this.installed("datastore", ds.dsMad, "monitor")) return;
    try {
      await this.monitorDatastore(dsId);
    } catch (e) {
      this.#complain(op, `monitor after ${op} failed: ${(e as Error).message}`);
    }
  }

  // ----- VMs --------------------------------------------------------------------------------------

  #diskTm(imageDsId: number): { tm: string; sys: string } {
    const ids = this.datastore(imageDsId);
    const sys = this.datastore(this.systemDs);
    if (ids.tmMad === sys.tmMad) return { tm: ids.tmMad, sys: "" };
    const allowed = ids.template.get("TM_MAD_SYSTEM").split(/[\s,]+/).filter(Boolean);
    if (!allowed.includes(sys.tmMad)) {
      throw new OneblkError(
        "config",
        `Image Datastore does not support transfer mode: ${sys.tmMad}`,
      );
    }
    return { tm: ids.tmMad, sys: sys.tmMad };
  }

  /** `fe:SOURCE`/`host:DIR/disk.i` style argument. */
  #hp(host: string, path: string): string {
    return `${host}:${path}`;
  }

  #cmd(op: string, d: VmDiskModel, sysOverride?: string): string {
    const sys = sysOverride ?? d.tmMadSystem;
    return sys ? `${op}.${sys}` : op;
  }

  /**
   * `onetemplate instantiate` + deploy: TRANSFER prolog (CLONE/LN per image disk, MKIMAGE/
   * MKSWAP per volatile disk), then VMM DEPLOY whose first step is TM CONTEXT; the domain then
   * opens its disks on the host.
   */
  async instantiate(opts: InstantiateOptions): Promise<VmModel> {
    const op = "instantiate";
    const id = this.#nextVmId();
    const sys = this.datastore(this.systemDs);
    const disks: VmDiskModel[] = opts.disks.map((spec, i) => {
      const target = `vd${String.fromCharCode(97 + i)}`;
      if ("image" in spec) {
        const img = this.image(spec.image);
        const { tm, sys: tmSys } = this.#diskTm(img.dsId);
        const cdrom = img.type === 1;
        return {
          diskId: i,
          imageId: img.id,
          image: img.name,
          source: img.source,
          clone: !img.persistent && !cdrom,
          persistent: img.persistent,
          type: cdrom ? "CDROM" : "BLOCK",
          sizeMb: spec.sizeMb ?? img.sizeMb,
          originalSize: img.sizeMb,
          format: img.format || "raw",
          fs: "",
          dsId: img.dsId,
          tmMad: tm,
          tmMadSystem: tmSys,
          target,
          readonly: spec.readonly ?? cdrom,
          snapshots: [],
          nextSnapshot: 0,
        };
      }
      return {
        diskId: i,
        source: "",
        clone: false,
        persistent: false,
        type: spec.volatile,
        sizeMb: spec.sizeMb,
        format: spec.format ?? "raw",
        fs: spec.volatile === "fs" ? (spec.fs ?? "") : "",
        dsId: this.systemDs,
        tmMad: sys.tmMad,
        tmMadSystem: "",
        target,
        readonly: false,
        snapshots: [],
        nextSnapshot: 0,
      };
    });
    const vm: VmModel = {
      id,
      name: opts.name ?? `vm-${id}`,
      state: 3,
      lcmState: 1,
      disks,
      contextDiskId: opts.context === false ? null : disks.length,
      history: [{
        hostname: opts.host,
        hid: this.hostId(opts.host),
        dsId: this.systemDs,
        tmMad: sys.tmMad,
      }],
      backupConfig: {
        BACKUP_VOLATILE: "NO",
        FS_FREEZE: "NONE",
        INCREMENTAL_BACKUP_ID: -1,
        KEEP_LAST: 3,
        LAST_INCREMENT_ID: -1,
        MODE: "FULL",
        ...(opts.backupConfig ?? {}),
      },
      userTemplate: {},
      memoryMb: opts.memoryMb ?? 128,
      vmSnapshots: [],
      marks: [],
      transferSeq: 0,
    };
    this.vms.set(id, vm);
    for (const d of disks) {
      if (d.imageId === undefined) continue;
      const img = this.image(d.imageId);
      img.vms.push(id);
      img.state = img.persistent ? IMAGE_STATE.USED_PERS : IMAGE_STATE.USED;
      this.#putImage(img);
    }
    this.#putVm(vm);
    this.#putHostVms();
    const dir = this.vmDir(vm);
    const lines = disks.map((d) => {
      const dst = this.#hp(opts.host, `${dir}/disk.${d.diskId}`);
      if (d.imageId !== undefined) {
        const verb = d.clone ? "CLONE" : "LN";
        return `${this.#cmd(verb, d)} ${d.tmMad} ${
          this.#hp(this.frontend, d.source)
        } ${dst} ${id} ${d.dsId}`;
      }
      if (d.type === "swap") return `MKSWAP ${d.tmMad} ${d.sizeMb} ${dst} ${id} ${d.dsId}`;
      const second = this.convention.legacyFstype ? (d.fs || "raw") : d.format;
      return `MKIMAGE ${d.tmMad} ${d.sizeMb} ${second} ${dst} ${id} ${d.dsId}`;
    });
    try {
      await this.transfer(op, vm, "prolog", lines);
    } catch (e) {
      this.#setVmState(vm, 3, 39);
      throw e;
    }
    await this.#deploy(op, vm, 2);
    return vm;
  }

  /** VMM DEPLOY: TM CONTEXT first, then the domain starts (disks open). */
  async #deploy(op: string, vm: VmModel, bootLcm: number): Promise<void> {
    this.#setVmState(vm, 3, bootLcm);
    await this.#context(op, vm);
    await this.#domainUp(vm, this.hostOf(vm));
    await this.#open(vm, this.hostOf(vm), op);
    this.#setVmState(vm, 3, 3);
  }

  /** The CONTEXT line oned puts in TM_COMMAND (deploy, restore). */
  #contextLine(vm: VmModel): string | null {
    if (vm.contextDiskId === null) return null;
    const host = this.hostOf(vm);
    const sys = this.datastore(this.systemDs);
    // oned names /var/lib/one/vms/<id>/context.sh, a front-end-local file. In the simulation
    // the front-end's files live under hosts/<frontend>/, so the line names that real path
    // (paths inside the simulation root are valid on every simulated host).
    const ctx = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}/context.sh`);
    return `CONTEXT ${sys.tmMad} ${ctx} ` +
      `${this.#hp(host, `${this.vmDir(vm)}/disk.${vm.contextDiskId}`)} ${vm.id} ${this.systemDs}`;
  }

  async #context(op: string, vm: VmModel): Promise<void> {
    const line = this.#contextLine(vm);
    if (!line) return;
    const dir = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "context.sh"),
      `# Context variables generated by OpenNebula\nDISK_ID='${vm.contextDiskId}'\n` +
        `ETH0_IP='10.0.1.${vm.id % 250}'\nNETWORK='YES'\nTARGET='hda'\nVMID='${vm.id}'\n`,
    );
    const call = await this.tmLine(op, line);
    if (!call.ok) this.#fail(op, "CONTEXT", call);
  }

  #migrateArgs(vm: VmModel, src: string, dst: string): string[] {
    return [src, dst, this.vmDir(vm), String(vm.id), String(this.systemDs)];
  }

  /**
   * `onevm migrate --live`: TM premigrate (system TM, base64 `<VM>` on stdin), the virsh
   * migrate (in-use marks move from the source to the destination host), TM postmigrate.
   * With `failVirsh`, the virsh step fails: TM failmigrate runs and the VM stays on the source.
   */
  async liveMigrate(vmId: number, dst: string, opts: { failVirsh?: boolean } = {}): Promise<void> {
    const op = opts.failVirsh ? "liveMigrate(fail)" : "liveMigrate";
    const vm = this.vm(vmId);
    if (vm.state !== 3 || vm.lcmState !== 3) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING`);
    }
    const src = this.hostOf(vm);
    const sys = this.datastore(this.systemDs);
    vm.history.push({
      hostname: dst,
      hid: this.hostId(dst),
      dsId: this.systemDs,
      tmMad: sys.tmMad,
    });
    this.#setVmState(vm, 3, 4);
    const stdin = () => ({
      text: b64(this.vmXml(vm, { historyLimit: 2 })),
      mode: "base64" as const,
    });
    const args = this.#migrateArgs(vm, src, dst).join(" ");
    const back = () => {
      vm.history.pop();
      this.#setVmState(vm, 3, 3);
      this.#putHostVms();
    };
    let pre: DriverCall;
    try {
      pre = await this.tmLine(op, `PREMIGRATE ${sys.tmMad} ${args}`, stdin());
    } catch (e) {
      back();
      throw e;
    }
    if (!pre.ok) {
      back();
      this.#fail(op, "PREMIGRATE", pre);
    }
    if (opts.failVirsh) {
      const fail = await this.tmLine(op, `FAILMIGRATE ${sys.tmMad} ${args}`, stdin());
      back();
      if (!fail.ok) fail.complaints.push("failmigrate failed");
      throw new OnedFailure(`${op}: virsh migrate failed (simulated); failmigrate ran`, {
        call: fail,
      });
    }
    // The "virsh migrate": the domain now holds its disks on dst instead of src.
    this.#close(vm);
    await this.#domainDown(vm, src);
    await this.#domainUp(vm, dst);
    await this.#open(vm, dst, op);
    const post = await this.tmLine(op, `POSTMIGRATE ${sys.tmMad} ${args}`, stdin());
    if (!post.ok) post.complaints.push("postmigrate failed (no_fail: oned carries on)");
    this.#setVmState(vm, 3, 3);
    this.#putHostVms();
  }

  /** `onevm poweroff`: VMM SHUTDOWN; the disks close. */
  async poweroff(vmId: number): Promise<void> {
    const vm = this.vm(vmId);
    if (vm.state !== 3) throw new OneblkError("input", `VM ${vmId} is not ACTIVE`);
    this.#setVmState(vm, 3, 18);
    this.#close(vm);
    await this.#domainDown(vm, this.hostOf(vm));
    this.#setVmState(vm, 8, 0);
  }

  /**
   * `onevm resume`: from POWEROFF a VMM DEPLOY (CONTEXT first); from STOPPED a TRANSFER
   * resume (MV front-end → host per disk + dir) then VMM RESTORE (CONTEXT, restore override).
   */
  async resume(vmId: number, host?: string): Promise<void> {
    const vm = this.vm(vmId);
    if (vm.state === 8) {
      await this.#deploy("resume", vm, 20);
      return;
    }
    if (vm.state !== 4) {
      throw new OneblkError("input", `VM ${vmId} is neither POWEROFF nor STOPPED`);
    }
    const op = "resume";
    const prev = vm.history.at(-1)!;
    const dst = host ?? prev.hostname;
    vm.history.push({ ...prev, hostname: dst, hid: this.hostId(dst) });
    this.#setVmState(vm, 3, 9);
    this.#putHostVms();
    try {
      await this.transfer(op, vm, "resume", this.#mvLines(vm, this.frontend, dst));
    } catch (e) {
      this.#setVmState(vm, 3, 49);
      throw e;
    }
    this.#setVmState(vm, 3, 22);
    await this.#context(op, vm);
    const checkpoint = `${this.vmDir(vm)}/checkpoint`;
    const script = this.vmmOverride("restore");
    if (script) {
      await this.vmmLocal(
        op,
        script,
        [checkpoint, dst, `one-${vm.id}`, String(vm.id), dst],
        this.#vmmData(vm, dst, { checkpoint, tmCommand: this.#contextLine(vm) ?? undefined }),
      );
      if (!(await this.#domainExists(vm, dst))) {
        this.#complain(op, `the restore override did not bring domain one-${vm.id} up on ${dst}`);
        await this.#domainUp(vm, dst);
      }
    } else {
      // Stock host restore: `virsh restore` of the checkpoint file, which must be there.
      try {
        await Deno.stat(this.cluster.hostPath(dst, checkpoint));
      } catch {
        throw new OnedFailure(`${op}: checkpoint ${checkpoint} not found on ${dst}`);
      }
      await this.#domainUp(vm, dst);
    }
    await this.#open(vm, dst, op);
    this.#setVmState(vm, 3, 3);
  }

  #vmmData(
    vm: VmModel,
    host: string,
    o: { checkpoint?: string; tmCommand?: string; migrHost?: string } = {},
  ): string {
    return buildVmmActionXml({
      vm: this.vmXml(vm, { historyLimit: 2 }),
      datastore: this.cluster.oned.state.datastores.get(this.systemDs),
      host,
      migrHost: o.migrHost,
      deployId: `one-${vm.id}`,
      checkpointFile: o.checkpoint,
      tmCommand: o.tmCommand,
    });
  }

  /**
   * MV lines of stop/resume (per disk, then the VM dir), with oned's quirk of not resetting
   * the `.sys` suffix between disks (a volatile disk after an image disk inherits it).
   */
  #mvLines(vm: VmModel, from: string, to: string): string[] {
    const dir = this.vmDir(vm);
    const sys = this.datastore(this.systemDs);
    let sticky = "";
    const lines = vm.disks.map((d) => {
      if (d.tmMadSystem) sticky = d.tmMadSystem;
      const p = `${dir}/disk.${d.diskId}`;
      return `${this.#cmd("MV", d, d.tmMadSystem || sticky)} ${d.tmMad} ${this.#hp(from, p)} ` +
        `${this.#hp(to, p)} ${vm.id} ${d.dsId}`;
    });
    lines.push(
      `MV ${sys.tmMad} ${this.#hp(from, dir)} ${this.#hp(to, dir)} ${vm.id} ${this.systemDs}`,
    );
    return lines;
  }

  /**
   * `onevm stop`: VMM SAVE (the profile's save override, else the stock save writing
   * DIR/checkpoint on the host), the disks close, then TRANSFER stop (MV host → front-end).
   */
  async stop(vmId: number): Promise<void> {
    const op = "stop";
    const vm = this.vm(vmId);
    if (vm.state !== 3 || vm.lcmState !== 3) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING`);
    }
    const host = this.hostOf(vm);
    const checkpoint = `${this.vmDir(vm)}/checkpoint`;
    this.#setVmState(vm, 3, 5);
    const script = this.vmmOverride("save");
    try {
      if (script) {
        await this.vmmLocal(
          op,
          script,
          [`one-${vm.id}`, checkpoint, host, String(vm.id), host],
          this.#vmmData(vm, host, { checkpoint }),
        );
        if (await this.#domainExists(vm, host)) {
          this.#complain(op, `the save override left domain one-${vm.id} running on ${host}`);
          await this.#domainDown(vm, host);
        }
      } else {
        // Stock host save: `virsh save` to DIR/checkpoint.
        const p = this.cluster.hostPath(host, checkpoint);
        await Deno.writeTextFile(p, `ONEBLK-SIM-CHECKPOINT one-${vm.id}\n`);
        await this.#domainDown(vm, host);
      }
    } catch (e) {
      this.#setVmState(vm, 3, 3);
      throw e;
    }
    this.#close(vm);
    this.#setVmState(vm, 3, 10);
    try {
      await this.transfer(op, vm, "stop", this.#mvLines(vm, host, this.frontend));
    } catch (e) {
      this.#setVmState(vm, 3, 41);
      throw e;
    }
    this.#setVmState(vm, 4, 0);
    this.#putHostVms();
  }

  #snap(vm: VmModel, diskId: number): VmDiskModel {
    const d = vm.disks.find((x) => x.diskId === diskId);
    if (!d) throw new OneblkError("input", `VM ${vm.id} has no disk ${diskId}`);
    return d;
  }

  #diskArg(vm: VmModel, d: VmDiskModel): string {
    return this.#hp(this.hostOf(vm), `${this.vmDir(vm)}/disk.${d.diskId}`);
  }

  /**
   * `onevm disk-snapshot-create`: RUNNING → VMM DISKSNAPSHOTCREATE → TM snap_create_live
   * (when live disk snapshots are enabled); POWEROFF → TRANSFER SNAP_CREATE. Returns the id.
   */
  async diskSnapshotCreate(vmId: number, diskId: number, name?: string): Promise<number> {
    const op = "diskSnapshotCreate";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    const running = vm.state === 3 && vm.lcmState === 3;
    if (running && this.#opts.liveDiskSnapshots === false) {
      throw new OnedFailure(`${op}: Cannot perform a live DISKSNAPSHOTCREATE operation`);
    }
    if (!running && vm.state !== 8) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING/POWEROFF`);
    }
    const snapId = d.nextSnapshot;
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.#setVmState(vm, vm.state, running ? LIVE_SNAPSHOT_LCM : 51);
    const line = `${this.#cmd(running ? "SNAP_CREATE_LIVE" : "SNAP_CREATE", d)} ${d.tmMad} ` +
      `${this.#diskArg(vm, d)} ${snapId} ${vm.id} ${d.dsId}`;
    try {
      if (running) {
        const call = await this.tmLine(op, line);
        if (!call.ok) this.#fail(op, "SNAP_CREATE_LIVE", call);
      } else await this.transfer(op, vm, "disk_snapshot", [line]);
    } finally {
      this.#setVmState(vm, prev.state, prev.lcm);
    }
    d.nextSnapshot++;
    d.snapshots.push({
      id: snapId,
      name: name ?? `snap-${snapId}`,
      size: d.sizeMb,
      parent: -1,
      date: Math.floor(Date.now() / 1000),
    });
    this.#putVm(vm);
    return snapId;
  }

  /** `onevm disk-snapshot-revert` (POWEROFF only): TRANSFER SNAP_REVERT; it becomes ACTIVE. */
  async diskSnapshotRevert(vmId: number, diskId: number, snapId: number): Promise<void> {
    const op = "diskSnapshotRevert";
    const vm = this.vm(vmId);
    if (vm.state !== 8) throw new OneblkError("input", `VM ${vmId} must be POWEROFF to revert`);
    const d = this.#snap(vm, diskId);
    const s = d.snapshots.find((x) => x.id === snapId);
    if (!s) throw new OneblkError("input", `disk ${diskId} has no snapshot ${snapId}`);
    this.#setVmState(vm, 8, 52);
    try {
      await this.transfer(op, vm, "disk_snapshot", [
        `${this.#cmd("SNAP_REVERT", d)} ${d.tmMad} ${
          this.#diskArg(vm, d)
        } ${snapId} ${vm.id} ${d.dsId}`,
      ]);
    } finally {
      this.#setVmState(vm, 8, 0);
    }
    for (const x of d.snapshots) x.active = x.id === snapId;
    this.#putVm(vm);
  }

  /** `onevm disk-snapshot-delete` (any state; not the ACTIVE one): TRANSFER SNAP_DELETE. */
  async diskSnapshotDelete(vmId: number, diskId: number, snapId: number): Promise<void> {
    const op = "diskSnapshotDelete";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    const s = d.snapshots.find((x) => x.id === snapId);
    if (!s) throw new OneblkError("input", `disk ${diskId} has no snapshot ${snapId}`);
    if (s.active) throw new OnedFailure(`${op}: Cannot delete the active snapshot`);
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.#setVmState(vm, vm.state, vm.state === 3 ? 59 : 53);
    try {
      await this.transfer(op, vm, "disk_snapshot", [
        `${this.#cmd("SNAP_DELETE", d)} ${d.tmMad} ${
          this.#diskArg(vm, d)
        } ${snapId} ${vm.id} ${d.dsId}`,
      ]);
    } finally {
      this.#setVmState(vm, prev.state, prev.lcm);
    }
    d.snapshots = d.snapshots.filter((x) => x.id !== snapId);
    this.#putVm(vm);
  }

  /**
   * `onevm disk-resize`: RUNNING → VMM RESIZEDISK whose TM step is RESIZE (then the host's
   * blockresize); POWEROFF → TRANSFER RESIZE. Updates DISK/SIZE.
   */
  async diskResize(vmId: number, diskId: number, sizeMb: number): Promise<void> {
    const op = "diskResize";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    const running = vm.state === 3;
    const prev = { state: vm.state, lcm: vm.lcmState };
    const old = d.sizeMb;
    d.sizeMb = sizeMb;
    this.#setVmState(vm, vm.state, running ? 62 : 63);
    const line = `${this.#cmd("RESIZE", d)} ${d.tmMad} ${
      this.#diskArg(vm, d)
    } ${sizeMb} ${vm.id} ${d.dsId}`;
    try {
      if (running) {
        const call = await this.tmLine(op, line);
        if (!call.ok) this.#fail(op, "RESIZE", call);
      } else await this.transfer(op, vm, "disk_resize", [line]);
    } catch (e) {
      d.sizeMb = old;
      throw e;
    } finally {
      this.#setVmState(vm, prev.state, prev.lcm);
    }
  }

  /**
   * `onevm disk-saveas`: a new image (FORMAT/FSTYPE `save_as`, SAVED_* attributes) gets its
   * SOURCE from DS mkfs, then TRANSFER disk_saveas runs CPDS. The image ends READY.
   */
  async diskSaveAs(vmId: number, diskId: number, name: string, snapId = -1): Promise<ImageModel> {
    const op = "diskSaveAs";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    if (d.imageId === undefined) throw new OneblkError("input", "only image disks can be saved");
    const src = this.image(d.imageId);
    const img = this.#newImage({
      name,
      dsId: d.dsId,
      sizeMb: d.sizeMb,
      format: "save_as",
      type: src.type === 1 ? 2 : src.type,
      template: {
        SAVED_DISK_ID: String(diskId),
        SAVED_IMAGE_ID: String(src.id),
        SAVED_VM_ID: String(vm.id),
        SAVE_AS_HOT: vm.state === 3 ? "YES" : "NO",
      },
    });
    this.images.set(img.id, img);
    this.#putImage(img);
    this.#putDsImages(img.dsId);
    img.source = await this.#mkfs(op, img);
    img.format = d.format;
    this.#putImage(img);
    const prev = { state: vm.state, lcm: vm.lcmState };
    const lcm = vm.state === 3 ? 26 : vm.state === 8 ? 27 : vm.state === 4 ? 68 : 28;
    this.#setVmState(vm, vm.state, lcm);
    const host = vm.state === 4 ? this.frontend : this.hostOf(vm);
    try {
      await this.transfer(op, vm, "disk_saveas", [
        `${this.#cmd("CPDS", d)} ${d.tmMad} ${
          this.#hp(host, `${this.vmDir(vm)}/disk.${d.diskId}`)
        } ` +
        `${img.source} ${snapId} ${vm.id} ${d.dsId}`,
      ]);
    } catch (e) {
      this.#imageError(img, `Error saving disk: ${(e as Error).message}`);
      throw e;
    } finally {
      this.#setVmState(vm, prev.state, prev.lcm);
    }
    img.state = IMAGE_STATE.READY;
    this.#putImage(img);
    await this.#monitorAfter(op, img.dsId);
    return img;
  }

  /** The VM snapshot override of this profile for `action`, or null when none is installed. */
  vmSnapshotOverride(
    action: "snapshotcreate" | "snapshotrevert" | "snapshotdelete",
  ): string | null {
    const e = Object.entries(VMM_OVERRIDES).find(([, v]) =>
      v.driver === this.profileName && v.action === action
    );
    return e && this.installed("vmm", "kvm", e[0]) ? e[0] : null;
  }

  async #vmSnapshotCall(
    op: string,
    vm: VmModel,
    action: "snapshotcreate" | "snapshotrevert" | "snapshotdelete",
    arg: string,
  ): Promise<DriverCall> {
    const script = this.vmSnapshotOverride(action);
    if (!script) {
      throw new OnedFailure(`${op}: no ${action} override installed (action not implemented)`, {
        missing: true,
      });
    }
    const host = this.hostOf(vm);
    // one_vmm_exec.rb: create passes the ACTIVE snapshot's SNAPSHOT_ID, revert and delete its
    // HYPERVISOR_ID (what create printed); local actions get base64 of the message on stdin.
    return await this.vmmLocal(
      op,
      script,
      [`one-${vm.id}`, arg, String(vm.id), host],
      this.#vmmData(vm, host),
    );
  }

  /**
   * `onevm snapshot-create` (VMM SNAPSHOTCREATE through the profile's override): the new
   * snapshot is ACTIVE during the call, and its HYPERVISOR_ID is what the driver prints.
   */
  async vmSnapshotCreate(vmId: number, name?: string): Promise<VmSnapshotModel> {
    const op = "vmSnapshotCreate";
    const vm = this.vm(vmId);
    if (vm.state !== 3 && vm.state !== 8) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING/POWEROFF`);
    }
    const id = vm.vmSnapshots.reduce((n, x) => Math.max(n, x.id + 1), 0);
    const snap: VmSnapshotModel = {
      id,
      name: name ?? `snapshot-${id}`,
      hypervisorId: "",
      time: Math.floor(Date.now() / 1000),
      active: true,
    };
    vm.vmSnapshots.push(snap);
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.#setVmState(vm, vm.state, vm.state === 3 ? 24 : prev.lcm);
    try {
      const call = await this.#vmSnapshotCall(op, vm, "snapshotcreate", String(id));
      snap.hypervisorId = call.stdout.trim();
      if (!snap.hypervisorId) call.complaints.push("snapshotcreate printed no hypervisor id");
    } catch (e) {
      vm.vmSnapshots = vm.vmSnapshots.filter((x) => x !== snap);
      throw e;
    } finally {
      snap.active = false;
      this.#setVmState(vm, prev.state, prev.lcm);
    }
    return snap;
  }

  /** `onevm snapshot-revert` / `snapshot-delete` (VMM SNAPSHOTREVERT / SNAPSHOTDELETE). */
  async vmSnapshot(action: "revert" | "delete", vmId: number, snapId: number): Promise<void> {
    const op = `vmSnapshot${action === "revert" ? "Revert" : "Delete"}`;
    const vm = this.vm(vmId);
    const snap = vm.vmSnapshots.find((x) => x.id === snapId);
    if (!snap) throw new OneblkError("input", `VM ${vmId} has no snapshot ${snapId}`);
    const prev = { state: vm.state, lcm: vm.lcmState };
    snap.active = true;
    this.#setVmState(vm, vm.state, vm.state === 3 ? 24 : prev.lcm);
    try {
      await this.#vmSnapshotCall(
        op,
        vm,
        action === "revert" ? "snapshotrevert" : "snapshotdelete",
        snap.hypervisorId,
      );
    } finally {
      snap.active = false;
      this.#setVmState(vm, prev.state, prev.lcm);
    }
    if (action === "delete") vm.vmSnapshots = vm.vmSnapshots.filter((x) => x !== snap);
    this.#putVm(vm);
  }

  /** Disk ids oned backs up: image disks except CDROMs (volatile ones with BACKUP_VOLATILE). */
  backupDiskIds(vm: VmModel): number[] {
    const vol = String(vm.backupConfig.BACKUP_VOLATILE ?? "NO").toUpperCase() === "YES";
    return vm.disks.filter((d) => d.type !== "CDROM" && (d.imageId !== undefined || vol))
      .map((d) => d.diskId);
  }

  /**
   * `onevm backup`: TM prebackup(_live) (raw `<VM>` on stdin), the backup datastore's
   * `backup` (played here: the files under DIR/backup/ on the host are copied away), then TM
   * postbackup(_live), which also runs when the copy fails.
   */
  async backup(vmId: number): Promise<BackupResult> {
    const op = "backup";
    if (!this.convention.backups) {
      throw new OneblkError("input", `OpenNebula ${this.convention.version} has no backups`);
    }
    const vm = this.vm(vmId);
    const running = vm.state === 3 && vm.lcmState === 3;
    if (!running && vm.state !== 8) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING/POWEROFF`);
    }
    const host = this.hostOf(vm);
    const sys = this.datastore(this.systemDs);
    const ids = this.backupDiskIds(vm);
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.#setVmState(vm, vm.state, running ? 69 : 70);
    const suffix = running ? "_LIVE" : "";
    const args = [
      this.#hp(host, this.vmDir(vm)),
      ids.join(":"),
      `one-${vm.id}`,
      ...(this.convention.backupJobArg ? ["-"] : []),
      String(vm.id),
      String(this.systemDs),
    ].join(" ");
    const stdin = () => ({ text: this.vmXml(vm, { historyLimit: 2 }), mode: "xml" as const });
    try {
      const pre = await this.tmLine(op, `PREBACKUP${suffix} ${sys.tmMad} ${args}`, stdin());
      if (!pre.ok) this.#fail(op, `PREBACKUP${suffix}`, pre);
      let result: BackupResult | undefined;
      let copyError: unknown;
      try {
        result = await this.#collectBackup(vm, host, ids);
      } catch (e) {
        copyError = e;
      }
      const post = await this.tmLine(op, `POSTBACKUP${suffix} ${sys.tmMad} ${args}`, stdin());
      if (copyError) throw copyError;
      if (!post.ok) this.#fail(op, `POSTBACKUP${suffix}`, post);
      return result!;
    } finally {
      this.#setVmState(vm, prev.state, prev.lcm);
    }
  }

  async #collectBackup(vm: VmModel, host: string, ids: number[]): Promise<BackupResult> {
    const src = this.cluster.hostPath(host, `${this.vmDir(vm)}/backup`);
    const n = this.calls.length;
    const dir = join(this.cluster.root, "backups", `vm${vm.id}`, String(n));
    await Deno.mkdir(dir, { recursive: true });
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(src)) names.push(e.name);
    } catch {
      throw new OnedFailure(`backup: no backup directory ${this.vmDir(vm)}/backup on ${host}`);
    }
    const files: BackupFile[] = [];
    for (const id of ids) {
      const name = names.filter((x) => x.startsWith(`disk.${id}.`)).sort().at(-1);
      if (!name) throw new OnedFailure(`backup: prebackup left no disk.${id}.* on ${host}`);
      const path = join(dir, name);
      await Deno.copyFile(join(src, name), path);
      const info = await new Deno.Command("qemu-img", {
        args: ["info", "--output=json", path],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const format = info.success
        ? String(JSON.parse(new TextDecoder().decode(info.stdout)).format ?? "raw")
        : "raw";
      files.push({ diskId: id, path, name, format });
    }
    return { files, dir };
  }

  /**
   * `onevm terminate`: VMM SHUTDOWN (disks close), TRANSFER epilog (MVDS for SAVE=YES disks,
   * DELETE for the others, DELETE of the VM dir). A STOPPED VM, or `hard`, gets the
   * epilog_delete form instead: DELETE of every disk (persistent ones too) and the dir.
   * Images are released; snapshots of persistent disks move into their image (≥7.0).
   */
  async terminate(vmId: number, opts: { hard?: boolean } = {}): Promise<void> {
    const op = opts.hard ? "terminate(hard)" : "terminate";
    const vm = this.vm(vmId);
    const stopped = vm.state === 4;
    const host = stopped ? this.frontend : this.hostOf(vm);
    if (vm.state === 3) {
      this.#setVmState(vm, 3, 12);
      this.#close(vm);
      await this.#domainDown(vm, host);
    }
    this.#setVmState(vm, 3, stopped || opts.hard ? 23 : 11);
    const dir = this.vmDir(vm);
    const sys = this.datastore(this.systemDs);
    let sticky = "";
    const lines = vm.disks.map((d) => {
      if (d.tmMadSystem) sticky = d.tmMadSystem;
      const p = this.#hp(host, `${dir}/disk.${d.diskId}`);
      if (d.persistent && !stopped && !opts.hard) {
        return `${this.#cmd("MVDS", d)} ${d.tmMad} ${p} ${d.source} ${vm.id} ${d.dsId}`;
      }
      const sfx = stopped || opts.hard ? (d.tmMadSystem || sticky) : d.tmMadSystem;
      return `${this.#cmd("DELETE", d, sfx)} ${d.tmMad} ${p} ${vm.id} ${d.dsId}`;
    });
    lines.push(`DELETE ${sys.tmMad} ${this.#hp(host, dir)} ${vm.id} ${this.systemDs}`);
    try {
      await this.transfer(op, vm, stopped || opts.hard ? "delete" : "epilog", lines);
    } catch (e) {
      this.#setVmState(vm, 3, 40);
      throw e;
    }
    for (const d of vm.disks) {
      if (d.imageId === undefined) continue;
      const img = this.images.get(d.imageId);
      if (!img) continue;
      img.vms = img.vms.filter((v) => v !== vm.id);
      if (!img.vms.length) img.state = IMAGE_STATE.READY;
      if (d.persistent && d.snapshots.length) {
        img.snapshots = d.snapshots;
        img.nextSnapshot = d.nextSnapshot;
      }
      this.#putImage(img);
    }
    this.#setVmState(vm, 6, 0);
    this.#putHostVms();
  }
}

function escapeText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

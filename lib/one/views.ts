/**
 * Typed, read-only views over oned XML documents (VM, IMAGE, DATASTORE, HOST and the
 * DS/VMM driver-action payloads).
 *
 * Views are order-agnostic and ignore unknown elements. Values come from the XmlNode tree of
 * `xml.ts`; nothing is cached outside the node, so a view is cheap to build. Conventions:
 * string fields are "" when absent, numeric ids are -1 when absent (oned's own "none"),
 * flags are true only for YES (case-insensitive) or 1.
 */
import { OneblkError } from "../errors.ts";
import { at, child, children, parseXml, text, type XmlNode } from "./xml.ts";

// ---------------------------------------------------------------------------------------------
// small value helpers

/** Parse a decimal integer; `def` when empty or not an integer. */
export function toInt(s: string | undefined, def: number): number {
  const t = (s ?? "").trim();
  return /^[-+]?\d+$/.test(t) ? Number(t) : def;
}

/** Parse a decimal number (MB sizes may be fractional); `def` when empty or invalid. */
export function toNum(s: string | undefined, def: number): number {
  const t = (s ?? "").trim();
  if (!t) return def;
  const n = Number(t);
  return Number.isFinite(n) ? n : def;
}

/** oned flag: YES/TRUE/ON/1 → true (case-insensitive), anything else false. */
export function yes(s: string | undefined): boolean {
  return /^(yes|true|on|1)$/i.test((s ?? "").trim());
}

function leafText(node: XmlNode | undefined, name: string): string {
  const c = child(node, name);
  return c && c.children.length === 0 ? c.text : "";
}

function requireId(node: XmlNode, what: string): number {
  const raw = text(node, "ID");
  const id = toInt(raw, NaN);
  if (!Number.isInteger(id)) {
    throw new OneblkError("input", `${what} XML has no valid ID (got ${JSON.stringify(raw)})`);
  }
  return id;
}

function expectRoot(node: XmlNode, name: string): XmlNode {
  if (node.name !== name) {
    throw new OneblkError("input", `expected a <${name}> document, got <${node.name}>`);
  }
  return node;
}

function idList(node: XmlNode | undefined): number[] {
  return children(node, "ID").map((c) => toInt(c.text, NaN)).filter(Number.isInteger);
}

// ---------------------------------------------------------------------------------------------
// attribute maps

/**
 * Template-style attribute map over an element's leaf children (TEMPLATE, USER_TEMPLATE,
 * BACKUP_CONFIG, …). `get` returns "" when the attribute is absent or blank, which makes it
 * usable wherever `{ get(name): string }` is expected (see lib/addons/types.ts).
 */
export class Attrs {
  /** The element the attributes are read from (may be undefined: then everything is absent). */
  readonly node: XmlNode | undefined;
  /** Names the owner in error messages, e.g. "datastore 100". */
  readonly label: string;

  constructor(node: XmlNode | undefined, label: string) {
    this.node = node;
    this.label = label;
  }

  /** Trimmed value of the first leaf attribute `name`; "" when absent or blank. */
  get(name: string): string {
    return leafText(this.node, name).trim();
  }

  /** True when the attribute is present and not blank. */
  has(name: string): boolean {
    return this.get(name) !== "";
  }

  /** Comma and/or blank separated list (empty items dropped). */
  list(name: string): string[] {
    return this.get(name).split(/[\s,]+/).filter((s) => s !== "");
  }

  /**
   * Integer value, `def` when absent. A present non-integer value is an operator error:
   * OneblkError("input").
   */
  int(name: string, def: number): number {
    const v = this.get(name);
    if (v === "") return def;
    if (!/^[-+]?\d+$/.test(v)) {
      throw new OneblkError(
        "input",
        `${this.label} attribute ${name} is not an integer: ${JSON.stringify(v)}`,
      );
    }
    return Number(v);
  }

  /**
   * Boolean value: YES/TRUE/ON/1 and NO/FALSE/OFF/0 (case-insensitive); `def` when absent.
   * Anything else is OneblkError("input").
   */
  bool(name: string, def = false): boolean {
    const v = this.get(name);
    if (v === "") return def;
    if (/^(yes|true|on|1)$/i.test(v)) return true;
    if (/^(no|false|off|0)$/i.test(v)) return false;
    throw new OneblkError(
      "input",
      `${this.label} attribute ${name} is not YES or NO: ${JSON.stringify(v)}`,
    );
  }

  /** The value, or OneblkError("input", "<label> has no <NAME> attribute"). */
  requireAttr(name: string): string {
    const v = this.get(name);
    if (v === "") throw new OneblkError("input", `${this.label} has no ${name} attribute`);
    return v;
  }

  /** Vector (nested) attribute `name` as its own map, or undefined. */
  vector(name: string): Attrs | undefined {
    const c = children(this.node, name).find((n) => n.children.length > 0);
    return c ? new Attrs(c, `${this.label} ${name}`) : undefined;
  }

  /** All vector attributes named `name`. */
  vectors(name: string): Attrs[] {
    return children(this.node, name).filter((n) => n.children.length > 0)
      .map((n) => new Attrs(n, `${this.label} ${name}`));
  }

  /** All leaf attributes as name → trimmed value (first occurrence wins). */
  entries(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const c of this.node?.children ?? []) {
      if (c.children.length === 0 && !(c.name in out)) out[c.name] = c.text.trim();
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// snapshots

/** One SNAPSHOT record (image or VM disk snapshot tree). */
export interface SnapshotView {
  id: number;
  name: string;
  /** Creation time (unix seconds), -1 when absent. */
  date: number;
  /** Parent snapshot id, -1 for none. */
  parent: number;
  /** Size in MB, 0 when absent. */
  size: number;
  /** ACTIVE=YES: the snapshot the disk currently runs from. */
  active: boolean;
  /** Child snapshot ids (CHILDREN is a comma list). */
  children: number[];
}

/** A SNAPSHOTS element: the snapshot list of an image or of one VM disk. */
export interface SnapshotSet {
  /** DISK_ID for VM disk snapshots, -1 for image snapshots. */
  diskId: number;
  allowOrphans: string;
  currentBase: number;
  nextSnapshot: number;
  snapshots: SnapshotView[];
  /** The ACTIVE snapshot, if any. */
  active: SnapshotView | undefined;
  /** Snapshot by id. */
  get(id: number): SnapshotView | undefined;
}

function snapshotSet(node: XmlNode): SnapshotSet {
  const snapshots = children(node, "SNAPSHOT").map((s): SnapshotView => ({
    id: toInt(text(s, "ID"), -1),
    name: text(s, "NAME"),
    date: toInt(text(s, "DATE"), -1),
    parent: toInt(text(s, "PARENT"), -1),
    size: toNum(text(s, "SIZE"), 0),
    active: yes(text(s, "ACTIVE")),
    children: text(s, "CHILDREN").split(/[\s,]+/).map((c) => toInt(c, NaN))
      .filter(Number.isInteger),
  }));
  return {
    diskId: toInt(text(node, "DISK_ID"), -1),
    allowOrphans: text(node, "ALLOW_ORPHANS"),
    currentBase: toInt(text(node, "CURRENT_BASE"), -1),
    nextSnapshot: toInt(text(node, "NEXT_SNAPSHOT"), 0),
    snapshots,
    active: snapshots.find((s) => s.active),
    get: (id: number) => snapshots.find((s) => s.id === id),
  };
}

// ---------------------------------------------------------------------------------------------
// VM

/** VM states (`/VM/STATE`). */
export const VM_STATE = {
  INIT: 0,
  PENDING: 1,
  HOLD: 2,
  ACTIVE: 3,
  STOPPED: 4,
  SUSPENDED: 5,
  DONE: 6,
  POWEROFF: 8,
  UNDEPLOYED: 9,
  CLONING: 10,
  CLONING_FAILURE: 11,
} as const;

/** LCM states (`/VM/LCM_STATE`), as numbered by oned 5.x–7.x. */
export const LCM_STATE = {
  LCM_INIT: 0,
  PROLOG: 1,
  BOOT: 2,
  RUNNING: 3,
  MIGRATE: 4,
  SAVE_STOP: 5,
  SAVE_SUSPEND: 6,
  SAVE_MIGRATE: 7,
  PROLOG_MIGRATE: 8,
  PROLOG_RESUME: 9,
  EPILOG_STOP: 10,
  EPILOG: 11,
  SHUTDOWN: 12,
  CLEANUP_RESUBMIT: 15,
  UNKNOWN: 16,
  HOTPLUG: 17,
  SHUTDOWN_POWEROFF: 18,
  BOOT_UNKNOWN: 19,
  BOOT_POWEROFF: 20,
  BOOT_SUSPENDED: 21,
  BOOT_STOPPED: 22,
  CLEANUP_DELETE: 23,
  HOTPLUG_SNAPSHOT: 24,
  HOTPLUG_NIC: 25,
  HOTPLUG_SAVEAS: 26,
  HOTPLUG_SAVEAS_POWEROFF: 27,
  HOTPLUG_SAVEAS_SUSPENDED: 28,
  SHUTDOWN_UNDEPLOY: 29,
  EPILOG_UNDEPLOY: 30,
  PROLOG_UNDEPLOY: 31,
  BOOT_UNDEPLOY: 32,
  HOTPLUG_PROLOG_POWEROFF: 33,
  HOTPLUG_EPILOG_POWEROFF: 34,
  BOOT_MIGRATE: 35,
  BOOT_FAILURE: 36,
  BOOT_MIGRATE_FAILURE: 37,
  PROLOG_MIGRATE_FAILURE: 38,
  PROLOG_FAILURE: 39,
  EPILOG_FAILURE: 40,
  EPILOG_STOP_FAILURE: 41,
  EPILOG_UNDEPLOY_FAILURE: 42,
  PROLOG_MIGRATE_POWEROFF: 43,
  PROLOG_MIGRATE_POWEROFF_FAILURE: 44,
  PROLOG_MIGRATE_SUSPEND: 45,
  PROLOG_MIGRATE_SUSPEND_FAILURE: 46,
  BOOT_UNDEPLOY_FAILURE: 47,
  BOOT_STOPPED_FAILURE: 48,
  PROLOG_RESUME_FAILURE: 49,
  PROLOG_UNDEPLOY_FAILURE: 50,
  DISK_SNAPSHOT_POWEROFF: 51,
  DISK_SNAPSHOT_REVERT_POWEROFF: 52,
  DISK_SNAPSHOT_DELETE_POWEROFF: 53,
  DISK_SNAPSHOT_SUSPENDED: 54,
  DISK_SNAPSHOT_REVERT_SUSPENDED: 55,
  DISK_SNAPSHOT_DELETE_SUSPENDED: 56,
  DISK_SNAPSHOT: 57,
  DISK_SNAPSHOT_DELETE: 59,
  PROLOG_MIGRATE_UNKNOWN: 60,
  PROLOG_MIGRATE_UNKNOWN_FAILURE: 61,
  DISK_RESIZE: 62,
  DISK_RESIZE_POWEROFF: 63,
  DISK_RESIZE_UNDEPLOYED: 64,
  HOTPLUG_NIC_POWEROFF: 65,
  HOTPLUG_RESIZE: 66,
  HOTPLUG_SAVEAS_UNDEPLOYED: 67,
  HOTPLUG_SAVEAS_STOPPED: 68,
  BACKUP: 69,
  BACKUP_POWEROFF: 70,
} as const;

/** Name of an LCM state number ("LCM_<n>" when unknown). */
export function lcmStateName(n: number): string {
  for (const [k, v] of Object.entries(LCM_STATE)) if (v === n) return k;
  return `LCM_${n}`;
}

/** One `/VM/TEMPLATE/DISK`. Structurally satisfies DiskFacts (lib/addons/types.ts). */
export class DiskView {
  /** The DISK element. */
  readonly node: XmlNode;
  /** The disk attributes as a map (for anything not exposed below). */
  readonly attrs: Attrs;

  constructor(node: XmlNode, vmLabel = "VM") {
    this.node = node;
    this.attrs = new Attrs(node, `${vmLabel} disk ${text(node, "DISK_ID")}`);
  }

  /** Any DISK attribute (trimmed, "" when absent). */
  get(name: string): string {
    return this.attrs.get(name);
  }
  /** True when the attribute is present and not blank. */
  has(name: string): boolean {
    return this.attrs.has(name);
  }
  /** DISK_ID (-1 when absent). */
  get diskId(): number {
    return toInt(this.get("DISK_ID"), -1);
  }
  /** SOURCE (image source; "" for volatile disks). */
  get source(): string {
    return this.get("SOURCE");
  }
  /** IMAGE name. */
  get image(): string {
    return this.get("IMAGE");
  }
  /** IMAGE_ID as text ("" for volatile disks), like DiskFacts.imageId. */
  get imageId(): string {
    return this.get("IMAGE_ID");
  }
  /** IMAGE_ID as a number (-1 for volatile disks). */
  get imageIdNum(): number {
    return toInt(this.get("IMAGE_ID"), -1);
  }
  /** CLONE=YES: non-persistent image disk with a private copy. */
  get clone(): boolean {
    return yes(this.get("CLONE"));
  }
  /** PERSISTENT=YES. */
  get persistent(): boolean {
    return yes(this.get("PERSISTENT"));
  }
  /** SAVE=YES (the disk goes back to its image: MVDS instead of DELETE). */
  get save(): boolean {
    return yes(this.get("SAVE"));
  }
  /** TYPE upper-cased: FS, SWAP, BLOCK, CDROM, FILE, RBD, … ("" when absent). */
  get type(): string {
    return this.get("TYPE").toUpperCase();
  }
  /** DISK_TYPE upper-cased (FILE, BLOCK, …). */
  get diskType(): string {
    return this.get("DISK_TYPE").toUpperCase();
  }
  /** SIZE in MB (0 when absent). */
  get size(): number {
    return toNum(this.get("SIZE"), 0);
  }
  /** ORIGINAL_SIZE in MB (the image size), or null when absent. */
  get originalSize(): number | null {
    const n = toNum(this.get("ORIGINAL_SIZE"), NaN);
    return Number.isFinite(n) ? n : null;
  }
  /** DATASTORE_ID (-1 when absent). */
  get datastoreId(): number {
    return toInt(this.get("DATASTORE_ID"), -1);
  }
  /** TM_MAD of the disk (the image datastore's TM, or the system TM for volatile disks). */
  get tmMad(): string {
    return this.get("TM_MAD");
  }
  /** TM_MAD_SYSTEM (the `.sys` suffix), "" when none. */
  get tmMadSystem(): string {
    return this.get("TM_MAD_SYSTEM");
  }
  /** FORMAT (raw, qcow2, …). */
  get format(): string {
    return this.get("FORMAT");
  }
  /** DRIVER (libvirt driver type). */
  get driver(): string {
    return this.get("DRIVER");
  }
  /** FS of a volatile disk (ext4, xfs, …). */
  get fs(): string {
    return this.get("FS");
  }
  /** READONLY=YES. */
  get readonly(): boolean {
    return yes(this.get("READONLY"));
  }
  /** TARGET (vda, hdb, …). */
  get target(): string {
    return this.get("TARGET");
  }
  /** SHAREABLE=YES. */
  get shareable(): boolean {
    return yes(this.get("SHAREABLE"));
  }
  /** No image behind the disk (volatile FS or swap disk). */
  get volatile(): boolean {
    return !this.has("IMAGE_ID");
  }
  /** Alias of `volatile`. */
  get isVolatile(): boolean {
    return this.volatile;
  }
  /** TYPE=CDROM. */
  get isCdrom(): boolean {
    return this.type === "CDROM";
  }
  /** ATTACH=YES: the disk being hot-plugged. */
  get attach(): boolean {
    return yes(this.get("ATTACH"));
  }
}

/** One HISTORY record. */
export interface HistoryView {
  seq: number;
  hostname: string;
  hid: number;
  /** System datastore id. */
  dsId: number;
  /** System datastore TM_MAD. */
  tmMad: string;
  /** DS_LOCATION: where the host keeps system datastores ("" when absent). */
  dsLocation: string;
  vmMad: string;
  action: number;
  node: XmlNode;
}

function historyView(h: XmlNode): HistoryView {
  return {
    seq: toInt(text(h, "SEQ"), -1),
    hostname: text(h, "HOSTNAME"),
    hid: toInt(text(h, "HID"), -1),
    dsId: toInt(text(h, "DS_ID"), -1),
    tmMad: text(h, "TM_MAD"),
    dsLocation: text(h, "DS_LOCATION"),
    vmMad: text(h, "VM_MAD"),
    action: toInt(text(h, "ACTION"), -1),
    node: h,
  };
}

/** A `<VM>` document (`onevm show -x`, one.vm.info, or the VM inside a driver message). */
export class VmView {
  /** The VM element. */
  readonly node: XmlNode;
  /** VM id. */
  readonly id: number;
  /** Disks in document order. */
  readonly disks: DiskView[];
  /** HISTORY records sorted by SEQ (oldest first). */
  readonly histories: HistoryView[];
  /** /VM/TEMPLATE attributes. */
  readonly template: Attrs;
  /** /VM/USER_TEMPLATE attributes. */
  readonly userTemplate: Attrs;
  /** /VM/BACKUPS/BACKUP_CONFIG attributes. */
  readonly backupConfig: Attrs;
  /** Every /VM/SNAPSHOTS element (one per disk with snapshots). */
  readonly diskSnapshots: SnapshotSet[];

  constructor(node: XmlNode) {
    this.node = expectRoot(node, "VM");
    this.id = requireId(node, "VM");
    const label = `VM ${this.id}`;
    const tpl = child(node, "TEMPLATE");
    this.template = new Attrs(tpl, `${label} template`);
    this.userTemplate = new Attrs(child(node, "USER_TEMPLATE"), `${label} user template`);
    this.backupConfig = new Attrs(at(node, "BACKUPS/BACKUP_CONFIG"), `${label} backup config`);
    this.disks = children(tpl, "DISK").map((d) => new DiskView(d, label));
    this.histories = children(child(node, "HISTORY_RECORDS"), "HISTORY").map(historyView)
      .sort((a, b) => a.seq - b.seq);
    this.diskSnapshots = children(node, "SNAPSHOTS").map(snapshotSet);
  }

  /** NAME. */
  get name(): string {
    return text(this.node, "NAME");
  }
  /** STATE (see VM_STATE), -1 when absent. */
  get state(): number {
    return toInt(text(this.node, "STATE"), -1);
  }
  /** LCM_STATE (see LCM_STATE), -1 when absent. */
  get lcmState(): number {
    return toInt(text(this.node, "LCM_STATE"), -1);
  }
  /** LCM_STATE name, e.g. "RUNNING". */
  get lcmStateName(): string {
    return lcmStateName(this.lcmState);
  }
  /** PREV_STATE, -1 when absent. */
  get prevState(): number {
    return toInt(text(this.node, "PREV_STATE"), -1);
  }
  /** PREV_LCM_STATE, -1 when absent. */
  get prevLcmState(): number {
    return toInt(text(this.node, "PREV_LCM_STATE"), -1);
  }
  /** DEPLOY_ID (libvirt domain name), "" before deploy. */
  get deployId(): string {
    return text(this.node, "DEPLOY_ID");
  }
  /** UID of the owner. */
  get uid(): number {
    return toInt(text(this.node, "UID"), -1);
  }
  /** GID of the owner. */
  get gid(): number {
    return toInt(text(this.node, "GID"), -1);
  }
  /** Disk by DISK_ID. */
  disk(id: number): DiskView | undefined {
    return this.disks.find((d) => d.diskId === id);
  }
  /** The disk with ATTACH=YES (disk hot-plug), if any. */
  get attachedDisk(): DiskView | undefined {
    return this.disks.find((d) => d.attach);
  }
  /** /VM/TEMPLATE/CONTEXT/DISK_ID, or null without context. */
  get contextDiskId(): number | null {
    const n = toInt(text(this.node, "TEMPLATE/CONTEXT/DISK_ID"), NaN);
    return Number.isInteger(n) ? n : null;
  }
  /** The last (current) HISTORY record, or null for a never-deployed VM. */
  get history(): HistoryView | null {
    return this.histories.at(-1) ?? null;
  }
  /** The record before the last one (source side of a migration), or null. */
  get prevHistory(): HistoryView | null {
    return this.histories.length > 1 ? this.histories[this.histories.length - 2] : null;
  }
  /** Snapshots of disk `diskId` (/VM/SNAPSHOTS[DISK_ID=diskId]), if any. */
  snapshots(diskId: number): SnapshotSet | undefined {
    return this.diskSnapshots.find((s) => s.diskId === diskId);
  }
}

// ---------------------------------------------------------------------------------------------
// IMAGE

/** Image types (`/IMAGE/TYPE`). */
export const IMAGE_TYPES = ["OS", "CDROM", "DATABLOCK", "KERNEL", "RAMDISK", "CONTEXT", "BACKUP"];

/** An `<IMAGE>` document, or the IMAGE inside DS_DRIVER_ACTION_DATA. */
export class ImageView {
  /** The IMAGE element. */
  readonly node: XmlNode;
  /** IMAGE/TEMPLATE attributes (MD5, SHA1, DRIVER, SAVED_*, …). */
  readonly template: Attrs;
  /** The image's own SNAPSHOTS set (empty when absent). */
  readonly snapshotSet: SnapshotSet;

  constructor(node: XmlNode) {
    this.node = expectRoot(node, "IMAGE");
    this.template = new Attrs(child(node, "TEMPLATE"), `image ${text(node, "ID") || "?"}`);
    const snaps = child(node, "SNAPSHOTS");
    this.snapshotSet = snaps ? snapshotSet(snaps) : snapshotSet({
      name: "SNAPSHOTS",
      attrs: {},
      text: "",
      children: [],
    });
  }

  /** ID (-1 when absent, e.g. in a `stat` payload). */
  get id(): number {
    return toInt(text(this.node, "ID"), -1);
  }
  /** NAME. */
  get name(): string {
    return text(this.node, "NAME");
  }
  /** SOURCE (driver-specific volume reference). */
  get source(): string {
    return text(this.node, "SOURCE");
  }
  /** PATH (import path/URL; for clone the source image's SOURCE). */
  get path(): string {
    return text(this.node, "PATH");
  }
  /** SIZE in MB (0 when absent). */
  get size(): number {
    return toNum(text(this.node, "SIZE"), 0);
  }
  /** FORMAT; falls back to FSTYPE (OpenNebula ≤5.12). */
  get format(): string {
    return text(this.node, "FORMAT") || text(this.node, "FSTYPE");
  }
  /** FS (filesystem to create on mkfs), "" when none. */
  get fs(): string {
    return text(this.node, "FS");
  }
  /** TYPE number (0 OS, 1 CDROM, 2 DATABLOCK, … 6 BACKUP), -1 when absent. */
  get type(): number {
    return toInt(text(this.node, "TYPE"), -1);
  }
  /** TYPE name (OS, CDROM, DATABLOCK, …), "" when unknown. */
  get typeName(): string {
    return IMAGE_TYPES[this.type] ?? "";
  }
  /** DISK_TYPE number (0 FILE, 1 CD_ROM, 2 BLOCK, …), -1 when absent. */
  get diskType(): number {
    return toInt(text(this.node, "DISK_TYPE"), -1);
  }
  /** PERSISTENT=1. */
  get persistent(): boolean {
    return yes(text(this.node, "PERSISTENT"));
  }
  /** STATE number, -1 when absent. */
  get state(): number {
    return toInt(text(this.node, "STATE"), -1);
  }
  /** DATASTORE_ID, -1 when absent. */
  get datastoreId(): number {
    return toInt(text(this.node, "DATASTORE_ID"), -1);
  }
  /** DATASTORE name. */
  get datastore(): string {
    return text(this.node, "DATASTORE");
  }
  /** CLONING_ID: the source image of a clone, -1 otherwise. */
  get cloningId(): number {
    return toInt(text(this.node, "CLONING_ID"), -1);
  }
  /** TARGET_SNAPSHOT for snap_* actions, -1 otherwise. */
  get targetSnapshot(): number {
    return toInt(text(this.node, "TARGET_SNAPSHOT"), -1);
  }
  /** Snapshot list. */
  get snapshots(): SnapshotView[] {
    return this.snapshotSet.snapshots;
  }
  /** UID of the owner. */
  get uid(): number {
    return toInt(text(this.node, "UID"), -1);
  }
  /** GID of the owner. */
  get gid(): number {
    return toInt(text(this.node, "GID"), -1);
  }
  /** UNAME of the owner. */
  get uname(): string {
    return text(this.node, "UNAME");
  }
  /** GNAME of the owner group. */
  get gname(): string {
    return text(this.node, "GNAME");
  }
  /** VM ids using the image. */
  get vms(): number[] {
    return idList(child(this.node, "VMS"));
  }
  /** mkfs of a disk-saveas target (FORMAT, or ≤5.12 FSTYPE, is `save_as`). */
  get isSaveAs(): boolean {
    return this.format === "save_as";
  }
  /** An IMAGE/TEMPLATE attribute ("" when absent). */
  get(name: string): string {
    return this.template.get(name);
  }
}

// ---------------------------------------------------------------------------------------------
// DATASTORE

/** Datastore types (`/DATASTORE/TYPE`). */
export const DS_TYPES = ["IMAGE", "SYSTEM", "FILE", "BACKUP"];
const DISK_TYPES = ["FILE", "CD_ROM", "BLOCK", "RBD"];

/** A `<DATASTORE>` document, or the DATASTORE inside a driver message. */
export class DatastoreView {
  /** The DATASTORE element. */
  readonly node: XmlNode;
  /** Datastore id. */
  readonly id: number;
  /** TEMPLATE attributes. */
  readonly template: Attrs;

  constructor(node: XmlNode) {
    this.node = expectRoot(node, "DATASTORE");
    this.id = requireId(node, "DATASTORE");
    this.template = new Attrs(child(node, "TEMPLATE"), `datastore ${this.id}`);
  }

  /** NAME. */
  get name(): string {
    return text(this.node, "NAME");
  }
  /** DS_MAD ("-" for system datastores). */
  get dsMad(): string {
    return text(this.node, "DS_MAD");
  }
  /** TM_MAD. */
  get tmMad(): string {
    return text(this.node, "TM_MAD");
  }
  /** TYPE number (0 IMAGE, 1 SYSTEM, 2 FILE, 3 BACKUP), -1 when absent. */
  get type(): number {
    return toInt(text(this.node, "TYPE"), -1);
  }
  /** TYPE name: IMAGE, SYSTEM, FILE, BACKUP ("" when unknown). */
  get typeName(): string {
    return DS_TYPES[this.type] ?? "";
  }
  /** True for system datastores. */
  get isSystem(): boolean {
    return this.type === 1;
  }
  /** BASE_PATH as oned writes it (may contain `//`). */
  get basePath(): string {
    return text(this.node, "BASE_PATH");
  }
  /** Disk type name: TEMPLATE/DISK_TYPE when set, else from the numeric DISK_TYPE. */
  get diskType(): string {
    const t = this.template.get("DISK_TYPE").toUpperCase();
    if (t) return t;
    const n = toInt(text(this.node, "DISK_TYPE"), -1);
    return DISK_TYPES[n] ?? (n >= 0 ? String(n) : "");
  }
  /** TEMPLATE/SHARED=YES. */
  get shared(): boolean {
    return yes(this.template.get("SHARED"));
  }
  /** STATE (0 READY, 1 DISABLED), -1 when absent. */
  get state(): number {
    return toInt(text(this.node, "STATE"), -1);
  }
  /** TOTAL_MB as oned last saw it. */
  get totalMb(): number {
    return toNum(text(this.node, "TOTAL_MB"), 0);
  }
  /** FREE_MB as oned last saw it. */
  get freeMb(): number {
    return toNum(text(this.node, "FREE_MB"), 0);
  }
  /** USED_MB as oned last saw it. */
  get usedMb(): number {
    return toNum(text(this.node, "USED_MB"), 0);
  }
  /** Cluster ids. */
  get clusterIds(): number[] {
    return idList(child(this.node, "CLUSTERS"));
  }
  /** Image ids. */
  get imageIds(): number[] {
    return idList(child(this.node, "IMAGES"));
  }
}

// ---------------------------------------------------------------------------------------------
// HOST

/** A `<HOST>` document (one.host.info or an entry of one.hostpool.info). */
export class HostView {
  /** The HOST element. */
  readonly node: XmlNode;
  /** Host id. */
  readonly id: number;
  /** TEMPLATE attributes. */
  readonly template: Attrs;

  constructor(node: XmlNode) {
    this.node = expectRoot(node, "HOST");
    this.id = requireId(node, "HOST");
    this.template = new Attrs(child(node, "TEMPLATE"), `host ${this.id}`);
  }
  /** NAME (what appears in `host:path` arguments). */
  get name(): string {
    return text(this.node, "NAME");
  }
  /** STATE (2 MONITORED, 3 ERROR, 4 DISABLED, 8 OFFLINE, …), -1 when absent. */
  get state(): number {
    return toInt(text(this.node, "STATE"), -1);
  }
  /** IM_MAD. */
  get imMad(): string {
    return text(this.node, "IM_MAD");
  }
  /** VM_MAD. */
  get vmMad(): string {
    return text(this.node, "VM_MAD");
  }
  /** CLUSTER_ID, -1 when absent. */
  get clusterId(): number {
    return toInt(text(this.node, "CLUSTER_ID"), -1);
  }
  /** VM ids running on the host. */
  get vms(): number[] {
    return idList(child(this.node, "VMS"));
  }
}

// ---------------------------------------------------------------------------------------------
// driver action payloads

/** `<DS_DRIVER_ACTION_DATA>`: the payload of every datastore action. */
export class DsActionView {
  /** The root element. */
  readonly node: XmlNode;
  /** IMAGE (absent for monitor). */
  readonly image: ImageView | undefined;
  /** DATASTORE (always present). */
  readonly datastore: DatastoreView;
  /** VM (DS `backup` on ≥7.0, TM restore's `ls`), if present. */
  readonly vm: VmView | undefined;

  constructor(node: XmlNode) {
    this.node = expectRoot(node, "DS_DRIVER_ACTION_DATA");
    const ds = child(node, "DATASTORE");
    if (!ds) throw new OneblkError("input", "DS_DRIVER_ACTION_DATA has no DATASTORE element");
    this.datastore = new DatastoreView(ds);
    const img = child(node, "IMAGE");
    this.image = img ? new ImageView(img) : undefined;
    const vm = child(node, "VM");
    this.vm = vm ? new VmView(vm) : undefined;
  }

  /** The IMAGE, or OneblkError("input") when the payload has none. */
  requireImage(): ImageView {
    if (!this.image) throw new OneblkError("input", "DS_DRIVER_ACTION_DATA has no IMAGE element");
    return this.image;
  }
  /** Any other top-level element's text ("" when absent), e.g. DESTINATION_DS_ID. */
  get(name: string): string {
    return leafText(this.node, name).trim();
  }
  /** SOURCE_BRIDGE_LIST of a clone (the source datastore's BRIDGE_LIST), split. */
  get sourceBridgeList(): string[] {
    return this.get("SOURCE_BRIDGE_LIST").split(/[\s,]+/).filter((s) => s !== "");
  }
  /** DATASTORE_LOCATION of a system-DS monitor ("" otherwise). */
  get datastoreLocation(): string {
    return this.get("DATASTORE_LOCATION");
  }
  /** MONITOR_VM_DISKS=1: push per-VM disk usage this cycle. */
  get monitorVmDisks(): boolean {
    return yes(this.get("MONITOR_VM_DISKS"));
  }
  /** MARKETPLACE element of a cp from a marketplace app, if any. */
  get marketplace(): XmlNode | undefined {
    return child(this.node, "MARKETPLACE");
  }
}

/** `<VMM_DRIVER_ACTION_DATA>`: the payload of VMM actions and overrides. */
export class VmmActionView {
  /** The root element. */
  readonly node: XmlNode;
  /** The VM. */
  readonly vm: VmView;
  /** The (system) DATASTORE, if present. */
  readonly datastore: DatastoreView | undefined;

  constructor(node: XmlNode) {
    this.node = expectRoot(node, "VMM_DRIVER_ACTION_DATA");
    const vm = child(node, "VM");
    if (!vm) throw new OneblkError("input", "VMM_DRIVER_ACTION_DATA has no VM element");
    this.vm = new VmView(vm);
    const ds = child(node, "DATASTORE");
    this.datastore = ds ? new DatastoreView(ds) : undefined;
  }

  /** Any top-level element's text, trimmed ("" when absent). */
  get(name: string): string {
    return leafText(this.node, name).trim();
  }
  /** HOST: the host the action runs for (source host during migrate). */
  get host(): string {
    return this.get("HOST");
  }
  /** MIGR_HOST: migration destination ("" otherwise). */
  get migrHost(): string {
    return this.get("MIGR_HOST");
  }
  /** DEPLOY_ID. */
  get deployId(): string {
    return this.get("DEPLOY_ID");
  }
  /** CHECKPOINT_FILE (save/restore). */
  get checkpointFile(): string {
    return this.get("CHECKPOINT_FILE");
  }
  /** LOCAL_DEPLOYMENT_FILE (deploy, on the front-end). */
  get localDeploymentFile(): string {
    return this.get("LOCAL_DEPLOYMENT_FILE");
  }
  /** REMOTE_DEPLOYMENT_FILE (deploy, on the host). */
  get remoteDeploymentFile(): string {
    return this.get("REMOTE_DEPLOYMENT_FILE");
  }
  /** TM_COMMAND run by the MAD around the action (trimmed; "" when none). */
  get tmCommand(): string {
    return this.get("TM_COMMAND");
  }
  /** TM_COMMAND_ROLLBACK ("" when none). */
  get tmCommandRollback(): string {
    return this.get("TM_COMMAND_ROLLBACK");
  }
  /** DISK_TARGET_PATH (DIR/disk.i of the attached disk, or the VM dir). */
  get diskTargetPath(): string {
    return this.get("DISK_TARGET_PATH");
  }
}

// ---------------------------------------------------------------------------------------------
// factories

/** View over a `<VM>` element. */
export function vmFromNode(node: XmlNode): VmView {
  return new VmView(node);
}
/** View over an `<IMAGE>` element. */
export function imageFromNode(node: XmlNode): ImageView {
  return new ImageView(node);
}
/** View over a `<DATASTORE>` element. */
export function datastoreFromNode(node: XmlNode): DatastoreView {
  return new DatastoreView(node);
}
/** View over a `<HOST>` element. */
export function hostFromNode(node: XmlNode): HostView {
  return new HostView(node);
}

/**
 * Parse `<VM>` XML text. Rejects with OneblkError("input") on empty/malformed/wrong documents
 * (so do the other `parse…` functions).
 */
export async function parseVm(xml: string): Promise<VmView> {
  return new VmView(await parseXml(xml, "VM XML"));
}
/** Parse `<DATASTORE>` XML text. */
export async function parseDatastore(xml: string): Promise<DatastoreView> {
  return new DatastoreView(await parseXml(xml, "DATASTORE XML"));
}
/** Parse decoded `<DS_DRIVER_ACTION_DATA>` XML text. */
export async function parseDsAction(xml: string): Promise<DsActionView> {
  return new DsActionView(await parseXml(xml, "DS_DRIVER_ACTION_DATA"));
}
/** Parse decoded `<VMM_DRIVER_ACTION_DATA>` XML text. */
export async function parseVmmAction(xml: string): Promise<VmmActionView> {
  return new VmmActionView(await parseXml(xml, "VMM_DRIVER_ACTION_DATA"));
}

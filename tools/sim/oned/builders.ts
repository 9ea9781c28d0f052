/**
 * Builders for oned XML documents in the shape of the shared fixtures (`onevm show -x` etc.):
 * VM, IMAGE, DATASTORE, HOST, and the DS/VMM driver-action payloads. Template values are
 * written as CDATA like oned does. Everything they produce parses into lib/one/views.ts.
 */
import { escapeXml } from "../../../lib/one/xml.ts";

function cd(v: string): string {
  return `<![CDATA[${v.replaceAll("]]>", "]]]]><![CDATA[>")}]]>`;
}

/** `<NAME>escaped</NAME>`. */
function el(name: string, v: string | number): string {
  return `<${name}>${escapeXml(String(v))}</${name}>`;
}

/** `<NAME><![CDATA[v]]></NAME>`. */
function ce(name: string, v: string | number): string {
  return `<${name}>${cd(String(v))}</${name}>`;
}

function ids(name: string, list: number[] = []): string {
  return `<${name}>${list.map((i) => el("ID", i)).join("")}</${name}>`;
}

/** Template attributes: string → leaf (CDATA); record → vector; array → repeated vectors. */
export type TemplateInput = Record<
  string,
  string | number | Record<string, string | number> | Record<string, string | number>[]
>;

function tpl(attrs: TemplateInput = {}): string {
  return Object.entries(attrs).map(([k, v]) => {
    if (typeof v === "string" || typeof v === "number") return ce(k, v);
    const vs = Array.isArray(v) ? v : [v];
    return vs.map((x) => `<${k}>${Object.entries(x).map(([a, b]) => ce(a, b)).join("")}</${k}>`)
      .join("");
  }).join("");
}

const PERMS = "<PERMISSIONS><OWNER_U>1</OWNER_U><OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A>" +
  "<GROUP_U>0</GROUP_U><GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A>" +
  "<OTHER_U>0</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS>";

function owner(o: { uid?: number; gid?: number; uname?: string; gname?: string }): string {
  return el("UID", o.uid ?? 0) + el("GID", o.gid ?? 0) + el("UNAME", o.uname ?? "oneadmin") +
    el("GNAME", o.gname ?? "oneadmin");
}

/** One snapshot for builders. */
export interface SnapshotInput {
  id: number;
  name?: string;
  size?: number;
  active?: boolean;
  parent?: number;
  date?: number;
  children?: number[];
}

function snapshots(list: SnapshotInput[], diskId?: number, next?: number): string {
  const s = list.map((x) =>
    "<SNAPSHOT>" + (x.active ? ce("ACTIVE", "YES") : "") +
    (x.children?.length ? ce("CHILDREN", x.children.join(",")) : "") +
    ce("DATE", x.date ?? 1718000000) + ce("ID", x.id) + ce("NAME", x.name ?? `snap-${x.id}`) +
    ce("PARENT", x.parent ?? -1) + ce("SIZE", x.size ?? 0) + "</SNAPSHOT>"
  ).join("");
  const nextId = next ?? (list.length ? Math.max(...list.map((x) => x.id)) + 1 : 0);
  return "<SNAPSHOTS>" + ce("ALLOW_ORPHANS", "YES") + ce("CURRENT_BASE", -1) +
    (diskId !== undefined ? ce("DISK_ID", diskId) : "") + ce("NEXT_SNAPSHOT", nextId) + s +
    "</SNAPSHOTS>";
}

/** A VM disk for buildVmXml. Unset fields are omitted (volatile disks have no imageId). */
export interface DiskInput {
  diskId: number;
  imageId?: number;
  image?: string;
  source?: string;
  clone?: boolean;
  persistent?: boolean;
  /** TYPE: BLOCK, CDROM, FILE, fs, swap, … */
  type?: string;
  diskType?: string;
  size?: number;
  originalSize?: number;
  datastoreId?: number;
  datastore?: string;
  tmMad?: string;
  tmMadSystem?: string;
  format?: string;
  driver?: string;
  fs?: string;
  target?: string;
  readonly?: boolean;
  shareable?: boolean;
  attach?: boolean;
  /** Extra DISK attributes. */
  extra?: Record<string, string | number>;
}

/** A HISTORY record for buildVmXml. */
export interface HistoryInput {
  hostname: string;
  hid?: number;
  dsId: number;
  tmMad: string;
  vmMad?: string;
  action?: number;
}

/** Input of buildVmXml. */
export interface VmInput {
  id: number;
  name?: string;
  state?: number;
  lcmState?: number;
  prevState?: number;
  prevLcmState?: number;
  deployId?: string;
  uid?: number;
  gid?: number;
  disks?: DiskInput[];
  /** CONTEXT disk id (adds TEMPLATE/CONTEXT). */
  contextDiskId?: number;
  history?: HistoryInput[];
  template?: TemplateInput;
  userTemplate?: TemplateInput;
  /** Disk snapshots per disk id. */
  snapshots?: { diskId: number; snapshots: SnapshotInput[] }[];
  backupConfig?: Record<string, string | number>;
  /** Adds <BACKUP_RESULT> (HEAD postbackup on failure). */
  backupResult?: string;
  /** BACKUPS/BACKUP_IDS: the VM's backup images. */
  backupIds?: number[];
}

const yn = (b: boolean) => (b ? "YES" : "NO");

function diskXml(d: DiskInput): string {
  const a: [string, string | number | undefined][] = [
    ["ATTACH", d.attach ? "YES" : undefined],
    ["CLONE", d.clone === undefined ? undefined : yn(d.clone)],
    ["DATASTORE", d.datastore],
    ["DATASTORE_ID", d.datastoreId],
    ["DISK_ID", d.diskId],
    ["DISK_TYPE", d.diskType],
    ["DRIVER", d.driver],
    ["FORMAT", d.format],
    ["FS", d.fs],
    ["IMAGE", d.image],
    ["IMAGE_ID", d.imageId],
    ["ORIGINAL_SIZE", d.originalSize],
    ["PERSISTENT", d.persistent ? "YES" : undefined],
    ["READONLY", d.readonly === undefined ? undefined : yn(d.readonly)],
    ["SAVE", d.imageId === undefined ? undefined : yn(!!d.persistent)],
    ["SHAREABLE", d.shareable ? "YES" : undefined],
    ["SIZE", d.size],
    ["SOURCE", d.source],
    ["TARGET", d.target],
    ["TM_MAD", d.tmMad],
    ["TM_MAD_SYSTEM", d.tmMadSystem],
    ["TYPE", d.type],
  ];
  const body = a.filter(([, v]) => v !== undefined).map(([k, v]) => ce(k, v as string)).join("");
  return `<DISK>${body}${tpl(d.extra ?? {})}</DISK>`;
}

/** `<VM>` document like `onevm show -x`. */
export function buildVmXml(v: VmInput): string {
  const hist = (v.history ?? []).map((h, seq) =>
    "<HISTORY>" + el("OID", v.id) + el("SEQ", seq) + el("HOSTNAME", h.hostname) +
    el("HID", h.hid ?? seq) + el("CID", 0) + el("STIME", 1718003010) + el("ETIME", 0) +
    ce("VM_MAD", h.vmMad ?? "kvm") + ce("TM_MAD", h.tmMad) + el("DS_ID", h.dsId) +
    el("ACTION", h.action ?? 0) + "</HISTORY>"
  ).join("");
  const context = v.contextDiskId === undefined
    ? ""
    : `<CONTEXT>${ce("DISK_ID", v.contextDiskId)}${ce("NETWORK", "YES")}${
      ce("TARGET", "hda")
    }</CONTEXT>`;
  return "<VM>" + el("ID", v.id) + owner(v) + el("NAME", v.name ?? `vm-${v.id}`) + PERMS +
    el("LAST_POLL", 0) + el("STATE", v.state ?? 3) + el("LCM_STATE", v.lcmState ?? 3) +
    el("PREV_STATE", v.prevState ?? v.state ?? 3) +
    el("PREV_LCM_STATE", v.prevLcmState ?? v.lcmState ?? 3) + el("RESCHED", 0) +
    el("STIME", 1718003000) + el("ETIME", 0) + el("DEPLOY_ID", v.deployId ?? `one-${v.id}`) +
    "<MONITORING/>" + "<TEMPLATE>" + context + (v.disks ?? []).map(diskXml).join("") +
    tpl(v.template ?? {}) + ce("VMID", v.id) + "</TEMPLATE>" +
    `<USER_TEMPLATE>${tpl(v.userTemplate ?? {})}</USER_TEMPLATE>` +
    `<HISTORY_RECORDS>${hist}</HISTORY_RECORDS>` +
    (v.snapshots ?? []).map((s) => snapshots(s.snapshots, s.diskId)).join("") +
    `<BACKUPS><BACKUP_CONFIG>${tpl(v.backupConfig ?? {})}</BACKUP_CONFIG>` +
    ids("BACKUP_IDS", v.backupIds) + "</BACKUPS>" +
    (v.backupResult ? el("BACKUP_RESULT", v.backupResult) : "") + "</VM>";
}

/** Input of buildImageXml. */
export interface ImageInput {
  id: number;
  name?: string;
  source?: string;
  path?: string;
  size?: number;
  format?: string;
  fs?: string;
  /** Write ≤5.12 `FSTYPE` (= format) instead of FORMAT/FS. */
  legacyFstype?: boolean;
  /** TYPE number (0 OS, 1 CDROM, 2 DATABLOCK, …). */
  type?: number;
  diskType?: number;
  persistent?: boolean;
  state?: number;
  datastoreId: number;
  datastore?: string;
  cloningId?: number;
  targetSnapshot?: number;
  vms?: number[];
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  template?: TemplateInput;
  snapshots?: SnapshotInput[];
  /** BACKUP_INCREMENTS of a backup image (MODE=INCREMENT chains). */
  increments?: IncrementInput[];
}

/** One BACKUP_INCREMENTS/INCREMENT of a backup image. */
export interface IncrementInput {
  id: number;
  /** FULL or INCREMENT. */
  type: string;
  parentId: number;
  source: string;
  size: number;
  date?: number;
}

function increments(list: IncrementInput[] = []): string {
  return "<BACKUP_INCREMENTS>" +
    list.map((i) =>
      "<INCREMENT>" + ce("DATE", i.date ?? 1718000000) + ce("ID", i.id) +
      ce("PARENT_ID", i.parentId) + ce("SIZE", i.size) + ce("SOURCE", i.source) +
      ce("TYPE", i.type) + "</INCREMENT>"
    ).join("") + "</BACKUP_INCREMENTS>";
}

/** `<IMAGE>` document like `oneimage show -x`. */
export function buildImageXml(i: ImageInput): string {
  const fmt = i.legacyFstype
    ? ce("FSTYPE", i.format ?? "")
    : ce("FORMAT", i.format ?? "raw") + ce("FS", i.fs ?? "");
  return "<IMAGE>" + el("ID", i.id) + owner(i) + el("NAME", i.name ?? `image-${i.id}`) + PERMS +
    el("TYPE", i.type ?? 0) + el("DISK_TYPE", i.diskType ?? 2) +
    el("PERSISTENT", i.persistent ? 1 : 0) + el("REGTIME", 1718000000) +
    el("MODTIME", 1718000000) + ce("SOURCE", i.source ?? "") + ce("PATH", i.path ?? "") + fmt +
    el("SIZE", i.size ?? 0) + el("STATE", i.state ?? 1) + el("PREV_STATE", 0) +
    el("RUNNING_VMS", i.vms?.length ?? 0) + el("CLONING_OPS", 0) +
    el("CLONING_ID", i.cloningId ?? -1) + el("TARGET_SNAPSHOT", i.targetSnapshot ?? -1) +
    el("DATASTORE_ID", i.datastoreId) + el("DATASTORE", i.datastore ?? `ds-${i.datastoreId}`) +
    ids("VMS", i.vms) + "<CLONES/><APP_CLONES/>" + `<TEMPLATE>${tpl(i.template ?? {})}</TEMPLATE>` +
    snapshots(i.snapshots ?? []) + increments(i.increments) + "<BACKUP_DISK_IDS/></IMAGE>";
}

/** Input of buildDatastoreXml. */
export interface DatastoreInput {
  id: number;
  name?: string;
  dsMad?: string;
  tmMad: string;
  /** IMAGE | SYSTEM | FILE | BACKUP or the TYPE number. */
  type?: "IMAGE" | "SYSTEM" | "FILE" | "BACKUP" | number;
  basePath?: string;
  diskType?: number;
  totalMb?: number;
  freeMb?: number;
  usedMb?: number;
  clusters?: number[];
  images?: number[];
  /** TEMPLATE attributes; DS_MAD, TM_MAD and TYPE are added when absent. */
  template?: TemplateInput;
}

const DS_TYPE_NUM = { IMAGE: 0, SYSTEM: 1, FILE: 2, BACKUP: 3 } as const;

/** `<DATASTORE>` document like `onedatastore show -x`. */
export function buildDatastoreXml(d: DatastoreInput): string {
  const type = typeof d.type === "number" ? d.type : DS_TYPE_NUM[d.type ?? "IMAGE"];
  const typeName = ["IMAGE_DS", "SYSTEM_DS", "FILE_DS", "BACKUP_DS"][type] ?? "IMAGE_DS";
  const dsMad = d.dsMad ?? (type === 1 ? "-" : d.tmMad);
  const t: TemplateInput = { ...(d.template ?? {}) };
  if (!("DS_MAD" in t) && type !== 1) t.DS_MAD = dsMad;
  if (!("TM_MAD" in t)) t.TM_MAD = d.tmMad;
  if (!("TYPE" in t)) t.TYPE = typeName;
  return "<DATASTORE>" + el("ID", d.id) + owner({}) + el("NAME", d.name ?? `ds-${d.id}`) +
    PERMS + ce("DS_MAD", dsMad) + ce("TM_MAD", d.tmMad) +
    ce("BASE_PATH", d.basePath ?? `/var/lib/one//datastores/${d.id}`) + el("TYPE", type) +
    el("DISK_TYPE", d.diskType ?? (type === 1 ? 0 : 2)) + el("STATE", 0) +
    ids("CLUSTERS", d.clusters ?? [0]) + el("TOTAL_MB", d.totalMb ?? 0) +
    el("FREE_MB", d.freeMb ?? 0) + el("USED_MB", d.usedMb ?? 0) + ids("IMAGES", d.images) +
    `<TEMPLATE>${tpl(t)}</TEMPLATE></DATASTORE>`;
}

/** Input of buildHostXml. */
export interface HostInput {
  id: number;
  name: string;
  /** STATE (2 MONITORED by default; 8 OFFLINE, 4 DISABLED, 3 ERROR). */
  state?: number;
  imMad?: string;
  vmMad?: string;
  clusterId?: number;
  vms?: number[];
  template?: TemplateInput;
}

/** `<HOST>` document like `onehost show -x` (one.host.info). */
export function buildHostXml(h: HostInput): string {
  return "<HOST>" + el("ID", h.id) + el("NAME", h.name) + el("STATE", h.state ?? 2) +
    el("PREV_STATE", h.state ?? 2) + ce("IM_MAD", h.imMad ?? "kvm") +
    ce("VM_MAD", h.vmMad ?? "kvm") + el("CLUSTER_ID", h.clusterId ?? 0) +
    el("CLUSTER", "default") + "<HOST_SHARE/>" + ids("VMS", h.vms) +
    `<TEMPLATE>${tpl({ HOSTNAME: h.name, ...(h.template ?? {}) })}</TEMPLATE></HOST>`;
}

function stripDecl(xml: string): string {
  return xml.replace(/^\s*<\?xml[^>]*\?>\s*/, "").trim();
}

/** `<DS_DRIVER_ACTION_DATA>` with the given IMAGE/DATASTORE/VM documents and extra leaves. */
export function buildDsActionXml(
  p: { image?: string; datastore: string; vm?: string; extra?: Record<string, string | number> },
): string {
  const extra = Object.entries(p.extra ?? {}).map(([k, v]) => el(k, v)).join("");
  return "<DS_DRIVER_ACTION_DATA>" + (p.image ? stripDecl(p.image) : "") +
    stripDecl(p.datastore) + (p.vm ? stripDecl(p.vm) : "") + extra + "</DS_DRIVER_ACTION_DATA>";
}

/** Input of buildVmmActionXml. */
export interface VmmActionInput {
  vm: string;
  datastore?: string;
  host: string;
  migrHost?: string;
  deployId?: string;
  localDeploymentFile?: string;
  remoteDeploymentFile?: string;
  checkpointFile?: string;
  tmCommand?: string;
  tmCommandRollback?: string;
  diskTargetPath?: string;
}

/** `<VMM_DRIVER_ACTION_DATA>` as the VMM MAD receives it. */
export function buildVmmActionXml(p: VmmActionInput): string {
  const leaf = (n: string, v?: string) => (v ? el(n, v) : `<${n}/>`);
  return "<VMM_DRIVER_ACTION_DATA>" + leaf("HOST", p.host) + leaf("MIGR_HOST", p.migrHost) +
    leaf("DEPLOY_ID", p.deployId) + leaf("LOCAL_DEPLOYMENT_FILE", p.localDeploymentFile) +
    leaf("REMOTE_DEPLOYMENT_FILE", p.remoteDeploymentFile) +
    leaf("CHECKPOINT_FILE", p.checkpointFile) + leaf("TM_COMMAND", p.tmCommand) +
    leaf("TM_COMMAND_ROLLBACK", p.tmCommandRollback) +
    leaf("DISK_TARGET_PATH", p.diskTargetPath) + stripDecl(p.vm) +
    (p.datastore ? stripDecl(p.datastore) : "") + "</VMM_DRIVER_ACTION_DATA>";
}

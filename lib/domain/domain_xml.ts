/**
 * libvirt domain XML as OpenNebula writes it for KVM, and oneblk's storage rewrites of it.
 *
 * Pure functions over the XmlNode tree of `lib/one/xml.ts`: no I/O, no text edits. Rewrites
 * never mutate their input; they return a new tree that shares every untouched element with
 * the old one. What is rewritten (the add-on's deploy-tweaks contract is in
 * `docs/contract.md "vmm deploy and disk hot-plug"`):
 *
 * - store-backed disks written as files (`type='file'` + `<source file=…>`) become block devices
 *   (`type='block'` + `<source dev=…>`, same path, every other attribute and child kept).
 *   OpenNebula writes volatile disks, the context CD and CDROM images that way in most
 *   versions, and libvirt refuses to live-migrate a VM with writable file disks that are not
 *   on a shared filesystem. Which disks are on the store is the caller's decision, passed as a
 *   predicate; `storeDiskIds` computes it from the VM the way the add-on's volatile2dev helper
 *   does (the disk's TM_MAD, and for the context the system datastore's TM_MAD).
 * - empty CDROM drives are added when persistent CDROMs are configured (the add-on's
 *   persistent-cdrom helper): IDE and SATA drives cannot be hot-plugged, so a later CDROM
 *   attach becomes a media change into one of them. Bus `sata` on q35 (and `virt`) machines,
 *   `ide` otherwise; names and drive addresses never collide with existing disks.
 *
 * Domain XML facts used here: OpenNebula may write several top-level `<devices>` (and `<os>`)
 * elements; the VM directory on the host is `<metadata><one:vm><one:system_datastore>` and
 * disk N is `<that dir>/disk.N`.
 */
import { dirname } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { diskIdFromPath, normPath } from "../one/args.ts";
import { child, children, mapChildren, toXml, type XmlNode } from "../one/xml.ts";
import { parseXmlSaxes } from "../one/xml_saxes.ts";
import { toInt, type VmView } from "../one/views.ts";

/** Namespace of OpenNebula's `<metadata>` element (`one:vm`). */
export const ONE_LIBVIRT_NS = "http://opennebula.org/xmlns/libvirt/1.0";

// ---------------------------------------------------------------------------------------------
// parse, check, write

/**
 * Parse libvirt domain XML. Throws OneblkError("input") with one line when the text is not
 * well-formed XML with namespaces (the libxml2 rules libvirt applies), or not a `<domain>`
 * with a `type` and exactly one non-empty `<name>` (libvirt refuses a domain without them).
 */
export function parseDomainXml(text: string, what = "domain XML"): XmlNode {
  // strict: saxes's parse (synchronous; every action that edits domain XML loads saxes)
  const root = parseXmlSaxes(text, what, { strict: true });
  if (root.name !== "domain") {
    throw new OneblkError("input", `${what}: root element is <${root.name}>, not <domain>`);
  }
  if (!root.attrs.type) throw new OneblkError("input", `${what}: <domain> has no type attribute`);
  const names = children(root, "name");
  if (names.length !== 1 || !names[0].text.trim()) {
    throw new OneblkError("input", `${what}: <domain> needs exactly one non-empty <name>`);
  }
  return root;
}

/**
 * Why `text` is not usable domain XML (one line), or undefined when it is. For results of
 * operators' deploy-tweaks helpers, which are kept only when this returns undefined.
 */
export function domainXmlProblem(text: string, what = "domain XML"): string | undefined {
  try {
    parseDomainXml(text, what);
    return undefined;
  } catch (e) {
    if (e instanceof OneblkError) return e.message;
    throw e;
  }
}

/**
 * Domain XML text for libvirt: tab-indented like OpenNebula's, attributes in their original
 * order, namespace declarations where they were, CDATA written as escaped text, no comments.
 */
export function serializeDomainXml(domain: XmlNode): string {
  return toXml(domain, { indent: "\t" });
}

// ---------------------------------------------------------------------------------------------
// reading

/** One `<disk>` of the domain (a direct child of a top-level `<devices>`, as libvirt reads it). */
export interface DomainDisk {
  /** The element itself (identity is used to find it again in the same tree). */
  node: XmlNode;
  /** `type`: file, block, network, … */
  type: string;
  /** `device`: disk, cdrom, … ("disk" when absent, libvirt's default). */
  device: string;
  /** `target/@dev` ("" when missing). */
  target: string;
  /** `target/@bus`, else libvirt's default bus for the target name ("" when unknown). */
  bus: string;
  /** `source/@file` or `source/@dev` ("" for an empty drive or a network disk). */
  source: string;
  /** N when `source` is `<VM dir>/disk.N`, else null. */
  diskId: number | null;
  /** No medium: no `<source>`, or one without file/dev/name/volume/dir (an empty CDROM tray). */
  empty: boolean;
}

function localName(name: string): string {
  return name.slice(name.indexOf(":") + 1);
}

/** Namespace URI of an element name, looked up in `scope` (innermost element first). */
function namespaceOf(name: string, scope: XmlNode[]): string | undefined {
  const i = name.indexOf(":");
  const key = i < 0 ? "xmlns" : `xmlns:${name.slice(0, i)}`;
  for (const n of scope) if (key in n.attrs) return n.attrs[key];
  return undefined;
}

/**
 * Whether two host paths name the same file, ignoring repeated and trailing slashes
 * (OpenNebula writes `/var/lib/one//datastores/…`).
 */
export function samePath(a: string, b: string): boolean {
  return normPath(a) === normPath(b);
}

/**
 * The VM directory on the host from `<metadata><one:vm><one:system_datastore>` (matched by
 * namespace, whatever the prefix), or undefined when the domain has none.
 */
export function systemDatastoreDir(domain: XmlNode): string | undefined {
  for (const meta of children(domain, "metadata")) {
    for (const vm of meta.children) {
      const vmScope = [vm, meta, domain];
      if (localName(vm.name) !== "vm" || namespaceOf(vm.name, vmScope) !== ONE_LIBVIRT_NS) continue;
      for (const c of vm.children) {
        if (
          localName(c.name) === "system_datastore" &&
          namespaceOf(c.name, [c, ...vmScope]) === ONE_LIBVIRT_NS
        ) {
          const dir = c.text.trim();
          if (dir) return dir;
        }
      }
    }
  }
  return undefined;
}

/** libvirt's default bus for a disk target name (hdX ide, sdX scsi, vdX virtio, …); "" unknown. */
export function defaultBus(target: string): string {
  const m = /^(hd|sd|vd|xvd|fd|ubd)/.exec(target);
  const bus: Record<string, string> = {
    hd: "ide",
    sd: "scsi",
    vd: "virtio",
    xvd: "xen",
    fd: "fdc",
    ubd: "uml",
  };
  return m ? bus[m[1]] : "";
}

/** Drive index of a target name as libvirt counts it (hda 0, hdb 1, …, sdaa 26), or null. */
export function driveIndex(target: string): number | null {
  const m = /^(?:hd|sd|vd|xvd|fd|ubd)([a-z]+)\d*$/.exec(target);
  if (!m) return null;
  let idx = -1;
  for (const c of m[1]) idx = (idx + 1) * 26 + (c.charCodeAt(0) - 97);
  return idx;
}

/**
 * Drive address a disk occupies on an IDE or SATA bus, as "bus:controller:bus:target:unit":
 * its explicit `<address type='drive'>`, else the one libvirt derives from the target name
 * (IDE: 2 units × 2 buses per controller; SATA: 6 units per controller). Other buses: the
 * explicit address only. libvirt refuses two disks with the same address on one bus type.
 */
function driveKey(d: Pick<DomainDisk, "node" | "bus" | "target">): string | undefined {
  const addr = child(d.node, "address");
  if (addr?.attrs.type === "drive") {
    const n = (k: string) => toInt(addr.attrs[k], 0);
    return `${d.bus}:${n("controller")}:${n("bus")}:${n("target")}:${n("unit")}`;
  }
  const idx = driveIndex(d.target);
  if (idx === null) return undefined;
  if (d.bus === "ide") {
    return `ide:${Math.floor(idx / 4)}:${Math.floor((idx % 4) / 2)}:0:${idx % 2}`;
  }
  if (d.bus === "sata") return `sata:${Math.floor(idx / 6)}:0:0:${idx % 6}`;
  return undefined;
}

function describeDisk(node: XmlNode, sysDir: string | undefined): DomainDisk {
  const tgt = child(node, "target");
  const src = child(node, "source");
  const target = tgt?.attrs.dev ?? "";
  const source = src?.attrs.file ?? src?.attrs.dev ?? "";
  const id = diskIdFromPath(source);
  const inDir = id !== null && (sysDir === undefined || samePath(dirname(source), sysDir));
  return {
    node,
    type: node.attrs.type ?? "",
    device: node.attrs.device ?? "disk",
    target,
    bus: tgt?.attrs.bus || defaultBus(target),
    source,
    diskId: inDir ? id : null,
    empty: !src || !["file", "dev", "name", "volume", "dir"].some((k) => src.attrs[k]),
  };
}

/**
 * Every disk of the domain in document order. `diskId` needs the source path to be in the VM
 * directory of the `one:vm` metadata; a domain without that metadata (not written by
 * OpenNebula) falls back to the file name alone, as the add-on does.
 */
export function domainDisks(domain: XmlNode): DomainDisk[] {
  const sysDir = systemDatastoreDir(domain);
  return children(domain, "devices").flatMap((dev) =>
    children(dev, "disk").map((d) => describeDisk(d, sysDir))
  );
}

/** `machine` of the first `<os><type>` (libvirt reads the first one), "" when absent. */
export function machineType(domain: XmlNode): string {
  for (const os of children(domain, "os")) {
    const t = child(os, "type");
    if (t) return t.attrs.machine ?? "";
  }
  return "";
}

/**
 * Bus of a non-hot-pluggable CDROM drive on this machine: `sata` on q35 (and ARM `virt`, as
 * OpenNebula 7.2+ writes CDROMs there), `ide` on i440fx (no machine attribute, `pc-*`).
 */
export function cdromBus(domain: XmlNode): "ide" | "sata" {
  const m = machineType(domain);
  return m.includes("q35") || m.startsWith("virt") ? "sata" : "ide";
}

/** A CDROM (or any drive) whose bus cannot hot-plug devices: only media can change. */
export function isFixedBus(d: Pick<DomainDisk, "bus">): boolean {
  return d.bus === "ide" || d.bus === "sata";
}

// ---------------------------------------------------------------------------------------------
// which disks are on the store

/** What puts a VM disk on oneblk's store. */
export interface StoreRule {
  /** TM_MAD names of oneblk drivers on this installation, e.g. ["storpool"] (any case). */
  tms: Iterable<string>;
  /**
   * The context ISO is a store volume when the system datastore's TM is in `tms`: true when
   * the profile's `contextVolume()` names a volume (StorPool); false when the ISO stays a
   * plain file in the VM directory (the LINSTOR profiles), which must stay `type='file'`.
   */
  contextOnStore: boolean;
}

/**
 * DISK_IDs of the VM's disks that are block devices on the store: every DISK whose TM_MAD is in
 * `rule.tms` (image disks, CDROM images, and volatile disks, which oned gives the system
 * datastore's TM_MAD), plus the context disk when the current HISTORY's TM_MAD is in
 * `rule.tms` and `rule.contextOnStore`. A DISK entry wins over the context for the same id, as
 * in the add-on's volatile2dev.
 */
export function storeDiskIds(vm: VmView, rule: StoreRule): Set<number> {
  const tms = new Set([...rule.tms].map((t) => t.toLowerCase()));
  const ours = (tm: string) => tms.has(tm.trim().toLowerCase());
  const ids = new Set<number>();
  for (const d of vm.disks) if (d.diskId >= 0 && ours(d.tmMad)) ids.add(d.diskId);
  const ctx = vm.contextDiskId;
  if (
    ctx !== null && !vm.disk(ctx) && rule.contextOnStore && ours(vm.history?.tmMad ?? "")
  ) ids.add(ctx);
  return ids;
}

/** Predicate for `blockStoreDisks`: the disk's id (from its `disk.N` path) is in `ids`. */
export function byDiskId(ids: ReadonlySet<number>): (d: DomainDisk) => boolean {
  return (d) => d.diskId !== null && ids.has(d.diskId);
}

// ---------------------------------------------------------------------------------------------
// rewrite (a): file → block

/** Result of `blockStoreDisks`. */
export interface BlockRewrite {
  /** The new tree (the input itself when nothing changed). */
  domain: XmlNode;
  /** The disks that were converted, as they were before. */
  converted: DomainDisk[];
}

function toBlock(disk: XmlNode): XmlNode {
  return mapChildren({ ...disk, attrs: { ...disk.attrs, type: "block" } }, (c) => {
    if (c.name !== "source" || !("file" in c.attrs)) return c;
    const attrs = Object.fromEntries(
      Object.entries(c.attrs).filter(([k]) => k !== "dev")
        .map(([k, v]) => k === "file" ? ["dev", v] : [k, v]),
    );
    return { ...c, attrs };
  });
}

/**
 * Turn every `type='file'` disk with a `<source file=…>` for which `isStoreDisk` holds into
 * `type='block'` with `<source dev=…>`: same path (the `disk.N` link, which libvirt and QEMU
 * follow to the device), attribute order kept, every other attribute and child untouched.
 * Disks of another type are never touched, so applying it twice changes nothing the second time.
 */
export function blockStoreDisks(
  domain: XmlNode,
  isStoreDisk: (d: DomainDisk) => boolean,
): BlockRewrite {
  const converted = domainDisks(domain).filter((d) =>
    d.type === "file" && child(d.node, "source")?.attrs.file !== undefined && isStoreDisk(d)
  );
  if (converted.length === 0) return { domain, converted };
  const hit = new Set(converted.map((d) => d.node));
  const next = mapChildren(
    domain,
    (dev) => dev.name !== "devices" ? dev : mapChildren(dev, (d) => hit.has(d) ? toBlock(d) : d),
  );
  return { domain: next, converted };
}

// ---------------------------------------------------------------------------------------------
// rewrite (b): persistent CDROM drives

/** Persistent CDROM settings (addon-storpoolrc, overridden per VM in its USER_TEMPLATE). */
export interface PersistentCdroms {
  /** Empty drives wanted (T_PERSISTENT_CDROM); 0 = off. */
  count: number;
  /** Disk type of the new drives (T_PERSISTENT_CDROM_TYPE). */
  type: "block" | "file";
  /** Most CDROM drives a domain may have, counting existing ones (MAX_CDROM_DEVICES). */
  max: number;
}

/** Default of MAX_CDROM_DEVICES in the add-on. */
export const DEFAULT_MAX_CDROMS = 4;

function nonNegative(v: string | undefined): number | undefined {
  const n = toInt(v, NaN);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

function cdromType(v: string | undefined): "block" | "file" | undefined {
  const t = (v ?? "").trim().toLowerCase();
  return t === "block" || t === "file" ? t : undefined;
}

/**
 * Persistent CDROM settings from the add-on's rc variables and the VM's USER_TEMPLATE (which
 * wins when its value is valid): T_PERSISTENT_CDROM (count), T_PERSISTENT_CDROM_TYPE
 * (block | file, default block; the add-on's helper ignores the rc value, oneblk honours it),
 * MAX_CDROM_DEVICES (rc only, default 4).
 */
export function persistentCdroms(
  rc: Readonly<Record<string, string>>,
  userTemplate: { get(name: string): string },
): PersistentCdroms {
  return {
    count: nonNegative(userTemplate.get("T_PERSISTENT_CDROM")) ??
      nonNegative(rc.T_PERSISTENT_CDROM) ?? 0,
    type: cdromType(userTemplate.get("T_PERSISTENT_CDROM_TYPE")) ??
      cdromType(rc.T_PERSISTENT_CDROM_TYPE) ?? "block",
    max: nonNegative(rc.MAX_CDROM_DEVICES) ?? DEFAULT_MAX_CDROMS,
  };
}

/** Result of `addPersistentCdroms`. */
export interface CdromRewrite {
  /** The new tree (the input itself when nothing was added). */
  domain: XmlNode;
  /** Targets of the drives added, in order (e.g. ["hdc", "hdd"]). */
  added: string[];
}

function emptyCdrom(type: string, target: string, bus: string): XmlNode {
  const leaf = (name: string, attrs: Record<string, string>): XmlNode => ({
    name,
    attrs,
    text: "",
    children: [],
  });
  return {
    name: "disk",
    attrs: { type, device: "cdrom" },
    text: "",
    children: [
      leaf("target", { dev: target, bus }),
      leaf("driver", { name: "qemu", type: "raw", cache: "none", io: "native" }),
      leaf("readonly", {}),
    ],
  };
}

/**
 * Add empty CDROM drives (no `<source>`) to the first `<devices>`, like the add-on's
 * persistent-cdrom helper: `<disk type='block|file' device='cdrom'>` with target `hdX` on bus
 * `cdromBus(domain)`, driver raw/cache none/io native, read-only.
 *
 * `want.count` is the number of EMPTY drives wanted, and existing empty drives count toward it,
 * so a second application adds nothing (the add-on's helper adds `count` each time it runs).
 * The total number of CDROM drives stays ≤ `want.max`. Names are the first of hda… (hda–hdd
 * on IDE, the only IDE controller of an i440fx machine; hda–hdf on the q35 built-in SATA
 * controller) not used by any disk and whose drive address is free on that bus: on 7.2+ q35
 * the context CD `sdb` (sata) occupies unit 1, so `hdb` is skipped there. Fewer drives are
 * added when no slot is left.
 */
export function addPersistentCdroms(domain: XmlNode, want: PersistentCdroms): CdromRewrite {
  const disks = domainDisks(domain);
  const cdroms = disks.filter((d) => d.device === "cdrom");
  const empties = cdroms.filter((d) => d.empty).length;
  const n = Math.min(want.max - cdroms.length, want.count - empties);
  if (n <= 0) return { domain, added: [] };
  const bus = cdromBus(domain);
  const names = new Set(disks.map((d) => d.target));
  const taken = new Set(disks.map(driveKey).filter((k) => k !== undefined));
  const added: XmlNode[] = [];
  for (let i = 0; i < (bus === "ide" ? 4 : 6) && added.length < n; i++) {
    const target = `hd${String.fromCharCode(97 + i)}`;
    const node = emptyCdrom(want.type, target, bus);
    const key = driveKey({ node, bus, target });
    if (names.has(target) || (key !== undefined && taken.has(key))) continue;
    added.push(node);
  }
  if (added.length === 0) return { domain, added: [] };
  const targets = added.map((d) => child(d, "target")!.attrs.dev);
  const first = domain.children.findIndex((c) => c.name === "devices");
  if (first < 0) {
    const devices: XmlNode = { name: "devices", attrs: {}, text: "", children: added };
    return { domain: { ...domain, children: [...domain.children, devices] }, added: targets };
  }
  const next = mapChildren(
    domain,
    (c, i) => i === first ? { ...c, children: [...c.children, ...added] } : c,
  );
  return { domain: next, added: targets };
}

// ---------------------------------------------------------------------------------------------
// both, on text

/** What `rewriteDomainStorage` applies. */
export interface StorageRewriteOptions {
  /** Which file disks are block devices on the store (see `storeDiskIds` and `byDiskId`). */
  isStoreDisk: (d: DomainDisk) => boolean;
  /** Persistent CDROM drives to ensure; omitted or count 0 = none. */
  cdroms?: PersistentCdroms;
}

/** Result of `rewriteDomainStorage`. */
export interface StorageRewrite {
  /** The domain XML to hand on: the input text, byte for byte, when nothing changed. */
  xml: string;
  /** Whether anything changed. */
  changed: boolean;
  /** Disks converted to block devices (as they were before). */
  converted: DomainDisk[];
  /** Targets of the CDROM drives added. */
  addedCdroms: string[];
}

/**
 * oneblk's storage rewrites of a domain XML document (deploy): store-backed file disks become
 * block devices, then persistent CDROM drives are added. Throws OneblkError("input") (one line)
 * when `text` is not usable domain XML. Idempotent: rewriting the result again returns it
 * unchanged.
 */
export function rewriteDomainStorage(
  text: string,
  opts: StorageRewriteOptions,
  what = "domain XML",
): StorageRewrite {
  const parsed = parseDomainXml(text, what);
  const a = blockStoreDisks(parsed, opts.isStoreDisk);
  const b = opts.cdroms
    ? addPersistentCdroms(a.domain, opts.cdroms)
    : { domain: a.domain, added: [] };
  const changed = b.domain !== parsed;
  return {
    xml: changed ? serializeDomainXml(b.domain) : text,
    changed,
    converted: a.converted,
    addedCdroms: b.added,
  };
}

// ---------------------------------------------------------------------------------------------
// rewrite (c): the VM directory after a move to another system datastore

/** Where a VM directory lives: `<dsLocation>/<dsId>/<vmId>` (DATASTORE_LOCATION as written). */
export interface VmDirPlace {
  /** DATASTORE_LOCATION as oned writes it, e.g. `/var/lib/one//datastores`. */
  dsLocation: string;
  dsId: number;
  vmId: number;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Result of `relocateVmDir`. */
export interface Relocation {
  /** The new tree (the input itself when nothing changed). */
  domain: XmlNode;
  /** How many attribute values and texts were rewritten. */
  changed: number;
}

/**
 * Point every path of the VM's directory under another system datastore at `to`: in every
 * attribute value and element text, `<dsLocation>/<any ds>/<vmId>` followed by `/` or the end
 * becomes `<to.dsLocation>/<to.dsId>/<vmId>`, whether the old path was written with `//` or not.
 * That is the stock restore's rewrite of a saved domain after the VM moved to another system
 * datastore (docs/contract.md "vmm save and restore"): disk sources, NVRAM, and the
 * `one:system_datastore` metadata. Applying it twice changes nothing the second time.
 */
export function relocateVmDir(domain: XmlNode, to: VmDirPlace): Relocation {
  const loc = normPath(to.dsLocation).split("/").map(escapeRe).join("/+");
  const re = new RegExp(`${loc}/+(\\d+)/+${to.vmId}(?=/|$)`, "g");
  const want = `${to.dsLocation.replace(/\/+$/, "")}/${to.dsId}/${to.vmId}`;
  let changed = 0;
  const fix = (v: string): string => {
    const out = v.replace(re, (m) => (m === want ? m : want));
    if (out !== v) changed++;
    return out;
  };
  const walk = (n: XmlNode): XmlNode => {
    const attrs = Object.fromEntries(Object.entries(n.attrs).map(([k, v]) => [k, fix(v)]));
    const text = fix(n.text);
    const next = mapChildren(n, walk);
    const same = text === n.text && Object.keys(attrs).every((k) => attrs[k] === n.attrs[k]);
    return same && next === n ? n : { ...next, attrs, text };
  };
  const out = walk(domain);
  return { domain: out, changed };
}

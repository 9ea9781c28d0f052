/**
 * ISO 9660 image writer with Rock Ridge and Joliet, for context CD-ROMs: what
 * `genisoimage -V CONTEXT -J -R` makes, without any program on the front-end.
 *
 * Guests find the disc by its label `CONTEXT` (Linux: blkid; FreeBSD: glabel; Windows: the
 * volume label) and read `context.sh` and the other files from it. Linux and BSD kernels
 * read the Rock Ridge names, modes and times of the primary tree; Windows reads the Joliet
 * tree; readers with neither see the ISO 9660 level-1 names (8.3, upper case).
 *
 * Layout of an image (2048-byte sectors):
 * - 0–15 system area (zeros), 16 primary volume descriptor, 17 Joliet supplementary volume
 *   descriptor (UCS-2 level 3), 18 descriptor set terminator;
 * - the path tables: primary L (little-endian) and M (big-endian), then Joliet L and M;
 * - the primary directories, then the Joliet directories (both breadth-first, the order of
 *   the path tables);
 * - the Rock Ridge continuation areas (entries that do not fit a directory record: the ER
 *   entry of the root, long names);
 * - the file data, one extent per file, shared by both trees; then 150 zero sectors of
 *   padding, as genisoimage and xorriso add, so a guest's read-ahead never hits the end.
 *
 * Rock Ridge follows RRIP 1.09 as genisoimage writes it: SP and ER (`RRIP_1991A`) on the
 * root, RR, PX (mode, links, owner), TF (modification, access and attribute times) and NM
 * (the name, split over several entries past 250 bytes) on every record, CE when a record's
 * entries do not fit in it. Symbolic links, devices and hard links are not recorded: a
 * context image holds regular files and directories only.
 *
 * Names: the Rock Ridge name is the entry's own (at most 255 bytes of UTF-8). The Joliet name
 * is the same with `* / : ; ? \` and control characters replaced by `_`, characters outside
 * the Basic Multilingual Plane by `_`, cut to 64 UCS-2 characters as genisoimage does (it
 * keeps the first 64 characters, extension included or not). Where two Joliet names collide
 * after that (genisoimage fails there), the later one ends in `~N`. The primary name is the
 * ISO 9660 level-1 form (`NAME.EXT;1`, 8.3 upper-case d-characters), made unique the same way
 * with digits. Directories deeper than the 8 levels of ISO 9660 are written in place, not
 * relocated (like `genisoimage -D`): Linux, BSD, Windows, libarchive, 7-Zip and libisofs read
 * them.
 *
 * Limits: a file must be smaller than 4 GiB (one extent; multi-extent files of ISO 9660
 * level 3 are not written) and at most 65535 directories per tree (path table numbering).
 *
 * Output is deterministic: the same entries, options and time give the same bytes. Nothing
 * holds the whole image in memory: the metadata (descriptors, path tables, directories) is
 * built in memory, file data is read from the sources in chunks while streaming.
 */
import { OneblkError } from "../errors.ts";
import { concatBytes } from "../bytes.ts";

/** Logical sector (and block) size of the images written here. */
export const ISO_SECTOR = 2048;

/** Largest file an image can hold: the 32-bit data length of one extent (4 GiB - 1). */
export const ISO_MAX_FILE_SIZE = 0xffff_ffff;

/** Sectors of zeros at the end of every image (genisoimage's and xorriso's default). */
export const ISO_PAD_SECTORS = 150;

/** One file or directory to put in an image. */
export interface IsoEntry {
  /**
   * Path inside the image, components separated by `/`, no leading `/`: `context.sh`,
   * `dir/sub/file`. Parent directories are created as needed (mode 0755).
   */
  path: string;
  /** The data: a local file (read when the image is streamed) or the bytes themselves. */
  source?: string | Uint8Array;
  /** True for a directory (then `source` must be absent). */
  dir?: boolean;
  /** Permission bits (0–07777); default 0644 for files and 0755 for directories. */
  mode?: number;
  /** Modification time; default the image time. */
  mtime?: Date;
  /** Owner recorded by Rock Ridge; default 0. */
  uid?: number;
  /** Group recorded by Rock Ridge; default 0. */
  gid?: number;
}

/** Options of an image. */
export interface IsoOptions {
  /** Volume label: up to 16 characters of `A–Z 0–9 _` (default `CONTEXT`). */
  volumeId?: string;
  /** Time of the volume descriptors and default time of the entries (default: now). */
  time?: Date;
  /** Application identifier in the volume descriptors (a-characters, default `ONEBLK`). */
  applicationId?: string;
}

/** An entry whose Joliet name (what Windows shows) differs from its own name. */
export interface IsoRename {
  /** The entry's path. */
  path: string;
  /** The name in the Joliet tree (what Windows shows). */
  joliet: string;
}

interface PlannedFile {
  path: string;
  source: string | Uint8Array;
  size: number;
}

interface Node {
  name: string;
  path: string;
  dir: boolean;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  explicit: boolean;
  source?: string | Uint8Array;
  size: number;
  children: Map<string, Node>;
  parent: Node | null;
  // names
  isoBase: string;
  isoExt: string;
  isoId: Uint8Array;
  joliet: string;
  jolietId: Uint8Array;
  // layout
  pChildren: Node[];
  jChildren: Node[];
  extent: number;
  pSize: number;
  jExtent: number;
  jSize: number;
  pNumber: number;
  jNumber: number;
  subdirs: number;
}

const enc = new TextEncoder();

function fail(message: string): never {
  throw new OneblkError("input", `ISO image: ${message}`);
}

// ---------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------

/**
 * d-characters of ISO 9660 level 1 for one name part: upper case; every other byte of the
 * UTF-8 name becomes `_` (one per byte, as genisoimage maps them).
 */
function dChars(s: string, max: number): string {
  let out = "";
  for (const b of enc.encode(s)) {
    if (out.length >= max) break;
    const ch = String.fromCharCode(b);
    if (/^[A-Z0-9_]$/.test(ch)) out += ch;
    else if (/^[a-z]$/.test(ch)) out += ch.toUpperCase();
    else out += "_";
  }
  return out;
}

/** Level-1 base and extension of `name` (extension empty for directories). */
function isoParts(name: string, dir: boolean): [string, string] {
  if (dir) return [dChars(name, 8) || "_", ""];
  const dot = name.lastIndexOf(".");
  const base = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot + 1) : "";
  return [dChars(base, 8) || "_", dChars(ext, 3)];
}

/** Characters Joliet forbids in names (besides controls and non-BMP ones). */
const JOLIET_BAD = new Set(["*", "/", ":", ";", "?", "\\"]);

/** Maximum Joliet name length in UCS-2 characters (the Joliet specification's 64). */
const JOLIET_MAX = 64;

function jolietName(name: string): string {
  let out = "";
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    out += cp < 0x20 || cp > 0xffff || JOLIET_BAD.has(ch) ? "_" : ch;
  }
  return out.slice(0, JOLIET_MAX);
}

function ucs2(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c >> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

function ascii(s: string): Uint8Array {
  return enc.encode(s);
}

/** Give every child of `dir` a unique level-1 identifier and a unique Joliet name. */
function nameChildren(dir: Node): void {
  // In name order, so which of two colliding names gets the suffix never depends on the
  // order of the entries.
  const kids = [...dir.children.values()].sort((a, b) => cmp(a.name, b.name));
  const isoTaken = new Set<string>();
  const jolietTaken = new Set<string>();
  for (const n of kids) {
    const [first, ext] = isoParts(n.name, n.dir);
    const key = (b: string) => ext ? `${b}.${ext}` : b;
    let base = first;
    for (let i = 0; isoTaken.has(key(base)); i++) {
      const digits = String(i).padStart(3, "0");
      base = first.slice(0, Math.max(0, 8 - digits.length)) + digits;
    }
    isoTaken.add(key(base));
    n.isoBase = base;
    n.isoExt = ext;
    n.isoId = ascii(n.dir ? base : `${base}.${ext};1`);

    let j = jolietName(n.name);
    if (jolietTaken.has(j)) {
      const first = j;
      for (let i = 1;; i++) {
        const suffix = `~${i}`;
        j = first.slice(0, JOLIET_MAX - suffix.length) + suffix;
        if (!jolietTaken.has(j)) break;
      }
    }
    jolietTaken.add(j);
    n.joliet = j;
    n.jolietId = ucs2(j);
  }
}

/** ISO 9660 order (9.3): name part, then extension, each padded with spaces. */
function isoOrder(a: Node, b: Node): number {
  return cmp(a.isoBase, b.isoBase) || cmp(a.isoExt, b.isoExt);
}

/** Joliet order: UCS-2 code units, as genisoimage sorts. */
function jolietOrder(a: Node, b: Node): number {
  return cmp(a.joliet, b.joliet);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------

function newNode(name: string, path: string, dir: boolean, parent: Node | null, time: Date): Node {
  return {
    name,
    path,
    dir,
    mode: dir ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: time,
    explicit: false,
    size: 0,
    children: new Map(),
    parent,
    isoBase: "",
    isoExt: "",
    isoId: new Uint8Array([0]),
    joliet: "",
    jolietId: new Uint8Array([0]),
    pChildren: [],
    jChildren: [],
    extent: 0,
    pSize: 0,
    jExtent: 0,
    jSize: 0,
    pNumber: 0,
    jNumber: 0,
    subdirs: 0,
  };
}

function splitPath(path: string): string[] {
  if (typeof path !== "string" || path === "") fail("an entry has an empty path");
  const parts = path.split("/");
  for (const p of parts) {
    if (p === "" || p === "." || p === "..") {
      fail(`invalid path ${JSON.stringify(path)} (empty, "." or ".." component)`);
    }
    if (p.includes("\0")) fail(`invalid path ${JSON.stringify(path)} (NUL character)`);
    if (enc.encode(p).length > 255) {
      fail(`name ${JSON.stringify(p.slice(0, 40) + "…")} is longer than 255 bytes`);
    }
  }
  return parts;
}

function checkId(n: number | undefined, what: string, path: string): number {
  if (n === undefined) return 0;
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) fail(`${path}: invalid ${what} ${n}`);
  return n;
}

async function sourceSize(path: string, source: string | Uint8Array): Promise<number> {
  if (source instanceof Uint8Array) return source.length;
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(source);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail(`${path}: source ${source} does not exist`);
    fail(`${path}: cannot read ${source}: ${(e as Error).message}`);
  }
  if (!st.isFile) fail(`${path}: source ${source} is not a regular file`);
  return st.size;
}

async function buildTree(entries: readonly IsoEntry[], time: Date): Promise<Node> {
  const root = newNode("", "", true, null, time);
  root.explicit = true;
  for (const e of entries) {
    const parts = splitPath(e.path);
    let cur = root;
    for (let i = 0; i < parts.length - 1; i++) {
      let next = cur.children.get(parts[i]);
      if (!next) {
        next = newNode(parts[i], parts.slice(0, i + 1).join("/"), true, cur, time);
        cur.children.set(parts[i], next);
      } else if (!next.dir) {
        fail(`${e.path}: ${next.path} is a file, not a directory`);
      }
      cur = next;
    }
    const name = parts[parts.length - 1];
    const dir = e.dir === true;
    if (dir && e.source !== undefined) fail(`${e.path}: a directory has no source`);
    if (!dir && e.source === undefined) fail(`${e.path}: a file needs a source`);
    let node = cur.children.get(name);
    if (node && (node.explicit || !node.dir || !dir)) {
      fail(`${e.path} is given twice (or as both a file and a directory)`);
    }
    if (!node) {
      node = newNode(name, e.path, dir, cur, time);
      cur.children.set(name, node);
    }
    node.explicit = true;
    if (e.mode !== undefined) {
      if (!Number.isInteger(e.mode) || e.mode < 0 || e.mode > 0o7777) {
        fail(`${e.path}: invalid mode ${e.mode}`);
      }
      node.mode = e.mode;
    }
    if (e.mtime !== undefined) {
      if (!(e.mtime instanceof Date) || isNaN(e.mtime.getTime())) fail(`${e.path}: invalid mtime`);
      node.mtime = e.mtime;
    }
    node.uid = checkId(e.uid, "uid", e.path);
    node.gid = checkId(e.gid, "gid", e.path);
    if (!dir) {
      node.source = e.source;
      node.size = await sourceSize(e.path, e.source!);
      if (node.size > ISO_MAX_FILE_SIZE) {
        fail(
          `${e.path} is ${node.size} bytes: files of 4 GiB or more do not fit in one ` +
            `ISO 9660 extent (multi-extent files are not supported)`,
        );
      }
    }
  }
  return root;
}

/** Breadth-first list of the directories, children in `order` (the path table order). */
function bfs(root: Node, kids: (n: Node) => Node[]): Node[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const c of kids(out[i])) if (c.dir) out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Encoding helpers
// ---------------------------------------------------------------------------------------

function both32(buf: Uint8Array, off: number, v: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setUint32(off, v, true);
  dv.setUint32(off + 4, v, false);
}

function both16(buf: Uint8Array, off: number, v: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  dv.setUint16(off, v, true);
  dv.setUint16(off + 2, v, false);
}

/** The 7-byte date of directory records and TF entries (UTC). */
function shortDate(d: Date): Uint8Array {
  const y = Math.min(255, Math.max(0, d.getUTCFullYear() - 1900));
  return new Uint8Array([
    y,
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
    0,
  ]);
}

/** The 17-byte date of volume descriptors (UTC); null gives "not specified". */
function longDate(d: Date | null): Uint8Array {
  const out = new Uint8Array(17);
  if (!d) {
    out.fill(0x30, 0, 16);
    return out;
  }
  const p = (n: number, w: number) => String(n).padStart(w, "0");
  const y = Math.min(9999, Math.max(1, d.getUTCFullYear()));
  const s = p(y, 4) + p(d.getUTCMonth() + 1, 2) + p(d.getUTCDate(), 2) +
    p(d.getUTCHours(), 2) + p(d.getUTCMinutes(), 2) + p(d.getUTCSeconds(), 2) +
    p(Math.floor(d.getUTCMilliseconds() / 10), 2);
  out.set(ascii(s));
  return out;
}

function sectors(bytes: number): number {
  return Math.ceil(bytes / ISO_SECTOR);
}

// ---------------------------------------------------------------------------------------
// Rock Ridge (SUSP entries)
// ---------------------------------------------------------------------------------------

const RR_PX = 0x01;
const RR_NM = 0x08;
const RR_TF = 0x80;
const CE_LEN = 28;

const ER_ID = "RRIP_1991A";
const ER_DESCRIPTOR =
  "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const ER_SOURCE = "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER " +
  "IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

function entry(sig: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = sig.charCodeAt(0);
  out[1] = sig.charCodeAt(1);
  out[2] = out.length;
  out[3] = 1;
  out.set(body, 4);
  return out;
}

function spEntry(): Uint8Array {
  return entry("SP", new Uint8Array([0xbe, 0xef, 0]));
}

function rrEntry(flags: number): Uint8Array {
  return entry("RR", new Uint8Array([flags]));
}

function pxEntry(n: Node): Uint8Array {
  const body = new Uint8Array(32);
  const type = n.dir ? 0o040000 : 0o100000;
  both32(body, 0, type | n.mode);
  both32(body, 8, n.dir ? 2 + n.subdirs : 1);
  both32(body, 16, n.uid);
  both32(body, 24, n.gid);
  return entry("PX", body);
}

function tfEntry(n: Node): Uint8Array {
  const body = new Uint8Array(1 + 21);
  body[0] = 0x0e; // modify, access, attributes
  const d = shortDate(n.mtime);
  body.set(d, 1);
  body.set(d, 8);
  body.set(d, 15);
  return entry("TF", body);
}

function nmEntries(name: string): Uint8Array[] {
  const bytes = enc.encode(name);
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += 250) {
    const part = bytes.subarray(off, off + 250);
    const body = new Uint8Array(1 + part.length);
    body[0] = off + 250 < bytes.length ? 1 : 0; // CONTINUE
    body.set(part, 1);
    out.push(entry("NM", body));
  }
  return out;
}

function erEntry(): Uint8Array {
  const id = ascii(ER_ID), des = ascii(ER_DESCRIPTOR), src = ascii(ER_SOURCE);
  const body = new Uint8Array(4 + id.length + des.length + src.length);
  body.set([id.length, des.length, src.length, 1]);
  body.set(id, 4);
  body.set(des, 4 + id.length);
  body.set(src, 4 + id.length + des.length);
  return entry("ER", body);
}

function ceEntry(block: number, offset: number, length: number): Uint8Array {
  const body = new Uint8Array(24);
  both32(body, 0, block);
  both32(body, 8, offset);
  both32(body, 16, length);
  return entry("CE", body);
}

// ---------------------------------------------------------------------------------------
// Directory records
// ---------------------------------------------------------------------------------------

/** One directory record before layout: what it points at and its system use entries. */
interface Rec {
  target: Node;
  /** Which record: the directory itself ("."), its parent (".."), or a child. */
  kind: "self" | "parent" | "child";
  id: Uint8Array;
  joliet: boolean;
  inline: Uint8Array[];
  cont: Uint8Array[];
  len: number;
  /** Continuation area: sector index in the continuation region and offset. */
  ceSector: number;
  ceOffset: number;
}

function makeRec(
  target: Node,
  kind: Rec["kind"],
  id: Uint8Array,
  joliet: boolean,
  susp: Uint8Array[],
): Rec {
  const base = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const avail = 255 - base;
  const total = susp.reduce((s, e) => s + e.length, 0);
  let inline = susp, cont: Uint8Array[] = [];
  if (total > avail) {
    let used = 0, i = 0;
    while (i < susp.length && used + susp[i].length + CE_LEN <= avail) used += susp[i++].length;
    inline = susp.slice(0, i);
    cont = susp.slice(i);
  }
  let len = base + inline.reduce((s, e) => s + e.length, 0) + (cont.length ? CE_LEN : 0);
  if (len % 2) len++;
  return { target, kind, id, joliet, inline, cont, len, ceSector: 0, ceOffset: 0 };
}

function primaryRecords(dir: Node, isRoot: boolean): Rec[] {
  const parent = dir.parent ?? dir;
  const self: Uint8Array[] = isRoot ? [spEntry()] : [];
  self.push(rrEntry(RR_PX | RR_TF), pxEntry(dir), tfEntry(dir));
  if (isRoot) self.push(erEntry());
  const recs = [
    makeRec(dir, "self", new Uint8Array([0]), false, self),
    makeRec(parent, "parent", new Uint8Array([1]), false, [
      rrEntry(RR_PX | RR_TF),
      pxEntry(parent),
      tfEntry(parent),
    ]),
  ];
  for (const c of dir.pChildren) {
    recs.push(
      makeRec(c, "child", c.isoId, false, [
        rrEntry(RR_PX | RR_TF | RR_NM),
        pxEntry(c),
        tfEntry(c),
        ...nmEntries(c.name),
      ]),
    );
  }
  return recs;
}

function jolietRecords(dir: Node): Rec[] {
  const parent = dir.parent ?? dir;
  return [
    makeRec(dir, "self", new Uint8Array([0]), true, []),
    makeRec(parent, "parent", new Uint8Array([1]), true, []),
    ...dir.jChildren.map((c) => makeRec(c, "child", c.jolietId, true, [])),
  ];
}

/** Bytes a directory's records take: records never cross a sector boundary. */
function dirBytes(recs: readonly Rec[]): number {
  let off = 0;
  for (const r of recs) {
    if ((off % ISO_SECTOR) + r.len > ISO_SECTOR) off = Math.ceil(off / ISO_SECTOR) * ISO_SECTOR;
    off += r.len;
  }
  return Math.max(1, sectors(off)) * ISO_SECTOR;
}

/** Encode one record; `ceBase` is the first sector of the continuation region. */
function encodeRec(r: Rec, ceBase: number): Uint8Array {
  const out = new Uint8Array(r.len);
  const n = r.target;
  const extent = n.dir ? (r.joliet ? n.jExtent : n.extent) : n.extent;
  const size = n.dir ? (r.joliet ? n.jSize : n.pSize) : n.size;
  out[0] = r.len;
  both32(out, 2, extent);
  both32(out, 10, size);
  out.set(shortDate(n.mtime), 18);
  out[25] = n.dir ? 0x02 : 0;
  both16(out, 28, 1);
  out[32] = r.id.length;
  out.set(r.id, 33);
  let off = 33 + r.id.length + (r.id.length % 2 === 0 ? 1 : 0);
  for (const e of r.inline) {
    out.set(e, off);
    off += e.length;
  }
  if (r.cont.length) {
    const len = r.cont.reduce((s, e) => s + e.length, 0);
    out.set(ceEntry(ceBase + r.ceSector, r.ceOffset, len), off);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Volume descriptors and path tables
// ---------------------------------------------------------------------------------------

function pathTable(dirs: readonly Node[], joliet: boolean, little: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const d of dirs) {
    const id = d.parent ? (joliet ? d.jolietId : d.isoId) : new Uint8Array([0]);
    const rec = new Uint8Array(8 + id.length + (id.length % 2));
    const dv = new DataView(rec.buffer);
    rec[0] = id.length;
    dv.setUint32(2, joliet ? d.jExtent : d.extent, little);
    const parent = d.parent ?? d;
    dv.setUint16(6, joliet ? parent.jNumber : parent.pNumber, little);
    rec.set(id, 8);
    parts.push(rec);
  }
  return concatBytes(parts);
}

function pathTableSize(dirs: readonly Node[], joliet: boolean): number {
  let n = 0;
  for (const d of dirs) {
    const l = d.parent ? (joliet ? d.jolietId.length : d.isoId.length) : 1;
    n += 8 + l + (l % 2);
  }
  return n;
}

interface VdInfo {
  joliet: boolean;
  volumeId: string;
  applicationId: string;
  volumeSectors: number;
  ptSize: number;
  ptL: number;
  ptM: number;
  root: Node;
  time: Date;
}

/** Fill a text field: a-characters padded with spaces, or UCS-2 padded with UCS-2 spaces. */
function textField(buf: Uint8Array, off: number, len: number, s: string, joliet: boolean): void {
  if (!joliet) {
    buf.fill(0x20, off, off + len);
    buf.set(ascii(s).subarray(0, len), off);
    return;
  }
  for (let i = 0; i + 1 < len; i += 2) {
    buf[off + i] = 0;
    buf[off + i + 1] = 0x20;
  }
  buf.set(ucs2(s).subarray(0, len - (len % 2)), off);
}

function volumeDescriptor(v: VdInfo): Uint8Array {
  const b = new Uint8Array(ISO_SECTOR);
  b[0] = v.joliet ? 2 : 1;
  b.set(ascii("CD001"), 1);
  b[6] = 1;
  textField(b, 8, 32, "LINUX", v.joliet);
  textField(b, 40, 32, v.volumeId, v.joliet);
  both32(b, 80, v.volumeSectors);
  if (v.joliet) b.set(ascii("%/E"), 88); // UCS-2 level 3
  both16(b, 120, 1);
  both16(b, 124, 1);
  both16(b, 128, ISO_SECTOR);
  both32(b, 132, v.ptSize);
  new DataView(b.buffer).setUint32(140, v.ptL, true);
  new DataView(b.buffer).setUint32(148, v.ptM, false);
  // Root directory record (34 bytes, no system use).
  const r = b.subarray(156, 190);
  r[0] = 34;
  both32(r, 2, v.joliet ? v.root.jExtent : v.root.extent);
  both32(r, 10, v.joliet ? v.root.jSize : v.root.pSize);
  r.set(shortDate(v.root.mtime), 18);
  r[25] = 0x02;
  both16(r, 28, 1);
  r[32] = 1;
  textField(b, 190, 128, "", v.joliet); // volume set
  textField(b, 318, 128, "", v.joliet); // publisher
  textField(b, 446, 128, "", v.joliet); // data preparer
  textField(b, 574, 128, v.applicationId, v.joliet);
  textField(b, 702, 37, "", v.joliet); // copyright file
  textField(b, 739, 37, "", v.joliet); // abstract file
  textField(b, 776, 37, "", v.joliet); // bibliographic file
  b.set(longDate(v.time), 813); // creation
  b.set(longDate(v.time), 830); // modification
  b.set(longDate(null), 847); // expiration
  b.set(longDate(v.time), 864); // effective
  b[881] = 1;
  return b;
}

function terminator(): Uint8Array {
  const b = new Uint8Array(ISO_SECTOR);
  b[0] = 255;
  b.set(ascii("CD001"), 1);
  b[6] = 1;
  return b;
}

// ---------------------------------------------------------------------------------------
// Planning and streaming
// ---------------------------------------------------------------------------------------

/**
 * Lay out an image of `entries`: check the paths, stat the source files (their sizes are
 * fixed from here on), name, sort and place everything, and build the metadata. The result
 * knows its size and streams the bytes ({@link IsoImage}). Throws OneblkError("input") with
 * one line for a bad path, a duplicate, a missing source or a file of 4 GiB or more.
 */
export async function planIso(
  entries: readonly IsoEntry[],
  opts: IsoOptions = {},
): Promise<IsoImage> {
  const time = opts.time ?? new Date();
  if (isNaN(time.getTime())) fail("invalid image time");
  const volumeId = opts.volumeId ?? "CONTEXT";
  if (!/^[A-Z0-9_]{1,16}$/.test(volumeId)) {
    fail(`invalid volume id ${JSON.stringify(volumeId)} (1-16 of A-Z, 0-9, _)`);
  }
  const applicationId = opts.applicationId ?? "ONEBLK";
  if (!/^[A-Z0-9_ !"%&'()*+,\-./:;<=>?]{0,64}$/.test(applicationId)) {
    fail(`invalid application id ${JSON.stringify(applicationId)}`);
  }
  const root = await buildTree(entries, time);

  // Names and orders.
  const renames: IsoRename[] = [];
  const all: Node[] = [];
  const walk = (d: Node) => {
    nameChildren(d);
    d.pChildren = [...d.children.values()].sort(isoOrder);
    d.jChildren = [...d.children.values()].sort(jolietOrder);
    d.subdirs = d.pChildren.filter((c) => c.dir).length;
    for (const c of d.pChildren) {
      all.push(c);
      if (c.joliet !== c.name) renames.push({ path: c.path, joliet: c.joliet });
      if (c.dir) walk(c);
    }
  };
  walk(root);
  const pDirs = bfs(root, (n) => n.pChildren);
  const jDirs = bfs(root, (n) => n.jChildren);
  if (pDirs.length > 0xffff) fail(`${pDirs.length} directories: at most 65535 are supported`);
  pDirs.forEach((d, i) => d.pNumber = i + 1);
  jDirs.forEach((d, i) => d.jNumber = i + 1);

  // Records and continuation areas.
  const pRecs = pDirs.map((d) => primaryRecords(d, d === root));
  const jRecs = jDirs.map((d) => jolietRecords(d));
  let ceSector = 0, ceOffset = 0, ceUsed = false;
  for (const recs of pRecs) {
    for (const r of recs) {
      if (!r.cont.length) continue;
      const len = r.cont.reduce((s, e) => s + e.length, 0);
      if (ceOffset + len > ISO_SECTOR) {
        ceSector++;
        ceOffset = 0;
      }
      r.ceSector = ceSector;
      r.ceOffset = ceOffset;
      ceOffset += len;
      ceUsed = true;
    }
  }
  const ceSectors = ceUsed ? ceSector + 1 : 0;

  // Sector allocation.
  let cur = 19;
  const pPtSize = pathTableSize(pDirs, false), jPtSize = pathTableSize(jDirs, true);
  const pL = cur;
  cur += sectors(pPtSize);
  const pM = cur;
  cur += sectors(pPtSize);
  const jL = cur;
  cur += sectors(jPtSize);
  const jM = cur;
  cur += sectors(jPtSize);
  pDirs.forEach((d, i) => {
    d.pSize = dirBytes(pRecs[i]);
    d.extent = cur;
    cur += d.pSize / ISO_SECTOR;
  });
  jDirs.forEach((d, i) => {
    d.jSize = dirBytes(jRecs[i]);
    d.jExtent = cur;
    cur += d.jSize / ISO_SECTOR;
  });
  const ceBase = cur;
  cur += ceSectors;
  const metaSectors = cur;
  const files: PlannedFile[] = [];
  for (const n of all) {
    if (n.dir) continue;
    n.extent = cur;
    cur += sectors(n.size);
    files.push({ path: n.path, source: n.source!, size: n.size });
  }
  const volumeSectors = cur + ISO_PAD_SECTORS;
  if (volumeSectors > 0xffff_ffff) fail("the image would exceed 2^32 sectors");

  // Metadata bytes.
  const meta = new Uint8Array(metaSectors * ISO_SECTOR);
  const vd = { volumeId, applicationId, volumeSectors, root, time };
  meta.set(
    volumeDescriptor({ ...vd, joliet: false, ptSize: pPtSize, ptL: pL, ptM: pM }),
    16 * ISO_SECTOR,
  );
  meta.set(
    volumeDescriptor({ ...vd, joliet: true, ptSize: jPtSize, ptL: jL, ptM: jM }),
    17 * ISO_SECTOR,
  );
  meta.set(terminator(), 18 * ISO_SECTOR);
  meta.set(pathTable(pDirs, false, true), pL * ISO_SECTOR);
  meta.set(pathTable(pDirs, false, false), pM * ISO_SECTOR);
  meta.set(pathTable(jDirs, true, true), jL * ISO_SECTOR);
  meta.set(pathTable(jDirs, true, false), jM * ISO_SECTOR);
  const writeDir = (recs: readonly Rec[], start: number) => {
    let off = 0;
    for (const r of recs) {
      if ((off % ISO_SECTOR) + r.len > ISO_SECTOR) off = Math.ceil(off / ISO_SECTOR) * ISO_SECTOR;
      meta.set(encodeRec(r, ceBase), start * ISO_SECTOR + off);
      if (r.cont.length) {
        meta.set(concatBytes(r.cont), (ceBase + r.ceSector) * ISO_SECTOR + r.ceOffset);
      }
      off += r.len;
    }
  };
  pDirs.forEach((d, i) => writeDir(pRecs[i], d.extent));
  jDirs.forEach((d, i) => writeDir(jRecs[i], d.jExtent));

  return new IsoImage(volumeSectors * ISO_SECTOR, renames, meta, files);
}

/** Chunk size of file data while streaming. */
const CHUNK = 1 << 20;

/**
 * A laid-out image (from {@link planIso}): its size is known and fixed, its bytes are made
 * while they are streamed. Source files are opened one at a time while streaming; a source
 * whose size changed since planning fails the stream with OneblkError("input").
 */
export class IsoImage {
  /** Image size in bytes (a multiple of {@link ISO_SECTOR}). */
  readonly size: number;
  /** Entries whose Joliet name differs from their own (cut, or characters replaced). */
  readonly jolietRenames: readonly IsoRename[];
  readonly #meta: Uint8Array;
  readonly #files: readonly PlannedFile[];

  /** Use {@link planIso}. */
  constructor(size: number, renames: IsoRename[], meta: Uint8Array, files: PlannedFile[]) {
    this.size = size;
    this.jolietRenames = renames;
    this.#meta = meta;
    this.#files = files;
  }

  /** The image's bytes in order, in chunks of at most 1 MiB (fresh buffers). */
  async *chunks(): AsyncGenerator<Uint8Array<ArrayBuffer>> {
    for (let off = 0; off < this.#meta.length; off += CHUNK) {
      yield this.#meta.slice(off, off + CHUNK);
    }
    for (const f of this.#files) {
      if (f.source instanceof Uint8Array) {
        if (f.source.length !== f.size) fail(`${f.path} changed size while the image was written`);
        for (let off = 0; off < f.size; off += CHUNK) yield f.source.slice(off, off + CHUNK);
      } else {
        yield* fileChunks(f.path, f.source, f.size);
      }
      const rest = f.size % ISO_SECTOR;
      if (rest) yield new Uint8Array(ISO_SECTOR - rest);
    }
    for (let left = ISO_PAD_SECTORS * ISO_SECTOR; left > 0; left -= CHUNK) {
      yield new Uint8Array(Math.min(CHUNK, left));
    }
  }

  /** The image's bytes as a stream (e.g. to pipe into a remote command's stdin). */
  stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return ReadableStream.from(this.chunks());
  }

  /** Write the image to the local file `path` (created or truncated; removed on failure). */
  async writeFile(path: string): Promise<void> {
    const cannot = (e: unknown): never => {
      if (e instanceof OneblkError) throw e;
      throw new OneblkError("internal", `cannot write ISO image ${path}: ${(e as Error).message}`);
    };
    const file = await Deno.open(path, { write: true, create: true, truncate: true })
      .catch(cannot);
    try {
      for await (const chunk of this.chunks()) {
        for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
      }
    } catch (e) {
      file.close();
      await Deno.remove(path).catch(() => {});
      cannot(e);
    }
    file.close();
  }
}

async function* fileChunks(
  path: string,
  source: string,
  size: number,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(source, { read: true });
  } catch (e) {
    fail(`${path}: cannot open ${source}: ${(e as Error).message}`);
  }
  try {
    let done = 0;
    while (done < size) {
      const buf = new Uint8Array(Math.min(CHUNK, size - done));
      let got = 0;
      while (got < buf.length) {
        const n = await file.read(buf.subarray(got));
        if (n === null) fail(`${path}: ${source} shrank while the image was written`);
        got += n;
      }
      done += got;
      yield buf;
    }
    if (await file.read(new Uint8Array(1)) !== null) {
      fail(`${path}: ${source} grew while the image was written`);
    }
  } finally {
    file.close();
  }
}

/** Plan and write an image of `entries` to the local file `path`; returns its size. */
export async function writeIso(
  path: string,
  entries: readonly IsoEntry[],
  opts: IsoOptions = {},
): Promise<number> {
  const image = await planIso(entries, opts);
  await image.writeFile(path);
  return image.size;
}

/** Stat a local source (following links): the entry metadata `genisoimage -R` records. */
async function lookSource(src: string) {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(src);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail(`${src} does not exist`);
    fail(`cannot read ${src}: ${(e as Error).message}`);
  }
  const meta = {
    mode: (st.mode ?? (st.isDirectory ? 0o755 : 0o644)) & 0o7777,
    mtime: st.mtime ?? undefined,
    uid: st.uid ?? undefined,
    gid: st.gid ?? undefined,
  };
  return { st, meta };
}

/**
 * The entries for the tree under the local directory `dir`, with each file's mode, owner and
 * modification time, as `genisoimage -R` records them: its contents at the top of the image,
 * or, with `under`, the directory itself at that path (what `cp -R dir ISO/under` makes).
 * Symbolic links are followed (their targets are stored); a missing or unreadable entry, a
 * link loop, a device, a FIFO or a socket is an error.
 */
export async function isoEntriesFromDir(dir: string, under = ""): Promise<IsoEntry[]> {
  const out: IsoEntry[] = [];
  const walk = async (abs: string, rel: string, seen: readonly string[]) => {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(abs)) names.push(e.name);
    } catch (e) {
      fail(`cannot list ${abs}: ${(e as Error).message}`);
    }
    names.sort();
    for (const name of names) {
      const src = `${abs}/${name}`;
      const path = rel ? `${rel}/${name}` : name;
      const { st, meta } = await lookSource(src);
      if (st.isDirectory) {
        const real = await Deno.realPath(src);
        if (seen.includes(real)) fail(`${src} is a link loop`);
        out.push({ path, dir: true, ...meta });
        await walk(src, path, [...seen, real]);
      } else if (st.isFile) {
        out.push({ path, source: src, ...meta });
      } else {
        fail(`${src} is neither a file nor a directory`);
      }
    }
  };
  const top = await lookSource(dir);
  if (!top.st.isDirectory) fail(`${dir} is not a directory`);
  if (under) {
    splitPath(under);
    out.push({ path: under, dir: true, ...top.meta });
  }
  await walk(dir, under, [await Deno.realPath(dir)]);
  return out;
}

/**
 * The entries `cp -R src ISO/at` makes: the local file `src` at path `at`, or the directory
 * `src` and its tree under `at` (isoEntriesFromDir). Metadata and errors as there.
 */
export async function isoEntriesFromPath(src: string, at: string): Promise<IsoEntry[]> {
  splitPath(at);
  const { st, meta } = await lookSource(src);
  if (st.isDirectory) return await isoEntriesFromDir(src, at);
  if (!st.isFile) fail(`${src} is neither a file nor a directory`);
  return [{ path: at, source: src, ...meta }];
}

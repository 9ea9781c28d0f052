/**
 * A strict ISO 9660 reader for the tests, written from ECMA-119, the Joliet specification
 * and SUSP/RRIP 1.09 independently of lib/domain/iso9660.ts (it shares no code with it).
 * It parses the volume descriptors, both path tables of each tree, every directory record
 * and the Rock Ridge entries (following CE continuation areas), and throws on anything
 * malformed: a field whose two byte orders differ, a record crossing a sector, a path table
 * that disagrees with the directories, a wrong "." or "..", an unsorted directory, a
 * duplicate name, an extent outside the volume.
 */

/** Random access to an image. */
export interface IsoSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

/** An image held in memory. */
export function bytesSource(bytes: Uint8Array): IsoSource {
  return { size: bytes.length, read: (o, l) => bytes.subarray(o, o + l) };
}

/** An image in a local file, read on demand (close it when done). */
export function fileSource(path: string): IsoSource & { close(): void } {
  const file = Deno.openSync(path, { read: true });
  return {
    size: file.statSync().size,
    read(offset, length) {
      const out = new Uint8Array(length);
      file.seekSync(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < length) {
        const n = file.readSync(out.subarray(got));
        if (n === null) throw new Error(`read past the end of ${path} at ${offset + got}`);
        got += n;
      }
      return out;
    },
    close: () => file.close(),
  };
}

const SECTOR = 2048;
const dec = new TextDecoder("utf-8", { fatal: true });

/** A parsed volume descriptor (primary or supplementary). */
export interface VolumeDescriptor {
  type: number;
  sector: number;
  systemId: string;
  volumeId: string;
  applicationId: string;
  volumeSectors: number;
  pathTableSize: number;
  pathTableL: number;
  pathTableM: number;
  escape: string;
  created: string;
  root: DirRecord;
  raw: Uint8Array;
}

/** One directory record, as recorded. */
export interface DirRecord {
  /** Byte offset of the record in the image. */
  offset: number;
  length: number;
  extent: number;
  size: number;
  flags: number;
  date: Uint8Array;
  id: Uint8Array;
  systemUse: Uint8Array;
}

/** One SUSP entry and where it was found. */
export interface SuspEntry {
  sig: string;
  version: number;
  body: Uint8Array;
  inContinuation: boolean;
}

/** Rock Ridge data of one record. */
export interface RockRidge {
  entries: SuspEntry[];
  name: string | null;
  mode: number | null;
  nlink: number | null;
  uid: number | null;
  gid: number | null;
  mtime: Date | null;
}

/** A file or directory of one tree. */
export interface IsoNode {
  /** The name in this view: ISO identifier (`NAME.EXT;1`), Rock Ridge name or Joliet name. */
  name: string;
  path: string;
  dir: boolean;
  extent: number;
  size: number;
  record: DirRecord;
  rr: RockRidge | null;
  children: IsoNode[];
}

/** One path table record. */
export interface PathRecord {
  id: Uint8Array;
  extent: number;
  parent: number;
}

/** Everything read from an image. */
export interface IsoReport {
  primary: VolumeDescriptor;
  joliet: VolumeDescriptor | null;
  terminatorSector: number;
  /** True when the root's "." record starts with SUSP SP and an ER names Rock Ridge. */
  rockRidge: boolean;
  erId: string | null;
  /** The primary tree, names as ISO identifiers; `rr` filled when Rock Ridge is present. */
  plain: IsoNode;
  /** The Joliet tree (names decoded from UCS-2). */
  jolietTree: IsoNode | null;
  pathTables: {
    primary: PathRecord[];
    joliet: PathRecord[] | null;
  };
  /** Sectors holding Rock Ridge continuation areas. */
  continuationSectors: number[];
}

function fail(msg: string): never {
  throw new Error(`ISO reader: ${msg}`);
}

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

function be32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function le16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

function be16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function both32(b: Uint8Array, o: number, what: string): number {
  const l = le32(b, o), m = be32(b, o + 4);
  if (l !== m) fail(`${what}: little-endian ${l} != big-endian ${m}`);
  return l;
}

function both16(b: Uint8Array, o: number, what: string): number {
  const l = le16(b, o), m = be16(b, o + 2);
  if (l !== m) fail(`${what}: little-endian ${l} != big-endian ${m}`);
  return l;
}

function latin(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

/** Decode UCS-2 big-endian (no surrogate pairs expected). */
export function decodeUcs2(b: Uint8Array): string {
  if (b.length % 2) fail(`UCS-2 field of odd length ${b.length}`);
  let s = "";
  for (let i = 0; i < b.length; i += 2) s += String.fromCharCode((b[i] << 8) | b[i + 1]);
  return s;
}

function parseDescriptor(src: IsoSource, sector: number): VolumeDescriptor {
  const b = src.read(sector * SECTOR, SECTOR);
  const joliet = b[0] === 2;
  const text = (o: number, l: number) =>
    (joliet ? decodeUcs2(b.subarray(o, o + l - (l % 2))) : latin(b.subarray(o, o + l)))
      .replace(/[ \0]+$/, "");
  if (both16(b, 128, "logical block size") !== SECTOR) fail("logical block size is not 2048");
  if (both16(b, 120, "volume set size") !== 1) fail("volume set size is not 1");
  if (both16(b, 124, "volume sequence number") !== 1) fail("volume sequence number is not 1");
  if (b[881] !== 1) fail(`file structure version ${b[881]}`);
  const root = parseRecord(b.subarray(156, 190), sector * SECTOR + 156);
  if (root.length !== 34 || root.id.length !== 1 || root.id[0] !== 0) {
    fail("root directory record in the volume descriptor is not a 34-byte '.' record");
  }
  if (!(root.flags & 2)) fail("root record is not a directory");
  return {
    type: b[0],
    sector,
    systemId: text(8, 32),
    volumeId: text(40, 32),
    applicationId: text(574, 128),
    volumeSectors: both32(b, 80, "volume space size"),
    pathTableSize: both32(b, 132, "path table size"),
    pathTableL: le32(b, 140),
    pathTableM: be32(b, 148),
    escape: latin(b.subarray(88, 91)),
    created: latin(b.subarray(813, 829)),
    root,
    raw: b,
  };
}

function parseRecord(b: Uint8Array, offset: number): DirRecord {
  const length = b[0];
  if (length < 34) fail(`record at ${offset} is ${length} bytes (< 34)`);
  if (length % 2) fail(`record at ${offset} has odd length ${length}`);
  if (b[1] !== 0) fail(`record at ${offset} has an extended attribute record`);
  const idLen = b[32];
  if (idLen === 0) fail(`record at ${offset} has an empty identifier`);
  const suaStart = 33 + idLen + (idLen % 2 === 0 ? 1 : 0);
  if (suaStart > length) fail(`record at ${offset}: identifier runs past the record`);
  if (idLen % 2 === 0 && b[33 + idLen] !== 0) fail(`record at ${offset}: padding byte not zero`);
  both16(b, 28, `record at ${offset} volume sequence number`);
  if (b[26] !== 0 || b[27] !== 0) fail(`record at ${offset} is interleaved`);
  return {
    offset,
    length,
    extent: both32(b, 2, `record at ${offset} extent`),
    size: both32(b, 10, `record at ${offset} data length`),
    flags: b[25],
    date: b.slice(18, 25),
    id: b.slice(33, 33 + idLen),
    systemUse: b.slice(suaStart, length),
  };
}

/** Read the records of the directory at `extent` (`size` bytes). */
function readDirectory(src: IsoSource, extent: number, size: number): DirRecord[] {
  if (size % SECTOR || size === 0) fail(`directory at ${extent} has size ${size}`);
  const data = src.read(extent * SECTOR, size);
  const out: DirRecord[] = [];
  let off = 0, end = 0;
  while (off < size) {
    const len = data[off];
    if (len === 0) {
      // The rest of this sector must be zero; records continue in the next one.
      const next = (Math.floor(off / SECTOR) + 1) * SECTOR;
      if (data.subarray(off, next).some((x) => x !== 0)) {
        fail(`directory at ${extent}: bytes after the last record of a sector`);
      }
      off = next;
      continue;
    }
    if (Math.floor(off / SECTOR) !== Math.floor((off + len - 1) / SECTOR)) {
      fail(`directory at ${extent}: record at ${off} crosses a sector boundary`);
    }
    out.push(parseRecord(data.subarray(off, off + len), extent * SECTOR + off));
    off += len;
    end = off;
  }
  if (end <= size - SECTOR) fail(`directory at ${extent}: its last sector holds no record`);
  return out;
}

function parseSusp(
  src: IsoSource,
  area: Uint8Array,
  out: SuspEntry[],
  inContinuation: boolean,
  ceSectors: Set<number>,
  depth = 0,
): void {
  if (depth > 16) fail("continuation areas chained more than 16 deep");
  let off = 0;
  let ce: [number, number, number] | null = null;
  while (off + 4 <= area.length) {
    const sig = latin(area.subarray(off, off + 2));
    const len = area[off + 2];
    if (len < 4) {
      if (area.subarray(off).every((x) => x === 0)) break; // padding
      fail(`SUSP entry ${JSON.stringify(sig)} of length ${len}`);
    }
    if (off + len > area.length) fail(`SUSP entry ${sig} runs past its area`);
    const body = area.slice(off + 4, off + len);
    if (sig === "ST") break;
    if (sig === "CE") {
      if (ce) fail("two CE entries in one area");
      ce = [both32(body, 0, "CE block"), both32(body, 8, "CE offset"), both32(body, 16, "CE size")];
    } else {
      out.push({ sig, version: area[off + 3], body, inContinuation });
    }
    off += len;
  }
  if (area.length - off > 3) fail("unparsed bytes at the end of a system use area");
  if (ce) {
    const [block, offset, size] = ce;
    if (offset + size > SECTOR) fail(`continuation area ${block}+${offset} crosses a sector`);
    ceSectors.add(block);
    parseSusp(src, src.read(block * SECTOR + offset, size), out, true, ceSectors, depth + 1);
  }
}

function decodeShortDate(d: Uint8Array): Date {
  const t = Date.UTC(1900 + d[0], d[1] - 1, d[2], d[3], d[4], d[5]);
  return new Date(t - ((d[6] << 24) >> 24) * 15 * 60_000);
}

function rockRidge(entries: SuspEntry[]): RockRidge {
  const rr: RockRidge = {
    entries,
    name: null,
    mode: null,
    nlink: null,
    uid: null,
    gid: null,
    mtime: null,
  };
  const nameParts: Uint8Array[] = [];
  let continuing = false;
  for (const e of entries) {
    if (e.sig === "NM") {
      const flags = e.body[0];
      if (flags & ~1) fail(`NM flags ${flags} (only CONTINUE is expected)`);
      if (rr.name !== null && !continuing) fail("two names (NM without CONTINUE)");
      nameParts.push(e.body.subarray(1));
      continuing = (flags & 1) === 1;
      rr.name = "";
    } else if (e.sig === "PX") {
      if (e.body.length !== 32 && e.body.length !== 40) fail(`PX of length ${e.body.length + 4}`);
      rr.mode = both32(e.body, 0, "PX mode");
      rr.nlink = both32(e.body, 8, "PX links");
      rr.uid = both32(e.body, 16, "PX uid");
      rr.gid = both32(e.body, 24, "PX gid");
    } else if (e.sig === "TF") {
      const flags = e.body[0];
      const size = flags & 0x80 ? 17 : 7;
      let off = 1;
      if (flags & 1) off += size; // creation
      if (flags & 2) {
        if (size !== 7) fail("long-form TF is not expected");
        rr.mtime = decodeShortDate(e.body.subarray(off, off + 7));
      }
      const count = [1, 2, 4, 8, 16, 32, 64].filter((bit) => flags & bit).length;
      if (e.body.length !== 1 + count * size) fail(`TF of length ${e.body.length + 4}`);
    }
  }
  if (continuing) fail("last NM has CONTINUE set");
  if (rr.name !== null) {
    const total = nameParts.reduce((s, p) => s + p.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of nameParts) {
      all.set(p, o);
      o += p.length;
    }
    rr.name = dec.decode(all);
  }
  return rr;
}

/** ECMA-119 9.3 order of two identifiers: name, then extension, padded with spaces. */
function isoCompare(a: string, b: string): number {
  const split = (s: string): [string, string] => {
    const v = s.replace(/;\d+$/, "");
    const dot = v.indexOf(".");
    return dot < 0 ? [v, ""] : [v.slice(0, dot), v.slice(dot + 1)];
  };
  const pad = (x: string, y: string): [string, string] => {
    const n = Math.max(x.length, y.length);
    return [x.padEnd(n, " "), y.padEnd(n, " ")];
  };
  const [an, ae] = split(a), [bn, be] = split(b);
  const [x1, y1] = pad(an, bn);
  if (x1 !== y1) return x1 < y1 ? -1 : 1;
  const [x2, y2] = pad(ae, be);
  return x2 === y2 ? 0 : x2 < y2 ? -1 : 1;
}

interface WalkContext {
  src: IsoSource;
  joliet: boolean;
  rock: boolean;
  volumeSectors: number;
  ceSectors: Set<number>;
}

function walkTree(
  ctx: WalkContext,
  dirRec: DirRecord,
  name: string,
  path: string,
  parentExtent: number,
  parentSize: number,
  depth: number,
): IsoNode {
  if (depth > 64) fail(`${path}: directories nested more than 64 deep`);
  const recs = readDirectory(ctx.src, dirRec.extent, dirRec.size);
  if (recs.length < 2) fail(`${path}: no "." and ".." records`);
  const [self, parent] = recs;
  if (self.id.length !== 1 || self.id[0] !== 0) fail(`${path}: first record is not "."`);
  if (parent.id.length !== 1 || parent.id[0] !== 1) fail(`${path}: second record is not ".."`);
  if (self.extent !== dirRec.extent || self.size !== dirRec.size) {
    fail(`${path}: "." does not point at the directory itself`);
  }
  if (parent.extent !== parentExtent || parent.size !== parentSize) {
    fail(`${path}: ".." does not point at the parent directory`);
  }
  if (!(self.flags & 2) || !(parent.flags & 2)) fail(`${path}: "." or ".." not a directory`);
  let selfRr: RockRidge | null = null;
  if (ctx.rock) {
    const entries: SuspEntry[] = [];
    parseSusp(ctx.src, self.systemUse, entries, false, ctx.ceSectors);
    selfRr = rockRidge(entries);
    parseSusp(ctx.src, parent.systemUse, [], false, ctx.ceSectors); // only checked
  }
  const node: IsoNode = {
    name,
    path,
    dir: true,
    extent: dirRec.extent,
    size: dirRec.size,
    record: dirRec,
    rr: selfRr,
    children: [],
  };
  const seen = new Set<string>();
  let prevId: string | null = null;
  for (const r of recs.slice(2)) {
    if (r.extent + Math.ceil(r.size / SECTOR) > ctx.volumeSectors) {
      fail(`${path}: an extent ends past the volume`);
    }
    if (r.flags & ~0x02) fail(`${path}: unexpected file flags ${r.flags}`);
    const idText = ctx.joliet ? decodeUcs2(r.id) : latin(r.id);
    if (ctx.joliet && r.id.length > 128) fail(`${path}: Joliet name over 64 characters`);
    if (prevId !== null) {
      const order = ctx.joliet ? (prevId < idText ? -1 : prevId > idText ? 1 : 0) : isoCompare(
        prevId,
        idText,
      );
      if (order >= 0) fail(`${path}: records not sorted (${prevId} before ${idText})`);
    }
    prevId = idText;
    let rr: RockRidge | null = null;
    if (ctx.rock) {
      const entries: SuspEntry[] = [];
      parseSusp(ctx.src, r.systemUse, entries, false, ctx.ceSectors);
      rr = rockRidge(entries);
    }
    const childName = ctx.rock ? (rr?.name ?? fail(`${path}/${idText}: no NM entry`)) : idText;
    if (seen.has(childName)) fail(`${path}: name ${childName} twice`);
    seen.add(childName);
    const childPath = path === "/" ? `/${childName}` : `${path}/${childName}`;
    if (r.flags & 2) {
      node.children.push(
        walkTree(ctx, r, childName, childPath, dirRec.extent, dirRec.size, depth + 1),
      );
      node.children[node.children.length - 1].rr = rr;
    } else {
      node.children.push({
        name: childName,
        path: childPath,
        dir: false,
        extent: r.extent,
        size: r.size,
        record: r,
        rr,
        children: [],
      });
    }
  }
  return node;
}

function parsePathTable(
  src: IsoSource,
  sector: number,
  size: number,
  little: boolean,
): PathRecord[] {
  const b = src.read(sector * SECTOR, size);
  const out: PathRecord[] = [];
  let off = 0;
  while (off < size) {
    const len = b[off];
    if (len === 0) fail(`path table at ${sector}: empty identifier`);
    if (b[off + 1] !== 0) fail(`path table at ${sector}: extended attribute length`);
    const extent = little ? le32(b, off + 2) : be32(b, off + 2);
    const parent = little ? le16(b, off + 6) : be16(b, off + 6);
    out.push({ id: b.slice(off + 8, off + 8 + len), extent, parent });
    off += 8 + len + (len % 2);
  }
  if (off !== size) fail(`path table at ${sector}: size ${size} ends inside a record`);
  return out;
}

/** Check a path table against the directory tree (breadth-first, recorded order). */
function checkPathTable(pt: PathRecord[], root: IsoNode, joliet: boolean, what: string): void {
  const dirs: { node: IsoNode; parent: number }[] = [{ node: root, parent: 1 }];
  for (let i = 0; i < dirs.length; i++) {
    const sorted = dirs[i].node.children.filter((c) => c.dir);
    for (const c of sorted) dirs.push({ node: c, parent: i + 1 });
  }
  if (pt.length !== dirs.length) fail(`${what}: ${pt.length} records for ${dirs.length} dirs`);
  dirs.forEach((d, i) => {
    const p = pt[i];
    if (p.extent !== d.node.extent) fail(`${what}: record ${i + 1} extent ${p.extent}`);
    if (p.parent !== d.parent) fail(`${what}: record ${i + 1} parent ${p.parent}`);
    const id = i === 0 ? "\0" : joliet ? decodeUcs2(p.id) : latin(p.id);
    const want = i === 0 ? "\0" : joliet ? decodeUcs2(d.node.record.id) : latin(d.node.record.id);
    if (id !== want) fail(`${what}: record ${i + 1} is ${id}, directory is ${want}`);
  });
}

/** Read and check a whole image. */
export function readIso(src: IsoSource): IsoReport {
  if (src.size % SECTOR) fail(`image size ${src.size} is not a multiple of 2048`);
  let primary: VolumeDescriptor | null = null;
  let joliet: VolumeDescriptor | null = null;
  let terminatorSector = -1;
  for (let s = 16; s < src.size / SECTOR; s++) {
    const head = src.read(s * SECTOR, 7);
    if (latin(head.subarray(1, 6)) !== "CD001" || head[6] !== 1) {
      fail(`sector ${s} is not a volume descriptor`);
    }
    if (head[0] === 255) {
      terminatorSector = s;
      break;
    }
    if (head[0] === 1) {
      if (primary) fail("two primary volume descriptors");
      primary = parseDescriptor(src, s);
    } else if (head[0] === 2) {
      const d = parseDescriptor(src, s);
      if (["%/@", "%/C", "%/E"].includes(d.escape)) {
        if (joliet) fail("two Joliet descriptors");
        joliet = d;
      }
    } else if (head[0] !== 0 && head[0] !== 3) {
      fail(`volume descriptor type ${head[0]}`);
    }
  }
  if (!primary) fail("no primary volume descriptor");
  if (terminatorSector < 0) fail("no volume descriptor set terminator");
  if (primary.sector !== 16) fail("the primary volume descriptor is not at sector 16");
  if (primary.volumeSectors * SECTOR > src.size) fail("volume space size exceeds the image");
  if (joliet && joliet.volumeSectors !== primary.volumeSectors) {
    fail("Joliet and primary volume space sizes differ");
  }

  // Rock Ridge: SP at the start of the root's "." record, and an ER naming it.
  const rootRecs = readDirectory(src, primary.root.extent, primary.root.size);
  const ceSectors = new Set<number>();
  let rock = false;
  let erId: string | null = null;
  const sua = rootRecs[0].systemUse;
  if (sua.length >= 7 && latin(sua.subarray(0, 2)) === "SP") {
    if (sua[2] !== 7 || sua[4] !== 0xbe || sua[5] !== 0xef) fail("malformed SP entry");
    if (sua[6] !== 0) fail("SP LEN_SKP is not 0");
    const entries: SuspEntry[] = [];
    parseSusp(src, sua, entries, false, ceSectors);
    const er = entries.find((e) => e.sig === "ER");
    if (!er) fail("SP without an ER entry");
    const [lid, ldes, lsrc] = er.body;
    if (4 + lid + ldes + lsrc !== er.body.length) fail("ER lengths do not add up");
    erId = latin(er.body.subarray(4, 4 + lid));
    rock = ["RRIP_1991A", "IEEE_P1282", "IEEE_1282"].includes(erId);
  }

  const ctx = { src, joliet: false, rock, volumeSectors: primary.volumeSectors, ceSectors };
  const plain = walkTree(
    ctx,
    primary.root,
    "",
    "/",
    primary.root.extent,
    primary.root.size,
    0,
  );
  const pL = parsePathTable(src, primary.pathTableL, primary.pathTableSize, true);
  const pM = parsePathTable(src, primary.pathTableM, primary.pathTableSize, false);
  if (JSON.stringify(pL) !== JSON.stringify(pM)) fail("primary L and M path tables differ");
  checkPathTable(pL, plain, false, "primary path table");

  let jolietTree: IsoNode | null = null;
  let jPt: PathRecord[] | null = null;
  if (joliet) {
    const jctx = { ...ctx, joliet: true, rock: false };
    jolietTree = walkTree(
      jctx,
      joliet.root,
      "",
      "/",
      joliet.root.extent,
      joliet.root.size,
      0,
    );
    const jL = parsePathTable(src, joliet.pathTableL, joliet.pathTableSize, true);
    const jM = parsePathTable(src, joliet.pathTableM, joliet.pathTableSize, false);
    if (JSON.stringify(jL) !== JSON.stringify(jM)) fail("Joliet L and M path tables differ");
    checkPathTable(jL, jolietTree, true, "Joliet path table");
    jPt = jL;
  }
  return {
    primary,
    joliet,
    terminatorSector,
    rockRidge: rock,
    erId,
    plain,
    jolietTree,
    pathTables: { primary: pL, joliet: jPt },
    continuationSectors: [...ceSectors].sort((a, b) => a - b),
  };
}

/** The data of a file node. */
export function readData(src: IsoSource, node: IsoNode): Uint8Array {
  if (node.dir) fail(`${node.path} is a directory`);
  return src.read(node.extent * SECTOR, node.size);
}

/** All nodes of a tree, depth first, the root excluded. */
export function allNodes(root: IsoNode): IsoNode[] {
  const out: IsoNode[] = [];
  const walk = (n: IsoNode) => {
    for (const c of n.children) {
      out.push(c);
      if (c.dir) walk(c);
    }
  };
  walk(root);
  return out;
}

/** Find a node by its path in a tree (`/a/b`). */
export function findNode(root: IsoNode, path: string): IsoNode | null {
  let cur: IsoNode | undefined = root;
  for (const part of path.split("/").filter(Boolean)) {
    cur = cur?.children.find((c) => c.name === part);
    if (!cur) return null;
  }
  return cur ?? null;
}

/**
 * Every allocated sector range of the image, labelled: descriptors, path tables,
 * directories, continuation areas, file data (a file shared by both trees counts once).
 */
export function allocations(r: IsoReport): { start: number; count: number; what: string }[] {
  const out: { start: number; count: number; what: string }[] = [];
  out.push({ start: 16, count: r.terminatorSector - 15, what: "volume descriptors" });
  const pt = (d: VolumeDescriptor, name: string) => {
    const n = Math.ceil(d.pathTableSize / SECTOR);
    out.push({ start: d.pathTableL, count: n, what: `${name} L path table` });
    out.push({ start: d.pathTableM, count: n, what: `${name} M path table` });
  };
  pt(r.primary, "primary");
  if (r.joliet) pt(r.joliet, "Joliet");
  const files = new Map<number, number>();
  const tree = (root: IsoNode, name: string) => {
    out.push({ start: root.extent, count: root.size / SECTOR, what: `${name} /` });
    for (const n of allNodes(root)) {
      if (n.dir) out.push({ start: n.extent, count: n.size / SECTOR, what: `${name} ${n.path}` });
      else if (n.size > 0) {
        const prev = files.get(n.extent);
        if (prev !== undefined && prev !== n.size) fail(`two sizes for the extent ${n.extent}`);
        if (prev === undefined) {
          files.set(n.extent, n.size);
          out.push({ start: n.extent, count: Math.ceil(n.size / SECTOR), what: `file ${n.path}` });
        }
      }
    }
  };
  tree(r.plain, "primary");
  if (r.jolietTree) tree(r.jolietTree, "Joliet");
  for (const s of r.continuationSectors) out.push({ start: s, count: 1, what: "continuation" });
  return out.sort((a, b) => a.start - b.start);
}

/**
 * lib/domain/iso9660.ts read back byte by byte with the independent reader of
 * test/support/iso9660_reader.ts: descriptors, path tables, records, Rock Ridge, Joliet.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  isoEntriesFromDir,
  type IsoEntry,
  type IsoImage,
  type IsoOptions,
  planIso,
  writeIso,
} from "../../lib/domain/iso9660.ts";
import { OneblkError } from "../../lib/errors.ts";
import { sha256Hex, xorshiftBytes } from "../support/bytes.ts";
import { lexists } from "../support/files.ts";
import {
  allNodes,
  allocations,
  bytesSource,
  decodeUcs2,
  fileSource,
  findNode,
  type IsoNode,
  type IsoReport,
  readData,
  readIso,
} from "../support/iso9660_reader.ts";

const T = new Date("2026-01-02T03:04:05Z");

/** Await `fn`, which must fail with a one-line OneblkError whose message includes `part`. */
async function rejects(fn: () => Promise<unknown>, part: string): Promise<OneblkError> {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof OneblkError, `not a OneblkError: ${e}`);
    assert(e.message.includes(part), `"${e.message}" does not say "${part}"`);
    assert(!e.message.includes("\n"));
    return e;
  }
  assert.fail(`did not fail (expected "${part}")`);
}
const SECTOR = 2048;
const text = (s: string) => new TextEncoder().encode(s);

/** Build an image in memory through its chunk stream; checks the chunk sizes on the way. */
async function build(
  entries: IsoEntry[],
  opts: IsoOptions = { time: T },
): Promise<{ image: IsoImage; bytes: Uint8Array; report: IsoReport }> {
  const image = await planIso(entries, opts);
  const parts: Uint8Array[] = [];
  for await (const c of image.chunks()) {
    assert(c.length > 0 && c.length <= 1 << 20, `chunk of ${c.length} bytes`);
    parts.push(c);
  }
  const bytes = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  assert.deepEqual(bytes.length, image.size);
  return { image, bytes, report: readIso(bytesSource(bytes)) };
}

function rrNode(r: IsoReport, path: string): IsoNode {
  const n = findNode(r.plain, path);
  assert(n, `no ${path} in the Rock Ridge tree`);
  return n;
}

function jNode(r: IsoReport, path: string): IsoNode {
  const n = findNode(r.jolietTree!, path);
  assert(n, `no ${path} in the Joliet tree`);
  return n;
}

/** No two allocated ranges overlap and all end inside the volume. */
function assertLayout(r: IsoReport): void {
  const a = allocations(r);
  for (let i = 1; i < a.length; i++) {
    const prev = a[i - 1];
    assert(prev.start + prev.count <= a[i].start, `${prev.what} overlaps ${a[i].what}`);
  }
  const last = a[a.length - 1];
  assert(last.start + last.count <= r.primary.volumeSectors);
}

const CONTEXT_SH = "# Context variables\nETH0_IP='10.0.0.7'\nSET_HOSTNAME='vm7'\n";

Deno.test("context image: label CONTEXT, both volume descriptors, terminator, layout", async () => {
  const { image, bytes, report: r } = await build([
    { path: "context.sh", source: text(CONTEXT_SH) },
    { path: "init.sh", source: text("#!/bin/sh\necho hi\n"), mode: 0o755 },
  ]);
  assert.deepEqual(image.size % SECTOR, 0);
  assert(bytes.subarray(0, 16 * SECTOR).every((b) => b === 0), "system area is zero");
  assert.deepEqual(r.primary.type, 1);
  assert.deepEqual(r.primary.sector, 16);
  assert.deepEqual(r.primary.volumeId, "CONTEXT");
  assert.deepEqual(r.primary.systemId, "LINUX");
  assert.deepEqual(r.primary.volumeSectors * SECTOR, image.size);
  assert.deepEqual(r.primary.created, "2026010203040500");
  // Joliet: supplementary descriptor at 17, UCS-2 level 3, label in UCS-2 padded with spaces.
  assert(r.joliet);
  assert.deepEqual([r.joliet.type, r.joliet.sector, r.joliet.escape], [2, 17, "%/E"]);
  assert.deepEqual(r.joliet.volumeId, "CONTEXT");
  assert.deepEqual(decodeUcs2(r.joliet.raw.subarray(40, 72)), "CONTEXT" + " ".repeat(9));
  assert.deepEqual(r.primary.raw.subarray(40, 72), text("CONTEXT".padEnd(32, " ")));
  assert.deepEqual(r.terminatorSector, 18);
  assert.deepEqual(r.rockRidge, true);
  assert.deepEqual(r.erId, "RRIP_1991A");
  // The 150 padding sectors at the end are zero and allocated to nothing.
  assert(bytes.subarray(image.size - 150 * SECTOR).every((b) => b === 0));
  assertLayout(r);
  const a = allocations(r);
  assert(a[a.length - 1].start + a[a.length - 1].count <= r.primary.volumeSectors - 150);
});

Deno.test("context image: Rock Ridge names, modes, links, owners and times; data", async () => {
  const big = xorshiftBytes(5000, 3);
  const { report: r, bytes } = await build([
    { path: "context.sh", source: text(CONTEXT_SH) },
    { path: "init.sh", source: text("#!/bin/sh\n"), mode: 0o750, uid: 9869, gid: 9869 },
    { path: "scripts/a/b.ps1", source: big, mtime: new Date("2025-05-06T07:08:09Z") },
    { path: "scripts/c", dir: true, mode: 0o700 },
    { path: "empty", source: new Uint8Array(0) },
  ]);
  const src = bytesSource(bytes);
  const ctx = rrNode(r, "/context.sh");
  assert.deepEqual(new TextDecoder().decode(readData(src, ctx)), CONTEXT_SH);
  assert.deepEqual([ctx.rr!.mode, ctx.rr!.nlink, ctx.rr!.uid, ctx.rr!.gid], [0o100644, 1, 0, 0]);
  assert.deepEqual(ctx.rr!.mtime, T);
  const init = rrNode(r, "/init.sh");
  assert.deepEqual([init.rr!.mode, init.rr!.uid, init.rr!.gid], [0o100750, 9869, 9869]);
  const b = rrNode(r, "/scripts/a/b.ps1");
  assert.deepEqual(sha256Hex(readData(src, b)), sha256Hex(big));
  assert.deepEqual(b.rr!.mtime, new Date("2025-05-06T07:08:09Z"));
  assert.deepEqual(b.record.date[0], 125); // years since 1900 in the record itself
  // Directories: 2 links + one per subdirectory; implicit parents are 0755.
  assert.deepEqual(r.plain.rr!.mode, 0o040755);
  assert.deepEqual(r.plain.rr!.nlink, 3); // root: ., .., scripts
  const scripts = rrNode(r, "/scripts");
  assert.deepEqual([scripts.rr!.mode, scripts.rr!.nlink], [0o040755, 4]);
  assert.deepEqual(rrNode(r, "/scripts/c").rr!.mode, 0o040700);
  const empty = rrNode(r, "/empty");
  assert.deepEqual([empty.size, empty.dir], [0, false]);
  // Every record carries RR, PX, TF; children NM; the root "." SP first and an ER.
  for (const n of allNodes(r.plain)) {
    const sigs = n.rr!.entries.map((e) => e.sig);
    for (const s of ["RR", "PX", "TF", "NM"]) assert(sigs.includes(s), `${n.path}: no ${s}`);
  }
  assert.deepEqual(r.plain.rr!.entries.map((e) => e.sig), ["SP", "RR", "PX", "TF", "ER"]);
  assert.deepEqual(r.plain.rr!.entries.find((e) => e.sig === "ER")!.inContinuation, true);
  // Joliet sees the same files at the same extents.
  for (const n of allNodes(r.plain)) {
    const j = jNode(r, n.path);
    assert.deepEqual([j.dir, j.size], [n.dir, n.size]);
    if (!n.dir) assert.deepEqual(j.extent, n.extent);
  }
  assert.deepEqual(allNodes(r.jolietTree!).length, allNodes(r.plain).length);
  assertLayout(r);
});

Deno.test("primary tree: ISO 9660 level-1 identifiers, unique and sorted", async () => {
  const names = [
    "context.sh",
    "Mixed Case name.tar.gz",
    "noext",
    ".hidden",
    "ünï.txt",
    "verylongname1.txt",
    "verylongname2.txt",
    "verylongname3.txt",
    "a.b.c.d",
  ];
  const { report: r } = await build([
    ...names.map((path) => ({ path, source: text(path) })),
    { path: "some directory/x", source: text("x") },
  ]);
  const ids = r.plain.children.map((c) => new TextDecoder().decode(c.record.id));
  for (const [i, c] of r.plain.children.entries()) {
    if (c.dir) assert.match(ids[i], /^[A-Z0-9_]{1,8}$/);
    else assert.match(ids[i], /^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$/);
  }
  assert.deepEqual(new Set(ids).size, ids.length);
  const id = (name: string) => new TextDecoder().decode(rrNode(r, `/${name}`).record.id);
  assert.deepEqual(id("context.sh"), "CONTEXT.SH;1");
  assert.deepEqual(id("noext"), "NOEXT.;1");
  assert.deepEqual(id("ünï.txt"), "__N__.TXT;1"); // one _ per UTF-8 byte, as genisoimage
  assert.deepEqual(id(".hidden"), "_HIDDEN.;1");
  assert.deepEqual(id("a.b.c.d"), "A_B_C.D;1");
  assert.deepEqual(id("some directory"), "SOME_DIR");
  assert.deepEqual(id("Mixed Case name.tar.gz"), "MIXED_CA.GZ;1");
  // Three names map to VERYLONG.TXT: the first keeps it, the others get digits.
  assert.deepEqual(
    ["verylongname1.txt", "verylongname2.txt", "verylongname3.txt"].map(id),
    ["VERYLONG.TXT;1", "VERYL000.TXT;1", "VERYL001.TXT;1"],
  );
});

Deno.test("path tables: L little-endian and M big-endian, breadth-first, parents", async () => {
  const { bytes, report: r } = await build([
    { path: "b/y/deep/f", source: text("f") },
    { path: "a/x", source: text("x") },
    { path: "a/z/q", source: text("q") },
  ]);
  // Recorded order: root, A, B, then A's subdirectory Z, then B's Y, then DEEP.
  const ids = r.pathTables.primary.map((p) => new TextDecoder().decode(p.id));
  assert.deepEqual(ids, ["\0", "A", "B", "Z", "Y", "DEEP"]);
  assert.deepEqual(r.pathTables.primary.map((p) => p.parent), [1, 1, 1, 2, 3, 5]);
  assert.deepEqual(r.pathTables.joliet![0].id, new Uint8Array([0]));
  const jids = r.pathTables.joliet!.slice(1).map((p) => decodeUcs2(p.id));
  assert.deepEqual(jids, ["a", "b", "z", "y", "deep"]);
  assert.deepEqual(r.pathTables.joliet!.map((p) => p.parent), [1, 1, 1, 2, 3, 5]);
  // Raw bytes of the first two records of each table, both byte orders.
  const pd = r.primary;
  const lt = bytes.subarray(pd.pathTableL * SECTOR, pd.pathTableL * SECTOR + 20);
  const mt = bytes.subarray(pd.pathTableM * SECTOR, pd.pathTableM * SECTOR + 20);
  const dvL = new DataView(lt.buffer, lt.byteOffset), dvM = new DataView(mt.buffer, mt.byteOffset);
  assert.deepEqual([lt[0], lt[1], lt[8]], [1, 0, 0]);
  assert.deepEqual(dvL.getUint32(2, true), r.plain.extent);
  assert.deepEqual(dvM.getUint32(2, false), r.plain.extent);
  assert.deepEqual([dvL.getUint16(6, true), dvM.getUint16(6, false)], [1, 1]);
  assert.deepEqual(dvL.getUint32(12, true), rrNode(r, "/a").extent);
  assert.deepEqual(dvM.getUint32(12, false), rrNode(r, "/a").extent);
  assert.deepEqual(new TextDecoder().decode(lt.subarray(18, 19)), "A");
  assert.deepEqual(pd.pathTableSize, 10 + 10 + 10 + 10 + 10 + 12);
});

Deno.test("long names: Rock Ridge keeps 255 bytes (NM split, CE), Joliet cuts to 64", async () => {
  const n70 = "a".repeat(70) + ".txt";
  const n255 = "é".repeat(126) + "xyz"; // 255 bytes of UTF-8
  assert.deepEqual(text(n255).length, 255);
  const d70 = "D".repeat(70);
  const { image, report: r, bytes } = await build([
    { path: "context.sh", source: text("c") },
    { path: n70, source: text("70") },
    { path: n255, source: text("255") },
    { path: `${d70}/${n255}`, source: text("nested") },
  ]);
  const src = bytesSource(bytes);
  const long = rrNode(r, `/${n255}`);
  assert.deepEqual(new TextDecoder().decode(readData(src, long)), "255");
  const nms = long.rr!.entries.filter((e) => e.sig === "NM");
  assert.deepEqual(nms.map((e) => [e.body[0], e.body.length - 1]), [[1, 250], [0, 5]]);
  assert(nms.every((e) => e.inContinuation), "the long name lives in a continuation area");
  assert(long.record.length <= 255);
  assert(r.continuationSectors.length >= 1);
  assert.deepEqual(new TextDecoder().decode(readData(src, rrNode(r, `/${d70}/${n255}`))), "nested");
  // Joliet: the first 64 characters, extension lost, as genisoimage does.
  assert.deepEqual(jNode(r, `/${"a".repeat(64)}`).size, 2);
  assert.deepEqual(jNode(r, `/${n255.slice(0, 64)}`).size, 3);
  assert.deepEqual(jNode(r, `/${"D".repeat(64)}/${n255.slice(0, 64)}`).size, 6);
  assert.deepEqual(jNode(r, "/context.sh").size, 1);
  assert.deepEqual(
    image.jolietRenames.map((x) => x.path).sort(),
    [d70, `${d70}/${n255}`, n255, n70].sort(),
  );
  assertLayout(r);
  await rejects(
    () => planIso([{ path: "x".repeat(256), source: text("") }], { time: T }),
    "longer than 255 bytes",
  );
});

Deno.test("Joliet names: collisions get ~N (genisoimage fails), forbidden characters _", async () => {
  const base = "b".repeat(70);
  const { image, report: r } = await build([
    { path: `${base}1`, source: text("1") },
    { path: `${base}2`, source: text("22") },
    { path: `${base}3`, source: text("333") },
    { path: "what?:*;.txt", source: text("q") },
    { path: "tab\there", source: text("t") },
    { path: "emoji-\u{1F600}.txt", source: text("e") },
    { path: "日本語.txt", source: text("jp") },
  ]);
  const b64 = "b".repeat(64);
  assert.deepEqual(jNode(r, `/${b64}`).size, 1);
  assert.deepEqual(jNode(r, `/${b64.slice(0, 62)}~1`).size, 2);
  assert.deepEqual(jNode(r, `/${b64.slice(0, 62)}~2`).size, 3);
  assert.deepEqual(jNode(r, "/what____.txt").size, 1);
  assert.deepEqual(jNode(r, "/tab_here").size, 1);
  assert.deepEqual(jNode(r, "/emoji-_.txt").size, 1);
  assert.deepEqual(jNode(r, "/日本語.txt").size, 2);
  // Rock Ridge keeps every name as given.
  for (const p of [`${base}3`, "what?:*;.txt", "tab\there", "emoji-\u{1F600}.txt", "日本語.txt"]) {
    rrNode(r, `/${p}`);
  }
  assert.deepEqual(
    image.jolietRenames.find((x) => x.path === `${base}3`)?.joliet,
    `${b64.slice(0, 62)}~2`,
  );
  assert(!image.jolietRenames.some((x) => x.path === "日本語.txt"));
});

Deno.test("deep and wide trees: 12 levels, a directory of 400 files over many sectors", async () => {
  const deep = Array.from({ length: 12 }, (_, i) => `level${i}`).join("/");
  const entries: IsoEntry[] = [{ path: `${deep}/leaf.txt`, source: text("leaf") }];
  for (let i = 0; i < 400; i++) {
    entries.push({ path: `many/file-with-a-longish-name-${i}.conf`, source: text(String(i)) });
  }
  const { report: r, bytes } = await build(entries);
  const src = bytesSource(bytes);
  assert.deepEqual(new TextDecoder().decode(readData(src, rrNode(r, `/${deep}/leaf.txt`))), "leaf");
  assert.deepEqual(new TextDecoder().decode(readData(src, jNode(r, `/${deep}/leaf.txt`))), "leaf");
  const many = rrNode(r, "/many");
  assert.deepEqual(many.children.length, 400);
  assert(many.size > 10 * SECTOR, `directory of ${many.size} bytes`);
  assert(jNode(r, "/many").size > SECTOR);
  for (const c of many.children) {
    assert.deepEqual(new TextDecoder().decode(readData(src, c)), c.name.replace(/\D/g, ""));
  }
  assert.deepEqual(r.pathTables.primary.length, 1 + 12 + 1);
  assertLayout(r);
  // Directories of every length around the sector boundaries: records move to the next
  // sector instead of crossing it, and the directory's size counts exactly its sectors.
  for (let n = 14; n <= 60; n++) {
    const files = Array.from({ length: n }, (_, i) => ({
      path: `w/${"n".repeat(20 + (i * 7) % 50)}${i}`,
      source: text(String(i)),
    }));
    const w = await build(files);
    assert.equal(rrNode(w.report, "/w").children.length, n);
    assert.equal(jNode(w.report, "/w").children.length, n);
  }
});

Deno.test("deterministic: the same entries in any order give the same bytes", async () => {
  const entries: IsoEntry[] = [
    { path: "context.sh", source: text(CONTEXT_SH) },
    { path: "x".repeat(80), source: text("long") },
    { path: "x".repeat(81), source: text("long2") },
    { path: "d/e/f", source: xorshiftBytes(3000, 9) },
  ];
  const one = await build(entries);
  const two = await build([...entries].reverse());
  assert.deepEqual(sha256Hex(one.bytes), sha256Hex(two.bytes));
  const later = await build(entries, { time: new Date("2027-01-01T00:00:00Z") });
  assert(sha256Hex(later.bytes) !== sha256Hex(one.bytes), "the time is recorded");
});

Deno.test("large file streamed from disk: chunks of 1 MiB, data and padding intact", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oneblk-iso-" });
  try {
    const size = 24 * 1024 * 1024 + 123;
    const data = xorshiftBytes(size, 7);
    await Deno.writeFile(`${dir}/disk.img`, data);
    const image = await planIso([
      { path: "context.sh", source: text(CONTEXT_SH) },
      { path: "payload/disk.img", source: `${dir}/disk.img` },
    ], { time: T });
    let chunks = 0, total = 0, biggest = 0;
    for await (const c of image.chunks()) {
      chunks++;
      total += c.length;
      biggest = Math.max(biggest, c.length);
    }
    assert.deepEqual(total, image.size);
    assert(biggest <= 1 << 20 && chunks > 24, `${chunks} chunks, biggest ${biggest}`);
    // The stream and writeFile give the same bytes.
    await image.writeFile(`${dir}/ctx.iso`);
    const streamed = createHash("sha256");
    for await (const c of image.stream()) streamed.update(c);
    const file = await Deno.readFile(`${dir}/ctx.iso`);
    assert.deepEqual(createHash("sha256").update(file).digest("hex"), streamed.digest("hex"));
    const src = fileSource(`${dir}/ctx.iso`);
    try {
      const r = readIso(src);
      const n = rrNode(r, "/payload/disk.img");
      assert.deepEqual(n.size, size);
      assert.deepEqual(sha256Hex(readData(src, n)), sha256Hex(data));
      // The tail of the last sector after the data is zero.
      const tail = src.read(n.extent * SECTOR + size, SECTOR - (size % SECTOR));
      assert(tail.every((b) => b === 0));
      assertLayout(r);
    } finally {
      src.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("errors: one clear line for bad paths, duplicates, missing and oversized files", async () => {
  const bad = async (entries: IsoEntry[], msg: string) => {
    const e = await rejects(() => planIso(entries, { time: T }), msg);
    assert.deepEqual(e.kind, "input");
    assert(!e.message.includes("\n"));
  };
  await bad([{ path: "", source: text("") }], "empty path");
  await bad([{ path: "/abs", source: text("") }], "invalid path");
  await bad([{ path: "a/../b", source: text("") }], "invalid path");
  await bad([{ path: "a//b", source: text("") }], "invalid path");
  await bad([{ path: "a\0b", source: text("") }], "NUL");
  await bad([{ path: "a", source: text("1") }, { path: "a", source: text("2") }], "given twice");
  await bad([{ path: "a", source: text("1") }, { path: "a/b", source: text("2") }], "is a file");
  await bad([{ path: "a/b", source: text("1") }, { path: "a", source: text("2") }], "twice");
  await bad([{ path: "d", dir: true, source: text("") }], "directory has no source");
  await bad([{ path: "f" }], "needs a source");
  await bad([{ path: "f", source: text(""), mode: 0o10000 }], "invalid mode");
  await bad([{ path: "f", source: "/nonexistent/oneblk/file" }], "does not exist");
  await bad([{ path: "f", source: "/" }], "not a regular file");
  await rejects(() => planIso([], { volumeId: "context" }), "invalid volume id");
  // A sparse file of exactly 4 GiB: refused before anything is written.
  const dir = await Deno.makeTempDir({ prefix: "oneblk-iso-" });
  try {
    const f = await Deno.open(`${dir}/big`, { write: true, create: true });
    await f.truncate(4 * 1024 ** 3);
    f.close();
    await bad([{ path: "big", source: `${dir}/big` }], "files of 4 GiB or more");
    await rejects(
      () => writeIso(`${dir}/out.iso`, [{ path: "big", source: `${dir}/big` }]),
      "4 GiB",
    );
    assert(!await lexists(`${dir}/out.iso`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a source that changes between planning and writing fails; no partial image", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oneblk-iso-" });
  try {
    for (const [change, msg] of [["grow", "grew"], ["shrink", "shrank"]] as const) {
      await Deno.writeFile(`${dir}/f`, xorshiftBytes(10_000, 1));
      const image = await planIso([{ path: "f", source: `${dir}/f` }], { time: T });
      await Deno.writeFile(`${dir}/f`, xorshiftBytes(change === "grow" ? 10_001 : 9_999, 1));
      await rejects(() => image.writeFile(`${dir}/out.iso`), msg);
      assert(!await lexists(`${dir}/out.iso`), "the partial image is removed");
    }
    await Deno.writeFile(`${dir}/f`, xorshiftBytes(10, 1));
    const image = await planIso([{ path: "f", source: `${dir}/f` }], { time: T });
    await Deno.remove(`${dir}/f`);
    await rejects(() => image.writeFile(`${dir}/out.iso`), "cannot open");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isoEntriesFromDir: modes, owners, times, nesting, symlinks followed, loops refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oneblk-iso-" });
  try {
    await Deno.mkdir(`${dir}/src/sub/inner`, { recursive: true });
    await Deno.writeTextFile(`${dir}/src/context.sh`, CONTEXT_SH);
    await Deno.writeTextFile(`${dir}/src/sub/run.sh`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/src/sub/run.sh`, 0o751);
    await Deno.chmod(`${dir}/src/sub/inner`, 0o700);
    await Deno.utime(`${dir}/src/context.sh`, T, new Date("2024-02-03T04:05:06Z"));
    await Deno.writeTextFile(`${dir}/target`, "through a link");
    await Deno.symlink(`${dir}/target`, `${dir}/src/link`);
    const entries = await isoEntriesFromDir(`${dir}/src`);
    assert.deepEqual(entries.map((e) => e.path), [
      "context.sh",
      "link",
      "sub",
      "sub/inner",
      "sub/run.sh",
    ]);
    await writeIso(`${dir}/ctx.iso`, entries, { time: T });
    const bytes = await Deno.readFile(`${dir}/ctx.iso`);
    const r = readIso(bytesSource(bytes));
    const src = bytesSource(bytes);
    assert.deepEqual(rrNode(r, "/sub/run.sh").rr!.mode, 0o100751);
    assert.deepEqual(rrNode(r, "/sub/inner").rr!.mode, 0o040700);
    assert.deepEqual(rrNode(r, "/context.sh").rr!.mtime, new Date("2024-02-03T04:05:06Z"));
    assert.deepEqual(rrNode(r, "/context.sh").rr!.uid, Deno.uid());
    const link = rrNode(r, "/link");
    assert.deepEqual(new TextDecoder().decode(readData(src, link)), "through a link");
    // With `under`, the directory itself goes in at that path (like cp -R dir ISO/under).
    const nested = await isoEntriesFromDir(`${dir}/src/sub`, "ctx/scripts");
    assert.deepEqual(nested.map((e) => [e.path, e.dir ?? false, e.mode]), [
      ["ctx/scripts", true, (await Deno.stat(`${dir}/src/sub`)).mode! & 0o7777],
      ["ctx/scripts/inner", true, 0o700],
      ["ctx/scripts/run.sh", false, 0o751],
    ]);
    const r2 = (await build([{ path: "context.sh", source: text("c") }, ...nested])).report;
    assert.equal(rrNode(r2, "/ctx/scripts/run.sh").rr!.mode, 0o100751);
    await rejects(() => isoEntriesFromDir(`${dir}/nope`), "does not exist");
    await rejects(() => isoEntriesFromDir(`${dir}/target`), "is not a directory");
    await rejects(() => isoEntriesFromDir(`${dir}/src`, "../x"), "invalid path");
    await rejects(
      () => writeIso(`${dir}/no/such/dir/ctx.iso`, entries),
      "cannot write ISO image",
    );
    await Deno.symlink(`${dir}/src`, `${dir}/src/sub/loop`);
    await rejects(() => isoEntriesFromDir(`${dir}/src`), "link loop");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

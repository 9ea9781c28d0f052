/**
 * lib/domain/image_source.ts as cp uses it: the RESTRICTED_DIRS / SAFE_DIRS policy on real
 * files and symlinks, format detection on images made by qemu-img, and the byte stream (digests, byte
 * count, a source that stalls or is bigger than allowed) against a real TCP server.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkLocalImagePath,
  detectImageFormat,
  HEAD_BYTES,
  type OpenedImage,
  openImage,
  pathPolicy,
  qcow2Header,
} from "../../../lib/domain/image_source.ts";
import { OneblkError } from "../../../lib/errors.ts";
import { concatBytes } from "../../../lib/bytes.ts";
import { makeImages, md5, testBytes } from "./helpers.ts";
import { needing } from "../../support/tools.ts";

/** Every byte of `img`'s stream, each piece copied before the next read (its buffer is reused). */
async function drain(img: OpenedImage): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const r = img.stream.getReader();
  for (let x = await r.read(); !x.done; x = await r.read()) parts.push(x.value.slice());
  return concatBytes(parts);
}

describe("image sources", () => {
  let dir: string;
  let listener: Deno.TcpListener;
  const conns: Deno.TcpConn[] = [];
  let loop: Promise<void>;

  before(async () => {
    dir = await Deno.makeTempDir({ prefix: "oneblk-imgsrc-" });
    // Sends headers and part of a 10000-byte body (10 bytes for /early, 5000 for /late), then
    // says nothing more.
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    loop = (async () => {
      for await (const conn of listener) {
        conns.push(conn);
        try {
          const buf = new Uint8Array(16 * 1024);
          const n = (await conn.read(buf)) ?? 0;
          const late = new TextDecoder().decode(buf.subarray(0, n)).includes("/late");
          const body = "x".repeat(late ? 5000 : 10);
          await conn.write(
            new TextEncoder().encode(`HTTP/1.1 200 OK\r\ncontent-length: 10000\r\n\r\n${body}`),
          );
        } catch { /* client gone */ }
      }
    })().catch(() => {});
  });
  after(async () => {
    listener.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await loop;
    await Deno.remove(dir, { recursive: true });
  });

  it("builds OpenNebula's restricted list and honours ONE_LOCATION", () => {
    const p = pathPolicy("/srv/private /data/", "/var/tmp/ok", { HOME: "/var/lib/one" });
    assert.deepEqual(p.restricted, [
      "/var/lib/one",
      "/etc/one",
      "/var/lib/one",
      "/srv/private",
      "/data",
    ]);
    assert.deepEqual(p.safe, ["/var/tmp/ok"]);
    const q = pathPolicy("", "", { ONE_LOCATION: "/opt/one" });
    assert.deepEqual(q.restricted, ["/opt/one/var", "/opt/one/etc"]);
  });

  it("SAFE_DIRS win, '/' restricts everything, prefixes are whole directories", async () => {
    const safe = join(dir, "safe");
    const safex = join(dir, "safex");
    await Deno.mkdir(safe);
    await Deno.mkdir(safex);
    await Deno.writeTextFile(join(safe, "a.img"), "x");
    await Deno.writeTextFile(join(safex, "b.img"), "x");
    await Deno.symlink(join(safex, "b.img"), join(safe, "link.img"));
    const policy = pathPolicy("/", safe, {});
    assert.equal(await checkLocalImagePath(join(safe, "a.img"), policy), join(safe, "a.img"));
    for (const p of [join(safex, "b.img"), join(safe, "link.img")]) {
      await assert.rejects(checkLocalImagePath(p, policy), /restricted directory \//);
    }
    await assert.rejects(
      checkLocalImagePath(`${safe}/../safex/b.img`, policy),
      /must not contain/,
    );
    await assert.rejects(checkLocalImagePath(join(safe, "none.img"), policy), /no such file/);
    // without RESTRICTED_DIRS only OpenNebula's own directories are refused
    const open = pathPolicy("", "", {});
    assert.equal(await checkLocalImagePath(join(safex, "b.img"), open), join(safex, "b.img"));
  });

  it(
    ...needing(["qemu-img"], "detects formats and reads the qcow2 header (backing file included)"),
    async () => {
      const raw = testBytes(1024 * 1024, 3);
      const f = await makeImages(dir, "fmt", raw);
      const head = (await Deno.readFile(f.qcow2)).subarray(0, HEAD_BYTES);
      assert.deepEqual(detectImageFormat(head), { format: "qcow2" });
      const h = qcow2Header(head)!;
      assert.equal(h.virtualSize, raw.length);
      assert.equal(h.backingFileOffset, 0);
      assert.equal(h.clusterBits, 16);
      const top = join(dir, "top.qcow2");
      const r = await new Deno.Command("qemu-img", {
        args: ["create", "-q", "-f", "qcow2", "-b", f.qcow2, "-F", "qcow2", top],
      }).output();
      assert.equal(r.code, 0);
      assert.notEqual(qcow2Header(await Deno.readFile(top))!.backingFileOffset, 0);
      assert.deepEqual(detectImageFormat(new Uint8Array([0x1f, 0x8b, 8, 0])), {
        format: "raw",
        compressed: "gzip",
      });
      assert.deepEqual(detectImageFormat(new TextEncoder().encode("KDMV....")), { format: "vmdk" });
      assert.deepEqual(detectImageFormat(raw.subarray(0, HEAD_BYTES)), { format: "raw" });
      assert.equal(qcow2Header(raw), null);
    },
  );

  it("streams a file whole, with head, byte count and digests", async () => {
    const raw = testBytes(300 * 1024 + 3, 4);
    const p = join(dir, "s.raw");
    await Deno.writeFile(p, raw);
    const img = await openImage({ kind: "file", path: p }, { digests: ["md5", "sha1"] });
    assert.equal(img.sizeBytes, raw.length);
    assert.deepEqual(img.head, raw.subarray(0, HEAD_BYTES));
    assert.deepEqual(await drain(img), raw);
    const res = img.result();
    assert.equal(res.complete, true);
    assert.equal(res.bytes, raw.length);
    assert.equal(res.md5, md5(raw));
    assert.match(res.sha1!, /^[0-9a-f]{40}$/);
  });

  it("reads a file into one buffer: a piece is valid until the next read", async () => {
    const raw = testBytes(300 * 1024 + 3, 6);
    const p = join(dir, "pieces.raw");
    await Deno.writeFile(p, raw);
    const img = await openImage({ kind: "file", path: p });
    const r = img.stream.getReader();
    const pieces: Uint8Array[] = [];
    for (let x = await r.read(); !x.done; x = await r.read()) pieces.push(x.value);
    // the head's piece is a copy; the buffer doubles from 16 KiB while reads fill it (each
    // smaller one left behind, whole), then each piece's buffer goes on to the next read
    assert.ok(pieces.length >= 6, `${pieces.length} pieces`);
    assert.ok(pieces[0].length > 0);
    const kept = pieces.slice(1, -1).filter((x) => x.length > 0).map((x) => x.length);
    assert.ok(kept.length <= 2 && kept.every((n) => n < 64 * 1024), `kept ${kept.join(",")}`);
    assert.ok(
      pieces.slice(1 + kept.length, -1).every((x) => x.length === 0),
      "the pieces of the 64 KiB buffer detached",
    );
    await img.close();
  });

  it("fails the stream when the source is bigger than the limit", async () => {
    const p = join(dir, "big.raw");
    await Deno.writeFile(p, testBytes(200 * 1024, 5));
    const img = await openImage({ kind: "file", path: p });
    img.limit(100 * 1024);
    await assert.rejects(drain(img), /larger than the 102400 bytes/);
    assert.equal(img.result().complete, false);
    assert.ok(img.result().error instanceof OneblkError);
    await img.close();
  });

  it("gives up on an http source that stalls, and says so", async () => {
    const base = `http://127.0.0.1:${listener.addr.port}`;
    await assert.rejects(
      openImage({ kind: "http", url: `${base}/early.raw` }, { stallMs: 300 }),
      /sent nothing for 300 ms/,
    );
    const img = await openImage({ kind: "http", url: `${base}/late.raw` }, { stallMs: 300 });
    assert.equal(img.sizeBytes, 10000);
    assert.equal(img.head.length, HEAD_BYTES);
    await assert.rejects(drain(img), /sent nothing for 300 ms/);
    assert.equal(img.result().error?.kind, "timeout");
    assert.equal(img.result().bytes, 5000);
    await img.close();
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { SimRunner } from "../../lib/host/sim.ts";
import { copyStream } from "../../lib/host/copy.ts";
import { ddWriteArgv, sha256 } from "../../lib/host/ops.ts";
import { OneblkError } from "../../lib/errors.ts";
import { sha256Hex } from "./helpers.ts";

/** dd writing `device` to stdout. */
const ddRead = (device: string) => ["dd", `if=${device}`, "bs=1M", "status=none"];

const MiB = 1024 * 1024;

describe("copyStream", () => {
  let root: string;
  let sim: SimRunner;
  let data: Uint8Array;

  /** A simulated device on `host`: a symlink to a data file outside the host dir. */
  async function device(host: string, name: string, size: number, content?: Uint8Array) {
    const file = join(root, "sim", `${host}-${name}.data`);
    if (content) await Deno.writeFile(file, content);
    else {
      using f = await Deno.open(file, { create: true, write: true, truncate: true });
      await f.truncate(size);
    }
    const dev = join(root, "hosts", host, "dev/storpool", name);
    await Deno.mkdir(join(dev, ".."), { recursive: true });
    await Deno.symlink(file, dev);
    return { file, path: `/dev/storpool/${name}` };
  }

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-copy-" });
    for (const h of ["a", "b"]) await Deno.mkdir(join(root, "hosts", h), { recursive: true });
    await Deno.mkdir(join(root, "sim"));
    sim = new SimRunner(root);
    // 5 MiB: random data with a 2 MiB hole of zeros in the middle (exercises conv=sparse)
    data = new Uint8Array(5 * MiB);
    for (let i = 0; i < data.length; i += 65536) {
      crypto.getRandomValues(data.subarray(i, i + 65536));
    }
    data.fill(0, 2 * MiB, 4 * MiB);
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  it("carries the bytes from a device on one host to a device on another exactly", async () => {
    const src = await device("a", "vol-src", data.length, data);
    const dst = await device("b", "vol-dst", data.length);
    const r = await copyStream(
      sim,
      "a",
      ddRead(src.path),
      sim,
      "b",
      ddWriteArgv(dst.path, { blockSize: "64K" }),
    );
    assert.equal(r.src.code, 0);
    assert.equal(r.dst.code, 0);
    const want = await sha256Hex(data);
    assert.equal(await sha256(sim, "a", src.path), want);
    assert.equal(await sha256(sim, "b", dst.path), want);
    // notrunc: the destination keeps its size, the file behind the link got the bytes
    assert.equal((await Deno.stat(dst.file)).size, data.length);
  });

  it("fails with the destination's error and stops the source when the target host is gone", async () => {
    // the source would stream zeros forever: only a closed pipe stops it
    const err = await copyStream(sim, "a", ["dd", "if=/dev/zero", "bs=64K"], sim, "gone", [
      "dd",
      "of=/x",
    ]).catch((e) => e);
    assert.ok(err instanceof OneblkError, String(err));
    assert.equal(err.kind, "unavailable");
    assert.match(err.message, /^host gone is not reachable/);
  });

  it("stops the source when the destination stops reading in the middle", async () => {
    // the source would stream zeros forever; the destination takes 100 kB and ends well
    const t0 = Date.now();
    const err = await copyStream(sim, "a", ["dd", "if=/dev/zero", "bs=64K"], sim, "b", [
      "head",
      "-c",
      "100000",
    ]).catch((e) => e);
    assert.ok(err instanceof OneblkError, String(err));
    assert.match(err.message, /^dd on a failed/);
    assert.ok(Date.now() - t0 < 10_000, "stopped at once, not at the source's deadline");
  });

  it("fails with the source's error when reading fails", async () => {
    const dst = await device("b", "vol-dst2", MiB);
    const err = await copyStream(
      sim,
      "a",
      ddRead("/dev/storpool/missing"),
      sim,
      "b",
      ddWriteArgv(dst.path),
    ).catch((e) => e);
    assert.ok(err instanceof OneblkError, String(err));
    assert.equal(err.kind, "host");
    assert.match(err.message, /^dd on a failed \(exit 1\): .*\/dev\/storpool\/missing/);
  });

  it("fails when the writer fails, even though the reader was fine", async () => {
    const src = await device("a", "vol-src3", MiB, data.slice(0, MiB));
    const err = await copyStream(sim, "a", ddRead(src.path), sim, "b", [
      "dd",
      "of=/no/such/dir/file",
      "status=none",
    ]).catch((e) => e);
    assert.ok(err instanceof OneblkError, String(err));
    assert.equal(err.kind, "host");
    assert.match(err.message, /^dd on b failed/);
  });
});

describe("a stream as a command's stdin", () => {
  it("is read into one buffer, each piece written before the next is read, every byte", async () => {
    const root = await Deno.makeTempDir({ prefix: "oneblk-stdin-" });
    try {
      await Deno.mkdir(join(root, "hosts", "a"), { recursive: true });
      const sim = new SimRunner(root);
      /**
       * What each pull of a source of `total` bytes, giving at most `most` a pull, was offered
       * to read into (-1: nothing, it allocates), with the byte count the command saw.
       */
      const feed = async (total: number, most: number) => {
        let left = total;
        const offered: number[] = [];
        const stream = new ReadableStream({
          type: "bytes",
          pull(c: ReadableByteStreamController) {
            const req = c.byobRequest;
            if (left === 0) {
              c.close();
              req?.respond(0);
              return;
            }
            offered.push(req?.view?.byteLength ?? -1);
            const n = Math.min(left, most, req?.view?.byteLength ?? 65536);
            if (req?.view) {
              new Uint8Array(req.view.buffer, req.view.byteOffset, n).fill(7);
              req.respond(n);
            } else c.enqueue(new Uint8Array(n).fill(7));
            left -= n;
          },
        });
        const r = await sim.run("a", ["wc", "-c"], { stdin: stream });
        return { offered, seen: Number(r.stdout.trim()) };
      };
      // reads that fill the buffer double it, from 16 KiB up to a pipe's 64 KiB
      const full = await feed(300_000, Infinity);
      assert.equal(full.seen, 300_000);
      assert.deepEqual(full.offered, [16_384, 32_768, 65_536, 65_536, 65_536, 65_536]);
      // reads that do not fill it keep it as it is: a short output never holds 64 KiB
      const short = await feed(30_000, 10_000);
      assert.equal(short.seen, 30_000);
      assert.deepEqual(short.offered, [16_384, 16_384, 16_384]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

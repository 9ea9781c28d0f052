/**
 * Compressed images through the real programs, for every profile: gzip, bzip2 and xz files made
 * by the real tools (raw inside, and a qcow2 inside gzip) are imported by datastore cp with the
 * template's MD5 and SHA1 checked on the compressed bytes, and end up byte-exact in the store;
 * datastore stat measures what is inside; a multi-member gzip works; a corrupt or truncated
 * archive fails with one line and leaves nothing (no volume, no temporary volume, no staging
 * file); NO_DECOMPRESS=yes keeps the old refusal; an http(s) source is decompressed as well.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import {
  imagePayload,
  lines,
  makeImages,
  md5,
  PROFILES,
  qcow2ToRaw,
  sha256,
  stagingLeft,
  testBytes,
  useStores,
  volumeBytes,
  worldState,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

const MiB = 1024 * 1024;

function sha1(b: Uint8Array): string {
  return createHash("sha1").update(b).digest("hex");
}

/** Compress `src` with the real tool (`gzip`/`bzip2`/`xz` -c) into `dst`. */
async function pack(tool: string, src: string, dst: string): Promise<Uint8Array> {
  const out = await new Deno.Command(tool, { args: ["-c", src], stdout: "piped" }).output();
  assert.equal(out.code, 0, `${tool} failed`);
  await Deno.writeFile(dst, out.stdout);
  return out.stdout;
}

describe(
  ...needing(["gzip", "bzip2", "xz", "qemu-img"], "datastore cp / stat of compressed images"),
  () => {
    let c: Cluster;
    const stores = useStores((started) => {
      c = started;
    });
    let dir: string;
    // a raw image with zero runs (compressible), not a multiple of 512 bytes
    const raw = testBytes(3 * MiB + 5, 21);
    const qraw = testBytes(2 * MiB, 22);
    const files: Record<string, { path: string; bytes: Uint8Array }> = {};
    let server: Deno.HttpServer<Deno.NetAddr>;
    let base: string;
    let nextId = 1200;
    let flaky = 0;

    before(async () => {
      dir = await Deno.makeTempDir({ prefix: "oneblk-cpz-" });
      const plain = await makeImages(dir, "img", raw);
      const q = await makeImages(dir, "q", qraw);
      for (
        const [name, tool, src] of [
          ["raw.gz", "gzip", plain.raw],
          ["raw.bz2", "bzip2", plain.raw],
          ["raw.xz", "xz", plain.raw],
          ["qcow2.gz", "gzip", q.qcow2],
        ] as const
      ) {
        const path = join(dir, `img.${name}`);
        files[name] = { path, bytes: await pack(tool, src, path) };
      }
      // two gzip members, as pigz -i, bgzip or `cat a.gz b.gz` make: gunzip joins them
      const half = join(dir, "half.raw");
      await Deno.writeFile(half, raw.subarray(0, MiB));
      const rest = join(dir, "rest.raw");
      await Deno.writeFile(rest, raw.subarray(MiB));
      const a = await pack("gzip", half, join(dir, "a.gz"));
      const b = await pack("gzip", rest, join(dir, "b.gz"));
      const multi = new Uint8Array([...a, ...b]);
      files["multi.gz"] = { path: join(dir, "img.multi.gz"), bytes: multi };
      await Deno.writeFile(files["multi.gz"].path, multi);
      // corrupt: a gzip with bytes flipped in the middle; an xz cut short
      const bad = files["raw.gz"].bytes.slice();
      for (let i = 0; i < 64; i++) bad[Math.floor(bad.length / 2) + i] ^= 0x5a;
      files["corrupt.gz"] = { path: join(dir, "corrupt.gz"), bytes: bad };
      await Deno.writeFile(files["corrupt.gz"].path, bad);
      const cut = files["raw.xz"].bytes.subarray(0, Math.floor(files["raw.xz"].bytes.length * 0.7));
      files["truncated.xz"] = { path: join(dir, "truncated.xz"), bytes: cut };
      await Deno.writeFile(files["truncated.xz"].path, cut);

      server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
        let name = new URL(req.url).pathname.slice(1);
        if (name.startsWith("flaky/")) {
          // busy once, like a marketplace mirror under load: curl --retry would try again
          if (flaky++ % 2 === 0) return new Response("busy", { status: 503 });
          name = name.slice("flaky/".length);
        }
        const f = files[name];
        return f
          ? new Response(f.bytes.slice() as Uint8Array<ArrayBuffer>)
          : new Response("no such image", { status: 404 });
      });
      base = `http://127.0.0.1:${server.addr.port}`;
    });

    after(async () => {
      await server?.shutdown();
      await Deno.remove(dir, { recursive: true });
    });

    async function stat(drv: string, path: string, ds: Record<string, string> = {}) {
      const id = nextId++;
      return await c.runDs("datastore", drv, "stat", imagePayload(c, drv, { id, path }, ds), id);
    }

    for (const drv of PROFILES) {
      it(`${drv}: gzip, bzip2 and xz raw images land byte-exact; MD5/SHA1 of the archive`, async () => {
        const s = stores[drv];
        for (const name of ["raw.gz", "raw.bz2", "raw.xz", "multi.gz"]) {
          const f = files[name];
          // stat sees the image inside: 3 MiB + 5 bytes → 4 MB
          const st = await stat(drv, f.path);
          assert.equal(st.code, 0, st.stderr);
          assert.equal(st.stdout, "4\n", name);
          const id = nextId++;
          const xml = imagePayload(c, drv, {
            id,
            path: f.path,
            size: 4,
            format: "",
            template: { MD5: md5(f.bytes), SHA1: sha1(f.bytes) },
          });
          const r = await c.runDs("datastore", drv, "cp", xml, id);
          assert.equal(r.code, 0, `${name}: ${r.stderr}`);
          assert.equal(r.stdout, `${s.source(id)} raw\n`);
          assert.match(r.stderr, /-compressed: decompressing it on the way/);
          const v = await volumeBytes(s, s.vol(id), raw.length);
          assert.equal(v.sizeBytes, 4 * MiB);
          assert.equal(v.headSha, sha256(raw), `${name}: the volume holds the decompressed image`);
          assert.ok(v.restZero);
        }
        assert.deepEqual(await stagingLeft(c, "alpha", "oneblk-cp-"), []);
      });

      it(`${drv}: a gzip'd qcow2 is kept or converted (via a temporary volume)`, async () => {
        const s = stores[drv];
        const f = files["qcow2.gz"];
        const st = await stat(drv, f.path);
        assert.equal(st.stdout, "2\n", "stat: the qcow2's virtual size");
        const id = nextId++;
        const xml = imagePayload(c, drv, {
          id,
          path: f.path,
          size: 2,
          format: "",
          template: { MD5: md5(f.bytes) },
        });
        const r = await c.runDs("datastore", drv, "cp", xml, id);
        assert.equal(r.code, 0, r.stderr);
        const vol = s.vol(id);
        if (s.profile.keepImageFormat) {
          assert.equal(r.stdout, `${s.source(id)} qcow2\n`);
          const back = await qcow2ToRaw(s.dataPath(vol), join(dir, `back-${id}.raw`));
          assert.equal(sha256(back), sha256(qraw));
        } else {
          assert.equal(r.stdout, `${s.source(id)} raw\n`);
          assert.equal((await volumeBytes(s, vol, qraw.length)).headSha, sha256(qraw));
          assert.equal(await s.backend.getVolume(s.profile.importStageVolume(id)), null);
        }
        assert.deepEqual(await stagingLeft(c, "alpha", "oneblk-cp-"), []);
      });

      it(`${drv}: http(s) sources are decompressed too; stat sizes a qcow2 inside`, async () => {
        const s = stores[drv];
        const id = nextId++;
        const xml = imagePayload(c, drv, {
          id,
          path: `${base}/raw.xz`,
          size: 4,
          format: "",
          template: { SHA1: sha1(files["raw.xz"].bytes) },
        });
        const r = await c.runDs("datastore", drv, "cp", xml, id);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await volumeBytes(s, s.vol(id), raw.length)).headSha, sha256(raw));
        assert.equal((await stat(drv, `${base}/qcow2.gz`)).stdout, "2\n");
        if (drv === PROFILES[0]) {
          // a 503 before the first byte is tried again after 3 s (downloader.sh: curl --retry 3)
          const again = nextId++;
          const r2 = await c.runDs(
            "datastore",
            drv,
            "cp",
            imagePayload(c, drv, { id: again, path: `${base}/flaky/raw.gz`, size: 4, format: "" }),
            again,
          );
          assert.equal(r2.code, 0, r2.stderr);
          assert.equal((await volumeBytes(s, s.vol(again), raw.length)).headSha, sha256(raw));
        }
        const refused = await stat(drv, `${base}/raw.gz`);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /cannot size the gzip-compressed raw image .* without/);
      });

      it(`${drv}: corrupt/truncated archives, wrong checksums, NO_DECOMPRESS: one line, nothing left`, async () => {
        const beforeState = await worldState(c);
        const cases: [string, Record<string, string>, Record<string, string>, RegExp][] = [
          [files["corrupt.gz"].path, {}, {}, /cannot decompress .*corrupt\.gz \(gzip\)/],
          [files["truncated.xz"].path, {}, {}, /cannot decompress .*truncated\.xz \(xz\)/],
          [`${base}/truncated.xz`, {}, {}, /cannot decompress .*truncated\.xz \(xz\)/],
          // the checksum of the decompressed image is not what OpenNebula checks
          [files["raw.bz2"].path, { MD5: md5(raw) }, {}, /MD5 of .* is [0-9a-f]{32}, the image/],
          // decompressed bigger than IMAGE/SIZE says
          [files["raw.gz"].path, {}, { SIZE: "1" }, /decompresses to more than the 1048576 bytes/],
          [
            files["raw.gz"].path,
            {},
            { NO_DECOMPRESS: "YES" },
            /gzip-compressed and the datastore sets NO_DECOMPRESS/,
          ],
        ];
        for (const [path, template, extra, why] of cases) {
          const id = nextId++;
          const { SIZE, ...ds } = extra;
          const xml = imagePayload(c, drv, {
            id,
            path,
            size: SIZE ? Number(SIZE) : 4,
            format: "",
            template,
          }, ds);
          const r = await c.runDs("datastore", drv, "cp", xml, id);
          assert.equal(r.code, 1, `${path}: ${r.stderr}`);
          assert.equal(r.stdout, "");
          assert.equal(lines(r.stderr.replace(/^INFO: .*\n/gm, "")), 1, r.stderr);
          assert.match(r.stderr, why);
        }
        // a corrupt qcow2.gz for the converting profiles: the temporary volume goes too
        const badQ = files["qcow2.gz"].bytes.slice(0, files["qcow2.gz"].bytes.length - 40);
        const badPath = join(dir, `badq-${drv}.qcow2.gz`);
        await Deno.writeFile(badPath, badQ);
        const id = nextId++;
        const r = await c.runDs(
          "datastore",
          drv,
          "cp",
          imagePayload(c, drv, { id, path: badPath, size: 2, format: "" }),
          id,
        );
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /cannot decompress/);
        assert.deepEqual(await worldState(c), beforeState);
      });
    }
  },
);

/**
 * datastore cp through the real installed program, for every profile and both payload styles:
 * raw and qcow2 files and URLs end up byte-exact in the volume (qcow2 kept as qcow2 by the
 * linstor profile, converted to raw by the others), the stdout line is what oned parses, and
 * every refusal or mid-way failure leaves the simulated world exactly as it was.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import {
  closeStores,
  imagePayload,
  lines,
  makeImages,
  md5,
  openStores,
  PROFILES,
  qcow2ToRaw,
  sha256,
  stagingLeft,
  type Store,
  STYLES,
  testBytes,
  volumeBytes,
  worldState,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

const MiB = 1024 * 1024;

describe(...needing(["qemu-img"], "datastore cp"), () => {
  let c: Cluster;
  let dir: string;
  let server: Deno.HttpServer<Deno.NetAddr>;
  let broken: Deno.TcpListener;
  let brokenUrl: string;
  let base: string;
  const stores: Record<string, Store> = {};
  // raw image: not a multiple of 512 (rounding up to MiB is exercised)
  const raw = testBytes(3 * MiB + 5, 1);
  // qcow2 source: made from an aligned raw image
  const qraw = testBytes(3 * MiB + 64 * 1024, 2);
  let files: { raw: string; qcow2: string };
  let qfiles: { raw: string; qcow2: string };
  let nextId = 200;

  before(async () => {
    c = await startCluster();
    Object.assign(stores, await openStores(c));
    dir = join(c.root, "images");
    await Deno.mkdir(dir);
    files = await makeImages(dir, "plain", raw);
    qfiles = await makeImages(dir, "q", qraw);
    const qbytes = new Uint8Array(await Deno.readFile(qfiles.qcow2));
    server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/img.raw") return new Response(raw);
      if (path === "/img.qcow2") return new Response(qbytes);
      return new Response("no such image", { status: 404 });
    });
    base = `http://127.0.0.1:${server.addr.port}`;
    // A server that announces the whole raw image, sends 1 MiB of it, then hangs up.
    broken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    brokenUrl = `http://127.0.0.1:${broken.addr.port}/broken.raw`;
    (async () => {
      for await (const conn of broken) {
        try {
          await conn.read(new Uint8Array(64 * 1024));
          const head = `HTTP/1.1 200 OK\r\ncontent-length: ${raw.length}\r\n\r\n`;
          await conn.write(new TextEncoder().encode(head));
          for (let off = 0; off < MiB;) off += await conn.write(raw.subarray(off, MiB));
        } catch { /* the client may go first */ }
        conn.close();
      }
    })().catch(() => {});
  });

  after(async () => {
    await server?.shutdown();
    broken?.close();
    await closeStores(stores);
    await c?.stop();
  });

  for (const drv of PROFILES) {
    for (const style of STYLES) {
      it(`${drv} (${style}): a raw file lands byte-exact; stdout is SOURCE raw`, async () => {
        const s = stores[drv];
        const id = nextId++;
        const xml = imagePayload(c, drv, { id, path: files.raw, size: 4, format: "" });
        const r = await c.runDs("datastore", drv, "cp", xml, id, style);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${s.source(id)} raw\n`);
        if (style === "argv") {
          // oned retrying a cp whose answer it lost: the same volume is written again
          const again = await c.runDs("datastore", drv, "cp", xml, id, style);
          assert.equal(again.code, 0, again.stderr);
          assert.equal(again.stdout, r.stdout);
        }
        const v = await volumeBytes(s, s.vol(id), raw.length);
        assert.equal(v.sizeBytes, 4 * MiB);
        assert.equal(v.headSha, sha256(raw));
        assert.ok(v.restZero, "the volume beyond the image reads as zeros");
        const temp = (await s.backend.attachments(s.vol(id))).filter((a) =>
          a.host === "alpha" && !a.diskful && !a.tieBreaker
        );
        assert.deepEqual(temp, [], "the temporary attachment on the bridge is released");
      });

      it(`${drv} (${style}): a qcow2 file is kept or converted as the profile says`, async () => {
        const s = stores[drv];
        const id = nextId++;
        const xml = imagePayload(c, drv, { id, path: qfiles.qcow2, size: 4, format: "" });
        const r = await c.runDs("datastore", drv, "cp", xml, id, style);
        assert.equal(r.code, 0, r.stderr);
        const vol = s.vol(id);
        if (s.profile.keepImageFormat) {
          assert.equal(r.stdout, `${s.source(id)} qcow2\n`);
          const back = await qcow2ToRaw(s.dataPath(vol), join(dir, `back-${id}.raw`));
          assert.equal(sha256(back), sha256(qraw));
        } else {
          assert.equal(r.stdout, `${s.source(id)} raw\n`);
          const v = await volumeBytes(s, vol, qraw.length);
          assert.equal(v.headSha, sha256(qraw));
          assert.ok(v.restZero);
        }
        assert.deepEqual(await stagingLeft(c, "alpha", "oneblk-cp-"), []);
      });
    }

    it(`${drv}: an http raw image with a matching MD5`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const xml = imagePayload(c, drv, {
        id,
        path: `${base}/img.raw`,
        size: 4,
        format: "",
        template: { MD5: md5(raw) },
      });
      const r = await c.runDs("datastore", drv, "cp", xml, id);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${s.source(id)} raw\n`);
      assert.equal((await volumeBytes(s, s.vol(id), raw.length)).headSha, sha256(raw));
    });

    it(`${drv}: an http qcow2 image (IMAGE/SIZE 0, as from a marketplace)`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const xml = imagePayload(c, drv, { id, path: `${base}/img.qcow2`, size: 0, format: "" });
      const r = await c.runDs("datastore", drv, "cp", xml, id);
      assert.equal(r.code, 0, r.stderr);
      const fmt = s.profile.keepImageFormat ? "qcow2" : "raw";
      assert.equal(r.stdout, `${s.source(id)} ${fmt}\n`);
      const info = await s.backend.getVolume(s.vol(id));
      assert.ok(info && info.sizeMiB >= 4, `volume sized from the image (${info?.sizeMiB})`);
    });

    it(`${drv}: a download that breaks half-way leaves nothing behind`, async () => {
      const id = nextId++;
      const beforeState = await worldState(c);
      const xml = imagePayload(c, drv, { id, path: brokenUrl, size: 4, format: "" });
      const r = await c.runDs("datastore", drv, "cp", xml, id);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(lines(r.stderr.replace(/^INFO: .*\n/gm, "")), 1, r.stderr);
      assert.match(r.stderr, /broken\.raw/);
      assert.deepEqual(await worldState(c), beforeState);
    });

    it(`${drv}: an MD5 mismatch deletes the volume it had filled`, async () => {
      const id = nextId++;
      const beforeState = await worldState(c);
      const xml = imagePayload(c, drv, {
        id,
        path: files.raw,
        size: 4,
        format: "",
        template: { MD5: "0".repeat(32) },
      });
      const r = await c.runDs("datastore", drv, "cp", xml, id, "argv");
      assert.equal(r.code, 1);
      assert.match(r.stderr, /MD5 of .* is [0-9a-f]{32}, the image template says 0{32}/);
      assert.deepEqual(await worldState(c), beforeState);
      assert.equal(await stores[drv].backend.getVolume(stores[drv].vol(id)), null);
    });

    it(`${drv}: RESTRICTED_DIRS refuses, SAFE_DIRS allows, no escape`, async () => {
      const s = stores[drv];
      const locked = join(c.root, `locked-${drv}`);
      const safe = join(locked, "ok");
      await Deno.mkdir(safe, { recursive: true });
      await Deno.copyFile(files.raw, join(locked, "img.raw"));
      await Deno.copyFile(files.raw, join(safe, "img.raw"));
      await Deno.symlink(join(locked, "img.raw"), join(safe, "sneaky.raw"));
      const attrs = { RESTRICTED_DIRS: locked, SAFE_DIRS: safe };
      const beforeState = await worldState(c);
      for (
        const [path, why] of [
          [join(locked, "img.raw"), /restricted directory/],
          [join(safe, "sneaky.raw"), /restricted directory/],
          [`${safe}/../img.raw`, /must not contain '\.' or '\.\.'/],
        ] as const
      ) {
        const id = nextId++;
        const r = await c.runDs(
          "datastore",
          drv,
          "cp",
          imagePayload(c, drv, { id, path, size: 4, format: "" }, attrs),
          id,
        );
        assert.equal(r.code, 1, path);
        assert.equal(lines(r.stderr), 1, r.stderr);
        assert.match(r.stderr, why);
      }
      assert.deepEqual(await worldState(c), beforeState);
      const id = nextId++;
      const ok = await c.runDs(
        "datastore",
        drv,
        "cp",
        imagePayload(c, drv, { id, path: join(safe, "img.raw"), size: 4, format: "" }, {
          RESTRICTED_DIRS: "/",
          SAFE_DIRS: safe,
        }),
        id,
      );
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, `${s.source(id)} raw\n`);
    });
  }

  it("refuses zstd, backing-file, unknown and missing images", async () => {
    // zstd is not among what OpenNebula's downloader unpacks (gzip, bzip2, xz)
    const zst = join(dir, "img.raw.zst");
    await Deno.writeFile(zst, new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, ...raw.subarray(0, 4096)]));
    // a qcow2 overlay whose backing file would be read on the bridge host
    const top = join(dir, "overlay.qcow2");
    const mk = await new Deno.Command("qemu-img", {
      args: ["create", "-q", "-f", "qcow2", "-b", qfiles.qcow2, "-F", "qcow2", top],
    }).output();
    assert.equal(mk.code, 0);
    const beforeState = await worldState(c);
    for (const drv of PROFILES) {
      for (
        const [img, why] of [
          [{ path: zst, format: "" }, /zstd-compressed; decompress it/],
          [{ path: top, format: "" }, /qcow2 image with a backing file/],
          [{ path: files.raw, format: "vhs" }, /unknown image FORMAT 'vhs'/],
          [{ path: join(dir, "nope.raw"), format: "" }, /no such file/],
          [{ path: `${base}/nope.raw`, format: "" }, /HTTP 404/],
          [{ path: "ftp://example.org/x.raw", format: "" }, /scheme 'ftp:' is not supported/],
          [{ path: files.raw, format: "qcow2" }, /declared qcow2 but is not qcow2/],
        ] as const
      ) {
        const id = nextId++;
        const r = await c.runDs(
          "datastore",
          drv,
          "cp",
          imagePayload(c, drv, { id, size: 4, ...img }),
          id,
        );
        assert.equal(r.code, 1, `${drv} ${img.path}`);
        assert.equal(r.stdout, "");
        assert.equal(lines(r.stderr), 1, r.stderr);
        assert.match(r.stderr, why);
      }
    }
    assert.deepEqual(await worldState(c), beforeState);
  });
});

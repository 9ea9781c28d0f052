/**
 * datastore clone and rm through the real program, for every profile: a clone carries the
 * source's bytes and grows to SIZE, repeats succeed, a missing source creates nothing; rm
 * removes the volume with its snapshots, is idempotent, and refuses a volume in use.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import {
  imagePayload,
  lines,
  makeVolume,
  PROFILES,
  sha256,
  snapshotNames,
  testBytes,
  useStores,
  volumeSha,
  worldState,
} from "./helpers.ts";

const MiB = 1024 * 1024;

describe("datastore clone and rm", () => {
  let c: Cluster;
  const stores = useStores((started) => {
    c = started;
  });
  let nextId = 400;
  const data = testBytes(3 * MiB, 7);

  for (const drv of PROFILES) {
    it(`${drv}: clone carries the bytes, grows to SIZE, prints SOURCE FORMAT`, async () => {
      const s = stores[drv];
      const src = nextId++;
      await makeVolume(c, s, s.vol(src), 4, data);
      const id = nextId++;
      const xml = imagePayload(c, drv, {
        id,
        path: s.source(src),
        cloningId: src,
        size: 8,
        format: "raw",
      });
      for (const style of ["argv", "stdin"] as const) {
        const r = await c.runDs("datastore", drv, "clone", xml, id, style);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${s.source(id)} raw\n`);
      }
      assert.equal(await volumeSha(s, s.vol(id), data.length), sha256(data));
      assert.equal((await s.backend.getVolume(s.vol(id)))?.sizeMiB, 8);
      assert.equal(await volumeSha(s, s.vol(src), data.length), sha256(data), "source intact");
    });

    it(`${drv}: clone by CLONING_ID alone, and the FORMAT the profile reports`, async () => {
      const s = stores[drv];
      const src = nextId++;
      await makeVolume(c, s, s.vol(src), 4, data);
      const id = nextId++;
      const r = await c.runDs(
        "datastore",
        drv,
        "clone",
        imagePayload(c, drv, { id, path: "", cloningId: src, size: 4, format: "qcow2" }),
        id,
      );
      assert.equal(r.code, 0, r.stderr);
      const fmt = s.profile.keepImageFormat ? "qcow2" : "raw";
      assert.equal(r.stdout, `${s.source(id)} ${fmt}\n`);
      assert.equal(await volumeSha(s, s.vol(id), data.length), sha256(data));
    });

    it(`${drv}: clone of a missing source fails and creates nothing`, async () => {
      const s = stores[drv];
      const beforeState = await worldState(c);
      const id = nextId++;
      const r = await c.runDs(
        "datastore",
        drv,
        "clone",
        imagePayload(c, drv, { id, path: s.source(99999), cloningId: 99999, size: 4 }),
        id,
      );
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr), 1, r.stderr);
      assert.match(r.stderr, /does not exist|not found/);
      assert.deepEqual(await worldState(c), beforeState);
    });

    it(`${drv}: rm deletes the volume and its snapshots; a repeat succeeds`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const vol = s.vol(id);
      await makeVolume(c, s, vol, 4, data);
      await s.backend.createSnapshot(vol, s.profile.snapshotName(vol, 0));
      await s.backend.createSnapshot(vol, s.profile.snapshotName(vol, 1));
      assert.equal((await snapshotNames(s, vol)).length, 2);
      const xml = imagePayload(c, drv, { id, source: s.source(id), size: 4 });
      for (const style of ["argv", "stdin", "stdin"] as const) {
        const r = await c.runDs("datastore", drv, "rm", xml, id, style);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, "");
      }
      assert.equal(await s.backend.getVolume(vol), null);
      assert.deepEqual(await snapshotNames(s, vol), []);
    });

    it(`${drv}: rm of an image without SOURCE (failed cp) uses the image id`, async () => {
      const s = stores[drv];
      const id = nextId++;
      await makeVolume(c, s, s.vol(id), 4, data);
      const r = await c.runDs(
        "datastore",
        drv,
        "rm",
        imagePayload(c, drv, { id, source: "", size: 4 }),
        id,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await s.backend.getVolume(s.vol(id)), null);
    });

    it(`${drv}: rm refuses a volume in use and keeps it with its snapshots`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const vol = s.vol(id);
      await makeVolume(c, s, vol, 4, data);
      await s.backend.createSnapshot(vol, s.profile.snapshotName(vol, 0));
      await s.backend.attach(vol, "bravo");
      if (s.backend.kind === "linstor") c.linstor.setInUse(vol, "bravo", true);
      else c.storpool.setInUse(vol, "bravo", true);
      const r = await c.runDs(
        "datastore",
        drv,
        "rm",
        imagePayload(c, drv, { id, source: s.source(id), size: 4 }),
        id,
      );
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr), 1, r.stderr);
      assert.match(r.stderr, /in use|open/);
      assert.ok(await s.backend.getVolume(vol));
      assert.equal((await snapshotNames(s, vol)).length, 1);
      assert.equal(await volumeSha(s, vol, data.length), sha256(data));
    });
  }
});

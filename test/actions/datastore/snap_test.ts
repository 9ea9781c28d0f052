/**
 * datastore snap_delete / snap_revert / snap_flatten through the real program, with the data
 * checked: snapshots are made with the backend directly (as a VM disk snapshot would have
 * made them), content is written through the simulator's data file (what the device shows).
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
  type Store,
  testBytes,
  useStores,
  volumeSha,
  worldState,
  writeVolume,
} from "./helpers.ts";

const MiB = 1024 * 1024;
const A = testBytes(2 * MiB, 11);
const B = testBytes(2 * MiB, 12);
const C = testBytes(2 * MiB, 13);

describe("datastore image snapshots", () => {
  let c: Cluster;
  const stores = useStores((started) => {
    c = started;
  });
  let nextId = 500;

  /** Image with content A → snapshot 0, B → snapshot 1, then C (current). */
  async function imageWithSnapshots(s: Store): Promise<{ id: number; vol: string }> {
    const id = nextId++;
    const vol = s.vol(id);
    await makeVolume(c, s, vol, 4, A);
    await s.backend.createSnapshot(vol, s.profile.snapshotName(vol, 0));
    await writeVolume(s, vol, B);
    await s.backend.createSnapshot(vol, s.profile.snapshotName(vol, 1));
    await writeVolume(s, vol, C);
    return { id, vol };
  }

  function snapXml(s: Store, id: number, target: number): string {
    return imagePayload(c, s.drv, {
      id,
      source: s.source(id),
      size: 4,
      format: "raw",
      targetSnapshot: target,
      snapshots: [{ id: 0 }, { id: 1 }],
    });
  }

  async function lastRest(): Promise<number> {
    return (await c.stats()).at(-1)!.rest;
  }

  for (const drv of PROFILES) {
    it(`${drv}: snap_revert restores the snapshot's bytes and keeps every snapshot`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      const r = await c.runDs("datastore", drv, "snap_revert", snapXml(s, id, 0), id, "argv");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "");
      assert.ok((await lastRest()) <= 3, `REST calls ${await lastRest()}`);
      assert.equal(await volumeSha(s, vol, A.length), sha256(A));
      assert.equal((await snapshotNames(s, vol)).length, 2);
      // repeat, then revert to the other one
      assert.equal((await c.runDs("datastore", drv, "snap_revert", snapXml(s, id, 0), id)).code, 0);
      const r1 = await c.runDs("datastore", drv, "snap_revert", snapXml(s, id, 1), id);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal(await volumeSha(s, vol, B.length), sha256(B));
    });

    it(`${drv}: snap_revert to a missing snapshot fails clearly and changes nothing`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      const r = await c.runDs("datastore", drv, "snap_revert", snapXml(s, id, 7), id);
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr), 1, r.stderr);
      assert.match(r.stderr, /snapshot 7 .* does not exist/);
      assert.equal(await volumeSha(s, vol, C.length), sha256(C));
    });

    it(`${drv}: snap_delete removes one snapshot; deleting it again succeeds`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      for (const style of ["stdin", "argv"] as const) {
        const r = await c.runDs("datastore", drv, "snap_delete", snapXml(s, id, 1), id, style);
        assert.equal(r.code, 0, r.stderr);
        assert.ok((await lastRest()) <= 3, `REST calls ${await lastRest()}`);
      }
      assert.deepEqual(await snapshotNames(s, vol), [s.profile.snapshotName(vol, 0)]);
      assert.equal(await volumeSha(s, vol, C.length), sha256(C), "content untouched");
    });

    it(`${drv}: snap_flatten keeps the snapshot's bytes, drops its snapshots`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      const foreign = `${vol}-keep`;
      await s.backend.createSnapshot(vol, foreign);
      const r = await c.runDs("datastore", drv, "snap_flatten", snapXml(s, id, 0), id);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await volumeSha(s, vol, A.length), sha256(A));
      assert.deepEqual(await snapshotNames(s, vol), [foreign], "only the foreign one is left");
      // a repeat (oned retry) finds nothing to do and succeeds
      const again = await c.runDs("datastore", drv, "snap_flatten", snapXml(s, id, 0), id, "argv");
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await volumeSha(s, vol, A.length), sha256(A));
    });

    it(`${drv}: snap_flatten completes a run that stopped after deleting a snapshot`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      // as if an earlier flatten to snapshot 1 stopped after dropping snapshot 0
      await s.backend.deleteSnapshot(vol, s.profile.snapshotName(vol, 0));
      const r = await c.runDs("datastore", drv, "snap_flatten", snapXml(s, id, 1), id);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await volumeSha(s, vol, B.length), sha256(B));
      assert.deepEqual(await snapshotNames(s, vol), []);
    });

    it(`${drv}: snap_flatten to a vanished snapshot changes nothing`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      await s.backend.deleteSnapshot(vol, s.profile.snapshotName(vol, 1));
      const beforeState = await worldState(c);
      const names = await snapshotNames(s, vol);
      const r = await c.runDs("datastore", drv, "snap_flatten", snapXml(s, id, 1), id);
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr), 1, r.stderr);
      assert.match(r.stderr, /does not exist .*nothing was changed/);
      assert.deepEqual(await snapshotNames(s, vol), names);
      assert.equal(await volumeSha(s, vol, C.length), sha256(C));
      assert.deepEqual(await worldState(c), beforeState);
    });

    it(`${drv}: snap_* without TARGET_SNAPSHOT is refused`, async () => {
      const s = stores[drv];
      const { id, vol } = await imageWithSnapshots(s);
      for (const a of ["snap_delete", "snap_revert", "snap_flatten"]) {
        const r = await c.runDs("datastore", drv, a, snapXml(s, id, -1), id);
        assert.equal(r.code, 1, a);
        assert.equal(lines(r.stderr), 1);
        assert.match(r.stderr, /TARGET_SNAPSHOT/);
      }
      assert.equal((await snapshotNames(s, vol)).length, 2);
    });
  }
});

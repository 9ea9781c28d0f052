/**
 * Backup chain resets and what oned does not reset, on both stores (linstor and storpool
 * profiles), played by the scripted oned in 7.2's convention:
 *
 *  - a requested full backup (`onevm backup --reset`) starts a new chain and says so;
 *  - a base snapshot deleted by hand: oned still files the next backup as an increment, so it
 *    holds the whole disk (explicit zeros), says why, and the chain restores byte-exact;
 *  - a disk grown between two backups: a normal (small) increment of the new size;
 *  - KEEP_LAST flattening by the backup datastore: nothing for the driver to do, the next
 *    increments still restore byte-exact;
 *  - a disk new in the backup set without a reset (BACKUP_VOLATILE before 7.4): a whole-disk
 *    increment with an INFO line; restoring all disks of that chain fails in OpenNebula's
 *    downloader (the disk has no earlier files) and leaves the disks as they were, while
 *    restoring the other disk works;
 *  - 7.0: oned forces MODE=FULL for raw disks, so every backup is a full one and no chain
 *    snapshot stays.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  conventionFor,
  OnedFailure,
  ScriptedOned,
  type VmModel,
} from "../../tools/sim/oned/scripted_oned.ts";
import { lcgBytes } from "../support/bytes.ts";
import { fileSha256, writeAt } from "../support/files.ts";
import { backendOf, chainState, diskVolumes, qemuImg, rebuildLikeRsync } from "./backup_helpers.ts";

const MiB = 1024 * 1024;

/** The INFO lines of the last prebackup call. */
function preLogs(s: ScriptedOned): string[] {
  return s.calls.filter((c) => c.op === "backup" && c.script.startsWith("prebackup")).at(-1)!
    .logs;
}

for (const profile of ["linstor", "storpool"] as const) {
  describe(`${profile}: chain resets (7.2)`, () => {
    let s: ScriptedOned;
    let vm: VmModel;
    const size = { 0: 32, 1: 16 } as Record<number, number>;
    const dev = (d: number) => s.cluster.hostPath("bravo", `${s.vmDir(vm)}/disk.${d}`);
    const sum = (d: number) => fileSha256(dev(d), size[d] * MiB, { padZeros: true });
    /** Files of disk 0 since the last full backup (for the offline rebuild). */
    let chain0: string[] = [];

    before(async () => {
      s = await ScriptedOned.start({ profile, version: "7.2.0" });
      const a = await s.createDatablock({ name: "data", sizeMb: size[0] });
      vm = await s.instantiate({
        host: "bravo",
        disks: [{ image: a.id }, { volatile: "fs", sizeMb: size[1], fs: "" }],
        backupConfig: { MODE: "INCREMENT", KEEP_LAST: 2 },
      });
      await writeAt(dev(0), 0, lcgBytes(2 * MiB, 1));
      await writeAt(dev(1), 0, lcgBytes(MiB, 2));
    });
    after(async () => {
      await s?.close();
    });

    it("--reset starts a new chain and says so", async () => {
      const first = await s.backup(vm.id);
      await writeAt(dev(0), 8 * MiB, lcgBytes(MiB, 3));
      const r = await s.backup(vm.id, { reset: true });
      assert.equal(r.increment, 0);
      assert.notEqual(r.imageId, first.imageId);
      assert.ok(preLogs(s).some((l) => /starts a new chain/.test(l)), preLogs(s).join("\n"));
      assert.deepEqual((await chainState(s, vm)).chain, [[0]]);
      chain0 = [r.files[0].path];
      const inc = await s.backup(vm.id);
      assert.equal(inc.increment, 1);
      chain0.push(inc.files[0].path);
    });

    it("a base deleted by hand gives a whole-disk increment that restores exactly", async () => {
      const [volume] = diskVolumes(s, vm).values();
      const b = backendOf(s);
      for (const inc of [0, 1]) {
        await b.deleteSnapshot(volume, s.profile.backupSnapshotName(volume, vm.id, 0, inc));
      }
      await writeAt(dev(0), 0, new Uint8Array(MiB)); // zeros over old data: must not read through
      await writeAt(dev(0), 16 * MiB, lcgBytes(MiB, 4));
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 2);
      assert.ok(preLogs(s).some((l) => /no base snapshot .* holds the whole disk/.test(l)));
      const map = JSON.parse(await qemuImg(["map", "--output=json", r.files[0].path]));
      assert.ok(map.every((e: { present: boolean }) => e.present), "every byte is in the file");
      chain0.push(r.files[0].path);
      const raw = await rebuildLikeRsync(chain0, join(s.cluster.root, `whole-${profile}`));
      assert.equal(await fileSha256(raw, size[0] * MiB, { padZeros: true }), await sum(0));
    });

    it("a disk grown since the base: a small increment of the new size", async () => {
      await s.diskResize(vm.id, 0, 48);
      size[0] = 48;
      await writeAt(dev(0), 40 * MiB, lcgBytes(MiB, 5));
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 3);
      assert.ok(!preLogs(s).some((l) => /whole disk/.test(l)), preLogs(s).join("\n"));
      assert.ok(preLogs(s).some((l) => /disk 0 grew since increment 2 \(32 → 48 MiB\)/.test(l)));
      const info = JSON.parse(await qemuImg(["info", "--output=json", r.files[0].path]));
      assert.equal(info["virtual-size"], 48 * MiB);
      assert.ok((await Deno.stat(r.files[0].path)).size < 2 * MiB);
      chain0.push(r.files[0].path);
      const raw = await rebuildLikeRsync(chain0, join(s.cluster.root, `grown-${profile}`));
      assert.equal(await fileSha256(raw, 48 * MiB, { padZeros: true }), await sum(0));
    });

    it("KEEP_LAST flattening keeps the chain going", async () => {
      const img = s.image(Number(vm.backupConfig.INCREMENTAL_BACKUP_ID));
      assert.deepEqual(img.increments?.map((i) => [i.id, i.type]), [[2, "FULL"], [3, "INCREMENT"]]);
      await writeAt(dev(0), 24 * MiB, lcgBytes(MiB, 6));
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 4);
      assert.deepEqual(s.image(r.imageId).increments?.map((i) => i.id), [3, 4]);
      const want = await sum(0);
      await s.poweroff(vm.id);
      await writeAt(dev(0), 0, lcgBytes(MiB, 99));
      await s.restore(vm.id, r.imageId, -1, 0);
      assert.equal(await sum(0), want);
      await s.resume(vm.id);
    });

    it("a disk new in the backup set without a reset: whole-disk increment, told", async () => {
      s.setBackupConfig(vm.id, { BACKUP_VOLATILE: "YES" });
      await writeAt(dev(0), 30 * MiB, lcgBytes(MiB, 7));
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 0, "the restore reset the chain");
      await writeAt(dev(0), 2 * MiB, lcgBytes(MiB, 8));
      s.setBackupConfig(vm.id, { BACKUP_VOLATILE: "NO" });
      await s.backup(vm.id);
      s.setBackupConfig(vm.id, { BACKUP_VOLATILE: "YES" });
      const r2 = await s.backup(vm.id);
      assert.equal(r2.increment, 2);
      assert.ok(preLogs(s).some((l) => /disk 1: no base snapshot/.test(l)), preLogs(s).join("\n"));
      assert.deepEqual(r2.files.map((f) => f.name), ["disk.0.2", "disk.1.2"]);
      const want = [await sum(0), await sum(1)];
      await s.poweroff(vm.id);
      await writeAt(dev(0), 0, lcgBytes(MiB, 50));
      const damaged = [await sum(0), await sum(1)];
      await assert.rejects(s.restore(vm.id, r2.imageId, -1, -1), OnedFailure);
      assert.deepEqual([await sum(0), await sum(1)], damaged, "a failed restore changes nothing");
      assert.deepEqual((await chainState(s, vm)).undo, []);
      await s.restore(vm.id, r2.imageId, -1, 0);
      assert.equal(await sum(0), want[0]);
    });
  });
}

describe("7.0: raw disks get full backups only (oned forces MODE=FULL)", () => {
  let s: ScriptedOned;
  before(async () => {
    s = await ScriptedOned.start({ profile: "storpool", version: "7.0.0" });
  });
  after(async () => {
    await s?.close();
  });

  it("every backup is disk.<id>.0 and no chain snapshot stays", async () => {
    const a = await s.createDatablock({ name: "data", sizeMb: 16 });
    const vm = await s.instantiate({
      host: "bravo",
      disks: [{ image: a.id }],
      backupConfig: { MODE: "INCREMENT" },
    });
    for (let i = 0; i < 2; i++) {
      const r = await s.backup(vm.id);
      assert.deepEqual(r.files.map((f) => f.name), ["disk.0.0"]);
      assert.equal(vm.backupConfig.MODE, "FULL");
      assert.deepEqual((await chainState(s, vm)).chain, [[]]);
    }
    assert.equal(conventionFor("6.8.0").restore, false, "no in-place restore before 6.10");
    assert.equal(conventionFor("6.10.0").restore, true);
  });
});

/**
 * Incremental backups and in-place restores, driven by the scripted oned as oned drives them,
 * into the simulated rsync backup datastore, for the three profiles (both stores), in 7.2's
 * calling convention (raw disks may use MODE=INCREMENT from 7.2):
 *
 *  full backup (running, guest frozen) → write known blocks → increment → write more, power
 *  off → increment → restore each of the three points in place; every disk's checksum equals
 *  the checksum at that point, and the VM's TPM state (disk.tpm.0, restored with disk 0) is
 *  that point's. Increments hold only the changed clusters. The stored chain is
 *  also rebuilt offline exactly as OpenNebula's rsync downloader does (`qemu-img rebase -u -F
 *  qcow2 -b <previous> <next>` per link, then `qemu-img convert -O qcow2`). No scratch volume,
 *  restore snapshot or stale chain snapshot survives, and the backup directory is gone.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type BackupResult,
  PROFILES,
  ScriptedOned,
  type VmModel,
} from "../../tools/sim/oned/scripted_oned.ts";
import { lcgBytes } from "../support/bytes.ts";
import { fileSha256, lexists, writeAt } from "../support/files.ts";
import { backendOf, chainState, diskVolumes, qemuImg, rebuildLikeRsync } from "./backup_helpers.ts";

const MiB = 1024 * 1024;

for (const profile of PROFILES) {
  describe(`${profile}: incremental backups and in-place restore (7.2)`, () => {
    let s: ScriptedOned;
    let vm: VmModel;
    const sizes = [64, 32];
    const dev = (d: number) => s.cluster.hostPath("bravo", `${s.vmDir(vm)}/disk.${d}`);
    const sums = async () =>
      await Promise.all(sizes.map((mb, d) => fileSha256(dev(d), mb * MiB, { padZeros: true })));
    const points: { sums: string[]; tpm: string; result: BackupResult }[] = [];
    const tpmFile = () => s.cluster.hostPath("bravo", `${s.vmDir(vm)}/tpm/tpm2-00.permall`);
    const putTpm = async (text: string) => {
      await Deno.mkdir(s.cluster.hostPath("bravo", `${s.vmDir(vm)}/tpm`), { recursive: true });
      await Deno.writeTextFile(tpmFile(), text);
    };
    const point = async (result: BackupResult) => {
      assert.ok(result.stored.includes("disk.tpm.0"), `TPM state stored: ${result.stored}`);
      points.push({ sums: await sums(), tpm: await Deno.readTextFile(tpmFile()), result });
    };

    before(async () => {
      s = await ScriptedOned.start({ profile, version: "7.2.0" });
      const a = await s.createDatablock({ name: "data-a", sizeMb: sizes[0] });
      const b = await s.createDatablock({ name: "data-b", sizeMb: sizes[1], persistent: true });
      vm = await s.instantiate({
        host: "bravo",
        disks: [{ image: a.id }, { image: b.id }],
        backupConfig: { MODE: "INCREMENT", KEEP_LAST: 10, FS_FREEZE: "AGENT" },
        tpmModel: "tpm-crb",
      });
      await putTpm("tpm state 0");
      await writeAt(dev(0), 0, lcgBytes(3 * MiB, 1));
      await writeAt(dev(1), 4 * MiB, lcgBytes(2 * MiB, 2));
    });
    after(async () => {
      await s?.close();
    });

    it("full backup of the running VM, guest frozen around the snapshot", async () => {
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 0);
      assert.deepEqual(r.files.map((f) => f.name), ["disk.0.0", "disk.1.0"]);
      assert.ok(r.files.every((f) => f.format === "qcow2"));
      await point(r);
      assert.equal(vm.backupConfig.LAST_INCREMENT_ID, 0);
      const st = await chainState(s, vm);
      assert.deepEqual(st.chain, [[0], [0]], "base 0 kept on each disk");
      assert.deepEqual(st.scratch, []);
      assert.equal(await lexists(s.cluster.hostPath("bravo", `${s.vmDir(vm)}/backup`)), false);
      const tm = s.calls.filter((c) => c.op === "backup").map((c) => `${c.kind}/${c.script}`);
      assert.deepEqual(tm, ["tm/prebackup_live", "datastore/backup", "tm/postbackup_live"]);
    });

    it("an increment holds the changed clusters only (1 MiB rewritten, 1 MiB zeroed)", async () => {
      await writeAt(dev(0), 20 * MiB, lcgBytes(MiB, 3));
      await writeAt(dev(1), 4 * MiB, new Uint8Array(MiB));
      await putTpm("tpm state 1");
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 1);
      assert.deepEqual(r.files.map((f) => f.name), ["disk.0.1", "disk.1.1"]);
      for (const f of r.files) {
        const info = JSON.parse(await qemuImg(["info", "--output=json", f.path]));
        assert.equal(info["backing-filename"], undefined, `${f.name} names no backing file`);
        const bytes = (await Deno.stat(f.path)).size;
        assert.ok(bytes < 2 * MiB, `${f.name} is ${bytes} bytes for 1 MiB changed`);
      }
      const pre = s.calls.filter((c) => c.op === "backup" && c.script === "prebackup_live").at(-1)!;
      assert.equal(pre.logs.filter((l) => /whole disk/.test(l)).length, 0, pre.stderr);
      await point(r);
      assert.deepEqual((await chainState(s, vm)).chain, [[0, 1], [0, 1]], "7.2: outcome unknown");
    });

    it("powered off: the next increment drops base 0 and keeps 1 and 2", async () => {
      await writeAt(dev(0), 40 * MiB, lcgBytes(2 * MiB, 4));
      await writeAt(dev(1), 0, lcgBytes(MiB, 5));
      await putTpm("tpm state 2");
      await s.poweroff(vm.id);
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 2);
      await point(r);
      const st = await chainState(s, vm);
      assert.deepEqual(st.chain, [[1, 2], [1, 2]]);
      assert.deepEqual(st.scratch, []);
      const tm = s.calls.filter((c) => c.op === "backup").slice(-3).map((c) => c.script);
      assert.deepEqual(tm, ["prebackup", "backup", "postbackup"]);
    });

    it("the stored chain rebuilds, the rsync downloader's way, into each point", async () => {
      for (const d of [0, 1]) {
        for (let k = 0; k < points.length; k++) {
          const files = points.slice(0, k + 1).map((p) => p.result.files[d].path);
          const raw = await rebuildLikeRsync(files, join(s.cluster.root, `rebuilt-${d}-${k}`));
          assert.equal(
            await fileSha256(raw, sizes[d] * MiB, { padZeros: true }),
            points[k].sums[d],
            `disk ${d} at point ${k}`,
          );
        }
      }
    });

    it("restores each point in place, checksums equal; nothing temporary left", async () => {
      const image = points[0].result.imageId;
      for (const k of [0, 1, 2]) {
        await writeAt(dev(0), 0, lcgBytes(MiB, 100 + k));
        await putTpm(`tpm state changed ${k}`);
        await s.restore(vm.id, image, k === 2 ? -1 : k);
        assert.deepEqual(await sums(), points[k].sums, `point ${k}`);
        assert.equal(await Deno.readTextFile(tpmFile()), points[k].tpm, `TPM state at ${k}`);
        const st = await chainState(s, vm);
        assert.deepEqual(st.undo, [], "no restore snapshot left");
        assert.deepEqual(st.chain, [[], []], "the chain is over after a restore");
        assert.equal(
          await lexists(s.cluster.hostPath("bravo", `${s.vmDir(vm)}/.oneblk-restore`)),
          false,
        );
        assert.equal(vm.backupConfig.LAST_INCREMENT_ID, -1);
      }
      const restores = s.calls.filter((c) => c.op === "restore");
      assert.ok(restores.some((c) => c.kind === "tm" && c.script === "restore"));
      assert.deepEqual(s.allComplaints(), []);
    });

    it("terminating the VM drops its chain snapshots (the persistent image stays)", async () => {
      await s.resume(vm.id);
      await s.backup(vm.id);
      const vols = diskVolumes(s, vm);
      assert.deepEqual((await chainState(s, vm)).chain, [[0], [0]]);
      await s.terminate(vm.id);
      const b = backendOf(s);
      assert.equal(await b.getVolume(vols.get(0)!), null, "the clone is gone with its snapshots");
      const kept = await b.listSnapshots(vols.get(1)!);
      assert.ok(await b.getVolume(vols.get(1)!), "the persistent image stays");
      assert.deepEqual(kept.filter((x) => /oneblk-backup/.test(x.name)), []);
    });
  });
}

for (const profile of ["linstor", "storpool"] as const) {
  describe(`${profile}: a 1 MiB change to a 1 GiB disk`, () => {
    let s: ScriptedOned;
    before(async () => {
      s = await ScriptedOned.start({ profile, version: "7.2.0" });
    });
    after(async () => {
      await s?.close();
    });

    it("gives an increment under 5 MiB that restores the disk exactly", async () => {
      const img = await s.createDatablock({ name: "big", sizeMb: 1024 });
      const vm = await s.instantiate({
        host: "bravo",
        disks: [{ image: img.id }],
        backupConfig: { MODE: "INCREMENT" },
      });
      const dev = s.cluster.hostPath("bravo", `${s.vmDir(vm)}/disk.0`);
      for (const at of [0, 300, 700, 1000]) await writeAt(dev, at * MiB, lcgBytes(MiB, at));
      const full = await s.backup(vm.id);
      await writeAt(dev, 512 * MiB, lcgBytes(MiB, 9));
      const inc = await s.backup(vm.id);
      const bytes = (await Deno.stat(inc.files[0].path)).size;
      assert.ok(bytes < 5 * MiB, `increment is ${bytes} bytes`);
      console.log(`${profile}: a 1 MiB change to a 1 GiB disk: increment of ${bytes} bytes`);
      const raw = await rebuildLikeRsync(
        [full.files[0].path, inc.files[0].path],
        join(s.cluster.root, "big"),
      );
      await qemuImg(["compare", "-q", "-f", "raw", "-F", "raw", raw, dev]); // fails unless equal
    });
  });
}

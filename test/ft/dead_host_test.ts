/**
 * FT matrix, source host dead (docs/contract.md "tm mv", "tm delete"). A host "dies": its
 * directory under `<root>/hosts/` is moved away, so the simulated host runner reports it
 * unreachable, while the store keeps its view of it.
 *
 *  - host_error hook, fenced host (its devices closed): oned reschedules the VM
 *    (PROLOG_MIGRATE_UNKNOWN) with `tm mv dead:… charlie:…` per disk and for the VM directory,
 *    then deploys on charlie (CONTEXT). Every mv succeeds, the disks are linked on charlie with
 *    the data written before the crash, and the store no longer attaches them as clients on the
 *    dead host.
 *  - the same without fencing: the store still sees the devices open on the dead host; the
 *    move succeeds and reports what stays attached there.
 *  - `onevm recover --delete` of a VM on a dead host: `tm delete` of every disk and of the VM
 *    directory succeeds; the clone and the volatile disk are deleted in the store, the
 *    persistent image is kept.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { PROFILES, type VmModel } from "../../tools/sim/oned/scripted_oned.ts";
import { inspectStore, randomBytes, sha256, writeRegion } from "../../tools/sim/scenario.ts";
import {
  assertClean,
  clientAttachments,
  diskSha,
  type FtWorld,
  imageVolumes,
  killHost,
  reviveHost,
  startWorld,
  storeVolumes,
} from "./helpers.ts";

const MiB = 1024 * 1024;

for (const profile of PROFILES) {
  describe(`${profile}: source host dead`, () => {
    let w: FtWorld;
    before(async () => {
      w = await startWorld(profile);
    });
    after(async () => {
      await w?.oned.close();
    });

    /** A running VM on `host`: clone, persistent datablock, volatile fs, context; data written. */
    async function runningVm(host: string, tag: string) {
      const { oned } = w;
      const pers = await oned.createDatablock({ name: `pers-${tag}`, sizeMb: 4, persistent: true });
      const vm = await oned.instantiate({
        host,
        disks: [{ image: w.image.id }, { image: pers.id }, { volatile: "fs", sizeMb: 4 }],
      });
      const shas = new Map<number, string>();
      for (const id of [0, 1, 2]) {
        const bytes = randomBytes(MiB);
        await writeRegion(oned.diskPath(vm.id, id), 0, bytes, "raw");
        shas.set(id, await sha256(bytes));
      }
      return { vm, pers, shas };
    }

    /** Close the VM's devices in the store (the domain died with its host: fencing). */
    function fence(vm: VmModel): void {
      for (const m of vm.marks) {
        if (m.store === "linstor") w.oned.cluster.linstor.setInUse(m.name, m.host, false);
        else w.oned.cluster.storpool.setInUse(m.name, m.host, false);
      }
      vm.marks = [];
    }

    /** oned's host-error recovery: PROLOG_MIGRATE_UNKNOWN to `dst`, MV lines, deploy. */
    async function reschedule(vm: VmModel, src: string, dst: string) {
      const { oned } = w;
      const sys = oned.datastore(oned.systemDs);
      vm.history.push({ ...vm.history.at(-1)!, hostname: dst, hid: oned.hostId(dst) });
      vm.lcmState = 60;
      oned.cluster.oned.state.putVm(oned.vmXml(vm));
      const dir = oned.vmDir(vm);
      const lines = vm.disks.map((d) =>
        `${
          d.tmMadSystem ? `MV.${d.tmMadSystem}` : "MV"
        } ${d.tmMad} ${src}:${dir}/disk.${d.diskId} ` +
        `${dst}:${dir}/disk.${d.diskId} ${vm.id} ${d.dsId}`
      );
      lines.push(`MV ${sys.tmMad} ${src}:${dir} ${dst}:${dir} ${vm.id} ${oned.systemDs}`);
      const calls = await oned.transfer("hostError", vm, "migrate", lines);
      // BOOT_MIGRATE: the deploy regenerates the context (TM CONTEXT) on dst.
      const ctxSh = oned.cluster.hostPath(oned.frontend, `/var/lib/one/vms/${vm.id}/context.sh`);
      const ctx = await oned.tmLine(
        "hostError",
        `CONTEXT ${sys.tmMad} ${ctxSh} ${dst}:${dir}/disk.${vm.contextDiskId} ${vm.id} ` +
          `${oned.systemDs}`,
      );
      assert.ok(ctx.ok, `CONTEXT on ${dst}: ${ctx.stderr}`);
      // The domain starts on dst and opens its disks there.
      for (const d of [...vm.disks.map((x) => x.diskId), vm.contextDiskId!]) {
        const m = await oned.linkedVolume(dst, `${dir}/disk.${d}`);
        if (!m) continue;
        if (m.store === "linstor") {
          assert.ok(oned.cluster.linstor.setInUse(m.name, dst, true), `${m.name} on ${dst}`);
        } else oned.cluster.storpool.setInUse(m.name, dst, true);
        vm.marks.push(m);
      }
      vm.lcmState = 3;
      oned.cluster.oned.state.putVm(oned.vmXml(vm));
      return calls;
    }

    /** Volumes of the VM that the store still attaches as a client on `host`. */
    async function clientsOn(vm: VmModel, host: string): Promise<string[]> {
      const vols = new Set<string>();
      for (const id of [...vm.disks.map((d) => d.diskId), vm.contextDiskId!]) {
        const m = await w.oned.linkedVolume("charlie", `${w.oned.vmDir(vm)}/disk.${id}`);
        if (m) vols.add(m.name.toLowerCase());
      }
      return inspectStore(w.oned).attachments.filter((a) =>
        a.host === host && !a.diskful && !a.tieBreaker && vols.has(a.volume.toLowerCase())
      ).map((a) => a.volume).sort();
    }

    it("host_error on a fenced host: tm mv dead → charlie per disk and dir succeeds", async () => {
      const { oned } = w;
      const { vm, pers, shas } = await runningVm("bravo", "fenced");
      fence(vm);
      const grave = await killHost(oned, "bravo");
      try {
        const calls = await reschedule(vm, "bravo", "charlie");
        assert.equal(calls.length, vm.disks.length + 1, "every MV ran");
        assert.ok(calls.every((c) => c.ok));
        assert.ok(
          calls.every((c) => c.stderr.includes("host bravo is unreachable")),
          "every MV met the dead host (and said so)",
        );
        for (const [id, sha] of shas) {
          assert.equal(await diskSha(oned, vm, id, MiB, "charlie"), sha, `disk.${id} on charlie`);
        }
        assert.deepEqual(await clientsOn(vm, "bravo"), [], "nothing attached on the dead host");
        assert.deepEqual(oned.allComplaints(), []);
        await oned.terminate(vm.id);
        await oned.deleteImage(pers.id);
      } finally {
        await reviveHost(oned, "bravo", grave);
      }
      // The host comes back with the stale VM directory of before the crash.
      await Deno.remove(oned.cluster.hostPath("bravo", oned.vmDir(vm)), { recursive: true });
      await assertClean(oned);
    });

    it("host_error without fencing: the move succeeds and reports what stays", async () => {
      const { oned } = w;
      const { vm, pers, shas } = await runningVm("delta", "unfenced");
      const stale = vm.marks.filter((m) => m.host === "delta");
      vm.marks = [];
      const grave = await killHost(oned, "delta");
      try {
        const calls = await reschedule(vm, "delta", "charlie");
        assert.ok(calls.every((c) => c.ok));
        for (const [id, sha] of shas) {
          assert.equal(await diskSha(oned, vm, id, MiB, "charlie"), sha, `disk.${id} on charlie`);
        }
        const left = await clientsOn(vm, "delta");
        for (const v of left) {
          assert.ok(
            calls.some((c) => c.stderr.includes(v) && c.stderr.includes("delta")),
            `${v} left attached on delta is reported`,
          );
        }
        // The dead host is repaired: its devices close; oned's next cleanup detaches them.
        for (const m of stale) {
          if (m.store === "linstor") oned.cluster.linstor.setInUse(m.name, m.host, false);
          else oned.cluster.storpool.setInUse(m.name, m.host, false);
        }
        await oned.terminate(vm.id);
        await oned.deleteImage(pers.id);
      } finally {
        await reviveHost(oned, "delta", grave);
      }
      await Deno.remove(oned.cluster.hostPath("delta", oned.vmDir(vm)), { recursive: true });
      await assertClean(oned);
    });

    it("recover --delete on a dead host: tm delete succeeds for the store side", async () => {
      const { oned } = w;
      const before = storeVolumes(oned);
      const { vm, pers, shas } = await runningVm("bravo", "delete");
      fence(vm);
      const grave = await killHost(oned, "bravo");
      try {
        await oned.terminate(vm.id, { hard: true });
        const deletes = oned.calls.filter((c) =>
          c.op === "terminate(hard)" && c.script === "delete"
        );
        assert.equal(deletes.length, vm.disks.length + 1);
        assert.ok(deletes.every((c) => c.ok));
        assert.deepEqual(
          storeVolumes(oned),
          [...before, oned.imageVolume(pers.id).toLowerCase()].sort(),
          "clone, volatile disk and per-VM volumes deleted; the persistent image kept",
        );
        const f = oned.volumeFile(oned.imageVolume(pers.id))!;
        assert.equal(
          await sha256((await Deno.readFile(f)).subarray(0, MiB)),
          shas.get(1),
          "persistent data kept",
        );
        assert.deepEqual(clientAttachments(oned), [], "nothing attached anywhere");
        await oned.deleteImage(pers.id);
      } finally {
        await reviveHost(oned, "bravo", grave);
      }
      await Deno.remove(oned.cluster.hostPath("bravo", oned.vmDir(vm)), { recursive: true });
      assert.deepEqual(storeVolumes(oned), imageVolumes(oned));
      await assertClean(oned);
    });

    it("stop with the source out of reach: the directory move fails, nothing is given up", async () => {
      // Issue 10 (deno task faults, tm/mv:stop-dir host-down): only oned's host_error path
      // (LCM 60/61) gives up a source directory; a stop whose host does not answer fails and
      // oned's retry copies the directory once the host is back.
      const { oned } = w;
      const { vm, pers } = await runningVm("bravo", "stop");
      const dir = oned.vmDir(vm);
      await Deno.writeTextFile(oned.cluster.hostPath("bravo", `${dir}/deployment.0`), "<domain/>");
      fence(vm);
      vm.lcmState = 10; // EPILOG_STOP
      oned.cluster.oned.state.putVm(oned.vmXml(vm));
      const sys = oned.datastore(oned.systemDs);
      const line = `MV ${sys.tmMad} bravo:${dir} alpha:${dir} ${vm.id} ${oned.systemDs}`;
      const grave = await killHost(oned, "bravo");
      let first;
      try {
        first = await oned.tmLine("stopDir", line);
      } finally {
        await reviveHost(oned, "bravo", grave);
      }
      assert.equal(first.ok, false, "the move failed instead of leaving the directory behind");
      assert.match(first.stderr, /bravo/);
      const retry = await oned.tmLine("stopDir", line);
      assert.ok(retry.ok, retry.stderr);
      assert.equal(
        await Deno.readTextFile(oned.cluster.hostPath("alpha", `${dir}/deployment.0`)),
        "<domain/>",
        "copied by the retry",
      );
      assert.equal(await exists(oned.cluster.hostPath("bravo", dir)), false, "gone from bravo");
      vm.lcmState = 3;
      oned.cluster.oned.state.putVm(oned.vmXml(vm));
      await oned.terminate(vm.id, { hard: true }).catch(() => {});
      await oned.deleteImage(pers.id).catch(() => {});
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Faults in the middle of a backup or a restore, on both stores (linstor and storpool
 * profiles), played by the scripted oned as a version after 7.4 (postbackup learns a failure
 * from BACKUP_RESULT): a store error, the host going away during a qemu-img pass, a guest
 * agent that never answers the freeze, a disk write failing half-way through a restore.
 * After each: no scratch volume, no new chain snapshot (base L stays), no restore snapshot,
 * the VM's disks exactly as before, and the next backup or restore works and is correct.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { OnedFailure, ScriptedOned, type VmModel } from "../../tools/sim/oned/scripted_oned.ts";
import { lcgBytes } from "../support/bytes.ts";
import { fileSha256, lexists, writeAt } from "../support/files.ts";
import { backendOf, chainState, diskVolumes, rebuildLikeRsync } from "./backup_helpers.ts";

const MiB = 1024 * 1024;

/** A `qemu-img` first in the actions' PATH that fails one chosen call (see injectQemuFault). */
const QEMU_SHIM = `#!/bin/sh
fault="$ONEBLK_SIM_ROOT/qemu-img.fault"
if [ -f "$fault" ]; then
  read -r verb match action < "$fault"
  if [ "$1" = "$verb" ]; then
    case " $* " in
      *"$match"*)
        rm -f "$fault"
        if [ "$action" = unreachable ]; then mv "$PWD" "$PWD.down"; exit 255; fi
        echo "qemu-img: injected failure" >&2
        exit 1 ;;
    esac
  fi
fi
exec /usr/bin/qemu-img "$@"
`;

/** A virsh in front of the simulated one: logs calls, never answers domfsfreeze. */
const SLOW_VIRSH = `#!/bin/sh
echo "$*" >> "$ONEBLK_SIM_ROOT/virsh.log"
case " $* " in *" domfsfreeze "*) sleep 30 ;; esac
exec "$(dirname "$0")/virsh.real" "$@"
`;

for (const profile of ["linstor", "storpool"] as const) {
  describe(`${profile}: faults in the middle of backups and restores`, () => {
    let s: ScriptedOned;
    let vm: VmModel;
    const sizes = [32, 16];
    const dev = (d: number) => s.cluster.hostPath("bravo", `${s.vmDir(vm)}/disk.${d}`);
    const sums = () =>
      Promise.all(sizes.map((mb, d) => fileSha256(dev(d), mb * MiB, { padZeros: true })));
    const files: string[][] = [[], []];

    /** The next `qemu-img <verb>` whose arguments contain `match` fails (or its host dies). */
    const injectQemuFault = (verb: string, match: string, action = "fail") =>
      Deno.writeTextFile(join(s.cluster.root, "qemu-img.fault"), `${verb} ${match} ${action}\n`);
    /** The dead host is back (a store may have made device links in a new directory). */
    const hostBack = async (h: string) => {
      const dir = s.cluster.hostPath(h, "/").replace(/\/+$/, "");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.rename(`${dir}.down`, dir);
    };
    /** No scratch volume, no restore snapshot, only `kept` in each disk's chain. */
    const clean = async (kept: number[]) => {
      const st = await chainState(s, vm);
      assert.deepEqual(st.scratch, [], "no scratch volume");
      assert.deepEqual(st.undo, [], "no restore snapshot");
      assert.deepEqual(st.chain, sizes.map(() => kept), "base kept, no other");
    };
    const storeFault = (what: "open" | "undo") => {
      if (profile === "storpool") {
        s.cluster.storpool.addFault({
          method: what === "open" ? "VolumesReassignWait" : "VolumesGroupSnapshot",
          status: 500,
          times: 1,
        });
      } else {
        s.cluster.linstor.addFault({
          method: "POST",
          path: what === "open" ? "snapshot-restore-resource" : "snapshot/multi",
          action: "error",
          status: 500,
          times: 1,
        });
      }
    };

    before(async () => {
      s = await ScriptedOned.start({ profile, version: "7.5.0" });
      const faultbin = join(s.cluster.root, "faultbin");
      await Deno.mkdir(faultbin, { recursive: true });
      await Deno.writeTextFile(join(faultbin, "qemu-img"), QEMU_SHIM, { mode: 0o755 });
      s.cluster.env.PATH = `${faultbin}:${s.cluster.env.PATH}`;
      const a = await s.createDatablock({ name: "a", sizeMb: sizes[0] });
      const b = await s.createDatablock({ name: "b", sizeMb: sizes[1], persistent: true });
      vm = await s.instantiate({
        host: "bravo",
        disks: [{ image: a.id }, { image: b.id }],
        backupConfig: { MODE: "INCREMENT", KEEP_LAST: 10, FS_FREEZE: "AGENT" },
      });
      await writeAt(dev(0), 0, lcgBytes(2 * MiB, 1));
      await writeAt(dev(1), MiB, lcgBytes(MiB, 2));
      const r = await s.backup(vm.id);
      r.files.forEach((f, d) => files[d].push(f.path));
    });
    after(async () => {
      s?.cluster.storpool.clearFaults();
      s?.cluster.linstor.clearFaults();
      await s?.close();
    });

    it("store error while reading the snapshot (running): nothing left, base kept", async () => {
      await writeAt(dev(0), 4 * MiB, lcgBytes(MiB, 3));
      const want = await sums();
      storeFault("open");
      await assert.rejects(s.backup(vm.id), OnedFailure);
      const post = s.calls.filter((c) => c.script === "postbackup_live").at(-1)!;
      assert.ok(post.ok, "postbackup ran and succeeded");
      assert.deepEqual(await sums(), want, "disks untouched");
      await clean([0]);
      assert.equal(await lexists(s.cluster.hostPath("bravo", `${s.vmDir(vm)}/backup`)), false);
      assert.equal(vm.backupConfig.LAST_INCREMENT_ID, 0, "oned did not advance");
    });

    it("the host dies during the increment's qemu-img pass (powered off)", async () => {
      await s.poweroff(vm.id);
      const want = await sums();
      await injectQemuFault("rebase", "-F", "unreachable");
      await assert.rejects(s.backup(vm.id), OnedFailure);
      await hostBack("bravo");
      assert.deepEqual(await sums(), want, "disks untouched");
      await clean([0]);
      // the next backup removes what the dead host kept and is a correct increment 1
      const r = await s.backup(vm.id);
      assert.equal(r.increment, 1);
      r.files.forEach((f, d) => files[d].push(f.path));
      for (const d of [0, 1]) {
        const raw = await rebuildLikeRsync(files[d], join(s.cluster.root, `f-${profile}-${d}`));
        assert.equal(await fileSha256(raw, sizes[d] * MiB, { padZeros: true }), want[d]);
      }
      // after 7.4 a success is a postbackup without BACKUP_RESULT: only the new base 1 stays
      await clean([1]);
      await s.resume(vm.id);
    });

    it("a guest agent that never answers: thawed, crash-consistent, told", async () => {
      const real = join(s.cluster.root, "bin", "virsh.real");
      await Deno.rename(s.virsh, real);
      await Deno.writeTextFile(s.virsh, SLOW_VIRSH, { mode: 0o755 });
      s.cluster.env.ONEBLK_FSFREEZE_TIMEOUT = "1";
      try {
        await writeAt(dev(1), 0, lcgBytes(MiB, 4));
        const r = await s.backup(vm.id);
        assert.equal(r.increment, 2);
        const pre = s.calls.filter((c) => c.script === "prebackup_live").at(-1)!;
        assert.ok(pre.logs.some((l) => /did not freeze .* crash-consistent/.test(l)), pre.stderr);
        const log = await Deno.readTextFile(join(s.cluster.root, "virsh.log"));
        assert.ok(
          log.includes(`domfsthaw ${vm.deployId}`),
          `thaw tried after the timed-out freeze: ${log}`,
        );
        r.files.forEach((f, d) => files[d].push(f.path));
      } finally {
        delete s.cluster.env.ONEBLK_FSFREEZE_TIMEOUT;
        await Deno.rename(real, s.virsh);
      }
      assert.deepEqual((await chainState(s, vm)).scratch, []);
    });

    it("restore: a store error before writing leaves the disks as they were", async () => {
      await s.poweroff(vm.id);
      const image = Number(vm.backupConfig.INCREMENTAL_BACKUP_ID);
      await writeAt(dev(0), 0, lcgBytes(MiB, 5));
      const want = await sums();
      storeFault("undo");
      await assert.rejects(s.restore(vm.id, image, 0), OnedFailure);
      assert.deepEqual(await sums(), want);
      assert.deepEqual((await chainState(s, vm)).undo, []);
      assert.equal(
        await lexists(s.cluster.hostPath("bravo", `${s.vmDir(vm)}/.oneblk-restore`)),
        false,
      );
    });

    it("restore: the second disk's write fails half-way; the first is rolled back", async () => {
      const image = Number(vm.backupConfig.INCREMENTAL_BACKUP_ID);
      const want = await sums();
      const [, v1] = [...diskVolumes(s, vm).values()];
      await injectQemuFault("convert", v1);
      await assert.rejects(s.restore(vm.id, image, 1), /injected failure/);
      assert.deepEqual(await sums(), want, "both disks as they were");
      assert.deepEqual((await chainState(s, vm)).undo, []);
    });

    it("restore: an earlier restore killed mid-write is rolled back first", async () => {
      const image = Number(vm.backupConfig.INCREMENTAL_BACKUP_ID);
      const before = await sums();
      const [v0] = [...diskVolumes(s, vm).values()];
      // what a restore killed (SIGKILL) while writing disk 0 leaves: its undo snapshot, and a
      // half-written disk
      await backendOf(s).createSnapshot(v0, s.profile.restoreUndoName(v0, vm.id, 0));
      await writeAt(dev(0), 0, lcgBytes(2 * MiB, 77));
      await injectQemuFault("info", ".oneblk-restore");
      await assert.rejects(s.restore(vm.id, image, 1), /injected failure/);
      const call = s.calls.filter((c) => c.script === "restore").at(-1)!;
      const line = call.logs.find((l) => /earlier restore did not finish/.test(l));
      assert.ok(line, call.stderr);
      assert.ok(line.startsWith(`INFO: ${vm.id} tm/`), `in the VM's log: ${line}`);
      assert.deepEqual(await sums(), before, "disk 0 is back to its content before that restore");
      assert.deepEqual((await chainState(s, vm)).undo, []);
    });

    it("restore: the host dies while writing; the disks are rolled back store-side", async () => {
      const image = Number(vm.backupConfig.INCREMENTAL_BACKUP_ID);
      const want = await sums();
      const [v0] = [...diskVolumes(s, vm).values()];
      await injectQemuFault("convert", v0, "unreachable");
      await assert.rejects(s.restore(vm.id, image, 1), OnedFailure);
      await hostBack("bravo");
      assert.deepEqual(await sums(), want, "disks as they were");
      assert.deepEqual((await chainState(s, vm)).undo, []);
      // then it works, and leaves nothing
      await s.restore(vm.id, image, 1);
      const raw = await rebuildLikeRsync(
        files[0].slice(0, 2),
        join(s.cluster.root, `r-${profile}`),
      );
      assert.equal(await fileSha256(dev(0), sizes[0] * MiB), await fileSha256(raw, sizes[0] * MiB));
      assert.equal(
        await lexists(s.cluster.hostPath("bravo", `${s.vmDir(vm)}/.oneblk-restore`)),
        false,
      );
      await clean([]);
      assert.deepEqual(s.allComplaints(), []);
    });
  });
}

/**
 * FT matrix, double delete and repeated cleanup (docs/contract.md "tm mvds", "tm delete"):
 * oned's CLEANUP and `recover --retry` run the same epilog again. Every line of a terminate's
 * transfer file (`tm mvds` of a persistent disk, `tm delete` of the clone, the volatile disk and
 * the VM directory) is run a second time after it succeeded, for a normal and a hard
 * (epilog_delete) terminate; `datastore rm` of an image runs twice. All succeed, persistent
 * data survives, and the store ends with exactly the images.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildDsActionXml } from "../../tools/sim/oned/builders.ts";
import { PROFILES, type VmModel } from "../../tools/sim/oned/scripted_oned.ts";
import { randomBytes, regionSha, sha256, writeRegion } from "../../tools/sim/scenario.ts";
import { assertClean, type FtWorld, imageVolumes, startWorld, storeVolumes } from "./helpers.ts";

const MiB = 1024 * 1024;

for (const profile of PROFILES) {
  describe(`${profile}: repeated cleanup`, () => {
    let w: FtWorld;
    before(async () => {
      w = await startWorld(profile);
    });
    after(async () => {
      await w?.oned.close();
    });

    /** Run every line of the VM's last transfer file again (oned's CLEANUP / retry). */
    async function replayEpilog(vm: VmModel): Promise<string[]> {
      const { oned } = w;
      const dir = oned.cluster.hostPath(oned.frontend, `/var/lib/one/vms/${vm.id}`);
      const name = `transfer.${vm.transferSeq - 1}.`;
      let file = "";
      for await (const e of Deno.readDir(dir)) if (e.name.startsWith(name)) file = e.name;
      assert.ok(file, `VM ${vm.id} has its epilog transfer file`);
      const lines = (await Deno.readTextFile(join(dir, file))).split("\n").filter(Boolean);
      for (const line of lines) {
        const call = await oned.tmLine("replay", line);
        assert.ok(call.ok, `second run of "${line}" succeeds: ${call.stderr}`);
        assert.deepEqual(call.complaints, [], `second run of "${line}": clean output`);
      }
      return lines.map((l) => l.split(/\s+/)[0]);
    }

    for (const hard of [false, true]) {
      const what = hard ? "hard terminate (epilog_delete)" : "terminate (epilog)";
      it(`${what} run twice: mvds / delete of gone disks and directory succeed`, async () => {
        const { oned } = w;
        const pers = await oned.createDatablock({
          name: `pers-${hard}`,
          sizeMb: 4,
          persistent: true,
        });
        const vm = await oned.instantiate({
          host: "bravo",
          disks: [{ image: w.image.id }, { image: pers.id }, { volatile: "fs", sizeMb: 4 }],
        });
        const data = randomBytes(MiB);
        await writeRegion(oned.diskPath(vm.id, 1), 0, data, "raw");
        await oned.terminate(vm.id, { hard });
        const verbs = await replayEpilog(vm);
        assert.deepEqual(
          verbs,
          hard ? ["DELETE", "DELETE", "DELETE", "DELETE"] : ["DELETE", "MVDS", "DELETE", "DELETE"],
          "the replayed epilog",
        );
        // A third run, as `recover --retry` after a CLEANUP.
        await replayEpilog(vm);
        const f = oned.volumeFile(oned.imageVolume(pers.id));
        assert.ok(f, "the persistent image survives");
        assert.equal(await regionSha(f, 0, MiB, "raw"), await sha256(data), "its data too");
        assert.deepEqual(storeVolumes(oned), imageVolumes(oned), "only the images are left");
        await oned.deleteImage(pers.id);
        await assertClean(oned);
      });
    }

    it("datastore rm twice succeeds; the second finds nothing", async () => {
      const { oned } = w;
      const img = await oned.cloneImage(w.image.id, "copy");
      const vol = oned.imageVolume(img.id).toLowerCase();
      const payload = buildDsActionXml({
        image: oned.imageXml(img),
        datastore: oned.cluster.oned.state.datastores.get(img.dsId)!,
      });
      assert.ok(storeVolumes(oned).includes(vol));
      await oned.deleteImage(img.id);
      assert.ok(!storeVolumes(oned).includes(vol), "the first rm removed the volume");
      const again = await oned.dsAction("rm-again", "rm", img.dsId, payload, img.id);
      assert.ok(again.ok, `the second rm succeeds: ${again.stderr}`);
      assert.deepEqual(again.complaints, []);
      await assertClean(oned);
    });
  });
}

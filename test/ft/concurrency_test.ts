/**
 * FT matrix, concurrency (docs/contract.md "How oned runs a driver program": oned runs 15 TM
 * actions at once):
 * 15 VMs instantiated at the same time from one image (15 concurrent `tm clone`), then 15
 * concurrent terminates (`tm delete` of disk and directory); and 15 VMs sharing one CDROM
 * image (`tm ln`: one read-only image, or a per-VM copy for profiles with cdromClone), then
 * 15 concurrent terminates. Every action succeeds, the data is the image's, and the store ends
 * with exactly the images and no attachment.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { PROFILES, type VmModel } from "../../tools/sim/oned/scripted_oned.ts";
import { inspectStore } from "../../tools/sim/scenario.ts";
import {
  assertClean,
  clientAttachments,
  diskSha,
  type FtWorld,
  imageVolumes,
  startWorld,
  storeVolumes,
} from "./helpers.ts";

const N = 15;
const HOSTS = ["bravo", "charlie", "delta"];

for (const profile of PROFILES) {
  describe(`${profile}: ${N} concurrent VMs from one image`, () => {
    let w: FtWorld;
    before(async () => {
      w = await startWorld(profile, { cdrom: true });
    });
    after(async () => {
      await w?.oned.close();
    });

    it(`${N} concurrent tm clone, then ${N} concurrent terminates`, async () => {
      const { oned } = w;
      const images = imageVolumes(oned);
      const vms: VmModel[] = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          oned.instantiate({
            host: HOSTS[i % HOSTS.length],
            disks: [{ image: w.image.id }],
            context: false,
          })),
      );
      const clones = oned.calls.filter((c) => c.script === "clone");
      assert.equal(clones.length, N, `${N} tm clone ran`);
      assert.ok(clones.every((c) => c.ok), "every clone succeeded");

      const vols = storeVolumes(oned);
      const extra = vols.filter((v) => !images.includes(v));
      assert.equal(extra.length, N, `exactly ${N} clones exist: ${extra.join(" ")}`);
      const own = new Set<string>();
      for (const vm of vms) {
        const m = await oned.linkedVolume(oned.hostOf(vm), `${oned.vmDir(vm)}/disk.0`);
        assert.ok(m, `VM ${vm.id} disk.0 links to a store device`);
        own.add(m.name.toLowerCase());
      }
      assert.deepEqual([...own].sort(), extra, "one clone per VM, each linked by its VM");
      for (const vm of vms) {
        assert.equal(
          await diskSha(oned, vm, 0, w.imageLen),
          w.imageSha,
          `VM ${vm.id} sees the image bytes`,
        );
      }

      await Promise.all(vms.map((vm) => oned.terminate(vm.id)));
      const deletes = oned.calls.filter((c) => c.script === "delete");
      assert.equal(deletes.length, 2 * N, "tm delete of each disk and each VM directory");
      assert.ok(deletes.every((c) => c.ok), "every delete succeeded");
      assert.deepEqual(storeVolumes(oned), images, "no clone left");
      await assertClean(oned);
    });

    it(`${N} concurrent tm ln of one CDROM image, then ${N} concurrent terminates`, async () => {
      const { oned } = w;
      const cd = w.cdrom!;
      const cdVol = oned.imageVolume(cd.id);
      const images = imageVolumes(oned);
      const vms: VmModel[] = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          oned.instantiate({
            host: HOSTS[i % HOSTS.length],
            disks: [{ image: cd.id }],
            context: false,
          })),
      );
      const lns = oned.calls.filter((c) => c.script === "ln");
      assert.equal(lns.length, N, `${N} tm ln ran`);
      assert.ok(lns.every((c) => c.ok), "every ln succeeded");
      for (const vm of vms) {
        assert.equal(
          await diskSha(oned, vm, 0, 1024 * 1024),
          w.cdromSha,
          `VM ${vm.id} reads the CDROM`,
        );
      }
      const extra = storeVolumes(oned).filter((v) => !images.includes(v));
      if (oned.profile.cdromClone) {
        assert.equal(extra.length, N, "one read-only copy per VM");
      } else {
        assert.deepEqual(extra, [], "the CDROM image itself is shared");
        const att = inspectStore(oned).attachments.filter((a) =>
          a.volume.toLowerCase() === cdVol.toLowerCase() && a.inUse
        );
        assert.deepEqual(
          att.map((a) => a.host).sort(),
          [...HOSTS].sort(),
          "the image is open on every host running one of the VMs",
        );
      }

      await Promise.all(vms.map((vm) => oned.terminate(vm.id)));
      const deletes = oned.calls.filter((c) => c.script === "delete" && c.op === "terminate");
      assert.ok(deletes.every((c) => c.ok), "every delete succeeded");
      assert.ok(
        storeVolumes(oned).includes(cdVol.toLowerCase()),
        "the CDROM image survives its VMs",
      );
      assert.deepEqual(clientAttachments(oned), [], "no attachment left");
      await assertClean(oned);
    });
  });
}

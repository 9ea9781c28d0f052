/**
 * FT matrix, satellite offline during placement (user voice R8, goal "satellite offline").
 *
 * A LINSTOR satellite holding a replica of the registered image goes offline (the simulator's
 * `setNodeOnline`: OFFLINE in `GET /v1/nodes`, skipped by the autoplacer, FAIL_NOT_CONNECTED for
 * operations that need it). Through the real programs:
 *  - `datastore cp` of a new image succeeds and places its replicas on online nodes only;
 *  - `tm clone` of the image (a VM instantiated on another host) succeeds, places the clone on
 *    online nodes only and the VM reads the image's bytes;
 * then the satellite comes back and the VM and the image are removed without leftovers.
 * StorPool places by template, not by node, so the case does not apply there.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { CLUSTER_HOSTS } from "../../tools/sim/cluster.ts";
import { randomBytes, regionSha, sha256 } from "../../tools/sim/scenario.ts";
import { assertClean, diskSha, type FtWorld, startWorld } from "./helpers.ts";

const MiB = 1024 * 1024;

for (const profile of ["linstor", "linstor_un"] as const) {
  describe(`${profile}: satellite offline during placement`, () => {
    let w: FtWorld;
    before(async () => {
      w = await startWorld(profile);
    });
    after(async () => {
      await w?.oned.close();
    });

    /** Nodes holding a diskful replica of `volume`, sorted. */
    function diskfulNodes(volume: string): string[] {
      const rd = w.oned.cluster.linstor.controller.rd(volume);
      assert.ok(rd, `${volume} exists`);
      return rd.rscs.filter((r) => !r.diskless).map((r) => r.node).sort();
    }

    /** Run `fn` with satellite `node` offline; it comes back afterwards (and says so). */
    async function whileOffline(node: string, fn: () => Promise<void>): Promise<void> {
      const sim = w.oned.cluster.linstor;
      assert.ok(sim.setNodeOnline(node, false));
      try {
        await fn();
      } finally {
        assert.ok(sim.setNodeOnline(node, true));
      }
      const nodes = (await (await fetch(`${sim.url}/v1/nodes`)).json()) as {
        name: string;
        connection_status: string;
      }[];
      assert.ok(nodes.every((n) => n.connection_status === "ONLINE"), `${node} is back`);
    }

    it("datastore cp places on the online nodes while the preferred node is offline", async () => {
      const { oned } = w;
      const sim = oned.cluster.linstor;
      const group = sim.controller.rd(oned.imageVolume(w.image.id))!.rg;
      // the node the controller would pick next (not the bridge host the data is written on)
      const q = await fetch(`${sim.url}/v1/resource-groups/${group}/query-size-info`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      const next =
        ((await q.json()) as { space_info: { next_spawn_result: { node_name: string }[] } })
          .space_info.next_spawn_result.map((x) => x.node_name);
      const off = next.find((n) => n !== oned.frontend);
      assert.ok(off, `a next-spawn node outside ${oned.frontend}: ${next}`);
      let cpId: number | undefined;
      await whileOffline(off, async () => {
        const raw = randomBytes(MiB);
        const path = join(oned.cluster.root, "sources", "offline.raw");
        await Deno.writeFile(path, raw);
        const img = await oned.registerImage({ name: "offline-cp", path });
        cpId = img.id;
        const vol = oned.imageVolume(img.id);
        const nodes = diskfulNodes(vol);
        assert.equal(nodes.length, 2, `cp placed 2 replicas: ${nodes}`);
        assert.ok(!nodes.includes(off), `cp not on the offline ${off}: ${nodes}`);
        assert.equal(await regionSha(oned.volumeFile(vol)!, 0, MiB, "raw"), await sha256(raw));
        assert.deepEqual(oned.allComplaints(), [], "no contract complaints");
      });
      if (cpId !== undefined) await oned.deleteImage(cpId);
      await assertClean(oned);
    });

    it("tm clone of an image with a replica on the offline node lands on online nodes", async () => {
      const { oned } = w;
      const baseNodes = diskfulNodes(oned.imageVolume(w.image.id));
      // a satellite with a replica of the image, not the bridge (frontend) host
      const off = baseNodes.find((n) => n !== oned.frontend);
      assert.ok(off, `the image has a replica outside ${oned.frontend}: ${baseNodes}`);
      const vmHost = CLUSTER_HOSTS.find((h) => h !== off && h !== oned.frontend)!;
      let vmId: number | undefined;
      await whileOffline(off, async () => {
        const vm = await oned.instantiate({ host: vmHost, disks: [{ image: w.image.id }] });
        vmId = vm.id;
        const clone = await oned.linkedVolume(vmHost, `${oned.vmDir(vm)}/disk.0`);
        assert.ok(clone, "disk.0 is linked to a store volume");
        const nodes = diskfulNodes(clone.name);
        assert.ok(nodes.length >= 1, "the clone has a replica");
        assert.ok(!nodes.includes(off), `clone not on the offline ${off}: ${nodes}`);
        assert.equal(await diskSha(oned, vm, 0, w.imageLen), w.imageSha, "clone holds the image");
        assert.deepEqual(oned.allComplaints(), [], "no contract complaints");
      });
      if (vmId !== undefined) await oned.terminate(vmId);
      await assertClean(oned);
    });
  });
}

/**
 * An adopted resource as an OpenNebula image, per LINSTOR profile: LINBIT's sample resource
 * `legacy` (volume 10, minor 9100) runs by hand on bravo and charlie; `oneblk adopt drbd
 * --register` takes it over and registers a persistent image; a VM using that image is deployed
 * on a host without a replica, live-migrated to another and terminated by the scripted oned
 * through the installed driver programs. The VM sees the LV's bytes everywhere; the resource,
 * its replicas and its data survive the VM; the image is the driver's only way to it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { IMAGE_STATE, type ProfileName, ScriptedOned } from "../../tools/sim/oned/scripted_oned.ts";
import { CLUSTER_DS } from "../../tools/sim/cluster.ts";
import { LEGACY, legacyResText, makeLegacyHost, showsKnownBytes } from "../support/legacy_drbd.ts";

const LAUNCHER = new URL("../../scripts/oneblk", import.meta.url).pathname;
const REPLICAS = ["bravo", "charlie"];

function describeAdopted(profile: ProfileName, source: string): void {
  describe(`${profile}: an adopted DRBD resource as a persistent image`, () => {
    let oned: ScriptedOned;
    let imageId: number;
    let vmId: number;
    before(async () => {
      oned = await ScriptedOned.start({ profile, version: "7.0.0" });
      const sim = oned.cluster.linstor;
      for (const n of REPLICAS) {
        const r = await fetch(`${sim.url}/v1/nodes/${n}/storage-pools`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            storage_pool_name: "fatpool",
            provider_kind: "LVM",
            props: { "StorDriver/StorPoolName": LEGACY.vg },
          }),
        });
        assert.equal(r.status, 201);
        await makeLegacyHost(oned.cluster.hostPath(n, "/"), {
          resText: legacyResText({ hosts: REPLICAS }),
        });
      }
    });
    after(async () => {
      await oned?.close();
    });

    it("adopt --register makes a persistent raw image whose SOURCE is the resource", async () => {
      const out = await new Deno.Command(LAUNCHER, {
        args: [
          "adopt",
          "drbd",
          `bravo:${LEGACY.resPath}`,
          "--peer-slots",
          "4",
          "--register",
          "--datastore",
          String(CLUSTER_DS[profile].image),
          "--name",
          "legacy-disk",
          "--yes",
          "--json",
        ],
        env: { ...oned.cluster.env, LS_CONTROLLERS: oned.cluster.linstor.url },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const res = JSON.parse(new TextDecoder().decode(out.stdout));
      imageId = res.result.image;
      assert.equal(typeof imageId, "number");
      assert.equal(res.plan.register.source, source);
      assert.deepEqual(res.plan.register.warnings, [], "the datastore names the same LINSTOR");
      const img = oned.importImage(imageId);
      assert.deepEqual(
        [img.name, img.source, img.sizeMb, img.format, img.persistent, img.type, img.state],
        ["legacy-disk", source, 1339, "raw", true, 2, IMAGE_STATE.READY],
      );
      // a second run finds the image: nothing new
      const again = await new Deno.Command(LAUNCHER, {
        args: [
          "adopt",
          "drbd",
          `bravo:${LEGACY.resPath}`,
          "--register",
          "--datastore",
          String(CLUSTER_DS[profile].image),
          "--name",
          "legacy-disk",
          "--yes",
        ],
        env: { ...oned.cluster.env, LS_CONTROLLERS: oned.cluster.linstor.url },
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(again.stdout);
      assert.equal(again.code, 0, new TextDecoder().decode(again.stderr));
      assert.match(text, new RegExp(`done already: image ${imageId}`));
      assert.equal(oned.cluster.oned.state.images.size, 1, "one image");
    });

    it("deploy on a host without a replica: the VM sees the LV's bytes", async () => {
      const vm = await oned.instantiate({ host: "delta", disks: [{ image: imageId }] });
      vmId = vm.id;
      const mark = await oned.linkedVolume("delta", `${oned.vmDir(vm)}/disk.0`);
      assert.equal(mark?.name, "legacy");
      assert.ok(await showsKnownBytes(oned.diskPath(vm.id, 0)), "disk.0 on delta");
      assert.deepEqual(oned.allComplaints(), []);
    });

    it("live migration to another host keeps the data", async () => {
      await oned.liveMigrate(vmId, "alpha");
      assert.ok(await showsKnownBytes(oned.diskPath(vmId, 0)), "disk.0 on alpha");
      const rd = oned.cluster.linstor.controller.rd("legacy")!;
      assert.ok(!rd.rscs.some((r) => r.node === "delta" && !r.tieBreaker), "delta detached");
      // the system datastore's monitor covers the adopted volume like any VM disk
      await oned.monitorDatastore(CLUSTER_DS[profile].system, { vmDisks: true });
      assert.deepEqual(oned.allComplaints(), []);
    });

    it("terminate: the resource, its replicas and its data survive", async () => {
      await oned.terminate(vmId);
      const rd = oned.cluster.linstor.controller.rd("legacy");
      assert.ok(rd, "the adopted resource is still there");
      assert.deepEqual(
        rd.rscs.filter((r) => !r.diskless).map((r) => [r.node, r.nodeId]).sort(),
        [["bravo", 4], ["charlie", 8]],
      );
      assert.ok(!rd.rscs.some((r) => r.node === "alpha" && !r.tieBreaker), "alpha detached");
      for (const n of REPLICAS) {
        assert.ok(await showsKnownBytes(oned.cluster.hostPath(n, "/dev/drbd/by-res/legacy/10")));
        assert.ok(await showsKnownBytes(oned.cluster.hostPath(n, "/dev/drbd9100")));
      }
      assert.equal(oned.image(imageId).state, IMAGE_STATE.READY);
      assert.deepEqual(oned.allComplaints(), []);
    });
  });
}

describeAdopted("linstor", "legacy/10");
describeAdopted("linstor_un", "/dev/drbd/by-res/legacy/10");

/**
 * Volumes named `<resource>/<n>`: an adopted resource keeps its DRBD volume number (the
 * article's `legacy` has volume 10), and every backend operation an image disk uses works on it;
 * the profiles map such SOURCEs to that name.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseVolumeRef, volumeRef } from "../../lib/backend/linstor/index.ts";
import { profileFor } from "../../lib/addons/index.ts";
import type { DiskFacts } from "../../lib/addons/types.ts";
import { isKind } from "../../lib/errors.ts";
import { type Cluster, pattern, readAt, startCluster, writeAt } from "./helpers.ts";
import { sha256Hex } from "../support/bytes.ts";
import { listUsage } from "../../lib/backend/usage.ts";

describe("volume names with a volume number", () => {
  it("parse and print", () => {
    assert.deepEqual(parseVolumeRef("one-image-3"), { rd: "one-image-3", vnr: 0 });
    assert.deepEqual(parseVolumeRef("legacy/10"), { rd: "legacy", vnr: 10 });
    assert.equal(volumeRef("legacy", 10), "legacy/10");
    assert.equal(volumeRef("legacy", 0), "legacy");
    for (const bad of ["legacy/", "/10", "legacy/x", "legacy/99999", "a/1/2"]) {
      assert.throws(() => parseVolumeRef(bad), (e) => isKind(e, "input"), bad);
    }
  });

  it("the profiles: SOURCE ↔ volume, disks of an adopted image use it", () => {
    const un = profileFor("linstor_un", {});
    const ls = profileFor("linstor", {});
    assert.equal(un.sourceVolume("/dev/drbd/by-res/legacy/10"), "legacy/10");
    assert.equal(un.sourceVolume("/dev/drbd/by-res/one-image-4/0"), "one-image-4");
    assert.equal(ls.sourceVolume("legacy/10"), "legacy/10");
    const disk = (source: string, persistent: boolean): DiskFacts => ({
      diskId: 0,
      source,
      imageId: "7",
      clone: !persistent,
      persistent,
      type: "BLOCK",
      volatile: false,
      format: "raw",
    });
    assert.equal(un.diskVolume(3, disk("/dev/drbd/by-res/legacy/10", true)), "legacy/10");
    assert.equal(un.diskVolume(3, disk("/dev/drbd/by-res/one-image-7/0", true)), "one-image-7");
    assert.equal(un.diskVolume(3, disk("/dev/drbd/by-res/legacy/10", false)), "one-vm-3-disk-0");
    assert.equal(ls.diskVolume(3, disk("legacy/10", true)), "legacy/10");
    assert.equal(ls.diskVolume(3, disk("legacy/10", false)), "legacy-vm3-disk0");
    assert.equal(ls.diskVolume(3, disk("data", false)), "data-vm3-disk0");
  });
});

describe("LINSTOR backend on volume 10 of a resource", () => {
  let cl: Cluster;
  const data = pattern(3 << 20, 42);
  before(async () => {
    cl = await startCluster();
    const c = cl.be as unknown as {
      client: import("../../lib/backend/linstor/client.ts").LinstorClient;
    };
    await c.client.write("POST", "/v1/resource-definitions", {
      resource_definition: { name: "legacy" },
      drbd_port: 15500,
    });
    await c.client.write("POST", "/v1/resource-definitions/legacy/volume-definitions", {
      volume_definition: { volume_number: 10, size_kib: 16384 },
      drbd_minor_number: 9100,
    });
    await c.client.write("POST", "/v1/resource-definitions/legacy/resources", [
      { resource: { node_name: "alpha", props: { StorPoolName: "DfltStorPool" } } },
      { resource: { node_name: "bravo", props: { StorPoolName: "DfltStorPool" } } },
    ]);
    await writeAt(cl.hostPath("alpha", "/dev/drbd/by-res/legacy/10"), 0, data);
  });
  after(async () => {
    await cl.close();
  });

  it("device, size, attach and detach, dual primary, props", async () => {
    const be = cl.be;
    assert.equal(be.devicePath("legacy/10"), "/dev/drbd/by-res/legacy/10");
    assert.deepEqual(await be.getVolume("legacy/10"), {
      name: "legacy/10",
      sizeMiB: 16,
      props: {},
    });
    await be.attach("legacy/10", "charlie");
    assert.equal(
      sha256Hex(await readAt(cl.hostPath("charlie", "/dev/drbd/by-res/legacy/10"), 0, data.length)),
      sha256Hex(data),
    );
    const att = (await be.attachments("legacy/10")).filter((a) => !a.tieBreaker);
    assert.deepEqual(att.map((a) => [a.host, a.diskful]).sort(), [
      ["alpha", true],
      ["bravo", true],
      ["charlie", false],
    ]);
    await be.detach("legacy/10", "charlie");
    const left = (await be.attachments("legacy/10")).filter((a) => !a.tieBreaker);
    assert.deepEqual(left.map((a) => a.host).sort(), ["alpha", "bravo"]);
    await be.setDualPrimary("legacy/10", true);
    assert.equal(
      cl.sim.controller.rd("legacy")!.props["DrbdOptions/Net/allow-two-primaries"],
      "yes",
    );
    await be.setDualPrimary("legacy/10", false);
    await be.setProps("legacy/10", { DS_ID: "100", VM_ID: "3" });
    const usage = await listUsage(be, { DS_ID: "100" });
    // the listing carries no volume definitions: the metadata names its volume
    assert.deepEqual(usage.map((u) => u.name), ["legacy/10"]);
    assert.ok(usage[0].allocatedMiB >= 3, `allocated ${usage[0].allocatedMiB}`);
    await be.setProps("legacy/10", { DS_ID: null, VM_ID: null });
    // metadata set by hand, without that mark: the resource's only volume is measured
    await cl.be.createSnapshot("legacy/10", "s0");
    const c = be as unknown as {
      client: import("../../lib/backend/linstor/client.ts").LinstorClient;
    };
    await c.client.write("PUT", "/v1/resource-definitions/legacy", {
      override_props: { "Aux/one/DS_ID": "102" },
      delete_props: ["Aux/oneblk/volume-number"],
    });
    const byHand = await listUsage(be, { DS_ID: "102" });
    assert.deepEqual(byHand.map((u) => [u.name, u.snapshots]), [["legacy", { s0: 16 }]]);
    assert.ok(byHand[0].allocatedMiB >= 3, `allocated ${byHand[0].allocatedMiB}`);
    await cl.be.deleteSnapshot("legacy/10", "s0");
    await c.client.write("PUT", "/v1/resource-definitions/legacy", {
      delete_props: ["Aux/one/DS_ID"],
    });
  });

  it("grows volume 10, snapshots it, clones it into a new volume 0 by block copy", async () => {
    const be = cl.be;
    await be.resizeVolume("legacy/10", 24);
    assert.equal(cl.sim.controller.rd("legacy")!.vds[0].sizeKib, 24 * 1024);
    await be.createSnapshot("legacy/10", "s1");
    const snaps = await be.listSnapshots("legacy/10");
    assert.deepEqual(snaps.map((s) => [s.name, s.volume, s.sizeMiB]), [["s1", "legacy/10", 24]]);
    await be.deleteSnapshot("legacy/10", "s1");
    await be.cloneVolume("legacy/10", "legacy-vm3-disk0", { placement: { group: "one_rg" } });
    const rd = cl.sim.controller.rd("legacy-vm3-disk0")!;
    assert.deepEqual(rd.vds.map((v) => v.nr), [0]);
    const node = rd.rscs.find((r) => !r.diskless)!.node;
    assert.equal(
      sha256Hex(
        await readAt(cl.hostPath(node, "/dev/drbd/by-res/legacy-vm3-disk0/0"), 0, data.length),
      ),
      sha256Hex(data),
    );
    await be.deleteVolume("legacy-vm3-disk0");
  });

  it("clones volume 10 from a snapshot (backups) through a temporary restore", async () => {
    const be = cl.be;
    await be.createSnapshot("legacy/10", "b1");
    await be.cloneVolume("legacy/10", "backup-3-0", {
      placement: { group: "one_rg" },
      fromSnapshot: "b1",
    });
    const rd = cl.sim.controller.rd("backup-3-0")!;
    assert.deepEqual(rd.vds.map((v) => v.nr), [0]);
    const node = rd.rscs.find((r) => !r.diskless)!.node;
    assert.equal(
      sha256Hex(await readAt(cl.hostPath(node, "/dev/drbd/by-res/backup-3-0/0"), 0, data.length)),
      sha256Hex(data),
    );
    assert.deepEqual(
      cl.sim.controller.state.rds.map((r) => r.name).filter((n) => n.startsWith("oneblk-")),
      [],
      "the temporary restore is gone",
    );
    await be.deleteVolume("backup-3-0");
    await be.deleteSnapshot("legacy/10", "b1");
  });

  it("never clones a volume with OverrideVlmId through LINSTOR's clone (it copies the name)", async () => {
    const c = cl.be as unknown as {
      client: import("../../lib/backend/linstor/client.ts").LinstorClient;
    };
    await cl.be.createVolume("named", 8, { placement: { group: "one_rg" } });
    await c.client.write("PUT", "/v1/resource-definitions/named/volume-definitions/0", {
      override_props: { OverrideVlmId: "data" },
    });
    const node = cl.sim.controller.rd("named")!.rscs.find((r) => !r.diskless)!.node;
    await writeAt(cl.hostPath(node, "/dev/drbd/by-res/named/0"), 0, data);
    const clones = () => cl.sim.byRoute["POST /v1/resource-definitions/{r}/clone"] ?? 0;
    const before = clones();
    await cl.be.cloneVolume("named", "named-copy", { placement: { group: "one_rg" } });
    assert.equal(clones(), before, "no clone API call");
    const copy = cl.sim.controller.rd("named-copy")!;
    assert.equal(copy.vds[0].props.OverrideVlmId, undefined);
    const n2 = copy.rscs.find((r) => !r.diskless)!.node;
    assert.equal(
      sha256Hex(await readAt(cl.hostPath(n2, "/dev/drbd/by-res/named-copy/0"), 0, data.length)),
      sha256Hex(data),
    );
    await cl.be.deleteVolume("named-copy");
    await cl.be.deleteVolume("named");
  });
});

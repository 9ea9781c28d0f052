import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLinstorBackend } from "../../lib/backend/linstor/backend.ts";
import { OneblkError } from "../../lib/errors.ts";
import type { LinstorPlacement as Placement } from "../../lib/backend/linstor/index.ts";
import {
  type Cluster,
  failCloneAndRestoreOnce,
  pattern,
  readAt,
  startCluster,
  writeAt,
} from "./helpers.ts";

const RG: Placement = { group: "one_rg" };
const MiB = 1 << 20;

function kindOf(e: unknown): string {
  return e instanceof OneblkError ? e.kind : `not a OneblkError: ${e}`;
}

describe("LINSTOR clones and data end to end", () => {
  let cl: Cluster;
  const data = pattern(2 * MiB, 42);
  const diskfulNode = (v: string) => cl.sim.controller.rd(v)!.rscs.find((r) => !r.diskless)!.node;
  const dev = (host: string, v: string) => cl.hostPath(host, `/dev/drbd/by-res/${v}/0`);
  const snapsOf = (v: string) => cl.sim.controller.rd(v)?.snaps.map((s) => s.name) ?? [];

  before(async () => {
    cl = await startCluster();
    await cl.be.createVolume("src", 16, { placement: RG, props: { VM_ID: "1", DS_ID: "1" } });
    await writeAt(dev(diskfulNode("src"), "src"), MiB, data);
    await cl.be.setDualPrimary("src", true);
  });
  after(async () => {
    await cl.close();
  });

  it("data: write on a host, snapshot, overwrite, rollback, read the snapshot bytes back", async () => {
    await cl.be.createVolume("data-1", 8, { placement: RG });
    const host = diskfulNode("data-1");
    const a = pattern(MiB, 1);
    const b = pattern(MiB, 2);
    await writeAt(dev(host, "data-1"), 0, a);
    await cl.be.createSnapshot("data-1", "snap-a");
    await writeAt(dev(host, "data-1"), 0, b);
    assert.deepEqual(await readAt(dev(host, "data-1"), 0, MiB), b);
    // a diskless client on another host sees the same bytes
    const other = ["alpha", "bravo", "charlie", "delta"].find((h) =>
      !cl.sim.controller.rd("data-1")!.rscs.some((r) => r.node === h)
    )!;
    await cl.be.attach("data-1", other);
    assert.deepEqual(await readAt(dev(other, "data-1"), 0, MiB), b);
    await cl.be.detach("data-1", other);
    await assert.rejects(Deno.lstat(dev(other, "data-1")), Deno.errors.NotFound);
    await cl.be.rollbackSnapshot("data-1", "snap-a");
    assert.deepEqual(await readAt(dev(host, "data-1"), 0, MiB), a);
    await cl.be.deleteVolume("data-1");
    await assert.rejects(Deno.lstat(dev(host, "data-1")), Deno.errors.NotFound);
  });

  it("fast path: clone API into the target group, status polled, bytes and no inherited props", async () => {
    const before = cl.exchanges.length;
    await cl.be.cloneVolume("src", "c-fast", { placement: RG, props: { VM_ID: "7" } });
    const ex = cl.exchanges.slice(before);
    const post = ex.find((e) =>
      e.method === "POST" && e.path === "/v1/resource-definitions/src/clone"
    )!;
    assert.equal(JSON.parse(post.requestBody).resource_group, "one_rg");
    const statuses = ex.filter((e) => e.path === "/v1/resource-definitions/src/clone/c-fast")
      .map((e) => JSON.parse(e.responseBody).status);
    assert.equal(statuses.at(-1), "COMPLETE");
    assert.ok(statuses.includes("CLONING"));
    assert.equal(ex.filter((e) => /snapshot/.test(e.path)).length, 0);
    assert.deepEqual(await readAt(cl.sim.dataPath("c-fast"), MiB, data.length), data);
    assert.deepEqual((await cl.be.getVolume("c-fast"))?.props, { VM_ID: "7" });
    const props = cl.sim.controller.rd("c-fast")!.props;
    assert.equal(props["DrbdOptions/Net/allow-two-primaries"], undefined);
    await cl.be.deleteVolume("c-fast");
  });

  it("fallback: clone API error -> snapshot + restore, temporary snapshot removed", async () => {
    cl.sim.addFault({
      method: "POST",
      path: "^/v1/resource-definitions/src/clone$",
      action: "error",
      times: 1,
    });
    const before = cl.exchanges.length;
    await cl.be.cloneVolume("src", "c-snap", { placement: RG, sizeMiB: 32 });
    const ex = cl.exchanges.slice(before);
    assert.ok(ex.some((e) => /snapshot-restore-resource/.test(e.path) && e.status === 200));
    assert.deepEqual(await readAt(cl.sim.dataPath("c-snap"), MiB, data.length), data);
    assert.equal((await cl.be.getVolume("c-snap"))?.sizeMiB, 32);
    assert.deepEqual(snapsOf("src"), []);
    assert.deepEqual((await cl.be.getVolume("c-snap"))?.props, {});
    await cl.be.deleteVolume("c-snap");
  });

  it("a FAILED clone is removed, then the fallback builds the target", async () => {
    cl.sim.addFault({ method: "POST", path: "/clone$", action: "fail-clone", times: 1 });
    const before = cl.exchanges.length;
    await cl.be.cloneVolume("src", "c-failed", { placement: RG });
    const ex = cl.exchanges.slice(before);
    assert.ok(ex.some((e) => /\/clone\/c-failed$/.test(e.path) && /FAILED/.test(e.responseBody)));
    const del = ex.findIndex((e) =>
      e.method === "DELETE" && e.path === "/v1/resource-definitions/c-failed"
    );
    const restore = ex.findIndex((e) => /snapshot-restore-volume-definition/.test(e.path));
    assert.ok(del >= 0 && restore > del, "partial target deleted before the fallback");
    assert.deepEqual(await readAt(cl.sim.dataPath("c-failed"), MiB, data.length), data);
    await cl.be.deleteVolume("c-failed");
  });

  it("second fallback: block copy with dd on a diskful node", async () => {
    failCloneAndRestoreOnce(cl.sim);
    const calls0 = cl.hosts.calls;
    await cl.be.cloneVolume("src", "c-dd", { placement: RG, props: { VM_ID: "9" } });
    assert.equal(cl.hosts.calls - calls0, 1, "one dd");
    assert.deepEqual(await readAt(cl.sim.dataPath("c-dd"), MiB, data.length), data);
    assert.deepEqual((await cl.be.getVolume("c-dd"))?.props, { VM_ID: "9" });
    assert.deepEqual(snapsOf("src"), []);
    const att = await cl.be.attachments("c-dd");
    assert.equal(
      att.filter((a) => !a.diskful && !a.tieBreaker).length,
      0,
      "temporary attach removed",
    );
    await cl.be.deleteVolume("c-dd");
  });

  it("when every path fails nothing named target is left", async () => {
    const noHosts = createLinstorBackend({ controllers: cl.sim.url });
    try {
      failCloneAndRestoreOnce(cl.sim);
      await assert.rejects(
        noHosts.cloneVolume("src", "c-none", { placement: RG }),
        (e) => kindOf(e) === "backend" && /block copy/.test((e as Error).message),
      );
      assert.equal(await cl.be.getVolume("c-none"), null);
      assert.deepEqual(snapsOf("src"), []);
    } finally {
      await noHosts.close();
    }
  });

  it("refuses an existing target and a missing source, without touching anything", async () => {
    await cl.be.createVolume("c-exists", 4, { placement: RG, props: { KEEP: "1" } });
    await assert.rejects(
      cl.be.cloneVolume("src", "c-exists", { placement: RG }),
      (e) => kindOf(e) === "exists",
    );
    assert.deepEqual((await cl.be.getVolume("c-exists"))?.props, { KEEP: "1" });
    await cl.be.deleteVolume("c-exists");
    await assert.rejects(
      cl.be.cloneVolume("no-such-src", "c-x", { placement: RG }),
      (e) => kindOf(e) === "not_found",
    );
    assert.equal(await cl.be.getVolume("c-x"), null);
  });

  it("clones from a snapshot and grows the clone", async () => {
    await cl.be.createSnapshot("src", "base");
    await writeAt(dev(diskfulNode("src"), "src"), MiB, pattern(data.length, 99));
    await cl.be.cloneVolume("src", "c-from-snap", {
      placement: RG,
      fromSnapshot: "base",
      sizeMiB: 20,
    });
    assert.deepEqual(await readAt(cl.sim.dataPath("c-from-snap"), MiB, data.length), data);
    assert.equal((await cl.be.getVolume("c-from-snap"))?.sizeMiB, 20);
    await cl.be.deleteVolume("c-from-snap");
    await cl.be.deleteSnapshot("src", "base");
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneblkError } from "../../lib/errors.ts";
import type { LinstorPlacement as Placement } from "../../lib/backend/linstor/index.ts";
import { nameChunks } from "../../lib/backend/linstor/client.ts";
import { type Cluster, countCalls, pattern, readAt, startCluster, writeAt } from "./helpers.ts";
import { listUsage } from "../../lib/backend/usage.ts";

const RG: Placement = { group: "one_rg" };

function kindOf(e: unknown): string {
  return e instanceof OneblkError ? e.kind : `not a OneblkError: ${e}`;
}

describe("LINSTOR backend against the simulator", () => {
  let cl: Cluster;
  before(async () => {
    cl = await startCluster();
  });
  after(async () => {
    await cl.close();
  });

  it("creates through the resource group (one spawn call) and is idempotent", async () => {
    const n0 = cl.be.stats.requests;
    assert.equal(await cl.be.createVolume("img-1", 64, { placement: RG }), true);
    assert.equal(cl.be.stats.requests - n0, 1);
    assert.equal(countCalls(cl.exchanges, "POST", /\/resource-groups\/one_rg\/spawn$/), 1);
    const att = await cl.be.attachments("img-1");
    assert.equal(att.filter((a) => a.diskful).length, 2);
    assert.equal(att.filter((a) => a.tieBreaker).length, 1, "a tie-breaker on a third node");
    assert.deepEqual(await cl.be.getVolume("img-1"), { name: "img-1", sizeMiB: 64, props: {} });
    assert.equal(await cl.be.createVolume("img-1", 64, { placement: RG }), false);
    await assert.rejects(
      cl.be.createVolume("img-1", 65, { placement: RG }),
      (e) => kindOf(e) === "exists",
    );
    assert.equal(await cl.be.getVolume("nope"), null);
    assert.equal(cl.be.devicePath("img-1"), "/dev/drbd/by-res/img-1/0");
  });

  it("creates without a group: explicit node list, and autoplace with pool and replicas", async () => {
    const p: Placement = {
      group: "",
      nodes: ["bravo", "charlie"],
      storagePools: ["DfltStorPool"],
    };
    assert.equal(
      await cl.be.createVolume("nl-1", 10, { placement: p, props: { DS_ID: "9" } }),
      true,
    );
    const att = await cl.be.attachments("nl-1");
    assert.deepEqual(att.filter((a) => a.diskful).map((a) => a.host).sort(), ["bravo", "charlie"]);
    assert.deepEqual((await cl.be.getVolume("nl-1"))?.props, { DS_ID: "9" });
    const q: Placement = { group: "", replicas: 3, storagePools: ["DfltStorPool"] };
    assert.equal(await cl.be.createVolume("ap-1", 10, { placement: q }), true);
    assert.equal((await cl.be.attachments("ap-1")).filter((a) => a.diskful).length, 3);
    await cl.be.deleteVolume("nl-1");
    await cl.be.deleteVolume("ap-1");
  });

  it("a failed placement leaves nothing behind", async () => {
    const p: Placement = { group: "", replicas: 9 };
    await assert.rejects(
      cl.be.createVolume("toomany", 10, { placement: p }),
      (e) => kindOf(e) === "backend",
    );
    assert.equal(await cl.be.getVolume("toomany"), null);
    await assert.rejects(
      cl.be.createVolume("toomany2", 10, {
        placement: { group: "one_rg", replicas: 7 },
      }),
      (e) => kindOf(e) === "backend",
    );
    assert.equal(await cl.be.getVolume("toomany2"), null);
    await assert.rejects(
      cl.be.createVolume("norg", 10, { placement: { group: "missing_rg" } }),
      (e) => kindOf(e) === "config",
    );
  });

  it("prefers a host for a full replica without exceeding the place count", async () => {
    await cl.be.createVolume("pref-1", 16, { placement: RG, preferHost: "delta" });
    const att = await cl.be.attachments("pref-1");
    const diskful = att.filter((a) => a.diskful).map((a) => a.host);
    assert.equal(diskful.length, 2);
    assert.ok(diskful.includes("delta"));
    await cl.be.deleteVolume("pref-1");
  });

  it("deletes: missing is fine, snapshots go first, in use is refused and keeps snapshots", async () => {
    await cl.be.deleteVolume("never-existed");
    await cl.be.createVolume("del-1", 8, { placement: RG });
    await cl.be.createSnapshot("del-1", "s1");
    await cl.be.createSnapshot("del-1", "s2");
    assert.ok(cl.sim.setInUse("del-1", "alpha", true) || cl.sim.setInUse("del-1", "bravo", true));
    await assert.rejects(cl.be.deleteVolume("del-1"), (e) => kindOf(e) === "in_use");
    assert.equal((await cl.be.listSnapshots("del-1")).length, 2, "snapshots kept");
    cl.sim.setInUse("del-1", "alpha", false);
    cl.sim.setInUse("del-1", "bravo", false);
    const before = cl.exchanges.length;
    await cl.be.deleteVolume("del-1");
    assert.equal(await cl.be.getVolume("del-1"), null);
    const viewSnaps = cl.exchanges.slice(before).filter((e) => e.path === "/v1/view/snapshots");
    assert.ok(viewSnaps.length === 1 && viewSnaps[0].query.getAll("resources").join() === "del-1");
    await cl.be.deleteVolume("del-1");
  });

  it("snapshots: create (idempotent), list oldest first, multi, delete missing, rollback rules", async () => {
    await cl.be.createVolume("snap-a", 8, { placement: RG });
    await cl.be.createVolume("snap-b", 8, { placement: RG });
    await cl.be.createSnapshot("snap-a", "s-1");
    await cl.be.createSnapshot("snap-a", "s-1");
    await new Promise((r) => setTimeout(r, 5));
    await cl.be.createSnapshot("snap-a", "s-0");
    const l = await cl.be.listSnapshots("snap-a");
    assert.deepEqual(l.map((s) => s.name), ["s-1", "s-0"]);
    assert.equal(l[0].sizeMiB, 8);
    assert.ok(l[0].createdAt > 0 && l[0].volume === "snap-a");
    const n0 = cl.be.stats.requests;
    await cl.be.createSnapshots([{ volume: "snap-a", snapshot: "vm-1" }, {
      volume: "snap-b",
      snapshot: "vm-1",
    }]);
    assert.equal(cl.be.stats.requests - n0, 1);
    assert.equal(countCalls(cl.exchanges, "POST", /^\/v1\/actions\/snapshot\/multi$/), 1);
    await cl.be.createSnapshots([{ volume: "snap-a", snapshot: "vm-1" }, {
      volume: "snap-b",
      snapshot: "vm-2",
    }]);
    assert.deepEqual((await cl.be.listSnapshots("snap-b")).map((s) => s.name), ["vm-1", "vm-2"]);
    await cl.be.deleteSnapshot("snap-a", "nope");
    await cl.be.deleteSnapshot("gone-volume", "nope");
    await cl.be.deleteSnapshot("snap-a", "s-0");
    assert.deepEqual((await cl.be.listSnapshots("snap-a")).map((s) => s.name), ["s-1", "vm-1"]);
    // LINSTOR >= 1.31: any snapshot may be rolled back to, not only the newest
    await cl.be.rollbackSnapshot("snap-a", "s-1");
    await assert.rejects(
      cl.be.rollbackSnapshot("snap-a", "missing"),
      (e) => kindOf(e) === "not_found",
    );
    cl.sim.setInUse("snap-a", "alpha", true);
    cl.sim.setInUse("snap-a", "bravo", true);
    await assert.rejects(cl.be.rollbackSnapshot("snap-a", "s-1"), (e) => kindOf(e) === "in_use");
    cl.sim.setInUse("snap-a", "alpha", false);
    cl.sim.setInUse("snap-a", "bravo", false);
    await assert.rejects(cl.be.listSnapshots("gone-volume"), (e) => kindOf(e) === "not_found");
    await cl.be.deleteVolume("snap-a");
    await cl.be.deleteVolume("snap-b");
  });

  it("resizes: grows, never shrinks, missing volume is not_found", async () => {
    await cl.be.createVolume("rs-1", 16, { placement: RG });
    // each says the size it found
    assert.equal(await cl.be.resizeVolume("rs-1", 32), 16);
    assert.equal((await cl.be.getVolume("rs-1"))?.sizeMiB, 32);
    const before = cl.exchanges.length;
    assert.equal(await cl.be.resizeVolume("rs-1", 8), 32);
    assert.equal((await cl.be.getVolume("rs-1"))?.sizeMiB, 32);
    assert.equal(cl.exchanges.slice(before).filter((e) => e.method === "PUT").length, 0);
    await assert.rejects(cl.be.resizeVolume("rs-missing", 8), (e) => kindOf(e) === "not_found");
    const st = await Deno.stat(cl.sim.dataPath("rs-1"));
    assert.equal(st.size, 32 * 1024 * 1024);
    await cl.be.deleteVolume("rs-1");
  });

  it("attach/detach: twice is fine; in use refused; diskful and tie-breaker kept", async () => {
    await cl.be.createVolume("att-1", 8, { placement: RG });
    let att = await cl.be.attachments("att-1");
    const diskful = att.find((a) => a.diskful)!.host;
    const tb = att.find((a) => a.tieBreaker)!.host;
    const free = ["alpha", "bravo", "charlie", "delta"].find((h) =>
      !att.some((a) => a.host === h)
    )!;
    await cl.be.attach("att-1", free);
    await cl.be.attach("att-1", free);
    att = await cl.be.attachments("att-1");
    const client = att.find((a) => a.host === free)!;
    assert.deepEqual({ ...client }, {
      host: free,
      diskful: false,
      tieBreaker: false,
      inUse: false,
      readOnly: false,
    });
    assert.ok(
      att.some((a) => a.tieBreaker && a.host === tb),
      "tie-breaker stays with a diskless client",
    );
    cl.sim.setInUse("att-1", free, true);
    assert.equal((await cl.be.attachments("att-1")).find((a) => a.host === free)?.inUse, true);
    await assert.rejects(cl.be.detach("att-1", free), (e) => kindOf(e) === "in_use");
    cl.sim.setInUse("att-1", free, false);
    await cl.be.detach("att-1", free);
    await cl.be.detach("att-1", free);
    await cl.be.detach("att-1", diskful);
    await cl.be.detach("att-1", tb);
    await cl.be.detach("missing-vol", free);
    att = await cl.be.attachments("att-1");
    assert.deepEqual(
      att.map((a) => a.host).sort(),
      [diskful, tb, att.find((a) => a.diskful && a.host !== diskful)!.host].sort(),
    );
    assert.equal(att.filter((a) => a.tieBreaker).length, 1);
    await assert.rejects(cl.be.attach("missing-vol", free), (e) => kindOf(e) === "not_found");
    await cl.be.deleteVolume("att-1");
  });

  it("attachments(volume, host): the controller is asked for that node's only (issue 15)", async () => {
    await cl.be.createVolume("atn-1", 8, { placement: RG });
    const all = await cl.be.attachments("atn-1");
    assert.ok(all.length >= 2, JSON.stringify(all));
    const from = cl.exchanges.length;
    for (const a of all) {
      assert.deepEqual(await cl.be.attachments("atn-1", a.host), [a]);
    }
    const free = ["alpha", "bravo", "charlie", "delta"].find((h) =>
      !all.some((a) => a.host === h)
    )!;
    assert.deepEqual(await cl.be.attachments("atn-1", free), []);
    const views = cl.exchanges.slice(from).filter((e) => /view\/resources/.test(e.path));
    assert.equal(views.length, all.length + 1);
    for (const [i, v] of views.entries()) {
      assert.deepEqual(v.query.getAll("nodes"), [i < all.length ? all[i].host : free]);
    }
    await cl.be.deleteVolume("atn-1");
  });

  it("views of single resources asked side by side go in one request (issue 15)", async () => {
    const names = ["bat-1", "bat-2", "bat-3", "bat-4"];
    for (const n of names) await cl.be.createVolume(n, 8, { placement: RG });
    const one = await Promise.all(names.map((n) => cl.be.attachments(n)));
    const viewCalls = () => countCalls(cl.exchanges, "GET", /^\/v1\/view\/resources/);
    const v0 = viewCalls();
    const together = await Promise.all(names.map((n) => cl.be.attachments(n)));
    assert.equal(viewCalls() - v0, 1, "one view naming the four resources");
    const last = cl.exchanges.filter((e) => e.method === "GET" && /view\/resources/.test(e.path))
      .at(-1)!;
    assert.deepEqual(last.query.getAll("resources").sort(), names);
    // each caller gets its own resource's entries only, as with one request each
    const hosts = (a: { host: string }[]) => a.map((x) => x.host).sort();
    assert.deepEqual(together.map(hosts), one.map(hosts));
    // with another filter (a detach's node): its own batch
    const freeOf = (i: number) =>
      ["alpha", "bravo", "charlie", "delta"].find((h) => !together[i].some((a) => a.host === h))!;
    await Promise.all([cl.be.attach("bat-1", freeOf(0)), cl.be.attach("bat-2", freeOf(1))]);
    const v1 = viewCalls();
    await Promise.all([cl.be.detach("bat-1", freeOf(0)), cl.be.detach("bat-2", freeOf(1))]);
    assert.equal(viewCalls() - v1, freeOf(0) === freeOf(1) ? 1 : 2, "one view per node filter");
    assert.ok(!(await cl.be.attachments("bat-1")).some((a) => a.host === freeOf(0)));
    assert.ok(!(await cl.be.attachments("bat-2")).some((a) => a.host === freeOf(1)));
    // asked one after the other: one request each, every one a reading after its own change
    const free = freeOf(2);
    const v2 = viewCalls();
    await cl.be.attach("bat-3", free);
    assert.ok((await cl.be.attachments("bat-3")).some((a) => a.host === free));
    await cl.be.detach("bat-3", free);
    assert.ok(!(await cl.be.attachments("bat-3")).some((a) => a.host === free));
    assert.equal(viewCalls() - v2, 3, "detach's view and two attachments(), none shared");
    for (const n of names) await cl.be.deleteVolume(n);
  });

  it("read-only attach: the node's resource is marked read-only; detach drops it", async () => {
    await cl.be.createVolume("ro-1", 8, { placement: RG });
    const before = await cl.be.attachments("ro-1");
    const diskful = before.find((a) => a.diskful)!.host;
    const free = ["alpha", "bravo", "charlie", "delta"].find((h) =>
      !before.some((a) => a.host === h)
    )!;
    const rsc = (node: string) => cl.sim.controller.rd("ro-1")!.rscs.find((r) => r.node === node);
    const mark = "Aux/oneblk/read-only";
    for (const host of [free, diskful]) {
      await cl.be.attach("ro-1", host, { readOnly: true });
      await cl.be.attach("ro-1", host, { readOnly: true });
      assert.equal(rsc(host)?.props[mark], "yes", `${host}: marked read-only`);
      const a = (await cl.be.attachments("ro-1")).find((x) => x.host === host);
      assert.equal(a?.readOnly, true, `${host}: reported read-only`);
    }
    await cl.be.detach("ro-1", free);
    assert.equal(rsc(free), undefined, "the diskless client is gone with its mark");
    await cl.be.detach("ro-1", diskful);
    assert.equal(rsc(diskful)?.props[mark], undefined, "the replica stays, writable again");
    assert.deepEqual(
      (await cl.be.attachments("ro-1")).filter((a) => a.readOnly).map((a) => a.host),
      [],
    );
    // a plain attach is read-write
    await cl.be.attach("ro-1", free);
    assert.equal((await cl.be.attachments("ro-1")).find((a) => a.host === free)?.readOnly, false);
    await cl.be.detach("ro-1", free);
    await cl.be.deleteVolume("ro-1");
  });

  it("dual primary sets and removes allow-two-primaries on the RD", async () => {
    await cl.be.createVolume("dp-1", 8, { placement: RG });
    await cl.be.setDualPrimary("dp-1", true);
    const rd = () => cl.sim.controller.rd("dp-1")!;
    assert.equal(rd().props["DrbdOptions/Net/allow-two-primaries"], "yes");
    await cl.be.setDualPrimary("dp-1", false);
    assert.equal(rd().props["DrbdOptions/Net/allow-two-primaries"], undefined);
    await cl.be.deleteVolume("dp-1");
  });

  it("props and listUsage: a constant number of REST calls whatever the count", async () => {
    for (let i = 0; i < 5; i++) {
      await cl.be.createVolume(`u-${i}`, 8, {
        placement: RG,
        props: { DS_ID: i < 2 ? "100" : "101" },
      });
      await cl.be.setProps(`u-${i}`, { VM_ID: String(i), DISK_ID: "0" });
    }
    await cl.be.setProps("u-1", { DISK_ID: null });
    assert.deepEqual((await cl.be.getVolume("u-1"))?.props, { DS_ID: "100", VM_ID: "1" });
    await writeAt(
      cl.hostPath(cl.sim.controller.rd("u-0")!.rscs[0].node, "/dev/drbd/by-res/u-0/0"),
      0,
      pattern(3 << 20, 1),
    );
    await cl.be.createSnapshot("u-0", "snap-0");
    let n0 = cl.be.stats.requests;
    const seen = cl.exchanges.length;
    const two = await listUsage(cl.be, { DS_ID: "100" });
    const callsTwo = cl.be.stats.requests - n0;
    // one RD listing, without the volume definitions (40 % of its bytes at scale)
    const lists = cl.exchanges.slice(seen).filter((x) => x.path === "/v1/resource-definitions");
    assert.deepEqual(lists.map((x) => [...x.query.keys()]), [["props"]]);
    assert.deepEqual(two.map((u) => u.name).sort(), ["u-0", "u-1"]);
    const u0 = two.find((u) => u.name === "u-0")!;
    assert.ok(u0.allocatedMiB >= 3, `allocated ${u0.allocatedMiB}`);
    assert.deepEqual(u0.snapshots, { "snap-0": 8 });
    assert.deepEqual(u0.props, { DS_ID: "100", VM_ID: "0", DISK_ID: "0" });
    n0 = cl.be.stats.requests;
    const three = await listUsage(cl.be, { DS_ID: "101" });
    assert.equal(three.length, 3);
    assert.equal(cl.be.stats.requests - n0, callsTwo, "same number of calls for 2 and 3 volumes");
    assert.ok(callsTwo <= 3);
    assert.deepEqual(await listUsage(cl.be, { DS_ID: "999" }), []);
    assert.deepEqual((await listUsage(cl.be, { DS_ID: "101", VM_ID: "3" })).map((u) => u.name), [
      "u-3",
    ]);
    await assert.rejects(cl.be.setProps("u-0", { "bad/key": "x" }), (e) => kindOf(e) === "input");
    for (let i = 0; i < 5; i++) await cl.be.deleteVolume(`u-${i}`);
  });

  it("listUsage past one query string: name-filtered chunks, never a cluster-wide view", async () => {
    const names = Array.from(
      { length: 130 },
      (_, i) => `usage-chunk-${String(i).padStart(3, "0")}-${"x".repeat(24)}`,
    );
    for (const [i, v] of names.entries()) {
      await cl.be.createVolume(v, 4, { placement: RG, props: { DS_ID: "300", VM_ID: String(i) } });
    }
    await cl.be.createVolume("usage-chunk-other", 4, { placement: RG, props: { DS_ID: "301" } });
    await cl.be.createSnapshot(names[129], "snap-last");
    const chunks = nameChunks(names, "resources");
    assert.equal(chunks.length, 2, "the test needs two chunks");
    const seen = cl.exchanges.length;
    const n0 = cl.be.stats.requests;
    const usage = await listUsage(cl.be, { DS_ID: "300" });
    assert.deepEqual(usage.map((u) => u.name).sort(), names);
    assert.deepEqual(usage.find((u) => u.name === names[129])!.snapshots, { "snap-last": 4 });
    assert.equal(cl.be.stats.requests - n0, 1 + 2 * chunks.length);
    const views = cl.exchanges.slice(seen).filter((x) => x.path.startsWith("/v1/view/"));
    assert.equal(views.length, 2 * chunks.length);
    for (const x of views) {
      const asked = x.query.getAll("resources");
      assert.ok(asked.length > 0 && asked.every((r) => names.includes(r)), `${x.path} filtered`);
    }
    // the simulator compresses large JSON like the controller
    assert.ok(cl.sim.bytesOut < cl.sim.bytesDecoded, `${cl.sim.bytesOut} < ${cl.sim.bytesDecoded}`);
    for (const v of [...names, "usage-chunk-other"]) {
      if (v === names[129]) await cl.be.deleteSnapshot(v, "snap-last");
      await cl.be.deleteVolume(v);
    }
  });

  it("capacity changes after placement and writes", async () => {
    const c0 = await cl.be.capacity(RG);
    assert.ok(c0.totalMiB > 0 && c0.freeMiB > 0 && c0.usedMiB === c0.totalMiB - c0.freeMiB);
    await cl.be.createVolume("cap-1", 256, { placement: RG });
    const node = cl.sim.controller.rd("cap-1")!.rscs.find((r) => !r.diskless)!.node;
    await writeAt(cl.hostPath(node, "/dev/drbd/by-res/cap-1/0"), 0, pattern(8 << 20, 7));
    const c1 = await cl.be.capacity(RG);
    assert.ok(c1.freeMiB < c0.freeMiB, `${c1.freeMiB} < ${c0.freeMiB}`);
    assert.equal(c1.totalMiB, c0.totalMiB);
    const c2 = await cl.be.capacity({ group: "", storagePools: ["DfltStorPool"] });
    assert.ok(c2.totalMiB > 0);
    await cl.be.deleteVolume("cap-1");
    const c3 = await cl.be.capacity(RG);
    assert.equal(c3.freeMiB, c0.freeMiB);
  });

  it("renames by clone + delete, keeping data and props; refuses volumes with snapshots", async () => {
    await cl.be.createVolume("ren-1", 8, { placement: RG, props: { VM_ID: "4" } });
    const node = cl.sim.controller.rd("ren-1")!.rscs.find((r) => !r.diskless)!.node;
    const data = pattern(1 << 20, 3);
    await writeAt(cl.hostPath(node, "/dev/drbd/by-res/ren-1/0"), 4096, data);
    await cl.be.renameVolume("ren-1", "ren-2");
    assert.equal(await cl.be.getVolume("ren-1"), null);
    assert.deepEqual((await cl.be.getVolume("ren-2"))?.props, { VM_ID: "4" });
    assert.equal(cl.sim.controller.rd("ren-2")!.rg, "one_rg");
    assert.deepEqual(await readAt(cl.sim.dataPath("ren-2"), 4096, data.length), data);
    await cl.be.renameVolume("ren-1", "ren-2");
    await cl.be.createSnapshot("ren-2", "s1");
    await assert.rejects(cl.be.renameVolume("ren-2", "ren-3"), (e) => kindOf(e) === "backend");
    await cl.be.deleteVolume("ren-2");
  });
});

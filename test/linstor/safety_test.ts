/**
 * Issue 10 on the LINSTOR store (simulator): unknown outcomes are resolved by reading the
 * controller, a clone target is reused only when it is a complete clone, the clone fallback's
 * temporary snapshot is never lost track of, and a dead controller fails the call fast.
 *
 * The reuse goes through lib/domain/vm_disk.ts cloneOrReuse, the path tm clone, tm ln and
 * (through cloneVolume) datastore clone take.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createLinstorBackend } from "../../lib/backend/linstor/backend.ts";
import type { LinstorPlacement } from "../../lib/backend/linstor/index.ts";
import type { ActionContext } from "../../lib/context.ts";
import { cloneOrReuse } from "../../lib/domain/vm_disk.ts";
import { errorLine, OneblkError } from "../../lib/errors.ts";
import { backupNames } from "../../lib/addons/types.ts";
import {
  decodeMark,
  encodeMark,
  isTempSnapshot,
  tempSnapshotName,
  tempSnapshotOwner,
} from "../../lib/backend/marks.ts";
import { FaultProxy } from "../../tools/faults/proxy.ts";
import {
  type Cluster,
  deadPort,
  failCloneAndRestoreOnce,
  pattern,
  readAt,
  startCluster,
  writeAt,
} from "./helpers.ts";

const RG: LinstorPlacement = { group: "one_rg" };
const MiB = 1024 * 1024;

/** What cloneOrReuse needs of an action context. */
const ctx = { info() {} } as unknown as ActionContext;

function kindOf(e: unknown): string {
  return e instanceof OneblkError ? e.kind : `not a OneblkError: ${e}`;
}

describe("LINSTOR: unknown outcomes and the reuse rule", () => {
  let cl: Cluster;
  before(async () => {
    cl = await startCluster({ cloneDurationMs: 400 });
  });
  after(async () => {
    await cl.close();
  });

  /** A source volume of `mib` MiB holding a pattern; returns the pattern. */
  async function source(name: string, mib = 8): Promise<Uint8Array> {
    await cl.be.createVolume(name, mib, { placement: RG });
    const data = pattern(MiB, name.length);
    await writeAt(cl.sim.dataPath(name), 0, data);
    return data;
  }

  /** The clone status the controller reports for `target` of `src`. */
  async function cloneStatus(src: string, target: string): Promise<string> {
    const r = await fetch(`${cl.sim.url}/v1/resource-definitions/${src}/clone/${target}`);
    return ((await r.json()) as { status?: string }).status ?? `HTTP ${r.status}`;
  }

  async function sameData(target: string, data: Uint8Array): Promise<void> {
    assert.deepEqual(await readAt(cl.sim.dataPath(target), 0, data.length), data);
  }

  it("item 1: a clone whose reply was lost is waited for, never taken while CLONING", async () => {
    const data = await source("i1-src");
    cl.sim.addFault({ method: "POST", path: "/clone$", action: "drop", times: 1 });
    const created = await cloneOrReuse(ctx, cl.be, "i1-src", "i1-dst", { placement: RG });
    assert.equal(await cloneStatus("i1-src", "i1-dst"), "COMPLETE", "returned before COMPLETE");
    assert.equal(created, true, "the clone the lost reply started is this call's");
    await sameData("i1-dst", data);
  });

  it("item 2: a retry never reuses a FAILED clone: it is made again", async () => {
    const data = await source("i2-src");
    // The run oned killed: its clone ends FAILED (nothing copied).
    cl.sim.addFault({ method: "POST", path: "/clone$", action: "fail-clone", times: 1 });
    const r = await fetch(`${cl.sim.url}/v1/resource-definitions/i2-src/clone`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "i2-dst" }),
    });
    assert.equal(r.status, 201, await r.text());
    await new Promise((res) => setTimeout(res, 450));
    assert.equal(await cloneStatus("i2-src", "i2-dst"), "FAILED");
    const created = await cloneOrReuse(ctx, cl.be, "i2-src", "i2-dst", { placement: RG });
    assert.equal(created, true, "made again, not reused");
    assert.equal(await cloneStatus("i2-src", "i2-dst"), "COMPLETE");
    await sameData("i2-dst", data);
  });

  it("item 3: an RD without a volume is not a disk; the size is checked on every reuse", async () => {
    const data = await source("i3-src");
    // What a lost reply to POST /v1/resource-definitions left: an RD, no volume.
    const r = await fetch(`${cl.sim.url}/v1/resource-definitions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ resource_definition: { name: "i3-dst" } }),
    });
    assert.equal(r.status, 201, await r.text());
    const created = await cloneOrReuse(ctx, cl.be, "i3-src", "i3-dst", { placement: RG });
    assert.equal(created, true, "an empty RD is made again");
    assert.equal((await cl.be.getVolume("i3-dst"))?.sizeMiB, 8);
    await sameData("i3-dst", data);

    // A complete volume smaller than the source is not its clone (no grow asked).
    await cl.be.createVolume("i3-small", 4, { placement: RG });
    await assert.rejects(
      cloneOrReuse(ctx, cl.be, "i3-src", "i3-small", { placement: RG }),
      (e) => kindOf(e) === "exists" && /less than its source/.test((e as Error).message),
    );
    assert.equal((await cl.be.getVolume("i3-small"))?.sizeMiB, 4, "left as it is");

    // A complete clone is reused (and grown when asked).
    const again = await cloneOrReuse(ctx, cl.be, "i3-src", "i3-dst", {
      placement: RG,
      sizeMiB: 12,
    });
    assert.equal(again, false);
    assert.equal((await cl.be.getVolume("i3-dst"))?.sizeMiB, 12);
  });

  it("a create whose reply was lost is read back; an unfinished volume is made again", async () => {
    cl.sim.addFault({ method: "POST", path: "/spawn$", action: "drop", times: 1 });
    assert.equal(await cl.be.createVolume("lost-c", 8, { placement: RG, pending: "t" }), true);
    assert.equal((await cl.be.getVolume("lost-c"))?.sizeMiB, 8);
    const marked = (await cl.be.findLeftovers()).filter((l) => l.name === "lost-c");
    assert.deepEqual(marked.map((l) => [l.kind, l.owner]), [["volume", "t"]]);
    // Another call finds it unfinished: deleted and made again, unmarked.
    assert.equal(await cl.be.createVolume("lost-c", 8, { placement: RG }), true);
    assert.equal((await cl.be.findLeftovers()).filter((l) => l.name === "lost-c").length, 0);
  });

  it("a pending clone is marked by the clone request itself: no unmarked window", async () => {
    await source("pc-src");
    // The controller dies right after it took the clone request (request 2: the first is the
    // source's read): nothing later (a separate mark, a cleanup, a status read) reaches it.
    const proxy = await FaultProxy.start({
      upstream: cl.sim.url,
      errorReply: () => ({ status: 500, body: "[]" }),
    });
    const be = createLinstorBackend({ controllers: proxy.url, timeoutMs: 1_000 });
    const owner = "datastore clone image 31";
    try {
      proxy.arm({ k: 3, mode: "gone" });
      await assert.rejects(be.cloneVolume("pc-src", "pc-dst", { placement: RG, pending: owner }));
      assert.deepEqual(proxy.disarm().slice(0, 2).map((r) => `${r.method} ${r.path}`), [
        "GET /v1/resource-definitions",
        "POST /v1/resource-definitions/pc-src/clone",
      ]);
    } finally {
      await be.close();
      await proxy.stop();
    }
    assert.ok(await cl.be.getVolume("pc-dst"), "the controller made the clone");
    const marked = (await cl.be.findLeftovers()).filter((l) => l.name === "pc-dst");
    assert.deepEqual(marked.map((l) => [l.kind, l.owner]), [["volume", owner]]);
    // Without an owner the clone starts unmarked, even when its source carries a mark.
    await cl.be.markLeftover({ kind: "volume", name: "pc-src" }, "tm clone vm 3 disk 0");
    await cl.be.cloneVolume("pc-src", "pc-dst2", { placement: RG });
    assert.equal((await cl.be.findLeftovers()).filter((l) => l.name === "pc-dst2").length, 0);
    await cl.be.clearMark({ kind: "volume", name: "pc-src" });
  });

  it("every clone path places the clone the same way: the profile's count, on the host", async () => {
    await source("pl-src");
    const from = (await cl.be.attachments("pl-src")).filter((a) => a.diskful && !a.tieBreaker);
    assert.equal(from.length, 2);
    const elsewhere = ["alpha", "bravo", "charlie", "delta"].find((h) =>
      !from.some((a) => a.host === h)
    )!;
    const paths: [string, LinstorPlacement, () => void][] = [
      ["clone API", RG, () => {}],
      ["snapshot restore", { ...RG, cloneFromSnapshot: true }, () => {}],
      ["block copy", RG, () => failCloneAndRestoreOnce(cl.sim)],
    ];
    const got: string[] = [];
    for (const host of [from[0].host, elsewhere]) {
      for (const [how, placement, faults] of paths) {
        const target = `pl-${got.length}`;
        faults();
        await cl.be.cloneVolume("pl-src", target, { placement, preferHost: host });
        const disks = (await cl.be.attachments(target))
          .filter((a) => a.diskful && !a.tieBreaker).map((a) => a.host).sort();
        got.push(`${how} on ${host}: ${disks.length} ${disks.includes(host) ? "with" : "without"}`);
      }
    }
    assert.deepEqual(got, got.map((g) => g.replace(/: .*/, ": 2 with")));
  });

  it("item 5: a snapshot whose reply was lost is read back: taken", async () => {
    await source("snap-src");
    cl.sim.addFault({ method: "POST", path: "/snapshots$", action: "drop", times: 1 });
    await cl.be.createSnapshot("snap-src", "snapshot-3");
    assert.deepEqual((await cl.be.listSnapshots("snap-src")).map((s) => s.name), ["snapshot-3"]);
  });

  it("item 5: the clone fallback's temporary snapshot is removed or found (findLeftovers)", async () => {
    await source("tmp-src");
    // No clone API (old controller): snapshot + restore. Its temporary snapshot's delete fails.
    cl.sim.addFault({ method: "POST", path: "/clone$", action: "error", times: 1 });
    cl.sim.addFault({ method: "DELETE", path: "/snapshots/oneblk-", action: "error", times: 1 });
    assert.equal(await cl.be.cloneVolume("tmp-src", "tmp-dst", { placement: RG }), true);
    const left = (await cl.be.listSnapshots("tmp-src")).map((s) => s.name);
    assert.equal(left.length, 1, "the failed delete left the temporary snapshot");
    const found = (await cl.be.findLeftovers()).filter((l) => l.kind === "snapshot");
    assert.deepEqual(found.map((l) => [l.name, l.volume]), [[left[0], "tmp-src"]]);
    assert.ok(found[0].since > 0 && found[0].owner === "clone", JSON.stringify(found[0]));
    // Without a fault, the fallback removes its own.
    cl.sim.addFault({ method: "POST", path: "/clone$", action: "error", times: 1 });
    await cl.be.cloneVolume("tmp-src", "tmp-dst2", { placement: RG });
    assert.deepEqual((await cl.be.listSnapshots("tmp-src")).map((s) => s.name), left);
  });

  it("snapshots kept on purpose (backup chain bases, restore points) are never leftovers", async () => {
    await source("keep-1", 4);
    const kept = [backupNames.snapshot("", 7, 0, 3), backupNames.undo("", 7, 0)];
    for (const n of kept) await cl.be.createSnapshot("keep-1", n);
    const tmp = tempSnapshotName("saveas", "vm7", "disk0");
    await cl.be.createSnapshot("keep-1", tmp);
    const found = (await cl.be.findLeftovers()).filter((l) => l.volume === "keep-1");
    assert.deepEqual(found.map((l) => l.name), [tmp]);
    for (const n of [...kept, tmp]) await cl.be.deleteSnapshot("keep-1", n);
  });

  it("an attach on purpose clears the leftover mark of that attachment; no request without one", async () => {
    await source("am-1", 4);
    // h1: a node without a resource (a diskless attachment); h2: one with a replica
    const have = (await cl.be.attachments("am-1")).map((a) => a.host);
    const h1 = ["alpha", "bravo", "charlie", "delta"].find((h) => !have.includes(h))!;
    const h2 = have[0];
    for (const h of [h1, h2]) {
      await cl.be.attach("am-1", h);
      await cl.be.markLeftover(
        { kind: "attachment", name: "am-1", host: h },
        "datastore cp image 4",
      );
    }
    const marked = async () =>
      (await cl.be.findLeftovers()).filter((l) => l.name === "am-1").map((l) => l.host);
    // A later action (another backend: it knows nothing of the resource) attaches it on h1 for
    // a VM: the attachment is wanted now, its mark goes; h2's stays.
    const later = createLinstorBackend({ controllers: cl.sim.url, timeoutMs: 10_000 });
    try {
      let n0 = later.stats.requests;
      await later.attach("am-1", h1);
      assert.deepEqual(await marked(), [h2]);
      assert.equal(later.stats.requests - n0, 2, "make-available, then the mark's delete");
      // read-only: the mark goes in the modify that sets the read-only mark
      n0 = later.stats.requests;
      await later.attach("am-1", h2, { readOnly: true });
      assert.deepEqual(await marked(), []);
      assert.equal(later.stats.requests - n0, 2);
      // Known without a mark (read here, or made here): the attach only.
      await later.attachments("am-1");
      n0 = later.stats.requests;
      await later.attach("am-1", h1);
      assert.equal(later.stats.requests - n0, 1);
      await later.createVolume("am-2", 4, { placement: RG });
      const on = (await cl.be.attachments("am-2")).map((a) => a.host)[0];
      n0 = later.stats.requests;
      await later.attach("am-2", on);
      assert.equal(later.stats.requests - n0, 1);
    } finally {
      await later.close();
    }
    for (const h of [h1, h2]) await cl.be.detach("am-1", h);
  });

  it("marks of volumes and attachments are set, listed and cleared", async () => {
    await source("mk-1", 4);
    await cl.be.attach("mk-1", "delta");
    await cl.be.markLeftover(
      { kind: "attachment", name: "mk-1", host: "delta" },
      "datastore cp image 7",
    );
    await cl.be.markLeftover({ kind: "volume", name: "mk-1" }, "tm clone vm 7 disk 0");
    const mine = (await cl.be.findLeftovers()).filter((l) => l.name === "mk-1");
    assert.deepEqual(
      mine.map((l) => [l.kind, l.host, l.owner]).sort(),
      [["attachment", "delta", "datastore cp image 7"], [
        "volume",
        undefined,
        "tm clone vm 7 disk 0",
      ]],
    );
    assert.ok(mine.every((l) => Date.now() - l.since < 60_000));
    // Marks use Aux keys only (what a real controller accepts on RDs and resources).
    const rd = cl.sim.controller.rd("mk-1")!;
    const keys = [rd.props, ...rd.rscs.map((r) => r.props)].flatMap((p) => Object.keys(p));
    assert.ok(keys.filter((k) => /oneblk/.test(k)).every((k) => k.startsWith("Aux/")), `${keys}`);
    await cl.be.clearMark({ kind: "volume", name: "mk-1" });
    await cl.be.detach("mk-1", "delta");
    assert.equal((await cl.be.findLeftovers()).filter((l) => l.name === "mk-1").length, 0);
  });
});

describe("leftover marks and temporary names", () => {
  it("round-trip in the characters both stores accept; temporary names fit LINSTOR", () => {
    const m = encodeMark("datastore cp image 12", 1_700_000_000_000);
    assert.match(m, /^[A-Za-z0-9_\-.:]+$/);
    assert.deepEqual(decodeMark(m), { owner: "datastore cp image 12", since: 1_700_000_000_000 });
    assert.equal(decodeMark("not a mark"), null);
    const t = tempSnapshotName("saveas", "vm1234567", "disk12", "a-very-long-part-indeed");
    assert.match(t, /^[a-zA-Z0-9_][a-zA-Z0-9_-]{1,47}$/, t);
    assert.ok(isTempSnapshot(t) && !isTempSnapshot("snapshot-1"));
    assert.equal(tempSnapshotOwner("oneblk-tmp-saveas-vm7-disk0-lq3k2"), "saveas vm7 disk0");
  });
});

describe("LINSTOR: a dead controller fails fast, once", () => {
  it("item 6: no fallback after `unavailable`; one cause, one short line", async () => {
    const be = createLinstorBackend({
      controllers: `linstor://127.0.0.1:${deadPort()}`,
      timeoutMs: 2_000,
    });
    const t0 = Date.now();
    try {
      await assert.rejects(be.cloneVolume("a-src", "a-dst", { placement: RG }), (e) => {
        const line = errorLine(e);
        assert.equal(kindOf(e), "unavailable", line);
        assert.ok(line.length < 300, `${line.length} chars: ${line}`);
        assert.equal(line.match(/Connection refused/g)?.length, 1, line);
        assert.doesNotMatch(line, /snapshot restore|block copy/);
        return true;
      });
      const ms = Date.now() - t0;
      // the refused window is 80 % of the 2 s deadline; the later calls of this backend
      // share a 5 s grace at most
      assert.ok(ms < 2_000 + 5_000, `failed after ${ms} ms`);
    } finally {
      await be.close();
    }
  });
});

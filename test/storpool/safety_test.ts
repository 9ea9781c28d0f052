/**
 * Issue 10 on the StorPool store (simulator): a reply lost after the API applied the call is
 * resolved by reading (create, clone, snapshot), a clone target is reused only when it is
 * complete (not marked unfinished, at least its source's size), marks and temporary snapshots
 * are what findLeftovers reports, a dead API fails the action's later calls at once, and the
 * token never shows in an error.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createStorpoolBackend } from "../../lib/backend/storpool/backend.ts";
import { StorpoolClient } from "../../lib/backend/storpool/client.ts";
import { errorLine, OneblkError } from "../../lib/errors.ts";
import { runGc } from "../../lib/domain/gc.ts";
import { PLACEMENT, type SpEnv, startEnv } from "./helpers.ts";

function kindOf(e: unknown): string {
  return e instanceof OneblkError ? e.kind : `not a OneblkError: ${e}`;
}

describe("StorPool: unknown outcomes, the reuse rule, leftovers", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("a create, clone or snapshot whose reply was lost is read back: done", async () => {
    const b = env.backend;
    env.sim.addFault({ method: "VolumeCreate", dropAfterApply: true, times: 1 });
    assert.equal(await b.createVolume("one-img-1", 8, { placement: PLACEMENT }), true);
    env.sim.addFault({ method: "VolumeCreate", dropAfterApply: true, times: 1 });
    assert.equal(await b.cloneVolume("one-img-1", "one-img-1-7-0", { placement: PLACEMENT }), true);
    env.sim.addFault({ method: "VolumeSnapshot", dropAfterApply: true, times: 1 });
    await b.createSnapshot("one-img-1", "one-img-1-snap0");
    assert.deepEqual((await b.listSnapshots("one-img-1")).map((s) => s.name), [
      "one-img-1-snap0",
    ]);
    // Not applied at all (the request was lost): the call fails, nothing exists.
    env.sim.addFault({ method: "VolumeSnapshot", drop: true, times: 1 });
    await assert.rejects(b.createSnapshot("one-img-1", "one-img-1-snap1"), (e) => {
      assert.equal(kindOf(e), "unavailable");
      return true;
    });
    assert.equal((await b.listSnapshots("one-img-1")).length, 1);
  });

  it("reuse: complete clone reused; unfinished made again; smaller refused", async () => {
    const b = env.backend;
    await b.createVolume("one-img-2", 8, { placement: PLACEMENT });
    assert.equal(await b.cloneVolume("one-img-2", "one-img-2-7-0", { placement: PLACEMENT }), true);
    assert.equal(
      await b.cloneVolume("one-img-2", "one-img-2-7-0", { placement: PLACEMENT, sizeMiB: 16 }),
      false,
      "a complete clone is reused (and grown)",
    );
    assert.equal((await b.getVolume("one-img-2-7-0"))?.sizeMiB, 16);
    // A target another call left unfinished (its mark) holds nothing to keep: made again.
    await b.createVolume("one-img-3", 8, { placement: PLACEMENT, pending: "datastore cp image 3" });
    assert.equal(await b.cloneVolume("one-img-2", "one-img-3", { placement: PLACEMENT }), true);
    assert.equal((await b.findLeftovers()).filter((l) => l.name === "one-img-3").length, 0);
    // A complete volume smaller than the source is not its clone: refused, left as it is.
    await b.createVolume("one-img-4", 4, { placement: PLACEMENT });
    await assert.rejects(
      b.cloneVolume("one-img-2", "one-img-4", { placement: PLACEMENT }),
      (e) => kindOf(e) === "exists" && /less than its source/.test((e as Error).message),
    );
    assert.equal((await b.getVolume("one-img-4"))?.sizeMiB, 4);
  });

  it("marks and temporary snapshots are the leftovers; props do not show marks", async () => {
    const b = env.backend;
    await b.createVolume("one-img-5", 8, {
      placement: PLACEMENT,
      props: { type: "image" },
      pending: "datastore cp image 5",
    });
    await b.attach("one-img-5", "bravo");
    await b.markLeftover(
      { kind: "attachment", name: "one-img-5", host: "bravo" },
      "datastore cp image 5",
    );
    await b.createSnapshot("one-img-5", "oneblk-tmp-saveas-vm7-disk0-abc");
    const mine = (await b.findLeftovers()).filter((l) => (l.volume ?? l.name) === "one-img-5");
    assert.deepEqual(
      mine.map((l) => [l.kind, l.name, l.host, l.owner]).sort(),
      [
        ["attachment", "one-img-5", "bravo", "datastore cp image 5"],
        ["snapshot", "oneblk-tmp-saveas-vm7-disk0-abc", undefined, "saveas vm7 disk0"],
        ["volume", "one-img-5", undefined, "datastore cp image 5"],
      ],
    );
    assert.deepEqual((await b.getVolume("one-img-5"))?.props, { type: "image", qc: "gold" });
    await b.clearMark({ kind: "volume", name: "one-img-5" });
    await b.clearMark({ kind: "attachment", name: "one-img-5", host: "bravo" });
    await b.deleteSnapshot("one-img-5", "oneblk-tmp-saveas-vm7-disk0-abc");
    assert.equal(
      (await b.findLeftovers()).filter((l) => (l.volume ?? l.name) === "one-img-5").length,
      0,
    );
  });

  it("an attach on purpose clears the leftover mark of that attachment; no request without one", async () => {
    const b = env.backend;
    await b.createVolume("one-img-8", 8, { placement: PLACEMENT });
    await b.attach("one-img-8", "bravo");
    await b.markLeftover(
      { kind: "attachment", name: "one-img-8", host: "bravo" },
      "datastore cp image 8",
    );
    // A later action (another backend: it knows nothing of the volume) attaches it there for
    // a VM: the attachment is wanted now, its mark goes.
    const later = env.backendWith({});
    await later.attach("one-img-8", "bravo", { readOnly: true });
    const marks = async () =>
      (await b.findLeftovers()).filter((l) => l.name === "one-img-8").map((l) => l.host);
    assert.deepEqual(await marks(), []);
    // An attachment elsewhere keeps its own mark.
    await b.attach("one-img-8", "alpha");
    await b.markLeftover(
      { kind: "attachment", name: "one-img-8", host: "alpha" },
      "datastore cp image 8",
    );
    await later.attach("one-img-8", "bravo");
    assert.deepEqual(await marks(), ["alpha"]);
    // A volume this backend made or read, with no mark for that client: the attach only.
    await b.createVolume("one-img-9", 8, { placement: PLACEMENT });
    let n0 = b.stats.requests;
    await b.attach("one-img-9", "bravo");
    assert.equal(b.stats.requests - n0, 1);
    assert.ok(await later.getVolume("one-img-8"));
    n0 = later.stats.requests;
    await later.attach("one-img-8", "bravo");
    assert.equal(later.stats.requests - n0, 1, "read: no mark for bravo, nothing to clear");
    for (const h of ["alpha", "bravo"]) await b.detach("one-img-8", h);
    await b.clearMark({ kind: "attachment", name: "one-img-8", host: "alpha" });
    await b.detach("one-img-9", "bravo");
  });

  it("attach, the volume's tags unknown: read beside the attach, no change without a mark (issue 15)", async () => {
    const b = env.backend;
    const sim = async () =>
      (await env.control("stats")) as { requests: number; byMethod: Record<string, number> };
    const methods = async (run: () => Promise<unknown>) => {
      await env.control("stats/reset", {});
      await run();
      return (await sim()).byMethod;
    };
    for (const v of ["one-img-80", "one-img-81", "one-img-82"]) {
      await b.createVolume(v, 8, { placement: PLACEMENT, props: { type: "image" } });
    }
    // no mark: the attach and a read of the tags, no VolumeUpdate
    const fresh = () => env.backendWith({});
    assert.deepEqual(await methods(() => fresh().attach("one-img-80", "bravo")), {
      Volume: 1,
      VolumesReassignWait: 1,
    });
    // a mark of that attachment (an earlier call could not release it): dropped
    await b.markLeftover({ kind: "attachment", name: "one-img-80", host: "bravo" }, "tm ln 1");
    assert.deepEqual(await methods(() => fresh().attach("one-img-80", "bravo")), {
      Volume: 1,
      VolumesReassignWait: 1,
      VolumeUpdate: 1,
    });
    // a stale mark (its attachment went without the mark): dropped too, the attach wants it
    await b.attach("one-img-81", "alpha");
    await b.markLeftover({ kind: "attachment", name: "one-img-81", host: "alpha" }, "tm ln 2");
    await b.detach("one-img-81", "alpha");
    await fresh().attach("one-img-81", "alpha", { readOnly: true });
    // a mark for another client stays
    await b.attach("one-img-82", "alpha");
    await b.markLeftover({ kind: "attachment", name: "one-img-82", host: "alpha" }, "tm ln 3");
    assert.deepEqual(await methods(() => fresh().attach("one-img-82", "bravo")), {
      Volume: 1,
      VolumesReassignWait: 1,
    });
    const marks = (await b.findLeftovers()).filter((l) => /^one-img-8[0-2]$/.test(l.name))
      .map((l) => [l.name, l.host]);
    assert.deepEqual(marks, [["one-img-82", "alpha"]]);
    // the tags read by the attach serve the next attach of the same action: no read
    const later = fresh();
    await later.attach("one-img-80", "alpha");
    assert.deepEqual(await methods(() => later.attach("one-img-80", "alpha")), {
      VolumesReassignWait: 1,
    });
    // a missing volume: the attach fails as before (the read's failure is not what is reported)
    await assert.rejects(fresh().attach("one-img-89", "bravo"), (e) => kindOf(e) === "not_found");
    await b.clearMark({ kind: "attachment", name: "one-img-82", host: "alpha" });
    for (
      const [v, h] of [["one-img-80", "bravo"], ["one-img-80", "alpha"], ["one-img-81", "alpha"], [
        "one-img-82",
        "alpha",
      ], ["one-img-82", "bravo"]]
    ) await b.detach(v, h);
  });

  it("gc: deletes a temporary snapshot; a marked attachment and an image orphan need oned", async () => {
    const b = env.backend;
    await b.createVolume("one-img-6", 8, { placement: PLACEMENT });
    await b.attach("one-img-6", "alpha");
    await b.markLeftover(
      { kind: "attachment", name: "one-img-6", host: "alpha" },
      "datastore cp image 6",
    );
    await b.createSnapshot("one-img-6", "oneblk-tmp-clone-gc1");
    await b.createVolume("one-img-7", 8, { placement: PLACEMENT, pending: "datastore cp image 7" });
    const store = [{ label: "datastore 100", datastoreIds: [100], backend: b }];
    // Young: everything kept.
    assert.ok((await runGc(store, undefined)).every((i) => i.action === "kept"));
    const items = await runGc(store, undefined, { minAgeMs: 0 });
    const by = (name: string) => items.find((i) => i.leftover.name === name);
    // Without oned nobody can tell whether a VM on alpha uses the volume: the device stays.
    assert.equal(by("one-img-6")?.action, "kept");
    assert.match(by("one-img-6")!.why, /oned cannot be asked whether a VM on alpha uses one-img-6/);
    await b.clearMark({ kind: "attachment", name: "one-img-6", host: "alpha" });
    await b.detach("one-img-6", "alpha");
    assert.equal(by("oneblk-tmp-clone-gc1")?.action, "removed");
    assert.equal(by("one-img-7")?.action, "kept", "no oned: an image orphan is never guessed");
    assert.match(by("one-img-7")!.why, /oned cannot be asked whether image 7/);
    assert.deepEqual(await b.attachments("one-img-6"), []);
    assert.equal((await b.listSnapshots("one-img-6")).length, 0);
    assert.ok(await b.getVolume("one-img-6") && await b.getVolume("one-img-7"));
    assert.deepEqual(
      (await b.findLeftovers()).map((l) => [l.kind, l.name]),
      [["volume", "one-img-7"]],
    );
  });

  it("item 9: a name StorPool cannot have is an error, a missing volume is fine", async () => {
    for (const bad of ["x$(reboot)", "a;b", "a'b", "a\nb", "../one-img-2"]) {
      await assert.rejects(env.backend.deleteVolume(bad), (e) => kindOf(e) === "input");
    }
    await env.backend.deleteVolume("one-img-never");
  });
});

describe("StorPool: a dead API, a hostile token", () => {
  it("item 6: after the API was found unreachable, the action's later calls fail at once", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const b = createStorpoolBackend(
      { host: "127.0.0.1", port, token: "t0k", retryDelayMs: 50 },
      { clientIdOf: () => Promise.resolve(1) },
    );
    try {
      await assert.rejects(b.getVolume("a"), (e) => kindOf(e) === "unavailable");
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) {
        await assert.rejects(b.deleteVolume("a"), (e) => {
          assert.equal(kindOf(e), "unavailable");
          assert.ok(errorLine(e).length < 300, errorLine(e));
          return true;
        });
      }
      // no retries any more: before, each call waited out its own retries (about 750 ms)
      assert.ok(Date.now() - t0 < 500, `five later calls took ${Date.now() - t0} ms`);
    } finally {
      await b.close();
    }
  });

  it("item 7: SP_AUTH_TOKEN with a line break: refused without showing it", () => {
    const token = "Sekr1tPart\nInjected: header";
    assert.throws(
      () => new StorpoolClient({ host: "127.0.0.1", port: 1, token }),
      (e) => {
        const line = errorLine(e);
        assert.equal(kindOf(e), "config", line);
        assert.ok(!line.includes("Sekr1tPart") && !line.includes("Injected"), line);
        assert.match(line, /SP_AUTH_TOKEN/);
        return true;
      },
    );
  });
});

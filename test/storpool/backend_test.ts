/**
 * Every Backend operation of the StorPool backend against the simulator over real HTTP:
 * normal, repeated (idempotent) and failing calls.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneblkError } from "../../lib/errors.ts";
import { StorpoolClient } from "../../lib/backend/storpool/client.ts";
import type { SimStateDump } from "../../tools/sim/storpool/model.ts";
import { CAPACITY_GIB, PLACEMENT, type SpEnv, startEnv, TEMPLATE } from "./helpers.ts";
import { listUsage } from "../../lib/backend/usage.ts";
import { TEXT_STEP } from "../../lib/json_items.ts";
import { createStorpoolBackend } from "../../lib/backend/storpool/backend.ts";
import { createClientIdResolver } from "../../lib/backend/storpool/config.ts";

const kind = (k: string) => (e: unknown) => {
  assert.ok(e instanceof OneblkError, `not a OneblkError: ${e}`);
  assert.equal(e.kind, k, `kind ${e.kind}: ${e.message}`);
  return true;
};

async function state(env: SpEnv): Promise<SimStateDump> {
  return (await env.control("state")) as SimStateDump;
}

describe("storpool backend: volumes", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("createVolume creates with template, tags and qc; repeat is a no-op", async () => {
    const b = env.backend;
    assert.equal(b.kind, "storpool");
    const created = await b.createVolume("one-img-1", 64, {
      placement: PLACEMENT,
      props: { virt: "one", nloc: "one" },
    });
    assert.equal(created, true);
    const v = await b.getVolume("one-img-1");
    assert.deepEqual(v, {
      name: "one-img-1",
      sizeMiB: 64,
      props: { virt: "one", nloc: "one", qc: "gold" },
    });
    const sv = (await state(env)).volumes["one-img-1"];
    assert.equal(sv.templateName, TEMPLATE);
    assert.equal(sv.size, 64 * 1024 * 1024);
    assert.equal(sv.placeAll, "hdd");
    assert.equal(await b.createVolume("one-img-1", 64, { placement: PLACEMENT }), false);
    await assert.rejects(
      b.createVolume("one-img-1", 128, { placement: PLACEMENT }),
      (e) => kind("exists")(e) && /64 MiB/.test((e as Error).message),
    );
  });

  it("createVolume failures: missing template, bad size, bad tag, beyond capacity", async () => {
    const b = env.backend;
    await assert.rejects(
      b.createVolume("one-img-2", 8, { placement: { group: "one-ds-999" } }),
      (e) => kind("config")(e) && /one-ds-999/.test((e as Error).message),
    );
    await assert.rejects(b.createVolume("one-img-2", 0, { placement: PLACEMENT }), kind("input"));
    await assert.rejects(
      b.createVolume("one-img-2", 8, { placement: PLACEMENT, props: { nvm: "a b" } }),
      kind("input"),
    );
    await assert.rejects(
      b.createVolume("one-img-2", (CAPACITY_GIB + 1) * 1024, { placement: PLACEMENT }),
      kind("backend"),
    );
    assert.equal(await b.getVolume("one-img-2"), null);
  });

  it("getVolume of a missing volume is null", async () => {
    assert.equal(await env.backend.getVolume("no-such-volume"), null);
  });

  it("resizeVolume grows, never shrinks, and fails on a missing volume", async () => {
    const b = env.backend;
    await b.createVolume("one-img-3", 16, { placement: PLACEMENT });
    // each says the size it found
    assert.equal(await b.resizeVolume("one-img-3", 48), 16);
    assert.equal((await b.getVolume("one-img-3"))?.sizeMiB, 48);
    const before = b.stats.requests;
    assert.equal(await b.resizeVolume("one-img-3", 20), 48);
    assert.equal(b.stats.requests - before, 1, "only the size check");
    assert.equal((await b.getVolume("one-img-3"))?.sizeMiB, 48);
    await assert.rejects(b.resizeVolume("nope", 8), kind("not_found"));
  });

  it("renameVolume renames, repeats, refuses a taken name", async () => {
    const b = env.backend;
    await b.createVolume("one-img-4", 8, { placement: PLACEMENT });
    await b.createVolume("one-img-5", 8, { placement: PLACEMENT });
    await b.renameVolume("one-img-4", "one-img-4-old");
    assert.equal(await b.getVolume("one-img-4"), null);
    assert.equal((await b.getVolume("one-img-4-old"))?.sizeMiB, 8);
    await b.renameVolume("one-img-4", "one-img-4-old");
    await assert.rejects(b.renameVolume("one-img-4-old", "one-img-5"), kind("exists"));
    await assert.rejects(b.renameVolume("none-1", "none-2"), kind("not_found"));
  });

  it("setProps sets tags and deletes null ones; bad values are input errors", async () => {
    const b = env.backend;
    await b.createVolume("one-img-6", 8, { placement: PLACEMENT, props: { virt: "one" } });
    await b.setProps("one-img-6", { nvm: "42", diskid: "0", type: "PERS" });
    assert.deepEqual((await b.getVolume("one-img-6"))?.props, {
      virt: "one",
      qc: "gold",
      nvm: "42",
      diskid: "0",
      type: "PERS",
    });
    await b.setProps("one-img-6", { nvm: null, type: null, qc: "silver" });
    assert.deepEqual((await b.getVolume("one-img-6"))?.props, {
      virt: "one",
      qc: "silver",
      diskid: "0",
    });
    await assert.rejects(b.setProps("one-img-6", { "bad key": "1" }), kind("input"));
    await assert.rejects(b.setProps("missing-vol", { a: "1" }), kind("not_found"));
  });

  it("capacity follows created volumes; unknown template is a config error", async () => {
    const b = env.backend;
    const c1 = await b.capacity(PLACEMENT);
    assert.equal(c1.totalMiB, CAPACITY_GIB * 1024);
    assert.equal(c1.usedMiB + c1.freeMiB, c1.totalMiB);
    await b.createVolume("one-img-7", 100, { placement: PLACEMENT });
    const c2 = await b.capacity(PLACEMENT);
    assert.equal(c2.freeMiB, c1.freeMiB - 100);
    assert.equal(c2.usedMiB, c1.usedMiB + 100);
    await assert.rejects(b.capacity({ group: "one-ds-1" }), kind("config"));
    await assert.rejects(b.capacity({ group: "" }), kind("config"));
  });

  it("devicePath is /dev/storpool/<name>; setDualPrimary makes no request", async () => {
    const b = env.backend;
    assert.equal(b.devicePath("one-img-1"), "/dev/storpool/one-img-1");
    const before = b.stats.requests;
    await b.setDualPrimary("one-img-1", true);
    await b.setDualPrimary("one-img-1", false);
    assert.equal(b.stats.requests, before);
  });
});

describe("storpool backend: delete", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("deleteVolume keeps an anonymous snapshot with deleteAfter (48 h) and drops own snapshots", async () => {
    const b = env.backend;
    await b.createVolume("one-img-10", 8, { placement: PLACEMENT, props: { virt: "one" } });
    await b.createVolume("one-img-10-3-0", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-img-10", "one-img-10-snap0");
    await b.createSnapshot("one-img-10-3-0", "one-img-10-3-0-snap0");
    await b.attach("one-img-10", "alpha");
    const t0 = Math.floor(Date.now() / 1000);
    await b.deleteVolume("one-img-10");
    const st = await state(env);
    assert.equal(st.volumes["one-img-10"], undefined);
    assert.equal(st.snapshots["one-img-10-snap0"], undefined);
    assert.ok(st.snapshots["one-img-10-3-0-snap0"], "another volume's snapshot stays");
    const anon = Object.values(st.snapshots).filter((s) => s.onVolume === "one-img-10");
    assert.equal(anon.length, 1);
    assert.equal(anon[0].autoName, true);
    assert.match(anon[0].name, /^one-img-10@/);
    assert.ok(Math.abs(anon[0].targetDeleteDate - (t0 + 172800)) <= 5);
    assert.deepEqual(st.attachments.filter((a) => a.volume === "one-img-10"), []);
    // The real API's list shows it too, with targetDeleteDate.
    const list = await fetch(`${env.sim.url}/ctrl/1.0/SnapshotsList`, {
      headers: { Authorization: `Storpool v1:${env.sim.token}` },
    }).then((r) => r.json());
    const seen = list.data.find((s: { name: string }) => s.name === anon[0].name);
    assert.equal(seen.targetDeleteDate, anon[0].targetDeleteDate);
    // Not a snapshot of anything as far as the backend is concerned.
    assert.deepEqual(await b.listSnapshots("one-img-10"), []);
    // Repeat: success, no new snapshot.
    await b.deleteVolume("one-img-10");
    assert.equal(
      Object.values((await state(env)).snapshots).filter((s) => s.onVolume === "one-img-10")
        .length,
      1,
    );
    // When due, the simulator purges it.
    await env.control("clock", { advanceSeconds: 172800 + 10 });
    await b.getVolume("x");
    assert.equal((await state(env)).snapshots[anon[0].name], undefined);
  });

  it("deleteVolume with delayDeleteSeconds 0 deletes at once; missing volume succeeds", async () => {
    const b = env.backendWith({ delayDeleteSeconds: 0 });
    await b.createVolume("one-img-11", 8, { placement: PLACEMENT });
    await b.deleteVolume("one-img-11");
    const st = await state(env);
    assert.equal(st.volumes["one-img-11"], undefined);
    assert.deepEqual(Object.values(st.snapshots).filter((s) => s.onVolume === "one-img-11"), []);
    await b.deleteVolume("one-img-11");
    await b.deleteVolume("never-existed");
  });

  it("deleteVolume refuses a name StorPool cannot have (199 characters at most, not list or status)", async () => {
    const b = env.backend;
    for (const bad of ["list", "status", "a".repeat(200), "bad/name", ""]) {
      await assert.rejects(
        b.deleteVolume(bad),
        (e) => e instanceof OneblkError && /invalid StorPool volume name/.test(e.message),
        bad,
      );
    }
    // the longest name StorPool takes is a volume name: gone already is success
    await b.deleteVolume("a".repeat(199));
  });

  it("deleteVolume refuses an open volume (in_use) and leaves it intact", async () => {
    const b = env.backend;
    await b.createVolume("one-img-12", 8, { placement: PLACEMENT });
    await b.attach("one-img-12", "bravo");
    await env.control("in-use", { volume: "one-img-12", client: "bravo", in_use: true });
    await assert.rejects(b.deleteVolume("one-img-12"), kind("in_use"));
    assert.ok(await b.getVolume("one-img-12"));
    assert.equal((await b.attachments("one-img-12")).length, 1);
    await env.control("in-use", { volume: "one-img-12", client: 2, in_use: false });
    await b.deleteVolume("one-img-12");
    assert.equal(await b.getVolume("one-img-12"), null);
  });

  it("a full template still deletes; the delayed-delete snapshot holds the space", async () => {
    const b = env.backend;
    const free = (await b.capacity(PLACEMENT)).freeMiB;
    await b.createVolume("one-img-14", free, { placement: PLACEMENT });
    assert.equal((await b.capacity(PLACEMENT)).freeMiB, 0);
    await assert.rejects(
      b.createVolume("one-img-15", 1, { placement: PLACEMENT }),
      kind("backend"),
    );
    await b.deleteVolume("one-img-14");
    assert.equal(await b.getVolume("one-img-14"), null);
    assert.equal((await b.capacity(PLACEMENT)).freeMiB, 0, "held until purged");
    await env.control("clock", { advanceSeconds: 200000 });
    // Due snapshots (this one and earlier tests' ones) are purged: the space comes back.
    assert.ok((await b.capacity(PLACEMENT)).freeMiB >= free);
  });

  it("deleteVolume finishes a delete that left the volume's snapshots behind", async () => {
    const b = env.backendWith({ delayDeleteSeconds: 0 });
    await b.createVolume("one-img-13", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-img-13", "one-img-13-snap1");
    // Simulate an interrupted delete: the volume went, the snapshot stayed.
    const res = await fetch(`${env.sim.url}/ctrl/1.0/VolumeDelete/one-img-13`, {
      method: "POST",
      headers: { Authorization: `Storpool v1:${env.sim.token}` },
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.ok((await state(env)).snapshots["one-img-13-snap1"]);
    await b.deleteVolume("one-img-13");
    assert.equal((await state(env)).snapshots["one-img-13-snap1"], undefined);
  });

  it("volumes already gone, deleted side by side: one snapshot listing (issue 15)", async () => {
    const b = env.backend;
    const gone = ["one-sys-9-NVRAM", "one-sys-9-SWTPM", "one-sys-9-MEM", "one-sys-9-rawcheckpoint"];
    // a delete that stopped before its snapshots: the volume is gone, its snapshot is left
    await b.createVolume("one-sys-9-5-iso", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-sys-9-5-iso", "one-sys-9-5-iso-snap0");
    const c = new StorpoolClient(
      { host: "127.0.0.1", port: env.sim.port, token: env.sim.token },
      {},
    );
    await c.volumeDelete("one-sys-9-5-iso");
    c.close();
    // (the listing is held by the API until every detach was answered: a sure share)
    await env.control("fault", { method: "SnapshotsList", delayMs: 500, times: 1 });
    await env.control("stats/reset", {});
    const fresh = env.backendWith({});
    await Promise.all(
      [...gone, "one-sys-9-5-iso"].map((v) => fresh.deleteVolume(v, { immediate: true })),
    );
    const st = (await env.control("stats")) as { byMethod: Record<string, number> };
    assert.deepEqual(st.byMethod, { VolumesReassignWait: 5, SnapshotsList: 1, SnapshotDelete: 1 });
    assert.equal((await state(env)).snapshots["one-sys-9-5-iso-snap0"], undefined);
  });
});

describe("storpool backend: clones", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("cloneVolume uses baseOn, grows, tags; fromSnapshot uses the snapshot", async () => {
    const b = env.backend;
    await b.createVolume("one-img-20", 32, { placement: PLACEMENT });
    await b.cloneVolume("one-img-20", "one-img-20-5-0", {
      placement: PLACEMENT,
      sizeMiB: 64,
      props: { nvm: "5", diskid: "0", type: "NPERS" },
    });
    const c = await b.getVolume("one-img-20-5-0");
    assert.equal(c?.sizeMiB, 64);
    assert.deepEqual(c?.props, { qc: "gold", nvm: "5", diskid: "0", type: "NPERS" });
    await b.cloneVolume("one-img-20", "one-img-20-5-1", { placement: PLACEMENT, sizeMiB: 8 });
    assert.equal((await b.getVolume("one-img-20-5-1"))?.sizeMiB, 32, "never shrinks");
    await b.resizeVolume("one-img-20", 40);
    await b.createSnapshot("one-img-20", "one-img-20-snap0");
    await b.resizeVolume("one-img-20", 50);
    await b.cloneVolume("one-img-20", "one-img-30", {
      placement: PLACEMENT,
      fromSnapshot: "one-img-20-snap0",
    });
    const st = await state(env);
    assert.equal(st.volumes["one-img-30"].parentName, "one-img-20-snap0");
    assert.equal(st.volumes["one-img-30"].size, 40 * 1024 * 1024);
  });

  it("cloneVolume failures leave nothing named target", async () => {
    const b = env.backend;
    await assert.rejects(
      b.cloneVolume("no-source", "one-img-21", { placement: PLACEMENT }),
      kind("not_found"),
    );
    assert.equal(await b.getVolume("one-img-21"), null);
    await b.createVolume("one-img-22", 8, { placement: PLACEMENT });
    await b.createVolume("one-img-23", 4, { placement: PLACEMENT });
    await assert.rejects(
      b.cloneVolume("one-img-22", "one-img-23", { placement: PLACEMENT }),
      kind("exists"),
    );
    assert.ok(await b.getVolume("one-img-23"), "an existing target is never removed");
    // Growing beyond the template's capacity fails after the clone: the clone is removed.
    await assert.rejects(
      b.cloneVolume("one-img-22", "one-img-24", {
        placement: PLACEMENT,
        sizeMiB: (CAPACITY_GIB + 1) * 1024,
      }),
      kind("backend"),
    );
    assert.equal(await b.getVolume("one-img-24"), null);
  });
});

describe("storpool backend: snapshots", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("createSnapshot/listSnapshots/deleteSnapshot, repeated and failing", async () => {
    const b = env.backend;
    await b.createVolume("one-img-40", 16, { placement: PLACEMENT });
    await b.createVolume("one-img-40-2-0", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-img-40", "one-img-40-snap0");
    await env.control("clock", { advanceSeconds: 5 });
    await b.resizeVolume("one-img-40", 24);
    await b.createSnapshot("one-img-40", "one-img-40-snap1");
    await b.createSnapshot("one-img-40", "one-img-40-snap1");
    await b.createSnapshot("one-img-40-2-0", "one-img-40-2-0-snap0");
    const list = await b.listSnapshots("one-img-40");
    assert.deepEqual(list.map((s) => [s.name, s.volume, s.sizeMiB]), [
      ["one-img-40-snap0", "one-img-40", 16],
      ["one-img-40-snap1", "one-img-40", 24],
    ]);
    assert.ok(list[0].createdAt < list[1].createdAt);
    assert.deepEqual((await b.listSnapshots("one-img-40-2-0")).map((s) => s.name), [
      "one-img-40-2-0-snap0",
    ]);
    await assert.rejects(
      b.createSnapshot("one-img-40-2-0", "one-img-40-snap0"),
      kind("exists"),
    );
    await assert.rejects(b.createSnapshot("missing", "missing-snap0"), kind("not_found"));
    await b.deleteSnapshot("one-img-40", "one-img-40-snap0");
    await b.deleteSnapshot("one-img-40", "one-img-40-snap0");
    assert.deepEqual((await b.listSnapshots("one-img-40")).map((s) => s.name), [
      "one-img-40-snap1",
    ]);
  });

  it("snapshot ownership follows names, so rename schemes keep snapshots", async () => {
    const b = env.backend;
    // A clone named after its image: each lists only its own snapshots.
    await b.createVolume("one-img-41", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-img-41", "one-img-41-snap0");
    await b.cloneVolume("one-img-41", "one-img-41-9-0", { placement: PLACEMENT });
    await b.createSnapshot("one-img-41-9-0", "one-img-41-9-0-snap0");
    const before = b.stats.requests;
    assert.deepEqual((await b.listSnapshots("one-img-41")).map((s) => s.name), [
      "one-img-41-snap0",
    ]);
    assert.equal(b.stats.requests - before, 1, "no volume list needed");
    assert.deepEqual((await b.listSnapshots("one-img-41-9-0")).map((s) => s.name), [
      "one-img-41-9-0-snap0",
    ]);
    // Rename scheme (add-on era revert, crash-safe flatten): the volume becomes a scratch
    // volume, is recreated from its snapshot, and the scratch volume is deleted. The
    // snapshot keeps following the name, and deleting the scratch volume keeps it.
    const nb = env.backendWith({ delayDeleteSeconds: 0 });
    await b.createVolume("one-img-42", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-img-42", "one-img-42-snap3");
    await b.renameVolume("one-img-42", "one-img-42-1700000000-abcd1234");
    await b.cloneVolume("x", "one-img-42", {
      placement: PLACEMENT,
      fromSnapshot: "one-img-42-snap3",
    });
    assert.deepEqual(await b.listSnapshots("one-img-42-1700000000-abcd1234"), []);
    await nb.deleteVolume("one-img-42-1700000000-abcd1234");
    assert.ok((await state(env)).snapshots["one-img-42-snap3"], "snapshot survives");
    assert.deepEqual((await b.listSnapshots("one-img-42")).map((s) => s.name), [
      "one-img-42-snap3",
    ]);
    // A renamed clone's old-named snapshot goes with the name, as in the add-on.
    await b.renameVolume("one-img-41-9-0", "one-img-77");
    assert.deepEqual(await b.listSnapshots("one-img-77"), []);
    assert.deepEqual(
      (await b.listSnapshots("one-img-41")).map((s) => s.name),
      ["one-img-41-snap0", "one-img-41-9-0-snap0"],
    );
  });

  it("createSnapshots is one atomic group call; repeat succeeds; failures create nothing", async () => {
    const b = env.backend;
    for (const v of ["one-sys-7-0-raw", "one-img-43-7-1", "one-sys-7-2-iso"]) {
      await b.createVolume(v, 8, { placement: PLACEMENT });
    }
    const items = ["one-sys-7-0-raw", "one-img-43-7-1", "one-sys-7-2-iso"].map((v) => ({
      volume: v,
      snapshot: `${v}-ONESNAP-0-1700000000`,
    }));
    const before = b.stats.requests;
    await b.createSnapshots(items);
    assert.equal(b.stats.requests - before, 1);
    const st = await state(env);
    const made = items.map((i) => st.snapshots[i.snapshot]);
    assert.ok(made.every((s) => s !== undefined));
    assert.equal(new Set(made.map((s) => s.creationTimestamp)).size, 1);
    await b.createSnapshots(items);
    // One missing volume: nothing is created.
    const bad = [
      { volume: "one-sys-7-0-raw", snapshot: "one-sys-7-0-raw-ONESNAP-1-1" },
      { volume: "missing-vol", snapshot: "missing-vol-ONESNAP-1-1" },
    ];
    await assert.rejects(b.createSnapshots(bad), kind("not_found"));
    assert.equal((await state(env)).snapshots["one-sys-7-0-raw-ONESNAP-1-1"], undefined);
    // One name clash with another volume's snapshot: nothing is created.
    const clash = [
      { volume: "one-sys-7-0-raw", snapshot: "one-sys-7-0-raw-ONESNAP-2-1" },
      { volume: "one-img-43-7-1", snapshot: "one-sys-7-2-iso-ONESNAP-0-1700000000" },
    ];
    await assert.rejects(b.createSnapshots(clash), kind("exists"));
    assert.equal((await state(env)).snapshots["one-sys-7-0-raw-ONESNAP-2-1"], undefined);
    await b.createSnapshots([]);
  });

  it("rollbackSnapshot reverts; attached-not-open is re-attached; open is in_use", async () => {
    const b = env.backend;
    await b.createVolume("one-img-44", 8, { placement: PLACEMENT });
    await b.createSnapshot("one-img-44", "one-img-44-snap0");
    await b.resizeVolume("one-img-44", 16);
    await b.rollbackSnapshot("one-img-44", "one-img-44-snap0");
    assert.equal((await b.getVolume("one-img-44"))?.sizeMiB, 8, "revertSize");
    await b.attach("one-img-44", "alpha");
    await b.attach("one-img-44", "bravo", { readOnly: true });
    await b.rollbackSnapshot("one-img-44", "one-img-44-snap0");
    const att = (await b.attachments("one-img-44")).map((a) => [a.host, a.readOnly]).sort();
    assert.deepEqual(att, [["alpha", false], ["bravo", true]]);
    await env.control("in-use", { volume: "one-img-44", client: "alpha", in_use: true });
    await assert.rejects(b.rollbackSnapshot("one-img-44", "one-img-44-snap0"), kind("in_use"));
    assert.equal((await b.attachments("one-img-44")).length, 2, "still attached");
    await assert.rejects(b.rollbackSnapshot("one-img-44", "no-snap"), kind("not_found"));
    await assert.rejects(b.rollbackSnapshot("no-vol", "one-img-44-snap0"), kind("not_found"));
  });
});

describe("storpool backend: attachments", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("attach rw/ro by client id, repeat, attachments(), detach, repeat", async () => {
    const b = env.backend;
    await b.createVolume("one-img-50", 8, { placement: PLACEMENT });
    const before = b.stats.requests;
    await b.attach("one-img-50", "alpha");
    assert.equal(b.stats.requests - before, 1);
    await b.attach("one-img-50", "alpha");
    await b.attach("one-img-50", "bravo", { readOnly: true });
    const st = await state(env);
    assert.deepEqual(
      st.attachments.filter((a) => a.volume === "one-img-50").map((a) => [a.client, a.rights])
        .sort(),
      [[1, "rw"], [2, "ro"]],
    );
    assert.deepEqual(
      (await b.attachments("one-img-50")).sort((x, y) => x.host.localeCompare(y.host)),
      [
        { host: "alpha", diskful: false, tieBreaker: false, inUse: false, readOnly: false },
        { host: "bravo", diskful: false, tieBreaker: false, inUse: false, readOnly: true },
      ],
    );
    assert.equal((await Deno.lstat(env.devPath("alpha", "one-img-50"))).isSymlink, true);
    await b.detach("one-img-50", "alpha");
    await b.detach("one-img-50", "alpha");
    await assert.rejects(Deno.lstat(env.devPath("alpha", "one-img-50")), Deno.errors.NotFound);
    assert.deepEqual((await b.attachments("one-img-50")).map((a) => a.host), ["bravo"]);
  });

  it("attachments(volume, host): only that host's attachment (issue 15)", async () => {
    const b = env.backend;
    await b.createVolume("one-img-51", 8, { placement: PLACEMENT });
    await b.attach("one-img-51", "alpha");
    await b.attach("one-img-51", "bravo", { readOnly: true });
    assert.deepEqual(await b.attachments("one-img-51", "bravo"), [
      { host: "bravo", diskful: false, tieBreaker: false, inUse: false, readOnly: true },
    ]);
    assert.deepEqual((await b.attachments("one-img-51", "alpha")).map((a) => a.host), ["alpha"]);
    assert.deepEqual(await b.attachments("one-img-51", "charlie"), []);
    await b.deleteVolume("one-img-51", { immediate: true });
  });

  it("attachments() asked side by side share one listing; after a write a new one (issue 15)", async () => {
    const b = env.backend;
    const names = ["one-img-54", "one-img-55", "one-img-56", "one-img-57"];
    for (const n of names) await b.createVolume(n, 8, { placement: PLACEMENT });
    await b.attach(names[0], "alpha");
    let n0 = b.stats.requests;
    const seen = await Promise.all(names.map((n) => b.attachments(n)));
    assert.equal(b.stats.requests - n0, 1, "one AttachmentsList for four volumes");
    assert.deepEqual(seen.map((a) => a.map((x) => x.host)), [["alpha"], [], [], []]);
    // a write started while a listing is on its way: the next caller gets a fresh one, and sees
    // the write
    n0 = b.stats.requests;
    const early = b.attachments(names[1]);
    const write = b.attach(names[1], "bravo");
    await write;
    const after = await b.attachments(names[1]);
    assert.equal((await early).length <= 1, true);
    assert.deepEqual(after.map((x) => x.host), ["bravo"], "read after own write");
    assert.ok(b.stats.requests - n0 >= 3, "listing, attach, new listing");
    // the shared reply is not shared mutable state
    const [x, y] = await Promise.all([b.attachments(names[0]), b.attachments(names[0])]);
    x[0].host = "changed";
    assert.equal(y[0].host, "alpha");
    for (const n of names) await b.detach(n, "alpha").catch(() => {});
    await b.detach(names[1], "bravo");
  });

  it("warmHosts finds a host's client id ahead, once; a failure is asked again (issue 15)", async () => {
    // the host template lookup (an oned call in production), counted
    const asked: string[] = [];
    let failFirst = true;
    const resolver = createClientIdResolver({
      hostAttr: (h) => {
        asked.push(h);
        if (h === "bravo" && failFirst) {
          failFirst = false;
          return Promise.reject(new Error("oned did not answer"));
        }
        return Promise.resolve(({ alpha: "1", bravo: "2" } as Record<string, string>)[h]);
      },
      confPath: "/nonexistent/storpool.conf",
      confDir: "/nonexistent/storpool.conf.d",
    });
    const b = createStorpoolBackend(
      { host: "127.0.0.1", port: env.sim.port, token: env.sim.token, retryDelayMs: 5 },
      { clientIdOf: resolver.clientIdOf },
    );
    try {
      await b.createVolume("one-img-58", 8, { placement: PLACEMENT });
      b.warmHosts(["alpha", "bravo"]);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(asked, ["alpha", "bravo"], "both asked ahead, before any call");
      await b.attach("one-img-58", "alpha");
      await b.attach("one-img-58", "bravo", { readOnly: true });
      // alpha's answer was kept; bravo's failed quietly, and its attach asked again
      assert.deepEqual(asked, ["alpha", "bravo", "bravo"]);
      assert.deepEqual(
        (await b.attachments("one-img-58")).map((a) => a.host).sort(),
        ["alpha", "bravo"],
      );
      await b.deleteVolume("one-img-58", { immediate: true });
    } finally {
      await b.close();
    }
  });

  it("rw on two hosts at once (live migration) is allowed", async () => {
    const b = env.backend;
    await b.createVolume("one-img-51", 8, { placement: PLACEMENT });
    await b.attach("one-img-51", "alpha");
    await b.setDualPrimary("one-img-51", true);
    await b.attach("one-img-51", "bravo");
    assert.deepEqual((await b.attachments("one-img-51")).map((a) => a.readOnly), [false, false]);
    await b.detach("one-img-51", "alpha");
    assert.deepEqual((await b.attachments("one-img-51")).map((a) => a.host), ["bravo"]);
  });

  it("detach of an open device is in_use unless forceDetach", async () => {
    const b = env.backend;
    await b.createVolume("one-img-52", 8, { placement: PLACEMENT });
    await b.attach("one-img-52", "alpha");
    await env.control("in-use", { volume: "one-img-52", client: 1, in_use: true });
    assert.deepEqual((await b.attachments("one-img-52")).map((a) => a.inUse), [true]);
    await assert.rejects(
      b.detach("one-img-52", "alpha"),
      (e) => kind("in_use")(e) && /alpha/.test((e as Error).message),
    );
    assert.equal((await b.attachments("one-img-52")).length, 1);
    await env.backendWith({ forceDetach: true }).detach("one-img-52", "alpha");
    assert.equal((await b.attachments("one-img-52")).length, 0);
  });

  it("failures: missing volume, unknown host; detach of a missing volume succeeds", async () => {
    const b = env.backend;
    await assert.rejects(b.attach("no-vol", "alpha"), kind("not_found"));
    await assert.rejects(
      b.attach("one-img-50", "charlie"),
      (e) => kind("config")(e) && /charlie/.test((e as Error).message),
    );
    await b.detach("no-vol", "alpha");
  });

  it("a client id nobody resolved shows as sp-client-<id> and can be detached by it", async () => {
    const b = env.backend;
    await b.createVolume("one-img-53", 8, { placement: PLACEMENT });
    const other = env.backendWith({});
    await other.attach("one-img-53", "bravo");
    const fresh = env.backendWith({});
    const att = await fresh.attachments("one-img-53");
    assert.deepEqual(att.map((a) => a.host), ["sp-client-2"]);
    await fresh.detach("one-img-53", att[0].host);
    assert.deepEqual(await fresh.attachments("one-img-53"), []);
  });
});

describe("storpool backend: listUsage", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("matches tags, reports allocation and snapshots, in 2 requests whatever the count", async () => {
    const b = env.backend;
    const props = (vm: number, d: number) => ({
      virt: "one",
      nloc: "one",
      nvm: String(vm),
      diskid: String(d),
    });
    await b.createVolume("one-sys-1-0-raw", 8, { placement: PLACEMENT, props: props(1, 0) });
    await b.createVolume("other", 8, { placement: PLACEMENT, props: { virt: "k8s" } });
    await b.attach("one-sys-1-0-raw", "alpha");
    const f = await Deno.open(env.devPath("alpha", "one-sys-1-0-raw"), { write: true });
    await f.write(new Uint8Array(1024 * 1024).fill(7));
    f.close();
    await b.createSnapshot("one-sys-1-0-raw", "one-sys-1-0-raw-snap0");
    let before = b.stats.requests;
    const u1 = await listUsage(b, { virt: "one", nloc: "one" });
    assert.equal(b.stats.requests - before, 2);
    assert.deepEqual(u1.map((u) => u.name), ["one-sys-1-0-raw"]);
    assert.equal(u1[0].props.nvm, "1");
    assert.ok(u1[0].allocatedMiB >= 1);
    assert.deepEqual(Object.keys(u1[0].snapshots), ["one-sys-1-0-raw-snap0"]);
    assert.ok(u1[0].snapshots["one-sys-1-0-raw-snap0"] >= 1);
    for (let i = 1; i < 10; i++) {
      await b.createVolume(`one-sys-1-${i}-raw`, 8, { placement: PLACEMENT, props: props(1, i) });
    }
    before = b.stats.requests;
    const u2 = await listUsage(b, { nvm: "1" });
    assert.equal(b.stats.requests - before, 2);
    assert.equal(u2.length, 10);
    assert.deepEqual(await listUsage(b, { nvm: "99" }), []);
  });

  it("reads the space listings a piece at a time: no reply parsed whole, same figures", async () => {
    const b = env.backend;
    for (let i = 0; i < 150; i++) {
      await b.createVolume(`one-sys-2-${i}-raw`, 8, {
        placement: PLACEMENT,
        props: { virt: "one", nloc: "one", nvm: String(200 + i), diskid: "0" },
      });
    }
    await b.createSnapshot("one-sys-2-7-raw", "one-sys-2-7-raw-snap3");
    // the figures from whole replies, parsed at once
    const get = async (m: string) =>
      (await (await fetch(`http://127.0.0.1:${env.sim.port}/ctrl/1.0/${m}`, {
        headers: { Authorization: `Storpool v1:${env.sim.token}` },
      })).json()).data;
    type Sp = {
      name: string;
      spaceUsed?: number;
      storedSize?: number;
      tags?: Record<string, string>;
    };
    const mib = (x: Sp) => Math.ceil((x.spaceUsed ?? x.storedSize ?? 0) / 2 ** 20);
    const vols = await get("VolumesSpace");
    const snaps = await get("SnapshotsSpace");
    const want = vols.filter((v: Sp) => v.tags?.nvm !== undefined)
      .map((v: Sp) => ({
        name: v.name,
        allocatedMiB: mib(v),
        snapshots: Object.fromEntries(
          snaps.filter((s: Sp) => s.name.startsWith(`${v.name}-`))
            .map((s: Sp) => [s.name, mib(s)]),
        ),
      }));
    assert.ok(want.length >= 160, `${want.length}`);
    const parse = JSON.parse;
    let largest = 0;
    JSON.parse = (text: string, reviver?: Parameters<typeof parse>[1]) => {
      largest = Math.max(largest, text.length);
      return parse(text, reviver);
    };
    const before = b.stats.bytes;
    let got;
    try {
      got = await listUsage(b, { virt: "one", nloc: "one" });
    } finally {
      JSON.parse = parse;
    }
    const read = b.stats.bytes - before;
    assert.deepEqual(
      got.map(({ name, allocatedMiB, snapshots }) => ({ name, allocatedMiB, snapshots })),
      want,
    );
    assert.ok(
      got.find((u) => u.name === "one-sys-2-7-raw")!.snapshots["one-sys-2-7-raw-snap3"] >= 0,
    );
    // at once: a step of the text (its elements together) and the rest of an element
    assert.ok(read > 50_000, `read ${read} bytes`);
    assert.ok(
      largest < TEXT_STEP + 4_000,
      `largest text parsed at once: ${largest} of ${read} bytes read`,
    );
  });
});

/**
 * The StorPool simulator itself, spoken to as raw HTTP like the real API: auth, envelopes,
 * attachments and symlinks, delayed delete, group snapshot atomicity, persistence, and the
 * `oneblk sim storpool` entry point as a real process.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseClients, parseTemplate } from "../../tools/sim/storpool/main.ts";
import { startStorpoolSim, type StorpoolSim } from "../../tools/sim/storpool/server.ts";
import { OneblkError } from "../../lib/errors.ts";

const MiB = 1024 * 1024;

interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

function api(sim: StorpoolSim, token = sim.token) {
  return async (method: string, body?: unknown, name?: string): Promise<Reply> => {
    const url = `${sim.url}/ctrl/1.0/${method}${name ? `/${encodeURIComponent(name)}` : ""}`;
    const res = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers: token ? { Authorization: `Storpool v1:${token}` } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
}

describe("storpool simulator API", () => {
  let root: string;
  let sim: StorpoolSim;
  let call: ReturnType<typeof api>;
  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-spsim-test-" });
    sim = await startStorpoolSim({
      token: "t0ken",
      clients: { alpha: 1, bravo: 2 },
      templates: [{ name: "one-ds-0", capacityGiB: 1, replication: 2 }],
      stateDir: join(root, "sp"),
      hostsRoot: join(root, "hosts"),
    });
    call = api(sim);
  });
  after(async () => {
    await sim.stop();
    await Deno.remove(root, { recursive: true });
  });

  it("checks the token: missing or wrong is a 401 StorPool error", async () => {
    for (const t of ["", "nope"]) {
      const r = await api(sim, t)("VolumesList");
      assert.equal(r.status, 401);
      assert.equal(r.body.error.name, "authorization");
      assert.equal(r.body.error.transient, false);
      assert.equal(typeof r.body.error.descr, "string");
    }
  });

  it("answers with {generation, data}; changes bump the generation", async () => {
    const a = await call("VolumesList");
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.data, []);
    const c = await call("VolumeCreate", { name: "v1", size: 2 * MiB, template: "one-ds-0" });
    assert.equal(c.body.data.ok, true);
    assert.ok(c.body.generation > a.body.generation);
    const bad = await call("VolumeCreate", { name: "v2", size: 1000 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.name, "invalidParam");
    const unknown = await call("NoSuchCall");
    assert.equal(unknown.body.error.name, "notImplemented");
    const tpl = await call("VolumeTemplatesList");
    assert.deepEqual(tpl.body.data.map((t: { name: string }) => t.name), ["one-ds-0"]);
    const st = await call("VolumeTemplatesStatus");
    assert.equal(st.body.data[0].stored.capacity, 1024 * MiB);
    assert.equal(st.body.data[0].stored.free, 1022 * MiB);
    const svc = (await call("ServicesList")).body.data;
    assert.equal(svc.clusterStatus, "running");
    assert.deepEqual(Object.keys(svc.clients), ["1", "2"]);
    assert.deepEqual([svc.clients["1"].id, svc.clients["1"].status], [1, "running"]);
  });

  it("attachments: symlinks per host, rights, open state, force detach, unknown clients", async () => {
    await call("VolumeCreate", { name: "v3", size: MiB });
    const r = await call("VolumesReassignWait", {
      attachTimeout: 5,
      reassign: [{ volume: "v3", rw: [1] }, { volume: "v3", ro: [2] }],
    });
    assert.equal(r.body.data.ok, true);
    const link = join(root, "hosts", "alpha", "dev", "storpool", "v3");
    assert.equal(await Deno.readLink(link), sim.dataPath("v3"));
    const list = (await call("AttachmentsList")).body.data;
    assert.deepEqual(
      list.map((a: { client: number; rights: string }) => [a.client, a.rights]).sort(),
      [[1, "rw"], [2, "ro"]],
    );
    const inUse = await fetch(`${sim.url}/_sim/in-use`, {
      method: "POST",
      body: JSON.stringify({ volume: "v3", client: "alpha", in_use: true }),
    });
    assert.equal(inUse.status, 200);
    await inUse.body?.cancel();
    const busy = await call("VolumesReassignWait", { reassign: [{ volume: "v3", detach: "all" }] });
    assert.equal(busy.body.error.name, "busy");
    assert.equal((await call("AttachmentsList")).body.data.length, 2, "nothing detached");
    const del = await call("VolumeDelete", {}, "v3");
    assert.equal(del.body.error.name, "busy");
    const forced = await call("VolumesReassignWait", {
      reassign: [{ volume: "v3", detach: "all", force: true }],
    });
    assert.equal(forced.body.data.ok, true);
    await assert.rejects(Deno.lstat(link), Deno.errors.NotFound);
    // A client the cluster does not know: timeout, unless attachTimeout is 0.
    const t = await call("VolumesReassignWait", { reassign: [{ volume: "v3", rw: [7] }] });
    assert.equal(t.body.error.name, "timeout");
    const t0 = await call("VolumesReassignWait", {
      attachTimeout: 0,
      reassign: [{ volume: "v3", rw: [7] }],
    });
    assert.equal(t0.body.data.ok, true);
    // Snapshots attach read-only only.
    await call("VolumeSnapshot", { name: "v3-snap0" }, "v3");
    const rw = await call("VolumesReassign", [{ snapshot: "v3-snap0", rw: [1] }]);
    assert.equal(rw.body.error.name, "invalidParam");
    const ro = await call("VolumesReassign", [{ snapshot: "v3-snap0", ro: [1] }]);
    assert.equal(ro.body.data.ok, true);
    assert.equal(
      await Deno.readLink(join(root, "hosts", "alpha", "dev", "storpool", "v3-snap0")),
      sim.dataPath("v3-snap0", "snapshot"),
    );
    assert.equal((await call("SnapshotDelete", {}, "v3-snap0")).body.error.name, "busy");
  });

  it("delayed delete: anonymous snapshot with targetDeleteDate, purged when due", async () => {
    await call("VolumeCreate", { name: "v4", size: MiB });
    const r = await call("VolumeSnapshot", { deleteAfter: 3600 }, "v4");
    const name = r.body.data.autoName;
    assert.match(name, /^v4@\d+$/);
    const s = (await call("Snapshot", undefined, name)).body.data[0];
    assert.equal(s.autoName, true);
    assert.ok(s.targetDeleteDate > Date.now() / 1000 + 3500);
    sim.advanceClock(3601);
    const gone = await call("Snapshot", undefined, name);
    assert.equal(gone.body.error.name, "objectDoesNotExist");
  });

  it("group snapshot is all or nothing", async () => {
    await call("VolumeCreate", { name: "g1", size: MiB });
    await call("VolumeCreate", { name: "g2", size: MiB });
    await call("VolumeSnapshot", { name: "g2-taken" }, "g2");
    const before = Object.keys(sim.state().snapshots).length;
    const clash = await call("VolumesGroupSnapshot", {
      volumes: [{ volume: "g1", name: "g1-s" }, { volume: "g2", name: "g2-taken" }],
    });
    assert.equal(clash.body.error.name, "objectExists");
    const missing = await call("VolumesGroupSnapshot", {
      volumes: [{ volume: "g1", name: "g1-s" }, { volume: "gX", name: "gX-s" }],
    });
    assert.equal(missing.body.error.name, "objectDoesNotExist");
    assert.equal(Object.keys(sim.state().snapshots).length, before);
    const ok = await call("VolumesGroupSnapshot", {
      volumes: [{ volume: "g1", name: "g1-s" }, { volume: "g2", name: "g2-s" }],
      tags: { nvm: "3" },
    });
    assert.deepEqual(
      ok.body.data.snapshots.map((x: { volume: string; snapshot: string }) => [
        x.volume,
        x.snapshot,
      ]),
      [["g1", "g1-s"], ["g2", "g2-s"]],
    );
    assert.equal(sim.state().snapshots["g1-s"].tags.nvm, "3");
    assert.equal(sim.state().volumes.g1.parentName, "g1-s");
  });

  it("a new simulator on the same state dir keeps everything", async () => {
    const dir = join(root, "persist");
    const s1 = await startStorpoolSim({
      stateDir: dir,
      templates: [{ name: "t", capacityGiB: 1 }],
    });
    await api(s1)("VolumeCreate", { name: "keep", size: MiB, template: "t", tags: { a: "b" } });
    await s1.stop();
    const s2 = await startStorpoolSim({ stateDir: dir, token: s1.token });
    try {
      const [v] = (await api(s2)("Volume", undefined, "keep")).body.data;
      assert.deepEqual([v.name, v.size, v.templateName, v.tags], ["keep", MiB, "t", { a: "b" }]);
    } finally {
      await s2.stop();
    }
  });
});

describe("oneblk sim storpool", () => {
  it("parses --clients and --template", () => {
    assert.deepEqual(parseClients("alpha=1, bravo=2"), { alpha: 1, bravo: 2 });
    assert.deepEqual(parseTemplate("one-ds-100:50:2"), {
      name: "one-ds-100",
      capacityGiB: 50,
      replication: 2,
    });
    assert.throws(() => parseClients("alpha"), OneblkError);
    assert.throws(() => parseTemplate("x"), OneblkError);
  });

  it("runs as a process, prints its endpoint, serves, stops on SIGTERM", async () => {
    const root = await Deno.makeTempDir({ prefix: "oneblk-spsim-cli-" });
    const mainUrl = new URL("../../tools/sim/storpool/main.ts", import.meta.url).href;
    const code = `import { storpoolSimMain } from "${mainUrl}";\n` +
      `Deno.exit(await storpoolSimMain(Deno.args));`;
    await Deno.writeTextFile(join(root, "run.ts"), code);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(root, "run.ts"),
        "--port",
        "0",
        "--token",
        "cli-token",
        "--clients",
        "alpha=1",
        "--template",
        "one-ds-7:2:3",
        "--state-dir",
        join(root, "state"),
      ],
      env: { ONEBLK_SIM_ROOT: root },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      while (!buf.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
      }
      const info = JSON.parse(buf.split("\n")[0]);
      assert.equal(info.token, "cli-token");
      assert.equal(info.hostsRoot, join(root, "hosts"));
      const res = await fetch(`${info.url}/ctrl/1.0/VolumeTemplatesStatus`, {
        headers: { Authorization: "Storpool v1:cli-token" },
      });
      const body = await res.json();
      assert.equal(body.data[0].name, "one-ds-7");
      assert.equal(body.data[0].stored.capacity, 2 * 1024 * MiB);
      child.kill("SIGTERM");
      await reader.cancel();
      const stderr = await new Response(child.stderr).text();
      const st = await child.status;
      assert.equal(st.code, 0, stderr);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await Deno.remove(root, { recursive: true });
    }
  });
});

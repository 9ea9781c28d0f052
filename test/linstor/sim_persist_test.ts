/**
 * The LINSTOR simulator's state on disk (issue 11 item 10): every answered change survives a
 * killed simulator process (journal written before the reply), a torn journal line is
 * ignored, and a clean stop folds the journal into the snapshot.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { filesShape, loadState } from "../../tools/sim/linstor/persistence.ts";
import { OVERRIDE_VLM_ID, type SimRd } from "../../tools/sim/linstor/model.ts";
import { startLinstorSim } from "../../tools/sim/linstor/server.ts";

const MAIN = new URL("../../tools/sim/linstor/main.ts", import.meta.url).href;

/** `oneblk sim linstor` as a child process (the first stdout line is its endpoint). */
async function startCli(stateDir: string): Promise<{ url: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { linstorSimMain } from "${MAIN}"; Deno.exit(await linstorSimMain(Deno.args));`,
      "--",
      "--nodes",
      "n1,n2,n3",
      "--group",
      "rg:2",
      "--state-dir",
      stateDir,
    ],
    stdout: "piped",
    stderr: "null",
    env: { ONEBLK_SIM_ROOT: "" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    line += value;
  }
  reader.releaseLock();
  return { url: (JSON.parse(line.split("\n")[0]) as { url: string }).url, child };
}

async function stopCli(child: Deno.ChildProcess, signal: Deno.Signal): Promise<void> {
  child.kill(signal);
  await child.status;
  await child.stdout.cancel().catch(() => {});
}

async function post(url: string, path: string, body: unknown): Promise<number> {
  const r = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await r.body?.cancel();
  return r.status;
}

async function names(url: string): Promise<string[]> {
  const r = await fetch(`${url}/v1/resource-definitions`);
  return ((await r.json()) as { name: string }[]).map((x) => x.name).sort();
}

describe("LINSTOR simulator: state on disk", () => {
  let root: string;
  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-lspersist-" });
  });
  after(async () => {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  });

  it("keeps every answered change when the process is killed, then compacts on stop", async () => {
    const dir = join(root, "kill");
    let sim = await startCli(dir);
    for (const n of ["k-1", "k-2", "k-3"]) {
      assert.equal(
        await post(sim.url, "/v1/resource-groups/rg/spawn", {
          resource_definition_name: n,
          volume_sizes: [1024],
        }),
        201,
      );
    }
    const del = await fetch(`${sim.url}/v1/resource-definitions/k-2`, { method: "DELETE" });
    await del.body?.cancel();
    assert.equal(del.status, 200);
    // the journal holds the changes: the snapshot written at start has none of them
    const snap = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
    assert.deepEqual(snap.rds, []);
    await stopCli(sim.child, "SIGKILL");

    // a torn line at the end (a process killed in the middle of a write) is ignored
    await Deno.writeTextFile(join(dir, "journal.jsonl"), '{"rds":{"K-9":{"na', { append: true });
    assert.deepEqual((await loadState(dir))!.rds.map((r) => r.name).sort(), ["k-1", "k-3"]);

    sim = await startCli(dir);
    assert.deepEqual(await names(sim.url), ["k-1", "k-3"]);
    // the replica layout came back too (resources, ports), not only the names
    const view = await fetch(`${sim.url}/v1/view/resources?resources=k-3`);
    assert.equal(((await view.json()) as unknown[]).length, 3, "2 replicas + tie-breaker");
    assert.equal(
      await post(sim.url, "/v1/resource-groups/rg/spawn", {
        resource_definition_name: "k-4",
        volume_sizes: [1024],
      }),
      201,
    );
    await stopCli(sim.child, "SIGTERM");
    // a clean stop: everything in the snapshot, the journal empty
    const st = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
    assert.deepEqual(st.rds.map((r: { name: string }) => r.name).sort(), ["k-1", "k-3", "k-4"]);
    assert.equal(await Deno.readTextFile(join(dir, "journal.jsonl")), "");
  });

  it("rolls a refused request back completely (nothing journaled, nothing half-made)", async () => {
    const dir = join(root, "rollback");
    const sim = await startCli(dir);
    try {
      // two resources in one request, the second on an unknown node: none is created
      assert.equal(
        await post(sim.url, "/v1/resource-definitions", { resource_definition: { name: "rb" } }),
        201,
      );
      const st = await post(sim.url, "/v1/resource-definitions/rb/resources", [
        { resource: { node_name: "n1" } },
        { resource: { node_name: "nope" } },
      ]);
      assert.equal(st, 404);
      const r = await fetch(`${sim.url}/v1/view/resources?resources=rb`);
      assert.deepEqual(await r.json(), []);
    } finally {
      await stopCli(sim.child, "SIGKILL");
    }
    const saved = (await loadState(dir))!;
    assert.deepEqual(saved.rds.find((x) => x.name === "rb")?.rscs, []);
  });
});

describe("LINSTOR simulator: files and device links follow the definitions' shape (issue 15)", () => {
  it("a change of properties leaves them as they are; a change of shape makes them again", async () => {
    const root = await Deno.makeTempDir({ prefix: "oneblk-simshape-" });
    const sim = await startLinstorSim({
      stateDir: join(root, "state"),
      hostsRoot: join(root, "hosts"),
      resourceGroups: [{ name: "rg", placeCount: 2 }],
      cloneDurationMs: 0,
    });
    const send = async (method: string, path: string, body: unknown) => {
      const r = await fetch(sim.url + path, {
        method,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      await r.body?.cancel();
      assert.ok(r.status < 300, `${method} ${path}: ${r.status}`);
    };
    try {
      await send("POST", "/v1/resource-definitions", {
        resource_definition: { name: "R1", resource_group_name: "rg" },
      });
      await send("POST", "/v1/resource-definitions/R1/volume-definitions", {
        volume_definition: { size_kib: 1024 },
      });
      await send("POST", "/v1/resource-definitions/R1/resources/alpha", {
        resource: { node_name: "alpha" },
      });
      const link = join(root, "hosts", "alpha", "dev", "drbd", "by-res", "R1", "0");
      const target = await Deno.readLink(link);
      // taken away by hand: a change of properties does not look at the disk
      await Deno.remove(link);
      await send("PUT", "/v1/resource-definitions/R1", {
        override_props: { "DrbdOptions/Net/allow-two-primaries": "yes" },
      });
      await assert.rejects(Deno.lstat(link), Deno.errors.NotFound);
      // a change of shape (a replica more) makes every file and link of the definition again
      await send("POST", "/v1/resource-definitions/R1/resources/bravo", {
        resource: { node_name: "bravo" },
      });
      assert.equal(await Deno.readLink(link), target);
      assert.equal(
        await Deno.readLink(join(root, "hosts", "bravo", "dev", "drbd", "by-res", "R1", "0")),
        target,
      );
    } finally {
      await sim.stop();
      await Deno.remove(root, { recursive: true });
    }
  });

  it("filesShape: the same across properties and flags, another for size, replicas, snapshots", () => {
    const rd = (over: Partial<SimRd> = {}): SimRd => ({
      name: "R1",
      rg: "rg",
      props: {},
      flags: [],
      port: 7000,
      vds: [{ nr: 0, sizeKib: 1024, props: {}, flags: [], minor: 1000, uuid: "v" }],
      rscs: [],
      snaps: [],
      created: 0,
      uuid: "u",
      ...over,
    });
    const base = filesShape(rd());
    assert.ok(base !== null);
    assert.equal(filesShape(rd({ props: { "DrbdOptions/Net/allow-two-primaries": "yes" } })), base);
    assert.equal(filesShape(rd({ flags: ["DELETE"] })), base);
    const vd = rd().vds[0];
    assert.notEqual(filesShape(rd({ vds: [{ ...vd, sizeKib: 2048 }] })), base);
    assert.notEqual(filesShape(rd({ vds: [{ ...vd, minor: 1001 }] })), base);
    const rsc = {
      node: "alpha",
      pool: "DfltStorPool",
      diskless: false,
      tieBreaker: false,
      client: false,
      props: {},
      nodeId: 0,
      created: 0,
      uuid: "r",
    } as SimRd["rscs"][number];
    const placed = filesShape(rd({ rscs: [rsc] }));
    assert.notEqual(placed, base);
    assert.equal(filesShape(rd({ rscs: [{ ...rsc, props: { a: "b" } }] })), placed);
    assert.notEqual(filesShape(rd({ rscs: [{ ...rsc, diskless: true }] })), placed);
    assert.notEqual(filesShape(rd({ rscs: [{ ...rsc, inactive: true }] })), placed);
    assert.notEqual(
      filesShape(rd({ snaps: [{ name: "s1" } as SimRd["snaps"][number]] })),
      base,
    );
    // a volume waiting for its adoption is looked for again at every change
    assert.equal(filesShape(rd({ vds: [{ ...vd, props: { [OVERRIDE_VLM_ID]: "vol" } }] })), null);
    assert.ok(
      filesShape(
        rd({ vds: [{ ...vd, props: { [OVERRIDE_VLM_ID]: "vol" }, adoptedFrom: "alpha" }] }),
      ),
    );
  });
});

/**
 * The LINSTOR simulator's state on disk (issue 11 item 10): every answered change survives a
 * killed simulator process (journal written before the reply), a torn journal line is
 * ignored, and a clean stop folds the journal into the snapshot.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadState } from "../../tools/sim/linstor/persistence.ts";

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

/**
 * Benchmark of the LINSTOR backend against the simulator: per Backend operation the median
 * and p95 wall time and the REST requests it made (median over iterations).
 */
import { join } from "node:path";
import { type BenchRow, benchTimer } from "../common.ts";
import { createLinstorBackend } from "../../../lib/backend/linstor/backend.ts";
import type { Backend } from "../../../lib/backend/types.ts";
import type { LinstorPlacement as Placement } from "../../../lib/backend/linstor/index.ts";
import { startLinstorSim } from "./server.ts";
import { listUsage } from "../../../lib/backend/usage.ts";

export type { BenchRow };

/**
 * Run every Backend operation `iterations` times against a simulated LINSTOR controller that
 * answers each REST request after `latencyMs`. Rows come in a fixed order (create … delete).
 */
export async function benchLinstorBackend(
  opts: { latencyMs: number; iterations: number },
): Promise<BenchRow[]> {
  const root = await Deno.makeTempDir({ prefix: "oneblk-lsbench-" });
  const sim = await startLinstorSim({
    latencyMs: opts.latencyMs,
    stateDir: join(root, "linstor"),
    hostsRoot: join(root, "hosts"),
    resourceGroups: [{ name: "one_rg", placeCount: 2 }],
    cloneDurationMs: 0,
  });
  const be: Backend = createLinstorBackend({ controllers: sim.url });
  const placement: Placement = { group: "one_rg" };
  const timer = benchTimer(() => be.stats.requests);
  const time = timer.time;
  try {
    for (let i = 0; i < opts.iterations; i++) {
      const v = `OpenNebula-Image-${i}`;
      const c = `${v}-vm7-disk0`;
      const snap = "OpenNebula-Snap-0";
      await time("createVolume", () => be.createVolume(v, 64, { placement }));
      await time("getVolume", () => be.getVolume(v));
      await time("setProps", () => be.setProps(v, { VM_ID: "7", DISK_ID: "0", DS_ID: "0" }));
      await time("resizeVolume", () => be.resizeVolume(v, 128));
      await time("attach", () => be.attach(v, "delta"));
      await time("attachments", () => be.attachments(v));
      await time("setDualPrimary", () => be.setDualPrimary(v, true));
      await time("detach", () => be.detach(v, "delta"));
      await time("createSnapshot", () => be.createSnapshot(v, snap));
      await time("listSnapshots", () => be.listSnapshots(v));
      await time(
        "cloneVolume",
        () => be.cloneVolume(v, c, { placement, sizeMiB: 256, props: { VM_ID: "7", DS_ID: "0" } }),
      );
      await time(
        "createSnapshots",
        () =>
          be.createSnapshots([
            { volume: v, snapshot: "OpenNebula-Snap-1" },
            { volume: c, snapshot: "OpenNebula-Snap-1" },
          ]),
      );
      await time("rollbackSnapshot", () => be.rollbackSnapshot(v, snap));
      await time("listUsage", () => listUsage(be, { DS_ID: "0" }));
      await time("capacity", () => be.capacity(placement));
      await time("deleteSnapshot", () => be.deleteSnapshot(v, snap));
      await be.deleteSnapshot(c, "OpenNebula-Snap-1");
      await time("renameVolume", () => be.renameVolume(c, `${c}-old`));
      await time("deleteVolume", () => be.deleteVolume(v));
      await be.deleteVolume(c);
      await be.deleteVolume(`${c}-old`);
    }
  } finally {
    await be.close();
    await sim.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return timer.rows();
}

/** One row of the simulator's own scale benchmark. */
export interface ScaleRow {
  /** What was measured, e.g. `create (spawn, 2 replicas + tie-breaker)`. */
  op: string;
  /** Resource definitions in the simulator while measuring. */
  definitions: number;
  /** Wall time of the whole operation (median for repeated queries). */
  ms: number;
  /** Requests the operation took. */
  requests: number;
  /** Objects returned (listings) or created. */
  items: number;
}

/**
 * The simulator at scale (issue 11 item 10): `count` resource definitions spawned through
 * REST (each: definition, volume, 2 diskful replicas and a tie-breaker; `concurrency` clients
 * at a time), then `GET /v1/view/resources` filtered the way the driver asks (one resource;
 * one resource on one node) and unfiltered by resource (every resource of a node), then a
 * restart that loads the whole state. Timings only: it never fails on them.
 */
export async function benchLinstorScale(
  opts: { count: number; concurrency?: number },
): Promise<ScaleRow[]> {
  const root = await Deno.makeTempDir({ prefix: "oneblk-lsscale-" });
  const stateDir = join(root, "linstor");
  const rows: ScaleRow[] = [];
  const json = { "content-type": "application/json" };
  let sim = await startLinstorSim({
    stateDir,
    resourceGroups: [{ name: "scale_rg", placeCount: 2 }],
  });
  try {
    const t0 = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < opts.count) {
        const i = next++;
        const r = await fetch(`${sim.url}/v1/resource-groups/scale_rg/spawn`, {
          method: "POST",
          headers: json,
          body: JSON.stringify({ resource_definition_name: `scale-${i}`, volume_sizes: [1024] }),
        });
        await r.body?.cancel();
        if (r.status !== 201) throw new Error(`spawn scale-${i}: HTTP ${r.status}`);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
    rows.push({
      op: "create: spawn (definition, volume, 2 replicas, tie-breaker)",
      definitions: opts.count,
      ms: round(performance.now() - t0),
      requests: opts.count,
      items: opts.count,
    });
    const mid = `scale-${Math.floor(opts.count / 2)}`;
    const where = await fetch(`${sim.url}/v1/view/resources?resources=${mid}`);
    const node = ((await where.json()) as { node_name: string }[])[0]?.node_name ?? "alpha";
    const query = async (op: string, q: string, times: number) => {
      const ms: number[] = [];
      let items = 0;
      for (let i = 0; i < times; i++) {
        const t = performance.now();
        const r = await fetch(`${sim.url}/v1/view/resources?${q}`);
        items = ((await r.json()) as unknown[]).length;
        ms.push(performance.now() - t);
      }
      ms.sort((a, b) => a - b);
      rows.push({ op, definitions: opts.count, ms: round(ms[ms.length >> 1]), requests: 1, items });
    };
    await query("list: view/resources?resources=<one>", `resources=${mid}`, 21);
    await query(
      "list: view/resources?resources=<one>&nodes=<node>",
      `resources=${mid}&nodes=${node}`,
      21,
    );
    await query("list: view/resources?nodes=<node> (unfiltered by name)", `nodes=${node}`, 3);
    await sim.stop();
    const t1 = performance.now();
    sim = await startLinstorSim({ stateDir });
    rows.push({
      op: "restart: load the state",
      definitions: opts.count,
      ms: round(performance.now() - t1),
      requests: 0,
      items: sim.controller.state.rds.length,
    });
  } finally {
    await sim.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return rows;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

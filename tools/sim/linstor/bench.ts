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
      await time("listUsage", () => be.listUsage({ DS_ID: "0" }));
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

/**
 * Benchmark of the StorPool backend against the simulator: per Backend operation the median
 * and p95 wall time and the REST requests it made (median over iterations).
 */
import { join } from "node:path";
import { type BenchRow, benchTimer } from "../common.ts";
import { createStorpoolBackend } from "../../../lib/backend/storpool/backend.ts";
import { createClientIdResolver } from "../../../lib/backend/storpool/config.ts";
import type { Backend } from "../../../lib/backend/types.ts";
import type { StorpoolPlacement as Placement } from "../../../lib/backend/storpool/index.ts";
import { startStorpoolSim } from "./server.ts";
import { listUsage } from "../../../lib/backend/usage.ts";

export type { BenchRow };

/**
 * Run every Backend operation `iterations` times against a simulator answering each API
 * request after `latencyMs`. Rows come in a fixed order (create … delete).
 */
export async function benchStorpoolBackend(
  opts: { latencyMs: number; iterations: number },
): Promise<BenchRow[]> {
  const root = await Deno.makeTempDir({ prefix: "oneblk-spbench-" });
  const hosts = ["alpha", "bravo"];
  const sim = await startStorpoolSim({
    clients: { alpha: 1, bravo: 2 },
    templates: [{ name: "one-ds-100", capacityGiB: 1024, replication: 3 }],
    latencyMs: opts.latencyMs,
    stateDir: join(root, "storpool"),
    hostsRoot: join(root, "hosts"),
  });
  const resolver = createClientIdResolver({
    hostAttr: (h) => Promise.resolve(String(hosts.indexOf(h) + 1)),
  });
  const be: Backend = createStorpoolBackend(
    { host: "127.0.0.1", port: sim.port, token: sim.token, delayDeleteSeconds: 3600 },
    { clientIdOf: resolver.clientIdOf },
  );
  const placement: Placement = { group: "one-ds-100", qos: "tier1" };
  const timer = benchTimer(() => be.stats.requests);
  const time = timer.time;
  try {
    for (let i = 0; i < opts.iterations; i++) {
      const v = `one-img-${i}`;
      const c = `one-img-${i}-7-0`;
      const snap = `${v}-snap0`;
      await time(
        "createVolume",
        () => be.createVolume(v, 64, { placement, props: { virt: "one", nloc: "one" } }),
      );
      await time("getVolume", () => be.getVolume(v));
      await time("setProps", () => be.setProps(v, { nvm: "7", diskid: "0", type: "PERS" }));
      await time("resizeVolume", () => be.resizeVolume(v, 128));
      await time("attach", () => be.attach(v, "alpha"));
      await time("attachments", () => be.attachments(v));
      await time("setDualPrimary", () => be.setDualPrimary(v, true));
      await time("detach", () => be.detach(v, "alpha"));
      await time("createSnapshot", () => be.createSnapshot(v, snap));
      await time("listSnapshots", () => be.listSnapshots(v));
      await time("cloneVolume", () => be.cloneVolume(v, c, { placement, sizeMiB: 256 }));
      await time(
        "createSnapshots",
        () =>
          be.createSnapshots([
            { volume: v, snapshot: `${v}-ONESNAP-0-${i}` },
            { volume: c, snapshot: `${c}-ONESNAP-0-${i}` },
          ]),
      );
      await time("rollbackSnapshot", () => be.rollbackSnapshot(v, snap));
      await time("listUsage", () => listUsage(be, { virt: "one", nloc: "one" }));
      await time("capacity", () => be.capacity(placement));
      await time("renameVolume", () => be.renameVolume(c, `${c}-old`));
      await time("deleteSnapshot", () => be.deleteSnapshot(v, snap));
      await time("deleteVolume", () => be.deleteVolume(v));
      await be.deleteVolume(`${c}-old`);
    }
  } finally {
    await be.close();
    await sim.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  return timer.rows();
}

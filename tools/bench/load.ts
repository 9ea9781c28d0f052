/**
 * oned's load: 15 concurrent operations (its default `-t 15`) and big images.
 *
 * - Concurrency: instantiate (tm clone) then terminate (tm delete) `ops` VMs, 15 at a time:
 *   throughput, errors, and the memory of all driver processes at their peak (summed RSS, which
 *   counts the deno executable's shared pages once per process, and summed PSS, which does not).
 * - Throughput: import a 1 GiB image (datastore cp from a local file) and clone it into a VM
 *   disk (tm clone), MiB/s of each.
 */
import { join } from "node:path";
import { ScriptedOned } from "../sim/oned/scripted_oned.ts";
import type { DriverCall, ProfileName } from "../sim/oned/scripted_oned.ts";
import type { Cluster } from "../sim/cluster.ts";
import { errorLine } from "../../lib/errors.ts";
import { type GroupMemory, log, MemorySampler, r2 } from "./measure.ts";

const MiB = 1024 * 1024;

/** One concurrent batch. */
export interface ConcurrencyRow {
  profile: ProfileName;
  operation: string;
  operations: number;
  concurrency: number;
  driverCalls: number;
  wallMs: number;
  /** Driver calls per second. */
  throughput: number;
  errors: number;
  rest: number;
  ssh: number;
  /** All driver processes at the moment their summed PSS peaked. */
  memory: GroupMemory;
}

/** One big-image operation. */
export interface ThroughputRow {
  profile: ProfileName;
  operation: string;
  MiB: number;
  wallMs: number;
  MiBps: number;
  /** The highest peak RSS among the driver programs it ran (MiB), and which one. */
  peakMiB?: number;
  peakAction?: string;
  ok: boolean;
}

/** The highest peak among `calls` that were metered, and whose. */
function peakOf(calls: DriverCall[]): { peakMiB?: number; peakAction?: string } {
  let top: DriverCall | undefined;
  for (const c of calls) {
    if (c.usage && (!top || c.usage.maxrssKiB > top.usage!.maxrssKiB)) top = c;
  }
  return top
    ? { peakMiB: r2(top.usage!.maxrssKiB / 1024), peakAction: `${top.kind}/${top.script}` }
    : {};
}

async function pool(n: number, width: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  let errors = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        errors++;
        log(`  concurrent operation ${i}: ${errorLine(e)}`);
      }
    }
  }));
  return errors;
}

async function statsSince(c: Cluster, from: number) {
  const lines = (await c.stats()).slice(from);
  return {
    count: lines.length,
    rest: lines.reduce((n, l) => n + l.rest, 0),
    ssh: lines.reduce((n, l) => n + l.ssh, 0),
  };
}

/** 15-wide instantiate and terminate batches per profile. */
export async function benchConcurrency(
  ops: number,
  profiles: ProfileName[],
  env: Record<string, string>,
  phases: ("instantiate" | "terminate")[] = ["instantiate", "terminate"],
): Promise<ConcurrencyRow[]> {
  const width = 15;
  const rows: ConcurrencyRow[] = [];
  for (const profile of profiles) {
    log(`concurrency: ${profile}, ${ops} operations, ${width} at a time`);
    const s = await ScriptedOned.start({ profile, latencyMs: 0, env, meter: true });
    try {
      const src = join(s.cluster.root, "bench.raw");
      await Deno.writeFile(src, new Uint8Array(4 * MiB).fill(7));
      const img = await s.registerImage({ name: "bench", path: src });
      const hosts = ["bravo", "charlie", "delta"];
      const vms: number[] = [];
      const phase = async (operation: string, fn: (i: number) => Promise<void>) => {
        const from = (await s.cluster.stats()).length;
        const mem = new MemorySampler(`ONEBLK_SIM_ROOT=${s.cluster.root}`);
        mem.start();
        const t0 = performance.now();
        const errors = await pool(ops, width, fn);
        const wallMs = performance.now() - t0;
        const memory = await mem.stop();
        const st = await statsSince(s.cluster, from);
        rows.push({
          profile,
          operation,
          operations: ops,
          concurrency: width,
          driverCalls: st.count,
          wallMs: r2(wallMs),
          throughput: r2(st.count / (wallMs / 1000)),
          errors,
          rest: st.rest,
          ssh: st.ssh,
          memory,
        });
      };
      await phase("instantiate (tm clone)", async (i) => {
        const vm = await s.instantiate({
          host: hosts[i % hosts.length],
          disks: [{ image: img.id }],
          context: false,
        });
        vms.push(vm.id);
      });
      if (phases.includes("terminate")) {
        const list = [...vms];
        await phase("terminate (tm delete)", async (i) => {
          if (list[i] !== undefined) await s.terminate(list[i]);
        });
      }
    } finally {
      await s.close();
    }
  }
  return rows;
}

/** Import an image of `mib` MiB and clone it into a VM disk, per profile. */
export async function benchThroughput(
  mib: number,
  profiles: ProfileName[],
  env: Record<string, string>,
): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const profile of profiles) {
    log(`throughput: ${profile}, ${mib} MiB image`);
    const s = await ScriptedOned.start({ profile, latencyMs: 0, env, meter: true });
    try {
      const src = join(s.cluster.root, "big.raw");
      const f = await Deno.open(src, { write: true, create: true, truncate: true });
      try {
        const block = new Uint8Array(4 * MiB);
        for (let i = 0; i < block.length; i += 4096) block[i] = (i / 4096) & 0xff;
        for (let done = 0; done < mib; done += 4) {
          block[0] = done & 0xff; // no two blocks alike
          await f.write(block.subarray(0, Math.min(4, mib - done) * MiB));
        }
      } finally {
        f.close();
      }
      let t0 = performance.now();
      let from = s.calls.length;
      let ok = true;
      let imgId = -1;
      try {
        imgId = (await s.registerImage({ name: "big", path: src })).id;
      } catch (e) {
        ok = false;
        log(`  ${profile} import: ${errorLine(e)}`);
      }
      let ms = performance.now() - t0;
      rows.push({
        profile,
        operation: "import (datastore stat + cp)",
        MiB: mib,
        wallMs: r2(ms),
        MiBps: r2(mib / (ms / 1000)),
        ...peakOf(s.calls.slice(from)),
        ok,
      });
      if (!ok) continue;
      t0 = performance.now();
      from = s.calls.length;
      try {
        await s.instantiate({ host: "bravo", disks: [{ image: imgId }], context: false });
      } catch (e) {
        ok = false;
        log(`  ${profile} clone: ${errorLine(e)}`);
      }
      ms = performance.now() - t0;
      rows.push({
        profile,
        operation: "instantiate (tm clone)",
        MiB: mib,
        wallMs: r2(ms),
        MiBps: r2(mib / (ms / 1000)),
        ...peakOf(s.calls.slice(from)),
        ok,
      });
    } finally {
      await s.close();
    }
  }
  return rows;
}

/**
 * Test fixtures for the LINSTOR tests: a simulated cluster root with a running LINSTOR
 * simulator (recording every exchange), the simulated host runner and a backend.
 */
import { join } from "node:path";
import { createLinstorBackend, type LinstorConfig } from "../../lib/backend/linstor/backend.ts";
import type { Backend } from "../../lib/backend/types.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import {
  type LinstorSim,
  type LinstorSimOptions,
  type SimExchange,
  startLinstorSim,
} from "../../lib/sim/linstor/server.ts";

/** A running fixture. */
export interface Cluster {
  root: string;
  sim: LinstorSim;
  hosts: SimRunner;
  be: Backend;
  exchanges: SimExchange[];
  /** Path of `path` on simulated host `host`. */
  hostPath(host: string, path: string): string;
  close(): Promise<void>;
}

/** Start a simulator under a fresh temp root and a backend talking to it. */
export async function startCluster(
  simOpts: LinstorSimOptions = {},
  cfg: Partial<LinstorConfig> = {},
): Promise<Cluster> {
  const root = await Deno.makeTempDir({ prefix: "oneblk-linstor-test-" });
  const exchanges: SimExchange[] = [];
  const sim = await startLinstorSim({
    stateDir: join(root, "linstor"),
    hostsRoot: join(root, "hosts"),
    resourceGroups: [{ name: "one_rg", placeCount: 2 }],
    cloneDurationMs: 30,
    record: (ex) => exchanges.push(ex),
    ...simOpts,
  });
  const hosts = new SimRunner(root);
  const be = createLinstorBackend({ controllers: sim.url, timeoutMs: 10_000, ...cfg }, { hosts });
  return {
    root,
    sim,
    hosts,
    be,
    exchanges,
    hostPath: (host, path) => join(root, "hosts", host, path),
    async close() {
      await be.close();
      await sim.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** Write bytes at offset into a file (through symlinks). */
export async function writeAt(path: string, offset: number, data: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    let w = 0;
    while (w < data.length) w += await f.write(data.subarray(w));
  } finally {
    f.close();
  }
}

/** Read `len` bytes at offset from a file (through symlinks). */
export async function readAt(path: string, offset: number, len: number): Promise<Uint8Array> {
  const f = await Deno.open(path, { read: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(len);
    let r = 0;
    while (r < len) {
      const n = await f.read(buf.subarray(r));
      if (n === null) break;
      r += n;
    }
    return buf.subarray(0, r);
  } finally {
    f.close();
  }
}

/** A deterministic pattern of `len` bytes. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A free TCP port nobody listens on (for "controller down"). */
export function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Count exchanges of a method whose path matches. */
export function countCalls(ex: SimExchange[], method: string, path: RegExp): number {
  return ex.filter((e) => e.method === method && path.test(e.path)).length;
}

/**
 * Test fixtures for the LINSTOR tests: a simulated cluster root with a running LINSTOR
 * simulator (recording every exchange), the simulated host runner and a backend.
 */
import { join } from "node:path";
import { createLinstorBackend, type LinstorConfig } from "../../lib/backend/linstor/backend.ts";
import type { Backend } from "../../lib/backend/types.ts";
import type { LinstorPlacement } from "../../lib/backend/linstor/index.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import {
  type LinstorSim,
  type LinstorSimOptions,
  type SimExchange,
  startLinstorSim,
} from "../../tools/sim/linstor/server.ts";
import { lcgBytes } from "../support/bytes.ts";
import { parseJsonLossless } from "../../lib/backend/linstor/api_call_rc.ts";
import { readAt, writeAt } from "../support/files.ts";

export { readAt, writeAt };

/** A running fixture. */
export interface Cluster {
  root: string;
  sim: LinstorSim;
  hosts: SimRunner;
  be: Backend<LinstorPlacement>;
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

/** A deterministic pattern of `len` bytes. */
export function pattern(len: number, seed: number): Uint8Array {
  return lcgBytes(len, seed);
}

/** A free TCP port nobody listens on (for "controller down"). */
export function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Make the next native clone and the next snapshot restore fail (HTTP error once each), so a
 * clone has to take its last fallback (block copy).
 */
export function failCloneAndRestoreOnce(sim: LinstorSim): void {
  sim.addFault({ method: "POST", path: "/clone$", action: "error", times: 1 });
  sim.addFault({
    method: "POST",
    path: "/snapshot-restore-resource/",
    action: "error",
    times: 1,
  });
}

/** Count exchanges of a method whose path matches. */
export function countCalls(ex: SimExchange[], method: string, path: RegExp): number {
  return ex.filter((e) => e.method === method && path.test(e.path)).length;
}

/** One ApiCallRc entry of a simulator reply (its ret_code exact, as a BigInt). */
export interface SimEntry {
  ret_code: bigint;
  message: string;
  cause?: string;
  details?: string;
  correction?: string;
  obj_refs?: Record<string, string>;
  error_report_ids?: string[];
}

/**
 * One REST call to the simulator: the HTTP status, the reply read with the project's lossless
 * JSON parse, and its ApiCallRc entries when it is a list (else none).
 */
export async function simCall(
  sim: LinstorSim,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; entries: SimEntry[]; data: unknown }> {
  const r = await fetch(sim.url + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  const data = text ? parseJsonLossless(text) : null;
  return { status: r.status, entries: Array.isArray(data) ? data : [], data };
}

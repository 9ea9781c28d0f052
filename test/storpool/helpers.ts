/**
 * Test fixtures for the StorPool backend: a simulator under a temp simulation root with hosts
 * alpha (client 1) and bravo (client 2), and backends talking to it over real HTTP.
 */
import { join } from "node:path";
import { createStorpoolBackend } from "../../lib/backend/storpool/backend.ts";
import {
  type ClientIdResolver,
  createClientIdResolver,
  type StorpoolConfig,
} from "../../lib/backend/storpool/config.ts";
import type { Backend } from "../../lib/backend/types.ts";
import type { StorpoolPlacement as Placement } from "../../lib/backend/storpool/index.ts";
import { startStorpoolSim, type StorpoolSim } from "../../tools/sim/storpool/server.ts";
import { readAt, writeAt } from "../support/files.ts";

export { readAt, writeAt };

/** The template every test volume goes to. */
export const TEMPLATE = "one-ds-100";
/** Placement with a QoS class. */
export const PLACEMENT: Placement = { group: TEMPLATE, qos: "gold" };
/** Capacity of the test template. */
export const CAPACITY_GIB = 4;

/** A simulator plus a backend. */
export interface SpEnv {
  root: string;
  sim: StorpoolSim;
  resolver: ClientIdResolver;
  backend: Backend;
  /** Another backend on the same sim with config overrides (closed by close()). */
  backendWith(over: Partial<StorpoolConfig>): Backend;
  /** Host alpha/bravo path of a device. */
  devPath(host: string, volume: string): string;
  /** JSON of GET /_sim/<path> or POST with a body. */
  control(path: string, body?: unknown, method?: string): Promise<unknown>;
  close(): Promise<void>;
}

/** Start a simulator with hosts alpha=1, bravo=2 and template one-ds-100. */
export async function startEnv(
  opts: { latencyMs?: number; cfg?: Partial<StorpoolConfig> } = {},
): Promise<SpEnv> {
  const root = await Deno.makeTempDir({ prefix: "oneblk-sptest-" });
  for (const h of ["alpha", "bravo"]) await Deno.mkdir(join(root, "hosts", h), { recursive: true });
  const sim = await startStorpoolSim({
    clients: { alpha: 1, bravo: 2 },
    templates: [{
      name: TEMPLATE,
      capacityGiB: CAPACITY_GIB,
      replication: 3,
      placeAll: "hdd",
      placeTail: "ssd",
    }],
    latencyMs: opts.latencyMs,
    stateDir: join(root, "storpool"),
    hostsRoot: join(root, "hosts"),
  });
  const ids: Record<string, string> = { alpha: "1", bravo: "2" };
  const resolver = createClientIdResolver({
    hostAttr: (h) => Promise.resolve(ids[h]),
    confPath: join(root, "fe", "storpool.conf"),
    confDir: join(root, "fe", "storpool.conf.d"),
  });
  const base: StorpoolConfig = {
    host: "127.0.0.1",
    port: sim.port,
    token: sim.token,
    retryDelayMs: 5,
    ...opts.cfg,
  };
  const extra: Backend[] = [];
  const backend = createStorpoolBackend(base, { clientIdOf: resolver.clientIdOf });
  return {
    root,
    sim,
    resolver,
    backend,
    backendWith(over) {
      const b = createStorpoolBackend({ ...base, ...over }, { clientIdOf: resolver.clientIdOf });
      extra.push(b);
      return b;
    },
    devPath: (host, volume) => join(root, "hosts", host, "dev", "storpool", volume),
    async control(path, body, method) {
      const res = await fetch(`${sim.url}/_sim/${path}`, {
        method: method ?? (body === undefined ? "GET" : "POST"),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await res.json();
    },
    async close() {
      for (const b of [backend, ...extra]) await b.close();
      await sim.stop();
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Bytes of a pattern for data checks. */
export function pattern(seed: number, size = 4096): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

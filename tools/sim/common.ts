/** Small pieces the simulators and their benchmarks share (removeFile: the bundle build too). */
import { join } from "node:path";
import { OneblkError } from "../../lib/errors.ts";

/** Remove a file (with `recursive`, also a directory and what it holds); a missing one is fine. */
export async function removeFile(path: string, opts?: Deno.RemoveOptions): Promise<void> {
  try {
    await Deno.remove(path, opts);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** One backend benchmark row. */
export interface BenchRow {
  op: string;
  medianMs: number;
  p95Ms: number;
  /** REST requests of one call (median). */
  rest: number;
}

/** The q-quantile (0..1) of an ascending array (nearest rank); 0 when empty. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

/** Collects per-operation samples of a backend benchmark and turns them into BenchRows. */
export interface BenchTimer {
  /** Run `fn` once, recording its wall time and the REST requests it made under `op`. */
  time(op: string, fn: () => Promise<unknown>): Promise<void>;
  /** One row per operation, in the order each was first timed (ms rounded to 0.01). */
  rows(): BenchRow[];
}

/** A BenchTimer whose REST request count is read from `requests()` (e.g. `be.stats.requests`). */
export function benchTimer(requests: () => number): BenchTimer {
  const samples = new Map<string, { ms: number[]; rest: number[] }>();
  return {
    async time(op, fn) {
      const before = requests();
      const t0 = performance.now();
      await fn();
      const ms = performance.now() - t0;
      const s = samples.get(op) ?? { ms: [], rest: [] };
      s.ms.push(ms);
      s.rest.push(requests() - before);
      samples.set(op, s);
    },
    rows() {
      const rows: BenchRow[] = [];
      for (const [op, s] of samples) {
        const ms = [...s.ms].sort((a, b) => a - b);
        const rest = [...s.rest].sort((a, b) => a - b);
        rows.push({
          op,
          medianMs: Math.round(quantile(ms, 0.5) * 100) / 100,
          p95Ms: Math.round(quantile(ms, 0.95) * 100) / 100,
          rest: quantile(rest, 0.5),
        });
      }
      return rows;
    },
  };
}

/** Print a simulator's endpoint as one JSON line, serve until SIGINT/SIGTERM, then stop it. */
export async function serveUntilSignal(
  info: Record<string, unknown>,
  stop: () => Promise<void>,
): Promise<number> {
  console.log(JSON.stringify(info));
  const { promise, resolve } = Promise.withResolvers<void>();
  const onSignal = () => resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await promise;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await stop();
  }
  return 0;
}

/** node:util parseArgs options every `oneblk sim <store>` command takes. */
export const SIM_CLI_OPTIONS = {
  port: { type: "string" },
  "latency-ms": { type: "string" },
  "state-dir": { type: "string" },
  "hosts-root": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The checked values of SIM_CLI_OPTIONS (help aside). */
export interface SimCliValues {
  /** 0 (ephemeral) when --port is not given. */
  port: number;
  latencyMs: number;
  stateDir?: string;
  /** --hosts-root, else `$ONEBLK_SIM_ROOT/hosts` when ONEBLK_SIM_ROOT is set. */
  hostsRoot?: string;
}

/** Check --port and --latency-ms and default --hosts-root; throws a usage OneblkError. */
export function simCliValues(
  values: { port?: string; "latency-ms"?: string; "state-dir"?: string; "hosts-root"?: string },
): SimCliValues {
  const port = values.port === undefined ? 0 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new OneblkError("usage", `--port: '${values.port}' is not a port`);
  }
  const latency = values["latency-ms"] === undefined ? 0 : Number(values["latency-ms"]);
  if (!Number.isFinite(latency) || latency < 0) {
    throw new OneblkError("usage", `--latency-ms: '${values["latency-ms"]}' is not a number`);
  }
  const simRoot = Deno.env.get("ONEBLK_SIM_ROOT");
  return {
    port,
    latencyMs: latency,
    stateDir: values["state-dir"],
    hostsRoot: values["hosts-root"] ?? (simRoot ? join(simRoot, "hosts") : undefined),
  };
}

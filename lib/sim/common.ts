/** Small pieces the simulators and their benchmarks share. */

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

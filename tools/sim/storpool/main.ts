/**
 * `oneblk sim storpool` — run the StorPool API simulator in the foreground.
 *
 *   oneblk sim storpool --port N [--token T] [--clients alpha=1,bravo=2]
 *     [--template NAME:SIZE_GIB[:replication]]… [--latency-ms N] [--state-dir D]
 *     [--hosts-root D]
 *
 * Prints one JSON line `{"url","port","token","stateDir","hostsRoot"}` on stdout once
 * listening, then serves until SIGINT/SIGTERM. `--hosts-root` defaults to
 * `$ONEBLK_SIM_ROOT/hosts` when ONEBLK_SIM_ROOT is set. Without `--token` a random token is
 * generated (and printed, since the caller needs it).
 */
import { serveUntilSignal, SIM_CLI_OPTIONS, simCliValues } from "../common.ts";
import { parseArgs } from "node:util";
import { OneblkError } from "../../../lib/errors.ts";
import type { SimTemplateSpec } from "./model.ts";
import { startStorpoolSim } from "./server.ts";

/** Parse `alpha=1,bravo=2` into a client map. */
export function parseClients(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^=\s]+)=(\d+)$/.exec(part);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 4095) {
      throw new OneblkError("usage", `--clients: '${part}' is not host=id (id 1..4095)`);
    }
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Parse `NAME:SIZE_GIB[:replication]`. */
export function parseTemplate(spec: string): SimTemplateSpec {
  const m = /^([A-Za-z0-9_\-]+):(\d+(?:\.\d+)?)(?::([123]))?$/.exec(spec.trim());
  if (!m) {
    throw new OneblkError("usage", `--template: '${spec}' is not NAME:SIZE_GIB[:replication]`);
  }
  return {
    name: m[1],
    capacityGiB: Number(m[2]),
    replication: m[3] ? Number(m[3]) : undefined,
  };
}

/** Entry point of `oneblk sim storpool …`; resolves with the exit code after a signal. */
export async function storpoolSimMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...SIM_CLI_OPTIONS,
      token: { type: "string" },
      clients: { type: "string" },
      template: { type: "string", multiple: true },
    },
  });
  if (values.help) {
    console.log(
      "usage: oneblk sim storpool --port N [--token T] [--clients alpha=1,bravo=2] " +
        "[--template NAME:SIZE_GIB[:replication]] [--latency-ms N] [--state-dir D] " +
        "[--hosts-root D]",
    );
    return 0;
  }
  const { port, latencyMs, stateDir, hostsRoot } = simCliValues(values);
  const sim = await startStorpoolSim({
    port,
    token: values.token,
    clients: values.clients ? parseClients(values.clients) : undefined,
    templates: (values.template ?? []).map(parseTemplate),
    latencyMs,
    stateDir,
    hostsRoot,
  });
  return await serveUntilSignal({
    url: sim.url,
    port: sim.port,
    token: sim.token,
    stateDir: sim.stateDir,
    hostsRoot: sim.hostsRoot ?? null,
  }, () => sim.stop());
}

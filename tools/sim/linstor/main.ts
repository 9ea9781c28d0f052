/**
 * `oneblk sim linstor` — run the LINSTOR controller simulator in the foreground.
 *
 *   oneblk sim linstor [--port N] [--nodes alpha,bravo,charlie,delta]
 *     [--pool NAME:SIZE_GIB[:thin|thick]]… [--group NAME[:PLACE_COUNT[:POOL,…]]]…
 *     [--latency-ms N] [--state-dir D] [--hosts-root D]
 *     [--tls-cert F --tls-key F [--tls-ca F] [--require-client-cert]]
 *
 * Prints one JSON line `{"url","port","stateDir","hostsRoot"}` on stdout once listening, then
 * serves until SIGINT/SIGTERM. `--hosts-root` (the directory holding one directory per host)
 * defaults to `$ONEBLK_SIM_ROOT/hosts` when ONEBLK_SIM_ROOT is set. Without `--pool` every
 * node gets a 100 GiB LVM-thin pool `DfltStorPool`.
 */
import { serveUntilSignal, SIM_CLI_OPTIONS, simCliValues } from "../common.ts";
import { parseArgs } from "node:util";
import { OneblkError } from "../../../lib/errors.ts";
import { type LinstorSimOptions, startLinstorSim } from "./server.ts";

/** Parse `NAME:SIZE_GIB[:thin|thick]`. */
export function parsePool(spec: string): { name: string; sizeGiB: number; thin: boolean } {
  const m = /^([A-Za-z0-9_][A-Za-z0-9_-]{1,47}):(\d+(?:\.\d+)?)(?::(thin|thick))?$/.exec(
    spec.trim(),
  );
  if (!m) throw new OneblkError("usage", `--pool: '${spec}' is not NAME:SIZE_GIB[:thin|thick]`);
  return { name: m[1], sizeGiB: Number(m[2]), thin: m[3] !== "thick" };
}

/** Parse `NAME[:PLACE_COUNT[:POOL,POOL]]`. */
export function parseGroup(
  spec: string,
): { name: string; placeCount?: number; storagePools?: string[] } {
  const m = /^([A-Za-z0-9_][A-Za-z0-9_-]{1,47})(?::(\d+)(?::([A-Za-z0-9_,-]+))?)?$/.exec(
    spec.trim(),
  );
  if (!m) throw new OneblkError("usage", `--group: '${spec}' is not NAME[:PLACE_COUNT[:POOLS]]`);
  return {
    name: m[1],
    placeCount: m[2] ? Number(m[2]) : undefined,
    storagePools: m[3] ? m[3].split(",").filter(Boolean) : undefined,
  };
}

/** `oneblk sim linstor --help`. */
export const LINSTOR_SIM_HELP = `usage: oneblk sim linstor [options]

Runs a simulated LINSTOR controller (REST API v1, answering as LINSTOR 1.34 does) in the
foreground until SIGINT or SIGTERM. Prints one JSON line {"url","port","stateDir","hostsRoot"}
on stdout once it listens.

  --port N                          TCP port on 127.0.0.1 (default: any free port)
  --nodes a,b,c                     the satellites (default: alpha,bravo,charlie,delta;
                                    '' for none, a controller as just installed)
  --pool NAME:SIZE_GIB[:thin|thick] a storage pool on every node, size in GiB, LVM thin
                                    (default) or thick; repeatable (default:
                                    DfltStorPool:100:thin)
  --group NAME[:PLACE_COUNT[:POOL,POOL…]]
                                    a resource group with volume group 0, its place count
                                    and storage pools; repeatable
  --state-dir D                     keep the state in D (snapshot + journal, volume data) and
                                    load it from there on start (default: a temporary
                                    directory removed on stop)
  --hosts-root D                    device links <D>/<node>/dev/drbd/by-res/<res>/<vnr>
                                    (default: $ONEBLK_SIM_ROOT/hosts when that is set)
  --latency-ms N                    delay every REST request by N ms
  --tls-cert F --tls-key F          serve HTTPS with this certificate and key (PEM)
  --tls-ca F --require-client-cert  and require client certificates signed by this CA
  -h, --help                        this text

Controls for tests (not LINSTOR): /_sim/state, /_sim/stats, /_sim/faults, /_sim/in-use,
/_sim/node, /_sim/latency, /_sim/restart. What the simulator models, and what not:
tools/sim/linstor/README.md.`;

/**
 * `--nodes a,b,c`: the satellites to start with; undefined without the option (the default
 * nodes), none for `--nodes ''` (a controller as just installed).
 */
export function parseNodes(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const nodes = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (!nodes.every((n) => /^[a-zA-Z0-9][a-zA-Z0-9.-]*$/.test(n))) {
    throw new OneblkError("usage", `--nodes: '${value}' is not a list of node names`);
  }
  return nodes;
}

/** Entry point of `oneblk sim linstor …`; resolves with the exit code after a signal. */
export async function linstorSimMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      ...SIM_CLI_OPTIONS,
      nodes: { type: "string" },
      pool: { type: "string", multiple: true },
      group: { type: "string", multiple: true },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-ca": { type: "string" },
      "require-client-cert": { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(LINSTOR_SIM_HELP);
    return 0;
  }
  const { port, latencyMs, stateDir, hostsRoot } = simCliValues(values);
  const opts: LinstorSimOptions = {
    port,
    nodes: parseNodes(values.nodes),
    pools: values.pool?.length ? values.pool.map(parsePool) : undefined,
    resourceGroups: values.group?.map(parseGroup),
    latencyMs,
    stateDir,
    hostsRoot,
  };
  if (values["tls-cert"] || values["tls-key"]) {
    if (!values["tls-cert"] || !values["tls-key"]) {
      throw new OneblkError("usage", "--tls-cert and --tls-key go together");
    }
    opts.tls = {
      cert: await Deno.readTextFile(values["tls-cert"]),
      key: await Deno.readTextFile(values["tls-key"]),
      ca: values["tls-ca"] ? await Deno.readTextFile(values["tls-ca"]) : undefined,
      requireClientCert: values["require-client-cert"] === true,
    };
  }
  const sim = await startLinstorSim(opts);
  return await serveUntilSignal({
    url: sim.url,
    port: sim.port,
    stateDir: sim.stateDir,
    hostsRoot: sim.hostsRoot ?? null,
  }, () => sim.stop());
}

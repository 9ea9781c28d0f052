/**
 * `oneblk sim <linstor|storpool|oned> …`: run one simulator in the foreground (tests, CI smoke
 * tests, trying the LINSTOR/StorPool walk-throughs with curl). `oneblk sim virsh …` and
 * `oneblk sim stock <action> …` are the simulated hosts' virsh and stock VMM scripts
 * (tools/sim/libvirt.ts), run by the launchers the simulated cloud installs; `oneblk sim rsync
 * <action> …` is one action of the simulated rsync backup datastore (tools/sim/rsync.ts).
 */
import { parseArgs } from "node:util";
import { OneblkError } from "../../lib/errors.ts";
import { serveUntilSignal } from "./common.ts";

/** `oneblk sim` / `oneblk sim --help`: which simulators there are. */
export const SIM_HELP = `usage: oneblk sim <linstor|storpool|oned> [options]

Runs one simulator in the foreground (tests, CI smoke tests, the demo, trying the LINSTOR and
StorPool walk-throughs with their own clients or curl):
  oneblk sim linstor   a LINSTOR controller (REST API v1)
  oneblk sim storpool  a StorPool API
  oneblk sim oned      OpenNebula's oned (XML-RPC)
\`oneblk sim <name> --help\` lists that simulator's options.`;

const ONED_SIM_HELP = "usage: oneblk sim oned [--port N] [--auth USER:PASSWORD]\n" +
  'Runs a simulated oned (XML-RPC) until SIGINT or SIGTERM; prints {"url","port"}.';

async function onedSimMain(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      options: {
        port: { type: "string" },
        auth: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (e) {
    throw new OneblkError("usage", (e as Error).message);
  }
  if (v.help) {
    console.log(ONED_SIM_HELP);
    return 0;
  }
  const { startOnedSim } = await import("./oned/server.ts");
  const sim = await startOnedSim({ port: v.port ? Number(v.port) : 0, auth: v.auth });
  return await serveUntilSignal({ url: sim.url, port: sim.port }, () => sim.stop());
}

/** Dispatch `oneblk sim <which> …` (each simulator answers its own --help). */
export async function simMain(args: string[]): Promise<number> {
  const [which, ...rest] = args;
  if (which === undefined || which === "--help" || which === "-h" || which === "help") {
    console.log(SIM_HELP);
    return which === undefined ? 1 : 0;
  }
  switch (which) {
    case "linstor":
      return await (await import("./linstor/main.ts")).linstorSimMain(rest);
    case "storpool":
      return await (await import("./storpool/main.ts")).storpoolSimMain(rest);
    case "oned":
      return await onedSimMain(rest);
    case "virsh":
      return await (await import("./libvirt.ts")).virshMain(rest);
    case "stock":
      return await (await import("./libvirt.ts")).stockMain(rest);
    case "rsync":
      return await (await import("./rsync.ts")).rsyncSimMain(rest);
  }
  throw new OneblkError(
    "usage",
    `unknown simulator '${which ?? ""}' (known: linstor, storpool, oned, rsync)`,
  );
}

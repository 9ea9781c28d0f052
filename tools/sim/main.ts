/**
 * `oneblk sim <linstor|storpool|oned> …`: run one simulator in the foreground (tests, CI smoke
 * tests, trying the LINSTOR/StorPool walk-throughs with curl). `oneblk sim virsh …` and
 * `oneblk sim stock <action> …` are the simulated hosts' virsh and stock VMM scripts
 * (tools/sim/libvirt.ts), run by the launchers the simulated cloud installs.
 */
import { parseArgs } from "node:util";
import { OneblkError } from "../../lib/errors.ts";
import { serveUntilSignal } from "./common.ts";

async function onedSimMain(args: string[]): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args,
      strict: true,
      options: { port: { type: "string" }, auth: { type: "string" } },
    }).values;
  } catch (e) {
    throw new OneblkError("usage", (e as Error).message);
  }
  const { startOnedSim } = await import("./oned/server.ts");
  const sim = await startOnedSim({ port: v.port ? Number(v.port) : 0, auth: v.auth });
  return await serveUntilSignal({ url: sim.url, port: sim.port }, () => sim.stop());
}

/** Dispatch `oneblk sim <which> …`. */
export async function simMain(args: string[]): Promise<number> {
  const [which, ...rest] = args;
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
  }
  throw new OneblkError(
    "usage",
    `unknown simulator '${which ?? ""}' (known: linstor, storpool, oned)`,
  );
}

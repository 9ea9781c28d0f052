/**
 * oneblk: one program that oned runs under many names.
 *
 * Invoked as …/datastore/<driver>/<action>, …/tm/<driver>/<action> or …/vmm/kvm/<override>
 * (a symlink to this binary) it runs that driver action. Invoked under any other name it is
 * the `oneblk` command line tool (run, actions, install, uninstall, sim, demo, version, help).
 */
import { fromInvokedPath, invocation, isKind, KINDS } from "./lib/dispatch.ts";
import { errorLine, OneblkError } from "./lib/errors.ts";
import { runInvocation } from "./lib/runner.ts";
import { listActions } from "./actions/index.ts";

/** Version of this build. */
export const VERSION = "0.1.0";

const HELP = `oneblk ${VERSION}: OpenNebula storage driver for LINSTOR/DRBD and StorPool

Usage:
  oneblk run <datastore|tm|vmm> <driver> <action> [args…]   run an action (as its symlink would)
  oneblk actions [--json]                                   list implemented actions
  oneblk install --remotes DIR [--drivers LIST] [--bin PATH] [--stubs] [--dry-run] [--force]
  oneblk uninstall --remotes DIR [--dry-run]                remove only oneblk's links/stubs
  oneblk sim <linstor|storpool|oned> [options]              run a simulator (tests, CI, demo)
  oneblk demo [--json]                                      walk a VM through its life on simulators
  oneblk version
  oneblk help [command]

Installed as symlinks under oned's remotes dir, the binary dispatches on its invoked name:
  datastore/<driver>/<action>, tm/<driver>/<action>[.<system_tm>], vmm/kvm/<override>.
Drivers: linstor, linstor_un, storpool.`;

const COMMAND_HELP: Record<string, string> = {
  run: "oneblk run <datastore|tm|vmm> <driver> <action> [args…]\n" +
    "  Runs the action exactly as oned runs the symlink <kind>/<driver>/<action>\n" +
    "  (same argv, stdin, stdout, stderr and exit code). For vmm, <driver> is kvm and\n" +
    "  <action> is the override name (e.g. save_linstor_un, tmsave).",
  actions: "oneblk actions [--json]\n  Lists every implemented kind/driver/action.",
  install: "oneblk install --remotes DIR [--drivers linstor,linstor_un,storpool] [--bin PATH]\n" +
    "               [--stubs] [--dry-run] [--force]\n" +
    "  Creates the action symlinks under DIR (idempotent) and prints oned.conf snippets.\n" +
    "  --stubs writes 3-line scripts that exec the binary instead of symlinks, so that\n" +
    "  `onehost sync` does not copy the whole binary once per action to every host.\n" +
    "  Never overwrites a regular file unless --force (then keeps a backup).",
  uninstall: "oneblk uninstall --remotes DIR [--dry-run]\n" +
    "  Removes the symlinks and stubs that point to oneblk; leaves everything else.",
  sim: "oneblk sim <linstor|storpool|oned> [options]\n" +
    "  Runs a simulator in the foreground; `oneblk sim <name> --help` lists its options.",
  demo: "oneblk demo [--json] [--latency-ms N]\n" +
    "  Starts simulated LINSTOR and StorPool clusters and a simulated oned, and walks a VM\n" +
    "  through its life, printing each step and a table of timings.",
  version: "oneblk version\n  Prints the version.",
  help: "oneblk help [command]",
};

function wantsHelp(args: string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

async function cli(args: string[]): Promise<number> {
  const [cmd = "help", ...rest] = args;
  // run and sim pass --help on: an action or a simulator answers it itself
  if (cmd !== "help" && cmd !== "run" && cmd !== "sim" && wantsHelp(rest)) {
    console.log(COMMAND_HELP[cmd] ?? HELP);
    return 0;
  }
  switch (cmd) {
    case "help":
    case "--help":
    case "-h":
      console.log(COMMAND_HELP[rest[0]] ?? HELP);
      return 0;
    case "version":
    case "--version":
      console.log(`oneblk ${VERSION}`);
      return 0;
    case "run": {
      if (rest.length === 0 || (rest.length < 3 && wantsHelp(rest))) {
        console.log(COMMAND_HELP.run);
        return rest.length === 0 ? 1 : 0;
      }
      const [kind, driver, action, ...actionArgs] = rest;
      if (!isKind(kind)) {
        throw new OneblkError("usage", `unknown kind '${kind}' (known: ${KINDS.join(", ")})`);
      }
      if (!driver || !action) {
        throw new OneblkError("usage", "usage: oneblk run <datastore|tm|vmm> <driver> <action>");
      }
      return await runInvocation(invocation(kind, driver, action, actionArgs));
    }
    case "actions": {
      const list = listActions();
      if (rest.includes("--json")) console.log(JSON.stringify(list, null, 2));
      else for (const a of list) console.log(`${a.kind}/${a.driver}/${a.name}`);
      return 0;
    }
    case "install":
    case "uninstall": {
      const { installMain } = await import("./lib/install_cli.ts");
      return await installMain(cmd, rest);
    }
    case "sim": {
      const { simMain } = await import("./tools/sim/main.ts");
      return await simMain(rest);
    }
    case "demo": {
      const { demoMain } = await import("./tools/demo.ts");
      return await demoMain(rest);
    }
  }
  throw new OneblkError(
    "usage",
    `unknown command '${cmd}' (known: run, actions, install, uninstall, sim, demo, version, help)`,
  );
}

/** Entry point: dispatch on the invoked name, else run the command line tool. */
export async function main(argv0: string, args: string[]): Promise<number> {
  const inv = fromInvokedPath(argv0, args);
  if (inv) return await runInvocation(inv);
  try {
    return await cli(args);
  } catch (e) {
    console.error(`ERROR: oneblk: ${errorLine(e)}`);
    return e instanceof OneblkError && e.kind === "usage" ? 1 : 2;
  }
}

if (import.meta.main) {
  // deno-lint-ignore no-explicit-any
  const argv0 = String((globalThis as any).process?.argv0 ?? "oneblk");
  Deno.exit(await main(argv0, Deno.args));
}

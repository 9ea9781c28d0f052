/**
 * The `oneblk` command line: run, actions, install, uninstall, adopt, doctor, version, help,
 * and the tool commands (sim, demo) that main.ts hands in, so that nothing here loads the
 * tools. install/uninstall, adopt and doctor are loaded only when asked for: other commands
 * and every action do not pay for them.
 */
import { invocation, isKind, KINDS } from "../lib/dispatch.ts";
import { errorLine, OneblkError, quoteArg } from "../lib/errors.ts";

/** Version of this build. */
export const VERSION = "0.1.0";

/** A command implemented outside the runtime (tools/): its arguments in, the exit code out. */
export type ToolCommand = (args: string[]) => Promise<number>;

/** The tool commands main.ts provides. */
export interface ToolCommands {
  sim: ToolCommand;
  demo: ToolCommand;
}

const help = (drivers: string) =>
  `oneblk ${VERSION}: OpenNebula storage driver for LINSTOR/DRBD and StorPool

Usage:
  oneblk run <datastore|tm|vmm> <driver> <action> [args…]   run an action (as its symlink would)
  oneblk actions [--json]                                   list implemented actions
  oneblk install --remotes DIR [--drivers LIST] [--bin PATH] [--stubs] [--dry-run] [--force]
  oneblk uninstall --remotes DIR [--dry-run]                remove only oneblk's links/stubs
  oneblk adopt drbd RESFILE [options]                       take a hand-made DRBD resource
                                                            over into LINSTOR (and OpenNebula)
  oneblk doctor [--json] [--remotes DIR] [--oned-conf FILE] check the installation
  oneblk gc [--dry-run] [--datastore ID] [--min-age AGE]    remove what failed actions left
  oneblk sim <linstor|storpool|oned> [options]              run a simulator (tests, CI, demo)
  oneblk demo [--json]                                      walk a VM through its life on simulators
  oneblk version
  oneblk help [command]

Installed as symlinks under oned's remotes dir, the binary dispatches on its invoked name:
  datastore/<driver>/<action>, tm/<driver>/<action>[.<system_tm>], vmm/kvm/<override>.
Drivers: ${drivers}.`;

const commandHelps = (drivers: string): Record<string, string> => ({
  run: RUN_HELP,
  actions: "oneblk actions [--json]\n  Lists every implemented kind/driver/action.",
  install: `oneblk install --remotes DIR [--drivers ${drivers}] [--bin PATH]\n` +
    "               [--stubs] [--dry-run] [--force]\n" +
    "  Creates the action symlinks under DIR (idempotent) and prints oned.conf snippets.\n" +
    "  --stubs writes 3-line scripts that exec the binary instead of symlinks, so that\n" +
    "  `onehost sync` does not copy the whole binary once per action to every host.\n" +
    "  Never overwrites a regular file unless --force (then keeps a backup). Exit code 3\n" +
    "  when a path was skipped (not oneblk's): oned keeps running what is there.",
  uninstall: "oneblk uninstall --remotes DIR [--dry-run]\n" +
    "  Removes the symlinks and stubs that point to oneblk; leaves everything else.",
  doctor: "oneblk doctor [--json] [--remotes DIR] [--oned-conf FILE] [--only ID,…] [--list]\n" +
    "               [--timeout SECONDS]\n" +
    "  Checks the installation, read-only: oned (XML-RPC, credentials), the remotes tree vs\n" +
    "  `oneblk actions`, oned.conf (drivers registered, VM_MAD -l overrides), every oneblk\n" +
    "  datastore's store (LINSTOR controller, nodes vs hosts, resource group and place count;\n" +
    "  StorPool API, template, client ids), and on each host over ssh: DRBD 9, qemu-img, the\n" +
    "  synced remotes.\n" +
    "  One line per finding (ok / warning / error, with the fix); exit 1 when there is an\n" +
    "  error. --list shows the checks, --only runs some. Defaults: remotes from ONE_LOCATION\n" +
    "  or /var/lib/one/remotes, oned.conf from ONE_LOCATION or /etc/one/oned.conf, 15 s per\n" +
    "  host command or store request.",
  sim: "oneblk sim <linstor|storpool|oned> [options]\n" +
    "  Runs a simulator in the foreground; `oneblk sim <name> --help` lists its options.",
  demo: "oneblk demo [--json] [--latency-ms N]\n" +
    "  Starts simulated LINSTOR and StorPool clusters and a simulated oned, and walks a VM\n" +
    "  through its life, printing each step and a table of timings.",
  gc: "oneblk gc [--dry-run] [--datastore ID] [--min-age AGE]\n" +
    "  Finds what oneblk made for itself and could not remove (temporary snapshots, marked\n" +
    "  attachments, volumes of failed cp/clone whose image oned no longer has) in the stores of\n" +
    "  oneblk's datastores (or of datastore ID), and removes it; --dry-run only lists it.\n" +
    "  Leftovers younger than AGE (default 1h; 0, 90s, 30m, 2h…) are kept: their action may\n" +
    "  still run. Never touches anything else. Uses ONE_XMLRPC/ONE_AUTH like the actions.",
  version: "oneblk version\n  Prints the version.",
  help: "oneblk help [command]",
});

const RUN_HELP = "oneblk run <datastore|tm|vmm> <driver> <action> [args…]\n" +
  "  Runs the action exactly as oned runs the symlink <kind>/<driver>/<action>\n" +
  "  (same argv, stdin, stdout, stderr and exit code). For vmm, <driver> is kvm and\n" +
  "  <action> is the override file name (`oneblk actions` lists them).";

/** Help of one command (adopt's lives with it, loaded only when asked for). */
async function commandHelp(cmd: string | undefined): Promise<string> {
  if (cmd === "adopt") return (await import("./adopt.ts")).ADOPT_HELP;
  const { DRIVERS } = await import("../lib/addons/index.ts");
  return commandHelps(DRIVERS.join(","))[cmd ?? ""] ?? help(DRIVERS.join(", "));
}

function wantsHelp(args: string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

async function command(args: string[], tools: ToolCommands): Promise<number> {
  const [cmd = "help", ...rest] = args;
  // run and sim pass --help on: an action or a simulator answers it itself
  if (cmd !== "help" && cmd !== "run" && cmd !== "sim" && wantsHelp(rest)) {
    console.log(await commandHelp(cmd));
    return 0;
  }
  switch (cmd) {
    case "help":
    case "--help":
    case "-h":
      console.log(await commandHelp(rest[0]));
      return 0;
    case "version":
    case "--version":
      console.log(`oneblk ${VERSION}`);
      return 0;
    case "run": {
      if (rest.length === 0 || (rest.length < 3 && wantsHelp(rest))) {
        console.log(RUN_HELP);
        return rest.length === 0 ? 1 : 0;
      }
      const [kind, driver, action, ...actionArgs] = rest;
      if (!isKind(kind)) {
        throw new OneblkError(
          "usage",
          `unknown kind ${quoteArg(kind)} (known: ${KINDS.join(", ")})`,
        );
      }
      if (!driver || !action) {
        throw new OneblkError("usage", "usage: oneblk run <datastore|tm|vmm> <driver> <action>");
      }
      const [{ runInvocation }, { ACTIONS }] = await Promise.all([
        import("./runner.ts"),
        import("./registry.ts"),
      ]);
      return await runInvocation(invocation(kind, driver, action, actionArgs), ACTIONS);
    }
    case "actions": {
      const list = (await import("./registry.ts")).listActions();
      if (rest.includes("--json")) console.log(JSON.stringify(list, null, 2));
      else for (const a of list) console.log(`${a.kind}/${a.driver}/${a.name}`);
      return 0;
    }
    case "gc": {
      const { gcMain } = await import("./gc.ts");
      return await gcMain(rest);
    }
    case "install":
    case "uninstall": {
      const { installMain } = await import("./install_cli.ts");
      return await installMain(cmd, rest);
    }
    case "doctor": {
      const { doctorMain } = await import("./doctor.ts");
      return await doctorMain(rest);
    }
    case "adopt": {
      const { adoptMain } = await import("./adopt.ts");
      return await adoptMain(rest);
    }
    case "sim":
    case "demo":
      return await tools[cmd](rest);
  }
  throw new OneblkError(
    "usage",
    `unknown command ${quoteArg(cmd)} (known: run, actions, install, uninstall, adopt, doctor, ` +
      "gc, sim, demo, version, help)",
  );
}

/** Run the command line; errors become one `ERROR: oneblk: …` line (exit 1 usage, 2 other). */
export async function cli(args: string[], tools: ToolCommands): Promise<number> {
  try {
    return await command(args, tools);
  } catch (e) {
    console.error(`ERROR: oneblk: ${errorLine(e)}`);
    return e instanceof OneblkError && e.kind === "usage" ? 1 : 2;
  }
}

/**
 * oneblk: one program that oned runs under many names.
 *
 * Invoked as …/datastore/<driver>/<action>, …/tm/<driver>/<action> or …/vmm/kvm/<override>
 * (a symlink to this binary) it runs that driver action (app/runner.ts). Invoked under any
 * other name it is the `oneblk` command line tool (app/cli.ts). The tool commands `sim` and
 * `demo` are the only way into the tools, loaded here and only when asked for.
 *
 * Start-up is most of a short action's cost: this file imports only the dispatcher, and loads
 * the runner or the command line when it knows which one the call needs.
 */
import { fromInvokedPath, invokedPath } from "./lib/dispatch.ts";
import type { ToolCommands } from "./app/cli.ts";

const TOOLS: ToolCommands = {
  sim: async (args) => (await import("./tools/sim/main.ts")).simMain(args),
  demo: async (args) => (await import("./tools/demo.ts")).demoMain(args),
};

/** Entry point: dispatch on the invoked name, else run the command line tool. */
export async function main(argv0: string, args: string[]): Promise<number> {
  const inv = fromInvokedPath(argv0, args);
  if (inv) {
    const [{ runInvocation }, { ACTIONS }] = await Promise.all([
      import("./app/runner.ts"),
      import("./app/registry.ts"),
    ]);
    return await runInvocation(inv, ACTIONS);
  }
  const { cli } = await import("./app/cli.ts");
  return await cli(args, TOOLS);
}

if (import.meta.main) {
  Deno.exit(await main(invokedPath(), Deno.args));
}

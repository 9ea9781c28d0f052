/**
 * The main of a per-action program: one file of the bundle that holds a single driver action
 * and everything it may use, with no import left to resolve at run time (tools/bundle.ts writes
 * one per installable kind and file name, `dist/bundle/actions/<kind>/<name>.js`, and the
 * launcher runs it instead of main.js when the invoked name has one).
 *
 * Why: every module Deno loads, and above all the first `import()` of a process, costs memory
 * and time of its own (module records, the loader's caches, the runtime's code that serves
 * them). A call through main.js loads 30-50 chunks through several dynamic imports; a
 * per-action program is one module. Measured on the hot actions, paired runs: 0.9-1.9 MiB less
 * peak per process, the same wall time or less (README, Performance).
 *
 * The program checks its invocation like main.js does: the invoked name must resolve to its own
 * action (the launcher picked the file by that name), under a known driver; anything else is
 * oned's usage error, naming what this program serves.
 */
import { fromInvokedPath, invokedPath } from "../lib/dispatch.ts";
import { quoteArg } from "../lib/errors.ts";
import { writeAllSync } from "../lib/bytes.ts";
import type { ActionDef } from "./registry.ts";
import { runInvocation } from "./runner.ts";

/** Run the invocation of this process with `def` as the only action; exits with its code. */
export async function runActionProgram(def: ActionDef): Promise<never> {
  const path = invokedPath();
  const inv = fromInvokedPath(path, Deno.args);
  if (!inv) {
    const line = `ERROR: oneblk: the ${def.kind} ${def.action} program runs only as a driver ` +
      `action (invoked as ${quoteArg(path)})\n`;
    writeAllSync(Deno.stderr, line);
    Deno.exit(1);
  }
  Deno.exit(await runInvocation(inv, [def]));
}

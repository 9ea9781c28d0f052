/**
 * Runs one resolved invocation: finds the action in the table it is given, checks its
 * arguments, builds the context, runs it, and reports failure the way the calling oned version
 * shows it. The table is the registry's (main.ts, every action) or one action's own (a per-action
 * program of the bundle, app/action_program.ts): nothing here imports the registry, whose lazy
 * loaders name every action.
 */
import type { Invocation, Kind } from "../lib/dispatch.ts";
import { errorLine, OneblkError, quoteArg } from "../lib/errors.ts";
import { createContext } from "../lib/context.ts";
import { findRemotesDir, formatError, type OneVersion, readOneVersion } from "../lib/one/output.ts";
import { checkArity } from "../lib/one/args.ts";
import { writeAllSync } from "../lib/bytes.ts";
import { beforeFirstCommand, killActiveCommands } from "../lib/host/process.ts";
import { ADDONS, DRIVERS, isDriver, VMM_OVERRIDES } from "../lib/addons/index.ts";
import type { ActionDef } from "./registry.ts";

function find(actions: readonly ActionDef[], kind: Kind, action: string): ActionDef | undefined {
  return actions.find((a) => a.kind === kind && a.action === action);
}

function known(actions: readonly ActionDef[], kind: Kind): string {
  const names = kind === "vmm"
    ? ADDONS.flatMap((a) =>
      actions.filter((d) => d.kind === "vmm").map((d) => a.vmmOverrides[d.action])
    ).filter(Boolean)
    : actions.filter((a) => a.kind === kind).map((a) => a.action);
  return names.length ? [...new Set(names)].sort().join(", ") : "none";
}

/**
 * Resolve the action definition (from `actions`) and the driver of an invocation, or throw a
 * usage error naming what exists.
 */
export function resolve(
  inv: Invocation,
  actions: readonly ActionDef[],
): { def: ActionDef; driver: string } {
  if (inv.kind === "vmm") {
    const o = VMM_OVERRIDES[inv.name];
    const def = o && find(actions, "vmm", o.action);
    if (!o || !def) {
      throw new OneblkError(
        "usage",
        `unknown vmm action ${quoteArg(`${inv.driver}/${inv.name}`)} (known: ${
          known(actions, "vmm")
        })`,
      );
    }
    return { def, driver: o.driver };
  }
  if (!isDriver(inv.driver)) {
    throw new OneblkError(
      "usage",
      `unknown ${inv.kind} driver ${quoteArg(inv.driver)} (known: ${DRIVERS.join(", ")})`,
    );
  }
  const def = find(actions, inv.kind, inv.action);
  if (!def) {
    throw new OneblkError(
      "usage",
      `unknown ${inv.kind} action ${quoteArg(`${inv.driver}/${inv.name}`)} (known: ${
        known(actions, inv.kind)
      })`,
    );
  }
  return { def, driver: inv.driver };
}

/**
 * oned's timeout (-w) sends SIGTERM to the action's process group; host commands run in
 * their own groups, so stop them too before exiting.
 */
function onTerminate(sig: Deno.Signal): void {
  killActiveCommands("SIGTERM");
  const line = `ERROR: oneblk: interrupted by ${sig}; host commands stopped\n`;
  writeAllSync(Deno.stderr, line);
  Deno.exit(143);
}

/**
 * This process's memory as Linux's /proc/self/status tells it (KiB): the peak resident set, and
 * of the current one the private part (RssAnon) and the part mapped from files (RssFile: the
 * deno executable's pages, shared with every other deno process). Undefined where there is no
 * such file.
 */
function memoryKiB(): { peak: number; private: number; file: number } | undefined {
  let status: string;
  try {
    status = Deno.readTextFileSync("/proc/self/status");
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  const m = { peak: kib("VmHWM"), private: kib("RssAnon"), file: kib("RssFile") };
  return Object.values(m).every(Number.isFinite) ? m : undefined;
}

/**
 * The program this process runs, for the stats line: the bundle's file ("dist/bundle/main.js",
 * "dist/bundle/drivers/linstor/tm/ln.js"), else the main module's file name ("main.ts" from the
 * sources).
 */
function programName(): string {
  const m = Deno.mainModule;
  const i = m.lastIndexOf("/dist/bundle/");
  return i >= 0 ? m.slice(i + 1) : m.slice(m.lastIndexOf("/") + 1);
}

/**
 * Run an invocation with the action `actions` has for it; returns the process exit code (0
 * success, 1 failure).
 */
export async function runInvocation(
  inv: Invocation,
  actions: readonly ActionDef[],
): Promise<number> {
  // listening costs memory: only once a host command runs (until then a signal's default
  // action ends the process as well)
  beforeFirstCommand(() => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(sig, () => onTerminate(sig));
    }
  });
  const env = Deno.env.toObject();
  let version: OneVersion | string = "7.4.0";
  const started = performance.now();
  let ctx: Awaited<ReturnType<typeof createContext>> | undefined;
  let code = 0;
  let runStarted = NaN;
  const remotes = findRemotesDir({ env, invokedPath: inv.path });
  try {
    version = readOneVersion(remotes);
    const { def, driver } = resolve(inv, actions);
    checkArity(inv.kind === "datastore" ? "ds" : inv.kind, def.action, inv.args);
    const mod = await def.load();
    ctx = await createContext(inv, driver, env, version, remotes);
    runStarted = performance.now();
    await mod.run(ctx);
    ctx.flush();
  } catch (e) {
    code = 1;
    const what = `${inv.kind}/${inv.driver}/${inv.name}`;
    const text = formatError(`${what}: ${errorLine(e)}`, version);
    writeAllSync(Deno.stderr, text.endsWith("\n") ? text : text + "\n");
    if (!(e instanceof OneblkError) && env.ONEBLK_DEBUG) console.error(e);
  } finally {
    await ctx?.close();
    const statsFile = env.ONEBLK_STATS_FILE;
    if (statsFile) {
      const now = performance.now();
      const tenth = (ms: number) => Math.round(ms * 10) / 10;
      const line = JSON.stringify({
        kind: inv.kind,
        driver: inv.driver,
        action: inv.name,
        ok: code === 0,
        ms: tenth(now - started),
        // the action's own work (its run, output and closing), the rest of a call is start-up
        runMs: Number.isNaN(runStarted) ? 0 : tenth(now - runStarted),
        rest: ctx?.restCalls() ?? 0,
        restBytes: ctx?.restBytes() ?? 0,
        ssh: ctx?.hostCalls() ?? 0,
        one: ctx?.oneCalls() ?? 0,
        memoryKiB: memoryKiB(),
        program: programName(),
      });
      // written synchronously: the action is over, and an asynchronous write's first use of
      // the runtime's file machinery cost an action without host commands about 1 MiB of peak,
      // which the bench then counted as the action's (docs/performance.md)
      Deno.writeTextFileSync(statsFile, line + "\n", { append: true });
    }
  }
  return code;
}

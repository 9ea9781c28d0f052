/**
 * Start-up and the hot path: what one process costs against the bare runtime.
 *
 * - `oneblk version` through the launcher, in bundle and in source mode;
 * - every action oned runs most often (monitoring, deploy, migrate, undeploy) on zero-latency
 *   simulators with simulated hosts, `samples` times each (benchHot), each run followed by a
 *   bare `deno run` so that every ratio compares runs of the same moment.
 */
import {
  figures,
  LAUNCHER,
  log,
  metered,
  type ProcessFigures,
  r2,
  type Stat,
  stat,
} from "./measure.ts";
import type { Bare } from "./measure.ts";
import { Lifecycle } from "../sim/scenario.ts";
import type { DriverCall, ProfileName } from "../sim/oned/scripted_oned.ts";
import type { ProcessUsage } from "../sim/cluster.ts";
import { errorLine } from "../../lib/errors.ts";

/**
 * `oneblk version` in one runtime mode, or (`floor`) the least a driver action that asks a store
 * and runs a host command can cost in this runtime: see FLOOR_SCRIPT.
 */
export interface StartupRow extends ProcessFigures {
  mode: "bundle" | "source" | "floor";
  /** The floor's memory when it ended, as HotRow's (absent for `oneblk version`). */
  endMiB?: EndMemory | null;
}

/** Median resident memory of a process when it ended (MiB): see HotRow.endMiB. */
export interface EndMemory {
  private: number;
  file: number;
}

/** Median EndMemory of processes' /proc/self/status figures (KiB); null without any. */
function endMemory(kib: { private: number; file: number }[]): EndMemory | null {
  if (!kib.length) return null;
  const med = (f: (m: { private: number; file: number }) => number) =>
    r2(stat(kib.map(f)).median / 1024);
  return { private: med((m) => m.private), file: med((m) => m.file) };
}

/**
 * The runtime's floor under an action with a store call and a host command: a script, not
 * oneblk, run with the actions' deno flags, that sends one HTTP request over a socket (as
 * lib/wire.ts does), reads the reply, and starts one process in its own group with its output
 * piped (as lib/host/process.ts does). Arguments: the port of the bench's reply server, and a
 * file to which it appends its memory at the end (as app/runner.ts's stats line does).
 */
const FLOOR_SCRIPT = `const port = Number(Deno.args[0]);
const c = await Deno.connect({ hostname: "127.0.0.1", port });
await c.write(new TextEncoder().encode("GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n"));
const buf = new Uint8Array(65536);
while ((await c.read(buf)) !== null) { /* the reply */ }
c.close();
const p = new Deno.Command("true", { stdout: "piped", stderr: "piped", detached: true }).spawn();
for (const s of [p.stdout, p.stderr]) for await (const _ of s) { /* drained */ }
await p.status;
const st = Deno.readTextFileSync("/proc/self/status");
const kib = (f) => Number(new RegExp("^" + f + ":\\\\s+(\\\\d+)", "m").exec(st)?.[1]);
Deno.writeTextFileSync(Deno.args[1], JSON.stringify({ private: kib("RssAnon"), file: kib("RssFile") }) + "\\n", { append: true });
`;

/**
 * FLOOR_SCRIPT run `samples` times with the actions' deno flags (`flags`), alternating with bare
 * runs; `env`: the measured processes' environment (their DENO_DIR).
 */
export async function benchFloor(
  bare: Bare,
  samples: number,
  flags: string[],
  env: Record<string, string> = {},
): Promise<StartupRow> {
  log(`start-up: the runtime's floor (one HTTP request, one host command), ${samples} samples`);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok\n"),
  );
  const file = await Deno.makeTempFile({ prefix: "oneblk-floor-", suffix: ".js" });
  const memFile = await Deno.makeTempFile({ prefix: "oneblk-floor-", suffix: ".jsonl" });
  try {
    await Deno.writeTextFile(file, FLOOR_SCRIPT);
    const port = `${server.addr.port}`;
    const args = ["run", "-A", "--no-config", "--no-lock", ...flags, file, port, memFile];
    const first = await metered(Deno.execPath(), args, { env, cwd: "/" }); // code cache
    if (first.code !== 0) throw new Error(`the floor script failed (exit ${first.code})`);
    await Deno.writeTextFile(memFile, "");
    const runs: ProcessUsage[] = [];
    const partners: ProcessUsage[] = [];
    for (let i = 0; i < samples; i++) {
      runs.push(await metered(Deno.execPath(), args, { env, cwd: "/" }));
      partners.push(await bare.sample());
    }
    const ended = (await Deno.readTextFile(memFile)).split("\n").filter(Boolean)
      .map((l) => JSON.parse(l) as { private: number; file: number })
      .filter((m) => Number.isFinite(m.private) && Number.isFinite(m.file));
    return { mode: "floor", ...figures(runs, bare, partners), endMiB: endMemory(ended) };
  } finally {
    await server.shutdown();
    await Deno.remove(file).catch(() => {});
    await Deno.remove(memFile).catch(() => {});
  }
}

/** One replayed hot action. */
export interface HotRow extends ProcessFigures {
  profile: ProfileName;
  action: string;
  /** Median share of the wall time that is not the action's own work (start-up, exit). */
  startupShare: number;
  actionMs: Stat;
  /**
   * Median memory of the action's process when it ended (MiB; null where /proc is missing):
   * private (anonymous: the heap, the runtime's own data) and mapped from files (the pages of the
   * deno executable it ran, shared with every other deno process). Their sum is about the peak.
   */
  endMiB: EndMemory | null;
  rest: number;
  restKiB: number;
  ssh: number;
  one: number;
  errors: number;
  /** The programs that ran it ("dist/bundle/drivers/linstor/tm/ln.js"), comma-separated. */
  program: string;
}

/** The stores whose hot actions the bench replays. */
export const HOT_PROFILES: ProfileName[] = ["linstor", "storpool"];

/** The hot actions, by `kind/script` as oned runs them. */
export const HOT_ACTIONS = [
  "datastore/stat",
  "datastore/monitor",
  "datastore/rm",
  "tm/monitor",
  "tm/ln",
  "tm/mv",
  "tm/delete",
  "tm/premigrate",
  "tm/postmigrate",
];

/** Steps of the VM life that make every hot action run once. */
const HOT_STEPS = [
  "register-raw",
  "register-qcow2",
  "datablock",
  "monitor",
  "instantiate",
  "write",
  "live-migrate",
  "stop-resume",
  "terminate",
  "clone-delete",
];

/**
 * `oneblk version` through the launcher, alternating with bare runs; `bundleEnv`: added to the
 * environment of the bundle's runs (the measured processes' DENO_DIR).
 */
export async function benchStartup(
  bare: Bare,
  samples: number,
  modes: ("bundle" | "source")[],
  bundleEnv: Record<string, string> = {},
): Promise<StartupRow[]> {
  const rows: StartupRow[] = [];
  for (const mode of modes) {
    log(`start-up: oneblk version (${mode}), ${samples} samples`);
    // (the sources need this machine's Deno cache: their npm packages are there)
    const env: Record<string, string> = mode === "source" ? { ONEBLK_SOURCE: "1" } : bundleEnv;
    await metered(LAUNCHER, ["version"], { env }); // code cache
    const runs: ProcessUsage[] = [];
    const partners: ProcessUsage[] = [];
    for (let i = 0; i < samples; i++) {
      runs.push(await metered(LAUNCHER, ["version"], { env, cwd: "/" }));
      partners.push(await bare.sample());
    }
    rows.push({ mode, ...figures(runs, bare, partners) });
  }
  return rows;
}

/**
 * Figures of the hot action `action` from its sampled calls; `partners`: the bare run made right
 * after each call.
 */
function hotRow(
  profile: ProfileName,
  action: string,
  calls: DriverCall[],
  bare: Bare,
  partners: Map<DriverCall, ProcessUsage>,
): HotRow {
  const metered = calls.filter((c) => c.usage);
  const usage = metered.map((c) => c.usage!);
  const after = metered.map((c) => partners.get(c)).filter((u): u is ProcessUsage => !!u);
  const st = calls.map((c) => c.stats).filter((s): s is NonNullable<DriverCall["stats"]> => !!s);
  const med = (f: (s: NonNullable<DriverCall["stats"]>) => number) => stat(st.map(f)).median;
  const shares = calls.filter((c) => c.stats && c.usage).map((c) =>
    (c.usage!.wallMs - c.stats!.runMs) / c.usage!.wallMs
  );
  return {
    profile,
    action,
    ...figures(usage, bare, after),
    startupShare: r2(stat(shares).median),
    actionMs: stat(st.map((s) => s.ms)),
    endMiB: endMemory(st.flatMap((s) => s.memoryKiB ?? [])),
    rest: med((s) => s.rest),
    restKiB: r2(med((s) => s.restBytes) / 1024),
    ssh: med((s) => s.ssh),
    one: med((s) => s.one),
    errors: calls.filter((c) => !c.ok).length,
    program: [...new Set(st.map((s) => s.program ?? "?"))].join(","),
  };
}

/**
 * Sample the hot actions of `profiles`. Each is sampled right after the step of the VM life that
 * ran it, while the world still matches it: the step's last call of the action is run again
 * (stat, monitor, ln and mv find their work done, delete and rm find nothing left: their
 * idempotent paths). Migration is sampled for real: the VM migrates back and forth.
 */
export async function benchHot(
  bare: Bare,
  samples: number,
  profiles: ProfileName[],
  env: Record<string, string>,
  skipped: string[],
): Promise<HotRow[]> {
  const rows: HotRow[] = [];
  for (const profile of profiles) {
    log(`hot actions: ${profile}, ${samples} samples each`);
    const life = new Lifecycle({ profile, latencyMs: 0, only: HOT_STEPS, meter: true, env });
    await life.start();
    const sampled = new Map<string, DriverCall[]>();
    const partners = new Map<DriverCall, ProcessUsage>();
    try {
      for (const step of life.steps()) {
        if (life.missing(step).length) continue;
        const from = life.oned.calls.length;
        try {
          await step.run(life);
        } catch (e) {
          log(`  ${profile} ${step.id}: ${errorLine(e)}`);
        }
        if (step.id === "live-migrate" && life.vm) {
          const mig: DriverCall[] = [];
          for (let i = 0; i < samples; i++) {
            const at = life.oned.calls.length;
            await life.oned.liveMigrate(life.vm.id, i % 2 ? "charlie" : "bravo")
              .catch((e) => log(`  ${profile} migrate: ${errorLine(e)}`));
            const made = life.oned.calls.slice(at);
            mig.push(...made);
            const b = await bare.sample();
            for (const c of made) partners.set(c, b);
          }
          for (const a of ["tm/premigrate", "tm/postmigrate"]) {
            sampled.set(a, mig.filter((c) => `${c.kind}/${c.script}` === a));
          }
          continue;
        }
        const ran = life.oned.calls.slice(from);
        for (const action of HOT_ACTIONS) {
          if (sampled.has(action)) continue;
          const last = ran.findLast((c) => `${c.kind}/${c.script}` === action);
          if (!last?.rerun) continue;
          await last.rerun(); // code cache, and the idempotent path from now on
          const calls: DriverCall[] = [];
          for (let i = 0; i < samples; i++) {
            const call = await last.rerun();
            calls.push(call);
            partners.set(call, await bare.sample());
          }
          sampled.set(action, calls);
        }
      }
    } finally {
      await life.close();
    }
    for (const action of HOT_ACTIONS) {
      const calls = sampled.get(action);
      if (!calls?.length) skipped.push(`${profile} ${action}: not run by the VM life`);
      else rows.push(hotRow(profile, action, calls, bare, partners));
    }
  }
  return rows;
}

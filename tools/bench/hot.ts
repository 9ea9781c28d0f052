/**
 * Start-up and the hot path: what one process costs against the bare runtime.
 *
 * - `oneblk version` through the launcher, in bundle and in source mode;
 * - every action oned runs most often (monitoring, deploy, migrate, undeploy), replayed: a short
 *   VM life is played once on zero-latency simulators with simulated hosts, then the first call
 *   of each hot action is run again `samples` times (same argv, stdin and environment; the world
 *   has moved on, so ln/mv/delete/premigrate take their idempotent paths), each followed by a
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

/** `oneblk version` in one runtime mode. */
export interface StartupRow extends ProcessFigures {
  mode: "bundle" | "source";
}

/** One replayed hot action. */
export interface HotRow extends ProcessFigures {
  profile: ProfileName;
  action: string;
  /** Median share of the wall time that is not the action's own work (start-up, exit). */
  startupShare: number;
  actionMs: Stat;
  rest: number;
  restKiB: number;
  ssh: number;
  one: number;
  errors: number;
}

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

/** `oneblk version` through the launcher, alternating with bare runs. */
export async function benchStartup(
  bare: Bare,
  samples: number,
  modes: ("bundle" | "source")[],
): Promise<StartupRow[]> {
  const rows: StartupRow[] = [];
  for (const mode of modes) {
    log(`start-up: oneblk version (${mode}), ${samples} samples`);
    const env: Record<string, string> = mode === "source" ? { ONEBLK_SOURCE: "1" } : {};
    await metered(LAUNCHER, ["version"], { env }); // code cache
    const runs: ProcessUsage[] = [];
    for (let i = 0; i < samples; i++) {
      runs.push(await metered(LAUNCHER, ["version"], { env, cwd: "/" }));
      await bare.sample();
    }
    rows.push({ mode, ...figures(runs, bare) });
  }
  return rows;
}

/** Replay the hot actions of `profiles`. */
export async function benchHot(
  bare: Bare,
  samples: number,
  profiles: ProfileName[],
  env: Record<string, string>,
  skipped: string[],
): Promise<HotRow[]> {
  const rows: HotRow[] = [];
  for (const profile of profiles) {
    log(`hot actions: ${profile}, ${samples} replays each`);
    const life = new Lifecycle({ profile, latencyMs: 0, only: HOT_STEPS, meter: true, env });
    await life.start();
    try {
      for (const step of life.steps()) {
        if (life.missing(step).length) continue;
        try {
          await step.run(life);
        } catch (e) {
          log(`  ${profile} ${step.id}: ${errorLine(e)}`);
        }
      }
      for (const action of HOT_ACTIONS) {
        const first = life.oned.calls.find((c) => `${c.kind}/${c.script}` === action);
        if (!first?.rerun) {
          skipped.push(`${profile} ${action}: not run by the VM life`);
          continue;
        }
        await first.rerun(); // code cache, and the idempotent path from now on
        const calls: DriverCall[] = [];
        for (let i = 0; i < samples; i++) {
          calls.push(await first.rerun());
          await bare.sample();
        }
        const usage = calls.map((c) => c.usage).filter((u): u is ProcessUsage => !!u);
        const st = calls.map((c) => c.stats);
        const med = (f: (s: NonNullable<DriverCall["stats"]>) => number) =>
          stat(st.filter((s) => !!s).map((s) => f(s!))).median;
        const shares = calls.filter((c) => c.stats && c.usage).map((c) =>
          (c.usage!.wallMs - c.stats!.runMs) / c.usage!.wallMs
        );
        rows.push({
          profile,
          action,
          ...figures(usage, bare),
          startupShare: r2(stat(shares).median),
          actionMs: stat(st.filter((s) => !!s).map((s) => s!.ms)),
          rest: med((s) => s.rest),
          restKiB: r2(med((s) => s.restBytes) / 1024),
          ssh: med((s) => s.ssh),
          one: med((s) => s.one),
          errors: calls.filter((c) => !c.ok).length,
        });
      }
    } finally {
      await life.close();
    }
  }
  return rows;
}

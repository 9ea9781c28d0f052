/**
 * What every section of `deno task bench` measures with: the runtime's own floor (a bare
 * `deno run` of an empty file, measured in the same run so that ratios hold on a noisy machine),
 * sample statistics, the memory of a group of processes (RSS and PSS), and the machine and
 * runtime mode a figure was taken on.
 */
import { join } from "node:path";
import { ensureBundle, readStamp, runtimeFlags } from "../bundle.ts";
import type { ProcessUsage } from "../sim/cluster.ts";

const ROOT = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");
/** The launcher every measured program runs through. */
export const LAUNCHER = join(ROOT, "scripts/oneblk");
const RUSAGE = join(ROOT, "tools/bench/rusage.py");

/** Median, p95 and count of a sample. */
export interface Stat {
  n: number;
  median: number;
  p95: number;
}

/** The q-quantile (nearest rank) of `values`. */
export function quantile(values: number[], q: number): number {
  const s = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

/** Median and p95 (p95 is reported only from 20 samples on; below it is the maximum). */
export function stat(values: number[]): Stat {
  const v = values.filter(Number.isFinite);
  return { n: v.length, median: r2(quantile(v, 0.5)), p95: r2(quantile(v, 0.95)) };
}

/** Round to 2 decimals. */
export function r2(n: number): number {
  return Math.round(n * 100) / 100;
}

/** A progress line on stderr. */
export function log(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
}

/** Whether python3 runs here (the process meter needs it). */
export async function canMeter(): Promise<boolean> {
  try {
    const o = await new Deno.Command("python3", { args: ["-c", "import os; os.wait4"] }).output();
    return o.success;
  } catch {
    return false;
  }
}

/** Run `program args` through the process meter; stdin text optional. */
export async function metered(
  program: string,
  args: string[],
  opts: { env?: Record<string, string>; stdin?: string; cwd?: string } = {},
): Promise<ProcessUsage & { code: number; stdout: string }> {
  const out = await Deno.makeTempFile({ prefix: "oneblk-usage-" });
  try {
    const child = new Deno.Command("python3", {
      args: [RUSAGE, out, program, ...args],
      env: opts.env,
      cwd: opts.cwd,
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (opts.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(opts.stdin));
      await w.close();
    }
    const o = await child.output();
    const u = JSON.parse((await Deno.readTextFile(out)).trim());
    return {
      code: o.code,
      stdout: new TextDecoder().decode(o.stdout),
      wallMs: u.wall_ms,
      userMs: u.user_ms,
      sysMs: u.sys_ms,
      maxrssKiB: u.maxrss_kib,
    };
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** The bare runtime: `deno run` of an empty file (console.log(1)), as the issue defines it. */
export class Bare {
  readonly samples: ProcessUsage[] = [];
  #file = "";
  readonly #env: Record<string, string>;

  /** `env`: added to each run's environment (the measured processes' DENO_DIR). */
  constructor(env: Record<string, string> = {}) {
    this.#env = env;
  }

  async sample(): Promise<ProcessUsage> {
    if (!this.#file) {
      this.#file = await Deno.makeTempFile({ prefix: "oneblk-bare-", suffix: ".ts" });
      await Deno.writeTextFile(this.#file, "console.log(1);\n");
    }
    const u = await metered(Deno.execPath(), ["run", "-A", this.#file], {
      cwd: "/",
      env: this.#env,
    });
    this.samples.push(u);
    return u;
  }

  /** Medians of wall, CPU and peak RSS over the samples so far. */
  summary(): { n: number; wallMs: number; cpuMs: number; peakMiB: number } {
    const s = this.samples;
    return {
      n: s.length,
      wallMs: r2(quantile(s.map((u) => u.wallMs), 0.5)),
      cpuMs: r2(quantile(s.map((u) => u.userMs + u.sysMs), 0.5)),
      peakMiB: r2(quantile(s.map((u) => u.maxrssKiB / 1024), 0.5)),
    };
  }

  async close(): Promise<void> {
    if (this.#file) await Deno.remove(this.#file).catch(() => {});
  }
}

/** Per-process figures of a set of runs, and their ratios to the bare runtime. */
export interface ProcessFigures {
  wallMs: Stat;
  cpuMs: Stat;
  peakMiB: Stat;
  /**
   * Wall against the bare runtime's, same for CPU: the median of each run's ratio to the bare
   * run right after it (a slow moment of a noisy machine slows both of a pair), or, for runs
   * without such a partner, median / the bare runtime's median.
   */
  wallRatio: number;
  cpuRatio: number;
}

/**
 * Figures of `runs` against the bare runtime's. `partners[i]`: the bare run made right after
 * `runs[i]` (all of them, or the ratios fall back to the medians of the whole run).
 */
export function figures(
  runs: ProcessUsage[],
  bare: Bare,
  partners?: ProcessUsage[],
): ProcessFigures {
  const b = bare.summary();
  const wall = stat(runs.map((u) => u.wallMs));
  const cpuOf = (u: ProcessUsage) => u.userMs + u.sysMs;
  const cpu = stat(runs.map(cpuOf));
  const paired = partners?.length === runs.length && runs.length > 0;
  const ratio = (f: (u: ProcessUsage) => number, median: number, bareMedian: number) =>
    r2(paired ? quantile(runs.map((u, i) => f(u) / f(partners![i])), 0.5) : median / bareMedian);
  return {
    wallMs: wall,
    cpuMs: cpu,
    peakMiB: stat(runs.map((u) => u.maxrssKiB / 1024)),
    wallRatio: ratio((u) => u.wallMs, wall.median, b.wallMs),
    cpuRatio: ratio(cpuOf, cpu.median, b.cpuMs),
  };
}

/** Memory of a group of processes at one instant (MiB). */
export interface GroupMemory {
  processes: number;
  rssMiB: number;
  pssMiB: number;
}

/**
 * Samples, every `everyMs`, the summed RSS and PSS (smaps_rollup) of the deno processes whose
 * environment contains `marker` (e.g. `ONEBLK_SIM_ROOT=<root>`); keeps the sample with the
 * largest PSS. PSS divides shared pages (the deno executable) among the processes sharing them:
 * the sum of PSS is what the group really occupies, the sum of RSS counts shared pages again
 * for every process.
 */
export class MemorySampler {
  peak: GroupMemory = { processes: 0, rssMiB: 0, pssMiB: 0 };
  #stop = false;
  #done: Promise<void> | undefined;

  constructor(readonly marker: string, readonly everyMs = 20) {}

  start(): void {
    this.#done = (async () => {
      while (!this.#stop) {
        const m = await this.#sample();
        if (m.pssMiB > this.peak.pssMiB) this.peak = m;
        await new Promise((r) => setTimeout(r, this.everyMs));
      }
    })();
  }

  async stop(): Promise<GroupMemory> {
    this.#stop = true;
    await this.#done;
    return this.peak;
  }

  async #sample(): Promise<GroupMemory> {
    let processes = 0;
    let rss = 0;
    let pss = 0;
    for await (const e of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(e.name)) continue;
      try {
        const comm = (await Deno.readTextFile(`/proc/${e.name}/comm`)).trim();
        if (comm !== "deno") continue;
        const environ = await Deno.readTextFile(`/proc/${e.name}/environ`);
        if (!environ.split("\0").includes(this.marker)) continue;
        const roll = await Deno.readTextFile(`/proc/${e.name}/smaps_rollup`);
        rss += Number(/^Rss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
        pss += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
        processes++;
      } catch { /* gone meanwhile */ }
    }
    return { processes, rssMiB: r2(rss / 1024), pssMiB: r2(pss / 1024) };
  }
}

/** The machine and runtime a report was measured on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  deno: string;
  v8: string;
  /** Load average (1 min) at the start and the end of the run. */
  loadStart: number;
  loadEnd?: number;
}

/** Facts of this machine. */
export async function machine(): Promise<Machine> {
  const read = (f: string) => Deno.readTextFile(f).catch(() => "");
  const cpuinfo = await read("/proc/cpuinfo");
  const mem = Number(/^MemTotal:\s+(\d+)/m.exec(await read("/proc/meminfo"))?.[1] ?? 0);
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memoryGiB: r2(mem / 1024 / 1024),
    kernel: (await read("/proc/sys/kernel/osrelease")).trim(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    loadStart: await loadAverage(),
  };
}

/** The 1-minute load average. */
export async function loadAverage(): Promise<number> {
  const t = await Deno.readTextFile("/proc/loadavg").catch(() => "0");
  return Number(t.split(" ")[0]);
}

/** How the launcher runs oneblk in this run: "bundle" or "source", with the deno flags. */
export interface RuntimeMode {
  mode: "bundle" | "source";
  flags: string[];
  /** Bundle: functions of the per-action programs compiled eagerly (tools/eager.ts). */
  eager?: number;
}

/** Build the bundle when asked (default) and say which mode the launcher will use. */
export async function runtimeMode(opts: { source: boolean }): Promise<RuntimeMode> {
  // the driver actions' flags: what every measured action runs with
  const flags = Deno.env.get("ONEBLK_DENO_FLAGS")?.split(/\s+/).filter(Boolean) ??
    await runtimeFlags({ action: true });
  if (opts.source) return { mode: "source", flags };
  await ensureBundle({ quiet: true });
  return { mode: "bundle", flags, eager: (await readStamp())?.eager ?? 0 };
}

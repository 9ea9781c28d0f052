/**
 * `deno task bench`: what the driver costs, in the figures an operator asks about.
 *
 *   deno task bench [--quick] [--samples N] [--volumes 100,1000,10000] [--source]
 *                   [--sections a,b,…] [--latency-ms N] [--json FILE]
 *
 * Every figure of a process is measured whole (python3's wait4 through tools/bench/rusage.py:
 * wall time, CPU of the process and the host commands it waited for, peak RSS), and set beside
 * a bare `deno run` of an empty file measured in the same run, alternately, so that ratios hold
 * on a noisy machine. The report states the machine, the load, and the runtime mode (bundle or
 * sources, deno flags) of every figure; `--source` runs the sources instead of the bundle, and
 * ONEBLK_DENO_FLAGS in the environment replaces the flags of scripts/deno-flags.
 *
 * Sections (`--sections` picks some; the JSON document has one key per section):
 *  startup      `oneblk version` through the launcher, bundle and sources; and the runtime's
 *               floor under an action that asks a store and runs a host command (a script of
 *               one HTTP request and one child process, with the actions' deno flags);
 *  hot          the hot actions (stat, monitor, rm, ln, mv, delete, premigrate, postmigrate)
 *               replayed `--samples` times on zero-latency simulators with simulated hosts:
 *               wall, CPU, peak RSS (median, p95), start-up share, REST calls and bytes, ssh
 *               and oned calls;
 *  lifecycle    every driver action of a whole VM life per profile (`--latency-ms` per store
 *               request, default 5);
 *  backend      every Backend operation against each simulator;
 *  monitor      datastore and tm monitor, with and without per-VM disks, at 100 / 1,000 /
 *               10,000 volumes: time, memory, REST calls, bytes read and on the wire;
 *  concurrency  15 concurrent instantiate and terminate (oned's `-t 15`): throughput, errors,
 *               summed RSS and PSS of the driver processes;
 *  throughput   a 1 GiB image imported (datastore cp) and cloned (tm clone), MiB/s;
 *  simscale     the LINSTOR simulator itself with 10,000 resource definitions (1,000 with
 *               `--quick`): spawn through REST, filtered `GET /v1/view/resources`, restart;
 *  backup       full vs incremental backup of a 1 GiB disk with 1% changed (tools/bench/backup.ts);
 *  and the sections other parts of the project add (EXTENSIONS below).
 *
 * `--quick` is a short version (5 samples, 100 volumes, 15 operations, 64 MiB). It reports;
 * it never fails on a timing. Exit code 1 only when a section could not run at all.
 */
import { parseArgs } from "node:util";
import { Lifecycle, unsupportedReason } from "./sim/scenario.ts";
import { type DriverCall, type ProfileName, PROFILES } from "./sim/oned/scripted_oned.ts";
import { benchLinstorBackend, benchLinstorScale } from "./sim/linstor/bench.ts";
import { benchStorpoolBackend } from "./sim/storpool/bench.ts";
import { benchBackups } from "./bench/backup.ts";
import { errorLine } from "../lib/errors.ts";
import {
  Bare,
  canMeter,
  loadAverage,
  log,
  type Machine,
  machine,
  type ProcessFigures,
  type RuntimeMode,
  runtimeMode,
  type Stat,
  stat,
} from "./bench/measure.ts";
import {
  benchFloor,
  benchHot,
  benchStartup,
  type EndMemory,
  HOT_ACTIONS,
  HOT_PROFILES,
  type HotRow,
  type StartupRow,
} from "./bench/hot.ts";
import { benchMonitor, type MonitorRow } from "./bench/monitor.ts";
import { usageBudget } from "../lib/domain/usage_cache.ts";
import {
  benchConcurrency,
  benchThroughput,
  type ConcurrencyRow,
  type ThroughputRow,
} from "./bench/load.ts";

/**
 * A section another part of the project adds: its own module, one line in EXTENSIONS. Its rows
 * are flat objects (one table column per key) and land in the JSON under `extensions.<id>`.
 */
export interface BenchExtension {
  id: string;
  title: string;
  run(
    o: { quick: boolean; env: Record<string, string>; latencyMs: number },
  ): Promise<Record<string, unknown>[]>;
}

/** Sections added by other parts of the project. */
const EXTENSIONS: BenchExtension[] = [
  {
    id: "simscale",
    title: "simulator scale: the LINSTOR simulator itself (definitions spawned through REST, " +
      "filtered listings, restart; targets: create < 60 s, filtered listing < 300 ms)",
    run: async ({ quick }) =>
      (await benchLinstorScale({ count: quick ? 1000 : 10000 })).map((r) => ({ ...r })),
  },
  {
    id: "backup",
    title: "backups: full vs incremental (one 1 GiB disk, 1% changed; --quick: 128 MiB, " +
      "LINSTOR only): wall ms of onevm backup and of tm prebackup, bytes stored",
    run: async ({ quick, latencyMs }) =>
      (await benchBackups(latencyMs, quick, quick ? ["linstor"] : undefined)).map((r) => ({
        ...r,
      })),
  },
];

/** Per driver action of the lifecycle section. */
export interface LifecycleRow {
  profile: ProfileName;
  /** `kind/script`, e.g. `tm/clone`, `vmm/save_linstor`. */
  action: string;
  wallMs: Stat;
  cpuMs: Stat;
  peakMiB: Stat;
  actionMs: Stat;
  rest: number;
  ssh: number;
  one: number;
  errors: number;
}

/** One Backend operation. */
export interface BackendRow {
  store: "linstor" | "storpool";
  op: string;
  medianMs: number;
  p95Ms: number;
  rest: number;
}

/** The JSON document written by --json. */
export interface BenchReport {
  meta: {
    date: string;
    machine: Machine;
    /** How the launcher ran oneblk for every figure of this report. */
    runtime: RuntimeMode;
    /** Not measurable here: a compiled binary needs Deno's runtime download. */
    compiled: string;
    /**
     * Deno's cache directory of the measured processes (actions, bare runs): "fresh", one made for
     * this run, as on a front-end that runs only oneblk; "shared", this machine's (--shared-deno-dir,
     * and in source mode, whose npm packages are there).
     */
    denoDir: "fresh" | "shared";
    quick: boolean;
    samples: number;
    latencyMs: number;
    /** The bare `deno run` of an empty file, medians over every sample of the run. */
    bare: { n: number; wallMs: number; cpuMs: number; peakMiB: number };
    skipped: string[];
  };
  startup?: StartupRow[];
  hot?: HotRow[];
  lifecycle?: LifecycleRow[];
  backend?: BackendRow[];
  monitor?: MonitorRow[];
  concurrency?: ConcurrencyRow[];
  throughput?: ThroughputRow[];
  extensions: Record<string, Record<string, unknown>[]>;
  /** Issue 15's targets against this run's figures (only those whose sections ran). */
  targets?: TargetRow[];
}

/** One performance target and how this run did against it. */
export interface TargetRow {
  target: string;
  /** The figure compared (the worst row when several are). */
  measured: string;
  met: boolean;
  /** Rows that missed it. */
  missed: string[];
}

/**
 * Start-up ≤ 2× bare, hot actions ≤ 3.5× bare, ≤ 40 MiB, monitors at 10,000 volumes. A figure
 * can only meet a target when it is one: a hot action that was not run, or whose runs failed,
 * and a monitor row that failed, miss every target they are part of (a failed run is fast and
 * small).
 */
export function checkTargets(r: BenchReport): TargetRow[] {
  const out: TargetRow[] = [];
  /** `rows`: name, figure, and why the figure is none (not run, failed runs). */
  const row = (
    target: string,
    rows: [string, number, string?][],
    limit: number,
    unit: string,
  ) => {
    if (!rows.length) return;
    const measured = rows.filter(([, , failed]) => failed === undefined);
    const worst = measured.length ? measured.reduce((a, b) => (b[1] > a[1] ? b : a)) : undefined;
    const missed = rows.filter(([, v, failed]) => failed !== undefined || !(v <= limit)).map((
      [n, v, failed],
    ) => failed !== undefined ? `${n} (${failed})` : `${n} ${v.toFixed(2)}${unit}`);
    out.push({
      target,
      measured: worst ? `worst ${worst[0]} ${worst[1].toFixed(2)}${unit}` : "no figure",
      met: missed.length === 0,
      missed,
    });
  };
  const version = r.startup?.find((s) => s.mode === "bundle");
  if (version) {
    row(
      "start-up (oneblk version, bundle, launcher) wall ≤ 2× bare",
      [
        ["version", version.wallRatio],
      ],
      2,
      "×",
    );
  }
  if (r.hot) {
    const hot = r.hot;
    const each = (figure: (h: HotRow) => number): [string, number, string?][] =>
      HOT_PROFILES.flatMap((p) =>
        HOT_ACTIONS.map((a): [string, number, string?] => {
          const h = hot.find((x) => x.profile === p && x.action === a);
          if (!h) return [`${p} ${a}`, NaN, "not run"];
          if (h.errors > 0) {
            return [`${p} ${a}`, NaN, `${h.errors} of ${h.wallMs.n} runs failed`];
          }
          return [`${p} ${a}`, figure(h)];
        })
      );
    row("hot action wall median ≤ 3.5× bare", each((h) => h.wallRatio), 3.5, "×");
    row("hot action peak RSS median ≤ 40 MiB", each((h) => h.peakMiB.median), 40, " MiB");
  }
  const big = r.monitor?.filter((m) => m.volumes >= 10000) ?? [];
  if (big.length) {
    const each = (figure: (m: MonitorRow) => number): [string, number, string?][] =>
      big.map((m) => [`${m.profile} ${m.action}`, figure(m), m.ok ? undefined : "failed"]);
    row(
      "monitor at 10,000 volumes: action time < 300 ms",
      each((m) => m.actionMs.median),
      300,
      " ms",
    );
    row(
      "monitor at 10,000 volumes: < 10 MB transferred",
      each((m) => m.wireMB ?? m.readMB),
      10,
      " MB",
    );
  }
  return out;
}

const SECTIONS = [
  "startup",
  "hot",
  "lifecycle",
  "backend",
  "monitor",
  "concurrency",
  "throughput",
] as const;

// ---------------------------------------------------------------------------------------------
// lifecycle

const QUICK_STEPS = ["register-raw", "register-qcow2", "datablock", "monitor", "instantiate"];

/** Every lifecycle step except the deliberate failure (the bench measures normal paths). */
const FULL_STEPS = new Lifecycle({ profile: "linstor" }).steps().map((s) => s.id)
  .filter((id) => id !== "stat-failure");

async function benchLifecycle(
  latencyMs: number,
  quick: boolean,
  env: Record<string, string>,
  skipped: string[],
): Promise<LifecycleRow[]> {
  const rows: LifecycleRow[] = [];
  for (const profile of PROFILES) {
    log(`lifecycle: ${profile}`);
    const life = new Lifecycle({
      profile,
      latencyMs,
      only: quick ? QUICK_STEPS : FULL_STEPS,
      meter: true,
      env,
    });
    await life.start();
    try {
      for (const step of life.steps()) {
        const missing = life.missing(step);
        const unsup = unsupportedReason(life, step);
        if (missing.length || unsup) {
          skipped.push(`${profile}/${step.id}: ${unsup ?? `missing ${missing.join(", ")}`}`);
          continue;
        }
        try {
          await step.run(life);
        } catch (e) {
          log(`  ${profile} ${step.id}: ${errorLine(e)}`);
          if (!(e instanceof Error && e.name === "AssertionError") && !step.isolated) break;
        }
      }
    } finally {
      await life.close();
    }
    const by = new Map<string, DriverCall[]>();
    for (const c of life.oned.calls) {
      const key = `${c.kind}/${c.script}`;
      by.set(key, [...(by.get(key) ?? []), c]);
    }
    for (const [action, cs] of by) {
      const st = cs.map((c) => c.stats).filter((s) => !!s);
      const use = cs.map((c) => c.usage).filter((u) => !!u);
      rows.push({
        profile,
        action,
        wallMs: stat(cs.map((c) => c.usage?.wallMs ?? c.wallMs)),
        cpuMs: stat(use.map((u) => u!.userMs + u!.sysMs)),
        peakMiB: stat(use.map((u) => u!.maxrssKiB / 1024)),
        actionMs: stat(st.map((s) => s!.ms)),
        rest: stat(st.map((s) => s!.rest)).median,
        ssh: stat(st.map((s) => s!.ssh)).median,
        one: stat(st.map((s) => s!.one)).median,
        errors: cs.filter((c) => !c.ok).length,
      });
    }
  }
  return rows.sort((a, b) =>
    a.profile.localeCompare(b.profile) || a.action.localeCompare(b.action)
  );
}

// ---------------------------------------------------------------------------------------------
// backend

async function benchBackend(latencyMs: number, iterations: number): Promise<BackendRow[]> {
  log("backend: LINSTOR");
  const ls = await benchLinstorBackend({ latencyMs, iterations });
  log("backend: StorPool");
  const sp = await benchStorpoolBackend({ latencyMs, iterations });
  return [
    ...ls.map((r) => ({ store: "linstor" as const, ...r })),
    ...sp.map((r) => ({ store: "storpool" as const, ...r })),
  ];
}

// ---------------------------------------------------------------------------------------------
// output

function table(head: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => typeof c === "number" ? String(c) : c));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 || i === 1 ? x.padEnd(w[i]) : x.padStart(w[i]))).join("  ");
  return [line(head), w.map((n) => "─".repeat(n)).join("  "), ...cells.map(line)].join("\n");
}

const f0 = (n: number) => Number.isFinite(n) ? n.toFixed(0) : "-";
const f1 = (n: number) => Number.isFinite(n) ? n.toFixed(1) : "-";
const f2 = (n: number) => Number.isFinite(n) ? n.toFixed(2) : "-";
const pct = (n: number) => Number.isFinite(n) ? `${Math.round(n * 100)} %` : "-";

/** Which program each hot row ran (the runtime mode of its figures). */
function programsLine(rows: HotRow[]): string {
  const own = rows.filter((h) =>
    /^dist\/bundle\/drivers\/[^,/]+\/[^,]+$/.test(h.program) &&
    h.program.includes(`/${h.profile}/`)
  );
  if (own.length === rows.length) {
    return "programs: every row ran its driver's own program of its action " +
      "(dist/bundle/drivers/<driver>/<kind>/<name>.js)";
  }
  return "programs: " + rows.map((h) => `${h.profile} ${h.action} ${h.program}`).join("; ");
}

/** The process columns: wall, CPU, peak with their ratios to the bare runtime. */
function procCells(p: ProcessFigures): string[] {
  return [
    `${f0(p.wallMs.median)} / ${f0(p.wallMs.p95)}`,
    `${f2(p.wallRatio)}×`,
    `${f0(p.cpuMs.median)} / ${f0(p.cpuMs.p95)}`,
    `${f2(p.cpuRatio)}×`,
    `${f1(p.peakMiB.median)} / ${f1(p.peakMiB.p95)}`,
  ];
}
const PROC_HEAD = ["wall ms med/p95", "×bare", "cpu ms med/p95", "×bare", "peak MiB med/p95"];

/** The memory a process had when it ended, private / mapped from files (MiB). */
function endCell(m: EndMemory | null | undefined): string {
  return m ? `${f1(m.private)} / ${f1(m.file)}` : "-";
}
const END_MEMORY_NOTE =
  "private/file MiB: the process's resident memory when it ended (medians), " +
  "its own and the pages of the deno executable (shared with every deno process; Linux maps " +
  "them in blocks of up to 64 KiB)";

/** Render the whole report as text tables. */
export function renderReport(r: BenchReport): string {
  const m = r.meta;
  const out: string[] = [
    `oneblk benchmark, ${m.date}`,
    `machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGiB} GiB, ` +
    `Linux ${m.machine.kernel}; load ${m.machine.loadStart} → ${m.machine.loadEnd ?? "?"}`,
    `runtime: deno ${m.machine.deno} (V8 ${m.machine.v8}), oneblk from the ${m.runtime.mode}` +
    (m.runtime.eager !== undefined
      ? ` (${m.runtime.eager} hot functions compiled eagerly, tools/eager.ts)`
      : "") +
    ` through scripts/oneblk, driver action flags: ${
      m.runtime.flags.join(" ") || "none"
    }; compiled: ` +
    m.compiled +
    (m.denoDir === "fresh"
      ? "; Deno's cache (DENO_DIR) of the measured processes: a new one, as on a front-end that runs only oneblk"
      : "; Deno's cache (DENO_DIR): this machine's"),
    `bare runtime (deno run of an empty file, ${m.bare.n} samples): wall ${m.bare.wallMs} ms, ` +
    `cpu ${m.bare.cpuMs} ms, peak ${m.bare.peakMiB} MiB`,
    `samples per row: ${m.samples}${m.quick ? " (quick)" : ""}; p95 is the maximum below 20; ` +
    "×bare: median of each run's ratio to the bare run made right after it",
  ];
  if (r.startup) {
    out.push(
      "",
      "start-up: oneblk version through the launcher (floor: no oneblk, one HTTP request and one " +
        "host command with the actions' deno flags)",
      END_MEMORY_NOTE,
      table(
        ["mode", ...PROC_HEAD, "private/file MiB"],
        r.startup.map((s) => [s.mode, ...procCells(s), endCell(s.endMiB)]),
      ),
    );
  }
  if (r.hot) {
    out.push(
      "",
      "hot actions, replayed (zero-latency simulators, simulated hosts)",
      END_MEMORY_NOTE,
      table(
        [
          "profile",
          "action",
          ...PROC_HEAD,
          "private/file MiB",
          "start-up",
          "REST",
          "REST KiB",
          "ssh",
          "oned",
          "err",
        ],
        r.hot.map((h) => [
          h.profile,
          h.action,
          ...procCells(h),
          endCell(h.endMiB),
          pct(h.startupShare),
          h.rest,
          f1(h.restKiB),
          h.ssh,
          h.one,
          h.errors,
        ]),
      ),
      programsLine(r.hot),
    );
  }
  if (r.lifecycle) {
    out.push(
      "",
      `every action of a VM life (${m.latencyMs} ms per store request)`,
      table(
        [
          "profile",
          "action",
          "n",
          "wall ms med/p95",
          "cpu ms",
          "peak MiB",
          "REST",
          "ssh",
          "oned",
          "err",
        ],
        r.lifecycle.map((a) => [
          a.profile,
          a.action,
          a.wallMs.n,
          `${f0(a.wallMs.median)} / ${f0(a.wallMs.p95)}`,
          f0(a.cpuMs.median),
          f1(a.peakMiB.median),
          a.rest,
          a.ssh,
          a.one,
          a.errors,
        ]),
      ),
    );
  }
  if (r.backend) {
    out.push(
      "",
      `backend interface (${m.latencyMs} ms per store request)`,
      table(
        ["store", "op", "median ms", "p95 ms", "REST"],
        r.backend.map((b) => [b.store, b.op, f1(b.medianMs), f1(b.p95Ms), b.rest]),
      ),
    );
  }
  if (r.monitor) {
    out.push(
      "",
      "monitoring at scale (zero-latency simulators; MB = 10^6 bytes)",
      table(
        [
          "profile",
          "action",
          "volumes",
          "wall ms med",
          "action ms med",
          "cpu ms",
          "peak MiB",
          "REST",
          "read MB",
          "wire MB",
          "ok",
        ],
        r.monitor.map((x) => [
          x.profile,
          x.action,
          x.volumes,
          f0(x.wallMs.median),
          f0(x.actionMs.median),
          f0(x.cpuMs.median),
          f1(x.peakMiB.median),
          x.rest,
          f2(x.readMB),
          x.wireMB === null ? "-" : f2(x.wireMB),
          x.ok ? "yes" : "NO",
        ]),
      ),
      "+vm disks rows go through the front-end's usage cache, at most " +
        `${
          usageBudget(Deno.env.toObject())
        } volumes read per run (ONEBLK_USAGE_REFRESH): "cold cache" is a first run ` +
        '(no cache; reports only the VMs it read), "steady" a run once every volume was read ' +
        "(reports every VM; the figures it did not read come from the cache). StorPool's " +
        "listing carries the usage: no cache there.",
    );
  }
  if (r.concurrency) {
    out.push(
      "",
      "15 concurrent operations (oned -t 15; memory: all driver processes at their peak)",
      table(
        [
          "profile",
          "operation",
          "ops",
          "calls",
          "wall ms",
          "calls/s",
          "errors",
          "procs",
          "Σ RSS MiB",
          "Σ PSS MiB",
        ],
        r.concurrency.map((c) => [
          c.profile,
          c.operation,
          c.operations,
          c.driverCalls,
          f0(c.wallMs),
          f1(c.throughput),
          c.errors,
          c.memory.processes,
          f0(c.memory.rssMiB),
          f0(c.memory.pssMiB),
        ]),
      ),
    );
  }
  if (r.throughput) {
    out.push(
      "",
      "big images",
      table(
        ["profile", "operation", "MiB", "wall ms", "MiB/s", "peak MiB (whose)", "ok"],
        r.throughput.map((t) => [
          t.profile,
          t.operation,
          t.MiB,
          f0(t.wallMs),
          f1(t.MiBps),
          t.peakMiB === undefined ? "-" : `${f1(t.peakMiB)} (${t.peakAction})`,
          t.ok ? "yes" : "NO",
        ]),
      ),
    );
  }
  for (const ext of EXTENSIONS) {
    const rows = r.extensions[ext.id];
    if (!rows?.length) continue;
    const head = Object.keys(rows[0]);
    out.push(
      "",
      ext.title,
      table(head, rows.map((x) => head.map((k) => String(x[k] ?? "-")))),
    );
  }
  if (r.targets?.length) {
    out.push("", "targets (issue 15; ratios to the bare runtime of this run)");
    for (const t of r.targets) {
      out.push(`  ${t.met ? "met   " : "MISSED"}  ${t.target}: ${t.measured}`);
      if (!t.met) out.push(`          missed by: ${t.missed.join(", ")}`);
    }
  }
  if (m.skipped.length) out.push("", "skipped:", ...m.skipped.map((s) => `  ${s}`));
  return out.join("\n");
}

/** Run the benchmark with command-line arguments; returns the exit code. */
export async function benchMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "latency-ms": { type: "string", default: "5" },
      samples: { type: "string" },
      volumes: { type: "string" },
      sections: { type: "string" },
      quick: { type: "boolean", default: false },
      source: { type: "boolean", default: false },
      "shared-deno-dir": { type: "boolean", default: false },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      "deno task bench [--quick] [--samples N] [--volumes 100,1000,10000] [--source]\n" +
        `                [--sections ${
          [...SECTIONS, ...EXTENSIONS.map((e) => e.id)].join(",")
        }]\n` +
        "                [--latency-ms N] [--shared-deno-dir] [--json FILE]",
    );
    return 0;
  }
  const quick = values.quick === true;
  const latencyMs = Number(values["latency-ms"]);
  const samples = Number(values.samples ?? (quick ? 5 : 20));
  const volumes = (values.volumes ?? (quick ? "100" : "100,1000,10000")).split(",").map(Number);
  const known = [...SECTIONS, ...EXTENSIONS.map((e) => e.id)] as string[];
  const wanted = values.sections?.split(",") ?? known;
  const bad = wanted.filter((s) => !known.includes(s));
  if (
    !Number.isFinite(latencyMs) || latencyMs < 0 || !Number.isInteger(samples) || samples < 1 ||
    volumes.some((v) => !Number.isInteger(v) || v < 1) || bad.length
  ) {
    console.error(
      "ERROR: bench: --latency-ms ≥ 0, --samples and --volumes positive integers, " +
        `--sections from ${known.join(",")}`,
    );
    return 1;
  }
  if (!await canMeter()) {
    console.error("ERROR: bench: python3 is needed to measure processes (apt-get install python3)");
    return 1;
  }
  const want = (s: string) => wanted.includes(s);
  const runtime = await runtimeMode({ source: values.source === true });
  const env: Record<string, string> = runtime.mode === "source" ? { ONEBLK_SOURCE: "1" } : {};
  // another flag set than scripts/deno-flags, for comparing them (see scripts/oneblk)
  const flags = Deno.env.get("ONEBLK_DENO_FLAGS");
  if (flags !== undefined) env.ONEBLK_DENO_FLAGS = flags;
  // another usage cache budget than the default (tm monitor with per-VM disks)
  const refresh = Deno.env.get("ONEBLK_USAGE_REFRESH");
  if (refresh !== undefined) env.ONEBLK_USAGE_REFRESH = refresh;
  // Deno's caches of module analysis and code (SQLite files in DENO_DIR) take a share of every
  // process's memory that grows with all that ran on the machine (tests, lint, fmt): the measured
  // processes get a cache of their own, as on a front-end where only oneblk runs.
  const denoDir = runtime.mode === "bundle" && values["shared-deno-dir"] !== true
    ? await Deno.makeTempDir({ prefix: "oneblk-bench-deno-" })
    : null;
  if (denoDir) env.DENO_DIR = denoDir;
  const bare = new Bare(denoDir ? { DENO_DIR: denoDir } : {});
  const report: BenchReport = {
    meta: {
      date: new Date().toISOString(),
      machine: await machine(),
      runtime,
      compiled: "not measured (deno compile needs Deno's runtime download)",
      denoDir: denoDir ? "fresh" : "shared",
      quick,
      samples,
      latencyMs,
      bare: { n: 0, wallMs: NaN, cpuMs: NaN, peakMiB: NaN },
      skipped: [],
    },
    extensions: {},
  };
  const failed: string[] = [];
  const section = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!want(name)) return undefined;
    try {
      return await fn();
    } catch (e) {
      log(`${name}: ${errorLine(e)}`);
      failed.push(name);
      return undefined;
    }
  };
  try {
    for (let i = 0; i < 3; i++) await bare.sample();
    report.startup = await section(
      "startup",
      () =>
        benchStartup(
          bare,
          samples,
          runtime.mode === "source" ? ["source"] : ["bundle", "source"],
          denoDir ? { DENO_DIR: denoDir } : {},
        ).then(async (rows) => [
          ...rows,
          await benchFloor(bare, samples, runtime.flags, denoDir ? { DENO_DIR: denoDir } : {}),
        ]),
    );
    report.hot = await section(
      "hot",
      () => benchHot(bare, samples, HOT_PROFILES, env, report.meta.skipped),
    );
    report.lifecycle = await section(
      "lifecycle",
      () => benchLifecycle(latencyMs, quick, env, report.meta.skipped),
    );
    report.backend = await section("backend", () => benchBackend(latencyMs, quick ? 2 : 5));
    report.monitor = await section("monitor", () => benchMonitor(volumes, quick ? 2 : 5, env));
    report.concurrency = await section("concurrency", () =>
      benchConcurrency(
        quick ? 15 : 45,
        quick ? ["linstor"] : ["linstor", "storpool"],
        env,
        quick ? ["instantiate"] : ["instantiate", "terminate"],
      ));
    report.throughput = await section(
      "throughput",
      () => benchThroughput(quick ? 64 : 1024, quick ? ["linstor"] : ["linstor", "storpool"], env),
    );
    for (const ext of EXTENSIONS) {
      const rows = await section(ext.id, () => ext.run({ quick, env, latencyMs }));
      if (rows) report.extensions[ext.id] = rows;
    }
    for (let i = 0; i < 3; i++) await bare.sample();
  } finally {
    await bare.close();
    if (denoDir) await Deno.remove(denoDir, { recursive: true }).catch(() => {});
  }
  report.meta.bare = bare.summary();
  report.meta.machine.loadEnd = await loadAverage();
  report.targets = checkTargets(report);
  console.log(renderReport(report));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
  if (failed.length) console.error(`ERROR: bench: could not run ${failed.join(", ")}`);
  return failed.length ? 1 : 0;
}

if (import.meta.main) Deno.exit(await benchMain(Deno.args));

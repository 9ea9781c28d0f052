/**
 * `deno task bench`: how fast and how chatty the driver actions are against the simulators.
 *
 *   deno run -A tools/bench.ts [--latency-ms N] [--iterations N] [--quick] [--json FILE]
 *
 * Sections (each store request of the simulators is delayed by --latency-ms, default 5):
 *  1. actions: whole VM lives (tools/sim/scenario.ts) per profile, `--iterations` times; per
 *     driver action the median and p95 wall time (process spawn included), the action's own
 *     time, and its REST and ssh calls (from the cluster's stats.jsonl);
 *  2. backend: every Backend interface operation (benchLinstorBackend / benchStorpoolBackend);
 *  3. monitor scaling: datastore monitor (image DS) and tm monitor (system DS, per-VM disk
 *     usage) with 10 / 1,000 / 5,000 VM disk volumes in the store; the REST calls must not grow
 *     with the volume count (reported, not asserted);
 *  4. concurrency: 15 concurrent operations (oned's default `-t 15`), throughput and errors.
 *
 * `--quick` runs a short version (fewer steps, one iteration, 10 / 200 volumes, one
 * concurrent batch). This is a benchmark: it reports numbers and never fails on timings; the
 * exit code is 1 only when something could not run at all.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { startCluster } from "./sim/cluster.ts";
import type { Cluster } from "./sim/cluster.ts";
import { Lifecycle, unsupportedReason } from "./sim/scenario.ts";
import {
  type DriverCall,
  type ProfileName,
  PROFILES,
  ScriptedOned,
} from "./sim/oned/scripted_oned.ts";
import { benchLinstorBackend } from "./sim/linstor/bench.ts";
import { benchStorpoolBackend } from "./sim/storpool/bench.ts";
import { openBackend } from "../lib/backend/index.ts";
import { hostRunnerFromEnv } from "../lib/host/index.ts";
import { OneClient } from "../lib/one/xmlrpc.ts";
import { errorLine } from "../lib/errors.ts";

/** Per driver action timings of the lifecycle section. */
export interface ActionRow {
  profile: ProfileName;
  /** `kind/script`, e.g. `tm/clone`, `vmm/save_linstor`. */
  action: string;
  n: number;
  wallMedianMs: number;
  wallP95Ms: number;
  actionMedianMs: number;
  actionP95Ms: number;
  restMedian: number;
  restMax: number;
  sshMedian: number;
  sshMax: number;
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

/** One monitor run at a given volume count. */
export interface MonitorRow {
  profile: ProfileName;
  volumes: number;
  /** `datastore/monitor` (image DS) or `tm/monitor` (system DS with per-VM disk usage). */
  action: string;
  wallMs: number;
  actionMs: number;
  rest: number;
  ssh: number;
  ok: boolean;
}

/** One concurrent batch. */
export interface ConcurrencyRow {
  profile: ProfileName;
  operation: string;
  operations: number;
  concurrency: number;
  driverCalls: number;
  wallMs: number;
  /** Driver calls per second. */
  throughput: number;
  errors: number;
  rest: number;
  ssh: number;
}

/** The JSON document written by --json. */
export interface BenchReport {
  meta: {
    latencyMs: number;
    iterations: number;
    quick: boolean;
    date: string;
    deno: string;
    skippedSteps: string[];
  };
  actions: ActionRow[];
  backend: BackendRow[];
  monitorScaling: MonitorRow[];
  /** `<profile> <action>` → true when the REST calls were the same at every volume count. */
  monitorRestConstant: Record<string, boolean>;
  concurrency: ConcurrencyRow[];
}

const MiB = 1024 * 1024;

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return 0;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

function r2(n: number): number {
  return Math.round(n * 100) / 100;
}

function log(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
}

// ---------------------------------------------------------------------------------------------
// 1. actions

const QUICK_STEPS = [
  "register-raw",
  "register-qcow2",
  "datablock",
  "monitor",
  "instantiate",
  "live-migrate",
  "terminate",
];

/** Every lifecycle step except the deliberate failure (the bench measures normal paths). */
const FULL_STEPS = new Lifecycle({ profile: "linstor" }).steps().map((s) => s.id)
  .filter((id) => id !== "stat-failure");

async function benchActions(
  latencyMs: number,
  iterations: number,
  quick: boolean,
  skipped: string[],
): Promise<ActionRow[]> {
  const calls = new Map<string, { profile: ProfileName; calls: DriverCall[] }>();
  const one = async (profile: ProfileName) => {
    const life = new Lifecycle({ profile, latencyMs, only: quick ? QUICK_STEPS : FULL_STEPS });
    await life.start();
    try {
      for (const step of life.steps()) {
        const missing = life.missing(step);
        const unsup = unsupportedReason(life, step);
        if (missing.length || unsup) {
          const why = unsup ?? `missing ${missing.join(", ")}`;
          if (!skipped.includes(`${profile}/${step.id}: ${why}`)) {
            skipped.push(`${profile}/${step.id}: ${why}`);
          }
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
    for (const c of life.oned.calls) {
      const key = `${profile} ${c.kind}/${c.script}`;
      const e = calls.get(key) ?? { profile, calls: [] };
      e.calls.push(c);
      calls.set(key, e);
    }
  };
  for (let i = 0; i < iterations; i++) {
    log(`actions: iteration ${i + 1}/${iterations}`);
    if (quick) await Promise.all(PROFILES.map(one));
    else for (const p of PROFILES) await one(p);
  }
  const rows: ActionRow[] = [];
  for (const [key, { profile, calls: cs }] of calls) {
    const withStats = cs.filter((c) => c.stats);
    const pick = (f: (c: DriverCall) => number) => withStats.map(f);
    rows.push({
      profile,
      action: key.slice(key.indexOf(" ") + 1),
      n: cs.length,
      wallMedianMs: r2(quantile(cs.map((c) => c.wallMs), 0.5)),
      wallP95Ms: r2(quantile(cs.map((c) => c.wallMs), 0.95)),
      actionMedianMs: r2(quantile(pick((c) => c.stats!.ms), 0.5)),
      actionP95Ms: r2(quantile(pick((c) => c.stats!.ms), 0.95)),
      restMedian: quantile(pick((c) => c.stats!.rest), 0.5),
      restMax: Math.max(0, ...pick((c) => c.stats!.rest)),
      sshMedian: quantile(pick((c) => c.stats!.ssh), 0.5),
      sshMax: Math.max(0, ...pick((c) => c.stats!.ssh)),
      errors: cs.filter((c) => !c.ok).length,
    });
  }
  return rows.sort((a, b) =>
    a.profile.localeCompare(b.profile) || a.action.localeCompare(b.action)
  );
}

// ---------------------------------------------------------------------------------------------
// 2. backend

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
// 3. monitor scaling

function volatileName(profile: ScriptedOned["profile"], vm: number): string {
  return profile.volatileVolume(vm, 0, "raw");
}

/** Create one VM-disk volume per store through the Backend: the template of the others. */
async function templateVolumes(c: Cluster): Promise<void> {
  for (const name of ["linstor", "storpool"] as const) {
    const s = new ScriptedOned(c, { profile: name });
    const ds = s.datastore(s.systemDs);
    const be = openBackend(s.profile.store(ds.template, ds.id), {
      env: c.env,
      hosts: await hostRunnerFromEnv(c.env),
      one: () => OneClient.fromEnv({ env: c.env }),
    });
    try {
      await be.createVolume(volatileName(s.profile, 100000), 4, {
        placement: s.profile.placement(ds.template, ds.id),
        props: s.profile.diskProps(100000, 0, ds.id),
      });
    } finally {
      await be.close();
    }
  }
}

/** Copy the StorPool template volume `count - 1` times in a stopped simulator's state file. */
async function seedStorpoolState(
  root: string,
  tpl: string,
  count: number,
  px: (vm: number) => string,
) {
  const file = join(root, "storpool", "state.json");
  const st = JSON.parse(await Deno.readTextFile(file));
  const base = st.volumes[tpl];
  if (!base) throw new Error(`StorPool template volume ${tpl} not found in ${file}`);
  for (let i = 1; i < count; i++) {
    const vm = 100000 + i;
    const id = st.nextId++;
    st.volumes[px(vm)] = {
      ...base,
      name: px(vm),
      globalId: `s.b.${id.toString(36)}`,
      visibleVolumeId: id,
      tags: { ...base.tags, nvm: String(vm) },
    };
  }
  await Deno.writeTextFile(file, JSON.stringify(st));
}

/** Copy the LINSTOR template resource `count - 1` times in the running simulator's state. */
function seedLinstor(c: Cluster, tpl: string, count: number, name: (vm: number) => string) {
  const ctl = c.linstor.controller;
  const base = ctl.rd(tpl);
  if (!base) throw new Error(`LINSTOR template resource ${tpl} not found`);
  for (let i = 1; i < count; i++) {
    const vm = 100000 + i;
    const rd = structuredClone(base);
    rd.name = name(vm);
    rd.uuid = crypto.randomUUID();
    rd.port = ctl.state.nextPort++;
    rd.props = { ...rd.props, "Aux/one/VM_ID": String(vm) };
    for (const vd of rd.vds) {
      vd.minor = ctl.state.nextMinor++;
      vd.uuid = crypto.randomUUID();
    }
    for (const r of rd.rscs) r.uuid = crypto.randomUUID();
    ctl.state.rds.push(rd);
  }
}

async function benchMonitor(
  latencyMs: number,
  counts: number[],
): Promise<{ rows: MonitorRow[]; constant: Record<string, boolean> }> {
  const rows: MonitorRow[] = [];
  for (const n of counts) {
    log(`monitor scaling: ${n} volumes`);
    const root = await Deno.makeTempDir({ prefix: "oneblk-bench-mon-" });
    try {
      const c1 = await startCluster({ root, latencyMs: 0 });
      const sp = new ScriptedOned(c1, { profile: "storpool" });
      const ls = new ScriptedOned(c1, { profile: "linstor" });
      await templateVolumes(c1);
      await c1.stop();
      await seedStorpoolState(
        root,
        volatileName(sp.profile, 100000),
        n,
        (vm) => volatileName(sp.profile, vm),
      );
      const c = await startCluster({ root, latencyMs: 0 });
      try {
        seedLinstor(c, volatileName(ls.profile, 100000), n, (vm) => volatileName(ls.profile, vm));
        c.linstor.setLatency(latencyMs);
        if (latencyMs > 0) c.storpool.addFault({ method: "*", delayMs: latencyMs });
        for (const profile of ["linstor", "storpool"] as const) {
          const s = new ScriptedOned(c, { profile });
          await s.prepare();
          for (
            const [action, ds, vmDisks] of [
              ["datastore/monitor", s.imageDs, false],
              ["tm/monitor", s.systemDs, true],
            ] as const
          ) {
            const runs: DriverCall[] = [];
            for (let k = 0; k < 3; k++) {
              try {
                await s.monitorDatastore(ds, { vmDisks });
              } catch (e) {
                log(`  ${profile} ${action} (${n}): ${errorLine(e)}`);
              }
              runs.push(s.calls.at(-1)!);
            }
            const mid = runs.sort((a, b) => a.wallMs - b.wallMs)[1];
            rows.push({
              profile,
              volumes: n,
              action,
              wallMs: r2(mid.wallMs),
              actionMs: r2(mid.stats?.ms ?? NaN),
              rest: mid.stats?.rest ?? NaN,
              ssh: mid.stats?.ssh ?? NaN,
              ok: runs.every((r) => r.ok),
            });
          }
        }
      } finally {
        await c.stop();
      }
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  }
  const constant: Record<string, boolean> = {};
  for (const r of rows) {
    const key = `${r.profile} ${r.action}`;
    const first = rows.find((x) => `${x.profile} ${x.action}` === key)!;
    constant[key] = (constant[key] ?? true) && r.rest === first.rest && r.ok;
  }
  return { rows, constant };
}

// ---------------------------------------------------------------------------------------------
// 4. concurrency

async function pool<T>(n: number, width: number, fn: (i: number) => Promise<T>) {
  let next = 0;
  let errors = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) {
      const i = next++;
      try {
        await fn(i);
      } catch (e) {
        errors++;
        log(`  concurrent operation ${i}: ${errorLine(e)}`);
      }
    }
  }));
  return errors;
}

async function statsSince(c: Cluster, from: number) {
  const lines = (await c.stats()).slice(from);
  return {
    count: lines.length,
    rest: lines.reduce((n, l) => n + l.rest, 0),
    ssh: lines.reduce((n, l) => n + l.ssh, 0),
  };
}

async function benchConcurrency(
  latencyMs: number,
  quick: boolean,
  profiles: ProfileName[],
): Promise<ConcurrencyRow[]> {
  const width = 15;
  const ops = quick ? 15 : 45;
  const rows: ConcurrencyRow[] = [];
  for (const profile of profiles) {
    log(`concurrency: ${profile}, ${ops} operations, ${width} at a time`);
    const s = await ScriptedOned.start({ profile, latencyMs });
    try {
      const src = join(s.cluster.root, "bench.raw");
      await Deno.writeFile(src, new Uint8Array(4 * MiB).fill(7));
      const img = await s.registerImage({ name: "bench", path: src });
      const hosts = ["bravo", "charlie", "delta"];
      const vms: number[] = [];
      const phase = async (operation: string, fn: (i: number) => Promise<void>) => {
        const from = (await s.cluster.stats()).length;
        const t0 = performance.now();
        const errors = await pool(ops, width, fn);
        const wallMs = performance.now() - t0;
        const st = await statsSince(s.cluster, from);
        rows.push({
          profile,
          operation,
          operations: ops,
          concurrency: width,
          driverCalls: st.count,
          wallMs: r2(wallMs),
          throughput: r2(st.count / (wallMs / 1000)),
          errors,
          rest: st.rest,
          ssh: st.ssh,
        });
      };
      await phase("instantiate (tm clone)", async (i) => {
        const vm = await s.instantiate({
          host: hosts[i % hosts.length],
          disks: [{ image: img.id }],
          context: false,
        });
        vms.push(vm.id);
      });
      if (!quick) {
        const list = [...vms];
        await phase("terminate (tm delete)", async (i) => {
          if (list[i] !== undefined) await s.terminate(list[i]);
        });
      }
    } finally {
      await s.close();
    }
  }
  return rows;
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

/** Render the whole report as text tables. */
export function renderReport(r: BenchReport): string {
  const out: string[] = [];
  out.push(
    `oneblk benchmark: latency ${r.meta.latencyMs} ms per store request, ` +
      `${r.meta.iterations} iteration(s)${r.meta.quick ? " (quick)" : ""}`,
    "",
    "1. driver actions (wall = spawn + run; action = the action's own time)",
    table(
      [
        "profile",
        "action",
        "n",
        "wall med",
        "wall p95",
        "act med",
        "act p95",
        "REST med",
        "REST max",
        "ssh med",
        "ssh max",
        "err",
      ],
      r.actions.map((a) => [
        a.profile,
        a.action,
        a.n,
        a.wallMedianMs.toFixed(0),
        a.wallP95Ms.toFixed(0),
        a.actionMedianMs.toFixed(0),
        a.actionP95Ms.toFixed(0),
        a.restMedian,
        a.restMax,
        a.sshMedian,
        a.sshMax,
        a.errors,
      ]),
    ),
    "",
    "2. backend interface",
    table(
      ["store", "op", "median ms", "p95 ms", "REST"],
      r.backend.map((b) => [b.store, b.op, b.medianMs.toFixed(1), b.p95Ms.toFixed(1), b.rest]),
    ),
    "",
    "3. monitor scaling",
    table(
      ["profile", "action", "volumes", "wall ms", "action ms", "REST", "ssh", "ok"],
      r.monitorScaling.map((m) => [
        m.profile,
        m.action,
        m.volumes,
        m.wallMs.toFixed(0),
        Number.isFinite(m.actionMs) ? m.actionMs.toFixed(0) : "-",
        Number.isFinite(m.rest) ? m.rest : "-",
        Number.isFinite(m.ssh) ? m.ssh : "-",
        m.ok ? "yes" : "NO",
      ]),
    ),
    ...Object.entries(r.monitorRestConstant).map(([k, v]) =>
      `  ${k}: REST calls ${v ? "constant" : "NOT constant"} across volume counts`
    ),
    "",
    "4. concurrency (oned -t 15)",
    table(
      [
        "profile",
        "operation",
        "ops",
        "width",
        "calls",
        "wall ms",
        "calls/s",
        "errors",
        "REST",
        "ssh",
      ],
      r.concurrency.map((c) => [
        c.profile,
        c.operation,
        c.operations,
        c.concurrency,
        c.driverCalls,
        c.wallMs.toFixed(0),
        c.throughput.toFixed(1),
        c.errors,
        c.rest,
        c.ssh,
      ]),
    ),
  );
  if (r.meta.skippedSteps.length) {
    out.push("", "skipped (actions not implemented):", ...r.meta.skippedSteps.map((s) => `  ${s}`));
  }
  return out.join("\n");
}

/** Run the benchmark with command-line arguments; returns the exit code. */
export async function benchMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "latency-ms": { type: "string", default: "5" },
      iterations: { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      "deno run -A tools/bench.ts [--latency-ms N] [--iterations N] [--quick] [--json FILE]",
    );
    return 0;
  }
  const latencyMs = Number(values["latency-ms"]);
  const quick = values.quick === true;
  const iterations = Number(values.iterations ?? (quick ? 1 : 3));
  if (
    !Number.isFinite(latencyMs) || latencyMs < 0 || !Number.isInteger(iterations) || iterations < 1
  ) {
    console.error("ERROR: bench: --latency-ms must be ≥ 0 and --iterations a positive integer");
    return 1;
  }
  const skipped: string[] = [];
  const actions = await benchActions(latencyMs, iterations, quick, skipped);
  const backend = await benchBackend(latencyMs, quick ? 2 : Math.max(5, iterations * 3));
  const mon = await benchMonitor(latencyMs, quick ? [10, 200] : [10, 1000, 5000]);
  const concurrency = await benchConcurrency(
    latencyMs,
    quick,
    quick ? ["linstor"] : ["linstor", "storpool"],
  );
  const report: BenchReport = {
    meta: {
      latencyMs,
      iterations,
      quick,
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      skippedSteps: skipped,
    },
    actions,
    backend,
    monitorScaling: mon.rows,
    monitorRestConstant: mon.constant,
    concurrency,
  };
  console.log(renderReport(report));
  if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(report, null, 2) + "\n");
  return actions.length && backend.length && mon.rows.length && concurrency.length ? 0 : 1;
}

if (import.meta.main) Deno.exit(await benchMain(Deno.args));

/**
 * The fault matrix: every case of tools/faults/cases.ts on every setting (profile, variant), with
 * one fault per point, judged against reference runs of the same case.
 *
 * Per (setting, case) two reference runs come first:
 *  - `none`: no fault. It counts the target's REST requests (N) and host steps (S), and its
 *    inventories are what a fault point whose target succeeded must end with;
 *  - `fail-early`: oned sees the target fail without the program running (as when it dies
 *    before doing anything). Its inventories are what a point whose target failed must end
 *    with: a failing action leaves nothing behind, and oned's retry then converges.
 * Then the fault points: each REST fault mode at each request 1..N, each host fault mode at
 * each step 1..S, on LINSTOR a clone that ends FAILED (reply delivered, and reply lost) at each
 * clone request, and a store token no HTTP header can carry (`token`).
 *
 * A point runs in a fresh world: setup, the operation with the fault at its target, oned's or the
 * user's retry when the target failed, checks ("after"), the case's teardown, checks ("end").
 * What can be wrong, and the class a point gets (the first that applies, in this order):
 *  - crash/hang: the target exited other than 0 or 1, did not end within 180 s (killed, as
 *    oned's MAD would at its timeout), printed a stack trace, or failed with other than exactly
 *    one error line;
 *  - data-loss: an image or VM disk does not hold its data (or its link points to nothing), a
 *    volume or snapshot the reference keeps is gone, or the target succeeded while a LINSTOR
 *    clone it made was still copying or had failed;
 *  - leak: a store token appears in any output of any driver call;
 *  - stuck: the retry or the teardown failed (the store does not converge);
 *  - orphan: the store or the hosts hold something the reference does not (a volume, snapshot,
 *    attachment, property or file), or a property differs, and `oneblk gc --min-age 0` (run
 *    then, as the operator would) does not remove it. What gc removes was marked as a
 *    leftover, which is the design (docs/contract.md "Nothing half-made"): the point stays
 *    clean and lists what gc removed (`gc`); gc must not touch data (checked again after it);
 *  - slow: the target ran longer than DEADLINE_MS + 5 s, or (controller gone) failed with an
 *    error line of 300 characters or more.
 */
import { LOG_RE } from "../sim/oned/scripted/conventions.ts";
import { REST_FAULT_MODES, type RestFaultMode } from "./proxy.ts";
import { HOST_FAULT_MODES } from "./host_faults.ts";
import { caseAction, CASES, type FaultCase, type Setting, SETTINGS, targetOf } from "./cases.ts";
import { dataProblems, diffInventory, type Inventory, inventory } from "./inventory.ts";
import { type Baseline, FaultWorld, type PointFault, SECRET_MARK } from "./world.ts";

/**
 * The deadline an action must keep (ms): a store that refuses connections is given up after
 * 20 s (the REST clients' wait for a restarting controller); any fault may add at most the
 * 5 s margin on top.
 */
export const DEADLINE_MS = 20_000;
/** Longest error line accepted when the controller is gone. */
export const GONE_LINE_MAX = 300;

/** Every mode of a point. */
export const MODES = [
  "none",
  "fail-early",
  ...REST_FAULT_MODES,
  "clone-fail",
  "clone-fail-lost",
  ...HOST_FAULT_MODES.map((m) => `host-${m}` as const),
  "token",
] as const;
/** A point's mode (see the module doc). */
export type Mode = typeof MODES[number];

/** What a point is. */
export interface PointSpec {
  /** Setting name (`linstor`, `linstor_un+snapclone`, …). */
  setting: string;
  /** Case name (`tm/clone`, `tm/delete:dir`, …). */
  case: string;
  mode: Mode;
  /** The request (REST and clone modes) or host step (host modes) that meets the fault. */
  k: number;
}

/** A point's class (see the module doc). */
export type PointClass =
  | "clean"
  | "crash/hang"
  | "data-loss"
  | "leak"
  | "stuck"
  | "orphan"
  | "slow";
/** Classes from the worst down. */
export const CLASS_ORDER: readonly PointClass[] = [
  "crash/hang",
  "data-loss",
  "leak",
  "stuck",
  "orphan",
  "slow",
];

/** One thing found wrong. */
export interface Problem {
  class: Exclude<PointClass, "clean">;
  what: string;
}

/** What a point found. */
export interface PointResult {
  id: string;
  spec: PointSpec;
  class: PointClass;
  problems: Problem[];
  /** How the target ended (`not-run`: the operation failed before reaching it). */
  outcome: "ok" | "failed" | "not-run";
  /** Wall time of the target (ms). */
  targetMs: number;
  /** The target's failure line. */
  error?: string;
  /** The request or host step that met the fault. */
  at?: string;
  /** The target's REST requests (`POST /v1/…`), in order. */
  requests: string[];
  /** The target's host steps (`bravo dd`), in order. */
  steps: string[];
  /** REST requests and host commands the target's own stats line reports (a harness check). */
  reported?: { rest: number; ssh: number };
  /** Inventories after the retry and at the end (reference runs only). */
  inventory?: { after: Inventory; end: Inventory };
  /** What `oneblk gc` removed at a check (its `removed: …` lines), when it had to run. */
  gc?: string[];
  /** Every driver call of the point (`--trace`): `op kind/script args → code stderr`. */
  trace?: string[];
  /** Wall time of the whole point (ms) and of its phases. */
  ms: number;
  phases?: Record<string, number>;
}

/** The reference runs of one (setting, case). */
export interface References {
  none: PointResult;
  failEarly: PointResult;
}

/** A slot limit the runner shares with waiting points (see runPoint `pace`). */
export interface Pace {
  /** Give the slot back while the point only waits (a stall, a dead controller). */
  release(): void;
  /** Take a slot again. */
  acquire(): Promise<void>;
}

/** The id of a point: `<setting> <case> <mode>[@k]`. */
export function pointId(p: PointSpec): string {
  return `${p.setting} ${p.case} ${p.mode}${p.k ? `@${p.k}` : ""}`;
}

/** Parse a point id. */
export function parsePointId(id: string): PointSpec {
  const m = /^(\S+) (\S+) ([a-z-]+)(?:@(\d+))?$/.exec(id);
  if (!m || !(MODES as readonly string[]).includes(m[3])) throw new Error(`bad point id ${id}`);
  return { setting: m[1], case: m[2], mode: m[3] as Mode, k: Number(m[4] ?? 0) };
}

function settingOf(name: string): Setting {
  const s = SETTINGS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown setting ${name}`);
  return s;
}

function caseOf(name: string): FaultCase {
  const c = CASES.find((x) => x.name === name);
  if (!c) throw new Error(`unknown case ${name}`);
  return c;
}

function faultOf(p: PointSpec): PointFault {
  switch (p.mode) {
    case "none":
      return { kind: "none" };
    case "fail-early":
      return { kind: "fabricate" };
    case "clone-fail":
    case "clone-fail-lost":
      return { kind: "clone-fail", k: p.k, lost: p.mode === "clone-fail-lost" };
    case "host-fail":
    case "host-down":
      return { kind: "host", k: p.k, mode: p.mode === "host-fail" ? "fail" : "down" };
    case "token":
      return { kind: "token" };
    default:
      return { kind: "rest", k: p.k, mode: p.mode as RestFaultMode };
  }
}

const WAITING: readonly Mode[] = ["stall", "gone"];

function message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ").slice(0, 400);
}

/** The non-log lines of a failed program's stderr. */
function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !LOG_RE.test(l));
}

const STACK = /^\s+at .*(:\d+:\d+\)?|\(native\))$|Uncaught|panicked at|RUST_BACKTRACE/m;

/**
 * Run one point (see the module doc). `refs` are the (setting, case)'s reference runs; without
 * them (the reference runs themselves) no inventory is compared and the inventories are kept.
 */
export async function runPoint(
  spec: PointSpec,
  refs?: References,
  pace?: Pace,
  opts: { trace?: boolean; baseline?: Baseline } = {},
): Promise<PointResult> {
  const t0 = performance.now();
  const setting = settingOf(spec.setting);
  const c = caseOf(spec.case);
  const problems: Problem[] = [];
  const result: PointResult = {
    id: pointId(spec),
    spec,
    class: "clean",
    problems,
    outcome: "not-run",
    targetMs: 0,
    requests: [],
    steps: [],
    ms: 0,
  };
  const add = (cls: Problem["class"], what: string) => problems.push({ class: cls, what });
  const waiting = pace && WAITING.includes(spec.mode);
  const phases: Record<string, number> = {};
  result.phases = phases;
  let tp = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - tp);
    tp = now;
  };
  const w = await FaultWorld.start(setting.profile, {
    baseline: opts.baseline,
    dsAttrs: setting.dsAttrs,
    onTargetStart: waiting ? () => pace.release() : undefined,
    onTargetEnd: waiting ? () => pace.acquire() : undefined,
  });
  try {
    phase("world");
    if (!opts.baseline) {
      try {
        await c.setup(w);
      } catch (e) {
        add("stuck", `setup failed: ${message(e)}`);
        return finish();
      }
      phase("setup");
    }
    w.plan(targetOf(c), faultOf(spec), { early: caseAction(c.name).kind === "datastore" });
    let opError: unknown;
    try {
      await c.op(w);
    } catch (e) {
      opError = e;
    }
    w.unplan();
    phase("op");
    const t = w.target;
    if (!t) {
      if (spec.mode !== "token") add("stuck", `the target never ran: ${message(opError)}`);
      checkLeaks();
      return finish();
    }
    result.targetMs = Math.round(t.call.wallMs);
    result.requests = t.requests.map((r) => `${r.method} ${r.path}`);
    result.steps = t.steps.map((s) => `${s.host} ${s.program}`);
    if (t.call.stats) result.reported = { rest: t.call.stats.rest, ssh: t.call.stats.ssh };
    const hit = spec.mode.startsWith("host-")
      ? t.steps.find((s) => s.n === spec.k)
      : t.requests.find((r) => r.n === spec.k);
    if (hit) {
      result.at = "method" in hit ? `${hit.method} ${hit.path}` : `${hit.host} ${hit.program}`;
    } else if (spec.k > 0) add("stuck", `no request/step ${spec.k} to fault (the action changed)`);
    const ok = t.call.ok;
    result.outcome = ok ? "ok" : "failed";
    judgeTarget(t.call.code, t.call.stderr, t.call.stdout, ok, t.call.wallMs, t.unfinishedClones);

    if (!ok) {
      try {
        await c.retry(w);
      } catch (e) {
        add("stuck", `retry failed: ${message(e)}`);
      }
    } else if (opError && !c.opFails) {
      add("stuck", `the operation failed after the target succeeded: ${message(opError)}`);
    }
    phase("retry");
    const ref = ok ? refs?.none : refs?.failEarly;
    const after = await stage("after", ref?.inventory?.after);
    phase("check");
    try {
      await c.teardown(w);
    } catch (e) {
      add("stuck", `teardown failed: ${message(e)}`);
    }
    phase("teardown");
    const end = await stage("end", ref?.inventory?.end);
    phase("check2");
    if (!refs) result.inventory = { after, end };
    checkLeaks();
    return finish();
  } catch (e) {
    add("crash/hang", `harness: ${message(e)}`);
    return finish();
  } finally {
    await w.close().catch(() => {});
  }

  function judgeTarget(
    code: number,
    stderr: string,
    stdout: string,
    ok: boolean,
    wallMs: number,
    unfinished: string[],
  ): void {
    if (/Timeout executing/.test(stderr)) add("crash/hang", "hung: killed after 180 s");
    else if (code !== 0 && code !== 1) add("crash/hang", `exit code ${code}`);
    if (STACK.test(stderr)) add("crash/hang", "stack trace on stderr");
    if (!ok) {
      const lines = errorLines(stderr);
      result.error = lines.join(" | ").slice(0, 600);
      if (lines.length !== 1) add("crash/hang", `${lines.length} error lines instead of one`);
      if (stdout.trim() !== "") add("crash/hang", "output on stdout although it failed");
      if (spec.mode === "gone" && lines[0] && lines[0].length >= GONE_LINE_MAX) {
        add("slow", `controller gone: error line of ${lines[0].length} characters`);
      }
    } else if (unfinished.length) {
      add("data-loss", `succeeded while its clone was not complete: ${unfinished.join(", ")}`);
    }
    if (wallMs > DEADLINE_MS + 5_000) {
      add("slow", `ran ${(wallMs / 1000).toFixed(1)} s (deadline ${DEADLINE_MS / 1000} s + 5 s)`);
    }
  }

  async function stage(name: string, ref: Inventory | undefined): Promise<Inventory> {
    const data = new Set(await dataProblems(w));
    let inv = await inventory(w);
    if (ref && diffInventory(ref, inv).extra.length) {
      // More than the reference: what was marked is oneblk gc's to remove (module doc).
      const g = await w.cluster.cli(["gc", "--min-age", "0"]);
      const removed = g.stdout.split("\n").filter((l) => l.startsWith("removed: "));
      if (removed.length) {
        result.gc = [
          ...(result.gc ?? []),
          ...removed.map((l) => `${name}: ${l}`),
        ];
      }
      if (g.code !== 0) add("orphan", `${name}: oneblk gc failed: ${message(g.stdout + g.stderr)}`);
      for (const p of await dataProblems(w)) data.add(p);
      inv = await inventory(w);
    }
    for (const p of data) add("data-loss", `${name}: ${p}`);
    if (ref) {
      const d = diffInventory(ref, inv);
      for (const x of d.lost) add("data-loss", `${name}: lost ${x}`);
      if (d.extra.length) add("orphan", `${name}: ${d.extra.join("; ")}`);
    }
    return inv;
  }

  function checkLeaks(): void {
    for (const call of w.oned.calls) {
      if ((call.stdout + call.stderr).includes(SECRET_MARK)) {
        add("leak", `${call.kind}/${call.dir}/${call.script} printed the store token`);
      }
    }
  }

  function finish(): PointResult {
    if (opts.trace) {
      result.trace = w.oned.calls.map((c) =>
        `${c.op}: ${c.kind}/${c.script} ${c.args.join(" ")} → ${c.code} ${c.wallMs} ms ` +
        c.stderr.trim()
      );
    }
    const cls = CLASS_ORDER.find((k) => problems.some((p) => p.class === k));
    result.class = cls ?? "clean";
    result.ms = Math.round(performance.now() - t0);
    return result;
  }
}

/**
 * The world of a (setting, case) right after its setup, which every point of the pair starts
 * from (the setup runs once). A failed setup gives its error text instead.
 */
export async function makeBaseline(setting: string, caseName: string): Promise<Baseline | string> {
  const s = settingOf(setting);
  const w = await FaultWorld.start(s.profile, { dsAttrs: s.dsAttrs });
  try {
    await caseOf(caseName).setup(w);
    return await w.save();
  } catch (e) {
    return `setup failed: ${message(e)}`;
  } finally {
    await w.close().catch(() => {});
  }
}

/** The fault points of one (setting, case), from its `none` reference run. */
export function pointsOf(setting: string, caseName: string, none: PointResult): PointSpec[] {
  const out: PointSpec[] = [];
  const base = { setting, case: caseName };
  out.push({ ...base, mode: "none", k: 0 }, { ...base, mode: "fail-early", k: 0 });
  none.requests.forEach((r, i) => {
    for (const mode of REST_FAULT_MODES) out.push({ ...base, mode, k: i + 1 });
    if (/^POST .*\/clone$/.test(r)) {
      out.push({ ...base, mode: "clone-fail", k: i + 1 });
      out.push({ ...base, mode: "clone-fail-lost", k: i + 1 });
    }
  });
  none.steps.forEach((_, i) => {
    for (const m of HOST_FAULT_MODES) out.push({ ...base, mode: `host-${m}`, k: i + 1 });
  });
  if (none.requests.length) out.push({ ...base, mode: "token", k: 0 });
  return out;
}

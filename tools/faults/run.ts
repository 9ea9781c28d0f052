/**
 * Running the fault matrix: the reference runs, then the selected fault points, `jobs` at a
 * time (a point that only waits — a stall, a dead controller — gives its slot back while it
 * waits), and the report.
 *
 * Every point has its own world, so the results do not depend on the order or the
 * parallelism; they are reported sorted by point.
 */
import { casesOf, SETTINGS } from "./cases.ts";
import type { Baseline } from "./world.ts";
import {
  CLASS_ORDER,
  makeBaseline,
  type Mode,
  MODES,
  type Pace,
  type PointClass,
  pointId,
  type PointResult,
  pointsOf,
  type PointSpec,
  type References,
  runPoint,
} from "./matrix.ts";

/** A (setting, case) pair. */
export interface Pair {
  setting: string;
  case: string;
}

/** The key of a pair. */
export function pairKey(p: Pair): string {
  return `${p.setting} ${p.case}`;
}

/** Every pair of the matrix, in order. */
export function allPairs(): Pair[] {
  return SETTINGS.flatMap((s) => casesOf(s).map((c) => ({ setting: s.name, case: c.name })));
}

/** Options of the runs. */
export interface RunOptions {
  /** Points run at a time (default 2). */
  jobs?: number;
  /** Called with each result as it comes. */
  onResult?: (r: PointResult, done: number, total: number) => void;
  /** Keep every driver call of each point in its result. */
  trace?: boolean;
}

/** `n` slots; a point coming back from a wait (pace) goes before points not started yet. */
class Slots {
  #free: number;
  #waiting: (() => void)[] = [];
  #back: (() => void)[] = [];

  constructor(n: number) {
    this.#free = n;
  }

  acquire(back = false): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => (back ? this.#back : this.#waiting).push(resolve));
  }

  release(): void {
    const next = this.#back.shift() ?? this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }

  /** The pace of a point holding one slot. */
  pace(): Pace {
    return { release: () => this.release(), acquire: () => this.acquire(true) };
  }
}

/** Points that mostly wait (a stall, a dead controller) in flight at most, per job. */
const WAITERS_PER_JOB = 4;

/** Run `specs` `jobs` at a time; results in the order of `specs`. */
async function runPool(
  specs: { spec: PointSpec; refs?: References; baseline?: Baseline }[],
  opts: RunOptions,
): Promise<PointResult[]> {
  const jobs = Math.max(1, opts.jobs ?? 2);
  const slots = new Slots(jobs);
  const waiters = new Slots(jobs * WAITERS_PER_JOB);
  const out: PointResult[] = new Array(specs.length);
  let done = 0;
  await Promise.all(specs.map(async ({ spec, refs, baseline }, i) => {
    const waits = spec.mode === "stall" || spec.mode === "gone";
    if (waits) await waiters.acquire();
    await slots.acquire();
    try {
      out[i] = await runPoint(spec, refs, slots.pace(), { trace: opts.trace, baseline });
    } finally {
      slots.release();
      if (waits) waiters.release();
    }
    opts.onResult?.(out[i], ++done, specs.length);
  }));
  return out;
}

/** Saved worlds (after setup) per pair; a string is why the setup failed. */
export type Baselines = Map<string, Baseline | string>;

/** The baselines of `pairs`, `jobs` at a time. */
export async function makeBaselines(pairs: Pair[], opts: RunOptions = {}): Promise<Baselines> {
  const slots = new Slots(Math.max(1, opts.jobs ?? 2));
  const out: Baselines = new Map();
  await Promise.all(pairs.map(async (p) => {
    await slots.acquire();
    try {
      out.set(pairKey(p), await makeBaseline(p.setting, p.case));
    } finally {
      slots.release();
    }
  }));
  return out;
}

/** Remove the saved worlds. */
export async function dropBaselines(b: Baselines): Promise<void> {
  for (const x of b.values()) {
    if (typeof x !== "string") await Deno.remove(x.dir, { recursive: true }).catch(() => {});
  }
}

function baselineOf(b: Baselines, p: Pair): Baseline | undefined {
  const x = b.get(pairKey(p));
  return typeof x === "string" ? undefined : x;
}

/** The reference runs (`none`, `fail-early`) of `pairs`, from their baselines. */
export async function runReferences(
  pairs: Pair[],
  baselines: Baselines,
  opts: RunOptions = {},
): Promise<Map<string, References>> {
  const ok = pairs.filter((p) => baselineOf(baselines, p));
  const specs = ok.flatMap((p) =>
    (["none", "fail-early"] as const).map((mode) => ({
      spec: { ...p, mode, k: 0 },
      baseline: baselineOf(baselines, p),
    }))
  );
  const results = await runPool(specs, opts);
  const refs = new Map<string, References>();
  ok.forEach((p, i) => {
    refs.set(pairKey(p), { none: results[2 * i], failEarly: results[2 * i + 1] });
  });
  return refs;
}

/** What a matrix run selects (all when empty). */
export interface Selection {
  pairs?: Pair[];
  modes?: Mode[];
  /** Exact point ids. */
  points?: string[];
}

/** The result of a matrix run. */
export interface MatrixReport {
  results: PointResult[];
  /** Wall time (ms). */
  ms: number;
  /** Pairs whose `none` run could not count anything (the case is broken): key → problem. */
  broken: Map<string, string>;
}

/** The fault points of `sel` given the references. */
export function selectPoints(sel: Selection, refs: Map<string, References>): PointSpec[] {
  const wanted = sel.points ? new Set(sel.points) : undefined;
  const out: PointSpec[] = [];
  for (const [key, r] of refs) {
    const [setting, caseName] = key.split(" ");
    for (const p of pointsOf(setting, caseName, r.none)) {
      if (sel.modes && !sel.modes.includes(p.mode)) continue;
      if (wanted && !wanted.has(pointId(p))) continue;
      out.push(p);
    }
  }
  return out;
}

/** Run the matrix (or a selection of it). */
export async function runMatrix(sel: Selection = {}, opts: RunOptions = {}): Promise<MatrixReport> {
  const t0 = performance.now();
  const pairs = sel.pairs ?? allPairs();
  const baselines = await makeBaselines(pairs, opts);
  try {
    return await matrixFrom(pairs, baselines, sel, opts, t0);
  } finally {
    await dropBaselines(baselines);
  }
}

async function matrixFrom(
  pairs: Pair[],
  baselines: Baselines,
  sel: Selection,
  opts: RunOptions,
  t0: number,
): Promise<MatrixReport> {
  const refs = await runReferences(pairs, baselines, opts);
  const broken = new Map<string, string>();
  for (const [key, b] of baselines) if (typeof b === "string") broken.set(key, b);
  for (const [key, r] of refs) {
    if (r.none.outcome !== "ok") {
      broken.set(key, r.none.problems.map((p) => p.what).join("; ") || "the target failed");
    }
  }
  const points = selectPoints(sel, refs).filter((p) =>
    p.mode !== "none" && p.mode !== "fail-early"
  );
  // Waiting points first: they give their slot back while they wait.
  const rank = (p: PointSpec) => p.mode === "gone" ? 0 : p.mode === "stall" ? 1 : 2;
  const order = points.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i);
  const ran = await runPool(
    order.map(({ p }) => ({
      spec: p,
      refs: refs.get(pairKey(p)),
      baseline: baselineOf(baselines, p),
    })),
    opts,
  );
  const results: PointResult[] = [];
  for (const [, r] of refs) {
    for (const x of [r.none, r.failEarly]) {
      if (!sel.modes || sel.modes.includes(x.spec.mode)) {
        if (!sel.points || sel.points.includes(x.id)) results.push(x);
      }
    }
  }
  results.push(...ran);
  results.sort(compareResults);
  return { results, ms: Math.round(performance.now() - t0), broken };
}

const MODE_RANK = new Map<string, number>(MODES.map((m, i) => [m, i]));
const SETTING_RANK = new Map(SETTINGS.map((s, i) => [s.name, i]));

function compareResults(a: PointResult, b: PointResult): number {
  const pa = allPairsRank(a.spec);
  const pb = allPairsRank(b.spec);
  return pa - pb || MODE_RANK.get(a.spec.mode)! - MODE_RANK.get(b.spec.mode)! ||
    a.spec.k - b.spec.k;
}

let pairRank: Map<string, number> | undefined;
function allPairsRank(p: PointSpec): number {
  pairRank ??= new Map(allPairs().map((x, i) => [pairKey(x), i]));
  return pairRank.get(pairKey(p)) ?? (SETTING_RANK.get(p.setting) ?? 99) * 1000;
}

/** Counts per class. */
export function countClasses(results: PointResult[]): Record<PointClass, number> {
  const c = Object.fromEntries(["clean", ...CLASS_ORDER].map((k) => [k, 0])) as Record<
    PointClass,
    number
  >;
  for (const r of results) c[r.class]++;
  return c;
}

/** `N fault points: a clean, b orphan, c data-loss, d crash/hang, e slow, f leak, g stuck`. */
export function summaryLine(results: PointResult[]): string {
  const c = countClasses(results);
  return `${results.length} fault points: ${c.clean} clean, ${c.orphan} orphan, ` +
    `${c["data-loss"]} data-loss, ${c["crash/hang"]} crash/hang, ${c.slow} slow, ` +
    `${c.leak} leak, ${c.stuck} stuck`;
}

/** One line per failed point, for the failures table. */
export function failureRows(results: PointResult[]): string[][] {
  return results.filter((r) => r.class !== "clean").map((r) => [
    r.spec.case,
    r.spec.setting,
    r.spec.k ? String(r.spec.k) : "-",
    r.spec.mode,
    r.at ?? "",
    r.class,
    r.problems.map((p) => `${p.class}: ${p.what}`).join(" / ").replaceAll("|", "/"),
  ]);
}

/** A markdown table. */
export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * A point named by what it faults rather than by number: `at` is a regular expression matched
 * against the `none` run's requests (REST and clone modes) or host steps (host modes); the
 * first match gives k. Stays valid when an action gains or loses a request elsewhere.
 */
export interface PointPick {
  setting: string;
  case: string;
  mode: Mode;
  at?: string;
  /** Which match of `at` (1 the first, -1 the last; default 1). */
  nth?: number;
}

/** The id a pick resolves to, or undefined when nothing matches `at`. */
export function resolvePick(pick: PointPick, refs: Map<string, References>): PointSpec | undefined {
  const r = refs.get(pairKey(pick));
  if (!r) return undefined;
  if (!pick.at) return { setting: pick.setting, case: pick.case, mode: pick.mode, k: 0 };
  const list = pick.mode.startsWith("host-") ? r.none.steps : r.none.requests;
  const hits = list.flatMap((x, i) => new RegExp(pick.at!).test(x) ? [i + 1] : []);
  const nth = pick.nth ?? 1;
  const k = nth < 0 ? hits.at(nth) : hits[nth - 1];
  return k === undefined
    ? undefined
    : { setting: pick.setting, case: pick.case, mode: pick.mode, k };
}

/** Run picked points (with the reference runs of their pairs). */
export async function runPicks(
  picks: PointPick[],
  opts: RunOptions = {},
): Promise<{ results: Map<PointPick, PointResult | undefined>; ms: number }> {
  const t0 = performance.now();
  const pairs = [...new Map(picks.map((p) => [pairKey(p), { setting: p.setting, case: p.case }]))
    .values()];
  const baselines = await makeBaselines(pairs, opts);
  try {
    const refs = await runReferences(pairs, baselines, opts);
    const specs = picks.map((p) => ({ pick: p, spec: resolvePick(p, refs) }));
    const todo = specs.filter((s) => s.spec && !["none", "fail-early"].includes(s.spec.mode));
    const ran = await runPool(
      todo.map((s) => ({
        spec: s.spec!,
        refs: refs.get(pairKey(s.pick)),
        baseline: baselineOf(baselines, s.pick),
      })),
      opts,
    );
    const results = new Map<PointPick, PointResult | undefined>();
    for (const s of specs) {
      const r = refs.get(pairKey(s.pick));
      if (s.spec?.mode === "none") results.set(s.pick, r?.none);
      else if (s.spec?.mode === "fail-early") results.set(s.pick, r?.failEarly);
      else results.set(s.pick, s.spec ? ran[todo.indexOf(s)] : undefined);
    }
    return { results, ms: Math.round(performance.now() - t0) };
  } finally {
    await dropBaselines(baselines);
  }
}

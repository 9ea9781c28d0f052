/**
 * The per-VM disk usage cache of tm monitor (MONITOR_VM_DISKS), one file per driver and system
 * datastore under the front-end state directory (`<state dir>/usage/<driver>-ds<id>.json`).
 *
 * Reading a volume's usage costs LINSTOR a share of a name-filtered view (about 5 KB of JSON per
 * volume; 52 MB at 10,000), so each run reads at most `budget` volumes (ONEBLK_USAGE_REFRESH,
 * default 1,000) and takes the others' figures from the cache:
 * - the volume list and metadata come from the store's one listing on every run, so VMs and
 *   disks are always the current ones, and volumes gone are dropped from the cache; only the
 *   figures are cached;
 * - a figure is kept with the volume's stamp (UsageVolume.stamp: the object behind the name)
 *   and used only under the same stamp: a VM disk never gets another volume's figure, and a
 *   replaced volume has none until it is read again (a resize, like data written, is read
 *   again by age: LINSTOR's listing is asked without the volume definitions, 40 % of its
 *   bytes);
 * - order of reading: volumes without a figure first (by name), then the oldest figures. Up to
 *   `budget` volumes, all of them are read on every run, after the listing. Past it (known from
 *   the cache) the `budget` volumes are chosen from the cache and read while the store lists,
 *   and what the listing shows new or replaced is read first on the next run. So with N volumes
 *   every figure is at most ceil(N / budget) runs old, and a new or replaced disk is read on the
 *   next run (later only when more than `budget` volumes change between two runs);
 * - a volume without a figure (a cold cache past the budget, a new or replaced volume) is not
 *   reported, nor is the rest of its VM, until it is read: a VM is reported whole or not at all;
 * - a missing, unreadable, corrupt or other-version file is an empty cache; a file that cannot
 *   be written is logged: the monitor never fails for the cache. The file is replaced whole
 *   (temporary file + rename), so overlapping monitors never leave a torn one (the last one
 *   wins; what the other read is read again later).
 * Stores whose listing carries the usage anyway (StorPool) have nothing to cache: no file.
 */
import type { Backend, UsageFigures, UsageVolume, VolumeUsage } from "../backend/types.ts";
import { compareText } from "../compare.ts";
import { errorLine } from "../errors.ts";
import { uniqueId } from "../frugal.ts";
import { join } from "../path.ts";
import { ensureStateDir, stateDir } from "../state_dir.ts";

/** Volumes read per run unless ONEBLK_USAGE_REFRESH says otherwise. */
export const DEFAULT_USAGE_BUDGET = 1000;
/** Format version of the cache file; a file of another version is ignored. */
const VERSION = 1;

/** One cached figure. */
export interface UsageCacheEntry extends UsageFigures {
  /** UsageVolume.stamp when it was read. */
  stamp: string;
  /** When it was read (ms since the epoch). */
  at: number;
}

/** What cachedUsage found. */
export interface CachedUsage {
  /** Volumes with a figure: read now, or cached under their current stamp. */
  usage: VolumeUsage[];
  /** Volumes without one (not read yet): their VMs are not reported this run. */
  pending: UsageVolume[];
  /** Volumes whose figure is from this run (read, or carried by the listing). */
  read: number;
  /** When the oldest figure in `usage` was read (ms since the epoch); null when none. */
  oldest: number | null;
}

/** Where the cache of `driver`'s system datastore `dsId` lives. */
export function usageCachePath(
  env: Record<string, string | undefined>,
  driver: string,
  dsId: number,
): string {
  return join(stateDir(env), "usage", `${driver}-ds${dsId}.json`);
}

/** The per-run budget: ONEBLK_USAGE_REFRESH (volumes, a positive integer), else the default. */
export function usageBudget(env: Record<string, string | undefined>): number {
  const v = Number(env.ONEBLK_USAGE_REFRESH?.trim() || NaN);
  return Number.isInteger(v) && v > 0 ? v : DEFAULT_USAGE_BUDGET;
}

function isMiB(x: unknown): x is number {
  return typeof x === "number" && Number.isFinite(x) && x >= 0;
}

/** A cache file's content: the figures, and the volumes listed whose figure is not read yet. */
export interface UsageCacheState {
  entries: Map<string, UsageCacheEntry>;
  /** Volume name → its stamp when it was listed. */
  pending: Map<string, string>;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  !!x && typeof x === "object" && !Array.isArray(x);

/**
 * A cache file's text read back; anything malformed is left out (all of it if need be). The
 * file: `{"version": 1, "volumes": [[name, stamp, at, allocatedMiB, snapshots or 0], …],
 * "pending": [[name, stamp], …]}` (rows rather than objects: at 10,000 volumes it reads and
 * writes in half the time).
 */
export function parseUsageCache(text: string): UsageCacheState {
  const out: UsageCacheState = { entries: new Map(), pending: new Map() };
  let d: unknown;
  try {
    d = JSON.parse(text);
  } catch {
    return out;
  }
  if (!isObject(d) || d.version !== VERSION || !Array.isArray(d.volumes)) return out;
  for (const r of d.volumes as unknown[]) {
    if (
      !Array.isArray(r) || typeof r[0] !== "string" || typeof r[1] !== "string" ||
      !isMiB(r[2]) || !isMiB(r[3])
    ) continue;
    const snaps = r[4] === 0 ? {} : r[4];
    if (!isObject(snaps) || !Object.values(snaps).every(isMiB)) continue;
    out.entries.set(r[0], {
      stamp: r[1],
      at: r[2],
      allocatedMiB: r[3],
      snapshots: snaps as Record<string, number>,
    });
  }
  for (const r of Array.isArray(d.pending) ? d.pending as unknown[] : []) {
    if (!Array.isArray(r) || typeof r[0] !== "string" || typeof r[1] !== "string") continue;
    if (!out.entries.has(r[0])) out.pending.set(r[0], r[1]);
  }
  return out;
}

/**
 * The volumes to read in this run, at most `budget`: those without a figure under their stamp
 * first (by name, so a VM's disks tend to go together), then the oldest figures.
 */
export function pickRefresh(
  volumes: UsageVolume[],
  cached: ReadonlyMap<string, UsageCacheEntry>,
  budget: number,
): UsageVolume[] {
  if (volumes.length <= budget) return volumes;
  const at = (v: UsageVolume) => {
    const e = cached.get(v.name);
    return e && e.stamp === v.stamp ? e.at : -1;
  };
  return volumes
    .map((v) => ({ v, at: at(v) }))
    .sort((a, b) => a.at - b.at || compareText(a.v.name, b.v.name))
    .slice(0, budget)
    .map((x) => x.v);
}

async function loadCache(file: string, info: (msg: string) => void): Promise<UsageCacheState> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) info(`usage cache not read: ${errorLine(e)}`);
    return { entries: new Map(), pending: new Map() };
  }
  const st = parseUsageCache(text);
  if (!st.entries.size && !st.pending.size && text.trim() !== "") {
    info(`usage cache ${file} not usable: starting afresh`);
  }
  return st;
}

async function saveCache(
  env: Record<string, string | undefined>,
  file: string,
  st: UsageCacheState,
  info: (msg: string) => void,
): Promise<void> {
  const tmp = `${file}.${Deno.pid}.${uniqueId().slice(0, 8)}.tmp`;
  const volumes: unknown[] = [];
  for (const [name, e] of st.entries) {
    const snaps = Object.keys(e.snapshots).length ? e.snapshots : 0;
    volumes.push([name, e.stamp, e.at, e.allocatedMiB, snaps]);
  }
  const doc = { version: VERSION, volumes, pending: [...st.pending] };
  try {
    await ensureStateDir(env, "usage");
    await Deno.writeTextFile(tmp, JSON.stringify(doc), { mode: 0o600 });
    await Deno.rename(tmp, file);
  } catch (e) {
    info(`usage cache not written: ${errorLine(e)}`);
    await Deno.remove(tmp).catch(() => {});
  }
}

/** Options of cachedUsage. */
export interface CachedUsageOptions {
  env: Record<string, string | undefined>;
  info: (msg: string) => void;
  backend: Pick<Backend, "usageVolumes" | "readUsage">;
  /** Driver name and system datastore id: the cache file. */
  driver: string;
  dsId: number;
  /** The datastore's volumes (Profile.dsMatch). */
  match: Record<string, string>;
  /** Volumes read per run (default usageBudget(env)). */
  budget?: number;
  /** Clock (ms since the epoch). */
  now?: () => number;
}

/** The usage of the datastore's volumes, at most `budget` of them read now (see above). */
export async function cachedUsage(o: CachedUsageOptions): Promise<CachedUsage> {
  const now = o.now ?? Date.now;
  const budget = o.budget ?? usageBudget(o.env);
  const file = usageCachePath(o.env, o.driver, o.dsId);
  const listing = o.backend.usageVolumes(o.match);
  listing.catch(() => {}); // awaited below; not unhandled meanwhile
  const cached = await loadCache(file, o.info);
  // Asked now: name → the stamp it was asked under (a figure counts only under that stamp).
  const asked = new Map<string, string>();
  let fresh: Promise<Map<string, UsageFigures> | null> = Promise.resolve(new Map());
  // A datastore the cache knows to be larger than the budget: the figures to refresh are
  // chosen from the cache and read while the store lists (the name-filtered views do not need
  // the listing). What the listing shows new or changed waits for the next run, where it comes
  // first (it is kept as pending).
  const known: UsageVolume[] = [];
  for (const [name, stamp] of cached.pending) known.push({ name, props: {}, stamp });
  for (const [name, e] of cached.entries) known.push({ name, props: {}, stamp: e.stamp });
  if (known.length > budget) {
    const early = pickRefresh(known, cached.entries, budget);
    for (const v of early) asked.set(v.name, v.stamp);
    // a name the store refuses (a damaged file) must not fail the monitor: read as if cold
    fresh = o.backend.readUsage(early).catch(() => null);
  }
  const [volumes, earlyFigures] = await Promise.all([listing, fresh]);
  if (!earlyFigures) asked.clear();
  let figures = earlyFigures ?? new Map<string, UsageFigures>();
  const unread = volumes.filter((v) => !v.usage);
  if (!asked.size) {
    // small or cold: the volumes of the listing, never-read ones first
    const toRead = pickRefresh(unread, cached.entries, budget);
    for (const v of toRead) asked.set(v.name, v.stamp);
    if (toRead.length) figures = await o.backend.readUsage(toRead);
  }
  const t = now();
  const next: UsageCacheState = { entries: new Map(), pending: new Map() };
  const out: CachedUsage = { usage: [], pending: [], read: 0, oldest: null };
  for (const v of volumes) {
    const f = v.usage ?? (asked.get(v.name) === v.stamp ? figures.get(v.name) : undefined);
    const old = cached.entries.get(v.name);
    const e: UsageCacheEntry | undefined = f
      ? { stamp: v.stamp, at: t, allocatedMiB: f.allocatedMiB, snapshots: f.snapshots }
      : old?.stamp === v.stamp
      ? old
      : undefined;
    if (!e) {
      next.pending.set(v.name, v.stamp);
      out.pending.push(v);
      continue;
    }
    if (f) out.read++;
    next.entries.set(v.name, e);
    out.oldest = Math.min(out.oldest ?? e.at, e.at);
    out.usage.push({
      name: v.name,
      props: v.props,
      allocatedMiB: e.allocatedMiB,
      snapshots: e.snapshots,
    });
  }
  // Volumes gone from the listing are not carried over: `next` holds this run's volumes only.
  // Nothing to keep (a listing that carries the usage, no earlier file): no file.
  if (unread.length || cached.entries.size || cached.pending.size) {
    await saveCache(o.env, file, next, o.info);
  }
  return out;
}

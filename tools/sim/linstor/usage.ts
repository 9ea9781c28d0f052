/**
 * Used space per storage pool in the simulated LINSTOR controller (and the DRBD minors in use),
 * kept incrementally: each
 * resource definition contributes its replicas' and snapshots' allocations to the pools they
 * live in; only the definitions a request touched are recomputed. Thin pools count what the
 * data files allocate (a stat per file), read when the definition changes and refreshed for
 * all definitions by {@link PoolUsage.refreshAll} — the satellites' free-space report that a
 * storage pool listing triggers. Between reports the autoplacer works with the last one, as
 * LINSTOR's does (FreeSpaceTracker: free capacity as last reported).
 */
import type { SimController } from "./controller.ts";
import { k, type SimPool, type SimRd, THIN_KINDS } from "./model.ts";
import { fileAllocKib, snapFile } from "./persistence.ts";
import { allocatedKib } from "./placement.ts";

function poolKey(node: string, pool: string): string {
  return `${k(node)}\u0000${k(pool)}`;
}

/**
 * What one resource definition puts in each pool: KiB used by its replicas and snapshot copies,
 * and its resources (diskless ones count in their diskless pool, as the autoplacer counts them).
 */
function contribution(ctl: SimController, rd: SimRd): Totals {
  const kib = new Map<string, number>();
  const rscs = new Map<string, number>();
  const minors = new Map<number, number>();
  for (const vd of rd.vds) minors.set(vd.minor, (minors.get(vd.minor) ?? 0) + 1);
  const add = (m: Map<string, number>, key: string, v: number) => m.set(key, (m.get(key) ?? 0) + v);
  for (const r of rd.rscs) {
    const key = poolKey(r.node, r.pool);
    add(rscs, key, 1);
    if (r.diskless) continue;
    for (const vd of rd.vds) add(kib, key, allocatedKib(ctl, rd, r, vd));
  }
  for (const s of rd.snaps) {
    for (const [node, poolName] of Object.entries(s.pools)) {
      const pool = ctl.pool(node, poolName);
      if (!pool) continue;
      for (const v of s.vds) {
        add(
          kib,
          poolKey(node, poolName),
          THIN_KINDS.has(pool.kind)
            ? fileAllocKib(snapFile(ctl, rd.name, s.name, v.nr))
            : v.sizeKib,
        );
      }
    }
  }
  return { kib, rscs, minors };
}

/** KiB and resources per pool key; volume definitions per DRBD minor. */
interface Totals {
  kib: Map<string, number>;
  rscs: Map<string, number>;
  minors: Map<number, number>;
}

function addTo(totals: Totals, c: Totals, sign: number): void {
  for (const [p, v] of c.kib) totals.kib.set(p, (totals.kib.get(p) ?? 0) + sign * v);
  for (const [p, v] of c.rscs) totals.rscs.set(p, (totals.rscs.get(p) ?? 0) + sign * v);
  for (const [m, v] of c.minors) totals.minors.set(m, (totals.minors.get(m) ?? 0) + sign * v);
}

/** Incremental used-space and resource-count totals of every storage pool. */
export class PoolUsage {
  readonly #ctl: SimController;
  #totals: Totals | null = null;
  #contrib = new Map<string, Totals>();
  #dirty = new Set<string>();

  constructor(ctl: SimController) {
    this.#ctl = ctl;
  }

  /** The definition `key` (upper-case name) changed: recompute it before the next answer. */
  invalidate(key: string): void {
    this.#dirty.add(key);
  }

  /** Re-read every definition (thin allocations included) before the next answer. */
  refreshAll(): void {
    this.#totals = null;
  }

  #recompute(key: string, totals: Totals): void {
    const old = this.#contrib.get(key);
    if (old) addTo(totals, old, -1);
    const rd = this.#ctl.rd(key);
    if (!rd) {
      this.#contrib.delete(key);
      return;
    }
    const c = contribution(this.#ctl, rd);
    this.#contrib.set(key, c);
    addTo(totals, c, 1);
  }

  #current(): Totals {
    let totals = this.#totals;
    if (!totals) {
      totals = { kib: new Map(), rscs: new Map(), minors: new Map() };
      this.#contrib.clear();
      this.#dirty.clear();
      for (const rd of this.#ctl.state.rds) this.#recompute(k(rd.name), totals);
      this.#totals = totals;
    }
    for (const key of this.#dirty) this.#recompute(key, totals);
    this.#dirty.clear();
    // definitions the running request changes may change again after this answer
    for (const key of this.#ctl.touched()) this.#dirty.add(key);
    return totals;
  }

  /** Used KiB of `pool` (0 for diskless pools). */
  used(pool: SimPool): number {
    if (pool.kind === "DISKLESS") return 0;
    return Math.max(0, this.#current().kib.get(poolKey(pool.node, pool.name)) ?? 0);
  }

  /** Whether a volume definition uses DRBD minor `m`. */
  minorInUse(m: number): boolean {
    return (this.#current().minors.get(m) ?? 0) > 0;
  }

  /** Resources with a volume in `pool` (what the autoplacer's resource count strategy counts). */
  resources(pool: SimPool): number {
    return Math.max(0, this.#current().rscs.get(poolKey(pool.node, pool.name)) ?? 0);
  }
}

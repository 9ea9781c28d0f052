/**
 * Used space per storage pool in the simulated LINSTOR controller, kept incrementally: each
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

/** KiB per pool that one resource definition uses (replicas and snapshot copies). */
function contribution(ctl: SimController, rd: SimRd): Map<string, number> {
  const out = new Map<string, number>();
  const add = (key: string, kib: number) => out.set(key, (out.get(key) ?? 0) + kib);
  for (const r of rd.rscs) {
    if (r.diskless) continue;
    for (const vd of rd.vds) add(poolKey(r.node, r.pool), allocatedKib(ctl, rd, r, vd));
  }
  for (const s of rd.snaps) {
    for (const [node, poolName] of Object.entries(s.pools)) {
      const pool = ctl.pool(node, poolName);
      if (!pool) continue;
      for (const v of s.vds) {
        add(
          poolKey(node, poolName),
          THIN_KINDS.has(pool.kind)
            ? fileAllocKib(snapFile(ctl, rd.name, s.name, v.nr))
            : v.sizeKib,
        );
      }
    }
  }
  return out;
}

/** Incremental used-space totals of every storage pool. */
export class PoolUsage {
  readonly #ctl: SimController;
  #totals: Map<string, number> | null = null;
  #contrib = new Map<string, Map<string, number>>();
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

  #recompute(key: string, totals: Map<string, number>): void {
    const old = this.#contrib.get(key);
    if (old) { for (const [p, v] of old) totals.set(p, (totals.get(p) ?? 0) - v); }
    const rd = this.#ctl.rd(key);
    if (!rd) {
      this.#contrib.delete(key);
      return;
    }
    const c = contribution(this.#ctl, rd);
    this.#contrib.set(key, c);
    for (const [p, v] of c) totals.set(p, (totals.get(p) ?? 0) + v);
  }

  #current(): Map<string, number> {
    let totals = this.#totals;
    if (!totals) {
      totals = new Map();
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
    return Math.max(0, this.#current().get(poolKey(pool.node, pool.name)) ?? 0);
  }
}

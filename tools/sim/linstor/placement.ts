/**
 * Placement in the simulated LINSTOR controller, as LINSTOR's autoplacer and quorum helper do it:
 * pool capacity (thin pools count what the data file allocates), the choice of (node, pool)
 * pairs for new diskful replicas under a selection filter, autoplace, the automatic quorum
 * tie-breaker (CtrlRscAutoTieBreakerHelper) and query-size-info's capacity estimate.
 */
import { CODE, MASK_INFO, MASK_WARN } from "../../../lib/backend/linstor/api_call_rc.ts";
import { fail, rc, SimApiError, type SimRc, type SimReply } from "./replies.ts";
import {
  align,
  cleanFilter,
  DISKLESS_POOL,
  drbdMetaKib,
  k,
  type SimNode,
  type SimPool,
  type SimRd,
  type SimRg,
  type SimRsc,
  type SimVd,
  splitNames,
  THIN_KINDS,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { fileAllocKib, volumeFile } from "./persistence.ts";
import { join } from "node:path";
import { INFO_PROP_REMOVED } from "./codes.ts";

/** Allocated KiB of one replica of a volume in its pool. */
export function allocatedKib(ctl: SimController, rd: SimRd, rsc: SimRsc, vd: SimVd): number {
  if (rsc.diskless) return 0;
  const pool = ctl.pool(rsc.node, rsc.pool);
  const md = drbdMetaKib(vd.sizeKib);
  if (pool && THIN_KINDS.has(pool.kind)) {
    const memo = ctl.allocMemo;
    // no volume directory at all (known for a listing): nothing allocated, no file to stat
    if (memo && dirsOfMemo.get(memo)?.has(k(rd.name)) === false) return md;
    const f = volumeFile(ctl, rd.name, vd.nr);
    let kib = memo?.get(f);
    if (kib === undefined) {
      kib = fileAllocKib(f);
      memo?.set(f, kib);
    }
    return kib + md;
  }
  return align(vd.sizeKib + md, 4096);
}

/** Per listing memo: the definitions that have a volume directory at all. */
const dirsOfMemo = new WeakMap<Map<string, number>, Set<string>>();

/**
 * Read once, for a read-only listing that uses `memo`, which definitions have data files, so
 * that the listing stats only files that exist: at thousands of replicas a failed stat per
 * missing file cost more than the rest of the listing. (Not for a transaction: it may create
 * files while it runs.)
 */
export function memoVolumeDirs(ctl: SimController, memo: Map<string, number>): void {
  const dirs = new Set<string>();
  try {
    for (const e of Deno.readDirSync(join(ctl.opts.stateDir, "volumes"))) dirs.add(e.name);
  } catch {
    // no volume written yet
  }
  dirsOfMemo.set(memo, dirs);
}

/** Used KiB of a pool: replicas plus (thin) snapshot copies. */
export function poolUsedKib(ctl: SimController, pool: SimPool): number {
  return ctl.usage.used(pool);
}

/** Free KiB of a pool (never below 0). */
export function poolFreeKib(ctl: SimController, pool: SimPool): number {
  return Math.max(0, pool.totalKib - poolUsedKib(ctl, pool));
}

/**
 * A group's selection filter with the request's fields over it (storage_pool as a one-entry list).
 */
export function mergedFilter(rg: SimRg, over?: Record<string, unknown>): Record<string, unknown> {
  const f: Record<string, unknown> = { ...rg.filter };
  for (const [key, v] of Object.entries(over ?? {})) {
    if (v !== undefined && v !== null) f[key] = v;
  }
  if (typeof f.storage_pool === "string" && !f.storage_pool_list) {
    f.storage_pool_list = [f.storage_pool];
  }
  return f;
}

/** Total size of the volume definitions of `rd` (KiB). */
export function rdSizeKib(rd: SimRd): number {
  return rd.vds.reduce((a, v) => a + v.sizeKib, 0);
}

/** A candidate pool and its autoplacer score. */
interface Rated {
  pool: SimPool;
  node: SimNode;
  score: number;
}

/**
 * The autoplacer's ranking (StrategyHandler with the default weights): per candidate pool the
 * free space relative to the most free among the candidates (weight 1) minus, very lightly
 * (weight 0.00001), its resource count relative to the highest count — the emptiest pool wins,
 * equal free space goes to the pool with fewer resources (so consecutive placements spread),
 * then the node name, then the pool name.
 */
function rate(ctl: SimController, cands: { pool: SimPool; node: SimNode }[]): Rated[] {
  const free = cands.map((c) => c.pool.kind === "DISKLESS" ? 0 : poolFreeKib(ctl, c.pool));
  const count = cands.map((c) => ctl.usage.resources(c.pool));
  const maxFree = Math.max(0, ...free);
  const maxCount = Math.max(0, ...count);
  return cands.map((c, i) => ({
    ...c,
    score: (maxFree > 0 ? free[i] / maxFree : 0) -
      (maxCount > 0 ? (count[i] / maxCount) * 0.00001 : 0),
  })).sort((x, y) =>
    y.score - x.score || x.node.name.localeCompare(y.node.name) ||
    x.pool.name.localeCompare(y.pool.name)
  );
}

/**
 * Whether `r` leaves with an evacuation (it or its node flagged EVACUATE): the autoplacer
 * neither counts it as placed nor lets it fix the node properties of further replicas.
 */
export function evacuating(ctl: SimController, r: SimRsc): boolean {
  return r.evacuate === true || ctl.node(r.node)?.evacuate === true;
}

/** Candidate (node, pool) pairs for `count` new diskful replicas, best first. */
export function select(
  ctl: SimController,
  rd: SimRd | null,
  filter: Record<string, unknown>,
  count: number,
  sizeKib: number,
): SimPool[] {
  const pools = splitNames(filter.storage_pool_list);
  const providers = splitNames(filter.provider_list).map(k);
  const onlyNodes = splitNames(filter.node_name_list).map(k);
  const notWith = splitNames(filter.not_place_with_rsc).map(k);
  const notWithRe = typeof filter.not_place_with_rsc_regex === "string" &&
      filter.not_place_with_rsc_regex !== ""
    ? new RegExp(filter.not_place_with_rsc_regex, "i")
    : null;
  const same = splitNames(filter.replicas_on_same);
  const different = splitNames(filter.replicas_on_different);
  const existing = rd ? rd.rscs.filter((r) => !r.diskless) : [];
  // replicas leaving with an evacuation fix no node properties
  const staying = existing.filter((r) => !evacuating(ctl, r));
  const all: { pool: SimPool; node: SimNode }[] = [];
  for (const n of ctl.state.nodes) {
    // the autoplacer only considers connected satellites, none being evacuated
    if (n.offline || n.evacuate) continue;
    if (onlyNodes.length && !onlyNodes.includes(k(n.name))) continue;
    if (rd && existing.some((r) => k(r.node) === k(n.name))) continue;
    if (
      (notWith.length || notWithRe) &&
      ctl.state.rds.some((o) =>
        (notWith.includes(k(o.name)) || (notWithRe && notWithRe.test(o.name))) &&
        (!rd || k(o.name) !== k(rd.name)) &&
        o.rscs.some((r) => k(r.node) === k(n.name) && !r.diskless)
      )
    ) continue;
    for (const p of ctl.state.pools) {
      if (k(p.node) !== k(n.name) || p.kind === "DISKLESS") continue;
      if (pools.length && !pools.some((x) => k(x) === k(p.name))) continue;
      if (providers.length && !providers.includes(p.kind)) continue;
      const free = poolFreeKib(ctl, p);
      const need = THIN_KINDS.has(p.kind) ? 0 : align(sizeKib + drbdMetaKib(sizeKib), 4096);
      if (THIN_KINDS.has(p.kind) ? free <= 0 : free < need) continue;
      all.push({ pool: p, node: n });
    }
  }
  // the best pool of each node, nodes in the order of their best pool
  const seenNodes = new Set<string>();
  const cands = rate(ctl, all).filter((c) => {
    if (seenNodes.has(k(c.node.name))) return false;
    seenNodes.add(k(c.node.name));
    return true;
  });
  const propOf = (n: SimNode, key: string) => n.props[key] ?? n.props[`Aux/${key}`] ?? "";
  let chosen: typeof cands = [];
  if (same.length) {
    const groups = new Map<string, typeof cands>();
    const fixed = staying.map((r) => ctl.node(r.node)!).filter(Boolean);
    for (const c of cands) {
      const key = same.map((s) => propOf(c.node, s)).join("\u0000");
      if (
        fixed.length && fixed.some((f) => same.map((s) => propOf(f, s)).join("\u0000") !== key)
      ) {
        continue;
      }
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    for (const g of groups.values()) {
      if (g.length >= count) {
        chosen = g.slice(0, count);
        break;
      }
    }
  } else if (different.length) {
    const seen = new Set<string>(
      staying.map((r) => different.map((d) => propOf(ctl.node(r.node)!, d)).join("\u0000")),
    );
    for (const c of cands) {
      const key = different.map((d) => propOf(c.node, d)).join("\u0000");
      if (seen.has(key)) continue;
      seen.add(key);
      chosen.push(c);
      if (chosen.length === count) break;
    }
  } else {
    chosen = cands.slice(0, count);
  }
  if (chosen.length < count) {
    fail(CODE.FAIL_NOT_ENOUGH_NODES, "Not enough available nodes", {
      details: "Not enough nodes fulfilling the following auto-place criteria:\n" +
        (pools.length
          ? ` * has a deployed storage pool named [${pools.join(", ")}]\n` +
            ` * the storage pools have to have at least '${sizeKib}' free space\n`
          : "") +
        " * the current access context has enough privileges to use the node and the storage pool\n" +
        " * the node is online",
    });
  }
  return chosen.map((c) => c.pool);
}

/**
 * Make `rd` diskful in each pool (turning a diskless resource there diskful); returns "node
 * (pool)" per pool.
 */
export function placeDiskful(ctl: SimController, rd: SimRd, pools: SimPool[]): string[] {
  const out: string[] = [];
  for (const p of pools) {
    const existing = ctl.rsc(rd, p.node);
    if (existing) {
      existing.diskless = false;
      existing.tieBreaker = false;
      existing.client = false;
      existing.pool = p.name;
      existing.props.StorPoolName = p.name;
    } else {
      ctl.newRsc(rd, p.node, p.name, false, false);
    }
    out.push(`${p.node} (${p.name})`);
  }
  return out;
}

/** A property of `rd` looked up like LINSTOR's priority props: definition, then its group. */
export function rdProp(ctl: SimController, rd: SimRd, key: string): string | undefined {
  return rd.props[key] ?? ctl.rg(rd.rg)?.props[key];
}

/**
 * The diskless pool for a tie-breaker of `rd` (the autoplacer over diskless pools: free space
 * is 0 there, so the pool holding the fewest resources wins, then the node name): on an
 * online node without a resource of `rd` (or exactly on `only`), within the group's diskless
 * pools and nodes when it restricts them.
 */
function tieBreakerPool(ctl: SimController, rd: SimRd, only?: string): SimPool | undefined {
  const g = ctl.rg(rd.rg);
  const dl = splitNames(g?.filter.storage_pool_diskless_list).map(k);
  const nodes = splitNames(g?.filter.node_name_list).map(k);
  const cands: { pool: SimPool; node: SimNode }[] = [];
  for (const p of ctl.state.pools) {
    if (p.kind !== "DISKLESS" || (dl.length && !dl.includes(k(p.name)))) continue;
    const n = ctl.node(p.node);
    if (!n || n.offline || n.evacuate || (nodes.length && !nodes.includes(k(n.name)))) continue;
    if (only !== undefined ? k(only) !== k(n.name) : ctl.rsc(rd, n.name)) continue;
    cands.push({ pool: p, node: n });
  }
  return rate(ctl, cands)[0]?.pool;
}

/**
 * Create, keep or remove the automatic quorum tie-breaker like CtrlRscAutoTieBreakerHelper:
 * with auto-tiebreaker on (`DrbdOptions/auto-add-quorum-tiebreaker`, default true) and quorum
 * in use, an even number (≥ 2) of diskful replicas and no diskless voter (a diskless resource
 * that is neither tie-breaker nor DRBD client) needs one. A resource being deleted (`deleting`)
 * is taken over as the tie-breaker instead when one is needed; returns true then. A
 * tie-breaker that is no longer needed goes only while its satellite is connected.
 */
function manageTieBreaker(
  ctl: SimController,
  rd: SimRd,
  out: SimRc[],
  deleting?: SimRsc,
): boolean {
  if ((rdProp(ctl, rd, "DrbdOptions/auto-add-quorum-tiebreaker") ?? "true") !== "true") {
    return false;
  }
  const quorum = rdProp(ctl, rd, "DrbdOptions/Resource/quorum") ?? "majority";
  const setBy = rdProp(ctl, rd, "Internal/Drbd/QuorumSetBy") ?? "linstor";
  if (quorum.toLowerCase() !== "majority" && setBy.toLowerCase() !== "linstor") return false;
  const live = rd.rscs.filter((r) => r !== deleting);
  const diskful = live.filter((r) => !r.diskless).length;
  const voting = live.filter((r) => r.diskless && !r.tieBreaker && !r.client).length;
  const tb = live.find((r) => r.tieBreaker);
  const should = diskful >= 2 && diskful % 2 === 0 && voting === 0;
  if (should && !tb) {
    const own = deleting && !deleting.tieBreaker
      ? tieBreakerPool(ctl, rd, deleting.node)
      : undefined;
    if (deleting && own) {
      // the resource stays, as the tie-breaker (a diskful one is toggled into diskless)
      if (!deleting.diskless) {
        deleting.pool = own.name;
        deleting.props.StorPoolName = own.name;
      }
      deleting.diskless = true;
      deleting.tieBreaker = true;
      deleting.client = false;
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_TIE_BREAKER_TAKEOVER,
          "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
        ),
      );
      return true;
    }
    const pool = tieBreakerPool(ctl, rd);
    if (!pool) {
      out.push(
        rc(
          MASK_WARN,
          CODE.WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER,
          `Could not find suitable node to automatically create a tie breaking resource for '${rd.name}'.`,
        ),
      );
    } else {
      const r = ctl.newRsc(rd, pool.node, pool.name, true, false);
      r.tieBreaker = true;
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_TIE_BREAKER_CREATED,
          `Tie breaker resource '${rd.name}' created on ${pool.node}`,
        ),
      );
    }
  } else if (!should && tb && ctl.isOnline(tb.node)) {
    rd.rscs = rd.rscs.filter((r) => r !== tb);
    ctl.forgetInUse(rd, tb.node);
    out.push(rc(MASK_INFO, CODE.INFO_TIE_BREAKER_DELETING, "Tie breaker marked for deletion"));
  }
  return false;
}

/**
 * The automatic quorum (CtrlRscAutoQuorumHelper): unless the user set the quorum, the
 * definition gets `DrbdOptions/Resource/quorum` = majority once quorum is feasible (3 diskful
 * replicas, or 2 and a diskless resource) and off otherwise, with an info entry when it
 * changes (for off only when it was set before).
 */
function manageQuorum(ctl: SimController, rd: SimRd, out: SimRc[], deleting?: SimRsc): void {
  const key = "DrbdOptions/Resource/quorum";
  const setBy = rdProp(ctl, rd, "Internal/Drbd/QuorumSetBy") ?? "linstor";
  const old = rd.props[key];
  if (setBy.toLowerCase() !== "linstor") {
    // set by the user on the group: the definition follows it
    if (rd.props["Internal/Drbd/QuorumSetBy"] !== undefined) return;
    const want = ctl.rg(rd.rg)?.props[key] ?? "majority";
    if (want.toLowerCase() !== (old ?? "").toLowerCase()) {
      rd.props[key] = want;
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_PROP_SET,
          `Resource-definition property '${key}' updated from ${
            old === undefined ? "undefined" : `'${old}'`
          } to '${want}' by User`,
        ),
      );
    }
    return;
  }
  const live = rd.rscs.filter((r) => r !== deleting);
  const diskful = live.filter((r) => !r.diskless).length;
  const diskless = live.length - diskful;
  if ((diskful === 2 && diskless >= 1) || diskful >= 3) {
    rd.props[key] = "majority";
    if (old !== "majority") {
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_PROP_SET,
          `Resource-definition property '${key}' updated from ${
            old === undefined ? "undefined" : `'${old}'`
          } to 'majority' by AutoQuorum`,
        ),
      );
    }
  } else {
    rd.props[key] = "off";
    if (old !== undefined && old !== "off") {
      out.push(
        rc(
          MASK_INFO,
          INFO_PROP_REMOVED,
          `Resource-definition property '${key}' was removed as there are not enough resources for quorum`,
        ),
      );
    }
  }
}

/**
 * What the controller's auto-helper does after resources were created, deleted or placed: the
 * tie-breaker, then the quorum, counting `deleting` (a resource the request deletes) as gone.
 * Returns true when `deleting` was taken over as tie-breaker: it stays then.
 */
export function autoHelper(
  ctl: SimController,
  rd: SimRd,
  out: SimRc[],
  deleting?: SimRsc,
): boolean {
  const taken = manageTieBreaker(ctl, rd, out, deleting);
  manageQuorum(ctl, rd, out, taken ? undefined : deleting);
  return taken;
}

/** POST /v1/resource-groups/{rg}/query-size-info. */
export function querySizeInfo(
  ctl: SimController,
  rgName: string,
  body: Record<string, unknown>,
): SimReply {
  const g = ctl.needRg(rgName);
  const filter = mergedFilter(g, cleanFilter(body.select_filter));
  const placeCount = typeof filter.place_count === "number" ? filter.place_count : 2;
  const pools = splitNames(filter.storage_pool_list);
  const providers = splitNames(filter.provider_list).map(k);
  const avail = ctl.state.pools.filter((p) =>
    p.kind !== "DISKLESS" && ctl.isOnline(p.node) && (!pools.length || pools.some((x) =>
      k(x) === k(p.name)
    )) &&
    (!providers.length || providers.includes(p.kind))
  );
  let selected: SimPool[] = [];
  try {
    selected = select(ctl, null, filter, placeCount, 0);
  } catch { /* not placeable */ }
  const maxVlm = selected.length ? Math.min(...selected.map((p) => poolFreeKib(ctl, p))) : 0;
  const available = selected.length
    ? simulateSpace(avail.map((p) => poolFreeKib(ctl, p)), placeCount)
    : 0;
  const capacity = simulateSpace(avail.map((p) => p.totalKib), placeCount);
  return {
    status: 200,
    body: {
      space_info: {
        max_vlm_size_in_kib: maxVlm,
        available_size_in_kib: available,
        capacity_in_kib: capacity,
        default_max_oversubscription_ratio: 20,
        max_oversubscription_ratio: 20,
        max_free_capacity_oversubscription_ratio: 20,
        max_total_capacity_oversubscription_ratio: 20,
        next_spawn_result: selected.map((p) => ({
          node_name: p.node,
          stor_pool_name: p.name,
          stor_pool_oversubscription_ratio: 20,
          stor_pool_free_capacity_oversubscription_ratio: 20,
          stor_pool_total_capacity_oversubscription_ratio: 20,
        })),
      },
      reports: [],
    },
  };
}

/**
 * Place `rd`'s missing diskful replicas under `filter` (and diskless ones on the remaining nodes
 * when asked), then fix the tie-breaker.
 */
export function autoplace(
  ctl: SimController,
  rd: SimRd,
  filter: Record<string, unknown>,
  out: SimRc[],
): void {
  // replicas leaving with an evacuation do not count as placed
  const live = rd.rscs.filter((r) => !r.diskless && !evacuating(ctl, r)).length;
  let add: number;
  if (typeof filter.additional_place_count === "number" && filter.additional_place_count > 0) {
    add = filter.additional_place_count;
  } else {
    const count = typeof filter.place_count === "number" ? filter.place_count : 2;
    add = count - live;
  }
  if (add < 0) {
    throw new SimApiError(
      rc(
        MASK_WARN,
        CODE.WARN_RSC_ALREADY_DEPLOYED,
        `The resource '${rd.name}' was already deployed on ${rd.rscs.length} nodes: ${
          rd.rscs.map((r) => `'${r.node}'`).join(", ")
        }. The resource would have to be deleted from nodes to reach the placement count.`,
      ),
    );
  }
  if (add === 0 && filter.diskless_on_remaining !== true) {
    out.push(
      rc(
        MASK_WARN,
        CODE.WARN_RSC_ALREADY_DEPLOYED,
        `Resource '${rd.name}' was already deployed on ${live} nodes. Skipping.`,
      ),
    );
    return;
  }
  const chosen = add > 0 ? select(ctl, rd, filter, add, rdSizeKib(rd)) : [];
  const used = placeDiskful(ctl, rd, chosen);
  if (filter.diskless_on_remaining === true) {
    for (const n of ctl.state.nodes) {
      if (!n.offline && !ctl.rsc(rd, n.name) && ctl.pool(n.name, DISKLESS_POOL)) {
        // diskless on the remaining nodes are DRBD clients (no quorum vote)
        ctl.newRsc(rd, n.name, DISKLESS_POOL, true, true);
      }
    }
  }
  autoHelper(ctl, rd, out);
  out.push(
    rc(
      0n,
      CODE.CREATED,
      `Resource '${rd.name}' successfully autoplaced on ${chosen.length} nodes`,
      {
        details: `Used nodes (storage pool name): ${used.map((u) => `'${u}'`).join(", ")}`,
      },
    ),
  );
}

/** The capacity "simulation" of LINSTOR's query-size-info (fill place_count-wide stripes). */
export function simulateSpace(sizes: number[], placeCount: number): number {
  const s = sizes.filter((x) => x > 0);
  let ret = 0;
  if (placeCount <= 0) return 0;
  while (s.length >= placeCount) {
    s.sort((a, b) => a - b);
    const idx = s.length - placeCount;
    const nth = s[idx];
    ret += nth;
    for (let i = idx; i < s.length; i++) s[i] -= nth;
    for (let i = s.length - 1; i >= 0; i--) if (s[i] === 0) s.splice(i, 1);
  }
  return ret;
}

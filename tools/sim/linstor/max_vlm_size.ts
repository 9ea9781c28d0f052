/**
 * The maximum volume size queries of the simulated LINSTOR controller
 * (CtrlQueryMaxVlmSizeApiCallHandler, CtrlRscGrpApiCallHandler.queryMaxVlmSize and
 * CtrlQueryMaxVlmSizeHelper): `OPTIONS /v1/query-max-volume-size` with a selection filter
 * (LINBIT's `linstor controller query-max-volume-size`) and
 * `GET /v1/resource-groups/{rg}/query-max-volume-size` with the group's filter (`linstor
 * resource-group query-max-volume-size`). Both answer MaxVolumeSizes: per storage pool
 * definition the autoplacer can place the replicas in, the nodes it would pick and the least
 * free space among their pools.
 */
import { CODE, MASK_ERROR } from "../../../lib/backend/linstor/api_call_rc.ts";
import { compareText } from "../../../lib/compare.ts";
import { plainEntry, type SimReply } from "./replies.ts";
import { type SimController } from "./controller.ts";
import { cleanFilter, k, type SimPool, splitNames, THIN_KINDS } from "./model.ts";
import { poolFreeKib, select } from "./placement.ts";
import { poolDfnNames } from "./pool_dfns.ts";
import { loadRg } from "./single_gets.ts";

/** LinStor.OVERSUBSCRIPTION_RATIO_DEFAULT, which every MaxVolumeSizes reply carries. */
const DEFAULT_OVERSUBSCRIPTION_RATIO = 20;

/**
 * OPTIONS /v1/query-max-volume-size: the request's selection filter (`storage_pool` as the
 * one-pool list); without a place count, FAIL_INVLD_PLACE_COUNT "Replica count is required for
 * this operation" (HTTP 500, the entry as the handler raises it).
 */
export function queryMaxVlmSize(ctl: SimController, body: Record<string, unknown>): SimReply {
  const filter = cleanFilter(body);
  if (typeof filter.place_count !== "number") {
    return errorReply(CODE.FAIL_INVLD_PLACE_COUNT, "Replica count is required for this operation");
  }
  if (typeof filter.storage_pool === "string" && !splitNames(filter.storage_pool_list).length) {
    filter.storage_pool_list = [filter.storage_pool];
  }
  return maxVlmSizes(ctl, filter, filter.place_count);
}

/**
 * GET /v1/resource-groups/{rg}/query-max-volume-size: the group's selection filter as it is
 * kept (a missing group: the loader's 404). A group without a place count is asked for 2
 * replicas, as the simulator's other size queries ask.
 */
export function queryRgMaxVlmSize(ctl: SimController, rgName: string): SimReply {
  const g = loadRg(ctl, rgName);
  const count = typeof g.filter.place_count === "number" ? g.filter.place_count : 2;
  return maxVlmSizes(ctl, g.filter, count);
}

/** One entry of the reply's own ApiCallRc list (no masks of a call), with HTTP 500. */
function errorReply(code: number, message: string): SimReply {
  return { status: 500, body: [plainEntry(MASK_ERROR | BigInt(code), message)] };
}

/**
 * The candidates, as CtrlQueryMaxVlmSizeHelper finds them: the autoplacer runs once per storage
 * pool definition (the filter's pools, else every definition) restricted to that one name; each
 * placement found is a candidate with its nodes (in node order), whether all its pools are thin
 * and the least free space among them. Sorted by pool name; none at all is FAIL_NOT_ENOUGH_NODES
 * "Not enough nodes" (HTTP 500).
 */
function maxVlmSizes(
  ctl: SimController,
  filter: Record<string, unknown>,
  count: number,
): SimReply {
  const wanted = splitNames(filter.storage_pool_list);
  const dfns = poolDfnNames(ctl);
  const candidates: Record<string, unknown>[] = [];
  for (const name of wanted.length ? wanted : dfns) {
    let pools: SimPool[];
    try {
      pools = select(ctl, null, { ...filter, storage_pool_list: [name] }, count, 0);
    } catch {
      continue; // no placement in this pool
    }
    pools.sort((a, b) => compareText(k(a.node), k(b.node)));
    candidates.push({
      storage_pool: dfns.find((d) => k(d) === k(name)) ?? name,
      max_volume_size_kib: Math.min(...pools.map((p) => poolFreeKib(ctl, p))),
      node_names: pools.map((p) => p.node),
      all_thin: pools.every((p) => THIN_KINDS.has(p.kind)),
    });
  }
  if (!candidates.length) return errorReply(CODE.FAIL_NOT_ENOUGH_NODES, "Not enough nodes");
  candidates.sort((a, b) => compareText(String(a.storage_pool), String(b.storage_pool)));
  return {
    status: 200,
    body: { candidates, default_max_oversubscription_ratio: DEFAULT_OVERSUBSCRIPTION_RATIO },
  };
}

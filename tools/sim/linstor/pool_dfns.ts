/**
 * Storage pool definitions in the simulated LINSTOR controller: the names storage pools are
 * grouped under (a pool made with a new name makes its definition). The simulator keeps no
 * object of its own for them: a definition is a name some pool has, or one of the two a fresh
 * controller's database holds. `GET /v1/storage-pool-definitions[/{name}]` lists them (LINBIT's
 * `linstor storage-pool-definition list`, and the client's query-max-volume-size tables).
 */
import { compareText } from "../../../lib/compare.ts";
import { fail, type SimReply } from "./replies.ts";
import { type SimController } from "./controller.ts";
import { DISKLESS_POOL, k } from "./model.ts";
import { FAIL_NOT_FOUND_STOR_POOL_DFN } from "./codes.ts";
import { page } from "./views.ts";

/** The definitions a fresh controller's database holds, with or without pools. */
const DEFAULT_POOL_DFNS = ["DfltStorPool", DISKLESS_POOL];

/**
 * The storage pool definitions' names, in the controller's order (by upper-case name); a name
 * is spelt as its first pool (or the default definition) spells it.
 */
export function poolDfnNames(ctl: SimController): string[] {
  const names = new Map<string, string>();
  for (const d of DEFAULT_POOL_DFNS) names.set(k(d), d);
  for (const p of ctl.state.pools) if (!names.has(k(p.name))) names.set(k(p.name), p.name);
  return [...names.entries()].sort(([a], [b]) => compareText(a, b)).map(([, n]) => n);
}

/**
 * GET /v1/storage-pool-definitions, or one with `name` (404 "StoragePoolDefinition 'N' not
 * found." when there is none): `{storage_pool_name}` each — their properties are not modelled,
 * so always empty, and an empty map is left out as the controller leaves it out.
 */
export function listPoolDfns(ctl: SimController, q: URLSearchParams, name?: string): SimReply {
  const list = poolDfnNames(ctl)
    .filter((n) => name === undefined || k(n) === k(name))
    .map((n) => ({ storage_pool_name: n }));
  if (name !== undefined) {
    if (!list.length) {
      fail(FAIL_NOT_FOUND_STOR_POOL_DFN, `StoragePoolDefinition '${name}' not found.`);
    }
    return { status: 200, body: list[0] };
  }
  return { status: 200, body: page(list, q) };
}

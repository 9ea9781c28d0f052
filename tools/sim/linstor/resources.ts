/**
 * Resources in the simulated LINSTOR controller: creating replicas and diskless attachments,
 * autoplace, make-available, deleting (with the tie-breaker's takeover rules) and modifying.
 */
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_INFO,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  fail,
  rc,
  type RcContext,
  rcReply,
  SimApiError,
  type SimRc,
  type SimReply,
} from "./replies.ts";
import {
  align,
  asStrings,
  cleanFilter,
  DISKLESS_POOL,
  drbdMetaKib,
  k,
  type SimPool,
  type SimRd,
  type SimRsc,
  splitNames,
  THIN_KINDS,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { checkNodeId, hasOverrideVlmId } from "./drbd_layer.ts";
import {
  autoHelper,
  autoplace,
  mergedFilter,
  placeDiskful,
  poolFreeKib,
  rdSizeKib,
  select,
} from "./placement.ts";
import { editProps, setProps } from "./props.ts";
import { FAIL_EVACUATING, INFO_RSC_ALREADY_EXISTS } from "./codes.ts";

/**
 * POST …/resources (array) or …/resources/{node} (single), like CtrlRscCrtApiHelper:
 * - a resource that exists diskful: INFO_RSC_ALREADY_EXISTS (not an error since 2020; the
 *   request changes nothing);
 * - a diskless resource that exists (a tie-breaker, say): reused — asked diskless, it loses
 *   its tie-breaker flag (a wanted diskless resource now; DRBD client if asked) and the
 *   satellites are updated; asked diskful, it is toggled into a diskful replica;
 * - otherwise a new resource; diskless ones are quorum voters unless `drbd_client` is true.
 * Then the auto-helper (tie-breaker, quorum) runs, and the new resources are reported
 * registered, with their volumes, and deployed.
 */
export function createRscs(
  ctl: SimController,
  name: string,
  items: Record<string, unknown>[],
  nodeFromPath?: string,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: name } };
  return ctl.tx([name], () => {
    const rd = ctl.needRd(name);
    const out: SimRc[] = [];
    const created: SimRsc[] = [];
    const updated: SimRsc[] = [];
    for (const it of items) {
      const res = (it.resource ?? {}) as Record<string, unknown>;
      const nodeName = nodeFromPath ?? String(res.node_name ?? "");
      const node = ctl.needNode(nodeName);
      if (node.evacuate) {
        // CtrlRscCrtApiHelper: before anything else of the resource is looked at (the text's
        // missing quote is the controller's)
        fail(
          FAIL_EVACUATING,
          `node '${node.name} is being evacuated. No new resources allowed on this node.`,
        );
      }
      const flags = asStrings(res.flags) ?? [];
      const props = (res.props as Record<string, string>) ?? {};
      const checked: Record<string, string> = {};
      setProps("resource", checked, props, out);
      const client = typeof it.drbd_client === "boolean" ? it.drbd_client : undefined;
      let diskless = flags.includes("DISKLESS") || flags.includes("DRBD_DISKLESS") ||
        client === true;
      const named = props.StorPoolName ? ctl.pool(node.name, props.StorPoolName) : undefined;
      if (named?.kind === "DISKLESS") diskless = true;
      const existing = ctl.rsc(rd, node.name);
      if (existing && !existing.diskless) {
        throw new SimApiError(
          rc(
            MASK_INFO,
            INFO_RSC_ALREADY_EXISTS,
            `A resource '${rd.name}' on node '${node.name}' already exists.`,
          ),
        );
      }
      if (existing && diskless) {
        let changed = existing.tieBreaker;
        existing.tieBreaker = false;
        if (client !== undefined && existing.client !== client) {
          existing.client = client;
          changed = true;
        }
        Object.assign(existing.props, checked);
        if (changed) updated.push(existing);
        continue;
      }
      let poolName = props.StorPoolName;
      if (!poolName) poolName = diskless ? DISKLESS_POOL : "DfltStorPool";
      const pool = ctl.pool(node.name, poolName);
      if (!pool) {
        fail(
          CODE.FAIL_NOT_FOUND_STOR_POOL,
          `Storage pool '${poolName}' not found on node '${node.name}'.`,
        );
      }
      // an existing backing volume (OverrideVlmId) needs no free space
      if (!diskless && rd.vds.length && !rd.vds.some(hasOverrideVlmId)) {
        const need = align(rdSizeKib(rd) + drbdMetaKib(rdSizeKib(rd)), 4096);
        if (!THIN_KINDS.has(pool.kind) && poolFreeKib(ctl, pool) < need) {
          fail(
            CODE.FAIL_NOT_ENOUGH_FREE_SPACE,
            `Not enough free space in storage pool '${pool.name}' on node '${node.name}'.`,
          );
        }
      }
      if (existing) {
        // a diskless resource asked diskful: toggled into a replica in that pool
        placeDiskful(ctl, rd, [pool]);
        Object.assign(existing.props, checked);
        updated.push(existing);
        continue;
      }
      const r = ctl.newRsc(
        rd,
        node.name,
        pool.name,
        diskless,
        diskless && client === true,
        checkNodeId(it.drbd_node_id),
      );
      Object.assign(r.props, checked);
      created.push(r);
    }
    autoHelper(ctl, rd, out);
    for (const r of created) out.push(...registered(rd, r));
    for (const r of updated) {
      out.push(rc(0n, CODE.MODIFIED, `Updated resource '${rd.name}' on '${r.node}'`));
      for (const o of rd.rscs) {
        if (o === r || !ctl.isOnline(o.node)) continue;
        out.push(
          rc(
            0n,
            CODE.MODIFIED,
            `Update of resource '${rd.name}' on ${r.node} applied on node '${o.node}'`,
          ),
        );
      }
    }
    if (created.length) out.push(...deployed(ctl, rd, created));
    return rcReply(out, ctx, 201);
  });
}

/** "New resource … registered." and its volumes' "successfully registered" entries. */
export function registered(rd: SimRd, r: SimRsc): SimRc[] {
  const out = [
    rc(0n, CODE.CREATED, `New resource '${rd.name}' on node '${r.node}' registered.`, {
      details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}`,
    }),
  ];
  for (const vd of rd.vds) {
    out.push(
      rc(
        OBJ.VLM | MASK_CRT,
        CODE.CREATED,
        `Volume with number '${vd.nr}' on resource '${rd.name}' on node '${r.node}' successfully registered`,
        {
          details: `Volume UUID is: ${vd.uuid}`,
          obj_refs: { Node: r.node, RscDfn: rd.name, VlmNr: String(vd.nr) },
        },
      ),
    );
  }
  return out;
}

/**
 * What the satellites answer when new resources are deployed: each new one "Created", each
 * other resource "Added peer(s)", then each new one "ready".
 */
function deployed(ctl: SimController, rd: SimRd, created: SimRsc[]): SimRc[] {
  const out: SimRc[] = [];
  const names = created.map((r) => `'${r.node}'`).join(", ");
  for (const r of rd.rscs) {
    if (!ctl.isOnline(r.node)) continue;
    if (created.includes(r)) {
      out.push(rc(0n, CODE.CREATED, `Created resource '${rd.name}' on '${r.node}'`));
    } else {
      out.push(
        rc(0n, CODE.MODIFIED, `Added peer(s) ${names} to resource '${rd.name}' on '${r.node}'`),
      );
    }
  }
  for (const r of created) {
    if (ctl.isOnline(r.node)) {
      out.push(rc(0n, CODE.CREATED, `Resource '${rd.name}' on '${r.node}' ready`));
    }
  }
  return out;
}

/** POST /v1/resource-definitions/{r}/autoplace. */
export function autoplaceApi(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: name } };
  return ctl.tx([name], () => {
    const rd = ctl.needRd(name);
    const g = ctl.rg(rd.rg) ?? ctl.needRg("DfltRscGrp");
    const over = cleanFilter(body.select_filter);
    if (body.diskless_on_remaining === true) over.diskless_on_remaining = true;
    const filter = mergedFilter(g, over);
    if (!rd.vds.length) {
      fail(
        CODE.FAIL_NOT_FOUND_VLM_DFN,
        `Resource definition '${rd.name}' has no volume definitions.`,
      );
    }
    const out: SimRc[] = [];
    autoplace(ctl, rd, filter, out);
    return rcReply(out, ctx, 201);
  });
}

/**
 * POST /v1/resource-definitions/{r}/resources/{n}/make-available: diskless client, or diskful with
 * `diskful`.
 */
export function makeAvailable(
  ctl: SimController,
  name: string,
  nodeName: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
  return ctl.tx([name], () => {
    const rd = ctl.needRd(name);
    const node = ctl.needNode(nodeName);
    if (node.offline) {
      fail(CODE.FAIL_NOT_CONNECTED, `No active connection to satellite '${node.name}'.`, {
        details:
          "Resources cannot be made available when the corresponding satellite is not connected.",
      });
    }
    const diskful = body.diskful === true;
    const out: SimRc[] = [];
    const r = ctl.rsc(rd, node.name);
    if (r) {
      if (r.diskless && diskful) {
        const g = ctl.rg(rd.rg) ?? ctl.needRg("DfltRscGrp");
        const filter = mergedFilter(g, { node_name_list: [node.name] });
        let pools: SimPool[];
        try {
          pools = select(ctl, { ...rd, rscs: [] }, filter, 1, rdSizeKib(rd));
        } catch {
          fail(
            CODE.FAIL_NOT_FOUND_STOR_POOL,
            `Autoplacer could not find diskful stor pool on node ${node.name} matching resource-groups autoplace-settings`,
          );
        }
        placeDiskful(ctl, rd, pools);
        out.push(
          rc(
            0n,
            CODE.MODIFIED,
            `Successfully toggled disk of resource '${rd.name}' on node '${node.name}' into diskful.`,
          ),
        );
      } else {
        if (r.tieBreaker) {
          r.tieBreaker = false;
          r.client = false;
        }
        out.push(rc(0n, 0, "Resource already deployed as requested"));
      }
    } else {
      const g = ctl.rg(rd.rg) ?? ctl.needRg("DfltRscGrp");
      if (diskful) {
        const filter = mergedFilter(g, { node_name_list: [node.name] });
        let pools: SimPool[];
        try {
          pools = select(ctl, rd, filter, 1, rdSizeKib(rd));
        } catch {
          fail(
            CODE.FAIL_NOT_FOUND_STOR_POOL,
            `Autoplacer could not find diskful stor pool on node ${node.name} matching resource-groups autoplace-settings`,
          );
        }
        placeDiskful(ctl, rd, pools);
      } else {
        const dl = splitNames(g.filter.storage_pool_diskless_list);
        let pool = ctl.state.pools.find((p) =>
          k(p.node) === k(node.name) && p.kind === "DISKLESS" &&
          (!dl.length || dl.some((x) => k(x) === k(p.name)))
        );
        // retried once ignoring the resource group's restrictions
        pool ??= ctl.state.pools.find((p) => k(p.node) === k(node.name) && p.kind === "DISKLESS");
        if (!pool) {
          fail(
            CODE.FAIL_NOT_FOUND_STOR_POOL,
            `Autoplacer could not find diskless stor pool on node ${node.name} matching resource-groups autoplace-settings`,
          );
        }
        ctl.newRsc(rd, node.name, pool.name, true, true);
      }
      out.push(
        rc(0n, CODE.CREATED, `New resource '${rd.name}' on node '${node.name}' registered.`),
      );
    }
    autoHelper(ctl, rd, out);
    return rcReply(out, ctx, 200);
  });
}

/** DELETE /v1/resource-definitions/{r}/resources/{n} (the tie-breaker's takeover rules apply). */
export function deleteRsc(
  ctl: SimController,
  name: string,
  nodeName: string,
  keepTiebreaker: boolean,
): SimReply {
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
  return ctl.tx([name], () => {
    const rd = ctl.rd(name);
    const r = rd && ctl.rsc(rd, nodeName);
    if (!rd || !r) {
      return rcReply(
        [rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Node: ${nodeName}, Resource: ${name} not found.`)],
        ctx,
        200,
      );
    }
    const out: SimRc[] = [];
    removeRsc(ctl, rd, r, keepTiebreaker, out);
    return rcReply(out, ctx, 200);
  });
}

/** The refusal to delete the last disk of `rd` while diskless resources use it. */
export function lastDiskInUse(rd: SimRd): SimRc {
  return rc(
    MASK_ERROR,
    CODE.FAIL_IN_USE,
    `Last resource of '${rd.name}' with disk still has diskless resources attached.`,
    {
      cause: "Resource still has diskless users.",
      correction: "Before deleting this resource, delete the diskless resources attached to it.",
    },
  );
}

/** The refusal to delete the resource of `rd` on `node` while it is open there. */
export function inUseRefusal(rd: SimRd, node: string): SimRc {
  return rc(MASK_ERROR, CODE.FAIL_IN_USE, `Resource '${rd.name}' is still in use.`, {
    cause: "Resource is mounted/in use.",
    correction: `Un-mount resource '${rd.name}' on the node '${node}'.`,
  });
}

/** CtrlRscDeleteApiHelper.ensureNotInUse: FAIL_IN_USE while `r` is open on its node. */
export function ensureNotInUse(ctl: SimController, rd: SimRd, r: SimRsc): void {
  if (ctl.isInUse(rd, r.node)) throw new SimApiError(inUseRefusal(rd, r.node));
}

/**
 * Delete `r` of `rd` (its entries go to `out`): refused while in use or while it is the last
 * disk of diskless users; a tie-breaker is kept with `keepTiebreaker`, else deleting it turns
 * the definition's auto-tiebreaker off; one the tie-breaker rules still need is taken over.
 */
export function removeRsc(
  ctl: SimController,
  rd: SimRd,
  r: SimRsc,
  keepTiebreaker: boolean,
  out: SimRc[],
): void {
  ensureNotInUse(ctl, rd, r);
  if (!r.diskless) {
    const others = rd.rscs.filter((o) => o !== r && !o.diskless).length;
    const dl = rd.rscs.some((o) => o !== r && o.diskless && !o.tieBreaker);
    if (others === 0 && dl) throw new SimApiError(lastDiskInUse(rd));
  }
  if (r.tieBreaker) {
    if (keepTiebreaker) {
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_TIE_BREAKER_TAKEOVER,
          "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
        ),
      );
      return;
    }
    rd.props["DrbdOptions/auto-add-quorum-tiebreaker"] = "false";
    out.push(
      rc(
        MASK_INFO,
        CODE.INFO_PROP_SET,
        `Disabling auto-tiebreaker on resource-definition '${rd.name}' as tiebreaker resource was manually deleted`,
      ),
    );
  }
  // a resource the tie-breaker rules still need is taken over instead of deleted
  if (autoHelper(ctl, rd, out, r)) return;
  rd.rscs = rd.rscs.filter((o) => o !== r);
  ctl.forgetInUse(rd, r.node);
  out.push(
    rc(0n, CODE.DELETED, `Resource '${rd.name}' on node '${r.node}' preparing for deletion.`, {
      details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}`,
    }),
  );
  out.push(
    rc(0n, CODE.DELETED, `Resource '${rd.name}' on node '${r.node}' deletion complete.`),
  );
}

/** PUT /v1/resource-definitions/{r}/resources/{n}: properties. */
export function modifyRsc(
  ctl: SimController,
  name: string,
  nodeName: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
  const rd = ctl.needRd(name);
  ctl.touch(rd.name);
  const r = ctl.rsc(rd, nodeName);
  if (!r) fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${name}' on node '${nodeName}' not found.`);
  const out: SimRc[] = [];
  editProps("resource", r.props, body, out);
  out.push(rc(0n, CODE.MODIFIED, `Resource '${rd.name}' on node '${r.node}' modified.`));
  return rcReply(out, ctx, 200);
}

/**
 * Resources in the simulated LINSTOR controller: creating replicas and diskless attachments,
 * autoplace, make-available, deleting (with the tie-breaker's takeover rules) and modifying.
 */
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_INFO,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import { fail, rc, type RcContext, rcReply, type SimRc, type SimReply } from "./replies.ts";
import {
  align,
  applyProps,
  asStrings,
  cleanFilter,
  DISKLESS_POOL,
  drbdMetaKib,
  k,
  type SimPool,
  splitNames,
  THIN_KINDS,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { checkNodeId, hasOverrideVlmId } from "./drbd_layer.ts";
import {
  autoplace,
  manageTieBreaker,
  mergedFilter,
  placeDiskful,
  poolFreeKib,
  rdSizeKib,
  select,
} from "./placement.ts";

/** POST …/resources (array) or …/resources/{node} (single). */
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
    for (const it of items) {
      const res = (it.resource ?? {}) as Record<string, unknown>;
      const nodeName = nodeFromPath ?? String(res.node_name ?? "");
      const node = ctl.needNode(nodeName);
      if (ctl.rsc(rd, node.name)) {
        fail(
          CODE.FAIL_EXISTS_RSC,
          `A resource with the name '${rd.name}' already exists on node '${node.name}'.`,
        );
      }
      const flags = asStrings(res.flags) ?? [];
      const props = (res.props as Record<string, string>) ?? {};
      let diskless = flags.includes("DISKLESS") || flags.includes("DRBD_DISKLESS");
      let poolName = props.StorPoolName;
      if (!poolName) poolName = diskless ? DISKLESS_POOL : "DfltStorPool";
      const pool = ctl.pool(node.name, poolName);
      if (!pool) {
        fail(
          CODE.FAIL_NOT_FOUND_STOR_POOL,
          `Storage pool '${poolName}' not found on node '${node.name}'.`,
        );
      }
      if (pool.kind === "DISKLESS" && !diskless) {
        diskless = true;
        out.push(
          rc(
            MASK_WARN,
            0,
            `Resource will be automatically flagged diskless as it is placed in a diskless storage pool '${pool.name}'.`,
          ),
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
      const r = ctl.newRsc(
        rd,
        node.name,
        pool.name,
        diskless,
        diskless && it.drbd_client !== false,
        checkNodeId(it.drbd_node_id),
      );
      Object.assign(r.props, props);
      out.push(rc(0n, CODE.CREATED, `Successfully set property key(s): StorPoolName`));
      out.push(
        rc(0n, CODE.CREATED, `New resource '${rd.name}' on node '${node.name}' registered.`, {
          details: `Resource '${rd.name}' on node '${node.name}' UUID is: ${r.uuid}`,
        }),
      );
    }
    manageTieBreaker(ctl, rd, out);
    out.push(rc(0n, CODE.CREATED, `Created resource '${rd.name}' on ${items.length} node(s)`));
    return rcReply(out, ctx, 201);
  });
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
    manageTieBreaker(ctl, rd, out);
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
    if (ctl.isInUse(rd, r.node)) {
      fail(CODE.FAIL_IN_USE, `Resource '${rd.name}' is still in use.`, {
        cause: "Resource is mounted/in use.",
        correction: `Un-mount resource '${rd.name}' on the node '${r.node}'.`,
      });
    }
    if (!r.diskless) {
      const others = rd.rscs.filter((o) => o !== r && !o.diskless).length;
      const dl = rd.rscs.some((o) => o !== r && o.diskless && !o.tieBreaker);
      if (others === 0 && dl) {
        fail(
          CODE.FAIL_IN_USE,
          `Last resource of '${rd.name}' with disk still has diskless resources attached.`,
          {
            cause: "Resource still has diskless users.",
            correction:
              "Before deleting this resource, delete the diskless resources attached to it.",
          },
        );
      }
    }
    const out: SimRc[] = [];
    if (r.tieBreaker) {
      if (keepTiebreaker) {
        out.push(
          rc(
            MASK_INFO,
            CODE.INFO_TIE_BREAKER_TAKEOVER,
            "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
          ),
        );
        return rcReply(out, ctx, 200);
      }
      rd.props["DrbdOptions/auto-add-quorum-tiebreaker"] = "false";
      out.push(
        rc(
          MASK_INFO,
          CODE.INFO_PROP_SET,
          `Disabling auto-tiebreaker on resource-definition '${rd.name}' as tiebreaker resource was manually deleted`,
        ),
      );
    } else if (manageTieBreaker(ctl, rd, out, r)) {
      return rcReply(out, ctx, 200);
    }
    rd.rscs = rd.rscs.filter((o) => o !== r);
    ctl.forgetInUse(rd, r.node);
    if (!r.tieBreaker) manageTieBreaker(ctl, rd, out);
    out.push(
      rc(0n, CODE.DELETED, `Resource '${rd.name}' on node '${r.node}' preparing for deletion.`, {
        details: `Resource '${rd.name}' on node '${r.node}' UUID is: ${r.uuid}`,
      }),
    );
    out.push(
      rc(0n, CODE.DELETED, `Resource '${rd.name}' on node '${r.node}' deletion complete.`),
    );
    return rcReply(out, ctx, 200);
  });
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
  const r = ctl.rsc(rd, nodeName);
  if (!r) fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${name}' on node '${nodeName}' not found.`);
  applyProps(r.props, body);
  return rcReply(
    [rc(0n, CODE.MODIFIED, `Resource '${rd.name}' on node '${r.node}' modified.`)],
    ctx,
    200,
  );
}

/**
 * Snapshots and clones in the simulated LINSTOR controller: taking snapshots (one or several
 * resources at once), deleting, rolling back, restoring into a new resource definition, and
 * the asynchronous clone of a resource definition. Data is copied between the sparse files.
 */
import { join } from "node:path";
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
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
  withContext,
} from "./replies.ts";
import {
  asStrings,
  CURRENT_GI_PROP,
  isLinstorName,
  k,
  type SimRd,
  type SimSnap,
  SNAP_KINDS,
  uuid,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { copySparse, reconcile, snapFile, volumeFile } from "./persistence.ts";
import { autoHelper } from "./placement.ts";
import { createRd, createVd } from "./definitions.ts";
import { registered } from "./resources.ts";
import { editProps } from "./props.ts";

/** Take snapshot `name` of `rd` on `nodes` (default: every connected diskful node). */
function snapshot(
  ctl: SimController,
  rd: SimRd,
  name: string,
  nodes: string[] | undefined,
  out: SimRc[],
): SimSnap {
  if (!isLinstorName(name)) {
    fail(CODE.FAIL_INVLD_SNAPSHOT_NAME, `Invalid snapshot name '${name}'.`);
  }
  if (ctl.snap(rd, name)) {
    fail(
      CODE.FAIL_EXISTS_SNAPSHOT_DFN,
      `A snapshot definition with the name '${name}' already exists in resource definition '${rd.name}'.`,
    );
  }
  let diskful = rd.rscs.filter((r) => !r.diskless);
  if (nodes?.length) {
    const want = nodes.map(k);
    for (const n of nodes) {
      if (!diskful.some((r) => k(r.node) === k(n))) {
        fail(
          CODE.FAIL_NOT_FOUND_RSC,
          `Resource '${rd.name}' on node '${n}' not found or diskless.`,
        );
      }
    }
    diskful = diskful.filter((r) => want.includes(k(r.node)));
  }
  if (!diskful.length || !rd.vds.length) {
    fail(CODE.FAIL_NOT_ENOUGH_NODES, `No diskful resources of '${rd.name}' to snapshot.`);
  }
  for (const r of diskful) {
    const p = ctl.pool(r.node, r.pool);
    if (!p || !SNAP_KINDS.has(p.kind)) {
      fail(
        CODE.FAIL_SNAPSHOTS_NOT_SUPPORTED,
        `Storage driver '${p?.kind ?? "?"}' does not support snapshots.`,
        {
          details: `Used for storage pool '${r.pool}' on '${r.node}'.`,
        },
      );
    }
  }
  if (nodes?.length) {
    ctl.needConnected(
      diskful,
      (n) => `No active connection to satellite '${n}'.`,
      "Snapshots cannot be created when the corresponding satellites are not connected.",
    );
  } else {
    // LINSTOR >= 1.2x: a disconnected diskful node is skipped with a warning; at least one
    // connected diskful satellite is needed
    const online = diskful.filter((r) => ctl.isOnline(r.node));
    if (!online.length) {
      fail(
        CODE.FAIL_NOT_CONNECTED,
        "No diskful connected satellite for snapshot or no resources.",
        {
          details: "Snapshots need at least one diskful online satellite.",
        },
      );
    }
    for (const r of diskful) {
      if (online.includes(r)) continue;
      out.push(rc(
        MASK_WARN,
        0,
        `Snapshot for resource '${rd.name}' will not be created on node '${r.node}' because that node is currently offline.`,
      ));
    }
    diskful = online;
  }
  const s: SimSnap = {
    name,
    nodes: diskful.map((r) => r.node),
    pools: Object.fromEntries(diskful.map((r) => [r.node, r.pool])),
    vds: rd.vds.map((v) => ({
      nr: v.nr,
      sizeKib: v.sizeKib,
      ...(v.props[CURRENT_GI_PROP] !== undefined ? { gi: v.props[CURRENT_GI_PROP] } : {}),
    })),
    props: {},
    created: Date.now(),
    uuid: uuid(),
  };
  rd.snaps.push(s);
  for (const v of s.vds) {
    const dst = snapFile(ctl, rd.name, s.name, v.nr);
    Deno.mkdirSync(join(dst, ".."), { recursive: true });
    copySparse(volumeFile(ctl, rd.name, v.nr), dst);
  }
  out.push(rc(0n, CODE.CREATED, `New snapshot '${name}' of resource '${rd.name}' registered.`, {
    details: `Snapshot '${name}' of resource '${rd.name}' UUID is: ${s.uuid}`,
  }));
  // the satellites' answers, per node and step
  for (const n of s.nodes) {
    out.push(rc(0n, CODE.CREATED, `Suspended IO of '${rd.name}' on '${n}' for snapshot`));
  }
  for (const n of s.nodes) {
    out.push(rc(0n, CODE.CREATED, `Took snapshot of '${rd.name}' on '${n}'`));
  }
  for (const n of s.nodes) {
    out.push(rc(0n, CODE.CREATED, `Resumed IO of '${rd.name}' on '${n}' after snapshot`));
  }
  return s;
}

/** POST /v1/resource-definitions/{r}/snapshots. */
export function createSnap(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const snapName = String(body.name ?? "");
  const ctx: RcContext = {
    op: MASK_CRT,
    obj: OBJ.SNAPSHOT,
    refs: { RscDfn: name, Snapshot: snapName },
  };
  return ctl.tx([name], () => {
    const rd = ctl.needRd(name);
    const out: SimRc[] = [];
    snapshot(ctl, rd, snapName, asStrings(body.nodes), out);
    return rcReply(out, ctx, 201);
  });
}

/** POST /v1/actions/snapshot/multi: several resources in one transaction. */
export function createMultiSnap(ctl: SimController, body: Record<string, unknown>): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.SNAPSHOT };
  const items = (body.snapshots as Record<string, unknown>[] | undefined) ?? [];
  const names = items.map((i) => String(i.resource_name ?? ""));
  return ctl.tx(names, () => {
    if (!items.length) fail(CODE.FAIL_INVLD_REQUEST, "No snapshots given.");
    const out: SimRc[] = [];
    for (const it of items) {
      const rd = ctl.needRd(String(it.resource_name ?? ""));
      snapshot(ctl, rd, String(it.name ?? ""), asStrings(it.nodes), out);
    }
    return rcReply(out, ctx, 201);
  });
}

/**
 * DELETE /v1/resource-definitions/{r}/snapshots/{s}[?nodes=…] (issue 11 item 5): a snapshot (or
 * definition) that does not exist is a warning, WARN_NOT_FOUND, HTTP 200 — as deleting a
 * missing resource definition is. With `nodes`, only those nodes' snapshots go (the
 * definition with the last one); unknown nodes are a warning.
 */
export function deleteSnap(
  ctl: SimController,
  name: string,
  snapName: string,
  nodes: string[] = [],
): SimReply {
  const ctx: RcContext = {
    op: MASK_DEL,
    obj: OBJ.SNAPSHOT,
    refs: { RscDfn: name, Snapshot: snapName },
  };
  const missing = `Snapshot definition ${snapName} of resource ${name}`;
  return ctl.tx([name], () => {
    const rd = ctl.rd(name);
    const s = rd && ctl.snap(rd, snapName);
    if (!rd || !s) {
      throw new SimApiError(
        rc(MASK_WARN, CODE.WARN_NOT_FOUND, `${missing} not found.`, {
          details: `Resource: ${name}, Snapshot: ${snapName}`,
          obj_refs: ctx.refs,
        }),
      );
    }
    const what = `snapshot '${s.name}' of resource '${rd.name}'`;
    const out: SimRc[] = [];
    let gone = s.nodes;
    if (nodes.length) {
      gone = s.nodes.filter((n) => nodes.some((x) => k(x) === k(n)));
      const unknown = nodes.filter((x) => !s.nodes.some((n) => k(n) === k(x)));
      out.push(
        rc(0n, CODE.DELETED, `Marked snapshot for deletion ${what} on nodes '${gone.join(", ")}'`),
      );
      if (unknown.length) {
        out.push(
          rc(
            MASK_WARN,
            CODE.WARN_NOT_FOUND,
            `${missing} was not found on given nodes: ${unknown.join(", ")}`,
          ),
        );
      }
    } else {
      for (const n of s.nodes) {
        out.push(rc(0n, CODE.DELETED, `Marked snapshot for deletion ${what} on nodes '${n}'`));
      }
    }
    const left = s.nodes.filter((n) => !gone.includes(n));
    const upper = `Snapshot '${s.name}' of resource '${rd.name}'`;
    if (gone.length) {
      out.push(rc(0n, CODE.DELETED, `${upper} on nodes '${gone.join(", ")}' deleted.`));
    }
    if (left.length) {
      s.nodes = left;
      s.pools = Object.fromEntries(Object.entries(s.pools).filter(([n]) => left.includes(n)));
    } else {
      rd.snaps = rd.snaps.filter((x) => x !== s);
      out.push(
        rc(0n, CODE.DELETED, `${upper} deleted.`, {
          details: `${upper} UUID was: ${s.uuid}`,
        }),
      );
    }
    return rcReply(out, ctx, 200);
  });
}

/** LINSTOR >= 1.31 rollback: any snapshot; no resource of the RD may be in use. */
export function rollback(ctl: SimController, name: string, snapName: string): SimReply {
  const ctx: RcContext = {
    op: MASK_MOD,
    obj: OBJ.SNAPSHOT,
    refs: { RscDfn: name, Snapshot: snapName },
  };
  return ctl.tx([name], () => {
    const rd = ctl.needRd(name);
    const s = ctl.needSnap(rd, snapName);
    const used = rd.rscs.find((r) => ctl.isInUse(rd, r.node));
    if (used) {
      fail(CODE.FAIL_IN_USE, `Resource '${rd.name}' on node '${used.node}' is still in use.`, {
        cause: "Resource is mounted/in use.",
        correction: `Un-mount resource '${rd.name}' on the node '${used.node}'.`,
      });
    }
    if (rd.vds.some((v) => !s.vds.some((sv) => sv.nr === v.nr))) {
      fail(315, "Some volumes were not captured by the snapshot. Cannot rollback.");
    }
    ctl.needConnected(
      rd.rscs,
      (n) => `No active connection to satellite '${n}'.`,
      "Snapshot rollback cannot be performed when the corresponding satellites are not connected.",
    );
    for (const sv of s.vds) {
      // a volume definition deleted since the snapshot comes back (resetVlmDfns), with the
      // snapshot's generation identifier
      let vd = rd.vds.find((v) => v.nr === sv.nr);
      if (!vd) {
        vd = createVd(ctl, rd, sv.nr, sv.sizeKib, [], {}, []);
        if (sv.gi !== undefined) vd.props[CURRENT_GI_PROP] = sv.gi;
      }
      vd.sizeKib = sv.sizeKib;
      copySparse(snapFile(ctl, rd.name, s.name, sv.nr), volumeFile(ctl, rd.name, sv.nr));
    }
    return rcReply(
      rd.rscs.filter((r) => !r.diskless).map((r) =>
        rc(0n, CODE.MODIFIED, `Rolled resource '${rd.name}' back on '${r.node}'`)
      ),
      ctx,
      200,
    );
  });
}

/** POST /v1/resource-definitions/{r}/snapshot-restore-volume-definition/{s}. */
export function restoreVd(
  ctl: SimController,
  name: string,
  snapName: string,
  body: Record<string, unknown>,
): SimReply {
  const to = String(body.to_resource ?? "");
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.VLM_DFN, refs: { RscDfn: to } };
  return ctl.tx([to], () => {
    const rd = ctl.needRd(name);
    const s = ctl.needSnap(rd, snapName);
    const target = ctl.needRd(to);
    if (target.vds.length) {
      fail(
        CODE.FAIL_EXISTS_VLM_DFN,
        `Target resource definition '${target.name}' already has volume definitions.`,
      );
    }
    const out: SimRc[] = [];
    // each takes the snapshot's generation identifier (CtrlSnapshotRestoreVlmDfnApiCallHandler)
    for (const v of s.vds) {
      const vd = createVd(ctl, target, v.nr, v.sizeKib, [], {}, out);
      if (v.gi !== undefined) vd.props[CURRENT_GI_PROP] = v.gi;
    }
    return rcReply(out, ctx, 200);
  });
}

/**
 * POST /v1/resource-definitions/{r}/snapshot-restore-resource/{s}: resources and data of the
 * snapshot into `to_resource`.
 */
export function restoreRsc(
  ctl: SimController,
  name: string,
  snapName: string,
  body: Record<string, unknown>,
): SimReply {
  const to = String(body.to_resource ?? "");
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: to } };
  return ctl.tx([to], () => {
    const rd = ctl.needRd(name);
    const s = ctl.needSnap(rd, snapName);
    const target = ctl.needRd(to);
    if (!target.vds.length) {
      fail(
        CODE.FAIL_NOT_FOUND_VLM_DFN,
        `Target resource definition '${target.name}' has no volume definitions; restore them first.`,
      );
    }
    if (target.rscs.length) {
      fail(
        CODE.FAIL_EXISTS_RSC,
        `Target resource definition '${target.name}' already has resources.`,
      );
    }
    const nodes = asStrings(body.nodes)?.length ? asStrings(body.nodes)! : s.nodes;
    const rename = (body.stor_pool_rename as Record<string, string>) ?? {};
    const out: SimRc[] = [];
    for (const n of nodes) {
      const node = ctl.needNode(n);
      const orig = Object.entries(s.pools).find(([x]) => k(x) === k(node.name))?.[1];
      if (!orig) {
        fail(
          CODE.FAIL_NOT_FOUND_SNAPSHOT_DFN,
          `Snapshot '${s.name}' has no data on node '${node.name}'.`,
        );
      }
      const poolName = rename[orig] ?? orig;
      if (!ctl.pool(node.name, poolName)) {
        fail(
          CODE.FAIL_NOT_FOUND_STOR_POOL,
          `Storage pool '${poolName}' not found on node '${node.name}'.`,
        );
      }
      ctl.newRsc(target, node.name, poolName, false, false);
    }
    reconcile(ctl, target.name);
    for (const v of s.vds) {
      copySparse(snapFile(ctl, rd.name, s.name, v.nr), volumeFile(ctl, target.name, v.nr));
    }
    autoHelper(ctl, target, out);
    out.push(
      rc(
        0n,
        CODE.CREATED,
        `Restored resource '${target.name}' from snapshot '${s.name}' of resource '${rd.name}'.`,
      ),
    );
    return rcReply(out, ctx, 200);
  });
}

/**
 * POST /v1/resource-definitions/{r}/clone (issue 11 item 7): a new definition with the source's
 * properties and volume definitions, and every resource of the source recreated on its node
 * with its flags (CtrlRscDfnApiCallHandler.cloneRscDfnInTransaction); CLONING for
 * cloneDurationMs (FAILED with `failIt`).
 */
export function clone(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
  failIt: boolean,
): SimReply {
  const dst = String(body.name ?? "");
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_DFN, refs: { RscDfn: dst } };
  return ctl.tx([dst], () => {
    const src = ctl.needRd(name);
    const rgName = typeof body.resource_group === "string" && body.resource_group !== ""
      ? ctl.needRg(body.resource_group).name
      : src.rg;
    const diskful = src.rscs.filter((r) => !r.diskless);
    if (!diskful.length) {
      fail(
        CODE.FAIL_NOT_ENOUGH_NODES,
        `Resource definition '${src.name}' has no diskful resources to clone from.`,
      );
    }
    // the copy runs on the satellites of the source's replicas (and the clone lands there)
    ctl.needConnected(
      diskful,
      (n) => `No active connection to satellite '${n}'.`,
      "Resources cannot be cloned when the corresponding satellites are not connected.",
    );
    const out: SimRc[] = [];
    const rd = createRd(ctl, dst, rgName, {}, out);
    // the clone copies every property of the source (Internal/ ones too), marks where it
    // comes from, then applies the request's changes under the definition's whitelist
    Object.assign(rd.props, src.props, { "cloned-from": src.name });
    editProps("resource-definition", rd.props, body, out);
    for (const v of src.vds) {
      const vd = createVd(ctl, rd, v.nr, v.sizeKib, [...v.flags], {}, out);
      Object.assign(vd.props, v.props);
    }
    // every resource of the source comes back on its node with its flags (diskful replicas,
    // tie-breaker, diskless voters and clients) and properties
    out.push(rc(0n, 0, `Suspend IO on clone source ${src.name}`));
    for (const r of src.rscs) {
      const c = ctl.newRsc(rd, r.node, r.pool, r.diskless, r.client);
      c.tieBreaker = r.tieBreaker;
      c.props = { ...r.props };
      // each volume keeps its own properties in the clone
      if (r.vlmProps) c.vlmProps = structuredClone(r.vlmProps);
      out.push(...registered(rd, c));
    }
    for (const r of diskful) {
      out.push(rc(0n, 0, `Resumed IO of '${src.name}' on '${r.node}' after clone`));
    }
    reconcile(ctl, rd.name);
    if (!failIt) {
      for (const v of src.vds) {
        copySparse(volumeFile(ctl, src.name, v.nr), volumeFile(ctl, rd.name, v.nr));
      }
    }
    ctl.state.clones = ctl.state.clones.filter((c) => k(c.dst) !== k(dst));
    ctl.state.clones.push({
      src: src.name,
      dst: rd.name,
      readyAt: Date.now() + ctl.opts.cloneDurationMs,
      failed: failIt,
    });
    const list = out.map((e) => withContext(e, ctx));
    return {
      status: 201,
      body: {
        location: `/v1/resource-definitions/${encodeURIComponent(src.name)}/clone/${
          encodeURIComponent(rd.name)
        }`,
        source_name: src.name,
        clone_name: rd.name,
        messages: list,
      },
    };
  });
}

/** GET /v1/resource-definitions/{r}/clone/{c}: CLONING, COMPLETE or FAILED. */
export function cloneStatus(ctl: SimController, name: string, cloneName: string): SimReply {
  ctl.needRd(name);
  const c = ctl.state.clones.find((x) => k(x.src) === k(name) && k(x.dst) === k(cloneName));
  if (!c || !ctl.rd(cloneName)) {
    fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${cloneName}' not found.`);
  }
  const status = c.failed
    ? (Date.now() >= c.readyAt ? "FAILED" : "CLONING")
    : (Date.now() >= c.readyAt ? "COMPLETE" : "CLONING");
  return { status: 200, body: { status } };
}

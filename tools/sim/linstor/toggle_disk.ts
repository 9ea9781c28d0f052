/**
 * Toggle-disk in the simulated LINSTOR controller (CtrlRscToggleDiskApiCallHandler): a diskless
 * resource gains its disks (`linstor resource toggle-disk NODE RES --storage-pool POOL`), a
 * diskful one gives them up and stays as a DRBD diskless resource or client.
 *
 * Routes: `PUT …/resources/{n}/toggle-disk` with `{operation, storage_pool, migrate_from,
 * layer_list}` (1.28), and the deprecated `…/toggle-disk/diskful[/{pool}]`,
 * `…/toggle-disk/diskless[/{pool}]` and `…/migrate-disk/{from}[/{pool}]` that LINBIT's client up
 * to 1.27 calls. The controller runs
 * the transition in steps with the satellites (requested, adding or removing, done); the
 * simulator's satellites answer at once, so a call ends with the transition done and its reply
 * holds every step's entries. `migrate_from` deletes that node's resource once the disk is there
 * (the controller waits for the resync, which is instant here). A satellite that is not
 * connected gets FAIL_NOT_CONNECTED (a real controller registers the request and finishes it once
 * the satellite is back: not modelled).
 */
import {
  CODE,
  MASK_DEL,
  MASK_INFO,
  MASK_MOD,
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
  align,
  DISKLESS_POOL,
  drbdMetaKib,
  type SimPool,
  type SimRd,
  type SimRsc,
  THIN_KINDS,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { autoHelper, placeDiskful, poolFreeKib, rdSizeKib } from "./placement.ts";
import { API_CALL_PARSE_ERROR, FAIL_NOT_FOUND_DFLT_STOR_POOL, INFO_NOOP } from "./codes.ts";
import { ensureNotInUse, removeRsc } from "./resources.ts";

/** The operations the REST API accepts (ToggleOp.parse: case-insensitive). */
export type ToggleOp = "INTO_DRBD_DISKFUL" | "INTO_DRBD_DISKLESS" | "INTO_DRBD_CLIENT";

const OPS: readonly ToggleOp[] = ["INTO_DRBD_DISKFUL", "INTO_DRBD_CLIENT", "INTO_DRBD_DISKLESS"];

/** ToggleOp.parse: API_CALL_PARSE_ERROR for a missing or unknown operation. */
export function parseToggleOp(v: unknown): ToggleOp {
  const parseError = (message: string): never => {
    throw new SimApiError({ ret_code: API_CALL_PARSE_ERROR, message });
  };
  if (v === undefined || v === null) return parseError("No toggle operation type was specified");
  const op = OPS.find((o) => o.toLowerCase() === String(v).toLowerCase());
  return op ?? parseError(`Could not parse '${v}'. Valid operations: ${OPS.join(", ")}`);
}

/** What a toggle request asks besides its operation. */
export interface ToggleRequest {
  /** The pool to toggle into (diskful: its data pool; diskless: the diskless pool). */
  storagePool?: string;
  /** Delete the resource on this node once the disk is added. */
  migrateFrom?: string;
}

/**
 * Toggle the resource of `name` on `nodeName`. Already in the state asked: INFO_NOOP ("is
 * already diskful" / "diskless" / "a diskless client"), or, between the two kinds of diskless,
 * the change of kind as `resource modify` makes it.
 */
export function toggleDisk(
  ctl: SimController,
  name: string,
  nodeName: string,
  op: ToggleOp,
  req: ToggleRequest = {},
): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC, refs: { RscDfn: name, Node: nodeName } };
  return ctl.tx([name], () => {
    const node = ctl.needNode(nodeName);
    const rd = ctl.needRd(name);
    const r = ctl.rsc(rd, node.name);
    if (!r) {
      fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' on node '${node.name}' not found.`, {
        cause: `The specified resource '${rd.name}' on node '${node.name}' could not be found ` +
          "in the database",
        correction: `Create a resource with the name '${rd.name}' on node '${node.name}' first.`,
      });
    }
    const out: SimRc[] = [];
    const removeDisk = op !== "INTO_DRBD_DISKFUL";
    if (removeDisk === r.diskless) {
      noop(ctl, rd, r, op, out);
      return rcReply(out, ctx, 200);
    }
    if (!ctl.isOnline(r.node)) {
      fail(CODE.FAIL_NOT_CONNECTED, `No active connection to satellite '${r.node}'.`, {
        details: "The simulator does not keep a toggle-disk for a satellite that comes back.",
      });
    }
    const peers = rd.rscs.filter((o) => o !== r && ctl.isOnline(o.node)).map((o) => o.node);
    if (removeDisk) {
      const online = rd.rscs.filter((o) => !o.diskless && ctl.isOnline(o.node)).length;
      if (online <= 1) {
        fail(
          CODE.FAIL_INSUFFICIENT_REPLICA_COUNT,
          "Cannot remove the disk from the only online resource with a disk",
        );
      }
      const pool = req.storagePool || DISKLESS_POOL;
      if (!ctl.pool(r.node, pool)) noPool(rd, r, pool);
      r.diskless = true;
      r.client = op === "INTO_DRBD_CLIENT";
      r.tieBreaker = false;
      r.pool = pool;
      r.props.StorPoolName = pool;
      out.push(
        modified(`Removal of disk from resource '${rd.name}' on node '${r.node}' registered`),
      );
      out.push(modified(`Removed disk on '${r.node}'`));
      autoHelper(ctl, rd, out);
      for (const p of peers) {
        out.push(modified(`Notified '${p}' that disk has been removed on '${r.node}'`));
      }
      return rcReply(out, ctx, 200);
    }
    const from = req.migrateFrom ? ctl.rsc(rd, ctl.needNode(req.migrateFrom).name) : undefined;
    if (req.migrateFrom && !from) {
      fail(
        CODE.FAIL_NOT_FOUND_RSC,
        `Resource '${rd.name}' on node '${req.migrateFrom}' not found.`,
      );
    }
    if (from) ensureNotInUse(ctl, rd, from);
    placeDiskful(ctl, rd, [diskPool(ctl, rd, r, req.storagePool)]);
    out.push(modified(`Addition of disk to resource '${rd.name}' on node '${r.node}' registered`));
    for (const p of peers) out.push(modified(`Prepared '${p}' to expect disk on '${r.node}'`));
    autoHelper(ctl, rd, out);
    out.push(modified(`Added disk on '${r.node}'`));
    if (from) {
      // "Delete after migrate": the resource delete's own entries
      const del: SimRc[] = [];
      removeRsc(ctl, rd, from, false, del);
      const delCtx = { op: MASK_DEL, obj: OBJ.RSC, refs: { RscDfn: rd.name, Node: from.node } };
      out.push(...del.map((e) => withContext(e, delCtx)));
    }
    return rcReply(out, ctx, 200);
  });
}

const modified = (message: string): SimRc => rc(0n, CODE.MODIFIED, message);

/** The request asks the state the resource is in (handleNoopAction). */
function noop(ctl: SimController, rd: SimRd, r: SimRsc, op: ToggleOp, out: SimRc[]): void {
  const what = `Resource '${rd.name}' on node '${r.node}' is already`;
  if (op === "INTO_DRBD_DISKFUL") {
    out.push(rc(MASK_INFO, INFO_NOOP, `${what} diskful`));
    return;
  }
  const client = op === "INTO_DRBD_CLIENT";
  // a plain diskless resource wanted, or the other kind of diskless: `resource modify`
  if (client !== r.client || r.tieBreaker) {
    r.client = client;
    r.tieBreaker = false;
    autoHelper(ctl, rd, out);
    out.push(modified(`Resource '${rd.name}' on node '${r.node}' modified.`));
    return;
  }
  out.push(rc(MASK_INFO, INFO_NOOP, `${what} ${client ? "a diskless client" : "diskless"}`));
}

/**
 * The pool a diskless resource gets its disks in (resolveStorPool): the one asked, else
 * `StorPoolName` of the volume definitions, definition, group or node, else a pool of a diskful
 * peer the node has, else the default pool; checked for the data (thick pools) as the
 * controller's toggle does.
 */
function diskPool(ctl: SimController, rd: SimRd, r: SimRsc, asked?: string): SimPool {
  const prop = asked ||
    rd.vds.map((v) => v.props.StorPoolName).find((p) => p) ||
    rd.props.StorPoolName || ctl.rg(rd.rg)?.props.StorPoolName ||
    ctl.node(r.node)?.props.StorPoolName;
  const names = prop ? [prop] : [
    ...rd.rscs.filter((o) => !o.diskless && o !== r).map((o) => o.pool),
    "DfltStorPool",
  ];
  const pool = names.map((n) => ctl.pool(r.node, n)).find((p) => p !== undefined);
  if (!pool) return noPool(rd, r, prop ?? "null");
  const need = align(rdSizeKib(rd) + drbdMetaKib(rdSizeKib(rd)), 4096);
  if (!THIN_KINDS.has(pool.kind) && poolFreeKib(ctl, pool) < need) {
    fail(
      CODE.FAIL_INVLD_VLM_SIZE,
      `Not enough free space available for volume ${rd.vds[0]?.nr ?? 0} of resource '${rd.name}'.`,
    );
  }
  return pool;
}

/** checkStorPoolLoaded: the pool is not on the node (`name` "null" when none was named). */
function noPool(rd: SimRd, r: SimRsc, name: string): never {
  const nr = rd.vds[0]?.nr ?? 0;
  fail(
    FAIL_NOT_FOUND_DFLT_STOR_POOL,
    `The storage pool '${name}' for resource '${rd.name}' for volume number '${nr}' is not ` +
      `deployed on node '${r.node}'.`,
    {
      details: `The resource which should be deployed had at least one volume definition ` +
        `(volume number '${nr}') which LINSTOR tried to automatically create. The storage pool ` +
        "name for this new volume was looked for, in order, in: the properties of the resource, " +
        "volume definition, resource definition and node, and finally in a system wide default " +
        "storage pool name defined by the LINSTOR Controller.",
    },
  );
}

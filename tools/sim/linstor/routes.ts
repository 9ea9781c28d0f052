/**
 * REST routing of the simulated LINSTOR controller: the LINSTOR REST endpoints it implements
 * ({@link ROUTES}), each with its request shape (checked before the handler runs), the object
 * mask of its error replies, and the controller operation that answers it.
 */
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_MOD,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  getNode,
  getPool,
  getRd,
  getRg,
  getRsc,
  getVd,
  getVg,
  getVolumes,
  spaceReport,
} from "./single_gets.ts";
import { plainEntry, type SimReply } from "./replies.ts";
import { type SimController } from "./controller.ts";
import { querySizeInfo } from "./placement.ts";
import type { ReportDelete } from "./error_reports.ts";
import {
  getSnap,
  listNodes,
  listPools,
  listRds,
  listRgs,
  listRscs,
  listSnaps,
  listVds,
  listVgs,
  syncStatus,
  version,
  viewResources,
  viewSnaps,
} from "./views.ts";
import {
  createRdApi,
  createRg,
  createVdApi,
  createVg,
  deleteRd,
  deleteRg,
  deleteVd,
  deleteVg,
  modifyRd,
  modifyRg,
  modifyVd,
  modifyVg,
  spawn,
} from "./definitions.ts";
import {
  createNic,
  createNode,
  createPool,
  deleteNic,
  deleteNode,
  deletePool,
  getNics,
  lostNode,
  modifyNic,
  modifyNode,
  modifyPool,
  reconnectNode,
} from "./nodes.ts";
import { autoplaceApi, createRscs, deleteRsc, makeAvailable, modifyRsc } from "./resources.ts";
import { evacuateNode, restoreNode } from "./evacuate.ts";
import { adjustAllRgs, adjustRg } from "./adjust.ts";
import { getCtrlConfig, getStltConfig, setCtrlConfig, setStltConfig } from "./ctrl_config.ts";
import { intPathParam, modifyVolume } from "./volumes.ts";
import { setRscActive } from "./activation.ts";
import { queryMaxVlmSize, queryRgMaxVlmSize } from "./max_vlm_size.ts";
import { listPoolDfns } from "./pool_dfns.ts";
import { parseToggleOp, toggleDisk } from "./toggle_disk.ts";
import { deleteKvs, listKvs, modifyKvs } from "./kvs.ts";
import {
  listBackups,
  listFiles,
  listPhysicalStorage,
  listRemotes,
  listRemotesOfKind,
  listSchedules,
} from "./unconfigured.ts";
import { deleteCtrlProp, listCtrlProps, modifyCtrlProps } from "./ctrl_props.ts";
import { enterPassphrase, passphraseStatus, setPassphrase } from "./encryption.ts";
import { listRscConns, modifyRscConn } from "./rsc_conns.ts";
import { listNodeConns, modifyNodeConn } from "./node_conns.ts";
import {
  clone,
  cloneStatus,
  createMultiSnap,
  createSnap,
  deleteSnap,
  restoreRsc,
  restoreVd,
  rollback,
} from "./snapshots.ts";

/** A route handler: the controller, path parameters, query, parsed body, fault flags. */
export type Handler = (
  c: SimController,
  p: string[],
  q: URLSearchParams,
  body: unknown,
  extra: { failClone: boolean },
) => SimReply;

/** One REST endpoint of the simulator. */
export interface Route {
  method: string;
  re: RegExp;
  name: string;
  /** Request class of the body (`Name[]`: a list), see shapes.ts. */
  shape?: string;
  /** Object mask for error replies (the handler's response context). */
  obj: bigint;
  /** HTTP status of a reply without errors (also for a warning or info raised as exception). */
  ok: number;
  /**
   * A synchronous handler in the real controller: a body it cannot parse is HTTP 400 (with an
   * error report); the asynchronous ones answer 500 (ApiCallRcRestUtils.toResponse).
   */
  sync: boolean;
  /** The body holds a secret (a passphrase): a body that is not JSON is refused without its text. */
  secret?: boolean;
  handler: Handler;
}

const S = "([^/]+)";
function r(
  method: string,
  tpl: string,
  handler: Handler,
  shape?: string,
  opt: { ok?: number; sync?: boolean; secret?: boolean } = {},
): Route {
  // `{name*}`: a parameter that may hold slashes (a property key)
  const re = new RegExp("^" + tpl.replace(/\{[^}]+\*\}/g, "(.+)").replace(/\{[^}]+\}/g, S) + "$");
  return {
    method,
    re,
    name: `${method} ${tpl}`,
    shape,
    obj: objFor(method, tpl),
    ok: opt.ok ?? (method === "POST" ? 201 : 200),
    sync: opt.sync ?? false,
    ...(opt.secret ? { secret: true } : {}),
    handler,
  };
}
/** A synchronous handler (see Route.sync). */
const SYNC = { sync: true };
/** Answers 200 although it is a POST (mapToMonoResponse with the default status). */
const OK200 = { ok: 200 };
/** A body holding a passphrase (see Route.secret). */
const SECRET = { secret: true };

function objFor(method: string, tpl: string): bigint {
  // a GET's not-found entries carry no object (nor operation) mask
  if (method === "GET") return 0n;
  if (/net-interfaces/.test(tpl)) return OBJ.NET_IF;
  if (/resource-connections/.test(tpl)) return OBJ.RSC_CONN;
  if (/node-connections/.test(tpl)) return OBJ.NODE_CONN;
  if (/snapshot/.test(tpl)) return OBJ.SNAPSHOT;
  if (/resources\/\{n\}\/volumes/.test(tpl)) return OBJ.VLM;
  if (/make-available|\/resources|autoplace/.test(tpl)) return OBJ.RSC;
  if (/volume-definitions/.test(tpl)) return OBJ.VLM_DFN;
  if (/volume-groups/.test(tpl)) return OBJ.VLM_GRP;
  if (/spawn/.test(tpl)) return OBJ.RSC_GRP;
  if (/clone/.test(tpl)) return OBJ.RSC_DFN;
  if (/resource-groups/.test(tpl)) return OBJ.RSC_GRP;
  if (/resource-definitions/.test(tpl)) return OBJ.RSC_DFN;
  if (/storage-pools/.test(tpl)) return OBJ.STOR_POOL;
  if (/nodes/.test(tpl)) return OBJ.NODE;
  return 0n;
}
const obj = (b: unknown) => (b ?? {}) as Record<string, unknown>;
/** A bound string field (absent: undefined). */
const str = (v: unknown) => typeof v === "string" ? v : undefined;

/** The LINSTOR REST endpoints the simulator implements. */
export const ROUTES: Route[] = [
  r("GET", "/v1/controller/version", () => version()),
  r("GET", "/v1/controller/properties", (c) => listCtrlProps(c)),
  r(
    "POST",
    "/v1/controller/properties",
    (c, _p, _q, b) => modifyCtrlProps(c, obj(b)),
    "ControllerPropsModify",
  ),
  r("DELETE", "/v1/controller/properties/{key*}", (c, p) => deleteCtrlProp(c, p[0])),
  r("GET", "/v1/controller/config", (c) => getCtrlConfig(c)),
  r("GET", "/v1/encryption/passphrase", (c) => passphraseStatus(c)),
  r(
    "POST",
    "/v1/encryption/passphrase",
    (c, _p, _q, b) => setPassphrase(c, obj(b), true),
    "PassPhraseCreate",
    SECRET,
  ),
  r(
    "PUT",
    "/v1/encryption/passphrase",
    (c, _p, _q, b) => setPassphrase(c, obj(b), false),
    "PassPhraseCreate",
    SECRET,
  ),
  r(
    "PATCH",
    "/v1/encryption/passphrase",
    (c, _p, _q, b) => enterPassphrase(c, b),
    "String",
    SECRET,
  ),
  r("PUT", "/v1/controller/config", (c, _p, _q, b) => setCtrlConfig(c, obj(b)), "ControllerConfig"),
  r("GET", "/v1/nodes", (c, _p, q) => listNodes(c, q)),
  r("GET", "/v1/nodes/{node}", (c, p) => getNode(c, p[0])),
  r("POST", "/v1/nodes", (c, _p, _q, b) => createNode(c, obj(b)), "Node"),
  r("PUT", "/v1/nodes/{node}", (c, p, _q, b) => modifyNode(c, p[0], obj(b)), "NodeModify"),
  r("DELETE", "/v1/nodes/{node}", (c, p) => deleteNode(c, p[0])),
  r("DELETE", "/v1/nodes/{node}/lost", (c, p) => lostNode(c, p[0])),
  r("PUT", "/v1/nodes/{node}/reconnect", (c, p) => reconnectNode(c, p[0])),
  r(
    "PUT",
    "/v1/nodes/{node}/evacuate",
    (c, p, _q, b) => evacuateNode(c, p[0], obj(b)),
    "NodeEvacuate",
  ),
  r(
    "PUT",
    "/v1/nodes/{node}/restore",
    (c, p, _q, b) => restoreNode(c, p[0], obj(b)),
    "NodeRestore",
  ),
  r("GET", "/v1/nodes/{node}/config", (c, p) => getStltConfig(c, p[0])),
  r(
    "PUT",
    "/v1/nodes/{node}/config",
    (c, p, _q, b) => setStltConfig(c, p[0], obj(b)),
    "SatelliteConfig",
  ),
  r("GET", "/v1/nodes/{node}/net-interfaces", (c, p) => getNics(c, p[0])),
  r(
    "POST",
    "/v1/nodes/{node}/net-interfaces",
    (c, p, _q, b) => createNic(c, p[0], obj(b)),
    "NetInterface",
    SYNC,
  ),
  r("GET", "/v1/nodes/{node}/net-interfaces/{nic}", (c, p) => getNics(c, p[0], p[1])),
  r(
    "PUT",
    "/v1/nodes/{node}/net-interfaces/{nic}",
    (c, p, _q, b) => modifyNic(c, p[0], p[1], obj(b)),
    "NetInterface",
    SYNC,
  ),
  r("DELETE", "/v1/nodes/{node}/net-interfaces/{nic}", (c, p) => deleteNic(c, p[0], p[1])),
  r("GET", "/v1/nodes/{node}/storage-pools", (c, p, q) => listPools(c, q, p[0])),
  r("GET", "/v1/nodes/{node}/storage-pools/{pool}", (c, p) => getPool(c, p[0], p[1])),
  r(
    "PUT",
    "/v1/nodes/{node}/storage-pools/{pool}",
    (c, p, _q, b) => modifyPool(c, p[0], p[1], obj(b)),
    "StoragePoolDefinitionModify",
  ),
  r("DELETE", "/v1/nodes/{node}/storage-pools/{pool}", (c, p) => deletePool(c, p[0], p[1])),
  r(
    "POST",
    "/v1/nodes/{node}/storage-pools",
    (c, p, _q, b) => createPool(c, p[0], obj(b)),
    "StoragePool",
  ),
  r("GET", "/v1/view/storage-pools", (c, _p, q) => listPools(c, q)),
  r("GET", "/v1/storage-pool-definitions", (c, _p, q) => listPoolDfns(c, q)),
  r("GET", "/v1/storage-pool-definitions/{pool}", (c, p, q) => listPoolDfns(c, q, p[0])),
  r(
    "OPTIONS",
    "/v1/query-max-volume-size",
    (c, _p, _q, b) => queryMaxVlmSize(c, obj(b)),
    "AutoSelectFilter",
  ),
  r("GET", "/v1/remotes", () => listRemotes()),
  r("GET", "/v1/remotes/s3", () => listRemotesOfKind()),
  r("GET", "/v1/remotes/linstor", () => listRemotesOfKind()),
  r("GET", "/v1/remotes/ebs", () => listRemotesOfKind()),
  r("GET", "/v1/remotes/{remote}/backups", (_c, p) => listBackups(p[0])),
  r("GET", "/v1/schedules", () => listSchedules()),
  r("GET", "/v1/files", () => listFiles()),
  r("GET", "/v1/files/{file}", (_c, p) => listFiles(p[0])),
  r("GET", "/v1/physical-storage", () => listPhysicalStorage()),
  r("GET", "/v1/key-value-store", (c) => listKvs(c)),
  r("GET", "/v1/key-value-store/{instance}", (c, p) => listKvs(c, p[0])),
  r(
    "PUT",
    "/v1/key-value-store/{instance}",
    (c, p, _q, b) => modifyKvs(c, p[0], obj(b)),
    "KeyValueStoreModify",
    SYNC,
  ),
  r("DELETE", "/v1/key-value-store/{instance}", (c, p) => deleteKvs(c, p[0]), undefined, SYNC),
  r("GET", "/v1/view/resources", (c, _p, q) => viewResources(c, q)),
  r("GET", "/v1/node-connections", (c, _p, q) => listNodeConns(c, q)),
  r(
    "PUT",
    "/v1/node-connections/{a}/{b}",
    (c, p, _q, b) => modifyNodeConn(c, p[0], p[1], obj(b)),
    "NodeConnectionModify",
  ),
  r("GET", "/v1/resource-definitions/{rd}/resource-connections", (c, p) => listRscConns(c, p[0])),
  r(
    "GET",
    "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}",
    (c, p) => listRscConns(c, p[0], p[1], p[2]),
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}",
    (c, p, _q, b) => modifyRscConn(c, p[0], p[1], p[2], obj(b)),
    "ResourceConnectionModify",
  ),
  r("GET", "/v1/view/snapshots", (c, _p, q) => viewSnaps(c, q)),
  r("GET", "/v1/resource-groups", (c, _p, q) => listRgs(c, q)),
  r("GET", "/v1/resource-groups/{rg}", (c, p) => getRg(c, p[0])),
  r("POST", "/v1/resource-groups", (c, _p, _q, b) => createRg(c, obj(b)), "ResourceGroup", SYNC),
  r(
    "PUT",
    "/v1/resource-groups/{rg}",
    (c, p, _q, b) => modifyRg(c, p[0], obj(b)),
    "ResourceGroupModify",
  ),
  r("DELETE", "/v1/resource-groups/{rg}", (c, p) => deleteRg(c, p[0])),
  r("GET", "/v1/resource-groups/{rg}/volume-groups", (c, p) => listVgs(c, p[0])),
  r("GET", "/v1/resource-groups/{rg}/volume-groups/{v}", (c, p) => getVg(c, p[0], p[1])),
  r(
    "POST",
    "/v1/resource-groups/{rg}/volume-groups",
    (c, p, _q, b) => createVg(c, p[0], obj(b)),
    "VolumeGroup",
    SYNC,
  ),
  r(
    "PUT",
    "/v1/resource-groups/{rg}/volume-groups/{v}",
    (c, p, _q, b) =>
      byVlmNr(
        `/v1/resource-groups/${p[0]}/volume-groups/${p[1]}`,
        p[1],
        (nr) => modifyVg(c, p[0], nr, obj(b)),
      ),
    "VolumeGroupModify",
  ),
  r(
    "DELETE",
    "/v1/resource-groups/{rg}/volume-groups/{v}",
    (c, p) =>
      byVlmNr(
        `/v1/resource-groups/${p[0]}/volume-groups/${p[1]}`,
        p[1],
        (nr) => deleteVg(c, p[0], nr),
      ),
    undefined,
    SYNC,
  ),
  r(
    "POST",
    "/v1/resource-groups/{rg}/spawn",
    (c, p, _q, b) => spawn(c, p[0], obj(b)),
    "ResourceGroupSpawn",
  ),
  r(
    "POST",
    "/v1/resource-groups/{rg}/query-size-info",
    (c, p, _q, b) => querySizeInfo(c, p[0], obj(b)),
    "QuerySizeInfoRequest",
    OK200,
  ),
  r("GET", "/v1/resource-groups/{rg}/query-max-volume-size", (c, p) => queryRgMaxVlmSize(c, p[0])),
  r(
    "POST",
    "/v1/resource-groups/{rg}/adjust",
    (c, p, _q, b) => adjustRg(c, p[0], obj(b)),
    "ResourceGroupAdjust",
    OK200,
  ),
  r(
    "POST",
    "/v1/resource-groups/adjustall",
    (c, _p, _q, b) => adjustAllRgs(c, obj(b)),
    "ResourceGroupAdjust",
    OK200,
  ),
  r("GET", "/v1/resource-definitions", (c, _p, q) => listRds(c, q)),
  r("GET", "/v1/resource-definitions/{r}", (c, p, q) => getRd(c, p[0], q)),
  r(
    "POST",
    "/v1/resource-definitions",
    (c, _p, _q, b) => createRdApi(c, obj(b)),
    "ResourceDefinitionCreate",
    SYNC,
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}",
    (c, p, _q, b) => modifyRd(c, p[0], obj(b)),
    "ResourceDefinitionModify",
  ),
  r("DELETE", "/v1/resource-definitions/{r}", (c, p) => deleteRd(c, p[0])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/clone",
    (c, p, _q, b, x) => clone(c, p[0], obj(b), x.failClone),
    "ResourceDefinitionCloneRequest",
  ),
  r("GET", "/v1/resource-definitions/{r}/clone/{c}", (c, p) => cloneStatus(c, p[0], p[1])),
  r("GET", "/v1/resource-definitions/{r}/sync-status", (c, p) => syncStatus(c, p[0])),
  r("GET", "/v1/resource-definitions/{r}/volume-definitions", (c, p) => listVds(c, p[0])),
  r("GET", "/v1/resource-definitions/{r}/volume-definitions/{v}", (c, p) => getVd(c, p[0], p[1])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/volume-definitions",
    (c, p, _q, b) => createVdApi(c, p[0], obj(b)),
    "VolumeDefinitionCreate",
    OK200,
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/volume-definitions/{v}",
    (c, p, _q, b) =>
      byVlmNr(
        `/v1/resource-definitions/${p[0]}/volume-definitions/${p[1]}`,
        p[1],
        (nr) => modifyVd(c, p[0], nr, obj(b)),
      ),
    "VolumeDefinitionModify",
  ),
  r(
    "DELETE",
    "/v1/resource-definitions/{r}/volume-definitions/{v}",
    (c, p) =>
      byVlmNr(
        `/v1/resource-definitions/${p[0]}/volume-definitions/${p[1]}`,
        p[1],
        (nr) => deleteVd(c, p[0], nr),
      ),
  ),
  r("GET", "/v1/resource-definitions/{r}/resources", (c, p, q) => listRscs(c, p[0], q)),
  r("GET", "/v1/resource-definitions/{r}/resources/{n}", (c, p) => getRsc(c, p[0], p[1])),
  r(
    "GET",
    "/v1/resource-definitions/{r}/resources/{n}/volumes",
    (c, p) => getVolumes(c, p[0], p[1]),
  ),
  r(
    "GET",
    "/v1/resource-definitions/{r}/resources/{n}/volumes/{v}",
    (c, p) => getVolumes(c, p[0], p[1], p[2]),
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/volumes/{v}",
    (c, p, _q, b) =>
      byVlmNr(
        `/v1/resource-definitions/${p[0]}/resources/${p[1]}/volumes/${p[2]}`,
        p[2],
        (nr) => modifyVolume(c, p[0], p[1], nr, obj(b)),
      ),
    "VolumeModify",
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources",
    (c, p, _q, b) => createRscs(c, p[0], Array.isArray(b) ? b : []),
    "ResourceCreate[]",
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources/{n}",
    (c, p, _q, b) => createRscs(c, p[0], [obj(b)], p[1]),
    "ResourceCreate",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}",
    (c, p, _q, b) => modifyRsc(c, p[0], p[1], obj(b)),
    "ResourceModify",
  ),
  r(
    "DELETE",
    "/v1/resource-definitions/{r}/resources/{n}",
    (c, p, q) => deleteRsc(c, p[0], p[1], q.get("keep_tiebreaker") === "true"),
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/toggle-disk",
    (c, p, _q, b) =>
      toggleDisk(c, p[0], p[1], parseToggleOp(obj(b).operation), {
        storagePool: str(obj(b).storage_pool),
        migrateFrom: str(obj(b).migrate_from),
      }),
    "ToggleDiskRequest",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/toggle-disk/diskful",
    (c, p) => toggleDisk(c, p[0], p[1], "INTO_DRBD_DISKFUL"),
    "ToggleDiskDiskful",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/toggle-disk/diskful/{pool}",
    (c, p) => toggleDisk(c, p[0], p[1], "INTO_DRBD_DISKFUL", { storagePool: p[2] }),
    "ToggleDiskDiskful",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/migrate-disk/{from}",
    (c, p) => toggleDisk(c, p[0], p[1], "INTO_DRBD_DISKFUL", { migrateFrom: p[2] }),
    "ToggleDiskDiskful",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/migrate-disk/{from}/{pool}",
    (c, p) =>
      toggleDisk(c, p[0], p[1], "INTO_DRBD_DISKFUL", { migrateFrom: p[2], storagePool: p[3] }),
    "ToggleDiskDiskful",
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/toggle-disk/diskless",
    (c, p) => toggleDisk(c, p[0], p[1], "INTO_DRBD_DISKLESS"),
  ),
  r(
    "PUT",
    "/v1/resource-definitions/{r}/resources/{n}/toggle-disk/diskless/{pool}",
    (c, p) => toggleDisk(c, p[0], p[1], "INTO_DRBD_DISKLESS", { storagePool: p[2] }),
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources/{n}/make-available",
    (c, p, _q, b) => makeAvailable(c, p[0], p[1], obj(b)),
    "ResourceMakeAvailable",
    OK200,
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources/{n}/activate",
    (c, p) => setRscActive(c, p[0], p[1], true),
    undefined,
    OK200,
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/resources/{n}/deactivate",
    (c, p) => setRscActive(c, p[0], p[1], false),
    undefined,
    OK200,
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/autoplace",
    (c, p, _q, b) => autoplaceApi(c, p[0], obj(b)),
    "AutoPlaceRequest",
  ),
  r("GET", "/v1/resource-definitions/{r}/snapshots", (c, p) => listSnaps(c, p[0])),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshots",
    (c, p, _q, b) => createSnap(c, p[0], obj(b)),
    "Snapshot",
  ),
  r("GET", "/v1/resource-definitions/{r}/snapshots/{s}", (c, p) => getSnap(c, p[0], p[1])),
  r(
    "DELETE",
    "/v1/resource-definitions/{r}/snapshots/{s}",
    (c, p, q) => deleteSnap(c, p[0], p[1], q.getAll("nodes")),
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshot-rollback/{s}",
    (c, p) => rollback(c, p[0], p[1]),
    "SnapshotRollback",
    OK200,
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshot-restore-volume-definition/{s}",
    (c, p, _q, b) => restoreVd(c, p[0], p[1], obj(b)),
    "SnapshotRestore",
    { ok: 200, sync: true },
  ),
  r(
    "POST",
    "/v1/resource-definitions/{r}/snapshot-restore-resource/{s}",
    (c, p, _q, b) => restoreRsc(c, p[0], p[1], obj(b)),
    "SnapshotRestore",
    OK200,
  ),
  r("GET", "/v1/space-report", () => spaceReport()),
  r(
    "POST",
    "/v1/actions/snapshot/multi",
    (c, _p, _q, b) => createMultiSnap(c, obj(b)),
    "CreateMultiSnapshotRequest",
  ),
  // a query parameter the REST layer cannot convert: 404 before the handler runs
  r(
    "GET",
    "/v1/error-reports",
    (c, _p, q) => c.errorReports.list(q) ?? pathNotFound("/v1/error-reports"),
  ),
  r(
    "GET",
    "/v1/error-reports/{id}",
    (c, p, q) => c.errorReports.list(q, p[0]) ?? pathNotFound(`/v1/error-reports/${p[0]}`),
  ),
  r(
    "PATCH",
    "/v1/error-reports",
    (c, _p, _q, b) => c.errorReports.remove(obj(b) as ReportDelete),
    "ErrorReportDelete",
  ),
  r("DELETE", "/v1/error-reports/{id}", (c, p) => c.errorReports.remove({ ids: [p[0]] })),
];

/**
 * `fn` with the volume number `s` of `path` as the REST layer converts an `int` path parameter;
 * one it cannot convert is 404 before the handler runs.
 */
function byVlmNr(path: string, s: string, fn: (nr: number) => SimReply): SimReply {
  const nr = intPathParam(s);
  return nr === undefined ? pathNotFound(path) : fn(nr);
}

/** An entry of the controller's exception mapper (FAIL_UNKNOWN_ERROR, no error report). */
function mapperEntry(message: string, details: string) {
  return plainEntry(MASK_ERROR | BigInt(CODE.FAIL_UNKNOWN_ERROR), message, { details });
}

/** 404 "Path '…' not found on server.", as the controller's exception mapper answers it. */
function pathNotFound(path: string): SimReply {
  return {
    status: 404,
    body: [mapperEntry(`Path '${path}' not found on server.`, "HTTP 404 Not Found")],
  };
}

/**
 * Reply to a path no route serves (404), or to a method the path does not take (405 with the
 * allowed methods): the controller's exception mapper turns Jersey's NotFound/NotAllowed into
 * JSON with FAIL_UNKNOWN_ERROR (no error report).
 */
export function notFoundRoute(method: string, path: string): SimReply & { allow?: string[] } {
  const allow = [...new Set(ROUTES.filter((x) => x.re.test(path)).map((x) => x.method))];
  if (allow.length) {
    return {
      status: 405,
      allow,
      body: [
        mapperEntry(
          `Method '${method}' not allowed on path '${path}'.`,
          "HTTP 405 Method Not Allowed",
        ),
      ],
    };
  }
  return pathNotFound(path);
}

/** The ret_code operation mask of an HTTP method (error replies of failed handlers). */
export function opFor(method: string): bigint {
  if (method === "POST") return MASK_CRT;
  if (method === "PUT") return MASK_MOD;
  if (method === "DELETE") return MASK_DEL;
  return 0n;
}

/**
 * Single-object GETs of the simulated LINSTOR controller (issue 11 item 4): one node, storage
 * pool, resource group, volume group, resource definition, volume definition, resource or
 * volume, and the space report. LINSTOR serves these although the spec file lacks them, and
 * other clients (golinstor-based tools, LINBIT's client for a few commands) use them. The
 * answer is the object the list route shows, or 404 with the controller's not-found entry:
 * no operation or object mask, no error report; where the controller's data loader raises it,
 * with its cause and correction.
 */
import { CODE } from "../../../lib/backend/linstor/api_call_rc.ts";
import { bareReply, fail, SimApiError, type SimReply } from "./replies.ts";
import { type SimController } from "./controller.ts";
import type { SimNode, SimRd, SimRg, SimRsc } from "./model.ts";
import { FAIL_NOT_FOUND_VLM } from "./codes.ts";
import { nodeView, poolView, rdView, rgView, rscView, vdView, volumeView } from "./views.ts";

/** A volume number from a path, or the controller's 404 for what cannot be one. */
function vnrOf(s: string, notFound: () => never): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 65535) notFound();
  return n;
}

/** The loader's not-found for a node (with cause and correction). */
export function loadNode(ctl: SimController, name: string): SimNode {
  const n = ctl.node(name);
  if (!n) {
    fail(CODE.FAIL_NOT_FOUND_NODE, `Node '${name}' not found.`, {
      cause: `The specified node '${name}' could not be found in the database`,
      correction: `Create a node with the name '${name}' first.`,
    });
  }
  return n;
}

/**
 * The node `name`, or the loader's not-found as the controller's REST layer reports it for a
 * handler that does not add its context (no masks, 404).
 */
export function nodeOrReply(ctl: SimController, name: string): SimNode | SimReply {
  try {
    return loadNode(ctl, name);
  } catch (e) {
    if (e instanceof SimApiError) return bareReply(e.entries);
    throw e;
  }
}

/** The loader's not-found for a resource definition (with cause and correction). */
export function loadRd(ctl: SimController, name: string): SimRd {
  const rd = ctl.rd(name);
  if (!rd) {
    fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`, {
      cause: `The specified resource definition '${name}' could not be found in the database`,
      correction: `Create a resource definition with the name '${name}' first.`,
    });
  }
  return rd;
}

/**
 * A resource as CtrlApiDataLoader.loadRsc finds it: the node, then the definition, then the
 * resource on the node, each missing one with the loader's cause and correction.
 */
export function loadRsc(ctl: SimController, name: string, node: string): LoadedRsc {
  const n = loadNode(ctl, node);
  const rd = loadRd(ctl, name);
  const r = ctl.rsc(rd, n.name);
  if (!r) {
    fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' on node '${n.name}' not found.`, {
      cause:
        `The specified resource '${rd.name}' on node '${n.name}' could not be found in the database`,
      correction: `Create a resource with the name '${rd.name}' on node '${n.name}' first.`,
    });
  }
  return { rd, r };
}

/** A resource with its definition. */
export interface LoadedRsc {
  rd: SimRd;
  r: SimRsc;
}

/** The loader's not-found for a resource group (with cause and correction). */
export function loadRg(ctl: SimController, name: string): SimRg {
  const g = ctl.rg(name);
  if (!g) {
    fail(CODE.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${name}' not found.`, {
      cause: `The specified resource group '${name}' could not be found in the database`,
      correction: `Create a resource group with the name '${name}' first.`,
    });
  }
  return g;
}

/** GET /v1/nodes/{node}. */
export function getNode(ctl: SimController, name: string): SimReply {
  const n = ctl.node(name);
  if (!n) fail(CODE.FAIL_NOT_FOUND_NODE, `Node '${name}' not found.`);
  return { status: 200, body: nodeView(n) };
}

/** GET /v1/nodes/{node}/storage-pools/{pool}. */
export function getPool(ctl: SimController, node: string, pool: string): SimReply {
  const n = loadNode(ctl, node);
  const p = ctl.pool(n.name, pool);
  if (!p) {
    fail(CODE.FAIL_NOT_FOUND_STOR_POOL, `Storage pool '${pool}' on node '${node}' not found.`);
  }
  ctl.usage.refreshAll();
  return { status: 200, body: poolView(ctl, p) };
}

/** GET /v1/resource-groups/{rg}. */
export function getRg(ctl: SimController, name: string): SimReply {
  const g = ctl.rg(name);
  if (!g) fail(CODE.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${name}' not found.`);
  return { status: 200, body: rgView(g) };
}

/** The loader's not-found for volume group `nr` of group `name` (with cause and correction). */
function vgNotFound(name: string, nr: string | number): never {
  fail(
    CODE.FAIL_NOT_FOUND_VLM_GRP,
    `Volume group '${name}' with volume number '${nr}' not found.`,
    {
      cause:
        `The specified volume group '${name}' with volume number '${nr}' could not be found in the database`,
      correction: `Create a volume group with the name '${name}' and volume number '${nr}' first.`,
    },
  );
}

/**
 * Volume group `nr` of resource group `name` as CtrlApiDataLoader.loadVlmGrp finds it: the group,
 * then its volume group, each missing one with the loader's cause and correction.
 */
export function loadVg(ctl: SimController, name: string, nr: number): LoadedVg {
  const g = loadRg(ctl, name);
  return { g, vg: g.vgs.find((x) => x.nr === nr) ?? vgNotFound(name, nr) };
}

/** A volume group with its resource group. */
export interface LoadedVg {
  g: SimRg;
  vg: SimRg["vgs"][number];
}

/** GET /v1/resource-groups/{rg}/volume-groups/{vnr}. */
export function getVg(ctl: SimController, name: string, nr: string): SimReply {
  // a missing group is reported before a number that cannot be one
  loadRg(ctl, name);
  const v = loadVg(ctl, name, vnrOf(nr, () => vgNotFound(name, nr))).vg;
  return {
    status: 200,
    body: { volume_number: v.nr, props: { ...v.props }, uuid: v.uuid, flags: [...v.flags] },
  };
}

/** GET /v1/resource-definitions/{rd}. */
export function getRd(ctl: SimController, name: string, q: URLSearchParams): SimReply {
  const rd = ctl.rd(name);
  if (!rd) fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`);
  return { status: 200, body: rdView(rd, q.get("with_volume_definitions") === "true") };
}

/** GET /v1/resource-definitions/{rd}/volume-definitions/{vnr}. */
export function getVd(ctl: SimController, name: string, nr: string): SimReply {
  const rd = ctl.rd(name);
  if (!rd) fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`);
  const notFound = (): never =>
    fail(CODE.FAIL_NOT_FOUND_VLM_DFN, `Volume definition '${nr}' not found.`);
  const vnr = vnrOf(nr, notFound);
  const vd = rd.vds.find((v) => v.nr === vnr) ?? notFound();
  return { status: 200, body: vdView(vd) };
}

/** GET /v1/resource-definitions/{rd}/resources/{node}. */
export function getRsc(ctl: SimController, name: string, node: string): SimReply {
  const rd = loadRd(ctl, name);
  const r = ctl.rsc(rd, node);
  if (!r) fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${name}' on '${node}' not found.`);
  return { status: 200, body: rscView(ctl, rd, r, false) };
}

/** GET /v1/resource-definitions/{rd}/resources/{node}/volumes[/{vnr}]. */
export function getVolumes(
  ctl: SimController,
  name: string,
  node: string,
  nr?: string,
): SimReply {
  const rd = ctl.rd(name);
  const r = rd && ctl.rsc(rd, node);
  if (!rd || !r) {
    fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${name}' not found on node '${node}'.`);
  }
  if (nr === undefined) {
    return { status: 200, body: rd.vds.map((vd) => volumeView(ctl, rd, r, vd)) };
  }
  const notFound = (): never =>
    fail(FAIL_NOT_FOUND_VLM, `Volume '${nr}' of resource '${name}' on node '${node}' not found.`);
  const vnr = vnrOf(nr, notFound);
  const vd = rd.vds.find((v) => v.nr === vnr) ?? notFound();
  return { status: 200, body: volumeView(ctl, rd, r, vd) };
}

/** GET /v1/space-report: the open-source controller has no space tracking service. */
export function spaceReport(): SimReply {
  return { status: 200, body: { reportText: "The SpaceTracking service is not installed." } };
}

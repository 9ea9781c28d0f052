/**
 * Resource connections in the simulated LINSTOR controller (REST
 * `/v1/resource-definitions/{rd}/resource-connections`, CtrlRscApiCallHandler
 * .listResourceConnections and CtrlRscConnectionApiCallHandler.modify; `linstor
 * resource-connection list/set-property/drbd-peer-options/path`):
 *
 * - The listing has one connection per pair of the definition's resources, `node_a` before
 *   `node_b` by name: the one given properties, else an empty one. One pair
 *   (`…/{nodeA}/{nodeB}`, either order) is that object, or 404 FAIL_NOT_FOUND_RSC_CONN
 *   "Resource connection between 'A' and 'B' not found." when the pair has no two resources.
 * - A modify (PUT on the pair) makes the connection when needed and applies
 *   `override_props`/`delete_props`/`delete_namespaces` under the resource-connection whitelist
 *   (props.ts), answering "Resource connection between nodes 'A' and 'B' for resource 'R'
 *   modified."; DRBD connection paths are checked first (conn_paths.ts).
 * - A connection lives as long as its two resources: one deleted (or made again) leaves none.
 * - Not modelled: a pair with a missing resource, which the controller fails with an internal
 *   error (the simulator answers FAIL_NOT_FOUND_RSC), DRBD proxy ports and connection flags.
 */
import { CODE, MASK_MOD, OBJ } from "../../../lib/backend/linstor/api_call_rc.ts";
import { fail, rc, type RcContext, rcReply, type SimRc, type SimReply } from "./replies.ts";
import { k, type SimRd, type SimRscConn, uuid } from "./model.ts";
import { checkConnectionPaths, orderedPair } from "./conn_paths.ts";
import type { SimController } from "./controller.ts";
import { editProps } from "./props.ts";
import { FAIL_NOT_FOUND_RSC_CONN } from "./codes.ts";

/** The connections of `rd` whose two resources still exist. */
function liveConns(rd: SimRd): SimRscConn[] {
  const uuids = new Set(rd.rscs.map((r) => r.uuid));
  return (rd.conns ?? []).filter((c) => c.rscUuids.every((u) => uuids.has(u)));
}

const view = (a: string, b: string, props: Record<string, string>) => ({
  node_a: a,
  node_b: b,
  props: { ...props },
  flags: [] as string[],
});

/** Every pair of `rd`'s resources, with the connection's properties where it has some. */
function pairs(rd: SimRd) {
  const given = new Map(liveConns(rd).map((c) => [`${k(c.a)}/${k(c.b)}`, c]));
  const nodes = rd.rscs.map((r) => r.node).sort((x, y) => k(x) < k(y) ? -1 : k(x) > k(y) ? 1 : 0);
  const out: ReturnType<typeof view>[] = [];
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      const c = given.get(`${k(nodes[i])}/${k(nodes[j])}`);
      out.push(view(nodes[i], nodes[j], c?.props ?? {}));
    }
  }
  return out;
}

/**
 * GET …/resource-connections[/{nodeA}/{nodeB}]: every pair of the definition's resources, or
 * the one asked for.
 */
export function listRscConns(
  ctl: SimController,
  rdName: string,
  nodeA?: string,
  nodeB?: string,
): SimReply {
  const all = pairs(ctl.needRd(rdName));
  if (nodeA === undefined || nodeB === undefined) return { status: 200, body: all };
  const one = all.find((c) =>
    (k(c.node_a) === k(nodeA) && k(c.node_b) === k(nodeB)) ||
    (k(c.node_a) === k(nodeB) && k(c.node_b) === k(nodeA))
  );
  if (!one) {
    fail(
      FAIL_NOT_FOUND_RSC_CONN,
      `Resource connection between '${nodeA}' and '${nodeB}' not found.`,
    );
  }
  return { status: 200, body: one };
}

/** PUT …/resource-connections/{nodeA}/{nodeB}: the connection's properties changed. */
export function modifyRscConn(
  ctl: SimController,
  rdName: string,
  nodeA: string,
  nodeB: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = {
    op: MASK_MOD,
    obj: OBJ.RSC_CONN,
    refs: { FirstNode: nodeA, SecondNode: nodeB, RscDfn: rdName },
  };
  const nA = ctl.needNode(nodeA);
  const nB = ctl.needNode(nodeB);
  const rd = ctl.needRd(rdName);
  const rA = ctl.rsc(rd, nA.name);
  const rB = ctl.rsc(rd, nB.name);
  for (const [n, r] of [[nA.name, rA], [nB.name, rB]] as const) {
    if (!r) fail(CODE.FAIL_NOT_FOUND_RSC, `Resource '${rd.name}' not found on node '${n}'.`);
  }
  checkConnectionPaths(
    (body.override_props ?? {}) as Record<string, string>,
    { name: nodeA, node: nA },
    { name: nodeB, node: nB },
    "resource",
  );
  ctl.touch(rd.name);
  const [a, b] = orderedPair(nA.name, nB.name);
  rd.conns = liveConns(rd);
  let c = rd.conns.find((x) => k(x.a) === k(a) && k(x.b) === k(b));
  if (!c) {
    const rscUuids: [string, string] = [ctl.rsc(rd, a)!.uuid, ctl.rsc(rd, b)!.uuid];
    c = { a, b, rscUuids, props: {}, uuid: uuid() };
    rd.conns.push(c);
  }
  const out: SimRc[] = [];
  editProps("resource-connection", c.props, body, out);
  if (!Object.keys(c.props).length) rd.conns = rd.conns.filter((x) => x !== c);
  if (!rd.conns.length) delete rd.conns;
  const what = `resource connection between nodes '${a}' and '${b}' for resource '${rd.name}'`;
  out.push(
    rc(0n, CODE.MODIFIED, `R${what.slice(1)} modified.`, {
      details: `R${what.slice(1)} UUID is: ${c.uuid}`,
    }),
  );
  return rcReply(out, ctx, 200);
}

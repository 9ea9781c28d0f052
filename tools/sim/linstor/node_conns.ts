/**
 * Node connections in the simulated LINSTOR controller (REST `/v1/node-connections`,
 * CtrlNodeConnectionApiCallHandler; `linstor node-connection list/set-property/drbd-peer-options/
 * path`):
 *
 * - `GET /v1/node-connections` lists the connections given properties (`node_a` before
 *   `node_b`); `?node_a=` or `?node_b=` alone, those of that node (404 FAIL_NOT_FOUND_NODE for a
 *   node that does not exist); both, that pair's connection, empty when it has no properties.
 * - `PUT /v1/node-connections/{nodeA}/{nodeB}` applies `override_props`/`delete_props`/
 *   `delete_namespaces` under the node-connection whitelist (props.ts), DRBD connection paths
 *   checked first (conn_paths.ts), answering "Node connection between nodes 'A' and 'B'
 *   modified."; without properties to set on a pair that has none, WARN_NOT_FOUND "Node
 *   connection between nodes 'A' and 'B' does not exist".
 * - A node deleted or lost takes its connections along.
 * - Not modelled: a missing node in a modify (the controller fails there with an internal
 *   error; the simulator answers FAIL_NOT_FOUND_NODE), node connections' effect on DRBD.
 */
import { CODE, MASK_MOD, MASK_WARN, OBJ } from "../../../lib/backend/linstor/api_call_rc.ts";
import { rc, type RcContext, rcReply, type SimRc, type SimReply } from "./replies.ts";
import { k, type SimNodeConn, uuid } from "./model.ts";
import type { SimController } from "./controller.ts";
import { editProps } from "./props.ts";
import { checkConnectionPaths, orderedPair } from "./conn_paths.ts";

const view = (c: SimNodeConn) => ({ node_a: c.a, node_b: c.b, props: { ...c.props } });

const byPair = (x: SimNodeConn, y: SimNodeConn) =>
  k(x.a) < k(y.a) ? -1 : k(x.a) > k(y.a) ? 1 : k(x.b) < k(y.b) ? -1 : k(x.b) > k(y.b) ? 1 : 0;

function findConn(ctl: SimController, x: string, y: string): SimNodeConn | undefined {
  const [a, b] = orderedPair(x, y);
  return (ctl.state.nodeConns ?? []).find((c) => k(c.a) === k(a) && k(c.b) === k(b));
}

/** GET /v1/node-connections[?node_a=&node_b=]. */
export function listNodeConns(ctl: SimController, q: URLSearchParams): SimReply {
  const nodeA = q.get("node_a") ?? undefined;
  const nodeB = q.get("node_b") ?? undefined;
  if (nodeA !== undefined && nodeB !== undefined) {
    const a = ctl.needNode(nodeA);
    const b = ctl.needNode(nodeB);
    const c = findConn(ctl, a.name, b.name);
    // seen from node_a, as asked
    return {
      status: 200,
      body: [{ node_a: c ? a.name : nodeA, node_b: b.name, props: { ...c?.props ?? {} } }],
    };
  }
  const one = nodeA ?? nodeB;
  const name = one === undefined ? undefined : ctl.needNode(one).name;
  const list = (ctl.state.nodeConns ?? [])
    .filter((c) => name === undefined || k(c.a) === k(name) || k(c.b) === k(name))
    .sort(byPair);
  return { status: 200, body: list.map(view) };
}

/** PUT /v1/node-connections/{nodeA}/{nodeB}: the connection's properties changed. */
export function modifyNodeConn(
  ctl: SimController,
  nodeA: string,
  nodeB: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = {
    op: MASK_MOD,
    obj: OBJ.NODE_CONN,
    refs: { FirstNode: nodeA, SecondNode: nodeB },
  };
  const nA = ctl.needNode(nodeA);
  const nB = ctl.needNode(nodeB);
  const override = (body.override_props ?? {}) as Record<string, string>;
  let c = findConn(ctl, nA.name, nB.name);
  if (!c && !Object.keys(override).length) {
    return rcReply(
      [
        rc(
          MASK_WARN,
          CODE.WARN_NOT_FOUND,
          `Node connection between nodes '${nodeA}' and '${nodeB}' does not exist`,
        ),
      ],
      ctx,
      200,
    );
  }
  checkConnectionPaths(override, { name: nodeA, node: nA }, { name: nodeB, node: nB }, "node");
  const list = ctl.state.nodeConns ??= [];
  if (!c) {
    const [a, b] = orderedPair(nA.name, nB.name);
    c = { a, b, props: {}, uuid: uuid() };
    list.push(c);
  }
  const out: SimRc[] = [];
  editProps("node-connection", c.props, body, out);
  const what = `ode connection between nodes '${nodeA}' and '${nodeB}'`;
  out.push(rc(0n, CODE.MODIFIED, `N${what} modified.`, { details: `N${what} UUID is: ${c.uuid}` }));
  return rcReply(out, ctx, 200);
}

/** The connections of node `name` removed (the node is deleted). */
export function dropNodeConns(ctl: SimController, name: string): void {
  if (!ctl.state.nodeConns) return;
  ctl.state.nodeConns = ctl.state.nodeConns.filter((c) => k(c.a) !== k(name) && k(c.b) !== k(name));
  if (!ctl.state.nodeConns.length) delete ctl.state.nodeConns;
}

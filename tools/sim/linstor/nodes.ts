/**
 * Nodes in the simulated LINSTOR controller (issue 11 item 8): registering a satellite (with
 * its diskless pool), changing its properties, deleting it, its storage pools and its network
 * interfaces — with the replies of the controller's node, storage pool and net-interface
 * handlers.
 */
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  fail,
  notConnectedWarning,
  rc,
  type RcContext,
  rcReply,
  SimApiError,
  type SimRc,
  type SimReply,
} from "./replies.ts";
import {
  DISKLESS_POOL,
  isLinstorName,
  k,
  nicsOf,
  NODE_RE,
  type PoolKind,
  type SimNic,
  type SimNode,
  type SimPool,
  type SimRd,
  UNAME_PROP,
  uuid,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { editProps, setProps } from "./props.ts";
import {
  FAIL_EXISTS_NET_IF,
  FAIL_EXISTS_NODE_CONN,
  FAIL_INVLD_NET_ADDR,
  FAIL_INVLD_NET_NAME,
  FAIL_INVLD_NODE_TYPE,
  FAIL_INVLD_STOR_DRIVER,
  FAIL_NODE_HAS_USED_RSC,
  FAIL_NOT_FOUND_NET_IF,
  FAIL_NOT_FOUND_STOR_POOL_DFN,
} from "./codes.ts";
import { hostExists } from "./persistence.ts";
import { dropNodeConns } from "./node_conns.ts";
import { inUseRefusal, lastDiskInUse } from "./resources.ts";
import { nicView } from "./views.ts";
import { poolDfnNames } from "./pool_dfns.ts";

const NODE_TYPES: Record<string, string> = {
  controller: "Controller",
  satellite: "Satellite",
  combined: "Combined",
  auxiliary: "Auxiliary",
};

/** The loader's not-found for a node (with cause and correction). */
function loadNode(ctl: SimController, name: string): SimNode {
  const n = ctl.node(name);
  if (!n) {
    fail(CODE.FAIL_NOT_FOUND_NODE, `Node '${name}' not found.`, {
      cause: `The specified node '${name}' could not be found in the database`,
      correction: `Create a node with the name '${name}' first.`,
    });
  }
  return n;
}

/** A network interface from a request (JsonGenTypes.NetInterface), checked. */
function nicFrom(body: Record<string, unknown>, old?: SimNic): SimNic {
  const name = String(body.name ?? old?.name ?? "");
  if (!isLinstorName(name, 3, 32)) {
    fail(FAIL_INVLD_NET_NAME, `Invalid name for network interface: ${name}`);
  }
  const address = String(body.address ?? old?.address ?? "");
  if (!/^[0-9A-Za-z.:%-]+$/.test(address)) {
    fail(FAIL_INVLD_NET_ADDR, `Invalid IP address: '${address}'`);
  }
  return {
    name,
    address,
    port: typeof body.satellite_port === "number" ? body.satellite_port : old?.port ?? 3366,
    encryption: String(body.satellite_encryption_type ?? old?.encryption ?? "PLAIN")
      .toUpperCase(),
    active: typeof body.is_active === "boolean" ? body.is_active : old?.active ?? false,
    uuid: old?.uuid ?? uuid(),
  };
}

/** The details of WARN_NOT_CONNECTED after a connection attempt. */
export const NOT_CONNECTED_DETAILS =
  "The controller is trying to (re-) establish a connection to the " +
  "satellite. The controller stored the changes and as soon the satellite is connected, it " +
  "will receive this update.";

/**
 * POST /v1/nodes: register a node (with its diskless pool). Then the controller connects to its
 * satellite (CtrlNodeCrtApiCallHandler.connectNow): one answers only on a host the simulated
 * world has (persistence.ts hostExists), and its first answer sets the node's `NodeUname`.
 * Without one the node stays OFFLINE (until `/_sim/node` connects it) and the reply ends with
 * the controller's WARN_NOT_CONNECTED entry, as a real controller answers for an address where
 * no satellite runs (after its first connection attempt). A controller or auxiliary node is
 * never connected to, and warns of nothing.
 */
export function createNode(ctl: SimController, body: Record<string, unknown>): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.NODE };
  const name = String(body.name ?? "");
  if (!NODE_RE.test(name)) fail(CODE.FAIL_INVLD_NODE_NAME, `Invalid node name '${name}'.`);
  if (ctl.node(name)) {
    fail(CODE.FAIL_EXISTS_NODE, `Registration of node '${name}' failed.`, {
      cause: `A node with the specified name '${name}' already exists.`,
      correction: "- Specify another name for the new node\n" +
        "or\n- Delete the existing node before creating a new node with the same name",
    });
  }
  const type = NODE_TYPES[String(body.type ?? "Satellite").toLowerCase()];
  if (!type) fail(FAIL_INVLD_NODE_TYPE, `Invalid node type '${body.type}'.`);
  const given = (body.net_interfaces as Record<string, unknown>[] | undefined) ?? [];
  const nics = given.map((x) => nicFrom(x));
  if (nics.length && !nics.some((x) => x.active)) nics[0].active = true;
  const out: SimRc[] = [];
  const n: SimNode = {
    name,
    type,
    address: nics[0]?.address ?? "127.0.0.1",
    ...(nics.length ? { nics } : {}),
    props: {},
    uuid: uuid(),
  };
  setProps("node", n.props, body.props as Record<string, string> | undefined, out);
  const satellite = type === "Satellite" || type === "Combined";
  if (satellite && hostExists(ctl, name)) n.props[UNAME_PROP] = name;
  else n.offline = true;
  ctl.state.nodes.push(n);
  ctl.state.pools.push({
    node: name,
    name: DISKLESS_POOL,
    kind: "DISKLESS",
    totalKib: 0,
    props: {},
    uuid: uuid(),
  });
  out.push(
    rc(0n, CODE.CREATED, `New node '${name}' registered.`, {
      details: `Node '${name}' UUID is: ${n.uuid}`,
    }),
  );
  const reply = rcReply(out, ctx, 201);
  if (satellite && n.offline) {
    // a reply of its own in the controller's flux: no context masks
    (reply.body as SimRc[]).push(notConnectedWarning(name, { details: NOT_CONNECTED_DETAILS }));
  }
  return reply;
}

/** The node a delete or lost names; a missing one ends the request with WARN_NOT_FOUND. */
function nodeToDelete(ctl: SimController, name: string): SimNode {
  const n = ctl.node(name);
  if (n) return n;
  throw new SimApiError(
    rc(MASK_WARN, CODE.WARN_NOT_FOUND, `Deletion of node '${name}' had no effect.`, {
      cause: `Node '${name}' does not exist.`,
      details: `Node: ${name}`,
      obj_refs: { Node: name },
    }),
  );
}

/** Remove `n` with its resources (those of `holding`), its snapshots and its storage pools. */
function dropNode(ctl: SimController, n: SimNode, holding: SimRd[]): void {
  for (const rd of holding) {
    ctl.touch(rd.name);
    rd.rscs = rd.rscs.filter((r) => k(r.node) !== k(n.name));
    ctl.forgetInUse(rd, n.name);
  }
  // snapshots on the node go with it
  for (const rd of ctl.state.rds) {
    if (!rd.snaps.some((s) => s.nodes.some((x) => k(x) === k(n.name)))) continue;
    ctl.touch(rd.name);
    for (const s of rd.snaps) {
      s.nodes = s.nodes.filter((x) => k(x) !== k(n.name));
      s.pools = Object.fromEntries(Object.entries(s.pools).filter(([x]) => k(x) !== k(n.name)));
    }
    rd.snaps = rd.snaps.filter((s) => s.nodes.length);
  }
  ctl.state.pools = ctl.state.pools.filter((p) => k(p.node) !== k(n.name));
  ctl.state.nodes = ctl.state.nodes.filter((x) => x !== n);
  dropNodeConns(ctl, n.name);
}

/** The definitions with a resource on `n`. */
function holdingOf(ctl: SimController, n: SimNode): SimRd[] {
  return ctl.state.rds.filter((rd) => ctl.rsc(rd, n.name));
}

/**
 * DELETE /v1/nodes/{node}/lost (CtrlNodeLostApiCallHandler): a node whose satellite is gone for
 * good is removed without it: its resources (whatever their state: no in-use or last-replica
 * refusal), snapshots and storage pools, then the node. A missing node is a warning; a
 * connected one is refused (FAIL_EXISTS_NODE_CONN: use the node delete).
 */
export function lostNode(ctl: SimController, name: string): SimReply {
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.NODE, refs: { Node: name } };
  const n = nodeToDelete(ctl, name);
  if (!n.offline) {
    fail(FAIL_EXISTS_NODE_CONN, `Node '${name}' still connected, please use the 'DelNode' api.`, {
      details: `Node: ${name}`,
    });
  }
  dropNode(ctl, n, holdingOf(ctl, n));
  const entry = rc(0n, CODE.DELETED, `Node '${n.name}' deleted.`, {
    details: `Node '${n.name}' UUID was: ${n.uuid}`,
  });
  return rcReply([entry], ctx, 200);
}

/**
 * PUT /v1/nodes/{node}/reconnect (CtrlNodeApiCallHandler.reconnectNode): the controller drops
 * its connection to the satellite and connects again: "Nodes [N] will be reconnected.", then,
 * where no satellite answers (no host in the simulated world, or one taken down with
 * `/_sim/node`), the node stays OFFLINE with WARN_NOT_CONNECTED. A controller or auxiliary
 * node is not connected to. Evicted nodes are not modelled.
 */
export function reconnectNode(ctl: SimController, name: string): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.NODE, refs: { Node: name } };
  const n = loadNode(ctl, name);
  const out: SimRc[] = [rc(0n, 0, `Nodes [${name}] will be reconnected.`)];
  if (n.type === "Satellite" || n.type === "Combined") {
    if (!n.down && hostExists(ctl, n.name)) ctl.setNodeOnline(n.name, true);
    else {
      n.offline = true;
      out.push(notConnectedWarning(n.name, { details: NOT_CONNECTED_DETAILS }));
    }
  }
  return rcReply(out, ctx, 200);
}

/** PUT /v1/nodes/{node}: properties and node type. */
export function modifyNode(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.NODE, refs: { Node: name } };
  const n = loadNode(ctl, name);
  const out: SimRc[] = [];
  if (body.node_type !== undefined) {
    const type = NODE_TYPES[String(body.node_type).toLowerCase()];
    if (!type) fail(FAIL_INVLD_NODE_TYPE, `Invalid node type '${body.node_type}'.`);
    n.type = type;
  }
  editProps("node", n.props, body, out);
  out.push(
    rc(0n, CODE.MODIFIED, `Node '${n.name}' modified.`, {
      details: `Node '${n.name}' UUID is: ${n.uuid}`,
    }),
  );
  return rcReply(out, ctx, 200);
}

/**
 * DELETE /v1/nodes/{node} (CtrlNodeDeleteApiCallHandler): a missing node is a warning; a node
 * holding a resource in use or the last diskful replica of a definition with diskless users is
 * refused (FAIL_NODE_HAS_USED_RSC); an empty node is deleted, one with resources "marked for
 * deletion" — its resources, snapshots and pools go (at once, in the simulator), then the node.
 */
export function deleteNode(ctl: SimController, name: string): SimReply {
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.NODE, refs: { Node: name } };
  const n = nodeToDelete(ctl, name);
  const holding = holdingOf(ctl, n);
  const refusals: SimRc[] = [];
  for (const rd of holding) {
    const r = ctl.rsc(rd, n.name)!;
    if (ctl.isInUse(rd, n.name)) {
      refusals.push(inUseRefusal(rd, n.name));
    }
    const others = rd.rscs.filter((o) => o !== r && !o.diskless).length;
    if (!r.diskless && others === 0 && rd.rscs.some((o) => o !== r && o.diskless)) {
      refusals.push(lastDiskInUse(rd));
    }
  }
  if (refusals.length) {
    refusals.push(
      rc(
        MASK_ERROR,
        FAIL_NODE_HAS_USED_RSC,
        "Cannot delete node, because it has in use or last diskful resources.",
        { cause: `Node '${n.name}' cannot be deleted.`, details: `Node: ${n.name}` },
      ),
    );
    throw new SimApiError(refusals);
  }
  dropNode(ctl, n, holding);
  const entry = holding.length
    ? rc(0n, CODE.DELETED, `Node '${n.name}' marked for deletion.`, {
      details: `Node '${n.name}' UUID is: ${n.uuid}`,
    })
    : rc(0n, CODE.DELETED, `Node '${n.name}' deleted.`, {
      details: `Node '${n.name}' UUID was: ${n.uuid}`,
    });
  return rcReply([entry], ctx, 200);
}

/** POST /v1/nodes/{node}/storage-pools. */
export function createPool(
  ctl: SimController,
  nodeName: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.STOR_POOL };
  const node = loadNode(ctl, nodeName);
  const name = String(body.storage_pool_name ?? "");
  if (!isLinstorName(name, 3)) {
    fail(CODE.FAIL_INVLD_STOR_POOL_NAME, `Invalid storage pool name '${name}'.`);
  }
  if (ctl.pool(node.name, name)) {
    fail(
      CODE.FAIL_EXISTS_STOR_POOL,
      `Node: ${node.name}, Storage pool name: ${name} already exists.`,
    );
  }
  const kind = String(body.provider_kind ?? "") as PoolKind;
  if (!["LVM", "LVM_THIN", "ZFS", "ZFS_THIN", "FILE", "FILE_THIN", "DISKLESS"].includes(kind)) {
    fail(FAIL_INVLD_STOR_DRIVER, `Invalid storage driver '${kind}'.`);
  }
  const out: SimRc[] = [];
  const p: SimPool = {
    node: node.name,
    name,
    kind,
    totalKib: kind === "DISKLESS" ? 0 : 100 * 1024 * 1024,
    props: {},
    uuid: uuid(),
  };
  setProps("storage-pool", p.props, body.props as Record<string, string> | undefined, out);
  ctl.state.pools.push(p);
  out.push(
    rc(0n, CODE.CREATED, `New storage pool '${name}' on node '${node.name}' registered.`, {
      details: `Storage pool '${name}' on node '${node.name}' UUID is: ${p.uuid}`,
    }),
  );
  if (ctl.isOnline(node.name)) {
    out.push(rc(0n, CODE.CREATED, `Storage pool updated on '${node.name}'`));
  }
  return rcReply(out, ctx, 201);
}

/**
 * Storage pool `pool` of node `node` as CtrlApiDataLoader.loadStorPool finds it: its definition
 * (a pool of that name anywhere, or a default one), the node, then the pool on it; with
 * `failIfMissing` each missing one fails, else undefined.
 */
function loadPool(
  ctl: SimController,
  node: string,
  pool: string,
  failIfMissing: boolean,
): SimPool | undefined {
  const dfn = poolDfnNames(ctl).some((d) => k(d) === k(pool));
  if (!dfn) {
    if (!failIfMissing) return undefined;
    fail(FAIL_NOT_FOUND_STOR_POOL_DFN, `Storage pool definition '${pool}' not found.`, {
      cause: `The specified storage pool definition '${pool}' could not be found in the database`,
      correction: `Create a storage pool definition '${pool}' first.`,
    });
  }
  if (!failIfMissing && !ctl.node(node)) return undefined;
  const n = loadNode(ctl, node);
  const p = ctl.pool(n.name, pool);
  if (!p && failIfMissing) {
    fail(FAIL_NOT_FOUND_STOR_POOL_DFN, `Storage pool '${pool}' on node '${n.name}' not found.`, {
      cause: `The specified storage pool '${pool}' on node '${n.name}' could not be found in the ` +
        "database",
      correction: `Create a storage pool '${pool}' on node '${n.name}' first.`,
    });
  }
  return p;
}

/**
 * PUT /v1/nodes/{node}/storage-pools/{pool} (CtrlStorPoolApiCallHandler.modify): properties set
 * and deleted under the storage-pool whitelist; a `PrefNic` must name one of the node's network
 * interfaces (FAIL_INVLD_PROP); the node's satellite, when connected, is told of a change.
 */
export function modifyPool(
  ctl: SimController,
  node: string,
  pool: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = {
    op: MASK_MOD,
    obj: OBJ.STOR_POOL,
    refs: { Node: node, StorPool: pool },
  };
  const p = loadPool(ctl, node, pool, true)!;
  const n = ctl.node(p.node)!; // (loadPool found it)
  const over = (body.override_props ?? {}) as Record<string, string>;
  for (const key of ["PrefNic", "NVMe/PrefNic"]) {
    const nic = over[key];
    if (nic !== undefined && !nicsOf(n).some((x) => k(x.name) === k(String(nic)))) {
      throw new SimApiError(
        rc(
          MASK_ERROR | OBJ.STOR_POOL,
          CODE.FAIL_INVLD_PROP,
          `The network interface '${nic}' of node '${n.name}' does not exist!`,
        ),
      );
    }
  }
  const out: SimRc[] = [];
  const before = JSON.stringify(p.props);
  editProps("storage-pool", p.props, body, out);
  out.push(
    rc(0n, CODE.MODIFIED, `Storage pool '${p.name}' on node '${p.node}' modified.`, {
      details: `Storage pool '${p.name}' on node '${p.node}' UUID is: ${p.uuid}`,
    }),
  );
  if (JSON.stringify(p.props) !== before && ctl.isOnline(p.node)) {
    out.push(rc(0n, CODE.MODIFIED, `Storage pool updated on '${p.node}'`));
  }
  return rcReply(out, ctx, 200);
}

/**
 * DELETE /v1/nodes/{node}/storage-pools/{pool} (CtrlStorPoolApiCallHandler.deleteStorPool): the
 * default diskless pool is refused; a missing pool (or node) is a warning; a pool that volumes or
 * snapshot volumes use is refused (FAIL_IN_USE, each listed in the details); else it goes.
 */
export function deletePool(ctl: SimController, node: string, pool: string): SimReply {
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.STOR_POOL, refs: { Node: node, StorPool: pool } };
  if (k(pool) === k("DfltDisklessStorPool")) {
    fail(CODE.FAIL_INVLD_STOR_POOL_NAME, "The default diskless storage pool cannot be deleted!");
  }
  const p = loadPool(ctl, node, pool, false);
  if (!p) {
    throw new SimApiError(
      rc(
        MASK_WARN,
        CODE.WARN_NOT_FOUND,
        `Deletion of storage pool '${pool}' on node '${node}' had no effect.`,
        { cause: `Storage pool '${pool}' on node '${node}' does not exist.` },
      ),
    );
  }
  const users: string[] = [];
  for (const rd of ctl.state.rds) {
    const r = rd.rscs.find((x) => k(x.node) === k(p.node) && k(x.pool) === k(p.name));
    if (r) {
      for (const vd of rd.vds) {
        users.push(
          `\n   Node name: '${r.node}', resource name: '${rd.name}', volume number: ${vd.nr}, ` +
            "resource suffix: ''",
        );
      }
    }
    for (const sn of rd.snaps) {
      const at = sn.nodes.find((x) => k(x) === k(p.node));
      if (at === undefined || k(sn.pools[at] ?? "") !== k(p.name)) continue;
      for (const vd of sn.vds) {
        users.push(
          `\n   Node name: '${at}', resource name: '${rd.name}', snapshot name: '${sn.name}', ` +
            `volume number: ${vd.nr}, resource suffix: ''`,
        );
      }
    }
  }
  if (users.length) {
    fail(
      CODE.FAIL_IN_USE,
      `The specified storage pool '${pool}' on node '${node}' cannot be deleted as volumes / ` +
        "snapshot-volumes are still using it.",
      {
        details: `Volumes / snapshot-volumes that are still using the storage pool: ${
          users.join("")
        }`,
        correction: "Delete the listed volumes and snapshot-volumes first.",
      },
    );
  }
  ctl.state.pools = ctl.state.pools.filter((x) => x !== p);
  return rcReply(
    [
      rc(0n, CODE.DELETED, `Node: ${node}, Storage pool name: ${pool} deleted.`, {
        details: `Node: ${node}, Storage pool name: ${pool} UUID was: ${p.uuid}`,
      }),
    ],
    ctx,
    200,
  );
}

// ----- network interfaces --------------------------------------------------------------------

function nicOf(ctl: SimController, node: string, nic: string): { n: SimNode; x: SimNic } {
  const n = loadNode(ctl, node);
  const x = nicsOf(n).find((i) => k(i.name) === k(nic));
  if (!x) {
    fail(FAIL_NOT_FOUND_NET_IF, `Node '${node}' has no network interface named '${nic}'.`);
  }
  return { n, x };
}

/** GET /v1/nodes/{node}/net-interfaces[/{nic}]. */
export function getNics(ctl: SimController, node: string, nic?: string): SimReply {
  if (nic === undefined) {
    return { status: 200, body: nicsOf(loadNode(ctl, node)).map(nicView) };
  }
  return { status: 200, body: nicView(nicOf(ctl, node, nic).x) };
}

/** POST /v1/nodes/{node}/net-interfaces. */
export function createNic(
  ctl: SimController,
  node: string,
  body: Record<string, unknown>,
): SimReply {
  const n = loadNode(ctl, node);
  const x = nicFrom(body);
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.NET_IF, refs: { Node: n.name, NetIf: x.name } };
  const what = `netInterface '${x.name}' on node '${n.name}'`;
  const nics = nicsOf(n);
  if (nics.some((i) => k(i.name) === k(x.name))) {
    fail(FAIL_EXISTS_NET_IF, `N${what.slice(1)} already exists.`);
  }
  if (x.active) { for (const i of nics) i.active = false; }
  n.nics = [...nics, x];
  return rcReply(
    [rc(0n, CODE.CREATED, `New ${what} registered.`, {
      details: `N${what.slice(1)} UUID is: ${x.uuid}`,
    })],
    ctx,
    201,
  );
}

/** PUT /v1/nodes/{node}/net-interfaces/{nic}. */
export function modifyNic(
  ctl: SimController,
  node: string,
  nic: string,
  body: Record<string, unknown>,
): SimReply {
  const { n, x } = nicOf(ctl, node, nic);
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.NET_IF, refs: { Node: n.name, NetIf: x.name } };
  const nics = nicsOf(n);
  const y = nicFrom({ ...body, name: x.name }, x);
  if (y.active && !x.active) { for (const i of nics) i.active = false; }
  n.nics = nics.map((i) => i.name === x.name ? y : i);
  if (k(y.name) === k(nics[0].name)) n.address = y.address;
  return rcReply(
    [rc(0n, CODE.MODIFIED, `NetInterface '${x.name}' on node '${n.name}' modified.`, {
      details: `NetInterface '${x.name}' on node '${n.name}' UUID is: ${x.uuid}`,
    })],
    ctx,
    200,
  );
}

/** DELETE /v1/nodes/{node}/net-interfaces/{nic} (the last one stays: the satellite needs one). */
export function deleteNic(ctl: SimController, node: string, nic: string): SimReply {
  const { n, x } = nicOf(ctl, node, nic);
  const ctx: RcContext = { op: MASK_DEL, obj: OBJ.NET_IF, refs: { Node: n.name, NetIf: x.name } };
  const rest = nicsOf(n).filter((i) => i !== x);
  if (!rest.length) {
    fail(
      CODE.FAIL_IN_USE,
      `NetInterface '${x.name}' on node '${n.name}' is the node's last network interface.`,
    );
  }
  if (x.active) rest[0].active = true;
  n.nics = rest;
  n.address = rest[0].address;
  return rcReply(
    [rc(0n, CODE.DELETED, `NetInterface '${x.name}' on node '${n.name}' deleted.`, {
      details: `NetInterface '${x.name}' on node '${n.name}' UUID was: ${x.uuid}`,
    })],
    ctx,
    200,
  );
}

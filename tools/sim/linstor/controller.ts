/**
 * The simulated LINSTOR controller's core: its state, lookups by (case-insensitive) name,
 * satellite connectivity, in-use marks and transactions. The REST operations live by concern
 * beside it (definitions.ts, resources.ts, placement.ts, snapshots.ts, views.ts) as functions
 * of a SimController; routes.ts maps the REST API onto them and server.ts serves it over HTTP.
 *
 * Scale: resource definitions are indexed by name, and a transaction saves only what it
 * touches (the resource definitions it names and the small global part: nodes, pools,
 * groups, clones, in-use marks, counters), so one request costs the same with 10 or 10,000
 * definitions. What changed since the last save is handed to the journal by
 * {@link SimController.takeChanges}.
 */
import { CODE } from "../../../lib/backend/linstor/api_call_rc.ts";
import { fail } from "./replies.ts";
import {
  type ControllerOptions,
  DISKLESS_POOL,
  k,
  type PoolKind,
  type SimNode,
  type SimPool,
  type SimRd,
  type SimRg,
  type SimRsc,
  type SimSnap,
  type SimState,
  UNAME_PROP,
  uuid,
} from "./model.ts";
import { filesShape, reconcile, reconcileNode } from "./persistence.ts";
import { PoolUsage } from "./usage.ts";
import { ErrorReportLog } from "./error_reports.ts";
import { ensureDrbdLayer } from "./drbd_layer.ts";
import { freshCtrlProps } from "./ctrl_props.ts";

/** The part of the state outside the resource definitions (small: saved whole). */
type Globals = Omit<SimState, "rds" | "version">;

/** Two definitions whose files and device links are the same (persistence.ts filesShape). */
function sameFiles(a: SimRd, b: SimRd): boolean {
  const shape = filesShape(a);
  return shape !== null && shape === filesShape(b);
}

function globalsOf(st: SimState): Globals {
  return {
    nodes: st.nodes,
    pools: st.pools,
    rgs: st.rgs,
    clones: st.clones,
    inUse: st.inUse,
    nextPort: st.nextPort,
    nextMinor: st.nextMinor,
    seq: st.seq,
    kvs: st.kvs ?? [],
    ctrlProps: st.ctrlProps,
    nodeConns: st.nodeConns,
  };
}

/** One open transaction: the touched definitions as they were before it (null: absent). */
interface Tx {
  rds: Map<string, SimRd | null>;
  globals: Globals;
}

/** Changes since the last {@link SimController.takeChanges}, ready for the journal. */
export interface StateChanges {
  /** Resource definitions by upper-case name: the new value, or null when deleted. */
  rds: Record<string, SimRd | null>;
  /** The global part, when it changed. */
  globals?: Globals;
}

/** The controller state machine (synchronous: operations run one at a time). */
export class SimController {
  state: SimState;
  readonly opts: ControllerOptions;
  /** Per-listing cache of volume file allocations (set while a listing is built). */
  allocMemo: Map<string, number> | undefined;
  /** Used space per storage pool (incremental). */
  readonly usage: PoolUsage;
  /** The error reports of the ids its replies gave (in memory, see error_reports.ts). */
  readonly errorReports = new ErrorReportLog();
  #rdIndex = new Map<string, SimRd>();
  #indexedArr: SimRd[] | null = null;
  #indexedLen = -1;
  #tx: Tx | null = null;
  /** Definitions changed since the last takeChanges (upper-case names). */
  #dirty = new Set<string>();
  #savedGlobals = "";

  constructor(opts: ControllerOptions, loaded?: SimState) {
    this.opts = opts;
    this.state = loaded ?? this.#seed();
    this.state.ctrlProps ??= freshCtrlProps();
    // states saved before NodeUname was kept: every connected satellite has answered
    for (const n of this.state.nodes) if (!n.offline) n.props[UNAME_PROP] ??= n.name;
    this.usage = new PoolUsage(this);
    this.#savedGlobals = loaded ? JSON.stringify(globalsOf(this.state)) : "";
  }

  #seed(): SimState {
    const st: SimState = {
      version: 1,
      nodes: [],
      pools: [],
      rgs: [],
      rds: [],
      clones: [],
      inUse: {},
      nextPort: 7000,
      nextMinor: 1000,
      seq: 0,
    };
    this.state = st;
    // a fresh controller's default group places 2 replicas (LINSTOR's database init)
    this.addRg("DfltRscGrp", { place_count: 2 });
    let i = 1;
    for (const n of this.opts.nodes) {
      st.nodes.push({
        name: n,
        type: "Satellite",
        address: `10.0.0.${i++}`,
        props: { [UNAME_PROP]: n },
        uuid: uuid(),
      });
      st.pools.push({
        node: n,
        name: DISKLESS_POOL,
        kind: "DISKLESS",
        totalKib: 0,
        props: {},
        uuid: uuid(),
      });
      for (const p of this.opts.pools) {
        const kind: PoolKind = p.kind ?? (p.thin === false ? "LVM" : "LVM_THIN");
        st.pools.push({
          node: n,
          name: p.name,
          kind,
          totalKib: Math.round(p.sizeGiB * 1024 * 1024),
          props: kind.startsWith("LVM")
            ? {
              "StorDriver/LvmVg": "linstorpool",
              ...(kind === "LVM_THIN" ? { "StorDriver/ThinPool": `thin_${p.name}` } : {}),
            }
            : {},
          uuid: uuid(),
        });
      }
    }
    for (const g of this.opts.resourceGroups ?? []) {
      const filter: Record<string, unknown> = {};
      if (g.placeCount !== undefined) filter.place_count = g.placeCount;
      if (g.storagePools?.length) filter.storage_pool_list = g.storagePools;
      const rg = this.addRg(g.name, filter);
      rg.vgs.push({ nr: 0, props: {}, flags: [], uuid: uuid() });
    }
    return st;
  }

  /** Add an (empty) resource group. */
  addRg(name: string, filter: Record<string, unknown>): SimRg {
    const rg: SimRg = { name, props: {}, filter, vgs: [], uuid: uuid() };
    this.state.rgs.push(rg);
    return rg;
  }

  // ----- lookups ------------------------------------------------------------------------------

  /** The name index of the resource definitions (rebuilt if the array was replaced or grown). */
  #index(): Map<string, SimRd> {
    const arr = this.state.rds;
    if (arr !== this.#indexedArr || arr.length !== this.#indexedLen) {
      this.#rdIndex = new Map(arr.map((r) => [k(r.name), r]));
      this.#indexedArr = arr;
      this.#indexedLen = arr.length;
    }
    return this.#rdIndex;
  }

  /** The node `name`, if any. */
  node(name: string): SimNode | undefined {
    const key = k(name);
    return this.state.nodes.find((n) => k(n.name) === key);
  }
  /** The resource group `name`, if any. */
  rg(name: string): SimRg | undefined {
    return this.state.rgs.find((g) => k(g.name) === k(name));
  }
  /** The resource definition `name`, if any. */
  rd(name: string): SimRd | undefined {
    return this.#index().get(k(name));
  }

  /** Add a resource definition (touched in the running transaction). */
  addRd(rd: SimRd): void {
    this.touch(rd.name);
    const idx = this.#index();
    this.state.rds.push(rd);
    idx.set(k(rd.name), rd);
    this.#indexedLen = this.state.rds.length;
  }

  /** Remove a resource definition (touched in the running transaction). */
  removeRd(rd: SimRd): void {
    this.touch(rd.name);
    const idx = this.#index();
    const i = this.state.rds.indexOf(rd);
    if (i >= 0) this.state.rds.splice(i, 1);
    if (idx.get(k(rd.name)) === rd) idx.delete(k(rd.name));
    this.#indexedLen = this.state.rds.length;
  }

  /** Storage pool `name` on `node`, if any. */
  pool(node: string, name: string): SimPool | undefined {
    const kn = k(node);
    const kp = k(name);
    return this.state.pools.find((p) => k(p.node) === kn && k(p.name) === kp);
  }
  /** `rd`'s resource on `node`, if any. */
  rsc(rd: SimRd, node: string): SimRsc | undefined {
    const key = k(node);
    return rd.rscs.find((r) => k(r.node) === key);
  }
  /** `rd`'s snapshot `name`, if any. */
  snap(rd: SimRd, name: string): SimSnap | undefined {
    return rd.snaps.find((s) => k(s.name) === k(name));
  }

  /** The resource definition `name`; FAIL_NOT_FOUND_RSC_DFN when missing. */
  needRd(name: string): SimRd {
    const rd = this.rd(name);
    if (!rd) fail(CODE.FAIL_NOT_FOUND_RSC_DFN, `Resource definition '${name}' not found.`);
    return rd;
  }
  /** The node `name`; FAIL_NOT_FOUND_NODE when missing. */
  needNode(name: string): SimNode {
    const n = this.node(name);
    if (!n) fail(CODE.FAIL_NOT_FOUND_NODE, `Node '${name}' not found.`);
    return n;
  }
  /** The resource group `name`; FAIL_NOT_FOUND_RSC_GRP when missing. */
  needRg(name: string): SimRg {
    const g = this.rg(name);
    if (!g) fail(CODE.FAIL_NOT_FOUND_RSC_GRP, `Resource group '${name}' not found.`);
    return g;
  }
  /** `rd`'s snapshot `name`; FAIL_NOT_FOUND_SNAPSHOT_DFN when missing. */
  needSnap(rd: SimRd, name: string): SimSnap {
    const s = this.snap(rd, name);
    if (!s) {
      fail(
        CODE.FAIL_NOT_FOUND_SNAPSHOT_DFN,
        `Snapshot definition '${name}' of resource '${rd.name}' not found.`,
      );
    }
    return s;
  }

  /** Whether `rd`'s device on `node` is open. */
  isInUse(rd: SimRd, node: string): boolean {
    return this.state.inUse[`${k(rd.name)}/${k(node)}`] === true;
  }

  /** Mark a device open/closed (the /_sim/in-use control). */
  setInUse(res: string, node: string, inUse: boolean): boolean {
    const rd = this.rd(res);
    if (!rd || !this.rsc(rd, node)) return false;
    const key = `${k(rd.name)}/${k(node)}`;
    if (inUse) this.state.inUse[key] = true;
    else delete this.state.inUse[key];
    return true;
  }

  /** Whether the satellite `name` is connected (unknown nodes count as offline). */
  isOnline(name: string): boolean {
    const n = this.node(name);
    return !!n && !n.offline;
  }

  /**
   * Disconnect / reconnect a satellite (the /_sim/node control); false for an unknown node. An
   * offline satellite does not touch its host; back online, it applies what changed meanwhile.
   */
  setNodeOnline(name: string, online: boolean): boolean {
    const n = this.node(name);
    if (!n) return false;
    const was = !n.offline;
    if (online) {
      delete n.offline;
      delete n.down;
      n.props[UNAME_PROP] ??= n.name;
    } else n.offline = n.down = true;
    if (online && !was) reconcileNode(this, n.name);
    return true;
  }

  /** LINSTOR's FAIL_NOT_CONNECTED for an operation that needs every satellite of `rd`. */
  needConnected(rscs: SimRsc[], message: (node: string) => string, details?: string): void {
    const off = rscs.find((r) => !this.isOnline(r.node));
    if (off) {
      fail(CODE.FAIL_NOT_CONNECTED, message(off.node), details ? { details } : {});
    }
  }

  /**
   * Add a resource of `rd` on `node` in `pool` with DRBD node id `nodeId` (default: the lowest
   * free one) and the definition's peer slots.
   */
  newRsc(
    rd: SimRd,
    node: string,
    pool: string,
    diskless: boolean,
    client: boolean,
    nodeId?: number,
  ): SimRsc {
    const used = new Set(rd.rscs.map((r) => r.nodeId));
    let id = 0;
    while (used.has(id)) id++;
    if (nodeId !== undefined) id = nodeId;
    const r: SimRsc = {
      node: this.node(node)?.name ?? node,
      pool,
      diskless,
      tieBreaker: false,
      client,
      props: { StorPoolName: pool },
      nodeId: id,
      peerSlots: ensureDrbdLayer(this, rd),
      created: Date.now(),
      uuid: uuid(),
    };
    rd.rscs.push(r);
    return r;
  }

  /** Drop the in-use mark of `rd` on `node`. */
  forgetInUse(rd: SimRd, node: string): void {
    delete this.state.inUse[`${k(rd.name)}/${k(node)}`];
  }

  // ----- transactions -------------------------------------------------------------------------

  /**
   * Declare that the running operation changes the resource definition `name` (existing or
   * about to be created): it is saved for a rollback and journaled. Every mutation of a
   * definition is preceded by a touch (ctl.tx does it for the names it gets).
   */
  touch(name: string): void {
    const key = k(name);
    this.#dirty.add(key);
    this.usage.invalidate(key);
    if (!this.#tx || this.#tx.rds.has(key)) return;
    const cur = this.rd(name);
    this.#tx.rds.set(key, cur ? structuredClone(cur) : null);
  }

  /** Definitions touched by the open transaction (upper-case names). */
  touched(): string[] {
    return this.#tx ? [...this.#tx.rds.keys()] : [];
  }

  /**
   * Run one request's mutation as a transaction: on an exception every touched definition and
   * the global part are restored (and their files reconciled), then the exception is rethrown.
   * Nested calls join the outer transaction.
   */
  transaction<T>(fn: () => T): T {
    if (this.#tx) return fn();
    const tx: Tx = { rds: new Map(), globals: structuredClone(globalsOf(this.state)) };
    this.#tx = tx;
    // a file's allocation is read once per request (placement asks for it repeatedly)
    this.allocMemo = new Map();
    try {
      const r = fn();
      this.#tx = null;
      this.allocMemo = undefined;
      for (const [key, before] of tx.rds) {
        // a change of properties leaves files and links as they are
        const cur = this.rd(key);
        if (before && cur && sameFiles(before, cur)) continue;
        reconcile(this, key, before);
      }
      return r;
    } catch (e) {
      this.#tx = null;
      this.allocMemo = undefined;
      this.#rollback(tx);
      throw e;
    }
  }

  #rollback(tx: Tx): void {
    Object.assign(this.state, tx.globals);
    for (const [key, before] of tx.rds) {
      const cur = this.rd(key);
      if (cur) this.removeRd(cur);
      if (before) this.addRd(before);
      this.usage.invalidate(key);
      try {
        reconcile(this, key, cur ?? null);
      } catch { /* best effort */ }
    }
  }

  /** Run a mutation of the definitions `names` (inside the request's transaction). */
  tx<T>(names: string[], fn: () => T): T {
    return this.transaction(() => {
      for (const n of names) this.touch(n);
      return fn();
    });
  }

  /**
   * What changed since the last call (null: nothing): the touched definitions and, when it
   * differs from what was last handed out, the global part.
   */
  takeChanges(): StateChanges | null {
    const out: StateChanges = { rds: {} };
    for (const key of this.#dirty) out.rds[key] = this.rd(key) ?? null;
    this.#dirty.clear();
    const g = JSON.stringify(globalsOf(this.state));
    if (g !== this.#savedGlobals) {
      out.globals = globalsOf(this.state);
      this.#savedGlobals = g;
    }
    return Object.keys(out.rds).length || out.globals ? out : null;
  }

  /** Forget pending changes (the whole state was just saved). */
  markSaved(): void {
    this.#dirty.clear();
    this.#savedGlobals = JSON.stringify(globalsOf(this.state));
  }
}

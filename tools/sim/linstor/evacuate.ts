/**
 * Evacuating a node and restoring it in the simulated LINSTOR controller
 * (CtrlNodeApiCallHandler.evacuateNode / restoreNode): `linstor node evacuate NODE [--target N…
 * | --do-not-target N…]` and `linstor node restore NODE [--delete-resources]
 * [--delete-snapshots]`.
 *
 * Evacuate flags the node EVACUATE (its listings show it; no new resource may go there, the
 * autoplacer passes it over) and each of its resources EVACUATE with `MigrateFrom=<NODE>`; then
 * per resource, in name order:
 * - a diskless one, one its satellite does not report UpToDate (not connected, deactivated), or
 *   one whose definition keeps its group's place count in UpToDate replicas elsewhere is
 *   deleted as `resource delete` deletes it (its entries in the reply; a tie-breaker there does
 *   not switch the definition's auto-tiebreaker off, the auto-helper may place a new one);
 * - otherwise the autoplacer picks one replacement pool under the group's filter — first among
 *   the nodes holding a diskless resource of it (that one is toggled into a replica), then
 *   among the allowed nodes at the group's place count, then at the definition's resource
 *   count — and the replacement is created (or toggled) with its usual entries. The controller
 *   deletes the evacuated resource in the background once the replacement is UpToDate and the
 *   old one is not in use: here at once (satellites sync instantly), without entries; one in
 *   use stays. No place: WARN_NOT_EVACUATING, and the resource stays.
 * The warnings come first, without the call's masks, as the controller sends them; a node with
 * nothing to evacuate answers an empty list. Errors raised before anything changes (unknown
 * node; `target` and `do_not_target` both given, once a replacement is looked for) come
 * without masks either, as the controller's REST layer reports them.
 *
 * Restore clears the EVACUATE flags (error "… is neither evicted nor evacuated." for a node that
 * is not), updates each resource's satellites ("Resource restored on 'N'"), or with
 * `delete_resources` deletes every resource but a definition's last diskful one
 * (WARN_STLT_NOT_UPDATED), with `delete_snapshots` the node's snapshots, and ends with
 * "Successfully restored node N" followed by what the auto-helper, run over every definition,
 * did (a tie-breaker the node can take again). Evicted nodes are not modelled, nor the
 * controller's snapshot shipping of an evacuation.
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
  bareReply,
  plainEntry,
  type RcContext,
  SimApiError,
  type SimRc,
  type SimReply,
  statusFor,
  withContext,
} from "./replies.ts";
import { k, type SimNode, type SimPool, type SimRd, type SimRsc, splitNames } from "./model.ts";
import type { SimController } from "./controller.ts";
import { nodeOrReply } from "./single_gets.ts";
import { autoHelper, evacuating, mergedFilter, rdSizeKib, select } from "./placement.ts";
import { createRscs, removeRsc } from "./resources.ts";
import { toggleDisk } from "./toggle_disk.ts";
import { deleteSnap } from "./snapshots.ts";
import { FAIL_INVLD_CONF, WARN_NOT_EVACUATING, WARN_STLT_NOT_UPDATED } from "./codes.ts";

/** The resource property that names the node a resource is migrated away from. */
const MIGRATE_FROM = "MigrateFrom";

/**
 * What another request answers inside this one (a resource delete, create, toggle-disk,
 * snapshot delete): its entries, or those of its refusal with its own context.
 */
function entriesOf(ctx: RcContext, fn: () => SimRc[]): SimRc[] {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SimApiError) return e.entries.map((x) => withContext(x, ctx));
    throw e;
  }
}

/** The definitions holding a resource on `node`, by name (the node's resource map order). */
function holdingByName(ctl: SimController, node: SimNode): SimRd[] {
  return ctl.state.rds.filter((rd) => ctl.rsc(rd, node.name))
    .sort((a, b) => k(a.name).localeCompare(k(b.name)));
}

/** Whether `r`'s satellite reports every volume UpToDate (connected, active, diskful). */
function upToDate(ctl: SimController, r: SimRsc): boolean {
  return !r.diskless && !r.inactive && ctl.isOnline(r.node);
}

/** `rd`'s resource group (the default group when its own is gone). */
function groupOf(ctl: SimController, rd: SimRd) {
  return ctl.rg(rd.rg) ?? ctl.needRg("DfltRscGrp");
}

/**
 * Whether the evacuation just deletes `r`: diskless, not UpToDate, or its definition keeps the
 * group's place count in UpToDate replicas that are not being evacuated.
 */
function justDelete(ctl: SimController, rd: SimRd, r: SimRsc): boolean {
  if (r.diskless || !upToDate(ctl, r)) return true;
  const filter = groupOf(ctl, rd).filter;
  const want = typeof filter.place_count === "number" ? filter.place_count : 2;
  const peers = rd.rscs.filter((o) => o !== r && !o.evacuate && upToDate(ctl, o)).length;
  return peers >= want;
}

/** The nodes an evacuation may place on (all but `do_not_target`, or those of `target`). */
function allowedNodes(ctl: SimController, target: string[], notTarget: string[]): string[] {
  const listed = (names: string[], n: SimNode) => names.some((x) => k(x) === k(n.name));
  return ctl.state.nodes
    .filter((n) => target.length ? listed(target, n) : !listed(notTarget, n))
    .map((n) => n.name);
}

/**
 * The pool of `rd`'s replacement (getStorPoolForEvacuation): the autoplacer under the group's
 * filter, restricted to the nodes holding a diskless resource of it, then to the allowed
 * nodes, then again at the definition's resource count; of a selection, the pool of the first
 * node by name. Undefined when nothing fits.
 */
function replacementPool(ctl: SimController, rd: SimRd, allowed: string[]): SimPool | undefined {
  const g = groupOf(ctl, rd);
  const placed = rd.rscs.filter((r) => !r.diskless && !evacuating(ctl, r)).length;
  const attempt = (over: Record<string, unknown>): SimPool[] | undefined => {
    const filter = mergedFilter(g, over);
    const count = (typeof filter.place_count === "number" ? filter.place_count : 2) - placed;
    if (count <= 0) return undefined;
    try {
      return select(ctl, rd, filter, count, rdSizeKib(rd));
    } catch (e) {
      if (e instanceof SimApiError) return undefined;
      throw e;
    }
  };
  const inAllowed = (node: string) => allowed.some((a) => k(a) === k(node));
  const disklessNodes = rd.rscs.filter((r) => r.diskless && inAllowed(r.node)).map((r) => r.node);
  const pools = (disklessNodes.length ? attempt({ node_name_list: disklessNodes }) : undefined) ??
    attempt({ node_name_list: allowed }) ??
    attempt({ node_name_list: allowed, place_count: rd.rscs.length });
  return pools?.sort((a, b) =>
    k(a.node).localeCompare(k(b.node)) || k(a.name).localeCompare(k(b.name))
  )[0];
}

/** A migration waiting for its evacuated resource to be closed: definition and nodes. */
interface Waiting {
  rd: string;
  from: string;
  to: string;
}

/**
 * The controller's background waiters of migrations (waitForMigration): in memory, as there
 * (a controller restarted forgets them, the evacuated resource then stays).
 */
const WAITING = new WeakMap<SimController, Waiting[]>();

/**
 * "Delete after migrate" once the evacuated resource `r` is not in use (the replacement is
 * UpToDate at once here): `r` goes without a reply, then the auto-helper runs as after every
 * completed deletion; while `r` is in use the migration waits ({@link finishMigrations}).
 */
function migrateOff(ctl: SimController, rd: SimRd, r: SimRsc, to: string): void {
  if (ctl.isInUse(rd, r.node)) {
    const list = WAITING.get(ctl) ?? [];
    list.push({ rd: rd.name, from: r.node, to });
    WAITING.set(ctl, list);
    return;
  }
  ctl.touch(rd.name);
  rd.rscs = rd.rscs.filter((o) => o !== r);
  ctl.forgetInUse(rd, r.node);
  autoHelper(ctl, rd, []);
}

/**
 * The migrations whose evacuated resource is no longer in use end (called once a device was
 * closed, `/_sim/in-use`): the evacuated resource goes; those whose resources went otherwise
 * are forgotten.
 */
export function finishMigrations(ctl: SimController): void {
  const list = WAITING.get(ctl);
  if (!list?.length) return;
  WAITING.set(
    ctl,
    list.filter((w) => {
      const rd = ctl.rd(w.rd);
      const r = rd && ctl.rsc(rd, w.from);
      if (!rd || !r || !ctl.rsc(rd, w.to)) return false;
      if (ctl.isInUse(rd, r.node)) return true;
      ctl.transaction(() => migrateOff(ctl, rd, r, w.to));
      return false;
    }),
  );
}

/**
 * The replacement of `r` in `pool`: a diskless resource there toggled into a replica, else a
 * new one (their entries); then the background deletion of `r` ({@link migrateOff}).
 */
function replace(ctl: SimController, rd: SimRd, r: SimRsc, pool: SimPool): SimRc[] {
  const there = ctl.rsc(rd, pool.node);
  let entries: SimRc[];
  if (there?.diskless) {
    const ctx = { op: MASK_MOD, obj: OBJ.RSC, refs: { RscDfn: rd.name, Node: pool.node } };
    entries = entriesOf(
      ctx,
      () =>
        toggleDisk(ctl, rd.name, pool.node, "INTO_DRBD_DISKFUL", { storagePool: pool.name })
          .body as SimRc[],
    );
  } else {
    const ctx = { op: MASK_CRT, obj: OBJ.RSC, refs: { RscDfn: rd.name } };
    entries = entriesOf(ctx, () =>
      createRscs(ctl, rd.name, [{
        resource: { node_name: pool.node, props: { StorPoolName: pool.name } },
      }]).body as SimRc[]);
  }
  const placed = ctl.rsc(rd, pool.node);
  if (placed && !placed.diskless) migrateOff(ctl, rd, r, placed.node);
  return entries;
}

/** `r` deleted as `resource delete` deletes it (a tie-breaker being evacuated simply goes). */
function deleteForEvacuation(ctl: SimController, rd: SimRd, r: SimRsc): SimRc[] {
  const ctx = { op: MASK_DEL, obj: OBJ.RSC, refs: { RscDfn: rd.name, Node: r.node } };
  const wasTieBreaker = r.tieBreaker;
  // the controller does not take the deletion of a tie-breaker on an evacuated node as the
  // user's wish to go without one
  r.tieBreaker = false;
  return entriesOf(ctx, () => {
    const out: SimRc[] = [];
    try {
      removeRsc(ctl, rd, r, false, out);
    } catch (e) {
      r.tieBreaker = wasTieBreaker;
      throw e;
    }
    return out.map((x) => withContext(x, ctx));
  });
}

/** PUT /v1/nodes/{node}/evacuate `{target?, do_not_target?}` (see the module comment). */
export function evacuateNode(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const n = nodeOrReply(ctl, name);
  if (!("uuid" in n)) return n;
  const target = splitNames(body.target);
  const notTarget = splitNames(body.do_not_target);
  const holding = holdingByName(ctl, n);
  if (
    target.length && notTarget.length &&
    holding.some((rd) => !justDelete(ctl, rd, ctl.rsc(rd, n.name)!))
  ) {
    // raised where the first replacement is looked for: the transaction is rolled back
    return bareReply([
      plainEntry(
        MASK_ERROR | BigInt(FAIL_INVLD_CONF),
        "Must not use --target and --do-not-target in the same request",
      ),
    ]);
  }
  n.evacuate = true;
  for (const rd of holding) {
    ctl.touch(rd.name);
    const r = ctl.rsc(rd, n.name)!;
    r.evacuate = true;
    // the node's name in its canonical (upper-case) form, as the controller writes it
    r.props[MIGRATE_FROM] = k(n.name);
  }
  const allowed = allowedNodes(ctl, target, notTarget);
  const warnings: SimRc[] = [];
  const entries: SimRc[] = [];
  for (const rd of holding) {
    const r = ctl.rsc(rd, n.name)!;
    if (justDelete(ctl, rd, r)) {
      entries.push(...deleteForEvacuation(ctl, rd, r));
      continue;
    }
    const pool = replacementPool(ctl, rd, allowed);
    if (!pool) {
      warnings.push(
        plainEntry(
          MASK_WARN | BigInt(WARN_NOT_EVACUATING),
          `Resource '${rd.name}' cannot be evacuated as no available storage pool was found`,
        ),
      );
      continue;
    }
    entries.push(...replace(ctl, rd, r, pool));
  }
  // the evacuation's own warnings first, then what the deletions and replacements answered
  const all = [...warnings, ...entries];
  return { status: statusFor(all, 200), body: all };
}

/**
 * PUT /v1/nodes/{node}/restore `{delete_resources?, delete_snapshots?}` (see the module
 * comment).
 */
export function restoreNode(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const n = nodeOrReply(ctl, name);
  if (!("uuid" in n)) return n;
  if (!n.evacuate) {
    return bareReply([
      plainEntry(MASK_ERROR, `Node '${name}' is neither evicted nor evacuated.`),
    ]);
  }
  delete n.evacuate;
  const out: SimRc[] = [];
  const holding = holdingByName(ctl, n);
  for (const rd of holding) {
    ctl.touch(rd.name);
    const r = ctl.rsc(rd, n.name)!;
    if (body.delete_resources === true) {
      if (!rd.rscs.some((o) => o !== r && !o.diskless)) {
        out.push(
          plainEntry(
            MASK_WARN | BigInt(WARN_STLT_NOT_UPDATED),
            `Not deleting resource ${rd.name} since it is the last non-deleting diskful ` +
              "resource of this resource-definition",
          ),
        );
        continue;
      }
      const ctx = { op: MASK_DEL, obj: OBJ.RSC, refs: { RscDfn: rd.name, Node: r.node } };
      out.push(...entriesOf(ctx, () => {
        const del: SimRc[] = [];
        removeRsc(ctl, rd, r, false, del);
        return del.map((x) => withContext(x, ctx));
      }));
    } else if (r.evacuate) {
      delete r.evacuate;
      // every connected satellite of the definition is updated (the restored one's absence
      // is ignored), in node order
      for (const o of [...rd.rscs].sort((x, y) => k(x.node).localeCompare(k(y.node)))) {
        if (!ctl.isOnline(o.node)) continue;
        out.push(plainEntry(BigInt(CODE.MODIFIED), `Resource restored on '${o.node}'`));
      }
    }
  }
  if (body.delete_snapshots === true) {
    for (const rd of ctl.state.rds) {
      for (const s of [...rd.snaps]) {
        if (!s.nodes.some((x) => k(x) === k(n.name))) continue;
        const ctx = {
          op: MASK_DEL,
          obj: OBJ.SNAPSHOT,
          refs: { RscDfn: rd.name, Snapshot: s.name },
        };
        out.push(
          ...entriesOf(ctx, () => deleteSnap(ctl, rd.name, s.name, [n.name]).body as SimRc[]),
        );
      }
    }
  }
  // the success entry, then what the auto-helper did over every definition (manageAll: the
  // node may take a tie-breaker again), in one list without the call's masks
  const auto: SimRc[] = [];
  const all = ctl.state.rds.filter((rd) => rd.rscs.length)
    .sort((a, b) => k(a.name).localeCompare(k(b.name)));
  for (const rd of all) {
    ctl.touch(rd.name);
    autoHelper(ctl, rd, auto);
  }
  out.push(
    plainEntry(OBJ.NODE, `Successfully restored node ${name}`),
    ...(bareReply(auto).body as SimRc[]),
  );
  return { status: statusFor(out, 200), body: out };
}

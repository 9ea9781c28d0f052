/**
 * Resources deactivated and activated again in the simulated LINSTOR controller
 * (CtrlRscActivateApiCallHandler; LINBIT's `linstor resource deactivate/activate NODE RSC`):
 * `POST /v1/resource-definitions/{rsc}/resources/{node}/deactivate` and `…/activate`.
 *
 * A deactivated resource carries the INACTIVE flag; its satellite takes the DRBD device down
 * and its peers drop it from their configuration, so it reports no state (no `state`, no disk
 * or replication states, no DRBD connections, no device on its host) until it is activated.
 */
import { CODE, MASK_INFO, MASK_MOD, OBJ } from "../../../lib/backend/linstor/api_call_rc.ts";
import { compareText } from "../../../lib/compare.ts";
import {
  describingErrors,
  errorReportId,
  fail,
  notConnectedWarning,
  rc,
  type RcContext,
  rcReply,
  type SimRc,
  type SimReply,
} from "./replies.ts";
import { type SimController } from "./controller.ts";
import { k, type SimRd } from "./model.ts";
import { loadRsc } from "./single_gets.ts";
import { INFO_NOOP } from "./codes.ts";
import { NOT_CONNECTED_DETAILS } from "./nodes.ts";

/**
 * POST …/resources/{node}/activate (`active` true) or …/deactivate (false): the resource is
 * found as CtrlApiDataLoader finds it; asked the state it is in, INFO_NOOP "Resource is already
 * activated/deactivated. Noop"; a deactivation of a resource in use is refused (FAIL_IN_USE).
 * Otherwise the flag changes and every satellite of the definition is updated twice, as the
 * handler's two steps answer: "Resource deactivated on 'N'" / "Resource marked inactivate on
 * 'P'" then "Finished deactivation of resource on …" for each node; "Reactivating resource on
 * 'N'" / "Resource updated on 'P'" then "Resource activated on …". A satellite that is not
 * connected adds WARN_NOT_CONNECTED before its line.
 *
 * Not modelled: the shared storage pool rule (one active resource per shared pool) and
 * INACTIVE_PERMANENTLY, which the controller no longer sets.
 */
export function setRscActive(
  ctl: SimController,
  name: string,
  node: string,
  active: boolean,
): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.RSC, refs: { Node: node, RscDfn: name } };
  return describingErrors(ctx, `Node: ${node}, Resource: ${name}`, () => {
    const { rd, r } = loadRsc(ctl, name, node);
    if (!r.inactive === active) {
      return rcReply(
        [
          rc(
            MASK_INFO,
            INFO_NOOP,
            `Resource is already ${active ? "activated" : "deactivated"}. Noop`,
          ),
        ],
        ctx,
        200,
      );
    }
    // the satellite's state tells whether the device is open (none while not connected)
    if (!active && ctl.isOnline(r.node) && ctl.isInUse(rd, r.node)) {
      fail(CODE.FAIL_IN_USE, "Cannot deactivate a resource while being in use!", {
        error_report_ids: [errorReportId()],
      });
    }
    ctl.touch(rd.name);
    if (active) delete r.inactive;
    else r.inactive = true;
    const out: SimRc[] = [];
    if (active) {
      updated(ctl, rd, r.node, "Reactivating resource on", "Resource updated on", out);
      updated(ctl, rd, r.node, "Resource activated on", "Resource activated on", out);
    } else {
      updated(ctl, rd, r.node, "Resource deactivated on", "Resource marked inactivate on", out);
      updated(
        ctl,
        rd,
        r.node,
        "Finished deactivation of resource on",
        "Finished deactivation of resource on",
        out,
      );
    }
    return rcReply(out, ctx, 200);
  });
}

/**
 * One update of every satellite holding a resource of `rd` (in node order), as the controller's
 * combined responses word it: `own` for `node`'s satellite, `others` for the rest, each
 * preceded by WARN_NOT_CONNECTED where the satellite is not connected.
 */
function updated(
  ctl: SimController,
  rd: SimRd,
  node: string,
  own: string,
  others: string,
  out: SimRc[],
): void {
  const nodes = rd.rscs.map((x) => x.node).sort((a, b) => compareText(k(a), k(b)));
  for (const n of nodes) {
    if (!ctl.isOnline(n)) out.push(notConnectedWarning(n, { details: NOT_CONNECTED_DETAILS }));
    out.push(rc(0n, CODE.MODIFIED, `${k(n) === k(node) ? own : others} '${n}'`));
  }
}

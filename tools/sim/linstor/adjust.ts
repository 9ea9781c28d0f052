/**
 * Adjusting resource groups in the simulated LINSTOR controller (CtrlRscGrpApiCallHandler
 * adjust / adjustAll): `linstor resource-group adjust [RG]`, REST
 * `POST /v1/resource-groups/{rg}/adjust` and `POST /v1/resource-groups/adjustall` with an
 * optional `{select_filter}` laid over each group's own.
 *
 * Every resource definition of the group (groups and definitions in name order) is autoplaced
 * as `resource-definition autoplace` places it (placement.ts `autoplace`): missing replicas
 * added up to the place count (replicas being evacuated do not count), diskless ones on the
 * remaining nodes when the filter says so, the tie-breaker and quorum adjusted; a definition
 * at its count gets "… already deployed … Skipping." Nothing is removed. The entries carry the
 * registration mask and the resource group's (`RscGrp` reference for one group).
 *
 * The first definition that fails (more replicas than the place count, no place for the
 * missing ones) ends the request: its refusal alone is the reply, the group's description in
 * its details; the definitions placed before it stay placed (the controller commits each).
 */
import { MASK_CRT, OBJ } from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  describingErrors,
  type RcContext,
  rcReply,
  SimApiError,
  type SimRc,
  type SimReply,
  statusFor,
} from "./replies.ts";
import { cleanFilter, k, type SimRd, type SimRg } from "./model.ts";
import type { SimController } from "./controller.ts";
import { autoplace, mergedFilter } from "./placement.ts";
import { loadRg } from "./single_gets.ts";

/** The resource definitions of group `g`, by name. */
function rdsOf(ctl: SimController, g: SimRg): SimRd[] {
  return ctl.state.rds.filter((rd) => k(rd.rg) === k(g.name))
    .sort((a, b) => k(a.name).localeCompare(k(b.name)));
}

/**
 * Autoplace every definition of the groups `groups()` names (looked up inside the call's
 * error context), the request's filter over each group's.
 */
function adjust(
  ctl: SimController,
  groups: () => SimRg[],
  body: Record<string, unknown>,
  ctx: RcContext,
  description: string,
): SimReply {
  const over = cleanFilter(body.select_filter);
  const out: SimRc[] = [];
  try {
    describingErrors(ctx, description, () => {
      for (const g of groups()) {
        const filter = mergedFilter(g, over);
        for (const rd of rdsOf(ctl, g)) {
          ctl.touch(rd.name);
          autoplace(ctl, rd, filter, out);
        }
      }
    });
  } catch (e) {
    if (!(e instanceof SimApiError)) throw e;
    // the refusal is the reply; what was placed before it is kept
    return { status: statusFor(e.entries, 200), body: e.entries };
  }
  return rcReply(out, ctx, 200);
}

/** POST /v1/resource-groups/{rg}/adjust. */
export function adjustRg(
  ctl: SimController,
  rgName: string,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_GRP, refs: { RscGrp: rgName } };
  return adjust(ctl, () => [loadRg(ctl, rgName)], body, ctx, `Resource group: ${rgName}`);
}

/** POST /v1/resource-groups/adjustall. */
export function adjustAllRgs(ctl: SimController, body: Record<string, unknown>): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.RSC_GRP };
  const groups = () => [...ctl.state.rgs].sort((a, b) => k(a.name).localeCompare(k(b.name)));
  return adjust(ctl, groups, body, ctx, "All resource groups");
}

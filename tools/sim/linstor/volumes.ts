/**
 * The volumes of resources in the simulated LINSTOR controller: their own properties, changed
 * with `PUT /v1/resource-definitions/{rsc}/resources/{node}/volumes/{vlmNr}` (LINBIT's
 * `linstor volume set-property`) as CtrlVlmApiCallHandler.modify changes them, under the
 * whitelist of volumes (LinStorObject.VLM). The views show them with each volume (views.ts
 * volumeView); they are kept with their resource in the saved state.
 */
import { CODE, MASK_MOD, OBJ } from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  describingErrors,
  errorReportId,
  fail,
  rc,
  type RcContext,
  rcReply,
  type SimRc,
  type SimReply,
} from "./replies.ts";
import { type SimController } from "./controller.ts";
import { derivedUuid } from "./model.ts";
import { editProps } from "./props.ts";
import { loadRsc } from "./single_gets.ts";
import { FAIL_INVLD_VLM_NR, FAIL_NOT_FOUND_VLM } from "./codes.ts";

/**
 * A volume number path parameter as the REST layer converts it (a Java Integer: optional sign,
 * decimal digits, 32 bits), or undefined when it cannot (Jersey then answers 404).
 */
export function intPathParam(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= -(2 ** 31) && n < 2 ** 31 ? n : undefined;
}

/** The highest volume number LINSTOR takes (VolumeNumber.VOLUME_NR_MAX; 65535 is DRBD's). */
const VLM_NR_MAX = 65534;

/**
 * LinstorParsingUtils.asVlmNr: a volume number outside 0…65534 is FAIL_INVLD_VLM_NR, with the
 * range check's text as its cause and an error report.
 */
export function asVlmNr(nr: number): number {
  if (nr >= 0 && nr <= VLM_NR_MAX) return nr;
  fail(
    FAIL_INVLD_VLM_NR,
    `The given volume number '${nr}' is invalid. Valid range from 0 to ${VLM_NR_MAX}`,
    {
      cause: `Volume number ${nr} is out of range [0 - ${VLM_NR_MAX}]`,
      error_report_ids: [errorReportId()],
    },
  );
}

/** The controller's words for a volume of a resource (CtrlVlmApiCallHandler). */
function vlmDescription(nr: number, rsc: string, node: string): string {
  return `Volume with volume number '${nr}' on resource '${rsc}' on node '${node}'`;
}

/**
 * PUT …/resources/{node}/volumes/{vlmNr} (CtrlVlmApiCallHandler.modify): the volume is found as
 * CtrlApiDataLoader.loadVlm finds it (a number out of range, the node, the definition, the
 * resource, then the volume), its properties are set and deleted under the volume whitelist,
 * and "Volume with volume number … modified." closes the reply. An error carries the volume's
 * description in its details.
 */
export function modifyVolume(
  ctl: SimController,
  name: string,
  node: string,
  nr: number,
  body: Record<string, unknown>,
): SimReply {
  const ctx: RcContext = {
    op: MASK_MOD,
    obj: OBJ.VLM,
    refs: { Node: node, RscDfn: name, VlmNr: String(nr) },
  };
  return describingErrors(ctx, vlmDescription(nr, name, node), () => {
    asVlmNr(nr);
    const { rd, r } = loadRsc(ctl, name, node);
    if (!rd.vds.some((v) => v.nr === nr)) {
      fail(FAIL_NOT_FOUND_VLM, `${vlmDescription(nr, name, node)} not found.`, {
        error_report_ids: [errorReportId()],
      });
    }
    ctl.touch(rd.name);
    const out: SimRc[] = [];
    const props = { ...r.vlmProps?.[nr] };
    editProps("volume", props, body, out);
    const vlmProps = { ...r.vlmProps };
    if (Object.keys(props).length) vlmProps[nr] = props;
    else delete vlmProps[nr];
    if (Object.keys(vlmProps).length) r.vlmProps = vlmProps;
    else delete r.vlmProps;
    const own = vlmDescription(nr, rd.name, r.node);
    const uuid = derivedUuid(r.uuid, "volume", nr);
    out.push(
      rc(0n, CODE.MODIFIED, `${own} modified.`, {
        details: `${own} UUID is: ${uuid}`,
        obj_refs: { ...ctx.refs, UUID: uuid },
      }),
    );
    return rcReply(out, ctx, 200);
  });
}

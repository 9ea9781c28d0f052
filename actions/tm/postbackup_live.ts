/**
 * tm postbackup_live `host:DIR d0:d1:.. deploy_id [bj_id|-] vmid dsid` (contract §4.13): the
 * clean-up after the backup of a running VM; same as postbackup.
 */
import type { ActionContext } from "../../lib/context.ts";
import { postbackup } from "./postbackup.ts";

/** Run tm postbackup_live. */
export function run(ctx: ActionContext): Promise<void> {
  return postbackup(ctx, "postbackup_live");
}

/**
 * tm postbackup_live `host:DIR d0:d1:.. deploy_id [bj_id|-] vmid dsid` (docs/contract.md "tm
 * backups"): the clean-up after the backup of a running VM; same as postbackup.
 */
import type { ActionContext } from "../../lib/context.ts";
import { postbackup } from "../../lib/domain/backup.ts";

/** Run tm postbackup_live. */
export function run(ctx: ActionContext): Promise<void> {
  return postbackup(ctx, "postbackup_live");
}

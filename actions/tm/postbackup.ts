/**
 * tm postbackup `host:DIR d0:d1:.. deploy_id [bj_id|-] vmid dsid` (docs/contract.md "tm
 * backups"; also run after a failed backup): remove `DIR/backup` on the host and any temporary
 * volume or backup snapshot an interrupted prebackup left (lib/domain/backup.ts). Idempotent.
 */
import type { ActionContext } from "../../lib/context.ts";
import { postbackup } from "../../lib/domain/backup.ts";

/** Run tm postbackup. */
export function run(ctx: ActionContext): Promise<void> {
  return postbackup(ctx, "postbackup");
}

/**
 * tm postbackup `host:DIR d0:d1:.. deploy_id [bj_id|-] vmid dsid` (contract §4.13; also run
 * after a failed backup): remove `DIR/backup` on the host and any temporary volume or backup
 * snapshot an interrupted prebackup left. Idempotent.
 */
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { cleanupBackup, loadBackupCall } from "./prebackup.ts";

/** Shared body of postbackup and postbackup_live. */
export async function postbackup(ctx: ActionContext, action: string): Promise<void> {
  const c = await loadBackupCall(ctx, action, false);
  const errors = await cleanupBackup(ctx, c, true);
  if (errors.length) throw new OneblkError("backend", errors.join("; "));
}

/** Run tm postbackup. */
export function run(ctx: ActionContext): Promise<void> {
  return postbackup(ctx, "postbackup");
}

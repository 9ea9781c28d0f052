/**
 * tm prebackup_live `host:DIR d0:d1:.. deploy_id [bj_id|-] vmid dsid` (docs/contract.md "tm
 * backups"): the backup of a running VM (LCM state BACKUP). Same as prebackup, with the guest's
 * filesystems frozen (FS_FREEZE=AGENT) or the domain paused (FS_FREEZE=SUSPEND) around the
 * snapshot (lib/domain/backup.ts).
 */
import type { ActionContext } from "../../lib/context.ts";
import { prebackup } from "../../lib/domain/backup.ts";

/** Run tm prebackup_live. */
export function run(ctx: ActionContext): Promise<void> {
  return prebackup(ctx, true);
}

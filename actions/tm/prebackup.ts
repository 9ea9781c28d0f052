/**
 * tm prebackup `host:DIR d0:d1:.. deploy_id [bj_id|-] vmid dsid` (docs/contract.md "tm
 * backups"): full backups of the selected disks of a powered-off VM into `DIR/backup`, read from
 * store snapshots (lib/domain/backup.ts). Any failure removes what this call made.
 */
import type { ActionContext } from "../../lib/context.ts";
import { prebackup } from "../../lib/domain/backup.ts";

/** Run tm prebackup. */
export function run(ctx: ActionContext): Promise<void> {
  return prebackup(ctx, false);
}

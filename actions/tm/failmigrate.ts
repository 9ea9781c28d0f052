/**
 * tm failmigrate `src dst DIR vmid dsid [caller_tm]` (docs/contract.md "tm migrate"), after a
 * failed live migration: undo premigrate on dst (remove the links or the copied VM directory
 * unless DIR is shared, detach our disks there, stop allowing two primaries), then hand the
 * call to the VM's other TM drivers (lib/domain/migration.ts).
 */
import type { ActionContext } from "../../lib/context.ts";
import { migrateStep } from "../../lib/domain/migration.ts";

/** Run tm failmigrate. */
export function run(ctx: ActionContext): Promise<void> {
  return migrateStep(ctx, "fail");
}

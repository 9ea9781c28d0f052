/**
 * tm failmigrate `src dst DIR vmid dsid [caller_tm]` (contract §4.9), after a failed live
 * migration: undo premigrate on dst (remove the links or the copied VM directory unless DIR is
 * shared, detach our disks there, stop allowing two primaries), then hand the call to the VM's
 * other TM drivers. See premigrate.ts for the whole protocol.
 */
import type { ActionContext } from "../../lib/context.ts";
import { migrateStep } from "./premigrate.ts";

/** Run tm failmigrate. */
export function run(ctx: ActionContext): Promise<void> {
  return migrateStep(ctx, "fail");
}

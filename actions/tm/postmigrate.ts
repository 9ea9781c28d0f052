/**
 * tm postmigrate `src dst DIR vmid dsid [caller_tm]` (docs/contract.md "tm migrate"), after a
 * successful live migration: detach our disks from src (a device still open there stays
 * attached and is reported), stop allowing two primaries, remove DIR on src unless it is shared
 * with dst, then hand the call to the VM's other TM drivers (lib/domain/migration.ts).
 */
import type { ActionContext } from "../../lib/context.ts";
import { migrateStep } from "../../lib/domain/migration.ts";

/** Run tm postmigrate. */
export function run(ctx: ActionContext): Promise<void> {
  return migrateStep(ctx, "post");
}

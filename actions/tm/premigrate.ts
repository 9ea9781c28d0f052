/**
 * tm premigrate `src dst DIR vmid dsid [caller_tm]` (docs/contract.md "tm migrate"), before a
 * live migration: attach our disks on dst (diskless where there is no replica), allow two
 * primaries, link DIR/disk.i there, copy DIR when it is not shared (as the system TM), then
 * hand the call to the VM's other TM drivers. Any failure undoes everything this call did.
 * The whole protocol is lib/domain/migration.ts.
 */
import type { ActionContext } from "../../lib/context.ts";
import { migrateStep } from "../../lib/domain/migration.ts";

/** Run tm premigrate. */
export function run(ctx: ActionContext): Promise<void> {
  return migrateStep(ctx, "pre");
}

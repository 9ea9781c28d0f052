/**
 * tm postmigrate `src dst DIR vmid dsid [caller_tm]` (contract §4.9), after a successful live
 * migration: detach our disks from src (a device still open there stays attached and is
 * reported), stop allowing two primaries, remove DIR on src unless it is shared with dst, then
 * hand the call to the VM's other TM drivers. See premigrate.ts for the whole protocol.
 */
import type { ActionContext } from "../../lib/context.ts";
import { migrateStep } from "./premigrate.ts";

/** Run tm postmigrate. */
export function run(ctx: ActionContext): Promise<void> {
  return migrateStep(ctx, "post");
}

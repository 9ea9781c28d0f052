/**
 * tm mkswap `size host:DIR/disk.i vmid dsid` (docs/contract.md "tm mkswap and mkimage"): a
 * volatile swap disk of `size` MB on the system datastore's store with `mkswap -L swap` run on
 * the host (lib/domain/volatile.ts: nothing half-made on failure, a repeat reuses the volume).
 */
import type { ActionContext } from "../../lib/context.ts";
import { makeVolatile } from "../../lib/domain/volatile.ts";

/** Run tm mkswap. */
export function run(ctx: ActionContext): Promise<void> {
  return makeVolatile(ctx, "mkswap");
}

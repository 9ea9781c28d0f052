/**
 * tm mkswap `size host:DIR/disk.i vmid dsid` (contract §4.3): a volatile swap disk of `size` MB
 * on the system datastore's store with `mkswap -L swap` run on the host. Same rules as mkimage
 * (nothing half-made on failure, a repeat reuses the volume).
 */
import type { ActionContext } from "../../lib/context.ts";
import { makeVolatile } from "./mkimage.ts";

/** Run tm mkswap. */
export function run(ctx: ActionContext): Promise<void> {
  return makeVolatile(ctx, "mkswap");
}

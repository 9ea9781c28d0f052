/**
 * tm mkimage `size format host:DIR/disk.i vmid dsid` (docs/contract.md "tm mkswap and
 * mkimage"): a volatile disk of `size` MB on the system datastore's store, with the filesystem
 * or qcow2 format asked for, attached and linked at `DIR/disk.i` (lib/domain/volatile.ts).
 */
import type { ActionContext } from "../../lib/context.ts";
import { makeVolatile } from "../../lib/domain/volatile.ts";

/** Run tm mkimage. */
export function run(ctx: ActionContext): Promise<void> {
  return makeVolatile(ctx, "mkimage");
}

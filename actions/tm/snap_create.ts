/**
 * tm snap_create `host:DIR/disk.i snap_id vmid dsid`: snapshot a disk while the VM is
 * powered off or suspended (contract §4.10).
 */
import type { ActionContext } from "../../lib/context.ts";
import { createSnap } from "./snap_common.ts";

/** Run tm snap_create. */
export async function run(ctx: ActionContext): Promise<void> {
  await createSnap(ctx, false);
}

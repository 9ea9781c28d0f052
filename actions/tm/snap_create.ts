/**
 * tm snap_create `host:DIR/disk.i snap_id vmid dsid`: snapshot a disk while the VM is
 * powered off or suspended (docs/contract.md "tm disk snapshots").
 */
import type { ActionContext } from "../../lib/context.ts";
import { createSnap } from "../../lib/domain/disk_snapshot.ts";

/** Run tm snap_create. */
export async function run(ctx: ActionContext): Promise<void> {
  await createSnap(ctx, false);
}

/**
 * tm snap_delete `host:DIR/disk.i snap_id vmid dsid`: delete a disk snapshot (also while the VM
 * runs; a snapshot already gone is fine).
 */
import type { ActionContext } from "../../lib/context.ts";
import { deleteSnap } from "../../lib/domain/disk_snapshot.ts";

/** Run tm snap_delete. */
export async function run(ctx: ActionContext): Promise<void> {
  await deleteSnap(ctx);
}

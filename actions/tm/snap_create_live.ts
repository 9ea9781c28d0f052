/**
 * tm snap_create_live `host:DIR/disk.i snap_id vmid dsid`: snapshot a disk of a running VM,
 * with the guest's filesystems frozen around it when its guest agent answers (thaw guaranteed).
 */
import type { ActionContext } from "../../lib/context.ts";
import { createSnap } from "../../lib/domain/disk_snapshot.ts";

/** Run tm snap_create_live. */
export async function run(ctx: ActionContext): Promise<void> {
  await createSnap(ctx, true);
}

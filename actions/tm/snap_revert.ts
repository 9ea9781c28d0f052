/**
 * tm snap_revert `host:DIR/disk.i snap_id vmid dsid`: roll a disk back to a snapshot (VM powered
 * off; a volume in use is refused with a clear error).
 */
import type { ActionContext } from "../../lib/context.ts";
import { revertSnap } from "../../lib/domain/disk_snapshot.ts";

/** Run tm snap_revert. */
export async function run(ctx: ActionContext): Promise<void> {
  await revertSnap(ctx);
}

/**
 * datastore snap_delete: delete image snapshot IMAGE/TARGET_SNAPSHOT (the profile's snapshot
 * name of the image volume). A snapshot that is already gone is success. One REST call.
 */
import type { ActionContext } from "../../lib/context.ts";
import { loadImageSnapshot } from "../../lib/domain/image.ts";

/** Run datastore snap_delete. */
export async function run(ctx: ActionContext): Promise<void> {
  const { f, snapId, volume } = await loadImageSnapshot(ctx);
  await f.backend.deleteSnapshot(volume, ctx.profile.snapshotName(volume, snapId));
}

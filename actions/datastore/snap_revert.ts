/**
 * datastore snap_revert: make the image content equal to snapshot IMAGE/TARGET_SNAPSHOT and
 * keep every snapshot (backend.rollbackSnapshot; the image is not in use). One REST call on
 * success; when the rollback fails, the snapshot list tells whether the snapshot is missing
 * (clear "not found" error) or the store refused for another reason. A repeat is harmless.
 */
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { loadImageSnapshot } from "../../lib/domain/image.ts";

/** Run datastore snap_revert. */
export async function run(ctx: ActionContext): Promise<void> {
  const { f, imageId, snapId, volume } = await loadImageSnapshot(ctx);
  const snap = ctx.profile.snapshotName(volume, snapId);
  try {
    await f.backend.rollbackSnapshot(volume, snap);
  } catch (e) {
    let exists = true;
    try {
      exists = (await f.backend.listSnapshots(volume)).some((s) => s.name === snap);
    } catch { /* report the rollback's own error */ }
    if (!exists) {
      throw new OneblkError(
        "not_found",
        `snapshot ${snapId} (${snap}) of image ${imageId} does not exist on ${volume}`,
      );
    }
    throw e;
  }
}

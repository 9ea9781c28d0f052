/**
 * datastore snap_flatten: make the image content equal to snapshot IMAGE/TARGET_SNAPSHOT and
 * drop all of the image's snapshots (oned then forgets them all).
 *
 * Crash-safe sequence (each state keeps a complete copy of the wanted content, and running
 * the action again finishes the job):
 *  1. List the volume's snapshots; keep those this profile names (foreign snapshots, e.g. an
 *     operator's own or the store's delayed-delete ones, are left alone).
 *  2. Roll the volume back to the target snapshot (one store operation: the volume changes
 *     from its old content to the snapshot's, and the snapshot itself stays). If the store
 *     refuses because newer snapshots exist (LINSTOR before 1.31, ZFS), the snapshots with
 *     a higher id than the target are deleted (flatten drops them anyway; the target and
 *     the volume are untouched) and the rollback is tried once more.
 *  3. Delete the other snapshots of the profile, the target snapshot LAST.
 * Until step 3 ends the target snapshot exists, so a crash anywhere leaves either the old
 * volume plus the snapshot, or the rolled-back volume plus the snapshot. A re-run rolls back
 * again (same result) and deletes what is left. A re-run that finds the target gone finds
 * every snapshot of the profile gone too (the target is deleted last), so the earlier run had
 * finished: success. Target missing while others remain means the snapshot was removed
 * outside OpenNebula: refused, nothing changed.
 *
 * No temporary copy is made: the snapshot is the complete copy, and it is only removed once
 * the volume holds its content. (addon-linstor deleted the original before copying back and
 * could lose it; this sequence never deletes the volume.)
 */
import type { ActionContext } from "../../lib/context.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { loadImageSnapshot } from "../../lib/domain/image.ts";

/** Run datastore snap_flatten. */
export async function run(ctx: ActionContext): Promise<void> {
  const { f, imageId, snapId, volume } = await loadImageSnapshot(ctx);
  const { backend } = f;
  const profile = ctx.profile;
  const target = profile.snapshotName(volume, snapId);

  const all = await backend.listSnapshots(volume);
  const own = all.filter((s) => profile.snapshotId(volume, s.name) !== null);
  if (!own.some((s) => s.name === target)) {
    if (own.length === 0) {
      ctx.info(`${volume} has no snapshots left: an earlier flatten finished`);
      return;
    }
    throw new OneblkError(
      "not_found",
      `snapshot ${snapId} (${target}) of image ${imageId} does not exist on ${volume}; ` +
        "nothing was changed",
    );
  }

  try {
    await backend.rollbackSnapshot(volume, target);
  } catch (e) {
    // OpenNebula numbers snapshots in creation order.
    const newer = own.filter((s) => (profile.snapshotId(volume, s.name) ?? -1) > snapId);
    if (isKind(e, "in_use", "not_found", "timeout", "unavailable") || newer.length === 0) throw e;
    ctx.info(`rollback refused (${(e as Error).message}); dropping newer snapshots first`);
    for (const s of newer) await backend.deleteSnapshot(volume, s.name);
    await backend.rollbackSnapshot(volume, target);
  }

  for (const s of own) {
    if (s.name !== target) await backend.deleteSnapshot(volume, s.name);
  }
  await backend.deleteSnapshot(volume, target);
}

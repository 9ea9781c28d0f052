/**
 * datastore clone: a new image (IMAGE/ID) from an existing one (IMAGE/CLONING_ID, whose SOURCE
 * oned passes as IMAGE/PATH). stdout: `SOURCE FORMAT`.
 *
 * The store clones server-side (backend.cloneVolume: LINSTOR clone API with snapshot-restore
 * and block-copy fallbacks, StorPool baseOn) into the new image's volume, placed like the
 * target datastore, grown to IMAGE/SIZE when that is larger (never shrunk). A failed clone
 * leaves nothing named like the new image (backend contract). A repeat after success (the
 * volume exists already) succeeds without copying again.
 *
 * The source volume must be in the same store as the target datastore (OpenNebula only clones
 * within one DS_MAD; datastores of one driver pointing at different clusters are not
 * supported here).
 */
import type { ActionContext } from "../../lib/context.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { cloneOutput } from "../../lib/one/output.ts";
import { imageOf, loadPayload } from "../../lib/domain/image.ts";

/** Run datastore clone. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const { ds, backend, placement } = f;
  const profile = ctx.profile;

  const path = image.path.trim();
  let source: string;
  if (path) source = profile.sourceVolume(path);
  else if (image.cloningId >= 0) source = profile.imageVolume(image.cloningId, ds.id);
  else throw new OneblkError("input", "clone needs IMAGE/PATH (the source SOURCE) or CLONING_ID");
  if (!source) throw new OneblkError("input", `IMAGE/PATH '${path}' names no volume`);

  const target = profile.imageVolume(imageId, ds.id);
  if (source === target) {
    throw new OneblkError("input", `image ${imageId} cannot be cloned onto itself (${source})`);
  }
  const sizeMiB = image.size > 0 ? Math.ceil(image.size) : undefined;
  try {
    await backend.cloneVolume(source, target, { placement, sizeMiB });
  } catch (e) {
    if (isKind(e, "exists")) {
      // A repeat: the earlier run finished (a failed clone leaves no target behind).
      ctx.info(`${target} exists already; keeping it`);
      if (sizeMiB !== undefined) await backend.resizeVolume(target, sizeMiB);
    } else if (isKind(e, "not_found")) {
      throw new OneblkError(
        "not_found",
        `source volume ${source} of image ${image.cloningId} does not exist`,
      );
    } else {
      throw e;
    }
  }
  const format = profile.keepImageFormat ? (image.format.trim() || "raw") : "raw";
  ctx.out(cloneOutput(profile.imageSource(imageId, ds.id), format).trimEnd());
}

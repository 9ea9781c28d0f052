/**
 * datastore rm: delete an image's volume with its snapshots. The volume is the one IMAGE/SOURCE
 * names, or the profile's name for the image id when the image has no SOURCE (its cp failed).
 * A volume that is already gone is success (oned retries, `oneimage delete` after a manual
 * cleanup). A volume in use fails clearly and is left as it is.
 */
import type { ActionContext } from "../../lib/context.ts";
import { existingImageVolume, imageOf, loadPayload } from "../../lib/domain/image.ts";

/** Run datastore rm. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const volume = existingImageVolume(ctx, image, imageId, f.ds.id);
  await f.backend.deleteVolume(volume);
}

/**
 * datastore rm: delete an image's volume with its snapshots. The volume is the one IMAGE/SOURCE
 * names, or the profile's name for the image id when the image has no SOURCE (its cp failed).
 * A volume that is already gone is success (oned retries, `oneimage delete` after a manual
 * cleanup). A SOURCE that cannot name a volume of the store (`$(`, `;`, a quote, a line
 * break, `../` …) is an error (the store refuses the name): it was mangled, and the real
 * volume, wherever it is, must not be forgotten silently. A volume in use fails clearly and is
 * left as it is.
 */
import type { ActionContext } from "../../lib/context.ts";
import { existingImageVolume, imageOf, loadPayload } from "../../lib/domain/image.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";

/** Run datastore rm. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const volume = existingImageVolume(ctx, image, imageId, f.ds.id);
  try {
    await f.backend.deleteVolume(volume);
  } catch (e) {
    if (!isKind(e, "input")) throw e;
    throw new OneblkError(
      "input",
      `image ${imageId}: SOURCE ${JSON.stringify(image.source)} names no volume the store ` +
        `can have (${(e as Error).message}); nothing deleted`,
    );
  }
}

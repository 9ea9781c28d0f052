/**
 * datastore stat: size in MB of a new image's PATH, before oned registers it.
 * stdout: one integer (MB, rounded up). qcow2 images report their virtual size; gzip, bzip2
 * and xz images are measured inside unless the datastore sets NO_DECOMPRESS=yes
 * (lib/domain/decompress.ts imageSize).
 */
import type { ActionContext } from "../../lib/context.ts";
import { readDsPayload } from "../../lib/one/args.ts";
import { parseDsAction } from "../../lib/one/views.ts";
import { statOutput } from "../../lib/one/output.ts";
import { imageSize, noDecompress } from "../../lib/domain/decompress.ts";

/** Run datastore stat. */
export async function run(ctx: ActionContext): Promise<void> {
  const { xml } = await readDsPayload(ctx.args, () => ctx.stdin());
  const action = await parseDsAction(xml);
  const image = action.requireImage();
  const bytes = await imageSize(image.path, {
    decompress: !noDecompress(action.datastore.template),
  });
  ctx.out(statOutput(bytes / (1024 * 1024)).trimEnd());
}

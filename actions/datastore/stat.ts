/**
 * datastore stat: size in MB of a new image's PATH, before oned registers it.
 * stdout: one integer (MB, rounded up). qcow2 files report their virtual size.
 */
import type { ActionContext } from "../../lib/context.ts";
import { readDsPayload } from "../../lib/one/args.ts";
import { parseDsAction } from "../../lib/one/views.ts";
import { statOutput } from "../../lib/one/output.ts";
import { imageSize } from "../../lib/domain/image_source.ts";

/** Run datastore stat. */
export async function run(ctx: ActionContext): Promise<void> {
  const { xml } = await readDsPayload(ctx.args, () => ctx.stdin());
  const image = parseDsAction(xml).requireImage();
  const bytes = await imageSize(image.path);
  ctx.out(statOutput(bytes / (1024 * 1024)).trimEnd());
}

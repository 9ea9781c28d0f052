/**
 * datastore export: hand an image to a marketplace. stdout: an `<IMPORT_INFO>` document.
 *
 * The marketplace driver (MARKET_MAD import) downloads IMPORT_SOURCE with downloader.sh after
 * this action has returned, then runs DISPOSE_CMD when DISPOSE is YES. The volume therefore
 * cannot stay attached just for the download (nothing would ever detach it), and a download
 * straight from the device would read whatever the image holds at that later moment. So:
 *  1. On the bridge host (EXPORT_BRIDGE_LIST, else BRIDGE_LIST, round-robin by image id, else
 *     the front-end) the volume is attached read-only (or used as it is when the host has it
 *     already) and copied with `qemu-img convert` into
 *     `<STAGING_DIR>/oneblk-export-<volume>-<app id>` (sparse; a qcow2 image of a profile
 *     that keeps formats stays qcow2 and is compacted). The volume is detached right after.
 *  2. `qemu-img info` (virtual size → SIZE in MB) and `md5sum` run on that file.
 *  3. IMPORT_SOURCE is `ssh://<host>:<file>`, FORMAT raw (or qcow2), DISPOSE YES and
 *     DISPOSE_CMD `ssh <host> rm -f <file>`: the market driver runs it word-split without a
 *     shell, so host and file are checked to be plain words.
 * A failure removes the staging file. A repeat rewrites the same file.
 */
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { importInfoXml } from "../../lib/one/output.ts";
import { mkdirp, qemuImgConvert, qemuImgInfo, unlink } from "../../lib/host/ops.ts";
import { DATA_TIMEOUT_MS, md5OnHost, mibCeil, stagingDir } from "../../lib/domain/image_io.ts";
import { pickBridge } from "../../lib/domain/frontend.ts";
import { existingImageVolume, imageOf, loadPayload } from "../../lib/domain/image.ts";
import { withAttached } from "../../lib/domain/attach.ts";

const WORD = /^[A-Za-z0-9._/:@+-]+$/;

/** Run datastore export. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const { ds, backend } = f;
  const appId = f.id;
  const volume = existingImageVolume(ctx, image, imageId, ds.id);
  const host = await pickBridge(ctx, ds, imageId, ["EXPORT_BRIDGE_LIST", "BRIDGE_LIST"]);
  const format = ctx.profile.keepImageFormat && image.format.trim() === "qcow2" ? "qcow2" : "raw";
  const dir = stagingDir(ds);
  const file = `${dir}/oneblk-export-${volume}-${appId}`;
  if (!WORD.test(file) || !WORD.test(host)) {
    throw new OneblkError(
      "config",
      `export staging path ${host}:${file} must be made of letters, digits and ._/:@+-`,
    );
  }

  let md5: string;
  let sizeMb: number;
  try {
    await mkdirp(ctx.hosts, host, dir);
    await withAttached(
      ctx,
      backend,
      volume,
      host,
      (dev) =>
        qemuImgConvert(ctx.hosts, host, dev, file, format, {
          srcFormat: format,
          timeoutMs: DATA_TIMEOUT_MS,
        }),
      { readOnly: true, reuseExisting: true },
    );
    const [info, sum] = await Promise.all([
      qemuImgInfo(ctx.hosts, host, file, { format, timeoutMs: 120_000 }),
      md5OnHost(ctx, host, file),
    ]);
    md5 = sum;
    sizeMb = mibCeil(info.virtualSizeBytes);
  } catch (e) {
    await unlink(ctx.hosts, host, file).catch(() => {});
    throw e;
  }
  ctx.out(
    importInfoXml({
      importSource: `ssh://${host}:${file}`,
      md5,
      sizeMb,
      format,
      dispose: true,
      disposeCmd: `ssh ${host} rm -f ${file}`,
    }).trimEnd(),
  );
}

/**
 * datastore mkfs: an empty image of IMAGE/SIZE MiB, optionally with a filesystem (IMAGE/FS),
 * or the SOURCE of a disk-saveas target. stdout: `SOURCE` (the whole line is the SOURCE).
 *
 * - FORMAT `save_as` (OpenNebula ≤5.12: FSTYPE `save_as`): print the SOURCE the image will
 *   have and create nothing; TM cpds creates and fills the volume later.
 * - FORMAT raw (or none): create the volume; when FS names a filesystem, attach it on the
 *   bridge host, run mkfs there (`mkfs.<fs> -F`/`mkswap`), detach. The filesystem must be in
 *   datastore.conf's SUPPORTED_FS and gets its FS_OPTS_<fs> (lib/domain/mkfs_conf.ts).
 * - FORMAT qcow2, for profiles that keep image formats (linstor): the volume gets room for the
 *   qcow2 file at full allocation; the qcow2 is built in STAGING_DIR on the bridge host
 *   (`qemu-img create -f qcow2`, or with FS: a raw file formatted there and converted to qcow2)
 *   and written into the device with dd; the staging files are removed. Raw-only profiles
 *   refuse qcow2 clearly (their images are always raw).
 * - ≤5.12 FSTYPE holding a filesystem name (ext4, xfs, swap …) means raw + that filesystem.
 * A failure after the volume was created deletes it.
 */
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { mkfsOutput } from "../../lib/one/output.ts";
import { text } from "../../lib/one/xml.ts";
import type { ImageView } from "../../lib/one/views.ts";
import { ddFileArgv, makeQcow2, mkdirp, mkfs } from "../../lib/host/ops.ts";
import { qcow2MaxFileBytes } from "../../lib/domain/image_source.ts";
import {
  DATA_TIMEOUT_MS,
  fillAttached,
  mibCeil,
  removeStaging,
  stagingDir,
  tmpSuffix,
} from "../../lib/domain/image_io.ts";
import { fillOrDelete } from "../../lib/domain/undo.ts";
import { pickBridge } from "../../lib/domain/frontend.ts";
import { imageOf, loadPayload } from "../../lib/domain/image.ts";
import { mkfsArgsFor } from "../../lib/domain/mkfs_conf.ts";
import { withAttached } from "../../lib/domain/attach.ts";

const MiB = 1024 * 1024;

/** FORMAT and FS of the request, ≤5.12 FSTYPE folded in. */
function mkfsRequest(image: ImageView): { format: string; fs: string } {
  const format = text(image.node, "FORMAT").trim().toLowerCase();
  let fs = image.fs.trim().toLowerCase();
  if (!format) {
    const legacy = text(image.node, "FSTYPE").trim().toLowerCase();
    if (["raw", "qcow2", "save_as", ""].includes(legacy)) return { format: legacy || "raw", fs };
    fs ||= legacy;
    return { format: "raw", fs };
  }
  if (fs === "raw" || fs === "none") fs = "";
  return { format, fs };
}

/** Run datastore mkfs. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const { ds } = f;
  const profile = ctx.profile;
  const source = profile.imageSource(imageId, ds.id);
  const { format, fs } = mkfsRequest(image);

  if (format === "save_as") {
    ctx.out(mkfsOutput(source).trimEnd());
    return;
  }
  if (format !== "raw" && format !== "qcow2") {
    throw new OneblkError("input", `mkfs cannot make FORMAT '${format}' images (raw or qcow2)`);
  }
  if (format === "qcow2" && !profile.keepImageFormat) {
    throw new OneblkError(
      "input",
      `the ${profile.name} driver stores images as raw: use FORMAT raw instead of qcow2`,
    );
  }
  const fsArgs = fs ? await mkfsArgsFor(ctx.remotes, fs) : [];
  const sizeMiB = Math.ceil(image.size);
  if (!(sizeMiB > 0)) throw new OneblkError("input", "mkfs needs IMAGE/SIZE greater than 0");

  const volume = profile.imageVolume(imageId, ds.id);
  const host = await pickBridge(ctx, ds, imageId);
  const { backend, placement } = f;

  if (format === "raw") {
    const created = await backend.createVolume(volume, sizeMiB, { placement });
    if (fs) {
      ctx.info(`making ${fs} on ${volume} on ${host}`);
      await fillAttached(
        ctx,
        backend,
        volume,
        created,
        host,
        (dev) => mkfs(ctx.hosts, host, dev, fs, { timeoutMs: DATA_TIMEOUT_MS, extraArgs: fsArgs }),
      );
    }
    ctx.out(mkfsOutput(source).trimEnd());
    return;
  }

  // qcow2 kept as qcow2: room for every cluster to be written.
  const full = qcow2MaxFileBytes({
    version: 3,
    virtualSize: sizeMiB * MiB,
    backingFileOffset: 0,
    incompatibleFeatures: 0,
    clusterBits: 16,
  });
  const dir = stagingDir(ds);
  const base = `${dir}/oneblk-mkfs-${volume}-${tmpSuffix()}`;
  const qfile = `${base}.qcow2`;
  const rawFile = `${base}.raw`;
  const created = await backend.createVolume(volume, mibCeil(full), { placement });
  await fillOrDelete(ctx, backend, volume, created, async () => {
    try {
      await mkdirp(ctx.hosts, host, dir);
      await makeQcow2(ctx.hosts, host, { qcow2: qfile, raw: rawFile, sizeMiB, fs, fsArgs }, {
        timeoutMs: DATA_TIMEOUT_MS,
      });
      await withAttached(ctx, backend, volume, host, async (dev) => {
        // Not sparse: zero runs inside the qcow2 metadata must reach the device.
        await ctx.hosts.run(host, ddFileArgv(qfile, dev), { timeoutMs: DATA_TIMEOUT_MS });
      });
    } finally {
      for (const p of [qfile, rawFile]) await removeStaging(ctx, host, p);
    }
  });
  ctx.out(mkfsOutput(source).trimEnd());
}

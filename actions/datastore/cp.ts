/**
 * datastore cp: register an image from IMAGE/PATH (a local file on the front-end or an
 * http(s) URL, e.g. a marketplace app) into a new volume. stdout: `SOURCE FORMAT` (one line).
 *
 * 1. PATH is checked: local files against RESTRICTED_DIRS / SAFE_DIRS
 *    (lib/domain/image_source.ts; http(s) URLs are not subject to them), `..` refused. MD5 /
 *    SHA1 of the image template are verified on the bytes as they come from the source.
 * 2. A gzip, bzip2 or xz file is decompressed on the way, as OpenNebula's downloader.sh does
 *    (lib/domain/decompress.ts: the front-end's gzip/bzip2/xz as a stream between the source
 *    and the bridge, nothing decompressed written to the front-end's disk), unless the
 *    datastore sets NO_DECOMPRESS=yes. The checksums are those of the compressed bytes.
 * 3. The format is IMAGE/FORMAT when the user gave one (a declared raw image is never probed:
 *    a raw disk may start with any bytes), else it is detected from the magic number of the
 *    (decompressed) image. Still-compressed files (zstd, NO_DECOMPRESS) and qcow2 images with
 *    a backing file or an external data file are refused before anything is created.
 * 4. Direct path (raw images; qcow2 when the profile keeps image formats): the volume is
 *    created with max(IMAGE/SIZE, image size) MiB (a kept qcow2 gets room to grow to its full
 *    virtual size), attached on the bridge host, and the bytes stream from the front-end into
 *    `dd` there. A kept qcow2 is checked with `qemu-img info` in place. A decompressed raw
 *    image has no size before it is read: IMAGE/SIZE (from datastore stat) sizes it, and
 *    bytes beyond it fail the copy.
 * 5. qcow2 for the raw-only profiles: the bytes go into a temporary volume
 *    (profile.importStageVolume, sized for the qcow2 at full allocation), `qemu-img info` on its
 *    device gives the virtual size (and refuses backing files), then the volume is created,
 *    attached, and `qemu-img convert -n -O raw` copies device to device on the bridge. The
 *    temporary volume is always deleted.
 * 6. Convert path (every other format): the bytes are staged into STAGING_DIR (default
 *    /var/tmp) on the bridge host, `qemu-img info` gives the virtual size (and refuses backing
 *    files), then the volume is created, attached, and `qemu-img convert -n -O raw` writes
 *    into its device. The staging file is always removed.
 * 7. The temporary attachment is always released (when that fails, it is marked for
 *    `oneblk gc`). The volume (and the temporary volume of step 5) is created marked unfinished
 *    by `datastore cp image <id>`, and unmarked as the last step; if anything fails after it was
 *    created, it is deleted (when that fails too, its mark lets `oneblk gc` find it: oned drops
 *    an image with no SOURCE without calling DS rm).
 *
 * Bridge host: lib/domain/frontend.ts pickBridge (BRIDGE_LIST by image id, unusable hosts
 * skipped, else the front-end).
 */
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { cpOutput } from "../../lib/one/output.ts";
import {
  checkLocalImagePath,
  classifyPath,
  detectImageFormat,
  type DigestName,
  type ImagePath,
  type OpenedImage,
  openImage,
  pathPolicy,
  QCOW2_EXTERNAL_DATA_FILE,
  type Qcow2Header,
  qcow2Header,
  qcow2MaxFileBytes,
} from "../../lib/domain/image_source.ts";
import { decompressImage, noDecompress, unpackable } from "../../lib/domain/decompress.ts";
import { ddWriteArgv, mkdirp, qemuImgConvert, qemuImgInfo } from "../../lib/host/ops.ts";
import type { ImageView } from "../../lib/one/views.ts";
import type { Backend } from "../../lib/backend/types.ts";
import type { Placement } from "../../lib/backend/index.ts";
import {
  DATA_TIMEOUT_MS,
  fillAttached,
  mibCeil,
  removeStaging,
  stagingDir,
  tmpSuffix,
} from "../../lib/domain/image_io.ts";
import { fillOrDelete, ownerOf } from "../../lib/domain/undo.ts";
import { pickBridge } from "../../lib/domain/frontend.ts";
import { imageOf, loadPayload } from "../../lib/domain/image.ts";
import { withAttached } from "../../lib/domain/attach.ts";

/** Image formats cp accepts (qemu-img names). */
const IMPORT_FORMATS = ["raw", "qcow2", "qcow", "vmdk", "vhdx", "vpc", "vdi", "qed"];

const MiB = 1024 * 1024;

function expectedDigests(image: ImageView): Partial<Record<DigestName, string>> {
  const out: Partial<Record<DigestName, string>> = {};
  const md5 = image.get("MD5").toLowerCase();
  const sha1 = image.get("SHA1").toLowerCase();
  if (md5) {
    if (!/^[0-9a-f]{32}$/.test(md5)) throw new OneblkError("input", `MD5 '${md5}' is not an MD5`);
    out.md5 = md5;
  }
  if (sha1) {
    if (!/^[0-9a-f]{40}$/.test(sha1)) {
      throw new OneblkError("input", `SHA1 '${sha1}' is not a SHA-1`);
    }
    out.sha1 = sha1;
  }
  return out;
}

/** The format the user declared (IMAGE/FORMAT), "" when none; refuses unknown names. */
function declaredFormat(image: ImageView): string {
  const f = image.format.trim().toLowerCase();
  if (!f) return "";
  if (!IMPORT_FORMATS.includes(f)) {
    throw new OneblkError(
      "input",
      `unknown image FORMAT '${image.format}' (known: ${IMPORT_FORMATS.join(", ")})`,
    );
  }
  return f;
}

/** Stream the opened image into argv's stdin on `host`; the source's failure wins. */
async function streamInto(
  ctx: ActionContext,
  img: OpenedImage,
  host: string,
  argv: string[],
): Promise<void> {
  try {
    await ctx.hosts.run(host, argv, {
      stdin: img.stream,
      timeoutMs: DATA_TIMEOUT_MS,
    });
  } catch (e) {
    const r = img.result();
    if (r.error) throw r.error;
    throw e;
  }
  const r = img.result();
  if (r.error) throw r.error;
  if (!r.complete) {
    throw new OneblkError(
      "host",
      `${argv[0]} on ${host} stopped after ${r.bytes} bytes of ${img.label}`,
    );
  }
}

function verifyDigests(img: OpenedImage, want: Partial<Record<DigestName, string>>): void {
  const r = img.result();
  for (const d of ["md5", "sha1"] as const) {
    if (want[d] && r[d] !== want[d]) {
      throw new OneblkError(
        "input",
        `${d.toUpperCase()} of ${img.label} is ${r[d]}, the image template says ${want[d]}`,
      );
    }
  }
}

/** What the copy steps share. */
interface CpJob {
  ctx: ActionContext;
  backend: Backend;
  placement: Placement;
  img: OpenedImage;
  volume: string;
  /** Bridge host doing the host-side work. */
  host: string;
  digests: Partial<Record<DigestName, string>>;
  /** Temporary volume for a qcow2 that is converted (profile.importStageVolume). */
  stage: string;
  /** Owner of the new volumes' unfinished marks ("datastore cp image 12"). */
  owner: string;
}

/** Create the volume and stream the bytes straight into its device. */
async function direct(job: CpJob, sizeMiB: number, qcow2: boolean): Promise<void> {
  const { ctx, backend, volume, host, img } = job;
  const created = await backend.createVolume(volume, sizeMiB, {
    placement: job.placement,
    pending: job.owner,
  });
  await fillOrDelete(ctx, backend, volume, created, async () => {
    await withAttached(ctx, backend, volume, host, async (dev) => {
      // The volume bounds what may be written: a source that grows fails instead.
      img.limit(sizeMiB * MiB);
      // Not sparse: a new volume on a thick pool may hold old data, so zeros are written too.
      await streamInto(ctx, img, host, ddWriteArgv(dev, { sparse: false }));
      if (qcow2) {
        const info = await qemuImgInfo(ctx.hosts, host, dev, {
          format: "qcow2",
          timeoutMs: 120_000,
        });
        if (info.backingFile) {
          throw new OneblkError("input", `${img.label} is a qcow2 image with a backing file`);
        }
      }
    }, { owner: job.owner });
    verifyDigests(img, job.digests);
  }, job.owner);
}

/**
 * The staged image `src` (a file or a device on the bridge) of `format`: `qemu-img info` gives
 * its virtual size (a backing file is refused), then the volume is created and filled with
 * `qemu-img convert -n -O raw` (deleted again when that fails).
 */
async function convertStaged(
  job: CpJob,
  src: string,
  format: string,
  sizeMiB: number,
): Promise<void> {
  const { ctx, backend, volume, host, img } = job;
  const info = await qemuImgInfo(ctx.hosts, host, src, { format, timeoutMs: 300_000 });
  if (info.backingFile) {
    throw new OneblkError(
      "input",
      `${img.label} is a ${format} image with a backing file; flatten it first`,
    );
  }
  const need = Math.max(sizeMiB, mibCeil(info.virtualSizeBytes));
  const created = await backend.createVolume(volume, need, {
    placement: job.placement,
    pending: job.owner,
  });
  await fillAttached(
    ctx,
    backend,
    volume,
    created,
    host,
    (dev) =>
      qemuImgConvert(ctx.hosts, host, src, dev, "raw", {
        srcFormat: format,
        targetExists: true,
        timeoutMs: DATA_TIMEOUT_MS,
      }),
    job.owner,
  );
}

/**
 * qcow2 → raw through a temporary volume: fill it with the qcow2 bytes, read the virtual size,
 * create the volume, convert device to device on the bridge; the temporary is always deleted.
 */
async function convertQcow2(job: CpJob, h: Qcow2Header, sizeMiB: number): Promise<void> {
  const { ctx, backend, host, img, stage } = job;
  // A temporary left by a cp that died is this image's own: start afresh.
  await backend.deleteVolume(stage, { immediate: true });
  const stageMiB = mibCeil(qcow2MaxFileBytes(h));
  // Marked from its creation, by an owner that is not the image's (gc removes it whatever
  // becomes of the image): when its delete below fails, `oneblk gc` finds it.
  const owner = `${job.owner} staging`;
  await backend.createVolume(stage, stageMiB, { placement: job.placement, pending: owner });
  try {
    await withAttached(ctx, backend, stage, host, async (sdev) => {
      img.limit(stageMiB * MiB);
      // Not sparse: the qcow2 metadata has zero runs that must reach the device.
      await streamInto(ctx, img, host, ddWriteArgv(sdev, { sparse: false }));
      verifyDigests(img, job.digests);
      await convertStaged(job, sdev, "qcow2", sizeMiB);
    }, { owner });
  } finally {
    try {
      await backend.deleteVolume(stage, { immediate: true });
    } catch (e) {
      ctx.info(
        `could not delete the temporary volume ${stage} (marked for oneblk gc): ${
          (e as Error).message
        }`,
      );
    }
  }
}

/** Stage on the bridge, learn the virtual size, create, convert into the device. */
async function convert(job: CpJob, format: string, sizeMiB: number, dir: string): Promise<void> {
  const { ctx, volume, host, img } = job;
  const staged = `${dir}/oneblk-cp-${volume}-${tmpSuffix()}`;
  try {
    await mkdirp(ctx.hosts, host, dir);
    await streamInto(ctx, img, host, ddWriteArgv(staged, { sparse: true, fsync: false }));
    verifyDigests(img, job.digests);
    await convertStaged(job, staged, format, sizeMiB);
  } finally {
    await removeStaging(ctx, host, staged);
  }
}

/** Run datastore cp. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const { ds } = f;
  const profile = ctx.profile;

  let src: ImagePath = classifyPath(image.path);
  const declared = declaredFormat(image);
  const digests = expectedDigests(image);
  if (src.kind === "file") {
    const policy = pathPolicy(
      ds.template.get("RESTRICTED_DIRS"),
      ds.template.get("SAFE_DIRS"),
      ctx.env,
    );
    src = { kind: "file", path: await checkLocalImagePath(src.path, policy) };
  }
  const sizeMiB = Math.max(0, Math.ceil(image.size));
  const volume = profile.imageVolume(imageId, ds.id);
  const source = profile.imageSource(imageId, ds.id);
  const host = await pickBridge(ctx, ds, imageId);
  const dir = stagingDir(ds);

  let img = await openImage(src, { digests: Object.keys(digests) as DigestName[] });
  try {
    const packed = unpackable(detectImageFormat(img.head).compressed);
    const keepPacked = packed !== null && noDecompress(ds.template);
    if (packed && !keepPacked) {
      img = await decompressImage(img, packed);
      ctx.info(`${img.label} is ${packed}-compressed: decompressing it on the way`);
    }
    const job: CpJob = {
      ctx,
      backend: f.backend,
      placement: f.placement,
      img,
      volume,
      host,
      digests,
      stage: profile.importStageVolume(imageId),
      owner: ownerOf(ctx, "image", imageId),
    };
    const detected = detectImageFormat(img.head);
    if (!declared && detected.compressed) {
      throw new OneblkError(
        "input",
        `${img.label} is ${detected.compressed}-compressed` +
          (keepPacked ? " and the datastore sets NO_DECOMPRESS" : "") +
          "; decompress it and register the image",
      );
    }
    const format = declared || detected.format;
    if (format === "qcow2") {
      const h = qcow2Header(img.head);
      if (!h) throw new OneblkError("input", `${img.label} is declared qcow2 but is not qcow2`);
      if (h.backingFileOffset !== 0) {
        throw new OneblkError(
          "input",
          `${img.label} is a qcow2 image with a backing file; flatten it first (qemu-img convert)`,
        );
      }
      if (h.incompatibleFeatures & QCOW2_EXTERNAL_DATA_FILE) {
        throw new OneblkError("input", `${img.label} is a qcow2 image with an external data file`);
      }
      if (profile.keepImageFormat) {
        // Room for the file as it is and for every cluster written later.
        const need = Math.max(sizeMiB, mibCeil(img.sizeBytes ?? 0), mibCeil(qcow2MaxFileBytes(h)));
        ctx.info(`copying ${img.label} (qcow2, kept) into ${volume} on ${host}`);
        await direct(job, need, true);
        ctx.out(cpOutput(source, "qcow2").trimEnd());
        return;
      }
      ctx.info(`copying ${img.label} (qcow2) into ${volume} on ${host}, converting to raw`);
      await convertQcow2(job, h, sizeMiB);
    } else if (format === "raw") {
      if (img.sizeBytes === undefined && sizeMiB === 0) {
        throw new OneblkError(
          "input",
          `cannot size a volume for ${img.label}: ` +
            (img.compression
              ? `its ${img.compression}-compressed size says nothing and IMAGE/SIZE is 0`
              : "no Content-Length and no IMAGE/SIZE"),
        );
      }
      const need = Math.max(sizeMiB, mibCeil(img.sizeBytes ?? 0));
      ctx.info(`copying ${img.label} (raw) into ${volume} on ${host}`);
      await direct(job, need, false);
    } else {
      ctx.info(`copying ${img.label} (${format}) into ${volume} on ${host}, converting to raw`);
      await convert(job, format, sizeMiB, dir);
    }
    ctx.out(cpOutput(source, "raw").trimEnd());
  } finally {
    await img.close();
  }
}

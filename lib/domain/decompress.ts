/**
 * Compressed images (datastore cp and stat), unpacked the way OpenNebula's `downloader.sh` does:
 * gzip, bzip2 and xz, recognised by their magic bytes, are decompressed while the image streams;
 * anything else (zstd too) is not. Checksums stay on what OpenNebula checks: the bytes as they
 * come from the source, i.e. the compressed ones.
 *
 * The decompressor is the front-end's own `gzip -dc` / `bzip2 -dc` / `xz -dc` (the tools
 * `downloader.sh` runs), a local process between the source stream and the consumer, so
 * nothing decompressed is written to the front-end's disk. Deno's built-in DecompressionStream
 * is not used for gzip: it refuses multi-member files (pigz, bgzip, concatenated .gz), which
 * gunzip and thus OpenNebula accept, and reports corruption as "failed to write whole buffer".
 * The process is bounded by a deadline and stopped with the action (lib/host/process.ts).
 *
 * decompressImage wraps an opened image: the new head is the decompressed head (what the
 * format is detected from), the stream yields decompressed bytes, `limit` bounds them, and
 * `result()` reports the decompressed byte count, the digests of the compressed bytes, and the
 * first failure of the source or the decompressor (a corrupt or truncated archive).
 */
import { OneblkError } from "../errors.ts";
import { runProcess, streamProcess } from "../host/process.ts";
import { reusingReader } from "../host/copy.ts";
import type { Streaming } from "../host/types.ts";
import {
  classifyPath,
  detectImageFormat,
  type OpenedImage,
  openImage,
  qcow2VirtualSize,
  readHead,
  type StreamResult,
} from "./image_source.ts";

/** The compressions that are unpacked. */
export type Compression = "gzip" | "bzip2" | "xz";

const TOOLS: Readonly<Record<Compression, readonly string[]>> = {
  gzip: ["gzip", "-dc"],
  bzip2: ["bzip2", "-dc"],
  xz: ["xz", "-dc"],
};

/** Deadline of one decompression (as long as the longest image copy). */
const DECOMPRESS_TIMEOUT_MS = 6 * 3600_000;

/**
 * The datastore's NO_DECOMPRESS: "yes" (any case) keeps compressed images as they are, as
 * OpenNebula's `set_downloader_args` reads it.
 */
export function noDecompress(dsTemplate: { get(name: string): string }): boolean {
  return dsTemplate.get("NO_DECOMPRESS").trim().toLowerCase() === "yes";
}

/** The compression a `detectImageFormat(...).compressed` value names, if it is unpacked. */
export function unpackable(compressed: string | undefined): Compression | null {
  return compressed === "gzip" || compressed === "bzip2" || compressed === "xz" ? compressed : null;
}

/** The one-line reason of a failed decompressor: its stderr, without the runner's preamble. */
function corrupt(label: string, kind: Compression, e: unknown): OneblkError {
  const msg = (e as Error).message ?? String(e);
  if (e instanceof OneblkError && e.kind === "timeout") return e;
  const why = msg.replace(/^.*? failed \((?:exit \d+|killed by \w+)\):?\s*/, "") || msg;
  return new OneblkError("input", `cannot decompress ${label} (${kind}): ${why}`);
}

/**
 * Decompress `img` (already opened, its head showing `kind`) as it streams. On failure before
 * the decompressed head could be read (not an archive, corrupt header), `img` is closed and the
 * error thrown. The result must be closed (it closes `img`).
 */
export async function decompressImage(img: OpenedImage, kind: Compression): Promise<OpenedImage> {
  const label = img.label;
  let proc: Streaming;
  try {
    proc = streamProcess(
      { host: "front-end", argv: [...TOOLS[kind]], label: kind },
      {
        stdin: img.stream,
        timeoutMs: DECOMPRESS_TIMEOUT_MS,
      },
    );
  } catch (e) {
    await img.close();
    throw e;
  }
  // Settles once the decompressor exited: null when it succeeded, else why.
  const exit: Promise<OneblkError | null> = proc.done.then(
    () => null,
    (e) => corrupt(label, kind, e),
  );
  const reader = reusingReader(proc.stdout);
  let ended = false;
  let bytes = 0;
  let maxBytes: number | undefined;
  let error: OneblkError | undefined;
  let complete = false;

  const fail = (e: OneblkError): OneblkError => {
    error ??= img.result().error ?? e;
    return error;
  };
  const release = async (): Promise<void> => {
    await reader.cancel().catch(() => {});
    await img.close();
  };
  /** After the decompressor's end of output: its exit and the source's completeness decide. */
  const finish = async (): Promise<void> => {
    const why = await exit;
    const src = img.result();
    if (src.error) throw fail(src.error);
    if (why) throw fail(why);
    if (!src.complete) {
      throw fail(
        new OneblkError("input", `${kind} stopped after ${src.bytes} bytes of ${label}`),
      );
    }
    complete = true;
  };

  // The decompressed head (queued for the stream).
  let pending: Uint8Array[], head: Uint8Array;
  try {
    ({ pending, head, ended } = await readHead(() => reader.read()));
    if (ended) await finish();
  } catch (e) {
    await release();
    throw e instanceof OneblkError ? e : corrupt(label, kind, e);
  }

  const stream = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        let chunk = pending.shift();
        while (chunk === undefined) {
          if (ended) {
            if (!complete) await finish();
            ctrl.close();
            return;
          }
          const r = await reader.read();
          if (r.done) ended = true;
          else if (r.value.length) chunk = r.value;
        }
        bytes += chunk.length;
        if (maxBytes !== undefined && bytes > maxBytes) {
          throw fail(
            new OneblkError(
              "input",
              `${label} decompresses to more than the ${maxBytes} bytes its volume was sized for`,
            ),
          );
        }
        ctrl.enqueue(chunk);
      } catch (e) {
        const err = e instanceof OneblkError ? fail(e) : fail(corrupt(label, kind, e));
        await release();
        ctrl.error(err);
      }
    },
    async cancel() {
      await release();
    },
  }, { highWaterMark: 0 });

  return {
    label,
    sizeBytes: undefined,
    head,
    stream,
    compression: kind,
    result(): StreamResult {
      const src = img.result();
      return {
        bytes,
        complete,
        error: error ?? src.error,
        md5: src.md5,
        sha1: src.sha1,
      };
    },
    limit(n) {
      maxBytes = n;
    },
    close: release,
  };
}

/** Uncompressed size of a local xz file from its index (`xz --robot --list`), or null. */
async function xzListedSize(path: string): Promise<number | null> {
  try {
    const r = await runProcess(
      { host: "front-end", argv: ["xz", "--robot", "--list", "--", path], label: "xz --list" },
      { timeoutMs: 120_000 },
    );
    const totals = r.stdout.split("\n").find((l) => l.startsWith("totals\t"));
    const n = Number(totals?.split("\t")[4]);
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Size in bytes a guest will see for an image PATH (datastore stat), as OpenNebula's `fs_size`
 * answers it: a qcow2 image's virtual size, else the byte count. A gzip, bzip2 or xz image
 * (unless `decompress` is false: NO_DECOMPRESS) is measured inside: a qcow2 inside by its
 * header; a raw image in a local file by its xz index, else by decompressing it once and
 * counting. A compressed raw image at a URL has no size short of downloading it: refused, as
 * OpenNebula refuses it ("Unsupported remote image format"). A URL of an uncompressed raw image
 * needs a Content-Length.
 */
export async function imageSize(
  path: string,
  opts: { decompress?: boolean } = {},
): Promise<number> {
  const where = classifyPath(path);
  const img = await openImage(where);
  try {
    const kind = opts.decompress === false
      ? null
      : unpackable(detectImageFormat(img.head).compressed);
    if (!kind) {
      const size = qcow2VirtualSize(img.head) ?? img.sizeBytes;
      if (size === undefined) {
        throw new OneblkError("input", `${img.label} does not report its size (no Content-Length)`);
      }
      return size;
    }
    const d = await decompressImage(img, kind);
    const inner = qcow2VirtualSize(d.head);
    if (inner !== null) {
      await d.close();
      return inner;
    }
    if (where.kind === "http") {
      await d.close();
      throw new OneblkError(
        "input",
        `cannot size the ${kind}-compressed raw image ${img.label} without downloading it; ` +
          `decompress it, or import it as qcow2`,
      );
    }
    if (kind === "xz") {
      const listed = await xzListedSize(where.path);
      if (listed !== null) {
        await d.close();
        return listed;
      }
    }
    const reader = d.stream.getReader();
    try {
      while (!(await reader.read()).done) { /* counting */ }
    } finally {
      await d.close();
    }
    const res = d.result();
    if (res.error) throw res.error;
    return res.bytes;
  } finally {
    await img.close();
  }
}

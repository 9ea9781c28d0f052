/**
 * Where an image comes from (IMAGE/PATH): a local file on the front-end or an http(s) URL.
 * Used by datastore stat (size) and cp (the bytes). Other schemes are refused clearly.
 *
 * For cp this module also:
 *  - enforces RESTRICTED_DIRS / SAFE_DIRS on local paths the way OpenNebula's libfs does
 *    (`set_up_datastore` + `check_restricted`): the canonical path (symlinks resolved) is
 *    allowed when it lies under a SAFE_DIRS entry, else refused when it lies under a restricted
 *    one, else allowed. The restricted list always holds OpenNebula's own directories
 *    (`/var/lib/one/` or `$ONE_LOCATION/var/`, `/etc/one/` or `$ONE_LOCATION/etc/`, `$HOME/`)
 *    plus the datastore's RESTRICTED_DIRS. Unlike libfs (a regex prefix on the text), "under"
 *    means the directory itself or a path below it (`/var/tmp` does not cover `/var/tmpx`).
 *    Paths with `.`/`..` segments are refused before anything is resolved. http(s) URLs are not
 *    subject to these rules (they name no local file), as in OpenNebula;
 *  - opens the image bytes as a stream (file, or GET with a deadline for the response headers
 *    and a stall deadline between body chunks), after reading the head to detect the format,
 *    and computes the byte count and MD5/SHA1 digests while the bytes flow. A source that fails
 *    or ends early is recorded (`result().error`), because a consumer such as `dd` only sees
 *    end-of-file;
 *  - detects formats from magic numbers (qcow2, vmdk, vhdx, vpc, vdi, qed, and the compressed
 *    files gzip, bzip2, xz, zstd; decompress.ts unpacks the first three) and reads the qcow2
 *    header (virtual size, backing file, external data file).
 */
import type { Hash } from "node:crypto";
import { normalize } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { after, sleep } from "../timer.ts";
import { reusingReader } from "../host/copy.ts";

/** A classified image PATH. */
export type ImagePath =
  | { kind: "file"; path: string }
  | { kind: "http"; url: string };

/** Classify IMAGE/PATH; throws a one-line input error for anything we cannot read. */
export function classifyPath(path: string): ImagePath {
  const p = path.trim();
  if (!p) throw new OneblkError("input", "image has no PATH");
  if (/^https?:\/\//i.test(p)) return { kind: "http", url: p };
  if (p.startsWith("/")) return { kind: "file", path: p };
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(p)?.[1];
  if (scheme) throw new OneblkError("input", `image PATH scheme '${scheme}:' is not supported`);
  throw new OneblkError("input", `image PATH must be absolute or an http(s) URL: ${p}`);
}

const QCOW2_MAGIC = [0x51, 0x46, 0x49, 0xfb];

/** Virtual size in bytes of a qcow2 header, or null when the bytes are not qcow2. */
export function qcow2VirtualSize(head: Uint8Array): number | null {
  if (head.length < 32 || !QCOW2_MAGIC.every((b, i) => head[i] === b)) return null;
  return Number(new DataView(head.buffer, head.byteOffset, 32).getBigUint64(24));
}

/** The qcow2 header fields that matter when importing an image. */
export interface Qcow2Header {
  /** 1 (old qcow), 2 or 3. */
  version: number;
  virtualSize: number;
  /** Offset of the backing file name in the file, 0 when the image has none. */
  backingFileOffset: number;
  /** Incompatible feature bits (version 3), 0 otherwise. */
  incompatibleFeatures: number;
  /** log2 of the cluster size (16 = 64 KiB, the default). */
  clusterBits: number;
}

/** Parse a qcow2 header (at least 32 bytes; 80 for version 3 features), or null. */
export function qcow2Header(head: Uint8Array): Qcow2Header | null {
  if (head.length < 32 || !QCOW2_MAGIC.every((b, i) => head[i] === b)) return null;
  const dv = new DataView(head.buffer, head.byteOffset, head.length);
  const version = dv.getUint32(4);
  const features = version >= 3 && head.length >= 80 ? Number(dv.getBigUint64(72)) : 0;
  return {
    version,
    virtualSize: Number(dv.getBigUint64(24)),
    backingFileOffset: Number(dv.getBigUint64(8)),
    incompatibleFeatures: features,
    clusterBits: dv.getUint32(20),
  };
}

/** Bit of the qcow2 incompatible features: the guest data lives in an external file. */
export const QCOW2_EXTERNAL_DATA_FILE = 1 << 2;

/**
 * Bytes a qcow2 image of `h` can grow to when every cluster is written: the virtual size plus
 * L2 tables (8 bytes per cluster), refcount blocks (2 bytes per cluster, counted twice for
 * their own table), the L1 table and header, and 1 MiB of slack.
 */
export function qcow2MaxFileBytes(h: Qcow2Header): number {
  const bits = h.clusterBits >= 9 && h.clusterBits <= 21 ? h.clusterBits : 16;
  const cluster = 2 ** bits;
  const clusters = Math.ceil(h.virtualSize / cluster);
  return h.virtualSize + clusters * 12 + 16 * cluster + 1024 * 1024;
}

/** What the first bytes of an image say. */
export interface DetectedFormat {
  /** qemu-img format name: raw, qcow2, qcow, vmdk, vhdx, vpc, vdi, qed. */
  format: string;
  /** Set for compressed files (gzip, bzip2, xz, zstd): not an image format at all. */
  compressed?: string;
}

function startsWith(head: Uint8Array, bytes: readonly number[], at = 0): boolean {
  return head.length >= at + bytes.length && bytes.every((b, i) => head[at + i] === b);
}

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

/** Number of head bytes detectImageFormat and qcow2Header want to see. */
export const HEAD_BYTES = 4096;

/**
 * The image format from its first bytes (HEAD_BYTES). Anything not recognised is raw (an ISO
 * or a disk image with a partition table are raw).
 */
export function detectImageFormat(head: Uint8Array): DetectedFormat {
  if (startsWith(head, QCOW2_MAGIC)) {
    const v = head.length >= 8 ? new DataView(head.buffer, head.byteOffset, 8).getUint32(4) : 2;
    return { format: v === 1 ? "qcow" : "qcow2" };
  }
  if (startsWith(head, ascii("KDMV")) || startsWith(head, ascii("# Disk DescriptorFile"))) {
    return { format: "vmdk" };
  }
  if (startsWith(head, ascii("vhdxfile"))) return { format: "vhdx" };
  if (startsWith(head, ascii("conectix"))) return { format: "vpc" };
  if (startsWith(head, [0x7f, 0x10, 0xda, 0xbe], 0x40)) return { format: "vdi" };
  if (startsWith(head, [0x51, 0x45, 0x44, 0x00])) return { format: "qed" };
  if (startsWith(head, [0x1f, 0x8b])) return { format: "raw", compressed: "gzip" };
  if (startsWith(head, ascii("BZh"))) return { format: "raw", compressed: "bzip2" };
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) {
    return { format: "raw", compressed: "xz" };
  }
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return { format: "raw", compressed: "zstd" };
  return { format: "raw" };
}

/** Open a local image file for reading; input error when it is missing or not a regular file. */
async function openImageFile(path: string): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new OneblkError("input", `cannot read image ${path}: ${why}`);
  }
  let info: Deno.FileInfo;
  try {
    info = await file.stat();
  } catch (e) {
    file.close();
    throw new OneblkError("input", `cannot read image ${path}: ${(e as Error).message}`);
  }
  if (!info.isFile) {
    file.close();
    throw new OneblkError("input", `image ${path} is not a regular file`);
  }
  return { file, info };
}

// ---------------------------------------------------------------------------------------------
// RESTRICTED_DIRS / SAFE_DIRS

/** Which local directories images may be read from. */
export interface PathPolicy {
  /** Directories (absolute, normalised, no trailing slash; "/" = everything) that are refused. */
  restricted: string[];
  /** Directories that are allowed even when under a restricted one. */
  safe: string[];
}

function dirList(v: string): string[] {
  return v.split(/\s+/).filter((d) => d.startsWith("/")).map(normDir);
}

function normDir(d: string): string {
  const n = normalize(d);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/**
 * The policy of a datastore: OpenNebula's own directories (VAR and ETC location, `$HOME`)
 * plus RESTRICTED_DIRS are restricted; SAFE_DIRS are allowed first. Entries that are not
 * absolute paths are ignored.
 */
export function pathPolicy(
  restrictedDirs: string,
  safeDirs: string,
  env: Record<string, string | undefined> = {},
): PathPolicy {
  const loc = env.ONE_LOCATION?.trim();
  const builtIn = loc ? [`${loc}/var/`, `${loc}/etc/`] : ["/var/lib/one/", "/etc/one/"];
  if (env.HOME?.trim()) builtIn.push(`${env.HOME.trim()}/`);
  return {
    restricted: dirList([...builtIn, restrictedDirs].join(" ")),
    safe: dirList(safeDirs),
  };
}

function under(path: string, dir: string): boolean {
  return dir === "/" || path === dir || path.startsWith(dir + "/");
}

/**
 * Check a local image path against the policy and return its canonical form (symlinks
 * resolved), which is what must then be opened. Throws OneblkError("input") for relative
 * paths, `.`/`..` segments, missing files and restricted locations.
 */
export async function checkLocalImagePath(path: string, policy: PathPolicy): Promise<string> {
  if (!path.startsWith("/")) {
    throw new OneblkError("input", `image PATH must be absolute: ${JSON.stringify(path)}`);
  }
  if (path.includes("\0")) throw new OneblkError("input", "image PATH contains a NUL byte");
  if (path.split("/").some((s) => s === ".." || s === ".")) {
    throw new OneblkError("input", `image PATH must not contain '.' or '..': ${path}`);
  }
  let canonical: string;
  try {
    canonical = await Deno.realPath(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new OneblkError("input", `cannot read image ${path}: ${why}`);
  }
  if (policy.safe.some((d) => under(canonical, d))) return canonical;
  const hit = policy.restricted.find((d) => under(canonical, d));
  if (hit) {
    const shown = canonical === path ? path : `${path} (${canonical})`;
    throw new OneblkError(
      "input",
      `image path ${shown} is in restricted directory ${hit}; ` +
        `copy it elsewhere or list its directory in the datastore's SAFE_DIRS`,
    );
  }
  return canonical;
}

// ---------------------------------------------------------------------------------------------
// streaming the bytes

/** Digests cp may verify. */
export type DigestName = "md5" | "sha1";

/**
 * Read chunks until HEAD_BYTES arrived or the stream ended: the chunks (to be delivered again,
 * in order), their first HEAD_BYTES bytes, and whether the end was reached.
 */
export async function readHead(
  read: () => Promise<ReadableStreamReadResult<Uint8Array>>,
): Promise<{ pending: Uint8Array[]; head: Uint8Array; ended: boolean }> {
  const pending: Uint8Array[] = [];
  let buffered = 0;
  let ended = false;
  while (buffered < HEAD_BYTES) {
    const r = await read();
    if (r.done) {
      ended = true;
      break;
    }
    if (r.value.length === 0) continue;
    pending.push(r.value.slice()); // (a copy: the reader may read the next piece into the same buffer)
    buffered += r.value.length;
  }
  const head = new Uint8Array(Math.min(buffered, HEAD_BYTES));
  let off = 0;
  for (const c of pending) {
    if (off >= head.length) break;
    const part = c.subarray(0, head.length - off);
    head.set(part, off);
    off += part.length;
  }
  return { pending, head, ended };
}

/** Options of openImage. */
export interface OpenImageOptions {
  /** Deadline for the http response headers in ms (default 30 000). */
  timeoutMs?: number;
  /** Longest wait for the next body chunk in ms (default 60 000). */
  stallMs?: number;
  /** Digests to compute while streaming. */
  digests?: DigestName[];
  /** Fail the stream when the image turns out bigger than this many bytes. */
  maxBytes?: number;
}

/** What happened to the stream (complete only after the consumer read it to the end). */
export interface StreamResult {
  /** Bytes delivered so far. */
  bytes: number;
  /** True when the whole source was delivered (and matched its announced size). */
  complete: boolean;
  /** Why the source failed, if it did. */
  error?: OneblkError;
  /** Hex digests (only when complete). */
  md5?: string;
  sha1?: string;
}

/** An opened image source. */
export interface OpenedImage {
  /** The path or URL (for messages). */
  label: string;
  /** Total bytes when known (file size; http Content-Length). */
  sizeBytes?: number;
  /** The first bytes (up to HEAD_BYTES; fewer only for a shorter image). */
  head: Uint8Array;
  /**
   * The whole content from byte 0 (head included). Read it once, piece by piece: a piece is
   * valid until the next read (the source reads into one buffer), so write it (awaited) or copy
   * it first (host/copy.ts pump).
   */
  stream: ReadableStream<Uint8Array>;
  /** Byte count, completeness, failure and digests. */
  result(): StreamResult;
  /** Fail the stream once more than `maxBytes` bytes flowed (e.g. the target's size). */
  limit(maxBytes: number): void;
  /** The compression undone on the way (decompress.ts), when the stream is decompressed. */
  compression?: string;
  /** Release the file or connection (idempotent; needed when the stream was not consumed). */
  close(): Promise<void>;
}

interface RawSource {
  sizeBytes?: number;
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  release(): Promise<void>;
}

function sourceError(label: string, e: unknown): OneblkError {
  if (e instanceof OneblkError) return e;
  return new OneblkError("unavailable", `reading ${label} failed: ${(e as Error).message ?? e}`);
}

async function openFileSource(path: string): Promise<RawSource> {
  const { file, info } = await openImageFile(path);
  const reader = reusingReader(file.readable);
  let released = false;
  return {
    sizeBytes: info.size,
    read: () => reader.read(),
    async release() {
      if (released) return;
      released = true;
      await reader.cancel().catch(() => {});
    },
  };
}

/** HTTP answers curl's `--retry` repeats (downloader.sh: 3 retries, 3 s apart). */
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const HTTP_RETRIES = 3;
const HTTP_RETRY_DELAY_MS = 3_000;

async function openHttpSource(
  url: string,
  timeoutMs: number,
  stallMs: number,
): Promise<RawSource> {
  let ac = new AbortController();
  let res: Response | undefined;
  // Only the request is repeated, never a body already being read: a transient failure
  // (no answer, or 408/429/5xx) before the first byte, as curl --retry does.
  for (let attempt = 0;; attempt++) {
    ac = new AbortController();
    let timedOut = false;
    const cancelTimer = after(timeoutMs, () => {
      timedOut = true;
      ac.abort();
    });
    let failure: OneblkError;
    try {
      res = await fetch(url, { signal: ac.signal, headers: { "accept-encoding": "identity" } });
      if (res.ok && res.body) break;
      await res.body?.cancel().catch(() => {});
      failure = new OneblkError("input", `GET ${url} answered HTTP ${res.status}`);
      if (!RETRY_STATUS.has(res.status)) throw failure;
    } catch (e) {
      if (e instanceof OneblkError) throw e;
      failure = new OneblkError(
        timedOut ? "timeout" : "unavailable",
        timedOut
          ? `GET ${url} answered no headers within ${timeoutMs} ms`
          : `cannot reach ${url}: ${(e as Error).message}`,
      );
    } finally {
      cancelTimer();
    }
    if (attempt >= HTTP_RETRIES) throw failure;
    await sleep(HTTP_RETRY_DELAY_MS);
  }
  const encoded = (res.headers.get("content-encoding") ?? "identity").toLowerCase();
  const len = Number(res.headers.get("content-length") ?? NaN);
  const reader = reusingReader(res.body!);
  let released = false;
  return {
    sizeBytes: encoded === "identity" && Number.isSafeInteger(len) && len >= 0 ? len : undefined,
    async read() {
      // The stall ends the read itself: it does not wait for the aborted body to say so.
      let cancelStall = () => {};
      const stall = new Promise<never>((_, reject) => {
        cancelStall = after(stallMs, () => {
          reject(new OneblkError("timeout", `${url} sent nothing for ${stallMs} ms`));
          ac.abort();
        });
      });
      try {
        return await Promise.race([reader.read(), stall]);
      } finally {
        cancelStall();
      }
    },
    release() {
      if (released) return Promise.resolve();
      released = true;
      // abort first (it closes the connection); the body's cancel is not waited for: a
      // cancel of an aborted body has been seen never to settle
      ac.abort();
      reader.cancel().catch(() => {});
      return Promise.resolve();
    },
  };
}

/**
 * Open an image PATH (already checked with checkLocalImagePath for files) and read its head.
 * The returned stream yields every byte from the start; digests, byte count and failures are
 * in `result()`. Throws OneblkError("input") for HTTP errors and unreadable files,
 * "unavailable"/"timeout" for network trouble before the first bytes.
 */
export async function openImage(
  path: ImagePath,
  opts: OpenImageOptions = {},
): Promise<OpenedImage> {
  const label = path.kind === "file" ? path.path : path.url;
  const src = path.kind === "file"
    ? await openFileSource(path.path)
    : await openHttpSource(path.url, opts.timeoutMs ?? 30_000, opts.stallMs ?? 60_000);

  const state = {
    bytes: 0,
    complete: false,
    error: undefined as OneblkError | undefined,
    md5: undefined as string | undefined,
    sha1: undefined as string | undefined,
  };
  const hashes: Partial<Record<DigestName, Hash>> = {};
  if (opts.digests?.length) {
    // Node's hashes (MD5 has no web crypto equivalent) load only when a digest is asked for.
    const { createHash } = await import("node:crypto");
    for (const d of opts.digests) hashes[d] = createHash(d);
  }

  // Read the head (it stays queued for the stream).
  let pending: Uint8Array[], head: Uint8Array, ended: boolean;
  try {
    ({ pending, head, ended } = await readHead(() => src.read()));
  } catch (e) {
    await src.release();
    throw sourceError(label, e);
  }

  const fail = (e: OneblkError): OneblkError => {
    state.error ??= e;
    return state.error;
  };
  const finish = (): void => {
    if (src.sizeBytes !== undefined && state.bytes !== src.sizeBytes) {
      fail(
        new OneblkError(
          "unavailable",
          `${label} ended after ${state.bytes} of ${src.sizeBytes} bytes`,
        ),
      );
      return;
    }
    state.complete = true;
    if (hashes.md5) state.md5 = hashes.md5.digest("hex");
    if (hashes.sha1) state.sha1 = hashes.sha1.digest("hex");
  };
  let maxBytes = opts.maxBytes;
  const account = (chunk: Uint8Array): void => {
    state.bytes += chunk.length;
    if (maxBytes !== undefined && state.bytes > maxBytes) {
      throw fail(
        new OneblkError(
          "input",
          `${label} is larger than the ${maxBytes} bytes its volume was sized for`,
        ),
      );
    }
    for (const h of Object.values(hashes)) h!.update(chunk);
  };

  const stream = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        let chunk: Uint8Array | undefined = pending.shift();
        while (chunk === undefined) {
          if (ended) {
            finish();
            await src.release();
            if (state.error) ctrl.error(state.error);
            else ctrl.close();
            return;
          }
          const r = await src.read();
          if (r.done) ended = true;
          else if (r.value.length) chunk = r.value;
        }
        account(chunk);
        ctrl.enqueue(chunk);
      } catch (e) {
        const err = fail(sourceError(label, e));
        await src.release();
        ctrl.error(err);
      }
    },
    async cancel() {
      await src.release();
    },
  }, { highWaterMark: 0 });

  return {
    label,
    sizeBytes: src.sizeBytes,
    head,
    stream,
    result: () => ({ ...state }),
    limit(n) {
      maxBytes = n;
    },
    close: () => src.release(),
  };
}

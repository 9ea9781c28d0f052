/**
 * Where an image comes from (IMAGE/PATH): a local file on the front-end or an http(s) URL.
 * Used by datastore stat (size) and cp (the bytes). Other schemes are refused clearly.
 */
import { OneblkError } from "./errors.ts";

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

/** Size in bytes a guest will see for a local image file (qcow2 virtual size, else file size). */
export async function localImageSize(path: string): Promise<number> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new OneblkError("input", `cannot read image ${path}: ${why}`);
  }
  try {
    const info = await file.stat();
    if (!info.isFile) throw new OneblkError("input", `image ${path} is not a regular file`);
    const head = new Uint8Array(32);
    const n = (await file.read(head)) ?? 0;
    return qcow2VirtualSize(head.subarray(0, n)) ?? info.size;
  } finally {
    file.close();
  }
}

/** Content-Length of an http(s) image (HEAD, redirects followed, with a deadline). */
export async function remoteImageSize(url: string, timeoutMs = 30_000): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const timeout = (e as Error).name === "TimeoutError";
    throw new OneblkError(
      timeout ? "timeout" : "unavailable",
      timeout ? `HEAD ${url} timed out after ${timeoutMs} ms` : `cannot reach ${url}`,
    );
  }
  await res.body?.cancel();
  if (!res.ok) throw new OneblkError("input", `HEAD ${url} answered HTTP ${res.status}`);
  const len = Number(res.headers.get("content-length") ?? NaN);
  if (!Number.isFinite(len)) {
    throw new OneblkError("input", `${url} does not report its size (no Content-Length)`);
  }
  return len;
}

/** Size in bytes of an image PATH of either kind. */
export function imageSize(path: string): Promise<number> {
  const p = classifyPath(path);
  return p.kind === "file" ? localImageSize(p.path) : remoteImageSize(p.url);
}

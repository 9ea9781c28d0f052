/**
 * Shared file helpers of the tests: positioned reads and writes through files, device paths
 * and symlinks (never truncating), digests of a file's head, and an lstat-based existence test.
 */
import { sha256Hex } from "./bytes.ts";

/** Write `data` at `offset` into a file or device (through symlinks, no truncation). */
export async function writeAt(path: string, offset: number, data: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < data.length) done += await f.write(data.subarray(done));
  } finally {
    f.close();
  }
}

/** Read up to `len` bytes at `offset` of a file or device (fewer at its end). */
export async function readAt(path: string, offset: number, len: number): Promise<Uint8Array> {
  const f = await Deno.open(path, { read: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const n = await f.read(out.subarray(done));
      if (n === null) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    f.close();
  }
}

/**
 * sha256 (hex) of the first `len` bytes of a file or device. A shorter file hashes what it
 * has, unless `padZeros` treats the missing tail as zeros.
 */
export async function fileSha256(
  path: string,
  len: number,
  opts: { padZeros?: boolean } = {},
): Promise<string> {
  const data = await readAt(path, 0, len);
  return sha256Hex(data, opts.padZeros ? len : data.length);
}

/** True when `path` exists on the local filesystem (not following a final symlink). */
export async function lexists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

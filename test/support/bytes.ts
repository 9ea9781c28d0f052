/**
 * Shared byte helpers of the tests: deterministic test data and digests. One helper per
 * concern; the area helpers (test/<area>/helpers.ts) re-export these under their own names.
 */
import { createHash } from "node:crypto";

/** A deterministic pattern of `len` bytes from a linear congruential generator. */
export function lcgBytes(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * Deterministic pseudo-random bytes from a xorshift generator. With `sparse`, every third
 * 64 KiB block stays zero (the generator does not advance there), so sparse handling is
 * exercised.
 */
export function xorshiftBytes(
  len: number,
  seed: number,
  opts: { sparse?: boolean } = {},
): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    if (opts.sparse && (i >> 16) % 3 === 1) continue;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** sha256 (hex) of `data`, zero-padded (or cut) to `len` bytes. */
export function sha256Hex(data: Uint8Array, len: number = data.length): string {
  const h = createHash("sha256");
  if (len <= data.length) return h.update(data.subarray(0, len)).digest("hex");
  const buf = new Uint8Array(len);
  buf.set(data);
  return h.update(buf).digest("hex");
}

/** md5 (hex) of `data`. */
export function md5Hex(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

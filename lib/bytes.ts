/** Byte helpers shared by the runtime. */

/** `parts` joined into a new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Write all of `text` to `to` (the process's stdout or stderr), synchronously: a write may take
 * only part of it. Synchronous, because the runtime's asynchronous writes to these go through a
 * thread of its own, which costs a short action memory (lib/frugal.ts).
 */
export function writeAllSync(to: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += to.writeSync(bytes.subarray(off));
}

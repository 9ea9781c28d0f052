/**
 * Host-to-host byte copies: the stdout of a command on one host feeds the stdin of a command
 * on another (typically `dd if=<dev>` → `dd of=<dev>`), through this process, with no
 * temporary file and no shell pipeline built from data.
 *
 * The bytes pass through one buffer: each piece is read into it and written to the other
 * command before the next is read (reusingReader, pump). Read as a stream piped to the other
 * command, every piece would be a new 64 KiB buffer the collector frees only later: a copy's
 * peak memory grew with its size, by up to about 100 MiB.
 */
import { OneblkError } from "../errors.ts";
import type { HostRunner, RunResult } from "./types.ts";

/** Reads a byte stream piece by piece: a piece is valid until the next read. */
export interface PieceReader {
  /** The next piece (a view of the reader's buffer), or done. */
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  /** Stop reading: the stream is cancelled (a command's stdout closed). */
  cancel(reason?: unknown): Promise<void>;
}

/** Bytes read at most at a time by reusingReader (a pipe's capacity). */
const PIECE = 64 * 1024;
/** reusingReader's first buffer at most: it doubles, up to its size, while reads fill it. */
const PIECE_FIRST = 16 * 1024;

/**
 * A reader of byte stream `s` (a command's stdout) that reads every piece into the same buffer
 * of up to `size` bytes (64 KiB: a pipe's capacity). The buffer starts at 16 KiB (or `size`
 * when smaller) and doubles, up to `size`, each time a read fills it: a command's short output
 * (a line, a small tar) never holds 64 KiB, a long one is read in pieces of a pipe's capacity.
 * The caller uses (or copies) each piece before it reads the next. A stream that is not a byte
 * stream is read as it comes.
 */
export function reusingReader(s: ReadableStream<Uint8Array>, size = PIECE): PieceReader {
  let r: ReadableStreamBYOBReader;
  try {
    r = s.getReader({ mode: "byob" });
  } catch {
    return s.getReader();
  }
  let buf = new ArrayBuffer(Math.min(size, PIECE_FIRST));
  return {
    async read() {
      const room = buf.byteLength;
      const { done, value } = await r.read(new Uint8Array(buf));
      if (value) {
        buf = value.length === room && room < size
          ? new ArrayBuffer(Math.min(size, room * 2))
          : value.buffer as ArrayBuffer;
      }
      return done ? { done: true, value: undefined } : { done: false, value };
    },
    cancel: (reason) => r.cancel(reason),
  };
}

/**
 * Write what `from` reads to `w` until it ends, each piece written before the next is read.
 * When writing fails (the other command stopped taking its stdin), or `ended` aborts (it
 * exited), `from` is cancelled: the command it reads gets a broken pipe instead of blocking
 * until its deadline.
 */
export async function pump(
  from: PieceReader,
  w: WritableStreamDefaultWriter<Uint8Array>,
  ended: AbortSignal,
): Promise<void> {
  const cancel = () => void from.cancel().catch(() => {});
  ended.addEventListener("abort", cancel, { once: true });
  try {
    for (let r = await from.read(); !r.done; r = await from.read()) await w.write(r.value);
  } catch (e) {
    cancel();
    throw e;
  } finally {
    ended.removeEventListener("abort", cancel);
  }
}

/** Options for copyStream. */
export interface CopyOptions {
  /** Deadline for each side in ms (default: each runner's default). */
  timeoutMs?: number;
  /** Exit codes accepted on the source side (default [0]). */
  srcOkCodes?: number[];
  /** Exit codes accepted on the destination side (default [0]). */
  dstOkCodes?: number[];
}

/** Both sides' results. */
export interface CopyResult {
  src: RunResult;
  dst: RunResult;
}

/**
 * Run `srcArgv` on `srcHost` and `dstArgv` on `dstHost`, piping the first one's stdout into
 * the second one's stdin. Succeeds only when both succeed. When one side fails the other is
 * stopped (its pipe is closed) and the failing side's error is thrown; when both fail, the
 * destination's error is thrown with the source's appended.
 */
export async function copyStream(
  srcRunner: HostRunner,
  srcHost: string,
  srcArgv: string[],
  dstRunner: HostRunner,
  dstHost: string,
  dstArgv: string[],
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const src = srcRunner.stream(srcHost, srcArgv, {
    timeoutMs: opts.timeoutMs,
    okCodes: opts.srcOkCodes,
  });
  const from = reusingReader(src.stdout);
  let dstP: Promise<RunResult>;
  try {
    dstP = dstRunner.run(dstHost, dstArgv, {
      stdin: (w, ended) => pump(from, w, ended),
      timeoutMs: opts.timeoutMs,
      okCodes: opts.dstOkCodes,
    });
  } catch (e) {
    dstP = Promise.reject(e);
  }
  // A destination that failed (or never started) takes nothing more: the source gets a broken
  // pipe instead of blocking until its deadline.
  const dstGuarded = dstP.catch((e) => {
    from.cancel().catch(() => {});
    throw e;
  });
  const [s, d] = await Promise.allSettled([src.done, dstGuarded]);
  if (s.status === "fulfilled" && d.status === "fulfilled") return { src: s.value, dst: d.value };
  throw copyFailure(
    d.status === "rejected" ? d.reason : undefined,
    s.status === "rejected" ? s.reason : undefined,
  );
}

/**
 * The error of a copy between two commands from each side's (undefined: it succeeded; at least
 * one did not): the failing side's, or the destination's with the source's appended.
 */
export function copyFailure(dst: unknown, src: unknown): unknown {
  if (dst === undefined) return src;
  if (src === undefined || !(dst instanceof OneblkError)) return dst;
  const sm = src instanceof Error ? src.message : String(src);
  return new OneblkError(dst.kind, `${dst.message} (source side: ${sm})`, dst.detail);
}

/**
 * Host-to-host byte copies: the stdout of a command on one host feeds the stdin of a command
 * on another (typically `dd if=<dev>` → `dd of=<dev>`), through this process, with no
 * temporary file and no shell pipeline built from data.
 */
import { OneblkError } from "../errors.ts";
import type { HostRunner, RunResult } from "./types.ts";

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
  let dstP: Promise<RunResult>;
  try {
    dstP = dstRunner.run(dstHost, dstArgv, {
      stdin: src.stdout,
      timeoutMs: opts.timeoutMs,
      okCodes: opts.dstOkCodes,
    });
  } catch (e) {
    dstP = Promise.reject(e);
  }
  // If the destination never took the stream (it could not start), close it so the source
  // gets a broken pipe instead of blocking until its deadline.
  const dstGuarded = dstP.catch((e) => {
    if (!src.stdout.locked) src.stdout.cancel().catch(() => {});
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

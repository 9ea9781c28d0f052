/**
 * Local process execution shared by the ssh, local and simulated runners.
 *
 * Every command runs in its own process group (`detached`), so a deadline can kill the
 * whole group: the program, anything it forked, and whatever still holds its pipes. On a
 * deadline the group gets SIGTERM, then SIGKILL after a short grace. stderr is kept (the last
 * 64 KiB) for the result and for the one-line error message (its last ~500 characters).
 *
 * Because children live in their own groups, a signal sent to our own group (oned's timeout
 * kills the script's process group) does not reach them: the main program should call
 * `killActiveCommands()` from its SIGTERM/SIGINT handler, installed by `beforeFirstCommand`.
 */
import { basename } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { after } from "../timer.ts";
import { requestsSent, requestsUnsent } from "../wire.ts";
import { pump, reusingReader } from "./copy.ts";
import type { HostRunner, RunOptions, RunResult, Streaming } from "./types.ts";

/** How long a command waits for the HTTP requests under way to be written (quietForSpawn). */
const QUIET_MAX_MS = 20;

/**
 * Resolves once the HTTP requests this process has under way are written (lib/wire.ts
 * requestsSent), or after QUIET_MAX_MS. Starting a process blocks this thread for milliseconds
 * (it forks), which would hold back the writes of requests whose connections are just opening,
 * while their servers could work: `runProcess` waits for this (when there are such requests:
 * else it starts the command at once, as `streamProcess` always does; its caller may wait).
 */
export function quietForSpawn(): Promise<void> {
  return requestsSent(QUIET_MAX_MS);
}

/** Default deadline of one command. */
export const DEFAULT_TIMEOUT_MS = 120_000;

/** How much of stderr a result keeps. */
const STDERR_KEEP = 64 * 1024;
/** How much of stderr goes into an error message. */
const STDERR_IN_MESSAGE = 500;
/** SIGTERM → SIGKILL grace after a deadline. */
const KILL_GRACE_MS = 2_000;
/** How long to keep reading pipes after the process exited (a daemonised grandchild may hold them). */
const DRAIN_GRACE_MS = 2_000;

/** What to start and how to describe it. */
export interface ProcessSpec {
  /** Host name used in messages. */
  host: string;
  /** Local argv to execute (program first). */
  argv: string[];
  /** Short description of the command for messages ("dd", "qemu-img info"). */
  label: string;
  /** Working directory. */
  cwd?: string;
  /** Variables added to (or replacing) the inherited environment. */
  env?: Record<string, string>;
  /** Rewrites stdout/stderr text (the simulated runner unmaps paths). */
  unmap?: (text: string) => string;
  /** Turns a non-ok exit into a specific error (ssh's 255 = unreachable); undefined = default. */
  classify?: (code: number, stderrTail: string) => OneblkError | undefined;
  /** Error for a program that cannot be found (default: kind "host"). */
  notFound?: () => OneblkError;
  /**
   * After the command ended: an error when its host went away while it ran (the simulated
   * runner; over ssh the connection's loss is exit 255 already), whatever its exit code said.
   */
  lost?: (stderrTail: string) => OneblkError | undefined;
}

/**
 * A program that is not installed where a command was to run (the local spawn found none). Over
 * ssh the remote shell says so instead, with exit code 127 (see programMissing).
 */
export class ProgramMissingError extends OneblkError {
  /** The program's base name. */
  readonly program: string;
  constructor(program: string, host: string) {
    super("host", `${basename(program)} not found on ${host}`);
    this.program = basename(program);
  }
}

/**
 * True when a command failed because its program is not installed: a ProgramMissingError
 * (local or simulated host), or exit code 127, the shell's "command not found" (ssh).
 */
export function programMissing(e: unknown, code?: number): boolean {
  return e instanceof ProgramMissingError || code === 127;
}

const active = new Set<number>();
let beforeFirst: (() => void) | undefined;

/**
 * Run `install` once, right before the first command of this process starts: the runner's
 * SIGTERM/SIGINT handlers (which call killActiveCommands). A process that never starts one keeps
 * the default action of those signals, which ends it at once with nothing to stop, and spares
 * the memory signal listeners cost (0-0.3 MiB of a short action's peak in a pair of bench
 * runs on 2026-12-05; earlier builds measured about 1 MiB).
 */
export function beforeFirstCommand(install: () => void): void {
  beforeFirst = install;
}

/** Send `signal` to the process group of every command still running; returns how many. */
export function killActiveCommands(signal: Deno.Signal = "SIGTERM"): number {
  let n = 0;
  for (const pid of active) {
    if (killGroup(pid, signal)) n++;
  }
  return n;
}

function killGroup(pid: number, signal: Deno.Signal): boolean {
  try {
    Deno.kill(-pid, signal);
    return true;
  } catch {
    try {
      Deno.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * A short label for argv in messages: the program's base name plus a sub-command word
 * ("qemu-img info"); the `$0` name of a constant script (`sh -c SCRIPT name …` → name); the
 * wrapped command of `timeout [opts] DURATION cmd …`.
 */
export function labelOf(argv: readonly string[]): string {
  const prog = basename(argv[0] ?? "?");
  if (prog === "timeout") {
    let i = 1;
    while (i < argv.length && argv[i].startsWith("-")) i += /^-[ks]$/.test(argv[i]) ? 2 : 1;
    if (i + 1 < argv.length) return labelOf(argv.slice(i + 1));
  }
  if ((prog === "sh" || prog === "bash") && argv[1] === "-c" && argv[3]) return argv[3];
  const sub = argv[1];
  return sub && /^[A-Za-z][A-Za-z0-9_-]{0,30}$/.test(sub) ? `${prog} ${sub}` : prog;
}

/** Seconds for messages: "120", "0.3". */
export function seconds(ms: number): string {
  return String(Number((ms / 1000).toFixed(3)));
}

/** The end of stderr for an error message: trimmed, one line, at most ~500 characters. */
export function stderrTail(stderr: string): string {
  const t = stderr.replace(/\s+/g, " ").trim();
  return t.length > STDERR_IN_MESSAGE ? "…" + t.slice(t.length - STDERR_IN_MESSAGE) : t;
}

interface Collector {
  done: Promise<Uint8Array>;
  cancel(): void;
}

/**
 * Bytes read at a time from a command's output kept whole (collect): its pieces are copied out
 * of one buffer, where the runtime's own reads would allocate 64 KiB for each (held by every
 * piece kept, and by the read waiting for the end).
 */
const COLLECT_PIECE = 8 * 1024;

/** Read a stream to its end, keeping everything or only the last `keep` bytes. */
function collect(stream: ReadableStream<Uint8Array>, keep = Infinity): Collector {
  const reader = reusingReader(stream, COLLECT_PIECE);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const done = (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value.slice());
        size += value.length;
        while (size - chunks[0].length >= keep && chunks.length > 1) {
          size -= chunks.shift()!.length;
        }
      }
    } catch {
      // the pipe broke or we cancelled: keep what arrived
    }
    if (chunks.length === 1 && size <= keep) return chunks[0];
    let out = new Uint8Array(size);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    if (out.length > keep) out = out.slice(out.length - keep);
    return out;
  })();
  return { done, cancel: () => void reader.cancel().catch(() => {}) };
}

/**
 * Wait for `p` at most `ms`: then call `onLate` (e.g. cancel a reader so `p` settles with what
 * it has) and stop waiting a moment later even if `p` is still pending (resolves undefined).
 */
async function withGrace<T>(p: Promise<T>, ms: number, onLate: () => void): Promise<T> {
  let cancel = () => {};
  const late = new Promise<T>((resolve) => {
    cancel = after(ms, () => {
      onLate();
      cancel = after(100, () => resolve(undefined as T));
    });
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    cancel();
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Feed stdin; errors are not reported (the exit code and the producer tell the story). A stream
 * is pumped through one reused buffer (host/copy.ts), like a feeder's. Settles once everything
 * is written, or once `signal` aborts (the process exited): a feeder may still be waiting for
 * something else then (a caller's decision), and the command's end never waits for it; what it
 * writes later fails.
 */
function feedStdin(
  child: Deno.ChildProcess,
  stdin: RunOptions["stdin"],
  signal: AbortSignal,
): Promise<void> {
  if (stdin === undefined) return Promise.resolve();
  if (stdin instanceof ReadableStream) {
    const from = reusingReader(stdin);
    return feedStdin(child, (w, ended) => pump(from, w, ended), signal);
  }
  const w = child.stdin.getWriter();
  const feeding = (async () => {
    try {
      if (typeof stdin === "function") await stdin(w, signal);
      else await w.write(typeof stdin === "string" ? enc.encode(stdin) : stdin);
      await w.close();
    } catch {
      await w.abort().catch(() => {});
    }
  })();
  return new Promise((resolve) => {
    const gone = () => {
      w.abort().catch(() => {});
      resolve();
    };
    if (signal.aborted) return gone();
    signal.addEventListener("abort", gone, { once: true });
    feeding.then(() => {
      signal.removeEventListener("abort", gone);
      resolve();
    });
  });
}

interface Started {
  stdout: ReadableStream<Uint8Array>;
  /** Resolves when the process has exited. */
  exited: Promise<unknown>;
  /** Resolves with exit facts once the process ended and stderr was read. */
  finished: Promise<Finished>;
}

/** How a process ended. */
interface Finished {
  code: number;
  signal: string | null;
  stderr: string;
  timedOut: boolean;
  /** RunOptions.signal's reason (true without one) when it stopped the process. */
  stopped: unknown;
}

function start(spec: ProcessSpec, opts: RunOptions, defaultTimeoutMs: number): Started {
  if (spec.argv.length === 0) throw new OneblkError("internal", "empty command");
  const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
  const install = beforeFirst;
  beforeFirst = undefined;
  install?.();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(spec.argv[0], {
      args: spec.argv.slice(1),
      cwd: spec.cwd,
      env: spec.env,
      stdin: opts.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw spec.notFound?.() ?? new ProgramMissingError(spec.argv[0], spec.host);
    }
    throw new OneblkError(
      "host",
      `cannot start ${spec.label} on ${spec.host}: ${(e as Error).message}`,
    );
  }
  const pid = child.pid;
  active.add(pid);
  const feedAbort = new AbortController();
  const fed = feedStdin(child, opts.stdin, feedAbort.signal);
  let timedOut = false;
  let stopped: unknown = undefined;
  let cancelKill = () => {};
  const stop = () => {
    killGroup(pid, "SIGTERM");
    cancelKill = after(KILL_GRACE_MS, () => killGroup(pid, "SIGKILL"));
  };
  const cancelDeadline = after(timeoutMs, () => {
    timedOut = true;
    stop();
  });
  const signal = opts.signal;
  const onAbort = () => {
    if (timedOut || stopped !== undefined) return;
    stopped = signal!.reason ?? true;
    stop();
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener("abort", onAbort, { once: true });
  const err = collect(child.stderr, STDERR_KEEP);
  const exited = child.status.finally(() => {
    cancelDeadline();
    cancelKill();
    signal?.removeEventListener("abort", onAbort);
    active.delete(pid);
  });
  const finished = (async () => {
    const status = await exited;
    feedAbort.abort();
    // pipes a surviving grandchild holds open (a daemonised helper) must not hang us
    const [, stderrBytes] = await Promise.all([
      withGrace(fed, DRAIN_GRACE_MS, () => {}).catch(() => {}),
      withGrace(err.done, DRAIN_GRACE_MS, err.cancel),
    ]);
    let stderr = dec.decode(stderrBytes ?? new Uint8Array());
    if (spec.unmap) stderr = spec.unmap(stderr);
    return { code: status.code, signal: status.signal, stderr, timedOut, stopped };
  })();
  return { stdout: child.stdout, exited, finished };
}

function check(
  spec: ProcessSpec,
  opts: RunOptions,
  defaultTimeoutMs: number,
  r: Finished,
): void {
  const lost = spec.lost?.(stderrTail(r.stderr));
  if (lost) throw lost;
  if (r.stopped !== undefined) {
    if (r.stopped instanceof Error) throw r.stopped;
    throw new OneblkError("timeout", `${spec.label} on ${spec.host} was stopped`);
  }
  if (r.timedOut) {
    const s = seconds(opts.timeoutMs ?? defaultTimeoutMs);
    throw new OneblkError("timeout", `${spec.label} on ${spec.host} timed out after ${s}s`);
  }
  const ok = opts.okCodes ?? [0];
  if (ok.includes(r.code)) return;
  const tail = stderrTail(r.stderr);
  const special = spec.classify?.(r.code, tail);
  if (special) throw special;
  const how = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  throw new OneblkError(
    "host",
    `${spec.label} on ${spec.host} failed (${how})${tail ? `: ${tail}` : ""}`,
  );
}

/**
 * Run a local process to completion (started once the requests under way are written,
 * quietForSpawn); throws OneblkError("timeout"/"host"/…) on failure.
 */
export async function runProcess(
  spec: ProcessSpec,
  opts: RunOptions = {},
  defaultTimeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<RunResult> {
  if (requestsUnsent()) await quietForSpawn();
  const s = start(spec, opts, defaultTimeoutMs);
  const out = collect(s.stdout);
  const [r, stdoutBytes] = await Promise.all([
    s.finished,
    s.exited.then(() => withGrace(out.done, DRAIN_GRACE_MS, out.cancel), () => undefined),
  ]);
  check(spec, opts, defaultTimeoutMs, r);
  let stdout = dec.decode(stdoutBytes ?? new Uint8Array());
  if (spec.unmap) stdout = spec.unmap(stdout);
  return { code: r.code, stdout, stderr: r.stderr };
}

/**
 * Start a local process with stdout as a stream. The caller must consume (or cancel) stdout
 * and await `done`; `done` resolves with stdout "" and rejects like `runProcess`.
 * Throws synchronously when the process cannot be started.
 */
export function streamProcess(
  spec: ProcessSpec,
  opts: RunOptions = {},
  defaultTimeoutMs = DEFAULT_TIMEOUT_MS,
): Streaming {
  const s = start(spec, opts, defaultTimeoutMs);
  const done = s.finished.then((r) => {
    check(spec, opts, defaultTimeoutMs, r);
    return { code: r.code, stdout: "", stderr: r.stderr };
  });
  return { stdout: s.stdout, done };
}

/**
 * A HostRunner whose commands are local processes (the ssh and simulated runners): a subclass
 * only says which process runs argv on a host (`spec`); running, streaming and counting are
 * shared.
 */
export abstract class ProcessRunner implements HostRunner {
  #calls = 0;
  readonly #timeoutMs: number;

  /** `defaultTimeoutMs`: deadline of a command without its own (DEFAULT_TIMEOUT_MS if unset). */
  protected constructor(defaultTimeoutMs?: number) {
    this.#timeoutMs = defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Number of commands run so far. */
  get calls(): number {
    return this.#calls;
  }

  /** The deadline of a command that sets none (ms). */
  get defaultTimeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The local process that runs argv on host; throws for an invalid host or argv. */
  protected abstract spec(host: string, argv: readonly string[]): ProcessSpec;

  /** Run argv on host; throws OneblkError "host"/"timeout"/"unavailable" unless ok. */
  run(host: string, argv: string[], opts: RunOptions = {}): Promise<RunResult> {
    let spec: ProcessSpec;
    try {
      spec = this.spec(host, argv);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#calls++;
    return runProcess(spec, opts, this.#timeoutMs);
  }

  /**
   * Start argv on host with stdout streamed (bytes as they come, not unmapped); consume (or
   * cancel) stdout and await `done`. Throws synchronously for an invalid host name or a
   * program that cannot be started.
   */
  stream(host: string, argv: string[], opts: RunOptions = {}): Streaming {
    const spec = this.spec(host, argv);
    this.#calls++;
    return streamProcess(spec, opts, this.#timeoutMs);
  }
}

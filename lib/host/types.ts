/**
 * Running commands on hosts: the types shared by the ssh, local and simulated runners.
 *
 * A command is always an argv array. Runners quote each argument for the remote shell
 * (ssh) or spawn it directly (local, simulated): user data never becomes shell syntax.
 */

/**
 * Writes a command's stdin, which is closed when it returns (and aborted when it throws). Each
 * write is awaited: once it resolves the command has the bytes, and their buffer may be used
 * again. `signal` aborts when the command has ended: nothing more can be written then.
 */
export type StdinFeeder = (
  w: WritableStreamDefaultWriter<Uint8Array>,
  signal: AbortSignal,
) => Promise<void>;

/** Options for one command. */
export interface RunOptions {
  /**
   * Bytes, a stream or a feeder for the command's stdin. A stream is read a piece at a time, each
   * written before the next is read, and cancelled when the command stops taking it.
   */
  stdin?: Uint8Array | string | ReadableStream<Uint8Array> | StdinFeeder;
  /** Deadline in ms (default: the runner's default, 120 s). */
  timeoutMs?: number;
  /** Exit codes that count as success (default [0]). */
  okCodes?: number[];
  /**
   * Stops the command early (like its deadline: the process group gets SIGTERM, then SIGKILL);
   * it then fails with the signal's reason when that is an Error, else as timed out.
   */
  signal?: AbortSignal;
}

/** Result of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A streaming command: stdout as a stream, completion as a promise. */
export interface Streaming {
  stdout: ReadableStream<Uint8Array>;
  done: Promise<RunResult>;
}

/** Runs argv commands on named hosts. */
export interface HostRunner {
  /** Run argv on host; throws OneblkError(kind "host"/"timeout") unless the exit code is ok. */
  run(host: string, argv: string[], opts?: RunOptions): Promise<RunResult>;
  /** Start argv on host with stdout streamed (for dd-style copies between hosts). */
  stream(host: string, argv: string[], opts?: RunOptions): Streaming;
  /** Number of commands run so far (reported by the benchmark as "ssh calls"). */
  readonly calls: number;
  /** The deadline of a command that sets none (ms); unset: DEFAULT_TIMEOUT_MS of process.ts. */
  readonly defaultTimeoutMs?: number;
}

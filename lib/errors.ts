/**
 * The one error type every layer throws. `kind` lets callers tell "already exists" /
 * "not found" / "in use" apart without parsing messages. It does not choose the exit code: a
 * failed driver action always exits 1 (oned only tells success from failure; app/runner.ts),
 * the command line exits 1 for "usage" and 2 for any other kind (app/cli.ts).
 */
export type ErrorKind =
  | "input" // bad argv, XML, base64, missing attribute (operator error)
  | "usage" // unknown kind/driver/action, wrong argument count
  | "config" // datastore / driver configuration problem
  | "not_found"
  | "exists"
  | "in_use"
  | "timeout"
  | "unavailable" // backend or host unreachable
  | "backend" // backend refused or failed
  | "host" // a remote command failed
  | "internal";

/** An error with a short, secret-free, one-line message meant for the operator. */
export class OneblkError extends Error {
  /** Classification, see ErrorKind. */
  readonly kind: ErrorKind;
  /** Optional extra detail (e.g. a backend error report id). Never secrets. */
  readonly detail?: string;

  constructor(kind: ErrorKind, message: string, detail?: string) {
    super(message.replace(/\s*\n\s*/g, " ").trim());
    this.name = "OneblkError";
    this.kind = kind;
    this.detail = detail;
  }
}

/** True when `e` is a OneblkError of one of the given kinds. */
export function isKind(e: unknown, ...kinds: ErrorKind[]): e is OneblkError {
  return e instanceof OneblkError && kinds.includes(e.kind);
}

/** Turn anything thrown into a one-line message (no stack traces for operators). */
export function errorLine(e: unknown): string {
  if (e instanceof OneblkError) return e.detail ? `${e.message} (${e.detail})` : e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`.replace(/\s*\n\s*/g, " ");
  return String(e).replace(/\s*\n\s*/g, " ");
}

/** Longest piece of a caller's argument a message quotes. */
const QUOTE_MAX = 32;

/**
 * A caller's argument as a message quotes it: control characters escaped, and cut to its first
 * characters with its length when long. An argument that is not what it should be may be a
 * whole base64 driver payload (templates, sometimes secrets): never echo it in full.
 */
export function quoteArg(arg: string): string {
  const shown = JSON.stringify(arg.length > QUOTE_MAX ? arg.slice(0, QUOTE_MAX) : arg).slice(1, -1);
  return arg.length > QUOTE_MAX ? `'${shown}…' (${arg.length} characters)` : `'${shown}'`;
}

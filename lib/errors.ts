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

/** Secrets of this process (tokens), registered by lib/http.ts secretHeaderValue. */
const secrets = new Set<string>();

/**
 * Never show `secret` in an error text (it and each of its lines, should a runtime print it
 * split). Empty and very short pieces are not registered (they would blank out normal text).
 */
export function registerSecret(secret: string): void {
  for (const s of [secret, ...secret.split(/[\r\n]+/)]) {
    if (s.trim().length >= 4) secrets.add(s.trim());
  }
}

/** `text` with every registered secret replaced by `***`. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join("***");
  return out;
}

/** One line: line breaks and the blanks around them become one space. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}

/** An error with a short, secret-free, one-line message meant for the operator. */
export class OneblkError extends Error {
  /** Classification, see ErrorKind. */
  readonly kind: ErrorKind;
  /** Optional extra detail (e.g. a backend error report id). Never secrets. */
  readonly detail?: string;

  constructor(kind: ErrorKind, message: string, detail?: string) {
    super(oneLine(scrubSecrets(message)));
    this.name = "OneblkError";
    this.kind = kind;
    this.detail = detail === undefined ? undefined : oneLine(scrubSecrets(detail));
  }
}

/** True when `e` is a OneblkError of one of the given kinds. */
export function isKind(e: unknown, ...kinds: ErrorKind[]): e is OneblkError {
  return e instanceof OneblkError && kinds.includes(e.kind);
}

/** What a store client says when it cannot reach its store (any call, any transport error). */
const UNREACHABLE =
  /no controller reachable|cannot reach the API|lost after sending|was cut off|found unreachable/;

/**
 * Several failures of one step as one text, each distinct cause once: a line whose text after
 * its call prefix (`StorPool SnapshotsList: `, `LINSTOR DELETE /v1/…: `), without its
 * parenthesised details, repeats an earlier line's is left out, and so is every line after the
 * first that says the store cannot be reached (one store gone fails every later call).
 */
export function joinCauses(lines: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const l of lines) {
    if (UNREACHABLE.test(l)) {
      if (seen.has(UNREACHABLE.source)) continue;
      seen.add(UNREACHABLE.source);
    }
    let cause = l.replace(/^[^:]{1,80}: /, "");
    for (let prev = ""; prev !== cause;) {
      prev = cause;
      cause = cause.replace(/\s*\([^()]*\)/g, "");
    }
    if (seen.has(cause)) continue;
    seen.add(cause);
    out.push(l);
  }
  return out.join("; ");
}

/** Turn anything thrown into a one-line, secret-free message (no stack traces for operators). */
export function errorLine(e: unknown): string {
  if (e instanceof OneblkError) return e.detail ? `${e.message} (${e.detail})` : e.message;
  if (e instanceof Error) return oneLine(scrubSecrets(`${e.name}: ${e.message}`));
  return oneLine(scrubSecrets(String(e)));
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

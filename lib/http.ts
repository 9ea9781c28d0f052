/**
 * What the HTTP clients (LINSTOR REST, StorPool JSON API, oned XML-RPC) share: one deadline per
 * call covering every attempt and every wait, the retry rule, and the one-line text of a
 * transport failure.
 *
 * The retry rule: a failure is classified by how far the request got. When no connection was
 * made ("refused": nothing listens, e.g. a server restarting; "unreachable": no route, name not
 * resolved, connect timeout) nothing was sent, so any request may be repeated. Once connected
 * ("lost": the connection dropped, the reply was cut off) a read may be repeated but a write may
 * have been applied: it is reported, never repeated blindly. An HTTP 5xx answer is retried for
 * reads only. Each client says which of its calls are reads and how often it tries; the oned
 * client never retries (an XML-RPC call cannot tell a read from a change to the transport).
 *
 * One deadline per action: a store found unreachable (its call ended without any answer after
 * its own retries and waits, or timed out) is remembered by the client (`Outage`; a client
 * lives for one action); its later calls share a short grace ({@link OUTAGE_GRACE_MS}) and then
 * fail at once with the cause already found, instead of each waiting out its own deadline.
 *
 * Secrets: a header value built from a secret (a token) is checked before use and registered
 * (secretHeaderValue): a value no HTTP header may carry is refused without showing it, and the
 * secret is scrubbed from every error text (lib/errors.ts scrubSecrets, also applied here).
 */
import { OneblkError, registerSecret, scrubSecrets } from "./errors.ts";
import { after, sleep } from "./timer.ts";
import { type TransportFailure, WireError, type WireResponse } from "./wire.ts";

export type { TransportFailure };

/** What a request is, for the retry rule. */
export type RequestKind = "read" | "write";

/** The messages of `e` and its causes, joined with ": " (at most four levels). */
function chain(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    if (cur instanceof Error) {
      // (a cause whose text is already said, e.g. a WireError's, is not repeated)
      const text = cur.message;
      if (!parts.some((p) => p.includes(text))) parts.push(text);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(": ");
}

/**
 * The runtime's preamble of a failed request, in its two forms: "error sending request for url
 * (URL): " and "error sending request from LOCAL for URL (ADDR): ".
 */
const SEND_PREAMBLE =
  /error sending request (?:for url \([^)]*\)|(?:from \S+ )?for \S+ \([^)]*\)):\s*/g;

/**
 * One line describing a transport failure: the error and its causes, without the runtime's
 * "error sending request … for URL" preamble (the caller names the endpoint; the URL may hold
 * credentials).
 */
export function transportErrorText(e: unknown): string {
  return scrubSecrets(chain(e)).replace(SEND_PREAMBLE, "").replace(/\s*[\r\n]+\s*/g, " ")
    .trim();
}

/**
 * What a TLS client's refusal of the server's certificate means and what to do, by the reason
 * rustls gives (`invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))`).
 */
const TLS_ADVICE: [RegExp, string][] = [
  [
    /CaUsedAsEndEntity/,
    "the server presents a CA certificate (CA:TRUE) as its own certificate, which TLS clients " +
    "refuse; give the server a certificate with CA:FALSE and its address in subjectAltName, " +
    "signed by that CA, and keep the CA certificate as the CA file",
  ],
  [
    /UnknownIssuer/,
    "the server's certificate is not signed by a CA of the CA file (or the system's): give " +
    "the certificate of the CA that signed it as the CA file",
  ],
  [
    /NotValidForName/,
    "the server's certificate does not name the address used: add it to the certificate's " +
    "subjectAltName, or use a name the certificate has",
  ],
  [/Expired|NotValidYet/, "the server's certificate is outside its validity dates"],
];

/** The key phrase of a transport failure ("tcp connect error: …", "Connection reset …"). */
export function shortTransportError(e: unknown): string {
  const t = transportErrorText(e);
  const tls = /invalid peer certificate: (\w+)(?:\(\w*\(?(\w+))?/i.exec(t);
  if (tls) {
    const advice = TLS_ADVICE.find(([re]) => re.test(t));
    const reason = tls[2] && tls[2] !== tls[1] ? `${tls[1]}: ${tls[2]}` : tls[1];
    return `invalid peer certificate (${reason})${advice ? `: ${advice[1]}` : ""}`;
  }
  const m = t.match(
    /(tcp connect error: [^(]*|connection closed before message completed|Connection reset[^:]*|received fatal alert: \w+|dns error[^:]*)/i,
  );
  return (m ? m[1] : t).trim().slice(0, 200);
}

/** Classify a failed request (or connect) by how far it got. */
export function transportFailure(e: unknown): TransportFailure {
  if (e instanceof WireError) return e.failure;
  const t = chain(e);
  if (/Connection refused/i.test(t)) return "refused";
  if (
    /client error \(Connect\)|tcp connect error|dns error|failed to lookup|No route to host|Network is unreachable/i
      .test(t)
  ) return "unreachable";
  return "lost";
}

/** The retry rule (module doc): may a request of `kind` that failed this way be repeated? */
export function mayRetry(kind: RequestKind, failure: TransportFailure | "5xx"): boolean {
  if (failure === "refused" || failure === "unreachable") return true;
  return kind === "read";
}

/** Delay before retry `attempt` (1, 2, …): `baseMs` doubled each time, at most `capMs`. */
export function backoffMs(attempt: number, baseMs: number, capMs = Infinity): number {
  return Math.min(capMs, baseMs * 2 ** (attempt - 1));
}

/**
 * A reply's body as text (UTF-8, invalid bytes replaced), counting its
 * decoded size into `stats.bytes`.
 */
export async function replyText(res: WireResponse, stats: { bytes: number }): Promise<string> {
  const body = await res.bytes();
  stats.bytes += body.length;
  return new TextDecoder().decode(body);
}

/** One call's deadline: a signal that aborts when the time is up, for every attempt and wait. */
export class Deadline {
  /** Aborted when the deadline passes. */
  readonly signal: AbortSignal;
  /** The whole budget in ms. */
  readonly ms: number;
  /** When the call started (ms since epoch). */
  readonly started = Date.now();
  readonly #cancel: () => void;

  constructor(ms: number) {
    const ac = new AbortController();
    this.signal = ac.signal;
    this.ms = ms;
    this.#cancel = after(ms, () => ac.abort());
  }

  /** True once the deadline has passed. */
  get expired(): boolean {
    return this.signal.aborted;
  }

  /** Milliseconds left (0 when expired). */
  remaining(): number {
    return Math.max(0, this.started + this.ms - Date.now());
  }

  /** Wait `ms`, or less when the deadline comes first (never rejects). */
  sleep(ms: number): Promise<void> {
    return sleep(ms, this.signal);
  }

  /** Stop the timer (call when the call is over). */
  clear(): void {
    this.#cancel();
  }
}

/**
 * The value of a header that carries `secret` (e.g. `Bearer <token>`), after checking it: the
 * secret is trimmed of surrounding blanks; a line break or another control character inside is
 * refused with kind "config" naming only `what` (never the value). The secret is registered so
 * that no error text shows it.
 */
export function secretHeaderValue(secret: string, what: string, build = (s: string) => s): string {
  const s = secret.trim();
  registerSecret(secret);
  if (s) registerSecret(s);
  if ([...s].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
    throw new OneblkError(
      "config",
      `${what} contains a line break or another control character, which no HTTP header may ` +
        `carry: set it again as one line (its value is not shown)`,
    );
  }
  return build(s);
}

/** After a store was found unreachable, how long its later calls (same action) may still try. */
export const OUTAGE_GRACE_MS = 5_000;

/**
 * The outage memory of one client (module doc, one deadline per action): a client lives for
 * one action (one process), so what it found lasts exactly that long.
 */
export class Outage {
  #found: { at: number; text: string } | null = null;

  /** Record that the store could not be reached (`text`: the cause, one line). */
  record(text: string): void {
    this.#found ??= { at: Date.now(), text };
  }

  /** The store answered: forget the outage. */
  clear(): void {
    this.#found = null;
  }

  /**
   * For a new call: null when no outage is known; else the cause and how many ms the call may
   * still try (0: fail at once).
   */
  check(): { text: string; leftMs: number } | null {
    const o = this.#found;
    if (!o) return null;
    return { text: o.text, leftMs: Math.max(0, o.at + OUTAGE_GRACE_MS - Date.now()) };
  }
}

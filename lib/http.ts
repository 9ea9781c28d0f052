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
 */
import { after, sleep } from "./timer.ts";

/** How far a failed request got (see the module doc). */
export type TransportFailure = "refused" | "unreachable" | "lost";

/** What a request is, for the retry rule. */
export type RequestKind = "read" | "write";

/** The messages of `e` and its causes, joined with ": " (at most four levels). */
function chain(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    if (cur instanceof Error) {
      parts.push(cur.message);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      parts.push(String(cur));
      break;
    }
  }
  return parts.join(": ");
}

/**
 * One line describing a transport failure: the error and its causes, without the
 * "error sending request for url (…)" preamble (the caller names the endpoint; the URL may hold
 * credentials).
 */
export function transportErrorText(e: unknown): string {
  return chain(e).replace(/error sending request for url \([^)]*\):\s*/g, "")
    .replace(/\s*\n\s*/g, " ").trim();
}

/** The key phrase of a transport failure ("tcp connect error: …", "Connection reset …"). */
export function shortTransportError(e: unknown): string {
  const t = transportErrorText(e);
  const m = t.match(
    /(tcp connect error: [^(]*|invalid peer certificate: \w+|connection closed before message completed|Connection reset[^:]*|received fatal alert: \w+|dns error[^:]*)/i,
  );
  return (m ? m[1] : t).trim().slice(0, 200);
}

/** Classify a failed fetch (or connect) by how far the request got. */
export function transportFailure(e: unknown): TransportFailure {
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
 * A reply's body as text (UTF-8, invalid bytes replaced, as `Response.text()`), counting its
 * decoded size into `stats.bytes`.
 */
export async function replyText(res: Response, stats: { bytes: number }): Promise<string> {
  const body = new Uint8Array(await res.arrayBuffer());
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

/**
 * The elements of a JSON array reply, parsed a few at a time as the text arrives, so that a reader
 * of a multi-MB listing never holds the whole text and the whole object tree at once (each
 * element's tree is short-lived; the caller keeps only what it picks from it).
 *
 * The cuts are found with native string search, never a character loop (driver actions run in
 * V8 without its JIT, where a JS scan of megabytes is slow): an element of an array of objects ends
 * at a `}` followed by `,` and the start of the next element, and the next element starts like
 * the first one did (`{"<its first key>":`, e.g. `{"name":` for every LINSTOR object). Such a
 * place is only a candidate: the text from the element's start to it is parsed as
 * `[<text>]`, and a cut is made only when that parses, which holds exactly when the candidate
 * ends a top-level element (the text starts at one, and a JSON value's extent is fixed by its
 * start). The last candidate of the text held is tried first, so that the elements of a piece
 * are parsed together (one parse per piece, not one per element); when it is not an element's
 * end, the candidates are tried in order until the next piece. Elements that start otherwise
 * are cut together with the next candidate; a reply with no candidates (not an array of objects,
 * other spacing), or one where candidates keep failing, is parsed whole at the end. Any valid
 * JSON text thus gives the same elements as `JSON.parse`; only the memory differs.
 *
 * With `member`, the array is that member of a top-level object (StorPool's
 * `{"generation":N,"data":[…]}`): the member is taken for the array when the text before it
 * parses as the start of that object (`<text>"data":0}`), and the object's other members are
 * given at the end.
 */

/** Failed candidates in a row after which the rest of the reply is parsed whole at the end. */
const MAX_MISSES = 32;

/** What JsonItems gives at the end. */
export type JsonItemsEnd =
  /**
   * The text was an array (with `member`: an object with that member an array): every element
   * was passed to `onItem`; `rest` is the object without the member.
   */
  | { array: true; rest?: Record<string, unknown> }
  /** The text was another JSON value (no element was passed): the value. */
  | { array: false; value: unknown };

/**
 * Feed text with push(), then call end(). Elements go to `onItem` in order; `parse` parses a
 * piece of text (JSON.parse, or a lossless variant), and throws on invalid JSON like it.
 */
export class JsonItems {
  readonly #parse: (text: string) => unknown;
  readonly #onItem: (item: unknown) => void;
  /** Text not yet given out; in the array, it starts at an element (or the closing `]`). */
  #buf = "";
  /** "?" before the first non-blank character, "[" in an array, "*" parse whole at the end. */
  #mode: "?" | "[" | "*" = "?";
  /** The start of every element: `},` + this marks a candidate end; "" not known yet. */
  #marker = "";
  /** Where the next candidate search starts in #buf. */
  #from = 0;
  #misses = 0;
  readonly #member: string | undefined;
  /** With `member`: the object's text before the member (`{"generation":5,`). */
  #head: string | undefined;

  constructor(
    onItem: (item: unknown) => void,
    parse: (text: string) => unknown = JSON.parse,
    member?: string,
  ) {
    this.#onItem = onItem;
    this.#parse = parse;
    this.#member = member;
  }

  /** Characters of text held now (not given out yet). */
  get buffered(): number {
    return this.#buf.length;
  }

  /** The next piece of the text. */
  push(text: string): void {
    this.#buf += text;
    if (this.#mode === "?") {
      const t = this.#buf.trimStart();
      if (t === "") return;
      if (this.#member !== undefined && t[0] === "{") {
        const key = `${JSON.stringify(this.#member)}:[`;
        const at = t.indexOf(key);
        if (at < 0) {
          if (t.length > 4096) this.#mode = "*";
          return;
        }
        const head = t.slice(0, at);
        try {
          this.#parse(`${head}${JSON.stringify(this.#member)}:0}`);
        } catch {
          this.#mode = "*";
          return;
        }
        this.#head = head;
        this.#mode = "[";
        this.#buf = t.slice(at + key.length).trimStart();
      } else if (t[0] !== "[" || this.#member !== undefined) {
        this.#mode = "*";
        return;
      } else {
        this.#mode = "[";
        this.#buf = t.slice(1).trimStart();
      }
    }
    if (this.#mode === "[") this.#cut();
  }

  /** The text is complete: the last elements (or the whole value). Throws on invalid JSON. */
  end(): JsonItemsEnd {
    const rest = this.#buf;
    this.#buf = "";
    const m = this.#member;
    if (this.#mode !== "[") {
      const value = this.#parse(rest);
      if (m === undefined) {
        if (!Array.isArray(value)) return { array: false, value };
        // an array after all (a first element nothing could be cut from, or a leading blank)
        for (const item of value) this.#onItem(item);
        return { array: true };
      }
      return this.#fromObject(value);
    }
    if (m === undefined) {
      for (const item of this.#parse(`[${rest}`) as unknown[]) this.#onItem(item);
      return { array: true };
    }
    return this.#fromObject(this.#parse(`${this.#head}${JSON.stringify(m)}:[${rest}`));
  }

  /** The rest of the text is parsed whole at the end: the text before the elements put back. */
  #whole(): void {
    this.#mode = "*";
    this.#buf = this.#member === undefined
      ? `[${this.#buf}`
      : `${this.#head}${JSON.stringify(this.#member)}:[${this.#buf}`;
  }

  /** The end of a `member` text: its array's last elements, the object's other members. */
  #fromObject(value: unknown): JsonItemsEnd {
    const m = this.#member!;
    if (
      !value || typeof value !== "object" || Array.isArray(value) ||
      !Array.isArray((value as Record<string, unknown>)[m])
    ) return { array: false, value };
    const { [m]: items, ...rest } = value as Record<string, unknown>;
    for (const item of items as unknown[]) this.#onItem(item);
    return { array: true, rest };
  }

  #cut(): void {
    let fast = true;
    for (;;) {
      if (!this.#marker) {
        // the first key of the first element: `{"key":` (compact JSON, a plain key)
        const m = /^\{"[^"\\]*":/.exec(this.#buf.slice(0, 256));
        if (!m) {
          // not there yet, or not an array of objects as expected: parse whole at the end
          if (this.#buf.length >= 256 || /^(?:[^{]|\{\s|\{"[^"]*\\)/.test(this.#buf)) {
            this.#whole();
          }
          return;
        }
        this.#marker = `},${m[0]}`;
      }
      // Every element up to the last candidate in one parse (a few per piece, not one each);
      // if that candidate is not an element's end, candidates one by one, as below, until the
      // next piece.
      if (fast) {
        const last = this.#buf.lastIndexOf(this.#marker);
        if (last < this.#from) return;
        const items = this.#tryParse(last);
        if (items) {
          this.#take(items, last);
          continue;
        }
        fast = false;
      }
      const at = this.#buf.indexOf(this.#marker, this.#from);
      if (at < 0) {
        // a marker may straddle the next piece
        this.#from = Math.max(this.#from, this.#buf.length - this.#marker.length + 1);
        return;
      }
      const items = this.#tryParse(at);
      if (!items) {
        // a nested object's end: look further, up to a point
        this.#from = at + 1;
        if (++this.#misses >= MAX_MISSES) {
          this.#whole();
          return;
        }
        continue;
      }
      this.#take(items, at);
    }
  }

  /** The elements that end at the candidate at `at` (the `}` of `},`), or null. */
  #tryParse(at: number): unknown[] | null {
    try {
      const items = this.#parse(`[${this.#buf.slice(0, at + 1)}]`);
      return Array.isArray(items) ? items : null;
    } catch {
      return null;
    }
  }

  /** Give out `items`, the elements that end at the candidate at `at`. */
  #take(items: unknown[], at: number): void {
    this.#misses = 0;
    this.#buf = this.#buf.slice(at + 2);
    this.#from = 0;
    for (const item of items) this.#onItem(item);
  }
}

/**
 * Bytes decoded into text at a time. A gunzipped piece can be a MB: its text would be one string
 * in V8's large-object space (freed only by a full collection), and the element search would
 * copy it whole. In steps, every string stays small and short-lived.
 */
export const TEXT_STEP = 16384;

/** A reply body read piece by piece (lib/wire.ts WireResponse). */
export interface BodyPieces {
  /** The next piece (valid until the next read), null at the end. */
  read(): Promise<Uint8Array | null>;
  /** Drop the rest. */
  cancel(): Promise<void>;
}

/**
 * Read a reply body as text through `items` (UTF-8, invalid bytes replaced), counting its
 * decoded size into `stats.bytes`. Each piece is decoded at once, TEXT_STEP bytes at a time: the
 * reply's bytes are never held whole, and its text is held one step (plus an element) at most.
 */
export async function readJsonItems(
  res: BodyPieces,
  stats: { bytes: number },
  items: JsonItems,
): Promise<JsonItemsEnd> {
  const dec = new TextDecoder();
  try {
    for (let piece = await res.read(); piece; piece = await res.read()) {
      stats.bytes += piece.length;
      for (let at = 0; at < piece.length; at += TEXT_STEP) {
        items.push(dec.decode(piece.subarray(at, at + TEXT_STEP), { stream: true }));
      }
    }
  } catch (e) {
    await res.cancel().catch(() => {});
    throw e;
  }
  items.push(dec.decode());
  return items.end();
}

/** What readPicked read: the end of the reply, or the failure of reading it. */
export type Picked<U> =
  | { ok: true; end: JsonItemsEnd; kept: U[] }
  /** The reply could not be read whole or is not JSON (a cut-off read, a SyntaxError). */
  | { ok: false; error: unknown };

/**
 * Read a JSON array reply (readJsonItems) keeping only what `pick` returns of each element
 * (`undefined`: nothing). `other` may take an element first (true: it did, `pick` skips it). A
 * failure of `pick` or `other` is the caller's and is thrown as it is; a failure of the reply is
 * returned, for the caller's retry rules.
 */
export async function readPicked<U>(
  res: BodyPieces,
  stats: { bytes: number },
  pick: (item: unknown) => U | undefined,
  opts: {
    parse?: (text: string) => unknown;
    member?: string;
    other?: (item: unknown) => boolean;
  } = {},
): Promise<Picked<U>> {
  const kept: U[] = [];
  let callerFailure: { e: unknown } | undefined;
  const items = new JsonItems(
    (item) => {
      try {
        if (opts.other?.(item)) return;
        const v = pick(item);
        if (v !== undefined) kept.push(v);
      } catch (e) {
        callerFailure = { e };
        throw e;
      }
    },
    opts.parse,
    opts.member,
  );
  try {
    return { ok: true, end: await readJsonItems(res, stats, items), kept };
  } catch (e) {
    if (callerFailure) throw callerFailure.e;
    return { ok: false, error: e };
  }
}

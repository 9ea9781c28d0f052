/**
 * Bounded concurrency: independent steps (the disks of one VM, the hosts of a check) run side
 * by side, at most `limit` at a time, so that a VM with many disks neither serialises every
 * round trip nor opens more sessions than an ssh server allows (sshd's MaxSessions is 10).
 */

/**
 * Wait for every one of `steps` to end, then throw the first failure (in input order): for
 * steps side by side whose failure is undone, which must not start while one still runs.
 */
export async function settleAll(steps: readonly Promise<unknown>[]): Promise<void> {
  throwFirst(await Promise.allSettled(steps));
}

/**
 * Run `fn` with a `later` to hand it work that may finish after `fn` has its answer (removing a
 * marker file while the next steps run). Whatever `fn` does, every such piece has ended before
 * this returns or throws; when `fn` succeeded, a failed piece is thrown.
 */
export async function withLater<T>(
  fn: (later: (work: Promise<unknown>) => void) => Promise<T>,
): Promise<T> {
  const pending: Promise<unknown>[] = [];
  let value: T;
  try {
    value = await fn((w) => pending.push(w));
  } catch (e) {
    await Promise.allSettled(pending);
    throw e;
  }
  await settleAll(pending);
  return value;
}

/** Throw the reason of the first rejected outcome, if any. */
export function throwFirst(outcomes: readonly PromiseSettledResult<unknown>[]): void {
  const failed = outcomes.find((s) => s.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** Run `fn` for each item, at most `limit` at a time; results in input order. Rejects on the
 * first failure (the steps already started still run to their end, unobserved). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const settled = await settleLimit(items, limit, fn);
  throwFirst(settled);
  return settled.map((s) => (s as PromiseFulfilledResult<R>).value);
}

/**
 * Run `fn` for each item, at most `limit` at a time, every one to its end whatever the others
 * do; the outcomes in input order (what Promise.allSettled gives, bounded). For steps whose
 * failure must be undone only once all of them have stopped.
 */
export async function settleLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: "fulfilled", value: await fn(items[i]) };
      } catch (reason) {
        out[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/**
 * Calls made side by side, sent as one: `join(key, item)` adds `item` to the open batch of `key`
 * (a new one when none is open, or when it holds `max` items) and returns that batch's reply.
 * A batch is sent (`send(key, items)`) two microtask hops after it opened: by then every caller
 * resumed in the same turn of the event loop (the disks of a VM, after one shared read) has
 * joined it. Each caller gets the reply of the request that carried its item, failure included.
 */
export class TurnBatches<I, R> {
  readonly #open = new Map<string, { items: I[]; reply: Promise<R> }>();

  /** `same`: items that are one (joined once); `max`: items per request. */
  constructor(
    readonly send: (key: string, items: I[]) => Promise<R>,
    readonly opts: { max?: number; same?: (a: I, b: I) => boolean } = {},
  ) {}

  /** Add `item` to the batch of `key`; resolves or rejects with that batch's reply. */
  join(key: string, item: I): Promise<R> {
    let batch = this.#open.get(key);
    if (!batch || batch.items.length >= (this.opts.max ?? Infinity)) {
      const items: I[] = [];
      const b = {
        items,
        reply: Promise.resolve().then(() => undefined).then(() => {
          if (this.#open.get(key) === b) this.#open.delete(key);
          return this.send(key, items);
        }),
      };
      this.#open.set(key, batch = b);
    }
    const same = this.opts.same;
    if (!same || !batch.items.some((x) => same(x, item))) batch.items.push(item);
    return batch.reply;
  }
}

/**
 * Timers for the runtime, built on `AbortSignal.timeout`.
 *
 * Deno's global `setTimeout` returns Node's `Timeout` object and loads the Node timer modules on
 * first use (several MiB and milliseconds of every action's start). A timeout signal is the web
 * platform's own timer: it keeps the process alive exactly while a listener waits on it, like a
 * pending `setTimeout`, and lets it end once the listener is removed, like `clearTimeout`. The
 * runtime (main.ts, app/, actions/, lib/) uses these helpers instead of `setTimeout`; tools and
 * tests may use either.
 */

/** Longest delay a timer takes (as `setTimeout`: about 24.8 days); longer ones are cut to it. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** A timer's delay as `AbortSignal.timeout` accepts it: a whole number of ms in range. */
function delay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(MAX_DELAY_MS, Math.ceil(ms));
}

/**
 * Call `fn` once after `ms` milliseconds. Returns the cancel function (safe to call more than
 * once, and after the timer fired).
 */
export function after(ms: number, fn: () => void): () => void {
  const signal = AbortSignal.timeout(delay(ms));
  let live = true;
  const fire = () => {
    if (!live) return;
    live = false;
    fn();
  };
  signal.addEventListener("abort", fire, { once: true });
  return () => {
    live = false;
    signal.removeEventListener("abort", fire);
  };
}

/** Resolve after `ms` milliseconds, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const cancel = after(ms, done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

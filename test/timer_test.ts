/** lib/timer.ts: timers without Node's timer modules behave like setTimeout/clearTimeout. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { after, sleep } from "../lib/timer.ts";

const TIMER = new URL("../lib/timer.ts", import.meta.url).href;

/** Run a snippet in a fresh deno process; returns its wall time (ms) and stdout. */
async function runSnippet(code: string): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--no-lock", code],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  return { ms: performance.now() - t0, out: new TextDecoder().decode(out.stdout).trim() };
}

describe("lib/timer.ts", () => {
  it("after() calls back once after the delay; cancel stops it", async () => {
    const t0 = performance.now();
    let fired = 0;
    await new Promise<void>((resolve) =>
      after(30, () => {
        fired++;
        resolve();
      })
    );
    assert.equal(fired, 1);
    assert.ok(performance.now() - t0 >= 25, "not before its time");
    let late = 0;
    const cancel = after(10, () => late++);
    cancel();
    cancel();
    await sleep(40);
    assert.equal(late, 0);
  });

  it("sleep() ends early when its signal aborts, at once when already aborted", async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await p;
    await sleep(60_000, ac.signal);
    assert.ok(performance.now() - t0 < 1000);
  });

  it("a pending timer keeps the process alive; a cancelled one does not", async () => {
    const kept = await runSnippet(
      `import { after } from "${TIMER}"; after(400, () => console.log("fired"));`,
    );
    assert.equal(kept.out, "fired");
    assert.ok(kept.ms >= 400);
    const gone = await runSnippet(
      `import { after } from "${TIMER}"; after(30_000, () => console.log("fired"))();`,
    );
    assert.equal(gone.out, "");
    assert.ok(gone.ms < 20_000, `ended after ${gone.ms} ms`);
  });

  it("a negative or NaN delay fires at once; an infinite one is cut to the maximum, not 0", async () => {
    const fired: string[] = [];
    after(-5, () => fired.push("negative"));
    after(Number.NaN, () => fired.push("nan"));
    after(2.2, () => fired.push("fraction"));
    const never = after(Number.POSITIVE_INFINITY, () => fired.push("infinite"));
    await sleep(50);
    never();
    assert.deepEqual(fired.sort(), ["fraction", "nan", "negative"]);
  });
});

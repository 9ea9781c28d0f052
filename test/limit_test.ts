import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mapLimit, settleLimit } from "../lib/limit.ts";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("bounded concurrency", () => {
  it("runs at most `limit` at a time, results in input order", async () => {
    let running = 0, peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0], 3, async (n) => {
      peak = Math.max(peak, ++running);
      await tick(n * 3);
      running--;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0]);
    assert.equal(peak, 3);
  });

  it("settleLimit lets every step end before it reports the failures", async () => {
    const ended: number[] = [];
    const res = await settleLimit([1, 2, 3, 4], 2, async (n) => {
      await tick(n * 4);
      ended.push(n);
      if (n % 2 === 0) throw new Error(`bad ${n}`);
      return n;
    });
    assert.deepEqual(ended.sort(), [1, 2, 3, 4]);
    assert.deepEqual(res.map((r) => r.status), ["fulfilled", "rejected", "fulfilled", "rejected"]);
    await assert.rejects(
      mapLimit([1, 2], 2, (n) => n === 2 ? Promise.reject(new Error("x")) : Promise.resolve(n)),
      /x/,
    );
    assert.deepEqual(await mapLimit([], 4, async () => 1), []);
  });
});

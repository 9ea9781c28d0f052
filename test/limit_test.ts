import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mapLimit, settleAll, settleLimit, TurnBatches, withLater } from "../lib/limit.ts";

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
    assert.deepEqual(await mapLimit([], 4, () => Promise.resolve(1)), []);
  });

  it("settleAll waits for every step, then throws the first failure", async () => {
    const ended: number[] = [];
    const step = async (n: number, fail: boolean) => {
      await tick(n);
      ended.push(n);
      if (fail) throw new Error(`bad ${n}`);
    };
    await assert.rejects(settleAll([step(20, false), step(1, true), step(5, true)]), /bad 1/);
    assert.deepEqual(ended, [1, 5, 20], "the slow step ended before the failure was thrown");
    await settleAll([]);
  });

  it("withLater: work handed over ends before the answer, and its failure counts", async () => {
    const order: string[] = [];
    const later = (ms: number, fail = false) =>
      tick(ms).then(() => {
        order.push(`later ${ms}`);
        if (fail) throw new Error(`later ${ms} failed`);
      });
    const v = await withLater(async (keep) => {
      keep(later(15));
      await tick(1);
      order.push("answer");
      return 7;
    });
    assert.equal(v, 7);
    assert.deepEqual(order, ["answer", "later 15"], "the result waits for the work handed over");
    await assert.rejects(
      withLater((keep) => Promise.resolve(keep(later(1, true)))),
      /later 1 failed/,
    );
    // fn's own failure wins, but only once the handed-over work has ended
    order.length = 0;
    await assert.rejects(
      withLater((keep) => {
        keep(later(10, true));
        return Promise.reject(new Error("fn failed"));
      }),
      /fn failed/,
    );
    assert.deepEqual(order, ["later 10"]);
  });

  it("TurnBatches: callers resumed in one turn share one request; later ones, full or failed ones apart", async () => {
    const sent: string[][] = [];
    const b = new TurnBatches<string, string>(
      (key, items) => {
        sent.push([key, ...items]);
        return items.includes("bad")
          ? Promise.reject(new Error(`refused ${items.join(",")}`))
          : Promise.resolve(`${key}:${items.join(",")}`);
      },
      { max: 3, same: (x, y) => x.toLowerCase() === y.toLowerCase() },
    );
    // four callers resume after one shared read (as a VM's disks after one listing), with one
    // more await of their own; the same item twice is asked once
    const shared = tick(1);
    const join = async (key: string, item: string) => {
      await shared;
      await Promise.resolve();
      return b.join(key, item);
    };
    const replies = await Promise.all([
      join("a", "d0"),
      join("a", "d1"),
      join("b", "e0"),
      join("a", "D0"),
      join("a", "d2"),
      join("a", "d3"),
    ]);
    assert.deepEqual(sent, [["a", "d0", "d1", "d2"], ["b", "e0"], ["a", "d3"]]);
    assert.deepEqual(replies, [
      "a:d0,d1,d2",
      "a:d0,d1,d2",
      "b:e0",
      "a:d0,d1,d2",
      "a:d0,d1,d2",
      "a:d3",
    ]);
    // a caller of a later turn gets a request of its own
    assert.equal(await b.join("a", "d4"), "a:d4");
    // a refusal is every joiner's
    const failed = await Promise.allSettled([b.join("a", "ok"), b.join("a", "bad")]);
    assert.deepEqual(
      failed.map((f) => f.status === "rejected" && (f.reason as Error).message),
      ["refused ok,bad", "refused ok,bad"],
    );
  });
});

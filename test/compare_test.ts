import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { compareNatural, compareText } from "../lib/compare.ts";

describe("name ordering", () => {
  it("code-point order", () => {
    assert.deepEqual(["b", "a_b", "a", "ab", "B"].sort(compareText), ["B", "a", "a_b", "ab", "b"]);
    assert.equal(compareText("x", "x"), 0);
  });
  it("natural order: digit runs by value", () => {
    const names = [
      "snap-10",
      "snap-2",
      "snap-1",
      "snap-02",
      "snap",
      "one-img-7-snap3",
      "a9b",
      "a10a",
    ];
    assert.deepEqual(names.sort(compareNatural), [
      "a9b",
      "a10a",
      "one-img-7-snap3",
      "snap",
      "snap-1",
      "snap-2",
      "snap-02",
      "snap-10",
    ]);
    assert.equal(compareNatural("v12", "v12"), 0);
  });
});

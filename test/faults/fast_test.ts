/**
 * The fast subset of the fault matrix (tools/faults/fast.ts), in the suite: every fast point is
 * clean. The whole matrix is `deno task faults`.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FAST_PICKS, pickKey } from "../../tools/faults/fast.ts";
import type { PointResult } from "../../tools/faults/matrix.ts";
import { type PointPick, runPicks } from "../../tools/faults/run.ts";

describe("fault matrix, fast subset", () => {
  let results: Map<PointPick, PointResult | undefined>;
  before(async () => {
    results = (await runPicks([...FAST_PICKS], { jobs: 2 })).results;
  });

  for (const pick of FAST_PICKS) {
    const key = pickKey(pick);
    it(key, () => {
      const r = results.get(pick);
      assert.ok(r, `${key}: no such request or step in the reference run (did the action change?)`);
      const what = r.problems.map((p) => `${p.class}: ${p.what}`).join("\n  ");
      assert.equal(r.class, "clean", `${key}:\n  ${what}`);
    });
  }
});

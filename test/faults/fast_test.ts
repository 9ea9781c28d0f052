/**
 * The fast subset of the fault matrix (tools/faults/fast.ts), in the suite: every fast point is
 * clean, except the known failures of issue 10 items 1–9 (tools/faults/known_failures.ts),
 * which must still fail — a fix makes its point clean, and then its line must go.
 * The whole matrix is `deno task faults`.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FAST_PICKS, pickKey } from "../../tools/faults/fast.ts";
import { KNOWN_FAILURES } from "../../tools/faults/known_failures.ts";
import type { PointResult } from "../../tools/faults/matrix.ts";
import { type PointPick, runPicks } from "../../tools/faults/run.ts";

describe("fault matrix, fast subset", () => {
  let results: Map<PointPick, PointResult | undefined>;
  before(async () => {
    results = (await runPicks([...FAST_PICKS], { jobs: 2 })).results;
  });

  it("names only fast points as known failures", () => {
    const keys = new Set(FAST_PICKS.map(pickKey));
    assert.deepEqual(Object.keys(KNOWN_FAILURES).filter((k) => !keys.has(k)), []);
  });

  for (const pick of FAST_PICKS) {
    const key = pickKey(pick);
    it(key, () => {
      const r = results.get(pick);
      assert.ok(r, `${key}: no such request or step in the reference run (did the action change?)`);
      const what = r.problems.map((p) => `${p.class}: ${p.what}`).join("\n  ");
      const known = KNOWN_FAILURES[key];
      if (known) {
        assert.notEqual(
          r.class,
          "clean",
          `${key} is clean now: remove it from KNOWN_FAILURES (${known})`,
        );
      } else assert.equal(r.class, "clean", `${key}:\n  ${what}`);
    });
  }
});

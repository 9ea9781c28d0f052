/**
 * tools/bench/measure.ts: a row's ratio to the bare runtime pairs each run with the bare run made
 * right after it, so that a slow moment of the machine slows both sides of a ratio.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Bare, figures } from "../../tools/bench/measure.ts";
import type { ProcessUsage } from "../../tools/sim/cluster.ts";

const run = (wallMs: number, cpuMs = wallMs): ProcessUsage => ({
  wallMs,
  userMs: cpuMs,
  sysMs: 0,
  maxrssKiB: 40 * 1024,
});

describe("bench figures", () => {
  it("a ratio is the median of each run's ratio to its bare partner", () => {
    const bare = new Bare();
    // a quiet machine (bare 20 ms), then a slow phase (bare 40 ms) in which the action also
    // takes twice as long: every pair says 3×
    const runs = [run(60), run(60), run(120), run(120), run(120)];
    const partners = [run(20), run(20), run(40), run(40), run(40)];
    bare.samples.push(...partners, run(20), run(20), run(20));
    const f = figures(runs, bare, partners);
    assert.equal(f.wallRatio, 3);
    assert.equal(f.cpuRatio, 3);
    assert.equal(f.wallMs.median, 120);
    // without partners: the medians of the whole run (120 / 20)
    assert.equal(figures(runs, bare).wallRatio, 6);
    // partners that do not cover every run are not used
    assert.equal(figures(runs, bare, partners.slice(1)).wallRatio, 6);
  });
});

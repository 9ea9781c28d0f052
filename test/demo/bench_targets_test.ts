/**
 * The bench's verdict on issue 15's targets (tools/bench.ts checkTargets): a row that failed or
 * was not run cannot meet a target. A run in which every action failed (a wrong deno flag) used
 * to report the hot targets as met: failed runs are fast and small.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type BenchReport, checkTargets } from "../../tools/bench.ts";
import { HOT_ACTIONS, HOT_PROFILES, type HotRow } from "../../tools/bench/hot.ts";
import type { MonitorRow } from "../../tools/bench/monitor.ts";

const stat = (median: number, n = 8) => ({ n, median, p95: median });

function hotRow(profile: string, action: string, peak: number, errors = 0): HotRow {
  return {
    profile,
    action,
    wallMs: stat(40),
    cpuMs: stat(35),
    peakMiB: stat(peak),
    wallRatio: 2,
    cpuRatio: 2,
    startupShare: 0.5,
    actionMs: stat(20),
    endMiB: null,
    rest: 1,
    restKiB: 1,
    ssh: 0,
    one: 0,
    errors,
    program: `actions/${action}.js`,
  } as HotRow;
}

/** Every hot row of a good run, `peak` MiB each. */
function allHot(peak: number): HotRow[] {
  return HOT_PROFILES.flatMap((p) => HOT_ACTIONS.map((a) => hotRow(p, a, peak)));
}

function report(hot: HotRow[], monitor?: MonitorRow[]): BenchReport {
  return { hot, monitor, extensions: {} } as unknown as BenchReport;
}

function target(r: BenchReport, starts: string) {
  const t = checkTargets(r).find((x) => x.target.startsWith(starts));
  assert.ok(t, `target ${starts}`);
  return t;
}

describe("bench targets", () => {
  it("are met by a complete run within them", () => {
    const t = target(report(allHot(39)), "hot action peak RSS");
    assert.equal(t.met, true);
    assert.deepEqual(t.missed, []);
    assert.match(t.measured, /worst linstor datastore\/stat 39\.00 MiB/);
  });

  it("are missed by rows whose runs failed, however small their figures", () => {
    const hot = allHot(13).map((h) => ({ ...h, errors: 8 }));
    for (const name of ["hot action peak RSS", "hot action wall"]) {
      const t = target(report(hot), name);
      assert.equal(t.met, false, name);
      assert.equal(t.measured, "no figure");
      assert.ok(t.missed.includes("linstor tm/ln (8 of 8 runs failed)"), t.missed.join(", "));
      assert.equal(t.missed.length, HOT_PROFILES.length * HOT_ACTIONS.length);
    }
  });

  it("are missed by hot actions that were not run", () => {
    const hot = allHot(39).filter((h) => !(h.profile === "storpool" && h.action === "tm/mv"));
    const t = target(report(hot), "hot action peak RSS");
    assert.equal(t.met, false);
    assert.deepEqual(t.missed, ["storpool tm/mv (not run)"]);
    assert.match(t.measured, /worst .* 39\.00 MiB/);
  });

  it("name the failed row beside the figures that missed", () => {
    const hot = allHot(39);
    hot[0] = hotRow(hot[0].profile, hot[0].action, 39, 2);
    hot[1] = hotRow(hot[1].profile, hot[1].action, 41.5);
    const t = target(report(hot), "hot action peak RSS");
    assert.deepEqual(t.missed, [
      `${hot[0].profile} ${hot[0].action} (2 of 8 runs failed)`,
      `${hot[1].profile} ${hot[1].action} 41.50 MiB`,
    ]);
  });

  it("are missed by a monitor row that failed at 10,000 volumes", () => {
    const mon = (ok: boolean, ms: number): MonitorRow => ({
      profile: "linstor",
      volumes: 10000,
      action: "tm/monitor",
      wallMs: stat(ms),
      actionMs: stat(ms),
      cpuMs: stat(ms),
      peakMiB: stat(50),
      rest: 2,
      readMB: 1,
      wireMB: 0.5,
      ok,
    } as MonitorRow);
    assert.equal(target(report(allHot(39), [mon(true, 200)]), "monitor at 10,000").met, true);
    const t = target(report(allHot(39), [mon(false, 5)]), "monitor at 10,000");
    assert.equal(t.met, false);
    assert.deepEqual(t.missed, ["linstor tm/monitor (failed)"]);
  });
});

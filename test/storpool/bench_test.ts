/**
 * The StorPool backend benchmark runs every operation and reports sane numbers.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { benchStorpoolBackend } from "../../tools/sim/storpool/bench.ts";

describe("storpool backend benchmark", () => {
  it("reports median, p95 and REST requests per operation", async () => {
    const rows = await benchStorpoolBackend({ latencyMs: 2, iterations: 2 });
    const byOp = new Map(rows.map((r) => [r.op, r]));
    for (
      const op of [
        "createVolume",
        "getVolume",
        "attach",
        "detach",
        "cloneVolume",
        "createSnapshots",
        "rollbackSnapshot",
        "listUsage",
        "capacity",
        "deleteVolume",
      ]
    ) {
      const r = byOp.get(op);
      assert.ok(r, op);
      assert.ok(r.medianMs >= 0 && r.p95Ms >= r.medianMs, op);
    }
    assert.equal(byOp.get("setDualPrimary")?.rest, 0);
    assert.equal(byOp.get("attach")?.rest, 1);
    assert.equal(byOp.get("createSnapshots")?.rest, 1);
    assert.equal(byOp.get("listUsage")?.rest, 2);
    // Every API request waited the simulated latency.
    assert.ok((byOp.get("getVolume")?.medianMs ?? 0) >= 2);
  });
});

/**
 * `tools/bench.ts --quick --json FILE` runs end to end and writes a report of the documented
 * shape: rows in every section, finite numbers. No timing is asserted (it is a benchmark).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { needing } from "../support/tools.ts";

const SCRIPT = new URL("../../tools/bench.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function finite(row: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of keys) {
    assert.ok(
      typeof row[k] === "number" && Number.isFinite(row[k] as number),
      `${what}: ${k} = ${row[k]}`,
    );
  }
}

describe("tools/bench.ts", () => {
  it(
    ...needing(
      ["qemu-img", "mkfs.ext4"],
      "--quick --json writes every section with finite numbers",
    ),
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "oneblk-bench-test-" });
      try {
        const file = join(dir, "bench.json");
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--config", CONFIG, SCRIPT, "--quick", "--json", file],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, stderr.slice(-2000));
        assert.match(new TextDecoder().decode(out.stdout), /monitor scaling/);
        const r = JSON.parse(await Deno.readTextFile(file));
        assert.equal(r.meta.quick, true);
        assert.equal(r.meta.latencyMs, 5);
        assert.ok(r.actions.length > 0, "action rows");
        for (const a of r.actions) {
          assert.ok(["linstor", "linstor_un", "storpool"].includes(a.profile));
          assert.match(a.action, /^(datastore|tm|vmm)\//);
          finite(
            a,
            ["n", "wallMedianMs", "wallP95Ms", "actionMedianMs", "restMedian", "sshMedian"],
            a.action,
          );
          assert.equal(a.errors, 0, `${a.profile} ${a.action} had errors`);
        }
        assert.ok(r.actions.some((a: { action: string }) => a.action === "tm/clone"));
        assert.ok(r.backend.length > 0, "backend rows");
        for (const b of r.backend) finite(b, ["medianMs", "p95Ms", "rest"], b.op);
        assert.deepEqual(
          [...new Set(r.backend.map((b: { store: string }) => b.store))].sort(),
          ["linstor", "storpool"],
        );
        assert.ok(r.monitorScaling.length >= 4, "monitor rows");
        for (const m of r.monitorScaling) {
          finite(m, ["volumes", "wallMs", "actionMs", "rest", "ssh"], `${m.profile} ${m.action}`);
          assert.equal(m.ok, true);
        }
        assert.ok(Object.keys(r.monitorRestConstant).length >= 2);
        assert.ok(r.concurrency.length > 0, "concurrency rows");
        for (const c of r.concurrency) {
          finite(
            c,
            ["operations", "concurrency", "driverCalls", "wallMs", "throughput", "errors"],
            c.operation,
          );
          assert.equal(c.concurrency, 15);
        }
        assert.ok(r.simScale.length >= 4, "simulator scale rows");
        for (const x of r.simScale) finite(x, ["definitions", "ms", "requests", "items"], x.op);
        assert.equal(r.simScale[0].items, 1000, "the quick run creates 1,000 definitions");
        assert.match(new TextDecoder().decode(out.stdout), /simulator scale/);
        assert.deepEqual(r.backups.map((b: { kind: string }) => b.kind), ["full", "incremental"]);
        for (const b of r.backups) {
          finite(b, ["diskMiB", "changedMiB", "backupMs", "prebackupMs", "fileBytes"], b.kind);
        }
        assert.ok(r.backups[1].fileBytes < r.backups[0].fileBytes / 10, "the increment is small");
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

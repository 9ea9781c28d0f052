/**
 * `tools/bench.ts --quick --json FILE` runs end to end and writes a report of the documented
 * shape: the machine and runtime mode, the bare runtime's figures, and rows with finite numbers
 * in every section asked for. No timing is asserted (it is a benchmark).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { needing } from "../support/tools.ts";

const SCRIPT = new URL("../../tools/bench.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function finite(row: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of keys) {
    const v = k.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)?.[p], row);
    assert.ok(typeof v === "number" && Number.isFinite(v), `${what}: ${k} = ${v}`);
  }
}

/** A report row with a process's peak and its memory when it ended (MiB). */
interface EndRow extends Record<string, unknown> {
  peakMiB: { median: number; p95: number };
  endMiB: { private: number; file: number };
}

describe("tools/bench.ts", () => {
  it(
    ...needing(
      ["qemu-img", "mkfs.ext4", "python3"],
      "--quick --json writes every section asked for, with finite numbers",
    ),
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "oneblk-bench-test-" });
      try {
        const file = join(dir, "bench.json");
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            "--config",
            CONFIG,
            SCRIPT,
            "--quick",
            "--samples",
            "2",
            "--sections",
            "startup,hot,backend,monitor,concurrency,simscale,backup",
            "--json",
            file,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, stderr.slice(-2000));
        const text = new TextDecoder().decode(out.stdout);
        assert.match(text, /bare runtime \(deno run of an empty file/);
        assert.match(text, /monitoring at scale/);
        const r = JSON.parse(await Deno.readTextFile(file));
        assert.equal(r.meta.quick, true);
        assert.equal(r.meta.runtime.mode, "bundle");
        // the measured processes had a Deno cache of their own
        assert.equal(r.meta.denoDir, "fresh");
        assert.match(text, /Deno's cache \(DENO_DIR\) of the measured processes: a new one/);
        assert.ok(r.meta.machine.cores > 0);
        finite(r.meta, ["bare.wallMs", "bare.cpuMs", "bare.peakMiB"], "bare");
        const proc = ["wallMs.median", "cpuMs.median", "peakMiB.median", "wallRatio", "cpuRatio"];
        assert.deepEqual(
          r.startup.map((s: { mode: string }) => s.mode),
          ["bundle", "source", "floor"],
        );
        for (const s of r.startup) finite(s, proc, `version ${s.mode}`);
        // the floor's script really connects and starts a process: it costs more than nothing
        const floor = r.startup.find((s: { mode: string }) => s.mode === "floor");
        assert.ok(floor.peakMiB.median > r.meta.bare.peakMiB + 1, JSON.stringify(floor.peakMiB));
        // the memory a process had when it ended, private and mapped from files, is most of its
        // peak and not more (medians of different runs: a little slack)
        const endParts = (row: EndRow, what: string) => {
          finite(row, ["endMiB.private", "endMiB.file"], what);
          const sum = row.endMiB.private + row.endMiB.file;
          assert.ok(row.endMiB.private > 4 && row.endMiB.file > 10, `${what}: ${sum}`);
          assert.ok(
            sum <= row.peakMiB.p95 + 0.5 && sum >= 0.8 * row.peakMiB.median,
            `${what}: private+file ${sum} MiB, peak ${JSON.stringify(row.peakMiB)}`,
          );
        };
        endParts(floor, "floor");
        const hot = r.hot as (EndRow & { profile: string; action: string; errors: number })[];
        for (const want of ["datastore/stat", "datastore/monitor", "tm/ln", "tm/premigrate"]) {
          for (const p of ["linstor", "storpool"]) {
            const row = hot.find((h) => h.profile === p && h.action === want);
            assert.ok(row, `${p} ${want} replayed`);
            finite(row, [...proc, "startupShare", "rest", "restKiB", "ssh", "one"], want);
            assert.equal(row.errors, 0, `${p} ${want} replays failed`);
            endParts(row, `${p} ${want}`);
          }
        }
        assert.ok(r.backend.length > 0, "backend rows");
        for (const b of r.backend) finite(b, ["medianMs", "p95Ms", "rest"], b.op);
        assert.equal(r.monitor.length, 8, "4 monitor rows × 2 stores at 100 volumes");
        for (const m of r.monitor) {
          finite(
            m,
            ["volumes", "wallMs.median", "cpuMs.median", "peakMiB.median", "rest"],
            m.action,
          );
          assert.equal(m.ok, true);
        }
        for (const which of ["cold cache", "steady"]) {
          const vmDisks = r.monitor.find((m: { profile: string; action: string }) =>
            m.profile === "linstor" && m.action === `tm/monitor +vm disks, ${which}`
          );
          assert.ok(vmDisks.readMB > 0 && vmDisks.wireMB > 0 && vmDisks.wireMB < vmDisks.readMB);
        }
        for (const c of r.concurrency) {
          finite(
            c,
            ["driverCalls", "wallMs", "throughput", "memory.rssMiB", "memory.pssMiB"],
            "conc",
          );
          assert.equal(c.concurrency, 15);
          assert.equal(c.errors, 0);
          assert.ok(c.memory.processes > 0 && c.memory.pssMiB < c.memory.rssMiB);
        }
        const simScale = r.extensions.simscale;
        assert.ok(simScale.length >= 4, "simulator scale rows");
        for (const x of simScale) finite(x, ["definitions", "ms", "requests", "items"], x.op);
        assert.equal(simScale[0].items, 1000, "the quick run creates 1,000 definitions");
        assert.match(new TextDecoder().decode(out.stdout), /simulator scale/);
        const backups = r.extensions.backup;
        assert.deepEqual(backups.map((b: { kind: string }) => b.kind), ["full", "incremental"]);
        for (const b of backups) {
          finite(b, ["diskMiB", "changedMiB", "backupMs", "prebackupMs", "fileBytes"], b.kind);
        }
        assert.ok(backups[1].fileBytes < backups[0].fileBytes / 10, "the increment is small");
        assert.match(new TextDecoder().decode(out.stdout), /backups: full vs incremental/);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});

/**
 * The demo tells the truth: after each step, what it narrated (node roles, who has the device
 * open) is what the simulators hold, read here straight from their state, and the seed
 * article's claims hold (a diskless assignment on charlie after migrating there, none after
 * moving on to delta; StorPool client attachments follow the VM the same way). And `deno task
 * demo`, the README's first command, needs no ISO program: with genisoimage, mkisofs, xorrisofs
 * and xorriso shadowed by failing programs on PATH it passes and none of them runs.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type DemoReport, type NodeRole, runDemo, TABLE_LEGEND } from "../../tools/demo.ts";
import type { DemoStep, DemoWorld } from "../../tools/demo.ts";

const HOSTS = ["alpha", "bravo", "charlie", "delta"];

/** Roles of every host for `volume`, read directly from the simulator state. */
function simRoles(world: DemoWorld, volume: string): NodeRole[] {
  if (world.oned.store === "linstor") {
    const c = world.cluster.linstor.controller;
    const rd = c.rd(volume);
    return HOSTS.map((host) => {
      const r = rd?.rscs.find((x) => x.node === host);
      const role = !r ? "none" : r.tieBreaker ? "tie-breaker" : r.diskless ? "diskless" : "diskful";
      return { host, role, inUse: !!rd && !!r && c.isInUse(rd, host) };
    });
  }
  const st = world.cluster.storpool.state();
  return HOSTS.map((host) => {
    const a = st.attachments.find((x) => x.volume === volume && x.client === st.clients[host]);
    return { host, role: a ? "attached" : "none", inUse: !!a?.open };
  });
}

function role(world: DemoWorld, volume: string, host: string): NodeRole {
  return simRoles(world, volume).find((r) => r.host === host)!;
}

describe("oneblk demo", () => {
  it("narrates what the simulators hold at every step", async () => {
    const seen: string[] = [];
    const check = (step: DemoStep, world: DemoWorld) => {
      seen.push(`${step.story}/${step.id}`);
      if (step.roles && step.volume) {
        assert.deepEqual(step.roles, simRoles(world, step.volume), `${step.id}: roles`);
      }
      const v = step.volume ?? "";
      const linstor = world.oned.store === "linstor";
      switch (step.id) {
        case "register": {
          const vol = world.oned.imageVolume(world.imageId!);
          if (linstor) {
            const rd = world.cluster.linstor.controller.rd(vol)!;
            assert.equal(rd.rscs.filter((r) => !r.diskless).length, 2, "2 diskful replicas");
          } else assert.ok(world.cluster.storpool.state().volumes[vol]);
          break;
        }
        case "instantiate":
          assert.ok(role(world, v, "bravo").inUse, "open on bravo");
          break;
        case "migrate-charlie": {
          const c = role(world, v, "charlie");
          assert.ok(c.inUse, "open on charlie");
          if (linstor && c.role !== "diskful") assert.equal(c.role, "diskless");
          if (!linstor) assert.equal(c.role, "attached");
          const b = role(world, v, "bravo");
          assert.ok(!b.inUse, "closed on bravo");
          assert.ok(b.role !== "diskless" && b.role !== "attached", "no client left on bravo");
          assert.ok(step.lines.some((l) => l.includes("charlie")));
          break;
        }
        case "migrate-delta": {
          const c = role(world, v, "charlie");
          assert.ok(!c.inUse, "closed on charlie");
          assert.ok(
            c.role !== "diskless" && c.role !== "attached",
            "charlie's diskless assignment / attachment is gone",
          );
          assert.ok(role(world, v, "delta").inUse, "open on delta");
          break;
        }
        case "snapshot": {
          const name = world.oned.profile.snapshotName(v, 0);
          if (linstor) {
            const rd = world.cluster.linstor.controller.rd(v)!;
            assert.ok(rd.snaps.some((s) => s.name === name), `${name} in LINSTOR`);
          } else {
            assert.ok(world.cluster.storpool.state().snapshots[name], `${name} in StorPool`);
          }
          break;
        }
        case "resize": {
          const f = world.oned.volumeFile(v)!;
          assert.ok(Deno.statSync(f).size >= 32 * 1024 * 1024, "volume grew");
          break;
        }
        case "terminate":
          if (linstor) assert.equal(world.cluster.linstor.controller.rd(v), undefined);
          else assert.equal(world.cluster.storpool.state().volumes[v], undefined);
          assert.deepEqual(simRoles(world, v).filter((r) => r.inUse), []);
          break;
      }
    };
    const report: DemoReport = await runDemo({ latencyMs: 0, onStep: check });
    const failed = report.steps.filter((s) => !s.ok).map((s) => `${s.story}/${s.id}: ${s.error}`);
    assert.deepEqual(failed, [], "every step succeeds");
    const ids = ["register", "instantiate", "migrate-charlie", "migrate-delta", "snapshot"]
      .concat(["resize", "terminate"]);
    assert.deepEqual(seen, [
      ...ids.map((i) => `linstor/${i}`),
      ...ids.map((i) => `storpool/${i}`),
    ]);
    assert.ok(report.ok);
    assert.ok(report.table.length >= 20, "every driver call is in the table");
    for (const r of report.table) {
      assert.ok(r.ok, `${r.action} succeeded`);
      assert.ok(Number.isFinite(r.wallMs) && r.wallMs > 0);
      assert.ok(r.rest !== null && r.ssh !== null, `${r.action}: stats line found`);
    }
    assert.ok(report.table.some((r) => r.action === "tm/linstor/premigrate"));
    assert.ok(report.table.some((r) => r.action === "tm/storpool/postmigrate"));
  });

  it("`deno task demo` runs no ISO program (shadowed by failing ones) and explains its columns", async () => {
    const dir = await Deno.makeTempDir({ prefix: "oneblk-demo-shadow-" });
    try {
      const trace = join(dir, "ran");
      for (const p of ["genisoimage", "mkisofs", "xorrisofs", "xorriso"]) {
        await Deno.writeTextFile(join(dir, p), `#!/bin/sh\necho ${p} >> '${trace}'\nexit 1\n`, {
          mode: 0o755,
        });
      }
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "demo"],
        cwd: new URL("../..", import.meta.url).pathname,
        env: { PATH: `${dir}:${Deno.env.get("PATH") ?? ""}`, NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${stdout.slice(-2000)}\n${stderr.slice(-2000)}`);
      assert.match(stdout, /every step checked out/);
      assert.match(stdout, /tm\/linstor\/context/);
      assert.ok(stdout.includes(TABLE_LEGEND), "the columns are explained under the table");
      await assert.rejects(Deno.stat(trace), Deno.errors.NotFound, "no ISO program ran");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

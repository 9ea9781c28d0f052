/**
 * Bytes end to end through the simulated StorPool: device paths on simulated hosts are
 * symlinks to the simulator's sparse data files, so writes on one host are read on another,
 * and snapshots, reverts and clones carry the bytes.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { SimRunner } from "../../lib/host/sim.ts";
import { pattern, PLACEMENT, readAt, type SpEnv, startEnv, writeAt } from "./helpers.ts";

const MiB = 1024 * 1024;

describe("storpool data end to end", () => {
  let env: SpEnv;
  before(async () => {
    env = await startEnv();
  });
  after(async () => {
    await env.close();
  });

  it("bytes written on alpha are read on bravo after detach/attach", async () => {
    const b = env.backend;
    await b.createVolume("one-img-1", 16, { placement: PLACEMENT });
    await b.attach("one-img-1", "alpha");
    const data = pattern(1, 64 * 1024);
    await writeAt(env.devPath("alpha", "one-img-1"), 3 * MiB, data);
    await b.detach("one-img-1", "alpha");
    await assert.rejects(Deno.stat(env.devPath("alpha", "one-img-1")), Deno.errors.NotFound);
    await b.attach("one-img-1", "bravo", { readOnly: true });
    assert.deepEqual(await readAt(env.devPath("bravo", "one-img-1"), 3 * MiB, data.length), data);
    assert.equal((await Deno.stat(env.devPath("bravo", "one-img-1"))).size, 16 * MiB);
    await b.detach("one-img-1", "bravo");
  });

  it("snapshot + revert restores the bytes (and the size)", async () => {
    const b = env.backend;
    await b.createVolume("one-img-2", 8, { placement: PLACEMENT });
    await b.attach("one-img-2", "alpha");
    const dev = env.devPath("alpha", "one-img-2");
    const before = pattern(2, 8192);
    await writeAt(dev, 0, before);
    await b.createSnapshot("one-img-2", "one-img-2-snap0");
    const afterBytes = pattern(3, 8192);
    await writeAt(dev, 0, afterBytes);
    await b.resizeVolume("one-img-2", 12);
    assert.deepEqual(await readAt(dev, 0, 8192), afterBytes);
    // Attached (not open) on alpha: the backend detaches, reverts, attaches back.
    await b.rollbackSnapshot("one-img-2", "one-img-2-snap0");
    assert.deepEqual(await readAt(dev, 0, 8192), before);
    assert.equal((await Deno.stat(dev)).size, 8 * MiB);
    assert.equal((await b.getVolume("one-img-2"))?.sizeMiB, 8);
  });

  it("clones carry bytes: baseOn (current data) and fromSnapshot (snapshot data)", async () => {
    const b = env.backend;
    await b.createVolume("one-img-3", 8, { placement: PLACEMENT });
    await b.attach("one-img-3", "alpha");
    const dev = env.devPath("alpha", "one-img-3");
    const v1 = pattern(4, 4096);
    await writeAt(dev, MiB, v1);
    await b.createSnapshot("one-img-3", "one-img-3-snap0");
    const v2 = pattern(5, 4096);
    await writeAt(dev, MiB, v2);
    await b.cloneVolume("one-img-3", "one-img-3-7-0", { placement: PLACEMENT, sizeMiB: 32 });
    await b.cloneVolume("one-img-3", "one-img-9", {
      placement: PLACEMENT,
      fromSnapshot: "one-img-3-snap0",
    });
    await b.attach("one-img-3-7-0", "bravo");
    await b.attach("one-img-9", "bravo");
    const c1 = env.devPath("bravo", "one-img-3-7-0");
    assert.deepEqual(await readAt(c1, MiB, 4096), v2);
    assert.equal((await Deno.stat(c1)).size, 32 * MiB);
    assert.deepEqual(await readAt(env.devPath("bravo", "one-img-9"), MiB, 4096), v1);
    // Clones are independent of their source.
    await writeAt(c1, MiB, pattern(6, 4096));
    assert.deepEqual(await readAt(dev, MiB, 4096), v2);
  });

  it("a group snapshot captures every volume at once; renaming an attached volume moves its device", async () => {
    const b = env.backend;
    const vols = ["one-sys-4-0-raw", "one-sys-4-1-raw"];
    for (const [i, v] of vols.entries()) {
      await b.createVolume(v, 4, { placement: PLACEMENT });
      await b.attach(v, "alpha");
      await writeAt(env.devPath("alpha", v), 0, pattern(10 + i, 512));
    }
    await b.createSnapshots(vols.map((v) => ({ volume: v, snapshot: `${v}-ONESNAP-0-1` })));
    for (const v of vols) await writeAt(env.devPath("alpha", v), 0, pattern(20, 512));
    for (const [i, v] of vols.entries()) {
      await b.cloneVolume(v, `${v}-check`, {
        placement: PLACEMENT,
        fromSnapshot: `${v}-ONESNAP-0-1`,
      });
      await b.attach(`${v}-check`, "bravo");
      assert.deepEqual(
        await readAt(env.devPath("bravo", `${v}-check`), 0, 512),
        pattern(10 + i, 512),
      );
    }
    await b.renameVolume("one-sys-4-0-raw", "one-sys-4-0-raw-old");
    await assert.rejects(Deno.lstat(env.devPath("alpha", "one-sys-4-0-raw")), Deno.errors.NotFound);
    assert.deepEqual(
      await readAt(env.devPath("alpha", "one-sys-4-0-raw-old"), 0, 512),
      pattern(20, 512),
    );
  });

  it("real commands on simulated hosts see the same bytes (dd on alpha, sha256sum on bravo)", async () => {
    const b = env.backend;
    const hosts = new SimRunner(env.root);
    await b.createVolume("one-img-6", 4, { placement: PLACEMENT });
    await b.attach("one-img-6", "alpha");
    const dev = b.devicePath("one-img-6");
    await hosts.run("alpha", ["dd", `of=${dev}`, "bs=64k", "conv=notrunc,fsync", "status=none"], {
      stdin: pattern(40, 256 * 1024),
    });
    const sumA = (await hosts.run("alpha", ["sha256sum", dev])).stdout.split(" ")[0];
    await b.detach("one-img-6", "alpha");
    await b.attach("one-img-6", "bravo");
    const sumB = (await hosts.run("bravo", ["sha256sum", dev])).stdout.split(" ")[0];
    assert.match(sumA, /^[0-9a-f]{64}$/);
    assert.equal(sumB, sumA);
    assert.deepEqual(await readAt(env.devPath("bravo", "one-img-6"), 0, 4096), pattern(40, 4096));
  });

  it("the delayed-delete snapshot keeps the deleted volume's bytes", async () => {
    const b = env.backend;
    await b.createVolume("one-img-5", 4, { placement: PLACEMENT });
    await b.attach("one-img-5", "alpha");
    await writeAt(env.devPath("alpha", "one-img-5"), 0, pattern(30, 4096));
    await b.deleteVolume("one-img-5");
    const st = env.sim.state();
    const anon = Object.values(st.snapshots).find((s) => s.onVolume === "one-img-5");
    assert.ok(anon);
    const file = env.sim.dataPath(anon.name, "snapshot");
    assert.ok(file);
    assert.deepEqual(await readAt(file, 0, 4096), pattern(30, 4096));
  });
});

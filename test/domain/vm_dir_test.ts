/**
 * lib/domain/vm_dir.ts: a VM directory's copy never reads the directory while the sharing test's
 * marker is still being removed from it (tar fails, "file changed as we read it"); a marker kept
 * for the copy goes with it, on every way out.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { SimRunner } from "../../lib/host/sim.ts";
import type { HostRunner, RunOptions } from "../../lib/host/types.ts";
import type { ActionContext } from "../../lib/context.ts";
import { copyVmDir, vmDirShared } from "../../lib/domain/vm_dir.ts";
import { withLater } from "../../lib/limit.ts";

describe("VM directory: sharing test and copy", () => {
  let root = "";
  let sim: SimRunner;

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-vmdir-" });
    for (const h of ["src", "dst"]) await Deno.mkdir(join(root, "hosts", h), { recursive: true });
    await Deno.mkdir(join(root, "hosts/src/var/lib/one/datastores/0/7"), { recursive: true });
    await Deno.writeTextFile(join(root, "hosts/src/var/lib/one/datastores/0/7/vm.xml"), "<VM/>");
    sim = new SimRunner(root);
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  it("the copy starts only once the marker's removal has ended", async () => {
    const events: string[] = [];
    // the marker's removal (rm on src) is slow; every command's start and end is recorded
    const hosts: HostRunner = {
      get calls() {
        return sim.calls;
      },
      async run(host: string, argv: string[], opts?: RunOptions) {
        const what = `${host} ${argv[0]}`;
        events.push(`start ${what}`);
        if (argv[0] === "rm") await new Promise((r) => setTimeout(r, 300));
        try {
          return await sim.run(host, argv, opts);
        } finally {
          events.push(`end ${what}`);
        }
      },
      stream(host: string, argv: string[], opts?: RunOptions) {
        events.push(`start ${host} ${argv[0]} (stream)`);
        return sim.stream(host, argv, opts);
      },
    };
    const ctx = { hosts, env: {}, info: () => {} } as unknown as ActionContext;
    const dir = "/var/lib/one/datastores/0/7";
    await withLater(async (later) => {
      assert.equal((await vmDirShared(ctx, "src", "dst", dir, later)).shared, false);
      await copyVmDir(ctx, "src", dir, "dst", dir);
    });
    const rmEnd = events.indexOf("end src rm");
    const tarStart = events.indexOf("start src tar (stream)");
    assert.ok(rmEnd >= 0 && tarStart >= 0, events.join(" | "));
    assert.ok(rmEnd < tarStart, `tar started before the marker was removed: ${events.join(" | ")}`);
    assert.equal(
      await Deno.readTextFile(join(root, "hosts/dst", dir, "vm.xml")),
      "<VM/>",
      "the directory was copied",
    );
  });

  /** The simulated runner, recording `host program` of every command (streams too). */
  function recording(fail?: (host: string, argv: string[]) => boolean) {
    const seen: string[] = [];
    const hosts: HostRunner = {
      get calls() {
        return sim.calls;
      },
      run(host: string, argv: string[], opts?: RunOptions) {
        seen.push(`${host} ${argv[0] === "sh" ? argv[3] : argv[0]}`);
        return sim.run(host, argv, opts);
      },
      stream(host: string, argv: string[], opts?: RunOptions) {
        seen.push(`${host} ${argv[0] === "sh" ? argv[3] : argv[0]}`);
        if (fail?.(host, argv)) return sim.stream(host, ["false"], opts);
        return sim.stream(host, argv, opts);
      },
    };
    return { seen, ctx: { hosts, env: {}, info: () => {} } as unknown as ActionContext };
  }

  const markers = async (host: string, dir: string) =>
    (await Array.fromAsync(Deno.readDir(join(root, "hosts", host, dir))))
      .map((e) => e.name).filter((n) => n.startsWith(".oneblk-"));

  it("a kept marker goes with the copy's tar: no command of its own, none left", async () => {
    const dir = "/var/lib/one/datastores/0/9";
    await Deno.mkdir(join(root, "hosts/src", dir), { recursive: true });
    await Deno.writeTextFile(join(root, "hosts/src", dir, "vm.xml"), "<VM/>");
    const { seen, ctx } = recording();
    await withLater(async (later) => {
      const s = await vmDirShared(ctx, "src", "dst", dir, later, true);
      assert.deepEqual([s.shared, s.onA, s.onB], [false, true, false]);
      assert.ok(s.marker && (await markers("src", dir)).length === 1, "kept until the copy");
      await copyVmDir(ctx, "src", dir, "dst", dir, [], s);
    });
    assert.deepEqual(seen, [
      "src oneblk-mark",
      "dst oneblk-look",
      "src oneblk-tar",
      "dst oneblk-untar",
    ]);
    assert.deepEqual(await markers("src", dir), []);
    assert.deepEqual(await markers("dst", dir), []);
    assert.equal(await Deno.readTextFile(join(root, "hosts/dst", dir, "vm.xml")), "<VM/>");
  });

  it("a kept marker is removed when the copy fails", async () => {
    const dir = "/var/lib/one/datastores/0/7";
    const { seen, ctx } = recording((host) => host === "src");
    await assert.rejects(withLater(async (later) => {
      const s = await vmDirShared(ctx, "src", "dst", dir, later, true);
      await copyVmDir(ctx, "src", dir, "dst", dir, [], s);
    }));
    assert.deepEqual(seen.at(-1), "src rm");
    assert.deepEqual(await markers("src", dir), []);
  });

  it("a kept marker is dropped once; a shared directory's goes at once; none without a directory", async () => {
    const dir = "/var/lib/one/datastores/0/7";
    const { seen, ctx } = recording();
    const s = await vmDirShared(ctx, "src", "dst", dir, undefined, true);
    // dst has its own directory now (the earlier copy): seen there, not shared
    assert.deepEqual([s.shared, s.onA, s.onB], [false, true, true]);
    await s.dropMarker();
    await s.dropMarker(); // once only
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look", "src rm"]);
    assert.deepEqual(await markers("src", dir), []);
    // the same directory seen from a second name of the host: shared, removed without keep's help
    await Deno.symlink(join(root, "hosts/src"), join(root, "hosts/alias"));
    try {
      const same = await vmDirShared(ctx, "src", "alias", dir, undefined, true);
      assert.deepEqual([same.shared, same.onB, same.marker], [true, true, null]);
      assert.deepEqual(await markers("src", dir), []);
      const gone = await vmDirShared(
        ctx,
        "dst",
        "src",
        "/var/lib/one/datastores/0/8",
        undefined,
        true,
      );
      assert.deepEqual([gone.shared, gone.onA, gone.onB, gone.marker], [false, false, null, null]);
    } finally {
      await Deno.remove(join(root, "hosts/alias"));
    }
  });
});

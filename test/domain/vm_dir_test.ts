/**
 * lib/domain/vm_dir.ts: a VM directory's copy never reads the directory while the sharing test's
 * marker is still being removed from it (tar fails, "file changed as we read it").
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
      assert.equal(await vmDirShared(ctx, "src", "dst", dir, later), false);
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
});

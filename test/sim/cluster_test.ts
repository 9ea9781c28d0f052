/**
 * The simulated cloud itself, and dispatch through real symlinks of an installed remotes tree
 * (run via the dev launcher): kind/driver/action resolution, argv passing, unknown names.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../../tools/sim/cluster.ts";

describe("simulated cluster and symlink dispatch", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  it("installs a symlink per action pointing at the launcher", async () => {
    const link = await Deno.readLink(join(c.remotes, "datastore", "linstor_un", "stat"));
    assert.match(link, /scripts\/oneblk$/);
  });

  it("runs datastore stat through the symlink in both call styles", async () => {
    const img = join(c.root, "img.raw");
    await Deno.writeFile(img, new Uint8Array(3 * 1024 * 1024 + 1));
    const xml = `<DS_DRIVER_ACTION_DATA><IMAGE><PATH>${img}</PATH></IMAGE>` +
      `<DATASTORE><ID>${CLUSTER_DS.linstor.image}</ID></DATASTORE></DS_DRIVER_ACTION_DATA>`;
    for (const style of ["argv", "stdin"] as const) {
      const r = await c.runDs("datastore", "linstor", "stat", xml, 7, style);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "4\n");
    }
    const stats = await c.stats();
    assert.equal(stats.length, 2);
    assert.deepEqual(stats.map((s) => `${s.kind}/${s.driver}/${s.action}`), [
      "datastore/linstor/stat",
      "datastore/linstor/stat",
    ]);
  });

  it("names what was asked and what exists for an unknown action", async () => {
    await Deno.mkdir(join(c.remotes, "tm", "linstor"), { recursive: true });
    const bogus = join(c.remotes, "tm", "linstor", "frobnicate");
    await Deno.symlink(await Deno.readLink(join(c.remotes, "datastore", "linstor", "stat")), bogus);
    const r = await c.run("tm", "linstor", "frobnicate", ["a"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.match(r.stderr, /unknown tm action 'linstor\/frobnicate' \(known: /);
  });

  it("rejects a wrong argument count with one line", async () => {
    const r = await c.run("datastore", "storpool", "stat", ["a", "b", "c"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^datastore\/storpool\/stat: datastore stat expects|expects 1 to 2/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });

  it("formats errors for oned < 6.0.3 inside the ERROR MESSAGE block", async () => {
    await Deno.writeTextFile(join(c.remotes, "VERSION"), "5.12.0\n");
    try {
      const r = await c.run("datastore", "linstor", "stat", ["7"], { stdin: "%%%" });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /ERROR MESSAGE --8<------\n.*not valid base64.*\nERROR MESSAGE ------>8--/,
      );
    } finally {
      await Deno.writeTextFile(join(c.remotes, "VERSION"), "7.0.0\n");
    }
  });
});

/**
 * tm context through the installed symlinks, for the three profiles: the ISO built on the
 * front-end lands at DIR/disk.N on the host (a plain file, or a link to the context volume's
 * device for profiles that keep it on the store) and holds context.sh and the
 * renamed `path:'name'` files (names with blanks and quotes are data, not shell); a repeat
 * replaces a link that was there instead of writing through it; bad input fails in one line.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../../../tools/sim/cluster.ts";
import { assertOk, assertOneLineFailure, isoFile, isoList, PROFILES, vmDir } from "./helpers.ts";
import { profileFor } from "../../../lib/addons/index.ts";

describe("tm context", () => {
  let c: Cluster;
  let files: string;
  before(async () => {
    c = await startCluster();
    files = join(c.root, "fe");
    await Deno.mkdir(join(files, "vms"), { recursive: true });
  });
  after(async () => {
    await c.stop();
  });

  PROFILES.forEach((name, i) => {
    it(`${name}: ISO with context.sh and renamed files at DIR/disk.N; repeat`, async () => {
      const vmId = 20 + i;
      const sys = CLUSTER_DS[name].system;
      await Deno.mkdir(join(files, "vms", `${vmId}`), { recursive: true });
      const ctxSh = join(files, "vms", `${vmId}`, "context.sh");
      await Deno.writeTextFile(ctxSh, `ETH0_IP='10.0.0.${vmId}'\nHOSTNAME='vm-${vmId}'\n`);
      const extra = join(files, `init $(touch x) ';.sh`);
      await Deno.writeTextFile(extra, "#!/bin/sh\necho hi\n");
      const dir = vmDir(sys, vmId);
      const args = [ctxSh, `${extra}:'init script.sh'`, `bravo:${dir}/disk.3`, `${vmId}`, `${sys}`];
      const r = await c.run("tm", name, "context", args);
      assertOk(r);
      assert.equal(r.stdout, "");
      const at = c.hostPath("bravo", `${dir}/disk.3`);
      const vol = profileFor(name, {}).contextVolume(vmId, 3);
      // a store volume is read through its device (the link's target on the host)
      const iso = vol ? c.hostPath("bravo", `/dev/storpool/${vol}`) : at;
      const st = await Deno.lstat(at);
      assert.ok(vol ? st.isSymlink : st.isFile, "the ISO is a plain file or a device link");
      const list = await isoList(iso);
      assert.deepEqual(list, ["/context.sh", "/init script.sh"]);
      assert.match(
        await isoFile(iso, "context.sh"),
        new RegExp(`ETH0_IP='10.0.0.${vmId}'`),
      );
      assert.equal(await isoFile(iso, "init script.sh"), "#!/bin/sh\necho hi\n");
      const label = await new Deno.Command("isoinfo", { args: ["-d", "-i", iso] }).output();
      assert.match(new TextDecoder().decode(label.stdout), /Volume id: CONTEXT/);
      // nothing left behind: no temp files next to the ISO, no stray file from the name
      const names = [...Deno.readDirSync(c.hostPath("bravo", dir))].map((e) => e.name);
      assert.deepEqual(names, ["disk.3"]);
      assert.equal(
        [...Deno.readDirSync(c.hostPath("bravo", "/"))].some((e) => e.name === "x"),
        false,
      );

      // repeat over a link: the link is replaced, its target untouched
      const target = c.hostPath("bravo", "/var/tmp/keep");
      await Deno.writeTextFile(target, "untouched");
      await Deno.remove(at);
      await Deno.symlink(target, at);
      await Deno.writeTextFile(ctxSh, `HOSTNAME='renamed-${vmId}'\n`);
      assertOk(await c.run("tm", name, "context", args));
      assert.ok(vol ? (await Deno.lstat(at)).isSymlink : (await Deno.lstat(at)).isFile);
      if (vol) assert.notEqual(await Deno.readLink(at), target);
      assert.equal(await Deno.readTextFile(target), "untouched");
      assert.match(await isoFile(iso, "context.sh"), /renamed-/);
    });
  });

  it("a missing file or a bad path fails in one line and writes nothing", async () => {
    const dir = vmDir(101, 29);
    const r = await c.run("tm", "linstor", "context", [
      join(files, "nope.sh"),
      `bravo:${dir}/disk.1`,
      "29",
      "101",
    ]);
    assertOneLineFailure(r, /does not exist/);
    await assert.rejects(Deno.lstat(c.hostPath("bravo", `${dir}/disk.1`)));
    const r2 = await c.run("tm", "storpool", "context", [
      join(files, "x:'../evil'"),
      "bravo:/a/disk.1",
      "1",
      "111",
    ]);
    assertOneLineFailure(r2, /invalid context file name/);
    const r3 = await c.run("tm", "linstor_un", "context", ["bravo:/a/disk.1", "1", "121"]);
    assertOneLineFailure(r3, /expects at least 4 arguments/);
  });
});

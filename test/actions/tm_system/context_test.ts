/**
 * tm context through the installed symlinks, for the three profiles: the ISO built on the
 * front-end lands at DIR/disk.N on the host (a plain file, or a link to the context volume's
 * device for profiles that keep it on the store) and holds context.sh and the
 * renamed `path:'name'` files (names with blanks and quotes are data, not shell); a repeat
 * replaces a link that was there instead of writing through it; bad input fails in one line.
 * The ISO is written by oneblk itself: no ISO program runs (they are shadowed by failing ones
 * here), and it is read back by the tests' own reader (test/support/iso9660_reader.ts).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../../../tools/sim/cluster.ts";
import {
  assertOk,
  assertOneLineFailure,
  isoFile,
  isoLabel,
  isoList,
  PROFILES,
  vmDir,
} from "./helpers.ts";
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
      assert.deepEqual(isoLabel(iso), { label: "CONTEXT", joliet: true });
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

  it("no ISO program runs; a directory argument keeps its tree; the later of two names wins", async () => {
    // genisoimage, mkisofs and xorrisofs first on PATH, each failing and leaving a trace
    const shadow = join(c.root, "shadow-bin");
    const trace = join(c.root, "iso-programs-run");
    await Deno.mkdir(shadow, { recursive: true });
    for (const p of ["genisoimage", "mkisofs", "xorrisofs", "xorriso"]) {
      await Deno.writeTextFile(
        join(shadow, p),
        `#!/bin/sh\necho ${p} >> '${trace}'\nexit 1\n`,
        { mode: 0o755 },
      );
    }
    const vmId = 31;
    const dir = vmDir(101, vmId);
    const base = join(files, "vms", `${vmId}`);
    await Deno.mkdir(join(base, "tree", "sub"), { recursive: true });
    await Deno.writeTextFile(join(base, "context.sh"), "FIRST='1'\n");
    await Deno.writeTextFile(join(base, "other.sh"), "SECOND='2'\n");
    await Deno.writeTextFile(join(base, "tree", "sub", "deep.txt"), "deep\n");
    await Deno.chmod(join(base, "tree", "sub", "deep.txt"), 0o600);
    const r = await c.run("tm", "linstor", "context", [
      join(base, "context.sh"),
      join(base, "tree"),
      `${join(base, "other.sh")}:'context.sh'`,
      `bravo:${dir}/disk.2`,
      `${vmId}`,
      "101",
    ], { env: { PATH: `${shadow}:${c.env.PATH}` } });
    assertOk(r);
    assert.match(r.stderr, /"context\.sh" given more than once: the last one is used/);
    await assert.rejects(Deno.stat(trace), Deno.errors.NotFound, "no ISO program ran");
    const iso = c.hostPath("bravo", `${dir}/disk.2`);
    assert.deepEqual(await isoList(iso), [
      "/context.sh",
      "/tree",
      "/tree/sub",
      "/tree/sub/deep.txt",
    ]);
    assert.equal(await isoFile(iso, "context.sh"), "SECOND='2'\n");
    assert.equal(await isoFile(iso, "tree/sub/deep.txt"), "deep\n");

    // a file and a directory of one name cannot both be there: refused, nothing written
    const r2 = await c.run("tm", "linstor", "context", [
      join(base, "tree"),
      `${join(base, "other.sh")}:'tree'`,
      `bravo:${dir}/disk.3`,
      `${vmId}`,
      "101",
    ]);
    assertOneLineFailure(r2, /tree is given both as a file and as a directory/);
    await assert.rejects(Deno.lstat(c.hostPath("bravo", `${dir}/disk.3`)));
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

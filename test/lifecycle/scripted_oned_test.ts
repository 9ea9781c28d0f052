/**
 * The scripted oned itself: calling conventions per version, how it reads failure text from
 * stderr, the `.sys` fallback of one_tm.rb, the DS argument styles it uses (seen by a real
 * action through the installed symlinks), and the simulated hosts' virsh.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  conventionFor,
  onedErrorText,
  OnedFailure,
  parseMonitor,
  ScriptedOned,
} from "../../tools/sim/oned/scripted_oned.ts";
import { simVirshScript } from "../../tools/sim/libvirt.ts";
import { Lifecycle, missingActions, unsupportedReason } from "../../tools/sim/scenario.ts";

describe("calling conventions", () => {
  it("follow the contract's version table", () => {
    const c512 = conventionFor("5.12.0");
    assert.equal(c512.dsArgs, "argv");
    assert.equal(c512.legacyFstype, true);
    assert.equal(c512.cpFormatRequired, false);
    assert.equal(c512.errorStyle, "block");
    assert.equal(c512.backups, false);
    const c66 = conventionFor("6.6.0");
    assert.deepEqual(
      [c66.dsArgs, c66.legacyFstype, c66.cpFormatRequired, c66.errorStyle, c66.backups],
      ["argv", false, true, "stderr", true],
    );
    assert.equal(c66.backupJobArg, false);
    assert.equal(conventionFor("6.6.2", { dsDashStdin: true }).dsArgs, "dash");
    const c68 = conventionFor("6.8.0");
    assert.deepEqual([c68.dsArgs, c68.errorStyle, c68.backupJobArg], ["stdin", "stderr", true]);
    assert.equal(conventionFor("7.0.0").errorStyle, "log");
    assert.equal(conventionFor("6.99.80").errorStyle, "log");
  });

  it("read failure text from stderr the way each version does", () => {
    const block = "INFO: x\nERROR MESSAGE --8<------\ncannot clone\nERROR MESSAGE ------>8--\n";
    assert.deepEqual(onedErrorText(block, "block"), {
      info: "cannot clone",
      logs: [],
      complaints: [],
    });
    assert.equal(onedErrorText("cannot clone\n", "block").info, "-");
    assert.equal(onedErrorText("cannot clone\n", "block").complaints.length, 1);
    assert.deepEqual(onedErrorText("a\nb\n", "stderr").info, "a b");
    assert.equal(onedErrorText("a\nb\n", "stderr").complaints.length, 1);
    const seven = onedErrorText("INFO: 7 progress\nvolume is busy\nDEBUG: x\n", "log");
    assert.equal(seven.info, "volume is busy");
    assert.deepEqual(seven.logs, ["INFO: 7 progress", "DEBUG: x"]);
    assert.deepEqual(seven.complaints, []);
  });

  it("parse monitor answers", () => {
    assert.deepEqual(parseMonitor("USED_MB=1\nTOTAL_MB=10\nFREE_MB=9.5\n"), {
      usedMb: 1,
      totalMb: 10,
      freeMb: 9.5,
    });
    assert.equal(parseMonitor("USED_MB=1\nTOTAL_MB=10\n"), null);
  });
});

describe("scripted oned against the simulated cluster", () => {
  let s: ScriptedOned;
  before(async () => {
    s = await ScriptedOned.start({ profile: "linstor", version: "6.6.0" });
  });
  after(async () => {
    await s.close();
  });

  it("writes $R/VERSION and resolves clone.ssh to clone like one_tm.rb", async () => {
    assert.equal((await Deno.readTextFile(join(s.cluster.remotes, "VERSION"))).trim(), "6.6.0");
    assert.equal(s.resolveTm("linstor", "clone.ssh"), "clone");
    assert.equal(s.resolveTm("linstor", "clone"), "clone");
    assert.equal(s.resolveTm("linstor", "frobnicate.ssh"), null);
    await assert.rejects(
      s.tmLine("test", "FROBNICATE.ssh linstor alpha:/x 1 100"),
      (e) => e instanceof OnedFailure && e.missing && /nor '.*frobnicate' exists/.test(e.message),
    );
  });

  it("runs a suffixed transfer line through the fallback script", async () => {
    const call = await s.tmLine(
      "test",
      "DELETE.ssh linstor bravo:/var/lib/one//datastores/101/77 77 101",
    );
    assert.equal(call.script, "delete");
    assert.equal(call.dir, "linstor");
    assert.deepEqual(call.args, ["bravo:/var/lib/one//datastores/101/77", "77", "101"]);
  });

  it("passes the DS payload on argv (6.6), as `- id` + stdin (6.6.2 -i) and on stdin (7.x)", async () => {
    const img = join(s.cluster.root, "one.raw");
    await Deno.writeFile(img, new Uint8Array(1024 * 1024));
    const xml = `<DS_DRIVER_ACTION_DATA><IMAGE><PATH>${img}</PATH></IMAGE>` +
      s.cluster.oned.state.datastores.get(100)! + "</DS_DRIVER_ACTION_DATA>";
    const argv = await s.dsAction("test", "stat", 100, xml, 5);
    assert.ok(argv.ok, argv.stderr);
    assert.equal(argv.args.length, 2);
    assert.equal(argv.stdin, "none");
    assert.equal(argv.stdout, "1\n");
    for (
      const [version, dash, args] of [["6.6.2", true, ["-", "5"]], ["7.0.0", false, ["5"]]] as const
    ) {
      const o = new ScriptedOned(s.cluster, { profile: "linstor", version, dsDashStdin: dash });
      await o.prepare();
      const c = await o.dsAction("test", "stat", 100, xml, 5);
      assert.ok(c.ok, c.stderr);
      assert.deepEqual(c.args, args);
      assert.equal(c.stdin, "base64");
      assert.equal(c.stdout, "1\n");
      assert.ok(c.stats, "the action's stats line is attached");
      assert.equal(c.stats!.action, "stat");
    }
    await s.prepare();
  });

  it("reports a missing datastore action as not implemented", async () => {
    const o = new ScriptedOned(s.cluster, { profile: "linstor" });
    await assert.rejects(
      o.dsAction("test", "increment_flatten", 100, "<DS_DRIVER_ACTION_DATA/>", 1),
      (e) => e instanceof OnedFailure && e.missing,
    );
  });
});

describe("which lifecycle steps can run", () => {
  it("names the missing actions of a step", () => {
    assert.deepEqual(
      missingActions("linstor", ["datastore/stat", "tm/frobnicate", "vmm/frobnicate"]),
      ["tm/frobnicate", "vmm/frobnicate"],
    );
    const life = new Lifecycle({ profile: "storpool", version: "5.12.0" });
    const backup = life.steps().find((s) => s.id === "backup")!;
    assert.match(unsupportedReason(life, backup) ?? "", /5\.12\.0 has no backups/);
    assert.equal(
      unsupportedReason(new Lifecycle({ profile: "storpool", version: "6.6.0" }), backup),
      undefined,
    );
  });
});

describe("simulated virsh", () => {
  it("saves a domain into a device and restores it", async () => {
    const host = await Deno.makeTempDir({ prefix: "oneblk-virsh-" });
    try {
      const virsh = join(host, "virsh");
      await Deno.writeTextFile(virsh, simVirshScript(), { mode: 0o755 });
      const run = async (...args: string[]) => {
        const o = await new Deno.Command(virsh, {
          args,
          cwd: host,
          stdout: "piped",
          stderr: "piped",
        })
          .output();
        return { code: o.code, out: new TextDecoder().decode(o.stdout) };
      };
      await Deno.mkdir(join(host, "var/run/oneblk-sim/domains"), { recursive: true });
      await Deno.writeTextFile(join(host, "var/run/oneblk-sim/domains/one-7"), "one-7\n");
      const dev = join(host, "dev0");
      await Deno.writeFile(dev, new Uint8Array(65536));
      assert.equal((await run("--connect", "qemu:///system", "domstate", "one-7")).code, 0);
      assert.equal((await run("-c", "qemu:///system", "save", "one-7", dev)).code, 0);
      assert.equal((await Deno.stat(dev)).size, 65536, "the device is not truncated");
      assert.equal((await run("domstate", "one-7")).code, 1, "the domain is gone after save");
      assert.equal((await run("restore", dev)).code, 0);
      assert.match((await run("domstate", "one-7")).out, /running/);
      assert.equal((await run("restore", dev)).code, 1, "an active domain is not restored twice");
      await Deno.writeFile(dev, new Uint8Array(16));
      await run("save", "one-7", dev);
      assert.equal((await run("restore", join(host, "missing"))).code, 1);
    } finally {
      await Deno.remove(host, { recursive: true });
    }
  });
});

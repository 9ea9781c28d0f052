import { after, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  install,
  type InstallAction,
  onedConfSnippets,
  STUB_MARKER,
  stubScript,
  uninstall,
} from "../../app/install.ts";
import { OneblkError } from "../../lib/errors.ts";
import { listActions } from "../../app/registry.ts";

const isKind = (kind: string, re?: RegExp) => (e: unknown) =>
  e instanceof OneblkError && e.kind === kind && (!re || re.test(e.message));

/** Registry-style entries (as app/registry.ts listActions() gives) plus the short form. */
const ACTIONS: InstallAction[] = [
  { kind: "datastore", driver: "linstor", action: "cp" },
  { kind: "datastore", driver: "storpool", action: "cp" },
  { kind: "tm", driver: "linstor", action: "clone" },
  { kind: "tm", driver: "linstor", action: "monitor" },
  { kind: "tm", driver: "linstor", action: "snap_create_live" },
  { kind: "tm", driver: "linstor_un", action: "ln" },
  { kind: "tm", driver: "storpool", action: "clone" },
  { kind: "tm", driver: "storpool", action: "monitor" },
  { kind: "vmm", driver: "kvm", name: "save_linstor_un", profile: "linstor_un", action: "save" },
  { kind: "vmm", driver: "kvm", name: "tmsave", profile: "storpool", action: "save" },
  { kind: "vmm", driver: "linstor_un", action: "restore_linstor_un" },
];
const ALL_LINKS = [
  "datastore/linstor/cp",
  "datastore/storpool/cp",
  "tm/linstor/clone",
  "tm/linstor/monitor",
  "tm/linstor/snap_create_live",
  "tm/linstor_un/ln",
  "tm/storpool/clone",
  "tm/storpool/monitor",
  "vmm/kvm/restore_linstor_un",
  "vmm/kvm/save_linstor_un",
  "vmm/kvm/tmsave",
];

/** A fresh remotes dir under `tmp` with stock content that must never be touched. */
async function stockRemotes(tmp: string): Promise<string> {
  const remotes = await Deno.makeTempDir({ dir: tmp, prefix: "remotes-" });
  await Deno.mkdir(join(remotes, "vmm/kvm"), { recursive: true });
  await Deno.writeTextFile(join(remotes, "vmm/kvm/deploy"), "#!/bin/sh\n# stock\n");
  return remotes;
}

describe("install / uninstall", () => {
  let tmp: string;
  let bin: string;
  let remotes: string;

  before(async () => {
    tmp = await Deno.makeTempDir({ prefix: "oneblk-install-" });
    await Deno.mkdir(join(tmp, "bin"));
    bin = join(tmp, "bin", "oneblk");
    await Deno.writeTextFile(bin, "#!/bin/sh\necho oneblk\n");
    await Deno.chmod(bin, 0o755);
  });
  beforeEach(async () => {
    remotes = await stockRemotes(tmp);
  });
  after(async () => {
    await Deno.remove(tmp, { recursive: true });
  });

  const target = (rel: string) => Deno.readLink(join(remotes, rel));
  const exists = (rel: string) => Deno.lstat(join(remotes, rel)).then(() => true, () => false);

  it("creates every link, then reports everything unchanged", async () => {
    const r1 = await install({ remotes, bin, actions: ACTIONS });
    assert.deepEqual(r1.links.map((l) => l.rel), ALL_LINKS);
    assert.ok(r1.links.every((l) => l.status === "created"));
    assert.deepEqual(r1.counts, { created: 11, updated: 0, unchanged: 0, skipped: 0 });
    for (const rel of ALL_LINKS) assert.equal(await target(rel), bin, rel);
    assert.equal(await Deno.readTextFile(join(remotes, "vmm/kvm/deploy")), "#!/bin/sh\n# stock\n");

    const r2 = await install({ remotes, bin, actions: ACTIONS });
    assert.deepEqual(r2.counts, { created: 0, updated: 0, unchanged: 11, skipped: 0 });
    assert.match(r2.text, /summary: 0 created, 0 updated, 11 unchanged, 0 skipped/);
  });

  it("the README's link counts are what install makes for one driver and for all", async () => {
    const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
    const num = (re: RegExp) => {
      const m = re.exec(readme);
      assert.ok(m, `README says ${re}`);
      return Number(m[1]);
    };
    const perDriver = num(/(\d+) per driver today/);
    const all = num(/(\d+) for all three\s+drivers/);
    assert.equal(num(/\((\d+) copies per driver\)/), perDriver);
    for (const driver of ["linstor", "linstor_un", "storpool"]) {
      const r = await install({
        remotes: await stockRemotes(tmp),
        bin,
        actions: listActions(),
        drivers: [driver],
      });
      assert.equal(r.counts.created, perDriver, driver);
    }
    const r = await install({ remotes, bin, actions: listActions() });
    assert.equal(r.counts.created, all);
  });

  it("installs only the selected drivers", async () => {
    const r = await install({ remotes, bin, actions: ACTIONS, drivers: ["storpool"] });
    assert.deepEqual(r.links.map((l) => l.rel), [
      "datastore/storpool/cp",
      "tm/storpool/clone",
      "tm/storpool/monitor",
      "vmm/kvm/tmsave",
    ]);
    assert.equal(await exists("tm/linstor"), false);
    await assert.rejects(
      install({ remotes, bin, actions: ACTIONS, drivers: ["ceph"] }),
      isKind("usage", /unknown driver 'ceph'/),
    );
  });

  it("never overwrites a regular file without --force, and keeps a backup with it", async () => {
    await Deno.mkdir(join(remotes, "tm/linstor"), { recursive: true });
    const old = "#!/usr/bin/env python3\n# addon-linstor clone\n";
    await Deno.writeTextFile(join(remotes, "tm/linstor/clone"), old);

    const r1 = await install({ remotes, bin, actions: ACTIONS });
    const c1 = r1.links.find((l) => l.rel === "tm/linstor/clone")!;
    assert.equal(c1.status, "skipped");
    assert.match(c1.reason!, /regular file; use --force/);
    assert.equal(await Deno.readTextFile(join(remotes, "tm/linstor/clone")), old);
    assert.match(r1.text, /skipped\s+tm\/linstor\/clone: is a regular file/);
    assert.match(r1.text, /^exit code 3: 1 path\(s\) left as they are .* --force replaces them/m);

    const now = new Date("2025-03-04T05:06:07.890Z");
    const r2 = await install({ remotes, bin, actions: ACTIONS, force: true, now });
    const c2 = r2.links.find((l) => l.rel === "tm/linstor/clone")!;
    assert.equal(c2.status, "updated");
    assert.equal(c2.backup, join(remotes, "tm/linstor/clone.oneblk-backup-20250304T050607Z"));
    assert.equal(await Deno.readTextFile(c2.backup!), old);
    assert.equal(await target("tm/linstor/clone"), bin);
    assert.equal(r2.counts.updated, 1);
    assert.equal(r2.counts.unchanged, 10);

    // a second forced run finds our link and leaves the backup alone
    const r3 = await install({ remotes, bin, actions: ACTIONS, force: true, now });
    assert.equal(r3.counts.unchanged, 11);
  });

  it("replaces a foreign symlink only with --force, and a link to another oneblk always", async () => {
    await Deno.mkdir(join(remotes, "tm/storpool"), { recursive: true });
    await Deno.symlink("../../tm/storpool/storpool_common.sh", join(remotes, "tm/storpool/clone"));
    await Deno.symlink("tmsaverestore", join(remotes, "vmm/kvm/tmsave"));
    await Deno.mkdir(join(remotes, "datastore/linstor"), { recursive: true });
    await Deno.symlink("/opt/oneblk-0.9/bin/oneblk", join(remotes, "datastore/linstor/cp"));

    const r1 = await install({ remotes, bin, actions: ACTIONS });
    const by = (r: typeof r1, rel: string) => r.links.find((l) => l.rel === rel)!;
    assert.equal(by(r1, "tm/storpool/clone").status, "skipped");
    assert.equal(by(r1, "vmm/kvm/tmsave").status, "skipped");
    assert.equal(await target("vmm/kvm/tmsave"), "tmsaverestore");
    assert.equal(by(r1, "datastore/linstor/cp").status, "updated");
    assert.equal(by(r1, "datastore/linstor/cp").previous, "/opt/oneblk-0.9/bin/oneblk");
    assert.equal(await target("datastore/linstor/cp"), bin);

    const r2 = await install({ remotes, bin, actions: ACTIONS, force: true });
    assert.equal(by(r2, "tm/storpool/clone").status, "updated");
    assert.equal(by(r2, "vmm/kvm/tmsave").previous, "tmsaverestore");
    assert.equal(await target("vmm/kvm/tmsave"), bin);
    assert.equal(r2.counts.skipped, 0);
  });

  it("skips directories in the way even with --force", async () => {
    await Deno.mkdir(join(remotes, "tm/linstor/clone"), { recursive: true });
    const r = await install({ remotes, bin, actions: ACTIONS, force: true });
    const c = r.links.find((l) => l.rel === "tm/linstor/clone")!;
    assert.equal(c.status, "skipped");
    assert.equal(c.reason, "is a directory");
  });

  it("changes nothing in a dry run", async () => {
    await Deno.mkdir(join(remotes, "tm/linstor"), { recursive: true });
    await Deno.writeTextFile(join(remotes, "tm/linstor/clone"), "old");
    const r = await install({ remotes, bin, actions: ACTIONS, dryRun: true, force: true });
    assert.equal(r.dryRun, true);
    assert.equal(r.counts.created, 10);
    assert.equal(r.counts.updated, 1);
    assert.match(r.text, /dry run/);
    assert.match(r.text, /create\s+tm\/linstor\/monitor/);
    const left: string[] = [];
    for await (const e of Deno.readDir(join(remotes, "tm"))) left.push(e.name);
    assert.deepEqual(left, ["linstor"]);
    const inLinstor: string[] = [];
    for await (const e of Deno.readDir(join(remotes, "tm/linstor"))) inLinstor.push(e.name);
    assert.deepEqual(inLinstor, ["clone"]);
    assert.equal(await Deno.readTextFile(join(remotes, "tm/linstor/clone")), "old");
    assert.equal(await exists("datastore"), false);
  });

  it("lists other files in the driver directories it manages", async () => {
    await Deno.mkdir(join(remotes, "tm/linstor"), { recursive: true });
    await Deno.writeTextFile(join(remotes, "tm/linstor/mvds"), "old add-on script");
    const r = await install({ remotes, bin, actions: ACTIONS });
    assert.deepEqual(r.foreign, ["tm/linstor/mvds"]);
    assert.match(r.text, /other files in the driver directories[^\n]*\n {2}tm\/linstor\/mvds/);
  });

  it("refuses a missing or non-executable binary", async () => {
    await assert.rejects(
      install({ remotes, bin: join(tmp, "nope"), actions: ACTIONS }),
      isKind("config", /not found/),
    );
    const plain = join(tmp, "plain");
    await Deno.writeTextFile(plain, "x");
    await Deno.chmod(plain, 0o644);
    await assert.rejects(
      install({ remotes, bin: plain, actions: ACTIONS }),
      isKind("config", /not executable/),
    );
  });

  it("uninstalls only links to our binary and reports backups", async () => {
    await Deno.mkdir(join(remotes, "tm/linstor"), { recursive: true });
    await Deno.writeTextFile(join(remotes, "tm/linstor/clone"), "add-on");
    await Deno.mkdir(join(remotes, "tm/ssh"), { recursive: true });
    await Deno.writeTextFile(join(remotes, "tm/ssh/clone"), "stock");
    await Deno.symlink("clone", join(remotes, "tm/ssh/ln"));
    await install({ remotes, bin, actions: ACTIONS, force: true });

    const dry = await uninstall({ remotes, dryRun: true });
    assert.equal(dry.removed.length, 11);
    assert.ok(await exists("tm/linstor/monitor"), "dry run removed a link");

    const r = await uninstall({ remotes, bin });
    assert.deepEqual(r.removed, ALL_LINKS);
    assert.deepEqual(r.backups.length, 1);
    assert.match(r.backups[0], /^tm\/linstor\/clone\.oneblk-backup-\d{8}T\d{6}Z$/);
    assert.deepEqual(r.removedDirs, [
      "datastore/linstor",
      "datastore/storpool",
      "tm/linstor_un",
      "tm/storpool",
    ]);
    assert.match(r.text, /backups left in place/);
    for (const rel of ALL_LINKS) assert.equal(await exists(rel), false, rel);
    // everything else is still there
    assert.equal(await Deno.readTextFile(join(remotes, "tm/ssh/clone")), "stock");
    assert.equal(await target("tm/ssh/ln"), "clone");
    assert.equal(await Deno.readTextFile(join(remotes, "vmm/kvm/deploy")), "#!/bin/sh\n# stock\n");
    assert.ok(await exists(r.backups[0]));
    assert.ok(await exists("tm/linstor"), "a directory with a backup stays");

    const again = await uninstall({ remotes });
    assert.deepEqual(again.removed, []);
  });

  it("with --bin, uninstall leaves links to other oneblk binaries", async () => {
    await Deno.mkdir(join(remotes, "tm/linstor"), { recursive: true });
    await Deno.symlink("/opt/other/oneblk", join(remotes, "tm/linstor/ln"));
    await install({ remotes, bin, actions: ACTIONS, drivers: ["linstor"] });
    const r = await uninstall({ remotes, bin });
    assert.ok(!r.removed.includes("tm/linstor/ln"));
    assert.equal(await target("tm/linstor/ln"), "/opt/other/oneblk");
    const r2 = await uninstall({ remotes });
    assert.deepEqual(r2.removed, ["tm/linstor/ln"]);
  });

  it("prints the oned.conf and vmm_execrc snippets for the selected drivers", async () => {
    const r = await install({ remotes, bin, actions: ACTIONS, dryRun: true });
    const t = r.onedConf;
    assert.ok(r.text.endsWith(t));
    assert.match(t, /TM_MAD ARGUMENTS: +append to the -d list: linstor,linstor_un,storpool/);
    assert.match(t, /DATASTORE_MAD ARGUMENTS: +append to the -d list: linstor,storpool\n/);
    assert.match(t, /append to the -s list: linstor,storpool\n/);
    assert.match(
      t,
      /ARGUMENTS, optional: add -l save=save_linstor_un,restore=restore_linstor_un\n/,
    );
    assert.match(t, /-l runs these on the front-end, for EVERY VM of that VM_MAD/);
    assert.match(t, /- save, restore: the memory checkpoint [^]*? instead of a file/);
    assert.match(
      t,
      /One script per action: save_linstor_un also serve the storpool VMs/,
    );
    assert.ok(t.split("\n").every((l) => l.length <= 100 || !l.startsWith("#   ")), t);
    assert.match(
      t,
      /TM_MAD_CONF = \[\n {4}NAME = "linstor", LN_TARGET = "NONE", CLONE_TARGET = "SELF"/,
    );
    assert.match(t, /NAME = "linstor", REQUIRED_ATTRS = "DISK_TYPE"/);
    const settings = t.split("\n").filter((l) => !l.startsWith("#")).join("\n");
    assert.ok(!settings.includes("BRIDGE_LIST"));
    assert.match(t, /# addon-linstor documents REQUIRED_ATTRS = "BRIDGE_LIST"/);
    assert.match(t, /NAME = "linstor_un", LN_TARGET = "NONE", CLONE_TARGET = "SYSTEM"/);
    assert.match(t, /NAME = "storpool", REQUIRED_ATTRS = "DISK_TYPE"/);
    assert.match(t, /LIVE_DISK_SNAPSHOTS \(space-separated\): kvm-linstor\n/);

    const sp = onedConfSnippets(["storpool"], ACTIONS);
    assert.match(sp, /add -l save=tmsave\n/);
    assert.ok(!sp.includes("One script per action"));
    assert.match(sp, /autoconf\.rb writes MARKETPLACE_ACTIONS = "", which turns marketplace/);
    assert.ok(!/"linstor|_linstor|kvm-linstor/.test(sp), "no linstor setting for storpool only");
    assert.match(sp, /LIVE_DISK_SNAPSHOTS: no change/);
    assert.match(onedConfSnippets(["linstor"], ACTIONS), /VM_MAD: no -l overrides needed/);
    // drivers without any implemented action get no configuration blocks
    const onlyLinstor = onedConfSnippets(["linstor", "storpool"], ACTIONS.slice(0, 1));
    assert.match(onlyLinstor, /NAME = "linstor"/);
    assert.ok(!onlyLinstor.includes('NAME = "storpool"'));
    assert.match(onedConfSnippets(["storpool"], []), /nothing to configure/);
  });

  it("storpool: the add-on's deploy and disk hot-plug overrides, beside its deploy-tweaks.d", async () => {
    const r = await install({ remotes, bin, actions: listActions(), drivers: ["storpool"] });
    const vmm = r.links.filter((l) => l.kind === "vmm").map((l) => l.rel);
    for (const f of ["deploy-tweaks", "attach_disk.storpool", "detach_disk.storpool"]) {
      assert.ok(vmm.includes(`vmm/kvm/${f}`), f);
      assert.equal(await Deno.readLink(join(remotes, "vmm/kvm", f)), bin);
    }
    assert.match(
      r.onedConf,
      /add -l deploy=deploy-tweaks,save=tmsave,restore=tmrestore,attach_disk=attach_disk\.storpool,detach_disk=detach_disk\.storpool,snapshotcreate=/,
    );
    const lun = onedConfSnippets(["linstor_un"], listActions());
    assert.match(lun, /# backups \(linstor_un as the system datastore's TM\)/);
    assert.match(
      lun,
      /deploy=deploy_linstor_un,.*attach_disk=attach_disk_linstor_un,detach_disk=detach_disk_linstor_un/,
    );
  });
});

describe("install: backups", () => {
  let remotes: string;
  let bin: string;
  before(async () => {
    remotes = await Deno.makeTempDir();
    bin = join(remotes, "oneblk-bin");
    await Deno.writeTextFile(bin, "#!/bin/sh\n", { mode: 0o755 });
  });
  after(async () => {
    await Deno.remove(remotes, { recursive: true });
  });

  it("links tm prebackup[_live], postbackup[_live] and restore for all three drivers", async () => {
    const r = await install({ remotes, bin, actions: listActions() });
    for (const d of ["linstor", "linstor_un", "storpool"]) {
      for (const a of ["prebackup", "prebackup_live", "postbackup", "postbackup_live", "restore"]) {
        assert.equal(await Deno.readLink(join(remotes, "tm", d, a)), bin, `tm/${d}/${a}`);
      }
    }
    assert.match(
      r.onedConf,
      /# backups \(linstor, linstor_un, storpool as the system datastore's TM\)/,
    );
    assert.match(r.onedConf, /MODE=INCREMENT needs OpenNebula 7\.2\+/);
    // without the backup actions, no backup note
    const some = listActions().filter((a) => a.kind !== "tm" || a.action !== "prebackup");
    assert.doesNotMatch(onedConfSnippets(["linstor"], some), /# backups/);
  });
});

/** Run a program; stdout, stderr and exit code. */
async function exec(cmd: string, args: string[], stdin = "") {
  const p = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(stdin));
  await w.close();
  const o = await p.output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LAUNCHER = join(ROOT, "scripts/oneblk");

describe("install --stubs", () => {
  let tmp: string;
  let bin: string;
  let bin2: string;
  let remotes: string;

  before(async () => {
    tmp = await Deno.makeTempDir({ prefix: "oneblk-stubs-" });
    await Deno.mkdir(join(tmp, "bin"));
    bin = join(tmp, "bin", "oneblk");
    bin2 = join(tmp, "bin", "blockdrv"); // not named oneblk…: stubs are recognised by the marker
    for (const b of [bin, bin2]) {
      await Deno.writeTextFile(b, "#!/bin/sh\necho oneblk\n");
      await Deno.chmod(b, 0o755);
    }
  });
  beforeEach(async () => {
    remotes = await stockRemotes(tmp);
  });
  after(async () => {
    await Deno.remove(tmp, { recursive: true });
  });

  const at = (rel: string) => join(remotes, rel);
  const read = (rel: string) => Deno.readTextFile(at(rel));
  const by = (r: { links: { rel: string }[] }, rel: string) =>
    r.links.find((l) => l.rel === rel)! as Awaited<ReturnType<typeof install>>["links"][number];

  it("writes executable stubs with the marker, then reports everything unchanged", async () => {
    const r1 = await install({ remotes, bin, actions: ACTIONS, stubs: true });
    assert.equal(r1.stubs, true);
    assert.deepEqual(r1.links.map((l) => l.rel), ALL_LINKS);
    assert.deepEqual(r1.counts, { created: 11, updated: 0, unchanged: 0, skipped: 0 });
    const want = `#!/bin/bash\n${STUB_MARKER}${bin}\nexec -a "$0" '${bin}' "$@"\n`;
    assert.equal(stubScript(bin), want);
    for (const rel of ALL_LINKS) {
      const st = await Deno.lstat(at(rel));
      assert.ok(st.isFile && !st.isSymlink, rel);
      assert.equal(st.mode! & 0o777, 0o755, rel);
      assert.equal(await read(rel), want, rel);
    }
    assert.match(r1.text, /^mode: stubs \(small bash scripts that run /m);
    // VMM overrides are `-l` local actions: they run on the front-end, not on the hosts.
    assert.doesNotMatch(r1.text, /run on the hosts/);
    assert.doesNotMatch(r1.text, /use --stubs/);
    assert.equal(await read("vmm/kvm/deploy"), "#!/bin/sh\n# stock\n");

    const r2 = await install({ remotes, bin, actions: ACTIONS, stubs: true });
    assert.deepEqual(r2.counts, { created: 0, updated: 0, unchanged: 11, skipped: 0 });
  });

  it("prints the mode and the onehost sync note in symlink mode", async () => {
    const r = await install({ remotes, bin, actions: ACTIONS, dryRun: true });
    assert.equal(r.stubs, false);
    const lines = r.text.split("\n");
    assert.ok(lines.includes("mode: symlinks"));
    assert.ok(
      lines.includes(
        "note: onehost sync copies the binary once per link to every host; use --stubs to avoid that",
      ),
    );
  });

  it("updates stubs for another binary and rewrites edited ones", async () => {
    await install({ remotes, bin, actions: ACTIONS, stubs: true });
    const r = await install({ remotes, bin: bin2, actions: ACTIONS, stubs: true });
    assert.deepEqual(r.counts, { created: 0, updated: 11, unchanged: 0, skipped: 0 });
    const c = by(r, "tm/linstor/clone");
    assert.equal(c.previous, bin);
    assert.equal(c.reason, `was a stub for ${bin}`);
    assert.equal(await read("tm/linstor/clone"), stubScript(bin2));

    await Deno.writeTextFile(at("tm/linstor/clone"), stubScript(bin2) + "echo extra\n");
    await Deno.chmod(at("tm/linstor/monitor"), 0o644);
    const r2 = await install({ remotes, bin: bin2, actions: ACTIONS, stubs: true });
    assert.equal(r2.counts.updated, 2);
    assert.equal(by(r2, "tm/linstor/clone").reason, "stub rewritten");
    assert.equal(await read("tm/linstor/clone"), stubScript(bin2));
    assert.equal((await Deno.stat(at("tm/linstor/monitor"))).mode! & 0o777, 0o755);
  });

  it("switches between link and stub mode, updating only its own entries", async () => {
    await Deno.mkdir(at("tm/storpool"), { recursive: true });
    await Deno.symlink("storpool_common.sh", at("tm/storpool/clone"));
    await install({ remotes, bin, actions: ACTIONS });

    const r1 = await install({ remotes, bin, actions: ACTIONS, stubs: true });
    assert.deepEqual(r1.counts, { created: 0, updated: 10, unchanged: 0, skipped: 1 });
    assert.equal(by(r1, "tm/linstor/clone").reason, `was a link to ${bin}`);
    assert.equal(await read("tm/linstor/clone"), stubScript(bin));
    assert.equal(by(r1, "tm/storpool/clone").status, "skipped");
    assert.equal(await Deno.readLink(at("tm/storpool/clone")), "storpool_common.sh");

    const r2 = await install({ remotes, bin, actions: ACTIONS });
    assert.deepEqual(r2.counts, { created: 0, updated: 10, unchanged: 0, skipped: 1 });
    assert.equal(by(r2, "tm/linstor/clone").reason, `was a stub for ${bin}`);
    assert.equal(by(r2, "tm/linstor/clone").backup, undefined);
    assert.equal(await Deno.readLink(at("tm/linstor/clone")), bin);

    const r3 = await install({ remotes, bin, actions: ACTIONS });
    assert.deepEqual(r3.counts, { created: 0, updated: 0, unchanged: 10, skipped: 1 });
    for await (const e of Deno.readDir(at("tm/linstor"))) {
      assert.doesNotMatch(e.name, /oneblk-(backup|tmp)/);
    }
  });

  it("skips foreign files and links unless --force, then keeps a backup", async () => {
    await Deno.mkdir(at("tm/linstor"), { recursive: true });
    const old = "#!/usr/bin/env python3\n# addon-linstor clone\n";
    await Deno.writeTextFile(at("tm/linstor/clone"), old);
    // a marker on another line is not ours
    const lookalike = `#!/bin/bash\n# header\n${STUB_MARKER}${bin}\n`;
    await Deno.writeTextFile(at("tm/linstor/monitor"), lookalike);
    await Deno.symlink("tmsaverestore", at("vmm/kvm/tmsave"));

    const r1 = await install({ remotes, bin, actions: ACTIONS, stubs: true });
    assert.equal(r1.counts.skipped, 3);
    assert.match(by(r1, "tm/linstor/clone").reason!, /regular file; use --force/);
    assert.match(by(r1, "vmm/kvm/tmsave").reason!, /is a link to tmsaverestore; use --force/);
    assert.equal(await read("tm/linstor/clone"), old);
    assert.equal(await read("tm/linstor/monitor"), lookalike);
    assert.equal(await Deno.readLink(at("vmm/kvm/tmsave")), "tmsaverestore");

    const now = new Date("2025-03-04T05:06:07.890Z");
    const r2 = await install({ remotes, bin, actions: ACTIONS, stubs: true, force: true, now });
    assert.deepEqual(r2.counts, { created: 0, updated: 3, unchanged: 8, skipped: 0 });
    const c = by(r2, "tm/linstor/clone");
    assert.equal(c.backup, at("tm/linstor/clone.oneblk-backup-20250304T050607Z"));
    assert.equal(await Deno.readTextFile(c.backup!), old);
    assert.equal(await read("tm/linstor/clone"), stubScript(bin));
    assert.equal(await read("vmm/kvm/tmsave"), stubScript(bin));
    assert.equal(by(r2, "vmm/kvm/tmsave").previous, "tmsaverestore");
  });

  it("changes nothing in a dry run", async () => {
    await install({ remotes, bin, actions: ACTIONS.slice(0, 3) });
    await Deno.writeTextFile(at("tm/linstor/monitor"), "old");
    const snapshot = async () => {
      const out: string[] = [];
      for (const d of ["datastore/linstor", "datastore/storpool", "tm/linstor", "vmm/kvm"]) {
        for await (const e of Deno.readDir(at(d))) {
          const p = join(d, e.name);
          out.push(
            e.isSymlink ? `${p} -> ${await Deno.readLink(at(p))}` : `${p}: ${await read(p)}`,
          );
        }
      }
      return out.sort();
    };
    const before = await snapshot();
    const r = await install({
      remotes,
      bin,
      actions: ACTIONS,
      stubs: true,
      force: true,
      dryRun: true,
    });
    assert.deepEqual(r.counts, { created: 7, updated: 4, unchanged: 0, skipped: 0 });
    assert.match(r.text, /dry run/);
    assert.deepEqual(await snapshot(), before);
    assert.equal(await Deno.lstat(at("tm/storpool")).then(() => true, () => false), false);
  });

  it("uninstall removes our stubs and links, and nothing else", async () => {
    await Deno.mkdir(at("tm/ssh"), { recursive: true });
    await Deno.writeTextFile(at("tm/ssh/clone"), "#!/bin/bash\n# stock\n");
    await install({ remotes, bin, actions: ACTIONS.slice(0, 4) });
    await install({ remotes, bin, actions: ACTIONS.slice(4), stubs: true });
    await install({ remotes, bin: bin2, actions: ACTIONS.slice(6, 8), stubs: true });
    // a foreign file that mentions oneblk is not a stub
    await Deno.writeTextFile(at("tm/linstor_un/mvds"), '#!/bin/bash\nexec oneblk "$@"\n');

    const only = await uninstall({ remotes, bin, dryRun: true });
    assert.deepEqual(only.removed, ALL_LINKS.filter((l) => !l.startsWith("tm/storpool/")));
    assert.match(only.text, /summary: 4 link\(s\) and 5 stub\(s\) to remove/);
    assert.equal(await read("tm/linstor/snap_create_live"), stubScript(bin));

    const r = await uninstall({ remotes });
    assert.deepEqual(r.removed, ALL_LINKS);
    assert.match(r.text, /summary: 4 link\(s\) and 7 stub\(s\) removed/);
    for (const rel of ALL_LINKS) {
      assert.equal(await Deno.lstat(at(rel)).then(() => true, () => false), false, rel);
    }
    assert.equal(await read("tm/ssh/clone"), "#!/bin/bash\n# stock\n");
    assert.equal(await read("tm/linstor_un/mvds"), '#!/bin/bash\nexec oneblk "$@"\n');
    assert.equal(await read("vmm/kvm/deploy"), "#!/bin/sh\n# stock\n");
  });

  it("quotes the binary path safely", async () => {
    const odd = join(tmp, "it's a $dir");
    await Deno.mkdir(odd);
    const b = join(odd, "oneblk");
    await Deno.writeTextFile(b, '#!/bin/sh\necho "ran $#: $1|$2"\n');
    await Deno.chmod(b, 0o755);
    await install({ remotes, bin: b, actions: ACTIONS.slice(0, 1), stubs: true });
    const r = await exec(at("datastore/linstor/cp"), ["a b", "$HOME"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "ran 2: a b|$HOME\n");
    assert.throws(() => stubScript("/x\ny"), /line break/);
  });

  it("keeps the stub's path as argv[0] for a binary", async () => {
    // deno reads argv[0] as process.argv0, exactly like the compiled oneblk does
    const deno = Deno.execPath();
    const r = await install({
      remotes,
      bin: deno,
      actions: [{ kind: "tm", driver: "linstor", action: "probe" }],
      drivers: ["linstor"],
      stubs: true,
    });
    assert.equal(await read("tm/linstor/probe"), stubScript(deno));
    assert.equal(r.counts.created, 1);
    const out = await exec(at("tm/linstor/probe"), ["eval", "console.log(process.argv0)"]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `${at("tm/linstor/probe")}\n`);
  });

  it("dispatches by the stub's name through the dev launcher", async () => {
    const r = await exec(Deno.execPath(), [
      "run",
      "-A",
      join(ROOT, "main.ts"),
      "install",
      "--remotes",
      remotes,
      "--drivers",
      "linstor",
      "--bin",
      LAUNCHER,
      "--stubs",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^mode: stubs/m);
    const stat = at("datastore/linstor/stat");
    assert.ok((await Deno.lstat(stat)).isFile);
    // a bash launcher is sourced: the kernel would replace a script's $0 by its own path
    assert.equal(await read("datastore/linstor/stat"), stubScript(LAUNCHER, true));
    assert.match(await read("datastore/linstor/stat"), /^\. '.*\/scripts\/oneblk' "\$@"$/m);

    const img = join(tmp, "image.raw");
    await Deno.writeFile(img, new Uint8Array(3 * 1024 * 1024 + 1));
    const xml = `<DS_DRIVER_ACTION_DATA><IMAGE><PATH>${img}</PATH></IMAGE>` +
      `<DATASTORE><ID>100</ID></DATASTORE></DS_DRIVER_ACTION_DATA>`;
    const out = await exec(stat, ["7"], btoa(xml));
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, "4\n");

    // an unknown name still fails with one line
    await Deno.copyFile(stat, at("datastore/linstor/nosuch"));
    const bad = await exec(at("datastore/linstor/nosuch"), ["7"]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, "");
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert.match(
      bad.stderr,
      /datastore\/linstor\/nosuch: unknown datastore action 'linstor\/nosuch'/,
    );
  });
});

/**
 * scripts/oneblk: dispatch never depends on how deno was installed or how the launcher is
 * reached. A datastore action (stat of a local file, no store needed) is run through a chain of
 * symlinks, through npm's Node wrapper for deno as `deno` on PATH (the layout npm leaves with
 * `--ignore-scripts`: no binary beside the wrapper, the real one in @deno/<platform>), and with
 * the wrapper forced (ONEBLK_DENO), where argv[0] is lost and only ONEBLK_ARGV0 tells the name.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureBundle } from "../tools/bundle.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const LAUNCHER = join(ROOT, "scripts/oneblk");
/** npm's wrapper where npm installed deno globally on this machine, if it did. */
const NPM_WRAPPER = "/usr/lib/node_modules/deno/bin.cjs";

/** What npm's bin.cjs does: run the deno binary beside it, or in @deno/<platform>, with argv. */
const WRAPPER_EQUIVALENT = `#!/usr/bin/env node
const path = require("path");
const fs = require("fs");
const { spawnSync } = require("child_process");
let exe = path.join(__dirname, "deno");
if (!fs.existsSync(exe)) exe = path.join(__dirname, "node_modules/@deno/linux-x64-glibc/deno");
const r = spawnSync(exe, process.argv.slice(2), { stdio: "inherit" });
process.exit(r.status ?? 1);
`;

function which(cmd: string): string | undefined {
  for (const d of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const p = join(d, cmd);
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  return undefined;
}

describe("the launcher", () => {
  let dir = "";
  let payload = "";
  let node: string | undefined;
  before(async () => {
    dir = await Deno.makeTempDir({ prefix: "oneblk-launcher-" });
    const img = join(dir, "img");
    await Deno.writeFile(img, new Uint8Array(5 * 1024 * 1024));
    payload = btoa(
      `<DS_DRIVER_ACTION_DATA><IMAGE><PATH>${img}</PATH></IMAGE>` +
        `<DATASTORE><ID>1</ID></DATASTORE></DS_DRIVER_ACTION_DATA>`,
    );
    node = which("node");
  });
  after(async () => {
    await Deno.remove(dir, { recursive: true });
  });

  /** Run `program` (an action path) with the payload; PATH and extra env as given. */
  async function stat(program: string, env: Record<string, string> = {}) {
    const child = new Deno.Command(program, {
      args: ["7"],
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(payload));
    await w.close();
    const o = await child.output();
    const dec = new TextDecoder();
    return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
  }

  /** remotes/datastore/linstor/stat → bin/oneblk → the launcher. */
  async function remotesTree(name: string): Promise<string> {
    const bin = join(dir, name, "bin/oneblk");
    const action = join(dir, name, "remotes/datastore/linstor/stat");
    await Deno.mkdir(join(dir, name, "bin"), { recursive: true });
    await Deno.mkdir(join(dir, name, "remotes/datastore/linstor"), { recursive: true });
    await Deno.symlink(LAUNCHER, bin);
    await Deno.symlink(bin, action);
    return action;
  }

  /**
   * An npm global prefix whose bin/deno is the Node wrapper; `withBinary` puts the real deno in
   * node_modules/@deno/linux-x64-glibc (as npm --ignore-scripts leaves it). A `node` shim first
   * on PATH records every Node start.
   */
  async function npmPrefix(name: string, withBinary: boolean): Promise<Record<string, string>> {
    const prefix = join(dir, name);
    const pkg = join(prefix, "lib/node_modules/deno");
    await Deno.mkdir(join(pkg, "node_modules/@deno/linux-x64-glibc"), { recursive: true });
    await Deno.mkdir(join(prefix, "bin"), { recursive: true });
    let wrapper = WRAPPER_EQUIVALENT;
    try {
      wrapper = await Deno.readTextFile(NPM_WRAPPER);
      // the files bin.cjs requires when no binary sits beside it
      for (const f of ["install_api.cjs", "package.json"]) {
        await Deno.copyFile(join(NPM_WRAPPER, "..", f), join(pkg, f));
      }
    } catch { /* not installed by npm here: the equivalent above */ }
    await Deno.writeTextFile(join(pkg, "bin.cjs"), wrapper, { mode: 0o755 });
    if (withBinary) {
      await Deno.symlink(Deno.execPath(), join(pkg, "node_modules/@deno/linux-x64-glibc/deno"));
      await Deno.writeTextFile(
        join(pkg, "node_modules/@deno/linux-x64-glibc/package.json"),
        `{"name":"@deno/linux-x64-glibc"}`,
      );
    }
    await Deno.symlink("../lib/node_modules/deno/bin.cjs", join(prefix, "bin/deno"));
    const log = join(prefix, "node.log");
    await Deno.writeTextFile(
      join(prefix, "bin/node"),
      `#!/bin/sh\necho "$@" >> '${log}'\nexec '${node}' "$@"\n`,
      { mode: 0o755 },
    );
    return { PATH: `${prefix}/bin:/usr/bin:/bin`, NODE_LOG: log };
  }

  /**
   * The arguments the launcher, run as `program` with one argument `x`, gives deno (a fake deno,
   * ONEBLK_DENO, that prints them).
   */
  async function denoArgs(program: string, env: Record<string, string> = {}): Promise<string[]> {
    const fake = join(dir, "fake-deno");
    await Deno.writeTextFile(fake, `#!/bin/sh\necho "$@"\n`, { mode: 0o755 });
    const o = await new Deno.Command(program, {
      args: ["x"],
      env: { ONEBLK_DENO: fake, ...env },
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(o.stdout).trim().split(" ");
  }

  async function nodeStarts(log: string): Promise<number> {
    try {
      return (await Deno.readTextFile(log)).split("\n").filter(Boolean).length;
    } catch {
      return 0;
    }
  }

  it("dispatches on the invoked name through a chain of symlinks", async () => {
    const action = await remotesTree("chain");
    const r = await stat(action, { PATH: `${join(Deno.execPath(), "..")}:/usr/bin:/bin` });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "5\n");
  });

  it("with npm's Node wrapper as deno on PATH, runs the binary the package ships", async (t) => {
    if (!node) return t.skip("no node on PATH (npm's wrapper needs it)");
    const { NODE_LOG, ...env } = await npmPrefix("npm-ignore-scripts", true);
    const action = await remotesTree("via-npm");
    const r = await stat(action, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "5\n");
    assert.equal(await nodeStarts(NODE_LOG), 0, "no Node start per call");
  });

  it("through the wrapper itself (argv[0] lost), ONEBLK_ARGV0 still names the action", async (t) => {
    if (!node) return t.skip("no node on PATH (npm's wrapper needs it)");
    const { NODE_LOG, ...env } = await npmPrefix("npm-forced", true);
    const action = await remotesTree("forced");
    const wrapper = join(dir, "npm-forced/bin/deno");
    const r = await stat(action, { ...env, ONEBLK_DENO: wrapper });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "5\n");
    assert.equal(await nodeStarts(NODE_LOG), 1, "the call did go through the wrapper");
  });

  it("runs the sources with ONEBLK_SOURCE=1, and without a bundle", async () => {
    const action = await remotesTree("source");
    const r = await stat(action, {
      PATH: `${join(Deno.execPath(), "..")}:/usr/bin:/bin`,
      ONEBLK_SOURCE: "1",
      DENO_LOG: "debug",
    });
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.equal(r.stdout, "5\n");
    assert.match(r.stderr, new RegExp(`ES module: file://${ROOT}/main\\.ts`));
  });

  it("runs driver actions with line 2 of scripts/deno-flags, the oneblk command with line 1", async () => {
    const [command, action] = (await Deno.readTextFile(join(ROOT, "scripts/deno-flags")))
      .split("\n");
    assert.ok(command && action && command !== action, "two flag sets");
    const args = denoArgs;
    const flagsOf = (argv: string[]) => argv.filter((a) => a.startsWith("--v8-flags"));
    const viaAction = await args(await remotesTree("flags"));
    assert.deepEqual(flagsOf(viaAction), action.trim().split(/\s+/), viaAction.join(" "));
    assert.deepEqual(flagsOf(await args(LAUNCHER)), command.trim().split(/\s+/));
    // the bench's override replaces both
    const forced = { ONEBLK_DENO_FLAGS: "--v8-flags=--max-lazy" };
    assert.deepEqual(flagsOf(await args(LAUNCHER, forced)), ["--v8-flags=--max-lazy"]);
    assert.deepEqual(flagsOf(await args(join(dir, "flags/bin/oneblk"), forced)), [
      "--v8-flags=--max-lazy",
    ]);
  });

  it("gives --unstable-net to the oneblk command, the sources and tm monitor, no other action", async () => {
    await ensureBundle({ quiet: true });
    const net = async (program: string, env: Record<string, string> = {}) => {
      const argv = await denoArgs(program, env);
      return { net: argv.includes("--unstable-net"), program: argv.at(-2) ?? "" };
    };
    const action = async (path: string) => {
      const p = join(dir, "net/remotes", path);
      await Deno.mkdir(join(p, ".."), { recursive: true });
      await Deno.symlink(LAUNCHER, p);
      return p;
    };
    // (tm monitor sends the per-VM disk usage to monitord over Deno's UDP socket)
    const monitor = await net(await action("tm/linstor/monitor"));
    assert.deepEqual(monitor, {
      net: true,
      program: join(ROOT, "dist/bundle/drivers/linstor/tm/monitor.js"),
    });
    // (each datastore and tm action runs its driver's own program, a vmm action the common one)
    for (
      const [path, program] of [
        ["tm/storpool/premigrate", "drivers/storpool/tm/premigrate.js"],
        ["tm/linstor_un/ln", "drivers/linstor_un/tm/ln.js"],
        ["datastore/linstor/stat", "drivers/linstor/datastore/stat.js"],
        ["vmm/kvm/deploy_linstor", "actions/vmm/deploy_linstor.js"],
      ]
    ) {
      const r = await net(await action(path));
      assert.deepEqual(r, { net: false, program: join(ROOT, "dist/bundle", program) }, path);
    }
    assert.equal((await net(LAUNCHER)).net, true);
    assert.equal(
      (await net(join(dir, "net/remotes/tm/linstor/monitor"), { ONEBLK_SOURCE: "1" })).net,
      true,
    );
    assert.equal(
      (await net(join(dir, "net/remotes/datastore/linstor/stat"), { ONEBLK_SOURCE: "1" })).net,
      true,
    );
  });
});

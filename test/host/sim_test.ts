import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { SIM_ABSENT_FILE, simMapArg, SimRunner } from "../../lib/host/sim.ts";
import { programMissing, ProgramMissingError } from "../../lib/host/process.ts";
import { deviceSize, link, moveFile, readLink, readTextFile } from "../../lib/host/ops.ts";
import { OneblkError } from "../../lib/errors.ts";
import { HOSTILE, nulSplit } from "./helpers.ts";

const isKind = (kind: string, re?: RegExp) => (e: unknown) =>
  e instanceof OneblkError && e.kind === kind && (!re || re.test(e.message));

describe("SimRunner", () => {
  let root: string;
  let sim: SimRunner;
  let a: string;

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-sim-" });
    a = join(root, "hosts", "a");
    await Deno.mkdir(a, { recursive: true });
    await Deno.mkdir(join(root, "hosts", "b"), { recursive: true });
    sim = new SimRunner(root);
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  it("maps absolute paths, key=/path and -X/path, never the program", () => {
    const h = "/r/hosts/a";
    const m = (s: string) => simMapArg("/r", h, s);
    assert.equal(m("/var/lib/one"), "/r/hosts/a/var/lib/one");
    assert.equal(m("/"), "/r/hosts/a");
    assert.equal(m("/../../etc/passwd"), "/r/hosts/a/etc/passwd");
    assert.equal(m("if=/dev/drbd/by-res/r/0"), "if=/r/hosts/a/dev/drbd/by-res/r/0");
    assert.equal(m("of=/x"), "of=/r/hosts/a/x");
    assert.equal(m("--directory=/x"), "--directory=/r/hosts/a/x");
    assert.equal(m("-C/x"), "-C/r/hosts/a/x");
    assert.equal(m("bs=1M"), "bs=1M");
    assert.equal(m("relative/path"), "relative/path");
    assert.equal(m("/dev/null"), "/dev/null");
    assert.equal(m("if=/dev/zero"), "if=/dev/zero");
    assert.equal(m("/proc/self/fd"), "/proc/self/fd");
    assert.equal(m("/r/sim/data/vol1"), "/r/sim/data/vol1");
    assert.deepEqual(sim.commandFor("a", ["/usr/bin/dd", "/x"]), ["/usr/bin/dd", join(a, "x")]);
  });

  it("runs real commands inside the host's directory", async () => {
    await sim.run("a", ["mkdir", "-p", "/var/lib/one/datastores/0"]);
    assert.ok((await Deno.stat(join(a, "var/lib/one/datastores/0"))).isDirectory);
    await Deno.writeFile(join(a, "src.img"), new Uint8Array(10000).fill(7));
    await sim.run("a", ["dd", "if=/src.img", "of=/var/dst.img", "bs=4096", "status=none"]);
    assert.deepEqual(await Deno.readFile(join(a, "var/dst.img")), new Uint8Array(10000).fill(7));
    // `-C /dir` as two arguments, and a tar round trip
    await sim.run("a", ["tar", "-C", "/var", "-cf", "/t.tar", "dst.img"]);
    const r = await sim.run("a", ["tar", "-tf", "/t.tar"]);
    assert.equal(r.stdout, "dst.img\n");
  });

  it("passes arguments unchanged apart from mapping (no shell)", async () => {
    const r = await sim.run("a", ["printf", "%s\\0", ...HOSTILE]);
    assert.deepEqual(nulSplit(r.stdout), HOSTILE);
  });

  it("links devices so that reading through the link reaches the data", async () => {
    // a simulated store's attach: device path on host a → sparse data file outside the host
    const data = join(root, "sim", "vol1.data");
    await Deno.mkdir(join(root, "sim"), { recursive: true });
    await Deno.writeTextFile(data, "volume-bytes");
    await Deno.mkdir(join(a, "dev/drbd/by-res/vol1"), { recursive: true });
    await Deno.symlink(data, join(a, "dev/drbd/by-res/vol1/0"));

    const disk = "/var/lib/one/datastores/0/7/disk.0";
    await link(sim, "a", "/dev/drbd/by-res/vol1/0", disk);
    assert.equal(await Deno.readLink(join(a, disk)), join(a, "dev/drbd/by-res/vol1/0"));
    assert.equal((await sim.run("a", ["cat", disk])).stdout, "volume-bytes");
    // output is unmapped: the host sees its own paths
    assert.equal(await readLink(sim, "a", disk), "/dev/drbd/by-res/vol1/0");
    // replacing the link (ln -sfn) works on mapped paths too
    await Deno.mkdir(join(a, "dev/drbd/by-res/vol2"), { recursive: true });
    await Deno.writeTextFile(join(a, "dev/drbd/by-res/vol2/0"), "other");
    await link(sim, "a", "/dev/drbd/by-res/vol2/0", disk);
    assert.equal((await sim.run("a", ["cat", disk])).stdout, "other");
  });

  it("unmaps paths in error messages and keeps stderr", async () => {
    const err = await sim.run("a", ["ls", "/no/such/dir"]).catch((e) => e);
    assert.ok(err instanceof OneblkError && err.kind === "host");
    assert.match(err.message, /^ls on a failed \(exit 2\): .*\/no\/such\/dir/);
    assert.ok(!err.message.includes(root), err.message);
    const ok = await sim.run("a", ["ls", "/no/such/dir"], { okCodes: [2] });
    assert.equal(ok.code, 2);
  });

  it("a host's own kernel files and its absent programs are its own (planted faults)", async () => {
    // /proc/drbd: this machine's unless the host has one
    assert.equal(sim.mapPath("a", "/proc/drbd"), "/proc/drbd");
    await Deno.mkdir(join(a, "proc"), { recursive: true });
    await Deno.writeTextFile(join(a, "proc/drbd"), "version: 8.4.11 (api:1/proto:86-101)\n");
    assert.equal(sim.mapPath("a", "/proc/drbd"), join(a, "proc/drbd"));
    assert.match((await sim.run("a", ["cat", "/proc/drbd"])).stdout, /^version: 8\.4\.11/);
    assert.equal(sim.mapPath("b", "/proc/drbd"), "/proc/drbd");
    // a program listed as absent is missing on that host only
    await Deno.mkdir(join(a, ".oneblk-sim"), { recursive: true });
    await Deno.writeTextFile(join(a, SIM_ABSENT_FILE), "true\nqemu-img\n");
    const err = await sim.run("a", ["/usr/bin/true"]).then(() => null, (e) => e);
    assert.ok(err instanceof ProgramMissingError && programMissing(err), String(err));
    assert.equal(err.message, "true not found on a");
    assert.equal((await sim.run("b", ["true"])).code, 0);
    await Deno.remove(join(a, ".oneblk-sim"), { recursive: true });
    await Deno.remove(join(a, "proc"), { recursive: true });
  });

  it("reports hosts without a directory as unreachable", async () => {
    await assert.rejects(
      sim.run("zz", ["true"]),
      isKind("unavailable", /^host zz is not reachable$/),
    );
    assert.throws(() => sim.stream("zz", ["true"]), isKind("unavailable"));
    await assert.rejects(sim.run("..", ["true"]), isKind("input"));
    await assert.rejects(sim.run("a/../b", ["true"]), isKind("input"));
  });

  it("reports a host that went away while a command ran as unreachable, whatever it answered", async () => {
    // (the fault matrix's `down` at a step beside a running `test -e`: the test saw the files
    // vanish and said "no", which tm mv took for "the directory is not there")
    const c = join(root, "hosts", "c");
    const grave = join(root, "grave-c");
    await Deno.mkdir(join(c, "d"), { recursive: true });
    const vanish = 'mv -- "$1" "$2"; test -e "$3"';
    await assert.rejects(
      sim.run("c", ["sh", "-c", vanish, "vanish", c, grave, "/d"], { okCodes: [0, 1] }),
      isKind("unavailable", /^host c is not reachable \(it went away while vanish ran\)$/),
    );
    await Deno.rename(grave, c);
    const s = sim.stream("c", ["sh", "-c", vanish, "vanish", c, grave, "/d"]);
    await s.stdout.cancel();
    await assert.rejects(s.done, isKind("unavailable"));
    await Deno.rename(grave, c);
    assert.equal((await sim.run("c", ["test", "-e", "/d"])).code, 0, "back: answers again");
    await Deno.remove(c, { recursive: true });
  });

  it("applies deadlines like the ssh runner", async () => {
    await assert.rejects(
      sim.run("b", ["sleep", "30"], { timeoutMs: 300 }),
      isKind("timeout", /^sleep on b timed out after 0\.3s$/),
    );
  });

  it("sizes devices, reads and moves files (never over an existing one)", async () => {
    await Deno.mkdir(join(a, "dev"), { recursive: true });
    await Deno.writeFile(join(a, "dev/drbd7"), new Uint8Array(3072));
    assert.equal(await deviceSize(sim, "a", "/dev/drbd7"), 3072);
    assert.equal(await deviceSize(sim, "a", "/dev/drbd8"), null);
    await Deno.mkdir(join(a, "etc"), { recursive: true });
    await Deno.writeTextFile(join(a, "etc/r.res"), "resource r {}\n");
    assert.equal(await readTextFile(sim, "a", "/etc/r.res"), "resource r {}\n");
    assert.equal(await readTextFile(sim, "a", "/etc/none.res"), null);
    await moveFile(sim, "a", "/etc/r.res", "/etc/r.res.disabled");
    assert.equal(await readTextFile(sim, "a", "/etc/r.res"), null);
    await Deno.writeTextFile(join(a, "etc/r.res"), "other\n");
    await assert.rejects(moveFile(sim, "a", "/etc/r.res", "/etc/r.res.disabled"), isKind("exists"));
    assert.equal(await readTextFile(sim, "a", "/etc/r.res.disabled"), "resource r {}\n");
    await assert.rejects(moveFile(sim, "a", "/etc/x.res", "/etc/y.res"), isKind("not_found"));
  });

  it("counts commands", async () => {
    const s = new SimRunner(root);
    await s.run("a", ["true"]);
    const st = s.stream("a", ["echo", "x"]);
    assert.equal(await new Response(st.stdout).text(), "x\n");
    await st.done;
    assert.equal(s.calls, 2);
  });
});

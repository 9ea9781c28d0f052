import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { sshOptionsFromEnv, SshRunner } from "../../lib/host/ssh.ts";
import { hostRunnerFromEnv, killActiveCommands } from "../../lib/host/index.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { OneblkError } from "../../lib/errors.ts";
import { fakeSsh, HOSTILE, nulSplit, processGone, writeScript } from "./helpers.ts";

const isKind = (kind: string, re?: RegExp) => (e: unknown) =>
  e instanceof OneblkError && e.kind === kind && (!re || re.test(e.message));

describe("SshRunner", () => {
  let dir: string;
  let ssh: string;
  let failingSsh: string;
  let runner: SshRunner;

  before(async () => {
    dir = await Deno.makeTempDir({ prefix: "oneblk-ssh-" });
    ssh = await fakeSsh(dir);
    failingSsh = await writeScript(dir, "no-ssh", "echo 'ssh must not be used' >&2; exit 99");
    runner = new SshRunner({ ssh, controlPersistS: 0 });
  });
  after(async () => {
    await Deno.remove(dir, { recursive: true });
  });

  const sshLog = async () => (await Deno.readTextFile(join(dir, "ssh.log"))).trim().split("\n");

  it("builds one ssh invocation with batch mode, timeouts, multiplexing and ONE command word", () => {
    const r = new SshRunner({
      ssh: "/usr/bin/ssh",
      connectTimeoutS: 7,
      extraArgs: ["-p", "2222"],
      controlPath: join(dir, "cm-%C"),
    });
    const argv = r.commandFor("node1", ["dd", "if=/dev/x", "a b"]);
    assert.equal(argv[0], "/usr/bin/ssh");
    const opts = argv.join(" ");
    assert.match(opts, /-o BatchMode=yes/);
    assert.match(opts, /-o ConnectTimeout=7/);
    assert.match(opts, /-o ControlMaster=auto/);
    assert.match(opts, /-o ControlPersist=60/);
    assert.match(opts, /-p 2222 -- node1/);
    assert.equal(argv.at(-2), "node1");
    assert.equal(argv.at(-1), "dd 'if=/dev/x' 'a b'");
    const noMux = new SshRunner({ controlPersistS: 0 }).commandFor("n", ["true"]);
    assert.ok(!noMux.join(" ").includes("ControlMaster"));
    // ssh would exit 255 if the socket directory were missing: multiplexing is dropped instead
    const noDir = new SshRunner({ controlPath: join(dir, "missing", "cm-%C") }).commandFor("n", [
      "true",
    ]);
    assert.ok(!noDir.join(" ").includes("ControlMaster"));
    const withDir = new SshRunner({ controlPath: join(dir, "cm-%C") }).commandFor("n", ["true"]);
    assert.ok(withDir.includes(`ControlPath=${join(dir, "cm-%C")}`));
  });

  it("delivers hostile arguments byte for byte through the remote shell", async () => {
    const before = runner.calls;
    const r = await runner.run("node1", ["printf", "%s\\0", ...HOSTILE]);
    assert.deepEqual(nulSplit(r.stdout), HOSTILE);
    assert.equal(runner.calls, before + 1);
    assert.equal((await sshLog()).at(-1), "node1");
  });

  it("runs this machine's commands directly, without ssh or a shell", async () => {
    const local = new SshRunner({ ssh: failingSsh, localHosts: ["fe.example"] });
    for (const host of ["localhost", "127.0.0.1", Deno.hostname(), "FE.example"]) {
      assert.ok(local.isLocal(host), host);
      const r = await local.run(host, ["printf", "%s\\0", ...HOSTILE]);
      assert.deepEqual(nulSplit(r.stdout), HOSTILE, host);
    }
    assert.equal(local.isLocal("node1"), false);
    await assert.rejects(local.run("node1", ["true"]), isKind("host", /exit 99/));
  });

  it("reads ONEBLK_LOCAL_HOSTS and ONEBLK_SSH from the environment", async () => {
    const env = { ONEBLK_SSH: failingSsh, ONEBLK_LOCAL_HOSTS: "fe1, fe2" };
    const r = await hostRunnerFromEnv(env);
    assert.ok(r instanceof SshRunner);
    assert.equal((await r.run("fe2", ["echo", "$HOME"])).stdout, "$HOME\n");
    await assert.rejects(r.run("other", ["true"]), isKind("host", /ssh must not be used/));
    const o = sshOptionsFromEnv({
      ONEBLK_SSH_OPTIONS: " -p 2222  -i /k ",
      ONEBLK_HOST_TIMEOUT: "5",
    });
    assert.deepEqual(o.extraArgs, ["-p", "2222", "-i", "/k"]);
    assert.equal(o.defaultTimeoutMs, 5000);
    assert.throws(() => sshOptionsFromEnv({ ONEBLK_HOST_TIMEOUT: "soon" }), isKind("config"));
    assert.ok((await hostRunnerFromEnv({ ONEBLK_SIM_ROOT: dir })) instanceof SimRunner);
  });

  it("kills the whole process group on timeout and says so", async () => {
    const pidFile = join(dir, "bg.pid");
    await assert.rejects(
      runner.run("node1", ["sh", "-c", 'sleep 30 & echo $! > "$1"; wait', "sh", pidFile], {
        timeoutMs: 500,
      }),
      isKind("timeout", /^sh on node1 timed out after 0\.5s$/),
    );
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    assert.ok(pid > 0);
    assert.ok(await processGone(pid), "background child survived the timeout");
  });

  it("returns once the command exits even if a background child keeps its pipes open", async () => {
    // e.g. an old ssh whose ControlPersist master keeps stdout/stderr: output is not lost
    const pidFile = join(dir, "daemon.pid");
    const r = await runner.run("localhost", [
      "sh",
      "-c",
      'echo out; echo err >&2; sleep 30 & echo $! > "$1"',
      "sh",
      pidFile,
    ]);
    Deno.kill(Number((await Deno.readTextFile(pidFile)).trim()), "SIGKILL");
    assert.equal(r.stdout, "out\n");
    assert.equal(r.stderr, "err\n");
  });

  it("keeps the end of stderr in the error and honours okCodes", async () => {
    const script =
      'echo first >&2; head -c 5000 /dev/zero | tr "\\0" x >&2; echo " real-cause" >&2; exit 3';
    const err = await runner.run("node1", ["sh", "-c", script]).catch((e) => e);
    assert.ok(err instanceof OneblkError && err.kind === "host");
    assert.match(err.message, /^sh on node1 failed \(exit 3\): …x+ real-cause$/);
    assert.ok(err.message.length < 600);
    const ok = await runner.run("node1", ["sh", "-c", script], { okCodes: [0, 3] });
    assert.equal(ok.code, 3);
    assert.match(ok.stderr, /^first\n/);
    assert.match(ok.stderr, /real-cause\n$/);
  });

  it("collects output of any size byte for byte, and exactly the last 64 KiB of stderr", async () => {
    // read through one 8 KiB buffer, each piece copied out (lib/host/process.ts collect)
    const file = join(dir, "pattern.bin");
    const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 13) % 127);
    await Deno.writeFile(file, big);
    for (const n of [0, 1, 8191, 8192, 8193, 65_537, 200_000, big.length]) {
      const r = await runner.run("localhost", ["head", "-c", String(n), file]);
      const got = new TextEncoder().encode(r.stdout);
      // the pattern stays below 0x80: one byte per character both ways
      assert.equal(got.length, n);
      assert.ok(got.every((b, i) => b === big[i]), `${n} bytes`);
    }
    const text = Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`).join("");
    await Deno.writeTextFile(join(dir, "lines.txt"), text);
    const r = await runner.run("localhost", [
      "sh",
      "-c",
      'cat "$1" >&2',
      "sh",
      join(dir, "lines.txt"),
    ]);
    assert.equal(r.stderr, text.slice(text.length - 64 * 1024));
  });

  it("reports ssh failures (exit 255) as an unreachable host", async () => {
    await assert.rejects(
      runner.run("unreachable", ["true"]),
      isKind("unavailable", /^host unreachable is not reachable: .*Connection refused/),
    );
  });

  it("feeds stdin from bytes, text and streams", async () => {
    assert.equal((await runner.run("node1", ["cat"], { stdin: "a'b\n$X" })).stdout, "a'b\n$X");
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 251);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < big.length; i += 65536) c.enqueue(big.slice(i, i + 65536));
        c.close();
      },
    });
    const r = await runner.run("node1", ["wc", "-c"], { stdin: stream });
    assert.equal(r.stdout.trim(), String(big.length));
    const r2 = await runner.run("node1", ["wc", "-c"], { stdin: big });
    assert.equal(r2.stdout.trim(), String(big.length));
  });

  it("streams stdout and reports the exit through done", async () => {
    const s = runner.stream("node1", ["sh", "-c", "printf 'chunk-1 '; printf 'chunk-2'"]);
    assert.equal(await new Response(s.stdout).text(), "chunk-1 chunk-2");
    assert.equal((await s.done).code, 0);
    const bad = runner.stream("node1", ["sh", "-c", "printf partial; echo broken >&2; exit 4"]);
    assert.equal(await new Response(bad.stdout).text(), "partial");
    await assert.rejects(bad.done, isKind("host", /exit 4\): broken$/));
  });

  it("rejects host names that could become ssh options", async () => {
    for (const host of ["-oProxyCommand=touch /tmp/x", "a b", "", "x\ny"]) {
      await assert.rejects(runner.run(host, ["true"]), isKind("input"), host);
      assert.throws(() => runner.stream(host, ["true"]), isKind("input"), host);
    }
  });

  it("explains a missing ssh binary", async () => {
    const r = new SshRunner({ ssh: join(dir, "does-not-exist") });
    await assert.rejects(r.run("node1", ["true"]), isKind("config", /ONEBLK_SSH/));
  });

  it("lets the main program stop every running command", async () => {
    const p = runner.run("node1", ["sleep", "30"]).catch((e) => e);
    // the command is registered synchronously at spawn time
    assert.ok(killActiveCommands() >= 1);
    const err = await p;
    assert.ok(err instanceof OneblkError && err.kind === "host");
    assert.match(err.message, /killed by SIGTERM|exit 143/);
  });
});

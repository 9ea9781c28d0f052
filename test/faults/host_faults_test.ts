/**
 * The host-step shims (tools/faults/host_faults.ts): commands a deno program (an action) starts
 * through PATH on a simulated host are counted, nested ones are not, and the k-th one fails or
 * takes its host down (the simulated host runner then finds it unreachable) until revive().
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { HostFaults } from "../../tools/faults/host_faults.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { OneblkError } from "../../lib/errors.ts";

describe("host-step shims", () => {
  let root: string;
  let faults: HostFaults;
  let env: Record<string, string>;

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-hostfaults-" });
    for (const h of ["alpha", "bravo"]) {
      await Deno.mkdir(join(root, "hosts", h, "tmp"), { recursive: true });
    }
    const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
    faults = await HostFaults.install(root, join(root, "hosts"), path);
    env = { PATH: `${faults.binDir}:${path}`, ONEBLK_SIM_ROOT: root };
  });
  after(async () => {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  });

  /**
   * Run `steps` host commands the way an action does: a child deno process with the shims in
   * its PATH runs each through the simulated host runner. Returns one line per command.
   */
  async function action(steps: [string, string[]][]): Promise<string[]> {
    const code = `
      import { SimRunner } from ${
      JSON.stringify(new URL("../../lib/host/sim.ts", import.meta.url).href)
    };
      const r = new SimRunner(${JSON.stringify(root)});
      for (const [host, argv] of ${JSON.stringify(steps)}) {
        try {
          const out = await r.run(host, argv);
          console.log("ok " + out.stdout.trim());
        } catch (e) {
          console.log((e.kind ?? "?") + " " + e.message.split("\\n")[0]);
        }
      }`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", code],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean).map((l) => l.trimEnd());
  }

  it("counts the commands an action starts, not the ones inside sh -c", async () => {
    await faults.arm();
    const out = await action([
      ["alpha", ["sh", "-c", "mkdir -p /tmp/x && cat /dev/null && echo done"]],
      ["bravo", ["touch", "/tmp/f"]],
    ]);
    const steps = await faults.disarm();
    assert.deepEqual(out, ["ok done", "ok"]);
    assert.deepEqual(steps.map((s) => `${s.n} ${s.host} ${s.program}`), [
      "1 alpha sh",
      "2 bravo touch",
    ]);
  });

  it("fail: the k-th command does not run and fails with one line", async () => {
    await faults.arm({ k: 2, mode: "fail" });
    const out = await action([
      ["alpha", ["touch", "/tmp/one"]],
      ["alpha", ["touch", "/tmp/two"]],
      ["alpha", ["touch", "/tmp/three"]],
    ]);
    await faults.disarm();
    assert.equal(out[0], "ok");
    assert.match(out[1], /^host .*simulated failure/);
    assert.equal(out[2], "ok");
    const made = [...Deno.readDirSync(join(root, "hosts/alpha/tmp"))].map((e) => e.name).sort();
    assert.deepEqual(made.filter((n) => ["one", "two", "three"].includes(n)), ["one", "three"]);
  });

  it("down: the host is unreachable from the k-th command on, until revive()", async () => {
    await faults.arm({ k: 1, mode: "down" });
    const out = await action([
      ["bravo", ["touch", "/tmp/a"]],
      ["bravo", ["touch", "/tmp/b"]],
      ["alpha", ["touch", "/tmp/c"]],
    ]);
    await faults.disarm();
    assert.match(out[0], /Connection refused/);
    assert.match(out[1], /^unavailable host bravo is not reachable/);
    assert.equal(out[2], "ok");
    assert.deepEqual(await faults.revive(), ["bravo"]);
    const r = await new SimRunner(root).run("bravo", ["ls", "/tmp"]).catch((e: OneblkError) => e);
    assert.ok(!(r instanceof Error), "bravo is back");
  });

  it("a command the harness itself starts is not counted", async () => {
    await faults.arm({ k: 1, mode: "fail" });
    const r = await new Deno.Command(join(faults.binDir, "touch"), {
      args: [join(root, "hosts/alpha/tmp/harness")],
    }).output();
    const steps = await faults.disarm();
    assert.equal(r.code, 0);
    assert.deepEqual(steps, []);
  });
});

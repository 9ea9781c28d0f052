/**
 * The README's test command on a machine with only Deno, and CI's promise to run every test:
 * - on PATH a base system with Deno and none of TOOL_PACKAGES' programs: tests that need one are
 *   skipped, each in one line naming the program and its Debian package, with no error and no
 *   stack trace, and the run passes;
 * - `.ci/run` installs exactly the packages of TOOL_PACKAGES, and fails a run where any test was
 *   skipped (checked with a stand-in `deno` that prints a test run's summary).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOOL_PACKAGES } from "./tools.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A PATH directory like a base system with only Deno added: links to every program of this
 * machine's PATH except those of TOOL_PACKAGES (and any other deno).
 */
async function baseSystemPath(bin: string): Promise<void> {
  await Deno.symlink(Deno.execPath(), join(bin, "deno"));
  const left = new Set<string>(["deno", ...Object.keys(TOOL_PACKAGES)]);
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      for await (const e of Deno.readDir(dir)) {
        if (left.has(e.name)) continue;
        left.add(e.name); // the first one on PATH wins, as for a shell
        await Deno.symlink(join(dir, e.name), join(bin, e.name));
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}

Deno.test("a base system with only Deno: one skip line per missing program, no stack trace", async () => {
  const bin = await Deno.makeTempDir({ prefix: "oneblk-onlydeno-" });
  try {
    await baseSystemPath(bin);
    const files = [
      "test/domain/iso9660_readers_test.ts", // Deno.test skipped per program
      "test/actions/datastore/cp_compressed_test.ts", // a whole describe skipped
      "test/domain/context_iso_test.ts", // needs no program: runs
    ];
    const out = await new Deno.Command(join(bin, "deno"), {
      args: ["test", "-A", "--no-check=remote", ...files],
      cwd: ROOT,
      clearEnv: true,
      env: { PATH: bin, HOME: Deno.env.get("HOME") ?? "/root", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = decode(out.stdout) + decode(out.stderr);
    assert.equal(out.code, 0, text.slice(-3000));
    assert.doesNotMatch(text, /^error:|^\s+at /m, "no error, no stack trace");
    const skipped = text.split("\n").filter((l) => l.includes("... ignored"));
    for (const l of skipped) {
      assert.match(
        l,
        /\(skipped: no [^()]+ \(Debian package [^()]+\)(, [^()]+ \(Debian package [^()]+\))*\) \.\.\. ignored/,
        l,
      );
    }
    for (
      const [tool, pkg] of [
        ["isoinfo", "genisoimage"],
        ["xorriso", "xorriso"],
        ["bsdtar", "libarchive-tools"],
        ["7z", "p7zip-full"],
        ["qemu-img", "qemu-utils"],
        ["xz", "xz-utils"],
      ]
    ) {
      assert.ok(
        skipped.some((l) => l.includes(`${tool} (Debian package ${pkg})`)),
        `a skip line names ${tool} and ${pkg}:\n${skipped.join("\n")}`,
      );
    }
    // the tests that need no program still ran (context ISOs written and read back)
    assert.match(text, /^ok \| [1-9]\d* passed/m);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

/** Runs `.ci/run args…` with a stand-in deno printing `testOutput`, and stand-ins for every tool. */
async function ciRun(args: string[], testOutput: string) {
  const bin = await Deno.makeTempDir({ prefix: "oneblk-ci-" });
  try {
    // every tool present, so .ci/run installs nothing
    for (const tool of Object.keys(TOOL_PACKAGES)) {
      await Deno.writeTextFile(join(bin, tool), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    }
    await Deno.writeTextFile(join(bin, "summary.txt"), testOutput);
    await Deno.writeTextFile(
      join(bin, "deno"),
      // .ci/run also builds and checks the bundle and runs `oneblk version` (deno run) first
      `#!/bin/sh\ncase "$1 $2" in\n"--version "*) echo "deno 2.9.6 (stable)";;\n` +
        `"task test") cat '${join(bin, "summary.txt")}';;\n"task bundle") ;;\n` +
        `"run "*) echo "oneblk (stand-in)";;\n*) exit 2;;\nesac\n`,
      { mode: 0o755 },
    );
    const out = await new Deno.Command("bash", {
      args: [join(ROOT, ".ci/run"), ...args],
      env: { PATH: `${bin}:/usr/bin:/bin` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
}

Deno.test(".ci/run installs the packages of TOOL_PACKAGES and fails on any skipped test", async () => {
  const list = await ciRun(["--packages"], "");
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    list.stdout.trim().split("\n").map((l) => l.split(" ")),
    Object.entries(TOOL_PACKAGES),
  );

  const clean = await ciRun([], "a ... ok (1ms)\n\nok | 12 passed (30 steps) | 0 failed (9s)\n");
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /^tests: 12 passed, 0 failed, 0 skipped$/m);

  const skip = await ciRun(
    [],
    "x (skipped: no qemu-img (Debian package qemu-utils)) ... ignored (0ms)\n\n" +
      "ok | 12 passed (30 steps) | 0 failed | 1 ignored (2 steps) (9s)\n",
  );
  assert.equal(skip.code, 1);
  assert.match(skip.stdout, /^tests: 12 passed, 0 failed, 3 skipped$/m);
  assert.match(skip.stderr, /but these were skipped:\nx \(skipped: no qemu-img/);

  const none = await ciRun([], "ok | 0 passed | 0 failed (1s)\n");
  assert.equal(none.code, 1, "a run where no test ran fails");
});

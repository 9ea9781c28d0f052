/**
 * lib/frugal.ts: the runtime's stand-ins for calls whose first use costs an action memory give
 * what those calls gave.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { isDirectory, uniqueId } from "../lib/frugal.ts";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("frugal stand-ins", () => {
  it("uniqueId: a version 4 UUID's layout, never the same twice", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = uniqueId();
      assert.match(id, UUID_V4);
      seen.add(id);
    }
    assert.equal(seen.size, 20_000);
    // every hex digit outside the version and variant varies
    const ids = [...seen].slice(0, 2_000).map((s) => s.replaceAll("-", ""));
    for (let pos = 0; pos < 32; pos++) {
      if (pos === 12) continue; // the version
      const digits = new Set(ids.map((s) => s[pos]));
      assert.ok(digits.size >= (pos === 16 ? 4 : 16), `digit ${pos}: ${[...digits].join("")}`);
    }
  });

  it("uniqueId: each process draws its own (Math.random is not seeded by the start-up snapshot)", async () => {
    const ids = await Promise.all([1, 2, 3].map(async () => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          "--v8-flags=--jitless",
          `import { uniqueId } from "${new URL("../lib/frugal.ts", import.meta.url)}";` +
          "console.log(uniqueId())",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout).trim();
    }));
    for (const id of ids) assert.match(id, UUID_V4);
    assert.equal(new Set(ids).size, 3, ids.join(" "));
  });

  it("isDirectory: true for a directory (or a link to one), false for anything else", async () => {
    const dir = await Deno.makeTempDir({ prefix: "oneblk-frugal-" });
    try {
      await Deno.writeTextFile(join(dir, "file"), "x");
      await Deno.symlink(dir, join(dir, "to-dir"));
      await Deno.symlink(join(dir, "file"), join(dir, "to-file"));
      await Deno.symlink(join(dir, "gone"), join(dir, "dangling"));
      assert.equal(isDirectory(dir), true);
      assert.equal(isDirectory(`${dir}/`), true);
      assert.equal(isDirectory("/"), true);
      assert.equal(isDirectory(join(dir, "to-dir")), true);
      assert.equal(isDirectory(join(dir, "file")), false);
      assert.equal(isDirectory(join(dir, "to-file")), false);
      assert.equal(isDirectory(join(dir, "dangling")), false);
      assert.equal(isDirectory(join(dir, "missing")), false);
      assert.equal(isDirectory(join(dir, "file", "below")), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

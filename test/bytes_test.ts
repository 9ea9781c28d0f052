import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { concatBytes, writeAllSync } from "../lib/bytes.ts";

describe("bytes", () => {
  it("concatBytes joins in order", () => {
    const enc = new TextEncoder();
    assert.deepEqual(
      concatBytes([enc.encode("ab"), new Uint8Array(), enc.encode("é")]),
      enc.encode("abé"),
    );
  });

  it("writeAllSync writes everything through writes that take only part of it", () => {
    const taken: Uint8Array[] = [];
    const stingy = {
      writeSync(p: Uint8Array) {
        const n = Math.min(3, p.length);
        taken.push(p.slice(0, n));
        return n;
      },
    };
    const text = "ERROR: é€ ".repeat(40);
    writeAllSync(stingy, text);
    assert.equal(new TextDecoder().decode(concatBytes(taken)), text);
    assert.ok(taken.every((p) => p.length <= 3));
  });

  it("an action's output reaches a pipe whole (oned reads it)", async () => {
    const mod = new URL("../lib/bytes.ts", import.meta.url).href;
    const code =
      `import { writeAllSync } from "${mod}"; writeAllSync(Deno.stdout, "x".repeat(1_000_000) + "\\nend");`;
    const text = "x".repeat(1_000_000) + "\nend";
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      stdout: "piped",
      stderr: "piped",
    });
    const out = await child.output();
    assert.equal(out.code, 0);
    assert.equal(new TextDecoder().decode(out.stdout), text);
  });
});

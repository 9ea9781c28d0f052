import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { commandLine, quote } from "../../lib/host/quote.ts";
import { OneblkError } from "../../lib/errors.ts";
import { HOSTILE, nulSplit } from "./helpers.ts";

async function viaSh(argv: string[]): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", commandLine(argv)] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

describe("quote", () => {
  it("leaves plain words bare and quotes everything else", () => {
    assert.equal(quote("/var/lib/one/datastores/0/7/disk.0"), "/var/lib/one/datastores/0/7/disk.0");
    assert.equal(quote("bs=1M"), "'bs=1M'");
    assert.equal(quote(""), "''");
    assert.equal(quote("it's"), "'it'\\''s'");
    assert.equal(quote("$HOME"), "'$HOME'");
  });

  it("rejects NUL bytes", () => {
    assert.throws(() => quote("a\0b"), (e) => e instanceof OneblkError && e.kind === "input");
  });

  it("round-trips every hostile argument through a real POSIX shell", async () => {
    const got = nulSplit(await viaSh(["printf", "%s\\0", ...HOSTILE]));
    assert.deepEqual(got, HOSTILE);
  });

  it("keeps an assignment-looking first word a command, not an assignment", async () => {
    // `A=b printf …` unquoted would set a variable; quoted it is a (missing) program name.
    const out = await new Deno.Command("sh", { args: ["-c", commandLine(["A=b", "x"])] })
      .output();
    assert.equal(out.code, 127);
  });
});

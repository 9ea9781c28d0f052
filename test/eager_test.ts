/**
 * tools/eager.ts: the build's rewrite of hot functions into parenthesized function expressions
 * keeps what a program does (hoisting, `this`, methods, async, concise bodies), and V8 then
 * compiles them with the module instead of on first call; source-map positions and V8's logs are
 * read as the profile needs.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { encode } from "@jridgewell/sourcemap-codec";
import { join } from "node:path";
import { beforeHiding, PROGRAM_HEADER } from "../tools/bundle.ts";
import {
  eagerize,
  lazyFunctions,
  OriginalPositions,
  profileEntry,
  profileKeys,
} from "../tools/eager.ts";

/** Every function hot: one key for every position. */
const ALL = { keyAt: () => "k" };
const HOT = new Set(["k"]);

/** A module exercising every form the rewrite meets; its default export is what it computed. */
const SAMPLE = `
const early = used(2);
function used(n) { return helper(n) * 10; }
function helper(n) { "use strict"; return inner(n); function inner(m) { return m + 1; } }
const obj = {
  base: 5,
  method() { return this.base; },
  get twice() { return this.base * 2; },
  plain: function (x) { return x * 3; },
  arrowThis() { return [1, 2].map((v) => v + this.base); },
};
class C {
  constructor(v) { this.v = v; }
  m() { return this.v; }
  static s = (q) => q * 7;
}
const concise = (a, { b } = { b: 4 }, ...rest) => ({ a, b, n: rest.length });
const asyncArrow = async (x) => { await null; return x + 1; };
function args() { return [...arguments].join("-"); }
const seq = () => (1, 2);
const ifBlock = (f) => { if (f) { function blocky() { return "b"; } return blocky(); } return "n"; };
const nested = () => { return twice(3); function twice(z) { return z * 2; } };
const gen = function* () { yield 1; yield 2; };
export default {
  early,
  obj: [obj.method(), obj.twice, obj.plain(2), obj.arrowThis()],
  c: [new C(9).m(), C.s(2)],
  concise: [concise(1), concise(1, { b: 2 }, 8, 9)],
  asyncArrow: await asyncArrow(1),
  args: args(1, 2, 3),
  seq: seq(),
  ifBlock: [ifBlock(true), ifBlock(false)],
  nested: nested(),
  gen: [...gen()],
  names: [used.name, helper.name, concise.name.length >= 0],
};
`;

async function evaluate(code: string): Promise<unknown> {
  const url = `data:text/javascript;base64,${btoa(code)}`;
  return (await import(url)).default;
}

describe("eagerize", () => {
  it("keeps what the program computes, with its functions rewritten", async () => {
    const r = eagerize(SAMPLE, ALL, HOT);
    assert.notEqual(r.code, SAMPLE);
    assert.deepEqual(await evaluate(r.code), await evaluate(SAMPLE));
    // declarations hoisted as parenthesized expressions, at the top of their body
    assert.ok(r.code.startsWith("var used=(function used(n)"), r.code.slice(0, 80));
    assert.match(r.code, /"use strict";var inner=\(function inner\(m\)/);
    assert.match(r.code, /plain: \(function \(x\)/);
    assert.match(r.code, /concise = \(function\(a, \{ b \} = \{ b: 4 \}, \.\.\.rest\)\{return\(/);
    assert.match(r.code, /asyncArrow = \(async function\(x\)/);
    // kept: methods, getters, arrows using `this`, declarations inside blocks
    assert.match(r.code, /method\(\) \{ return this\.base; \}/);
    assert.match(r.code, /\(v\) => v \+ this\.base/);
    assert.match(r.code, /\{ function blocky\(\)/);
    assert.ok(r.kept >= 4, `kept ${r.kept}`);
  });

  it("rewrites only the functions the profile names", () => {
    const code = "function a(){return 1}\nfunction b(){return 2}\nexport default a()+b();\n";
    const at = code.indexOf("(){return 2}");
    const r = eagerize(code, { keyAt: (p) => (p === at ? "b" : "other") }, new Set(["b"]));
    assert.equal(r.eager, 1);
    assert.equal(
      r.code,
      "var b=(function b(){return 2});function a(){return 1}\n\nexport default a()+b();\n",
    );
  });

  it("makes V8 compile the rewritten functions with the module, not on first call", async () => {
    const body = Array.from({ length: 40 }, (_, i) => `function f${i}(x){return x+${i}}`)
      .join("\n") +
      "\nlet s=0;\n" +
      Array.from({ length: 40 }, (_, i) => `s+=f${i}(1);`).join("") + "\nconsole.log(s);\n";
    const dir = await Deno.makeTempDir();
    try {
      const lazyCount = async (code: string, name: string) => {
        const file = join(dir, name);
        await Deno.writeTextFile(file, code);
        const log = join(dir, `${name}.log`);
        const o = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "--quiet",
            "--no-config",
            "--no-lock",
            `--v8-flags=--log-function-events,--logfile=${log},--no-logfile-per-isolate`,
            file,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(o.stdout).trim(), String(40 + 780));
        const found = lazyFunctions(
          await Deno.readTextFile(log),
          (url) => url.endsWith(name) ? name : undefined,
        );
        return found.get(name)?.size ?? 0;
      };
      assert.equal(await lazyCount(body, "lazy.js"), 40);
      assert.equal(await lazyCount(eagerize(body, ALL, HOT).code, "eager.js"), 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

describe("OriginalPositions", () => {
  it("gives the original file, line and column of the last mapping at or before an offset", () => {
    const code = "aaaa;bbbb\ncccc";
    // line 0: col 0 → src 0 line 4 col 2; col 5 → src 1 line 9 col 0; line 1: col 2 → src 0 3:1
    const mappings = encode([[[0, 0, 3, 2], [5, 1, 8, 0]], [[2, 0, 2, 1]]]);
    const map = { sources: ["../../lib/a.ts", "file:///repo/lib/b.ts"], mappings };
    const pos = new OriginalPositions(code, map, "/repo/dist/x/p.js.map", "/repo");
    assert.equal(pos.keyAt(0), "lib/a.ts:4:2");
    assert.equal(pos.keyAt(4), "lib/a.ts:4:2");
    assert.equal(pos.keyAt(6), "lib/b.ts:9:0");
    assert.equal(pos.keyAt(10), undefined); // line 1 before its first mapping
    assert.equal(pos.keyAt(13), "lib/a.ts:3:1");
  });
});

describe("the profile's entries", () => {
  it("group positions by file, in order, and give the same keys back", () => {
    const keys = ["lib/b.ts:3:0", "lib/a.ts:12:4", "lib/a.ts:2:10", "lib/a.ts:12:1"];
    const entry = profileEntry(keys);
    assert.deepEqual(entry, { "lib/a.ts": "2:10 12:1 12:4", "lib/b.ts": "3:0" });
    assert.deepEqual(profileKeys(entry).sort(), [...keys].sort());
  });
});

describe("beforeHiding", () => {
  it("gives the offset in the text as the bundler wrote it, before imports were hidden", () => {
    const written = 'a;import("node:x");b;import("node:y");c';
    const shipped = 'a;import(String("node:x"));b;import(String("node:y"));c';
    for (const ch of ["a", "b", "c"]) {
      assert.equal(beforeHiding(shipped, shipped.indexOf(ch)), written.indexOf(ch));
    }
  });

  it("and before a per-action program's first line was added", () => {
    const written = 'Q;import("node:x");Z';
    const shipped = `${PROGRAM_HEADER} --unstable-net\nQ;import(String("node:x"));Z`;
    for (const ch of ["Q", "Z"]) {
      assert.equal(beforeHiding(shipped, shipped.indexOf(ch)), written.indexOf(ch));
    }
  });
});

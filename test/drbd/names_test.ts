import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  LINSTOR_NAME_MAX,
  linstorResourceNameProblem,
  proposeLinstorResourceName,
  sameLinstorName,
} from "../../lib/drbd/names.ts";
import { lcgBytes } from "../support/bytes.ts";

describe("LINSTOR resource names", () => {
  it("accepts names LINSTOR accepts", () => {
    for (
      const n of [
        "legacy",
        "web-data",
        "_x1",
        "ab",
        "OpenNebula-Image-42",
        "a".repeat(LINSTOR_NAME_MAX),
        "r0",
        "All_disks",
      ]
    ) {
      assert.equal(linstorResourceNameProblem(n), null, n);
    }
  });

  it("says why it refuses a name, in one line", () => {
    const cases: [string, RegExp][] = [
      ["a", /"a" is shorter than 2 characters/],
      ["", /shorter than 2/],
      ["a".repeat(49), /longer than 48 characters \(49 bytes\)/],
      ["1abc", /"1abc" does not begin with a letter or "_"/],
      ["-ab", /does not begin with a letter/],
      ["__", /"__" has no letter/],
      ["_12", /has no letter/],
      ["all", /reserves/],
      ["PROXY", /reserves \(all, proxy\)/],
      ["web.data", /"web.data" contains "\." \(only letters, digits, "_" and "-"\)/],
      ["vm+disk", /contains "\+"/],
      ["my disk", /contains " "/],
      ["légacy", /contains "é"/],
      // Lengths are in UTF-8 bytes: 24 two-byte letters are 48 bytes, 25 are too many.
      ["é".repeat(25), /longer than 48 characters \(50 bytes\)/],
    ];
    for (const [name, why] of cases) {
      const p = linstorResourceNameProblem(name);
      assert.ok(p !== null, name);
      assert.match(p, why);
      assert.ok(!p.includes("\n"));
    }
  });

  it("compares names without case, as LINSTOR does", () => {
    assert.ok(sameLinstorName("Legacy", "LEGACY"));
    assert.ok(!sameLinstorName("legacy", "legacy2"));
  });

  it("proposes the name itself when it is valid", () => {
    assert.equal(proposeLinstorResourceName("legacy"), "legacy");
  });

  it("proposes a close valid rename", () => {
    const cases: [string, string][] = [
      ["web.data", "web_data"],
      ["vm+disk.0", "vm_disk_0"],
      ["1abc", "res_1abc"],
      ["-ab", "res_-ab"],
      ["all", "res_all"],
      ["Proxy", "res_Proxy"],
      ["a", "res_a"],
      ["", "res_"],
      ["_12", "res__12"],
      ["légacy", "l_gacy"],
      ["x".repeat(60), "x".repeat(48)],
      ["9" + "x".repeat(60), "res_9" + "x".repeat(43)],
    ];
    for (const [from, to] of cases) {
      assert.equal(proposeLinstorResourceName(from), to, from);
      assert.equal(linstorResourceNameProblem(to), null, to);
    }
  });

  it("avoids names already taken, ignoring case", () => {
    assert.equal(proposeLinstorResourceName("legacy", ["LEGACY"]), "legacy_2");
    assert.equal(proposeLinstorResourceName("web.data", ["web_data", "WEB_DATA_2"]), "web_data_3");
    const long = "y".repeat(48);
    const got = proposeLinstorResourceName(long, [long]);
    assert.equal(got, "y".repeat(46) + "_2");
    assert.equal(linstorResourceNameProblem(got), null);
  });

  it("always proposes a valid name, whatever DRBD allowed", () => {
    const bytes = lcgBytes(4000, 7);
    const alphabet = "aZ09_-.+:/ é\u00ff\u4e2d";
    for (let i = 0; i < 400; i++) {
      const len = bytes[i] % 60;
      let s = "";
      for (let j = 0; j < len; j++) {
        s += alphabet[bytes[(i * 7 + j) % bytes.length] % alphabet.length];
      }
      const p = proposeLinstorResourceName(s);
      assert.equal(linstorResourceNameProblem(p), null, `${JSON.stringify(s)} -> ${p}`);
      if (linstorResourceNameProblem(s) === null) assert.equal(p, s);
    }
  });
});

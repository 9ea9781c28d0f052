/** lib/path.ts gives node:path's POSIX results (the runtime must not load node:path itself). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as node from "node:path";
import * as ours from "../lib/path.ts";

const SAMPLES = [
  "",
  ".",
  "..",
  "/",
  "//",
  "a",
  "a/",
  "/a/b/c",
  "/a/b/c/",
  "a//b/../c/./d",
  "/var/lib/one/remotes/tm/linstor/clone.ssh",
  "../../x",
  "/a/b/../../..",
  "dir\\with\\backslash",
  "/vms/7/disk.0",
  "name with space/.hidden",
];

describe("lib/path.ts", () => {
  it("basename, dirname, normalize, isAbsolute equal node:path's", () => {
    for (const p of SAMPLES) {
      assert.equal(ours.basename(p), node.basename(p), `basename ${JSON.stringify(p)}`);
      assert.equal(ours.dirname(p), node.dirname(p), `dirname ${JSON.stringify(p)}`);
      assert.equal(ours.normalize(p), node.normalize(p), `normalize ${JSON.stringify(p)}`);
      assert.equal(ours.isAbsolute(p), node.isAbsolute(p), `isAbsolute ${JSON.stringify(p)}`);
      assert.equal(ours.basename(p, ".ssh"), node.basename(p, ".ssh"));
    }
  });

  it("join, resolve and relative equal node:path's, relative parts against the cwd", () => {
    for (const a of SAMPLES) {
      for (const b of ["", "x", "/abs", "../up", "./here/"]) {
        assert.equal(ours.join(a, b), node.join(a, b), `join ${a} ${b}`);
        assert.equal(ours.resolve(a, b), node.resolve(a, b), `resolve ${a} ${b}`);
        assert.equal(ours.relative(a, b), node.relative(a, b), `relative ${a} ${b}`);
      }
    }
    assert.equal(ours.resolve(), node.resolve());
  });
});

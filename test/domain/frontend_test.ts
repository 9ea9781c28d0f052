/** ONEBLK_FRONTEND: one reader, a name or a list of names (several front-ends). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bridgeOrder, frontendBridge, frontendNames } from "../../lib/domain/frontend.ts";
import { OneblkError } from "../../lib/errors.ts";

describe("front-end identity", () => {
  it("reads one name or a list separated by commas or blanks", () => {
    assert.deepEqual(frontendNames({}), []);
    assert.deepEqual(frontendNames({ ONEBLK_FRONTEND: "  " }), []);
    assert.deepEqual(frontendNames({ ONEBLK_FRONTEND: "fe1" }), ["fe1"]);
    assert.deepEqual(frontendNames({ ONEBLK_FRONTEND: "fe1, fe2 fe3," }), ["fe1", "fe2", "fe3"]);
  });

  it("bridges on this machine when it is listed (or nothing is), else on the first name", () => {
    assert.equal(frontendBridge({}, "here"), "here");
    assert.equal(frontendBridge({ ONEBLK_FRONTEND: "fe1,fe2" }, "fe2"), "fe2");
    assert.equal(frontendBridge({ ONEBLK_FRONTEND: "fe1,fe2" }, "elsewhere"), "fe1");
    assert.equal(frontendBridge({ ONEBLK_FRONTEND: "fe1" }, "elsewhere"), "fe1");
  });

  it("refuses a name that is not a host name", () => {
    assert.throws(
      () => frontendBridge({ ONEBLK_FRONTEND: "-oProxyCommand=x" }, "elsewhere"),
      (e: unknown) => e instanceof OneblkError && e.kind === "input",
    );
  });

  it("orders BRIDGE_LIST from the entry OpenNebula picks (id % n), the rest after it", () => {
    assert.deepEqual(bridgeOrder(["a", "b", "c"], 0), ["a", "b", "c"]);
    assert.deepEqual(bridgeOrder(["a", "b", "c"], 7), ["b", "c", "a"]);
    assert.deepEqual(bridgeOrder(["a", "b", "c"], -1), ["b", "c", "a"]);
    assert.deepEqual(bridgeOrder([], 3), []);
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ensureStateDir, stateDir } from "../lib/state_dir.ts";

describe("front-end state directory", () => {
  it("takes ONEBLK_STATE_DIR, then the simulated world, then ONE_LOCATION, then oneadmin's home", () => {
    assert.equal(
      stateDir({ ONEBLK_STATE_DIR: "/x", ONEBLK_SIM_ROOT: "/s", ONE_LOCATION: "/o" }),
      "/x",
    );
    assert.equal(stateDir({ ONEBLK_SIM_ROOT: "/s", ONE_LOCATION: "/o" }), "/s/state");
    assert.equal(stateDir({ ONE_LOCATION: "/o" }), "/o/var/oneblk");
    assert.equal(stateDir({ ONEBLK_STATE_DIR: " ", ONE_LOCATION: "" }), "/var/lib/one/oneblk");
  });

  it("creates a sub-directory readable by its owner only", async () => {
    const root = await Deno.makeTempDir();
    try {
      const dir = await ensureStateDir({ ONEBLK_STATE_DIR: `${root}/st` }, "leftovers");
      assert.equal(dir, `${root}/st/leftovers`);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      assert.equal(await ensureStateDir({ ONEBLK_STATE_DIR: `${root}/st` }, "leftovers"), dir);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

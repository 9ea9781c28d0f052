/**
 * lib/backend/deferred.ts: a store's code starts loading when its backend is opened (beside the
 * action's other waits), is loaded once, and a failed load surfaces on the first call, never as
 * an unhandled rejection.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DeferredBackend } from "../../lib/backend/deferred.ts";
import type { Backend } from "../../lib/backend/types.ts";

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("deferred backend", () => {
  it("starts loading when opened, once, and answers through the loaded backend", async () => {
    let loads = 0;
    const real = { getVolume: (v: string) => Promise.resolve({ name: v, sizeMiB: 8, props: {} }) };
    const b = new DeferredBackend("test", (v) => `/dev/test/${v}`, async () => {
      loads++;
      await tick(5);
      return real as unknown as Backend;
    });
    assert.equal(loads, 1, "loading started by opening, before any call");
    assert.equal(b.devicePath("x"), "/dev/test/x");
    const [a, c] = await Promise.all([b.getVolume("a"), b.getVolume("c")]);
    assert.deepEqual([a?.name, c?.name], ["a", "c"]);
    assert.equal(loads, 1);
  });

  it("a failed load surfaces on the first call, not as an unhandled rejection", async () => {
    const b = new DeferredBackend("test", (v) => v, () => Promise.reject(new Error("no code")));
    await tick(10); // an unhandled rejection would fail the test run here
    await assert.rejects(b.getVolume("a"), /no code/);
  });
});

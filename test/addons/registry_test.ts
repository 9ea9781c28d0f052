/**
 * The add-on and store registries (lib/addons/list.ts, lib/backend/list.ts): each add-on names
 * the store its profile's datastores are on, which the bundle's per-driver programs are built
 * with alone (tools/bundle.ts), so the name must be what the profile actually opens.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ADDONS } from "../../lib/addons/index.ts";
import { STORE_LIST } from "../../lib/backend/list.ts";
import { openBackend } from "../../lib/backend/index.ts";
import { driverLists } from "../../tools/bundle.ts";

describe("the registries", () => {
  it("each add-on's store is the kind its profile's datastores open, and a listed store", async () => {
    const kinds = STORE_LIST.map((s) => s.kind as string);
    for (const a of ADDONS) {
      const profile = a.profile({}, {});
      const store = profile.store({ get: () => "" }, 100);
      assert.equal(store.kind, a.store, a.driver);
      assert.ok(kinds.includes(a.store), `${a.driver}: ${a.store} not in ${kinds}`);
      // the build finds that add-on and that store where the layout puts them
      const lists = await driverLists(a.driver);
      assert.match(lists.addons, new RegExp(`lib/addons/${a.driver}\\.ts"`));
      assert.match(lists.stores, new RegExp(`lib/backend/${a.store}/index\\.ts"`));
    }
  });

  it("a store's settings of a kind no program holds are refused, not guessed", () => {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => openBackend({ kind: "nosuchstore" } as any, {} as any),
      /store nosuchstore is not in this program/,
    );
  });
});

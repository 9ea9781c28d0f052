/**
 * The inventory comparison of the fault matrix (tools/faults/inventory.ts): what a world has
 * more than its reference is a leftover (an extra volume shown once, with what it carries), a
 * volume or snapshot it lacks is lost, a missing attachment is neither; an entry of the host
 * leftovers journal is a leftover too.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { diffInventory, type Inventory } from "../../tools/faults/inventory.ts";

const ref: Inventory = {
  volumes: ["img-0 size=2048", "vm-1 size=4096"],
  snapshots: ["img-0@snap-0"],
  attachments: ["img-0@alpha diskful", "vm-1@bravo diskless"],
  props: ["img-0: Aux/one/DS_ID=100"],
  files: ["bravo:/var/lib/one/datastores/101/1/disk.0 -> <root>/hosts/bravo/dev/x"],
  journal: [],
};

describe("inventory diff", () => {
  it("is empty for the same inventory", () => {
    assert.deepEqual(diffInventory(ref, structuredClone(ref)), { extra: [], lost: [] });
  });

  it("reports an extra volume once, with what it carries, and other extras one by one", () => {
    const got = structuredClone(ref);
    got.volumes.push("img-1 size=3072");
    got.attachments.push(
      "img-1@alpha diskful",
      "img-1@bravo tie-breaker",
      "img-0@charlie client",
      "vm-1@delta tie-breaker",
    );
    got.props.push("img-1: Aux/one/DS_ID=100", "img-0: Aux/oneblk/tmp=1");
    got.snapshots.push("img-0@oneblk-tmp-clone-x");
    got.files.push("alpha:/var/tmp/oneblk-stage-1");
    got.journal.push("bravo:/var/lib/one/datastores/101/1 vm-dir");
    assert.deepEqual(diffInventory(ref, got), {
      extra: [
        "volume img-1 size=3072 (+3 snapshots/attachments/properties)",
        "snapshot img-0@oneblk-tmp-clone-x",
        "attachment img-0@charlie client",
        "prop img-0: Aux/oneblk/tmp=1",
        "file alpha:/var/tmp/oneblk-stage-1",
        "journal bravo:/var/lib/one/datastores/101/1 vm-dir",
      ],
      lost: [],
    });
  });

  it("reports lost volumes and snapshots, not missing attachments, and a size that differs", () => {
    const got = structuredClone(ref);
    got.volumes = ["vm-1 size=8192"];
    got.snapshots = [];
    got.attachments = ["vm-1@bravo diskless"];
    assert.deepEqual(diffInventory(ref, got), {
      extra: ["volume vm-1 size=8192 (reference: size=4096)"],
      lost: ["volume img-0 size=2048", "snapshot img-0@snap-0"],
    });
  });
});

/** Each add-on's datastore attributes become its store's typed placement. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { profileFor } from "../../lib/addons/index.ts";

function attrs(a: Record<string, string>) {
  return { get: (n: string) => a[n] ?? "" };
}

describe("placement from datastore attributes", () => {
  it("linstor_un: every placement attribute, lists split, flags and counts parsed", () => {
    const p = profileFor("linstor_un", {}).placement(
      attrs({
        RESOURCE_GROUP: "rg1",
        AUTO_PLACE: "3",
        STORAGE_POOL: "pool_a, pool_b",
        DISKLESS_POOL: "dl",
        NODE_LIST: "n1 n2,n3",
        LAYER_LIST: "drbd,storage",
        PROVIDERS: "LVM_THIN ZFS_THIN",
        REPLICAS_ON_SAME: "rack",
        REPLICAS_ON_DIFFERENT: "site",
        DO_NOT_PLACE_WITH: "other",
        DO_NOT_PLACE_WITH_REGEX: "^tmp-",
        ENCRYPTION: "yes",
        PREFER_NODE: "YES",
        CLONE_MODE: "snapshot",
        CHECKPOINT_AUTO_PLACE: "1",
      }),
      120,
    );
    assert.deepEqual(p, {
      group: "rg1",
      replicas: 3,
      storagePools: ["pool_a", "pool_b"],
      disklessPools: ["dl"],
      nodes: ["n1", "n2", "n3"],
      layers: ["drbd", "storage"],
      providers: ["LVM_THIN", "ZFS_THIN"],
      replicasOnSame: ["rack"],
      replicasOnDifferent: ["site"],
      notPlaceWith: ["other"],
      notPlaceWithRegex: "^tmp-",
      encryption: true,
      preferLocal: true,
      cloneFromSnapshot: true,
      checkpointReplicas: 1,
    });
    const none = profileFor("linstor_un", {}).placement(attrs({ CLONE_MODE: "copy" }), 120);
    assert.deepEqual(JSON.parse(JSON.stringify(none)), { group: "" });
  });

  it("linstor: the resource group, or the 1.x/2.x attributes", () => {
    const p = profileFor("linstor", {}).placement(
      attrs({
        LINSTOR_AUTO_PLACE: "2",
        LINSTOR_STORAGE_POOL: "drbdpool",
        LINSTOR_DEPLOYMENT_NODES: "a b",
      }),
      100,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(p)), {
      group: "",
      replicas: 2,
      storagePools: ["drbdpool"],
      nodes: ["a", "b"],
    });
  });

  it("storpool: the template of the datastore (ONE_PX prefix) and the SP_* attributes", () => {
    const p = profileFor("storpool", { ONE_PX: "c2" }).placement(
      attrs({ SP_REPLICATION: "3", SP_PLACEALL: "hdd", SP_QOSCLASS: "tier1" }),
      110,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(p)), {
      group: "c2-ds-110",
      replicas: 3,
      placeAll: "hdd",
      qos: "tier1",
    });
  });
});

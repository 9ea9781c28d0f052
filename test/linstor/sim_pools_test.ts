/**
 * The simulated LINSTOR controller changes and deletes storage pools as CtrlStorPoolApiCallHandler
 * does (LINBIT's `linstor storage-pool set-property` and `storage-pool delete`): whitelisted
 * properties, a `PrefNic` that must name a network interface, a delete refused while volumes or
 * snapshot volumes use the pool, a missing one a warning.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { loadState } from "../../tools/sim/linstor/persistence.ts";
import {
  MASK_DEL,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
  stringifyJsonLossless,
} from "../../lib/backend/linstor/api_call_rc.ts";
import { simCall } from "./helpers.ts";

/** A ret_code as the controller sends it (signed 64 bits). */
const code = (v: bigint) => BigInt.asIntN(64, v);
const STOR_POOL = OBJ.STOR_POOL;

describe("LINSTOR simulator: storage pools changed and deleted", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"] });
    for (
      const [m, p, b] of [
        ["POST", "/v1/resource-definitions", { resource_definition: { name: "r1" } }],
        ["POST", "/v1/resource-definitions/r1/volume-definitions", {
          volume_definition: { size_kib: 10240 },
        }],
        ["POST", "/v1/resource-definitions/r1/resources", [{
          resource: { node_name: "alpha", props: { StorPoolName: "DfltStorPool" } },
        }]],
        ["POST", "/v1/resource-definitions/r1/snapshots", { name: "s1" }],
      ] as const
    ) {
      const r = await simCall(sim, m, p, b);
      assert.ok(r.status < 300, `${m} ${p}: ${stringifyJsonLossless(r.data)}`);
    }
  });
  after(async () => {
    await sim.stop();
  });

  it("sets and deletes a pool's properties; PrefNic names one of the node's interfaces", async () => {
    const path = "/v1/nodes/alpha/storage-pools/DfltStorPool";
    let r = await simCall(sim, "PUT", path, {
      override_props: { "Aux/a": "b", PrefNic: "default" },
    });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.ok(
      r.entries.some((e) =>
        e.ret_code === code(STOR_POOL | MASK_MOD | 3n) &&
        e.message === "Storage pool 'DfltStorPool' on node 'alpha' modified."
      ),
      stringifyJsonLossless(r.entries),
    );
    let pool = (await simCall(sim, "GET", path)).data as { props: Record<string, string> };
    assert.equal(pool.props["Aux/a"], "b");
    assert.equal(pool.props.PrefNic, "default");
    r = await simCall(sim, "PUT", path, { override_props: { PrefNic: "nope" } });
    assert.equal(r.status, 500);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | STOR_POOL | MASK_MOD | 213n));
    assert.equal(
      r.entries[0].message,
      "The network interface 'nope' of node 'alpha' does not exist!",
    );
    r = await simCall(sim, "PUT", path, { delete_props: ["Aux/a"] });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    pool = (await simCall(sim, "GET", path)).data as { props: Record<string, string> };
    assert.equal(pool.props["Aux/a"], undefined);
    // a key the storage-pool whitelist does not have
    r = await simCall(sim, "PUT", path, { override_props: { "Nope/key": "1" } });
    assert.ok(r.status >= 400, stringifyJsonLossless(r.data));
  });

  it("finds the pool as the controller does: its definition, then the pool on the node", async () => {
    let r = await simCall(sim, "PUT", "/v1/nodes/bravo/storage-pools/zzz", {
      override_props: { "Aux/a": "b" },
    });
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | STOR_POOL | MASK_MOD | 309n));
    assert.equal(r.entries[0].message, "Storage pool definition 'zzz' not found.");
    r = await simCall(sim, "PUT", "/v1/nodes/nobody/storage-pools/DfltStorPool", {
      override_props: { "Aux/a": "b" },
    });
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].message, "Node 'nobody' not found.");
  });

  it("refuses to delete a pool in use, lists its users; deletes an unused one; a missing one warns", async () => {
    let r = await simCall(sim, "DELETE", "/v1/nodes/alpha/storage-pools/DfltStorPool");
    assert.equal(r.status, 500);
    const [e] = r.entries;
    assert.equal(e.ret_code, code(MASK_ERROR | STOR_POOL | MASK_DEL | 997n));
    assert.equal(
      e.message,
      "The specified storage pool 'DfltStorPool' on node 'alpha' cannot be deleted as volumes / " +
        "snapshot-volumes are still using it.",
    );
    assert.equal(
      e.details,
      "Volumes / snapshot-volumes that are still using the storage pool: " +
        "\n   Node name: 'alpha', resource name: 'r1', volume number: 0, resource suffix: ''" +
        "\n   Node name: 'alpha', resource name: 'r1', snapshot name: 's1', volume number: 0, " +
        "resource suffix: ''",
    );
    r = await simCall(sim, "DELETE", "/v1/nodes/alpha/storage-pools/DfltDisklessStorPool");
    assert.equal(r.entries[0].message, "The default diskless storage pool cannot be deleted!");
    r = await simCall(sim, "DELETE", "/v1/nodes/bravo/storage-pools/DfltStorPool");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.equal(r.entries[0].ret_code, code(STOR_POOL | MASK_DEL | 2n));
    assert.equal(r.entries[0].message, "Node: bravo, Storage pool name: DfltStorPool deleted.");
    assert.equal(
      (await simCall(sim, "GET", "/v1/nodes/bravo/storage-pools/DfltStorPool")).status,
      404,
    );
    // gone from the saved state too (and alpha's pool keeps what was set on it)
    const saved = await loadState(sim.stateDir);
    assert.deepEqual(
      saved?.pools.filter((p) => p.name === "DfltStorPool").map((p) => [p.node, p.props.PrefNic]),
      [["alpha", "default"]],
    );
    r = await simCall(sim, "DELETE", "/v1/nodes/bravo/storage-pools/DfltStorPool");
    assert.equal(r.status, 200);
    assert.equal(r.entries[0].ret_code, code(MASK_WARN | STOR_POOL | MASK_DEL | 3000n));
    assert.equal(
      r.entries[0].message,
      "Deletion of storage pool 'DfltStorPool' on node 'bravo' had no effect.",
    );
    assert.equal(r.entries[0].cause, "Storage pool 'DfltStorPool' on node 'bravo' does not exist.");
  });
});

/**
 * The simulated LINSTOR controller's node and cluster administration as the controller does
 * it: node evacuate and restore (CtrlNodeApiCallHandler: `linstor node evacuate`, `node
 * restore`), resource group adjust (CtrlRscGrpApiCallHandler: `linstor resource-group adjust`)
 * and the log levels of the controller and its satellites (`linstor controller set-log-level`,
 * `node set-log-level`, `GET …/config`) — their entries and masks, refusals, and the effect on
 * listings and the saved state.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { loadState } from "../../tools/sim/linstor/persistence.ts";
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_INFO,
  MASK_MOD,
  MASK_WARN,
  OBJ,
  stringifyJsonLossless,
} from "../../lib/backend/linstor/api_call_rc.ts";
import { simCall, type SimEntry } from "./helpers.ts";

/** A ret_code as the controller sends it (signed 64 bits). */
const code = (v: bigint) => BigInt.asIntN(64, v);
/** Each entry's ret_code and message. */
const said = (es: SimEntry[]) => es.map((e) => [e.ret_code, e.message]);

/** A request that must succeed (a step of a case's set-up); its reply. */
async function must(sim: LinstorSim, method: string, path: string, body?: unknown) {
  const r = await simCall(sim, method, path, body);
  assert.ok(r.status < 300, `${method} ${path}: ${stringifyJsonLossless(r.data)}`);
  return r;
}

/** A resource as the resource listing shows it. */
interface Rsc {
  node_name: string;
  flags: string[];
  props: Record<string, string>;
}

/** `rd`'s resources by node name. */
async function rscsOf(sim: LinstorSim, rd: string): Promise<Map<string, Rsc>> {
  const r = await must(sim, "GET", `/v1/resource-definitions/${rd}/resources`);
  return new Map((r.data as Rsc[]).map((x) => [x.node_name, x]));
}

/** The nodes of `rd`'s diskful replicas and of its tie-breaker, sorted. */
async function layout(sim: LinstorSim, rd: string): Promise<{ disks: string[]; tb?: string }> {
  const all = [...(await rscsOf(sim, rd)).values()];
  return {
    disks: all.filter((x) => !x.flags.includes("DISKLESS")).map((x) => x.node_name).sort(),
    tb: all.find((x) => x.flags.includes("TIE_BREAKER"))?.node_name,
  };
}

/** A node's flags as GET /v1/nodes/{node} shows them. */
async function nodeFlags(sim: LinstorSim, node: string): Promise<string[]> {
  return ((await must(sim, "GET", `/v1/nodes/${node}`)).data as { flags: string[] }).flags;
}

/** Start a simulator with `nodes`, group `grp` (place count 2) and definitions spawned in it. */
async function cluster(nodes: string[], rds: string[], stateDir?: string): Promise<LinstorSim> {
  const sim = await startLinstorSim({ nodes, stateDir });
  await must(sim, "POST", "/v1/resource-groups", {
    name: "grp",
    select_filter: { place_count: 2 },
  });
  await must(sim, "POST", "/v1/resource-groups/grp/volume-groups", {});
  for (const rd of rds) {
    await must(sim, "POST", "/v1/resource-groups/grp/spawn", {
      resource_definition_name: rd,
      volume_sizes: [10240],
    });
  }
  return sim;
}

const NODES4 = ["alpha", "bravo", "charlie", "delta"];
const WARN_NOT_EVACUATING = code(MASK_WARN | 1020n);

describe("LINSTOR simulator: node evacuate", () => {
  let sim: LinstorSim;
  after(async () => {
    await sim?.stop();
  });

  it("flags the node, toggles the tie-breaker into the replacement, then the old replica goes", async () => {
    sim = await cluster(NODES4, ["r1"]);
    const before = await layout(sim, "r1");
    assert.equal(before.disks.length, 2);
    assert.ok(before.tb);
    const [from, stays] = before.disks;
    const r = await simCall(sim, "PUT", `/v1/nodes/${from}/evacuate`);
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const toggled = `Addition of disk to resource 'r1' on node '${before.tb}' registered`;
    assert.ok(
      r.entries.some((e) => e.ret_code === code(MASK_MOD | OBJ.RSC | 3n) && e.message === toggled),
      stringifyJsonLossless(r.entries),
    );
    // the deletion of the evacuated replica runs in the background: none of its entries
    assert.ok(!r.entries.some((e) => e.message.includes("deletion")));
    assert.deepEqual(await nodeFlags(sim, from), ["EVACUATE"]);
    const nodes = (await must(sim, "GET", "/v1/nodes")).data as { name: string; flags: string[] }[];
    assert.deepEqual(nodes.find((n) => n.name === from)?.flags, ["EVACUATE"]);
    const after = await layout(sim, "r1");
    assert.deepEqual(after.disks, [stays, before.tb].sort());
    // two replicas again want a tie-breaker: on the node left, never the evacuated one
    const left = NODES4.find((n) => ![from, stays, before.tb].includes(n));
    assert.equal(after.tb, left);
    await sim.stop();
  });

  it("creates the replacement on an allowed node (do_not_target) with the create's entries", async () => {
    sim = await cluster(NODES4, ["r1"]);
    const before = await layout(sim, "r1");
    const [from, stays] = before.disks;
    const to = NODES4.find((n) => ![from, stays, before.tb].includes(n))!;
    const r = await simCall(sim, "PUT", `/v1/nodes/${from}/evacuate`, {
      do_not_target: [before.tb],
    });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.ok(
      r.entries.some((e) =>
        e.ret_code === code(MASK_CRT | OBJ.RSC | 1n) &&
        e.message === `New resource 'r1' on node '${to}' registered.`
      ),
      stringifyJsonLossless(r.entries),
    );
    const after = await layout(sim, "r1");
    assert.deepEqual(after.disks, [stays, to].sort());
    assert.equal(after.tb, before.tb);
    await sim.stop();
  });

  it("keeps a replica in use until it is closed, then it goes", async () => {
    sim = await cluster(NODES4, ["r1"]);
    const [from] = (await layout(sim, "r1")).disks;
    const inUse = (v: boolean) =>
      fetch(`${sim.url}/_sim/in-use`, {
        method: "POST",
        body: JSON.stringify({ resource: "r1", node: from, in_use: v }),
      }).then((x) => x.body?.cancel());
    await inUse(true);
    await must(sim, "PUT", `/v1/nodes/${from}/evacuate`);
    const waiting = (await rscsOf(sim, "r1")).get(from);
    assert.deepEqual(waiting?.flags, ["EVACUATE"]);
    assert.equal(waiting?.props.MigrateFrom, from.toUpperCase());
    assert.equal((await layout(sim, "r1")).disks.length, 3);
    await inUse(false);
    assert.equal((await rscsOf(sim, "r1")).get(from), undefined);
    assert.equal((await layout(sim, "r1")).disks.length, 2);
    await sim.stop();
  });

  it("warns for a resource with no place elsewhere and keeps it (EVACUATE, MigrateFrom)", async () => {
    sim = await cluster(["alpha", "bravo"], ["r1"]);
    const r = await simCall(sim, "PUT", "/v1/nodes/alpha/evacuate");
    assert.equal(r.status, 200);
    // the controller's own entry, without the call's masks
    assert.deepEqual(said(r.entries), [[
      WARN_NOT_EVACUATING,
      "Resource 'r1' cannot be evacuated as no available storage pool was found",
    ]]);
    const kept = (await rscsOf(sim, "r1")).get("alpha")!;
    assert.deepEqual(kept.flags, ["EVACUATE"]);
    assert.equal(kept.props.MigrateFrom, "ALPHA");
    // no new resource on a node being evacuated
    await must(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "r2" } });
    const c = await simCall(sim, "POST", "/v1/resource-definitions/r2/resources", [
      { resource: { node_name: "alpha" } },
    ]);
    assert.equal(c.status, 500);
    assert.deepEqual(said(c.entries), [[
      code(MASK_ERROR | MASK_CRT | OBJ.RSC | 975n),
      "node 'alpha is being evacuated. No new resources allowed on this node.",
    ]]);
    await sim.stop();
  });

  it("refuses target with do_not_target, and an unknown node, without masks and changes", async () => {
    sim = await cluster(NODES4, ["r1"]);
    const [from] = (await layout(sim, "r1")).disks;
    let r = await simCall(sim, "PUT", `/v1/nodes/${from}/evacuate`, {
      target: ["alpha"],
      do_not_target: ["bravo"],
    });
    assert.equal(r.status, 500);
    assert.deepEqual(said(r.entries), [[
      code(MASK_ERROR | 230n),
      "Must not use --target and --do-not-target in the same request",
    ]]);
    assert.deepEqual(await nodeFlags(sim, from), []);
    r = await simCall(sim, "PUT", "/v1/nodes/nope/evacuate");
    assert.equal(r.status, 404);
    assert.deepEqual(said(r.entries), [[
      code(MASK_ERROR | BigInt(CODE.FAIL_NOT_FOUND_NODE)),
      "Node 'nope' not found.",
    ]]);
    assert.equal(
      r.entries[0].cause,
      "The specified node 'nope' could not be found in the database",
    );
    assert.equal(r.entries[0].obj_refs, undefined);
    await sim.stop();
  });
});

describe("LINSTOR simulator: node restore", () => {
  let sim: LinstorSim;
  after(async () => {
    await sim?.stop();
  });

  it("clears the flags, updates the satellites, answers an error for a node not evacuated", async () => {
    sim = await cluster(["alpha", "bravo"], ["r1"]);
    await must(sim, "PUT", "/v1/nodes/alpha/evacuate");
    let r = await simCall(sim, "PUT", "/v1/nodes/alpha/restore");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(said(r.entries), [
      [code(BigInt(CODE.MODIFIED)), "Resource restored on 'alpha'"],
      [code(BigInt(CODE.MODIFIED)), "Resource restored on 'bravo'"],
      [code(OBJ.NODE), "Successfully restored node alpha"],
      // then the auto-helper's entries (two replicas, no third node for a tie-breaker)
      [
        code(MASK_WARN | 1013n),
        "Could not find suitable node to automatically create a tie breaking resource for 'r1'.",
      ],
    ]);
    assert.deepEqual(await nodeFlags(sim, "alpha"), []);
    assert.deepEqual((await rscsOf(sim, "r1")).get("alpha")?.flags, []);
    r = await simCall(sim, "PUT", "/v1/nodes/alpha/restore");
    assert.equal(r.status, 500);
    assert.deepEqual(said(r.entries), [[
      code(MASK_ERROR),
      "Node 'alpha' is neither evicted nor evacuated.",
    ]]);
  });

  it("runs the auto-helper over every definition: the restored node takes a tie-breaker", async () => {
    const three = await cluster(["alpha", "bravo", "charlie"], ["r1"]);
    try {
      const { disks: [from, stays], tb } = await layout(three, "r1");
      await must(three, "PUT", `/v1/nodes/${from}/evacuate`);
      // the tie-breaker became the replacement; no node is left for a new one
      assert.deepEqual(await layout(three, "r1"), { disks: [stays, tb].sort(), tb: undefined });
      const r = await must(three, "PUT", `/v1/nodes/${from}/restore`);
      assert.deepEqual(said(r.entries), [
        [code(OBJ.NODE), `Successfully restored node ${from}`],
        [code(MASK_INFO | 10003n), `Tie breaker resource 'r1' created on ${from}`],
        [
          code(MASK_INFO | 10002n),
          "Resource-definition property 'DrbdOptions/Resource/quorum' updated from 'off' to " +
          "'majority' by AutoQuorum",
        ],
      ]);
      assert.equal((await layout(three, "r1")).tb, from);
    } finally {
      await three.stop();
    }
  });

  it("with delete_resources deletes all but a definition's last diskful resource", async () => {
    await must(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "r2" } });
    await must(sim, "POST", "/v1/resource-definitions/r2/volume-definitions", {
      volume_definition: { size_kib: 10240 },
    });
    await must(sim, "POST", "/v1/resource-definitions/r2/resources", [
      { resource: { node_name: "alpha", props: { StorPoolName: "DfltStorPool" } } },
    ]);
    // bravo away: nothing can be evacuated
    const node = (online: boolean) =>
      fetch(`${sim.url}/_sim/node`, {
        method: "POST",
        body: JSON.stringify({ node: "bravo", online }),
      }).then((x) => x.body?.cancel());
    await node(false);
    const ev = await must(sim, "PUT", "/v1/nodes/alpha/evacuate");
    assert.deepEqual(ev.entries.map((e) => e.ret_code), [WARN_NOT_EVACUATING, WARN_NOT_EVACUATING]);
    await node(true);
    const r = await simCall(sim, "PUT", "/v1/nodes/alpha/restore", { delete_resources: true });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.ok(
      r.entries.some((e) =>
        e.ret_code === code(MASK_DEL | OBJ.RSC | 2n) &&
        e.message === "Resource 'r1' on node 'alpha' deletion complete."
      ),
      stringifyJsonLossless(r.entries),
    );
    assert.ok(
      r.entries.some((e) =>
        e.ret_code === code(MASK_WARN | 1003n) &&
        e.message === "Not deleting resource r2 since it is the last non-deleting diskful " +
            "resource of this resource-definition"
      ),
      stringifyJsonLossless(r.entries),
    );
    assert.deepEqual(said(r.entries.slice(-1)), [
      [code(OBJ.NODE), "Successfully restored node alpha"],
    ]);
    assert.equal((await rscsOf(sim, "r1")).get("alpha"), undefined);
    assert.ok((await rscsOf(sim, "r2")).get("alpha"));
    await sim.stop();
  });

  it("keeps the evacuation in the saved state: a restarted controller still shows it", async () => {
    const root = await Deno.makeTempDir({ prefix: "oneblk-lsevac-" });
    try {
      const dir = join(root, "state");
      sim = await cluster(["alpha", "bravo"], ["r1"], dir);
      await must(sim, "PUT", "/v1/nodes/alpha/evacuate");
      await sim.stop();
      const saved = (await loadState(dir))!;
      assert.equal(saved.nodes.find((n) => n.name === "alpha")?.evacuate, true);
      const rsc = saved.rds.find((d) => d.name === "r1")?.rscs.find((x) => x.node === "alpha");
      assert.equal(rsc?.evacuate, true);
      assert.equal(rsc?.props.MigrateFrom, "ALPHA");
      sim = await startLinstorSim({ nodes: ["alpha", "bravo"], stateDir: dir });
      assert.deepEqual(await nodeFlags(sim, "alpha"), ["EVACUATE"]);
      assert.deepEqual((await rscsOf(sim, "r1")).get("alpha")?.flags, ["EVACUATE"]);
      await must(sim, "PUT", "/v1/nodes/alpha/restore");
      assert.deepEqual(await nodeFlags(sim, "alpha"), []);
      await sim.stop();
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

describe("LINSTOR simulator: resource group adjust", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await cluster(["alpha", "bravo", "charlie"], ["r1", "r2"]);
  });
  after(async () => {
    await sim.stop();
  });
  const RG_CRT = MASK_CRT | OBJ.RSC_GRP;

  it("autoplaces each definition up to a raised place count", async () => {
    await must(sim, "PUT", "/v1/resource-groups/grp", { select_filter: { place_count: 3 } });
    const r = await simCall(sim, "POST", "/v1/resource-groups/grp/adjust");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    for (const rd of ["r1", "r2"]) {
      const e = r.entries.find((x) =>
        x.message === `Resource '${rd}' successfully autoplaced on 1 nodes`
      );
      assert.equal(e?.ret_code, code(RG_CRT | 1n), stringifyJsonLossless(r.entries));
      assert.deepEqual(e?.obj_refs, { RscGrp: "grp" });
      assert.deepEqual((await layout(sim, rd)).disks, ["alpha", "bravo", "charlie"]);
    }
    const again = await simCall(sim, "POST", "/v1/resource-groups/adjustall");
    assert.equal(again.status, 200);
    assert.deepEqual(said(again.entries), [
      [
        code(MASK_WARN | RG_CRT | 1006n),
        "Resource 'r1' was already deployed on 3 nodes. Skipping.",
      ],
      [
        code(MASK_WARN | RG_CRT | 1006n),
        "Resource 'r2' was already deployed on 3 nodes. Skipping.",
      ],
    ]);
  });

  it("removes nothing: a lowered place count ends the request with the first refusal", async () => {
    await must(sim, "PUT", "/v1/resource-groups/grp", { select_filter: { place_count: 2 } });
    const r = await simCall(sim, "POST", "/v1/resource-groups/grp/adjust");
    assert.equal(r.status, 200);
    assert.equal(r.entries.length, 1, stringifyJsonLossless(r.entries));
    assert.equal(r.entries[0].ret_code, code(MASK_WARN | RG_CRT | 1006n));
    assert.match(
      r.entries[0].message,
      /^The resource 'r1' was already deployed on 3 nodes: '\w+', '\w+', '\w+'\. The resource would have to be deleted from nodes to reach the placement count\.$/,
    );
    assert.equal(r.entries[0].details, "Resource group: grp");
    assert.deepEqual((await layout(sim, "r1")).disks, ["alpha", "bravo", "charlie"]);
    const nf = await simCall(sim, "POST", "/v1/resource-groups/nope/adjust");
    assert.equal(nf.status, 404);
    assert.deepEqual(said(nf.entries), [[
      code(MASK_ERROR | RG_CRT | BigInt(CODE.FAIL_NOT_FOUND_RSC_GRP)),
      "Resource group 'nope' not found.",
    ]]);
    assert.equal(nf.entries[0].details, "Resource group: nope");
  });

  it("does not count a replica being evacuated: adjust places its replacement", async () => {
    await must(sim, "POST", "/v1/resource-groups", {
      name: "grp2",
      select_filter: { place_count: 2 },
    });
    await must(sim, "POST", "/v1/resource-groups/grp2/spawn", {
      resource_definition_name: "r3",
      volume_sizes: [10240],
    });
    const { disks: [from, stays], tb } = await layout(sim, "r3");
    // the only allowed target already holds a replica: nothing is placed
    const ev = await must(sim, "PUT", `/v1/nodes/${from}/evacuate`, { target: [stays] });
    assert.ok(ev.entries.some((e) => e.ret_code === WARN_NOT_EVACUATING));
    const r = await simCall(sim, "POST", "/v1/resource-groups/grp2/adjust");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.ok(
      r.entries.some((e) => e.message === "Resource 'r3' successfully autoplaced on 1 nodes"),
    );
    assert.deepEqual((await layout(sim, "r3")).disks, [from, stays, tb].sort());
  });
});

describe("LINSTOR simulator: controller and satellite configuration", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"] });
  });
  after(async () => {
    await sim.stop();
  });
  type Conf = { log: { level: string; level_linstor?: string; directory: string } };
  const ctrlLog = async () => ((await must(sim, "GET", "/v1/controller/config")).data as Conf).log;
  const stltLog = async (n: string) =>
    ((await must(sim, "GET", `/v1/nodes/${n}/config`)).data as Conf).log;
  const CTRL_MOD = MASK_MOD | OBJ.CTRL_CONF;
  const UPDATED: [bigint, string] = [code(CTRL_MOD | 3n), "Successfully updated controller config"];

  it("sets the controller's levels (set-log-level [--library]); the GET shows them", async () => {
    assert.equal((await ctrlLog()).level, "INFO");
    assert.equal((await ctrlLog()).level_linstor, undefined);
    let r = await simCall(sim, "PUT", "/v1/controller/config", { log: { level_linstor: "DEBUG" } });
    assert.equal(r.status, 200);
    assert.deepEqual(said(r.entries), [UPDATED]);
    r = await simCall(sim, "PUT", "/v1/controller/config", { log: { level: "TRACE" } });
    assert.deepEqual(said(r.entries), [UPDATED]);
    const log = await ctrlLog();
    assert.equal(log.level, "TRACE");
    assert.equal(log.level_linstor, "DEBUG");
    assert.equal(log.directory, "/var/log/linstor-controller");
    // the satellites kept theirs
    assert.equal((await stltLog("alpha")).level_linstor, undefined);
  });

  it("passes --global levels to every connected satellite", async () => {
    await fetch(`${sim.url}/_sim/node`, {
      method: "POST",
      body: JSON.stringify({ node: "bravo", online: false }),
    }).then((x) => x.body?.cancel());
    const r = await simCall(sim, "PUT", "/v1/controller/config", {
      log: { level_linstor_global: "WARN" },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(said(r.entries), [
      UPDATED,
      [code(MASK_MOD | OBJ.NODE | 3n), "Successfully updated satellite config"],
    ]);
    assert.deepEqual(r.entries[1].obj_refs, { Node: "alpha" });
    assert.equal((await ctrlLog()).level_linstor, "WARN");
    assert.equal((await stltLog("alpha")).level_linstor, "WARN");
    const off = await simCall(sim, "GET", "/v1/nodes/bravo/config");
    assert.equal(off.status, 503);
    assert.deepEqual(said(off.entries), [[code(MASK_WARN | OBJ.NODE | 1002n), "Node is offline"]]);
    // a satellite not connected is not told, and answers nothing
    const none = await simCall(sim, "PUT", "/v1/nodes/bravo/config", { log: { level: "DEBUG" } });
    assert.deepEqual([none.status, none.entries], [200, []]);
  });

  it("sets one satellite's levels (node set-log-level)", async () => {
    const r = await simCall(sim, "PUT", "/v1/nodes/alpha/config", { log: { level: "ERROR" } });
    assert.equal(r.status, 200);
    assert.deepEqual(said(r.entries), [[
      code(MASK_MOD | OBJ.NODE | 3n),
      "Successfully updated satellite config",
    ]]);
    assert.equal((await stltLog("alpha")).level, "ERROR");
    const nf = await simCall(sim, "PUT", "/v1/nodes/nope/config", { log: { level: "ERROR" } });
    assert.equal(nf.status, 404);
    assert.deepEqual(said(nf.entries), [[
      code(MASK_ERROR | BigInt(CODE.FAIL_NOT_FOUND_NODE)),
      "Node 'nope' not found.",
    ]]);
  });

  it("refuses an unknown level (FAIL_INVLD_CONF) and changes nothing", async () => {
    const r = await simCall(sim, "PUT", "/v1/controller/config", {
      log: { level: "DEBUG", level_linstor: "LOUD" },
    });
    assert.equal(r.status, 500);
    assert.deepEqual(said(r.entries), [[
      code(MASK_ERROR | CTRL_MOD | 230n),
      "Given loglevel 'LOUD' is invalid",
    ]]);
    assert.equal(r.entries[0].details, "Controller");
    assert.equal(r.entries[0].error_report_ids?.length, 1);
    assert.equal((await ctrlLog()).level, "TRACE");
    const s = await simCall(sim, "PUT", "/v1/nodes/alpha/config", { log: { level_linstor: "x" } });
    assert.equal(s.status, 500);
    assert.deepEqual(said(s.entries), [[code(MASK_ERROR | 230n), "Given loglevel 'x' is invalid"]]);
  });
});

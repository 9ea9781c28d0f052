/**
 * `oneblk sim linstor` answers like a real LINSTOR controller (v1.34) for every client
 * (issue 11), not only for oneblk: each case sends the exact request LINBIT's `linstor` client
 * (1.27) sends — or another client's plain REST call — over HTTP and checks the reply
 * (status, ret_codes, texts) and the resulting state, as the controller's REST handlers
 * produce them. The simulator starts like a freshly installed controller where the case needs
 * it (nodes and pools created through REST).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  MASK_CRT,
  MASK_ERROR,
  OBJ,
  parseJsonLossless,
} from "../../lib/backend/linstor/api_call_rc.ts";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";

/** One entry of an ApiCallRc list, ret_code exact. */
type Rc = {
  ret_code: bigint;
  message: string;
  cause?: string;
  details?: string;
  correction?: string;
  error_report_ids?: string[];
  obj_refs?: Record<string, string>;
};

/** A raw REST exchange: status, parsed body (ret_codes as BigInt), the rc entries if any. */
async function rest(
  sim: LinstorSim,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; data: unknown; rcs: Rc[]; text: string }> {
  const r = await fetch(sim.url + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  const data = text ? parseJsonLossless(text) : undefined;
  const rcs =
    Array.isArray(data) && data.every((e) => e && typeof e === "object" && "ret_code" in e)
      ? data as Rc[]
      : [];
  return { status: r.status, data, rcs, text };
}

/** ret_code as the unsigned 64-bit value. */
const u = (v: bigint) => BigInt.asUintN(64, v);
/** ret_code built from its parts (type mask, object, operation, code). */
const rcOf = (type: bigint, obj: bigint, op: bigint, code: number) =>
  u(type | obj | op | BigInt(code));
const has = (rcs: Rc[], v: bigint) => rcs.some((e) => u(e.ret_code) === v);

/** A controller as after installation, with `nodes` registered and a thin pool on each. */
async function freshController(nodes: string[], pool = "thinlvm"): Promise<LinstorSim> {
  const sim = await startLinstorSim({ nodes: [], pools: [] });
  let i = 1;
  for (const n of nodes) {
    const r = await rest(sim, "POST", "/v1/nodes", {
      name: n,
      type: "satellite",
      net_interfaces: [{
        name: "default",
        address: `10.0.3.${i++}`,
        satellite_port: 3366,
        satellite_encryption_type: "plain",
        is_active: true,
      }],
    });
    assert.equal(r.status, 201, r.text);
    const p = await rest(sim, "POST", `/v1/nodes/${n}/storage-pools`, {
      storage_pool_name: pool,
      provider_kind: "LVM_THIN",
      props: { "StorDriver/StorPoolName": `linstorpool/${pool}` },
    });
    assert.equal(p.status, 201, p.text);
  }
  return sim;
}

describe("issue 11 item 1: scalar coercion like the controller's JSON mapper", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie", "delta"]);
  });
  after(async () => {
    await sim.stop();
  });

  it("takes LINBIT's `resource-group create --place-count 2` (a string) and spawns with it", async () => {
    let r = await rest(sim, "POST", "/v1/resource-groups", {
      name: "opennebula",
      select_filter: { place_count: "2", storage_pool_list: ["thinlvm"] },
    });
    assert.equal(r.status, 201, r.text);
    assert.ok(has(r.rcs, rcOf(0n, OBJ.RSC_GRP, MASK_CRT, 1)));
    assert.equal(r.rcs[0].message, "New resource group 'opennebula' created.");
    r = await rest(sim, "GET", "/v1/resource-groups?resource_groups=opennebula");
    const g = (r.data as { select_filter: { place_count: unknown } }[])[0];
    assert.equal(g.select_filter.place_count, 2, "stored as the number 2");
    r = await rest(sim, "POST", "/v1/resource-groups/opennebula/volume-groups", {});
    assert.equal(r.status, 201);
    // query-size-info --place-count 3 and spawn-resources --place-count 2: strings as well
    r = await rest(sim, "POST", "/v1/resource-groups/opennebula/query-size-info", {
      select_filter: { place_count: "3" },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(
      (r.data as { space_info: { next_spawn_result: unknown[] } }).space_info.next_spawn_result
        .length,
      3,
    );
    r = await rest(sim, "POST", "/v1/resource-groups/opennebula/spawn", {
      resource_definition_name: "one-3",
      volume_sizes: [1048576],
      partial: false,
      definitions_only: false,
      select_filter: { place_count: "2" },
    });
    assert.equal(r.status, 201, r.text);
    r = await rest(sim, "GET", "/v1/view/resources?resources=one-3");
    const diskful = (r.data as { flags: string[] }[]).filter((x) => !x.flags.includes("DISKLESS"));
    assert.equal(diskful.length, 2);
  });

  it("coerces booleans, numbers to text, floats to integers; '' and null are absent", async () => {
    let r = await rest(sim, "POST", "/v1/resource-groups", {
      name: "rg_bool",
      description: 5,
      select_filter: { diskless_on_remaining: "True", place_count: 2.7, storage_pool: "" },
    });
    assert.equal(r.status, 201, r.text);
    r = await rest(sim, "GET", "/v1/resource-groups?resource_groups=rg_bool");
    const g = (r.data as { description: string; select_filter: Record<string, unknown> }[])[0];
    assert.equal(g.description, "5", "a number for a String field is its text");
    assert.equal(g.select_filter.diskless_on_remaining, true);
    assert.equal(g.select_filter.place_count, 2);
    assert.equal(g.select_filter.storage_pool, "", "a String field keeps the empty text");
    // a number for a boolean: 0 is false; " 3 " for an integer is 3
    r = await rest(sim, "PUT", "/v1/resource-groups/rg_bool", {
      select_filter: { diskless_on_remaining: 0, place_count: " 3 " },
    });
    assert.equal(r.status, 200, r.text);
    r = await rest(sim, "GET", "/v1/resource-groups?resource_groups=rg_bool");
    const g2 = (r.data as { select_filter: Record<string, unknown> }[])[0];
    assert.equal(g2.select_filter.diskless_on_remaining, false);
    assert.equal(g2.select_filter.place_count, 3);
    // the autoplace request LINBIT's client sends ("diskless_on_remaining": null)
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "ap" } });
    await rest(sim, "POST", "/v1/resource-definitions/ap/volume-definitions", {
      volume_definition: { size_kib: "1024" },
    });
    r = await rest(sim, "POST", "/v1/resource-definitions/ap/autoplace", {
      diskless_on_remaining: null,
      select_filter: { place_count: 3, storage_pool_list: ["thinlvm"] },
    });
    assert.equal(r.status, 201, r.text);
    assert.match(r.text, /successfully autoplaced on 3 nodes/);
  });

  it("refuses what Jackson refuses: 400 from synchronous handlers, 500 from the others", async () => {
    const parse = rcOf(MASK_ERROR, 0n, 0n, 0) | 0x0FFFFFFFFFFFFFFDn;
    let r = await rest(sim, "POST", "/v1/resource-groups", {
      name: "rg_bad",
      select_filter: { place_count: "two" },
    });
    assert.equal(r.status, 400);
    assert.equal(u(r.rcs[0].ret_code), parse);
    assert.equal(r.rcs[0].message, "Unable to parse input json.");
    assert.match(r.rcs[0].details ?? "", /java\.lang\.Integer.*from String "two"/);
    assert.equal(r.rcs[0].error_report_ids?.length, 1, "a synchronous handler reports it");
    r = await rest(sim, "PUT", "/v1/resource-groups/opennebula", {
      select_filter: { place_count: "two" },
    });
    assert.equal(r.status, 500, "an asynchronous handler: toResponse maps the code to 500");
    assert.equal(u(r.rcs[0].ret_code), parse);
    assert.equal(r.rcs[0].error_report_ids, undefined);
    r = await rest(sim, "POST", "/v1/resource-definitions", {
      resource_definition: { name: "rd_bogus" },
      bogus: 1,
    });
    assert.equal(r.status, 400);
    assert.match(
      r.rcs[0].details ?? "",
      /^Unrecognized field "bogus" \(class com\.linbit\.linstor\.api\.rest\.v1\.serializer\.JsonGenTypes\$ResourceDefinitionCreate\), not marked as ignorable/,
    );
    for (
      const [bad, why] of [
        [{ place_count: "2.5" }, /not a valid/],
        [{ place_count: "99999999999" }, /out of range of int/],
        [{ diskless_on_remaining: "yes" }, /only "true" or "false" recognized/],
        [{ node_name_list: "alpha" }, /ArrayList/],
        [{ storage_pool: { x: 1 } }, /java\.lang\.String/],
      ] as const
    ) {
      r = await rest(sim, "POST", "/v1/resource-groups", { name: "rg_x", select_filter: bad });
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.match(r.rcs[0].details ?? "", why);
    }
    r = await rest(sim, "POST", "/v1/resource-groups", "{not json");
    assert.equal(r.status, 400);
    assert.equal(u(r.rcs[0].ret_code), parse);
    r = await rest(sim, "GET", "/v1/resource-groups?resource_groups=rg_x");
    assert.deepEqual(r.data, [], "nothing was created by a refused request");
  });
});

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
import { join } from "node:path";
import {
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
  parseJsonLossless,
} from "../../lib/backend/linstor/api_call_rc.ts";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { loadState } from "../../tools/sim/linstor/persistence.ts";

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

/** Connect or disconnect the satellite of `node` (the simulator's /_sim/node); the HTTP status. */
async function simNode(sim: LinstorSim, node: string, online: boolean): Promise<number> {
  const r = await fetch(`${sim.url}/_sim/node`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ node, online }),
  });
  await r.body?.cancel();
  return r.status;
}

/** ret_code as the unsigned 64-bit value. */
const u = (v: bigint) => BigInt.asUintN(64, v);
/** ret_code built from its parts (type mask, object, operation, code). */
const rcOf = (type: bigint, obj: bigint, op: bigint, code: number) =>
  u(type | obj | op | BigInt(code));
const has = (rcs: Rc[], v: bigint) => rcs.some((e) => u(e.ret_code) === v);

/**
 * A controller as after installation, with `nodes` registered and a thin pool on each: each
 * node's host exists (and so its satellite answers).
 */
async function freshController(
  nodes: string[],
  pool = "thinlvm",
): Promise<LinstorSim & { hosts: string }> {
  const hosts = await Deno.makeTempDir({ prefix: "linstor-hosts-" });
  let sim: LinstorSim;
  try {
    for (const n of nodes) await Deno.mkdir(join(hosts, n));
    sim = await startLinstorSim({ nodes: [], pools: [], hostsRoot: hosts });
  } catch (e) {
    await Deno.remove(hosts, { recursive: true });
    throw e;
  }
  const stop = sim.stop;
  sim.stop = async () => {
    await stop();
    await Deno.remove(hosts, { recursive: true });
  };
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
  return Object.assign(sim, { hosts });
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
      select_filter: {
        diskless_on_remaining: "True",
        place_count: 2.7,
        not_place_with_rsc_regex: "",
      },
    });
    assert.equal(r.status, 201, r.text);
    r = await rest(sim, "GET", "/v1/resource-groups?resource_groups=rg_bool");
    const g = (r.data as { description: string; select_filter: Record<string, unknown> }[])[0];
    assert.equal(g.description, "5", "a number for a String field is its text");
    assert.equal(g.select_filter.diskless_on_remaining, true);
    assert.equal(g.select_filter.place_count, 2);
    assert.equal(
      g.select_filter.not_place_with_rsc_regex,
      "",
      "a String field keeps the empty text",
    );
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

describe("issue 11 item 6: the property whitelist", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie"]);
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "one-1" } });
    await rest(sim, "POST", "/v1/resource-definitions/one-1/volume-definitions", {
      volume_definition: { size_kib: 1048576 },
    });
  });
  after(async () => {
    await sim.stop();
  });
  const FAIL_INVLD_PROP = 213;
  const props = async (path: string) =>
    ((await rest(sim, "GET", path)).data as { props: Record<string, string> }[])[0].props;

  it("refuses unknown keys, bad values and out-of-range numbers (LINBIT's set-property)", async () => {
    const cases: [Record<string, string>, string, RegExp | string][] = [
      [{ Foo: "bar" }, "Invalid property key: Foo", "The key 'Foo' is not whitelisted."],
      [
        { "DrbdOptions/Net/protocol": "Z" },
        "Invalid property(DrbdOptions/Net/protocol) value: Z",
        "This value has to match (?:A|B|C).",
      ],
      [
        { PeerSlotsNewResource: "99" },
        "Invalid property(PeerSlotsNewResource) value: 99",
        "This value has to match (1 - 31).",
      ],
      [
        { "DrbdOptions/Net/allow-two-primaries": "maybe" },
        "Invalid property(DrbdOptions/Net/allow-two-primaries) value: maybe",
        "This value must be either 'yes' or 'no'.",
      ],
    ];
    for (const [over, message, why] of cases) {
      const r = await rest(sim, "PUT", "/v1/resource-definitions/one-1", { override_props: over });
      assert.equal(r.status, 500, message);
      assert.equal(r.rcs.length, 1);
      assert.equal(u(r.rcs[0].ret_code), rcOf(MASK_ERROR, OBJ.RSC_DFN, MASK_MOD, FAIL_INVLD_PROP));
      assert.equal(r.rcs[0].message, message);
      assert.ok(
        r.rcs[0].cause === why || r.rcs[0].details === why,
        `${message}: ${r.rcs[0].cause} / ${r.rcs[0].details}`,
      );
      assert.equal(r.rcs[0].error_report_ids?.length, 1);
    }
    // seed 002's step from an old LINSTOR: AllowLargerVolumeSize is no longer a key
    const r = await rest(sim, "PUT", "/v1/resource-definitions/one-1/volume-definitions/0", {
      override_props: { AllowLargerVolumeSize: "true" },
    });
    assert.equal(r.status, 500);
    assert.equal(u(r.rcs[0].ret_code), rcOf(MASK_ERROR, OBJ.VLM_DFN, MASK_MOD, FAIL_INVLD_PROP));
    // a refused key in a request rejects all of it
    const mixed = await rest(sim, "PUT", "/v1/resource-definitions/one-1", {
      override_props: { "Aux/ok": "1", Foo: "bar" },
    });
    assert.equal(mixed.status, 500);
    assert.equal(
      (await props("/v1/resource-definitions?resource_definitions=one-1"))["Aux/ok"],
      undefined,
    );
  });

  it("takes Aux/ keys freely and whitelisted keys per object, normalised", async () => {
    let r = await rest(sim, "PUT", "/v1/resource-definitions/one-1", {
      override_props: {
        "Aux/one/VM_ID": "7",
        "DrbdOptions/Net/allow-two-primaries": "YES",
        "DrbdOptions/auto-add-quorum-tiebreaker": "yes",
        PeerSlotsNewResource: "4",
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(u(r.rcs[0].ret_code), rcOf(0n, OBJ.RSC_DFN, MASK_CRT, 1));
    assert.equal(
      r.rcs[0].message,
      "Successfully set property key(s): Aux/one/VM_ID,DrbdOptions/Net/allow-two-primaries," +
        "DrbdOptions/auto-add-quorum-tiebreaker,PeerSlotsNewResource",
    );
    assert.equal(u(r.rcs[1].ret_code), rcOf(0n, OBJ.RSC_DFN, MASK_MOD, 3));
    assert.equal(r.rcs[1].message, "Resource definition 'one-1' modified.");
    const p = await props("/v1/resource-definitions?resource_definitions=one-1");
    assert.equal(p["DrbdOptions/Net/allow-two-primaries"], "yes");
    assert.equal(p["DrbdOptions/auto-add-quorum-tiebreaker"], "true");
    // deleting: whitelisted keys and Aux/ namespaces; an unset key is silent
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1", {
      delete_props: ["DrbdOptions/Net/allow-two-primaries", "DrbdOptions/Net/protocol"],
      delete_namespaces: ["Aux/one"],
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => u(e.ret_code)), [
      rcOf(0n, OBJ.RSC_DFN, MASK_DEL, 2),
      rcOf(0n, OBJ.RSC_DFN, MASK_MOD, 3),
    ]);
    assert.equal(
      r.rcs[0].message,
      "Successfully deleted property key(s): DrbdOptions/Net/allow-two-primaries," +
        "DrbdOptions/Net/protocol",
    );
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1", { delete_props: ["Foo"] });
    assert.equal(r.status, 500);
    assert.equal(r.rcs[0].message, "Invalid property key");
    // the user's quorum setting is marked as such
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1", {
      override_props: { "DrbdOptions/Resource/quorum": "off" },
    });
    assert.equal(r.status, 200);
    assert.equal(
      (await props("/v1/resource-definitions?resource_definitions=one-1"))[
        "Internal/Drbd/QuorumSetBy"
      ],
      "user",
    );
    // per object: OverrideVlmId on a volume definition, not on a resource definition
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1/volume-definitions/0", {
      override_props: { OverrideVlmId: "legacy" },
    });
    assert.equal(r.status, 200, r.text);
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1", {
      override_props: { OverrideVlmId: "legacy" },
    });
    assert.equal(r.status, 500);
    // DrbdOptions/Net/* belongs to definitions and connections, not to a resource
    await rest(sim, "POST", "/v1/resource-definitions/one-1/resources", [
      { resource: { node_name: "alpha", props: { StorPoolName: "thinlvm" } } },
    ]);
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1/resources/alpha", {
      override_props: { "DrbdOptions/Net/protocol": "C" },
    });
    assert.equal(r.status, 500);
    assert.equal(u(r.rcs[0].ret_code), rcOf(MASK_ERROR, OBJ.RSC, MASK_MOD, FAIL_INVLD_PROP));
    // creates check too: a node, a storage pool, a group, a resource
    r = await rest(sim, "POST", "/v1/resource-groups", { name: "rg_p", props: { Foo: "1" } });
    assert.equal(r.status, 500);
    r = await rest(sim, "POST", "/v1/nodes/alpha/storage-pools", {
      storage_pool_name: "pool2",
      provider_kind: "LVM",
      props: { "StorDriver/StorPoolName": "vg 1" },
    });
    assert.equal(r.status, 500);
    assert.match(r.rcs[0].message, /Invalid property\(StorDriver\/StorPoolName\) value: vg 1/);
    r = await rest(sim, "POST", "/v1/resource-definitions/one-1/resources", [
      { resource: { node_name: "bravo", props: { StorPoolName: "thinlvm", Foo: "x" } } },
    ]);
    assert.equal(r.status, 500);
    assert.equal(
      (await rest(sim, "GET", "/v1/view/resources?resources=one-1&nodes=bravo")).text,
      "[]",
    );
  });
});

describe("issue 11 items 4, 5 and 9: single objects, missing snapshots, unknown routes", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie"]);
    await rest(sim, "POST", "/v1/resource-groups", {
      name: "opennebula",
      select_filter: { place_count: 2, storage_pool_list: ["thinlvm"] },
    });
    await rest(sim, "POST", "/v1/resource-groups/opennebula/volume-groups", {});
    const r = await rest(sim, "POST", "/v1/resource-groups/opennebula/spawn", {
      resource_definition_name: "one-1",
      volume_sizes: [1048576],
    });
    assert.equal(r.status, 201, r.text);
  });
  after(async () => {
    await sim.stop();
  });
  const NOT_FOUND = (code: number) => rcOf(MASK_ERROR, 0n, 0n, code);

  it("serves one object per route, the same object the listing shows", async () => {
    const same = async (
      one: string,
      list: string,
      pick: (x: Record<string, unknown>) => boolean,
    ) => {
      const a = await rest(sim, "GET", one);
      assert.equal(a.status, 200, `${one}: ${a.text}`);
      const all = (await rest(sim, "GET", list)).data as Record<string, unknown>[];
      const want = all.find(pick);
      assert.ok(want, `${list} has the object`);
      assert.deepEqual(strip(a.data), strip(want), one);
    };
    // capacities and timestamps are live values: compare the rest
    const strip = (x: unknown) =>
      JSON.parse(
        JSON.stringify(x, (k, v) => (k === "free_capacity" || k === "created_at" ? undefined : v)),
      );
    await same("/v1/nodes/alpha", "/v1/nodes", (x) => x.name === "alpha");
    await same("/v1/nodes/ALPHA", "/v1/nodes", (x) => x.name === "alpha");
    await same(
      "/v1/nodes/alpha/storage-pools/thinlvm",
      "/v1/view/storage-pools",
      (x) => x.node_name === "alpha" && x.storage_pool_name === "thinlvm",
    );
    await same(
      "/v1/resource-groups/opennebula",
      "/v1/resource-groups",
      (x) => x.name === "opennebula",
    );
    await same(
      "/v1/resource-groups/opennebula/volume-groups/0",
      "/v1/resource-groups/opennebula/volume-groups",
      (x) => x.volume_number === 0,
    );
    await same(
      "/v1/resource-definitions/one-1",
      "/v1/resource-definitions",
      (x) => x.name === "one-1",
    );
    await same(
      "/v1/resource-definitions/one-1/volume-definitions/0",
      "/v1/resource-definitions/one-1/volume-definitions",
      (x) => x.volume_number === 0,
    );
    const placed = ((await rest(sim, "GET", "/v1/resource-definitions/one-1/resources")).data as {
      node_name: string;
    }[])[0].node_name;
    await same(
      `/v1/resource-definitions/one-1/resources/${placed}`,
      "/v1/resource-definitions/one-1/resources",
      (x) => x.node_name === placed,
    );
    const vols = await rest(
      sim,
      "GET",
      `/v1/resource-definitions/one-1/resources/${placed}/volumes`,
    );
    assert.equal(vols.status, 200);
    const view = ((await rest(sim, "GET", `/v1/view/resources?resources=one-1&nodes=${placed}`))
      .data as { volumes: unknown[] }[])[0];
    assert.deepEqual(vols.data, view.volumes);
    const v0 = await rest(
      sim,
      "GET",
      `/v1/resource-definitions/one-1/resources/${placed}/volumes/0`,
    );
    assert.deepEqual(v0.data, view.volumes[0]);
    const sr = await rest(sim, "GET", "/v1/space-report");
    assert.equal(sr.status, 200);
    assert.deepEqual(sr.data, { reportText: "The SpaceTracking service is not installed." });
  });

  it("answers 404 with the controller's not-found entries (no masks, no error report)", async () => {
    const cases: [string, number, string][] = [
      ["/v1/nodes/nope", 300, "Node 'nope' not found."],
      ["/v1/resource-definitions/nope", 301, "Resource definition 'nope' not found."],
      ["/v1/resource-groups/nope", 317, "Resource group 'nope' not found."],
      [
        "/v1/resource-definitions/one-1/resources/nope",
        302,
        "Resource 'one-1' on 'nope' not found.",
      ],
      [
        "/v1/resource-definitions/nope/resources/alpha",
        301,
        "Resource definition 'nope' not found.",
      ],
      [
        "/v1/resource-definitions/one-1/volume-definitions/9",
        303,
        "Volume definition '9' not found.",
      ],
      ["/v1/nodes/alpha/storage-pools/nope", 310, "Storage pool 'nope' on node 'alpha' not found."],
      ["/v1/nodes/nope/storage-pools/thinlvm", 300, "Node 'nope' not found."],
      [
        "/v1/resource-groups/opennebula/volume-groups/5",
        318,
        "Volume group 'opennebula' with volume number '5' not found.",
      ],
      [
        "/v1/resource-definitions/one-1/resources/nope/volumes/0",
        302,
        "Resource 'one-1' not found on node 'nope'.",
      ],
      ["/v1/resource-definitions/one-1/snapshots/nope", 315, "Snapshot 'nope' not found."],
    ];
    for (const [path, code, message] of cases) {
      const r = await rest(sim, "GET", path);
      assert.equal(r.status, 404, path);
      assert.equal(r.rcs.length, 1, path);
      assert.equal(u(r.rcs[0].ret_code), NOT_FOUND(code), path);
      assert.equal(r.rcs[0].message, message);
      assert.equal(r.rcs[0].error_report_ids, undefined);
    }
    const vg = await rest(sim, "GET", "/v1/resource-groups/opennebula/volume-groups/5");
    assert.equal(
      vg.rcs[0].correction,
      "Create a volume group with the name 'opennebula' and volume number '5' first.",
    );
  });

  it("deletes a missing snapshot with a warning, like a missing definition (item 5)", async () => {
    let r = await rest(sim, "POST", "/v1/resource-definitions/one-1/snapshots", { name: "snap1" });
    assert.equal(r.status, 201, r.text);
    r = await rest(sim, "DELETE", "/v1/resource-definitions/one-1/snapshots/snap1");
    assert.equal(r.status, 200);
    assert.ok(r.rcs.some((e) => e.message === "Snapshot 'snap1' of resource 'one-1' deleted."));
    for (
      const path of [
        "/v1/resource-definitions/one-1/snapshots/snap1",
        "/v1/resource-definitions/nope/snapshots/snap1",
      ]
    ) {
      r = await rest(sim, "DELETE", path);
      assert.equal(r.status, 200, path);
      assert.equal(r.rcs.length, 1);
      const rd = path.split("/")[3];
      assert.equal(u(r.rcs[0].ret_code), rcOf(0x8000000000000000n, OBJ.SNAPSHOT, MASK_DEL, 3000));
      assert.equal(r.rcs[0].message, `Snapshot definition snap1 of resource ${rd} not found.`);
      assert.equal(r.rcs[0].details, `Resource: ${rd}, Snapshot: snap1`);
      assert.deepEqual(r.rcs[0].obj_refs, { RscDfn: rd, Snapshot: "snap1" });
    }
  });

  it("answers unknown paths 404 and wrong methods 405 in JSON, as the controller's mapper", async () => {
    let r = await rest(sim, "GET", "/v1/foo");
    assert.equal(r.status, 404);
    assert.equal(u(r.rcs[0].ret_code), rcOf(MASK_ERROR, 0n, 0n, 998));
    assert.equal(r.rcs[0].message, "Path '/v1/foo' not found on server.");
    assert.equal(r.rcs[0].details, "HTTP 404 Not Found");
    const res = await fetch(`${sim.url}/v1/nodes`, { method: "PATCH" });
    r = { ...r, status: res.status, text: await res.text() };
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, POST");
    assert.equal(res.headers.get("content-type"), "application/json");
    const e = (parseJsonLossless(r.text) as Rc[])[0];
    assert.equal(u(e.ret_code), rcOf(MASK_ERROR, 0n, 0n, 998));
    assert.equal(e.message, "Method 'PATCH' not allowed on path '/v1/nodes'.");
    assert.equal(e.details, "HTTP 405 Method Not Allowed");
  });
});

describe("issue 11 item 3: tie-breakers, voters and clients, existing resources", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie", "delta"]);
  });
  after(async () => {
    await sim.stop();
  });
  const INFO = 0x4000000000000000n;
  /** node → diskful | diskless | client | tiebreaker */
  const layout = async (rd: string) => {
    const r = await rest(sim, "GET", `/v1/view/resources?resources=${rd}`);
    const out: Record<string, string> = {};
    for (
      const x of r.data as {
        node_name: string;
        flags: string[];
        layer_object: { drbd: { flags: string[] } };
      }[]
    ) {
      out[x.node_name] = x.flags.includes("TIE_BREAKER")
        ? "tiebreaker"
        : !x.flags.includes("DISKLESS")
        ? "diskful"
        : x.layer_object.drbd.flags.includes("CLIENT")
        ? "client"
        : "diskless";
    }
    return out;
  };
  const define = async (rd: string, nodes: string[]) => {
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: rd } });
    await rest(sim, "POST", `/v1/resource-definitions/${rd}/volume-definitions`, {
      volume_definition: { size_kib: 1048576 },
    });
    let last;
    for (const n of nodes) {
      last = await rest(sim, "POST", `/v1/resource-definitions/${rd}/resources`, [
        { resource: { node_name: n, props: { StorPoolName: "thinlvm" } } },
      ]);
      assert.equal(last.status, 201, last.text);
    }
    return last!;
  };

  it("turns the tie-breaker into a wanted diskless resource on `resource create --diskless` (3a)", async () => {
    const r2 = await define("myres", ["alpha", "bravo"]);
    assert.ok(has(r2.rcs, rcOf(INFO, OBJ.RSC, MASK_CRT, 10003)));
    assert.ok(r2.rcs.some((e) => e.message === "Tie breaker resource 'myres' created on charlie"));
    assert.deepEqual(await layout("myres"), {
      alpha: "diskful",
      bravo: "diskful",
      charlie: "tiebreaker",
    });
    // what LINBIT's client sends for `resource create --diskless charlie myres`
    const r = await rest(sim, "POST", "/v1/resource-definitions/myres/resources", [
      { resource: { node_name: "charlie", flags: ["DISKLESS"] } },
    ]);
    assert.equal(r.status, 201, r.text);
    assert.ok(r.rcs.every((e) => (u(e.ret_code) & 0xC000000000000000n) !== 0xC000000000000000n));
    assert.ok(r.rcs.some((e) => e.message === "Updated resource 'myres' on 'charlie'"));
    assert.ok(
      r.rcs.some((e) =>
        e.message === "Update of resource 'myres' on charlie applied on node 'alpha'"
      ),
    );
    assert.ok(!r.rcs.some((e) => /registered/.test(e.message)), "no new resource");
    // a voter now: no new tie-breaker anywhere
    assert.deepEqual(await layout("myres"), {
      alpha: "diskful",
      bravo: "diskful",
      charlie: "diskless",
    });
  });

  it("answers INFO_RSC_ALREADY_EXISTS (201) for a resource that exists diskful", async () => {
    const r = await rest(sim, "POST", "/v1/resource-definitions/myres/resources", [
      { resource: { node_name: "alpha", props: { StorPoolName: "thinlvm" } } },
    ]);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.rcs.length, 1);
    assert.equal(u(r.rcs[0].ret_code), rcOf(INFO, OBJ.RSC, MASK_CRT, 10008));
    assert.equal(r.rcs[0].message, "A resource 'myres' on node 'alpha' already exists.");
  });

  it("counts plain diskless resources as voters, clients not (3b)", async () => {
    await define("one-v", ["alpha", "bravo"]);
    const tb = Object.entries(await layout("one-v")).find(([, k]) => k === "tiebreaker")![0];
    const free = ["charlie", "delta"].find((n) => n !== tb)!;
    // a voter: the tie-breaker goes
    let r = await rest(sim, "POST", "/v1/resource-definitions/one-v/resources", [
      { resource: { node_name: free, flags: ["DISKLESS"] } },
    ]);
    assert.equal(r.status, 201, r.text);
    assert.ok(has(r.rcs, rcOf(INFO, OBJ.RSC, MASK_CRT, 10004)), "tie-breaker marked for deletion");
    assert.deepEqual(await layout("one-v"), {
      alpha: "diskful",
      bravo: "diskful",
      [free]: "diskless",
    });
    // detaching the only voter: it is taken over as the tie-breaker
    r = await rest(sim, "DELETE", `/v1/resource-definitions/one-v/resources/${free}`);
    assert.equal(r.status, 200);
    assert.ok(has(r.rcs, rcOf(INFO, OBJ.RSC, 0x3000000n, 10006)), r.text);
    assert.deepEqual(await layout("one-v"), {
      alpha: "diskful",
      bravo: "diskful",
      [free]: "tiebreaker",
    });
    // make-available creates a DRBD client (v1.34): the tie-breaker stays
    r = await rest(sim, "POST", `/v1/resource-definitions/one-v/resources/${tb}/make-available`, {
      diskful: false,
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await layout("one-v"), {
      alpha: "diskful",
      bravo: "diskful",
      [free]: "tiebreaker",
      [tb]: "client",
    });
    // drbd_client on a plain create is a client as well
    await define("one-c", ["alpha", "bravo"]);
    const before = await layout("one-c");
    const spare = ["charlie", "delta"].find((n) => !before[n])!;
    r = await rest(sim, "POST", "/v1/resource-definitions/one-c/resources", [
      { resource: { node_name: spare, flags: ["DRBD_DISKLESS"] }, drbd_client: true },
    ]);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(await layout("one-c"), { ...before, [spare]: "client" });
  });

  it("takes a deleted replica over as tie-breaker when two diskful remain", async () => {
    await define("three", ["alpha", "bravo", "charlie"]);
    assert.deepEqual(await layout("three"), {
      alpha: "diskful",
      bravo: "diskful",
      charlie: "diskful",
    });
    const r = await rest(sim, "DELETE", "/v1/resource-definitions/three/resources/charlie");
    assert.equal(r.status, 200);
    assert.ok(has(r.rcs, rcOf(INFO, OBJ.RSC, 0x3000000n, 10006)), r.text);
    assert.deepEqual(await layout("three"), {
      alpha: "diskful",
      bravo: "diskful",
      charlie: "tiebreaker",
    });
  });

  it("keeps a tie-breaker whose satellite is offline; sets the quorum automatically", async () => {
    const r = await define("q-1", ["alpha"]);
    const quorum = async () =>
      ((await rest(sim, "GET", "/v1/resource-definitions/q-1")).data as {
        props: Record<string, string>;
      }).props["DrbdOptions/Resource/quorum"];
    assert.equal(await quorum(), "off", "one replica: no quorum");
    assert.ok(!r.rcs.some((e) => /AutoQuorum/.test(e.message)));
    const r2 = await rest(sim, "POST", "/v1/resource-definitions/q-1/resources", [
      { resource: { node_name: "bravo", props: { StorPoolName: "thinlvm" } } },
    ]);
    assert.ok(
      r2.rcs.some((e) =>
        e.message ===
          "Resource-definition property 'DrbdOptions/Resource/quorum' updated from 'off' to 'majority' by AutoQuorum"
      ),
      r2.text,
    );
    assert.equal(await quorum(), "majority");
    const tb = Object.entries(await layout("q-1")).find(([, k]) => k === "tiebreaker")![0];
    assert.ok(sim.setNodeOnline(tb, false));
    const voter = ["charlie", "delta"].find((n) => n !== tb)!;
    await rest(sim, "POST", "/v1/resource-definitions/q-1/resources", [
      { resource: { node_name: voter, flags: ["DISKLESS"] } },
    ]);
    assert.equal((await layout("q-1"))[tb], "tiebreaker", "not deleted while offline");
    assert.ok(sim.setNodeOnline(tb, true));
  });

  it("toggles a resource's disk (LINBIT's `resource toggle-disk`, `--migrate-from`)", async () => {
    await define("td", ["alpha", "bravo"]);
    const msgs = (x: { rcs: Rc[] }) => x.rcs.map((e) => e.message);
    const put = (path: string, body?: unknown) =>
      rest(sim, "PUT", `/v1/resource-definitions/td/resources/${path}`, body);
    // the tie-breaker asked diskful (1.28's route): its disk in the pool asked
    const tb = Object.entries(await layout("td")).find(([, x]) => x === "tiebreaker")![0];
    let r = await put(`${tb}/toggle-disk`, {
      operation: "into_drbd_diskful",
      storage_pool: "thinlvm",
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(msgs(r), [
      `Addition of disk to resource 'td' on node '${tb}' registered`,
      `Prepared 'alpha' to expect disk on '${tb}'`,
      `Prepared 'bravo' to expect disk on '${tb}'`,
      `Added disk on '${tb}'`,
    ]);
    assert.ok(r.rcs.every((e) => u(e.ret_code) === rcOf(0n, OBJ.RSC, MASK_MOD, 3)), r.text);
    assert.equal((await layout("td"))[tb], "diskful");
    // already so: nothing changes
    r = await put(`${tb}/toggle-disk/diskful`);
    assert.deepEqual(msgs(r), [`Resource 'td' on node '${tb}' is already diskful`]);
    assert.equal(u(r.rcs[0].ret_code), rcOf(INFO, OBJ.RSC, MASK_MOD, 10007));
    // diskful to diskless (the deprecated route LINBIT's client 1.27 calls), then a client
    r = await put("alpha/toggle-disk/diskless");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(msgs(r).slice(0, 2), [
      "Removal of disk from resource 'td' on node 'alpha' registered",
      "Removed disk on 'alpha'",
    ]);
    assert.deepEqual(msgs(r).filter((m) => m.startsWith("Notified")), [
      "Notified 'bravo' that disk has been removed on 'alpha'",
      `Notified '${tb}' that disk has been removed on 'alpha'`,
    ]);
    assert.equal((await layout("td")).alpha, "diskless");
    r = await put("alpha/toggle-disk", { operation: "INTO_DRBD_CLIENT" });
    assert.equal(r.status, 200, r.text);
    assert.equal((await layout("td")).alpha, "client");
    r = await put("alpha/toggle-disk", { operation: "INTO_DRBD_CLIENT" });
    assert.deepEqual(msgs(r), ["Resource 'td' on node 'alpha' is already a diskless client"]);
    // the pool must be on the node; what the request cannot be parsed into
    r = await put("alpha/toggle-disk/diskful/nopool");
    assert.equal(r.status, 404, r.text);
    assert.equal(
      r.rcs[0].message,
      "The storage pool 'nopool' for resource 'td' for volume number '0' is not deployed on node 'alpha'.",
    );
    r = await put("alpha/toggle-disk", {});
    assert.equal(r.status, 500, r.text);
    assert.deepEqual(msgs(r), ["No toggle operation type was specified"]);
    r = await put("alpha/toggle-disk", { operation: "into_magic" });
    assert.deepEqual(msgs(r), [
      "Could not parse 'into_magic'. Valid operations: INTO_DRBD_DISKFUL, INTO_DRBD_CLIENT, INTO_DRBD_DISKLESS",
    ]);
    assert.equal((await layout("td")).alpha, "client", "nothing changed");
    // the last disk that is online stays
    assert.ok(sim.setNodeOnline(tb, false));
    r = await put("bravo/toggle-disk/diskless");
    assert.equal(r.status, 500, r.text);
    assert.deepEqual(msgs(r), ["Cannot remove the disk from the only online resource with a disk"]);
    assert.ok(sim.setNodeOnline(tb, true));
    // a disk moved: alpha gets one (from its peers' pool), bravo's resource is deleted after it
    // (a diskless voter elsewhere, so that the two disks left need no tie-breaker)
    const voter = ["charlie", "delta"].find((n) => n !== tb)!;
    await rest(sim, "POST", "/v1/resource-definitions/td/resources", [
      { resource: { node_name: voter, flags: ["DISKLESS"] } },
    ]);
    r = await put("alpha/migrate-disk/bravo");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(msgs(r).slice(-2), [
      "Resource 'td' on node 'bravo' preparing for deletion.",
      "Resource 'td' on node 'bravo' deletion complete.",
    ]);
    assert.equal(u(r.rcs.at(-1)!.ret_code), rcOf(0n, OBJ.RSC, MASK_DEL, 2)); // DELETED
    assert.deepEqual(await layout("td"), {
      alpha: "diskful",
      [tb]: "diskful",
      [voter]: "diskless",
    });
    const alpha = await rest(sim, "GET", "/v1/resource-definitions/td/resources/alpha");
    assert.equal((alpha.data as { props: Record<string, string> }).props.StorPoolName, "thinlvm");
  });
});

describe("issue 11 item 7: a clone recreates every resource of the source", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie", "delta"]);
  });
  after(async () => {
    await sim.stop();
  });

  it("brings back diskful replicas, the tie-breaker and diskless clients with their flags", async () => {
    await rest(sim, "POST", "/v1/resource-definitions", {
      resource_definition: { name: "src", props: { "Aux/one/VM_ID": "3" } },
    });
    await rest(sim, "POST", "/v1/resource-definitions/src/volume-definitions", {
      volume_definition: { size_kib: 65536 },
    });
    for (const n of ["alpha", "bravo"]) {
      await rest(sim, "POST", "/v1/resource-definitions/src/resources", [
        { resource: { node_name: n, props: { StorPoolName: "thinlvm" } } },
      ]);
    }
    const view = async (rd: string) =>
      Object.fromEntries(
        ((await rest(sim, "GET", `/v1/view/resources?resources=${rd}`)).data as {
          node_name: string;
          flags: string[];
          props: Record<string, string>;
          layer_object: { drbd: { flags: string[] } };
        }[]).map((x) => [
          x.node_name,
          [x.flags.join(","), x.layer_object.drbd.flags.includes("CLIENT"), x.props.StorPoolName],
        ]),
      );
    const tb = Object.entries(await view("src")).find(([, v]) => String(v[0]).includes("TIE"))![0];
    const other = ["charlie", "delta"].find((n) => n !== tb)!;
    let r = await rest(
      sim,
      "POST",
      `/v1/resource-definitions/src/resources/${other}/make-available`,
      {
        diskful: false,
      },
    );
    assert.equal(r.status, 200, r.text);
    const source = await view("src");
    assert.equal(Object.keys(source).length, 4);
    // what LINBIT's client sends for `resource-definition clone src dst`
    r = await rest(sim, "POST", "/v1/resource-definitions/src/clone", { name: "dst" });
    assert.equal(r.status, 201, r.text);
    const body = r.data as { location: string; messages: Rc[] };
    assert.equal(body.location, "/v1/resource-definitions/src/clone/dst");
    assert.equal(
      body.messages.filter((e) => /^New resource 'dst' on node '.*' registered\.$/.test(e.message))
        .length,
      4,
    );
    assert.deepEqual(await view("dst"), source);
    const props = ((await rest(sim, "GET", "/v1/resource-definitions/dst")).data as {
      props: Record<string, string>;
    }).props;
    assert.equal(props["Aux/one/VM_ID"], "3");
    assert.equal(props["cloned-from"], "src");
  });
});

describe("issue 11 item 8: node management", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie"]);
  });
  after(async () => {
    await sim.stop();
  });
  const NET_IF = 0x1C0000n;

  it("sets node properties (LINBIT's `node set-property --aux`) and filters on them", async () => {
    let r = await rest(sim, "PUT", "/v1/nodes/alpha", { override_props: { "Aux/site": "a" } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [rcOf(0n, OBJ.NODE, MASK_CRT, 1), "Successfully set property key(s): Aux/site"],
      [rcOf(0n, OBJ.NODE, MASK_MOD, 3), "Node 'alpha' modified."],
    ]);
    r = await rest(sim, "GET", "/v1/nodes?props=Aux/site=a");
    assert.deepEqual((r.data as { name: string }[]).map((n) => n.name), ["alpha"]);
    r = await rest(sim, "PUT", "/v1/nodes/alpha", { override_props: { Foo: "1" } });
    assert.equal(r.status, 500);
    assert.equal(u(r.rcs[0].ret_code), rcOf(MASK_ERROR, OBJ.NODE, MASK_MOD, 213));
    r = await rest(sim, "PUT", "/v1/nodes/nope", { override_props: { "Aux/x": "1" } });
    assert.equal(r.status, 404);
    assert.equal(r.rcs[0].correction, "Create a node with the name 'nope' first.");
  });

  it("connects a registered node only where its host exists; NodeUname comes with its satellite", async () => {
    // LINBIT's client tests run against a controller without satellites: a node registered at
    // an address where none answers stays OFFLINE, and its properties are the client's only
    const warnNotConnected = (n: string) => [
      u(MASK_WARN | 1002n),
      `No active connection to satellite '${n}'`,
    ];
    let r = await rest(sim, "POST", "/v1/nodes", {
      name: "foxtrot",
      type: "Satellite",
      net_interfaces: [{ name: "default", address: "192.168.100.1", satellite_port: 3366 }],
    });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [rcOf(0n, OBJ.NODE, MASK_CRT, 1), "New node 'foxtrot' registered."],
      warnNotConnected("foxtrot"),
    ]);
    const node = async (n: string) =>
      (await rest(sim, "GET", `/v1/nodes/${n}`)).data as {
        connection_status: string;
        props: Record<string, string>;
      };
    assert.equal((await node("foxtrot")).connection_status, "OFFLINE");
    await rest(sim, "PUT", "/v1/nodes/foxtrot", { override_props: { "Aux/test_prop": "val" } });
    assert.deepEqual((await node("foxtrot")).props, {
      CurStltConnName: "default",
      "Aux/test_prop": "val",
    });
    assert.equal(await simNode(sim, "foxtrot", true), 200);
    assert.equal((await node("foxtrot")).connection_status, "ONLINE");
    assert.equal((await node("foxtrot")).props.NodeUname, "foxtrot");
    // it keeps the name its satellite gave, also when it goes offline again
    assert.equal(await simNode(sim, "foxtrot", false), 200);
    assert.equal((await node("foxtrot")).props.NodeUname, "foxtrot");

    // a host the simulated world has: its satellite answers at once
    await Deno.mkdir(join(sim.hostsRoot!, "golf"));
    r = await rest(sim, "POST", "/v1/nodes", { name: "golf", type: "Combined" });
    assert.deepEqual(r.rcs.map((e) => e.message), ["New node 'golf' registered."]);
    assert.equal((await node("golf")).connection_status, "ONLINE");
    assert.equal((await node("golf")).props.NodeUname, "golf");
    // a controller node is never connected to, and nothing is said of it
    await Deno.mkdir(join(sim.hostsRoot!, "hotel"));
    r = await rest(sim, "POST", "/v1/nodes", { name: "hotel", type: "Controller" });
    assert.deepEqual(r.rcs.map((e) => e.message), ["New node 'hotel' registered."]);
    assert.equal((await node("hotel")).connection_status, "OFFLINE");
    for (const n of ["foxtrot", "golf", "hotel"]) await rest(sim, "DELETE", `/v1/nodes/${n}`);
  });

  it("adds, changes and removes network interfaces (LINBIT's `node interface …`)", async () => {
    let r = await rest(sim, "POST", "/v1/nodes/alpha/net-interfaces", {
      name: "nic2",
      address: "10.1.0.1",
      is_active: false,
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(u(r.rcs[0].ret_code), rcOf(0n, NET_IF, MASK_CRT, 1));
    assert.equal(r.rcs[0].message, "New netInterface 'nic2' on node 'alpha' registered.");
    r = await rest(sim, "GET", "/v1/nodes/alpha");
    const node = r.data as { net_interfaces: { name: string; address: string }[] };
    assert.deepEqual(node.net_interfaces.map((x) => `${x.name}=${x.address}`), [
      "default=10.0.3.1",
      "nic2=10.1.0.1",
    ]);
    r = await rest(sim, "PUT", "/v1/nodes/alpha/net-interfaces/nic2", { address: "10.1.0.2" });
    assert.equal(r.status, 200, r.text);
    assert.equal(u(r.rcs[0].ret_code), rcOf(0n, NET_IF, MASK_MOD, 3));
    r = await rest(sim, "GET", "/v1/nodes/alpha/net-interfaces/nic2");
    assert.equal((r.data as { address: string }).address, "10.1.0.2");
    r = await rest(sim, "POST", "/v1/nodes/alpha/net-interfaces", {
      name: "nic2",
      address: "1.2.3.4",
    });
    assert.equal(r.status, 500);
    r = await rest(sim, "DELETE", "/v1/nodes/alpha/net-interfaces/nic2");
    assert.equal(r.status, 200);
    assert.equal(u(r.rcs[0].ret_code), rcOf(0n, NET_IF, 0x3000000n, 2));
    r = await rest(sim, "GET", "/v1/nodes/alpha/net-interfaces/nic2");
    assert.equal(r.status, 404);
  });

  it("deletes nodes: missing is a warning, last replicas refuse, the rest goes with the node", async () => {
    let r = await rest(sim, "DELETE", "/v1/nodes/ghost");
    assert.equal(r.status, 200);
    assert.equal(u(r.rcs[0].ret_code), rcOf(0x8000000000000000n, OBJ.NODE, 0x3000000n, 3000));
    assert.equal(r.rcs[0].message, "Deletion of node 'ghost' had no effect.");
    // an empty node
    await rest(sim, "POST", "/v1/nodes", { name: "echo", type: "satellite" });
    r = await rest(sim, "DELETE", "/v1/nodes/echo");
    assert.equal(r.status, 200);
    assert.equal(u(r.rcs[0].ret_code), rcOf(0n, OBJ.NODE, 0x3000000n, 2));
    assert.equal(r.rcs[0].message, "Node 'echo' deleted.");
    assert.equal((await rest(sim, "GET", "/v1/nodes/echo")).status, 404);
    assert.equal(
      ((await rest(sim, "GET", "/v1/view/storage-pools?nodes=echo")).data as unknown[]).length,
      0,
      "its pools went with it",
    );
    // the last diskful replica of a definition with a diskless user: refused
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "nd" } });
    await rest(sim, "POST", "/v1/resource-definitions/nd/volume-definitions", {
      volume_definition: { size_kib: 4096 },
    });
    await rest(sim, "POST", "/v1/resource-definitions/nd/resources", [
      { resource: { node_name: "charlie", props: { StorPoolName: "thinlvm" } } },
      { resource: { node_name: "bravo", flags: ["DISKLESS"] } },
    ]);
    r = await rest(sim, "DELETE", "/v1/nodes/charlie");
    assert.equal(r.status, 500);
    assert.ok(has(r.rcs, rcOf(MASK_ERROR, OBJ.NODE, 0x3000000n, 233)), r.text);
    // a node with resources: they go, the node goes
    await rest(sim, "DELETE", "/v1/resource-definitions/nd/resources/bravo");
    r = await rest(sim, "DELETE", "/v1/nodes/charlie");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.rcs[0].message, "Node 'charlie' marked for deletion.");
    assert.deepEqual((await rest(sim, "GET", "/v1/view/resources?resources=nd")).data, []);
    assert.deepEqual(
      ((await rest(sim, "GET", "/v1/nodes")).data as { name: string }[]).map((n) => n.name),
      ["alpha", "bravo"],
    );
  });
});

describe("issue 11 item 9: details that show in clients", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["alpha", "bravo", "charlie", "delta"]);
    await rest(sim, "POST", "/v1/resource-groups", {
      name: "opennebula",
      select_filter: { place_count: "2", storage_pool_list: ["thinlvm"] },
    });
    await rest(sim, "POST", "/v1/resource-groups/opennebula/volume-groups", {});
  });
  after(async () => {
    await sim.stop();
  });
  type Vol = {
    props: Record<string, string>;
    uuid: string;
    state?: { replication_states?: Record<string, { replication_state: string }> };
    layer_data_list: { data: { backing_device?: string; allocated_size_kib?: number } }[];
  };
  type View = {
    node_name: string;
    flags: string[];
    volumes: Vol[];
    layer_object: {
      drbd: { connections: Record<string, unknown> };
      children: {
        storage: { storage_volumes: { usable_size_kib: number; device_path?: string }[] };
      }[];
    };
  };
  const view = async (rd: string) =>
    (await rest(sim, "GET", `/v1/view/resources?resources=${rd}`)).data as View[];

  it("spreads consecutive spawns (most free space, then fewest resources, then name)", async () => {
    for (const n of ["one-1", "one-2"]) {
      const r = await rest(sim, "POST", "/v1/resource-groups/opennebula/spawn", {
        resource_definition_name: n,
        volume_sizes: [1048576],
        partial: false,
        definitions_only: false,
      });
      assert.equal(r.status, 201, r.text);
      if (n === "one-1") {
        // the spawn's context is the group (CtrlRscGrpApiCallHandler.spawn)
        assert.ok(has(r.rcs, rcOf(0x4000000000000000n, OBJ.RSC_GRP, MASK_CRT, 10003)), r.text);
        assert.ok(has(r.rcs, rcOf(0n, OBJ.RSC_GRP, MASK_CRT, 1)));
      }
    }
    const kinds = (v: View[]) =>
      Object.fromEntries(
        v.map((
          x,
        ) => [
          x.node_name,
          x.flags.includes("TIE_BREAKER") ? "tb" : x.flags.includes("DISKLESS") ? "dl" : "disk",
        ]),
      );
    assert.deepEqual(kinds(await view("one-1")), { alpha: "disk", bravo: "disk", charlie: "tb" });
    assert.deepEqual(kinds(await view("one-2")), { charlie: "disk", delta: "disk", alpha: "tb" });
  });

  it("shows replication states per peer (not between two diskless) and DRBD connections", async () => {
    const v = await view("one-1");
    const repl = Object.fromEntries(
      v.map((x) => [x.node_name, Object.keys(x.volumes[0].state?.replication_states ?? {}).sort()]),
    );
    assert.deepEqual(repl, {
      alpha: ["bravo", "charlie"],
      bravo: ["alpha", "charlie"],
      charlie: ["alpha", "bravo"],
    });
    assert.equal(v[0].volumes[0].state!.replication_states!.bravo.replication_state, "Established");
    // a diskless client attached: the diskful peers see it, the tie-breaker does not
    await rest(sim, "POST", "/v1/resource-definitions/one-1/resources/delta/make-available", {
      diskful: false,
    });
    const w = Object.fromEntries((await view("one-1")).map((x) => [x.node_name, x]));
    assert.deepEqual(Object.keys(w.alpha.volumes[0].state!.replication_states!).sort(), [
      "bravo",
      "charlie",
      "delta",
    ]);
    assert.deepEqual(Object.keys(w.charlie.volumes[0].state!.replication_states!).sort(), [
      "alpha",
      "bravo",
    ]);
    assert.deepEqual(Object.keys(w.charlie.layer_object.drbd.connections).sort(), [
      "alpha",
      "bravo",
    ]);
  });

  it("rounds backing volumes to the extent, names them in the pool's VG, keeps volume props own", async () => {
    const v = (await view("one-2")).find((x) => x.node_name === "charlie")!;
    const storage = v.layer_object.children[0].storage.storage_volumes[0];
    // 1 GiB net + 264 KiB DRBD metadata (7 peer slots), rounded up to 4 MiB extents
    assert.equal(storage.usable_size_kib, 1052672);
    assert.equal(v.volumes[0].layer_data_list[0].data.allocated_size_kib, 1048840);
    assert.equal(
      v.volumes[0].layer_data_list[0].data.backing_device,
      "/dev/linstorpool/one-2_00000",
    );
    assert.equal(storage.device_path, "/dev/linstorpool/one-2_00000");
    await rest(sim, "PUT", "/v1/resource-definitions/one-2/volume-definitions/0", {
      override_props: { "DrbdOptions/Disk/disk-timeout": "100" },
    });
    const after = (await view("one-2"))[0].volumes[0];
    assert.deepEqual(after.props, {}, "the volume definition's props are not the volume's");
    const uuids = (await view("one-2")).map((x) => x.volumes[0].uuid);
    assert.equal(new Set(uuids).size, uuids.length, "each replica's volume has its own uuid");
  });

  it("gives every snapshot, per-node snapshot and snapshot volume its own uuid", async () => {
    for (const s of ["snap1", "snap2"]) {
      const r = await rest(sim, "POST", "/v1/resource-definitions/one-2/snapshots", { name: s });
      assert.equal(r.status, 201, r.text);
      assert.ok(r.rcs.some((e) => e.message === "Took snapshot of 'one-2' on 'charlie'"));
    }
    const list = (await rest(sim, "GET", "/v1/view/snapshots")).data as {
      uuid: string;
      resource_definition_props: Record<string, string>;
      snapshots: { uuid: string; snapshot_volumes: { uuid: string }[] }[];
    }[];
    const all = list.flatMap((s) => [
      s.uuid,
      ...s.snapshots.flatMap((n) => [n.uuid, ...n.snapshot_volumes.map((v) => v.uuid)]),
    ]);
    assert.equal(all.length, 10);
    assert.equal(new Set(all).size, 10);
    assert.equal(list[0].resource_definition_props["DrbdOptions/Resource/quorum"], "majority");
    const r = await rest(sim, "POST", "/v1/resource-definitions/one-2/snapshot-rollback/snap1", {});
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => e.message).sort(), [
      "Rolled resource 'one-2' back on 'charlie'",
      "Rolled resource 'one-2' back on 'delta'",
    ]);
  });

  it("gives a new volume definition a DRBD generation id; a clone and a restore take their source's", async () => {
    const gi = async (rd: string) => {
      const r = await rest(sim, "GET", `/v1/resource-definitions/${rd}/volume-definitions`);
      assert.equal(r.status, 200, r.text);
      return (r.data as { props: Record<string, string> }[])[0].props.DrbdCurrentGi;
    };
    /** Java's `%X` of a random long with the primary bit cleared. */
    const GID = /^[0-9A-F]{0,15}[02468ACE]$/;
    let r = await rest(sim, "POST", "/v1/resource-groups/opennebula/spawn", {
      resource_definition_name: "gi-a",
      volume_sizes: [8192],
    });
    assert.equal(r.status, 201, r.text);
    const a = await gi("gi-a");
    assert.match(a, GID);
    // created one by one: its own; one given with the request is replaced (the controller
    // checks `DrbdOptions/DrbdCurrentGi` before it sets `DrbdCurrentGi`)
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "gi-b" } });
    r = await rest(sim, "POST", "/v1/resource-definitions/gi-b/volume-definitions", {
      volume_definition: { size_kib: 8192, props: { DrbdCurrentGi: "0123456789ABCDEF" } },
    });
    assert.equal(r.status, 200, r.text);
    const b = await gi("gi-b");
    assert.match(b, GID);
    assert.notEqual(b, a);
    assert.notEqual(b, "0123456789ABCDEF");
    // a clone copies its source's properties, a restore the snapshot's generation id
    r = await rest(sim, "POST", "/v1/resource-definitions/gi-a/clone", { name: "gi-c" });
    assert.equal(r.status, 201, r.text);
    assert.equal(await gi("gi-c"), a);
    await rest(sim, "POST", "/v1/resource-definitions/gi-a/snapshots", { name: "s1" });
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "gi-d" } });
    r = await rest(
      sim,
      "POST",
      "/v1/resource-definitions/gi-a/snapshot-restore-volume-definition/s1",
      { to_resource: "gi-d" },
    );
    assert.equal(r.status, 200, r.text);
    assert.equal(await gi("gi-d"), a);
  });

  it("keeps a group's selection filter as the controller does (LINBIT's rg create/modify)", async () => {
    const r = await rest(sim, "POST", "/v1/resource-groups", {
      name: "grp_sp",
      select_filter: { place_count: "2", storage_pool: "xxx", layer_stack: ["storage"] },
    });
    assert.equal(r.status, 201, r.text);
    const filter = async () =>
      ((await rest(sim, "GET", "/v1/resource-groups/grp_sp")).data as {
        select_filter: Record<string, unknown>;
      }).select_filter;
    assert.deepEqual(await filter(), {
      place_count: 2,
      storage_pool: "xxx",
      storage_pool_list: ["xxx"],
      layer_stack: ["STORAGE"],
    });
    await rest(sim, "PUT", "/v1/resource-groups/grp_sp", {
      select_filter: { storage_pool_list: ["xxx", "yyy"], replicas_on_same: ["Aux/x"] },
    });
    assert.deepEqual(await filter(), {
      place_count: 2,
      storage_pool_list: ["xxx", "yyy"],
      layer_stack: ["STORAGE"],
      replicas_on_same: ["Aux/x"],
    });
    // an empty list clears the field (`--replicas-on-same=`, `--layer-list=`)
    await rest(sim, "PUT", "/v1/resource-groups/grp_sp", {
      select_filter: { replicas_on_same: [], layer_stack: [] },
    });
    assert.deepEqual(await filter(), { place_count: 2, storage_pool_list: ["xxx", "yyy"] });
  });

  it("answers with the controller's texts", async () => {
    let r = await rest(sim, "POST", "/v1/resource-definitions", {
      resource_definition: { name: "one-1" },
    });
    assert.equal(r.rcs[0].message, "A resource definition with the name 'one-1' already exists");
    r = await rest(sim, "DELETE", "/v1/resource-definitions/nothere");
    assert.equal(r.rcs[0].message, "Resource definition: nothere not found.");
    r = await rest(sim, "POST", "/v1/resource-groups", { name: "opennebula" });
    assert.equal(r.rcs[0].message, "A Resource group: opennebula already exists.");
    r = await rest(sim, "POST", "/v1/nodes/alpha/storage-pools", {
      storage_pool_name: "thinlvm",
      provider_kind: "LVM_THIN",
    });
    assert.equal(r.rcs[0].message, "Node: alpha, Storage pool name: thinlvm already exists.");
    r = await rest(sim, "POST", "/v1/nodes", { name: "alpha", type: "satellite" });
    assert.equal(r.rcs[0].message, "Registration of node 'alpha' failed.");
    r = await rest(sim, "PUT", "/v1/resource-definitions/one-1/volume-definitions/0", {
      size_kib: 2097152,
    });
    assert.equal(
      r.rcs.at(-1)!.message,
      "Volume definition with number '0' of resource definition 'one-1' modified.",
    );
    // a just installed controller's default group places two replicas
    r = await rest(sim, "GET", "/v1/resource-groups/DfltRscGrp");
    assert.equal(
      (r.data as { select_filter: { place_count: number } }).select_filter.place_count,
      2,
    );
  });
});

describe("the key-value store (LINBIT's `linstor key-value-store …`)", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController([]);
  });
  after(async () => {
    await sim.stop();
  });

  it("makes an instance on its first change, drops it with its last property, saves it with the state", async () => {
    const list = async (path = "") => await rest(sim, "GET", `/v1/key-value-store${path}`);
    assert.deepEqual((await list()).data, []);
    // LINBIT's client: `kv modify inst1 foo/bar baz`, then `other 1`
    let r = await rest(sim, "PUT", "/v1/key-value-store/inst1", {
      override_props: { "foo/bar": "baz", "foo/qux": "x" },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [OBJ.CTRL_CONF | MASK_MOD | 3n, "Successfully updated properties"],
    ]);
    await rest(sim, "PUT", "/v1/key-value-store/inst1", { override_props: { other: "1" } });
    assert.deepEqual((await list("/INST1")).data, [
      { name: "inst1", props: { "foo/bar": "baz", "foo/qux": "x", other: "1" } },
    ]);
    r = await list("/nope");
    assert.equal(r.status, 404);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [MASK_ERROR | 316n, "Could not find key value store instance 'nope'."],
    ]);
    // a whole namespace goes; the rest is kept by a restart
    await rest(sim, "PUT", "/v1/key-value-store/inst1", { delete_namespaces: ["foo"] });
    assert.deepEqual((await list()).data, [{ name: "inst1", props: { other: "1" } }]);
    const saved = await loadState(sim.stateDir);
    assert.deepEqual(saved?.kvs?.map((x) => [x.name, x.props]), [["inst1", { other: "1" }]]);
    // its last property gone, so is the instance
    await rest(sim, "PUT", "/v1/key-value-store/inst1", { delete_props: ["other"] });
    assert.deepEqual((await list()).data, []);
    // deleted whole; a second delete has no effect
    await rest(sim, "PUT", "/v1/key-value-store/inst2", { override_props: { a: "b" } });
    r = await rest(sim, "DELETE", "/v1/key-value-store/inst2");
    assert.equal(r.status, 200, r.text);
    assert.equal(u(r.rcs[0].ret_code), 2n);
    assert.equal(r.rcs[0].message, "Kvs 'inst2' deleted.");
    r = await rest(sim, "DELETE", "/v1/key-value-store/inst2");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [MASK_WARN | 3000n, "Deletion of kvs 'inst2' had no effect."],
    ]);
  });
});

describe("the controller's properties (LINBIT's `linstor controller list-properties/set-property`)", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["kite"]);
  });
  after(async () => {
    await sim.stop();
  });
  const props = async () =>
    (await rest(sim, "GET", "/v1/controller/properties")).data as Record<string, string>;
  const set = (body: unknown) => rest(sim, "POST", "/v1/controller/properties", body);
  const entries = (rcs: Rc[]) => rcs.map((e) => [u(e.ret_code), e.message]);
  const CTRL = OBJ.CTRL_CONF;

  it("lists a fresh controller's, sorted; sets whitelisted keys, refuses a request with another whole", async () => {
    const fresh = await props();
    assert.deepEqual(Object.keys(fresh), Object.keys(fresh).sort());
    assert.match(fresh["Cluster/LocalID"], /^[0-9a-f-]{36}$/);
    assert.equal(fresh["NetCom/PlainConnector/Port"], "3376");
    assert.equal(fresh["DrbdOptions/Resource/on-no-quorum"], "io-error");
    assert.equal(fresh["DrbdOptions/auto-quorum"], undefined, "migrated away by LINSTOR");
    // accepted: normalised values, one entry per key
    let r = await set({
      override_props: { "Aux/site": "x", "DrbdOptions/AutoEvictAllowEviction": "no" },
    });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(entries(r.rcs), [
      [CTRL | MASK_CRT | 1n, "Successfully set property 'Aux/site' to value 'x'"],
      [
        CTRL | MASK_CRT | 1n,
        "Successfully set property 'DrbdOptions/AutoEvictAllowEviction' to value 'false'",
      ],
    ]);
    // an unknown key or a refused value: nothing of the request is kept, no error report
    r = await set({ override_props: { "Aux/more": "y", NoSuchKey: "1" } });
    assert.equal(r.status, 500, r.text);
    assert.deepEqual(entries(r.rcs), [
      [MASK_ERROR | CTRL | MASK_CRT | 213n, "The key 'NoSuchKey' is not whitelisted"],
    ]);
    assert.equal(r.rcs[0].error_report_ids, undefined);
    r = await set({ override_props: { PeerSlotsNewResource: "99" } });
    assert.equal(r.status, 500, r.text);
    assert.equal(r.rcs[0].message, "The value '99' is not valid.");
    assert.equal(r.rcs[0].details, "This value has to match (1 - 31).");
    const now = await props();
    assert.equal(now["Aux/more"], undefined);
    assert.equal(now["Aux/site"], "x");
    assert.equal(now["DrbdOptions/AutoEvictAllowEviction"], "false");
  });

  it("quorum marks itself set by the user; the deprecated auto-quorum warns and is not kept", async () => {
    let r = await set({
      override_props: {
        "DrbdOptions/Resource/quorum": "majority",
        "DrbdOptions/auto-quorum": "io-error",
      },
    });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(entries(r.rcs), [
      [
        CTRL | MASK_CRT | 1n,
        "Successfully set property 'DrbdOptions/Resource/quorum' to value 'majority'",
      ],
      [
        MASK_WARN | CTRL | MASK_MOD | 4000n,
        "DrbdOptions/auto-quorum is deprecated, please use DrbdOptions/Resource/quorum",
      ],
      [
        CTRL | MASK_CRT | 1n,
        "Successfully set property 'DrbdOptions/auto-quorum' to value 'io-error'",
      ],
    ]);
    let p = await props();
    assert.equal(p["Internal/Drbd/QuorumSetBy"], "user");
    assert.equal(p["DrbdOptions/auto-quorum"], undefined);
    // DELETE by a key with slashes takes the mark with it; an unknown key is refused
    r = await rest(sim, "DELETE", "/v1/controller/properties/DrbdOptions/Resource/quorum");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(entries(r.rcs), [
      [CTRL | MASK_DEL | 2n, "Successfully deleted property 'DrbdOptions/Resource/quorum'"],
    ]);
    p = await props();
    assert.equal(p["DrbdOptions/Resource/quorum"], undefined);
    assert.equal(p["Internal/Drbd/QuorumSetBy"], undefined);
    r = await rest(sim, "DELETE", "/v1/controller/properties/NoSuchKey");
    assert.equal(r.status, 500, r.text);
    assert.deepEqual(entries(r.rcs), [
      [MASK_ERROR | CTRL | MASK_DEL | 213n, "The key 'NoSuchKey' is not whitelisted"],
    ]);
  });

  it("deletes a namespace's keys; saves them with the state; PeerSlotsNewResource applies to new resources", async () => {
    await set({ override_props: { "Aux/a/b": "1", "Aux/a/c": "2" } });
    let r = await set({ delete_namespaces: ["Aux/a"] });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.rcs.map((e) => e.message).sort(), [
      "Successfully deleted property 'Aux/a/b'",
      "Successfully deleted property 'Aux/a/c'",
    ]);
    r = await set({ override_props: { PeerSlotsNewResource: "4" } });
    assert.equal(r.status, 201, r.text);
    const saved = await loadState(sim.stateDir);
    assert.equal(saved?.ctrlProps?.PeerSlotsNewResource, "4");
    assert.equal(saved?.ctrlProps?.["Aux/a/b"], undefined);
    // a resource made now takes the controller's peer slots (none on its RD or group)
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "slots" } });
    await rest(sim, "POST", "/v1/resource-definitions/slots/volume-definitions", {
      volume_definition: { size_kib: 8192 },
    });
    r = await rest(sim, "POST", "/v1/resource-definitions/slots/resources", [
      { resource: { node_name: "kite", props: { StorPoolName: "thinlvm" } } },
    ]);
    assert.equal(r.status, 201, r.text);
    const view = (await rest(sim, "GET", "/v1/view/resources?resources=slots")).data as {
      layer_object: { drbd: { peer_slots: number } };
    }[];
    assert.equal(view[0].layer_object.drbd.peer_slots, 4);
  });
});

describe("node lost and reconnect (LINBIT's `linstor node lost/reconnect`)", () => {
  let sim: LinstorSim & { hosts: string };
  before(async () => {
    sim = await freshController(["kite", "lark"]);
  });
  after(async () => {
    await sim.stop();
  });
  const status = async (node: string) =>
    ((await rest(sim, "GET", `/v1/nodes/${node}`)).data as { connection_status: string })
      .connection_status;

  it("reconnects a node whose satellite answers now; one taken down stays offline", async () => {
    // registered before its host exists: offline
    let r = await rest(sim, "POST", "/v1/nodes", {
      name: "owl",
      type: "satellite",
      net_interfaces: [{ name: "default", address: "10.0.3.9", satellite_port: 3366 }],
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(await status("owl"), "OFFLINE");
    r = await rest(sim, "PUT", "/v1/nodes/owl/reconnect");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [OBJ.NODE | MASK_MOD, "Nodes [owl] will be reconnected."],
      [MASK_WARN | OBJ.NODE | MASK_MOD | 1002n, "No active connection to satellite 'owl'"],
    ]);
    assert.equal(await status("owl"), "OFFLINE");
    await Deno.mkdir(join(sim.hosts, "owl"));
    r = await rest(sim, "PUT", "/v1/nodes/owl/reconnect");
    assert.deepEqual(r.rcs.map((e) => e.message), ["Nodes [owl] will be reconnected."]);
    assert.equal(await status("owl"), "ONLINE");
    // a satellite that is down does not answer a reconnect
    assert.equal(await simNode(sim, "owl", false), 200);
    r = await rest(sim, "PUT", "/v1/nodes/owl/reconnect");
    assert.equal(r.rcs.length, 2, r.text);
    assert.equal(await status("owl"), "OFFLINE");
    r = await rest(sim, "PUT", "/v1/nodes/nope/reconnect");
    assert.equal(r.status, 404, r.text);
  });

  it("removes a lost node with its resources, snapshots and pools; refuses a connected one", async () => {
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "kept" } });
    await rest(sim, "POST", "/v1/resource-definitions/kept/volume-definitions", {
      volume_definition: { size_kib: 8192 },
    });
    let r = await rest(sim, "POST", "/v1/resource-definitions/kept/resources", [
      { resource: { node_name: "kite", props: { StorPoolName: "thinlvm" } } },
      { resource: { node_name: "lark", props: { StorPoolName: "thinlvm" } } },
    ]);
    assert.equal(r.status, 201, r.text);
    r = await rest(sim, "POST", "/v1/resource-definitions/kept/snapshots", { name: "s1" });
    assert.equal(r.status, 201, r.text);
    // still connected: the node delete is the way
    r = await rest(sim, "DELETE", "/v1/nodes/lark/lost");
    assert.equal(r.status, 500, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [
        MASK_ERROR | OBJ.NODE | MASK_DEL | 506n,
        "Node 'lark' still connected, please use the 'DelNode' api.",
      ],
    ]);
    assert.equal(await simNode(sim, "lark", false), 200);
    r = await rest(sim, "DELETE", "/v1/nodes/lark/lost");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [OBJ.NODE | MASK_DEL | 2n, "Node 'lark' deleted."],
    ]);
    assert.equal((await rest(sim, "GET", "/v1/nodes/lark")).status, 404);
    const rscs = (await rest(sim, "GET", "/v1/resource-definitions/kept/resources")).data as {
      node_name: string;
    }[];
    assert.deepEqual(rscs.map((x) => x.node_name), ["kite"]);
    const snaps = (await rest(sim, "GET", "/v1/resource-definitions/kept/snapshots")).data as {
      nodes: string[];
    }[];
    assert.deepEqual(snaps.map((x) => x.nodes), [["kite"]]);
    const pools = (await rest(sim, "GET", "/v1/view/storage-pools")).data as {
      node_name: string;
    }[];
    assert.ok(!pools.some((p) => p.node_name === "lark"));
    // gone: a second lost has no effect
    r = await rest(sim, "DELETE", "/v1/nodes/lark/lost");
    assert.equal(r.status, 200, r.text);
    assert.equal(u(r.rcs[0].ret_code), MASK_WARN | OBJ.NODE | MASK_DEL | 3000n);
  });
});

describe("resource connections (LINBIT's `linstor resource-connection …`)", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["aa", "bb", "cc"]);
    await rest(sim, "POST", "/v1/resource-definitions", { resource_definition: { name: "r1" } });
    await rest(sim, "POST", "/v1/resource-definitions/r1/volume-definitions", {
      volume_definition: { size_kib: 8192 },
    });
    const r = await rest(
      sim,
      "POST",
      "/v1/resource-definitions/r1/resources",
      ["cc", "aa", "bb"].map((n) => ({
        resource: { node_name: n, props: { StorPoolName: "thinlvm" } },
      })),
    );
    assert.equal(r.status, 201, r.text);
    await rest(sim, "POST", "/v1/nodes/bb/net-interfaces", { name: "second", address: "10.9.0.2" });
  });
  after(async () => {
    await sim.stop();
  });
  const base = "/v1/resource-definitions/r1/resource-connections";
  const conns = async () =>
    ((await rest(sim, "GET", base)).data as { node_a: string; node_b: string; props: object }[])
      .map((c) => [c.node_a, c.node_b, c.props]);

  it("lists one connection per pair of resources; sets whitelisted properties on one", async () => {
    assert.deepEqual(await conns(), [["aa", "bb", {}], ["aa", "cc", {}], ["bb", "cc", {}]]);
    let r = await rest(sim, "PUT", `${base}/bb/aa`, {
      override_props: { "DrbdOptions/Net/max-buffers": "8000", "Aux/x": "y" },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(
      r.rcs.at(-1)!.message,
      "Resource connection between nodes 'aa' and 'bb' for resource 'r1' modified.",
    );
    assert.equal(u(r.rcs.at(-1)!.ret_code), OBJ.RSC_CONN | MASK_MOD | 3n);
    assert.deepEqual((await conns())[0], [
      "aa",
      "bb",
      { "DrbdOptions/Net/max-buffers": "8000", "Aux/x": "y" },
    ]);
    r = await rest(sim, "GET", `${base}/BB/aa`);
    assert.equal(r.status, 200, r.text);
    assert.equal((r.data as { node_a: string }).node_a, "aa");
    r = await rest(sim, "PUT", `${base}/aa/bb`, { override_props: { NoSuchKey: "1" } });
    assert.equal(r.status, 500, r.text);
    assert.equal(u(r.rcs[0].ret_code) & 0x7FFFn, 213n);
  });

  it("checks DRBD connection paths: the pair's nodes and their network interfaces", async () => {
    const put = (props: Record<string, string>) =>
      rest(sim, "PUT", `${base}/aa/bb`, { override_props: props });
    let r = await put({ "Paths/p1/aa": "default", "Paths/p1/bb": "second" });
    assert.equal(r.status, 200, r.text);
    for (
      const [props, message, cause] of [
        [
          { "Paths/p2/cc": "default" },
          "Connection path node unknown.",
          "The node name 'cc' is unknown.",
        ],
        [
          { "Paths/p2/bb": "nope" },
          "NetInterface for node unknown.",
          "The Netinterface 'nope' is not known for node 'bb'",
        ],
        [
          { "Paths/p2": "default" },
          "Connection path property invalid.",
          "The key 'Paths/p2' is invalid.",
        ],
      ] as const
    ) {
      r = await put(props);
      assert.equal(r.status, 500, r.text);
      assert.deepEqual([r.rcs[0].message, r.rcs[0].cause], [message, cause]);
    }
    const ab = (await conns())[0][2] as Record<string, string>;
    assert.equal(ab["Paths/p1/bb"], "second");
    assert.equal(ab["Paths/p2/bb"], undefined);
  });

  it("a connection goes with one of its resources; a pair without two resources is not found", async () => {
    // the first delete leaves bb as the quorum's tie-breaker (the same resource: its
    // connections stay), the second deletes it
    let r = await rest(sim, "DELETE", "/v1/resource-definitions/r1/resources/bb");
    assert.equal(r.status, 200, r.text);
    assert.equal(((await conns())[0][2] as Record<string, string>)["Aux/x"], "y");
    r = await rest(sim, "DELETE", "/v1/resource-definitions/r1/resources/bb");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await conns(), [["aa", "cc", {}]]);
    r = await rest(sim, "GET", `${base}/aa/bb`);
    assert.equal(r.status, 404, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [MASK_ERROR | 307n, "Resource connection between 'aa' and 'bb' not found."],
    ]);
    r = await rest(sim, "POST", "/v1/resource-definitions/r1/resources", [
      { resource: { node_name: "bb", props: { StorPoolName: "thinlvm" } } },
    ]);
    assert.equal(r.status, 201, r.text);
    assert.deepEqual((await conns())[0], ["aa", "bb", {}]);
  });
});

describe("node connections (LINBIT's `linstor node-connection …`)", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await freshController(["aa", "bb", "cc"]);
    await rest(sim, "POST", "/v1/nodes/bb/net-interfaces", { name: "second", address: "10.9.0.2" });
  });
  after(async () => {
    await sim.stop();
  });
  const list = async (q = "") =>
    ((await rest(sim, "GET", `/v1/node-connections${q}`)).data as {
      node_a: string;
      node_b: string;
      props: object;
    }[]).map((c) => [c.node_a, c.node_b, c.props]);

  it("lists the connections given properties; one pair even without; checks paths", async () => {
    assert.deepEqual(await list(), []);
    assert.deepEqual(await list("?node_a=bb&node_b=aa"), [["bb", "aa", {}]]);
    let r = await rest(sim, "PUT", "/v1/node-connections/bb/aa", {});
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.rcs.map((e) => [u(e.ret_code), e.message]), [
      [
        MASK_WARN | OBJ.NODE_CONN | MASK_MOD | 3000n,
        "Node connection between nodes 'bb' and 'aa' does not exist",
      ],
    ]);
    r = await rest(sim, "PUT", "/v1/node-connections/bb/aa", {
      override_props: {
        "DrbdOptions/Net/max-buffers": "9000",
        "Paths/p1/bb": "second",
        "Paths/p1/aa": "default",
      },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(
      r.rcs.at(-1)!.message,
      "Node connection between nodes 'bb' and 'aa' modified.",
    );
    assert.equal(u(r.rcs.at(-1)!.ret_code), OBJ.NODE_CONN | MASK_MOD | 3n);
    const props = {
      "DrbdOptions/Net/max-buffers": "9000",
      "Paths/p1/bb": "second",
      "Paths/p1/aa": "default",
    };
    assert.deepEqual(await list(), [["aa", "bb", props]]);
    assert.deepEqual(await list("?node_a=bb"), [["aa", "bb", props]]);
    assert.deepEqual(await list("?node_b=cc"), []);
    r = await rest(sim, "GET", "/v1/node-connections?node_a=nope");
    assert.equal(r.status, 404, r.text);
    // a node connection's paths are Paths/<path>/<node> exactly; the refusal shows key=value
    for (
      const [props, cause] of [
        [{ "Paths/p2/x/aa": "default" }, "The key 'Paths/p2/x/aa=default' is invalid."],
        [{ "Paths/p2/cc": "default" }, "The node name 'cc' is unknown."],
        [{ "Paths/p2/bb": "nope" }, "The Netinterface 'nope' is not known for node 'bb'"],
      ] as const
    ) {
      r = await rest(sim, "PUT", "/v1/node-connections/aa/bb", { override_props: props });
      assert.equal(r.status, 500, r.text);
      assert.equal(r.rcs[0].cause, cause);
    }
    r = await rest(sim, "PUT", "/v1/node-connections/aa/bb", {
      override_props: { NoSuchKey: "1" },
    });
    assert.equal(r.status, 500, r.text);
  });

  it("a deleted node takes its connections along; they are kept with the state", async () => {
    await rest(sim, "PUT", "/v1/node-connections/aa/cc", { override_props: { "Aux/x": "1" } });
    const saved = await loadState(sim.stateDir);
    assert.deepEqual(saved?.nodeConns?.map((c) => [c.a, c.b]), [["aa", "bb"], ["aa", "cc"]]);
    const r = await rest(sim, "DELETE", "/v1/nodes/bb");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await list(), [["aa", "cc", { "Aux/x": "1" }]]);
  });
});

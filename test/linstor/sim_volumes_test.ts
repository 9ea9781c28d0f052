/**
 * The simulated LINSTOR controller's answers that were 404/405 before: per-volume properties
 * (CtrlVlmApiCallHandler.modify: LINBIT's `linstor volume set-property` / `list-properties`),
 * resources deactivated and activated again (CtrlRscActivateApiCallHandler: `linstor resource
 * deactivate/activate`) and the maximum volume size queries (CtrlQueryMaxVlmSizeHelper: `linstor
 * controller query-max-volume-size`, `linstor resource-group query-max-volume-size`), with their
 * entries and masks, their refusals and their effect everywhere the state shows.
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

const call = simCall;

/** A ret_code as the controller sends it (signed 64 bits). */
const code = (v: bigint) => BigInt.asIntN(64, v);
/** Each entry's ret_code and message. */
const pairs = (es: SimEntry[]) => es.map((e) => [e.ret_code, e.message]);
/** Whether `p` exists (a dangling link counts). */
const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

interface VolumeView {
  volume_number: number;
  props: Record<string, string>;
  state?: { disk_state?: string; replication_states?: Record<string, unknown> };
}
interface RscView {
  node_name: string;
  flags: string[];
  state?: { in_use?: boolean };
  layer_object: { drbd: { connections: Record<string, unknown> } };
  volumes?: VolumeView[];
}

const VLM_PATH = "/v1/resource-definitions/r1/resources/alpha/volumes/0";
const VLM_DESC = "Volume with volume number '0' on resource 'r1' on node 'alpha'";

describe("LINSTOR simulator: volumes, activation, max volume size", () => {
  let root: string;
  let sim: LinstorSim;
  const opts = () => ({
    nodes: ["alpha", "bravo", "charlie"],
    pools: [
      { name: "DfltStorPool", sizeGiB: 100 },
      { name: "thick", sizeGiB: 10, thin: false },
    ],
    stateDir: join(root, "state"),
    hostsRoot: join(root, "hosts"),
  });
  const link = (node: string) => join(root, "hosts", node, "dev", "drbd", "by-res", "r1", "0");
  const rsc = async (node: string) =>
    (await call(sim, "GET", `/v1/view/resources?resources=r1&nodes=${node}`)).data as RscView[];
  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-lsvlm-" });
    sim = await startLinstorSim(opts());
    for (
      const [m, p, b] of [
        ["POST", "/v1/resource-definitions", { resource_definition: { name: "r1" } }],
        ["POST", "/v1/resource-definitions/r1/volume-definitions", {
          volume_definition: { size_kib: 10240 },
        }],
        ["POST", "/v1/resource-definitions/r1/resources", [
          { resource: { node_name: "alpha", props: { StorPoolName: "DfltStorPool" } } },
          { resource: { node_name: "bravo", props: { StorPoolName: "DfltStorPool" } } },
        ]],
      ] as const
    ) {
      const r = await call(sim, m, p, b);
      assert.ok(r.status < 300, `${m} ${p}: ${stringifyJsonLossless(r.data)}`);
    }
  });
  after(async () => {
    await sim.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  });

  it("sets and deletes a volume's own properties, shown with that volume only", async () => {
    let r = await call(sim, "PUT", VLM_PATH, {
      override_props: { "Aux/tag": "x", "DrbdOptions/Disk/disk-flushes": "No" },
    });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(pairs(r.entries), [
      [
        code(OBJ.VLM | MASK_CRT | 1n),
        "Successfully set property key(s): Aux/tag,DrbdOptions/Disk/disk-flushes",
      ],
      [code(OBJ.VLM | MASK_MOD | 3n), `${VLM_DESC} modified.`],
    ]);
    assert.match(r.entries[1].details ?? "", new RegExp(`^${VLM_DESC} UUID is: [0-9a-f-]{36}$`));
    assert.deepEqual(
      { ...r.entries[1].obj_refs, UUID: undefined },
      { Node: "alpha", RscDfn: "r1", VlmNr: "0", UUID: undefined },
    );
    const want = { "Aux/tag": "x", "DrbdOptions/Disk/disk-flushes": "no" };
    // the single volume, the resource's volumes and the resource view all show them
    assert.deepEqual(((await call(sim, "GET", VLM_PATH)).data as VolumeView).props, want);
    const list = (await call(sim, "GET", "/v1/resource-definitions/r1/resources/alpha/volumes"))
      .data as VolumeView[];
    assert.deepEqual(list[0].props, want);
    assert.deepEqual((await rsc("alpha"))[0].volumes![0].props, want);
    // the other replica's volume has none of them
    assert.deepEqual((await rsc("bravo"))[0].volumes![0].props, {});

    r = await call(sim, "PUT", VLM_PATH, { delete_props: ["DrbdOptions/Disk/disk-flushes"] });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(pairs(r.entries)[0], [
      code(OBJ.VLM | MASK_DEL | 2n),
      "Successfully deleted property key(s): DrbdOptions/Disk/disk-flushes",
    ]);
    r = await call(sim, "PUT", VLM_PATH, { delete_namespaces: ["Aux"] });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(((await call(sim, "GET", VLM_PATH)).data as VolumeView).props, {});
  });

  it("checks a volume's properties against the volume whitelist; a refusal changes nothing", async () => {
    // a resource-definition option that volumes do not take
    let r = await call(sim, "PUT", VLM_PATH, {
      override_props: { "Aux/a": "1", "DrbdOptions/Net/protocol": "C" },
    });
    assert.equal(r.status, 500);
    assert.equal(r.entries.length, 1);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.VLM | MASK_MOD | 213n));
    assert.equal(r.entries[0].message, "Invalid property key: DrbdOptions/Net/protocol");
    assert.equal(r.entries[0].cause, "The key 'DrbdOptions/Net/protocol' is not whitelisted.");
    assert.equal(r.entries[0].details, VLM_DESC);
    assert.equal(r.entries[0].error_report_ids?.length, 1);
    r = await call(sim, "PUT", VLM_PATH, {
      override_props: { "DrbdOptions/Disk/disk-flushes": "maybe" },
    });
    assert.equal(r.status, 500);
    assert.equal(
      r.entries[0].message,
      "Invalid property(DrbdOptions/Disk/disk-flushes) value: maybe",
    );
    assert.equal(
      r.entries[0].details,
      `This value must be either 'yes' or 'no'.\n${VLM_DESC}`,
    );
    assert.deepEqual(((await call(sim, "GET", VLM_PATH)).data as VolumeView).props, {});
  });

  it("finds the volume as the controller's loader does", async () => {
    const put = (path: string) => call(sim, "PUT", path, { override_props: { "Aux/a": "1" } });
    let r = await put("/v1/resource-definitions/r1/resources/alpha/volumes/3");
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.VLM | MASK_MOD | 304n));
    assert.equal(
      r.entries[0].message,
      "Volume with volume number '3' on resource 'r1' on node 'alpha' not found.",
    );
    assert.equal(r.entries[0].error_report_ids?.length, 1);
    r = await put("/v1/resource-definitions/r1/resources/nobody/volumes/0");
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.VLM | MASK_MOD | 300n));
    assert.equal(r.entries[0].message, "Node 'nobody' not found.");
    assert.equal(r.entries[0].correction, "Create a node with the name 'nobody' first.");
    assert.equal(r.entries[0].error_report_ids, undefined);
    r = await put("/v1/resource-definitions/r1/resources/charlie/volumes/0");
    assert.equal(r.status, 200, "charlie holds the tie-breaker");
    await call(sim, "PUT", "/v1/resource-definitions/r1/resources/charlie/volumes/0", {
      delete_props: ["Aux/a"],
    });
    r = await put("/v1/resource-definitions/nope/resources/alpha/volumes/0");
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.VLM | MASK_MOD | 301n));
    r = await put("/v1/resource-definitions/r1/resources/alpha/volumes/-1");
    assert.equal(r.status, 500);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.VLM | MASK_MOD | 205n));
    assert.equal(
      r.entries[0].message,
      "The given volume number '-1' is invalid. Valid range from 0 to 65534",
    );
    assert.equal(r.entries[0].cause, "Volume number -1 is out of range [0 - 65534]");
    // not a number at all: Jersey's 404 before the handler
    r = await put("/v1/resource-definitions/r1/resources/alpha/volumes/x");
    assert.equal(r.status, 404);
    assert.equal(
      r.entries[0].message,
      "Path '/v1/resource-definitions/r1/resources/alpha/volumes/x' not found on server.",
    );
  });

  it("deactivates a resource: INACTIVE, no state of it anywhere, its device gone; activates it again", async () => {
    assert.ok(await exists(link("bravo")));
    const base = "/v1/resource-definitions/r1/resources/bravo";
    let r = await call(sim, "POST", `${base}/deactivate`);
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const mod = code(OBJ.RSC | MASK_MOD | 3n);
    assert.deepEqual(pairs(r.entries), [
      [mod, "Resource marked inactivate on 'alpha'"],
      [mod, "Resource deactivated on 'bravo'"],
      [mod, "Resource marked inactivate on 'charlie'"],
      [mod, "Finished deactivation of resource on 'alpha'"],
      [mod, "Finished deactivation of resource on 'bravo'"],
      [mod, "Finished deactivation of resource on 'charlie'"],
    ]);
    assert.deepEqual(r.entries[0].obj_refs, { Node: "bravo", RscDfn: "r1" });
    const [bravo] = await rsc("bravo");
    assert.deepEqual(bravo.flags, ["INACTIVE"]);
    assert.equal(bravo.state, undefined);
    assert.deepEqual(bravo.layer_object.drbd.connections, {});
    assert.equal(bravo.volumes![0].state, undefined);
    const [alpha] = await rsc("alpha");
    assert.deepEqual(Object.keys(alpha.layer_object.drbd.connections), ["charlie"]);
    assert.deepEqual(Object.keys(alpha.volumes![0].state!.replication_states!), ["charlie"]);
    assert.deepEqual(
      (await call(sim, "GET", "/v1/resource-definitions/r1/sync-status")).data,
      { synced_on_all: false },
    );
    assert.equal(await exists(link("bravo")), false);
    assert.ok(await exists(link("alpha")));

    r = await call(sim, "POST", `${base}/deactivate`);
    assert.equal(r.status, 200);
    assert.deepEqual(pairs(r.entries), [
      [code(MASK_INFO | OBJ.RSC | MASK_MOD | 10007n), "Resource is already deactivated. Noop"],
    ]);

    r = await call(sim, "POST", `${base}/activate`);
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(pairs(r.entries), [
      [mod, "Resource updated on 'alpha'"],
      [mod, "Reactivating resource on 'bravo'"],
      [mod, "Resource updated on 'charlie'"],
      [mod, "Resource activated on 'alpha'"],
      [mod, "Resource activated on 'bravo'"],
      [mod, "Resource activated on 'charlie'"],
    ]);
    const [back] = await rsc("bravo");
    assert.deepEqual(back.flags, []);
    assert.deepEqual(back.state, { in_use: false });
    assert.ok(await exists(link("bravo")));
    r = await call(sim, "POST", `${base}/activate`);
    assert.deepEqual(pairs(r.entries), [
      [code(MASK_INFO | OBJ.RSC | MASK_MOD | 10007n), "Resource is already activated. Noop"],
    ]);
  });

  it("refuses to deactivate a resource in use; warns of satellites not connected", async () => {
    const post = (node: string, what: string) =>
      call(sim, "POST", `/v1/resource-definitions/r1/resources/${node}/${what}`);
    await call(sim, "POST", "/_sim/in-use", { resource: "r1", node: "alpha", in_use: true });
    let r = await post("alpha", "deactivate");
    await call(sim, "POST", "/_sim/in-use", { resource: "r1", node: "alpha", in_use: false });
    assert.equal(r.status, 500);
    assert.equal(r.entries.length, 1);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.RSC | MASK_MOD | 997n));
    assert.equal(r.entries[0].message, "Cannot deactivate a resource while being in use!");
    assert.equal(r.entries[0].details, "Node: alpha, Resource: r1");
    assert.equal(r.entries[0].error_report_ids?.length, 1);
    assert.deepEqual((await rsc("alpha"))[0].flags, []);

    r = await post("nobody", "activate");
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | OBJ.RSC | MASK_MOD | 300n));
    await call(sim, "POST", "/v1/nodes", { name: "delta", type: "Satellite" });
    r = await post("delta", "deactivate");
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].message, "Resource 'r1' on node 'delta' not found.");
    assert.equal(
      r.entries[0].cause,
      "The specified resource 'r1' on node 'delta' could not be found in the database",
    );
    await call(sim, "DELETE", "/v1/nodes/delta");

    await call(sim, "POST", "/_sim/node", { node: "charlie", online: false });
    try {
      r = await post("alpha", "deactivate");
      assert.equal(r.status, 200, stringifyJsonLossless(r.data));
      const warn = code(MASK_WARN | OBJ.RSC | MASK_MOD | 1002n);
      assert.deepEqual(
        pairs(r.entries).filter(([c]) => c === warn),
        [
          [warn, "No active connection to satellite 'charlie'"],
          [warn, "No active connection to satellite 'charlie'"],
        ],
      );
      assert.equal(r.entries[2].message, "No active connection to satellite 'charlie'");
      assert.equal(r.entries[3].message, "Resource marked inactivate on 'charlie'");
    } finally {
      await call(sim, "POST", "/_sim/node", { node: "charlie", online: true });
      await post("alpha", "activate");
    }
  });

  it("answers the maximum volume size per storage pool definition, from a filter or a group", async () => {
    const qmvs = (body: unknown) => call(sim, "OPTIONS", "/v1/query-max-volume-size", body);
    const pools = (await call(sim, "GET", "/v1/view/storage-pools")).data as {
      node_name: string;
      storage_pool_name: string;
      free_capacity?: number;
    }[];
    const free = (pool: string, node: string) =>
      pools.find((p) => p.storage_pool_name === pool && p.node_name === node)!.free_capacity!;
    let r = await qmvs({ place_count: 2 });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const body = r.data as {
      candidates: {
        storage_pool: string;
        max_volume_size_kib: number;
        node_names: string[];
        all_thin: boolean;
      }[];
      default_max_oversubscription_ratio: number;
    };
    assert.equal(body.default_max_oversubscription_ratio, 20);
    assert.deepEqual(body.candidates.map((c) => c.storage_pool), ["DfltStorPool", "thick"]);
    const [thin, thick] = body.candidates;
    assert.equal(thin.all_thin, true);
    assert.equal(thin.node_names.length, 2);
    assert.deepEqual(thin.node_names, [...thin.node_names].sort());
    assert.equal(
      thin.max_volume_size_kib,
      Math.min(...thin.node_names.map((n) => free("DfltStorPool", n))),
    );
    assert.deepEqual(thick, {
      storage_pool: "thick",
      max_volume_size_kib: 10 * 1024 * 1024,
      node_names: ["alpha", "bravo"],
      all_thin: false,
    });
    // one pool asked for; the resource group's own filter (2 replicas) gives the same
    r = await qmvs({ place_count: 3, storage_pool: "thick" });
    assert.deepEqual(
      (r.data as typeof body).candidates.map((c) => [c.storage_pool, c.node_names]),
      [["thick", ["alpha", "bravo", "charlie"]]],
    );
    const rg = await call(sim, "GET", "/v1/resource-groups/DfltRscGrp/query-max-volume-size");
    assert.equal(rg.status, 200);
    assert.deepEqual(rg.data, body);

    r = await qmvs({ place_count: 4 });
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [[code(MASK_ERROR | 996n), "Not enough nodes"]]);
    r = await qmvs({ storage_pool: "thick" });
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [
      [
        code(MASK_ERROR | BigInt(CODE.FAIL_INVLD_PLACE_COUNT)),
        "Replica count is required for this operation",
      ],
    ]);
    r = await call(sim, "GET", "/v1/resource-groups/nope/query-max-volume-size");
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].ret_code, code(MASK_ERROR | 317n));
    assert.equal(r.entries[0].message, "Resource group 'nope' not found.");
    // the storage pool definitions the client's table looks the pools up in
    assert.deepEqual((await call(sim, "GET", "/v1/storage-pool-definitions")).data, [
      { storage_pool_name: "DfltDisklessStorPool" },
      { storage_pool_name: "DfltStorPool" },
      { storage_pool_name: "thick" },
    ]);
  });

  it("keeps volume properties and the INACTIVE flag in the saved state and copies volume properties to a clone", async () => {
    let r = await call(sim, "PUT", VLM_PATH, { override_props: { "Aux/keep": "me" } });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    r = await call(sim, "POST", "/v1/resource-definitions/r1/resources/charlie/deactivate");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const saved = await loadState(join(root, "state"));
    const rd = saved?.rds.find((x) => x.name === "r1");
    assert.deepEqual(rd?.rscs.find((x) => x.node === "alpha")?.vlmProps, {
      "0": { "Aux/keep": "me" },
    });
    assert.equal(rd?.rscs.find((x) => x.node === "charlie")?.inactive, true);
    await sim.stop();
    sim = await startLinstorSim(opts());
    assert.deepEqual(((await call(sim, "GET", VLM_PATH)).data as VolumeView).props, {
      "Aux/keep": "me",
    });
    assert.ok((await rsc("charlie"))[0].flags.includes("INACTIVE"));
    r = await call(sim, "POST", "/v1/resource-definitions/r1/resources/charlie/activate");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));

    r = await call(sim, "POST", "/v1/resource-definitions/r1/clone", { name: "r2" });
    assert.ok(r.status < 300, stringifyJsonLossless(r.data));
    const vol = await call(sim, "GET", "/v1/resource-definitions/r2/resources/alpha/volumes/0");
    assert.deepEqual((vol.data as VolumeView).props, { "Aux/keep": "me" });
  });
});

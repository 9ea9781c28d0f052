/**
 * Spec conformance: every request the client sends and every reply the simulator returns,
 * over a workout of all Backend operations (fallbacks and errors included) plus the
 * requests the linstor CLI sends for the seed walkthrough, is validated against
 * rest_v1_openapi.yaml.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { LinstorClient } from "../../lib/backend/linstor/client.ts";
import type { LinstorPlacement as Placement } from "../../lib/backend/linstor/index.ts";
import {
  type Cluster,
  failCloneAndRestoreOnce,
  pattern,
  startCluster,
  writeAt,
} from "./helpers.ts";
import { type Exchange, loadOpenApiValidator, type OpenApiValidator } from "./openapi_validator.ts";
import { listUsage } from "../../lib/backend/usage.ts";

const RG: Placement = { group: "one_rg" };

describe("LINSTOR REST spec conformance", () => {
  let cl: Cluster;
  let v: OpenApiValidator;
  before(async () => {
    v = await loadOpenApiValidator();
    cl = await startCluster({
      pools: [{ name: "DfltStorPool", sizeGiB: 100 }, { name: "thick", sizeGiB: 50, thin: false }],
    });
  });
  after(async () => {
    await cl.close();
  });

  it("the validator rejects what the spec does not allow", () => {
    const ex = (o: Partial<Exchange>): Exchange => ({
      method: "GET",
      path: "/v1/view/resources",
      query: new URLSearchParams(),
      requestBody: "",
      status: 200,
      responseBody: "[]",
      ...o,
    });
    assert.deepEqual(v.validate(ex({})), []);
    assert.match(v.validate(ex({ path: "/v1/resource-definitions/r1" }))[0], /method not allowed/);
    assert.match(v.validate(ex({ path: "/v1/nothing" }))[0], /not in the spec/);
    assert.match(
      v.validate(
        ex({ path: "/v1/view/snapshots", query: new URLSearchParams("props=Aux/a=1") }),
      )[0],
      /"props" is not declared/,
    );
    assert.match(
      v.validate(
        ex({
          path: "/v1/resource-definitions",
          query: new URLSearchParams("with_volume_definitions=yes"),
        }),
      )[0],
      /not a boolean/,
    );
    assert.match(
      v.validate(ex({
        method: "POST",
        path: "/v1/resource-definitions",
        requestBody: '{"resource_definition":{"name":"a","bogus":1}}',
        status: 201,
      }))[0],
      /additional properties \(bogus\)/,
    );
    assert.match(
      v.validate(
        ex({
          responseBody: '[{"name":"r","node_name":"n","volumes":[{"provider_kind":"LVM_FAT"}]}]',
        }),
      )
        .join(),
      /allowed values/,
    );
    assert.match(v.validate(ex({ status: 201 }))[0], /not documented/);
    assert.match(
      v.validate(ex({
        method: "DELETE",
        path: "/v1/resource-definitions/a",
        status: 404,
        responseBody: '[{"ret_code":-4611686018406940171,"message":"x"}]',
      })).join(),
      /means 500/,
    );
  });

  it("every exchange of a full workout conforms", async () => {
    const be = cl.be;
    // the CLI walkthrough of the seed article (bodies as python-linstor builds them)
    const c = new LinstorClient({ controllers: cl.sim.url });
    try {
      await c.request("GET", "/v1/controller/version");
      await c.request("POST", "/v1/nodes", {
        body: {
          name: "echo",
          type: "Combined",
          net_interfaces: [{
            name: "default",
            address: "10.0.0.5",
            satellite_port: 3366,
            satellite_encryption_type: "PLAIN",
          }],
        },
      });
      await c.request("POST", "/v1/nodes/echo/storage-pools", {
        body: {
          storage_pool_name: "open_image",
          provider_kind: "LVM_THIN",
          props: { "StorDriver/LvmVg": "linstorpool", "StorDriver/ThinPool": "thin_image" },
        },
      });
      await c.request("GET", "/v1/nodes");
      await c.request("GET", "/v1/view/storage-pools");
      await c.request("POST", "/v1/resource-groups", {
        body: {
          name: "opennebula",
          select_filter: { place_count: 2, storage_pool_list: ["DfltStorPool"] },
        },
      });
      await c.request("POST", "/v1/resource-groups/opennebula/volume-groups", { body: {} });
      await c.request("GET", "/v1/resource-groups", { query: { resource_groups: ["opennebula"] } });
      await c.request("POST", "/v1/resource-definitions", {
        body: { resource_definition: { name: "dummy" } },
      });
      await c.request("POST", "/v1/resource-definitions/dummy/volume-definitions", {
        body: { volume_definition: { size_kib: 10240, flags: [] } },
      });
      await c.request("POST", "/v1/resource-definitions/dummy/autoplace", {
        body: {
          diskless_on_remaining: false,
          select_filter: {
            place_count: 2,
            diskless_on_remaining: false,
            storage_pool_list: ["DfltStorPool"],
          },
        },
      });
      await c.request("POST", "/v1/resource-definitions/dummy/resources", {
        body: [{ resource: { node_name: "echo", flags: ["DRBD_DISKLESS"] } }],
      });
      await c.request("GET", "/v1/view/resources");
      await c.request("GET", "/v1/resource-definitions/dummy/resources");
      await c.request("GET", "/v1/resource-definitions/dummy/volume-definitions");
      await c.request("GET", "/v1/resource-definitions/dummy/sync-status");
      await c.request("DELETE", "/v1/resource-definitions/dummy/resources/echo");
      await c.request("DELETE", "/v1/resource-definitions/dummy");
      // unknown objects: error replies must follow the error model too
      await c.request("DELETE", "/v1/resource-groups/missing_rg");
      await c.request("GET", "/v1/resource-definitions/none/snapshots");
    } finally {
      c.close();
    }

    // every Backend operation, including fallbacks and refusals
    await be.createVolume("w-img", 16, { placement: RG, props: { DS_ID: "1" } });
    await be.createVolume("w-img", 16, { placement: RG });
    await be.createVolume("w-img", 17, { placement: RG }).catch(() => {});
    await be.createVolume("w-nl", 8, {
      placement: { group: "", nodes: ["alpha", "bravo"] },
    });
    await be.createVolume("w-ap", 8, {
      placement: {
        group: "",
        replicas: 2,
        storagePools: ["DfltStorPool"],
        encryption: true,
      },
      preferHost: "charlie",
    });
    await be.createVolume("w-pref", 8, { placement: RG, preferHost: "delta" });
    await be.createVolume("w-thick", 8, {
      placement: { group: "", replicas: 2, storagePools: ["thick"] },
    });
    await be.createSnapshot("w-thick", "s1").catch(() => {}); // thick LVM: snapshots not supported
    await be.getVolume("w-img");
    await be.setProps("w-img", { VM_ID: "3", DISK_ID: "0" });
    await be.setProps("w-img", { DISK_ID: null, GONE: null });
    await be.resizeVolume("w-img", 32);
    const node = cl.sim.controller.rd("w-img")!.rscs.find((r) => !r.diskless)!.node;
    await writeAt(cl.hostPath(node, "/dev/drbd/by-res/w-img/0"), 0, pattern(1 << 20, 5));
    await be.attach("w-img", "delta");
    await be.attach("w-img", "delta");
    await be.attachments("w-img");
    await be.setDualPrimary("w-img", true);
    await be.setDualPrimary("w-img", false);
    cl.sim.setInUse("w-img", "delta", true);
    await be.detach("w-img", "delta").catch(() => {});
    await be.rollbackSnapshot("w-img", "x1").catch(() => {});
    await be.deleteVolume("w-img").catch(() => {});
    cl.sim.setInUse("w-img", "delta", false);
    await be.detach("w-img", "delta");
    await be.createSnapshot("w-img", "s1");
    await be.createSnapshot("w-img", "s1");
    await be.createSnapshots([{ volume: "w-img", snapshot: "m1" }, {
      volume: "w-nl",
      snapshot: "m1",
    }]);
    await be.createSnapshots([{ volume: "w-img", snapshot: "m1" }, {
      volume: "w-nl",
      snapshot: "m2",
    }]);
    await be.listSnapshots("w-img");
    await be.rollbackSnapshot("w-img", "s1");
    await be.cloneVolume("w-img", "w-c1", {
      placement: RG,
      sizeMiB: 40,
      props: { VM_ID: "4" },
      preferHost: "delta",
    });
    cl.sim.addFault({ method: "POST", path: "/clone$", action: "fail-clone", times: 1 });
    await be.cloneVolume("w-img", "w-c2", { placement: RG });
    failCloneAndRestoreOnce(cl.sim);
    await be.cloneVolume("w-img", "w-c3", { placement: RG });
    await be.cloneVolume("w-img", "w-c4", { placement: RG, fromSnapshot: "s1" });
    await be.cloneVolume("w-img", "w-c1", { placement: RG }).catch(() => {});
    await be.cloneVolume("w-none", "w-c5", { placement: RG }).catch(() => {});
    await be.renameVolume("w-c4", "w-c4b");
    await listUsage(be, { DS_ID: "1" });
    await listUsage(be, { VM_ID: "4" });
    await be.capacity(RG);
    await be.capacity({ group: "", storagePools: ["DfltStorPool"] });
    await be.capacity({ group: "", replicas: 3 });
    await be.deleteSnapshot("w-img", "s1");
    await be.deleteSnapshot("w-img", "missing");
    await be.deleteSnapshot("w-missing", "missing");
    await be.getVolume("w-missing");
    await be.listSnapshots("w-missing").catch(() => {});
    await be.attach("w-missing", "alpha").catch(() => {});
    await be.resizeVolume("w-missing", 8).catch(() => {});
    for (
      const x of [
        "w-img",
        "w-nl",
        "w-ap",
        "w-pref",
        "w-thick",
        "w-c1",
        "w-c2",
        "w-c3",
        "w-c4b",
        "w-missing",
      ]
    ) {
      await be.deleteVolume(x);
    }
    // reads retried after an injected 500
    cl.sim.addFault({ method: "GET", path: "^/v1/view/resources$", action: "error", times: 1 });
    await be.attachments("w-none");

    const problems: string[] = [];
    for (const ex of cl.exchanges) problems.push(...v.validate(ex));
    // malformed input: the request is flagged, the 400 reply itself conforms
    const c2 = new LinstorClient({ controllers: cl.sim.url });
    const n = cl.exchanges.length;
    try {
      const r = await c2.request("POST", "/v1/resource-definitions", {
        body: { resource_definition: { name: "x", nope: 1 } },
      });
      assert.equal(r.status, 400);
    } finally {
      c2.close();
    }
    assert.deepEqual(v.validate(cl.exchanges[n]), [
      "POST /v1/resource-definitions request: /resource_definition must NOT have additional properties (nope)",
    ]);
    assert.ok(cl.exchanges.length > 120, `${cl.exchanges.length} exchanges`);
    const routes = new Set(
      cl.exchanges.map((e) => `${e.method} ${v.findOp(e.method, e.path)?.template}`),
    );
    assert.ok(routes.size >= 35, `${routes.size} distinct operations`);
    assert.deepEqual([...new Set(problems)], []);
  });
});

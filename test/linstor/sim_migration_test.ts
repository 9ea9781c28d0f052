/**
 * The simulated LINSTOR controller takes over a hand-made DRBD resource the way LINSTOR 1.34
 * does (issue 11 item 2, seed 002), over HTTP: `drbd_port`, `drbd_peer_slots` and the
 * `PeerSlotsNewResource` rules, `drbd_minor_number`, `drbd_node_id`, `OverrideVlmId` naming the
 * backing volume, and the existing LV's bytes through `/dev/drbd9100` and
 * `/dev/drbd/by-res/legacy/10` on every node once its satellite has taken the resource over.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { LinstorClient } from "../../lib/backend/linstor/client.ts";
import { rcClass, rcCode, type RetCode } from "../../lib/backend/linstor/api_call_rc.ts";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { LEGACY, makeLegacyHost, showsKnownBytes } from "../support/legacy_drbd.ts";
import { loadOpenApiValidator } from "./openapi_validator.ts";
import type { SimExchange } from "../../tools/sim/linstor/server.ts";

interface RscView {
  node_name: string;
  flags: string[];
  layer_object: {
    drbd: { node_id: number; peer_slots: number };
    children: {
      storage: { storage_volumes: { device_path?: string; usable_size_kib: number }[] };
    }[];
  };
  volumes: {
    volume_number: number;
    device_path: string;
    layer_data_list: { data: { backing_device?: string; device_path: string } }[];
  }[];
}

describe("LINSTOR simulator: migrating a hand-made DRBD resource (seed 002)", () => {
  let root: string;
  let sim: LinstorSim;
  let c: LinstorClient;
  const exchanges: SimExchange[] = [];
  const host = (n: string, p: string) => join(root, "hosts", n, p);
  const errors = (rcs: { ret_code: RetCode }[]) =>
    rcs.filter((e) => rcClass(e.ret_code) === "error").map((e) => rcCode(e.ret_code));

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-sim-migrate-" });
    sim = await startLinstorSim({
      nodes: ["eagle", "rabbit", "owl", "lark"],
      pools: [],
      stateDir: join(root, "linstor"),
      hostsRoot: join(root, "hosts"),
      record: (ex) => exchanges.push(ex),
    });
    c = new LinstorClient({ controllers: sim.url, timeoutMs: 10_000 });
    for (const n of ["eagle", "rabbit", "owl", "lark"]) {
      const r = await c.request("POST", `/v1/nodes/${n}/storage-pools`, {
        body: {
          storage_pool_name: "fatpool",
          provider_kind: "LVM",
          props: { "StorDriver/StorPoolName": LEGACY.vg },
        },
      });
      assert.equal(r.status, 201);
    }
    await makeLegacyHost(join(root, "hosts", "eagle"));
    await makeLegacyHost(join(root, "hosts", "rabbit"));
  });
  after(async () => {
    c.close();
    await sim.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  });

  it("takes port, peer slots, minor, node ids and OverrideVlmId; shows the LV's bytes", async () => {
    let r = await c.request("POST", "/v1/resource-definitions", {
      body: { resource_definition: { name: "legacy" }, drbd_port: 15500, drbd_peer_slots: 4 },
    });
    assert.equal(r.status, 201);
    r = await c.request("PUT", "/v1/resource-definitions/legacy", {
      body: { override_props: { PeerSlotsNewResource: "4" } },
    });
    assert.equal(r.status, 200);
    r = await c.request("POST", "/v1/resource-definitions/legacy/volume-definitions", {
      body: {
        volume_definition: { volume_number: 10, size_kib: LEGACY.netKiB },
        drbd_minor_number: 9100,
      },
    });
    assert.ok(r.status < 300, `VD created: ${r.status}`);
    r = await c.request("PUT", "/v1/resource-definitions/legacy/volume-definitions/10", {
      body: { override_props: { OverrideVlmId: "legacy" } },
    });
    assert.equal(r.status, 200);
    // the hand-made device still runs: nothing of LINSTOR's on the hosts yet
    assert.equal((await Deno.lstat(host("eagle", "/dev/drbd9100"))).isFile, true);
    r = await c.request("POST", "/v1/resource-definitions/legacy/resources", {
      body: [
        { resource: { node_name: "eagle", props: { StorPoolName: "fatpool" } }, drbd_node_id: 4 },
        { resource: { node_name: "rabbit", props: { StorPoolName: "fatpool" } }, drbd_node_id: 8 },
      ],
    });
    assert.equal(r.status, 201, JSON.stringify(errors(r.rcs)));

    const rd = (await c.get<{ layer_data: { type: string; data?: { port: number } }[] }[]>(
      "/v1/resource-definitions",
      { resource_definitions: ["legacy"], with_volume_definitions: true },
    ))[0];
    assert.equal(rd.layer_data.find((l) => l.type === "DRBD")?.data?.port, 15500);
    const vds = await c.get<
      {
        volume_number: number;
        size_kib: number;
        layer_data: { type: string; data?: { minor_number: number } }[];
      }[]
    >(
      "/v1/resource-definitions/legacy/volume-definitions",
    );
    assert.deepEqual(vds.map((v) => [v.volume_number, v.size_kib]), [[10, LEGACY.netKiB]]);
    assert.equal(vds[0].layer_data.find((l) => l.type === "DRBD")?.data?.minor_number, 9100);

    const all = await c.get<RscView[]>("/v1/view/resources", { resources: ["legacy"] });
    const view = all.filter((v) => !v.flags.includes("DISKLESS"));
    assert.deepEqual(view.map((v) => v.node_name).sort(), ["eagle", "rabbit"]);
    const tb = all.filter((v) => v.flags.includes("TIE_BREAKER"));
    assert.equal(tb.length, 1, "LINSTOR adds a tie-breaker on the third node");
    for (const v of view) {
      assert.equal(v.layer_object.drbd.node_id, LEGACY.nodeIds[v.node_name]);
      assert.equal(v.layer_object.drbd.peer_slots, 4);
      const sv = v.layer_object.children[0].storage.storage_volumes[0];
      assert.equal(sv.device_path, "/dev/datastore/legacy");
      // net + 204 KiB of meta data for 4 peers: exactly the 1,340 MiB LV
      assert.equal(sv.usable_size_kib, 1_372_160);
      assert.equal(v.volumes[0].device_path, "/dev/drbd9100");
      assert.equal(v.volumes[0].layer_data_list[0].data.backing_device, "/dev/datastore/legacy");
    }
    for (const n of ["eagle", "rabbit"]) {
      assert.ok(await showsKnownBytes(host(n, "/dev/drbd/by-res/legacy/10")), `${n} by-res`);
      assert.ok(await showsKnownBytes(host(n, "/dev/drbd9100")), `${n} /dev/drbd9100`);
    }
    // the tie-breaker is diskless: its device shows the replicated data too
    assert.ok(await showsKnownBytes(host(tb[0].node_name, "/dev/drbd9100")), "tie-breaker");

    const v = await loadOpenApiValidator();
    const problems = exchanges.flatMap((ex) => v.validate(ex));
    assert.deepEqual([...new Set(problems)], [], "every exchange conforms to the spec");
  });

  it("refuses a minor in use or out of range, a node id over 31, peer slots outside 1..31", async () => {
    await c.request("POST", "/v1/resource-definitions", {
      body: { resource_definition: { name: "other" } },
    });
    for (const minor of [9100, 1 << 20, -1]) {
      const r = await c.request("POST", "/v1/resource-definitions/other/volume-definitions", {
        body: { volume_definition: { size_kib: 4096 }, drbd_minor_number: minor },
      });
      assert.equal(r.status, 500, `minor ${minor}`);
      assert.deepEqual(errors(r.rcs), [207], `FAIL_INVLD_MINOR_NR for ${minor}`);
      assert.match(r.rcs[0].message, new RegExp(`minor number '${minor}' is invalid`));
    }
    assert.equal(sim.controller.rd("other")!.vds.length, 0, "no volume definition made");
    let r = await c.request("POST", "/v1/resource-definitions/other/volume-definitions", {
      body: { volume_definition: { size_kib: 4096 }, drbd_minor_number: 9101 },
    });
    assert.ok(r.status < 300);
    r = await c.request("POST", "/v1/resource-definitions/other/resources", {
      body: [{
        resource: { node_name: "lark", props: { StorPoolName: "fatpool" } },
        drbd_node_id: 32,
      }],
    });
    assert.equal(r.status, 500);
    assert.deepEqual(errors(r.rcs), [998]);
    assert.equal(sim.controller.rd("other")!.rscs.length, 0, "no resource made");
    for (const bad of ["0", "32", "four"]) {
      r = await c.request("PUT", "/v1/resource-definitions/other", {
        body: { override_props: { PeerSlotsNewResource: bad } },
      });
      assert.equal(r.status, 500, `PeerSlotsNewResource=${bad}`);
      assert.deepEqual(errors(r.rcs), [213]);
      assert.equal(r.rcs[0].message, `Invalid property(PeerSlotsNewResource) value: ${bad}`);
    }
    assert.equal(sim.controller.rd("other")!.props.PeerSlotsNewResource, undefined);
  });

  it("fixes peer slots with the definition's DRBD data: the article's order gives 7 on 1.34", async () => {
    // port first, property afterwards (the article): the layer data exists already → 7
    await c.request("POST", "/v1/resource-definitions", {
      body: { resource_definition: { name: "late" }, drbd_port: 15600 },
    });
    await c.request("PUT", "/v1/resource-definitions/late", {
      body: { override_props: { PeerSlotsNewResource: "4" } },
    });
    // no port: the layer data is made with the first resource, which reads the property → 4
    await c.request("POST", "/v1/resource-definitions", {
      body: { resource_definition: { name: "early" } },
    });
    await c.request("PUT", "/v1/resource-definitions/early", {
      body: { override_props: { PeerSlotsNewResource: "4" } },
    });
    for (const name of ["late", "early"]) {
      await c.request("POST", `/v1/resource-definitions/${name}/volume-definitions`, {
        body: { volume_definition: { size_kib: 8192 } },
      });
      const r = await c.request("POST", `/v1/resource-definitions/${name}/resources`, {
        body: [{ resource: { node_name: "lark", props: { StorPoolName: "fatpool" } } }],
      });
      assert.equal(r.status, 201);
    }
    const slots = async (name: string) =>
      (await c.get<RscView[]>("/v1/view/resources", { resources: [name] }))[0].layer_object.drbd
        .peer_slots;
    assert.equal(await slots("late"), 7);
    assert.equal(await slots("early"), 4);
    // an RD modify with drbd_peer_slots changes the definition's value for new resources
    await c.request("PUT", "/v1/resource-definitions/late", { body: { drbd_peer_slots: 3 } });
    await c.request("POST", "/v1/resource-definitions/late/resources", {
      body: [{ resource: { node_name: "eagle", props: { StorPoolName: "fatpool" } } }],
    });
    const view = await c.get<RscView[]>("/v1/view/resources", { resources: ["late"] });
    assert.equal(view.find((v) => v.node_name === "eagle")!.layer_object.drbd.peer_slots, 3);
    assert.equal(view.find((v) => v.node_name === "lark")!.layer_object.drbd.peer_slots, 7);
  });

  it("an offline satellite leaves its host alone until it comes back", async () => {
    // lark holds the LV (not running); a device some other program made must stay
    await makeLegacyHost(join(root, "hosts", "lark"), { running: false });
    await Deno.writeTextFile(host("lark", "/dev/drbd9300"), "not LINSTOR's");
    await c.request("POST", "/v1/resource-definitions", {
      body: { resource_definition: { name: "quiet" }, drbd_port: 15700, drbd_peer_slots: 4 },
    });
    await c.request("POST", "/v1/resource-definitions/quiet/volume-definitions", {
      body: {
        volume_definition: { volume_number: 10, size_kib: LEGACY.netKiB },
        drbd_minor_number: 9200,
      },
    });
    await c.request("PUT", "/v1/resource-definitions/quiet/volume-definitions/10", {
      body: { override_props: { OverrideVlmId: "legacy" } },
    });
    assert.ok(sim.setNodeOnline("lark", false));
    const r = await c.request("POST", "/v1/resource-definitions/quiet/resources", {
      body: [{
        resource: { node_name: "lark", props: { StorPoolName: "fatpool" } },
        drbd_node_id: 1,
      }],
    });
    assert.equal(r.status, 201);
    await assert.rejects(Deno.lstat(host("lark", "/dev/drbd9200")), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(host("lark", "/dev/drbd/by-res/quiet")), Deno.errors.NotFound);
    assert.ok(sim.setNodeOnline("lark", true));
    assert.ok(await showsKnownBytes(host("lark", "/dev/drbd9200")));
    assert.ok(await showsKnownBytes(host("lark", "/dev/drbd/by-res/quiet/10")));
    // deleted while offline: the links go when it is back; a device LINSTOR did not make stays
    assert.ok(sim.setNodeOnline("lark", false));
    assert.equal((await c.request("DELETE", "/v1/resource-definitions/quiet")).status, 200);
    assert.ok((await Deno.lstat(host("lark", "/dev/drbd9200"))).isSymlink, "left while offline");
    assert.ok(sim.setNodeOnline("lark", true));
    await assert.rejects(Deno.lstat(host("lark", "/dev/drbd9200")), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(host("lark", "/dev/drbd/by-res/quiet")), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(host("lark", "/dev/drbd9300")), "not LINSTOR's");
  });
});

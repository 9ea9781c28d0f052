import { FIXTURES } from "../fixtures_path.ts";
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneblkError } from "../../lib/errors.ts";
import {
  decodeMethodCall,
  decodeMethodResponse,
  encodeFault,
  encodeMethodCall,
  encodeMethodResponse,
  OneClient,
  resolveOneConfig,
  safeEndpoint,
  type XmlRpcValue,
} from "../../lib/one/xmlrpc.ts";
import {
  buildDatastoreXml,
  buildDsActionXml,
  buildHostXml,
  buildImageXml,
  buildVmmActionXml,
  buildVmXml,
} from "../../tools/sim/oned/builders.ts";
import { type OnedSim, startOnedSim } from "../../tools/sim/oned/server.ts";
import { parseDsAction, parseVmmAction } from "../../lib/one/views.ts";

const FIX = `${FIXTURES}/onexml`;
const SESSION = "oneadmin:s3cr3t-pa55";

function kindIs(kind: string, re?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof OneblkError, String(e));
    assert.equal(e.kind, kind, e.message);
    if (re) assert.match(e.message, re);
    assert.ok(!e.message.includes("s3cr3t"), "no secret in message");
    assert.ok(!(e.detail ?? "").includes("s3cr3t"), "no secret in detail");
    assert.ok(!e.message.includes("\n"));
    return true;
  };
}

describe("XML-RPC codec", () => {
  it("round-trips values", async () => {
    const params: XmlRpcValue[] = [
      "a <b> & \"c\" 'd'",
      -7,
      2 ** 40,
      1.5,
      true,
      false,
      null,
      [1, ["x", []]],
      { faultCode: 3, nested: { s: "t" } },
      "",
    ];
    const call = await decodeMethodCall(encodeMethodCall("one.vm.info", params));
    assert.equal(call.method, "one.vm.info");
    assert.deepEqual(call.params, params);
    assert.deepEqual(await decodeMethodResponse(encodeMethodResponse([true, "<VM/>", 0])), {
      value: [true, "<VM/>", 0],
    });
    assert.deepEqual(await decodeMethodResponse(encodeFault(-506, "no such method")), {
      fault: { code: -506, message: "no such method" },
    });
  });
  it("decodes untyped values, <int> and base64 like other servers send them", async () => {
    const r = await decodeMethodResponse(
      `<?xml version="1.0"?><methodResponse><params><param><value><array><data>
       <value><boolean>1</boolean></value><value>plain text</value><value><int>12</int></value>
       <value><base64>aGVsbG8=</base64></value></data></array></value></param></params></methodResponse>`,
    );
    assert.deepEqual(r.value, [true, "plain text", 12, "hello"]);
  });
  it("rejects malformed responses as backend errors", async () => {
    for (
      const bad of ["", "<x/>", "<methodResponse><params/></methodResponse>", "<methodResponse>"]
    ) {
      await assert.rejects(() => decodeMethodResponse(bad), kindIs("backend"));
    }
    await assert.rejects(
      () =>
        decodeMethodResponse(
          "<methodResponse><params><param><value><i4>x</i4></value></param></params></methodResponse>",
        ),
      kindIs("backend", /integer/),
    );
  });
});

describe("OneClient against the simulated oned", () => {
  let sim: OnedSim;
  let client: OneClient;
  let home = "";
  before(async () => {
    sim = await startOnedSim({ auth: SESSION });
    sim.state.putVm(Deno.readTextFileSync(`${FIX}/vm_7_linstor_running.xml`));
    sim.state.put(Deno.readTextFileSync(`${FIX}/image_42_linstor_os.xml`));
    for (
      const f of [
        "datastore_0_system_ssh",
        "datastore_100_linstor_image",
        "datastore_110_storpool_image",
      ]
    ) {
      sim.state.putDatastore(Deno.readTextFileSync(`${FIX}/${f}.xml`));
    }
    sim.state.putHost(buildHostXml({ id: 1, name: "node1", vms: [7] }));
    sim.state.putHost(buildHostXml({ id: 2, name: "node2", state: 8 }));
    client = new OneClient({ endpoint: sim.url, session: SESSION, timeoutMs: 5000 });
    home = Deno.makeTempDirSync({ prefix: "oneblk_home_" });
  });
  after(async () => {
    await sim.stop();
    Deno.removeSync(home, { recursive: true });
  });

  it("fetches VM, datastore, image and host views", async () => {
    const vm = await client.vmInfo(7);
    assert.equal(vm.id, 7);
    assert.equal(vm.disk(0)?.source, "OpenNebula-Image-42");
    assert.equal(vm.history?.hostname, "node1");
    const ds = await client.datastoreInfo(100);
    assert.equal(ds.template.get("LINSTOR_RESOURCE_GROUP"), "OneRscGrp");
    const sp = await client.datastoreInfo(110, true);
    assert.equal(sp.template.get("SP_QOSCLASS"), "tier1");
    const img = await client.imageInfo(42);
    assert.equal(img.source, "OpenNebula-Image-42");
    const h1 = await client.hostInfo(1);
    assert.deepEqual([h1.name, h1.state, h1.vms], ["node1", 2, [7]]);
    const h2 = await client.hostInfo("node2");
    assert.deepEqual([h2.id, h2.state], [2, 8]);
    assert.equal((await client.hostPool()).length, 2);
    assert.deepEqual((await client.datastorePool()).map((d) => d.id).sort(), [0, 100, 110]);
    assert.equal(await client.systemVersion(), "7.0.0");
    const decrypt = sim.state.calls.find((c) =>
      c.method === "one.datastore.info" && c.params[0] === 110
    );
    assert.deepEqual(decrypt?.params, [110, true]);
  });

  it("maps oned failures to error kinds with oned's message", async () => {
    await assert.rejects(
      client.vmInfo(99),
      kindIs("not_found", /^oned: \[one\.vm\.info\] Error getting virtual machine \[99\]\.$/),
    );
    await assert.rejects(
      client.imageInfo(1234),
      kindIs("not_found", /Error getting image \[1234\]/),
    );
    await assert.rejects(
      client.datastoreInfo(5),
      kindIs("not_found", /Error getting datastore \[5\]/),
    );
    await assert.rejects(client.hostInfo("node9"), kindIs("not_found", /no host named "node9"/));
    sim.state.addFault({
      method: "one.vm.info",
      fail: { code: 0x8000, message: "[one.vm.info] locked" },
      count: 1,
    });
    await assert.rejects(client.vmInfo(7), kindIs("in_use", /locked/));
    assert.equal((await client.vmInfo(7)).id, 7, "fault consumed");
  });

  it("bad auth is a config error that never shows the session", async () => {
    const bad = new OneClient({
      endpoint: sim.url,
      session: "oneadmin:wrong-s3cr3t",
      timeoutMs: 5000,
    });
    await assert.rejects(bad.vmInfo(7), (e) => {
      assert.ok(e instanceof OneblkError);
      assert.equal(e.kind, "config");
      assert.match(e.message, /User couldn't be authenticated/);
      assert.ok(!e.message.includes("wrong-s3cr3t"));
      return true;
    });
  });

  it("XML-RPC faults, HTTP errors and dropped connections", async () => {
    await assert.rejects(client.call("one.nothing.here"), kindIs("backend", /XML-RPC fault -506/));
    await assert.rejects(client.call("one.vm.info", "seven"), kindIs("backend", /fault -501/));
    sim.state.addFault({ status: 503, count: 1 });
    await assert.rejects(client.vmInfo(7), kindIs("unavailable", /HTTP 503/));
    assert.equal(sim.state.faults.length, 0);
  });

  it("a peer that closes the connection without answering is unavailable", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    const peer = (async () => {
      const conn = await l.accept();
      await conn.read(new Uint8Array(65536));
      conn.close();
    })();
    const c = new OneClient({ endpoint: `http://127.0.0.1:${port}/RPC2`, session: SESSION });
    await assert.rejects(c.vmInfo(7), kindIs("unavailable", /one\.vm\.info/));
    await peer;
    l.close();
  });

  it("enforces the per-call deadline", async () => {
    const slow = new OneClient({ endpoint: sim.url, session: SESSION, timeoutMs: 150 });
    sim.state.addFault({ method: "one.vm.info", delayMs: 10_000, count: 1 });
    await assert.rejects(slow.vmInfo(7), kindIs("timeout", /did not answer within 150 ms/));
  });

  it("reports an unreachable oned without leaking credentials in the URL", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const c = new OneClient({
      endpoint: `http://u:s3cr3t@127.0.0.1:${port}/RPC2`,
      session: SESSION,
      timeoutMs: 2000,
    });
    await assert.rejects(c.vmInfo(7), kindIs("unavailable", new RegExp(`127\\.0\\.0\\.1:${port}`)));
    assert.equal(safeEndpoint(`http://u:s3cr3t@h:1/RPC2`), "http://h:1/RPC2");
  });

  it("counts requests on both sides", async () => {
    const c = new OneClient({ endpoint: sim.url, session: SESSION });
    const before = sim.state.requests;
    await c.vmInfo(7);
    await c.datastoreInfo(0);
    await assert.rejects(c.vmInfo(98));
    assert.equal(c.requests, 3);
    assert.deepEqual(c.requestsByMethod, { "one.vm.info": 2, "one.datastore.info": 1 });
    assert.equal(sim.state.requests - before, 3);
    const stats = await (await fetch(sim.url.replace("/RPC2", "/_sim/stats"))).json();
    assert.equal(stats.requests, sim.state.requests);
  });

  it("remember: asks once for a VM, a datastore and the host pool; an update or a failure asks again", async () => {
    const c = new OneClient({ endpoint: sim.url, session: SESSION, remember: true });
    const [a, b] = await Promise.all([c.vmInfo(7), c.vmInfo(7)]);
    assert.equal(a, b);
    await c.datastoreInfo(100);
    await c.datastoreInfo(100);
    await c.hostInfo("node1");
    await c.hostInfo("node2");
    assert.deepEqual(c.requestsByMethod, {
      "one.vm.info": 1,
      "one.datastore.info": 1,
      "one.hostpool.info": 1,
    });
    await c.vmUpdate(7, 'ONEBLK_SEEN = "yes"\n');
    assert.equal((await c.vmInfo(7)).userTemplate.get("ONEBLK_SEEN"), "yes");
    await assert.rejects(c.vmInfo(98));
    await assert.rejects(c.vmInfo(98));
    assert.equal(c.requestsByMethod["one.vm.info"], 4);
  });

  it("updates user and image templates", async () => {
    await client.vmUpdate(7, 'ONEBLK_NOTE = "a \\"b\\""\nV = [ X = "1" ]\n');
    const vm = await client.vmInfo(7);
    assert.equal(vm.userTemplate.get("ONEBLK_NOTE"), 'a "b"');
    assert.equal(vm.userTemplate.get("SP_QOSCLASS"), "tier1", "merge keeps other attributes");
    assert.equal(vm.userTemplate.vector("V")?.get("X"), "1");
    await client.vmUpdate(7, 'ONLY = "x"\n', false);
    assert.equal((await client.vmInfo(7)).userTemplate.get("SP_QOSCLASS"), "");
    await client.imageUpdate(42, 'MD5 = "ff00"');
    assert.equal((await client.imageInfo(42)).get("MD5"), "ff00");
    assert.equal((await client.imageInfo(42)).get("DRIVER"), "raw");
    await assert.rejects(client.imageUpdate(42, "BROKEN = ["), kindIs("backend", /syntax error/));
  });

  it("is built from ONE_AUTH / one_auth / one_endpoint", async () => {
    assert.throws(
      () => resolveOneConfig({ env: {}, home }),
      kindIs("config", /no OpenNebula credentials/),
    );
    Deno.mkdirSync(`${home}/.one`);
    Deno.writeTextFileSync(`${home}/.one/one_auth`, "no-colon\n");
    assert.throws(() => resolveOneConfig({ env: {}, home }), kindIs("config", /user:password/));
    Deno.writeTextFileSync(`${home}/.one/one_auth`, `\n${SESSION}\n`);
    const dflt = resolveOneConfig({ env: {}, home });
    assert.equal(dflt.endpoint, "http://localhost:2633/RPC2");
    Deno.writeTextFileSync(`${home}/.one/one_endpoint`, `${sim.url}\n`);
    const c = await OneClient.fromEnv({ env: {}, home, timeoutMs: 3000 });
    assert.equal(c.endpoint, sim.url);
    assert.equal((await c.vmInfo(7)).id, 7);
    const other = `${home}/other_auth`;
    Deno.writeTextFileSync(other, "oneadmin:wrong\n");
    const viaEnv = await OneClient.fromEnv({ env: { ONE_AUTH: other, ONE_XMLRPC: sim.url }, home });
    await assert.rejects(viaEnv.vmInfo(7), kindIs("config", /authenticated/));
    assert.throws(
      () => resolveOneConfig({ env: { ONE_XMLRPC: "not a url" }, home }),
      kindIs("config", /invalid oned endpoint/),
    );
  });

  it("restarts on the same port with its state", async () => {
    const url = sim.url;
    await sim.restart();
    assert.equal(sim.url, url);
    assert.equal((await client.vmInfo(7)).name, "web-7");
  });
});

describe("simulator builders", () => {
  let sim: OnedSim;
  before(async () => {
    sim = await startOnedSim();
  });
  after(() => sim.stop());

  it("produce documents the views and the client read back", async () => {
    sim.state.putVm(buildVmXml({
      id: 12,
      name: "db",
      lcmState: 52,
      contextDiskId: 3,
      disks: [
        {
          diskId: 0,
          imageId: 60,
          source: "one-ds-110/one-img-60",
          clone: true,
          type: "BLOCK",
          size: 4096,
          originalSize: 2048,
          datastoreId: 110,
          tmMad: "storpool",
          target: "vda",
        },
        {
          diskId: 1,
          type: "fs",
          fs: "ext4",
          size: 512,
          datastoreId: 101,
          tmMad: "storpool",
          format: "raw",
        },
        { diskId: 2, imageId: 61, persistent: true, source: "one-ds-110/one-img-61", attach: true },
      ],
      history: [{ hostname: "node1", dsId: 101, tmMad: "storpool" }, {
        hostname: "node2",
        dsId: 101,
        tmMad: "storpool",
      }],
      userTemplate: { SP_QOSCLASS: "gold" },
      snapshots: [{
        diskId: 0,
        snapshots: [{ id: 0, size: 10 }, { id: 1, size: 20, active: true }],
      }],
      backupConfig: { MODE: "INCREMENT", KEEP_LAST: 2 },
    }));
    sim.state.putImage(buildImageXml({
      id: 60,
      source: "one-ds-110/one-img-60",
      size: 2048,
      datastoreId: 110,
      snapshots: [{ id: 0, size: 5 }],
      template: { MD5: "x]]>y" },
    }));
    sim.state.putDatastore(buildDatastoreXml({
      id: 101,
      tmMad: "storpool",
      type: "SYSTEM",
      template: { SHARED: "YES", SP_SYSTEM: "ssh", BRIDGE_LIST: "node1,node2" },
    }));
    const c = new OneClient({ endpoint: sim.url, session: "oneadmin:opennebula" });
    const vm = await c.vmInfo(12);
    assert.equal(vm.lcmStateName, "DISK_SNAPSHOT_REVERT_POWEROFF");
    assert.equal(vm.contextDiskId, 3);
    assert.deepEqual(vm.disks.map((d) => [d.diskId, d.volatile, d.type]), [
      [0, false, "BLOCK"],
      [1, true, "FS"],
      [2, false, ""],
    ]);
    assert.equal(vm.disk(0)?.clone, true);
    assert.equal(vm.disk(0)?.originalSize, 2048);
    assert.equal(vm.disk(2)?.persistent, true);
    assert.equal(vm.disk(2)?.save, true);
    assert.equal(vm.attachedDisk?.diskId, 2);
    assert.equal(vm.prevHistory?.hostname, "node1");
    assert.equal(vm.history?.dsId, 101);
    assert.equal(vm.snapshots(0)?.active?.id, 1);
    assert.equal(vm.userTemplate.get("SP_QOSCLASS"), "gold");
    assert.equal(vm.backupConfig.int("KEEP_LAST", 0), 2);
    const img = await c.imageInfo(60);
    assert.deepEqual([img.source, img.size, img.format, img.snapshots.length], [
      "one-ds-110/one-img-60",
      2048,
      "raw",
      1,
    ]);
    assert.equal(img.get("MD5"), "x]]>y");
    const ds = await c.datastoreInfo(101);
    assert.deepEqual([ds.isSystem, ds.shared, ds.dsMad, ds.template.list("BRIDGE_LIST")], [
      true,
      true,
      "-",
      ["node1", "node2"],
    ]);
    const legacy = buildImageXml({ id: 5, datastoreId: 1, format: "qcow2", legacyFstype: true });
    sim.state.putImage(legacy);
    assert.equal((await c.imageInfo(5)).format, "qcow2");
  });

  it("build driver-action payloads", async () => {
    const ds = buildDatastoreXml({
      id: 100,
      tmMad: "linstor",
      template: { LINSTOR_RESOURCE_GROUP: "rg" },
    });
    const a = await parseDsAction(buildDsActionXml({
      image: `<?xml version="1.0"?>${buildImageXml({ id: 9, datastoreId: 100, cloningId: 4 })}`,
      datastore: ds,
      extra: { SOURCE_BRIDGE_LIST: "n1 n2" },
    }));
    assert.deepEqual([
      a.requireImage().cloningId,
      a.datastore.template.get("LINSTOR_RESOURCE_GROUP"),
      a.sourceBridgeList,
    ], [
      4,
      "rg",
      ["n1", "n2"],
    ]);
    const m = await parseVmmAction(buildVmmActionXml({
      vm: buildVmXml({ id: 3, history: [{ hostname: "node1", dsId: 0, tmMad: "ssh" }] }),
      host: "node1",
      migrHost: "node2",
      checkpointFile: "/var/lib/one//datastores/0/3/checkpoint",
      tmCommand: "MIGRATE ssh node1 node2 /var/lib/one//datastores/0/3 3 0",
    }));
    assert.deepEqual([m.vm.id, m.migrHost, m.deployId, m.tmCommand.split(" ")[0]], [
      3,
      "node2",
      "",
      "MIGRATE",
    ]);
  });

  it("accepts objects and faults through /_sim/", async () => {
    const base = sim.url.replace("/RPC2", "");
    const r = await fetch(`${base}/_sim/object`, {
      method: "POST",
      body: buildHostXml({ id: 4, name: "node4" }),
    });
    assert.deepEqual(await r.json(), { kind: "HOST", id: 4 });
    const bad = await fetch(`${base}/_sim/object`, { method: "POST", body: "<FOO/>" });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();
    const f = await fetch(`${base}/_sim/fault`, {
      method: "POST",
      body: JSON.stringify({ status: 500, count: 1 }),
    });
    await f.body?.cancel();
    const c = new OneClient({ endpoint: sim.url, session: "oneadmin:opennebula" });
    await assert.rejects(c.hostInfo(4), kindIs("unavailable", /HTTP 500/));
    assert.equal((await c.hostInfo(4)).name, "node4");
    const st = await (await fetch(`${base}/_sim/state`)).json();
    assert.ok(st.hosts["4"].includes("node4"));
    const get = await fetch(sim.url);
    assert.equal(get.status, 405);
    await get.body?.cancel();
  });
});

/**
 * The LINSTOR simulator on its own: the seed walkthrough with curl, the CLI entry point as a
 * real process, LINSTOR semantics (tie-breaker, capacity, names) and the /_sim/ controls.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import http from "node:http";
import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { rcClass, rcCode, type RetCode } from "../../lib/backend/linstor/api_call_rc.ts";
import { LinstorClient } from "../../lib/backend/linstor/client.ts";
import { parseGroup, parseNodes, parsePool } from "../../tools/sim/linstor/main.ts";
import { simulateSpace } from "../../tools/sim/linstor/placement.ts";
import { startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { loadState } from "../../tools/sim/linstor/persistence.ts";
import { type Cluster, pattern, startCluster, writeAt } from "./helpers.ts";
import { loadOpenApiValidator } from "./openapi_validator.ts";
import { needing } from "../support/tools.ts";

async function curl(...args: string[]): Promise<{ code: number; body: string }> {
  const out = await new Deno.Command("curl", {
    args: ["-s", "-w", "\n%{http_code}", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const i = text.lastIndexOf("\n");
  return { code: Number(text.slice(i + 1)), body: text.slice(0, i) };
}

describe("LINSTOR simulator", () => {
  let cl: Cluster;
  before(async () => {
    cl = await startCluster({
      pools: [{ name: "DfltStorPool", sizeGiB: 100 }, { name: "thick", sizeGiB: 10, thin: false }],
    });
  });
  after(async () => {
    await cl.close();
  });

  it(
    ...needing(
      ["curl"],
      "answers the seed walkthrough with curl: RD, VD, auto-place 2, list resources",
    ),
    async () => {
      const u = cl.sim.url;
      const j = ["-H", "Content-Type: application/json"];
      let r = await curl(
        ...j,
        "-X",
        "POST",
        `${u}/v1/resource-definitions`,
        "-d",
        '{"resource_definition":{"name":"dummy"}}',
      );
      assert.equal(r.code, 201);
      r = await curl(
        ...j,
        "-X",
        "POST",
        `${u}/v1/resource-definitions/dummy/volume-definitions`,
        "-d",
        '{"volume_definition":{"size_kib":10240}}',
      );
      assert.equal(r.code, 200, "a real controller answers 200 to a volume definition create");
      r = await curl(
        ...j,
        "-X",
        "POST",
        `${u}/v1/resource-definitions/dummy/autoplace`,
        "-d",
        '{"select_filter":{"place_count":2}}',
      );
      assert.equal(r.code, 201);
      assert.match(r.body, /successfully autoplaced on 2 nodes/);
      r = await curl(`${u}/v1/view/resources?resources=dummy`);
      assert.equal(r.code, 200);
      const list = JSON.parse(r.body) as {
        node_name: string;
        flags: string[];
        volumes: { state: { disk_state: string } }[];
      }[];
      assert.equal(list.filter((x) => x.flags.length === 0).length, 2);
      assert.ok(list.every((x) => x.volumes.length === 1));
      assert.equal(list.filter((x) => x.flags.includes("TIE_BREAKER")).length, 1);
      r = await curl("-X", "DELETE", `${u}/v1/resource-definitions/dummy`);
      assert.equal(r.code, 200);
    },
  );

  it("keeps a tie-breaker with diskless clients, converts and takes it over like LINSTOR", async () => {
    const c = new LinstorClient({ controllers: cl.sim.url });
    try {
      await c.write("POST", "/v1/resource-definitions", { resource_definition: { name: "tb-1" } });
      await c.write("POST", "/v1/resource-definitions/tb-1/volume-definitions", {
        volume_definition: { size_kib: 4096 },
      });
      await c.write("POST", "/v1/resource-definitions/tb-1/autoplace", {
        select_filter: { place_count: 2 },
      });
      const rd = () => cl.sim.controller.rd("tb-1")!;
      const tb = rd().rscs.find((r) => r.tieBreaker)!.node;
      const client = ["alpha", "bravo", "charlie", "delta"].find((n) =>
        !rd().rscs.some((r) => r.node === n)
      )!;
      await c.write("POST", `/v1/resource-definitions/tb-1/resources/${client}/make-available`, {
        diskful: false,
      });
      assert.ok(
        rd().rscs.some((r) => r.tieBreaker),
        "diskless clients do not vote: tie-breaker stays",
      );
      // make-available on the tie-breaker node turns it into a normal diskless resource
      const r1 = await c.write(
        "POST",
        `/v1/resource-definitions/tb-1/resources/${tb}/make-available`,
        {},
      );
      assert.equal(r1.rcs[0].message, "Resource already deployed as requested");
      assert.ok(!rd().rscs.some((r) => r.tieBreaker));
      // deleting it makes a tie-breaker necessary again: LINSTOR takes the resource over
      const r2 = await c.write("DELETE", `/v1/resource-definitions/tb-1/resources/${tb}`);
      assert.ok(r2.rcs.some((e) => rcCode(e.ret_code) === 10006 && rcClass(e.ret_code) === "info"));
      assert.ok(rd().rscs.find((r) => r.node === tb)?.tieBreaker);
      // a third diskful replica makes the tie-breaker unnecessary
      await c.write("POST", `/v1/resource-definitions/tb-1/resources/${client}/make-available`, {
        diskful: true,
      });
      assert.ok(!rd().rscs.some((r) => r.tieBreaker));
      assert.equal(rd().rscs.filter((r) => !r.diskless).length, 3);
      // place count below the deployed count: a warning, not an error
      const r3 = await c.write("POST", "/v1/resource-definitions/tb-1/autoplace", {
        select_filter: { place_count: 2 },
      });
      assert.equal(rcClass(r3.rcs[0].ret_code), "warning");
      // the last diskful resource cannot go while diskless resources use it
      await c.write("DELETE", "/v1/resource-definitions/tb-1");
    } finally {
      c.close();
    }
  });

  it("accounts pool space: thick by size, thin by written data; names are case-insensitive", async () => {
    const c = new LinstorClient({ controllers: cl.sim.url });
    const free = async (pool: string, node: string) =>
      (await c.get<{ free_capacity: number }[]>("/v1/view/storage-pools", {
        storage_pools: [pool],
        nodes: [node],
      }))[0]
        .free_capacity;
    try {
      const thick0 = await free("thick", "alpha");
      const thin0 = await free("DfltStorPool", "alpha");
      await c.write("POST", "/v1/resource-definitions", { resource_definition: { name: "Sp-1" } });
      await c.write("POST", "/v1/resource-definitions/sp-1/volume-definitions", {
        volume_definition: { size_kib: 65536 },
      });
      await c.write("POST", "/v1/resource-definitions/SP-1/resources", [
        { resource: { node_name: "alpha", props: { StorPoolName: "thick" } } },
      ]);
      assert.ok(thick0 - (await free("thick", "alpha")) >= 65536);
      await c.write("POST", "/v1/resource-definitions", { resource_definition: { name: "sp-2" } });
      await c.write("POST", "/v1/resource-definitions/sp-2/volume-definitions", {
        volume_definition: { size_kib: 65536 },
      });
      await c.write("POST", "/v1/resource-definitions/sp-2/resources", [
        { resource: { node_name: "alpha", props: { StorPoolName: "DfltStorPool" } } },
      ]);
      const thin1 = await free("DfltStorPool", "alpha");
      assert.ok(thin0 - thin1 < 1024, "an empty thin volume allocates only metadata");
      await writeAt(cl.hostPath("alpha", "/dev/drbd/by-res/sp-2/0"), 0, pattern(4 << 20, 9));
      assert.ok(thin1 - (await free("DfltStorPool", "alpha")) >= 4096);
      const e = await c.write("POST", "/v1/resource-definitions", {
        resource_definition: { name: "SP-2" },
      })
        .catch((x) => x);
      assert.equal(e.kind, "exists");
      const snap = await c.write("POST", "/v1/resource-definitions/sp-1/snapshots", { name: "s1" })
        .catch((x) => x);
      assert.equal(rcCode(snap.rcs[0].ret_code), 994, "thick LVM has no snapshots");
      await c.write("DELETE", "/v1/resource-definitions/sp-1");
      await c.write("DELETE", "/v1/resource-definitions/sp-2");
      assert.equal(await free("thick", "alpha"), thick0);
    } finally {
      c.close();
    }
    assert.equal(simulateSpace([100, 100, 50], 2), 100); // LINSTOR's greedy fill, not the optimum
    assert.equal(simulateSpace([100, 100, 100], 3), 100);
  });

  it(
    ...needing(
      ["curl"],
      "exposes /_sim/ controls over HTTP: in-use, faults, latency, stats, state, restart",
    ),
    async () => {
      const u = cl.sim.url;
      await cl.be.createVolume("ctl-1", 4, { placement: { group: "one_rg" } });
      const node = cl.sim.controller.rd("ctl-1")!.rscs[0].node;
      let r = await curl(
        "-X",
        "POST",
        `${u}/_sim/in-use`,
        "-d",
        JSON.stringify({ resource: "ctl-1", node, in_use: true }),
      );
      assert.equal(r.code, 200);
      assert.equal((await cl.be.attachments("ctl-1")).find((a) => a.host === node)?.inUse, true);
      r = await curl(
        "-X",
        "POST",
        `${u}/_sim/in-use`,
        "-d",
        JSON.stringify({ volume: "ctl-1", client: node, in_use: false }),
      );
      assert.equal(r.code, 200);
      r = await curl(
        "-X",
        "POST",
        `${u}/_sim/faults`,
        "-d",
        '{"method":"GET","path":"^/v1/nodes$","action":"error","times":1}',
      );
      assert.equal(r.code, 200);
      r = await curl(`${u}/v1/nodes`);
      assert.equal(r.code, 500);
      assert.match(r.body, /error_report_ids/);
      r = await curl(`${u}/v1/nodes`);
      assert.equal(r.code, 200);
      r = await curl(
        "-X",
        "POST",
        `${u}/_sim/faults`,
        "-d",
        '{"path":"^/v1/nodes$","action":"drop"}',
      );
      r = await curl(`${u}/v1/nodes`);
      assert.equal(r.code, 0, "connection dropped");
      r = await curl("-X", "DELETE", `${u}/_sim/faults`);
      r = await curl(`${u}/v1/nodes`);
      assert.equal(r.code, 200);
      r = await curl("-X", "POST", `${u}/_sim/latency`, "-d", '{"ms":1}');
      assert.equal(JSON.parse(r.body).ms, 1);
      await curl("-X", "POST", `${u}/_sim/latency`, "-d", '{"ms":0}');
      r = await curl(`${u}/_sim/stats`);
      assert.ok(JSON.parse(r.body).requests > 0);
      assert.ok(JSON.parse(r.body).by_route["GET /v1/nodes"] >= 3);
      r = await curl(`${u}/_sim/state`);
      assert.ok(JSON.parse(r.body).rds.some((x: { name: string }) => x.name === "ctl-1"));
      const restarts = async () => JSON.parse((await curl(`${u}/_sim/stats`)).body).restarts;
      const before = await restarts();
      r = await curl("-X", "POST", `${u}/_sim/restart`, "-d", "{}");
      assert.equal(r.code, 200);
      // it answers first and restarts just after: wait for the new server, or a request of
      // this test (or the next) may be cut by the restart
      const t0 = Date.now();
      while (await restarts().catch(() => before) === before) {
        assert.ok(Date.now() - t0 < 10_000, "restarted");
        await new Promise((ok) => setTimeout(ok, 10));
      }
      assert.equal((await cl.be.getVolume("ctl-1"))?.sizeMiB, 4, "state kept over the restart");
      await cl.be.deleteVolume("ctl-1");
    },
  );

  it("compresses a large JSON reply as it sends it (chunked), a small one not at all", async () => {
    const names = ["gz-1", "gz-2", "gz-3", "gz-4"];
    for (const n of names) await cl.be.createVolume(n, 4, { placement: { group: "one_rg" } });
    const get = (path: string, gzip: boolean) =>
      new Promise<{ headers: http.IncomingHttpHeaders; body: Uint8Array }>((ok, fail) => {
        const req = http.get(`${cl.sim.url}${path}`, {
          headers: { "accept-encoding": gzip ? "gzip" : "identity" },
        }, (res) => {
          const parts: Uint8Array[] = [];
          res.on("data", (c: Uint8Array) => parts.push(c));
          res.on("end", () => ok({ headers: res.headers, body: Buffer.concat(parts) }));
          res.on("error", fail);
        });
        req.on("error", fail);
      });
    try {
      const plain = await get("/v1/resource-definitions?with_volume_definitions=true", false);
      assert.ok(plain.body.length >= 1000, `${plain.body.length} bytes: a reply to compress`);
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.equal(plain.headers["content-length"], String(plain.body.length));
      const zipped = await get("/v1/resource-definitions?with_volume_definitions=true", true);
      assert.equal(zipped.headers["content-encoding"], "gzip");
      // compressed while it is sent: no length known up front
      assert.equal(zipped.headers["transfer-encoding"], "chunked");
      assert.equal(zipped.headers["content-length"], undefined);
      assert.deepEqual(gunzipSync(zipped.body), Buffer.from(plain.body));
      const small = await get("/v1/controller/version", true);
      assert.ok(small.body.length < 1000);
      assert.equal(small.headers["content-encoding"], undefined);
      assert.equal(small.headers["content-length"], String(small.body.length));
    } finally {
      for (const n of names) await cl.be.deleteVolume(n);
    }
  });

  it("keeps state in the state dir across simulator processes", async () => {
    const dir = join(cl.root, "persist");
    const a = await startLinstorSim({
      stateDir: dir,
      resourceGroups: [{ name: "g1", placeCount: 2 }],
    });
    const c = new LinstorClient({ controllers: a.url });
    try {
      await c.write("POST", "/v1/resource-groups/g1/spawn", {
        resource_definition_name: "keep-1",
        volume_sizes: [2048],
      });
      await writeAt(a.dataPath("keep-1"), 0, pattern(4096, 3));
    } finally {
      c.close();
      await a.stop();
    }
    const b = await startLinstorSim({ stateDir: dir });
    const c2 = new LinstorClient({ controllers: b.url });
    try {
      const rds = await c2.get<{ name: string; resource_group_name: string }[]>(
        "/v1/resource-definitions",
      );
      assert.deepEqual(rds.map((x) => [x.name, x.resource_group_name]), [["keep-1", "g1"]]);
      const data = await Deno.readFile(b.dataPath("keep-1"));
      assert.deepEqual(data.subarray(0, 4096), pattern(4096, 3));
    } finally {
      c2.close();
      await b.stop();
    }
  });

  it(...needing(["curl"], "runs as `oneblk sim linstor` and stops on SIGTERM"), async () => {
    assert.deepEqual(parsePool("open_image:20:thick"), {
      name: "open_image",
      sizeGiB: 20,
      thin: false,
    });
    assert.deepEqual(parseGroup("rg1:3:a,b"), {
      name: "rg1",
      placeCount: 3,
      storagePools: ["a", "b"],
    });
    assert.throws(() => parsePool("x"));
    assert.equal(parseNodes(undefined), undefined);
    assert.deepEqual(parseNodes(""), []);
    assert.deepEqual(parseNodes("n1, n2"), ["n1", "n2"]);
    assert.throws(() => parseNodes("n1,-x"), /not a list of node names/);
    const stateDir = join(cl.root, "cli-state");
    const main = new URL("../../tools/sim/linstor/main.ts", import.meta.url).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { linstorSimMain } from "${main}"; Deno.exit(await linstorSimMain(Deno.args));`,
        "--",
        "--port",
        "0",
        "--nodes",
        "n1,n2,n3",
        "--pool",
        "open_image:20",
        "--state-dir",
        stateDir,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { ONEBLK_SIM_ROOT: "" },
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      line += value;
    }
    const info = JSON.parse(line.split("\n")[0]) as { url: string; stateDir: string };
    assert.equal(info.stateDir, stateDir);
    const r = await curl(`${info.url}/v1/view/storage-pools?storage_pools=open_image`);
    assert.deepEqual(
      (JSON.parse(r.body) as { node_name: string }[]).map((p) => p.node_name),
      ["n1", "n2", "n3"],
    );
    child.kill("SIGTERM");
    const st = await child.status;
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel();
    assert.equal(st.code, 0);
  });
});

describe("`oneblk sim linstor --help` (issue 11 item 11)", () => {
  const launcher = new URL("../../scripts/oneblk", import.meta.url).pathname;
  const run = async (...args: string[]) => {
    const out = await new Deno.Command(launcher, { args, stdout: "piped", stderr: "piped" })
      .output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  };

  it("prints the simulator's own options, not the generic sim help", async () => {
    const r = await run("sim", "linstor", "--help");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: oneblk sim linstor \[options\]/);
    for (
      const opt of [
        /--port N .*default: any free port/,
        /--pool NAME:SIZE_GIB\[:thin\|thick\]/,
        /size in GiB/,
        /--group NAME\[:PLACE_COUNT\[:POOL/,
        /--tls-cert F --tls-key F/,
        /--require-client-cert/,
        /--state-dir D/,
        /--hosts-root D/,
      ]
    ) assert.match(r.stdout, opt);
    assert.match((await run("sim", "linstor", "-h")).stdout, /--group/);
    const all = await run("sim", "--help");
    assert.equal(all.code, 0);
    assert.match(all.stdout, /oneblk sim <name> --help/);
    assert.match((await run("sim", "oned", "--help")).stdout, /usage: oneblk sim oned/);
  });
});

describe("LINSTOR simulator: satellite offline", () => {
  let cl: Cluster;
  let c: LinstorClient;
  before(async () => {
    cl = await startCluster({
      resourceGroups: [{ name: "one_rg", placeCount: 2 }, { name: "rg4", placeCount: 4 }],
    });
    c = new LinstorClient({ controllers: cl.sim.url });
  });
  after(async () => {
    c?.close();
    await cl?.close();
  });

  type Rc = { ret_code: RetCode; message: string; details?: string };
  /** The error entries of a reply as `code: message`. */
  const errors = (rcs: Rc[]) =>
    rcs.filter((e) => rcClass(e.ret_code) === "error").map((e) => `${rcCode(e.ret_code)}`);
  async function control(body: unknown): Promise<{ status: number; text: string }> {
    const r = await fetch(`${cl.sim.url}/_sim/node`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  }
  async function nodesOf(rd: string): Promise<string[]> {
    const r = await c.request("GET", "/v1/view/resources", { query: { resources: [rd] } });
    return (r.data as { node_name: string; flags: string[] }[])
      .filter((x) => !x.flags.includes("DISKLESS")).map((x) => x.node_name).sort();
  }
  const spawn = (rg: string, name: string) =>
    c.request("POST", `/v1/resource-groups/${rg}/spawn`, {
      body: { resource_definition_name: name, volume_sizes: [8192] },
    });

  it("goes OFFLINE and back through /_sim/node: placement, 995/996, state, restart", async () => {
    assert.equal((await spawn("one_rg", "keep")).status, 201);
    const placed = await nodesOf("keep");
    assert.equal(placed.length, 2);
    const off = placed[1];

    assert.equal((await control({ node: "nosuch", online: false })).status, 404);
    assert.equal((await control({ node: off })).status, 400, "online is required");
    const set = await control({ node: off, online: false });
    assert.equal(set.status, 200);
    assert.deepEqual(JSON.parse(set.text), { node: off, online: false });

    // nodes and pools
    const nodes = (await c.request("GET", "/v1/nodes")).data as {
      name: string;
      connection_status: string;
    }[];
    assert.deepEqual(
      nodes.map((n) => `${n.name}:${n.connection_status}`).sort(),
      ["alpha", "bravo", "charlie", "delta"].map((n) => `${n}:${n === off ? "OFFLINE" : "ONLINE"}`),
    );
    const pools = (await c.request("GET", "/v1/view/storage-pools", {
      query: { nodes: [off], storage_pools: ["DfltStorPool"] },
    })).data as { free_capacity?: number; reports: Rc[] }[];
    assert.equal(pools.length, 1);
    assert.equal(pools[0].free_capacity, undefined, "no capacity from a disconnected node");
    assert.deepEqual(
      pools[0].reports.map((e) => `${rcClass(e.ret_code)} ${rcCode(e.ret_code)}`),
      ["warning 1002"], // WARN_NOT_CONNECTED
    );
    const size = (await c.request("POST", "/v1/resource-groups/one_rg/query-size-info", {
      body: {},
    })).data as { space_info: { next_spawn_result: { node_name: string }[] } };
    assert.equal(size.space_info.next_spawn_result.length, 2);
    assert.ok(size.space_info.next_spawn_result.every((x) => x.node_name !== off));

    // placement: never on the offline node; 996 when too few nodes remain
    assert.equal((await spawn("one_rg", "fresh")).status, 201);
    assert.ok(!(await nodesOf("fresh")).includes(off), "fresh placed on online nodes");
    let r = await spawn("rg4", "four");
    assert.equal(r.status, 500);
    assert.deepEqual(errors(r.rcs), ["996"]);
    assert.match(r.rcs[0].message, /Not enough available nodes/);
    assert.match(r.rcs[0].details ?? "", /the node is online/);
    assert.equal(cl.sim.controller.rd("four"), undefined, "nothing left by the refused spawn");
    r = await c.request("POST", "/v1/resource-definitions/fresh/autoplace", {
      body: { select_filter: { place_count: 4 } },
    });
    assert.deepEqual(errors(r.rcs), ["996"]);

    // the replica on the offline node: no state, disk state unknown; peers see it Connecting
    const view = (await c.request("GET", "/v1/view/resources", {
      query: { resources: ["keep"] },
    })).data as {
      node_name: string;
      state?: unknown;
      volumes: { state?: { disk_state?: string } }[];
      layer_object: { drbd: { connections: Record<string, { connected: boolean }> } };
    }[];
    const offR = view.find((x) => x.node_name === off)!;
    const onR = view.find((x) => x.node_name === placed[0])!;
    assert.equal(offR.state, undefined);
    assert.equal(offR.volumes[0].state, undefined);
    assert.equal(onR.volumes[0].state?.disk_state, "UpToDate");
    assert.equal(onR.layer_object.drbd.connections[off].connected, false);
    const sync = await c.request("GET", "/v1/resource-definitions/keep/sync-status");
    assert.deepEqual(sync.data, { synced_on_all: false });

    // operations that need the satellite: 995, nothing changed
    r = await c.request("PUT", "/v1/resource-definitions/keep/volume-definitions/0", {
      body: { size_kib: 16384 },
    });
    assert.equal(r.status, 500);
    assert.deepEqual(errors(r.rcs), ["995"]);
    assert.equal(cl.sim.controller.rd("keep")!.vds[0].sizeKib, 8192, "size unchanged");
    r = await c.request("POST", "/v1/resource-definitions/keep/snapshots", {
      body: { name: "s_off", nodes: [off] },
    });
    assert.deepEqual(errors(r.rcs), ["995"]);
    r = await c.request("POST", "/v1/resource-definitions/keep/snapshots", {
      body: { name: "s1" },
    });
    assert.equal(r.status, 201, "snapshot taken on the connected nodes, with a warning");
    assert.ok(
      r.rcs.some((e) => rcClass(e.ret_code) === "warning" && e.message.includes(off)),
      "warns about the offline node",
    );
    assert.deepEqual(cl.sim.controller.snap(cl.sim.controller.rd("keep")!, "s1")!.nodes, [
      placed[0],
    ]);
    r = await c.request("POST", "/v1/resource-definitions/keep/snapshot-rollback/s1", {
      body: {},
    });
    assert.equal(r.status, 500);
    assert.deepEqual(errors(r.rcs), ["995"]);
    r = await c.request("POST", "/v1/resource-definitions/keep/clone", { body: { name: "k2" } });
    assert.deepEqual(errors(r.rcs), ["995"]);
    assert.equal(cl.sim.controller.rd("k2"), undefined);
    r = await c.request("POST", `/v1/resource-definitions/fresh/resources/${off}/make-available`, {
      body: { diskful: false },
    });
    assert.deepEqual(errors(r.rcs), ["995"]);

    // persisted: the saved state (snapshot + journal) says so, and a restart keeps it
    const st = (await loadState(cl.sim.stateDir))!;
    assert.equal(st.nodes.find((n) => n.name === off)!.offline, true);
    await cl.sim.restart();
    const again = (await c.request("GET", "/v1/nodes", { query: { nodes: [off] } })).data as {
      connection_status: string;
    }[];
    assert.equal(again[0].connection_status, "OFFLINE");

    // back online (handle method): everything works again
    assert.equal(cl.sim.setNodeOnline(off, true), true);
    assert.equal(cl.sim.setNodeOnline("nosuch", true), false);
    r = await c.request("PUT", "/v1/resource-definitions/keep/volume-definitions/0", {
      body: { size_kib: 16384 },
    });
    assert.equal(r.status, 200);
    r = await c.request("POST", "/v1/resource-definitions/keep/snapshot-rollback/s1", {
      body: {},
    });
    assert.equal(r.status, 200);
    assert.equal((await spawn("rg4", "four")).status, 201);
    assert.equal((await nodesOf("four")).length, 4);
    assert.deepEqual(
      (await c.request("GET", "/v1/resource-definitions/keep/sync-status")).data,
      { synced_on_all: true },
    );

    const v = await loadOpenApiValidator();
    assert.ok(cl.exchanges.length > 20, `${cl.exchanges.length} exchanges recorded`);
    const problems = cl.exchanges.flatMap((ex) => v.validate(ex));
    assert.deepEqual([...new Set(problems)], []);
  });
});

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CODE,
  isExists,
  isInUse,
  isNotFound,
  isWarnNotFound,
  MASK_BITS_OBJ,
  MASK_CRT,
  OBJ,
  parseJsonLossless,
  rcClass,
  rcCode,
  rcObject,
} from "../../lib/backend/linstor/api_call_rc.ts";
import {
  buildQuery,
  LinstorApiError,
  LinstorClient,
  parseControllers,
} from "../../lib/backend/linstor/client.ts";
import { createLinstorBackend } from "../../lib/backend/linstor/backend.ts";
import { errorLine, OneblkError } from "../../lib/errors.ts";
import { startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { type Cluster, countCalls, deadPort, startCluster } from "./helpers.ts";
import { needing } from "../support/tools.ts";
import { ROOT } from "../support/module_graph.ts";

function kindOf(e: unknown): string {
  return e instanceof OneblkError ? e.kind : `not a OneblkError: ${e}`;
}

describe("controller list parsing", () => {
  it("accepts every LINSTOR_CONTROLLERS form", () => {
    const eps = parseControllers(
      "ctl1, ctl2:4000,http://a:1,https://b,linstor://c,linstor://d:5,linstor+ssl://e,linstor+ssl://f:6,[::1]:7",
    );
    assert.deepEqual(eps.map((e) => e.url), [
      "http://ctl1:3370",
      "http://ctl2:4000",
      "http://a:1",
      "https://b:3371",
      "http://c:3370",
      "http://d:5",
      "https://e:3371",
      "https://f:6",
      "http://[::1]:7",
    ]);
    assert.deepEqual(parseControllers("").map((e) => e.url), ["http://localhost:3370"]);
    assert.throws(() => parseControllers("ftp://x"), (e) => kindOf(e) === "config");
    assert.throws(() => parseControllers("a:99999"), (e) => kindOf(e) === "config");
    assert.throws(() => parseControllers("http://a/v1"), (e) => kindOf(e) === "config");
  });
});

describe("query strings", () => {
  it("are written as URLSearchParams writes them", () => {
    const values = [
      "OpenNebula-Image-7",
      "a b+c&d=e/f?g#h",
      "!'()*-._~",
      "Aux/oneblk/volume-number",
      "ünïcødé €",
      "lone \uD800 surrogate",
      "",
    ];
    for (const v of values) {
      const sp = new URLSearchParams();
      sp.append(v, v);
      sp.append("nodes", v);
      assert.equal(buildQuery({ [v]: v, nodes: [v] }), `?${sp}`, JSON.stringify(v));
    }
    assert.equal(buildQuery({ a: undefined, b: 5, c: [] }), "?b=5");
    assert.equal(buildQuery({}), "");
    assert.equal(buildQuery(), "");
  });
});

describe("ret_code classification (real LINSTOR values)", () => {
  // "RD already exists" = MASK_ERROR | MASK_CRT | MASK_RSC_DFN | 501 (api_call_rc.ts)
  const exists = "-4611686018406940171";
  // FAIL_NOT_FOUND_RSC_DFN (301) in a delete context: MASK_ERROR | MASK_DEL | MASK_RSC_DFN | 301
  const notFound = "-4611686018373385939";
  // FAIL_IN_USE (997) deleting a resource: MASK_ERROR | MASK_DEL | MASK_RSC | 997
  const inUse = "-4611686018373647387";

  it("tells exists / not found / in use apart, and JSON.parse would have lost the code", () => {
    const text = `[{"ret_code":${exists},"message":"a"},{"ret_code":${notFound},"message":"b"},` +
      `{"ret_code":${inUse},"message":"c"},{"ret_code":20447233,"message":"d"}]`;
    const rcs = (parseJsonLossless(text) as { ret_code: bigint }[]).map((x) => x.ret_code);
    assert.equal(rcs[0], BigInt(exists));
    assert.equal(rcCode(rcs[0]), CODE.FAIL_EXISTS_RSC_DFN);
    assert.equal(rcObject(rcs[0]), OBJ.RSC_DFN);
    assert.ok(isExists(rcs[0]) && !isNotFound(rcs[0]) && !isInUse(rcs[0]));
    assert.equal(rcCode(rcs[1]), CODE.FAIL_NOT_FOUND_RSC_DFN);
    assert.ok(isNotFound(rcs[1]) && !isExists(rcs[1]) && !isInUse(rcs[1]));
    assert.equal(rcCode(rcs[2]), CODE.FAIL_IN_USE);
    assert.ok(isInUse(rcs[2]) && !isExists(rcs[2]) && !isNotFound(rcs[2]));
    assert.equal(rcClass(rcs[3]), "success");
    assert.equal(rcCode(rcs[3]), CODE.CREATED);
    // plain JSON.parse: the type survives, the 15-bit code does not
    const lossy = (JSON.parse(text) as { ret_code: number }[]).map((x) => x.ret_code);
    assert.equal(rcClass(lossy[0]), "error");
    assert.notEqual(rcCode(lossy[0]), CODE.FAIL_EXISTS_RSC_DFN);
    assert.notEqual(rcCode(lossy[1]), CODE.FAIL_NOT_FOUND_RSC_DFN);
    assert.notEqual(rcCode(lossy[2]), CODE.FAIL_IN_USE);
    assert.ok(!isExists(lossy[0]) || rcCode(lossy[0]) !== 501);
  });

  it("classifies warnings and infos as non-errors", () => {
    const warn = BigInt.asIntN(64, 0x8000000000000000n | MASK_CRT | OBJ.RSC | 1006n);
    const info = BigInt.asIntN(64, 0x4000000000000000n | 10000n);
    assert.equal(rcClass(warn), "warning");
    assert.equal(rcClass(info), "info");
    assert.equal(rcCode(info), CODE.INFO_NO_RSC_SPAWNED);
    assert.ok(isWarnNotFound(BigInt.asIntN(64, 0x8000000000000000n | 3000n)));
  });

  it("reads the decimal text exactly as the BigInt it stands for (the driver's form)", () => {
    const types = [0n, 0x4000000000000000n, 0x8000000000000000n, 0xC000000000000000n];
    const lows = [0n, 1n, 501n, 997n, 0x7FFFn, MASK_CRT | OBJ.RSC_DFN | 501n, 0xFFFFFFFFn];
    const values: bigint[] = [2n ** 63n - 1n, 2n ** 64n - 1n, 2n ** 32n, 2n ** 32n - 1n];
    for (const t of types) {
      for (const l of lows) values.push(t | l, t | (0x3FFFFFFFn << 32n) | l);
    }
    for (const u of values) {
      for (const v of [u, BigInt.asIntN(64, u)]) {
        const text = v.toString();
        const [parsed] = parseJsonLossless(`[{"ret_code":${text}}]`, String) as {
          ret_code: string;
        }[];
        assert.equal(parsed.ret_code, text);
        assert.equal(rcClass(text), rcClass(v), text);
        assert.equal(rcCode(text), rcCode(v), text);
        assert.equal(rcObject(text), rcObject(v), text);
        // and as the masks say
        const w = BigInt.asUintN(64, v);
        const type = w >> 62n;
        assert.equal(rcClass(text), ["success", "info", "warning", "error"][Number(type)], text);
        assert.equal(BigInt(rcCode(text)), w & 0x7FFFn, text);
        assert.equal(rcObject(text), w & MASK_BITS_OBJ, text);
      }
    }
    // not a 64-bit integer: never a success
    for (const bad of ["", "x", "1.5", "18446744073709551616", "-9223372036854775809", "1e3"]) {
      assert.equal(rcClass(bad), "error", JSON.stringify(bad));
    }
    assert.equal(rcClass("-9223372036854775808"), "warning");
  });
});

describe("LINSTOR client against the simulator", () => {
  let cl: Cluster;
  before(async () => {
    cl = await startCluster();
  });
  after(async () => {
    await cl.close();
  });

  it("computes with no BigInt and builds no URLSearchParams (first uses cost the runtime's code)", async () => {
    // A process of its own with both globals poisoned runs the client against the simulator: a
    // create, the same create refused (exists), a listing with a repeated, encoded filter, a
    // delete of a missing definition (a warning). lib/backend/linstor/api_call_rc.ts says why.
    const dir = await Deno.makeTempDir({ prefix: "oneblk-client-" });
    try {
      const script = join(dir, "poisoned.ts");
      const client = new URL("../../lib/backend/linstor/client.ts", import.meta.url).href;
      const rc = new URL("../../lib/backend/linstor/api_call_rc.ts", import.meta.url).href;
      await Deno.writeTextFile(
        script,
        `
globalThis.BigInt = function () { throw new Error("BigInt called"); } as unknown as BigIntConstructor;
globalThis.URLSearchParams = class { constructor() { throw new Error("URLSearchParams called"); } } as unknown as typeof URLSearchParams;
const { LinstorClient, LinstorApiError } = await import(${JSON.stringify(client)});
const { rcClass, rcCode } = await import(${JSON.stringify(rc)});
const c = new LinstorClient({ controllers: ${JSON.stringify(cl.sim.url)} });
const out: unknown[] = [];
const made = await c.write("POST", "/v1/resource-definitions", { resource_definition: { name: "poison-1" } });
out.push(made.rcs.map((r: { ret_code: unknown }) => [typeof r.ret_code, rcClass(r.ret_code), rcCode(r.ret_code)]));
const again = await c.write("POST", "/v1/resource-definitions", { resource_definition: { name: "poison-1" } }).catch((e: unknown) => e);
out.push(again instanceof LinstorApiError ? [again.kind, again.status] : String(again));
const list = await c.request("GET", "/v1/resource-definitions", { query: { resource_definitions: ["poison-1", "no such (x)~"] } });
out.push([list.status, (list.data as { name: string }[]).map((d) => d.name)]);
const gone = await c.write("DELETE", "/v1/resource-definitions/poison-none");
out.push(gone.rcs.map((r: { ret_code: unknown }) => [rcClass(r.ret_code), rcCode(r.ret_code)]));
await c.write("DELETE", "/v1/resource-definitions/poison-1");
console.log(JSON.stringify(out));
`,
      );
      const o = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", "--config", join(ROOT, "deno.json"), script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(o.stderr);
      assert.equal(o.code, 0, err);
      assert.deepEqual(JSON.parse(new TextDecoder().decode(o.stdout)), [
        [["string", "success", CODE.CREATED]],
        ["exists", 500],
        [200, ["poison-1"]],
        [["warning", CODE.WARN_NOT_FOUND]],
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  it("maps real replies: exists, not found, in use (with error text)", async () => {
    const c = new LinstorClient({ controllers: cl.sim.url });
    try {
      await c.write("POST", "/v1/resource-definitions", { resource_definition: { name: "cls-1" } });
      const e1 = await c.write("POST", "/v1/resource-definitions", {
        resource_definition: { name: "cls-1" },
      }).catch((e) => e);
      assert.ok(e1 instanceof LinstorApiError && e1.kind === "exists" && e1.status === 500);
      assert.ok(
        e1.rcs.some((r) => rcCode(r.ret_code) === 501 && rcObject(r.ret_code) === OBJ.RSC_DFN),
      );
      assert.match(e1.message, /already exists/);
      const raw = await c.request("POST", "/v1/resource-definitions", {
        body: { resource_definition: { name: "cls-1" } },
      });
      assert.equal(raw.rcs[0].ret_code, "-4611686018406940171", "the exact decimal text");
      const e2 = await c.write("POST", "/v1/resource-definitions/none/snapshots", { name: "s1" })
        .catch((e) => e);
      assert.ok(e2 instanceof LinstorApiError && e2.kind === "not_found" && e2.status === 404);
      await c.write("POST", "/v1/resource-definitions/cls-1/volume-definitions", {
        volume_definition: { size_kib: 4096 },
      });
      await c.write("POST", "/v1/resource-definitions/cls-1/autoplace", {
        select_filter: { place_count: 2 },
      });
      const node = cl.sim.controller.rd("cls-1")!.rscs[0].node;
      cl.sim.setInUse("cls-1", node, true);
      const e3 = await c.write("DELETE", `/v1/resource-definitions/cls-1/resources/${node}`)
        .catch((e) => e);
      assert.ok(e3 instanceof LinstorApiError && e3.kind === "in_use" && e3.status === 500);
      assert.match(e3.message, /still in use.*correction: Un-mount/);
      cl.sim.setInUse("cls-1", node, false);
      // a shrink is refused by LINSTOR (grow-only)
      const e4 = await c.write("PUT", "/v1/resource-definitions/cls-1/volume-definitions/0", {
        size_kib: 1024,
      }).catch((e) => e);
      assert.ok(
        e4 instanceof LinstorApiError && rcCode(e4.rcs[0].ret_code) === CODE.FAIL_INVLD_VLM_SIZE,
      );
      // a delete of a missing RD answers a WARN_NOT_FOUND with HTTP 200
      const r = await c.write("DELETE", "/v1/resource-definitions/none");
      assert.equal(r.status, 200);
      assert.ok(isWarnNotFound(r.rcs[0].ret_code));
      await c.write("DELETE", "/v1/resource-definitions/cls-1");
      // unknown request fields are rejected like Jackson does
      const e5 = await c.write("POST", "/v1/resource-definitions", {
        resource_definition: { name: "cls-2", bogus: 1 },
      }).catch((e) => e);
      assert.ok(e5 instanceof LinstorApiError && e5.status === 400);
    } finally {
      c.close();
    }
  });

  it("a 500 on a read is retried", async () => {
    cl.sim.addFault({
      method: "GET",
      path: "^/v1/resource-definitions$",
      action: "error",
      times: 1,
    });
    const before = cl.sim.byRoute["GET /v1/resource-definitions"] ?? 0;
    assert.equal(await cl.be.getVolume("nothing-here"), null);
    assert.equal((cl.sim.byRoute["GET /v1/resource-definitions"] ?? 0) - before, 2);
  });

  it("a dropped connection on a read is retried", async () => {
    cl.sim.addFault({ method: "GET", path: "^/v1/view/resources$", action: "drop", times: 1 });
    const before = cl.sim.byRoute["GET /v1/view/resources"] ?? 0;
    assert.deepEqual(await cl.be.attachments("nothing-here"), []);
    assert.equal((cl.sim.byRoute["GET /v1/view/resources"] ?? 0) - before, 2);
  });

  it("a dropped connection on a write is not retried (the change was applied)", async () => {
    await cl.be.createVolume("drop-1", 4, { placement: { group: "one_rg" } });
    cl.sim.addFault({ method: "POST", path: "/snapshots$", action: "drop", times: 1 });
    const route = "POST /v1/resource-definitions/{r}/snapshots";
    const before = cl.sim.byRoute[route] ?? 0;
    const c = new LinstorClient({ controllers: cl.sim.url });
    try {
      await assert.rejects(
        c.write("POST", "/v1/resource-definitions/drop-1/snapshots", { name: "s1" }),
        (e) => kindOf(e) === "unavailable" && /not retried/.test((e as Error).message),
      );
    } finally {
      c.close();
    }
    assert.equal((cl.sim.byRoute[route] ?? 0) - before, 1, "sent exactly once");
    assert.deepEqual((await cl.be.listSnapshots("drop-1")).map((s) => s.name), ["s1"]);
    // The backend resolves the same unknown outcome by reading: taken, so success.
    cl.sim.addFault({ method: "POST", path: "/snapshots$", action: "drop", times: 1 });
    await cl.be.createSnapshot("drop-1", "s2");
    assert.equal((cl.sim.byRoute[route] ?? 0) - before, 2, "still sent once each");
    await cl.be.createSnapshot("drop-1", "s1"); // the caller's retry is idempotent
    await cl.be.deleteVolume("drop-1");
  });

  it("a 500 on a write is not retried and carries the error report id", async () => {
    cl.sim.addFault({
      method: "PUT",
      path: "^/v1/resource-definitions/[^/]+$",
      action: "error",
      times: 1,
    });
    await cl.be.createVolume("w500", 4, { placement: { group: "one_rg" } });
    const before = countCalls(cl.exchanges, "PUT", /^\/v1\/resource-definitions\/w500$/);
    await assert.rejects(
      cl.be.setProps("w500", { A: "1" }),
      (e) => {
        assert.equal(kindOf(e), "backend");
        assert.match((e as OneblkError).detail ?? "", /error reports SIM-/);
        // item 10: the id is printed once in the error line
        const id = /SIM-[\w-]+/.exec((e as OneblkError).detail!)![0];
        assert.equal(errorLine(e).split(id).length - 1, 1, errorLine(e));
        return true;
      },
    );
    assert.equal(countCalls(cl.exchanges, "PUT", /^\/v1\/resource-definitions\/w500$/) - before, 1);
    await cl.be.deleteVolume("w500");
  });

  it("a reply slower than the deadline is a timeout", async () => {
    const be = createLinstorBackend({ controllers: cl.sim.url, timeoutMs: 200 });
    try {
      cl.sim.addFault({
        method: "GET",
        path: "^/v1/view/resources$",
        action: "delay",
        delayMs: 1500,
        times: 1,
      });
      await assert.rejects(be.attachments("slow"), (e) => kindOf(e) === "timeout");
    } finally {
      await be.close();
    }
  });

  it("sends the bearer token", async () => {
    const be = createLinstorBackend({ controllers: cl.sim.url, token: "t0ken" });
    try {
      const before = cl.exchanges.length;
      await be.getVolume("x");
      assert.equal(cl.exchanges.slice(before)[0].headers.authorization, "Bearer t0ken");
    } finally {
      await be.close();
    }
  });

  it("fails over to the next controller when the first is down, and remembers it", async () => {
    const dead = deadPort();
    const controllers = `linstor://127.0.0.1:${dead},${cl.sim.url}`;
    const be = createLinstorBackend({ controllers });
    const c2 = new LinstorClient({ controllers });
    try {
      assert.equal(await be.getVolume("x"), null);
      await be.createVolume("fo-1", 4, { placement: { group: "one_rg" } });
      assert.equal(c2.currentUrl, cl.sim.url, "a new client of this process starts with it");
      await be.deleteVolume("fo-1");
    } finally {
      await be.close();
      c2.close();
    }
    const none = createLinstorBackend({ controllers: `127.0.0.1:${deadPort()}`, timeoutMs: 2000 });
    try {
      await assert.rejects(
        none.getVolume("x"),
        (e) => kindOf(e) === "unavailable" && /Connection refused/.test((e as Error).message),
      );
    } finally {
      await none.close();
    }
  });

  it("survives a controller restart with state kept", async () => {
    await cl.be.createVolume("rst-1", 4, { placement: { group: "one_rg" } });
    await cl.sim.restart();
    assert.equal((await cl.be.getVolume("rst-1"))?.sizeMiB, 4);
    await cl.be.deleteVolume("rst-1");
  });

  it("waits out a controller that refuses connections for seconds, for reads and writes", async () => {
    const restarted = cl.sim.restart(2_500);
    // Both calls start while the controller is down: nothing reaches it until it is back.
    const created = cl.be.createVolume("rst-2", 4, { placement: { group: "one_rg" } });
    const read = cl.be.getVolume("rst-2-missing");
    assert.equal(await created, true);
    assert.equal(await read, null);
    await restarted;
    assert.equal((await cl.be.getVolume("rst-2"))?.sizeMiB, 4);
    await cl.be.deleteVolume("rst-2");
  });
});

describe(...needing(["openssl"], "LINSTOR client over TLS with a client certificate"), () => {
  let dir = "";
  const run = async (args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    })
      .output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
    }
  };
  before(async () => {
    dir = await Deno.makeTempDir({ prefix: "oneblk-linstor-tls-" });
    await run([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=oneblk-test-ca",
    ]);
    await Deno.writeTextFile(
      join(dir, "srv.ext"),
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    );
    await Deno.writeTextFile(join(dir, "cli.ext"), "extendedKeyUsage=clientAuth\n");
    for (const [n, cn] of [["srv", "localhost"], ["cli", "oneblk"]]) {
      await run([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${n}.key`,
        "-out",
        `${n}.csr`,
        "-subj",
        `/CN=${cn}`,
      ]);
      await run([
        "x509",
        "-req",
        "-in",
        `${n}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${n}.crt`,
        "-days",
        "2",
        "-extfile",
        `${n}.ext`,
      ]);
    }
  });
  after(async () => {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  });

  it("verifies the controller with the CA and authenticates with the client certificate", async () => {
    const read = (f: string) => Deno.readTextFile(join(dir, f));
    const sim = await startLinstorSim({
      tls: {
        cert: await read("srv.crt"),
        key: await read("srv.key"),
        ca: await read("ca.crt"),
        requireClientCert: true,
      },
    });
    const ctl = `linstor+ssl://127.0.0.1:${sim.port}`;
    const ok = createLinstorBackend({
      controllers: ctl,
      caFile: join(dir, "ca.crt"),
      certFile: join(dir, "cli.crt"),
      keyFile: join(dir, "cli.key"),
    });
    const noCert = createLinstorBackend({ controllers: ctl, caFile: join(dir, "ca.crt") });
    const noCa = createLinstorBackend({ controllers: ctl });
    try {
      assert.equal(
        await ok.createVolume("tls-1", 4, { placement: { group: "" } }),
        true,
      );
      assert.equal((await ok.getVolume("tls-1"))?.sizeMiB, 4);
      await assert.rejects(noCert.getVolume("tls-1"), (e) => kindOf(e) === "unavailable");
      await assert.rejects(
        noCa.getVolume("tls-1"),
        (e) => kindOf(e) === "unavailable" && /certificate/i.test((e as Error).message),
      );
      assert.throws(
        () => createLinstorBackend({ controllers: ctl, certFile: join(dir, "cli.crt") }),
        (e) => kindOf(e) === "config",
      );
      assert.throws(
        () => createLinstorBackend({ controllers: ctl, caFile: join(dir, "missing.crt") }),
        (e) => kindOf(e) === "config",
      );
    } finally {
      await ok.close();
      await noCert.close();
      await noCa.close();
      await sim.stop();
    }
  });

  it("item 10: a self-signed CA:TRUE certificate as the CA file: what is wrong, what to do", async () => {
    await run([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "selfca.key",
      "-out",
      "selfca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
    ]);
    const read = (f: string) => Deno.readTextFile(join(dir, f));
    const sim = await startLinstorSim({
      tls: { cert: await read("selfca.crt"), key: await read("selfca.key") },
    });
    const be = createLinstorBackend({
      controllers: `linstor+ssl://127.0.0.1:${sim.port}`,
      caFile: join(dir, "selfca.crt"),
      timeoutMs: 5_000,
    });
    try {
      await assert.rejects(be.getVolume("x"), (e) => {
        const line = errorLine(e);
        assert.equal(kindOf(e), "unavailable", line);
        assert.match(line, /CA certificate \(CA:TRUE\)/);
        assert.match(line, /CA:FALSE.*signed by that CA/);
        assert.equal(line.split("CA:TRUE").length - 1, 1, `said once: ${line}`);
        return true;
      });
    } finally {
      await be.close();
      await sim.stop();
    }
  });
});

describe("LINSTOR client: listings read element by element (getItems)", () => {
  const rds = Array.from({ length: 400 }, (_, i) => ({
    name: `rd-${i}`,
    props: { "Aux/one/VM_ID": String(i) },
    volume_definitions: [{ volume_number: 0, size_kib: 1024 * i }],
  }));
  const text = JSON.stringify(rds);

  /** A controller whose first `cuts` replies stop halfway through the body. */
  function controller(cuts: number) {
    let calls = 0;
    const srv = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
      const cut = calls++ < cuts;
      const bytes = new TextEncoder().encode(text);
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(bytes.slice(0, bytes.length >> 1));
          if (cut) c.error(new Error("connection lost"));
          else {
            c.enqueue(bytes.slice(bytes.length >> 1));
            c.close();
          }
        },
      });
      return new Response(body, { headers: { "content-type": "application/json" } });
    });
    return { srv, calls: () => calls };
  }

  it("keeps what pick returns; a reply cut off is read again, each element kept once", async () => {
    const ctl = controller(1);
    const c = new LinstorClient({
      controllers: `http://127.0.0.1:${ctl.srv.addr.port}`,
      retryDelayMs: 1,
    });
    try {
      const got = await c.getItems<typeof rds[number], string>(
        "/v1/resource-definitions",
        undefined,
        (rd) => rd.volume_definitions[0].size_kib % 2048 ? undefined : rd.name,
      );
      assert.equal(ctl.calls(), 2, "read again after the cut");
      assert.deepEqual(got, rds.filter((_, i) => i % 2 === 0).map((rd) => rd.name));
      assert.ok(c.stats.bytes >= text.length, `${c.stats.bytes} bytes read`);
    } finally {
      c.close();
      await ctl.srv.shutdown();
    }
  });

  it("a failure of pick is the caller's: thrown as is, not read again", async () => {
    const ctl = controller(0);
    const c = new LinstorClient({ controllers: `http://127.0.0.1:${ctl.srv.addr.port}` });
    try {
      await assert.rejects(
        c.getItems("/v1/resource-definitions", undefined, () => {
          throw new RangeError("mine");
        }),
        RangeError,
      );
      assert.equal(ctl.calls(), 1);
    } finally {
      c.close();
      await ctl.srv.shutdown();
    }
  });
});

/**
 * The fault proxy (tools/faults/proxy.ts) against a small counting HTTP server: each mode does
 * to the k-th request what it promises, and only to that one; polling GETs count once.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { FaultProxy } from "../../tools/faults/proxy.ts";

describe("fault proxy", () => {
  /** Requests the upstream applied, as `METHOD path`. */
  const applied: string[] = [];
  let upstream: Deno.HttpServer<Deno.NetAddr>;
  let proxy: FaultProxy;

  before(async () => {
    upstream = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
      const body = await req.text();
      applied.push(`${req.method} ${new URL(req.url).pathname}${body ? ` ${body}` : ""}`);
      return Response.json({ ok: true, auth: req.headers.get("authorization") });
    });
    proxy = await FaultProxy.start({
      upstream: `http://127.0.0.1:${upstream.addr.port}`,
      errorReply: () => ({ status: 500, body: '{"error":"injected"}' }),
      stallMs: 300,
    });
  });
  after(async () => {
    await proxy.stop();
    await upstream.shutdown();
  });

  /** One request through the proxy on a fresh connection: status and body, or the error. */
  async function send(method: string, path: string, body?: string) {
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    try {
      const r = await fetch(proxy.url + path, {
        method,
        body,
        client,
        headers: { authorization: "Bearer t" },
      });
      return { status: r.status, body: await r.text() };
    } catch (e) {
      const cause = (e as Error).cause as Error | undefined;
      return { error: `${(e as Error).message}: ${cause?.message ?? ""}` };
    } finally {
      client.close();
    }
  }

  it("relays requests unchanged and counts them from arm()", async () => {
    applied.length = 0;
    await send("GET", "/before");
    proxy.arm();
    const r = await send("POST", "/v1/a", '{"x":1}');
    assert.equal(r.status, 200);
    assert.match(r.body!, /"auth":"Bearer t"/);
    await send("GET", "/v1/b");
    const log = proxy.disarm();
    assert.deepEqual(log.map((x) => `${x.n} ${x.method} ${x.path} ${x.outcome}`), [
      "1 POST /v1/a 200",
      "2 GET /v1/b 200",
    ]);
    assert.deepEqual(applied, ["GET /before", 'POST /v1/a {"x":1}', "GET /v1/b"]);
  });

  it("counts a repeated GET (polling) once", async () => {
    proxy.arm({ k: 3, mode: "error" });
    await send("GET", "/poll");
    await send("GET", "/poll");
    await send("GET", "/poll");
    await send("POST", "/next");
    const r = await send("GET", "/last");
    const log = proxy.disarm();
    assert.deepEqual(log.map((x) => `${x.n} ${x.path} x${x.times}`), [
      "1 /poll x3",
      "2 /next x1",
      "3 /last x1",
    ]);
    assert.equal(r.status, 500, "k = 3 is the request after the polls");
  });

  it("error: HTTP 500 with the store's body, not forwarded; other requests pass", async () => {
    applied.length = 0;
    proxy.arm({ k: 2, mode: "error" });
    const a = await send("POST", "/one");
    const b = await send("POST", "/two");
    const c = await send("POST", "/three");
    proxy.disarm();
    assert.equal(a.status, 200);
    assert.deepEqual(b, { status: 500, body: '{"error":"injected"}' });
    assert.equal(c.status, 200);
    assert.deepEqual(applied, ["POST /one", "POST /three"]);
  });

  it("reset: no reply and nothing applied", async () => {
    applied.length = 0;
    proxy.arm({ k: 1, mode: "reset" });
    const r = await send("POST", "/reset");
    proxy.disarm();
    assert.ok(r.error, "the client sees a broken connection");
    assert.deepEqual(applied, []);
  });

  it("lost: applied, but the reply never arrives", async () => {
    applied.length = 0;
    proxy.arm({ k: 1, mode: "lost" });
    const r = await send("POST", "/lost", "{}");
    const log = proxy.disarm();
    assert.ok(r.error);
    assert.deepEqual(applied, ["POST /lost {}"]);
    assert.equal(log[0].outcome, "lost");
  });

  it("stall: held, then applied (also when the client gave up); settled() waits for it", async () => {
    applied.length = 0;
    proxy.arm({ k: 1, mode: "stall" });
    const t0 = performance.now();
    const r = await send("POST", "/slow");
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t0 >= 290, "held for stallMs");
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    proxy.arm({ k: 1, mode: "stall" });
    const gaveUp = await fetch(proxy.url + "/late", {
      method: "POST",
      client,
      signal: AbortSignal.timeout(50),
    }).then(() => "answered", (e) => (e as Error).name);
    client.close();
    assert.equal(gaveUp, "TimeoutError");
    assert.deepEqual(applied, ["POST /slow"], "not applied yet");
    await proxy.settled();
    proxy.disarm();
    assert.deepEqual(applied, ["POST /slow", "POST /late"], "applied late");
  });

  it("gone: every later connection is refused until revive()", async () => {
    applied.length = 0;
    proxy.arm({ k: 2, mode: "gone" });
    assert.equal((await send("GET", "/a")).status, 200);
    const dead = await send("POST", "/b");
    assert.ok(dead.error);
    assert.equal(proxy.down, true);
    const refused = await send("GET", "/c");
    assert.match(refused.error ?? "", /refused/i);
    proxy.disarm();
    await proxy.revive();
    assert.equal((await send("GET", "/d")).status, 200);
    assert.deepEqual(applied, ["GET /a", "GET /d"]);
  });

  it("onHit sees the k-th request before it is forwarded, also without a fault mode", async () => {
    applied.length = 0;
    const seen: string[] = [];
    proxy.arm({ k: 2, onHit: (r) => seen.push(`${r.method} ${r.path} ${applied.length}`) });
    await send("POST", "/x");
    const r = await send("POST", "/y");
    proxy.disarm();
    assert.equal(r.status, 200);
    assert.deepEqual(seen, ["POST /y 1"]);
  });
});

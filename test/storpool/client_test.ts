/**
 * The StorPool API client over real HTTP: error model, token secrecy, retries (reads and
 * transient errors only), deadlines, dropped connections, simulator restarts, counting.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { StorpoolApiError, StorpoolClient } from "../../lib/backend/storpool/client.ts";
import { OneblkError } from "../../lib/errors.ts";
import type { SimStats } from "../../tools/sim/storpool/server.ts";
import { PLACEMENT, type SpEnv, startEnv } from "./helpers.ts";

describe("storpool client", () => {
  let env: SpEnv;
  let client: StorpoolClient;
  const stats = async () => (await env.control("stats")) as SimStats;
  before(async () => {
    env = await startEnv();
    client = new StorpoolClient(
      { host: "127.0.0.1", port: env.sim.port, token: env.sim.token },
      { retryDelayMs: 5, timeoutMs: 5000 },
    );
  });
  after(async () => {
    client.close();
    await env.close();
  });

  it("success envelope: data of GETs, {ok:true} of changes", async () => {
    const ok = await client.volumeCreate({
      name: "c-1",
      size: 1024 * 1024,
      template: "one-ds-100",
    });
    assert.equal(ok.ok, true);
    assert.equal(typeof ok.generation, "number");
    const [v] = await client.volume("c-1");
    assert.equal(v.name, "c-1");
    assert.equal(v.templateName, "one-ds-100");
    assert.ok(Array.isArray(await client.volumesList()));
  });

  it("error envelope: name, descr, transient, mapped kind; no token in any message", async () => {
    await assert.rejects(client.volume("nope"), (e) => {
      assert.ok(e instanceof StorpoolApiError);
      assert.equal(e.kind, "not_found");
      assert.equal(e.apiName, "objectDoesNotExist");
      assert.equal(e.transient, false);
      assert.equal(e.method, "Volume");
      assert.match(e.message, /nope/);
      assert.ok(!e.message.includes(env.sim.token));
      return true;
    });
    await assert.rejects(
      client.volumeCreate({ name: "c-1", size: 1024 * 1024 }),
      (e) => e instanceof OneblkError && e.kind === "exists",
    );
  });

  it("a wrong token is a config error that shows neither token", async () => {
    const wrong = "wrong" + env.sim.token.slice(5);
    const bad = new StorpoolClient(
      { host: "127.0.0.1", port: env.sim.port, token: wrong },
      { retryDelayMs: 5 },
    );
    try {
      await assert.rejects(bad.volumesList(), (e) => {
        assert.ok(e instanceof OneblkError);
        assert.equal(e.kind, "config");
        assert.ok(!e.message.includes(wrong) && !e.message.includes(env.sim.token));
        assert.ok(!String(e.stack).includes(wrong));
        return true;
      });
      assert.equal(bad.stats.requests, 1, "not retried");
    } finally {
      bad.close();
    }
  });

  it("the token never shows even when the API echoes it", async () => {
    env.sim.addFault({ method: "VolumesList", status: 500, errorName: env.sim.token, times: 1 });
    const c = new StorpoolClient(
      { host: "127.0.0.1", port: env.sim.port, token: env.sim.token },
      { retries: 0 },
    );
    try {
      await assert.rejects(c.volumesList(), (e) => {
        assert.ok(e instanceof OneblkError);
        assert.ok(!e.message.includes(env.sim.token), e.message);
        assert.match(e.message, /\*\*\*/);
        return true;
      });
    } finally {
      c.close();
      env.sim.clearFaults();
    }
  });

  it("reads are retried after a 500; changes are not (unless transient)", async () => {
    await env.control("stats/reset", {});
    await env.control("fault", { method: "VolumesList", status: 500, times: 2 });
    const before = client.stats.requests;
    await client.volumesList();
    assert.equal(client.stats.requests - before, 3);
    assert.equal((await stats()).byMethod.VolumesList, 3);

    await env.control("fault", { method: "VolumeUpdate", status: 500, times: 1 });
    const b2 = client.stats.requests;
    await assert.rejects(
      client.volumeUpdate("c-1", { tags: { a: "1" } }),
      (e) => e instanceof OneblkError && e.kind === "unavailable",
    );
    assert.equal(client.stats.requests - b2, 1, "a change is never blindly repeated");
    assert.equal((await client.volume("c-1"))[0].tags?.a, undefined);

    await env.control("fault", { method: "VolumeUpdate", status: 500, transient: true, times: 2 });
    const b3 = client.stats.requests;
    await client.volumeUpdate("c-1", { tags: { a: "2" } });
    assert.equal(client.stats.requests - b3, 3, "transient errors are retried");
    assert.equal((await client.volume("c-1"))[0].tags?.a, "2");
  });

  it("gives up after the retry budget with kind unavailable", async () => {
    await env.control("fault", { method: "SnapshotsList", status: 503 });
    const before = client.stats.requests;
    await assert.rejects(
      client.snapshotsList(),
      (e) => e instanceof OneblkError && e.kind === "unavailable",
    );
    assert.equal(client.stats.requests - before, 5, "1 + 4 retries");
    await env.control("fault", undefined, "DELETE");
    assert.deepEqual(await env.control("fault"), []);
  });

  it("a dropped connection is retried for reads, reported for changes", async () => {
    env.sim.addFault({ method: "AttachmentsList", drop: true, times: 1 });
    assert.ok(Array.isArray(await client.attachmentsList()));
    env.sim.addFault({ method: "VolumeUpdate", drop: true, times: 1 });
    await assert.rejects(
      client.volumeUpdate("c-1", { tags: { b: "1" } }),
      (e) => e instanceof OneblkError && e.kind === "unavailable" && /dropped/.test(e.message),
    );
  });

  it("no answer within the deadline is kind timeout", async () => {
    const slow = new StorpoolClient(
      { host: "127.0.0.1", port: env.sim.port, token: env.sim.token },
      { timeoutMs: 150, retryDelayMs: 5 },
    );
    env.sim.addFault({ method: "VolumeTemplatesStatus", delayMs: 2000, times: 1 });
    try {
      await assert.rejects(slow.templatesStatus(), (e) => {
        assert.ok(e instanceof OneblkError);
        assert.equal(e.kind, "timeout");
        assert.match(e.message, /VolumeTemplatesStatus/);
        assert.ok(!e.message.includes(env.sim.token));
        return true;
      });
    } finally {
      slow.close();
      env.sim.clearFaults();
    }
  });

  it("simulator restart keeps state; reads ride over a short outage", async () => {
    const patient = new StorpoolClient(
      { host: "127.0.0.1", port: env.sim.port, token: env.sim.token },
      { retryDelayMs: 50 },
    );
    try {
      await env.control("restart", { downMs: 150 });
      await new Promise((r) => setTimeout(r, 30));
      const before = patient.stats.requests;
      const [v] = await patient.volume("c-1");
      assert.equal(v.tags?.a, "2");
      assert.ok(patient.stats.requests - before >= 2, "refused at least once");
      await env.sim.restart();
      assert.equal((await client.volume("c-1"))[0].name, "c-1");
    } finally {
      patient.close();
    }
  });

  it("connection refused is kind unavailable, retried even for changes", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const c = new StorpoolClient({ host: "127.0.0.1", port, token: "x" }, {
      retries: 2,
      retryDelayMs: 5,
    });
    try {
      await assert.rejects(c.volumesList(), (e) => {
        assert.ok(e instanceof OneblkError);
        assert.equal(e.kind, "unavailable");
        assert.match(e.message, /refused/i);
        return true;
      });
      assert.equal(c.stats.requests, 3);
      // The same client (one action) found the API unreachable: one more try, no retries.
      await assert.rejects(c.volumesList(), /refused/i);
      assert.equal(c.stats.requests, 4, "after an outage, no more retries in this action");
    } finally {
      c.close();
    }
    const w = new StorpoolClient({ host: "127.0.0.1", port, token: "x" }, {
      retries: 2,
      retryDelayMs: 5,
    });
    try {
      await assert.rejects(
        w.volumeDelete("v"),
        (e) => e instanceof OneblkError && e.kind === "unavailable",
      );
      assert.equal(w.stats.requests, 3, "nothing was sent, so a change is retried too");
    } finally {
      w.close();
    }
  });

  it("the backend counts exactly the requests the simulator sees", async () => {
    await env.control("stats/reset", {});
    const b = env.backendWith({});
    await b.createVolume("c-2", 4, { placement: PLACEMENT });
    await b.attach("c-2", "alpha");
    await b.listSnapshots("c-2");
    await b.detach("c-2", "alpha");
    assert.equal(b.stats.requests, 4);
    assert.equal((await stats()).requests, 4);
  });
});

/**
 * The StorPool API client over real HTTP: error model, token secrecy, retries (reads and
 * transient errors only), deadlines, dropped connections, simulator restarts, counting.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type ReassignDesc,
  StorpoolApiError,
  StorpoolClient,
} from "../../lib/backend/storpool/client.ts";
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

/**
 * Listings asked side by side share one request, and a caller always sees its own changes:
 * against a scripted API whose replies the test releases, so that the order of events is
 * exact (issue 15).
 */
describe("storpool client: shared listings", () => {
  /** A gate the test opens. */
  const gate = () => {
    let open!: () => void;
    const p = new Promise<void>((r) => (open = r));
    return { p, open };
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  let client: StorpoolClient;
  const attached: { volume: string; snapshot: boolean; client: number; rights: string }[] = [];
  const seen: string[] = [];
  /** Held replies by method; a request arriving resolves `arrived`. */
  let hold: Record<string, { p: Promise<void> } | undefined> = {};
  const arrived: Record<string, () => void> = {};
  const reply = (data: unknown) => Response.json({ generation: 1, data });
  before(() => {
    server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
      const method = new URL(req.url).pathname.split("/")[3];
      seen.push(method);
      const body = req.method === "POST" ? await req.json() : undefined;
      const snap = structuredClone(attached); // the state the request is served from
      arrived[method]?.();
      await hold[method]?.p;
      if (method === "VolumesReassignWait") {
        const it = body.reassign[0];
        if (it.volume === "missing") {
          return Response.json({
            error: { name: "objectDoesNotExist", descr: "Volume missing does not exist" },
          }, { status: 404 });
        }
        attached.push({ volume: it.volume, snapshot: false, client: it.rw[0], rights: "rw" });
        return reply({ ok: true });
      }
      if (method === "AttachmentsList") return reply(snap);
      if (method === "SnapshotsList") return reply([]);
      return Response.json({ error: { name: "invalidParam", descr: method } }, { status: 400 });
    });
    client = new StorpoolClient(
      { host: "127.0.0.1", port: server.addr.port, token: "t0ken" },
      { retryDelayMs: 5, timeoutMs: 5000 },
    );
  });
  after(async () => {
    client.close();
    await server.shutdown();
  });
  const arrival = (method: string) => new Promise<void>((r) => (arrived[method] = r));
  const count = (method: string) => seen.filter((m) => m === method).length;

  it("listings asked while one is on its way share it; each caller gets its own copy", async () => {
    seen.length = 0;
    const [a, b, c] = await Promise.all([
      client.snapshotsList(),
      client.snapshotsList(),
      client.snapshotsList(),
    ]);
    assert.equal(count("SnapshotsList"), 1);
    assert.notEqual(a, b);
    assert.deepEqual([a, b, c], [[], [], []]);
  });

  it("a change under way when a listing was sent and ended since: the next caller gets a new one", async () => {
    seen.length = 0;
    attached.length = 0;
    const w = gate(), l = gate();
    hold = { VolumesReassignWait: w, AttachmentsList: l };
    // the change is on its way (held by the API)
    const change = client.volumesReassignWait([{ volume: "v1", rw: [2] }]);
    // a listing is sent (and served from the state before the change), its reply held
    const got = arrival("AttachmentsList");
    const early = client.attachmentsList();
    await got;
    // the change ends, then its caller lists: it must see its change
    w.open();
    await change;
    const mine = client.attachmentsList();
    l.open();
    assert.deepEqual((await early).map((a) => a.volume), []);
    assert.deepEqual((await mine).map((a) => a.volume), ["v1"], "read after own write");
    assert.equal(count("AttachmentsList"), 2);
    hold = {};
  });

  it("a change under way that the API refused (its one object is missing) changed nothing: shared", async () => {
    /** A refused change on its way when the first listing is sent; the second asked after. */
    const refusedThenList = async (items: ReassignDesc[]) => {
      seen.length = 0;
      const w = gate(), l = gate();
      hold = { VolumesReassignWait: w, SnapshotsList: l };
      const wArrived = arrival("VolumesReassignWait");
      const change = client.volumesReassignWait(items);
      await wArrived;
      const got = arrival("SnapshotsList");
      const first = client.snapshotsList();
      await got;
      w.open();
      await assert.rejects(change, (e) => e instanceof OneblkError && e.kind === "not_found");
      const second = client.snapshotsList();
      l.open();
      await Promise.all([first, second]);
      hold = {};
      return count("SnapshotsList");
    };
    assert.equal(await refusedThenList([{ volume: "missing", detach: "all" }]), 1);
    // a refusal of several entries at once is not known to have changed nothing
    assert.equal(
      await refusedThenList([
        { volume: "missing", detach: "all" },
        { volume: "missing", detach: "all" },
      ]),
      2,
    );
  });
});

/**
 * The LINSTOR simulator's error reports: an error report id a reply gives names a report that
 * GET /v1/error-reports lists and shows, and PATCH / DELETE remove, with the controller's
 * filters (tools/sim/linstor/error_reports.ts) — what `linstor error-reports list/show/delete`
 * ask.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { parseJsonLossless, rcClass, rcCode } from "../../lib/backend/linstor/api_call_rc.ts";
import { type Exchange, loadOpenApiValidator } from "./openapi_validator.ts";

const DAY = 86_400_000;

describe("LINSTOR simulator: error reports", () => {
  let sim: LinstorSim;
  const exchanges: Exchange[] = [];
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"], record: (ex) => exchanges.push(ex) });
  });
  after(async () => {
    await sim.stop();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(sim.url + path, {
      method,
      headers: { "content-type": "application/json", "user-agent": "ReportTest/1.0" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await r.text();
    // deno-lint-ignore no-explicit-any
    return { status: r.status, data: (text ? parseJsonLossless(text) : null) as any };
  };
  /** A request the controller refuses with an error report (a body it cannot bind). */
  const provoke = async (): Promise<string> => {
    const r = await call("POST", "/v1/resource-definitions", { bogus: 1 });
    assert.equal(r.status, 400);
    const ids = r.data[0].error_report_ids;
    assert.equal(ids.length, 1);
    return ids[0];
  };
  const idOf = (rep: { filename: string }) => rep.filename.replace(/^ErrorReport-|\.log$/g, "");

  it("lists and shows the report behind an id a reply gave", async () => {
    const id = await provoke();
    const list = await call("GET", "/v1/error-reports?withContent=False");
    assert.equal(list.status, 200);
    const rep = list.data.find((x: { filename: string }) => idOf(x) === id);
    assert.ok(rep, `report ${id} listed`);
    assert.equal(rep.module, "CONTROLLER");
    assert.equal(rep.exception, "ApiRcException");
    assert.equal(rep.exception_message, "Unable to parse input json.");
    assert.equal(rep.peer.includes("ReportTest/1.0"), true, rep.peer);
    assert.equal(rep.text, undefined, "the list leaves the text out unless asked");
    assert.ok(Math.abs(rep.error_time - Date.now()) < 60_000);
    const shown = await call("GET", `/v1/error-reports/${id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.data.length, 1);
    assert.match(shown.data[0].text, /Unable to parse input json\./);
    assert.match(shown.data[0].text, /POST \/v1\/resource-definitions/);
    const bare = await call("GET", `/v1/error-reports/${id}?withContent=false`);
    assert.equal(bare.data[0].text, undefined);
    assert.deepEqual((await call("GET", "/v1/error-reports/SIM-nope")).data, []);
  });

  it("filters as the controller does: node, days, limit", async () => {
    const a = await provoke();
    const b = await provoke();
    const ids = async (q: string) =>
      ((await call("GET", `/v1/error-reports${q}`)).data as { filename: string }[]).map(idOf);
    // the controller's reports only: a satellite has none here
    assert.deepEqual(await ids("?node=bravo"), []);
    assert.ok((await ids("?node=controller")).includes(a));
    // by day: since now is since the start of today; to now is up to the start of today
    const now = Date.now();
    assert.ok((await ids(`?since=${now}`)).includes(b));
    assert.deepEqual(await ids(`?since=${now + DAY}`), []);
    assert.deepEqual(await ids(`?to=${now}`), []);
    assert.ok((await ids(`?to=${now + DAY}`)).includes(a));
    // the newest `limit`, in time order
    const all = await ids("");
    assert.deepEqual(await ids("?limit=2"), all.slice(-2));
    assert.deepEqual(await ids("?limit=0"), []);
    assert.equal((await call("GET", "/v1/error-reports?since=yesterday")).status, 404);
  });

  it("deletes by filter, never without one", async () => {
    const a = await provoke();
    const b = await provoke();
    const none = await call("PATCH", "/v1/error-reports", {});
    assert.equal(none.status, 200);
    assert.equal(none.data[0].message, "No error reports deleted.");
    assert.equal(rcClass(BigInt(none.data[0].ret_code)), "info");
    assert.equal(rcCode(BigInt(none.data[0].ret_code)), 10007);
    const one = await call("PATCH", "/v1/error-reports", { ids: [a] });
    assert.equal(one.status, 200);
    assert.equal(one.data[0].message, "Deleted 1 error-report(s)");
    assert.equal(BigInt(one.data[0].ret_code), 2n);
    const left = (await call("GET", "/v1/error-reports")).data.map(idOf);
    assert.ok(!left.includes(a) && left.includes(b));
    // on a satellite: nothing of the controller's goes
    const sat = await call("PATCH", "/v1/error-reports", { nodes: ["alpha"], ids: [b] });
    assert.equal(sat.data[0].message, "No error reports deleted.");
    const del = await call("DELETE", `/v1/error-reports/${b}`);
    assert.equal(del.status, 200);
    assert.equal(del.data[0].message, "Deleted 1 error-report(s)");
    assert.equal(
      (await call("DELETE", `/v1/error-reports/${b}`)).data[0].message,
      "No error reports deleted.",
    );
    // everything before tomorrow
    await provoke();
    const range = await call("PATCH", "/v1/error-reports", { to: Date.now() + DAY });
    assert.match(range.data[0].message, /^Deleted \d+ error-report\(s\)$/);
    assert.deepEqual((await call("GET", "/v1/error-reports")).data, []);
    // a body the controller cannot bind: its parse error (an asynchronous handler: 500)
    const bad = await call("PATCH", "/v1/error-reports", { idz: ["x"] });
    assert.equal(bad.status, 500);
    assert.equal(bad.data[0].message, "Unable to parse input json.");
  });

  it("answers every exchange above in the shapes the OpenAPI file gives", async () => {
    const v = await loadOpenApiValidator();
    // (not the requests made wrong on purpose, nor LINBIT's client's "withContent=False",
    // which the controller reads as a Java boolean and the spec file does not allow)
    const valid = exchanges.filter((ex) =>
      ex.status < 400 && !/withContent=False/.test(ex.query.toString())
    );
    const mine = valid.filter((ex) => ex.path.startsWith("/v1/error-reports"));
    assert.ok(mine.length > 10, `${mine.length} exchanges recorded`);
    assert.deepEqual([...new Set(valid.flatMap((ex) => v.validate(ex)))], []);
  });
});

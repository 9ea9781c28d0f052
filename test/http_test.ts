/** lib/http.ts: how far a failed request got, the retry rule, the failure text, the deadline. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Deadline,
  mayRetry,
  Outage,
  OUTAGE_GRACE_MS,
  secretHeaderValue,
  shortTransportError,
  transportErrorText,
  transportFailure,
} from "../lib/http.ts";
import { errorLine, OneblkError } from "../lib/errors.ts";
import { LinstorClient } from "../lib/backend/linstor/client.ts";

function fetchError(cause: string): Error {
  return new TypeError("error sending request for url (http://u:pw@10.0.0.1:3370/v1/x)", {
    cause: new Error(cause),
  });
}

describe("shared HTTP rules", () => {
  it("tells a connection never made from one lost after sending", async () => {
    assert.equal(
      transportFailure(fetchError("client error (Connect): tcp connect error: Connection refused")),
      "refused",
    );
    assert.equal(
      transportFailure(fetchError("dns error: failed to lookup address")),
      "unreachable",
    );
    assert.equal(
      transportFailure(new Error("tcp connect error: no answer within 2000 ms")),
      "unreachable",
    );
    assert.equal(
      transportFailure(fetchError("connection closed before message completed")),
      "lost",
    );
    // a real refused connection, as Deno reports it
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const e = await fetch(`http://127.0.0.1:${port}/`).catch((x) => x);
    assert.equal(transportFailure(e), "refused");
  });

  it("repeats reads after any failure, writes only when nothing was sent", () => {
    for (const f of ["refused", "unreachable"] as const) {
      assert.equal(mayRetry("read", f), true);
      assert.equal(mayRetry("write", f), true);
    }
    assert.equal(mayRetry("read", "lost"), true);
    assert.equal(mayRetry("write", "lost"), false);
    assert.equal(mayRetry("read", "5xx"), true);
    assert.equal(mayRetry("write", "5xx"), false);
  });

  it("describes a failure on one line without the request URL", () => {
    const e = fetchError("client error (Connect): tcp connect error: Connection refused\n(os 111)");
    const t = transportErrorText(e);
    assert.ok(!t.includes("pw@") && !t.includes("\n"), t);
    assert.match(t, /Connection refused/);
    assert.equal(shortTransportError(e), "tcp connect error: Connection refused");
    // The runtime's newer wording names the local address and the URL outside parentheses.
    const newer = new TypeError(
      "error sending request from 127.0.0.1:48890 for http://u:pw@10.0.0.1:81/ctrl/1.0/X " +
        "(10.0.0.1:81): client error (SendRequest): connection closed before message completed",
    );
    const n = transportErrorText(newer);
    assert.equal(n, "client error (SendRequest): connection closed before message completed");
  });

  it("a deadline ends waits early and reports the time left", async () => {
    const d = new Deadline(50);
    assert.ok(d.remaining() > 0 && !d.expired);
    const t0 = Date.now();
    await d.sleep(5_000);
    assert.ok(Date.now() - t0 < 1_000 && d.expired && d.remaining() === 0);
    d.clear();
  });

  it("item 7: a token with a line break is refused unseen; tokens never show in errors", () => {
    for (const bad of ["Sekr1t-A\nX-Evil: 1", "Sekr1t-A\r\nSekr1t-B", "Sekr1t-A\u0000B"]) {
      assert.throws(() => secretHeaderValue(bad, "LINSTOR_TOKEN"), (e) => {
        assert.ok(e instanceof OneblkError && e.kind === "config");
        assert.doesNotMatch(errorLine(e), /Sekr1t|X-Evil/);
        return true;
      });
      assert.throws(() => new LinstorClient({ controllers: "127.0.0.1", token: bad }), (e) => {
        assert.doesNotMatch(errorLine(e), /Sekr1t|X-Evil/);
        assert.match(errorLine(e), /LINSTOR_TOKEN contains a line break/);
        return true;
      });
    }
    // surrounding blanks (a token file's newline) are not part of the token
    assert.equal(secretHeaderValue(" t0k3n-ok\n", "T", (t) => `Bearer ${t}`), "Bearer t0k3n-ok");
    // once registered, a secret is scrubbed from any error, whatever path it took
    assert.doesNotMatch(errorLine(new OneblkError("backend", "echo t0k3n-ok back")), /t0k3n-ok/);
    assert.doesNotMatch(errorLine(new Error("Invalid header value: Bearer t0k3n-ok")), /t0k3n-ok/);
    assert.doesNotMatch(transportErrorText(new Error("x t0k3n-ok y")), /t0k3n-ok/);
  });

  it("item 6: an outage lets later calls try for a short grace, then fail at once", () => {
    const o = new Outage();
    assert.equal(o.check(), null);
    o.record("tcp connect error: Connection refused");
    o.record("a later cause is not kept");
    const c = o.check()!;
    assert.equal(c.text, "tcp connect error: Connection refused");
    assert.ok(c.leftMs > 0 && c.leftMs <= OUTAGE_GRACE_MS);
    o.clear();
    assert.equal(o.check(), null);
  });

  it("item 10: a refused server certificate says what is wrong and what to do", () => {
    const e = fetchError(
      "client error (Connect): invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
    );
    assert.match(
      shortTransportError(e),
      /^invalid peer certificate \(Other: CaUsedAsEndEntity\): the server presents a CA certificate \(CA:TRUE\)/,
    );
    assert.match(
      shortTransportError(fetchError("invalid peer certificate: UnknownIssuer")),
      /not signed by a CA of the CA file/,
    );
  });
});

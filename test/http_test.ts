/** lib/http.ts: how far a failed request got, the retry rule, the failure text, the deadline. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  Deadline,
  mayRetry,
  shortTransportError,
  transportErrorText,
  transportFailure,
} from "../lib/http.ts";

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
  });

  it("a deadline ends waits early and reports the time left", async () => {
    const d = new Deadline(50);
    assert.ok(d.remaining() > 0 && !d.expired);
    const t0 = Date.now();
    await d.sleep(5_000);
    assert.ok(Date.now() - t0 < 1_000 && d.expired && d.remaining() === 0);
    d.clear();
  });
});

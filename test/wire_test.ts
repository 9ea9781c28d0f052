/**
 * lib/wire.ts: HTTP/1.1 on the runtime's sockets. Against scripted TCP servers (exact bytes,
 * connections counted, closed at will) and Deno.serve (a real HTTP server: chunked replies,
 * gzip, keep-alive).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { requestsSent, WireClient, WireError } from "../lib/wire.ts";
import { transportErrorText, transportFailure } from "../lib/http.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** One request as a scripted server read it. */
interface Seen {
  head: string;
  body: string;
}

/** Read one request (head, and a body of its content-length) from `conn`; null at its end. */
async function readRequest(conn: Deno.Conn, pending: { buf: Uint8Array }): Promise<Seen | null> {
  const chunk = new Uint8Array(65536);
  const more = async () => {
    const n = await conn.read(chunk).catch(() => null);
    if (n === null) return false;
    const b = new Uint8Array(pending.buf.length + n);
    b.set(pending.buf);
    b.set(chunk.subarray(0, n), pending.buf.length);
    pending.buf = b;
    return true;
  };
  for (;;) {
    // bytes as latin1 characters: one character per byte
    const text = String.fromCharCode(...pending.buf);
    const at = text.indexOf("\r\n\r\n");
    if (at >= 0) {
      const head = text.slice(0, at);
      const len = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
      while (pending.buf.length < at + 4 + len) if (!await more()) return null;
      const body = dec.decode(pending.buf.subarray(at + 4, at + 4 + len));
      pending.buf = pending.buf.slice(at + 4 + len);
      return { head, body };
    }
    if (!await more()) return null;
  }
}

/**
 * A TCP server running `script` on each connection (its index from 0) with a reader of its
 * requests; every request seen is recorded with its connection index.
 */
function scripted(
  script: (
    conn: Deno.Conn,
    next: () => Promise<Seen | null>,
    index: number,
  ) => Promise<void>,
) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: { conn: number; req: Seen }[] = [];
  const open: Deno.Conn[] = [];
  let conns = 0;
  const loop = (async () => {
    for await (const conn of listener) {
      const index = conns++;
      open.push(conn);
      const pending = { buf: new Uint8Array(0) };
      const next = async () => {
        const req = await readRequest(conn, pending);
        if (req) seen.push({ conn: index, req });
        return req;
      };
      script(conn, next, index).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch {
          // closed by the script
        }
      });
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    get connections() {
      return conns;
    },
    async close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch {
          // closed already
        }
      }
      await loop;
    },
  };
}

/** A reply with a Content-Length body. */
function reply(body: string, status = "200 OK", extra = ""): Uint8Array {
  return enc.encode(
    `HTTP/1.1 ${status}\r\ncontent-length: ${enc.encode(body).length}\r\n${extra}\r\n${body}`,
  );
}

/** Answer every request on the connection with `answer(req)`. */
function answering(answer: (req: Seen) => Uint8Array) {
  return async (conn: Deno.Conn, next: () => Promise<Seen | null>) => {
    for (let req = await next(); req; req = await next()) await conn.write(answer(req));
  };
}

describe("wire: HTTP/1.1 on sockets", () => {
  it("frames replies by content-length, chunked coding (extensions, trailers) and the close", async () => {
    const srv = scripted(async (conn, next) => {
      for (let req = await next(); req; req = await next()) {
        const path = req.head.split(" ")[1];
        if (path === "/len") await conn.write(reply("héllo"));
        if (path === "/chunked") {
          await conn.write(enc.encode(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" +
              "4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nx-trailer: t\r\n\r\n",
          ));
        }
        if (path === "/interim") {
          await conn.write(enc.encode("HTTP/1.1 100 Continue\r\n\r\n"));
          await conn.write(reply("after", "202 Accepted"));
        }
        if (path === "/empty") await conn.write(enc.encode("HTTP/1.1 204 No Content\r\n\r\n"));
        if (path === "/close") {
          await conn.write(enc.encode("HTTP/1.0 200 OK\r\n\r\nuntil the end"));
          return;
        }
      }
    });
    const c = new WireClient();
    try {
      const get = async (p: string) => {
        const r = await c.request(srv.url + p, { reuse: true });
        return `${r.status} ${await r.text()}`;
      };
      assert.equal(await get("/len"), "200 héllo");
      assert.equal(await get("/chunked"), "200 abcdefg");
      assert.equal(await get("/interim"), "202 after");
      assert.equal(await get("/empty"), "204 ");
      assert.equal(await get("/close"), "200 until the end");
      // everything up to the close-delimited reply went over one kept connection
      assert.deepEqual(srv.seen.map((s) => s.conn), [0, 0, 0, 0, 0]);
      assert.equal(await get("/len"), "200 héllo");
      assert.equal(srv.connections, 2);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("writes the request: target, host, body length, codings, own headers; refuses bad ones unseen", async () => {
    const srv = scripted(answering(() => reply("ok")));
    const c = new WireClient();
    try {
      await (await c.request(`${srv.url}/a/b?x=1&y=%20`, {
        method: "POST",
        headers: { "X-Token": "t1", "content-type": "application/json", "Host": "evil" },
        body: '{"k":"é"}',
      })).text();
      await (await c.request(srv.url, { method: "POST", gzip: true })).text();
      const [a, b] = srv.seen.map((s) => s.req);
      const lines = a.head.split("\r\n");
      assert.equal(lines[0], "POST /a/b?x=1&y=%20 HTTP/1.1");
      assert.ok(lines.includes(`host: ${new URL(srv.url).host}`), a.head);
      assert.ok(!/host: evil/i.test(a.head), "the Host header is the URL's");
      assert.ok(lines.includes("x-token: t1"));
      assert.ok(lines.includes("content-length: 10"), a.head);
      assert.ok(lines.includes("accept-encoding: identity"));
      assert.equal(a.body, '{"k":"é"}');
      // a POST without a body says so; gzip asked for
      assert.match(b.head, /^POST \/ HTTP\/1\.1\r\n/);
      assert.match(b.head, /\r\ncontent-length: 0(\r\n|$)/);
      assert.match(b.head, /\r\naccept-encoding: gzip(\r\n|$)/);
      await assert.rejects(
        c.request(srv.url, { headers: { authorization: "Bearer secret\r\nx-evil: 1" } }),
        (e) => e instanceof TypeError && !String(e).includes("secret"),
      );
      await assert.rejects(c.request("ftp://127.0.0.1/"), TypeError);
      await assert.rejects(
        c.request("http://user:pw@127.0.0.1/"),
        (e) => !String(e).includes("pw"),
      );
      assert.equal(srv.seen.length, 2);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("sends the target the URL parser gives, whether or not the URL needed it", async () => {
    const srv = scripted(answering(() => reply("ok")));
    const c = new WireClient();
    const host = new URL(srv.url).host;
    const tails = [
      // plain: sent as written (a long name filter among them)
      "/v1/view/resources?" + Array.from({ length: 130 }, (_, i) => `resources=r-${i}`).join("&"),
      "/a/b.c/~d?x=1&y=%20&z=a+b&w=(1)*!$,;:@",
      // the parser changes these: spaces, quotes, non-ASCII, dot segments, a fragment, no path
      "/a b/c?d e",
      "/a/\"q\"?'s'<>",
      "/é/ü?漢=字",
      "/a/./b/../c?x=/../y",
      "/a/..",
      "/x?y#frag",
      "?only=query",
      "",
      "\\back\\slash",
    ];
    try {
      for (const t of tails) {
        await (await c.request(`${srv.url}${t}`, { reuse: true })).text();
        await (await c.request(`HTTP://${host}${t}`, { reuse: true })).text();
      }
      const want = tails.flatMap((t) => {
        const u = new URL(`${srv.url}${t}`);
        return [u.pathname + u.search, u.pathname + u.search];
      });
      assert.deepEqual(srv.seen.map((s) => s.req.head.split(" ")[1]), want);
      assert.ok(srv.seen.every((s) => s.req.head.includes(`\r\nhost: ${host}\r\n`)));
      await assert.rejects(
        c.request(`http://user:pw@${host}/v1/nodes`),
        (e) => e instanceof TypeError && !String(e).includes("pw"),
      );
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("reads reuse kept connections; a change goes only on a connection that carried none", async () => {
    const srv = scripted(answering(() => reply("ok")));
    const c = new WireClient();
    try {
      const send = async (method: string) =>
        await (await c.request(srv.url, { method, reuse: method === "GET" })).text();
      await c.connect(srv.url); // connection 0, never used: a change may take it
      await send("POST");
      await send("GET"); // reads may take a connection that carried a request
      await send("GET");
      await send("POST"); // connection 0 carried requests: a new one
      await send("GET");
      assert.deepEqual(
        srv.seen.map((s) => `${s.req.head.split(" ")[0]}@${s.conn}`),
        ["POST@0", "GET@0", "GET@0", "POST@1", "GET@1"],
      );
      assert.equal(srv.connections, 2);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("a connection opened more than a second ago, never used, carries reads but no change", async () => {
    const srv = scripted(answering(() => reply("ok")));
    const c = new WireClient();
    try {
      await c.connect(srv.url); // connection 0
      await new Promise((r) => setTimeout(r, 1_100));
      await (await c.request(srv.url, { method: "POST" })).text(); // a new one: 1
      await (await c.request(srv.url, { reuse: true })).text(); // a read: a kept one
      assert.equal(srv.connections, 2);
      assert.deepEqual(srv.seen.map((s) => s.conn), [1, 1]);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("a kept connection the server closed: a read is sent once more on a new one", async () => {
    // each connection answers one request, then closes; the client does not know it yet
    const srv = scripted(async (conn, next) => {
      if (await next()) await conn.write(reply("one"));
    });
    const c = new WireClient();
    try {
      const texts: string[] = [];
      // three connections kept at once, all closed by the server after their reply
      texts.push(
        ...await Promise.all(
          [1, 2, 3].map(async () => await (await c.request(srv.url, { reuse: true })).text()),
        ),
      );
      await new Promise((r) => setTimeout(r, 20));
      texts.push(await (await c.request(srv.url, { reuse: true })).text());
      assert.deepEqual(texts, ["one", "one", "one", "one"]);
      // one failed send on a kept connection, then a new connection (not the other kept ones)
      assert.equal(srv.connections, 4);
      assert.equal(srv.seen.length, 4);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("a reply cut off, or not HTTP, is a lost request; nothing listening is refused", async () => {
    const srv = scripted(async (conn, next) => {
      const req = await next();
      const path = req?.head.split(" ")[1];
      if (path === "/short") {
        await conn.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this"));
      }
      if (path === "/chunk-cut") {
        await conn.write(
          enc.encode("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n9\r\nabc"),
        );
      }
      if (path === "/head-cut") await conn.write(enc.encode("HTTP/1.1 200 OK\r\ncontent-le"));
      if (path === "/garbage") await conn.write(enc.encode("SSH-2.0-OpenSSH\r\n\r\n"));
      if (path === "/bad-size") {
        await conn.write(enc.encode("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"));
      }
    });
    const c = new WireClient();
    try {
      for (const p of ["/short", "/chunk-cut", "/head-cut", "/garbage", "/bad-size"]) {
        await assert.rejects(
          (async () => await (await c.request(srv.url + p, { method: "POST" })).text())(),
          (e) => e instanceof WireError && e.failure === "lost" && transportFailure(e) === "lost",
          p,
        );
      }
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      await assert.rejects(
        c.request(`http://127.0.0.1:${port}/`, { method: "POST" }),
        (e) => e instanceof WireError && e.failure === "refused" && /refused/i.test(e.message),
      );
      await assert.rejects(
        c.request("http://no-such-host.invalid/"),
        (e) => e instanceof WireError && e.failure === "unreachable",
      );
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("a deadline ends the wait for a silent server and closes the connection", async () => {
    let serverSawEnd = false;
    const srv = scripted(async (conn, next) => {
      await next(); // read the request, never answer
      serverSawEnd = (await conn.read(new Uint8Array(16)).catch(() => null)) === null;
    });
    const c = new WireClient();
    try {
      const started = performance.now();
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(new DOMException("time is up", "TimeoutError")), 150);
      await assert.rejects(
        c.request(srv.url, { signal: ac.signal }),
        (e) => e instanceof DOMException && e.name === "TimeoutError",
      );
      clearTimeout(t);
      assert.ok(performance.now() - started < 2_000);
      await new Promise((r) => setTimeout(r, 50));
      assert.ok(serverSawEnd, "the client closed the connection");
      // an already aborted signal sends nothing
      await assert.rejects(c.request(srv.url, { signal: AbortSignal.abort() }));
      assert.equal(srv.seen.length, 1);
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("requestsSent: resolves once the requests under way are written, before their replies", async () => {
    let answer = () => {};
    const answered = new Promise<void>((r) => answer = r);
    const srv = scripted(async (conn, next) => {
      await next();
      await answered; // the reply waits until the test lets it go
      await conn.write(reply("ok"));
    });
    const c = new WireClient();
    try {
      await requestsSent(1000); // nothing under way: at once
      const reqs = [0, 1].map(() => c.request(srv.url).then((r) => r.text()));
      const t0 = performance.now();
      await requestsSent(5000);
      // written, and no reply yet (the server holds it back): it waited for the writes only
      assert.ok(performance.now() - t0 < 2000, "not at its limit");
      answer();
      assert.deepEqual(await Promise.all(reqs), ["ok", "ok"]);
      // a request that fails before it is written counts as done with
      const refused = new WireClient();
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      const failed = refused.request(`http://127.0.0.1:${port}/`).catch((e) => e);
      await requestsSent(5000);
      assert.ok((await failed) instanceof WireError);
      refused.close();
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("requestsSent gives up waiting after its limit", async () => {
    // a server that accepts but never reads: a body larger than the socket buffers stays unsent
    const srv = scripted(() => new Promise(() => {}));
    const c = new WireClient();
    const ac = new AbortController();
    try {
      const big = "x".repeat(16 * 1024 * 1024);
      const req = c.request(srv.url, { method: "POST", body: big, signal: ac.signal }).catch(
        () => null,
      );
      const t0 = performance.now();
      await requestsSent(200);
      const waited = performance.now() - t0;
      assert.ok(waited >= 150 && waited < 3000, `waited ${waited} ms`);
      ac.abort();
      await req;
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("bodies of every size, in every framing, whole; pieces never over 64 KiB", async () => {
    // the read buffer starts at 4 KiB and grows while reads fill it (lib/wire.ts): sizes
    // around it and its doublings, head included or not
    const sizes = [0, 1, 4_000, 4_095, 4_096, 4_097, 8_192, 16_385, 100_000, 1_048_576 + 7];
    const body = (n: number) =>
      enc.encode("0123456789abcdef".repeat(Math.ceil(n / 16)).slice(0, n));
    const srv = scripted(async (conn, next) => {
      for (let req = await next(); req; req = await next()) {
        const [, kind, n] = req.head.split(" ")[1].split("/");
        const b = body(Number(n));
        const head = kind === "len"
          ? `HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\n\r\n`
          : kind === "chunked"
          ? `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${b.length.toString(16)}\r\n`
          : "HTTP/1.0 200 OK\r\n\r\n";
        const tail = kind === "chunked" ? (b.length ? "\r\n0\r\n\r\n" : "\r\n") : "";
        const all = new Uint8Array([...enc.encode(head), ...b, ...enc.encode(tail)]);
        for (let off = 0; off < all.length;) off += await conn.write(all.subarray(off));
        if (kind === "close") return;
      }
    });
    const c = new WireClient();
    try {
      for (const kind of ["len", "chunked", "close"]) {
        for (const n of sizes) {
          const r = await c.request(`${srv.url}/${kind}/${n}`, { reuse: true });
          const parts: Uint8Array[] = [];
          for (let p = await r.read(); p; p = await r.read()) {
            assert.ok(p.length <= 64 * 1024, `${kind} ${n}: a piece of ${p.length}`);
            parts.push(p.slice());
          }
          const got = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
          parts.reduce((off, p) => (got.set(p, off), off + p.length), 0);
          assert.deepEqual(got, body(n), `${kind} ${n}`);
        }
      }
    } finally {
      c.close();
      await srv.close();
    }
  });

  it("against a real server: gzip decoded, a large chunked body whole, piece by piece", async () => {
    const big = Array.from({ length: 40_000 }, (_, i) => `line ${i}\n`).join("");
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const gz = /gzip/.test(req.headers.get("accept-encoding") ?? "");
      const stream = new Blob([big]).stream();
      return gz
        ? new Response(stream.pipeThrough(new CompressionStream("gzip")), {
          headers: { "content-encoding": "gzip" },
        })
        : new Response(stream);
    });
    const c = new WireClient();
    try {
      const url = `http://127.0.0.1:${server.addr.port}/`;
      const plain = await c.request(url, { reuse: true });
      let pieces = 0;
      let text = "";
      const d = new TextDecoder();
      for (let p = await plain.read(); p; p = await plain.read()) {
        pieces++;
        text += d.decode(p, { stream: true });
      }
      assert.equal(text, big);
      assert.ok(pieces > 1, `read in pieces (${pieces})`);
      const zipped = await c.request(url, { reuse: true, gzip: true });
      assert.equal(zipped.headers.get("content-encoding"), "gzip");
      assert.equal(await zipped.text(), big);
    } finally {
      c.close();
      await server.shutdown();
    }
  });
});

describe("wire failures as the clients show them", () => {
  it("one text per failure: the cause is not repeated", async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    const c = new WireClient();
    try {
      await c.request(`http://127.0.0.1:${port}/`);
      assert.fail("no listener: refused");
    } catch (e) {
      const text = transportErrorText(e);
      assert.match(text, /^tcp connect error: Connection refused/);
      assert.equal(text.split("Connection refused").length - 1, 1, text);
    } finally {
      c.close();
    }
  });
});

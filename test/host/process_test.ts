/**
 * lib/host/process.ts: when a local command starts, relative to the HTTP requests under way.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { runProcess } from "../../lib/host/process.ts";
import { WireClient } from "../../lib/wire.ts";
import { after } from "../../lib/timer.ts";

describe("runProcess", () => {
  it("starts once the HTTP requests under way are written, not before (issue 15)", async () => {
    const dir = await Deno.makeTempDir();
    const log = join(dir, "log");
    // A server that reads nothing until the test lets it: a body larger than the socket
    // buffers stays unwritten until then. It says so in the log before it reads.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const body = "x".repeat(16 * 1024 * 1024);
    const { promise: go, resolve: letRead } = Promise.withResolvers<void>();
    const served = (async () => {
      const conn = await listener.accept();
      try {
        await go;
        Deno.writeTextFileSync(log, "server reads\n", { append: true });
        const buf = new Uint8Array(64 * 1024);
        let got = 0;
        while (got < body.length) {
          const n = await conn.read(buf);
          if (n === null) break;
          got += n;
        }
        await conn.write(
          new TextEncoder().encode("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
        );
      } finally {
        conn.close();
      }
    })();
    const client = new WireClient();
    try {
      const reply = client.request(`http://127.0.0.1:${port}/`, { method: "POST", body })
        .then((r) => r.text());
      reply.catch(() => {}); // awaited below, unless the command fails first
      // the server reads after 5 ms, well within the wait's 20 ms limit
      after(5, letRead);
      await runProcess({
        host: "front-end",
        argv: ["sh", "-c", 'echo command >> "$1"', "sh", log],
        label: "echo",
      });
      assert.equal(await reply, "ok");
      await served;
      assert.deepEqual((await Deno.readTextFile(log)).trim().split("\n"), [
        "server reads",
        "command",
      ]);
    } finally {
      letRead();
      client.close();
      listener.close();
      await served.catch(() => {}); // (ended on every path: no read left running)
      await Deno.remove(dir, { recursive: true });
    }
  });
});

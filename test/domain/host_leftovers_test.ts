/**
 * The journal of host leftovers (lib/domain/host_leftovers.ts): one file per (host, path) in
 * `<state dir>/host-leftovers`, rewritten rather than duplicated (the path's slashes
 * normalised), listed oldest first, with files that are not entries reported and never acted
 * on; resolving removes exactly one entry.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  findHostLeftover,
  type HostLeftover,
  listHostLeftovers,
  recordHostLeftover,
  resolveHostLeftover,
} from "../../lib/domain/host_leftovers.ts";

function entry(over: Partial<HostLeftover> = {}): HostLeftover {
  return {
    host: "bravo",
    path: "/var/lib/one/datastores/101/7",
    kind: "vm-dir",
    vmId: 7,
    dsId: 101,
    action: "tm postmigrate",
    owner: "tm/linstor/postmigrate pid 1",
    since: 1_000,
    why: "host bravo is not reachable",
    ...over,
  };
}

describe("host leftovers journal", () => {
  it("names an entry's file as every earlier version did: SHA-256 of host and path", async () => {
    // the journal outlives upgrades: an entry written before must be found, and dropped, now
    const root = await Deno.makeTempDir();
    const env = { ONEBLK_STATE_DIR: root };
    try {
      const e = entry({ host: "charlie", path: "/var/lib/one//datastores/101/9/" });
      const digest = await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode("charlie\n/var/lib/one/datastores/101/9"),
      );
      const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
      const dir = join(root, "host-leftovers");
      await Deno.mkdir(dir, { recursive: true });
      const old = { ...e, path: "/var/lib/one/datastores/101/9" };
      await Deno.writeTextFile(join(dir, `${hex.slice(0, 32)}.json`), JSON.stringify(old) + "\n");
      assert.deepEqual(findHostLeftover(env, "charlie", e.path), old);
      assert.deepEqual((await listHostLeftovers(env)).bad, []);
      await recordHostLeftover(env, { ...e, why: "again" });
      assert.equal((await listHostLeftovers(env)).entries.length, 1, "rewritten, not doubled");
      assert.equal(await resolveHostLeftover(env, "charlie", e.path), true);
      assert.equal(await resolveHostLeftover(env, "charlie", e.path), false);
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  it("records one entry per (host, path), lists them oldest first, resolves one", async () => {
    const root = await Deno.makeTempDir();
    const env = { ONEBLK_STATE_DIR: root };
    try {
      assert.deepEqual(await listHostLeftovers(env), { entries: [], bad: [] }, "no journal yet");
      await recordHostLeftover(env, entry());
      // the same directory again, spelled with a double slash and a trailing one: rewritten
      await recordHostLeftover(
        env,
        entry({ path: "/var/lib/one//datastores/101/7/", since: 5_000, why: "rm failed" }),
      );
      await recordHostLeftover(env, entry({ host: "charlie", since: 2_000 }));
      const dir = join(root, "host-leftovers");
      assert.equal((await Array.fromAsync(Deno.readDir(dir))).length, 2, "no temporary left");
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      const { entries, bad } = await listHostLeftovers(env);
      assert.deepEqual(bad, []);
      assert.deepEqual(entries.map((e) => [e.host, e.path, e.since, e.why]), [
        ["charlie", "/var/lib/one/datastores/101/7", 2_000, "host bravo is not reachable"],
        ["bravo", "/var/lib/one/datastores/101/7", 5_000, "rm failed"],
      ]);
      assert.equal(
        (findHostLeftover(env, "bravo", "/var/lib/one//datastores/101/7"))?.since,
        5_000,
      );
      assert.equal(await resolveHostLeftover(env, "bravo", "/var/lib/one/datastores/101/7"), true);
      assert.equal(await resolveHostLeftover(env, "bravo", "/var/lib/one/datastores/101/7"), false);
      assert.equal(findHostLeftover(env, "bravo", "/var/lib/one/datastores/101/7"), null);
      assert.deepEqual((await listHostLeftovers(env)).entries.map((e) => e.host), ["charlie"]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });

  it("reports files that are not entries (or not under their own name), ignores temporaries", async () => {
    const root = await Deno.makeTempDir();
    const env = { ONEBLK_STATE_DIR: root };
    try {
      await recordHostLeftover(env, entry());
      const dir = join(root, "host-leftovers");
      const [good] = await Array.fromAsync(Deno.readDir(dir));
      await Deno.writeTextFile(join(dir, "0000.json"), "{not json");
      // a valid entry under another entry's name is not trusted (it would resolve wrongly)
      await Deno.writeTextFile(
        join(dir, "1111.json"),
        await Deno.readTextFile(join(dir, good.name)),
      );
      await Deno.writeTextFile(join(dir, ".abc.json.1.tmp"), "{");
      const { entries, bad } = await listHostLeftovers(env);
      assert.equal(entries.length, 1);
      assert.deepEqual(bad.map((b) => [b.file.split("/").pop(), b.why]), [
        ["0000.json", "not an entry"],
        ["1111.json", "its name does not match its host and path"],
      ]);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

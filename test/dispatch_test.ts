/** argv[0] dispatch: invoked paths, system-TM suffixes, the `oneblk` command line. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromInvokedPath, invocation } from "../lib/dispatch.ts";
import { resolve as resolveIn } from "../app/runner.ts";
import { ACTIONS } from "../app/registry.ts";
import { OneblkError } from "../lib/errors.ts";
import type { Invocation } from "../lib/dispatch.ts";

const resolve = (inv: Invocation) => resolveIn(inv, ACTIONS);

const LAUNCHER = new URL("../scripts/oneblk", import.meta.url).pathname;

async function oneblk(args: string[], stdin?: string) {
  const p = new Deno.Command(LAUNCHER, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await p.output();
  const d = new TextDecoder();
  return { code: o.code, stdout: d.decode(o.stdout), stderr: d.decode(o.stderr) };
}

describe("dispatch", () => {
  it("resolves datastore, tm (with .sys suffix) and vmm paths", () => {
    assert.deepEqual(fromInvokedPath("/var/lib/one/remotes/datastore/linstor_un/cp", ["5"]), {
      kind: "datastore",
      driver: "linstor_un",
      name: "cp",
      action: "cp",
      systemTm: "",
      args: ["5"],
      path: "/var/lib/one/remotes/datastore/linstor_un/cp",
    });
    const tm = fromInvokedPath("/r/tm/linstor/clone.ssh", ["a", "b", "7", "100"]);
    assert.equal(tm?.kind, "tm");
    assert.equal(tm?.action, "clone");
    assert.equal(tm?.systemTm, "ssh");
    assert.deepEqual(tm?.args, ["a", "b", "7", "100"]);
    const vmm = fromInvokedPath("/var/tmp/one/vmm/kvm/save_linstor_un", ["one-7"]);
    assert.equal(vmm?.kind, "vmm");
    assert.equal(vmm?.driver, "kvm");
    assert.equal(vmm?.name, "save_linstor_un");
  });

  it("treats any other name as the command line tool", () => {
    assert.equal(fromInvokedPath("/usr/local/bin/oneblk", []), null);
    assert.equal(fromInvokedPath("oneblk", ["run"]), null);
    assert.equal(fromInvokedPath("/x/notakind/linstor/cp", []), null);
  });

  it("refuses unknown drivers and actions, naming what exists", () => {
    assert.throws(
      () => resolve(invocation("datastore", "ceph", "cp", [])),
      (e: unknown) =>
        e instanceof OneblkError && e.kind === "usage" &&
        /unknown datastore driver 'ceph' \(known: linstor, linstor_un, storpool\)/.test(e.message),
    );
    assert.throws(
      () => resolve(invocation("datastore", "linstor", "frobnicate", [])),
      /unknown datastore action 'linstor\/frobnicate' \(known: .*stat/,
    );
    assert.throws(() => resolve(invocation("vmm", "kvm", "deploy", [])), /unknown vmm action/);
  });

  it("oneblk run behaves like the symlink", async () => {
    const tmp = await Deno.makeTempFile();
    try {
      await Deno.writeFile(tmp, new Uint8Array(1024 * 1024));
      const xml = `<DS_DRIVER_ACTION_DATA><IMAGE><PATH>${tmp}</PATH></IMAGE>` +
        `<DATASTORE><ID>1</ID></DATASTORE></DS_DRIVER_ACTION_DATA>`;
      const r = await oneblk(["run", "datastore", "linstor", "stat", "3"], btoa(xml));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "1\n");
    } finally {
      await Deno.remove(tmp);
    }
  });

  it("gives one-line errors for bad commands and bad input", async () => {
    for (
      const args of [
        ["bogus"],
        ["run", "nokind", "linstor", "cp"],
        ["run", "datastore", "nodriver", "cp", "1"],
        ["sim", "nosuch"],
      ]
    ) {
      const r = await oneblk(args);
      assert.notEqual(r.code, 0, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\bat .*\.ts:\d+/);
    }
    // A driver payload where a command was expected (argv[0] lost): never echoed in full.
    const payload = btoa("<DS_DRIVER_ACTION_DATA>" + "x".repeat(300) + "</DS_DRIVER_ACTION_DATA>");
    for (const args of [[payload, "12"], ["run", payload, "linstor", "cp"]]) {
      const r = await oneblk(args);
      assert.equal(r.code, 1);
      assert.ok(!r.stderr.includes(payload), r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`'${payload.slice(0, 32)}…' \\(${payload.length} characters\\)`),
      );
    }
    const bad = await oneblk(["run", "datastore", "linstor", "stat", "3"], "<not base64>");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not valid base64/);
    const xml = await oneblk(["run", "datastore", "linstor", "stat", "3"], btoa("<a><b></a>"));
    assert.equal(xml.code, 1);
    assert.match(xml.stderr, /malformed/);
  });

  it("lists actions, prints version and help", async () => {
    const a = await oneblk(["actions", "--json"]);
    assert.equal(a.code, 0);
    const list = JSON.parse(a.stdout) as { kind: string; driver: string; name: string }[];
    assert.ok(
      list.some((x) => x.kind === "datastore" && x.driver === "storpool" && x.name === "stat"),
    );
    assert.match((await oneblk(["version"])).stdout, /^oneblk \d+\.\d+\.\d+/);
    assert.match((await oneblk(["help"])).stdout, /oneblk run <datastore\|tm\|vmm>/);
    assert.match((await oneblk(["install", "--help"])).stdout, /--remotes DIR/);
  });
});

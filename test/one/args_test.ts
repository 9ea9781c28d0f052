import { FIXTURES } from "../fixtures_path.ts";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { OneblkError } from "../../lib/errors.ts";
import {
  checkArity,
  decodeBase64Text,
  diskIdFromPath,
  encodeBase64Text,
  normPath,
  parseRestoreArgs,
  parseTmArgs,
  parseTransferLine,
  readBackupArgs,
  readDsPayload,
  readMigrateArgs,
  readVmmStdin,
  splitHostPath,
  tmVmId,
  vmDirInfo,
  vmDirOf,
} from "../../lib/one/args.ts";
import { parseDsActionSync } from "../support/views_sync.ts";

const FIX = FIXTURES;
const CP_XML = Deno.readTextFileSync(`${FIX}/ds_action/cp_linstor.xml`);
const CP_B64 = encodeBase64Text(CP_XML);
const VM_XML = Deno.readTextFileSync(`${FIX}/onexml/vm_7_linstor_running.xml`);
const VM_B64 = encodeBase64Text(VM_XML);

/** A stdin reader that must not be called (argv styles never touch stdin). */
const noStdin = () => Promise.reject(new Error("stdin must not be read"));
const stdinOf = (s: string) => () => Promise.resolve(s);

function isErr(kind: string, re: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof OneblkError, String(e));
    assert.equal(e.kind, kind);
    assert.match(e.message, re);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  };
}

describe("encodeBase64Text", () => {
  it("is base64 of the UTF-8 bytes, for ASCII, Latin-1 and wider text", () => {
    for (
      const t of ["", "DISK_SIZE=[ID=0,SIZE=906]", "caf\u00e9 \u00ff", "\u65e5\u672c \u{1f600}"]
    ) {
      assert.equal(encodeBase64Text(t), Buffer.from(t, "utf8").toString("base64"), t);
    }
  });
});

describe("readDsPayload", () => {
  it("≤6.6: b64 id in argv, stdin untouched", async () => {
    const p = await readDsPayload([CP_B64, "50"], noStdin);
    assert.equal(p.style, "argv");
    assert.equal(p.id, "50");
    assert.equal(parseDsActionSync(p.xml).requireImage().id, 50);
  });
  it("≥6.8: id in argv, b64 on stdin (trailing newline tolerated)", async () => {
    const p = await readDsPayload(["50"], stdinOf(CP_B64 + "\n"));
    assert.equal(p.style, "stdin");
    assert.equal(p.id, "50");
    assert.equal(p.xml, CP_XML.trim());
  });
  it("6.6.2 -i: '-' id and b64 on stdin", async () => {
    const p = await readDsPayload(["-", "100"], stdinOf(CP_B64));
    assert.equal(p.style, "stdin");
    assert.equal(p.id, "100");
    assert.equal(parseDsActionSync(p.xml).datastore.id, 100);
  });
  it("handles non-ASCII payloads", async () => {
    const xml = CP_XML.replace("alpine-import", "образ-ü");
    const p = await readDsPayload(["50"], stdinOf(encodeBase64Text(xml)));
    assert.equal(parseDsActionSync(p.xml).requireImage().name, "образ-ü");
  });
  it("rejects base64 garbage", async () => {
    await assert.rejects(
      readDsPayload(["50"], stdinOf("this is not base64!!")),
      isErr("input", /not valid base64/),
    );
    await assert.rejects(
      readDsPayload(["abc=", "1"], noStdin),
      isErr("input", /does not decode to UTF-8 text/),
    );
    await assert.rejects(
      readDsPayload([CP_B64.slice(0, -1), "1"], noStdin),
      isErr("input", /not valid base64/),
    );
    await assert.rejects(
      readDsPayload(["50"], stdinOf(encodeBase64Text("hello world"))),
      isErr("input", /does not decode to XML/),
    );
    await assert.rejects(
      readDsPayload(["50"], stdinOf(btoa("\xff\xfe<"))),
      isErr("input", /does not decode to UTF-8 text/),
    );
  });
  it("rejects empty stdin and missing arguments", async () => {
    await assert.rejects(
      readDsPayload(["50"], stdinOf("")),
      isErr("input", /no driver action on stdin/),
    );
    await assert.rejects(
      readDsPayload(["-", "50"], stdinOf(" \n")),
      isErr("input", /no driver action on stdin/),
    );
    await assert.rejects(readDsPayload([], noStdin), isErr("usage", /expects an id/));
    await assert.rejects(readDsPayload(["-"], noStdin), isErr("usage", /expects an id/));
    await assert.rejects(
      readDsPayload([CP_B64, "x1"], noStdin),
      isErr("input", /id must be an integer/),
    );
  });
  it("reads a real process's stdin (6.8 style) through processStdin", async () => {
    const script = new URL("../../lib/one/args.ts", import.meta.url).href;
    const code = `import { readDsPayload, processStdin } from "${script}";
      const p = await readDsPayload(Deno.args, processStdin(5000));
      console.log(JSON.stringify({ id: p.id, style: p.style, len: p.xml.length }));`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-check", code, "50"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      cwd: new URL("../..", import.meta.url).pathname,
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(CP_B64));
    await w.close();
    const out = await child.output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
      id: "50",
      style: "stdin",
      len: CP_XML.trim().length,
    });
  });
  it("processStdin: a large stdin whole, in several reads; a pipe never closed times out", async () => {
    const script = new URL("../../lib/one/args.ts", import.meta.url).href;
    const code = `import { processStdin } from "${script}";
      try {
        const t = await processStdin(Number(Deno.args[0]))();
        let sum = 0;
        for (let i = 0; i < t.length; i++) sum = (sum * 31 + t.charCodeAt(i)) >>> 0;
        console.log(JSON.stringify({ len: t.length, sum }));
      } catch (e) {
        console.log(JSON.stringify({ error: String(e.message) }));
      }
      Deno.exit(0); // as the runner does: a read still pending must not hold the process`;
    const run = async (timeoutMs: number, data: Uint8Array, close: boolean) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-check", code, String(timeoutMs)],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(data);
      if (close) await w.close();
      const out = await child.output();
      if (!close) await w.close().catch(() => {});
      return JSON.parse(new TextDecoder().decode(out.stdout));
    };
    // 300 kB of multi-byte text: chunk boundaries may split a character
    const text = "é€x".repeat(50_000);
    let sum = 0;
    for (let i = 0; i < text.length; i++) sum = (sum * 31 + text.charCodeAt(i)) >>> 0;
    assert.deepEqual(await run(5000, new TextEncoder().encode(text), true), {
      len: text.length,
      sum,
    });
    // around the first buffer (16 KiB) and its doublings, a 2-byte character across each edge
    for (const n of [0, 1, 16_383, 16_384, 16_385, 32_768, 49_153]) {
      const t = "a".repeat(Math.max(0, n - 1)) + (n ? "é" : "");
      let s = 0;
      for (let i = 0; i < t.length; i++) s = (s * 31 + t.charCodeAt(i)) >>> 0;
      assert.deepEqual(await run(5000, new TextEncoder().encode(t), true), {
        len: t.length,
        sum: s,
      });
    }
    assert.deepEqual(await run(300, new TextEncoder().encode("<a/>"), false), {
      error: "stdin was not closed within 300 ms",
    });
  });
});

describe("base64 helpers", () => {
  it("round-trips and is strict", () => {
    assert.equal(decodeBase64Text(encodeBase64Text("<a>é</a>")), "<a>é</a>");
    assert.throws(() => decodeBase64Text("YWJj\nZGVm"), isErr("input", /not valid base64/));
    assert.throws(() => decodeBase64Text("YW=j"), isErr("input", /not valid base64/));
    assert.throws(() => decodeBase64Text(""), isErr("input", /is empty/));
  });
});

describe("migrate, backup and VMM stdin", () => {
  const argv = ["node1", "node2", "/var/lib/one//datastores/0/7", "7", "0"];
  it("≥5.10: VM on stdin, no caller", async () => {
    const m = await readMigrateArgs("premigrate", argv, stdinOf(VM_B64));
    assert.equal(m.vmSource, "stdin");
    assert.equal(m.callerTm, null);
    assert.deepEqual([m.srcHost, m.dstHost, m.dir, m.vmId, m.dsId], [
      "node1",
      "node2",
      "/var/lib/one//datastores/0/7",
      7,
      0,
    ]);
    assert.equal(m.vmXml, VM_XML.trim());
  });
  it("≥5.10: forwarded by another system TM (argv[5])", async () => {
    const m = await readMigrateArgs("postmigrate", [...argv, "ssh"], stdinOf(VM_B64));
    assert.equal(m.callerTm, "ssh");
    assert.equal(m.vmSource, "stdin");
  });
  it("≤5.8: VM in argv[5], caller in argv[6]", async () => {
    const m = await readMigrateArgs("failmigrate", [...argv, VM_B64, "shared"], stdinOf(""));
    assert.equal(m.vmSource, "argv");
    assert.equal(m.callerTm, "shared");
    assert.equal(m.vmXml, VM_XML.trim());
    const n = await readMigrateArgs("failmigrate", [...argv, VM_B64], stdinOf(""));
    assert.deepEqual([n.vmSource, n.callerTm], ["argv", null]);
  });
  it("no XML anywhere: caller only, VM to be fetched", async () => {
    const m = await readMigrateArgs("premigrate", [...argv, "linstor"], stdinOf(""));
    assert.deepEqual([m.vmSource, m.vmXml, m.callerTm], ["none", null, "linstor"]);
  });
  it("rejects bad migrate input", async () => {
    await assert.rejects(
      readMigrateArgs("premigrate", argv.slice(0, 4), stdinOf("")),
      isErr("usage", /expects 5 to 7/),
    );
    await assert.rejects(
      readMigrateArgs("premigrate", ["no de", ...argv.slice(1)], stdinOf("")),
      isErr("input", /invalid host/),
    );
    await assert.rejects(
      readMigrateArgs("premigrate", argv, stdinOf("!!!")),
      isErr("input", /not valid base64/),
    );
    await assert.rejects(
      readMigrateArgs("premigrate", [...argv, "a;b"], stdinOf("")),
      isErr("input", /caller TM/),
    );
  });
  it("backup steps: raw VM XML on stdin, bj_id optional", async () => {
    const b = await readBackupArgs(
      "tm",
      "prebackup_live",
      ["node1:/var/lib/one//datastores/0/7", "0:1:3", "one-7", "-", "7", "0"],
      stdinOf(VM_XML),
    );
    assert.deepEqual([b.host, b.dir, b.diskIds, b.deployId, b.bjId, b.vmId, b.dsId], [
      "node1",
      "/var/lib/one//datastores/0/7",
      [0, 1, 3],
      "one-7",
      null,
      7,
      0,
    ]);
    assert.equal(b.xml, VM_XML.trim());
    const old = await readBackupArgs(
      "tm",
      "postbackup",
      ["n:/d/0/7", "0", "one-7", "7", "0"],
      stdinOf(""),
    );
    assert.deepEqual([old.bjId, old.xml], [null, null]);
    const bj = await readBackupArgs(
      "ds",
      "backup",
      ["n:/d/0/7", "0", "one-7", "12", "7", "102"],
      stdinOf(""),
    );
    assert.equal(bj.bjId, "12");
    await assert.rejects(
      readBackupArgs("tm", "prebackup", ["n:/d/0/7", "0", "one-7", "7", "0"], stdinOf(VM_B64)),
      isErr("input", /not XML/),
    );
  });
  it("VMM override stdin: base64 of the message, raw XML accepted", async () => {
    assert.equal(await readVmmStdin(stdinOf(VM_B64)), VM_XML.trim());
    assert.equal(await readVmmStdin(stdinOf(VM_XML)), VM_XML.trim());
    await assert.rejects(readVmmStdin(stdinOf("")), isErr("input", /no driver message/));
    await assert.rejects(readVmmStdin(stdinOf("%%%")), isErr("input", /not valid base64/));
  });
});

describe("host:path", () => {
  it("splits at the first colon and keeps the original path", () => {
    const hp = splitHostPath("node1:/var/lib/one//datastores/0/7/disk.3");
    assert.equal(hp.host, "node1");
    assert.equal(hp.path, "/var/lib/one//datastores/0/7/disk.3");
    assert.equal(hp.norm, "/var/lib/one/datastores/0/7/disk.3");
    assert.equal(hp.diskId, 3);
    assert.equal(hp.vmDir, "/var/lib/one//datastores/0/7");
    const src = splitHostPath("frontend:rbd:one/one-42");
    assert.deepEqual([src.host, src.path, src.diskId], ["frontend", "rbd:one/one-42", null]);
    const dir = splitHostPath("node-2.example.com:/var/lib/one//datastores/0/7/");
    assert.equal(dir.diskId, null);
    assert.equal(dir.vmDir, "/var/lib/one//datastores/0/7");
    assert.equal(dir.norm, "/var/lib/one/datastores/0/7");
  });
  it("rejects hostile host names", () => {
    for (
      const bad of [
        "node 1:/x",
        "no'de:/x",
        'no"de:/x',
        "a;rm -rf /:/x",
        "$(id):/x",
        "`id`:/x",
        ":/x",
        "-oProxyCommand=x:/y",
        "node1\n:/x",
        "noslash",
      ]
    ) {
      assert.throws(
        () => splitHostPath(bad),
        isErr("input", /invalid host name|expected host:path/),
        bad,
      );
    }
  });
  it("keeps hostile path characters as data; rejects control chars and '..'", () => {
    const hp = splitHostPath(`node1:/var/tmp/a b/"q" 'x';rm -rf /`);
    assert.equal(hp.path, `/var/tmp/a b/"q" 'x';rm -rf /`);
    assert.equal(hp.diskId, null);
    assert.throws(() => splitHostPath("node1:/a\nb"), isErr("input", /invalid path/));
    assert.throws(() => splitHostPath("node1:"), isErr("input", /invalid path/));
    assert.throws(
      () => splitHostPath("node1:/a/../etc", { absolute: true }),
      isErr("input", /'\.\.'/),
    );
    assert.throws(
      () => splitHostPath("node1:relative", { absolute: true }),
      isErr("input", /absolute/),
    );
    assert.equal(splitHostPath("node1:relative/ok").path, "relative/ok");
  });
  it("path helpers", () => {
    assert.equal(diskIdFromPath("/var/lib/one//datastores/0/7/disk.12"), 12);
    assert.equal(diskIdFromPath("/var/lib/one//datastores/0/7"), null);
    assert.equal(diskIdFromPath("/x/disk.1.snap"), null);
    assert.equal(diskIdFromPath("/x/disk.1/"), 1);
    assert.equal(vmDirOf("/var/lib/one//datastores/0/7/disk.0"), "/var/lib/one//datastores/0/7");
    assert.equal(vmDirOf("/var/lib/one//datastores/0/7"), "/var/lib/one//datastores/0/7");
    assert.equal(normPath("//a//b///"), "/a/b");
    assert.deepEqual(vmDirInfo("/var/lib/one//datastores/101/7/disk.1"), {
      location: "/var/lib/one/datastores",
      sysDsId: 101,
      vmId: 7,
    });
    assert.equal(vmDirInfo("/tmp/x"), null);
  });
});

describe("arity", () => {
  it("reports the contract in the message", () => {
    assert.throws(
      () => checkArity("tm", "clone", ["a", "b"]),
      isErr(
        "usage",
        /^tm clone expects 4 arguments \(fe:SOURCE host:DIR\/disk\.i vmid dsid\), got 2$/,
      ),
    );
    assert.throws(
      () => checkArity("tm", "context", ["a", "b", "c"]),
      isErr("usage", /at least 4 arguments/),
    );
    assert.throws(() => checkArity("tm", "premigrate", ["a"]), isErr("usage", /5 to 7 arguments/));
    assert.throws(
      () => checkArity("vmm", "save", []),
      isErr("usage", /^vmm save expects 5 arguments/),
    );
    assert.throws(
      () => checkArity("ds", "cp", ["a", "b", "c"]),
      isErr("usage", /^ds cp expects 1 to 2/),
    );
    assert.throws(
      () => checkArity("tm", "frobnicate", []),
      isErr("usage", /unknown tm action "frobnicate"/),
    );
  });
  it("accepts the .sys suffix and valid argv", () => {
    checkArity("tm", "clone.ssh", ["a", "b", "c", "d"]);
    checkArity("tm", "CLONE", ["a", "b", "c", "d"]);
    checkArity("tm", "context", ["ctx.sh", "f1", "f2", "h:/d/disk.4", "7", "0"]);
    checkArity("vmm", "attach_disk", ["one-7", "/d/disk.5", "vdd", "3", "b64", "7", "node1"]);
    checkArity("ds", "stat", ["1"]);
  });
});

/** The lines of a transfer file (blank and comment lines skipped). */
function transferLines(text: string) {
  return text.split("\n").map(parseTransferLine).filter((l) => l !== null);
}

describe("TM argv from the transfer fixtures", () => {
  it("names every argument", () => {
    const lines = [
      "prolog",
      "epilog",
      "delete",
      "stop",
      "resume",
      "migrate",
      "disk_saveas",
      "disk_snapshot",
      "disk_snapshot.delete",
      "disk_snapshot.revert",
      "disk_resize",
      "prolog_attach",
      "epilog_detach",
    ].flatMap((f) => transferLines(Deno.readTextFileSync(`${FIX}/tm_scripts/transfer.7.${f}`)));
    assert.ok(lines.length > 20);
    for (const l of lines) {
      const a = parseTmArgs(l.script, l.args);
      assert.equal(a.vmId, 7);
      assert.ok([0, 100].includes(a.dsId));
      assert.ok(a.dst?.path.startsWith("/var/lib/one//datastores/0/7"));
    }
    const [clone] = transferLines(Deno.readTextFileSync(`${FIX}/tm_scripts/transfer.7.prolog`));
    assert.deepEqual([clone.op, clone.script, clone.action, clone.sysTm, clone.tm], [
      "CLONE",
      "clone.ssh",
      "clone",
      "ssh",
      "linstor",
    ]);
    const c = parseTmArgs(clone.script, clone.args);
    assert.deepEqual([c.src?.host, c.src?.path, c.dst?.host, c.dst?.diskId], [
      "frontend",
      "OpenNebula-Image-42",
      "node1",
      0,
    ]);
    const cpds = parseTmArgs("cpds", [
      "node1:/d/0/7/disk.0",
      "OpenNebula-Image-52",
      "-1",
      "7",
      "100",
    ]);
    assert.deepEqual([cpds.source, cpds.snapId], ["OpenNebula-Image-52", -1]);
    const mk = parseTmArgs("mkimage", ["1024", "qcow2", "node1:/d/0/7/disk.2", "7", "0"]);
    assert.deepEqual([mk.size, mk.format, mk.dst?.diskId], [1024, "qcow2", 2]);
    const ctx = parseTmArgs("context", [
      "/var/lib/one/vms/7/context.sh",
      "/f:'x'",
      "node1:/d/0/7/disk.4",
      "7",
      "0",
    ]);
    assert.deepEqual(ctx.files, ["/var/lib/one/vms/7/context.sh", "/f:'x'"]);
    const r = parseRestoreArgs(["node1:/var/lib/one//datastores/0/7", "7", "80", "-1", "-1"]);
    assert.deepEqual([r.vmId, r.imageId, r.incrementId, r.diskId], [7, 80, -1, -1]);
  });
  it("rejects bad TM argv", () => {
    assert.throws(
      () => parseTmArgs("clone", ["frontend:X", "node1:/d/disk.0", "seven", "100"]),
      isErr("input", /vmid must be/),
    );
    assert.throws(
      () => parseTmArgs("ln", ["frontend:X", "node1:rel/disk.0", "7", "100"]),
      isErr("input", /absolute/),
    );
    assert.throws(
      () => parseTmArgs("snap_create", ["node1:/d/disk.0", "-1", "7", "100"]),
      isErr("input", /snap_id/),
    );
    assert.throws(
      () => parseTmArgs("premigrate", ["a", "b", "/c", "7", "0"]),
      isErr("usage", /does not handle/),
    );
    assert.throws(() => parseTransferLine("CLONE"), isErr("input", /no TM_MAD/));
  });
});

describe("tmVmId (the VM of a TM action's progress lines)", () => {
  it("finds the VM argument of every argv shape", () => {
    assert.equal(tmVmId("clone", ["fe:SRC", "n1:/d/0/7/disk.0", "7", "100"]), 7);
    assert.equal(tmVmId("clone.ssh", ["fe:SRC", "n1:/d/0/7/disk.0", "7", "100"]), 7);
    // restore host:DIR vmid img_id inc_id disk_id: not the increment id (at(-2))
    assert.equal(tmVmId("restore", ["n1:/d/0/7", "7", "55", "3", "-1"]), 7);
    // migrate steps, forwarded with caller_tm: not the datastore id
    assert.equal(tmVmId("premigrate", ["n1", "n2", "/d/0/7", "7", "0", "ssh"]), 7);
    assert.equal(tmVmId("postmigrate", ["n1", "n2", "/d/0/7", "7", "0"]), 7);
    assert.equal(tmVmId("prebackup", ["n1:/d/0/7", "0:1", "one-7", "-", "7", "0"]), 7);
    assert.equal(tmVmId("monitor", ["0"]), undefined);
    assert.equal(tmVmId("restore", ["n1:/d/0/7", "x", "55", "3", "-1"]), undefined);
  });
});

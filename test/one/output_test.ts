import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { inflateSync } from "node:zlib";
import { OneblkError } from "../../lib/errors.ts";
import { decodeBase64Text } from "../../lib/one/args.ts";
import {
  buildMonitorVmMessages,
  cloneOutput,
  compareVersion,
  cpOutput,
  findRemotesDir,
  formatError,
  importInfoXml,
  infoLine,
  logLine,
  mkfsOutput,
  monitordConfPath,
  monitorOutput,
  monitorVmLine,
  parseOneVersion,
  readMonitordConf,
  readOneVersion,
  sendMonitorVm,
  statOutput,
  type VmDiskUsage,
  vmMonitorText,
} from "../../lib/one/output.ts";
import { text } from "../../lib/one/xml.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";
import { parseTemplate, type TemplateAttr, templateVector } from "../../lib/one/template.ts";

const v = (s: string) => parseOneVersion(s);
/** The ≥7.0 MAD's stderr classification regex (docs/contract.md "Results, errors and logging"). */
const MAD_LOG_RE = /^(ERROR|INFO|WARN|DEBUG):\s+(\d+)?\s*(.*)$/;

describe("versions", () => {
  let dir = "";
  before(() => {
    dir = Deno.makeTempDirSync({ prefix: "oneblk_ver_" });
  });
  after(() => Deno.removeSync(dir, { recursive: true }));

  it("parses and compares", () => {
    assert.deepEqual(v("5.12.0.3"), {
      major: 5,
      minor: 12,
      patch: 0,
      raw: "5.12.0.3",
      assumed: false,
    });
    assert.ok(compareVersion("6.10.0", "6.8.0") > 0);
    assert.ok(compareVersion("6.99.80", "7.0.0") < 0);
    assert.equal(compareVersion("7.0", "7.0.0"), 0);
    assert.throws(() => v("seven"), { name: "OneblkError" });
  });
  it("reads $R/VERSION, assumes 7.x when missing", () => {
    assert.equal(readOneVersion(dir).assumed, true);
    assert.equal(readOneVersion(dir).major, 7);
    Deno.writeTextFileSync(`${dir}/VERSION`, "6.6.0\nextra\n");
    const got = readOneVersion(dir);
    assert.deepEqual([got.major, got.minor, got.patch, got.assumed], [6, 6, 0, false]);
    Deno.writeTextFileSync(`${dir}/VERSION`, "garbage\n");
    assert.throws(
      () => readOneVersion(dir),
      (e) => e instanceof OneblkError && e.kind === "config",
    );
  });
  it("finds the remotes dir", () => {
    assert.equal(
      findRemotesDir({ invokedPath: "/var/lib/one/remotes/datastore/linstor/cp" }),
      "/var/lib/one/remotes",
    );
    assert.equal(
      findRemotesDir({ invokedPath: "/srv/one/var/remotes/tm/storpool/clone.ssh" }),
      "/srv/one/var/remotes",
    );
    assert.equal(
      findRemotesDir({ invokedPath: "/var/tmp/one/vmm/kvm/save.linstor" }),
      "/var/tmp/one",
    );
    assert.equal(
      findRemotesDir({ invokedPath: "oneblk", env: { ONE_LOCATION: "/opt/one" } }),
      "/opt/one/var/remotes",
    );
    assert.equal(
      findRemotesDir({ invokedPath: "/usr/bin/oneblk", env: {} }),
      "/var/lib/one/remotes",
    );
    assert.equal(monitordConfPath({}), "/etc/one/monitord.conf");
    assert.equal(monitordConfPath({ ONE_LOCATION: "/opt/one" }), "/opt/one/etc/monitord.conf");
  });
});

describe("error text per version", () => {
  it("< 6.0.3 wraps the message in the ERROR MESSAGE block", () => {
    const expect =
      "ERROR MESSAGE --8<------\nvolume one-7 is in use on node2\nERROR MESSAGE ------>8--\n";
    for (const ver of ["5.12.0", "6.0.0.1", "6.0.2"]) {
      assert.equal(formatError("volume one-7 is in use on node2", v(ver)), expect, ver);
    }
  });
  it("≥ 6.0.3 writes one plain line (the MADs stopped looking for the block there)", () => {
    for (const ver of ["6.0.3", "6.1.0", "6.2.0", "6.6.3", "6.10.0", "7.0.1", "7.4.0"]) {
      assert.equal(formatError("volume one-7\nis in use", v(ver)), "volume one-7 is in use\n");
    }
  });
  it("≥ 7.0 never lets the error look like a log line", () => {
    const out = formatError("ERROR: 7 something broke", v("7.0.0"));
    assert.equal(out, "oneblk: ERROR: 7 something broke\n");
    assert.doesNotMatch(out.trimEnd(), MAD_LOG_RE);
    assert.equal(formatError("", v("7.0.0")), "unknown error\n");
  });
  it("log lines: VM log on ≥ 7.0, suppressed on 6.0.3–6.10", () => {
    const l7 = infoLine("cloned OpenNebula-Image-42", v("7.0.0"), 7)!;
    assert.equal(l7, "INFO: 7 cloned OpenNebula-Image-42\n");
    const m = MAD_LOG_RE.exec(l7.trimEnd())!;
    assert.deepEqual([m[1], m[2], m[3]], ["INFO", "7", "cloned OpenNebula-Image-42"]);
    const noVm = infoLine("3 replicas", v("7.2.0"))!;
    assert.equal(MAD_LOG_RE.exec(noVm.trimEnd())![2], undefined, "no id parsed from the text");
    assert.equal(infoLine("x", v("6.10.0"), 7), null);
    assert.equal(infoLine("x", v("6.2.0")), null);
    assert.equal(infoLine("x", v("6.0.3")), null, "6.0.3 turns all stderr into the failure text");
    assert.equal(infoLine("x", v("6.0.2")), "INFO: oneblk: x\n");
    assert.equal(infoLine("x", v("5.12.0"), 7), "INFO: oneblk: x\n");
    assert.equal(logLine("WARN", "a\nb", v("7.0.0"), 3), "WARN: 3 a b\n");
  });
});

describe("stdout rules", () => {
  it("one line per action", () => {
    assert.equal(cpOutput("OpenNebula-Image-42", "raw"), "OpenNebula-Image-42 raw\n");
    assert.equal(cloneOutput("one-ds-110/one-img-53"), "one-ds-110/one-img-53\n");
    assert.equal(cloneOutput("one-ds-110/one-img-53", "raw"), "one-ds-110/one-img-53 raw\n");
    assert.equal(
      mkfsOutput("/dev/drbd/by-res/one-image-51/0"),
      "/dev/drbd/by-res/one-image-51/0\n",
    );
    assert.equal(statOutput(1023.2), "1024\n");
    assert.equal(statOutput(0), "0\n");
    assert.equal(
      monitorOutput({ usedMb: 2576.4, totalMb: 15354, freeMb: 12778 }),
      "USED_MB=2576\nTOTAL_MB=15354\nFREE_MB=12778\n",
    );
  });
  it("refuses output oned would misparse", () => {
    for (
      const fn of [
        () => cpOutput("two words", "raw"),
        () => cpOutput("x", ""),
        () => mkfsOutput("a\nb"),
        () => statOutput(NaN),
        () => statOutput(-1),
        () => monitorOutput({ usedMb: -1, totalMb: 0, freeMb: 0 }),
      ]
    ) {
      assert.throws(fn, (e) => e instanceof OneblkError && e.kind === "internal");
    }
  });
  it("IMPORT_INFO is well-formed XML with CDATA", () => {
    const out = importInfoXml({
      importSource: "ssh://node1:/var/tmp/export/one-42 ]]> odd",
      md5: "abc",
      sizeMb: 2048,
      format: "raw",
      dispose: true,
      disposeCmd: "ssh node1 rm -f '/var/tmp/export/one-42'",
    });
    assert.ok(out.endsWith("\n") && out.indexOf("\n") === out.length - 1);
    const n = parseXmlSync(out);
    assert.equal(n.name, "IMPORT_INFO");
    assert.equal(text(n, "IMPORT_SOURCE"), "ssh://node1:/var/tmp/export/one-42 ]]> odd");
    assert.equal(text(n, "SIZE"), "2048");
    assert.equal(text(n, "DISPOSE"), "YES");
    assert.equal(text(n, "DISPOSE_CMD"), "ssh node1 rm -f '/var/tmp/export/one-42'");
    const plain = parseXmlSync(
      importInfoXml({ importSource: "x", sizeMb: 1, format: "qcow2", dispose: false }),
    );
    assert.equal(text(plain, "DISPOSE"), "NO");
    assert.equal(text(plain, "MD5"), "");
  });
});

describe("MONITOR_VM", () => {
  const u: VmDiskUsage = {
    vmId: 7,
    disks: [{ id: 0, sizeMb: 906 }, { id: 1, sizeMb: 1024.4 }],
    snapshots: [{ id: 0, diskId: 1, sizeMb: 10 }],
  };
  it("builds the per-VM text and lines", () => {
    assert.equal(
      vmMonitorText(u),
      "DISK_SIZE=[ID=0,SIZE=906] DISK_SIZE=[ID=1,SIZE=1024] SNAPSHOT_SIZE=[ID=0,DISK_ID=1,SIZE=10]",
    );
    const line = monitorVmLine(u);
    const m = /^VM=\[ID=7, MONITOR="([A-Za-z0-9+/=]+)"\]$/.exec(line);
    assert.ok(m, line);
    assert.equal(decodeBase64Text(m[1]), vmMonitorText(u));
  });
  it("splits large batches into datagrams under the limit", async () => {
    const lines = Array.from(
      { length: 400 },
      (_, i) => monitorVmLine({ vmId: i, disks: [{ id: 0, sizeMb: Math.random() * 1e6 }] }),
    );
    const msgs = await buildMonitorVmMessages(lines, { maxBytes: 2000 });
    assert.ok(msgs.length > 1);
    const back: string[] = [];
    for (const msg of msgs) {
      assert.ok(msg.length <= 2000);
      const [type, result, oid, ts, b64] = msg.trimEnd().split(" ");
      assert.deepEqual([type, result, oid, ts], ["MONITOR_VM", "SUCCESS", "-1", "0"]);
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      back.push(...new TextDecoder().decode(inflateSync(raw)).trimEnd().split("\n"));
    }
    assert.deepEqual(back, lines);
  });

  let server: Socket;
  let port = 0;
  const received: Uint8Array[] = [];
  let dir = "";
  before(async () => {
    dir = Deno.makeTempDirSync({ prefix: "oneblk_mon_" });
    server = createSocket("udp4");
    server.on("message", (m) => received.push(new Uint8Array(m)));
    await new Promise<void>((r) => server.bind(0, "127.0.0.1", () => r()));
    port = server.address().port;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    Deno.removeSync(dir, { recursive: true });
  });

  it("reads monitord.conf", async () => {
    const conf = `${dir}/monitord.conf`;
    Deno.writeTextFileSync(
      conf,
      `# monitord.conf
LOG = [ SYSTEM = "file", DEBUG_LEVEL = 3 ]
DB = [ BACKEND = "sqlite", TIMEOUT = 2500 ]
NETWORK = [
    ADDRESS = "0.0.0.0",
    MONITOR_ADDRESS = "auto",
    PORT = ${port},
    THREADS = 8,
    PUBKEY = "",
    PRIKEY = ""
]
PROBES_PERIOD = [ BEACON_HOST = 30, SYSTEM_HOST = 600 ]
IM_MAD = [ NAME = "kvm", SUNSTONE_NAME = "KVM", EXECUTABLE = "one_im_ssh",
    ARGUMENTS = "-r 3 -t 15 -w 90 kvm -p" ]
`,
    );
    assert.deepEqual(await readMonitordConf(conf), { address: "127.0.0.1", port, pubkey: "" });
    assert.deepEqual(await readMonitordConf(`${dir}/missing.conf`), {
      address: "127.0.0.1",
      port: 4124,
      pubkey: "",
    });
    Deno.writeTextFileSync(
      conf,
      'NETWORK = [ MONITOR_ADDRESS = "10.0.0.5", PORT = 4200, PUBKEY = "/etc/one/k.pem" ]',
    );
    assert.deepEqual(await readMonitordConf(conf), {
      address: "10.0.0.5",
      port: 4200,
      pubkey: "/etc/one/k.pem",
    });
    Deno.writeTextFileSync(conf, 'NETWORK = [ PORT = "x" ]');
    await assert.rejects(
      readMonitordConf(conf),
      (e) => e instanceof OneblkError && e.kind === "config",
    );
  });

  it("sends zlib+base64 MONITOR_VM datagrams over real UDP", async () => {
    received.length = 0;
    const lines = [monitorVmLine(u), monitorVmLine({ vmId: 8, disks: [{ id: 0, sizeMb: 1 }] })];
    const sent = await sendMonitorVm(lines, { address: "127.0.0.1", port });
    assert.equal(sent.datagrams, 1);
    for (let i = 0; i < 100 && received.length < 1; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(received.length, 1);
    const msg = new TextDecoder().decode(received[0]);
    assert.equal(sent.bytes, received[0].length);
    const parts = msg.trimEnd().split(" ");
    assert.deepEqual(parts.slice(0, 4), ["MONITOR_VM", "SUCCESS", "-1", "0"]);
    const payload = new TextDecoder().decode(
      inflateSync(Uint8Array.from(atob(parts[4]), (c) => c.charCodeAt(0))),
    );
    // monitord parses the payload as a template: VM vectors with a base64 MONITOR each
    const vms = parseTemplate(payload).filter((a) => a.name === "VM").map((a) => a.vector!);
    assert.deepEqual(vms.map((x) => x.ID), ["7", "8"]);
    assert.equal(decodeBase64Text(vms[0].MONITOR), vmMonitorText(u));
  });

  it("encrypts with PUBKEY (PKCS#1 or SPKI PEM) the way monitord decrypts", async () => {
    const { generateKeyPairSync, privateDecrypt, constants } = await import("node:crypto");
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const lines = Array.from(
      { length: 40 },
      (_, i) => monitorVmLine({ vmId: i, disks: [{ id: 0, sizeMb: i * 1000 }] }),
    );
    for (const type of ["pkcs1", "spki"] as const) {
      const pem = String(publicKey.export({ type, format: "pem" }));
      const keyFile = `${dir}/pub-${type}.pem`;
      Deno.writeTextFileSync(keyFile, pem);
      assert.match(pem, type === "pkcs1" ? /BEGIN RSA PUBLIC KEY/ : /BEGIN PUBLIC KEY/);
      received.length = 0;
      const sent = await sendMonitorVm(lines, { address: "127.0.0.1", port, pubkey: keyFile });
      assert.ok(sent.encrypted);
      for (let i = 0; i < 100 && received.length < sent.datagrams; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(received.length, sent.datagrams);
      const back: string[] = [];
      for (const d of received) {
        const parts = new TextDecoder().decode(d).trimEnd().split(" ");
        assert.deepEqual(parts.slice(0, 4), ["MONITOR_VM", "SUCCESS", "-1", "0"]);
        // monitord: base64 → inflate → decrypt 256-byte blocks with PRIKEY
        const cipher = inflateSync(Uint8Array.from(atob(parts[4]), (c) => c.charCodeAt(0)));
        assert.equal(cipher.length % 256, 0, "whole RSA blocks");
        assert.ok(cipher.length > 256, "more than one block");
        assert.doesNotMatch(new TextDecoder().decode(cipher), /MONITOR/, "not plaintext");
        let plain = "";
        for (let o = 0; o < cipher.length; o += 256) {
          const block = privateDecrypt(
            { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
            cipher.subarray(o, o + 256),
          );
          assert.ok(block.length <= 245);
          plain += new TextDecoder().decode(block);
        }
        back.push(...plain.trimEnd().split("\n"));
      }
      assert.deepEqual(back, lines);
    }
  });

  it("refuses an unreadable or non-RSA PUBKEY before sending", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey;
    Deno.writeTextFileSync(`${dir}/ec.pem`, String(ec.export({ type: "spki", format: "pem" })));
    Deno.writeTextFileSync(`${dir}/junk.pem`, "not a key\n");
    for (
      const [pubkey, why] of [
        [`${dir}/none.pem`, /cannot read monitord PUBKEY/],
        [`${dir}/junk.pem`, /is not a public key/],
        [`${dir}/ec.pem`, /is not an RSA public key/],
      ] as const
    ) {
      received.length = 0;
      await assert.rejects(
        sendMonitorVm(['VM=[ID=1, MONITOR=""]'], { address: "127.0.0.1", port, pubkey }),
        (e) => e instanceof OneblkError && e.kind === "config" && why.test(e.message),
      );
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(received.length, 0);
  });
});

/** First single value of `name` in parsed template attributes. */
function valueOf(attrs: TemplateAttr[], name: string): string | undefined {
  return attrs.find((a) => a.name === name.toUpperCase() && a.value !== undefined)?.value;
}

describe("template text", () => {
  it("parses scalars, vectors, comments and escapes", () => {
    const t = parseTemplate(`# c
A = "x \\"y\\" z"   B=plain
vec = [ K1 = "v1", k2 = 2 ]
MULTI = "line1
line2"
`);
    assert.equal(valueOf(t, "a"), 'x "y" z');
    assert.equal(valueOf(t, "B"), "plain");
    assert.deepEqual(templateVector(t, "VEC"), { K1: "v1", K2: "2" });
    assert.equal(valueOf(t, "MULTI"), "line1\nline2");
  });
  it("reports syntax errors with a line number", () => {
    for (const bad of ["A", "A =", "A = [ B = 1", '= "x"', 'A = "open', "A = [ B ]"]) {
      assert.throws(
        () => parseTemplate(bad, "t"),
        (e) =>
          e instanceof OneblkError && e.kind === "input" &&
          /^t: syntax error at line \d+/.test(e.message),
      );
    }
  });
});

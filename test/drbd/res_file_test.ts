import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { OneblkError } from "../../lib/errors.ts";
import { parseResFile } from "../../lib/drbd/res_file.ts";
import {
  checkResource,
  crc32cRaw,
  type DrbdResource,
  implicitNodeIds,
  readResource,
} from "../../lib/drbd/res_check.ts";

const RES_DIR = fileURLToPath(new URL("./res/", import.meta.url));
const fixture = (name: string) => Deno.readTextFileSync(RES_DIR + name);

/** The problems of `text` (one resource, or `name`), each checked to be one line. */
function problems(text: string, name?: string): string[] {
  const check = checkResource(parseResFile(text, "t.res"), name);
  assert.equal(check.resource, null, "expected problems");
  assert.ok(check.problems.length > 0);
  for (const p of check.problems) assert.ok(!p.includes("\n"), p);
  return check.problems;
}

/** Exactly one problem, matching `re`. */
function oneProblem(text: string, re: RegExp, name?: string): string {
  const ps = problems(text, name);
  assert.equal(ps.length, 1, ps.join("\n"));
  assert.match(ps[0], re);
  return ps[0];
}

/** A syntax error whose message matches `re`. */
function syntaxError(text: string, re: RegExp): void {
  assert.throws(() => parseResFile(text, "t.res"), (e: unknown) => {
    assert.ok(e instanceof OneblkError, String(e));
    assert.equal(e.kind, "input");
    assert.match(e.message, re);
    return true;
  });
}

/** Two hosts, one volume, the given extra lines in `on a` / `on b` / the resource. */
function twoHosts(opts: { a?: string; b?: string; res?: string } = {}): string {
  return `resource r {
  ${opts.res ?? ""}
  volume 0 { device minor 1; disk /dev/vg/r; meta-disk internal; }
  on a { node-id 0; address 10.0.0.1:7000; ${opts.a ?? ""} }
  on b { node-id 1; address 10.0.0.2:7000; ${opts.b ?? ""} }
}
`;
}

describe("DRBD .res files: the adoptable examples", () => {
  it("reads the article's legacy.res (DRBD 9, volume 10, minor 9100, node ids 4 and 8)", () => {
    const vol = {
      number: 10,
      minor: 9100,
      device: "/dev/drbd9100",
      disk: "/dev/datastore/legacy",
      metaDisk: "internal" as const,
    };
    const want: DrbdResource = {
      name: "legacy",
      file: "legacy.res",
      line: 4,
      syntax: "9",
      port: 15500,
      hosts: [
        {
          name: "eagle",
          aliases: [],
          nodeId: 4,
          address: { family: "ipv4", ip: "10.1.1.4", port: 15500 },
          volumes: [vol],
        },
        {
          name: "rabbit",
          aliases: [],
          nodeId: 8,
          address: { family: "ipv4", ip: "10.1.1.8", port: 15500 },
          volumes: [vol],
        },
      ],
      volumes: [vol],
      nodeIdsImplicit: false,
      sections: { net: { protocol: "C" } },
      includes: [],
      warnings: [],
    };
    assert.deepEqual(readResource(fixture("legacy.res"), { file: "legacy.res" }), want);
  });

  it("reads a three-node DRBD 9 mesh with two shared volumes and option sections", () => {
    const r = readResource(fixture("mesh3.res"), { file: "mesh3.res" });
    assert.equal(r.name, "web-data");
    assert.equal(r.syntax, "9");
    assert.equal(r.port, 7100);
    assert.deepEqual(
      r.hosts.map((h) => [h.name, h.nodeId, h.address.ip]),
      [["alpha", 0, "192.168.10.1"], ["bravo", 1, "192.168.10.2"], ["charlie", 2, "192.168.10.3"]],
    );
    const vols = [
      {
        number: 0,
        minor: 100,
        device: "/dev/drbd100",
        disk: "/dev/vg_drbd/web0",
        metaDisk: "internal",
      },
      {
        number: 1,
        minor: 101,
        device: "/dev/drbd101",
        disk: "/dev/vg_drbd/web1",
        metaDisk: "internal",
      },
    ];
    assert.deepEqual(r.volumes, vols);
    for (const h of r.hosts) assert.deepEqual(h.volumes, vols);
    assert.deepEqual(r.sections, {
      options: { quorum: "majority", "on-no-quorum": "io-error" },
      net: { protocol: "C", "verify-alg": "sha256" },
      disk: { "resync-rate": "100M", "al-extents": "6433" },
      handlers: { "split-brain": "/usr/lib/drbd/notify-split-brain.sh root" },
    });
    assert.deepEqual(r.warnings, []);
  });

  it("reads a DRBD 8.4 two-node file and numbers the nodes as drbdadm does, not in file order", () => {
    const r = readResource(fixture("r0_84.res"), { file: "r0_84.res" });
    assert.equal(r.syntax, "8.4");
    assert.equal(r.nodeIdsImplicit, true);
    assert.equal(r.port, 7788);
    // drbdadm dump of this file: node-a (10.0.0.10) gets node-id 1, node-b (10.0.0.11) 0.
    assert.deepEqual(r.hosts.map((h) => [h.name, h.nodeId]), [["node-a", 1], ["node-b", 0]]);
    assert.deepEqual(r.volumes, [
      { number: 0, minor: 0, device: "/dev/drbd0", disk: "/dev/vg0/r0", metaDisk: "internal" },
    ]);
    assert.equal(r.sections.net.protocol, "C");
    assert.equal(r.sections.disk["resync-rate"], "40M");
    assert.equal(r.sections.startup["degr-wfc-timeout"], "60");
  });
});

describe("implicit node ids (drbdadm, two hosts without node-id)", () => {
  it("uses a standard CRC32C table", () => {
    // The CRC32C check value of "123456789" is 0xE3069283 (initial ~0, final inversion).
    const data = new TextEncoder().encode("123456789");
    assert.equal((crc32cRaw(0xffffffff, data) ^ 0xffffffff) >>> 0, 0xe3069283);
  });

  it("gives node id 0 to the address with the larger signed hash, as drbdadm dump shows", () => {
    // [first host's IP, second host's IP, node ids drbdadm 9.22 printed for them]
    const cases: [string, string, [number, number]][] = [
      ["10.1.1.31", "10.1.1.32", [0, 1]],
      ["10.1.1.32", "10.1.1.31", [1, 0]],
      ["10.0.0.10", "10.0.0.11", [1, 0]],
      ["10.0.0.11", "10.0.0.12", [1, 0]],
      ["192.168.1.20", "192.168.1.10", [1, 0]],
      ["10.43.7.254", "10.10.43.13", [1, 0]],
      ["fd00::1", "fd00::2", [0, 1]],
      ["fe80::1%eth0", "2001:db8::10", [1, 0]],
      // 10.0.0.2 hashes to 0xeb4bfb4d, 10.0.0.3 to 0x1920784e: unsigned, 10.0.0.2 would win;
      // drbdadm compares signed ints, so it gets 1.
      ["10.0.0.2", "10.0.0.3", [1, 0]],
      ["10.0.0.3", "10.0.0.4", [0, 1]],
    ];
    for (const [a, b, ids] of cases) assert.deepEqual(implicitNodeIds(a, b), ids, `${a} ${b}`);
  });

  it("applies to a two-host connection-mesh too, and takes IPv6 addresses without brackets", () => {
    const r = readResource(`resource v6 {
      device minor 3; disk /dev/vg/v6; meta-disk internal;
      on one { address ipv6 [fe80::1%eth0]:7003; }
      on two { address ipv6 [2001:db8::10]:7003; }
      connection-mesh { hosts one two; }
    }`);
    assert.deepEqual(r.hosts.map((h) => [h.name, h.nodeId, h.address.family, h.address.ip]), [
      ["one", 1, "ipv6", "fe80::1%eth0"],
      ["two", 0, "ipv6", "2001:db8::10"],
    ]);
    assert.equal(r.syntax, "9");
  });
});

describe("DRBD .res files: syntax", () => {
  it("takes comments, quoted strings with escapes, skip blocks and includes", () => {
    const cfg = parseResFile(
      `# a comment
include "drbd.d/global_common.conf";
global { usage-count no; }
skip resource old { on x { whatever; } }
common { net { protocol C; } }
resource "r#1" { # the name is quoted, so # is part of it
  handlers { fence-peer "/usr/lib/drbd/crm-fence-peer.9.sh \\"quoted\\""; }
  volume 0 { device minor 1; disk "/dev/vg/with space"; }
  on a { node-id 0; address 10.0.0.1:7000; } # trailing comment
  on b { node-id 1; address 10.0.0.2 : 7000; }
}
`,
      "t.res",
    );
    assert.deepEqual(cfg.includes, [{ pattern: "drbd.d/global_common.conf", line: 2 }]);
    assert.deepEqual(cfg.resources.map((r) => r.name), ["r#1"]);
    assert.deepEqual(cfg.common?.sections, { net: { protocol: "C" } });
    const r = cfg.resources[0];
    assert.equal(r.sections.handlers["fence-peer"], '/usr/lib/drbd/crm-fence-peer.9.sh "quoted"');
    assert.equal(r.volumes[0].disk, "/dev/vg/with space");
    assert.deepEqual(r.hosts[1].address, { family: "ipv4", ip: "10.0.0.2", port: 7000 });
    const check = checkResource(cfg);
    assert.deepEqual(check.problems, []);
    assert.deepEqual(check.resource?.includes, ["drbd.d/global_common.conf"]);
    assert.equal(check.resource?.warnings.length, 2);
    assert.match(check.resource!.warnings[0], /includes drbd\.d\/global_common\.conf, not read/);
    assert.match(check.resource!.warnings[1], /common section; its options are not carried over/);
  });

  it("understands every form of device, and meta data left out as internal", () => {
    const r = readResource(`resource r {
      volume 0 { device /dev/drbd5; disk /dev/vg/a; }
      volume 1 { device drbd6; disk /dev/vg/b; }
      volume 2 { device /dev/drbd7 minor 7; disk /dev/vg/c; flexible-meta-disk internal; }
      volume 3 { device minor 8; disk /dev/vg/d; meta-disk internal; }
      on a { node-id 0; address 10.0.0.1:7000; }
      on b { node-id 1; address 10.0.0.2:7000; }
    }`);
    assert.deepEqual(r.volumes.map((v) => [v.number, v.minor, v.device, v.metaDisk]), [
      [0, 5, "/dev/drbd5", "internal"],
      [1, 6, "/dev/drbd6", "internal"],
      [2, 7, "/dev/drbd7", "internal"],
      [3, 8, "/dev/drbd8", "internal"],
    ]);
  });

  it("warns about a named device, which LINSTOR replaces by /dev/drbdN", () => {
    const r = readResource(`resource r {
      device /dev/drbd_web minor 7; disk /dev/vg/web;
      on a { node-id 0; address 10.0.0.1:7000; }
      on b { node-id 1; address 10.0.0.2:7000; }
    }`);
    assert.equal(r.volumes[0].device, "/dev/drbd_web");
    assert.equal(r.volumes[0].minor, 7);
    assert.match(
      r.warnings[0],
      /volume 0 is named \/dev\/drbd_web; under LINSTOR it is \/dev\/drbd7/,
    );
  });

  it("fills host volumes from the resource level, and a host may add what is missing", () => {
    const r = readResource(`resource r {
      volume 0 { device minor 1; meta-disk internal; }
      on a { node-id 0; address 10.0.0.1:7000; volume 0 { disk /dev/vg/r; } }
      on b { node-id 1; address 10.0.0.2:7000; volume 0 { disk /dev/vg/r; } }
    }`);
    assert.deepEqual(r.volumes, [
      { number: 0, minor: 1, device: "/dev/drbd1", disk: "/dev/vg/r", metaDisk: "internal" },
    ]);
  });

  it("keeps further names of an on section as aliases", () => {
    const r = readResource(twoHosts().replace("on a {", "on a a-alt {"));
    assert.deepEqual(r.hosts.map((h) => [h.name, h.aliases]), [["a", ["a-alt"]], ["b", []]]);
  });

  it("accepts connection sections that only name the hosts", () => {
    const r = readResource(
      twoHosts({ res: "connection { host a; host b port 7000; net { protocol C; } }" }),
    );
    assert.equal(r.port, 7000);
  });

  it("reports syntax errors with the file and line", () => {
    syntaxError('resource r {\n  disk "/dev/x\n}', /^t\.res:2: unterminated quoted string$/);
    syntaxError("resource r {\n  on a {\n    node-id 0\n  }\n}", /^t\.res:4: expected ";"/);
    syntaxError(
      "resource r {\n  colour blue;\n}",
      /^t\.res:2: unknown statement "colour" in resource r$/,
    );
    syntaxError("resource r {\n  on a { node-id 0; }\n", /^t\.res:2: unexpected end of file/);
    syntaxError("resource r { on a { node-id 32; } }", /node-id 32 is out of range \[0\.\.31\]/);
    syntaxError("resource r { on a { address 10.0.0.1:70000; } }", /port 70000 is out of range/);
    syntaxError("resource r { on a { address 10.0.0.1; } }", /bad address "10\.0\.0\.1"/);
    syntaxError(
      "resource r { device /dev/drbd1 minor 2; }",
      /device \/dev\/drbd1 does not match minor 2/,
    );
    syntaxError("resource r { device /dev/sdb1; }", /device name must start with \/dev\/drbd/);
    syntaxError("resource r { device /dev/drbd_x; }", /has no minor number/);
    syntaxError("resource r {} resource r {}", /resource r is defined twice/);
    syntaxError("resource r { volume 0 {} volume 0 {} }", /volume 0 is defined twice/);
    syntaxError(
      "resource r { on a { device minor 1; volume 1 { device minor 2; } } }",
      /mixing explicit and implicit volumes/,
    );
    syntaxError("frobnicate;", /unknown top-level statement "frobnicate"/);
  });
});

describe("DRBD .res files: what oneblk does not adopt", () => {
  it("external meta data, indexed or flexible", () => {
    const md = "volume 0 { device minor 1; disk /dev/vg/r; meta-disk internal; }";
    for (
      const [stmt, shown] of [
        ["meta-disk /dev/sdc1[0];", "/dev/sdc1\\[0\\]"],
        ["meta-disk /dev/sdc1;", "/dev/sdc1"],
        ["flexible-meta-disk /dev/sdc1;", "/dev/sdc1"],
      ]
    ) {
      const text = twoHosts().replace(md, `volume 0 { device minor 1; disk /dev/vg/r; ${stmt} }`);
      const ps = problems(text);
      assert.equal(ps.length, 2); // one per host
      assert.match(
        ps[0],
        new RegExp(
          `^t\\.res:3: resource r: host a, volume 0 keeps its meta data outside the disk ` +
            `\\(meta-disk ${shown}\\); oneblk adopts internal meta data only: migrate it by hand`,
        ),
      );
    }
  });

  it("different backing disks on the hosts", () => {
    const text = `resource r {
      volume 0 { device minor 1; meta-disk internal; }
      on a { node-id 0; address 10.0.0.1:7000; volume 0 { disk /dev/vg0/r; } }
      on b { node-id 1; address 10.0.0.2:7000; volume 0 { disk /dev/vg1/r; } }
    }`;
    oneProblem(
      text,
      /volume 0 has different backing disks on its hosts \(a \/dev\/vg0\/r, b \/dev\/vg1\/r\); LINSTOR's OverrideVlmId needs one name on all nodes: rename the volumes by hand first/,
    );
  });

  it("a host overriding the shared disk", () => {
    oneProblem(twoHosts({ b: "volume 0 { disk /dev/other/r; }" }), /different backing disks/);
  });

  it("stacked resources", () => {
    const text = `resource lower {
      device minor 1; disk /dev/vg/l; meta-disk internal;
      on a { node-id 0; address 10.0.0.1:7000; }
      on b { node-id 1; address 10.0.0.2:7000; }
    }
    resource upper {
      stacked-on-top-of lower { device /dev/drbd10; address 10.0.0.100:7010; }
      on c { node-id 0; address 10.0.1.1:7010; device minor 11; disk /dev/vg/u; }
    }`;
    oneProblem(
      text,
      /^t\.res:7: resource upper: is stacked on top of lower; LINSTOR does not manage stacked resources/,
      "upper",
    );
    // The lower resource alone is fine.
    assert.equal(checkResource(parseResFile(text), "lower").resource?.name, "lower");
  });

  it("a volume missing on a host", () => {
    const text = `resource r {
      on a { node-id 0; address 10.0.0.1:7000;
             volume 0 { device minor 1; disk /dev/vg/r0; }
             volume 1 { device minor 2; disk /dev/vg/r1; } }
      on b { node-id 1; address 10.0.0.2:7000;
             volume 0 { device minor 1; disk /dev/vg/r0; } }
    }`;
    oneProblem(text, /volume 1 is not defined on b; every host needs every volume/);
  });

  it("a volume with different minors on the hosts", () => {
    const text = `resource r {
      volume 0 { disk /dev/vg/r; }
      on a { node-id 0; address 10.0.0.1:7000; volume 0 { device minor 1; } }
      on b { node-id 1; address 10.0.0.2:7000; volume 0 { device minor 2; } }
    }`;
    oneProblem(
      text,
      /volume 0 has different minors on its hosts \(a 1, b 2\); LINSTOR gives a volume one minor on all nodes/,
    );
  });

  it("two volumes on one minor", () => {
    const text = twoHosts().replace(
      "volume 0 {",
      "volume 1 { device minor 1; disk /dev/vg/s; } volume 0 {",
    );
    oneProblem(text, /volumes 0 and 1 both use minor 1/);
  });

  it("volume sections mixed with device statements in host sections", () => {
    oneProblem(
      twoHosts({ a: "device minor 5; disk /dev/vg/x;" }),
      /mixes volume sections with device\/disk statements/,
    );
  });

  it("a host without address (so no port)", () => {
    const text = `resource r {
      device minor 1; disk /dev/vg/r;
      on a { node-id 0; address 10.0.0.1:7000; }
      on b { node-id 1; }
    }`;
    oneProblem(
      text,
      /^t\.res:4: resource r: host b has no address \(IP:port\): add the address it runs with$/,
    );
  });

  it("hosts on different ports", () => {
    oneProblem(
      twoHosts().replace("10.0.0.2:7000", "10.0.0.2:7001"),
      /uses different ports on its hosts \(a 7000, b 7001\); LINSTOR gives a resource one port/,
    );
  });

  it("a host without node-id", () => {
    const text = `resource r {
      device minor 1; disk /dev/vg/r;
      on a { node-id 0; address 10.0.0.1:7000; }
      on b { node-id 1; address 10.0.0.2:7000; }
      on c { address 10.0.0.3:7000; }
      connection-mesh { hosts a b c; }
    }`;
    oneProblem(
      text,
      /^t\.res:5: resource r: host c has no node-id: add the node id the running resource uses/,
    );
  });

  it("three hosts without node ids (drbdadm only derives them for two)", () => {
    const text = `resource r {
      device minor 1; disk /dev/vg/r;
      on a { address 10.0.0.1:7000; }
      on b { address 10.0.0.2:7000; }
      on c { address 10.0.0.3:7000; }
      connection-mesh { hosts a b c; }
    }`;
    assert.equal(problems(text).length, 3);
  });

  it("two hosts without node ids but with explicit connections (drbdadm derives none)", () => {
    const text = twoHosts({ res: "connection { host a; host b; }" }).replace(/node-id \d; /g, "");
    assert.equal(problems(text).length, 2);
  });

  it("the same node id twice", () => {
    oneProblem(twoHosts().replace("node-id 1;", "node-id 0;"), /hosts a and b both have node-id 0/);
  });

  it("floating sections", () => {
    const text = `resource r {
      device minor 1; disk /dev/vg/r;
      floating 10.0.0.1:7000 { node-id 0; }
      floating 10.0.0.2:7000 { node-id 1; }
    }`;
    const ps = problems(text);
    assert.equal(ps.length, 2);
    assert.match(
      ps[0],
      /^t\.res:3: resource r: has a floating section \(10\.0\.0\.1:7000\); LINSTOR needs named hosts/,
    );
  });

  it("a diskless host", () => {
    oneProblem(
      twoHosts({ b: "volume 0 { disk none; }" }),
      /host b, volume 0 is diskless; oneblk adopts diskful hosts only/,
    );
  });

  it("DRBD Proxy and non-TCP transports", () => {
    oneProblem(twoHosts({ res: "proxy { memlimit 100M; }" }), /uses DRBD Proxy/);
    oneProblem(
      twoHosts({ a: "proxy { inside 127.0.0.1:7100; outside 10.0.0.1:7101; }" }),
      /^t\.res:4: resource r: uses DRBD Proxy/,
    );
    const sdp = twoHosts().replace("address 10.0.0.1:7000", "address sdp 10.0.0.1:7000");
    oneProblem(sdp, /host a uses the sdp transport/);
  });

  it("connections with their own addresses", () => {
    const text = twoHosts({
      res: `connection {
        path { host a address 192.168.0.1:7000; host b address 192.168.0.2:7000; }
      }`,
    });
    const ps = problems(text);
    assert.equal(ps.length, 2);
    assert.match(
      ps[0],
      /a connection uses its own address or port for a; LINSTOR builds connections from the node addresses/,
    );
  });

  it("a connection-mesh naming an unknown host", () => {
    oneProblem(
      twoHosts({ res: "connection-mesh { hosts a b c; }" }),
      /connection-mesh names c, which has no "on" section/,
    );
  });

  it("more than one resource, unless one is named", () => {
    const text = fixture("legacy.res") + fixture("r0_84.res");
    oneProblem(
      text,
      /^t\.res: the file defines 2 resources \(legacy, r0\): name the one to adopt$/,
    );
    assert.equal(checkResource(parseResFile(text), "r0").resource?.port, 7788);
    oneProblem(text, /^t\.res: no resource web in the file \(it has: legacy, r0\)$/, "web");
  });

  it("a resource that is not in the file but maybe in an included one", () => {
    oneProblem(
      'include "/etc/drbd.d/*.res";',
      /^t\.res: the file defines no resource \(the file includes \/etc\/drbd\.d\/\*\.res, which oneblk does not read/,
    );
  });

  it("readResource lists every problem in one line", () => {
    const text = twoHosts().replace("10.0.0.2:7000", "10.0.0.2:7001").replace(
      "internal",
      "/dev/md[0]",
    );
    assert.throws(() => readResource(text, { file: "x.res" }), (e: unknown) => {
      assert.ok(e instanceof OneblkError);
      assert.equal(e.kind, "input");
      assert.ok(!e.message.includes("\n"));
      const parts = e.message.split("; ").filter((p) => p.startsWith("x.res:"));
      assert.equal(parts.length, 3, e.message);
      return true;
    });
  });
});

/**
 * `oneblk adopt drbd` against the LINSTOR simulator and simulated hosts, as issue 12's "Done
 * when" describes it: LINBIT's sample resource `legacy` on eagle and rabbit adopted with its
 * port, peer slots, volume 10, minor 9100, net size, node ids and LV; a second run changes
 * nothing; --dry-run changes nothing; --undo restores the start; bad inputs stop before any
 * change with one line; a failure before the first resource leaves nothing behind.
 */
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { errorLines, startWorld, type World } from "./helpers.ts";
import {
  LEGACY,
  type LegacyHostOptions,
  legacyResText,
  showsKnownBytes,
} from "../support/legacy_drbd.ts";

const ADOPT = ["drbd", "eagle:/etc/drbd.d/legacy.res", "--storage-pool", "fatpool"];

/** Everything a run could change: LINSTOR's state and the hosts' files. */
async function snapshot(w: World): Promise<string> {
  const files: string[] = [];
  for (const h of ["eagle", "rabbit"]) {
    for (const p of [LEGACY.resPath, LEGACY.resPath + ".disabled", "/dev/drbd9100"]) {
      try {
        const st = await Deno.lstat(w.host(h, p));
        files.push(`${h}:${p}:${st.isSymlink ? "link" : "file"}:${st.size}`);
      } catch {
        files.push(`${h}:${p}:-`);
      }
    }
  }
  const st = w.sim.controller.state;
  return JSON.stringify({ rds: st.rds.map((r) => r.name), files });
}

describe("oneblk adopt drbd: LINBIT's sample resource", () => {
  let w: World;
  before(async () => {
    w = await startWorld();
  });
  after(async () => {
    await w.close();
  });

  it("--dry-run prints every step and changes nothing", async () => {
    const before = await snapshot(w);
    const r = await w.adopt([...ADOPT, "--peer-slots", "4", "--dry-run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /POST \/v1\/resource-definitions .*"drbd_port":15500/);
    assert.match(r.stdout, /PeerSlotsNewResource=4/);
    assert.match(r.stdout, /"volume_number":10,"size_kib":1371956},"drbd_minor_number":9100/);
    assert.match(r.stdout, /OverrideVlmId=legacy/);
    assert.match(
      r.stdout,
      /eagle: mv \/etc\/drbd.d\/legacy.res \/etc\/drbd.d\/legacy.res.disabled/,
    );
    assert.match(r.stdout, /"node_name":"rabbit".*"drbd_node_id":8/);
    const json = await w.adopt([...ADOPT, "--peer-slots", "4", "--dry-run", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const plan = JSON.parse(json.stdout).plan;
    assert.equal(plan.port, 15500);
    assert.equal(plan.peerSlots, 4);
    assert.deepEqual(plan.volumes.map((v: { netKiB: number }) => v.netKiB), [1_371_956]);
    assert.deepEqual(plan.nodes.map((n: { node: string; nodeId: number }) => [n.node, n.nodeId]), [
      ["eagle", 4],
      ["rabbit", 8],
    ]);
    assert.equal(await snapshot(w), before);
    assert.equal(w.writes(), 0, "no LINSTOR request changed anything");
  });

  it("adopts: RD, peer slots, VD 10, OverrideVlmId, resources; the LV's bytes on both nodes", async () => {
    const r = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(errorLines(r.stderr), []);
    assert.match(r.stderr, /\[7\/7\] create resources of legacy/, "progress lines");
    const rd = w.sim.controller.rd("legacy")!;
    assert.equal(rd.port, 15500);
    assert.equal(rd.props.PeerSlotsNewResource, "4");
    assert.deepEqual(rd.vds.map((v) => [v.nr, v.minor, v.sizeKib, v.props.OverrideVlmId]), [
      [10, 9100, 1_371_956, "legacy"],
    ]);
    const rscs = rd.rscs.filter((x) => !x.diskless).map((
      x,
    ) => [x.node, x.nodeId, x.pool, x.peerSlots]);
    assert.deepEqual(rscs.sort(), [["eagle", 4, "fatpool", 4], ["rabbit", 8, "fatpool", 4]]);
    for (const h of ["eagle", "rabbit"]) {
      await assert.rejects(Deno.lstat(w.host(h, LEGACY.resPath)), Deno.errors.NotFound);
      assert.ok((await Deno.lstat(w.host(h, LEGACY.resPath + ".disabled"))).isFile);
      assert.ok(await showsKnownBytes(w.host(h, "/dev/drbd/by-res/legacy/10")), `${h} by-res`);
      assert.ok(await showsKnownBytes(w.host(h, "/dev/drbd9100")), `${h} /dev/drbd9100`);
    }
  });

  it("a second run changes nothing", async () => {
    const before = await snapshot(w);
    const writes = w.writes();
    const r = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /legacy is adopted already: nothing to do/);
    assert.match(r.stdout, /legacy.res.disabled/, "read from the moved file");
    assert.equal(w.writes(), writes, "no LINSTOR request changed anything");
    assert.equal(await snapshot(w), before);
    // without --peer-slots the running sizes give the same answer (inferred)
    const again = await w.adopt([...ADOPT, "--dry-run"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /peer slots 4 \(inferred from the sizes on eagle\)/);
  });

  it("--undo refuses once LINSTOR has taken the resource over", async () => {
    const before = await snapshot(w);
    const r = await w.adopt(["drbd", "eagle:/etc/drbd.d/legacy.res", "--undo", "--yes"]);
    assert.notEqual(r.code, 0);
    assert.equal(errorLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /LINSTOR has taken legacy over on eagle, rabbit/);
    assert.equal(await snapshot(w), before);
  });
});

describe("oneblk adopt drbd: --undo, failures, continuing", () => {
  let w: World;
  let start: string;
  beforeEach(async () => {
    w = await startWorld();
    start = await snapshot(w);
  });
  afterEach(async () => {
    await w.close();
  });

  it("with the satellites stopped (the article's advice), --undo restores the starting state", async () => {
    for (const n of ["eagle", "rabbit"]) assert.ok(w.sim.setNodeOnline(n, false));
    const r = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /satellites offline on eagle, rabbit/);
    // nothing of LINSTOR's on the hosts yet: the hand-made device still runs
    assert.ok((await Deno.lstat(w.host("eagle", "/dev/drbd9100"))).isFile);
    const dry = await w.adopt(["drbd", "eagle:/etc/drbd.d/legacy.res", "--undo", "--dry-run"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /remove OverrideVlmId from volume definition 10/);
    const u = await w.adopt(["drbd", "eagle:/etc/drbd.d/legacy.res", "--undo", "--yes"]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(await snapshot(w), start);
    for (const n of ["eagle", "rabbit"]) assert.ok(w.sim.setNodeOnline(n, true));
    assert.equal(await snapshot(w), start, "satellites back: nothing of legacy is left to apply");
    for (const h of ["eagle", "rabbit"]) {
      assert.ok(await showsKnownBytes(w.host(h, "/dev/drbd9100")));
      assert.equal(await Deno.readTextFile(w.host(h, LEGACY.resPath)), legacyResText());
    }
  });

  it("a failure before the first resource leaves nothing behind", async () => {
    w.sim.addFault({ method: "POST", path: "/resources$", action: "error", status: 500, times: 1 });
    const r = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.notEqual(r.code, 0);
    assert.equal(errorLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /undoing what exists/);
    assert.equal(await snapshot(w), start);
    // and the next run does it all
    const again = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(w.sim.controller.rd("legacy")!.rscs.filter((x) => !x.diskless).length, 2);
  });

  it("a lost reply after the resources were sent: the re-run continues where it stopped", async () => {
    w.sim.addFault({ method: "POST", path: "/resources$", action: "drop", times: 1 });
    const r = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.notEqual(r.code, 0);
    assert.equal(errorLines(r.stderr).length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /undoing/, "the outcome is unknown: nothing is undone");
    const again = await w.adopt([...ADOPT, "--peer-slots", "4", "--yes"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /\[7\/7\] .*done already/);
    assert.match(again.stderr, /LINSTOR runs legacy on eagle, rabbit/);
    for (const h of ["eagle", "rabbit"]) {
      assert.ok(await showsKnownBytes(w.host(h, "/dev/drbd/by-res/legacy/10")));
    }
  });
});

describe("oneblk adopt drbd: bad inputs stop before any change with one line", () => {
  const cases: {
    title: string;
    hosts?: Record<string, LegacyHostOptions>;
    args?: string[];
    nodes?: string[];
    error: RegExp;
  }[] = [
    {
      title: "external meta data",
      hosts: {
        eagle: { resText: legacyResText({ metaDisk: "/dev/datastore/legacy_md[0]" }) },
        rabbit: { resText: legacyResText({ metaDisk: "/dev/datastore/legacy_md[0]" }) },
      },
      error: /keeps its meta data outside the disk/,
    },
    {
      title: "a device size that does not divide by 1024",
      hosts: { eagle: { deviceBytes: LEGACY.netKiB * 1024 + 512 }, rabbit: {} },
      error: /not a whole number of KiB/,
    },
    {
      title: "a net size that disagrees with the computed one",
      hosts: {
        eagle: { deviceBytes: (LEGACY.netKiB - 4) * 1024 },
        rabbit: { deviceBytes: (LEGACY.netKiB - 4) * 1024 },
      },
      args: ["--peer-slots", "4"],
      error:
        /has 1371952 KiB, but a 1405091840-byte \/dev\/datastore\/legacy with 4 peer slots gives 1371956 KiB/,
    },
    {
      title: "a node missing in LINSTOR",
      nodes: ["eagle"],
      error: /rabbit is not a LINSTOR node/,
    },
    {
      title: "a name LINSTOR refuses",
      hosts: {
        eagle: { resText: legacyResText({ name: "1legacy" }) },
        rabbit: { resText: legacyResText({ name: "1legacy" }) },
      },
      error:
        /LINSTOR refuses the resource name "1legacy" does not begin with a letter .*--rename res_1legacy/,
    },
    {
      title: "a storage pool missing on the nodes",
      args: ["--storage-pool", "thin"],
      error: /storage pool thin does not exist on node eagle/,
    },
    {
      title: "peer slots that cannot be inferred while the resource is down",
      hosts: { eagle: { running: false }, rabbit: { running: false } },
      error: /is down and its meta data could not be read .*give --peer-slots/,
    },
  ];
  for (const c of cases) {
    it(c.title, async () => {
      const w = await startWorld({ hosts: c.hosts, nodes: c.nodes });
      try {
        const before = await snapshot(w);
        const args = c.args?.includes("--storage-pool")
          ? ["drbd", "eagle:/etc/drbd.d/legacy.res", ...c.args]
          : [...ADOPT, ...(c.args ?? [])];
        const r = await w.adopt([...args, "--yes"]);
        assert.notEqual(r.code, 0, r.stdout);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, `one line: ${r.stderr}`);
        assert.match(lines[0], /^ERROR: oneblk: /);
        assert.match(lines[0], c.error);
        assert.equal(r.stdout, "", "no plan printed");
        assert.equal(w.writes(), 0);
        assert.equal(await snapshot(w), before);
      } finally {
        await w.close();
      }
    });
  }
});

describe("oneblk adopt drbd: peer slots from the meta data, renaming, the shared secret", () => {
  it("reads max-peers from the meta data of a stopped resource", async () => {
    const w = await startWorld({
      hosts: { eagle: { running: false }, rabbit: { running: false } },
    });
    const bin = await Deno.makeTempDir({ prefix: "oneblk-adopt-bin-" });
    try {
      // a drbdmeta that prints what the real one prints for this meta data
      await Deno.writeTextFile(
        join(bin, "drbdmeta"),
        `#!/bin/sh\necho "$@" >> ${bin}/calls\ncat <<'EOF'\nversion "v09";\nmax-peers 4;\n` +
          `# md_size_sect 408\nnode-id 4;\ncurrent-uuid 0x0000000000000004;\nflags 0x00000000;\n` +
          `la-size-sect ${LEGACY.netKiB * 2};\nbm-byte-per-bit 4096;\n` +
          `device-uuid 0x1;\nla-peer-max-bio-size 1048576;\nal-stripes 1;\nal-stripe-size-4k 8;\nEOF\n`,
      );
      await Deno.chmod(join(bin, "drbdmeta"), 0o755);
      const r = await w.adopt([...ADOPT, "--dry-run"], {
        PATH: `${bin}:${Deno.env.get("PATH")}`,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /peer slots 4 \(meta data on eagle\)/);
      assert.match(
        r.stdout,
        /1,371,956 KiB net \(the meta data \(la-size-sect\), equal to the computed size\)/,
      );
      const calls = await Deno.readTextFile(join(bin, "calls"));
      // (the simulated host runs it with the path mapped into its directory)
      assert.match(calls, /^9100 v09 \S*\/hosts\/eagle\/dev\/datastore\/legacy internal dump-md$/m);
    } finally {
      await w.close();
      await Deno.remove(bin, { recursive: true });
    }
  });

  it("--rename renames the running resource on every node and adopts it under the new name", async () => {
    const text = legacyResText({ name: "legacy.old" });
    const w = await startWorld({ hosts: { eagle: { resText: text }, rabbit: { resText: text } } });
    const bin = await Deno.makeTempDir({ prefix: "oneblk-adopt-bin-" });
    try {
      await Deno.writeTextFile(
        join(bin, "drbdsetup"),
        `#!/bin/sh\necho "$PWD $@" >> ${bin}/calls\n`,
      );
      await Deno.chmod(join(bin, "drbdsetup"), 0o755);
      const env = { PATH: `${bin}:${Deno.env.get("PATH")}` };
      const refused = await w.adopt([...ADOPT, "--yes"], env);
      assert.match(refused.stderr, /--rename legacy_old/);
      const r = await w.adopt([...ADOPT, "--rename", "legacy_old", "--yes"], env);
      assert.equal(r.code, 0, r.stderr);
      const calls = (await Deno.readTextFile(join(bin, "calls"))).trim().split("\n")
        .filter((l) => l.includes("rename-resource")).sort();
      assert.deepEqual(calls, [
        `${w.host("eagle", "")} rename-resource legacy.old legacy_old`,
        `${w.host("rabbit", "")} rename-resource legacy.old legacy_old`,
      ]);
      assert.ok(await showsKnownBytes(w.host("rabbit", "/dev/drbd/by-res/legacy_old/10")));
      assert.equal(w.sim.controller.rd("legacy_old")!.vds[0].props.OverrideVlmId, "legacy");
    } finally {
      await w.close();
      await Deno.remove(bin, { recursive: true });
    }
  });

  it("carries the shared secret over and never prints it", async () => {
    const text = legacyResText().replace(
      "protocol C;",
      'protocol C;\n        cram-hmac-alg sha1;\n        shared-secret "n0t-for-your-eyes";',
    );
    const w = await startWorld({ hosts: { eagle: { resText: text }, rabbit: { resText: text } } });
    try {
      for (const extra of [["--dry-run"], ["--dry-run", "--json"], ["--yes", "--json"]]) {
        const r = await w.adopt([...ADOPT, "--peer-slots", "4", ...extra]);
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stdout + r.stderr, /n0t-for-your-eyes/);
      }
      // LINSTOR has it: the peers keep authenticating with the secret they know
      assert.equal(w.sim.controller.rd("legacy")!.secret, "n0t-for-your-eyes");
    } finally {
      await w.close();
    }
  });
});

describe("oneblk adopt: usage", () => {
  const LAUNCHER = new URL("../../scripts/oneblk", import.meta.url).pathname;
  async function oneblk(args: string[]) {
    const out = await new Deno.Command(LAUNCHER, { args, stdout: "piped", stderr: "piped" })
      .output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  it("help, and one usage line for what cannot work", async () => {
    for (const args of [["help", "adopt"], ["adopt", "--help"]]) {
      const r = await oneblk(args);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /oneblk adopt drbd RESFILE/);
      assert.match(r.stdout, /--peer-slots N/);
    }
    assert.match((await oneblk(["help"])).stdout, /oneblk adopt drbd RESFILE/);
    for (
      const [args, re] of [
        [["adopt"], /usage: oneblk adopt drbd RESFILE/],
        [["adopt", "drbd"], /needs RESFILE/],
        [["adopt", "drbd", "a:/x.res", "--register"], /--register needs --datastore ID/],
        [
          ["adopt", "drbd", "a:/x.res", "--peer-slots", "32"],
          /--peer-slots must be a whole number from 1 to 31/,
        ],
        [["adopt", "drbd", "a:/x.res", "--bogus"], /Unknown option '--bogus'/],
      ] as [string[], RegExp][]
    ) {
      const r = await oneblk(args);
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(errorLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
  });
});

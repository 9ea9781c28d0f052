/**
 * tm monitor of a system datastore through the installed symlinks, for the three profiles:
 * capacity lines only on stdout (both call styles), per-VM DISK_SIZE / SNAPSHOT_SIZE received
 * by a UDP socket standing in for onemonitord, the same number of store requests for 10 and for
 * 200 volumes, the usage cache over several runs (budget, whole VMs, a replaced and a deleted
 * volume, a corrupt file), and an unreachable monitord that does not fail the action.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";
import { join } from "node:path";
import { createSocket, type Socket } from "node:dgram";
import { constants, generateKeyPairSync, type KeyObject, privateDecrypt } from "node:crypto";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { buildDsActionXml } from "../../../tools/sim/oned/builders.ts";
import type { SimExchange } from "../../../tools/sim/linstor/server.ts";
import { listUsage } from "../../../lib/backend/usage.ts";
import { parseUsageCache, usageCachePath } from "../../../lib/domain/usage_cache.ts";
import {
  assertOk,
  assertOneLineFailure,
  closeEnvs,
  devicePath,
  pattern,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  PROFILES,
  writeStart,
} from "./helpers.ts";

/**
 * Decode one MONITOR_VM datagram into vmid → decoded MONITOR text, as monitord does: base64,
 * inflate, and with a private key RSA PKCS#1 v1.5 decryption of each 256-byte block.
 */
function decodeMonitorVm(msg: string, privateKey?: KeyObject): Map<number, string> {
  const m = /^MONITOR_VM SUCCESS -1 0 (\S+)\n$/.exec(msg);
  assert.ok(m, `unexpected datagram ${msg.slice(0, 80)}`);
  const bin = Uint8Array.from(atob(m[1]), (ch) => ch.charCodeAt(0));
  let plain: Uint8Array = inflateSync(bin);
  if (privateKey) {
    assert.equal(plain.length % 256, 0);
    const parts: Uint8Array[] = [];
    for (let o = 0; o < plain.length; o += 256) {
      parts.push(
        privateDecrypt(
          { key: privateKey, padding: constants.RSA_PKCS1_PADDING },
          plain.subarray(o, o + 256),
        ),
      );
    }
    plain = new Uint8Array(parts.flatMap((p) => [...p]));
  }
  const text = new TextDecoder().decode(plain);
  const out = new Map<number, string>();
  for (const line of text.split("\n").filter(Boolean)) {
    const v = /^VM=\[ID=(\d+), MONITOR="([^"]*)"\]$/.exec(line);
    assert.ok(v, `unexpected VM line ${line}`);
    out.set(
      Number(v[1]),
      new TextDecoder().decode(Uint8Array.from(atob(v[2]), (c) => c.charCodeAt(0))),
    );
  }
  return out;
}

describe("tm monitor (system datastore)", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  let udp: Socket;
  const inbox: string[] = [];
  let waiter: (() => void) | undefined;
  let conf: string;
  const exchanges: SimExchange[] = [];
  before(async () => {
    c = await startCluster({ linstorRecord: (ex) => exchanges.push(ex) });
    envs = profileEnvs(c);
    udp = createSocket("udp4");
    udp.on("message", (m) => {
      inbox.push(new TextDecoder().decode(m));
      waiter?.();
    });
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    conf = join(c.root, "monitord-test.conf");
    const port = udp.address().port;
    await Deno.writeTextFile(conf, `NETWORK = [ MONITOR_ADDRESS = "127.0.0.1", PORT = ${port} ]\n`);
  });
  after(async () => {
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    await closeEnvs(envs);
    await c.stop();
  });

  /** Volumes of VMs `first…` with 2 disks each, tagged for system datastore `env.systemDs`. */
  async function makeVmDisks(env: ProfileEnv, firstVm: number, count: number): Promise<void> {
    const placement = env.placement(env.systemDs);
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const vm = firstVm + Math.floor(i / 2), disk = i % 2;
      jobs.push(env.backend.createVolume(env.profile.volatileVolume(vm, disk, "raw"), 4, {
        placement,
        props: env.profile.diskProps(vm, disk, env.systemDs),
      }));
      if (jobs.length >= 20) await Promise.all(jobs.splice(0));
    }
    await Promise.all(jobs);
  }

  async function monitor(
    name: ProfileName,
    vmDisks: boolean,
    monitordConf = conf,
    extraEnv: Record<string, string> = {},
  ) {
    const env = envs[name];
    const ds = c.oned.state.datastores.get(env.systemDs)!;
    const xml = buildDsActionXml({
      datastore: ds,
      extra: {
        DATASTORE_LOCATION: "/var/lib/one//datastores",
        MONITOR_VM_DISKS: vmDisks ? 1 : 0,
      },
    });
    const payload = btoa(xml);
    return await c.run("tm", name, "monitor", [`${env.systemDs}`], {
      stdin: payload,
      env: { ONEBLK_MONITORD_CONF: monitordConf, ...extraEnv },
    });
  }

  async function receive(privateKey?: KeyObject): Promise<Map<number, string>> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (!inbox.length) {
        await new Promise<void>((resolve, reject) => {
          waiter = resolve;
          timer = setTimeout(() => reject(new Error("no datagram from the monitor action")), 5_000);
        });
      }
      return decodeMonitorVm(inbox.shift()!, privateKey);
    } finally {
      waiter = undefined;
      clearTimeout(timer);
    }
  }

  PROFILES.forEach((name) => {
    it(`${name}: capacity, per-VM usage over UDP, REST calls for 10 and 200 volumes`, async () => {
      const env = envs[name];
      // 10 volumes: VMs 1000..1004
      await makeVmDisks(env, 1000, 10);
      const vol = env.profile.volatileVolume(1000, 1, "raw");
      await env.backend.attach(vol, "bravo");
      await writeStart(devicePath(c, env, "bravo", vol), pattern(3 * 1024 * 1024, 7));
      await env.backend.detach(vol, "bravo");
      await env.backend.createSnapshot(vol, env.profile.snapshotName(vol, 4));

      const before = (await c.stats()).length;
      const r10 = await monitor(name, true);
      assertOk(r10);
      assert.match(r10.stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+\n$/);
      const total = Number(/TOTAL_MB=(\d+)/.exec(r10.stdout)![1]);
      assert.ok(total > 0);
      const got = await receive();
      for (let vm = 1000; vm < 1005; vm++) assert.ok(got.has(vm), `VM ${vm} reported`);
      const t = got.get(1000)!;
      assert.match(t, /DISK_SIZE=\[ID=0,SIZE=\d+\] DISK_SIZE=\[ID=1,SIZE=(\d+)\]/);
      assert.ok(Number(/DISK_SIZE=\[ID=1,SIZE=(\d+)\]/.exec(t)![1]) >= 3, t);
      assert.match(t, /SNAPSHOT_SIZE=\[ID=4,DISK_ID=1,SIZE=\d+\]/);

      // 200 volumes: VMs 2000..2099
      await makeVmDisks(env, 2000, 190);
      const r200 = await monitor(name, true);
      assertOk(r200);
      assert.match(r200.stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+\n$/);
      const got200 = await receive();
      assert.ok(got200.has(2094) && got200.has(1000), `${got200.size} VMs reported`);

      const stats = (await c.stats()).slice(before);
      assert.equal(stats.length, 2);
      assert.ok(stats[0].rest > 0);
      if (name === "storpool") {
        assert.equal(stats[1].rest, stats[0].rest, "REST calls must not grow with the volumes");
      } else {
        // LINSTOR: the views are filtered by the datastore's names, one view and one snapshot
        // request per ~6 KB of names; 200 names of under 50 characters need at most two.
        assert.ok(
          stats[1].rest >= stats[0].rest && stats[1].rest <= stats[0].rest + 2,
          `REST calls ${stats[0].rest} for 10 volumes, ${stats[1].rest} for 200`,
        );
      }

      // without MONITOR_VM_DISKS: capacity only
      const plain = await monitor(name, false);
      assertOk(plain);
      assert.match(plain.stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+\n$/);
    });
  });

  PROFILES.forEach((name, i) => {
    it(`${name}: monitor_ds prints the VMs of a datastore directory as the host sees them`, async () => {
      const env = envs[name];
      const vmId = 3000 + i;
      const dsDir = c.hostPath("bravo", `/var/lib/one/datastores/${env.systemDs}`);
      const vmDir = join(dsDir, String(vmId));
      await Deno.mkdir(join(vmDir, "disk.1.snap"), { recursive: true });
      await Deno.mkdir(join(dsDir, "3999"), { recursive: true }); // a VM without disks
      await Deno.mkdir(join(dsDir, "notavm"), { recursive: true });
      // disk.0: a store volume behind its link (the simulator's device is a sparse file)
      const vol = env.profile.volatileVolume(vmId, 0, "raw");
      await env.backend.createVolume(vol, 8, {
        placement: env.placement(env.systemDs),
        props: env.profile.diskProps(vmId, 0, env.systemDs),
      });
      await env.backend.attach(vol, "bravo");
      await writeStart(devicePath(c, env, "bravo", vol), pattern(3 * 1024 * 1024, 9));
      await Deno.symlink(devicePath(c, env, "bravo", vol), join(vmDir, "disk.0"));
      // disk.1: a file disk with a snapshot; disk.2 a dangling link; disk.x not a disk
      await Deno.writeFile(join(vmDir, "disk.1"), pattern(2 * 1024 * 1024, 1));
      await Deno.writeFile(join(vmDir, "disk.1.snap", "0"), pattern(1024 * 1024 + 1, 2));
      await Deno.symlink("/nonexistent/dev", join(vmDir, "disk.2"));
      await Deno.writeFile(join(vmDir, "disk.x"), pattern(4096, 3));

      const ours = (stdout: string) => stdout.split("\n").filter((l) => l.includes(`${vmId}`));
      const probes = join(c.remotes, "im", "kvm-probes.d");
      const version = join(c.remotes, "VERSION");
      try {
        // 7.0 remotes without probes: the 5.12+ MONITOR line, base64 of the sizes
        let r = await c.run("tm", name, "monitor_ds", [dsDir]);
        assertOk(r);
        assert.doesNotMatch(r.stdout, /ID=3999|notavm/);
        const [line] = ours(r.stdout);
        const m = /^VM=\[ID=(\d+), MONITOR="([A-Za-z0-9+/=]+)"\]$/.exec(line);
        assert.ok(m, r.stdout);
        const text = atob(m[2]);
        const disk0 = Number(/DISK_SIZE=\[ID=0,SIZE=(\d+)\]/.exec(text)?.[1]);
        assert.ok(disk0 >= 3 && disk0 <= 8, text);
        assert.match(text, /DISK_SIZE=\[ID=1,SIZE=2\]/);
        assert.match(text, /SNAPSHOT_SIZE=\[ID=0,DISK_ID=1,SIZE=2\]/);
        assert.doesNotMatch(text, /ID=2,|disk\.x/);
        const poll = `VM=[ID=${vmId},POLL="${text} "]`;
        // probes of 5.10 (no kvm-probes.d/vm): the POLL line
        await Deno.mkdir(probes, { recursive: true });
        r = await c.run("tm", name, "monitor_ds", [dsDir]);
        assertOk(r);
        assert.deepEqual(ours(r.stdout), [poll]);
        // probes of 5.12+: MONITOR again, whatever VERSION says
        await Deno.mkdir(join(probes, "vm"));
        await Deno.writeTextFile(version, "5.10.0\n");
        r = await c.run("tm", name, "monitor_ds", [dsDir]);
        assertOk(r);
        assert.deepEqual(ours(r.stdout), [line]);
        // no probes: VERSION decides
        await Deno.remove(join(c.remotes, "im"), { recursive: true });
        r = await c.run("tm", name, "monitor_ds", [dsDir]);
        assertOk(r);
        assert.deepEqual(ours(r.stdout), [poll]);
        // a directory that does not exist has no VMs
        r = await c.run("tm", name, "monitor_ds", [join(dsDir, "missing")]);
        assertOk(r);
        assert.equal(r.stdout, "");
      } finally {
        await Deno.writeTextFile(version, "7.0.0\n");
        await Deno.remove(join(c.remotes, "im"), { recursive: true }).catch(() => {});
        await env.backend.detach(vol, "bravo");
      }
    });
  });

  it("monitor_ds refuses a relative directory", async () => {
    assertOneLineFailure(await c.run("tm", "linstor", "monitor_ds", ["var/lib"]), /absolute/);
  });

  it("monitord with PUBKEY: the push is encrypted and decrypts with the private key", async () => {
    const env = envs.storpool;
    await makeVmDisks(env, 4000, 2);
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const pub = join(c.root, "monitord-pub.pem");
    await Deno.writeTextFile(pub, String(publicKey.export({ type: "pkcs1", format: "pem" })));
    const encConf = join(c.root, "monitord-enc.conf");
    const port = udp.address().port;
    await Deno.writeTextFile(
      encConf,
      `NETWORK = [ MONITOR_ADDRESS = "127.0.0.1", PORT = ${port}, PUBKEY = "${pub}" ]\n`,
    );
    inbox.length = 0;
    const r = await monitor("storpool", true, encConf);
    assertOk(r);
    assert.match(r.stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+\n$/);
    assert.match(r.stderr, /sent to monitord \(1 datagram\(s\), encrypted\)/);
    const got = await receive(privateKey);
    assert.match(got.get(4000)!, /^DISK_SIZE=\[ID=0,SIZE=\d+\] DISK_SIZE=\[ID=1,SIZE=\d+\]$/);
  });

  it("unusable monitord (PUBKEY file missing): logged, capacity printed; ≤6.6 argv style", async () => {
    const env = envs.linstor;
    const ds = c.oned.state.datastores.get(env.systemDs)!;
    const xml = buildDsActionXml({ datastore: ds, extra: { MONITOR_VM_DISKS: 1 } });
    const bad = join(c.root, "monitord-bad.conf");
    await Deno.writeTextFile(bad, `NETWORK = [ MONITOR_ADDRESS = "127.0.0.1", PUBKEY = "/x" ]\n`);
    const r = await c.run("tm", "linstor", "monitor", [btoa(xml), `${env.systemDs}`], {
      env: { ONEBLK_MONITORD_CONF: bad },
    });
    assertOk(r);
    assert.match(r.stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+\n$/);
    assert.match(r.stderr, /not sent to monitord: cannot read monitord PUBKEY \/x/);
  });

  it("linstor: the usage cache — a budget per run, whole VMs only, equal to a direct read once filled", async () => {
    const env = envs.linstor;
    await makeVmDisks(env, 5000, 4); // VMs 5000 and 5001, two disks each
    const volumes = await listUsage(env.backend, env.profile.dsMatch(env.systemDs));
    const budget = 60;
    assert.ok(volumes.length > 3 * budget, `${volumes.length} volumes: more than 3 runs' worth`);
    let fresh = 0;
    /** What a monitor with every volume read reports (today's direct read): a fresh cache. */
    const direct = async () => {
      inbox.length = 0;
      const dir = join(c.root, `state-direct-${fresh++}`);
      assertOk(await monitor("linstor", true, conf, { ONEBLK_STATE_DIR: dir }));
      return await receive();
    };
    const state = join(c.root, "state-usage");
    const cacheEnv = { ONEBLK_STATE_DIR: state, ONEBLK_USAGE_REFRESH: String(budget) };
    /** One monitor through the cache: what it reported, what the views were asked for. */
    const cached = async () => {
      inbox.length = 0;
      const seen = exchanges.length;
      const r = await monitor("linstor", true, conf, cacheEnv);
      assertOk(r);
      const asked = exchanges.slice(seen).filter((x) => x.path === "/v1/view/resources")
        .flatMap((x) => x.query.getAll("resources"));
      const got = inbox.length || r.stderr.includes("sent to monitord") ? await receive() : null;
      return { r, asked, got: got ?? new Map<number, string>() };
    };
    const all = await direct();
    assert.ok(all.has(5000) && all.has(5001));

    // cold: 60 volumes read; only VMs whose every disk was read, with the direct figures
    const cold = await cached();
    assert.equal(cold.asked.length, budget);
    assert.ok(cold.got.size > 0 && cold.got.size < all.size, `${cold.got.size} of ${all.size}`);
    for (const [vm, text] of cold.got) assert.equal(text, all.get(vm), `VM ${vm}`);
    assert.match(cold.r.stderr, /disk usage: 60 of \d+ volume\(s\) read.*not read yet/);
    // filled after ceil(volumes / 60) runs: the report equals the direct read
    let last = cold;
    for (let k = 1; k < Math.ceil(volumes.length / budget); k++) {
      last = await cached();
      assert.ok(last.asked.length <= budget, `${last.asked.length} volumes read`);
    }
    assert.deepEqual(last.got, all);
    assert.match(
      last.r.stderr,
      /disk usage: \d+ of \d+ volume\(s\) read, the others from the cache/,
    );

    // a volume replaced under the same name: its VM waits one run, then has the new figure
    const vol = env.profile.volatileVolume(5000, 1, "raw");
    await env.backend.deleteVolume(vol, { immediate: true });
    await env.backend.createVolume(vol, 16, {
      placement: env.placement(env.systemDs),
      props: env.profile.diskProps(5000, 1, env.systemDs),
    });
    await env.backend.attach(vol, "bravo");
    await writeStart(devicePath(c, env, "bravo", vol), pattern(11 * 1024 * 1024, 4));
    await env.backend.detach(vol, "bravo");
    const waits = await cached();
    assert.ok(!waits.got.has(5000), "VM 5000 is not reported with the old volume's figure");
    assert.ok(waits.got.has(5001));
    const now = await cached();
    const want = await direct();
    assert.match(want.get(5000)!, /DISK_SIZE=\[ID=1,SIZE=(1[1-6])\]/);
    assert.equal(now.got.get(5000), want.get(5000));

    // VM 5001 deleted: no longer reported, its volumes gone from the cache file
    for (let d = 0; d < 2; d++) {
      await env.backend.deleteVolume(env.profile.volatileVolume(5001, d, "raw"), {
        immediate: true,
      });
    }
    const gone = await cached();
    assert.ok(!gone.got.has(5001) && gone.got.has(5000));
    const file = usageCachePath(cacheEnv, "linstor", env.systemDs);
    const st = parseUsageCache(await Deno.readTextFile(file));
    assert.ok(st.entries.size > 0);
    for (let d = 0; d < 2; d++) {
      const v = env.profile.volatileVolume(5001, d, "raw");
      assert.ok(!st.entries.has(v) && !st.pending.has(v), v);
    }

    // a corrupt cache: the monitor succeeds, reads as a cold cache, whole VMs only
    await Deno.writeTextFile(file, "\u0000garbage");
    const again = await cached();
    assert.match(again.r.stderr, /usage cache .* not usable: starting afresh/);
    assert.equal(again.asked.length, budget);
    for (const [vm, text] of again.got) assert.equal(text, want.get(vm), `VM ${vm}`);

    // StorPool's listing carries the usage: no cache file
    assertOk(await monitor("storpool", true, conf, cacheEnv));
    await receive();
    await assert.rejects(
      Deno.stat(usageCachePath(cacheEnv, "storpool", envs.storpool.systemDs)),
      Deno.errors.NotFound,
    );
  });

  it("bad input: one line on stderr, exit 1", async () => {
    const r = await c.run("tm", "storpool", "monitor", ["111"], { stdin: "not base64!" });
    assertOneLineFailure(r, /not valid base64/);
  });
});

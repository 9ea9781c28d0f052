/**
 * tm premigrate / postmigrate / failmigrate through the installed symlinks, for the three
 * profiles, on the simulated stores: the destination attachment and (LINSTOR) the
 * allow-two-primaries property exist exactly between premigrate and post/failmigrate, the VM
 * directory is copied to the destination and removed from the source, failmigrate and a failed
 * premigrate leave the cluster exactly as before, a device held open on the source stays
 * attached, and the call is handed on to the VM's other TM drivers (migrate_other).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import type { SimExchange } from "../../../tools/sim/linstor/server.ts";
import type { DiskInput } from "../../../tools/sim/oned/builders.ts";
import { link } from "../../../lib/host/ops.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import { runtimeFlags } from "../../../tools/bundle.ts";
import {
  assertOk,
  assertOneLineFailure,
  CLIENT_IDS,
  closeEnvs,
  createImage,
  devicePath,
  lexists,
  persistentDisk,
  placementOn,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  PROFILES,
  putVm,
  vmDir,
  volatileDisk,
} from "./helpers.ts";

const TWO_PRIMARIES = "DrbdOptions/Net/allow-two-primaries";

/** A fake TM driver: logs its calls and stdin, fails while `<root>/fakeother.fail` exists. */
function fakeTm(root: string, action: string): string {
  return `#!/bin/sh
printf '%s\\n' "${action} $*" >> "${root}/fakeother.log"
cat > "${root}/fakeother.${action}.stdin"
if [ -e "${root}/fakeother.fail" ]; then echo "fakeother: injected failure" >&2; exit 1; fi
exit 0
`;
}

/**
 * A preload for a driver action: wraps every function of `Deno` and appends each failed call
 * (thrown, or its promise rejected) to `$ONEBLK_TEST_FAILED_CALLS`, and each call of an
 * asynchronous file function to `$ONEBLK_TEST_FILE_CALLS`; says on stderr that it ran.
 */
const FAILED_CALLS_PROBE = `
const out = Deno.env.get("ONEBLK_TEST_FAILED_CALLS");
const fileCalls = Deno.env.get("ONEBLK_TEST_FILE_CALLS");
const append = Deno.writeTextFileSync;
const FILE_FUNCTIONS = /^(readTextFile|readFile|writeTextFile|writeFile|open|create|stat|lstat|realPath|readDir|readLink|remove|rename|mkdir|copyFile|chmod|truncate)$/;
for (const name of Object.getOwnPropertyNames(Deno)) {
  const f = Object.getOwnPropertyDescriptor(Deno, name).value; // (not a getter's)
  if (typeof f !== "function" || /^[A-Z]/.test(name) || name === "exit") continue;
  const note = (arg) => (e) =>
    append(out, \`Deno.\${name}(\${String(arg)}): \${e?.name}\\n\`, { append: true });
  try {
    Deno[name] = function (...args) {
      if (fileCalls && FILE_FUNCTIONS.test(name)) {
        append(fileCalls, \`Deno.\${name}(\${String(args[0])})\\n\`, { append: true });
      }
      let r;
      try {
        r = f.apply(this, args);
      } catch (e) {
        note(args[0])(e);
        throw e;
      }
      if (r && typeof r.then === "function") r.then(undefined, note(args[0]));
      return r;
    };
  } catch { /* a function the runtime does not let go */ }
}
console.error("probe loaded");
`;

describe("tm pre/post/failmigrate", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  let hosts: SimRunner;
  /** The LINSTOR simulator's exchanges, in the order it answered them. */
  const exchanges: SimExchange[] = [];
  before(async () => {
    c = await startCluster({ linstorRecord: (ex) => exchanges.push(ex) });
    envs = profileEnvs(c);
    hosts = new SimRunner(c.root);
    const dir = join(c.remotes, "tm", "fakeother");
    await Deno.mkdir(dir, { recursive: true });
    for (const a of ["premigrate", "postmigrate", "failmigrate"]) {
      await Deno.writeTextFile(join(dir, a), fakeTm(c.root, a));
      await Deno.chmod(join(dir, a), 0o755);
    }
  });
  after(async () => {
    await closeEnvs(envs);
    await c.stop();
  });

  /** The store-side state of `volumes` that migration may touch (normalised). */
  /**
   * `n` volatile raw disks of VM `vmId` on the system datastore, attached on bravo and linked in
   * `dir` there, as a VM running on bravo has them; returns their volumes.
   */
  async function runningDisks(env: ProfileEnv, vmId: number, dir: string, n: number) {
    const vols = [];
    for (let d = 0; d < n; d++) {
      const v = env.profile.volatileVolume(vmId, d, "raw");
      await env.backend.createVolume(v, 8, {
        placement: placementOn(env, env.systemDs),
        props: env.profile.diskProps(vmId, d, env.systemDs),
      });
      await env.backend.attach(v, "bravo");
      await link(hosts, "bravo", env.backend.devicePath(v), `${dir}/disk.${d}`);
      vols.push(v);
    }
    return vols;
  }

  function storeState(env: ProfileEnv, volumes: string[]): unknown {
    return volumes.map((v) => {
      if (env.name === "storpool") {
        const st = c.storpool.state();
        return {
          v,
          exists: !!st.volumes[v],
          att: st.attachments.filter((a) => a.volume === v && !a.snapshot)
            .map((a) => `${a.client}:${a.rights}`).sort(),
        };
      }
      const rd = c.linstor.controller.rd(v)!;
      return {
        v,
        rscs: rd.rscs.map((r) => `${r.node}:${r.diskless}:${r.tieBreaker}:${r.client}`).sort(),
        props: Object.entries(rd.props).filter(([k]) => !k.startsWith("Aux/")).sort(),
      };
    });
  }

  function twoPrimaries(env: ProfileEnv, v: string): string | undefined {
    return env.name === "storpool" ? undefined : c.linstor.controller.rd(v)!.props[TWO_PRIMARIES];
  }

  function setInUse(env: ProfileEnv, v: string, host: string, inUse: boolean): void {
    if (env.name === "storpool") c.storpool.setInUse(v, CLIENT_IDS[host], inUse);
    else c.linstor.setInUse(v, host, inUse);
  }

  async function readLog(): Promise<string[]> {
    try {
      return (await Deno.readTextFile(join(c.root, "fakeother.log"))).split("\n").filter(Boolean);
    } catch {
      return [];
    }
  }

  PROFILES.forEach((name, i) => {
    it(`${name}: premigrate → failmigrate → premigrate → postmigrate`, async () => {
      const env = envs[name];
      const vmId = 40 + i;
      const sys = env.systemDs;
      const dir = vmDir(sys, vmId);
      const img = await createImage(env, 400 + i);
      const vol = env.profile.volatileVolume(vmId, 1, "raw");
      await env.backend.createVolume(vol, 8, {
        placement: placementOn(env, sys),
        props: env.profile.diskProps(vmId, 1, sys),
      });
      const volumes = [img, vol];
      // the VM runs on bravo: disks attached and linked there, a context ISO in its directory
      for (const [d, v] of [[0, img], [1, vol]] as const) {
        await env.backend.attach(v, "bravo");
        await link(hosts, "bravo", env.backend.devicePath(v), `${dir}/disk.${d}`);
      }
      await Deno.writeTextFile(c.hostPath("bravo", `${dir}/disk.4`), "iso bytes");
      const other: DiskInput = {
        diskId: 2,
        imageId: 9,
        source: "x",
        tmMad: "fakeother",
        type: "BLOCK",
      };
      const ssh: DiskInput = { diskId: 3, imageId: 8, source: "y", tmMad: "ssh", type: "BLOCK" };
      const xml = putVm(c, {
        id: vmId,
        disks: [persistentDisk(env, 0, 400 + i), volatileDisk(env, 1), other, ssh],
        contextDiskId: 4,
        history: [{ hostname: "bravo", dsId: sys, tmMad: name }],
      });
      const stdin = btoa(xml);
      const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
      const run = (action: string, extra: string[] = [], input = stdin) =>
        c.run("tm", name, action, [...args, ...extra], { stdin: input });
      await Deno.remove(join(c.root, "fakeother.log")).catch(() => {});

      const before = storeState(env, volumes);
      assert.equal(twoPrimaries(env, vol), undefined);

      // premigrate
      const pre = await run("premigrate");
      assertOk(pre);
      assert.equal(pre.stdout, "");
      for (const [d, v] of [[0, img], [1, vol]] as const) {
        assert.ok((await env.backend.attachments(v)).some((a) => a.host === "charlie"), v);
        assert.equal(
          await Deno.readLink(c.hostPath("charlie", `${dir}/disk.${d}`)),
          devicePath(c, env, "charlie", v),
        );
        if (name !== "storpool") assert.equal(twoPrimaries(env, v), "yes");
      }
      assert.equal(await Deno.readTextFile(c.hostPath("charlie", `${dir}/disk.4`)), "iso bytes");
      assert.deepEqual(await readLog(), [`premigrate ${args.join(" ")} ${name}`]);
      assert.equal(await Deno.readTextFile(join(c.root, "fakeother.premigrate.stdin")), stdin);
      assert.ok(!(await Deno.readTextFile(join(c.root, "fakeother.log"))).includes("ssh"));

      // repeat: still fine
      assertOk(await run("premigrate"));

      // failmigrate: the cluster is exactly as before premigrate
      assertOk(await run("failmigrate"));
      assert.deepEqual(storeState(env, volumes), before);
      assert.equal(await lexists(c.hostPath("charlie", dir)), false);
      assert.equal(await Deno.readTextFile(c.hostPath("bravo", `${dir}/disk.4`)), "iso bytes");
      assert.equal((await readLog()).at(-1), `failmigrate ${args.join(" ")} ${name}`);
      assertOk(await run("failmigrate")); // repeat
      assert.deepEqual(storeState(env, volumes), before);

      // a failure in the middle of premigrate (another TM driver fails): everything undone
      await Deno.writeTextFile(join(c.root, "fakeother.fail"), "");
      try {
        assertOneLineFailure(await run("premigrate"), /fakeother.*injected failure/);
      } finally {
        await Deno.remove(join(c.root, "fakeother.fail"));
      }
      assert.deepEqual(storeState(env, volumes), before);
      assert.equal(await lexists(c.hostPath("charlie", dir)), false);

      // premigrate again, then postmigrate with one source device still held open
      assertOk(await run("premigrate"));
      setInUse(env, img, "bravo", true);
      const post = await run("postmigrate");
      assertOk(post);
      assert.match(post.stderr, new RegExp(`${img} is still open on bravo`));
      setInUse(env, img, "bravo", false);
      assertOk(await run("postmigrate")); // repeat: now the source attachment goes
      for (const [d, v] of [[0, img], [1, vol]] as const) {
        const att = await env.backend.attachments(v);
        const src = att.find((a) => a.host === "bravo");
        assert.ok(!src || src.diskful || src.tieBreaker, `${v} still attached diskless on bravo`);
        assert.ok(att.some((a) => a.host === "charlie"));
        assert.equal(twoPrimaries(env, v), undefined);
        assert.ok(await lexists(c.hostPath("charlie", `${dir}/disk.${d}`)));
      }
      assert.equal(await lexists(c.hostPath("bravo", dir)), false);
      assert.equal((await readLog()).at(-1), `postmigrate ${args.join(" ")} ${name}`);

      // same host: nothing happens; a forwarded call (caller_tm) does not forward again
      const n = (await readLog()).length;
      assertOk(
        await c.run("tm", name, "premigrate", ["charlie", "charlie", dir, `${vmId}`, `${sys}`], {
          stdin,
        }),
      );
      assertOk(await c.run("tm", name, "postmigrate", [...args, "ssh"], { stdin }));
      assert.equal((await readLog()).length, n);
    });
  });

  for (const name of ["linstor", "linstor_un"] as const) {
    it(`${name}: failed destination attach in premigrate: no dual-primary left`, async () => {
      const env = envs[name];
      const vmId = 50 + (name === "linstor" ? 0 : 1);
      const sys = env.systemDs;
      const dir = vmDir(sys, vmId);
      const img = await createImage(env, 500 + vmId);
      const vol = env.profile.volatileVolume(vmId, 1, "raw");
      await env.backend.createVolume(vol, 8, { placement: placementOn(env, sys) });
      for (const v of [img, vol]) await env.backend.attach(v, "bravo");
      await Deno.mkdir(c.hostPath("bravo", dir), { recursive: true });
      const xml = putVm(c, {
        id: vmId,
        disks: [persistentDisk(env, 0, 500 + vmId), volatileDisk(env, 1)],
        history: [{ hostname: "bravo", dsId: sys, tmMad: name }],
      });
      const before = storeState(env, [img, vol]);
      const id = c.linstor.addFault({
        method: "POST",
        path: `/resource-definitions/${vol}/resources/charlie/make-available`,
        action: "error",
        status: 500,
      });
      try {
        const r = await c.run("tm", name, "premigrate", [
          "bravo",
          "charlie",
          dir,
          `${vmId}`,
          `${sys}`,
        ], {
          stdin: btoa(xml),
        });
        assertOneLineFailure(r);
      } finally {
        c.linstor.clearFaults();
      }
      assert.ok(id > 0);
      assert.equal(twoPrimaries(env, img), undefined);
      assert.deepEqual(storeState(env, [img, vol]), before);
      assert.equal(await lexists(c.hostPath("charlie", `${dir}/disk.0`)), false);
      assert.equal(await lexists(c.hostPath("charlie", dir)), false);
    });
  }

  for (const [i, name] of (["linstor", "linstor_un"] as const).entries()) {
    it(`${name}: premigrate asks for two primaries while the attachments are read (issue 15)`, async () => {
      const env = envs[name];
      const vmId = 52 + i;
      const sys = env.systemDs;
      const dir = vmDir(sys, vmId);
      const vols = await runningDisks(env, vmId, dir, 2);
      const stdin = btoa(putVm(c, {
        id: vmId,
        disks: [volatileDisk(env, 0), volatileDisk(env, 1)],
        history: [{ hostname: "bravo", dsId: sys, tmMad: name }],
      }));
      const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
      // the attachments' listing answers late, as a loaded controller may
      c.linstor.addFault({
        method: "GET",
        path: "^/v1/view/resources$",
        action: "delay",
        delayMs: 300,
      });
      const from = exchanges.length;
      try {
        assertOk(await c.run("tm", name, "premigrate", args, { stdin }));
      } finally {
        c.linstor.clearFaults();
      }
      const seen = exchanges.slice(from).map((x) => `${x.method} ${decodeURIComponent(x.path)}`);
      const listing = seen.indexOf("GET /v1/view/resources");
      assert.ok(listing >= 0, seen.join("\n"));
      for (const v of vols) {
        // the permission was answered before the late listing; the attachment after it
        const allowed = seen.indexOf(`PUT /v1/resource-definitions/${v}`);
        const attached = seen.indexOf(
          `POST /v1/resource-definitions/${v}/resources/charlie/make-available`,
        );
        assert.ok(allowed >= 0 && allowed < listing, `${v}: ${seen.join("\n")}`);
        assert.ok(attached > listing, `${v}: ${seen.join("\n")}`);
        assert.equal(twoPrimaries(env, v), "yes");
      }
      assertOk(await c.run("tm", name, "postmigrate", args, { stdin }));
      for (const v of vols) {
        assert.equal(twoPrimaries(env, v), undefined);
        await env.backend.deleteVolume(v);
      }
    });
  }

  it("linstor: a migration fails no runtime call but the journal's lookup, and reads files synchronously (issue 15)", async () => {
    // A runtime call that fails costs a short action memory on its first use (lib/frugal.ts),
    // a failed removal more than a failed read. A real host's ssh makes none, so the simulated
    // hosts must not add one (their list of absent programs exists on every cluster host); the
    // journal of host leftovers is looked up, by reading, where it usually has no entry, and
    // never removed from where it has none. The runtime's asynchronous file calls cost a short
    // action more than its synchronous ones (lib/frugal.ts): oned's VERSION, the credentials and
    // the journal are read synchronously. Every `Deno` function is wrapped by a preloaded probe
    // that notes each failure and each asynchronous file call.
    const env = envs.linstor;
    const sys = env.systemDs;
    const probe = join(c.root, "failed_calls_probe.js");
    await Deno.writeTextFile(probe, FAILED_CALLS_PROBE);
    const flags = [...await runtimeFlags({ action: true }), "--preload", probe].join(" ");
    /**
     * The calls a premigrate then postmigrate of VM `vmId` failed (caller_tm: `caller`), and
     * the asynchronous file calls they made.
     */
    const failedCalls = async (vmId: number, caller?: string) => {
      const dir = vmDir(sys, vmId);
      await runningDisks(env, vmId, dir, 2);
      const stdin = btoa(putVm(c, {
        id: vmId,
        disks: [volatileDisk(env, 0), volatileDisk(env, 1)],
        history: [{ hostname: "bravo", dsId: sys, tmMad: caller ?? "linstor" }],
      }));
      const noted = join(c.root, `failed_calls_${vmId}.txt`);
      const files = join(c.root, `file_calls_${vmId}.txt`);
      const probed = {
        ONEBLK_DENO_FLAGS: flags,
        ONEBLK_TEST_FAILED_CALLS: noted,
        ONEBLK_TEST_FILE_CALLS: files,
      };
      const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`, ...(caller ? [caller] : [])];
      for (const action of ["premigrate", "postmigrate"]) {
        const r = await c.run("tm", "linstor", action, args, { stdin, env: probed });
        assertOk(r);
        assert.match(r.stderr, /probe loaded/, "the probe ran in the action");
      }
      assert.equal(
        await Deno.readLink(c.hostPath("charlie", `${dir}/disk.0`)),
        devicePath(c, env, "charlie", env.profile.volatileVolume(vmId, 0, "raw")),
      );
      const lines = async (f: string) =>
        (await Deno.readTextFile(f).catch(() => "")).split("\n").filter(Boolean);
      return { failed: await lines(noted), asynchronous: await lines(files) };
    };
    // called by the system TM (ssh): premigrate links the disks on charlie (one host command),
    // postmigrate releases them on bravo
    assert.deepEqual(await failedCalls(58, "ssh"), { failed: [], asynchronous: [] });
    // as the system TM: DIR copied and removed (two host commands each), the journal looked up
    const own = await failedCalls(59);
    assert.ok(
      own.failed.length > 0,
      "the journal is looked up (it has no entry for charlie's DIR)",
    );
    for (const call of own.failed) {
      assert.match(
        call,
        /^Deno\.readTextFileSync\(\S*\/host-leftovers\/[0-9a-f]{32}\.json\): NotFound$/,
      );
    }
    assert.deepEqual(own.asynchronous, []);
  });

  PROFILES.forEach((name, i) => {
    it(`${name}: host commands do not grow with the disks; no marker left (issue 15)`, async () => {
      const env = envs[name];
      const sys = env.systemDs;
      /** Host commands of premigrate then postmigrate for a VM with `n` volatile disks. */
      const migrate = async (vmId: number, n: number) => {
        const dir = vmDir(sys, vmId);
        await runningDisks(env, vmId, dir, n);
        const disks = Array.from({ length: n }, (_, d) => volatileDisk(env, d));
        const stdin = btoa(putVm(c, {
          id: vmId,
          disks,
          history: [{ hostname: "bravo", dsId: sys, tmMad: name }],
        }));
        const stats = join(c.root, `stats-${vmId}.jsonl`);
        const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
        for (const action of ["premigrate", "postmigrate"]) {
          assertOk(
            await c.run("tm", name, action, args, {
              stdin,
              env: { ONEBLK_STATS_FILE: stats },
            }),
          );
        }
        for (let d = 0; d < n; d++) {
          const v = env.profile.volatileVolume(vmId, d, "raw");
          assert.equal(
            await Deno.readLink(c.hostPath("charlie", `${dir}/disk.${d}`)),
            devicePath(c, env, "charlie", v),
          );
        }
        // the sharing test's marker is gone from both hosts (removed while the rest ran)
        const left = [...Deno.readDirSync(c.hostPath("charlie", dir))].map((e) => e.name)
          .filter((f) => f.startsWith(".oneblk-"));
        assert.deepEqual(left, []);
        assert.equal(await lexists(c.hostPath("bravo", dir)), false);
        return (await Deno.readTextFile(stats)).trim().split("\n").map((l) => JSON.parse(l).ssh);
      };
      const two = await migrate(60 + 2 * i, 2);
      const six = await migrate(61 + 2 * i, 6);
      assert.deepEqual(
        six,
        two,
        "premigrate and postmigrate run as many host commands for 6 disks",
      );
      // premigrate of an unshared DIR: one command on src (the marker made, then removed and
      // the tar sent once dst looked) and one on dst (the marker and DIR looked for, then the
      // untar that also makes the links), both started at once
      assert.equal(two[0], 2, "the sharing test and the copy are one command on each host");
      // postmigrate: the marker made on src by a command that waits, looked for on dst; the
      // waiting command removes DIR (and the marker with it) once the disks are released
      assert.equal(two[1], 2, "DIR is removed by the marking's own command");
    });
  });

  it("SIGTERM (oned's timeout) during a host command stops the command, one line, exit 143", async () => {
    const env = envs.linstor;
    const vmId = 79;
    const sys = env.systemDs;
    const dir = vmDir(sys, vmId);
    await Deno.mkdir(c.hostPath("bravo", dir), { recursive: true });
    const stdin = btoa(putVm(c, {
      id: vmId,
      disks: [],
      history: [{ hostname: "bravo", dsId: sys, tmMad: "linstor" }],
    }));
    // a `tar` program that hangs (the copy of DIR to the destination runs it)
    const bin = join(c.root, "hang-bin");
    const pidFile = join(c.root, "hang.pid");
    await Deno.mkdir(bin, { recursive: true });
    await Deno.writeTextFile(
      join(bin, "tar"),
      `#!/bin/sh\necho $$ > '${pidFile}'\nexec sleep 60\n`,
      {
        mode: 0o755,
      },
    );
    const child = new Deno.Command(join(c.remotes, "tm", "linstor", "premigrate"), {
      args: ["bravo", "charlie", dir, `${vmId}`, `${sys}`],
      cwd: c.root,
      env: { ...c.env, PATH: `${bin}:${c.env.PATH ?? "/usr/bin:/bin"}` },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
    let pid = 0;
    for (let i = 0; i < 200 && !pid; i++) {
      pid = Number((await Deno.readTextFile(pidFile).catch(() => "")).trim()) || 0;
      if (!pid) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(pid > 0, "the hanging command started");
    child.kill("SIGTERM");
    const out = await child.output();
    assert.equal(out.code, 143);
    const err = new TextDecoder().decode(out.stderr).trim().split("\n");
    assert.equal(err.length, 1, err.join("\n"));
    assert.match(err[0], /interrupted by SIGTERM; host commands stopped/);
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      try {
        Deno.kill(pid, "SIGCONT"); // probe: throws once the process is gone
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        alive = false;
      }
    }
    assert.equal(alive, false, "the host command was stopped with the action");
  });

  for (const [i, slow] of [false, true].entries()) {
    it(
      `storpool: premigrate and postmigrate REST calls; marks and attachments as before (issue 15)${
        slow ? ", the optional volumes' lookups answering last" : ""
      }`,
      async () => {
        const env = envs.storpool;
        const sys = env.systemDs;
        const vmId = 70 + i;
        const dir = vmDir(sys, vmId);
        const vols = await runningDisks(env, vmId, dir, 2);
        // the VM's NVRAM on the store (no TPM state volume)
        const nvram = env.profile.vmStateVolume(vmId, "nvram")!;
        await env.backend.createVolume(nvram, 1, { placement: placementOn(env, sys) });
        await env.backend.attach(nvram, "bravo");
        // an attachment of disk 1 on charlie an earlier call could not release, marked (stale now)
        await env.backend.attach(vols[1], "charlie");
        await env.backend.markLeftover({ kind: "attachment", name: vols[1], host: "charlie" }, "x");
        await env.backend.detach(vols[1], "charlie");
        const stdin = btoa(putVm(c, {
          id: vmId,
          disks: [volatileDisk(env, 0), volatileDisk(env, 1)],
          history: [{ hostname: "bravo", dsId: sys, tmMad: "storpool" }],
        }));
        const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
        const calls = async (action: string) => {
          c.storpool.resetStats();
          assertOk(await c.run("tm", "storpool", action, args, { stdin }));
          return c.storpool.stats().byMethod;
        };
        // pre: one attachment listing and the state volumes' lookups side by side, then the
        // attachments in one call (the disks' and NVRAM's), with (when a volume's tags are unknown)
        // a read of them beside it; the tag update only where a mark is
        // slow: the NVRAM's and SWTPM's lookups answer after the attachment listing (as they may on
        // a loaded machine); the attachments still go in one call
        if (slow) c.storpool.addFault({ method: "Volume", delayMs: 150 });
        let pre;
        try {
          pre = await calls("premigrate");
        } finally {
          c.storpool.clearFaults();
        }
        assert.deepEqual(pre, {
          AttachmentsList: 1,
          Volume: 2 + 2, // NVRAM, SWTPM; the disks' tags
          VolumesReassignWait: 1,
          VolumeUpdate: 1,
        });
        const att = (v: string) =>
          c.storpool.state().attachments.filter((a) => a.volume === v && !a.snapshot)
            .map((a) => a.client).sort();
        for (const v of [...vols, nvram]) {
          assert.deepEqual(att(v), [CLIENT_IDS.bravo, CLIENT_IDS.charlie]);
        }
        assert.deepEqual(
          (await env.backend.findLeftovers()).filter((l) => vols.includes(l.name)),
          [],
          "the stale mark went: the attachment is wanted now",
        );
        // post: no lookups, one detach per volume the VM may have (a missing one is fine)
        assert.deepEqual(await calls("postmigrate"), { VolumesReassignWait: 4 });
        for (const v of [...vols, nvram]) assert.deepEqual(att(v), [CLIENT_IDS.charlie]);
        for (const v of [...vols, nvram]) await env.backend.deleteVolume(v, { immediate: true });
      },
    );
  }

  for (
    const [i, [what, fault]] of ([
      ["refused", { status: 500, errorName: "invalidParam" }],
      ["applied, its reply lost", { dropAfterApply: true }],
    ] as const).entries()
  ) {
    it(`storpool: the attachments' one call ${what}: premigrate fails, every attachment undone`, async () => {
      const env = envs.storpool;
      const sys = env.systemDs;
      const vmId = 72 + i;
      const dir = vmDir(sys, vmId);
      const vols = await runningDisks(env, vmId, dir, 3);
      const stdin = btoa(putVm(c, {
        id: vmId,
        disks: [0, 1, 2].map((d) => volatileDisk(env, d)),
        history: [{ hostname: "bravo", dsId: sys, tmMad: "storpool" }],
      }));
      const before = storeState(env, vols);
      c.storpool.resetStats();
      c.storpool.addFault({ method: "VolumesReassignWait", ...fault, times: 1 });
      try {
        const r = await c.run("tm", "storpool", "premigrate", [
          "bravo",
          "charlie",
          dir,
          `${vmId}`,
          `${sys}`,
        ], { stdin });
        assertOneLineFailure(r);
      } finally {
        c.storpool.clearFaults();
      }
      // one call asked for the three attachments; each was undone on its own
      assert.equal(c.storpool.stats().byMethod.VolumesReassignWait, 1 + 3);
      assert.deepEqual(storeState(env, vols), before);
      assert.equal(await lexists(c.hostPath("charlie", dir)), false);
      for (const v of vols) await env.backend.deleteVolume(v, { immediate: true });
    });
  }

  it("postmigrate: disks that cannot be found fail the step as they are, no marker left", async () => {
    const env = envs.linstor;
    const vmId = 78;
    const dir = vmDir(env.systemDs, vmId);
    for (const h of ["bravo", "charlie"]) {
      await Deno.mkdir(c.hostPath(h, dir), { recursive: true });
    }
    // the disk's datastore is unknown to oned: the disks cannot be found
    const stdin = btoa(putVm(c, {
      id: vmId,
      disks: [volatileDisk(env, 0, { datastoreId: 4242 })],
      history: ["bravo", "charlie"].map((hostname) => ({
        hostname,
        dsId: env.systemDs,
        tmMad: "linstor",
      })),
    }));
    const r = await c.run("tm", "linstor", "postmigrate", [
      "bravo",
      "charlie",
      dir,
      `${vmId}`,
      `${env.systemDs}`,
    ], { stdin });
    assertOneLineFailure(r, /4242/);
    // the sharing test ran beside the lookup: its marker is gone, DIR stays on the source
    for (const h of ["bravo", "charlie"]) {
      const left = [...Deno.readDirSync(c.hostPath(h, dir))].map((e) => e.name);
      assert.deepEqual(left.filter((f) => f.startsWith(".oneblk-")), [], h);
    }
    assert.ok(await lexists(c.hostPath("bravo", dir)));
  });

  it("bad input: one line on stderr, exit 1", async () => {
    const r = await c.run("tm", "storpool", "premigrate", [
      "bravo",
      "charlie",
      "rel/dir",
      "1",
      "111",
    ], {
      stdin: "",
    });
    assertOneLineFailure(r, /absolute/);
    const r2 = await c.run("tm", "linstor", "postmigrate", [
      "bravo",
      "charlie",
      "/a/101/1",
      "1",
      "101",
    ], {
      stdin: "@@@",
    });
    assertOneLineFailure(r2, /base64/);
  });
});

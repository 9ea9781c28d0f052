/**
 * VMM overrides snapshotcreate / snapshotrevert / snapshotdelete through the installed
 * vmm/kvm symlinks, for the three profiles: one atomic store snapshot per VM disk (persistent
 * image disk + volatile disk), a revert brings back every disk's bytes, delete removes them and
 * repeats; a store failure or a failed thaw leaves no snapshot; VMSNAPSHOT_LIMIT refuses in one
 * line and creates nothing; a VM without oneblk disks goes to the host's stock script and its
 * stdout is passed on.
 * Revert of a RUNNING VM (the only state oned calls it in) on the simulated virsh, whose running
 * domain holds its store volumes open: the domain is stopped, every disk rolled back, and the
 * domain started again with the same UUID; a start that fails leaves the disks reverted and the
 * domain's XML kept, and a second revert finishes; a rollback that fails before any disk changed
 * starts the domain again unchanged.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { buildVmmActionXml, buildVmXml, type VmInput } from "../../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import { parseVmSync } from "../../support/views_sync.ts";
import {
  type Case,
  CASES,
  Env,
  pattern,
  persistentDisk,
  shaBytes,
  vmInput,
  volatileDisk,
} from "../tm_disk/helpers.ts";
import {
  assertOk,
  assertOneLineFailure,
  failSimVirsh,
  lexists,
  simDomain,
  simDomainFile,
  startSimDomain,
  vmDir,
} from "../tm_system/helpers.ts";
import { child } from "../../../lib/one/xml.ts";

const LEN = 256 * 1024;

describe("vmm snapshot_create / snapshot_revert / snapshot_delete overrides", () => {
  let c: Cluster;
  let env: Env;
  // the simulated cloud's own virsh (its default ONEBLK_VIRSH)
  const virshEnv: Record<string, string> = {};
  before(async () => {
    c = await startCluster();
    env = new Env(c);
  });
  after(async () => {
    await env.close();
    await c.stop();
  });

  /** A VM with a persistent image disk 0 and a volatile disk 1, each filled with a pattern. */
  async function makeVm(tc: Case, n: number) {
    const vmId = tc.vmBase + n;
    const imageId = tc.vmBase + n;
    const data = [pattern(vmId * 10, LEN), pattern(vmId * 10 + 1, LEN)];
    await env.image(tc, imageId, 4, data[0]);
    const input = vmInput(tc, vmId, "bravo", [
      persistentDisk(tc, 0, imageId, 4),
      volatileDisk(tc, 1, 4),
    ]);
    const vm = parseVmSync(buildVmXml(input));
    const vols = vm.disks.map((d) => tc.profile.diskVolume(vmId, d));
    const sysB = env.backend(tc, tc.systemDs);
    await sysB.createVolume(vols[1], 4, { placement: env.placement(tc, tc.systemDs) });
    await env.write(tc, vols[1], data[1], 0, tc.systemDs);
    const dsOf = [tc.imageDs, tc.systemDs];
    return { vmId, input, vols, data, dsOf, dom: `one-${vmId}` };
  }

  /**
   * Start the VM's domain on bravo: both volumes attached there, linked as DIR/disk.0 and
   * DIR/disk.1, and opened by the simulated virsh. Returns the domain's UUID.
   */
  async function boot(tc: Case, vm: Awaited<ReturnType<typeof makeVm>>): Promise<string> {
    const dir = vmDir(tc.systemDs, vm.vmId);
    await Deno.mkdir(c.hostPath("bravo", dir), { recursive: true });
    for (const [i, v] of vm.vols.entries()) {
      const b = env.backend(tc, vm.dsOf[i]);
      await b.attach(v, "bravo");
      const link = c.hostPath("bravo", `${dir}/disk.${i}`);
      await Deno.remove(link).catch(() => {});
      await Deno.symlink(c.hostPath("bravo", b.devicePath(v)), link);
    }
    return await startSimDomain(c, "bravo", vm.dom, dir, [
      { target: "vda", path: `${dir}/disk.0` },
      { target: "vdb", path: `${dir}/disk.1` },
    ]);
  }

  /** Whether every volume of the VM is open on bravo. */
  async function open(tc: Case, vm: Awaited<ReturnType<typeof makeVm>>): Promise<boolean[]> {
    return await Promise.all(
      vm.vols.map(async (v, i) =>
        (await env.backend(tc, vm.dsOf[i]).attachments(v)).some((a) =>
          a.host === "bravo" && a.inUse
        )
      ),
    );
  }

  function message(tc: Case, input: VmInput, extra: Partial<VmInput> = {}): string {
    const vm = buildVmXml({ ...input, ...extra });
    const ds = c.oned.state.datastores.get(tc.systemDs)!;
    return encodeBase64Text(buildVmmActionXml({
      vm,
      datastore: ds,
      host: "bravo",
      deployId: input.deployId,
    }));
  }

  function run(
    tc: Case,
    verb: "create" | "revert" | "delete",
    args: (string | number)[],
    stdin: string,
    more: Record<string, string> = {},
  ) {
    return c.run("vmm", "kvm", `snapshot_${verb}-${tc.driver}`, args.map(String), {
      stdin,
      env: { ...virshEnv, ...more },
    });
  }

  async function snapNames(tc: Case, vm: { vols: string[]; dsOf: number[] }) {
    const out: string[][] = [];
    for (const [i, v] of vm.vols.entries()) {
      out.push((await env.backend(tc, vm.dsOf[i]).listSnapshots(v)).map((s) => s.name));
    }
    return out;
  }

  async function shas(tc: Case, vm: { vols: string[]; dsOf: number[] }) {
    return await Promise.all(vm.vols.map((v, i) => env.volumeSha(tc, v, LEN, vm.dsOf[i])));
  }

  CASES.forEach((tc) => {
    it(`${tc.driver}: create, change, revert brings back every disk, delete; repeats`, async () => {
      const vm = await makeVm(tc, 1);
      const args = [vm.dom, 0, vm.vmId, "bravo"];
      const r = await run(tc, "create", args, message(tc, vm.input));
      assertOk(r);
      const m = /^ONESNAP-0-(\d+)\n$/.exec(r.stdout);
      assert.ok(m, `hypervisor id: ${JSON.stringify(r.stdout)}`);
      const hv = r.stdout.trim();
      const ts = Number(m[1]);
      const names = vm.vols.map((v) => tc.profile.vmSnapshotName(v, 0, ts));
      assert.deepEqual(await snapNames(tc, vm), names.map((n) => [n]));
      for (const n of names) {
        assert.ok(n.length <= 48, n);
        assert.equal(tc.profile.snapshotId(vm.vols[0], n), null, "not a disk snapshot");
      }

      // change every disk
      const changed = [pattern(vm.vmId * 10 + 5, LEN), pattern(vm.vmId * 10 + 6, LEN)];
      for (const [i, v] of vm.vols.entries()) await env.write(tc, v, changed[i], 0, vm.dsOf[i]);
      assert.deepEqual(await shas(tc, vm), await Promise.all(changed.map((d) => shaBytes(d))));

      const withSnap = message(tc, vm.input, {
        state: 8,
        lcmState: 0,
        template: { SNAPSHOT: [{ SNAPSHOT_ID: 0, HYPERVISOR_ID: hv, NAME: "s0" }] },
      });
      // powered off (KEEP_SNAPSHOTS): revert (twice: a repeat gives the same result)
      for (let k = 0; k < 2; k++) {
        assertOk(await run(tc, "revert", args, withSnap));
        assert.deepEqual(await shas(tc, vm), await Promise.all(vm.data.map((d) => shaBytes(d))));
      }

      // RUNNING, as oned calls it: stopped, reverted, started again as the same domain
      for (const [i, v] of vm.vols.entries()) await env.write(tc, v, changed[i], 0, vm.dsOf[i]);
      const uuid = await boot(tc, vm);
      assert.deepEqual(await open(tc, vm), [true, true]);
      const running = message(tc, vm.input, {
        state: 3,
        lcmState: 24,
        template: { SNAPSHOT: [{ SNAPSHOT_ID: 0, HYPERVISOR_ID: hv, NAME: "s0", ACTIVE: "YES" }] },
      });
      assertOk(await run(tc, "revert", [vm.dom, hv, vm.vmId, "bravo"], running));
      assert.deepEqual(await shas(tc, vm), await Promise.all(vm.data.map((d) => shaBytes(d))));
      const back = await simDomain(c, "bravo", vm.dom);
      assert.equal(back && child(back, "uuid")?.text, uuid, "the same domain runs again");
      assert.deepEqual(await open(tc, vm), [true, true], "and holds its disks open");
      assert.equal(
        await lexists(c.hostPath("bravo", `${vmDir(tc.systemDs, vm.vmId)}/oneblk-revert.xml`)),
        false,
      );
      await Deno.remove(simDomainFile(c, "bravo", vm.dom));

      // delete, and again (missing = fine)
      for (let k = 0; k < 2; k++) {
        assertOk(await run(tc, "delete", args, withSnap));
        assert.deepEqual(await snapNames(tc, vm), [[], []]);
      }
      // revert of a deleted snapshot fails in one line
      assertOneLineFailure(await run(tc, "revert", args, withSnap), /VM snapshot 0/);
    });

    it(`${tc.driver}: a failing store or a failed thaw leaves no snapshot`, async () => {
      const vm = await makeVm(tc, 2);
      const args = [vm.dom, 3, vm.vmId, "bravo"];
      const stdin = message(tc, vm.input);
      // the store refuses the group snapshot
      if (tc.driver === "storpool") {
        c.storpool.addFault({ method: "VolumesGroupSnapshot", status: 500 });
      } else {
        c.linstor.addFault({
          method: "POST",
          path: "^/v1/actions/snapshot/multi$",
          action: "error",
        });
      }
      try {
        const bad = await run(tc, "create", args, stdin);
        assert.equal(bad.code, 1, bad.stderr);
        assert.equal(bad.stdout, "");
      } finally {
        if (tc.driver === "storpool") c.storpool.clearFaults();
        else c.linstor.clearFaults();
      }
      assert.deepEqual(await snapNames(tc, vm), [[], []]);

      // snapshots made, then the thaw fails: they are deleted again
      await Deno.mkdir(join(simDomainFile(c, "bravo", vm.dom), ".."), { recursive: true });
      await Deno.writeTextFile(simDomainFile(c, "bravo", vm.dom), "mem");
      const thawWorks = await failSimVirsh(c, "bravo", "domfsthaw");
      try {
        const bad = await run(tc, "create", args, stdin, { VMSNAPSHOT_FSFREEZE: "YES" });
        assertOneLineFailure(bad, /may still be frozen/);
      } finally {
        await thawWorks();
      }
      assert.deepEqual(await snapNames(tc, vm), [[], []]);
      const calls = await Deno.readTextFile(c.hostPath("bravo", "var/run/oneblk-sim/virsh.log"));
      assert.match(calls, new RegExp(`domfsfreeze ${vm.dom}`));

      // frozen and thawed: the snapshot is made
      const ok = await run(tc, "create", args, stdin, { VMSNAPSHOT_FSFREEZE: "YES" });
      assertOk(ok);
      const ts = Number(/^ONESNAP-3-(\d+)$/.exec(ok.stdout.trim())![1]);
      assert.deepEqual(
        await snapNames(tc, vm),
        vm.vols.map((v) => [tc.profile.vmSnapshotName(v, 3, ts)]),
      );
      await Deno.remove(simDomainFile(c, "bravo", vm.dom));
    });

    it(`${tc.driver}: a revert that fails part way says what state the VM is in`, async () => {
      const vm = await makeVm(tc, 5);
      const r = await run(tc, "create", [vm.dom, 0, vm.vmId, "bravo"], message(tc, vm.input));
      assertOk(r);
      const hv = r.stdout.trim();
      const changed = [pattern(vm.vmId * 10 + 7, LEN), pattern(vm.vmId * 10 + 8, LEN)];
      for (const [i, v] of vm.vols.entries()) await env.write(tc, v, changed[i], 0, vm.dsOf[i]);
      const uuid = await boot(tc, vm);
      const stdin = message(tc, vm.input, {
        state: 3,
        lcmState: 24,
        template: { SNAPSHOT: [{ SNAPSHOT_ID: 0, HYPERVISOR_ID: hv, NAME: "s0", ACTIVE: "YES" }] },
      });
      const args = [vm.dom, hv, vm.vmId, "bravo"];
      const kept = `${vmDir(tc.systemDs, vm.vmId)}/oneblk-revert.xml`;

      // the first rollback fails: nothing changed, the domain runs again
      if (tc.driver === "storpool") {
        c.storpool.addFault({ method: "VolumeRevert", status: 500, times: 50 });
      } else {
        c.linstor.addFault({
          method: "POST",
          path: "snapshot-rollback",
          action: "error",
          times: 1,
        });
      }
      try {
        assertOneLineFailure(
          await run(tc, "revert", args, stdin),
          /nothing reverted.*started again unchanged/,
          { ignoreInfo: true },
        );
      } finally {
        if (tc.driver === "storpool") c.storpool.clearFaults();
        else c.linstor.clearFaults();
      }
      assert.deepEqual(await shas(tc, vm), await Promise.all(changed.map((d) => shaBytes(d))));
      assert.equal(child((await simDomain(c, "bravo", vm.dom))!, "uuid")?.text, uuid);
      assert.deepEqual(await open(tc, vm), [true, true]);

      // the disks are reverted but the domain does not start: it stays off, its XML kept
      const createWorks = await failSimVirsh(c, "bravo", "create");
      try {
        assertOneLineFailure(
          await run(tc, "revert", args, stdin),
          /disks reverted to VM snapshot 0, but the domain could not be started on bravo.*kept in .*oneblk-revert\.xml; revert again/,
          { ignoreInfo: true },
        );
      } finally {
        await createWorks();
      }
      assert.equal(await simDomain(c, "bravo", vm.dom), null);
      assert.deepEqual(await open(tc, vm), [false, false]);
      assert.ok(await lexists(c.hostPath("bravo", kept)));
      assert.deepEqual(await shas(tc, vm), await Promise.all(vm.data.map((d) => shaBytes(d))));
      // reverting again finishes: the same domain starts from the kept XML
      const again = await run(tc, "revert", args, stdin);
      assertOk(again);
      assert.match(again.stderr, /finishing an earlier revert/);
      assert.equal(child((await simDomain(c, "bravo", vm.dom))!, "uuid")?.text, uuid);
      assert.deepEqual(await open(tc, vm), [true, true]);
      assert.equal(await lexists(c.hostPath("bravo", kept)), false);
      await Deno.remove(simDomainFile(c, "bravo", vm.dom));
    });

    it(`${tc.driver}: VMSNAPSHOT_LIMIT refuses in one line and creates nothing`, async () => {
      const vm = await makeVm(tc, 3);
      const old = { SNAPSHOT_ID: 0, HYPERVISOR_ID: "ONESNAP-0-1700000000", NAME: "s0" };
      const cur = { SNAPSHOT_ID: 1, HYPERVISOR_ID: "", NAME: "s1" };
      // user template wins over the system datastore and the environment
      const stdin = message(tc, vm.input, {
        template: { SNAPSHOT: [old, cur] },
        userTemplate: { VMSNAPSHOT_LIMIT: 1 },
      });
      const args = [vm.dom, 1, vm.vmId, "bravo"];
      const bad = await run(tc, "create", args, stdin, { VMSNAPSHOT_LIMIT: "5" });
      assertOneLineFailure(bad, /VMSNAPSHOT_LIMIT is 1 \(VM \d+ user template\)/);
      assert.deepEqual(await snapNames(tc, vm), [[], []]);
      // from the environment when the VM and datastore say nothing
      const stdin2 = message(tc, vm.input, { template: { SNAPSHOT: [old, cur] } });
      assertOneLineFailure(
        await run(tc, "create", args, stdin2, { VMSNAPSHOT_LIMIT: "1" }),
        /VMSNAPSHOT_LIMIT is 1 \(the driver environment\)/,
      );
      assert.deepEqual(await snapNames(tc, vm), [[], []]);
      // under the limit: made
      const ok = await run(tc, "create", args, stdin2, { VMSNAPSHOT_LIMIT: "2" });
      assertOk(ok);
      assert.match(ok.stdout, /^ONESNAP-1-\d+\n$/);
    });
  });

  it("a VM without oneblk disks runs the host's stock script; mixed disks are refused", async () => {
    const rr = c.hostPath("bravo", "var/tmp/one");
    await Deno.mkdir(join(rr, "vmm", "kvm"), { recursive: true });
    const script = join(rr, "vmm", "kvm", "snapshot_create");
    await Deno.writeTextFile(script, `#!/bin/sh\ncat > "$PWD/stock-snap.stdin"\necho snap-$2\n`);
    await Deno.chmod(script, 0o755);
    const tc = CASES[0];
    const input: VmInput = {
      ...vmInput(tc, 990, "bravo", [{ diskId: 0, tmMad: "ssh", type: "FS", datastoreId: 1 }]),
    };
    const stdin = message(tc, input);
    const r = await run(tc, "create", ["one-990", 4, 990, "bravo"], stdin, {
      ONEBLK_SCRIPTS_REMOTE_DIR: rr,
    });
    assertOk(r);
    assert.equal(r.stdout, "snap-4\n");
    const got = await Deno.readTextFile(c.hostPath("bravo", "stock-snap.stdin"));
    assert.match(got, /^<VMM_DRIVER_ACTION_DATA>/);

    const vm = await makeVm(tc, 4);
    const mixed = message(tc, {
      ...vm.input,
      disks: [...vm.input.disks!, { diskId: 2, tmMad: "ssh", type: "FS", datastoreId: 1 }],
    });
    assertOneLineFailure(
      await run(tc, "create", [vm.dom, 0, vm.vmId, "bravo"], mixed),
      /disk 2 .* uses TM_MAD ssh/,
    );
    assert.deepEqual(await snapNames(tc, vm), [[], []]);
  });
});

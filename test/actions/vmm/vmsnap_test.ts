/**
 * VMM overrides snapshotcreate / snapshotrevert / snapshotdelete through the installed
 * vmm/kvm symlinks, for the three profiles: one atomic store snapshot per VM disk (persistent
 * image disk + volatile disk), a revert brings back every disk's bytes, delete removes them and
 * repeats; a store failure or a failed thaw leaves no snapshot; VMSNAPSHOT_LIMIT refuses in one
 * line and creates nothing; a running VM is not reverted; a VM without oneblk disks goes to the
 * host's stock script and its stdout is passed on.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { buildVmmActionXml, buildVmXml, type VmInput } from "../../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import { parseVm } from "../../../lib/one/views.ts";
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
  domainFile,
  installFakeVirsh,
} from "../tm_system/helpers.ts";

const LEN = 256 * 1024;

describe("vmm snapshot_create / snapshot_revert / snapshot_delete overrides", () => {
  let c: Cluster;
  let env: Env;
  let virshEnv: Record<string, string>;
  before(async () => {
    c = await startCluster();
    env = new Env(c);
    virshEnv = { ONEBLK_VIRSH: await installFakeVirsh(c) };
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
    const vm = parseVm(buildVmXml(input));
    const vols = vm.disks.map((d) => tc.profile.diskVolume(vmId, d));
    const sysB = env.backend(tc, tc.systemDs);
    await sysB.createVolume(vols[1], 4, { placement: env.placement(tc, tc.systemDs) });
    await env.write(tc, vols[1], data[1], 0, tc.systemDs);
    const dsOf = [tc.imageDs, tc.systemDs];
    return { vmId, input, vols, data, dsOf, dom: `one-${vmId}` };
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
      // a running domain is not reverted
      await Deno.mkdir(join(domainFile(c, "bravo", vm.dom), ".."), { recursive: true });
      await Deno.writeTextFile(domainFile(c, "bravo", vm.dom), "mem");
      try {
        assertOneLineFailure(await run(tc, "revert", args, withSnap), /power it off/);
      } finally {
        await Deno.remove(domainFile(c, "bravo", vm.dom));
      }
      assert.deepEqual(await shas(tc, vm), await Promise.all(changed.map((d) => shaBytes(d))));

      // powered off: revert (twice: a repeat gives the same result)
      for (let k = 0; k < 2; k++) {
        assertOk(await run(tc, "revert", args, withSnap));
        assert.deepEqual(await shas(tc, vm), await Promise.all(vm.data.map((d) => shaBytes(d))));
      }

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
      await Deno.mkdir(join(domainFile(c, "bravo", vm.dom), ".."), { recursive: true });
      await Deno.writeTextFile(domainFile(c, "bravo", vm.dom), "mem");
      const failThaw = c.hostPath("bravo", "var/run/fakevirsh/fail-domfsthaw");
      await Deno.writeTextFile(failThaw, "");
      try {
        const bad = await run(tc, "create", args, stdin, { VMSNAPSHOT_FSFREEZE: "YES" });
        assertOneLineFailure(bad, /may still be frozen/);
      } finally {
        await Deno.remove(failThaw);
      }
      assert.deepEqual(await snapNames(tc, vm), [[], []]);
      const calls = await Deno.readTextFile(c.hostPath("bravo", "var/run/fakevirsh/calls.log"));
      assert.match(calls, new RegExp(`domfsfreeze ${vm.dom}`));

      // frozen and thawed: the snapshot is made
      const ok = await run(tc, "create", args, stdin, { VMSNAPSHOT_FSFREEZE: "YES" });
      assertOk(ok);
      const ts = Number(/^ONESNAP-3-(\d+)$/.exec(ok.stdout.trim())![1]);
      assert.deepEqual(
        await snapNames(tc, vm),
        vm.vols.map((v) => [tc.profile.vmSnapshotName(v, 3, ts)]),
      );
      await Deno.remove(domainFile(c, "bravo", vm.dom));
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

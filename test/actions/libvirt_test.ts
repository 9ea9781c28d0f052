/**
 * Every libvirt call of every action that touches libvirt uses the configured virsh program
 * (ONEBLK_VIRSH) and connection URI (ONEBLK_LIBVIRT_URI): the guest freeze of tm
 * snap_create_live, of a hot tm cpds and of tm prebackup_live, the domain checks and freeze of
 * the VM snapshot override, the stop/start of a running VM's snapshot revert, the save/restore
 * overrides, and the live domain and media changes of the disk hot-plug overrides (the deploy
 * override calls none: the host's stock deploy starts the domain). A recording virsh on the
 * simulated hosts logs each call's whole argv before handing it to the simulated virsh
 * (tools/sim/libvirt.ts).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../tools/sim/cluster.ts";
import { buildVmmActionXml, buildVmXml } from "../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../lib/one/args.ts";
import { assertOk, runWithStats } from "../support/cluster.ts";
import {
  CASES,
  cloneDisk,
  diskArg,
  Env,
  pattern,
  persistentDisk,
  vmDir,
  vmInput,
} from "./tm_disk/helpers.ts";
import { simDomainFile } from "./tm_system/helpers.ts";
import { fixture } from "../domain/helpers.ts";
import { needing } from "../support/tools.ts";

const URI = "qemu+tcp://libvirt.test/system";

describe("libvirt calls use ONEBLK_VIRSH and ONEBLK_LIBVIRT_URI", () => {
  let c: Cluster;
  let env: Env;
  let venv: Record<string, string>;
  const tc = CASES[0];

  before(async () => {
    c = await startCluster();
    env = new Env(c);
    const sim = join(c.root, "bin", "virsh");
    const recorder = join(c.root, "bin", "recording-virsh");
    await Deno.writeTextFile(
      recorder,
      `#!/bin/sh\nmkdir -p "$PWD/var/run"\necho "$*" >> "$PWD/var/run/virsh-argv.log"\n` +
        `exec ${JSON.stringify(sim)} "$@"\n`,
    );
    await Deno.chmod(recorder, 0o755);
    venv = { ONEBLK_VIRSH: recorder, ONEBLK_LIBVIRT_URI: URI };
  });
  after(async () => {
    await env.close();
    await c.stop();
  });

  /** The argv of every virsh call on `host` since the last look (the log is emptied). */
  async function calls(host: string): Promise<string[]> {
    const log = c.hostPath(host, "var/run/virsh-argv.log");
    const text = await Deno.readTextFile(log).catch(() => "");
    await Deno.remove(log).catch(() => {});
    return text.split("\n").filter(Boolean);
  }

  /** A running domain on `host` (a domain file of the simulated virsh; `xml` or a bare name). */
  async function running(host: string, dom: string, xml = "mem"): Promise<void> {
    const f = simDomainFile(c, host, dom);
    await Deno.mkdir(join(f, ".."), { recursive: true });
    await Deno.writeTextFile(f, xml);
  }

  function run(kind: "tm" | "vmm", dir: string, action: string, args: (string | number)[]) {
    return runWithStats(c, kind, dir, action, args, { env: venv });
  }

  /** Every call went to URI (`-c URI` or `--connect URI`); returns the rest of each argv. */
  function verbs(argvs: string[]): string[] {
    return argvs.map((a) => {
      const m = /^(?:-c|--connect) (\S+) (.*)$/.exec(a);
      assert.ok(m && m[1] === URI, `virsh ${a}`);
      return m[2];
    });
  }

  /** A VM on bravo with a private clone of a fresh image as disk 0. */
  async function cloned(n: number, lcmState: number, template: Record<string, string> = {}) {
    const vmId = tc.vmBase + n;
    const img = await env.image(tc, vmId, 4, pattern(vmId, 4096));
    env.vm(vmInput(tc, vmId, "bravo", [cloneDisk(tc, 0, vmId, 4, 4)], { lcmState, template }));
    const disk = diskArg("bravo", tc.systemDs, vmId, 0);
    await env.ok(tc, "clone", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
    await running("bravo", `one-${vmId}`);
    return { vmId, disk, dom: `one-${vmId}` };
  }

  it("tm snap_create_live freezes the guest through the configured virsh", async () => {
    const s = await cloned(1, 3);
    await calls("bravo");
    const r = await run("tm", tc.driver, "snap_create_live", [s.disk, 1, s.vmId, tc.imageDs]);
    assertOk(r);
    assert.deepEqual(verbs(await calls("bravo")), [
      `domfsfreeze ${s.dom}`,
      `domfsthaw ${s.dom}`,
    ]);
  });

  it("a hot tm cpds with DISK_SAVEAS_FSFREEZE=YES freezes through it", async () => {
    const s = await cloned(2, 26, { DISK_SAVEAS_FSFREEZE: "YES" });
    await calls("bravo");
    const target = tc.profile.imageSource(tc.vmBase + 50, tc.imageDs);
    const r = await run("tm", tc.driver, "cpds", [s.disk, target, -1, s.vmId, tc.imageDs]);
    assertOk(r);
    assert.deepEqual(verbs(await calls("bravo")), [
      `domfsfreeze ${s.dom}`,
      `domfsthaw ${s.dom}`,
    ]);
  });

  for (
    const [n, mode, want] of [[3, "AGENT", ["domfsfreeze", "domfsthaw"]], [8, "SUSPEND", [
      "suspend",
      "resume",
    ]]] as const
  ) {
    it(
      ...needing(["qemu-img"], `tm prebackup_live with FS_FREEZE=${mode} ${want[0]}s through it`),
      async () => {
        const vmId = tc.vmBase + n;
        const img = await env.image(tc, vmId, 4, pattern(vmId, 4096));
        const dir = vmDir(tc.systemDs, vmId);
        const input = vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, vmId, 4)], {
          lcmState: 69,
          backupConfig: { MODE: "FULL", FS_FREEZE: mode },
        });
        env.vm(input);
        await env.ok(tc, "ln", [
          `alpha:${img.source}`,
          diskArg("bravo", tc.systemDs, vmId, 0),
          vmId,
          tc.imageDs,
        ]);
        await running("bravo", `one-${vmId}`);
        await calls("bravo");
        const args = [`bravo:${dir}`, "0", `one-${vmId}`, "-", vmId, tc.systemDs];
        const r = await c.run("tm", tc.driver, "prebackup_live", args.map(String), {
          stdin: buildVmXml(input),
          env: venv,
        });
        assertOk(r);
        assert.deepEqual(verbs(await calls("bravo")), want.map((v) => `${v} one-${vmId}`));
        assertOk(await c.run("tm", tc.driver, "postbackup_live", args.map(String), { env: venv }));
      },
    );
  }

  it("the VM snapshot override checks and freezes the domain through it", async () => {
    const s = await cloned(4, 3);
    await calls("bravo");
    const input = vmInput(tc, s.vmId, "bravo", [cloneDisk(tc, 0, s.vmId, 4, 4)]);
    const stdin = encodeBase64Text(buildVmmActionXml({
      vm: buildVmXml(input),
      datastore: c.oned.state.datastores.get(tc.systemDs)!,
      host: "bravo",
      deployId: s.dom,
    }));
    const r = await c.run("vmm", "kvm", `snapshot_create-${tc.driver}`, [
      s.dom,
      "0",
      String(s.vmId),
      "bravo",
    ], { stdin, env: { ...venv, VMSNAPSHOT_FSFREEZE: "YES" } });
    assertOk(r);
    assert.deepEqual(verbs(await calls("bravo")), [
      `domstate ${s.dom}`,
      `domfsfreeze ${s.dom}`,
      `domfsthaw ${s.dom}`,
    ]);
  });

  it("the save and restore overrides save and restore through it", async () => {
    const vmId = tc.vmBase + 5;
    const dom = `one-${vmId}`;
    const ckpt = `${vmDir(tc.systemDs, vmId)}/checkpoint`;
    const vm = buildVmXml({ id: vmId, deployId: dom, template: { MEMORY: "64" } });
    const stdin = encodeBase64Text(buildVmmActionXml({
      vm,
      datastore: c.oned.state.datastores.get(tc.systemDs)!,
      host: "bravo",
      deployId: dom,
      checkpointFile: ckpt,
    }));
    await running("bravo", dom);
    await calls("bravo");
    const save = await c.run("vmm", "kvm", `save_${tc.driver}`, [
      dom,
      ckpt,
      "bravo",
      String(vmId),
      "bravo",
    ], { stdin, env: venv });
    assertOk(save);
    // The simulated host sees the device under its own directory.
    const device = c.hostPath(
      "bravo",
      env.backend(tc, tc.systemDs).devicePath(tc.profile.checkpointVolume(vmId)),
    );
    assert.deepEqual(verbs(await calls("bravo")), [`domstate ${dom}`, `save ${dom} ${device}`]);
    const restore = await c.run("vmm", "kvm", `restore_${tc.driver}`, [
      ckpt,
      "bravo",
      dom,
      String(vmId),
      "bravo",
    ], { stdin, env: venv });
    assertOk(restore);
    assert.deepEqual(verbs(await calls("bravo")), [
      `domstate ${dom}`,
      `save-image-dumpxml ${device}`,
      `restore ${device}`,
    ]);
  });

  it("the VM snapshot revert of a running VM stops and starts the domain through it", async () => {
    const s = await cloned(6, 3);
    const input = vmInput(tc, s.vmId, "bravo", [cloneDisk(tc, 0, s.vmId, 4, 4)]);
    const msg = (extra = {}) =>
      encodeBase64Text(buildVmmActionXml({
        vm: buildVmXml({ ...input, ...extra }),
        datastore: c.oned.state.datastores.get(tc.systemDs)!,
        host: "bravo",
        deployId: s.dom,
      }));
    const made = await c.run("vmm", "kvm", `snapshot_create-${tc.driver}`, [
      s.dom,
      "0",
      String(s.vmId),
      "bravo",
    ], { stdin: msg(), env: venv });
    assertOk(made);
    const hv = made.stdout.trim();
    await calls("bravo");
    const r = await c.run("vmm", "kvm", `snapshot_revert-${tc.driver}`, [
      s.dom,
      hv,
      String(s.vmId),
      "bravo",
    ], {
      stdin: msg({
        lcmState: 24,
        template: { SNAPSHOT: [{ SNAPSHOT_ID: 0, HYPERVISOR_ID: hv, ACTIVE: "YES" }] },
      }),
      env: venv,
    });
    assertOk(r);
    const kept = c.hostPath("bravo", `${vmDir(tc.systemDs, s.vmId)}/oneblk-revert.xml`);
    assert.deepEqual(verbs(await calls("bravo")), [
      `domstate ${s.dom}`,
      `dumpxml ${s.dom} --migratable`,
      `destroy ${s.dom}`,
      `create ${kept}`,
    ]);
  });

  it("the disk hot-plug overrides read the live domain and change media through it", async () => {
    const s = await cloned(7, 3);
    const dir = vmDir(tc.systemDs, s.vmId);
    await running(
      "bravo",
      s.dom,
      `<domain type='kvm'><name>${s.dom}</name><devices><disk type='block' device='cdrom'>` +
        `<target dev='hdb' bus='ide'/><readonly/></disk></devices></domain>`,
    );
    const cd = { ...cloneDisk(tc, 0, s.vmId, 4, 4), type: "CDROM", attach: true, target: "hdc" };
    const msg = buildVmmActionXml({
      vm: buildVmXml(vmInput(tc, s.vmId, "bravo", [cd])),
      datastore: c.oned.state.datastores.get(tc.systemDs)!,
      host: "bravo",
      deployId: s.dom,
    });
    const path = `${dir}/disk.0`;
    await calls("bravo");
    assertOk(
      await c.run("vmm", "kvm", `attach_disk_${tc.driver}`, [
        s.dom,
        path,
        "hdc",
        "2",
        encodeBase64Text(msg),
        String(s.vmId),
        "bravo",
      ], { stdin: encodeBase64Text(msg), env: venv }),
    );
    const mapped = c.hostPath("bravo", path);
    assert.deepEqual(verbs(await calls("bravo")), [
      `dumpxml ${s.dom}`,
      `change-media ${s.dom} hdb ${mapped} --insert --block`,
    ]);
    assertOk(
      await c.run("vmm", "kvm", `detach_disk_${tc.driver}`, [
        s.dom,
        path,
        "hdc",
        "2",
        String(s.vmId),
        "bravo",
      ], { stdin: encodeBase64Text(msg), env: venv }),
    );
    assert.deepEqual(verbs(await calls("bravo")), [
      `dumpxml ${s.dom}`,
      `change-media ${s.dom} hdb --eject --force`,
    ]);
  });

  it("the deploy override makes no virsh call of its own (the stock deploy starts the domain)", async () => {
    const vmDir42 = "/var/lib/one//datastores/101/42";
    for (const i of [0, 1, 2]) {
      await Deno.mkdir(c.hostPath("bravo", vmDir42), { recursive: true });
      await Deno.writeFile(c.hostPath("bravo", `${vmDir42}/disk.${i}`), new Uint8Array(512));
    }
    const local = c.hostPath(c.frontend, "/var/lib/one/vms/42/deployment.0");
    await Deno.mkdir(join(local, ".."), { recursive: true });
    await Deno.writeTextFile(local, fixture("deploy_6.10_i440fx.xml"));
    await Deno.writeTextFile(
      join(local, "..", "vm.xml"),
      encodeBase64Text(fixture("vm_42_6.10.xml")),
    );
    await calls("bravo");
    const r = await c.run("vmm", "kvm", "deploy-tweaks", [local, "bravo", "42", "bravo"], {
      stdin: encodeBase64Text(fixture("deploy_6.10_i440fx.xml")),
      env: venv,
    });
    assertOk(r);
    assert.deepEqual(await calls("bravo"), []);
    assert.ok(await Deno.stat(simDomainFile(c, "bravo", "one-42")));
  });
});

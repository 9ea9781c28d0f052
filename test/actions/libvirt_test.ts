/**
 * Every libvirt call of every action that touches libvirt uses the configured virsh program
 * (ONEBLK_VIRSH) and connection URI (ONEBLK_LIBVIRT_URI): the guest freeze of tm
 * snap_create_live, of a hot tm cpds and of tm prebackup_live, the domain checks and freeze of
 * the VM snapshot override, and the save/restore overrides. A recording virsh on the simulated
 * hosts logs each call's whole argv before answering like the fake virsh of the other tests.
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
import { domainFile, installFakeVirsh } from "./tm_system/helpers.ts";
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
    const fake = await installFakeVirsh(c);
    const recorder = join(c.root, "bin", "recording-virsh");
    await Deno.writeTextFile(
      recorder,
      `#!/bin/sh\nmkdir -p "$PWD/var/run"\necho "$*" >> "$PWD/var/run/virsh-argv.log"\n` +
        `exec ${JSON.stringify(fake)} "$@"\n`,
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

  /** A running domain on `host` (the fake virsh's memory file). */
  async function running(host: string, dom: string): Promise<void> {
    const f = domainFile(c, host, dom);
    await Deno.mkdir(join(f, ".."), { recursive: true });
    await Deno.writeTextFile(f, "mem");
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

  it(
    ...needing(["qemu-img"], "tm prebackup_live with FS_FREEZE=AGENT freezes through it"),
    async () => {
      const vmId = tc.vmBase + 3;
      const img = await env.image(tc, vmId, 4, pattern(vmId, 4096));
      const dir = vmDir(tc.systemDs, vmId);
      const input = vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, vmId, 4)], {
        lcmState: 69,
        backupConfig: { MODE: "FULL", FS_FREEZE: "AGENT" },
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
      assert.deepEqual(verbs(await calls("bravo")), [
        `domfsfreeze one-${vmId}`,
        `domfsthaw one-${vmId}`,
      ]);
      assertOk(await c.run("tm", tc.driver, "postbackup_live", args.map(String), { env: venv }));
    },
  );

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
    assert.deepEqual(verbs(await calls("bravo")), [`domstate ${dom}`, `restore ${device}`]);
  });
});

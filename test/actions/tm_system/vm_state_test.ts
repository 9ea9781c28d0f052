/**
 * VM state on the store (StorPool profile, like addon-storpool) through the installed programs:
 * a UEFI VM's NVRAM volume `one-sys-<vm>-NVRAM` is made from its template by tm context and
 * keeps what the guest wrote across a repeated context, live migration (premigrate /
 * postmigrate), a VM snapshot revert and stop/resume (mv to the front-end and back to another
 * host); the TPM state `DIR/tpm` is saved to `one-sys-<vm>-SWTPM` and comes back from it; a VM
 * snapshot includes NVRAM, TPM state and (VMSNAPSHOT_WITH_CHECKPOINT) the domain's memory, and
 * its revert brings back all of them with the domain running; delete removes every snapshot;
 * tm delete of the VM directory removes the state volumes (the memory one too). A VM without T_OS_NVRAM gets none.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { buildVmmActionXml, type VmInput } from "../../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import { link } from "../../../lib/host/ops.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import {
  assertOk,
  closeEnvs,
  devicePath,
  hostsOf,
  lexists,
  pattern,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  putVm,
  readRange,
  sha256Hex,
  simDomain,
  simDomainFile,
  simVirshCalls,
  startSimDomain,
  vmDir,
  volatileDisk,
  writeStart,
} from "./helpers.ts";

const KiB = 1024;

describe("VM state on the store (StorPool NVRAM and TPM)", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  let hosts: SimRunner;
  before(async () => {
    c = await startCluster();
    envs = profileEnvs(c);
    hosts = new SimRunner(c.root);
  });
  after(async () => {
    await closeEnvs(envs);
    await c.stop();
  });

  it("NVRAM and TPM state survive migrate, VM snapshot revert and stop/resume", async () => {
    const pe = envs.storpool;
    const sys = pe.systemDs;
    const vmId = 600;
    const dir = vmDir(sys, vmId);
    const dom = `one-${vmId}`;
    const nvram = pe.profile.vmStateVolume(vmId, "nvram")!;
    const tpm = pe.profile.vmStateVolume(vmId, "tpm")!;
    const mem = pe.profile.vmStateVolume(vmId, "memory")!;
    assert.deepEqual([nvram, tpm, mem], ["one-sys-600-NVRAM", "one-sys-600-SWTPM", "one-sys-600"]);

    // the OVMF variables template, as OVMF_PATH (default $R/OVMF) holds it on the front-end
    const vars = pattern(528 * KiB, 6);
    await Deno.mkdir(join(c.remotes, "OVMF"), { recursive: true });
    await Deno.writeFile(join(c.remotes, "OVMF", "OVMF_VARS.fd"), vars);
    const disk0 = pe.profile.volatileVolume(vmId, 0, "raw");
    await pe.backend.createVolume(disk0, 4, {
      placement: pe.placement(sys),
      props: pe.profile.diskProps(vmId, 0, sys),
    });
    const vm = (host: string, lcmState: number, snapshots: Record<string, string>[] = []) => {
      const input: VmInput = {
        id: vmId,
        lcmState,
        deployId: dom,
        disks: [volatileDisk(pe, 0, { size: 4 })],
        contextDiskId: 1,
        template: { MEMORY: 64, TPM: { MODEL: "tpm-crb" }, SNAPSHOT: snapshots },
        userTemplate: {
          T_OS_NVRAM: "storpool:template=OVMF_VARS.fd type=block",
          VMSNAPSHOT_WITH_CHECKPOINT: "YES",
        },
        history: [{ hostname: host, dsId: sys, tmMad: "storpool" }],
      };
      return { input, xml: putVm(c, input) };
    };
    const nvramOn = (host: string) => devicePath(c, pe, host, nvram);
    const tpmFile = (host: string) => c.hostPath(host, `${dir}/tpm/tpm2-00.permall`);
    const putTpm = async (host: string, text: string) => {
      await Deno.mkdir(c.hostPath(host, `${dir}/tpm`), { recursive: true });
      await Deno.writeTextFile(tpmFile(host), text);
    };
    const sha = async (path: string, n: number) => sha256Hex(await readRange(path, 0, n));

    // deploy on bravo: tm context makes the NVRAM volume from the template, attached there
    vm("bravo", 2);
    const ctxFile = join(c.root, "context-600.sh");
    await Deno.writeTextFile(ctxFile, "ETH0_IP='10.0.0.60'\n");
    const context = (host: string) =>
      c.run("tm", "storpool", "context", [
        `${ctxFile}:'context.sh'`,
        `${host}:${dir}/disk.1`,
        `${vmId}`,
        `${sys}`,
      ]);
    assertOk(await context("bravo"));
    const info = await pe.backend.getVolume(nvram);
    assert.ok(info, "NVRAM volume made");
    assert.equal(info.props.type, "NVRAM");
    assert.equal(info.props.nvm, String(vmId));
    assert.deepEqual(await hostsOf(pe, nvram), ["bravo"]);
    assert.equal(await sha(nvramOn("bravo"), vars.length), sha256Hex(vars));
    await pe.backend.attach(disk0, "bravo");
    await link(hosts, "bravo", pe.backend.devicePath(disk0), `${dir}/disk.0`);

    // the guest writes its variables; a later deploy's context keeps them
    const guestVars = pattern(528 * KiB, 7);
    await writeStart(nvramOn("bravo"), guestVars);
    assertOk(await context("bravo"));
    assert.equal(await sha(nvramOn("bravo"), guestVars.length), sha256Hex(guestVars));
    await putTpm("bravo", "tpm state 1");

    // live migration bravo → charlie
    const { xml: runningOnBravo } = vm("bravo", 3);
    const margs = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
    const mig = (action: string) =>
      c.run("tm", "storpool", action, margs, { stdin: btoa(runningOnBravo) });
    assertOk(await mig("premigrate"));
    assert.deepEqual((await hostsOf(pe, nvram)).sort(), ["bravo", "charlie"]);
    assert.ok(await pe.backend.getVolume(tpm), "TPM state saved before the migration");
    assertOk(await mig("postmigrate"));
    assert.deepEqual(await hostsOf(pe, nvram), ["charlie"]);
    assert.equal(await sha(nvramOn("charlie"), guestVars.length), sha256Hex(guestVars));
    assert.equal(await Deno.readTextFile(tpmFile("charlie")), "tpm state 1");

    // VM snapshot of the running VM on charlie (the simulated virsh holds disk 0 open): disks,
    // NVRAM, TPM state and memory together
    await startSimDomain(c, "charlie", dom, dir, [{ target: "vda", path: `${dir}/disk.0` }]);
    await simVirshCalls(c, "charlie");
    await putTpm("charlie", "tpm state 2");
    const diskBytes = pattern(64 * KiB, 8);
    await writeStart(devicePath(c, pe, "charlie", disk0), diskBytes);
    const message = (input: VmInput) =>
      encodeBase64Text(buildVmmActionXml({
        vm: putVm(c, input),
        datastore: c.oned.state.datastores.get(sys)!,
        host: "charlie",
        deployId: dom,
      }));
    const snap = (verb: string, arg: string, input: VmInput) =>
      c.run("vmm", "kvm", `snapshot_${verb}-storpool`, [dom, arg, `${vmId}`, "charlie"], {
        stdin: message(input),
      });
    const created = await snap("create", "0", vm("charlie", 3).input);
    assertOk(created);
    const hv = created.stdout.trim();
    const ts = Number(/^ONESNAP-0-(\d+)$/.exec(hv)?.[1]);
    assert.ok(ts > 0, created.stdout);
    for (const v of [disk0, nvram, tpm, mem]) {
      const names = (await pe.backend.listSnapshots(v)).map((s) => s.name);
      assert.deepEqual(names, [pe.profile.vmSnapshotName(v, 0, ts)], `snapshot of ${v}`);
    }
    assert.deepEqual(await hostsOf(pe, mem), [], "the memory volume is not left attached");
    const calls = await simVirshCalls(c, "charlie");
    assert.ok(calls.some((l) => l.includes(` save ${dom} /`)), calls.join("\n"));
    assert.ok(calls.some((l) => /\brestore \//.test(l)), calls.join("\n"));
    assert.ok(
      await simDomain(c, "charlie", dom),
      "the domain runs again after its memory was saved",
    );

    // everything changes; the revert of the running VM brings all of it back, running
    const withSnap = vm("charlie", 3, [{ SNAPSHOT_ID: "0", HYPERVISOR_ID: hv, NAME: "s0" }]).input;
    await writeStart(nvramOn("charlie"), pattern(528 * KiB, 9));
    await putTpm("charlie", "tpm state changed");
    await writeStart(devicePath(c, pe, "charlie", disk0), pattern(64 * KiB, 10));
    const running = await Deno.readTextFile(simDomainFile(c, "charlie", dom));
    await Deno.writeTextFile(
      simDomainFile(c, "charlie", dom),
      running.replace("</domain>", "<description>later</description></domain>"),
    );
    assertOk(await snap("revert", hv, withSnap));
    assert.equal(await sha(nvramOn("charlie"), guestVars.length), sha256Hex(guestVars));
    assert.equal(await Deno.readTextFile(tpmFile("charlie")), "tpm state 2");
    assert.equal(
      await sha(devicePath(c, pe, "charlie", disk0), diskBytes.length),
      sha256Hex(diskBytes),
    );
    const back = await Deno.readTextFile(simDomainFile(c, "charlie", dom));
    assert.doesNotMatch(back, /later/, "the domain was restored from the memory snapshot");
    assert.ok((await simVirshCalls(c, "charlie")).some((l) => /\brestore \//.test(l)));
    assert.deepEqual(await hostsOf(pe, mem), [], "the memory volume is not left attached");

    // stop: mv to the front-end saves the TPM state and releases the NVRAM on charlie
    await hosts.run("charlie", [join(c.root, "bin", "virsh"), "destroy", dom]);
    await putTpm("charlie", "tpm state 3");
    vm("charlie", 10);
    assertOk(
      await c.run("tm", "storpool", "mv", [`charlie:${dir}`, `alpha:${dir}`, `${vmId}`, `${sys}`]),
    );
    assert.deepEqual(await hostsOf(pe, nvram), []);
    // the copy on the front-end is lost: resume takes the TPM state from the store
    await Deno.remove(c.hostPath("alpha", `${dir}/tpm`), { recursive: true });
    vm("delta", 9);
    assertOk(
      await c.run("tm", "storpool", "mv", [`alpha:${dir}`, `delta:${dir}`, `${vmId}`, `${sys}`]),
    );
    assert.equal(await Deno.readTextFile(tpmFile("delta")), "tpm state 3");
    assert.deepEqual(await hostsOf(pe, nvram), ["delta"]);
    assert.equal(await sha(nvramOn("delta"), guestVars.length), sha256Hex(guestVars));
    assertOk(await context("delta"));
    assert.equal(await sha(nvramOn("delta"), guestVars.length), sha256Hex(guestVars));

    // VM snapshot delete: every member's snapshot goes, the memory one too
    const del = await c.run(
      "vmm",
      "kvm",
      "snapshot_delete-storpool",
      [dom, hv, `${vmId}`, "delta"],
      {
        stdin: encodeBase64Text(buildVmmActionXml({
          vm: putVm(c, {
            ...withSnap,
            history: [{ hostname: "delta", dsId: sys, tmMad: "storpool" }],
          }),
          datastore: c.oned.state.datastores.get(sys)!,
          host: "delta",
          deployId: dom,
        })),
      },
    );
    assertOk(del);
    for (const v of [disk0, nvram, tpm, mem]) {
      assert.deepEqual(await pe.backend.listSnapshots(v), [], `no snapshot of ${v} left`);
    }

    // terminate: tm delete of the VM directory removes the state volumes
    assertOk(await c.run("tm", "storpool", "delete", [`delta:${dir}`, `${vmId}`, `${sys}`]));
    assert.equal(await pe.backend.getVolume(nvram), null);
    assert.equal(await pe.backend.getVolume(tpm), null);
    assert.equal(await pe.backend.getVolume(mem), null);
    assert.equal(await lexists(c.hostPath("delta", dir)), false);
  });

  it("a VM without T_OS_NVRAM gets no NVRAM volume", async () => {
    const pe = envs.storpool;
    const sys = pe.systemDs;
    const vmId = 601;
    const dir = vmDir(sys, vmId);
    putVm(c, {
      id: vmId,
      contextDiskId: 1,
      history: [{ hostname: "bravo", dsId: sys, tmMad: "storpool" }],
    });
    const f = join(c.root, "context-601.sh");
    await Deno.writeTextFile(f, "X=1\n");
    assertOk(
      await c.run("tm", "storpool", "context", [f, `bravo:${dir}/disk.1`, `${vmId}`, `${sys}`]),
    );
    assert.equal(await pe.backend.getVolume(pe.profile.vmStateVolume(vmId, "nvram")!), null);
  });
});

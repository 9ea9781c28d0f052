/**
 * How the doctor reads oned.conf's VM_MAD entries as one_vmm_exec reads its ARGUMENTS: the
 * hypervisor is the first plain word, `-t`/`-r`/`-w` take an optional value, `-l` a required
 * one, the last `-l` wins, action names are case-insensitive; words split at blanks, so a
 * blank inside the -l list ends it (as for the MAD, which gets ARGUMENTS split by its shell).
 */
import assert from "node:assert/strict";
import { parseVmMads, vmmOverridesCheck } from "../../lib/doctor/frontend.ts";
import type { DoctorEnv } from "../../lib/doctor/types.ts";

Deno.test("VM_MAD ARGUMENTS read as one_vmm_exec reads them", () => {
  const [kvm, qemu, lxc] = parseVmMads(`
# a comment
VM_MAD = [
    NAME           = "kvm",
    ARGUMENTS      = "-t 15 -r 0 kvm -p -l SAVE=tmsave,restore=tmrestore,deploy",
    KEEP_SNAPSHOTS = "yes" ]
VM_MAD = [ NAME = "qemu", ARGUMENTS = "-l save=a -t 15 -r 0 kvm -l snapshotcreate=b" ]
VM_MAD = [ NAME = "lxc", ARGUMENTS = "-t -r 0 lxc -l save=x, restore=y" ]
IM_MAD = [ NAME = "kvm", ARGUMENTS = "-r 3 -t 15 -w 90 kvm" ]
`);
  assert.deepEqual(kvm.hypervisor, "kvm");
  assert.deepEqual(
    [...kvm.local],
    [["save", "tmsave"], ["restore", "tmrestore"], ["deploy", null]],
  );
  assert.equal(kvm.localOptions, 1);
  assert.equal(kvm.keepSnapshots, true);
  assert.equal(qemu.hypervisor, "kvm");
  assert.deepEqual([...qemu.local], [["snapshotcreate", "b"]]);
  assert.equal(qemu.localOptions, 2);
  assert.equal(qemu.keepSnapshots, false);
  assert.equal(lxc.hypervisor, "lxc");
  assert.deepEqual([...lxc.local], [["save", "x"]]);
});

Deno.test("an add-on's override that this oneblk does not provide is named as such", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oneblk-vmmcheck-" });
  try {
    // a remotes tree with none of the scripts, and a oneblk that implements only tmsave
    const env = {
      onedConf: () =>
        Promise.resolve({
          path: "oned.conf",
          text: 'VM_MAD = [ NAME = "kvm", ARGUMENTS = "kvm -l deploy=deploy-tweaks,save=tmsave" ]',
        }),
      remotes: () => Promise.resolve({ dir, drivers: [], bin: "", stubs: false, entries: [] }),
      vmmOverrides: new Set(["tmsave"]),
    } as unknown as DoctorEnv;
    const [deploy, save] = await vmmOverridesCheck.run(env);
    assert.equal(deploy.status, "error");
    assert.match(
      deploy.fix!,
      /^oneblk does not provide deploy-tweaks \(the deploy override of addon-storpool\) yet/,
    );
    assert.match(save.fix!, /^oneblk install --remotes .* --drivers storpool$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * How the doctor reads oned.conf's VM_MAD entries as one_vmm_exec reads its ARGUMENTS: the
 * hypervisor is the first plain word, `-t`/`-r`/`-w` take an optional value, `-l` a required
 * one, the last `-l` wins, action names are case-insensitive; words split at blanks, so a
 * blank inside the -l list ends it (as for the MAD, which gets ARGUMENTS split by its shell).
 */
import assert from "node:assert/strict";
import { parseVmMads } from "../../lib/doctor/frontend.ts";

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

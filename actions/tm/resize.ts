/**
 * tm resize `host:DIR/disk.i size_mb vmid dsid` (docs/contract.md "tm resize"): grow the
 * disk's volume to size_mb. Shrinking is refused; the same size again is a no-op (oned
 * retried). A qcow2 image the profile keeps as qcow2 is grown with `qemu-img resize` on the
 * host as well, unless the VM runs (DISK_RESIZE): its qemu holds the image open and the VMM's
 * `virsh blockresize`, which follows this step, grows the qcow2 (the stock TMs skip it too).
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { qemuImgResize } from "../../lib/host/ops.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { keepsQcow2, loadVmDisk } from "../../lib/domain/vm_disk.ts";
import { LCM_STATE } from "../../lib/one/views.ts";

/** Run tm resize. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const dst = a.dst!;
  const size = a.size!;
  const { vm, disk, volume, backend } = await loadVmDisk(ctx, dst, a.vmId, a.dsId);
  if (size <= 0) throw new OneblkError("input", `resize: invalid size ${size} MB`);
  // one read of the volume: the store's resize grows it when smaller and says what it was
  let before: number;
  try {
    before = await backend.resizeVolume(volume, size);
  } catch (e) {
    if (!isKind(e, "not_found")) throw e;
    throw new OneblkError("not_found", `disk ${disk.diskId} of VM ${vm.id}: ${volume} not found`);
  }
  if (size < before) {
    throw new OneblkError(
      "input",
      `cannot shrink disk ${disk.diskId} of VM ${vm.id} (${volume}) from ${before} MB ` +
        `to ${size} MB: only growing is supported`,
    );
  }
  if (!keepsQcow2(ctx.profile, disk)) return;
  if (vm.lcmState === LCM_STATE.DISK_RESIZE) {
    ctx.info(`disk ${disk.diskId} of running VM: the VMM's blockresize grows the qcow2 next`);
    return;
  }
  await qemuImgResize(ctx.hosts, dst.host, dst.path, size, { format: "qcow2" });
}

/**
 * tm cpds `host:DIR/disk.i SOURCE snap_id vmid dsid`: `onevm disk-saveas` (docs/contract.md
 * "tm cpds").
 * Copies disk i (its current state for snap_id -1, else its snapshot snap_id) into a NEW volume
 * named by SOURCE (reserved by DS mkfs `save_as`, so no volume exists yet), in the same
 * datastore, with a store-side clone.
 *
 * A running VM (LCM 26 HOTPLUG_SAVEAS) is copied through a temporary snapshot, crash-consistent
 * (with a guest filesystem freeze around the snapshot when the VM template sets
 * DISK_SAVEAS_FSFREEZE=YES; a missing guest agent is reported, not fatal); the temporary
 * snapshot is removed afterwards whatever happens. A failed clone leaves no new volume. An
 * existing target (oned retried after a success) is accepted and never deleted.
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { freezeWanted, withGuestFrozen } from "../../lib/domain/libvirt.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { LCM_STATE } from "../../lib/one/views.ts";
import { imageVolumes, loadVmDisk } from "../../lib/domain/vm_disk.ts";

/** Run tm cpds. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const dst = a.dst!;
  const snapId = a.snapId!;
  const { vm, disk, ds, volume, backend } = await loadVmDisk(ctx, dst, a.vmId, a.dsId);
  const p = ctx.profile;
  const target = p.sourceVolume(a.source ?? "");
  if (!target) throw new OneblkError("input", "cpds: empty SOURCE for the new image");
  if (target === volume || imageVolumes(p, disk).has(target)) {
    throw new OneblkError(
      "input",
      `cpds: SOURCE ${a.source} names the disk's own volume ${target}, not a new image`,
    );
  }
  const placement = p.placement(ds.template, ds.id);
  const copy = async (fromSnapshot?: string) => {
    try {
      await backend.cloneVolume(volume, target, { placement, fromSnapshot });
    } catch (e) {
      if (!isKind(e, "exists") || !(await backend.getVolume(target))) throw e;
      ctx.info(`${target} exists already (repeated call): keeping it`);
    }
  };

  if (snapId >= 0) {
    await copy(p.snapshotName(volume, snapId));
    return;
  }
  if (vm.lcmState !== LCM_STATE.HOTPLUG_SAVEAS) {
    await copy();
    return;
  }

  // Running VM: a crash-consistent (optionally frozen) temporary snapshot, cloned, then removed.
  const tmp = `oneblk-saveas-${vm.id}-${disk.diskId}-${Date.now().toString(36)}`;
  const snap = () => backend.createSnapshot(volume, tmp);
  if (freezeWanted(vm, "DISK_SAVEAS_FSFREEZE", false)) {
    await withGuestFrozen(
      ctx,
      dst.host,
      vm.deployId,
      async (frozen) => {
        if (!frozen) {
          ctx.info(`guest filesystems of ${vm.deployId} not frozen: crash-consistent copy`);
        }
        await snap();
      },
      { optional: true },
    );
  } else {
    await snap();
  }
  try {
    await copy(tmp);
  } finally {
    try {
      await backend.deleteSnapshot(volume, tmp);
    } catch (e) {
      ctx.info(`temporary snapshot ${tmp} of ${volume} not removed: ${(e as Error).message}`);
    }
  }
}

/**
 * Disk snapshots (tm snap_create, snap_create_live, snap_delete, snap_revert; docs/contract.md
 * "tm disk snapshots"): the snapshot `profile.snapshotName(volume, snap_id)` of the disk's
 * volume (the private clone of a non-persistent disk, the image volume of a persistent one),
 * with the DISKSNAPSHOT_LIMIT check (snapshot_limit.ts) and the guest freeze (libvirt.ts).
 *
 * REST: one call each (a StorPool revert of a volume attached to the host needs the backend's
 * detach/re-attach around it).
 */
import type { ActionContext } from "../context.ts";
import { parseTmArgs } from "../one/args.ts";
import { isKind, OneblkError } from "../errors.ts";
import { freezeWanted, withGuestFrozen } from "./libvirt.ts";
import { loadVmDisk, systemDsOf, type VmDisk } from "./vm_disk.ts";
import { snapshotLimit } from "./snapshot_limit.ts";

/** The disk, its snapshot name and the host of a snap_* call. */
interface SnapTarget extends VmDisk {
  snapshot: string;
  snapId: number;
  host: string;
  /** System datastore of the VM (-1 when unknown). */
  sysDsId: number;
}

/** Parse the arguments and load the disk of a snap_* call. */
async function loadSnapTarget(ctx: ActionContext): Promise<SnapTarget> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const d = await loadVmDisk(ctx, a.dst!, a.vmId, a.dsId);
  return {
    ...d,
    snapId: a.snapId!,
    snapshot: ctx.profile.snapshotName(d.volume, a.snapId!),
    host: a.dst!.host,
    sysDsId: systemDsOf(d.vm, a.dst!),
  };
}

/**
 * Refuse a new snapshot when the disk already has DISKSNAPSHOT_LIMIT snapshots of this profile
 * (limit from VM USER_TEMPLATE > image DS > system DS > env > add-on rc; unset = no limit, and
 * then nothing is listed). Only our own snapshots count, and a retried `snapId` does not count
 * itself.
 */
async function checkDiskSnapshotLimit(ctx: ActionContext, t: SnapTarget): Promise<void> {
  const sysDs = async () => {
    if (t.sysDsId < 0 || t.sysDsId === t.ds.id) return null;
    return (await (await ctx.one()).datastoreInfo(t.sysDsId)).template;
  };
  const limit = await snapshotLimit(
    "DISKSNAPSHOT_LIMIT",
    [t.vm.userTemplate, t.ds.template, sysDs],
    (n) => ctx.profile.setting(ctx.env, n),
  );
  if (!limit) return;
  const ours = (await t.backend.listSnapshots(t.volume)).filter((s) => {
    const id = ctx.profile.snapshotId(t.volume, s.name);
    return id !== null && id !== t.snapId;
  });
  if (ours.length >= limit.value) {
    throw new OneblkError(
      "input",
      `disk ${t.disk.diskId} of VM ${t.vm.id} has ${ours.length} snapshots: ` +
        `DISKSNAPSHOT_LIMIT is ${limit.value} (${limit.from}); delete a snapshot first`,
    );
  }
}

/**
 * Take the snapshot. `live`: the guest's filesystems are frozen around it (deadline, thaw
 * guaranteed) unless the VM template sets DISK_SNAPSHOT_FSFREEZE=NO; without a guest agent the
 * snapshot is crash-consistent and the log says so.
 */
export async function createSnap(ctx: ActionContext, live: boolean): Promise<void> {
  const t = await loadSnapTarget(ctx);
  await checkDiskSnapshotLimit(ctx, t);
  const take = () => t.backend.createSnapshot(t.volume, t.snapshot);
  if (!live || !freezeWanted(t.vm, "DISK_SNAPSHOT_FSFREEZE", true)) {
    await take();
    return;
  }
  await withGuestFrozen(
    ctx,
    t.host,
    t.vm.deployId,
    async (frozen) => {
      if (!frozen) {
        ctx.info(
          `guest filesystems of ${
            t.vm.deployId || `VM ${t.vm.id}`
          } not frozen (no guest agent?): ` +
            `snapshot ${t.snapshot} is crash-consistent`,
        );
      }
      await take();
    },
    { optional: true },
  );
}

/** Delete the snapshot (a missing one is fine). */
export async function deleteSnap(ctx: ActionContext): Promise<void> {
  const t = await loadSnapTarget(ctx);
  await t.backend.deleteSnapshot(t.volume, t.snapshot);
}

/** Roll the disk back to the snapshot (the VM is powered off). */
export async function revertSnap(ctx: ActionContext): Promise<void> {
  const t = await loadSnapTarget(ctx);
  try {
    await t.backend.rollbackSnapshot(t.volume, t.snapshot);
  } catch (e) {
    const where = `disk ${t.disk.diskId} of VM ${t.vm.id} (${t.volume})`;
    if (isKind(e, "in_use")) {
      throw new OneblkError(
        "in_use",
        `cannot revert ${where} to ${t.snapshot}: the volume is in use; power the VM off first ` +
          `(${(e as Error).message})`,
      );
    }
    if (isKind(e, "not_found")) {
      throw new OneblkError("not_found", `cannot revert ${where}: ${(e as Error).message}`);
    }
    throw e;
  }
}

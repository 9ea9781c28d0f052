/**
 * Helpers shared by the TM disk actions (clone, ln, mv, mvds, cpds, delete, resize, snap_*):
 * clone-or-reuse, which volumes are private to a VM, VM directory checks and the VM-specific
 * metadata keys of a profile.
 *
 * Nothing here branches on the backend kind or the driver name: only profile fields and the
 * Backend interface are used.
 */
import type { ActionContext } from "../../lib/context.ts";
import type { Backend, CloneOptions } from "../../lib/backend/types.ts";
import type { Profile } from "../../lib/addons/types.ts";
import type { DiskView, VmView } from "../../lib/one/views.ts";
import { type HostPath, normPath, vmDirInfo } from "../../lib/one/args.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";

/** LCM states in which `mv` only attaches on the destination (resume from stop/undeploy). */
export const RESUME_STATES: readonly number[] = [9, 31, 49, 50];
/** LCM states in which `mv` only detaches from the source (stop/undeploy). */
export const STOP_STATES: readonly number[] = [10, 30, 41, 42];

/**
 * cloneVolume, or accept the target when it exists already (oned retried the action): it is
 * grown to `opts.sizeMiB` if smaller and gets `opts.props`. Returns true when this call created
 * the target (the caller then owns its removal on a later failure).
 */
export async function cloneOrReuse(
  ctx: ActionContext,
  backend: Backend,
  source: string,
  target: string,
  opts: CloneOptions,
): Promise<boolean> {
  try {
    await backend.cloneVolume(source, target, opts);
    return true;
  } catch (e) {
    if (!isKind(e, "exists")) throw e;
    const info = await backend.getVolume(target);
    if (!info) throw e;
    if (opts.sizeMiB !== undefined && info.sizeMiB < opts.sizeMiB) {
      await backend.resizeVolume(target, opts.sizeMiB);
    }
    if (opts.props && Object.keys(opts.props).length) await backend.setProps(target, opts.props);
    ctx.info(`${target} exists already (repeated call): reusing it`);
    return false;
  }
}

/** Volume names that are the disk's image itself under `profile` (never deleted by a VM). */
export function imageVolumes(profile: Profile, disk: DiskView): Set<string> {
  const out = new Set<string>();
  if (disk.source) out.add(profile.sourceVolume(disk.source));
  if (disk.imageIdNum >= 0) out.add(profile.imageVolume(disk.imageIdNum, disk.datastoreId));
  return out;
}

/**
 * True when `volume` belongs to this VM disk alone: a volatile disk, a private clone of a
 * non-persistent image, or (profiles with cdromClone) a per-VM CDROM copy. Persistent disks,
 * shared CDROM images and anything named like the image are never private.
 */
export function isPrivateVolume(profile: Profile, disk: DiskView, volume: string): boolean {
  if (disk.volatile) return true;
  if (disk.persistent) return false;
  if (imageVolumes(profile, disk).has(volume)) return false;
  if (disk.isCdrom) return profile.cdromClone;
  return disk.clone;
}

/** The disk is attached read-only (CDROM or READONLY=YES). */
export function readOnlyDisk(disk: DiskView): boolean {
  return disk.isCdrom || disk.readonly;
}

/** The disk holds a qcow2 image that the profile keeps as qcow2 inside the volume. */
export function keepsQcow2(profile: Profile, disk: DiskView): boolean {
  if (!profile.keepImageFormat) return false;
  return disk.format.toLowerCase() === "qcow2" || disk.driver.toLowerCase() === "qcow2";
}

/** System datastore id of a VM path (`…/<sys_ds>/<vm>[/disk.i]`), else the VM's history. */
export function systemDsOf(vm: VmView, hp: HostPath): number {
  return vmDirInfo(hp.path)?.sysDsId ?? vm.history?.dsId ?? -1;
}

/**
 * The metadata keys of `profile.diskProps` that name a VM or disk (they differ between two
 * VMs), mapped to null: what to clear when a volume stops belonging to a VM. Keys that only
 * mark ownership by this cloud (StorPool virt/nloc) are kept.
 */
export function vmPropsCleared(profile: Profile, vm: VmView, disk: DiskView, dsId: number) {
  const a = profile.diskProps(vm.id, disk.diskId, dsId);
  const b = profile.diskProps(vm.id + 1, disk.diskId + 1, dsId + 1);
  const out: Record<string, string | null> = {};
  for (const k of Object.keys(a)) if (a[k] !== b[k]) out[k] = null;
  return out;
}

/**
 * Check that `hp` is the directory of VM `vmId` (`<location>/<sys_ds>/<vmid>`) and return the
 * prefix removeDir may delete below (`<location>/<sys_ds>`). `sysDsId`, when given, must match.
 */
export function vmDirPrefix(hp: HostPath, vmId: number, sysDsId?: number): string {
  const info = hp.diskId === null ? vmDirInfo(hp.path) : null;
  const loc = info ? normPath(info.location) : "/";
  if (
    !info || info.vmId !== vmId || loc === "/" ||
    (sysDsId !== undefined && info.sysDsId !== sysDsId)
  ) {
    throw new OneblkError(
      "input",
      `${hp.path} is not the directory of VM ${vmId} (<DATASTORE_LOCATION>/${
        sysDsId ?? "<ds>"
      }/${vmId})`,
    );
  }
  return `${loc}/${info.sysDsId}`;
}

/**
 * VM disks: load a disk from oned with its datastore, volume and store, and the rules that say
 * which volume a disk uses, which volumes belong to the VM alone (and may be deleted with it),
 * and how a disk is attached (read-only, qcow2 kept inside the volume).
 *
 * Nothing here branches on the backend kind or the driver name: only the profile of the
 * invoked add-on and the Backend interface are used.
 */
import type { ActionContext } from "../context.ts";
import type { Backend, CloneOptions } from "../backend/types.ts";
import type { Profile } from "../addons/types.ts";
import { errorLine, isKind, OneblkError } from "../errors.ts";
import type { DatastoreView, DiskView, VmView } from "../one/views.ts";
import { type HostPath, vmDirInfo } from "../one/args.ts";

/** A VM disk with everything needed to act on its volume. */
export interface VmDisk {
  vm: VmView;
  disk: DiskView;
  /** The datastore of the `dsid` argument (image DS for image disks, system DS otherwise). */
  ds: DatastoreView;
  /** The volume backing the disk under the driver's profile. */
  volume: string;
  backend: Backend;
}

/** Fetch VM `vmId` and datastore `dsId` from oned (in parallel). */
export async function loadVmAndDs(
  ctx: ActionContext,
  vmId: number,
  dsId: number,
): Promise<{ vm: VmView; ds: DatastoreView }> {
  const one = await ctx.one();
  const [vm, ds] = await Promise.all([one.vmInfo(vmId), one.datastoreInfo(dsId)]);
  return { vm, ds };
}

/** The disk of `vm` named by a `…/disk.N` path; input error when there is none. */
export function diskOf(vm: VmView, hp: HostPath): DiskView {
  if (hp.diskId === null) {
    throw new OneblkError("input", `${hp.path} is not a VM disk path (…/disk.N)`);
  }
  const disk = vm.disk(hp.diskId);
  if (!disk) throw new OneblkError("input", `VM ${vm.id} has no disk ${hp.diskId}`);
  return disk;
}

/** Load the disk at `hp` of VM `vmId`, its datastore `dsId`, volume name and backend. */
export async function loadVmDisk(
  ctx: ActionContext,
  hp: HostPath,
  vmId: number,
  dsId: number,
): Promise<VmDisk> {
  const { vm, ds } = await loadVmAndDs(ctx, vmId, dsId);
  const disk = diskOf(vm, hp);
  return {
    vm,
    disk,
    ds,
    volume: ctx.profile.diskVolume(vm.id, disk),
    backend: ctx.backend(ds),
  };
}

/**
 * cloneVolume, or reuse the target when it exists already as a complete clone (oned retried
 * the action; the store checks it: lib/backend/types.ts, the reuse rule): it is grown to
 * `opts.sizeMiB` if smaller and gets `opts.props`. Returns true when this call created the
 * target (the caller then owns its removal on a later failure).
 */
export async function cloneOrReuse(
  ctx: ActionContext,
  backend: Backend,
  source: string,
  target: string,
  opts: CloneOptions,
): Promise<boolean> {
  const created = await backend.cloneVolume(source, target, opts);
  if (!created) {
    ctx.info(`${target} exists already as a complete clone (repeated call): reusing it`);
  }
  return created;
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
 * The context ISO volume of VM `vmId` under the invoked profile, or null when the profile keeps
 * the ISO as a file or the VM has no context. `vm` saves the oned lookup when the caller has it;
 * a VM oned no longer knows is reported and gives null.
 */
export async function vmContextVolume(
  ctx: ActionContext,
  vmId: number,
  vm?: VmView,
): Promise<string | null> {
  if (ctx.profile.contextVolume(vmId, 0) === null) return null;
  if (!vm) {
    try {
      vm = await (await ctx.one()).vmInfo(vmId);
    } catch (e) {
      if (!isKind(e, "not_found")) throw e;
      ctx.info(
        `VM ${vmId} is unknown to oned: its context volume is not looked for (${errorLine(e)})`,
      );
      return null;
    }
  }
  const diskId = vm.contextDiskId;
  return diskId === null ? null : ctx.profile.contextVolume(vmId, diskId);
}

/**
 * The pieces most TM actions share: load a VM disk from oned and find its volume and store,
 * and make a volume usable at (or remove it from) `host:DIR/disk.i`.
 */
import type { ActionContext } from "./context.ts";
import type { Backend } from "./backend/types.ts";
import { OneblkError } from "./errors.ts";
import type { DatastoreView, DiskView, VmView } from "./one/views.ts";
import type { HostPath } from "./one/args.ts";
import { link, unlink } from "./host/ops.ts";

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

/** Attach `volume` on `host` and point `path` at its device there. */
export async function attachAndLink(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  path: string,
  opts: { readOnly?: boolean } = {},
): Promise<void> {
  await backend.attach(volume, host, { readOnly: opts.readOnly });
  await link(ctx.hosts, host, backend.devicePath(volume), path);
}

/**
 * Remove `path` on `host` and detach the volume there. A device still open on the host
 * (e.g. a CDROM another VM uses) stays attached; the link is removed either way.
 */
export async function unlinkAndDetach(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  path: string,
): Promise<void> {
  await unlink(ctx.hosts, host, path);
  try {
    await backend.detach(volume, host);
  } catch (e) {
    if (!(e instanceof OneblkError && e.kind === "in_use")) throw e;
    ctx.info(`${volume} is still in use on ${host}; left attached`);
  }
}

/**
 * Run `step`; if it throws, run `undo` (errors in undo are reported, the original error
 * is rethrown). The building block of "nothing half-made".
 */
export async function withUndo<T>(
  ctx: ActionContext,
  step: () => Promise<T>,
  undo: () => Promise<unknown>,
): Promise<T> {
  try {
    return await step();
  } catch (e) {
    try {
      await undo();
    } catch (u) {
      ctx.info(`cleanup failed: ${(u as Error).message}`);
    }
    throw e;
  }
}

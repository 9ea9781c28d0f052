/**
 * The pieces most TM actions share: load a VM disk from oned and find its volume and store,
 * tell the front-end from a hypervisor, and make a volume usable at (or remove it from)
 * `host:DIR/disk.i`.
 */
import type { ActionContext } from "./context.ts";
import type { Backend } from "./backend/types.ts";
import { isKind, OneblkError } from "./errors.ts";
import type { DatastoreView, DiskView, VmView } from "./one/views.ts";
import type { HostPath } from "./one/args.ts";
import { link, unlink, waitForPath } from "./host/ops.ts";
import { isFrontend } from "./domain/frontend.ts";

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

/** Attach `volume` on `host` and wait (on the host) until its device node exists. */
export async function attachReady(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  opts: { readOnly?: boolean } = {},
): Promise<string> {
  await backend.attach(volume, host, opts);
  const device = backend.devicePath(volume);
  if (!(await waitForPath(ctx.hosts, host, device, 20_000))) {
    throw new OneblkError("timeout", `${device} did not appear on ${host} after attaching`);
  }
  return device;
}

/**
 * Undo of a volume made and attached on `host` by this call: detach it there (not attached any
 * more is fine) and delete it at once.
 */
export async function detachAndDelete(
  backend: Backend,
  volume: string,
  host: string,
): Promise<void> {
  try {
    await backend.detach(volume, host);
  } catch (e) {
    if (!isKind(e, "not_found")) throw e;
  }
  await backend.deleteVolume(volume, { immediate: true });
}

/**
 * Remove `path` on `host` and detach `volume` there, tolerating what a retry or a dead host
 * brings: an unreachable host (the link dies with it; the store side is still released), a
 * device still open (a CDROM another VM uses: left attached, reported) and a front-end the
 * store does not know as a client.
 */
export async function unlinkAndDetach(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  path: string,
): Promise<void> {
  try {
    await unlink(ctx.hosts, host, path);
  } catch (e) {
    if (!isKind(e, "unavailable")) throw e;
    ctx.info(`host ${host} is unreachable: ${path} not removed there`);
  }
  try {
    await backend.detach(volume, host);
  } catch (e) {
    if (isKind(e, "in_use")) {
      ctx.info(`${volume} is still in use on ${host}; left attached`);
      return;
    }
    if (isKind(e, "config", "not_found", "unavailable") && await isFrontend(ctx, host)) return;
    throw e;
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

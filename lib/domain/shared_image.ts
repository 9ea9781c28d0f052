/**
 * Images several VMs use at once (a CDROM, or another non-persistent disk that is the image
 * volume itself rather than a private clone): a host keeps such a volume attached as long as
 * any VM there refers to it, so that releasing one VM's disk never pulls the device from under
 * another one (a powered-off VM, or one between its prolog and its boot, has it linked but not
 * open, so the store would let it go).
 *
 * Who uses it is asked of oned, never kept in the store: oned is the authority on which VM is
 * where and which VM has which image, and it knows it already; a reference list in the store's
 * metadata would be a second copy to keep in step with oned under concurrent actions, crashes
 * and manual changes (a lost update leaves a device detached under a VM, or attached forever).
 * The question costs three calls at most on this rare path: the image's VMs, the host's VMs,
 * and each VM in both (its state). A VM being torn down on the host (EPILOG, CLEANUP) does not
 * count: two VMs ending together each let the other go, and the last one out detaches.
 */
import type { ActionContext } from "../context.ts";
import { errorLine, isKind } from "../errors.ts";
import type { Profile } from "../addons/types.ts";
import { type DiskView, LCM_STATE, VM_STATE, type VmView } from "../one/views.ts";
import { isPrivateVolume } from "./vm_disk.ts";

/** LCM states of a VM whose disks are being released: it no longer needs them. */
const LEAVING: readonly number[] = [
  LCM_STATE.EPILOG_STOP,
  LCM_STATE.EPILOG,
  LCM_STATE.CLEANUP_RESUBMIT,
  LCM_STATE.CLEANUP_DELETE,
  LCM_STATE.EPILOG_UNDEPLOY,
  LCM_STATE.EPILOG_FAILURE,
  LCM_STATE.EPILOG_STOP_FAILURE,
  LCM_STATE.EPILOG_UNDEPLOY_FAILURE,
];

/** States in which a VM keeps its disks linked on its host. */
const ON_HOST: readonly number[] = [VM_STATE.ACTIVE, VM_STATE.SUSPENDED, VM_STATE.POWEROFF];

/** True when oned has `vm` on `host` with its disks linked there and not being released. */
export function keepsDisksOn(vm: VmView, host: string): boolean {
  if (vm.history?.hostname !== host || !ON_HOST.includes(vm.state)) return false;
  return !(vm.state === VM_STATE.ACTIVE && LEAVING.includes(vm.lcmState));
}

/** True when `volume` of this disk is an image volume other VMs may use at the same time. */
export function isSharedImage(profile: Profile, disk: DiskView, volume: string): boolean {
  return disk.imageIdNum >= 0 && !disk.persistent && !isPrivateVolume(profile, disk, volume);
}

/**
 * The first other VM on `host` that uses the image of `disk` ("VM 12"), or null (also when
 * oned no longer has the image: no VM can use it). When oned cannot tell, the answer is
 * "maybe", which keeps the volume attached (a leftover attachment is harmless; a device pulled
 * from a VM is not).
 */
export async function sharedImageUser(
  ctx: ActionContext,
  vm: VmView,
  disk: DiskView,
  host: string,
): Promise<string | null> {
  try {
    const one = await ctx.one();
    const [image, onHost] = await Promise.all([
      one.imageInfo(disk.imageIdNum),
      one.hostInfo(host).then((h) => new Set(h.vms)),
    ]);
    for (const id of image.vms) {
      if (id === vm.id || !onHost.has(id)) continue;
      const other = await one.vmInfo(id).catch((e) => {
        if (isKind(e, "not_found")) return null; // gone meanwhile
        throw e;
      });
      if (!other || !keepsDisksOn(other, host)) continue;
      return `VM ${id}`;
    }
    return null;
  } catch (e) {
    if (isKind(e, "not_found")) return null; // no such image or host any more
    return `maybe another VM (oned could not tell: ${errorLine(e)})`;
  }
}

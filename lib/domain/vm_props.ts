/**
 * The metadata a profile writes on a VM's volumes (profile.diskProps: LINSTOR Aux/one
 * VM_ID/DISK_ID/DS_ID, StorPool tags virt/nloc/nvm/diskid), split the one way every user needs:
 * the keys that name the VM, disk or datastore (they differ between two VM disks) and the keys
 * that only mark the volume as this cloud's (the same for every volume).
 *
 *  - vmPropsCleared: what to clear when a volume stops belonging to a VM (tm mvds);
 *  - ownershipProps: what a VM volume that is no disk carries (checkpoint, context ISO), so
 *    monitoring does not count it as a disk;
 *  - ownerKeys: which keys hold the VM id and the disk id (per-VM disk usage).
 */
import type { Profile } from "../addons/types.ts";

/** The profile's metadata for two different disks: varying keys name a VM, disk or datastore. */
function compared(
  profile: Pick<Profile, "diskProps">,
  vmId: number,
  diskId: number,
  dsId: number,
): { varying: string[]; constant: Record<string, string> } {
  const a = profile.diskProps(vmId, diskId, dsId);
  const b = profile.diskProps(vmId + 1, diskId + 1, dsId + 1);
  const varying = Object.keys(a).filter((k) => a[k] !== b[k]);
  const constant = Object.fromEntries(
    Object.keys(a).filter((k) => a[k] === b[k]).map((k) => [
      k,
      a[k],
    ]),
  );
  return { varying, constant };
}

/**
 * The keys of `profile.diskProps` that name a VM or disk, mapped to null: what to clear when a
 * volume stops belonging to a VM. Keys that only mark ownership by this cloud are kept.
 */
export function vmPropsCleared(
  profile: Pick<Profile, "diskProps">,
  vmId: number,
  diskId: number,
  dsId: number,
): Record<string, null> {
  return Object.fromEntries(compared(profile, vmId, diskId, dsId).varying.map((k) => [k, null]));
}

/**
 * The metadata of a VM volume that is no disk (checkpoint, context ISO): only the keys that do
 * not name a VM or disk (the others would make it look like disk 0 of the VM to monitoring).
 */
export function ownershipProps(
  profile: Pick<Profile, "diskProps">,
  vmId: number,
  dsId: number,
): Record<string, string> {
  return compared(profile, vmId, 0, dsId).constant;
}

/** The metadata keys holding the VM id and the disk id, or null when the profile has none. */
export function ownerKeys(
  profile: Pick<Profile, "diskProps">,
  dsId: number,
): { vm: string; disk: string } | null {
  const VM = 987_654_321, DISK = 123_456_789;
  const props = profile.diskProps(VM, DISK, dsId);
  const vm = Object.keys(props).find((k) => props[k] === String(VM));
  const disk = Object.keys(props).find((k) => props[k] === String(DISK));
  return vm && disk ? { vm, disk } : null;
}

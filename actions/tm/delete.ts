/**
 * tm delete `host:PATH vmid dsid` (docs/contract.md "tm delete").
 *
 * Disk (`…/disk.i`): remove the link and detach from the host (a device still open there stays
 * attached and is reported; an image other VMs share, e.g. a CDROM, stays attached while oned
 * says another VM on that host uses it: lib/domain/shared_image.ts), then delete the volume
 * ONLY when it is the VM's own: a volatile disk, a private clone of a non-persistent image or a per-VM
 * CDROM copy. Persistent disks and image volumes are never deleted, whatever oned sends
 * (`recover --delete`, delete_prev …); the VM's backup chain snapshots on a kept volume are
 * dropped (a deleted volume takes them with it). A volume already gone is fine.
 *
 * VM directory: delete the VM's checkpoint volume, context ISO volume and state volumes (NVRAM,
 * TPM state, a VM snapshot's memory; lib/domain/vm_state.ts), with their snapshots, in the
 * system datastore's store, then remove the directory on the host (only `<BASE_PATH>/<vmid>` of
 * that system datastore as oned knows it: lib/domain/vm_dir.ts vmDirPrefix);
 * an unreachable (dead) host is reported, not an error: the store side is done, and the
 * directory left there is journaled for `oneblk gc` (lib/domain/host_leftovers.ts).
 *
 * Idempotent: a second run finds nothing to do and succeeds.
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { removeDir } from "../../lib/host/ops.ts";
import { isKind } from "../../lib/errors.ts";
import { unlinkAndDetach } from "../../lib/domain/attach.ts";
import { diskOf, isPrivateVolume, loadVmAndDs, vmContextVolume } from "../../lib/domain/vm_disk.ts";
import { vmDirPrefix } from "../../lib/domain/vm_dir.ts";
import { isSharedImage, sharedImageUser } from "../../lib/domain/shared_image.ts";
import { dropChain, mayHaveChain } from "../../lib/domain/backup.ts";
import { mapLimit } from "../../lib/limit.ts";
import { stateVolumeNames } from "../../lib/domain/vm_state.ts";
import { dropHostLeftover, noteHostLeftover } from "../../lib/domain/host_leftovers.ts";

/** Run tm delete. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const dst = a.dst!;
  const p = ctx.profile;
  if (dst.diskId === null) {
    const [prefix, ds, iso] = await Promise.all([
      vmDirPrefix(ctx, dst.path, a.vmId, a.dsId),
      ctx.one().then((one) => one.datastoreInfo(a.dsId)),
      vmContextVolume(ctx, a.vmId),
    ]);
    const backend = ctx.backend(ds);
    // the VM's own volumes (checkpoint, state, context ISO; at most 5), all side by side, so
    // that the store's listings they need (StorPool: the snapshots of a volume already gone)
    // can be shared; all are tried
    const volumes = [
      p.checkpointVolume(a.vmId),
      ...stateVolumeNames(p, a.vmId, ["nvram", "tpm", "memory"]).map((s) => s.volume),
      iso,
    ].filter((v): v is string => v !== null && v !== undefined && v !== "");
    await mapLimit(volumes, 8, (v) => backend.deleteVolume(v, { immediate: true }));
    try {
      await removeDir(ctx.hosts, dst.host, dst.path, [prefix]);
      await dropHostLeftover(ctx, dst.host, dst.path);
    } catch (e) {
      if (!isKind(e, "unavailable")) throw e;
      // nothing else removes it once the host is back: journaled for oneblk gc
      await noteHostLeftover(ctx, {
        host: dst.host,
        path: dst.path,
        kind: "vm-dir",
        vmId: a.vmId,
        dsId: a.dsId,
      }, e);
    }
    return;
  }
  const { vm, ds } = await loadVmAndDs(ctx, a.vmId, a.dsId);
  const disk = diskOf(vm, dst);
  const volume = p.diskVolume(vm.id, disk);
  const backend = ctx.backend(ds);
  const keep = isSharedImage(p, disk, volume)
    ? () => sharedImageUser(ctx, vm, disk, dst.host)
    : undefined;
  await unlinkAndDetach(ctx, backend, volume, dst.host, dst.path, keep);
  if (!isPrivateVolume(p, disk, volume)) {
    ctx.info(`${volume} is not private to VM ${vm.id} (persistent, CDROM or image): kept`);
    if (!disk.isCdrom && mayHaveChain(vm)) {
      await dropChain(ctx, backend, volume, vm.id, disk.diskId);
    }
    return;
  }
  await backend.deleteVolume(volume);
}

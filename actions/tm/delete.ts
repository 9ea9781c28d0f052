/**
 * tm delete `host:PATH vmid dsid` (docs/contract.md "tm delete").
 *
 * Disk (`…/disk.i`): remove the link and detach from the host (a device still open there, e.g.
 * a CDROM another VM uses, stays attached and is reported), then delete the volume ONLY when
 * it is the VM's own: a volatile disk, a private clone of a non-persistent image or a per-VM
 * CDROM copy. Persistent disks and image volumes are never deleted, whatever oned sends
 * (`recover --delete`, delete_prev …); the VM's backup chain snapshots on a kept volume are
 * dropped (a deleted volume takes them with it). A volume already gone is fine.
 *
 * VM directory: delete the VM's checkpoint volume, context ISO volume and state volumes (NVRAM,
 * TPM state, a VM snapshot's memory; lib/domain/vm_state.ts), with their snapshots, in the
 * system datastore's store, then remove the directory on the host (only below
 * `<location>/<sys_ds>`);
 * an unreachable (dead) host is reported, not an error: the store side is done.
 *
 * Idempotent: a second run finds nothing to do and succeeds.
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { removeDir } from "../../lib/host/ops.ts";
import { isKind } from "../../lib/errors.ts";
import { unlinkAndDetach } from "../../lib/domain/attach.ts";
import { diskOf, isPrivateVolume, loadVmAndDs } from "../../lib/domain/vm_disk.ts";
import { vmDirPrefix } from "../../lib/domain/vm_dir.ts";
import { vmContextVolume } from "../../lib/domain/context_iso.ts";
import { dropChain, mayHaveChain } from "../../lib/domain/backup.ts";

/** Run tm delete. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const dst = a.dst!;
  const p = ctx.profile;
  if (dst.diskId === null) {
    const prefix = vmDirPrefix(dst.path, a.vmId, a.dsId);
    const ds = await (await ctx.one()).datastoreInfo(a.dsId);
    const backend = ctx.backend(ds);
    await backend.deleteVolume(p.checkpointVolume(a.vmId), { immediate: true });
    for (const kind of ["nvram", "tpm", "memory"] as const) {
      const v = p.vmStateVolume(a.vmId, kind);
      if (v !== null) await backend.deleteVolume(v, { immediate: true });
    }
    const iso = await vmContextVolume(ctx, a.vmId);
    if (iso) await backend.deleteVolume(iso, { immediate: true });
    try {
      await removeDir(ctx.hosts, dst.host, dst.path, [prefix]);
    } catch (e) {
      if (!isKind(e, "unavailable")) throw e;
      ctx.info(`host ${dst.host} is unreachable: ${dst.path} not removed there`);
    }
    return;
  }
  const { vm, ds } = await loadVmAndDs(ctx, a.vmId, a.dsId);
  const disk = diskOf(vm, dst);
  const volume = p.diskVolume(vm.id, disk);
  const backend = ctx.backend(ds);
  await unlinkAndDetach(ctx, backend, volume, dst.host, dst.path);
  if (!isPrivateVolume(p, disk, volume)) {
    ctx.info(`${volume} is not private to VM ${vm.id} (persistent, CDROM or image): kept`);
    if (!disk.isCdrom && mayHaveChain(vm)) {
      await dropChain(ctx, backend, volume, vm.id, disk.diskId);
    }
    return;
  }
  await backend.deleteVolume(volume);
}

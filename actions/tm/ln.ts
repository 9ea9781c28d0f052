/**
 * tm ln `fe:SOURCE host:DIR/disk.i vmid dsid` (docs/contract.md "tm ln"): make the image
 * itself usable on `host` at `DIR/disk.i`: persistent disks, and CLONE=NO images such as
 * CDROMs.
 *
 * Attach (read-only for CDROM/READONLY disks; a CDROM may be attached for several VMs at once)
 * and link; persistent disks get the profile's disk metadata. Profiles with `cdromClone` give
 * each VM its own read-only copy of a CDROM image instead. A failure after the attach undoes
 * it (never for a CDROM image, which other VMs may be using).
 *
 * REST: attach + metadata (2, the metadata beside the link) for a persistent disk, attach (1)
 * for a shared CDROM; StorPool adds a read of the volume's tags beside the attach (its
 * leftover mark, if any, goes after it).
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { link, unlink } from "../../lib/host/ops.ts";
import { attachAndLink } from "../../lib/domain/attach.ts";
import { withUndo } from "../../lib/domain/undo.ts";
import { settleAll } from "../../lib/limit.ts";
import { cloneOrReuse, loadVmDisk, readOnlyDisk, systemDsOf } from "../../lib/domain/vm_disk.ts";

/** Run tm ln. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const src = a.src!, dst = a.dst!;
  const { vm, disk, ds, volume, backend } = await loadVmDisk(ctx, dst, a.vmId, a.dsId);
  const p = ctx.profile;
  const host = dst.host;
  const readOnly = readOnlyDisk(disk);
  const source = p.sourceVolume(src.path || disk.source);

  if (disk.isCdrom && p.cdromClone && source && source !== volume) {
    // A per-VM read-only copy of the CDROM image.
    const created = await cloneOrReuse(ctx, backend, source, volume, {
      placement: p.placement(ds.template, ds.id),
      props: p.diskProps(vm.id, disk.diskId, systemDsOf(vm, dst)),
    });
    await withUndo(
      ctx,
      () => attachAndLink(ctx, backend, volume, host, dst.path, { readOnly: true }),
      async () => {
        if (!created) return;
        await unlink(ctx.hosts, host, dst.path).catch(() => {});
        await backend.deleteVolume(volume, { immediate: true });
      },
    );
    return;
  }

  await backend.attach(volume, host, { readOnly });
  await withUndo(
    ctx,
    // the link (host) and the metadata (store) side by side, both ended before any undo
    () =>
      settleAll([
        link(ctx.hosts, host, backend.devicePath(volume), dst.path),
        disk.persistent && !disk.isCdrom
          ? backend.setProps(volume, p.diskProps(vm.id, disk.diskId, systemDsOf(vm, dst)))
          : Promise.resolve(),
      ]),
    async () => {
      await unlink(ctx.hosts, host, dst.path).catch(() => {});
      if (!disk.isCdrom) await backend.detach(volume, host);
    },
  );
}

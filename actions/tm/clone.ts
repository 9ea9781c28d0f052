/**
 * tm clone `fe:SOURCE host:DIR/disk.i vmid dsid`: a private, writable copy of the image for a
 * non-persistent disk, usable on `host` at `DIR/disk.i` (docs/contract.md "tm clone").
 *
 * Store-side clone of the image volume (image datastore placement, grown to DISK/SIZE when
 * that is larger than the image, a replica preferred on `host`, the profile's disk metadata),
 * then attach + link. A clone made by this call is deleted again when a later step fails; a
 * clone that exists already (oned retried) is reused. qcow2 images kept as qcow2 by the profile
 * are grown with `qemu-img resize` on the host.
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { qemuImgResize, unlink } from "../../lib/host/ops.ts";
import { OneblkError } from "../../lib/errors.ts";
import { attachAndLink } from "../../lib/domain/attach.ts";
import { withUndo } from "../../lib/domain/undo.ts";
import {
  cloneOrReuse,
  keepsQcow2,
  loadVmDisk,
  readOnlyDisk,
  systemDsOf,
} from "../../lib/domain/vm_disk.ts";

/** Run tm clone. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const src = a.src!, dst = a.dst!;
  const { vm, disk, ds, volume, backend } = await loadVmDisk(ctx, dst, a.vmId, a.dsId);
  const p = ctx.profile;
  const source = p.sourceVolume(src.path || disk.source);
  if (!source) {
    throw new OneblkError("input", `clone of VM ${vm.id} disk ${disk.diskId}: empty SOURCE`);
  }
  const readOnly = readOnlyDisk(disk);
  const host = dst.host;

  if (source === volume) {
    // The profile keeps this disk on the image itself (e.g. a CDROM): no copy to make.
    ctx.info(`${volume} is the image itself for this disk: attaching it, no clone`);
    await attachAndLink(ctx, backend, volume, host, dst.path, { readOnly });
    return;
  }

  const orig = disk.originalSize;
  const grow = disk.size > 0 && (orig === null || disk.size > orig);
  const created = await cloneOrReuse(ctx, backend, source, volume, {
    placement: p.placement(ds.template, ds.id),
    sizeMiB: grow ? disk.size : undefined,
    props: p.diskProps(vm.id, disk.diskId, systemDsOf(vm, dst)),
    preferHost: host,
  });

  await withUndo(
    ctx,
    async () => {
      await attachAndLink(ctx, backend, volume, host, dst.path, { readOnly });
      if (grow && orig !== null && keepsQcow2(p, disk)) {
        await qemuImgResize(ctx.hosts, host, dst.path, disk.size, { format: "qcow2" });
      }
    },
    async () => {
      if (!created) return;
      await unlink(ctx.hosts, host, dst.path).catch(() => {});
      await backend.deleteVolume(volume, { immediate: true });
      ctx.info(`removed ${volume} again`);
    },
  );
}

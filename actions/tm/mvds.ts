/**
 * tm mvds `host:DIR/disk.i SOURCE vmid dsid` (docs/contract.md "tm mvds"): a persistent disk
 * goes back to its image at terminate or detach. The data already is in the image volume, so:
 * remove the link, detach from the host, drop this VM's backup chain snapshots of the disk
 * and clear the metadata naming this VM (lib/domain/vm_props.ts). Never deletes data.
 *
 * REST: detach (LINSTOR 2, StorPool 1) + metadata (1), + the chain snapshots (1 or 2) of a VM
 * that has backups.
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { isKind } from "../../lib/errors.ts";
import { unlinkAndDetach } from "../../lib/domain/attach.ts";
import { loadVmDisk, systemDsOf } from "../../lib/domain/vm_disk.ts";
import { vmPropsCleared } from "../../lib/domain/vm_props.ts";
import { dropChain, mayHaveChain } from "../../lib/domain/backup.ts";

/** Run tm mvds. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const dst = a.dst!;
  const { vm, disk, volume, backend } = await loadVmDisk(ctx, dst, a.vmId, a.dsId);
  const source = a.source ? ctx.profile.sourceVolume(a.source) : "";
  if (source && source !== volume) {
    ctx.info(`SOURCE ${a.source} names ${source}; disk ${disk.diskId} uses ${volume}`);
  }
  await unlinkAndDetach(ctx, backend, volume, dst.host, dst.path);
  if (disk.isCdrom) return;
  if (mayHaveChain(vm)) await dropChain(ctx, backend, volume, vm.id, disk.diskId);
  const clear = vmPropsCleared(ctx.profile, vm.id, disk.diskId, systemDsOf(vm, dst));
  if (!Object.keys(clear).length) return;
  try {
    await backend.setProps(volume, clear);
  } catch (e) {
    if (!isKind(e, "not_found")) throw e;
    ctx.info(`${volume} does not exist; nothing to clear`);
  }
}

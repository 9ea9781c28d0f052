/**
 * VMM override restore (file names per add-on: lib/addons/):
 * `checkpoint_file host deploy_id vmid host`, stdin base64 of VMM_DRIVER_ACTION_DATA
 * (docs/contract.md "vmm save and restore"). Restores the domain from the checkpoint volume
 * save wrote.
 *
 * 1. Profile and store from the message's system DATASTORE/TM_MAD; not ours → the host's stock
 *    restore with the decoded message.
 * 2. No checkpoint volume: if the domain already runs, an earlier call restored it (done);
 *    otherwise the checkpoint is a plain file (saved before oneblk served this datastore) and
 *    the stock restore runs.
 * 3. Attach the volume on the (possibly new) host, link `checkpoint_file` to the device and
 *    `virsh restore <device>` there (lib/domain/libvirt.ts). When the VM moved to another
 *    system datastore since it was saved, the domain XML stored in the image still names the
 *    old VM directory: as the stock restore does, it is read (`virsh save-image-dumpxml`),
 *    every `<DATASTORE_LOCATION>/<old ds>/<vmid>` path is pointed at the checkpoint file's
 *    datastore, and the restore gets it with `--xml` (written next to the checkpoint file,
 *    removed afterwards). A failure keeps the volume (it holds the VM's memory) and detaches it
 *    from the host.
 * 4. Restored: remove the link, delete the checkpoint volume (from every host). A failed
 *    delete is reported but does not fail the restore (the domain runs).
 *
 * A domain the guest suspended itself (pmsuspended) is woken up instead, as the stock restore
 * does.
 */
import type { ActionContext } from "../../lib/context.ts";
import { link, putFile, unlink } from "../../lib/host/ops.ts";
import { errorLine } from "../../lib/errors.ts";
import { dirname } from "../../lib/path.ts";
import { restoreDomain, savedDomainXml, wakeDomain } from "../../lib/domain/libvirt.ts";
import { parseDomainXml, relocateVmDir, serializeDomainXml } from "../../lib/domain/domain_xml.ts";
import { vmDirInfo } from "../../lib/one/args.ts";
import { attachReady } from "../../lib/domain/attach.ts";
import { delegateToStock } from "../../lib/domain/stock.ts";
import {
  type CheckpointCall,
  checkpointState,
  withCheckpointCall,
} from "../../lib/domain/checkpoint.ts";

/** Run the restore override. */
export async function run(ctx: ActionContext): Promise<void> {
  const [checkpointFile, host, deployId, vmId] = ctx.args;
  await withCheckpointCall(ctx, "restore", { deployId, checkpointFile, host, vmId }, restore);
}

async function restore(ctx: ActionContext, call: CheckpointCall): Promise<void> {
  const { deployId, ckpt, host, xml, store: { backend } } = call;
  const { volume, existing, running, state } = await checkpointState(ctx, call);
  if (state === "pmsuspended") {
    ctx.info(`${deployId} on ${host} is suspended by its guest: waking it up`);
    await wakeDomain(ctx, host, deployId);
  }
  if (!existing) {
    if (running) {
      ctx.info(`${deployId} runs on ${host} and ${volume} is gone: restored by an earlier call`);
      return;
    }
    ctx.info(`no checkpoint volume ${volume}: restoring from the checkpoint file`);
    return void (await delegateToStock(ctx, "restore", host, xml));
  }
  if (!running) {
    try {
      const device = await attachReady(ctx, backend, volume, host);
      await link(ctx.hosts, host, device, ckpt);
      const relocated = await relocatedXml(ctx, call, device);
      try {
        await restoreDomain(ctx, host, device, relocated);
      } finally {
        if (relocated) await unlink(ctx.hosts, host, relocated).catch(() => {});
      }
    } catch (e) {
      // Keep the memory image: only the attachment on this host is undone.
      await unlink(ctx.hosts, host, ckpt).catch(() => {});
      await backend.detach(volume, host).catch((d) => ctx.info(`detach failed: ${errorLine(d)}`));
      throw e;
    }
  } else {
    ctx.info(`${deployId} runs on ${host} already: removing the leftover ${volume}`);
  }
  await unlink(ctx.hosts, host, ckpt).catch((e) => ctx.info(`unlink failed: ${errorLine(e)}`));
  try {
    await backend.deleteVolume(volume, { immediate: true });
  } catch (e) {
    ctx.info(`restored, but the checkpoint volume ${volume} was not deleted: ${errorLine(e)}`);
  }
}

/**
 * The saved domain XML pointed at the checkpoint file's VM directory, written next to the
 * checkpoint file on the host; its path, or undefined when nothing needs to change (the VM
 * did not move to another system datastore) or the saved XML cannot be read as a domain
 * (reported; the plain restore is then tried).
 */
async function relocatedXml(
  ctx: ActionContext,
  { ckpt, host, vmId }: CheckpointCall,
  device: string,
): Promise<string | undefined> {
  const place = vmDirInfo(dirname(ckpt));
  if (!place || place.vmId !== vmId) return undefined;
  const dsLocation = dirname(dirname(dirname(ckpt)));
  let saved;
  try {
    saved = parseDomainXml(await savedDomainXml(ctx, host, device), "saved domain XML");
  } catch (e) {
    ctx.info(`disk paths not checked: ${errorLine(e)}`);
    return undefined;
  }
  const r = relocateVmDir(saved, { dsLocation, dsId: place.sysDsId, vmId });
  if (!r.changed) return undefined;
  ctx.info(`the VM moved to system datastore ${place.sysDsId}: ${r.changed} path(s) rewritten`);
  const file = `${ckpt}.xml`;
  await putFile(ctx.hosts, host, file, serializeDomainXml(r.domain));
  return file;
}

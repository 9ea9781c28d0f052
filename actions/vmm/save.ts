/**
 * VMM override save (file names per add-on: lib/addons/):
 * `deploy_id checkpoint_file host vmid host`, stdin base64 of VMM_DRIVER_ACTION_DATA
 * (docs/contract.md "vmm save and restore"). The domain's memory is saved to a checkpoint
 * volume on the system datastore's store instead of a file.
 *
 * 1. Profile and store from the message's system DATASTORE/TM_MAD (lib/domain/checkpoint.ts);
 *    not ours → the host's stock save with the decoded message.
 * 2. Checkpoint volume `profile.checkpointVolume(vm)`, sized from the VM's MEMORY (×1.1 plus
 *    256 MiB: what `virsh save` writes, not the domain's RSS).
 * 3. Attach on the host and `virsh save <deploy_id> <device>` there (lib/domain/libvirt.ts;
 *    virsh pauses the domain itself). If virsh fails, the volume is deleted again and the
 *    domain keeps running.
 * 4. `checkpoint_file` becomes a symlink to the device, so the stock restore can find it.
 *
 * Repeat: when the volume exists and the domain is gone, an earlier call saved it already;
 * only the attachment and the link are made again. A volume left by an older cycle while the
 * domain still runs is stale and is replaced.
 */
import type { ActionContext } from "../../lib/context.ts";
import { link } from "../../lib/host/ops.ts";
import { OneblkError } from "../../lib/errors.ts";
import { saveDomain } from "../../lib/domain/libvirt.ts";
import { attachReady, detachAndDelete } from "../../lib/domain/attach.ts";
import { withUndo } from "../../lib/domain/undo.ts";
import {
  type CheckpointCall,
  checkpointProps,
  checkpointSizeMiB,
  checkpointState,
  withCheckpointCall,
} from "../../lib/domain/checkpoint.ts";
/** Run the save override. */
export async function run(ctx: ActionContext): Promise<void> {
  const [deployId, checkpointFile, host, vmId] = ctx.args;
  await withCheckpointCall(ctx, "save", { deployId, checkpointFile, host, vmId }, save);
}

async function save(ctx: ActionContext, call: CheckpointCall): Promise<void> {
  const { deployId, ckpt, host, vmId, view, store } = call;
  const memory = Number(view.vm.template.get("MEMORY"));
  if (!Number.isFinite(memory) || memory <= 0) {
    throw new OneblkError("input", `VM ${vmId} has no valid TEMPLATE/MEMORY`);
  }
  const { backend, placement } = store;
  const size = checkpointSizeMiB(memory);
  const { volume, existing, running } = await checkpointState(ctx, call);
  const device = backend.devicePath(volume);
  if (existing && !running) {
    ctx.info(`${deployId} is not running and ${volume} exists: saved by an earlier call`);
    await backend.attach(volume, host);
    await link(ctx.hosts, host, device, ckpt);
    return;
  }
  if (!running) {
    throw new OneblkError("not_found", `domain ${deployId} is not running on ${host}`);
  }
  if (existing) {
    ctx.info(`${volume} is left from an earlier cycle: replacing it`);
    await backend.deleteVolume(volume, { immediate: true });
  }
  await backend.createVolume(volume, size, {
    placement,
    props: checkpointProps(store, vmId),
  });
  await withUndo(
    ctx,
    async () => {
      await attachReady(ctx, backend, volume, host);
      await saveDomain(ctx, host, deployId, device);
    },
    () => detachAndDelete(backend, volume, host),
  );
  // The memory is on the volume now: a failure from here on must keep it (a retry links it).
  await link(ctx.hosts, host, device, ckpt);
}

/**
 * VMM override snapshotrevert (file names per add-on: lib/addons/): `deploy_id HYPERVISOR_ID
 * vmid host` (oned passes the active snapshot's HYPERVISOR_ID; a numeric snapshot id is
 * accepted too), stdin base64
 * VMM_DRIVER_ACTION_DATA (docs/contract.md "vmm VM snapshots").
 *
 * Every disk is rolled back to its snapshot of VM snapshot `snap_id`, found from the snapshot's
 * HYPERVISOR_ID in the message (TEMPLATE/SNAPSHOT[SNAPSHOT_ID=snap_id]). All snapshots are
 * checked before the first rollback; a disk without one (attached after the snapshot) is left
 * as it is and reported. A VM with no disk of ours goes to the host's stock snapshot_revert.
 * Repeating the call rolls back again (same result).
 *
 * VM state on the store (StorPool, lib/domain/vm_state.ts): the NVRAM and TPM state volumes
 * are rolled back with the disks and the TPM state is put back into `DIR/tpm`. A snapshot taken
 * with the domain's memory (VMSNAPSHOT_WITH_CHECKPOINT) reverts a running VM: the domain is
 * destroyed, the volumes rolled back (the memory volume too), and the domain restored from the
 * memory volume, running again as oned expects. Without memory the VM must be
 * powered off (its domain not running on the host, its volumes not open).
 */
import type { ActionContext } from "../../lib/context.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import {
  checkDomain,
  destroyDomain,
  domainExists,
  restoreDomain,
} from "../../lib/domain/libvirt.ts";
import {
  delegateVmSnap,
  hypervisorIdOf,
  loadVmSnapCall,
  namesFor,
  stateVolumes,
  stockOnly,
  type VmSnapCall,
} from "../../lib/domain/vm_snapshot.ts";
import { restoreTpm, tpmOnStore } from "../../lib/domain/vm_state.ts";
import { withAttached } from "../../lib/domain/attach.ts";

/** Run the snapshotrevert override. */
export async function run(ctx: ActionContext): Promise<void> {
  const call = await loadVmSnapCall(ctx, "revert");
  if (stockOnly(call)) return void (await delegateVmSnap(ctx, call, "revert"));
  const hvId = hypervisorIdOf(call);
  const members = [...call.volumes, ...await stateVolumes(call, ["nvram", "tpm"])];
  const items = namesFor(call, hvId, members);
  if (!items) {
    throw new OneblkError(
      "not_found",
      `VM ${call.vmId} has no oneblk VM snapshot ${call.snapId} (HYPERVISOR_ID ${
        JSON.stringify(hvId)
      })`,
    );
  }
  const memory = (namesFor(call, hvId, await stateVolumes(call, ["memory"], true)) ?? [])[0];
  const memorySaved = memory !== undefined &&
    (await memory.v.backend.listSnapshots(memory.v.volume)).some((s) => s.name === memory.snapshot);
  const running = call.deployId && call.deployId !== "-" &&
    await domainExists(ctx, call.host, checkDomain(call.deployId));
  if (running && !memorySaved) {
    throw new OneblkError(
      "in_use",
      `VM ${call.vmId} runs on ${call.host}: power it off before reverting VM snapshot ` +
        `${call.snapId}`,
    );
  }
  const present = await Promise.all(items.map(async (i) => {
    const snaps = await i.v.backend.listSnapshots(i.v.volume);
    return snaps.some((s) => s.name === i.snapshot);
  }));
  const todo = items.filter((_, k) => present[k]);
  if (!todo.some((i) => i.v.disk)) {
    throw new OneblkError(
      "not_found",
      `no disk of VM ${call.vmId} has the snapshots of VM snapshot ${call.snapId} (${hvId})`,
    );
  }
  for (const [k, i] of items.entries()) {
    if (!present[k]) {
      ctx.info(`${i.v.label} (${i.v.volume}) has no snapshot ${i.snapshot}: left as it is`);
    }
  }
  if (running) {
    ctx.info(`destroying ${call.deployId} on ${call.host}: it comes back from the saved memory`);
    await destroyDomain(ctx, call.host, call.deployId);
  }
  for (const i of todo) {
    try {
      await i.v.backend.rollbackSnapshot(i.v.volume, i.snapshot);
    } catch (e) {
      if (isKind(e, "in_use")) {
        throw new OneblkError(
          "in_use",
          `cannot revert ${i.v.label} of VM ${call.vmId} (${i.v.volume}): it is in ` +
            `use; power the VM off first (${(e as Error).message})`,
        );
      }
      throw e;
    }
  }
  const st = call.state;
  const tpm = st?.profile.vmStateVolume(call.vmId, "tpm");
  if (st && tpmOnStore(ctx, st.profile, call.vm) && todo.some((i) => i.v.volume === tpm)) {
    await restoreTpm(ctx, st.profile, st.backend, call.vmId, call.host, st.dir);
  }
  if (memorySaved) await restoreMemory(ctx, call, memory.v.volume, memory.snapshot);
}

/**
 * Bring the domain back from memory snapshot `snapshot`: roll the memory volume back to it,
 * attach it read-only, `virsh restore`, detach.
 */
async function restoreMemory(
  ctx: ActionContext,
  call: VmSnapCall,
  volume: string,
  snapshot: string,
): Promise<void> {
  const { backend } = call.state!;
  await backend.rollbackSnapshot(volume, snapshot);
  await withAttached(ctx, backend, volume, call.host, async (dev) => {
    await restoreDomain(ctx, call.host, dev);
  }, { readOnly: true });
  ctx.info(`${call.deployId} restored on ${call.host} from ${snapshot}`);
}

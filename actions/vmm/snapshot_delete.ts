/**
 * VMM override snapshotdelete (file names per add-on: lib/addons/): `deploy_id HYPERVISOR_ID
 * vmid host` (oned passes the active snapshot's HYPERVISOR_ID; a numeric snapshot id is
 * accepted too), stdin base64
 * VMM_DRIVER_ACTION_DATA (docs/contract.md "vmm VM snapshots").
 *
 * Deletes each disk's snapshot of VM snapshot `snap_id` (names from its HYPERVISOR_ID in the
 * message), and those of the VM's state volumes (NVRAM, TPM state, memory; StorPool); a
 * snapshot already gone is fine, so a repeat succeeds. Works whatever the VM's
 * state. A HYPERVISOR_ID that is not ours (a libvirt snapshot taken before the override was
 * installed) is reported and nothing is deleted. A VM with no disk of ours goes to the host's
 * stock snapshot_delete; disks of other TM_MADs beside ours are ignored.
 */
import type { ActionContext } from "../../lib/context.ts";
import {
  delegateVmSnap,
  hypervisorIdOf,
  loadVmSnapCall,
  namesFor,
  stateVolumes,
  stockOnly,
} from "../../lib/domain/vm_snapshot.ts";

/** Run the snapshotdelete override. */
export async function run(ctx: ActionContext): Promise<void> {
  const call = await loadVmSnapCall(ctx, "delete");
  if (stockOnly(call, false)) return void (await delegateVmSnap(ctx, call, "delete"));
  const hvId = hypervisorIdOf(call);
  // The VM's state volumes (NVRAM, TPM state, memory) share the snapshot; deleting a snapshot
  // that is not there is fine.
  const state = await stateVolumes(call, ["nvram", "tpm", "memory"], true);
  const items = namesFor(call, hvId, [...call.volumes, ...state]);
  if (!items) {
    ctx.info(
      `VM snapshot ${call.snapId} of VM ${call.vmId} (HYPERVISOR_ID ${
        JSON.stringify(hvId)
      }) was not taken by oneblk: nothing deleted`,
    );
    return;
  }
  for (const i of items) await i.v.backend.deleteSnapshot(i.v.volume, i.snapshot);
}

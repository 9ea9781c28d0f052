/**
 * VMM override snapshotrevert (file names per add-on: lib/addons/): `deploy_id HYPERVISOR_ID
 * vmid host` (oned passes the active snapshot's HYPERVISOR_ID; a numeric snapshot id is
 * accepted too), stdin base64
 * VMM_DRIVER_ACTION_DATA (docs/contract.md "vmm VM snapshots").
 *
 * The VM must be powered off (its domain not running on the host, its volumes not open): then
 * every disk is rolled back to its snapshot of VM snapshot `snap_id`, found from the snapshot's
 * HYPERVISOR_ID in the message (TEMPLATE/SNAPSHOT[SNAPSHOT_ID=snap_id]). All snapshots are
 * checked before the first rollback; a disk without one (attached after the snapshot) is left
 * as it is and reported. A VM with no disk of ours goes to the host's stock snapshot_revert.
 * Repeating the call rolls back again (same result).
 */
import type { ActionContext } from "../../lib/context.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { checkDomain, domainExists } from "../../lib/domain/libvirt.ts";
import {
  delegateVmSnap,
  hypervisorIdOf,
  loadVmSnapCall,
  namesFor,
  stockOnly,
} from "../../lib/domain/vm_snapshot.ts";

/** Run the snapshotrevert override. */
export async function run(ctx: ActionContext): Promise<void> {
  const call = await loadVmSnapCall(ctx, "revert");
  if (stockOnly(call)) return void (await delegateVmSnap(ctx, call, "revert"));
  const hvId = hypervisorIdOf(call);
  const items = namesFor(call, hvId);
  if (!items) {
    throw new OneblkError(
      "not_found",
      `VM ${call.vmId} has no oneblk VM snapshot ${call.snapId} (HYPERVISOR_ID ${
        JSON.stringify(hvId)
      })`,
    );
  }
  if (call.deployId && call.deployId !== "-") {
    checkDomain(call.deployId);
    if (await domainExists(ctx, call.host, call.deployId)) {
      throw new OneblkError(
        "in_use",
        `VM ${call.vmId} runs on ${call.host}: power it off before reverting VM snapshot ` +
          `${call.snapId}`,
      );
    }
  }
  const present = await Promise.all(items.map(async (i) => {
    const snaps = await i.v.backend.listSnapshots(i.v.volume);
    return snaps.some((s) => s.name === i.snapshot);
  }));
  const todo = items.filter((_, k) => present[k]);
  if (!todo.length) {
    throw new OneblkError(
      "not_found",
      `no disk of VM ${call.vmId} has the snapshots of VM snapshot ${call.snapId} (${hvId})`,
    );
  }
  for (const [k, i] of items.entries()) {
    if (!present[k]) {
      ctx.info(
        `disk ${i.v.disk.diskId} (${i.v.volume}) has no snapshot ${i.snapshot}: left as it is`,
      );
    }
  }
  for (const i of todo) {
    try {
      await i.v.backend.rollbackSnapshot(i.v.volume, i.snapshot);
    } catch (e) {
      if (isKind(e, "in_use")) {
        throw new OneblkError(
          "in_use",
          `cannot revert disk ${i.v.disk.diskId} of VM ${call.vmId} (${i.v.volume}): it is in ` +
            `use; power the VM off first (${(e as Error).message})`,
        );
      }
      throw e;
    }
  }
}

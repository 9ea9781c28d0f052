/**
 * tm monitor `ds_id` (≥6.8, payload on stdin) / `b64 ds_id` (≤6.6) for a shared system
 * datastore (docs/contract.md "tm monitor", "Monitoring formats").
 *
 * stdout: `USED_MB/TOTAL_MB/FREE_MB` from the store's real placeable capacity under the system
 * datastore's placement, and nothing else. When the payload has MONITOR_VM_DISKS=1, per-VM
 * DISK_SIZE / SNAPSHOT_SIZE are pushed to onemonitord over UDP (`MONITOR_VM`; the address
 * comes from ONEBLK_MONITORD_CONF or monitord.conf). They come from ONE bulk usage query
 * matching the profile's datastore metadata, grouped by the VM/disk metadata the profile writes
 * (LINSTOR Aux/one VM_ID/DISK_ID, StorPool nvm/diskid tags): the number of store requests does
 * not depend on the number of volumes. An unreachable monitord is logged, never fatal.
 */
import type { ActionContext } from "../../lib/context.ts";
import type { VolumeUsage } from "../../lib/backend/types.ts";
import { readDsPayload } from "../../lib/one/args.ts";
import { parseDsAction } from "../../lib/one/views.ts";
import { monitorOutput } from "../../lib/one/output.ts";
import { pushVmDiskUsage } from "../../lib/domain/monitor.ts";

/** Run tm monitor. */
export async function run(ctx: ActionContext): Promise<void> {
  const { xml } = await readDsPayload(ctx.args, () => ctx.stdin());
  const action = parseDsAction(xml);
  const ds = action.datastore;
  const p = ctx.profile;
  const backend = ctx.backend(ds);
  const wantVms = action.monitorVmDisks;
  const [cap, usage] = await Promise.all([
    backend.capacity(p.placement(ds.template, ds.id)),
    wantVms ? backend.listUsage(p.dsMatch(ds.id)) : Promise.resolve([] as VolumeUsage[]),
  ]);
  ctx.out(
    monitorOutput({ usedMb: cap.usedMiB, totalMb: cap.totalMiB, freeMb: cap.freeMiB }).trimEnd(),
  );
  if (wantVms) await pushVmDiskUsage(ctx, ds.id, usage);
}

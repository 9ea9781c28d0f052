/**
 * Per-VM disk usage of a system datastore (tm monitor with MONITOR_VM_DISKS; docs/contract.md
 * "Monitoring formats"): one bulk usage query of the store, grouped by the VM and disk ids the
 * profile's metadata carries (vm_props.ts), so the number of store requests does not grow with
 * the number of volumes. They are pushed to onemonitord over UDP (MONITOR_VM; the address from
 * ONEBLK_MONITORD_CONF or monitord.conf); an unreachable monitord is logged, never fatal.
 */
import type { ActionContext } from "../context.ts";
import type { Profile } from "../addons/types.ts";
import type { VolumeUsage } from "../backend/types.ts";
import { errorLine } from "../errors.ts";
import {
  monitordConfPath,
  monitorVmLine,
  readMonitordConf,
  sendMonitorVm,
  type VmDiskUsage,
} from "../one/output.ts";
import { ownerKeys } from "./vm_props.ts";

/** Group bulk usage into per-VM disk and snapshot sizes (MB). */
function usageByVm(profile: Profile, dsId: number, usage: VolumeUsage[]): VmDiskUsage[] {
  const keys = ownerKeys(profile, dsId);
  if (!keys) return [];
  const byVm = new Map<number, VmDiskUsage>();
  for (const u of usage) {
    const vmId = Number(u.props[keys.vm]);
    const diskId = Number(u.props[keys.disk]);
    if (!Number.isInteger(vmId) || vmId < 0 || !Number.isInteger(diskId) || diskId < 0) continue;
    let rec = byVm.get(vmId);
    if (!rec) byVm.set(vmId, rec = { vmId, disks: [], snapshots: [] });
    const same = rec.disks.find((d) => d.id === diskId);
    if (same) same.sizeMb = Math.max(same.sizeMb, u.allocatedMiB);
    else rec.disks.push({ id: diskId, sizeMb: u.allocatedMiB });
    for (const [snap, mib] of Object.entries(u.snapshots)) {
      const id = profile.snapshotId(u.name, snap);
      if (id !== null) rec.snapshots!.push({ id, diskId, sizeMb: mib });
    }
  }
  return [...byVm.values()].sort((a, b) => a.vmId - b.vmId).map((r) => ({
    ...r,
    disks: r.disks.sort((a, b) => a.id - b.id),
    snapshots: r.snapshots!.sort((a, b) => a.diskId - b.diskId || a.id - b.id),
  }));
}

/** Push the per-VM disk usage of system datastore `dsId` (from `usage`) to onemonitord. */
export async function pushVmDiskUsage(
  ctx: ActionContext,
  dsId: number,
  usage: VolumeUsage[],
): Promise<void> {
  const lines = usageByVm(ctx.profile, dsId, usage).map(monitorVmLine);
  if (!lines.length) return;
  const conf = ctx.env.ONEBLK_MONITORD_CONF || monitordConfPath(ctx.env);
  try {
    const target = await readMonitordConf(conf);
    const r = await sendMonitorVm(lines, target, { timeoutMs: 5_000 });
    ctx.info(`disk usage of ${lines.length} VM(s) sent to monitord (${r.datagrams} datagram(s))`);
  } catch (e) {
    ctx.info(`per-VM disk usage not sent to monitord: ${errorLine(e)}`);
  }
}

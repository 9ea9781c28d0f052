/**
 * tm monitor `ds_id` (≥6.8, payload on stdin) / `b64 ds_id` (≤6.6) for a shared system
 * datastore (contract §4.12, §6).
 *
 * stdout: `USED_MB/TOTAL_MB/FREE_MB` from the store's real placeable capacity under the system
 * datastore's placement, and nothing else. When the payload has MONITOR_VM_DISKS=1, per-VM
 * DISK_SIZE / SNAPSHOT_SIZE are pushed to onemonitord over UDP (`MONITOR_VM`, §6.2; the address
 * comes from ONEBLK_MONITORD_CONF or monitord.conf). They come from ONE bulk usage query
 * matching the profile's datastore metadata, grouped by the VM/disk metadata the profile writes
 * (LINSTOR Aux/one VM_ID/DISK_ID, StorPool nvm/diskid tags): the number of store requests does
 * not depend on the number of volumes. An unreachable monitord is logged, never fatal.
 */
import type { ActionContext } from "../../lib/context.ts";
import type { VolumeUsage } from "../../lib/backend/types.ts";
import type { Profile } from "../../lib/addons/types.ts";
import { readDsPayload } from "../../lib/one/args.ts";
import { parseDsAction } from "../../lib/one/views.ts";
import {
  monitordConfPath,
  monitorOutput,
  monitorVmLine,
  readMonitordConf,
  sendMonitorVm,
  type VmDiskUsage,
} from "../../lib/one/output.ts";
import { errorLine } from "../../lib/errors.ts";

/** The metadata keys a profile uses for the VM id and the disk id (found by probing diskProps). */
export function ownerKeys(profile: Profile, dsId: number): { vm: string; disk: string } | null {
  const VM = 987_654_321, DISK = 123_456_789;
  const props = profile.diskProps(VM, DISK, dsId);
  const vm = Object.keys(props).find((k) => props[k] === String(VM));
  const disk = Object.keys(props).find((k) => props[k] === String(DISK));
  return vm && disk ? { vm, disk } : null;
}

/** Group bulk usage into per-VM disk and snapshot sizes (MB). */
export function usageByVm(profile: Profile, dsId: number, usage: VolumeUsage[]): VmDiskUsage[] {
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
  if (!wantVms) return;
  const lines = usageByVm(p, ds.id, usage).map(monitorVmLine);
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

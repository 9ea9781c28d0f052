/**
 * Per-VM disk usage of a system datastore (docs/contract.md "Monitoring formats"), two ways:
 *
 * - from the front-end (tm monitor with MONITOR_VM_DISKS): the store's usage through the usage
 *   cache (usage_cache.ts: a bounded part read per run), grouped by the VM and disk ids the
 *   profile's metadata carries (vm_props.ts). They are pushed to onemonitord
 *   over UDP (MONITOR_VM; the address and PUBKEY from ONEBLK_MONITORD_CONF or monitord.conf,
 *   encrypted with that key when there is one); an unreachable monitord is logged, never fatal;
 * - on a host (tm monitor_ds `<DS dir>`, run by the host probe): what the host sees in the
 *   datastore directory. Every numeric VM directory with `disk.<id>` entries gives one VM:
 *   a disk that is a block device (a store volume behind its link) counts its size, a file
 *   disk its allocated space (`du -mL`), and each `disk.<id>.snap/<snap id>` file a snapshot,
 *   as the stock ssh driver measures them. MiB, rounded up.
 */
import type { ActionContext } from "../context.ts";
import type { Profile } from "../addons/types.ts";
import type { VolumeUsage } from "../backend/types.ts";
import { errorLine } from "../errors.ts";
import { join } from "../path.ts";
import {
  monitordConfPath,
  monitorVmLine,
  readMonitordConf,
  sendMonitorVm,
  type VmDiskUsage,
} from "../one/output.ts";
import { ownerKeys } from "./vm_props.ts";

/** The VM and disk ids a volume's metadata names, or null. */
function ownerOf(keys: { vm: string; disk: string }, props: Record<string, string>) {
  const vmId = Number(props[keys.vm]);
  const diskId = Number(props[keys.disk]);
  if (!Number.isInteger(vmId) || vmId < 0 || !Number.isInteger(diskId) || diskId < 0) return null;
  return { vmId, diskId };
}

/**
 * Group bulk usage into per-VM disk and snapshot sizes (MB). VMs with a volume in `pending`
 * (no figure yet) are left out: a VM is reported with all its disks or not at all.
 */
function usageByVm(
  profile: Profile,
  dsId: number,
  usage: VolumeUsage[],
  pending: { props: Record<string, string> }[],
): VmDiskUsage[] {
  const keys = ownerKeys(profile, dsId);
  if (!keys) return [];
  const skip = new Set<number>();
  for (const p of pending) {
    const owner = ownerOf(keys, p.props);
    if (owner) skip.add(owner.vmId);
  }
  // one pass, records sorted in place: a monitor groups thousands of volumes
  const byVm = new Map<
    number,
    VmDiskUsage & { snapshots: NonNullable<VmDiskUsage["snapshots"]> }
  >();
  for (const u of usage) {
    const owner = ownerOf(keys, u.props);
    if (!owner || skip.has(owner.vmId)) continue;
    const { vmId, diskId } = owner;
    let rec = byVm.get(vmId);
    if (!rec) byVm.set(vmId, rec = { vmId, disks: [], snapshots: [] });
    const same = rec.disks.find((d) => d.id === diskId);
    if (same) same.sizeMb = Math.max(same.sizeMb, u.allocatedMiB);
    else rec.disks.push({ id: diskId, sizeMb: u.allocatedMiB });
    for (const snap in u.snapshots) {
      const id = profile.snapshotId(u.name, snap);
      if (id !== null) rec.snapshots.push({ id, diskId, sizeMb: u.snapshots[snap] });
    }
  }
  const out = [...byVm.values()].sort((a, b) => a.vmId - b.vmId);
  for (const r of out) {
    if (r.disks.length > 1) r.disks.sort((a, b) => a.id - b.id);
    if (r.snapshots.length > 1) r.snapshots.sort((a, b) => a.diskId - b.diskId || a.id - b.id);
  }
  return out;
}

/**
 * Push the per-VM disk usage of system datastore `dsId` (from `usage`) to onemonitord; the VMs
 * of `pending` volumes (no figure yet, see usage_cache.ts) are left out.
 */
export async function pushVmDiskUsage(
  ctx: ActionContext,
  dsId: number,
  usage: VolumeUsage[],
  pending: { props: Record<string, string> }[] = [],
): Promise<void> {
  const lines = usageByVm(ctx.profile, dsId, usage, pending).map(monitorVmLine);
  if (!lines.length) return;
  const conf = ctx.env.ONEBLK_MONITORD_CONF || monitordConfPath(ctx.env);
  try {
    const target = await readMonitordConf(conf);
    const r = await sendMonitorVm(lines, target, { timeoutMs: 5_000 });
    ctx.info(
      `disk usage of ${lines.length} VM(s) sent to monitord (${r.datagrams} datagram(s)` +
        `${r.encrypted ? ", encrypted" : ""})`,
    );
  } catch (e) {
    ctx.info(`per-VM disk usage not sent to monitord: ${errorLine(e)}`);
  }
}

const MiB = 1024 * 1024;

/**
 * Space a disk entry takes as the host sees it, in MiB rounded up (links followed): a block
 * device's size, a file's allocated blocks; null when it is neither or cannot be read.
 */
async function usedMiB(path: string): Promise<number | null> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch {
    return null;
  }
  if (st.isFile) return Math.ceil(((st.blocks ?? 0) * 512) / MiB);
  if (!st.isBlockDevice) return null;
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(path, { read: true });
    return Math.ceil((await f.seek(0, Deno.SeekMode.End)) / MiB);
  } catch {
    return null;
  } finally {
    f?.close();
  }
}

/** Entries of a directory whose names match `re` (capture 1 = the number), sorted by it. */
async function numbered(dir: string, re: RegExp): Promise<{ name: string; id: number }[]> {
  const out: { name: string; id: number }[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = re.exec(e.name);
      if (m) out.push({ name: e.name, id: Number(m[1]) });
    }
  } catch {
    return [];
  }
  return out.sort((a, b) => a.id - b.id);
}

/**
 * Per-VM disk usage of the VM directories under datastore directory `dsDir` on this host (the
 * module doc's second way). A missing directory has no VMs.
 */
export async function measureDsDir(dsDir: string): Promise<VmDiskUsage[]> {
  const out: VmDiskUsage[] = [];
  for (const vm of await numbered(dsDir, /^(\d+)$/)) {
    const vmDir = join(dsDir, vm.name);
    const rec: VmDiskUsage = { vmId: vm.id, disks: [], snapshots: [] };
    for (const d of await numbered(vmDir, /^disk\.(\d+)$/)) {
      const size = await usedMiB(join(vmDir, d.name));
      if (size === null) continue;
      rec.disks.push({ id: d.id, sizeMb: size });
      const snapDir = join(vmDir, `${d.name}.snap`);
      for (const snap of await numbered(snapDir, /^(\d+)$/)) {
        const s = await usedMiB(join(snapDir, snap.name));
        if (s !== null) rec.snapshots!.push({ id: snap.id, diskId: d.id, sizeMb: s });
      }
    }
    if (rec.disks.length) out.push(rec);
  }
  return out;
}

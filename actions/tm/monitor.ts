/**
 * tm monitor `ds_id` (≥6.8, payload on stdin) / `b64 ds_id` (≤6.6) for a shared system
 * datastore (docs/contract.md "tm monitor", "Monitoring formats").
 *
 * stdout: `USED_MB/TOTAL_MB/FREE_MB` from the store's real placeable capacity under the system
 * datastore's placement, and nothing else. When the payload has MONITOR_VM_DISKS=1, per-VM
 * DISK_SIZE / SNAPSHOT_SIZE are pushed to onemonitord over UDP (`MONITOR_VM`; the address
 * comes from ONEBLK_MONITORD_CONF or monitord.conf). The volumes and their VM/disk metadata
 * (LINSTOR Aux/one VM_ID/DISK_ID, StorPool nvm/diskid tags) come from ONE listing of the store
 * matching the profile's datastore metadata; their figures through the usage cache
 * (lib/domain/usage_cache.ts), which reads at most ONEBLK_USAGE_REFRESH volumes per run (1,000
 * by default: all of them in a smaller datastore). An unreachable monitord is logged, never
 * fatal.
 */
import type { ActionContext } from "../../lib/context.ts";
import { readDsPayload } from "../../lib/one/args.ts";
import { parseDsAction } from "../../lib/one/views.ts";
import { monitorOutput } from "../../lib/one/output.ts";
import { pushVmDiskUsage } from "../../lib/domain/monitor.ts";
import { type CachedUsage, cachedUsage } from "../../lib/domain/usage_cache.ts";

/** Run tm monitor. */
export async function run(ctx: ActionContext): Promise<void> {
  const { xml } = await readDsPayload(ctx.args, () => ctx.stdin());
  const action = await parseDsAction(xml);
  const ds = action.datastore;
  const p = ctx.profile;
  const backend = ctx.backend(ds);
  const wantVms = action.monitorVmDisks;
  const [cap, usage] = await Promise.all([
    backend.capacity(p.placement(ds.template, ds.id)),
    wantVms
      ? cachedUsage({
        env: ctx.env,
        info: (m) => ctx.info(m),
        backend,
        driver: p.name,
        dsId: ds.id,
        match: p.dsMatch(ds.id),
      })
      : Promise.resolve(null),
  ]);
  ctx.out(
    monitorOutput({ usedMb: cap.usedMiB, totalMb: cap.totalMiB, freeMb: cap.freeMiB }).trimEnd(),
  );
  if (usage) {
    if (usage.read < usage.usage.length + usage.pending.length) ctx.info(cacheLine(usage));
    await pushVmDiskUsage(ctx, ds.id, usage.usage, usage.pending);
  }
}

/** What the cache gave, when it gave anything: counts and the oldest figure's age. */
function cacheLine(u: CachedUsage): string {
  const all = u.usage.length + u.pending.length;
  const age = u.oldest === null
    ? ""
    : `, the oldest read ${Math.round((Date.now() - u.oldest) / 1000)} s ago`;
  const wait = u.pending.length ? `; ${u.pending.length} not read yet (their VMs wait)` : "";
  return `disk usage: ${u.read} of ${all} volume(s) read, the others from the cache${age}${wait}`;
}

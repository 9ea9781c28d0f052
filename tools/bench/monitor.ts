/**
 * Monitoring at scale: `datastore monitor` (image datastore) and `tm monitor` of the system
 * datastore without and with per-VM disk usage (MONITOR_VM_DISKS), with 100 / 1,000 / 10,000
 * VM disk volumes of that datastore in each store. The per-VM disk monitor goes through the
 * usage cache (lib/domain/usage_cache.ts), so it has two rows: "cold cache" (each sample is a
 * front-end's first run: no cache file; it reads up to the budget and reports only the VMs
 * read) and "steady" (the cache filled by ceil(volumes / budget) runs first, then each sample
 * reads the budget's worth of the oldest figures and reports every VM). Per row: the process's wall time, CPU and
 * peak memory, the action's own time, the REST calls, the reply bytes the driver read (decoded)
 * and, for LINSTOR, the bytes on the wire (the simulator gzips JSON like the controller).
 */
import { join } from "node:path";
import { type Cluster, startCluster } from "../sim/cluster.ts";
import { type DriverCall, type ProfileName, ScriptedOned } from "../sim/oned/scripted_oned.ts";
import { openBackend } from "../../lib/backend/index.ts";
import { hostRunnerFromEnv } from "../../lib/host/index.ts";
import { OneClient } from "../../lib/one/xmlrpc.ts";
import { errorLine } from "../../lib/errors.ts";
import { usageBudget, usageCachePath } from "../../lib/domain/usage_cache.ts";
import { log, r2, type Stat, stat } from "./measure.ts";

/** One monitor action at one volume count. */
export interface MonitorRow {
  profile: ProfileName;
  volumes: number;
  /** `datastore/monitor`, `tm/monitor`, `tm/monitor +vm disks, cold cache` or `…, steady`. */
  action: string;
  wallMs: Stat;
  actionMs: Stat;
  cpuMs: Stat;
  peakMiB: Stat;
  rest: number;
  /** Reply bytes the driver read, decoded (MB = 10^6 bytes). */
  readMB: number;
  /** Reply bytes on the wire (LINSTOR: the simulator's count, gzip as the controller sends). */
  wireMB: number | null;
  ok: boolean;
}

function volatileName(profile: ScriptedOned["profile"], vm: number): string {
  return profile.volatileVolume(vm, 0, "raw");
}

/** Create one VM-disk volume per store through the Backend: the template of the others. */
async function templateVolumes(c: Cluster): Promise<void> {
  for (const name of ["linstor", "storpool"] as const) {
    const s = new ScriptedOned(c, { profile: name });
    const ds = s.datastore(s.systemDs);
    const be = openBackend(s.profile.store(ds.template, ds.id), {
      env: c.env,
      hosts: await hostRunnerFromEnv(c.env),
      one: () => OneClient.fromEnv({ env: c.env }),
    });
    try {
      await be.createVolume(volatileName(s.profile, 100000), 4, {
        placement: s.profile.placement(ds.template, ds.id),
        props: s.profile.diskProps(100000, 0, ds.id),
      });
    } finally {
      await be.close();
    }
  }
}

/** Copy the StorPool template volume `count - 1` times in a stopped simulator's state file. */
async function seedStorpoolState(
  root: string,
  tpl: string,
  count: number,
  px: (vm: number) => string,
) {
  const file = join(root, "storpool", "state.json");
  const st = JSON.parse(await Deno.readTextFile(file));
  const base = st.volumes[tpl];
  if (!base) throw new Error(`StorPool template volume ${tpl} not found in ${file}`);
  for (let i = 1; i < count; i++) {
    const vm = 100000 + i;
    const id = st.nextId++;
    st.volumes[px(vm)] = {
      ...base,
      name: px(vm),
      globalId: `s.b.${id.toString(36)}`,
      visibleVolumeId: id,
      tags: { ...base.tags, nvm: String(vm) },
    };
  }
  await Deno.writeTextFile(file, JSON.stringify(st));
}

/** Copy the LINSTOR template resource `count - 1` times in the running simulator's state. */
function seedLinstor(c: Cluster, tpl: string, count: number, name: (vm: number) => string) {
  const ctl = c.linstor.controller;
  const base = ctl.rd(tpl);
  if (!base) throw new Error(`LINSTOR template resource ${tpl} not found`);
  for (let i = 1; i < count; i++) {
    const vm = 100000 + i;
    const rd = structuredClone(base);
    rd.name = name(vm);
    rd.uuid = crypto.randomUUID();
    rd.port = ctl.state.nextPort++;
    rd.props = { ...rd.props, "Aux/one/VM_ID": String(vm) };
    for (const vd of rd.vds) {
      vd.minor = ctl.state.nextMinor++;
      vd.uuid = crypto.randomUUID();
    }
    for (const r of rd.rscs) r.uuid = crypto.randomUUID();
    ctl.state.rds.push(rd);
  }
}

/** Run the monitor rows at each volume count; `samples` runs per row. */
export async function benchMonitor(
  counts: number[],
  samples: number,
  env: Record<string, string>,
): Promise<MonitorRow[]> {
  const rows: MonitorRow[] = [];
  for (const n of counts) {
    log(`monitor at scale: ${n} volumes`);
    const root = await Deno.makeTempDir({ prefix: "oneblk-bench-mon-" });
    try {
      const c1 = await startCluster({ root, latencyMs: 0 });
      const sp = new ScriptedOned(c1, { profile: "storpool" });
      const ls = new ScriptedOned(c1, { profile: "linstor" });
      await templateVolumes(c1);
      await c1.stop();
      await seedStorpoolState(
        root,
        volatileName(sp.profile, 100000),
        n,
        (vm) => volatileName(sp.profile, vm),
      );
      const c = await startCluster({ root, latencyMs: 0, meter: true, env });
      try {
        seedLinstor(c, volatileName(ls.profile, 100000), n, (vm) => volatileName(ls.profile, vm));
        for (const profile of ["linstor", "storpool"] as const) {
          const s = new ScriptedOned(c, { profile });
          await s.prepare();
          // the usage cache of the system datastore (tm monitor with per-VM disks)
          const cache = usageCachePath(c.env, profile, s.systemDs);
          const coldCache = () => Deno.remove(cache).catch(() => {});
          const fills = Math.ceil(n / usageBudget(c.env));
          for (
            const [action, ds, vmDisks, cold] of [
              ["datastore/monitor", s.imageDs, false, false],
              ["tm/monitor", s.systemDs, false, false],
              [`tm/monitor +vm disks, cold cache`, s.systemDs, true, true],
              [`tm/monitor +vm disks, steady`, s.systemDs, true, false],
            ] as const
          ) {
            const runs: DriverCall[] = [];
            let wire = 0;
            // steady: the cache filled first (every volume read once), then the samples
            if (vmDisks && !cold) {
              await coldCache();
              for (let k = 1; k < fills; k++) await s.monitorDatastore(ds, { vmDisks });
            }
            for (let k = 0; k <= samples; k++) {
              // cold: every sample is a first run on this front-end (no usage cache)
              if (cold) await coldCache();
              const before = c.linstor.bytesOut;
              try {
                await s.monitorDatastore(ds, { vmDisks });
              } catch (e) {
                log(`  ${profile} ${action} (${n}): ${errorLine(e)}`);
              }
              // the first run fills the code cache; not counted
              if (k > 0) {
                runs.push(s.calls.at(-1)!);
                wire = c.linstor.bytesOut - before;
              }
            }
            const st = runs.map((r) => r.stats).filter((x) => !!x);
            const use = runs.map((r) => r.usage).filter((x) => !!x);
            rows.push({
              profile,
              volumes: n,
              action,
              wallMs: stat(runs.map((r) => r.usage?.wallMs ?? r.wallMs)),
              actionMs: stat(st.map((x) => x!.ms)),
              cpuMs: stat(use.map((u) => u!.userMs + u!.sysMs)),
              peakMiB: stat(use.map((u) => u!.maxrssKiB / 1024)),
              rest: stat(st.map((x) => x!.rest)).median,
              readMB: r2(stat(st.map((x) => x!.restBytes)).median / 1e6),
              wireMB: profile === "linstor" ? r2(wire / 1e6) : null,
              ok: runs.every((r) => r.ok),
            });
          }
        }
      } finally {
        await c.stop();
      }
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  }
  return rows;
}

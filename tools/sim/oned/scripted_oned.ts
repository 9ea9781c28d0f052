/**
 * A scripted oned: plays OpenNebula's core and its Ruby MADs on top of the simulated cloud of
 * tools/sim/cluster.ts. It keeps the simulated oned's VM, image, datastore and host documents in
 * step with what it does, and runs the driver programs through the installed symlinks exactly
 * as oned's MADs run them (docs/contract.md "How oned runs a driver program", "Which VM operation
 * calls which TM action", "VMM overrides", "Version differences"):
 *
 *  - datastore actions: `$R/datastore/<DS_MAD>/<action>` with `b64 id` on argv (≤6.6), `- id`
 *    plus stdin (6.6.2 `-i`), or `id` plus base64 on stdin (≥6.8); a system datastore with
 *    SHARED=YES is monitored through `$R/tm/<TM_MAD>/monitor`;
 *  - transfer files (`CLONE[.sys] tm args…`), one line after the other, stopping at the first
 *    failure, resolving `clone.ssh` → `clone` like one_tm.rb;
 *  - VMM steps that are TM scripts (context, pre/post/failmigrate with base64 `<VM>` on stdin,
 *    pre/postbackup[_live] with raw `<VM>` on stdin around the backup datastore's `backup`,
 *    snap_create_live, resize); TM restore and the backup datastore's `ls`/`increment_flatten`;
 *  - VMM local overrides (`-l save=…,restore=…,snapshot*=…,attach_disk=…,detach_disk=…`) with
 *    base64 VMM_DRIVER_ACTION_DATA on stdin, and `deploy=…` with the deployment file it writes
 *    on the front-end (vm.xml/ds.xml beside it from 6.0) and the base64 domain XML on stdin; the
 *    deploy id is what the override printed. Without an installed override the stock host action
 *    runs (the simulated hosts' stock attach/detach scripts) or is emulated (deploy, checkpoint
 *    file). A VM snapshot revert is only for a RUNNING VM, whose domain must run afterwards.
 *
 * Every call runs with the front-end's working directory (`/var/lib/one` of host alpha),
 * the cluster's environment and a deadline. Each answer is judged the way oned judges it:
 * exit code, stdout shape per action (cp: `SOURCE FORMAT`, 5.12 accepts `SOURCE`; mkfs: one
 * line; monitor: USED_MB/TOTAL_MB/FREE_MB; stat: an integer) and the failure text each version
 * extracts from stderr (ERROR MESSAGE block before 6.0.3, all of stderr until 6.10, non-log
 * lines on 7.x). Deviations that oned would tolerate but that break the contract (several
 * error lines, stray stdout lines) are collected as complaints.
 *
 * A running VM holds its disks open: after deploy / migrate / resume the volumes behind each
 * `DIR/disk.i` link on the VM's host are marked in use in the simulators (LINSTOR
 * setInUse(resource, node), StorPool setInUse(volume, client)); poweroff, stop and terminate
 * unmark them, and live migration moves the marks from the source to the destination host
 * between premigrate and postmigrate (the "virsh migrate").
 *
 * The scripted oned is built in layers, one concern each (under scripted/): models.ts (what it
 * keeps and records), conventions.ts (per-version calling conventions), mads.ts (running the
 * driver programs as the MADs do), documents.ts (the simulated oned's documents of its models),
 * images.ts (image operations and monitoring), transfer_lines.ts (the TM lines oned writes),
 * vms.ts (VM lifecycle steps), vm_storage.ts (disk and VM snapshots, resize, save-as),
 * backups.ts (backups into the simulated rsync datastore, in-place restores) and domain.ts (the
 * domain XML oned writes). ScriptedOned is the top layer. The hosts' libvirt
 * (virsh, stock VMM scripts) is tools/sim/libvirt.ts.
 */
import type { Cluster } from "../cluster.ts";
import type { ScriptedOnedOptions, ScriptedState } from "./scripted/models.ts";
import { OnedBackups } from "./scripted/backups.ts";

export {
  type BackupFile,
  type BackupResult,
  type DiskSpec,
  type DriverCall,
  IMAGE_STATE,
  type ImageModel,
  type InstantiateOptions,
  type InUseMark,
  OnedFailure,
  type PendingCall,
  type PendingResult,
  type ProfileName,
  PROFILES,
  type ScriptedOnedOptions,
  type ScriptedState,
  type VmDiskModel,
  type VmModel,
  type VmSnapshotModel,
} from "./scripted/models.ts";
export {
  type Convention,
  conventionFor,
  CONVENTIONS,
  onedErrorText,
  parseMonitor,
} from "./scripted/conventions.ts";

/** Plays oned and its MADs against a simulated cluster (see the file header). */
export class ScriptedOned extends OnedBackups {
  /**
   * Start a cluster and a scripted oned for `profile` playing `version` (written to
   * `$R/VERSION`). close() then stops the cluster too.
   */
  static async start(
    opts: ScriptedOnedOptions & {
      latencyMs?: number;
      cluster?: Cluster;
      meter?: boolean;
      env?: Record<string, string>;
    },
  ): Promise<ScriptedOned> {
    const { startCluster } = await import("../cluster.ts");
    const version = opts.version ?? "7.0.0";
    const cluster = opts.cluster ?? await startCluster({
      latencyMs: opts.latencyMs,
      oneVersion: version,
      meter: opts.meter,
      env: opts.env,
    });
    const s = new ScriptedOned(cluster, { ...opts, version });
    s.ownsCluster = !opts.cluster;
    await s.prepare();
    return s;
  }

  /**
   * What this scripted oned keeps (a copy), to go on later from the same point with
   * restoreState() on a cluster whose files and simulator state were saved at the same time.
   */
  saveState(): ScriptedState {
    return structuredClone({
      images: [...this.images.values()],
      vms: [...this.vms.values()],
      lastImageId: this.lastImageId,
      lastVmId: this.lastVmId,
      complaints: this.complaints,
    });
  }

  /** Take over a saved state (models and id counters); the simulated oned's documents are the cluster's to restore. */
  restoreState(st: ScriptedState): void {
    const s = structuredClone(st);
    this.images.clear();
    this.vms.clear();
    for (const i of s.images) this.images.set(i.id, i);
    for (const v of s.vms) this.vms.set(v.id, v);
    this.lastImageId = s.lastImageId;
    this.lastVmId = s.lastVmId;
    this.complaints.splice(0, this.complaints.length, ...s.complaints);
  }
}

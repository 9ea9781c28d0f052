/**
 * Backups (tm prebackup, prebackup_live, postbackup, postbackup_live `host:DIR d0:d1:..
 * deploy_id [bj_id|-] vmid dsid`; docs/contract.md "tm backups"; the VM XML comes raw on
 * stdin, else from oned): full backups of the selected disks, taken from store snapshots so a
 * running VM keeps running.
 *
 * 1. Leftovers of an earlier attempt are removed (temporary volumes, backup snapshots and
 *    `DIR/backup` on the host), so a repeat starts clean and never reads a stale snapshot.
 * 2. One atomic multi-volume snapshot of all selected disks (`profile.backupSnapshotName`),
 *    per store. prebackup_live with BACKUP_CONFIG/FS_FREEZE=AGENT freezes the guest's
 *    filesystems around it (optional: an unresponsive agent gives a crash-consistent backup),
 *    FS_FREEZE=SUSPEND pauses the domain around it.
 * 3. Per disk: the snapshot is cloned into a temporary volume (`profile.backupVolume`),
 *    attached read-only on the host and converted with `qemu-img convert -O qcow2` into
 *    `DIR/backup/disk.<id>.0`; then the temporary volume and the snapshot are deleted.
 * 4. `DIR/backup/vm.xml` holds the base64 VM XML (as the stock drivers write it).
 *
 * Only full backups (MODE=FULL); disks of other TM drivers cannot be backed up here. Any
 * failure removes what this call made. postbackup(_live) removes `DIR/backup` and leftovers.
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import type { Placement } from "../backend/index.ts";
import { encodeBase64Text, readBackupArgs } from "../one/args.ts";
import { type DatastoreView, type DiskView, parseVm, type VmView } from "../one/views.ts";
import { toXml } from "../one/xml.ts";
import { putFile, qemuImgConvert, removeDir } from "../host/ops.ts";
import { errorLine, isKind, OneblkError } from "../errors.ts";
import { attachReady } from "./attach.ts";
import { withGuestFrozen, withSuspended } from "./libvirt.ts";
import { keepsQcow2 } from "./vm_disk.ts";

/** A disk being backed up, with its store and the names of its temporaries. */
interface BackupDisk {
  disk: DiskView;
  volume: string;
  backend: Backend;
  placement: Placement;
  /** Backup snapshot of `volume`. */
  snapshot: string;
  /** Temporary volume the snapshot is read through. */
  temp: string;
}

/** The arguments, VM and selected disks of a pre/postbackup call. */
interface BackupCall {
  host: string;
  dir: string;
  deployId: string;
  vm: VmView;
  vmXml: string;
  disks: BackupDisk[];
}

/**
 * Read the call and resolve the selected disks. `strict`: a disk of another TM driver is an
 * error (prebackup); otherwise it is skipped (postbackup only cleans up).
 */
async function loadBackupCall(
  ctx: ActionContext,
  action: string,
  strict: boolean,
): Promise<BackupCall> {
  const a = await readBackupArgs("tm", action, ctx.args, () => ctx.stdin());
  const vm = a.xml ? parseVm(a.xml) : await (await ctx.one()).vmInfo(a.vmId);
  if (vm.id !== a.vmId) {
    throw new OneblkError("input", `the VM XML is VM ${vm.id}, the arguments name VM ${a.vmId}`);
  }
  const chosen: DiskView[] = [];
  for (const id of a.diskIds) {
    const disk = vm.disk(id);
    if (!disk) throw new OneblkError("input", `VM ${vm.id} has no disk ${id}`);
    if (disk.tmMad !== ctx.inv.driver) {
      if (!strict) continue;
      throw new OneblkError(
        "input",
        `disk ${id} of VM ${vm.id} uses TM_MAD ${disk.tmMad || "(none)"}: ` +
          `${ctx.inv.driver} can only back up its own disks`,
      );
    }
    chosen.push(disk);
  }
  const dsOf = (d: DiskView) => (d.datastoreId >= 0 ? d.datastoreId : a.dsId);
  const ids = [...new Set(chosen.map(dsOf))];
  const dss = new Map<number, DatastoreView>();
  if (ids.length) {
    const one = await ctx.one();
    const got = await Promise.all(ids.map((id) => one.datastoreInfo(id)));
    ids.forEach((id, i) => dss.set(id, got[i]));
  }
  const p = ctx.profile;
  const disks = chosen.map((disk): BackupDisk => {
    const ds = dss.get(dsOf(disk))!;
    const volume = p.diskVolume(vm.id, disk);
    return {
      disk,
      volume,
      backend: ctx.backend(ds),
      placement: p.placement(ds.template, ds.id),
      snapshot: p.backupSnapshotName(volume, vm.id),
      temp: p.backupVolume(vm.id, disk.diskId),
    };
  });
  return {
    host: a.host,
    dir: a.dir.replace(/\/+$/, ""),
    deployId: a.deployId,
    vm,
    vmXml: a.xml ?? toXml(vm.node),
    disks,
  };
}

/**
 * Remove the temporaries of every disk and (with `backupDir`) DIR/backup on the host.
 * Returns the errors (each step is tried).
 */
async function cleanupBackup(
  ctx: ActionContext,
  c: BackupCall,
  backupDir: boolean,
): Promise<string[]> {
  const errors: string[] = [];
  for (const d of c.disks) {
    await d.backend.deleteVolume(d.temp, { immediate: true }).catch((e) =>
      errors.push(errorLine(e))
    );
    await d.backend.deleteSnapshot(d.volume, d.snapshot).catch((e) => errors.push(errorLine(e)));
  }
  if (backupDir) {
    try {
      await removeDir(ctx.hosts, c.host, `${c.dir}/backup`, [c.dir]);
    } catch (e) {
      if (isKind(e, "unavailable")) ctx.info(`${c.host} unreachable: ${c.dir}/backup left there`);
      else errors.push(errorLine(e));
    }
  }
  return errors;
}

/** One atomic snapshot per store of all disks. */
async function snapshotAll(disks: BackupDisk[]): Promise<void> {
  const groups = new Map<Backend, { volume: string; snapshot: string }[]>();
  for (const d of disks) {
    const g = groups.get(d.backend) ?? [];
    g.push({ volume: d.volume, snapshot: d.snapshot });
    groups.set(d.backend, g);
  }
  for (const [backend, items] of groups) await backend.createSnapshots(items);
}

const CONVERT_TIMEOUT_MS = 6 * 3600_000;

/** The body of tm prebackup and prebackup_live. */
export async function prebackup(ctx: ActionContext, live: boolean): Promise<void> {
  const action = live ? "prebackup_live" : "prebackup";
  const c = await loadBackupCall(ctx, action, true);
  const mode = c.vm.backupConfig.get("MODE").toUpperCase();
  if (mode && mode !== "FULL") {
    throw new OneblkError(
      "config",
      `BACKUP_CONFIG/MODE=${mode} is not supported by ${ctx.inv.driver}: use MODE=FULL`,
    );
  }
  const stale = await cleanupBackup(ctx, c, true);
  if (stale.length) {
    throw new OneblkError(
      "backend",
      `cannot remove an earlier backup's leftovers: ${stale.join("; ")}`,
    );
  }
  const host = c.host;
  const bdir = `${c.dir}/backup`;
  try {
    await putFile(ctx.hosts, host, `${bdir}/vm.xml`, encodeBase64Text(c.vmXml) + "\n");
    const freeze = c.vm.backupConfig.get("FS_FREEZE").toUpperCase();
    if (live && c.disks.length && freeze === "AGENT") {
      await withGuestFrozen(
        ctx,
        host,
        c.deployId,
        async (frozen) => {
          if (!frozen) {
            ctx.info(`guest agent did not freeze ${c.deployId}: crash-consistent backup`);
          }
          await snapshotAll(c.disks);
        },
        { optional: true },
      );
    } else if (live && c.disks.length && freeze === "SUSPEND") {
      await withSuspended(ctx, host, c.deployId, () => snapshotAll(c.disks));
    } else {
      await snapshotAll(c.disks);
    }
    for (const d of c.disks) {
      await d.backend.cloneVolume(d.volume, d.temp, {
        placement: d.placement,
        fromSnapshot: d.snapshot,
      });
      const dev = await attachReady(ctx, d.backend, d.temp, host, { readOnly: true });
      await qemuImgConvert(ctx.hosts, host, dev, `${bdir}/disk.${d.disk.diskId}.0`, "qcow2", {
        srcFormat: keepsQcow2(ctx.profile, d.disk) ? "qcow2" : "raw",
        timeoutMs: CONVERT_TIMEOUT_MS,
      });
      await d.backend.detach(d.temp, host);
      await d.backend.deleteVolume(d.temp, { immediate: true });
      await d.backend.deleteSnapshot(d.volume, d.snapshot);
    }
  } catch (e) {
    for (const err of await cleanupBackup(ctx, c, true)) ctx.info(`cleanup failed: ${err}`);
    throw e;
  }
}

/** The body of tm postbackup and postbackup_live (also run after a failed backup). */
export async function postbackup(ctx: ActionContext, action: string): Promise<void> {
  const c = await loadBackupCall(ctx, action, false);
  const errors = await cleanupBackup(ctx, c, true);
  if (errors.length) throw new OneblkError("backend", errors.join("; "));
}

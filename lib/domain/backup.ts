/**
 * Backups (tm prebackup, prebackup_live, postbackup, postbackup_live `host:DIR d0:d1:..
 * deploy_id [bj_id|-] vmid dsid`; docs/contract.md "tm backups"; the VM XML comes raw on
 * stdin, else from oned): full and incremental backups of the selected disks, read from store
 * snapshots so a running VM keeps running, written as the qcow2 files OpenNebula's rsync and
 * restic backup datastores store and chain.
 *
 * Where: `<BACKUP_BASE_PATH>/<vmid>/backup` when `$R/etc/datastore/datastore.conf` sets it
 * (6.10+, as the backup datastores read it), else `DIR/backup`; on BACKUP_CONFIG/LAST_BRIDGE
 * when oned set one (7.2+), else on `host`. Files: `vm.xml` (the VM XML, base64) and
 * `disk.<id>.<n>` per disk, where n = 0 for a full backup (MODE=FULL, or LAST_INCREMENT_ID=-1)
 * and n = LAST_INCREMENT_ID + 1 for an increment; from 7.2, for a VM with TEMPLATE/TPM/MODEL,
 * `disk.tpm.0`: its swtpm state directory `DIR/tpm` on the VM's host as a gzip'd tar, taken
 * right after the disks' snapshot (in every backup, full or increment, as the stock drivers
 * do; the backup datastores list it as "tpm" and tm restore puts it back). A StorPool VM whose
 * TPM state is also kept on the store (vm_state.ts) is backed up from the same directory: the
 * volume is only a copy of it made when the VM leaves the host.
 *
 * The chain: every backup takes one atomic multi-volume snapshot of the selected disks per
 * store, named `profile.backupSnapshotName(volume, vm, disk, n)` (prebackup_live with
 * BACKUP_CONFIG/FS_FREEZE=AGENT freezes the guest's filesystems around it, with a deadline and
 * a guaranteed thaw; SUSPEND pauses the domain). In MODE=INCREMENT that snapshot stays as the
 * base of the next increment. The snapshots are read on the backup host through
 * Backend.openSnapshot (LINSTOR: a scratch volume restored from it, local where the host has a
 * replica; StorPool: the snapshot attached read-only):
 *  - n = 0: `qemu-img convert -O qcow2` of the snapshot (a sparse qcow2, nothing beneath it);
 *  - n > 0 with base n-1 present: an empty qcow2 overlay of snapshot n, rebased in safe mode
 *    onto snapshot n-1 (qemu-img compares the two cluster by cluster and copies into the file
 *    exactly the clusters that differ, zeroed ones included), then its backing reference is
 *    cleared: a qcow2 holding only the changed clusters, with no backing, which the backup
 *    datastores rebase onto the previous file when they rebuild the chain. The comparison is
 *    by content, so a revert or resize between two backups still gives a correct increment;
 *  - n > 0 without the base (deleted by hand, a disk new in the backup set, a flatten or
 *    rename that dropped the volume's snapshots): oned will file the file as increment n of
 *    the existing chain whatever the driver does, so it must be correct on top of anything: a
 *    whole-disk increment (`qemu-img convert -B`, zero ranges as explicit zero clusters),
 *    checked with `qemu-img map` to cover every byte, with an INFO line saying why.
 *
 * Keep and prune (a failed upload never breaks the chain): oned advances LAST_INCREMENT_ID
 * only after a successful backup, so prebackup never deletes base L = LAST_INCREMENT_ID; it
 * deletes every other chain snapshot of the disk (older ones, a stale L+1 of a failed attempt)
 * before taking L+1. postbackup keeps L+1 alone when the backup succeeded, L alone on
 * BACKUP_RESULT=FAILURE (oned after 7.4 sends it for a failed backup only, so there no
 * element means success), and both when it cannot tell (7.4 and older: no BACKUP_RESULT);
 * MODE=FULL keeps none. Every other temporary (scratch volumes, attachments, the backup
 * directory) is removed by prebackup on failure and by postbackup in every case; postbackup
 * reports what it could not remove (the next backup removes it; a backup directory left on a
 * host is also journaled for `oneblk gc`, host_leftovers.ts) and never fails for it, since
 * a failing postbackup would make oned drop a backup the datastore already holds.
 *
 * Deleting a VM disk (tm delete, mvds) drops its chain snapshots (dropChain).
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import type { Placement } from "../backend/index.ts";
import { encodeBase64Text, readBackupArgs, validateHost } from "../one/args.ts";
import type { Attrs, DatastoreView, DiskView, VmView } from "../one/views.ts";
import { parseVm } from "../one/views.ts";
import { text, toXml } from "../one/xml.ts";
import { versionAtLeast } from "../one/output.ts";
import { copyStream } from "../host/copy.ts";
import {
  checkPath,
  exists,
  moveFile,
  putFile,
  putFileArgv,
  qemuImgConvert,
  qemuImgMap,
  qemuImgOverlay,
  qemuImgRebase,
  removeDir,
  waitForPath,
} from "../host/ops.ts";
import { errorLine, isKind, joinCauses, OneblkError } from "../errors.ts";
import { DEVICE_WAIT_MS } from "./attach.ts";
import { withGuestFrozen, withSuspended } from "./libvirt.ts";
import { keepsQcow2 } from "./vm_disk.ts";
import { readDatastoreConf } from "./remotes.ts";
import { dropHostLeftover, noteHostLeftover } from "./host_leftovers.ts";

/** Deadline of one qemu-img pass over a disk. */
const IMAGE_TIMEOUT_MS = 6 * 3600_000;
/** Deadline of the TPM state copy. */
const TPM_TIMEOUT_MS = 120_000;

/** Which backup of the chain this call makes (from BACKUP_CONFIG). */
export interface ChainPoint {
  /** MODE=INCREMENT: the new snapshot stays as the next increment's base. */
  incremental: boolean;
  /** LAST_INCREMENT_ID: the base increment, -1 for none (a full backup). */
  last: number;
  /** Id of the increment written (0 = full). */
  inc: number;
}

/** The increment a backup writes, from BACKUP_CONFIG/MODE and LAST_INCREMENT_ID. */
export function chainPoint(cfg: Attrs): ChainPoint {
  const mode = (cfg.get("MODE").trim() || "FULL").toUpperCase();
  if (mode !== "FULL" && mode !== "INCREMENT") {
    throw new OneblkError("input", `unknown BACKUP_CONFIG/MODE ${JSON.stringify(mode)}`);
  }
  if (mode === "FULL") return { incremental: false, last: -1, inc: 0 };
  const raw = cfg.get("LAST_INCREMENT_ID").trim();
  const last = /^-?\d+$/.test(raw) ? Number(raw) : -1;
  return last < 0
    ? { incremental: true, last: -1, inc: 0 }
    : { incremental: true, last, inc: last + 1 };
}

/** A disk being backed up, with its store. */
interface BackupDisk {
  disk: DiskView;
  diskId: number;
  volume: string;
  backend: Backend;
  placement: Placement;
  /** Format of the volume's content: raw, or qcow2 kept by the profile. */
  format: "raw" | "qcow2";
  /** The base snapshot `point.last` exists (set by prebackup). */
  hasBase?: boolean;
}

/** The arguments, VM, selected disks and backup place of a pre/postbackup call. */
interface BackupCall {
  /** Host the files are written on (LAST_BRIDGE, else the VM's host). */
  host: string;
  /** The VM's host (`host` of `host:DIR`), where libvirt freezes or pauses it. */
  vmHost: string;
  /** The VM directory (DIR). */
  dir: string;
  /** The system datastore (dsid argument). */
  dsId: number;
  /** The backup directory on `host`. */
  bdir: string;
  /** What postbackup removes on `host`, and the prefix it must lie under. */
  removable: { dir: string; under: string };
  deployId: string;
  vm: VmView;
  vmXml: string;
  point: ChainPoint;
  disks: BackupDisk[];
}

/**
 * The backup directory and the host it is on: `<BACKUP_BASE_PATH>/<vmid>/backup` (6.10+, from
 * datastore.conf) or `DIR/backup`, on LAST_BRIDGE (7.2+) or the VM's host.
 */
async function backupPlace(
  ctx: ActionContext,
  host: string,
  dir: string,
  vm: VmView,
): Promise<Pick<BackupCall, "host" | "bdir" | "removable">> {
  const bridge = vm.backupConfig.get("LAST_BRIDGE").trim();
  const on = bridge ? validateHost(bridge, "BACKUP_CONFIG/LAST_BRIDGE") : host;
  const base = versionAtLeast(ctx.version, "6.9.80")
    ? ((await readDatastoreConf(ctx.remotes)).BACKUP_BASE_PATH ?? "").trim().replace(/\/+$/, "")
    : "";
  if (!base) {
    return { host: on, bdir: `${dir}/backup`, removable: { dir: `${dir}/backup`, under: dir } };
  }
  checkPath(base, "BACKUP_BASE_PATH");
  return {
    host: on,
    bdir: `${base}/${vm.id}/backup`,
    removable: { dir: `${base}/${vm.id}`, under: base },
  };
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
  const vm = a.xml ? await parseVm(a.xml) : await (await ctx.one()).vmInfo(a.vmId);
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
    return {
      disk,
      diskId: disk.diskId,
      volume: p.diskVolume(vm.id, disk),
      backend: ctx.backend(ds),
      placement: p.placement(ds.template, ds.id),
      format: keepsQcow2(p, disk) ? "qcow2" : "raw",
    };
  });
  const dir = a.dir.replace(/\/+$/, "");
  return {
    ...(await backupPlace(ctx, a.host, dir, vm)),
    dir,
    dsId: a.dsId,
    vmHost: a.host,
    deployId: a.deployId,
    vm,
    vmXml: a.xml ?? toXml(vm.node),
    point: chainPoint(vm.backupConfig),
    disks,
  };
}

/** Chain snapshot `inc` of a disk. */
function snapName(ctx: ActionContext, c: BackupCall, d: BackupDisk, inc: number): string {
  return ctx.profile.backupSnapshotName(d.volume, c.vm.id, d.diskId, inc);
}

/** The disk's chain snapshots (oneblk's backup snapshots of this VM disk) with their ids. */
async function chainSnapshots(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  vmId: number,
  diskId: number,
): Promise<{ name: string; inc: number; sizeMiB: number }[]> {
  let all;
  try {
    all = await backend.listSnapshots(volume);
  } catch (e) {
    if (isKind(e, "not_found")) return [];
    throw e;
  }
  const out: { name: string; inc: number; sizeMiB: number }[] = [];
  for (const s of all) {
    const inc = ctx.profile.backupSnapshotInc(volume, vmId, diskId, s.name);
    if (inc !== null) out.push({ name: s.name, inc, sizeMiB: s.sizeMiB });
  }
  return out;
}

/** Delete the disk's chain snapshots except those in `keep`; returns the errors. */
async function pruneChain(
  ctx: ActionContext,
  c: BackupCall,
  d: BackupDisk,
  keep: ReadonlySet<number>,
): Promise<{ kept: { inc: number; sizeMiB: number }[]; errors: string[] }> {
  const errors: string[] = [];
  const kept: { inc: number; sizeMiB: number }[] = [];
  let chain: { name: string; inc: number; sizeMiB: number }[] = [];
  try {
    chain = await chainSnapshots(ctx, d.backend, d.volume, c.vm.id, d.diskId);
  } catch (e) {
    return { kept, errors: [errorLine(e)] };
  }
  for (const s of chain) {
    if (keep.has(s.inc)) {
      kept.push({ inc: s.inc, sizeMiB: s.sizeMiB });
      continue;
    }
    await d.backend.deleteSnapshot(d.volume, s.name).catch((e) => errors.push(errorLine(e)));
  }
  return { kept, errors };
}

/** Make chain snapshot `inc` of the disk readable on the backup host; its device path. */
async function openChainSnapshot(
  ctx: ActionContext,
  c: BackupCall,
  d: BackupDisk,
  inc: number,
): Promise<string> {
  const dev = await d.backend.openSnapshot(
    d.volume,
    snapName(ctx, c, d, inc),
    c.host,
    ctx.profile.backupVolume(c.vm.id, d.diskId, inc),
    d.placement,
  );
  if (!(await waitForPath(ctx.hosts, c.host, dev, DEVICE_WAIT_MS))) {
    throw new OneblkError(
      "timeout",
      `device ${dev} of backup snapshot ${inc} of disk ${d.diskId} did not appear on ${c.host}`,
    );
  }
  return dev;
}

/** Undo openChainSnapshot; returns the error text instead of throwing. */
async function closeChainSnapshot(
  ctx: ActionContext,
  c: BackupCall,
  d: BackupDisk,
  inc: number,
): Promise<string | null> {
  try {
    await d.backend.closeSnapshot(
      d.volume,
      snapName(ctx, c, d, inc),
      c.host,
      ctx.profile.backupVolume(c.vm.id, d.diskId, inc),
    );
    return null;
  } catch (e) {
    return errorLine(e);
  }
}

/** Close the snapshots this backup may have opened (the base and the new one) of every disk. */
async function closeAll(ctx: ActionContext, c: BackupCall): Promise<string[]> {
  const errors: string[] = [];
  const incs = [...new Set([c.point.inc, c.point.last].filter((i) => i >= 0))];
  for (const d of c.disks) {
    for (const inc of incs) {
      const e = await closeChainSnapshot(ctx, c, d, inc);
      if (e) errors.push(e);
    }
  }
  return errors;
}

/**
 * Remove the backup directory on the backup host (an unreachable host is reported). What
 * stays is journaled for `oneblk gc` (host_leftovers.ts): after a failed postbackup nothing
 * may come back for it; a later backup of the VM removes it and drops the entry.
 */
async function removeBackupDir(ctx: ActionContext, c: BackupCall): Promise<string[]> {
  try {
    await removeDir(ctx.hosts, c.host, c.removable.dir, [c.removable.under]);
    await dropHostLeftover(ctx, c.host, c.removable.dir);
    return [];
  } catch (e) {
    if (isKind(e, "unavailable", "host", "timeout")) {
      await noteHostLeftover(ctx, {
        host: c.host,
        path: c.removable.dir,
        kind: "backup-dir",
        vmId: c.vm.id,
        dsId: c.dsId,
      }, e);
    }
    return isKind(e, "unavailable") ? [] : [errorLine(e)];
  }
}

/** One atomic snapshot per store of all disks, named for increment `inc`. */
async function snapshotAll(ctx: ActionContext, c: BackupCall): Promise<void> {
  const groups = new Map<Backend, { volume: string; snapshot: string }[]>();
  for (const d of c.disks) {
    const g = groups.get(d.backend) ?? [];
    g.push({ volume: d.volume, snapshot: snapName(ctx, c, d, c.point.inc) });
    groups.set(d.backend, g);
  }
  for (const [backend, items] of groups) await backend.createSnapshots(items);
}

/** The snapshot, with the guest frozen or paused as BACKUP_CONFIG/FS_FREEZE asks (live). */
async function takeSnapshots(ctx: ActionContext, c: BackupCall, live: boolean): Promise<void> {
  const freeze = c.vm.backupConfig.get("FS_FREEZE").toUpperCase();
  if (live && c.disks.length && freeze === "AGENT") {
    await withGuestFrozen(
      ctx,
      c.vmHost,
      c.deployId,
      async (frozen) => {
        if (!frozen) ctx.info(`guest agent did not freeze ${c.deployId}: crash-consistent backup`);
        await snapshotAll(ctx, c);
      },
      { optional: true },
    );
  } else if (live && c.disks.length && freeze === "SUSPEND") {
    await withSuspended(ctx, c.vmHost, c.deployId, () => snapshotAll(ctx, c));
  } else {
    await snapshotAll(ctx, c);
  }
}

/**
 * Write `disk.<id>.<inc>` of one disk into the backup directory (see the file header for the
 * three kinds). The opened snapshots are closed again; a failed close is only reported
 * (postbackup closes them too).
 */
async function writeDiskFile(ctx: ActionContext, c: BackupCall, d: BackupDisk): Promise<void> {
  const { inc, last } = c.point;
  const out = `${c.bdir}/disk.${d.diskId}.${inc}`;
  const part = `${c.bdir}/.disk.${d.diskId}.${inc}.part`;
  const t = { timeoutMs: IMAGE_TIMEOUT_MS };
  const opened = [inc];
  try {
    const dev = await openChainSnapshot(ctx, c, d, inc);
    const cur = { path: dev, format: d.format };
    if (inc === 0) {
      await qemuImgConvert(ctx.hosts, c.host, dev, part, "qcow2", { ...t, srcFormat: d.format });
    } else if (d.hasBase) {
      opened.push(last);
      const prev = await openChainSnapshot(ctx, c, d, last);
      await qemuImgOverlay(ctx.hosts, c.host, part, cur, t);
      await qemuImgRebase(ctx.hosts, c.host, part, { path: prev, format: d.format }, t);
      await qemuImgRebase(ctx.hosts, c.host, part, null, { ...t, unsafe: true });
    } else {
      ctx.info(
        `disk ${d.diskId}: no base snapshot of increment ${last} ` +
          `(${snapName(ctx, c, d, last)}: deleted, or the disk is new in the backup set); ` +
          `increment ${inc} holds the whole disk`,
      );
      await qemuImgConvert(ctx.hosts, c.host, dev, part, "qcow2", {
        ...t,
        srcFormat: d.format,
        backing: cur,
      });
      await qemuImgRebase(ctx.hosts, c.host, part, null, { ...t, unsafe: true });
      const holes = (await qemuImgMap(ctx.hosts, c.host, part, { ...t, format: "qcow2" }))
        .filter((e) => !e.present);
      if (holes.length) {
        throw new OneblkError(
          "host",
          `qemu-img left ${holes.length} range(s) of disk ${d.diskId} unallocated in a ` +
            `whole-disk increment (from byte ${holes[0].start}): it would read older data`,
        );
      }
    }
    await moveFile(ctx.hosts, c.host, part, out);
  } finally {
    for (const i of opened) {
      const e = await closeChainSnapshot(ctx, c, d, i);
      if (e) ctx.info(`could not release backup snapshot ${i} of disk ${d.diskId}: ${e}`);
    }
  }
}

/**
 * `disk.tpm.0` (7.2+, VMs with TEMPLATE/TPM/MODEL): `DIR/tpm` of the VM's host as a gzip'd
 * tar, streamed into the backup directory (which may be on LAST_BRIDGE). A VM without that
 * directory (its TPM never started) gets an INFO line and no file.
 */
async function writeTpmFile(ctx: ActionContext, c: BackupCall): Promise<void> {
  if (!versionAtLeast(ctx.version, "7.1.80")) return;
  if ((c.vm.template.vector("TPM")?.get("MODEL") ?? "").trim() === "") return;
  const tpm = `${c.dir}/tpm`;
  if (!(await exists(ctx.hosts, c.vmHost, tpm))) {
    ctx.info(`VM ${c.vm.id} has TPM/MODEL but no ${tpm} on ${c.vmHost}: no disk.tpm.0`);
    return;
  }
  await copyStream(
    ctx.hosts,
    c.vmHost,
    ["tar", "czf", "-", "-C", c.dir, "tpm"],
    ctx.hosts,
    c.host,
    putFileArgv(`${c.bdir}/disk.tpm.0`),
    { timeoutMs: TPM_TIMEOUT_MS },
  );
}

/** The body of tm prebackup and prebackup_live. */
export async function prebackup(ctx: ActionContext, live: boolean): Promise<void> {
  const action = live ? "prebackup_live" : "prebackup";
  const c = await loadBackupCall(ctx, action, true);
  if (/^yes$/i.test(c.vm.backupConfig.get("INTERACTIVE").trim())) {
    throw new OneblkError(
      "config",
      `BACKUP_CONFIG/INTERACTIVE=YES (pull backups) is not supported by ${ctx.inv.driver}`,
    );
  }
  const { incremental, last, inc } = c.point;
  // Leftovers of an earlier attempt: a repeat starts clean and never reads a stale file.
  const stale = [...await closeAll(ctx, c), ...await removeBackupDir(ctx, c)];
  for (const d of c.disks) {
    const keep = new Set(incremental && last >= 0 ? [last] : []);
    const r = await pruneChain(ctx, c, d, keep);
    stale.push(...r.errors);
    const base = r.kept.find((k) => k.inc === last);
    d.hasBase = base !== undefined;
    const now = base && (await d.backend.getVolume(d.volume))?.sizeMiB;
    if (base && now && base.sizeMiB && now > base.sizeMiB) {
      ctx.info(
        `disk ${d.diskId} grew since increment ${last} (${base.sizeMiB} → ${now} MiB): ` +
          `increment ${inc} holds what changed, the new part included`,
      );
    }
  }
  if (stale.length) {
    throw new OneblkError(
      "backend",
      `cannot remove an earlier backup's leftovers: ${joinCauses(stale)}`,
    );
  }
  if (incremental && last < 0) {
    ctx.info("LAST_INCREMENT_ID=-1: this full backup (disk.<id>.0) starts a new chain");
  }
  try {
    await putFile(ctx.hosts, c.host, `${c.bdir}/vm.xml`, encodeBase64Text(c.vmXml) + "\n");
    await takeSnapshots(ctx, c, live);
    await writeTpmFile(ctx, c);
    for (const d of c.disks) await writeDiskFile(ctx, c, d);
    if (!incremental) {
      for (const d of c.disks) await d.backend.deleteSnapshot(d.volume, snapName(ctx, c, d, inc));
    }
  } catch (e) {
    const errors = await closeAll(ctx, c);
    for (const d of c.disks) {
      await d.backend.deleteSnapshot(d.volume, snapName(ctx, c, d, inc))
        .catch((err) => errors.push(errorLine(err)));
    }
    errors.push(...await removeBackupDir(ctx, c));
    for (const err of errors) ctx.info(`cleanup failed: ${err}`);
    throw e;
  }
}

/**
 * The backup's outcome as postbackup learns it: BACKUP_RESULT when the VM XML has it; oned
 * after 7.4 adds it (FAILURE) only to a failed backup's postbackup, so there its absence
 * means success; before, postbackup cannot tell.
 */
function backupResult(ctx: ActionContext, vm: VmView): "success" | "failure" | "unknown" {
  const r = text(vm.node, "BACKUP_RESULT").trim().toUpperCase();
  if (r === "FAILURE") return "failure";
  if (r === "SUCCESS") return "success";
  return versionAtLeast(ctx.version, "7.4.80") ? "success" : "unknown";
}

/** The body of tm postbackup and postbackup_live (also run after a failed backup). */
export async function postbackup(ctx: ActionContext, action: string): Promise<void> {
  const c = await loadBackupCall(ctx, action, false);
  const { incremental, last, inc } = c.point;
  const result = backupResult(ctx, c.vm);
  const keep = new Set<number>();
  if (incremental) {
    if (result !== "failure") keep.add(inc);
    if (result !== "success" && last >= 0) keep.add(last);
  }
  const problems = await closeAll(ctx, c);
  for (const d of c.disks) problems.push(...(await pruneChain(ctx, c, d, keep)).errors);
  problems.push(...await removeBackupDir(ctx, c));
  for (const p of problems) ctx.info(`left for the next backup to remove: ${p}`);
}

/**
 * True when the VM may have backup chain snapshots: it backs up in MODE=INCREMENT, or has been
 * backed up at all (a chain outlives a switch to FULL until the next backup). A VM never backed
 * up costs its disks' deletes nothing.
 */
export function mayHaveChain(vm: VmView): boolean {
  const cfg = vm.backupConfig;
  return cfg.get("MODE").trim().toUpperCase() === "INCREMENT" ||
    cfg.get("LAST_BACKUP_ID").trim() !== "" || text(vm.node, "BACKUPS/BACKUP_IDS/ID") !== "";
}

/**
 * Drop the backup chain snapshots of VM `vmId`'s disk `diskId` on `volume`: the disk is
 * deleted or handed back to its image, its chain is over. A missing volume has none. Failures
 * are reported, never fatal (the names are oneblk's: the next run or `oneblk gc` finds them).
 */
export async function dropChain(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  vmId: number,
  diskId: number,
): Promise<void> {
  try {
    for (const s of await chainSnapshots(ctx, backend, volume, vmId, diskId)) {
      await backend.deleteSnapshot(volume, s.name);
    }
  } catch (e) {
    ctx.info(`backup snapshots of disk ${diskId} on ${volume} not removed: ${errorLine(e)}`);
  }
}

/**
 * In-place restore of a VM's disks from a backup image (tm restore `host:DIR vmid img_id inc_id
 * disk_id`, 6.10+; docs/contract.md "tm restore"). oned calls it for a powered-off VM, with no
 * stdin; everything comes from oned's API.
 *
 * 1. Where the backup is: the backup datastore's own `$R/datastore/<DS_MAD>/ls -i <inc_id>`
 *    (stdin: DS_DRIVER_ACTION_DATA with the backup DATASTORE, the VM and the backup IMAGE)
 *    prints `{"<disk id>": "<url>", …}`; `disk_id` -1 restores every listed disk, else that one.
 *    Every disk to restore must be a disk of the VM served by this driver: checked before
 *    anything is touched.
 * 2. Stage: each URL is fetched with OpenNebula's `$R/datastore/downloader.sh --nodecomp <url> -`
 *    on the front-end (it knows every backup datastore's scheme: rsync://, restic://, …, and
 *    rebuilds an increment chain into one image) and streamed into `DIR/.oneblk-restore/` on
 *    the host, then checked (`qemu-img info`, qcow2 `check`, not larger than the disk, no
 *    backing file). Nothing of the VM is touched in this phase.
 * 3. Undo points: an interrupted earlier restore is undone first (its undo snapshot
 *    `profile.restoreUndoName` is still there: the disk is rolled back to it). Then one atomic
 *    snapshot per store of every disk to restore keeps the current content.
 * 4. Write: `qemu-img convert -n` of each staged image into the disk's volume on the host
 *    (the image grown to the volume's size first, so a disk that grew after the backup reads
 *    zeros past the backup's end; a qcow2 kept by the profile is written as qcow2). Any failure
 *    rolls every disk written so far back to its undo snapshot: the VM's disks are as they were.
 *    TPM state: when the backup lists "tpm" (disk.tpm.0, a gzip'd tar of the VM's `DIR/tpm`)
 *    and disk 0 is restored, as the stock drivers decide, it is fetched the same way (from the
 *    restored point only: tpmPointUrl) and unpacked into the staging directory; after every disk is written it replaces `DIR/tpm`
 *    (the old directory moved aside, moved back if the swap fails; a failure here rolls the
 *    disks back too). A TPM state volume on the store (vm_state.ts) needs nothing: it is
 *    rewritten from `DIR/tpm` whenever the VM leaves the host, before it is ever read.
 * 5. Commit: the undo snapshots are deleted, then what the restore voided: the disks' backup
 *    chain snapshots (oned starts a new chain) and the disk snapshots of non-persistent disks
 *    (oned forgets them; persistent images keep theirs). The staging directory is removed on
 *    every path.
 *
 * Why not "restore into a new volume and swap names": LINSTOR cannot rename a volume (a rename
 * is a full clone plus delete, refused for volumes with snapshots), and on both stores a new
 * volume would lose the disk's snapshots, metadata, placement and attachments. The undo
 * snapshot gives the same guarantee (old content recoverable until the restore is complete, a
 * failure leaves the disks as they were) with one copy of the data.
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import { parseRestoreArgs } from "../one/args.ts";
import type { DiskView, VmView } from "../one/views.ts";
import { toXml } from "../one/xml.ts";
import { copyStream } from "../host/copy.ts";
import {
  exists,
  type ImageInfo,
  mkdirp,
  moveFile,
  putFileArgv,
  qemuImgCheck,
  qemuImgConvert,
  qemuImgInfo,
  qemuImgResize,
  removeDir,
} from "../host/ops.ts";
import { errorLine, OneblkError } from "../errors.ts";
import { withAttached } from "./attach.ts";
import { keepsQcow2 } from "./vm_disk.ts";
import { frontendBridge } from "./frontend.ts";
import { dropChain } from "./backup.ts";

/** Deadline of the backup datastore's `ls`. */
const LS_TIMEOUT_MS = 600_000;
/** Deadline of one disk's download, and of one qemu-img pass over a disk. */
const DATA_TIMEOUT_MS = 6 * 3600_000;
/** Image type BACKUP (`/IMAGE/TYPE`). */
const IMAGE_TYPE_BACKUP = 6;

/** One disk being restored. */
interface RestoreDisk {
  disk: DiskView;
  diskId: number;
  url: string;
  volume: string;
  backend: Backend;
  /** Format of the volume's content (raw, or qcow2 kept by the profile). */
  format: "raw" | "qcow2";
  /** The staged image on the host and what qemu-img says about it. */
  stage: string;
  staged?: ImageInfo;
  undo: string;
}

/** The JSON `ls` prints: disk id (or "tpm") → URL. */
function parseListing(stdout: string, dsMad: string): Record<string, string> {
  let j: unknown;
  try {
    j = JSON.parse(stdout.trim().split("\n").at(-1) ?? "");
  } catch {
    throw new OneblkError("backend", `datastore/${dsMad}/ls printed no JSON listing`);
  }
  if (!j || typeof j !== "object" || Array.isArray(j)) {
    throw new OneblkError("backend", `datastore/${dsMad}/ls printed no JSON object`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(j as Record<string, unknown>)) {
    if (typeof v === "string") out[k] = v;
  }
  return out;
}

/** Run `$R/datastore/<mad>/ls -i <inc>` on the front-end: the URLs of the backup's disks. */
async function listBackup(
  ctx: ActionContext,
  fe: string,
  vm: VmView,
  imageXml: string,
  dsXml: string,
  dsMad: string,
  inc: number,
): Promise<Record<string, string>> {
  const ls = `${ctx.remotes}/datastore/${dsMad}/ls`;
  const stdin = `<DS_DRIVER_ACTION_DATA>${dsXml}${
    toXml(vm.node)
  }${imageXml}</DS_DRIVER_ACTION_DATA>`;
  const r = await ctx.hosts.run(fe, [ls, "-i", String(inc)], {
    stdin,
    timeoutMs: LS_TIMEOUT_MS,
  });
  return parseListing(r.stdout, dsMad);
}

/** Which disks to restore: checked against the listing and the VM before anything happens. */
function chooseDisks(
  ctx: ActionContext,
  vm: VmView,
  listing: Record<string, string>,
  diskId: number,
  imageId: number,
): { disk: DiskView; url: string }[] {
  const listed = Object.keys(listing).filter((k) => /^\d+$/.test(k)).map(Number);
  if (diskId >= 0 && !listed.includes(diskId)) {
    throw new OneblkError("input", `backup image ${imageId} has no disk ${diskId}`);
  }
  const ids = diskId >= 0 ? [diskId] : listed.sort((a, b) => a - b);
  if (!ids.length) throw new OneblkError("input", `backup image ${imageId} lists no disk`);
  return ids.map((id) => {
    const disk = vm.disk(id);
    if (!disk) {
      throw new OneblkError("input", `backup image ${imageId} has disk ${id}; VM ${vm.id} has not`);
    }
    if (disk.tmMad !== ctx.inv.driver) {
      throw new OneblkError(
        "input",
        `disk ${id} of VM ${vm.id} uses TM_MAD ${disk.tmMad || "(none)"}: ` +
          `${ctx.inv.driver} can only restore its own disks`,
      );
    }
    return { disk, url: listing[String(id)] };
  });
}

/** Fetch one disk's backup into its staging file on the host and check it. */
async function stageDisk(
  ctx: ActionContext,
  fe: string,
  host: string,
  d: RestoreDisk,
): Promise<void> {
  const downloader = `${ctx.remotes}/datastore/downloader.sh`;
  await copyStream(
    ctx.hosts,
    fe,
    [downloader, "--nodecomp", d.url, "-"],
    ctx.hosts,
    host,
    putFileArgv(d.stage),
    { timeoutMs: DATA_TIMEOUT_MS },
  );
  const info = await qemuImgInfo(ctx.hosts, host, d.stage, { timeoutMs: DATA_TIMEOUT_MS });
  if (info.format !== "qcow2" && info.format !== "raw") {
    throw new OneblkError("backend", `backup of disk ${d.diskId} is ${info.format}, not qcow2/raw`);
  }
  if (info.backingFile) {
    throw new OneblkError(
      "backend",
      `backup of disk ${d.diskId} still names a backing file (${info.backingFile})`,
    );
  }
  if (info.format === "qcow2") {
    await qemuImgCheck(ctx.hosts, host, d.stage, "qcow2", { timeoutMs: DATA_TIMEOUT_MS });
  }
  d.staged = info;
}

/** Deadline of the TPM state download and unpacking. */
const TPM_TIMEOUT_MS = 600_000;

/**
 * The URL of the TPM state of the restored point, from the one `ls` lists. Every backup stores
 * its TPM state whole, always named disk.tpm.0, but the backup datastores list it like a disk:
 * with the whole chain, and the file of one increment's directory (rsync: increment 0's). Their
 * downloaders would rebuild a chain of more than one increment out of `disk.tpm.<id>` files
 * that do not exist. So the chain is cut to its last increment (the restored point), and when
 * the file's directory is named after an increment (rsync: `<BASE_PATH>/<vm>/<source>/`), it
 * is pointed at that increment's directory. Other URLs are returned unchanged.
 */
export function tpmPointUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)\/([^/]*)\/([^/]+)(\/.+)$/.exec(url);
  if (!m) return url;
  const [, proto, ds, bj, chain, path] = m;
  const pairs = chain.split(",").map((x) => x.split(":"));
  if (pairs.some((p) => p.length !== 2 || !/^\d+$/.test(p[0]))) return url;
  const [id, src] = pairs.at(-1)!;
  const parts = path.split("/");
  const dirName = parts.at(-2) ?? "";
  if (pairs.some(([, s]) => s === dirName)) parts[parts.length - 2] = src;
  return `${proto}://${ds}/${bj}/${id}:${src}${parts.join("/")}`;
}

/** Fetch the backup's TPM state and unpack it into `<stageDir>/tpm.new/tpm` on `host`. */
async function stageTpm(
  ctx: ActionContext,
  fe: string,
  host: string,
  url: string,
  stageDir: string,
): Promise<string> {
  const tar = `${stageDir}/disk.tpm`;
  const into = `${stageDir}/tpm.new`;
  const t = { timeoutMs: TPM_TIMEOUT_MS };
  await copyStream(
    ctx.hosts,
    fe,
    [`${ctx.remotes}/datastore/downloader.sh`, "--nodecomp", url, "-"],
    ctx.hosts,
    host,
    putFileArgv(tar),
    t,
  );
  await mkdirp(ctx.hosts, host, into, t);
  await ctx.hosts.run(host, ["tar", "xzf", tar, "-C", into], t);
  if (!(await exists(ctx.hosts, host, `${into}/tpm`, t))) {
    throw new OneblkError("backend", "the backup's TPM state (disk.tpm.0) holds no tpm directory");
  }
  return `${into}/tpm`;
}

/** Put the staged TPM state in place of `dir/tpm`; the old one is moved back on failure. */
async function swapTpm(
  ctx: ActionContext,
  host: string,
  dir: string,
  staged: string,
  stageDir: string,
): Promise<void> {
  const cur = `${dir}/tpm`;
  const old = `${stageDir}/tpm.old`;
  const had = await exists(ctx.hosts, host, cur);
  if (had) await moveFile(ctx.hosts, host, cur, old);
  try {
    await moveFile(ctx.hosts, host, staged, cur);
  } catch (e) {
    if (had) {
      await moveFile(ctx.hosts, host, old, cur).catch((err) =>
        ctx.info(`the old TPM state stays in ${host}:${old}: ${errorLine(err)}`)
      );
    }
    throw e;
  }
  ctx.info(`TPM state restored into ${host}:${cur}`);
}

/** Write the staged image of `d` into its volume on `host`. */
async function writeDisk(ctx: ActionContext, host: string, d: RestoreDisk): Promise<void> {
  const t = { timeoutMs: DATA_TIMEOUT_MS };
  await withAttached(ctx, d.backend, d.volume, host, async (dev) => {
    const size = (await qemuImgInfo(ctx.hosts, host, dev, { ...t, format: d.format }))
      .virtualSizeBytes;
    const staged = d.staged!;
    if (staged.virtualSizeBytes > size) {
      throw new OneblkError(
        "input",
        `backup of disk ${d.diskId} holds ${staged.virtualSizeBytes} bytes; ` +
          `the disk has ${size}: it cannot be restored into a smaller disk`,
      );
    }
    if (staged.virtualSizeBytes < size) {
      await qemuImgResize(ctx.hosts, host, d.stage, size, {
        ...t,
        format: staged.format,
        bytes: true,
      });
    }
    await qemuImgConvert(ctx.hosts, host, d.stage, dev, d.format, {
      ...t,
      srcFormat: staged.format,
      targetExists: true,
    });
  }, { reuseExisting: true });
}

/** Roll a restored (or half-restored) disk back to its undo snapshot. */
async function rollBack(d: RestoreDisk): Promise<string | null> {
  try {
    await d.backend.rollbackSnapshot(d.volume, d.undo);
    await d.backend.deleteSnapshot(d.volume, d.undo);
    return null;
  } catch (e) {
    return `disk ${d.diskId} (${d.volume}): ${errorLine(e)}; its content before the restore ` +
      `is kept in snapshot ${d.undo}`;
  }
}

/** Undo snapshots of an earlier restore that did not finish: roll those disks back first. */
async function undoInterrupted(ctx: ActionContext, disks: RestoreDisk[]): Promise<void> {
  for (const d of disks) {
    const snaps = await d.backend.listSnapshots(d.volume);
    if (!snaps.some((s) => s.name === d.undo)) continue;
    ctx.info(`disk ${d.diskId}: an earlier restore did not finish; rolling back to ${d.undo}`);
    const err = await rollBack(d);
    if (err) throw new OneblkError("backend", `cannot undo the earlier restore of ${err}`);
  }
}

/** One atomic undo snapshot per store of every disk to restore. */
async function takeUndoSnapshots(disks: RestoreDisk[]): Promise<void> {
  const groups = new Map<Backend, { volume: string; snapshot: string }[]>();
  for (const d of disks) {
    const g = groups.get(d.backend) ?? [];
    g.push({ volume: d.volume, snapshot: d.undo });
    groups.set(d.backend, g);
  }
  for (const [backend, items] of groups) await backend.createSnapshots(items);
}

/** What the restore voided: the backup chain, and the snapshots oned forgets. */
async function dropVoided(ctx: ActionContext, vm: VmView, d: RestoreDisk): Promise<void> {
  await dropChain(ctx, d.backend, d.volume, vm.id, d.diskId);
  if (d.disk.persistent) return;
  try {
    for (const s of await d.backend.listSnapshots(d.volume)) {
      if (ctx.profile.snapshotId(d.volume, s.name) === null) continue;
      await d.backend.deleteSnapshot(d.volume, s.name);
    }
  } catch (e) {
    ctx.info(`disk snapshots of disk ${d.diskId} not removed: ${errorLine(e)}`);
  }
}

/** The body of tm restore. */
export async function restore(ctx: ActionContext): Promise<void> {
  const a = parseRestoreArgs(ctx.args);
  const host = a.dst.host;
  const dir = a.dst.path.replace(/\/+$/, "");
  const one = await ctx.one();
  const [vm, image] = await Promise.all([one.vmInfo(a.vmId), one.imageInfo(a.imageId)]);
  if (image.type !== IMAGE_TYPE_BACKUP) {
    throw new OneblkError("input", `image ${a.imageId} is not a backup (TYPE ${image.typeName})`);
  }
  const bds = await one.datastoreInfo(image.datastoreId);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(bds.dsMad)) {
    throw new OneblkError("input", `invalid DS_MAD ${JSON.stringify(bds.dsMad)}`);
  }
  const fe = frontendBridge(ctx.env);
  const listing = await listBackup(
    ctx,
    fe,
    vm,
    toXml(image.node),
    toXml(bds.node),
    bds.dsMad,
    a.incrementId,
  );
  const chosen = chooseDisks(ctx, vm, listing, a.diskId, a.imageId);
  const tpmUrl = listing.tpm && chosen.some((c) => c.disk.diskId === 0)
    ? tpmPointUrl(listing.tpm)
    : null;
  const stageDir = `${dir}/.oneblk-restore`;
  const dsIds = [...new Set(chosen.map((c) => c.disk.datastoreId))];
  const dss = await Promise.all(dsIds.map((id) => one.datastoreInfo(id)));
  const disks: RestoreDisk[] = chosen.map(({ disk, url }) => {
    const volume = ctx.profile.diskVolume(vm.id, disk);
    return {
      disk,
      diskId: disk.diskId,
      url,
      volume,
      backend: ctx.backend(dss[dsIds.indexOf(disk.datastoreId)]),
      format: keepsQcow2(ctx.profile, disk) ? "qcow2" : "raw",
      stage: `${stageDir}/disk.${disk.diskId}`,
      undo: ctx.profile.restoreUndoName(volume, vm.id, disk.diskId),
    };
  });
  const cleanStage = async () => {
    try {
      await removeDir(ctx.hosts, host, stageDir, [dir]);
    } catch (e) {
      ctx.info(`${stageDir} on ${host} not removed: ${errorLine(e)}`);
    }
  };
  try {
    await undoInterrupted(ctx, disks);
    await removeDir(ctx.hosts, host, stageDir, [dir]);
    for (const d of disks) await stageDisk(ctx, fe, host, d);
    const tpm = tpmUrl ? await stageTpm(ctx, fe, host, tpmUrl, stageDir) : null;
    const touched: RestoreDisk[] = [];
    try {
      await takeUndoSnapshots(disks);
      for (const d of disks) {
        touched.push(d);
        await writeDisk(ctx, host, d);
      }
      if (tpm) await swapTpm(ctx, host, dir, tpm, stageDir);
    } catch (e) {
      const failed: string[] = [];
      for (const d of disks) {
        const err = touched.includes(d)
          ? await rollBack(d)
          : await d.backend.deleteSnapshot(d.volume, d.undo).then(() => null, errorLine);
        if (err) failed.push(err);
      }
      if (!failed.length) throw e;
      throw new OneblkError(
        e instanceof OneblkError ? e.kind : "backend",
        `${errorLine(e)}; rolling back failed for ${failed.join("; ")}`,
      );
    }
    for (const d of disks) {
      await d.backend.deleteSnapshot(d.volume, d.undo).catch((e) =>
        ctx.info(`undo snapshot ${d.undo} not removed: ${errorLine(e)}`)
      );
      await dropVoided(ctx, vm, d);
    }
  } finally {
    await cleanStage();
  }
}

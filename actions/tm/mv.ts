/**
 * tm mv `src_host:PATH dst_host:PATH vmid dsid` (docs/contract.md "tm mv"): stop, undeploy,
 * resume and cold migration, for one disk or the VM directory. Nothing happens when SRC == DST.
 *
 * Disk: attach + link on the destination, then unlink + detach on the source. The data never
 * moves: it stays in the store. Stop/undeploy (destination = front-end) only detaches; resume
 * (source = front-end) only attaches. The LCM state decides (9/31/49/50 resume, 10/30/41/42
 * stop/undeploy); otherwise the front-end is recognised by lib/domain/frontend.ts. A failure
 * after the destination attach undoes it. When the system datastore changes, the disk metadata
 * is updated.
 *
 * VM directory: copied with `tar` from the source host to the destination host through this
 * process (sparse), then removed on the source; not copied when both hosts see the same
 * directory (tested with a marker file, lib/domain/vm_dir.ts). The volumes the directory links
 * to (checkpoint, context ISO on the store) follow it to the destination host either way.
 *
 * A dead source host (host_error rescheduling) is tolerated: its links are not removed, its
 * attachments are released in the store where the store allows it (else reported), and the
 * directory is created empty on the destination.
 *
 * VM state on the store (StorPool, lib/domain/vm_state.ts): the NVRAM volume follows the
 * directory like the checkpoint; the TPM state is saved from the source's `DIR/tpm` when the
 * VM leaves it (stop, undeploy, cold migration) and put back into the destination's `DIR/tpm`
 * when it arrives (resume, cold migration, also from a dead host).
 */
import type { ActionContext } from "../../lib/context.ts";
import { diskPath, type HostPath, parseTmArgs, vmDirInfo } from "../../lib/one/args.ts";
import type { DatastoreView } from "../../lib/one/views.ts";
import { exists, mkdirp, removeDir, unlink } from "../../lib/host/ops.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { isFrontend } from "../../lib/domain/frontend.ts";
import { attachAndLink, unlinkAndDetach } from "../../lib/domain/attach.ts";
import { isPrivateVolume, loadVmDisk, readOnlyDisk } from "../../lib/domain/vm_disk.ts";
import { withUndo } from "../../lib/domain/undo.ts";
import { copyVmDir, vmDirPrefix, vmDirShared } from "../../lib/domain/vm_dir.ts";
import { vmContextVolume } from "../../lib/domain/context_iso.ts";
import { restoreTpm, saveTpm, tpmOnStore } from "../../lib/domain/vm_state.ts";

/** LCM states in which `mv` only attaches on the destination (resume from stop/undeploy). */
const RESUME_STATES: readonly number[] = [9, 31, 49, 50];
/** LCM states in which `mv` only detaches from the source (stop/undeploy). */
const STOP_STATES: readonly number[] = [10, 30, 41, 42];

/** LCM states in which the VM leaves a host: its TPM state is saved (addon-storpool's list). */
const TPM_SAVE_STATES: readonly number[] = [8, 10, 30, 43];
/** LCM states in which the VM arrives on a host: its TPM state is put back. */
const TPM_RESTORE_STATES: readonly number[] = [9, 31, 43, 60, 61];

/** Run tm mv. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs(ctx.inv.action, ctx.args);
  const src = a.src!, dst = a.dst!;
  if (src.host === dst.host && src.norm === dst.norm) {
    ctx.info("source and destination are the same: nothing to do");
    return;
  }
  if ((src.diskId === null) !== (dst.diskId === null) || src.diskId !== dst.diskId) {
    throw new OneblkError("input", `mv ${src.path} -> ${dst.path}: not the same disk or directory`);
  }
  if (dst.diskId === null) await moveDir(ctx, src, dst, a.vmId, a.dsId);
  else await moveDisk(ctx, src, dst, a.vmId, a.dsId);
}

async function moveDisk(
  ctx: ActionContext,
  src: HostPath,
  dst: HostPath,
  vmId: number,
  dsId: number,
): Promise<void> {
  const { vm, disk, volume, backend } = await loadVmDisk(ctx, dst, vmId, dsId);
  const lcm = vm.lcmState;
  let detachOnly = STOP_STATES.includes(lcm);
  let attachOnly = RESUME_STATES.includes(lcm);
  if (!detachOnly && !attachOnly && src.host !== dst.host) {
    if (await isFrontend(ctx, dst.host)) detachOnly = true;
    else if (await isFrontend(ctx, src.host)) attachOnly = true;
  }
  if (detachOnly) {
    await unlinkAndDetach(ctx, backend, volume, src.host, src.path);
    return;
  }
  const releaseSource = async () => {
    if (attachOnly) return;
    if (src.host === dst.host) await unlink(ctx.hosts, src.host, src.path);
    else await unlinkAndDetach(ctx, backend, volume, src.host, src.path);
  };
  const srcDs = vmDirInfo(src.path)?.sysDsId;
  const dstDs = vmDirInfo(dst.path)?.sysDsId;
  const owned = !disk.isCdrom && (disk.persistent || isPrivateVolume(ctx.profile, disk, volume));
  await withUndo(
    ctx,
    async () => {
      await attachAndLink(ctx, backend, volume, dst.host, dst.path, {
        readOnly: readOnlyDisk(disk),
      });
      await releaseSource();
      if (owned && dstDs !== undefined && srcDs !== dstDs) {
        await backend.setProps(volume, ctx.profile.diskProps(vm.id, disk.diskId, dstDs));
      }
    },
    async () => {
      if (src.host !== dst.host) await unlinkAndDetach(ctx, backend, volume, dst.host, dst.path);
      else await unlink(ctx.hosts, dst.host, dst.path);
    },
  );
}

async function moveDir(
  ctx: ActionContext,
  src: HostPath,
  dst: HostPath,
  vmId: number,
  dsId: number,
): Promise<void> {
  const srcPrefix = vmDirPrefix(src.path, vmId);
  vmDirPrefix(dst.path, vmId);
  const ds = await (await ctx.one()).datastoreInfo(dsId);
  const vm = await stateVm(ctx, vmId);
  const tpm = vm !== null && tpmOnStore(ctx, ctx.profile, vm);
  const backend = ctx.backend(ds);
  if (tpm && TPM_SAVE_STATES.includes(vm.lcmState) && !(await isFrontend(ctx, src.host))) {
    try {
      await saveTpm(ctx, ctx.profile, backend, ds, vmId, src.host, src.path);
    } catch (e) {
      if (!isKind(e, "unavailable")) throw e;
      ctx.info(`host ${src.host} is unreachable: TPM state of VM ${vmId} not saved`);
    }
  }
  if (await sameDir(ctx, src, dst)) {
    ctx.info(`${src.host} and ${dst.host} share ${src.path}: nothing to copy`);
  } else {
    let present: boolean | null;
    try {
      present = await exists(ctx.hosts, src.host, src.path);
    } catch (e) {
      if (!isKind(e, "unavailable")) throw e;
      present = null;
    }
    await mkdirp(ctx.hosts, dst.host, dst.path);
    if (present === null) {
      ctx.info(`host ${src.host} is unreachable: ${src.path} not copied`);
    } else if (!present) {
      ctx.info(`${src.host}:${src.path} does not exist (moved already?): nothing to copy`);
    } else {
      await copyVmDir(ctx, src.host, src.path, dst.host, dst.path);
      await removeDir(ctx.hosts, src.host, src.path, [srcPrefix]);
    }
  }
  if (tpm && TPM_RESTORE_STATES.includes(vm.lcmState) && !(await isFrontend(ctx, dst.host))) {
    await restoreTpm(ctx, ctx.profile, backend, vmId, dst.host, dst.path);
  }
  if (src.host === dst.host) return;
  // The directory's volumes follow it also when the source is dead or the copy was done by an
  // earlier run (oned retried after a failure below): both steps are idempotent.
  await moveDirVolume(ctx, ds, src.host, dst.host, ctx.profile.checkpointVolume(vmId));
  const nvram = ctx.profile.vmStateVolume(vmId, "nvram");
  if (nvram !== null) await moveDirVolume(ctx, ds, src.host, dst.host, nvram);
  const iso = vm && await vmContextVolume(ctx, vmId, vm);
  if (iso) {
    const path = diskPath(dst.path, vm.contextDiskId!);
    await moveDirVolume(ctx, ds, src.host, dst.host, iso, path);
  }
}

/**
 * True when src and dst are the same directory seen from two hosts (same path, shared). A dead
 * source cannot be asked and is not shared as far as this move goes: nothing can be copied.
 */
async function sameDir(ctx: ActionContext, src: HostPath, dst: HostPath): Promise<boolean> {
  if (src.norm !== dst.norm) return false;
  try {
    return await vmDirShared(ctx, src.host, dst.host, src.path);
  } catch (e) {
    if (!isKind(e, "unavailable")) throw e;
    return false;
  }
}

/**
 * The VM, when the profile keeps context ISOs or VM state on the store (else null: no oned
 * call).
 */
async function stateVm(ctx: ActionContext, vmId: number) {
  const p = ctx.profile;
  if (p.contextVolume(vmId, 0) === null && p.vmStateVolume(vmId, "nvram") === null) return null;
  try {
    return await (await ctx.one()).vmInfo(vmId);
  } catch (e) {
    if (!isKind(e, "not_found")) throw e;
    ctx.info(`VM ${vmId} is unknown to oned: no context or state volume moved`);
    return null;
  }
}

/**
 * A volume the VM directory links to (the checkpoint of the VMM save override, a context ISO
 * volume) follows the directory: attached on a destination hypervisor (and `linkPath` there
 * pointed at its device), released on the source (stop leaves it attached nowhere). A missing
 * volume is fine.
 */
async function moveDirVolume(
  ctx: ActionContext,
  ds: DatastoreView,
  srcHost: string,
  dstHost: string,
  volume: string,
  linkPath?: string,
): Promise<void> {
  const backend = ctx.backend(ds);
  if (!await backend.getVolume(volume)) return;
  if (!await isFrontend(ctx, dstHost)) {
    if (linkPath) await attachAndLink(ctx, backend, volume, dstHost, linkPath);
    else await backend.attach(volume, dstHost);
  }
  try {
    await backend.detach(volume, srcHost);
  } catch (e) {
    if (!isKind(e, "in_use", "config", "not_found", "unavailable")) throw e;
    ctx.info(`${volume} stays attached on ${srcHost}: ${(e as Error).message}`);
  }
}

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
 * directory is created empty on the destination. For the directory, "dead" is oned's word (LCM
 * PROLOG_MIGRATE_UNKNOWN): an unreachable source in any other move fails it (sourceDead). The
 * directory a dead source keeps (not copied, or copied and then not removed) is journaled for
 * `oneblk gc` (lib/domain/host_leftovers.ts).
 *
 * VM state on the store (StorPool, lib/domain/vm_state.ts): the NVRAM volume follows the
 * directory like the checkpoint; the TPM state is saved from the source's `DIR/tpm` when the
 * VM leaves it (stop, undeploy, cold migration) and put back into the destination's `DIR/tpm`
 * when it arrives (resume, cold migration, also from a dead host).
 */
import type { ActionContext } from "../../lib/context.ts";
import { diskPath, type HostPath, parseTmArgs, vmDirInfo } from "../../lib/one/args.ts";
import { type DatastoreView, LCM_STATE } from "../../lib/one/views.ts";
import { exists, mkdirp, removeDir, unlink } from "../../lib/host/ops.ts";
import { isKind, OneblkError } from "../../lib/errors.ts";
import { isFrontend } from "../../lib/domain/frontend.ts";
import { attachAndLink, markStaying, unlinkAndDetach } from "../../lib/domain/attach.ts";
import { ownerOf } from "../../lib/domain/undo.ts";
import {
  isPrivateVolume,
  loadVmDisk,
  readOnlyDisk,
  vmContextVolume,
} from "../../lib/domain/vm_disk.ts";
import { withUndo } from "../../lib/domain/undo.ts";
import { copyVmDir, type Sharing, vmDirPrefix, vmDirShared } from "../../lib/domain/vm_dir.ts";
import { isSharedImage, sharedImageUser } from "../../lib/domain/shared_image.ts";
import { restoreTpm, saveTpm, tpmOnStore } from "../../lib/domain/vm_state.ts";
import { dropHostLeftover, noteHostLeftover } from "../../lib/domain/host_leftovers.ts";
import { mapLimit, settleAll, withLater } from "../../lib/limit.ts";

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
  // (the marker of the directory's sharing test goes while the copy runs)
  if (dst.diskId === null) {
    await withLater((later) => moveDir(ctx, src, dst, a.vmId, a.dsId, later));
  } else await moveDisk(ctx, src, dst, a.vmId, a.dsId);
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
  // An image other VMs share stays attached on the source while one there uses it.
  const shared = isSharedImage(ctx.profile, disk, volume);
  const keepOn = (host: string) => shared ? () => sharedImageUser(ctx, vm, disk, host) : undefined;
  const keep = keepOn(src.host);
  // An unreachable source is passed over only on oned's host_error path, as for the directory:
  // otherwise its link would stay in DIR and travel with it (stop: to the front-end).
  const dead = (e: unknown) => sourceDead(ctx, vmId, e, vm);
  let detachOnly = STOP_STATES.includes(lcm);
  let attachOnly = RESUME_STATES.includes(lcm);
  if (!detachOnly && !attachOnly && src.host !== dst.host) {
    if (await isFrontend(ctx, dst.host)) detachOnly = true;
    else if (await isFrontend(ctx, src.host)) attachOnly = true;
  }
  if (detachOnly) {
    await unlinkAndDetach(ctx, backend, volume, src.host, src.path, keep, dead);
    return;
  }
  const releaseSource = async () => {
    if (attachOnly) return;
    if (src.host === dst.host) await unlink(ctx.hosts, src.host, src.path);
    else await unlinkAndDetach(ctx, backend, volume, src.host, src.path, keep, dead);
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
      if (src.host !== dst.host) {
        await unlinkAndDetach(ctx, backend, volume, dst.host, dst.path, keepOn(dst.host));
      } else await unlink(ctx.hosts, dst.host, dst.path);
    },
  );
}

async function moveDir(
  ctx: ActionContext,
  src: HostPath,
  dst: HostPath,
  vmId: number,
  dsId: number,
  later: (work: Promise<unknown>) => void,
): Promise<void> {
  const [srcPrefix, , ds, vm] = await Promise.all([
    vmDirPrefix(ctx, src.path, vmId),
    vmDirPrefix(ctx, dst.path, vmId),
    ctx.one().then((one) => one.datastoreInfo(dsId)),
    stateVm(ctx, vmId),
  ]);
  const tpm = vm !== null && tpmOnStore(ctx, ctx.profile, vm);
  const backend = ctx.backend(ds);
  if (tpm && TPM_SAVE_STATES.includes(vm.lcmState) && !(await isFrontend(ctx, src.host))) {
    try {
      await saveTpm(ctx, ctx.profile, backend, ds, vmId, src.host, src.path);
    } catch (e) {
      if (!(await sourceDead(ctx, vmId, e, vm))) throw e;
      ctx.info(`host ${src.host} is unreachable: TPM state of VM ${vmId} not saved`);
    }
  }
  const sharing = await sameDir(ctx, src, dst, later);
  if (sharing?.shared) {
    ctx.info(`${src.host} and ${dst.host} share ${src.path}: nothing to copy`);
  } else {
    // (both at once: independent; both ended before a failure goes on). The sharing test
    // looked at the source already; its marker goes with the copy's tar there, or on its own.
    let present: boolean | null = sharing ? sharing.onA : null; // null: dead, or not looked at
    let copying = false;
    try {
      await settleAll([
        sharing ? Promise.resolve() : exists(ctx.hosts, src.host, src.path).then((p) => {
          present = p;
        }, async (e) => {
          if (!(await sourceDead(ctx, vmId, e, vm))) throw e;
        }),
        mkdirp(ctx.hosts, dst.host, dst.path),
      ]);
      // The directory given up on a dead source is journaled: nothing else removes it once the
      // host is back (oned's host_error path never runs tm delete there).
      const givenUp = (e: unknown) =>
        noteHostLeftover(ctx, {
          host: src.host,
          path: src.path,
          kind: "vm-dir",
          vmId,
          dsId: vmDirInfo(src.path)?.sysDsId ?? dsId,
        }, e);
      if (present === null) {
        ctx.info(`host ${src.host} is unreachable: ${src.path} not copied`);
        await givenUp(`host ${src.host} is unreachable`);
      } else if (!present) {
        ctx.info(`${src.host}:${src.path} does not exist (moved already?): nothing to copy`);
      } else {
        copying = true;
        await copyVmDir(ctx, src.host, src.path, dst.host, dst.path, sharing);
        try {
          await removeDir(ctx.hosts, src.host, src.path, [srcPrefix]);
          await dropHostLeftover(ctx, src.host, src.path);
        } catch (e) {
          if (!(await sourceDead(ctx, vmId, e, vm))) throw e;
          await givenUp(e);
        }
      }
    } finally {
      if (!copying && sharing) later(sharing.dropMarker());
    }
  }
  if (tpm && TPM_RESTORE_STATES.includes(vm.lcmState) && !(await isFrontend(ctx, dst.host))) {
    await restoreTpm(ctx, ctx.profile, backend, vmId, dst.host, dst.path);
  }
  if (src.host === dst.host) return;
  // The directory's volumes follow it also when the source is dead or the copy was done by an
  // earlier run (oned retried after a failure below): both steps are idempotent.
  // (side by side; every one is tried, the first failure is reported)
  const nvram = ctx.profile.vmStateVolume(vmId, "nvram");
  const [iso, fromFe, toFe] = await Promise.all([
    vm && vmContextVolume(ctx, vmId, vm),
    isFrontend(ctx, src.host),
    isFrontend(ctx, dst.host),
  ]);
  const follow: [string, string?][] = [[ctx.profile.checkpointVolume(vmId)]];
  if (nvram !== null) follow.push([nvram]);
  if (iso && vm) follow.push([iso, diskPath(dst.path, vm.contextDiskId!)]);
  const ends = { src: src.host, dst: dst.host, fromFe, toFe };
  await mapLimit(follow, 4, ([volume, path]) => moveDirVolume(ctx, vmId, ds, ends, volume, path));
}

/** LCM states of a VM rescheduled away from a failed host (the host_error hook). */
const SOURCE_FAILED_STATES: readonly number[] = [
  LCM_STATE.PROLOG_MIGRATE_UNKNOWN,
  LCM_STATE.PROLOG_MIGRATE_UNKNOWN_FAILURE,
];

/**
 * True when `e` says the source host cannot be reached and oned moves the VM away from a failed
 * host: only then is its directory given up. Otherwise (stop, undeploy, cold migration) an
 * unreachable source fails the move, and oned's retry finds the directory once the host is back
 * (nothing is abandoned on a host that was only out of reach for a while). `known`: the VM
 * already read in this action (else oned is asked, only on such a failure).
 */
async function sourceDead(
  ctx: ActionContext,
  vmId: number,
  e: unknown,
  known: { lcmState: number } | null = null,
): Promise<boolean> {
  if (!isKind(e, "unavailable")) return false;
  const vm = known ?? await (await ctx.one()).vmInfo(vmId);
  return SOURCE_FAILED_STATES.includes(vm.lcmState);
}

/**
 * Whether src and dst are the same directory seen from two hosts: the sharing test of the same
 * path on both (a marker of a directory that is not shared is kept for the copy), else null
 * (different paths; a dead source, which cannot be asked and is not shared as far as this move
 * goes: nothing can be copied).
 */
async function sameDir(
  ctx: ActionContext,
  src: HostPath,
  dst: HostPath,
  later: (work: Promise<unknown>) => void,
): Promise<Sharing | null> {
  if (src.norm !== dst.norm) return null;
  try {
    return await vmDirShared(ctx, src.host, dst.host, src.path, later, true);
  } catch (e) {
    if (!isKind(e, "unavailable")) throw e;
    return null;
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
 * volume is fine: only one that exists is attached (the lookup also gives the store its tags);
 * a release needs no lookup (a volume that does not exist is attached nowhere). Between two
 * hypervisors the destination has it before the source lets it go; from the front-end (resume:
 * the VM ran nowhere since its stop) both at once.
 */
async function moveDirVolume(
  ctx: ActionContext,
  vmId: number,
  ds: DatastoreView,
  ends: { src: string; dst: string; fromFe: boolean; toFe: boolean },
  volume: string,
  linkPath?: string,
): Promise<void> {
  const backend = ctx.backend(ds);
  const attach = async () => {
    if (ends.toFe) return;
    if (linkPath) await attachAndLink(ctx, backend, volume, ends.dst, linkPath);
    else await backend.attach(volume, ends.dst);
  };
  const release = async () => {
    try {
      await backend.detach(volume, ends.src);
    } catch (e) {
      if (isKind(e, "not_found")) return;
      if (isKind(e, "config") && ends.fromFe) {
        // Not a client of the store (the front-end): nothing was attached there. On a
        // hypervisor the same kind is a store that refused us (its token): the move fails.
        ctx.info(`${volume} stays attached on ${ends.src}: ${(e as Error).message}`);
        return;
      }
      if (!isKind(e, "in_use", "unavailable")) throw e;
      // Left behind (an open device, a store that failed): marked for oneblk gc; when even
      // the mark cannot be set, the move fails (oned's retry releases it).
      if (!(await markStaying(ctx, backend, volume, ends.src, ownerOf(ctx, "vm", vmId), e))) {
        throw e;
      }
    }
  };
  if (ends.toFe) return await release();
  if (!await backend.getVolume(volume)) return;
  if (ends.fromFe) return await settleAll([attach(), release()]);
  await attach();
  await release();
}

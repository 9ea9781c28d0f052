/**
 * Live migration: tm premigrate / postmigrate / failmigrate `src dst DIR vmid dsid [caller_tm]`
 * (docs/contract.md "tm migrate"), written once for every profile. The VM comes base64 on
 * stdin (≥5.10) or argv (≤5.8), else from oned.
 *
 * Disks handled: every VM disk whose TM_MAD is this driver (image disks of our image
 * datastores, and volatile disks when the system datastore is ours); as the system TM also the
 * context ISO volume and the VM's state volumes (NVRAM, TPM state: vm_state.ts), which move
 * like disks without a link in DIR. The TPM state is saved from the source first (pre).
 *
 * - pre:  per disk attach on dst (diskless where there is no replica), allow two primaries,
 *         link DIR/disk.i on dst. As the system TM (no caller_tm) and when DIR is not on a
 *         filesystem shared by src and dst, the VM directory is first copied src → dst (tar
 *         stream). Any failure undoes everything this call did: the cluster is as before.
 * - post: per disk detach from src (kept, and reported, while something holds it open there)
 *         and stop allowing two primaries; as the system TM, remove DIR on src unless shared.
 * - fail: per disk remove the dst link (unless DIR is shared), detach from dst (a diskful
 *         replica or tie-breaker stays: the store never removes those) and stop allowing two
 *         primaries; as the system TM, remove DIR on dst unless shared.
 *
 * oned never retries post or fail: a DIR the host did not remove (unreachable, rm failed), or
 * that an earlier error kept there (sharing unknown, a disk step failed), is journaled
 * (host_leftovers.ts) for `oneblk gc`, with the exit code it had before (an unreachable host
 * is logged, any other error fails the call). A later premigrate back to that host removes the
 * stale DIR there before copying and drops the entry.
 *
 * Whether DIR is shared is tested (lib/domain/vm_dir.ts), not assumed from SHARED=YES.
 *
 * src == dst: nothing to do. As the system TM, the same call is then handed to every other
 * TM_MAD of the VM's disks (`$R/tm/<tm>/<action> args… <our name>`, same stdin), like
 * `migrate_other`; drivers without that script are skipped. A forwarded call (caller_tm set)
 * never forwards again.
 */
import { join } from "../path.ts";
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import { diskPath, type MigrateArgs, readMigrateArgs } from "../one/args.ts";
import { type DiskView, parseVm, type VmView } from "../one/views.ts";
import { links, type LinkSpec, removeDir, unlink } from "../host/ops.ts";
import { quietForSpawn } from "../host/process.ts";
import { errorLine, isKind, joinCauses, OneblkError } from "../errors.ts";
import { after } from "../timer.ts";
import { readOnlyDisk, vmContextVolume } from "./vm_disk.ts";
import { saveTpm, stateVolumeNames, tpmOnStore } from "./vm_state.ts";
import {
  copyVmDirUnlessShared,
  type Sharing,
  vmDirPrefix,
  vmDirShared,
  vmDirSharedHeld,
} from "./vm_dir.ts";
import { isSharedImage, sharedImageUser } from "./shared_image.ts";
import { dropHostLeftover, findHostLeftover, noteHostLeftover } from "./host_leftovers.ts";
import { settleAll, settleLimit, throwFirst, withLater } from "../limit.ts";

/**
 * Disks handled at once (REST calls of different disks overlap). A VM's disks rarely pass it;
 * host commands are grouped per host, not per disk.
 */
const DISK_PARALLEL = 8;

/** The three migrate steps. */
export type MigratePhase = "pre" | "post" | "fail";

/** One of our disks (or the context ISO volume) with its volume and store. */
interface OurDisk {
  readOnly: boolean;
  volume: string;
  backend: Backend;
  /** `DIR/disk.i` linked to the device; "" for a volume without a link (VM state). */
  path: string;
  /** An image volume other VMs may use (lib/domain/shared_image.ts): its VM disk. */
  shared?: DiskView;
  /** A volume the VM may not have (context ISO, VM state): handled only where it exists. */
  optional?: boolean;
}

const FORWARD_TIMEOUT_MS = 900_000;

/**
 * Hand the call to `$R/tm/<tm>/<action>` for each other TM_MAD (migrate_other): same argv plus
 * our driver name, same stdin. Missing scripts are skipped. Throws on the first failure.
 */
async function forwardToOthers(
  ctx: ActionContext,
  action: string,
  tms: string[],
): Promise<void> {
  if (!tms.length) return;
  const r = ctx.remotes;
  const stdin = new TextEncoder().encode(await ctx.stdin());
  for (const tm of tms) {
    if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(tm)) {
      throw new OneblkError("input", `invalid disk TM_MAD ${JSON.stringify(tm)}`);
    }
    const script = join(r, "tm", tm, action);
    try {
      if (!(await Deno.stat(script)).isFile) continue;
    } catch {
      ctx.info(`no ${script}: ${action} not forwarded to ${tm}`);
      continue;
    }
    const ac = new AbortController();
    const cancelTimer = after(FORWARD_TIMEOUT_MS, () => ac.abort());
    let out: Deno.CommandOutput;
    try {
      const child = new Deno.Command(script, {
        args: [...ctx.args, ctx.inv.driver],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        signal: ac.signal,
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(stdin).catch(() => {});
      await w.close().catch(() => {});
      out = await child.output();
    } catch (e) {
      throw new OneblkError("host", `cannot run ${script}: ${(e as Error).message}`);
    } finally {
      cancelTimer();
    }
    if (!out.success) {
      const last = new TextDecoder().decode(out.stderr).trim().split("\n").filter(Boolean).pop();
      throw new OneblkError(
        "host",
        `tm/${tm}/${action} failed (exit ${out.code})${last ? `: ${last}` : ""}`,
      );
    }
  }
}

/**
 * Load our disks with their stores; as the system TM (`systemTm`) also the context ISO volume
 * of profiles that keep it on the store and the VM's state volumes (they move like disks).
 * Those are `optional`: they may not exist, and are not looked up here. pre looks each up once,
 * for its attachment and its link (only one that exists is attached and linked); post and fail
 * only detach, and a detach of a volume that does not exist succeeds. `asked` is called once oned's lookups are
 * under way (the caller also calls it when finding ends, for the ways that ask nothing).
 */
async function ourDisks(
  ctx: ActionContext,
  vm: VmView,
  dir: string,
  sysDsId: number,
  systemTm: boolean,
  asked: () => void,
): Promise<OurDisk[]> {
  const mine = vm.disks.filter((d) => d.tmMad === ctx.inv.driver);
  const iso = systemTm ? await vmContextVolume(ctx, vm.id, vm) : null;
  const state = systemTm ? stateVolumeNames(ctx.profile, vm.id) : [];
  if (!mine.length && !iso && !state.length) return [];
  const dsIds = new Set(mine.map((d) => (d.datastoreId >= 0 ? d.datastoreId : sysDsId)));
  if (iso || state.length) dsIds.add(sysDsId);
  const one = await ctx.one();
  const infos = Promise.all(
    [...dsIds].map(async (id) => [id, await one.datastoreInfo(id)] as const),
  );
  asked();
  const dss = new Map(await infos);
  const out: OurDisk[] = mine.map((disk: DiskView) => {
    const ds = dss.get(disk.datastoreId >= 0 ? disk.datastoreId : sysDsId)!;
    const volume = ctx.profile.diskVolume(vm.id, disk);
    return {
      readOnly: readOnlyDisk(disk),
      volume,
      backend: ctx.backend(ds),
      path: diskPath(dir, disk.diskId),
      shared: isSharedImage(ctx.profile, disk, volume) ? disk : undefined,
    };
  });
  if (!iso && !state.length) return out;
  const sysBackend = ctx.backend(dss.get(sysDsId)!);
  // State volumes have no link in DIR; a VM deployed while the ISO was a plain file has no ISO
  // volume (the ISO moves with DIR).
  for (const s of state) {
    out.push({ readOnly: false, volume: s.volume, backend: sysBackend, path: "", optional: true });
  }
  if (iso) {
    out.push({
      readOnly: false,
      volume: iso,
      backend: sysBackend,
      path: diskPath(dir, vm.contextDiskId!),
      optional: true,
    });
  }
  return out;
}

function otherTms(ctx: ActionContext, vm: VmView): string[] {
  return [...new Set(vm.disks.map((d) => d.tmMad).filter((t) => t && t !== ctx.inv.driver))];
}

/** Run one migrate step (the body of tm premigrate, postmigrate and failmigrate). */
export async function migrateStep(ctx: ActionContext, phase: MigratePhase): Promise<void> {
  const action = `${phase}migrate`;
  // oned is asked in nearly every step (the disks' datastores, the VM directory's prefix): its
  // client loads while stdin is read (a failure is met where it is awaited)
  ctx.one().catch(() => {});
  const a = await readMigrateArgs(action, ctx.args, () => ctx.stdin());
  if (a.srcHost === a.dstHost) {
    ctx.info(`source and destination are both ${a.srcHost}: nothing to do`);
    return;
  }
  const vm = a.vmXml ? await parseVm(a.vmXml) : await (await ctx.one()).vmInfo(a.vmId);
  if (vm.id !== a.vmId) {
    throw new OneblkError("input", `the VM XML is VM ${vm.id}, the arguments name VM ${a.vmId}`);
  }
  const systemTm = a.callerTm === null;
  // the host the disks are attached on (pre) or released from (post, fail): what the store needs
  // to know of it (StorPool: its client id, maybe an oned call) is found beside the next steps
  const worked = phase === "post" ? a.srcHost : a.dstHost;
  const asked = Promise.withResolvers<void>();
  const found = ourDisks(ctx, vm, a.dir, a.dsId, systemTm, asked.resolve).finally(
    asked.resolve, // (also when finding asked nothing, or failed)
  ).then((disks) => {
    for (const b of new Set(disks.map((d) => d.backend))) b.warmHosts([worked]);
    return disks;
  });
  // Host commands start once oned's lookups are on the wire: starting one blocks this thread
  // for milliseconds (the process forks), which would hold them back while oned could answer.
  const quiet = asked.promise.then(quietForSpawn);
  const others = systemTm ? otherTms(ctx, vm) : [];
  if (phase === "pre") {
    if (systemTm && tpmOnStore(ctx, ctx.profile, vm)) {
      await found;
      const ds = await (await ctx.one()).datastoreInfo(a.dsId);
      await saveTpm(ctx, ctx.profile, ctx.backend(ds), ds, vm.id, a.srcHost, a.dir);
    }
    // (the disks are found, from oned, while the VM directory's part starts)
    await premigrate(ctx, a.srcHost, a.dstHost, a.dir, vm.id, systemTm, found, quiet, others);
    return;
  }
  // post: clean the source; fail: clean the destination. Errors are collected so every disk is
  // handled, then reported together. The sharing test starts while the disks are found; its
  // marker goes while the rest runs (post: with DIR, when DIR is removed). Disks that cannot be
  // found fail the step as they are, once the marker is gone.
  const errors: string[] = [];
  let disks: OurDisk[] | undefined;
  await withLater(async (later) => {
    // Whether DIR is shared: the disks of a fail step need it (their links), post only at the
    // end. Null: the test failed (said in `errors`); undefined: not needed.
    // (post, as the system TM: the marking's command on the source waits, and removes DIR
    // there when it is not shared, or only the marker)
    const test = phase === "post"
      ? (systemTm
        ? quiet.then(() => vmDirSharedHeld(ctx, a.srcHost, a.dstHost, a.dir, later))
        : undefined)
      : quiet.then(() => vmDirShared(ctx, a.srcHost, a.dstHost, a.dir, later));
    const sharing = test
      ? test.catch((e) => {
        errors.push(`cannot tell whether ${a.dir} is shared: ${errorLine(e)}`);
        return null;
      })
      : Promise.resolve(undefined);
    try {
      disks = await found;
    } catch (e) {
      later(sharing.then((s) => s?.dropMarker()));
      throw e;
    }
    await release(ctx, phase, a, vm, disks, systemTm, errors, later, sharing);
  }).catch((e) => {
    if (!disks) throw e;
    errors.push(errorLine(e));
  });
  try {
    await forwardToOthers(ctx, action, others);
  } catch (e) {
    errors.push(errorLine(e));
  }
  if (errors.length) throw new OneblkError("backend", joinCauses(errors));
}

/**
 * The body of post- and failmigrate: release the disks on the host the VM left (post: src) or
 * never reached (fail: dst), and, as the system TM, remove DIR there unless it is shared (or
 * journal it). Every failure goes to `errors`; `later` takes the sharing test's marker removal.
 * `sharing`: that test, started by the caller (null: it failed; undefined: not needed).
 */
async function release(
  ctx: ActionContext,
  phase: "post" | "fail",
  a: MigrateArgs,
  vm: VmView,
  disks: OurDisk[],
  systemTm: boolean,
  errors: string[],
  later: (work: Promise<unknown>) => void,
  sharing: Promise<Sharing | null | undefined>,
): Promise<void> {
  const clean = phase === "post" ? a.srcHost : a.dstHost;
  // (a test that failed or was not needed counts as shared: nothing is removed on its word)
  const sharedTest = sharing.then((s) => s?.shared ?? true);
  if (phase === "fail" && !systemTm && !(await sharedTest)) {
    const paths = disks.map((d) => d.path).filter(Boolean);
    await unlink(ctx.hosts, clean, paths).catch((e) => errors.push(errorLine(e)));
  }
  await settleLimit(disks, DISK_PARALLEL, async (d) => {
    const detach = async () => {
      try {
        const user = d.shared ? await sharedImageUser(ctx, vm, d.shared, clean) : null;
        if (user) ctx.info(`${d.volume} stays attached on ${clean}: ${user} uses it there`);
        else await d.backend.detach(d.volume, clean);
      } catch (e) {
        if (isKind(e, "in_use")) ctx.info(`${d.volume} is still open on ${clean}; left attached`);
        else errors.push(errorLine(e));
      }
    };
    const onePrimary = () =>
      d.backend.setDualPrimary(d.volume, false).catch((e) => errors.push(errorLine(e)));
    // post: the source is no longer primary, both go at once; fail: the destination's
    // attachment goes first (it may still be primary there).
    if (phase === "post") await Promise.all([detach(), onePrimary()]);
    else {
      await detach();
      await onePrimary();
    }
  });
  const shared = await sharedTest;
  const test = await sharing;
  const shareUnknown = test === null;
  const removal = systemTm && !shared && errors.length === 0;
  // a kept marker goes with DIR; when DIR stays, on its own
  const kept = test?.marker ? test : null;
  if (kept && !removal) later(kept.dropMarker());
  if (removal) {
    let prefix: string | null = null;
    try {
      prefix = await vmDirPrefix(ctx, a.dir, vm.id);
      await (kept?.removeDir?.([prefix]) ?? removeDir(ctx.hosts, clean, a.dir, [prefix]));
      await dropHostLeftover(ctx, clean, a.dir);
    } catch (e) {
      if (kept) later(kept.dropMarker());
      // Nothing retries this step: what the host did not remove is journaled for oneblk gc.
      if (prefix !== null && isKind(e, "unavailable", "host", "timeout")) {
        await noteHostLeftover(
          ctx,
          { host: clean, path: a.dir, kind: "vm-dir", vmId: vm.id, dsId: a.dsId },
          e,
        );
      }
      if (!isKind(e, "unavailable")) errors.push(errorLine(e));
    }
  } else if (systemTm && (shareUnknown || (!shared && errors.length))) {
    // DIR stays on `clean` after an error (nothing retries this step): journaled too. gc tests
    // itself that the directory is not the one the VM uses elsewhere before removing it.
    try {
      await vmDirPrefix(ctx, a.dir, vm.id);
      await noteHostLeftover(
        ctx,
        { host: clean, path: a.dir, kind: "vm-dir", vmId: vm.id, dsId: a.dsId },
        `not removed after: ${joinCauses(errors)}`,
      );
    } catch (e) {
      ctx.info(`${a.dir} left on ${clean}: ${errorLine(e)}`);
    }
  }
}

/** A disk's link in DIR: `DIR/disk.i` → its device. */
function linkSpec(d: OurDisk): LinkSpec {
  return { device: d.backend.devicePath(d.volume), path: d.path };
}

async function premigrate(
  ctx: ActionContext,
  src: string,
  dst: string,
  dir: string,
  vmId: number,
  systemTm: boolean,
  disksFound: Promise<OurDisk[]>,
  quiet: Promise<void>,
  others: string[],
): Promise<void> {
  const undo: (() => Promise<unknown>)[] = [];
  // Whether each disk's volume exists: an optional one is looked up (once, for its attachment
  // and its link), the others surely exist.
  const lookups = new Map<OurDisk, Promise<boolean>>();
  const exists = (d: OurDisk) => {
    let p = lookups.get(d);
    if (!p) {
      p = d.optional ? d.backend.getVolume(d.volume).then((v) => !!v) : Promise.resolve(true);
      lookups.set(d, p);
    }
    return p;
  };
  try {
    {
      // The VM directory (system TM, not shared: copied, then the links made, in one command
      // on dst) and the disks' store side run side by side; the sharing test does not wait for
      // the disks to be found (oned calls).
      const dirReady = (async () => {
        if (!systemTm) return false;
        // The sharing test and the copy of DIR are one command on each host; the copy makes
        // the links of the disks whose volume exists (an optional one's lookup is the one its
        // attachment uses). dst's part waits for oned (the directory's prefix, the disks) and
        // for whether a DIR there is a stale one that an earlier migration away from dst could
        // not remove: it goes before the copy, so old files never mix into the VM's directory.
        const plan = Promise.all([
          vmDirPrefix(ctx, dir, vmId),
          disksFound.then(async (disks) => {
            const linked = disks.filter((d) => d.path);
            const found = await Promise.all(linked.map(exists));
            return linked.filter((_, i) => found[i]).map(linkSpec);
          }),
          Promise.resolve().then(() => findHostLeftover(ctx.env, dst, dir)).catch(() => null),
        ]).then(([prefix, links, left]) => ({ prefix, stale: left?.kind === "vm-dir", links }));
        await quiet;
        const r = await copyVmDirUnlessShared(ctx, src, dst, dir, plan, (existed, p) => {
          undo.push(() => existed ? Promise.resolve() : removeDir(ctx.hosts, dst, dir, [p.prefix]));
          if (p.links.length) undo.push(() => unlink(ctx.hosts, dst, p.links.map((l) => l.path)));
        });
        if (r.removedStale) ctx.info(`removed ${dir} left on ${dst} by an earlier migration`);
        await dropHostLeftover(ctx, dst, dir); // gone, or the VM's own directory (shared)
      })();
      const steps = [
        dirReady,
        disksFound.then((disks) => {
          // Every disk's lookup settles before any attachment starts, so that the attachments
          // start in one turn and a store that sends them together sends one request (an
          // optional volume's lookup answering after the others' would split it).
          const looked = Promise.allSettled(disks.map(exists));
          return settleLimit(disks, DISK_PARALLEL, async (d) => {
            const listed = d.backend.attachments(d.volume, dst); // (dst's only)
            listed.catch(() => {}); // awaited below, unless the volume is not there
            if (!await exists(d)) return;
            // The permission for two primaries needs only the volume: it is asked for while the
            // attachments are read, and the attachment (when dst has none) follows them. Undone
            // in the reverse order: the attachment first, as failmigrate does.
            undo.push(() => d.backend.setDualPrimary(d.volume, false));
            await settleAll([
              d.backend.setDualPrimary(d.volume, true),
              Promise.all([listed, looked]).then(async ([onDst]) => {
                if (onDst.some((x) => !x.tieBreaker)) return;
                undo.push(() => d.backend.detach(d.volume, dst));
                await d.backend.attach(d.volume, dst, { readOnly: d.readOnly });
              }),
            ]);
          });
        }).then(throwFirst),
      ];
      await settleAll(steps); // every step ends before anything is undone
      // Called by another system TM: DIR is its part, the links of our disks in it are ours, in
      // one host command.
      if (!systemTm) {
        const disks = await disksFound;
        const found = await Promise.all(disks.map(exists));
        const linked = disks.filter((d, i) => d.path && found[i]);
        if (linked.length) {
          undo.push(() => unlink(ctx.hosts, dst, linked.map((d) => d.path)));
          await links(ctx.hosts, dst, linked.map(linkSpec));
        }
      }
    }
    await forwardToOthers(ctx, "premigrate", others);
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (ue) {
        ctx.info(`undo failed: ${errorLine(ue)}`);
      }
    }
    throw e;
  }
}

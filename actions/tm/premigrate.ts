/**
 * tm premigrate / postmigrate / failmigrate `src dst DIR vmid dsid [caller_tm]` (contract
 * §4.9): the live-migration steps, written once for the three profiles. The VM comes base64
 * on stdin (≥5.10) or argv (≤5.8), else from oned.
 *
 * Disks handled: every VM disk whose TM_MAD is this driver (image disks of our image
 * datastores, and volatile disks when the system datastore is ours).
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
 * Whether DIR is shared is tested, not assumed from SHARED=YES (the add-ons' system datastores
 * say SHARED=YES while the VM directories are local): a marker file created in DIR on src is
 * looked for on dst.
 *
 * src == dst: nothing to do. As the system TM, the same call is then handed to every other
 * TM_MAD of the VM's disks (`$R/tm/<tm>/<action> args… <our name>`, same stdin), like
 * `migrate_other`; drivers without that script are skipped. A forwarded call (caller_tm set)
 * never forwards again.
 */
import { join } from "node:path";
import type { ActionContext } from "../../lib/context.ts";
import type { Backend } from "../../lib/backend/types.ts";
import { diskPath, readMigrateArgs, vmDirInfo } from "../../lib/one/args.ts";
import { type DiskView, parseVm, type VmView } from "../../lib/one/views.ts";
import { findRemotesDir } from "../../lib/one/output.ts";
import { exists, link, removeDir, unlink } from "../../lib/host/ops.ts";
import { copyStream } from "../../lib/host/copy.ts";
import { errorLine, isKind, OneblkError } from "../../lib/errors.ts";
import { readOnlyDisk } from "./disk_common.ts";
import { vmContextVolume } from "./context.ts";

/** The three migrate steps. */
export type MigratePhase = "pre" | "post" | "fail";

/** One of our disks (or the context ISO volume) with its volume and store. */
interface OurDisk {
  readOnly: boolean;
  volume: string;
  backend: Backend;
  path: string;
}

/** Constant script: exit 3 when directory $1 is missing, else create marker $2. */
const MARK_SCRIPT = '[ -d "$1" ] || exit 3\n: > "$2"';

/**
 * True when `dir` on `a` and on `b` is the same directory (a shared filesystem): a marker made
 * on `a` is visible on `b`. A missing `dir` on `a` counts as not shared.
 */
export async function sharedDir(
  ctx: ActionContext,
  a: string,
  b: string,
  dir: string,
): Promise<boolean> {
  const marker = `${dir.replace(/\/+$/, "")}/.oneblk-shared-${crypto.randomUUID()}`;
  const r = await ctx.hosts.run(a, ["sh", "-c", MARK_SCRIPT, "oneblk-mark", dir, marker], {
    okCodes: [0, 3],
  });
  if (r.code === 3) return false;
  try {
    return await exists(ctx.hosts, b, marker);
  } finally {
    await unlink(ctx.hosts, a, marker).catch(() => {});
  }
}

/** Constant script: create $1 and unpack a tar stream from stdin into it. */
const UNTAR_SCRIPT = 'mkdir -p -- "$1" && exec tar -C "$1" --sparse -xf -';

/** Copy the VM directory from `src` to `dst` (tar stream through this process). */
async function copyVmDir(ctx: ActionContext, src: string, dst: string, dir: string) {
  await copyStream(
    ctx.hosts,
    src,
    ["tar", "-C", dir, "--sparse", "-cf", "-", "."],
    ctx.hosts,
    dst,
    ["sh", "-c", UNTAR_SCRIPT, "oneblk-untar", dir],
    { timeoutMs: 1_800_000 },
  );
}

/** Prefix removeDir may delete below for the VM directory `dir` of VM `vmId`. */
function dirPrefix(dir: string, vmId: number): string {
  const info = vmDirInfo(dir);
  if (!info || info.vmId !== vmId || info.location === "/") {
    throw new OneblkError("input", `${dir} is not the directory of VM ${vmId}`);
  }
  return `${info.location}/${info.sysDsId}`;
}

/** The remotes dir `$R` of this invocation. */
function remotesDir(ctx: ActionContext): string {
  // deno-lint-ignore no-explicit-any
  const invokedPath = String((globalThis as any).process?.argv0 ?? "");
  return findRemotesDir({ env: ctx.env, invokedPath });
}

const FORWARD_TIMEOUT_MS = 900_000;

/**
 * Hand the call to `$R/tm/<tm>/<action>` for each other TM_MAD (migrate_other): same argv plus
 * our driver name, same stdin. Missing scripts are skipped. Throws on the first failure.
 */
export async function forwardToOthers(
  ctx: ActionContext,
  action: string,
  tms: string[],
): Promise<void> {
  if (!tms.length) return;
  const r = remotesDir(ctx);
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
    const timer = setTimeout(() => ac.abort(), FORWARD_TIMEOUT_MS);
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
      clearTimeout(timer);
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
 * of profiles that keep it on the store, when it exists (it moves like a disk).
 */
async function ourDisks(
  ctx: ActionContext,
  vm: VmView,
  dir: string,
  sysDsId: number,
  systemTm: boolean,
): Promise<OurDisk[]> {
  const mine = vm.disks.filter((d) => d.tmMad === ctx.inv.driver);
  const iso = systemTm ? await vmContextVolume(ctx, vm.id, vm) : null;
  if (!mine.length && !iso) return [];
  const dsIds = new Set(mine.map((d) => (d.datastoreId >= 0 ? d.datastoreId : sysDsId)));
  if (iso) dsIds.add(sysDsId);
  const one = await ctx.one();
  const dss = new Map(
    await Promise.all([...dsIds].map(async (id) => [id, await one.datastoreInfo(id)] as const)),
  );
  const out: OurDisk[] = mine.map((disk: DiskView) => {
    const ds = dss.get(disk.datastoreId >= 0 ? disk.datastoreId : sysDsId)!;
    return {
      readOnly: readOnlyDisk(disk),
      volume: ctx.profile.diskVolume(vm.id, disk),
      backend: ctx.backend(ds),
      path: diskPath(dir, disk.diskId),
    };
  });
  // A VM deployed while the ISO was a plain file has no volume: the ISO moves with DIR.
  const isoBackend = iso ? ctx.backend(dss.get(sysDsId)!) : null;
  if (iso && isoBackend && await isoBackend.getVolume(iso)) {
    out.push({
      readOnly: false,
      volume: iso,
      backend: isoBackend,
      path: diskPath(dir, vm.contextDiskId!),
    });
  }
  return out;
}

function otherTms(ctx: ActionContext, vm: VmView): string[] {
  return [...new Set(vm.disks.map((d) => d.tmMad).filter((t) => t && t !== ctx.inv.driver))];
}

/** Run one migrate step. */
export async function migrateStep(ctx: ActionContext, phase: MigratePhase): Promise<void> {
  const action = `${phase}migrate`;
  const a = await readMigrateArgs(action, ctx.args, () => ctx.stdin());
  if (a.srcHost === a.dstHost) {
    ctx.info(`source and destination are both ${a.srcHost}: nothing to do`);
    return;
  }
  const vm = a.vmXml ? parseVm(a.vmXml) : await (await ctx.one()).vmInfo(a.vmId);
  if (vm.id !== a.vmId) {
    throw new OneblkError("input", `the VM XML is VM ${vm.id}, the arguments name VM ${a.vmId}`);
  }
  const systemTm = a.callerTm === null;
  const disks = await ourDisks(ctx, vm, a.dir, a.dsId, systemTm);
  const others = systemTm ? otherTms(ctx, vm) : [];
  if (phase === "pre") {
    await premigrate(ctx, a.srcHost, a.dstHost, a.dir, vm.id, systemTm, disks, others);
    return;
  }
  // post: clean the source; fail: clean the destination. Errors are collected so every disk is
  // handled, then reported together.
  const errors: string[] = [];
  const clean = phase === "post" ? a.srcHost : a.dstHost;
  let shared = true;
  if (systemTm || phase === "fail") {
    try {
      shared = await sharedDir(ctx, a.srcHost, a.dstHost, a.dir);
    } catch (e) {
      errors.push(`cannot tell whether ${a.dir} is shared: ${errorLine(e)}`);
    }
  }
  for (const d of disks) {
    if (phase === "fail" && !shared && !systemTm) {
      await unlink(ctx.hosts, clean, d.path).catch((e) => errors.push(errorLine(e)));
    }
    try {
      await d.backend.detach(d.volume, clean);
    } catch (e) {
      if (isKind(e, "in_use")) ctx.info(`${d.volume} is still open on ${clean}; left attached`);
      else errors.push(errorLine(e));
    }
    await d.backend.setDualPrimary(d.volume, false).catch((e) => errors.push(errorLine(e)));
  }
  if (systemTm && !shared && errors.length === 0) {
    try {
      await removeDir(ctx.hosts, clean, a.dir, [dirPrefix(a.dir, vm.id)]);
    } catch (e) {
      if (isKind(e, "unavailable")) ctx.info(`${clean} unreachable: ${a.dir} left there`);
      else errors.push(errorLine(e));
    }
  }
  try {
    await forwardToOthers(ctx, action, others);
  } catch (e) {
    errors.push(errorLine(e));
  }
  if (errors.length) throw new OneblkError("backend", errors.join("; "));
}

async function premigrate(
  ctx: ActionContext,
  src: string,
  dst: string,
  dir: string,
  vmId: number,
  systemTm: boolean,
  disks: OurDisk[],
  others: string[],
): Promise<void> {
  const undo: (() => Promise<unknown>)[] = [];
  try {
    let shared = false;
    if (systemTm) {
      shared = await sharedDir(ctx, src, dst, dir);
      if (!shared) {
        const prefix = dirPrefix(dir, vmId);
        const existed = await exists(ctx.hosts, dst, dir);
        undo.push(() => existed ? Promise.resolve() : removeDir(ctx.hosts, dst, dir, [prefix]));
        await copyVmDir(ctx, src, dst, dir);
      }
    }
    for (const d of disks) {
      const before = await d.backend.attachments(d.volume);
      const had = before.some((x) => x.host === dst && !x.tieBreaker);
      if (!had) {
        undo.push(() => d.backend.detach(d.volume, dst));
        await d.backend.attach(d.volume, dst, { readOnly: d.readOnly });
      }
      undo.push(() => d.backend.setDualPrimary(d.volume, false));
      await d.backend.setDualPrimary(d.volume, true);
      if (!shared) {
        undo.push(() => unlink(ctx.hosts, dst, d.path));
        await link(ctx.hosts, dst, d.backend.devicePath(d.volume), d.path);
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

/** Run tm premigrate. */
export function run(ctx: ActionContext): Promise<void> {
  return migrateStep(ctx, "pre");
}

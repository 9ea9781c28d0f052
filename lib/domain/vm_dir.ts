/**
 * The VM directory `<DATASTORE_LOCATION>/<sys_ds>/<vm>` on a host: which directory may be
 * removed (the prefix check), whether two hosts share it, and copying it between hosts.
 *
 * Shared or not is TESTED, never assumed: a marker file made in the directory on one host is
 * looked for on the other. Two other answers were considered and are wrong:
 *  - the datastore's SHARED=YES: the add-ons' system datastores say SHARED=YES while their VM
 *    directories are local to each host;
 *  - the filesystem type of the directory (nfs, cephfs, …): the same path can be a different
 *    export on each host (not shared although NFS), and a shared filesystem missing from a
 *    list of types would be copied onto itself and then removed on the source, losing it.
 * Only the marker tells whether the other host sees the same directory.
 */
import type { ActionContext } from "../context.ts";
import { OneblkError } from "../errors.ts";
import { checkPath, exists, unlink } from "../host/ops.ts";
import { copyStream } from "../host/copy.ts";
import { diskIdFromPath, normPath, vmDirInfo } from "../one/args.ts";

/** Deadline of a VM directory copy (checkpoint files can be large). */
const COPY_TIMEOUT_MS = 3_600_000;

/**
 * Check that `dir` is the directory of VM `vmId` (`<location>/<sys_ds>/<vmid>`) and return the
 * prefix removeDir may delete below (`<location>/<sys_ds>`). `sysDsId`, when given, must match.
 */
export function vmDirPrefix(dir: string, vmId: number, sysDsId?: number): string {
  const info = diskIdFromPath(dir) === null ? vmDirInfo(dir) : null;
  const loc = info ? normPath(info.location) : "/";
  if (
    !info || info.vmId !== vmId || loc === "/" ||
    (sysDsId !== undefined && info.sysDsId !== sysDsId)
  ) {
    throw new OneblkError(
      "input",
      `${dir} is not the directory of VM ${vmId} (<DATASTORE_LOCATION>/${
        sysDsId ?? "<ds>"
      }/${vmId})`,
    );
  }
  return `${loc}/${info.sysDsId}`;
}

/** Constant script: exit 3 when directory $1 is missing, else create marker $2. */
const MARK_SCRIPT = '[ -d "$1" ] || exit 3\n: > "$2"';

/**
 * True when `dir` on host `a` and on host `b` is the same directory: a marker made in it on `a`
 * is visible on `b`. A directory missing on `a` counts as not shared (there is nothing to keep
 * apart). Throws "unavailable" when `a` cannot be reached.
 */
export async function vmDirShared(
  ctx: ActionContext,
  a: string,
  b: string,
  dir: string,
): Promise<boolean> {
  const marker = `${checkPath(dir).replace(/\/+$/, "")}/.oneblk-shared-${crypto.randomUUID()}`;
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

/** Copy VM directory `srcDir` on `src` to `dstDir` on `dst` (a sparse tar stream). */
export async function copyVmDir(
  ctx: ActionContext,
  src: string,
  srcDir: string,
  dst: string,
  dstDir: string,
): Promise<void> {
  await copyStream(
    ctx.hosts,
    src,
    ["tar", "-C", checkPath(srcDir), "--sparse", "-cf", "-", "."],
    ctx.hosts,
    dst,
    ["sh", "-c", UNTAR_SCRIPT, "oneblk-untar", checkPath(dstDir)],
    { timeoutMs: COPY_TIMEOUT_MS },
  );
}

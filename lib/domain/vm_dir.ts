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
import { errorLine, OneblkError } from "../errors.ts";
import { answered, checkPath, LINK_SCRIPT, linkArgs, type LinkSpec, unlink } from "../host/ops.ts";
import type { HostRunner } from "../host/types.ts";
import { copyStream } from "../host/copy.ts";
import { diskIdFromPath, normPath, vmDirInfo } from "../one/args.ts";
import { noteHostLeftover } from "./host_leftovers.ts";

/** Deadline of a VM directory copy (checkpoint files can be large). */
const COPY_TIMEOUT_MS = 3_600_000;

/**
 * Check that `dir` is the directory of VM `vmId` as oned knows it, and return the prefix
 * removeDir may delete below. The prefix never comes from the path itself (`bravo:/etc/121/7`
 * would allow `/etc/121`): it is the BASE_PATH of system datastore N, the datastore id in the
 * path (`sysDsId`, when given, must match), as oned answers it; `dir` must be
 * `<BASE_PATH>/<vmId>`. A cluster that keeps its hosts' datastores elsewhere
 * (DATASTORE_LOCATION) is recognised by the VM's history record on that datastore
 * (`<DS_LOCATION>/<N>/<vmId>`). Anything else is refused (kind input).
 */
export async function vmDirPrefix(
  ctx: Pick<ActionContext, "one">,
  dir: string,
  vmId: number,
  sysDsId?: number,
): Promise<string> {
  const info = diskIdFromPath(dir) === null ? vmDirInfo(dir) : null;
  const refuse = (why: string) =>
    new OneblkError(
      "input",
      `${dir} is not the directory of VM ${vmId} (<BASE_PATH of system datastore ${
        sysDsId ?? "<ds>"
      }>/${vmId}): ${why}`,
    );
  if (!info || info.vmId !== vmId || (sysDsId !== undefined && info.sysDsId !== sysDsId)) {
    throw refuse("wrong shape");
  }
  const one = await ctx.one();
  const ds = await one.datastoreInfo(info.sysDsId);
  if (ds.typeName !== "SYSTEM") throw refuse(`datastore ${ds.id} is not a system datastore`);
  const want = normPath(dir);
  const base = normPath(ds.basePath);
  if (base !== "/" && base !== "" && want === `${base}/${vmId}`) return base;
  const vm = await one.vmInfo(vmId).catch(() => null);
  for (const h of vm?.histories ?? []) {
    if (h.dsId !== ds.id || !h.dsLocation) continue;
    const prefix = `${normPath(h.dsLocation)}/${ds.id}`;
    if (normPath(h.dsLocation) !== "/" && want === `${prefix}/${vmId}`) return prefix;
  }
  throw refuse(`not below the datastore's BASE_PATH ${ds.basePath || "(none)"}`);
}

/** Name prefix of the marker files of vmDirShared. */
const SHARED_MARK = ".oneblk-shared-";
/**
 * Name prefix of the probe files of dirSharedProbe (oneblk gc): not SHARED_MARK, so that an
 * action's marking never removes a probe (nor a probe an action's marker) while both look.
 */
const GC_PROBE = ".oneblk-gcprobe-";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True when `name` is one marker file of vmDirShared or probe of dirSharedProbe. */
export function isSharedMarkName(name: string): boolean {
  return [SHARED_MARK, GC_PROBE].some((p) =>
    name.startsWith(p) && UUID_RE.test(name.slice(p.length))
  );
}

/**
 * Marker removals under way, by host and directory: a copy of that directory waits for them (tar
 * fails, "file changed as we read it", on a directory that changes while it reads it).
 */
const removing = new Map<string, Promise<void>>();

function dirKey(host: string, dir: string): string {
  return `${host}:${dir.replace(/\/+$/, "")}`;
}

/** Constant script: exit 3 when directory $1 is missing, else create file $2. */
const PROBE_SCRIPT = `[ -d "$1" ] || exit 3\n: > "$2"`;

/**
 * Constant script of the host that looks for a marker: exit 0 when file $1 is there, else 1
 * when directory $2 is (not shared), else 3 (not there at all).
 */
const LOOK_SCRIPT = '[ -e "$1" ] && exit 0\n[ -d "$2" ] && exit 1\nexit 3';

/** What a marker test found. */
export interface Sharing {
  /** `dir` on the second host is the directory on the first. */
  shared: boolean;
  /** `dir` exists on the first host. */
  onA: boolean;
  /** `dir` exists on the second host (so also when shared); null: not looked (not on `a`). */
  onB: boolean | null;
  /**
   * The marker left in `dir` on the first host for the caller (vmDirShared's `keep`, when not
   * shared), else null. The caller's next command there removes it: with the directory
   * (removeDir), before a copy (copyVmDir's `kept`), or `dropMarker`.
   */
  marker: string | null;
  /** Remove `marker` (again: rm -f); one that stays is journaled. Never rejects. */
  dropMarker(): Promise<void>;
}

/**
 * The marker test of vmDirShared and dirSharedProbe: run `script` on `a` (exit 3: `dir` is
 * missing there, not shared) to make a file named `name` + a UUID in `dir`, look for it (and
 * for `dir`) on `b`, remove it on `a` (a second try after a failure; `onLeft` gets one that
 * stays). With `keep`, a marker `b` did not see is left to the caller (Sharing.marker).
 */
async function markerSeen(
  hosts: HostRunner,
  a: string,
  b: string,
  dir: string,
  name: string,
  script: string,
  onLeft: (path: string, e: unknown) => Promise<void>,
  opts: { later?: (removal: Promise<unknown>) => void; keep?: boolean } = {},
): Promise<Sharing> {
  const d = checkPath(dir).replace(/\/+$/, "");
  const file = `${d}/${name}${crypto.randomUUID()}`;
  let dropped: Promise<void> | undefined;
  const remove = () =>
    dropped ??= unlink(hosts, a, file).catch(() => unlink(hosts, a, file))
      .catch((e) => onLeft(file, e));
  const r = await hosts.run(a, ["sh", "-c", script, "oneblk-mark", dir, file], {
    okCodes: [0, 3],
  });
  if (r.code === 3) {
    return { shared: false, onA: false, onB: null, marker: null, dropMarker: async () => {} };
  }
  let look: number | undefined;
  try {
    const l = await hosts.run(b, ["sh", "-c", LOOK_SCRIPT, "oneblk-look", file, d], {
      okCodes: [0, 1, 3],
    });
    answered(l, "look for", b, file);
    look = l.code;
  } finally {
    if (!(opts.keep && look !== undefined && look !== 0)) {
      const removal = remove();
      const key = dirKey(a, dir);
      const settled = removal.then(() => {}, () => {});
      removing.set(key, settled);
      settled.then(() => removing.get(key) === settled && removing.delete(key));
      if (opts.later) opts.later(removal);
      else await removal;
    }
  }
  const shared = look === 0;
  return {
    shared,
    onA: true,
    onB: look !== 3,
    marker: shared || !opts.keep ? null : file,
    dropMarker: remove,
  };
}

/**
 * For `oneblk gc`: true when `dir` on host `a` is the directory `b` sees too (a probe file made
 * on `a` is visible on `b`); false when it is missing on `a`. Unlike vmDirShared it removes no
 * other marker, so it can run beside an action testing the same directory. A probe it could not
 * remove is passed to `onLeft`. Throws when either host cannot be asked.
 */
export async function dirSharedProbe(
  hosts: HostRunner,
  a: string,
  b: string,
  dir: string,
  onLeft: (path: string, e: unknown) => Promise<void>,
): Promise<boolean> {
  return (await markerSeen(hosts, a, b, dir, GC_PROBE, PROBE_SCRIPT, onLeft)).shared;
}

/**
 * Constant script: exit 3 when directory $1 is missing, else remove the markers an earlier
 * run could not remove and create marker $2.
 */
const MARK_SCRIPT = `[ -d "$1" ] || exit 3\nm=$2\nset -- "$1"/${SHARED_MARK}*\n` +
  // (no rm process unless a marker is there: the pattern stays unexpanded when nothing matches)
  `{ [ -e "$1" ] || [ -L "$1" ]; } && rm -f -- "$@"\n: > "$m"`;

/**
 * Whether `dir` on host `a` and on host `b` is the same directory: a marker made in it on `a`
 * is visible on `b` (with whether `dir` exists on each). A directory missing on `a` counts as
 * not shared (there is nothing to keep apart). Throws "unavailable" when `a` cannot be reached.
 * With `later`, the answer comes as soon as `b` has looked, and the marker's removal is handed
 * to `later` (the caller awaits it before it ends; the marker is never copied meanwhile, see
 * copyVmDir). With `keep`, a marker of a directory that is not shared stays for the caller's
 * next command on `a` (Sharing.marker): one host command less.
 */
export function vmDirShared(
  ctx: ActionContext,
  a: string,
  b: string,
  dir: string,
  later?: (removal: Promise<unknown>) => void,
  keep = false,
): Promise<Sharing> {
  // A marker left (host gone) is never copied (copyVmDir), is removed by the next marking, and
  // is journaled for oneblk gc (postmigrate and failmigrate are never retried).
  return markerSeen(ctx.hosts, a, b, dir, SHARED_MARK, MARK_SCRIPT, async (marker, e) => {
    const info = vmDirInfo(dir);
    if (!info) return ctx.info(`marker ${marker} left on ${a}: ${errorLine(e)}`);
    await noteHostLeftover(
      ctx,
      { host: a, path: marker, kind: "marker", vmId: info.vmId, dsId: info.sysDsId },
      e,
    );
  }, { later, keep });
}

/**
 * Constant script: create $1 and unpack a tar stream from stdin into it; then make the links of
 * the (directory, device, link) triples after $1 (LINK_SCRIPT).
 */
const UNTAR_SCRIPT = '[ -d "$1" ] || mkdir -p -- "$1" || exit 1\n' +
  'if [ "$#" -eq 1 ]; then exec tar -C "$1" --sparse -xf -; fi\n' +
  'tar -C "$1" --sparse -xf - || exit 1\nshift\n' + LINK_SCRIPT;

/**
 * Constant script: remove file $1 (the sharing test's marker), then run the rest of the
 * arguments (the tar of copyVmDir) in its place.
 */
const UNMARK_SCRIPT = 'rm -f -- "$1" || exit 1\nshift\nexec "$@"';

/**
 * Copy VM directory `srcDir` on `src` to `dstDir` on `dst` (a sparse tar stream), then make
 * `linksAfter` on `dst` in the same host command. A marker of vmDirShared that could not be
 * removed stays behind. `kept`: the sharing test whose marker was kept in `srcDir` (its
 * `marker`): removed by the copy's command on `src` before tar reads the directory, or by
 * `dropMarker` when the copy fails.
 */
export async function copyVmDir(
  ctx: ActionContext,
  src: string,
  srcDir: string,
  dst: string,
  dstDir: string,
  linksAfter: readonly LinkSpec[] = [],
  kept: Sharing | null = null,
): Promise<void> {
  // a sharing test's marker still being removed from srcDir would change it under tar
  await removing.get(dirKey(src, srcDir));
  const marker = kept?.marker;
  try {
    const tar = [
      "tar",
      "-C",
      checkPath(srcDir),
      "--sparse",
      `--exclude=${SHARED_MARK}*`,
      `--exclude=${GC_PROBE}*`,
      "-cf",
      "-",
      ".",
    ];
    await copyStream(
      ctx.hosts,
      src,
      marker ? ["sh", "-c", UNMARK_SCRIPT, "oneblk-tar", marker, ...tar] : tar,
      ctx.hosts,
      dst,
      ["sh", "-c", UNTAR_SCRIPT, "oneblk-untar", checkPath(dstDir), ...linkArgs(linksAfter)],
      { timeoutMs: COPY_TIMEOUT_MS },
    );
  } catch (e) {
    await kept?.dropMarker();
    throw e;
  }
}

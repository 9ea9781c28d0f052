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
import { errorLine, isKind, OneblkError } from "../errors.ts";
import {
  answered,
  checkPath,
  LINK_SCRIPT,
  linkArgs,
  type LinkSpec,
  removableDir,
  removeDir,
  unlink,
} from "../host/ops.ts";
import type { HostRunner, StdinFeeder } from "../host/types.ts";
import { copyFailure, copyStream, type PieceReader, pump, reusingReader } from "../host/copy.ts";
import { DEFAULT_TIMEOUT_MS, quietForSpawn, seconds } from "../host/process.ts";
import { after } from "../timer.ts";
import { uniqueId } from "../frugal.ts";
import { diskIdFromPath, normPath, vmDirInfo } from "../one/args.ts";
import { noteHostLeftover } from "./host_leftovers.ts";

/** Deadline of a VM directory copy (checkpoint files can be large). */
const COPY_TIMEOUT_MS = 3_600_000;

/**
 * Buffer of a reader of a host command that says one line (a sharing test's answer): a tar
 * stream gets copy.ts's own (16 KiB, growing to 64 while the tar fills it).
 */
const LINE_READ = 512;

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
  /**
   * vmDirSharedHeld, not shared: remove `dir` on the first host (with the marker) by the
   * marking's own command, which waited for this (a command of its own when that one ended).
   * Only below `prefixes` (removeDir's check); throws that removal's error.
   */
  removeDir?(prefixes: readonly string[]): Promise<void>;
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
  const file = `${d}/${name}${uniqueId()}`;
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
 * vmDirShared for a caller that may remove `dir` on `a` once other work is done (postmigrate):
 * the command that makes the marker on `a` stays open and waits. A `dir` that is not shared is
 * then removed by it (Sharing.removeDir), or its marker by `dropMarker`: no host command of its
 * own on `a`. A shared `dir`'s marker goes at once (handed to `later`). Throws "unavailable" when
 * `a` cannot be reached, and the look's error (the marker removed) when `b` cannot be asked.
 */
export async function vmDirSharedHeld(
  ctx: ActionContext,
  a: string,
  b: string,
  dir: string,
  later: (removal: Promise<unknown>) => void,
): Promise<Sharing> {
  const d = checkPath(dir).replace(/\/+$/, "");
  const marker = `${d}/${SHARED_MARK}${uniqueId()}`;
  const held = holdMarker(ctx.hosts, a, d, marker, "oneblk-mark", [], {});
  let gone = false; // the command ended (or was told what to do)
  held.ended.then(() => gone = true);
  const said = await firstLine(held.stdout);
  held.stdout.cancel().catch(() => {}); // nothing more comes
  if (said.line !== "M") {
    held.decide("stop");
    const e = await held.ended;
    if (said.line === "X") {
      return { shared: false, onA: false, onB: null, marker: null, dropMarker: async () => {} };
    }
    throw e ?? new OneblkError("host", `the sharing test of ${dir} on ${a} said nothing`);
  }
  let dropped: Promise<void> | undefined;
  const drop = () =>
    dropped ??= (async () => {
      held.decide("stop");
      if ((await held.ended) !== undefined) await dropMarker(ctx, a, dir, marker);
    })();
  let look: number;
  try {
    const l = await ctx.hosts.run(b, ["sh", "-c", LOOK_SCRIPT, "oneblk-look", marker, d], {
      okCodes: [0, 1, 3],
    });
    answered(l, "look for", b, marker);
    look = l.code;
  } catch (e) {
    await drop();
    throw e;
  }
  if (look === 0) {
    later(drop());
    return { shared: true, onA: true, onB: true, marker: null, dropMarker: drop };
  }
  return {
    shared: false,
    onA: true,
    onB: look !== 3,
    marker,
    dropMarker: drop,
    async removeDir(prefixes) {
      const target = removableDir(d, prefixes);
      if (gone || dropped) return await removeDir(ctx.hosts, a, target, prefixes);
      held.decide("rm");
      gone = true;
      const e = await held.ended;
      // A held command its deadline ended (it waited while the disks were released): whether
      // the removal ran is not known, and `rm -rf` again, with a deadline of its own, tells.
      if (isKind(e, "timeout")) return await removeDir(ctx.hosts, a, target, prefixes);
      if (e !== undefined) throw e;
    },
  };
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
  return markerSeen(ctx.hosts, a, b, dir, SHARED_MARK, MARK_SCRIPT, markerLeft(ctx, a, dir), {
    later,
    keep,
  });
}

/** Remove `marker` on `host` on its own (a second try after a failure); journaled if it stays. */
function dropMarker(ctx: ActionContext, host: string, dir: string, marker: string): Promise<void> {
  return unlink(ctx.hosts, host, marker).catch(() => unlink(ctx.hosts, host, marker))
    .catch((e) => markerLeft(ctx, host, dir)(marker, e));
}

/** What becomes of a marker in `dir` on `a` that could not be removed: journaled for oneblk gc. */
function markerLeft(
  ctx: ActionContext,
  a: string,
  dir: string,
): (marker: string, e: unknown) => Promise<void> {
  return async (marker, e) => {
    const info = vmDirInfo(dir);
    if (!info) return ctx.info(`marker ${marker} left on ${a}: ${errorLine(e)}`);
    await noteHostLeftover(
      ctx,
      { host: a, path: marker, kind: "marker", vmId: info.vmId, dsId: info.sysDsId },
      e,
    );
  };
}

/** Constant script: create $1 and unpack a tar stream from stdin into it. */
const UNTAR_SCRIPT = '[ -d "$1" ] || mkdir -p -- "$1" || exit 1\nexec tar -C "$1" --sparse -xf -';

/**
 * Constant script: remove file $1 (the sharing test's marker), then run the rest of the
 * arguments (the tar of copyVmDir) in its place.
 */
const UNMARK_SCRIPT = 'rm -f -- "$1" || exit 1\nshift\nexec "$@"';

/** The tar of a VM directory's copy (sparse files kept, markers and probes left out). */
function tarOf(dir: string): string[] {
  return [
    "tar",
    "-C",
    dir,
    "--sparse",
    `--exclude=${SHARED_MARK}*`,
    `--exclude=${GC_PROBE}*`,
    "-cf",
    "-",
    ".",
  ];
}

/**
 * Copy VM directory `srcDir` on `src` to `dstDir` on `dst` (a sparse tar stream). A marker of
 * vmDirShared that could not be removed stays behind. `kept`: the sharing test whose marker was
 * kept in `srcDir` (its `marker`): removed by the copy's command on `src` before tar reads the
 * directory, or by `dropMarker` when the copy fails.
 */
export async function copyVmDir(
  ctx: ActionContext,
  src: string,
  srcDir: string,
  dst: string,
  dstDir: string,
  kept: Sharing | null = null,
): Promise<void> {
  // a sharing test's marker still being removed from srcDir would change it under tar
  await removing.get(dirKey(src, srcDir));
  const marker = kept?.marker;
  try {
    const tar = tarOf(checkPath(srcDir));
    await copyStream(
      ctx.hosts,
      src,
      marker ? ["sh", "-c", UNMARK_SCRIPT, "oneblk-tar", marker, ...tar] : tar,
      ctx.hosts,
      dst,
      ["sh", "-c", UNTAR_SCRIPT, "oneblk-untar", checkPath(dstDir)],
      { timeoutMs: COPY_TIMEOUT_MS },
    );
  } catch (e) {
    await kept?.dropMarker();
    throw e;
  }
}

/** What the destination of copyVmDirUnlessShared needs; known once oned has answered. */
export interface CopyPlan {
  /** The prefix `dir` was checked against (vmDirPrefix): a stale `dir` is removed below it only. */
  prefix: string;
  /** A `dir` found on the destination and not shared is stale (journaled): removed first. */
  stale: boolean;
  /**
   * The links made on the destination, while the source's tar is on its way: the copy leaves
   * those paths as they are made (the source's entries of them are not unpacked).
   */
  links: readonly LinkSpec[];
}

/** What copyVmDirUnlessShared found and did. */
export interface DirHandOver {
  /** `dir` on the destination is the directory on the source: nothing was copied. */
  shared: boolean;
  /** A stale `dir` on the destination was removed before the copy. */
  removedStale: boolean;
}

/**
 * Constant script of the host that makes a held marker (holdMarker): exit 3 (after a line `X`)
 * when directory $1 is missing; else remove the markers an earlier run left, make marker $2, say
 * `M`, and wait for the caller's decision on stdin: `copy` removes the marker and runs the rest
 * of the arguments (a tar) in its place, `rm` removes the directory (with the marker), `stop`
 * removes the marker. Without a decision (the caller is gone) the marker stays: the next
 * marking, or oneblk gc, removes it.
 */
const HOLD_SCRIPT = '[ -d "$1" ] || { echo X; exit 3; }\nd=$1\nm=$2\nshift 2\n' +
  `for f in "$d"/${SHARED_MARK}*; do { [ -e "$f" ] || [ -L "$f" ]; } && rm -f -- "$f"; done\n` +
  ': > "$m" || exit 1\necho M\nIFS= read -r go || exit 5\ncase $go in\n' +
  'copy) rm -f -- "$m" || exit 1; exec "$@" ;;\nrm) exec rm -rf -- "$d" ;;\n' +
  '*) exec rm -f -- "$m" ;;\nesac';

/**
 * Constant script of the destination of a copy: wait for the source's `M` on stdin (exit 4
 * without it: nothing was looked at); say `S` and end when marker $1 is visible (shared). Else
 * say `E` (directory $2 there, kept), `R` (there and stale, $3 = 1: removed) or `N` (not
 * there), make the links of the (directory, device, link) triples after $3 (LINK_SCRIPT, up to
 * `--`) while the source's tar is on its way, then unpack the tar stream that follows on stdin
 * into $2 with the tar options after `--` (keepLinks: the links just made stay).
 */
const RECEIVE_SCRIPT = 'IFS= read -r a || exit 4\n[ "$a" = M ] || exit 4\n' +
  'if [ -e "$1" ]; then echo S; exit 0; fi\nd=$2\ns=$3\nshift 3\n' +
  'if [ -d "$d" ]; then\n  if [ "$s" = 1 ]; then rm -rf -- "$d" || exit 1; echo R; else echo E; fi\n' +
  'else echo N; fi\nmkdir -p -- "$d" || exit 1\n' + LINK_SCRIPT +
  '\n[ "$1" = -- ] && shift\nexec tar -C "$d" --sparse "$@" -xf -';

/**
 * Options of the destination's tar (RECEIVE_SCRIPT) that leave alone the links of `specs` made
 * in directory `d` (checked, no trailing slash) before it unpacks: the source's entries of the
 * same paths (its own links to its devices) are not unpacked. The names are matched whole and
 * literally (`./disk.0` is not `./disk.01`, nor `sub/disk.0`), as the source's tar names them
 * (tarOf: `-C dir .`).
 */
function keepLinks(d: string, specs: readonly LinkSpec[]): string[] {
  const names = specs.map((l) => checkPath(l.path, "link path"))
    .filter((p) => p.startsWith(`${d}/`) && p.length > d.length + 1)
    .map((p) => `--exclude=./${p.slice(d.length + 1)}`);
  return names.length ? ["--anchored", "--no-wildcards", ...names] : [];
}

const enc = new TextEncoder();

/** The first line of a stream (null when it ends first) and the bytes read after it. */
async function firstLine(
  reader: PieceReader,
): Promise<{ line: string | null; rest: Uint8Array }> {
  let buf = new Uint8Array(0);
  for (;;) {
    const nl = buf.indexOf(10);
    if (nl >= 0) {
      return { line: new TextDecoder().decode(buf.subarray(0, nl)), rest: buf.slice(nl + 1) };
    }
    let r: ReadableStreamReadResult<Uint8Array>;
    try {
      r = await reader.read();
    } catch {
      return { line: null, rest: buf };
    }
    if (r.done) return { line: null, rest: buf };
    const next = new Uint8Array(buf.length + r.value.length);
    next.set(buf);
    next.set(r.value, buf.length);
    buf = next;
  }
}

/** Settle `p` (either way) and give its error, undefined when it succeeded. */
function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e) => e ?? new Error("failed"));
}

/** What the host of a held marker is told: copy (the tar), remove the directory, or stop. */
type Decision = "copy" | "rm" | "stop";

/** The command of a held marker (HOLD_SCRIPT) on its host. */
interface HeldMarker {
  /**
   * Its stdout: the first line (`M`, `X`, or null when it ended first), then the tar. Each
   * read's bytes are valid until the next read (see reusingReader).
   */
  stdout: PieceReader;
  /** Send the decision (the first one counts). */
  decide(go: Decision): void;
  /** Resolves once a decision was sent (with it). */
  decided: Promise<Decision>;
  /** Its end: undefined when it succeeded, else its error. */
  ended: Promise<unknown>;
}

/**
 * Start HOLD_SCRIPT on `host` for directory `d` and `marker`, with `then` (a tar) for `copy`.
 * Throws synchronously when the command cannot be started (e.g. an unreachable host).
 */
function holdMarker(
  hosts: HostRunner,
  host: string,
  d: string,
  marker: string,
  label: string,
  then: string[],
  opts: { timeoutMs?: number; signal?: AbortSignal },
): HeldMarker {
  let send: ((go: Decision) => void) | undefined;
  const decided = new Promise<Decision>((resolve) => (send = resolve));
  const cmd = hosts.stream(host, ["sh", "-c", HOLD_SCRIPT, label, d, marker, ...then], {
    stdin: async (w) => await w.write(enc.encode(`${await decided}\n`)),
    okCodes: [0, 3],
    ...opts,
  });
  return {
    stdout: then.length ? reusingReader(cmd.stdout) : reusingReader(cmd.stdout, LINE_READ),
    decide: (go) => send?.(go),
    decided,
    ended: failureOf(cmd.done),
  };
}

/**
 * The sharing test and the copy of VM directory `dir` from `src` to `dst` as one host command
 * on each side, both started at once (premigrate): the source makes the marker and waits; the
 * destination, once `plan` is known and the source's marker is made, looks for it. Shared: the
 * source removes the marker, nothing is copied. Not shared: the destination removes a stale
 * `dir` (plan.stale) or keeps the one there, and `onCopy(existed, plan)` is called before anything
 * changes there; the source removes the marker and sends the tar stream, which the destination
 * unpacks before making plan.links. Over ssh this is two connections, where the separate test
 * and copy took four in a row.
 *
 * The destination must answer within the runners' command deadline, the copy within an hour.
 * On every failure the marker is removed (by the source's command when it can still decide, else
 * on its own; one that stays is journaled for oneblk gc). Throws "host" when `dir` is not on the
 * source; a failure of `plan` is thrown as it is.
 */
export async function copyVmDirUnlessShared(
  ctx: ActionContext,
  src: string,
  dst: string,
  dir: string,
  plan: Promise<CopyPlan>,
  onCopy: (existed: boolean, plan: CopyPlan) => void,
): Promise<DirHandOver> {
  plan.catch(() => {}); // awaited below, unless the source fails first
  const d = checkPath(dir).replace(/\/+$/, "");
  const marker = `${d}/${SHARED_MARK}${uniqueId()}`;
  const stop = new AbortController();
  const source = holdMarker(ctx.hosts, src, d, marker, "oneblk-tar", tarOf(d), {
    timeoutMs: COPY_TIMEOUT_MS,
    signal: stop.signal,
  });
  const fromSource = source.stdout;
  const decision = source.decided.then((go) => go === "copy");
  let marked = false;
  /** End the source's part without a copy: its error (undefined: ended well, marker gone). */
  const endSource = async () => {
    source.decide("stop");
    fromSource.cancel().catch(() => {});
    const e = await source.ended;
    if (marked && e !== undefined) await dropMarker(ctx, src, dir, marker);
    return e;
  };
  // Each side answers within the runners' command deadline (the copy after it has an hour).
  const waitMs = ctx.hosts.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = (host: string) =>
    after(waitMs, () =>
      stop.abort(
        new OneblkError(
          "timeout",
          `the sharing test of ${dir} had no answer from ${host} within ${seconds(waitMs)}s`,
        ),
      ));
  let cancelLook = deadline(src);
  try {
    const said = await firstLine(fromSource);
    cancelLook();
    if (said.line !== "M") {
      const e = await endSource();
      if (said.line === "X") throw new OneblkError("host", `${dir} does not exist on ${src}`);
      throw e ?? new OneblkError("host", `the sharing test of ${dir} on ${src} said nothing`);
    }
    marked = true;
    let p: CopyPlan;
    try {
      p = await plan;
    } catch (e) {
      await endSource();
      throw e;
    }
    // The destination's stdin: the source's `M`, then (copy) the rest of the source's stdout
    // (pump: when the destination stops taking it, the source's tar is stopped too).
    const destIn: StdinFeeder = async (w, ended) => {
      try {
        await w.write(enc.encode("M\n"));
        if (!await decision) return;
        if (said.rest.length) await w.write(said.rest);
      } catch (e) {
        fromSource.cancel().catch(() => {});
        throw e;
      }
      await pump(fromSource, w, ended);
    };
    let dest: ReturnType<HostRunner["stream"]>;
    await quietForSpawn(); // (the disks' requests of a premigrate go out first)
    try {
      dest = ctx.hosts.stream(dst, [
        "sh",
        "-c",
        RECEIVE_SCRIPT,
        "oneblk-untar",
        marker,
        removableDir(d, [p.prefix]),
        p.stale ? "1" : "0",
        ...linkArgs(p.links),
        "--",
        ...keepLinks(d, p.links),
      ], { stdin: destIn, timeoutMs: COPY_TIMEOUT_MS, signal: stop.signal });
    } catch (e) {
      await endSource();
      throw e;
    }
    cancelLook = deadline(dst);
    const fromDest = reusingReader(dest.stdout, LINE_READ); // (one line, nothing after it)
    const answer = (await firstLine(fromDest)).line;
    cancelLook();
    // (nothing else comes on the destination's stdout; read to its end so it never blocks)
    const drained = (async () => {
      try {
        while (!(await fromDest.read()).done) { /* drain */ }
      } catch {
        // cancelled or broken: the command's result tells
      }
    })();
    if (answer !== "S" && answer !== "E" && answer !== "R" && answer !== "N") {
      const [se, de] = await Promise.all([endSource(), failureOf(dest.done)]);
      await drained;
      throw de ?? se ??
        new OneblkError("host", `the sharing test of ${dir} on ${dst} said nothing`);
    }
    if (answer === "S") {
      // The answer stands: a marker the source could not remove went to endSource's dropMarker
      // (journaled if it stays), as a shared directory's marker always did.
      const [, de] = await Promise.all([endSource(), failureOf(dest.done)]);
      await drained;
      if (de !== undefined) ctx.info(`after ${dst} saw ${dir} shared: ${errorLine(de)}`);
      return { shared: true, removedStale: false };
    }
    onCopy(answer === "E", p);
    source.decide("copy");
    const [se, de] = await Promise.all([source.ended, failureOf(dest.done)]);
    await drained;
    if (se !== undefined) await dropMarker(ctx, src, dir, marker);
    if (de !== undefined || se !== undefined) throw copyFailure(de, se);
    return { shared: false, removedStale: answer === "R" };
  } finally {
    cancelLook();
  }
}

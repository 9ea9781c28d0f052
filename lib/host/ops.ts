/**
 * The host operations actions need, each a fixed argv with data only as separate arguments.
 *
 * Where one round trip is worth a tiny script (link, waitForPath, putFile), the
 * script text is a constant and every datum is a positional parameter (`sh -c SCRIPT sh $1…`),
 * so nothing from OpenNebula or the store ever becomes shell syntax. All paths must be
 * absolute (no option injection, and the simulated runner maps them onto the host's
 * directory), and are checked for NUL bytes and `..` segments.
 *
 * Everything works the same through SshRunner (local or remote) and SimRunner. virsh calls are
 * not here: they go through lib/domain/libvirt.ts, which knows the configured program and URI.
 */
import { basename, dirname, normalize } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { uniqueId } from "../frugal.ts";
import type { HostRunner, RunOptions } from "./types.ts";

/** Per-call deadline for the operations that accept one. */
export interface OpOptions {
  /** Deadline in ms (default: the runner's). */
  timeoutMs?: number;
}

/** Check an absolute path (no NUL, no `.`/`..` segments); returns it with `//` collapsed. */
export function checkPath(path: string, what = "path"): string {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new OneblkError("input", `${what} must be absolute, got ${JSON.stringify(path)}`);
  }
  if (path.includes("\0")) throw new OneblkError("input", `${what} contains a NUL byte`);
  if (path.split("/").some((s) => s === ".." || s === ".")) {
    throw new OneblkError("input", `${what} must not contain '.' or '..': ${path}`);
  }
  return path.replace(/\/{2,}/g, "/");
}

function ro(opts?: OpOptions): RunOptions {
  return opts?.timeoutMs ? { timeoutMs: opts.timeoutMs } : {};
}

/** `mkdir -p -- dir` */
export async function mkdirp(
  runner: HostRunner,
  host: string,
  dir: string,
  opts?: OpOptions,
): Promise<void> {
  await runner.run(host, ["mkdir", "-p", "--", checkPath(dir, "directory")], ro(opts));
}

/**
 * Constant script: for each (directory, device, link) triple of its arguments, make the
 * directory when it is missing, then point the link at the device; stops at the first failure.
 * An argument `--` ends the triples: it and what follows stay in "$@" for the rest of a script
 * that embeds this one.
 */
export const LINK_SCRIPT = 'while [ "$#" -ge 3 ] && [ "$1" != -- ]; do\n' +
  '  [ -d "$1" ] || mkdir -p -- "$1" || exit 1\n' +
  '  ln -sfn -- "$2" "$3" || exit 1\n' +
  "  shift 3\n" +
  "done";

/** One symlink to make: `path` → `device`. */
export interface LinkSpec {
  device: string;
  path: string;
}

/**
 * Make each `path` a symlink to its `device` (parent directories created, existing links
 * replaced), all in one host command; in order, stopping at the first failure.
 */
export async function links(
  runner: HostRunner,
  host: string,
  specs: readonly LinkSpec[],
  opts?: OpOptions,
): Promise<void> {
  if (!specs.length) return;
  await runner.run(host, ["sh", "-c", LINK_SCRIPT, "oneblk-link", ...linkArgs(specs)], ro(opts));
}

/** The arguments of LINK_SCRIPT for `specs` (paths checked): (directory, device, link) each. */
export function linkArgs(specs: readonly LinkSpec[]): string[] {
  return specs.flatMap(({ device, path }) => {
    const p = checkPath(path, "link path");
    return [dirname(p), checkPath(device, "device"), p];
  });
}

/** Make `path` a symlink to `device` (parent directories created, existing link replaced). */
export function link(
  runner: HostRunner,
  host: string,
  device: string,
  path: string,
  opts?: OpOptions,
): Promise<void> {
  return links(runner, host, [{ device, path }], opts);
}

/**
 * Constant script: make $1, write stdin to $2, rename it to $3 (removing $2 on failure); with
 * $4, only when $2 then holds exactly $4 bytes (a stream cut short is never put in place).
 */
const PUT_FILE_SCRIPT = 'mkdir -p -- "$1" || exit 1\n' +
  'if cat > "$2" && { [ -z "$4" ] || [ "$(wc -c < "$2")" -eq "$4" ]; } && ' +
  'mv -f -- "$2" "$3"; then exit 0; fi\nrm -f -- "$2"\nexit 1';

/** putFile options. */
export interface PutFileOptions extends OpOptions {
  /** The byte count `data` must have: anything else leaves the old file (if any) in place. */
  size?: number;
}

/**
 * Write `data` to the file `path` on the host atomically: into a temporary file next to it,
 * then renamed over it (an old symlink there is replaced, never written through). Parent
 * directories are created. A stream should come with its `size`, so that a stream that ends
 * early (its producer failed) leaves nothing behind.
 */
export async function putFile(
  runner: HostRunner,
  host: string,
  path: string,
  data: Uint8Array | string | ReadableStream<Uint8Array>,
  opts: PutFileOptions = {},
): Promise<void> {
  await runner.run(host, putFileArgv(path, opts.size), { ...ro(opts), stdin: data });
}

/**
 * The argv that writes its stdin to `path` the way putFile does (parent directories made, a
 * temporary file next to it renamed over it, removed on failure; with `size`, only when exactly
 * that many bytes came): the receiving side of a stream copied from another host
 * (lib/host/copy.ts).
 */
export function putFileArgv(path: string, size?: number): string[] {
  const p = checkPath(path, "file path");
  const dir = dirname(p);
  const part = `${dir === "/" ? "" : dir}/.${basename(p)}.oneblk-${uniqueId()}`;
  const n = size === undefined ? "" : String(size);
  if (n && !/^\d+$/.test(n)) throw new OneblkError("internal", `invalid size ${n}`);
  return ["sh", "-c", PUT_FILE_SCRIPT, "oneblk-put", dir, part, p, n];
}

/** `rm -f -- path…`, one command for every path (a missing path is fine; a directory is an error). */
export async function unlink(
  runner: HostRunner,
  host: string,
  path: string | readonly string[],
  opts?: OpOptions,
): Promise<void> {
  const paths = typeof path === "string" ? [path] : path;
  if (!paths.length) return;
  await runner.run(host, ["rm", "-f", "--", ...paths.map((p) => checkPath(p))], ro(opts));
}

/** The target of a symlink, or null when `path` is not a symlink (or does not exist). */
export async function readLink(
  runner: HostRunner,
  host: string,
  path: string,
  opts?: OpOptions,
): Promise<string | null> {
  const r = await runner.run(host, ["readlink", "--", checkPath(path)], {
    ...ro(opts),
    okCodes: [0, 1],
  });
  answered(r, "readlink", host, path);
  return r.code === 0 ? r.stdout.replace(/\n$/, "") : null;
}

/**
 * A yes/no command (`test`, `readlink`) says "no" with exit 1 and nothing on stderr; exit 1
 * with a message is a failure (an I/O error, a broken program), never taken as "no": an
 * unknown answer must not become "missing".
 */
export function answered(
  r: { code: number; stderr: string },
  what: string,
  host: string,
  path: string,
): void {
  const msg = r.stderr.trim();
  if (r.code === 1 && msg) {
    throw new OneblkError("host", `${what} ${path} on ${host} failed: ${msg.split("\n")[0]}`);
  }
}

/** True when `path` exists (following symlinks). */
export async function exists(
  runner: HostRunner,
  host: string,
  path: string,
  opts?: OpOptions,
): Promise<boolean> {
  const r = await runner.run(host, ["test", "-e", checkPath(path)], {
    ...ro(opts),
    okCodes: [0, 1],
  });
  answered(r, "test -e", host, path);
  return r.code === 0;
}

/**
 * `rm -rf -- dir`, only for a directory strictly below one of `allowedPrefixes` (e.g. the
 * DATASTORE_LOCATION); refuses `/`, the prefixes themselves and anything outside them.
 */
export async function removeDir(
  runner: HostRunner,
  host: string,
  dir: string,
  allowedPrefixes: readonly string[],
  opts?: OpOptions,
): Promise<void> {
  await runner.run(host, ["rm", "-rf", "--", removableDir(dir, allowedPrefixes)], ro(opts));
}

/**
 * `dir` (checked, without trailing slashes) when it lies strictly below one of
 * `allowedPrefixes`, the only directories a removal may happen in; throws (kind input) otherwise.
 */
export function removableDir(dir: string, allowedPrefixes: readonly string[]): string {
  const d = checkPath(dir, "directory").replace(/\/+$/, "");
  const under = allowedPrefixes.some((pre) => {
    if (!pre.startsWith("/")) return false;
    const p = normalize(pre).replace(/\/+$/, "");
    return p !== "" && d.startsWith(p + "/");
  });
  if (d === "" || !under) {
    throw new OneblkError(
      "input",
      `refusing to remove ${dir || "/"}: not below ${allowedPrefixes.join(", ") || "(none)"}`,
    );
  }
  return d;
}

/** Constant script: wait until $1 exists, polling every 0.1 s at most $2 times. */
export const WAIT_PATH_SCRIPT =
  'p=$1; n=$2; while [ ! -e "$p" ]; do [ "$n" -gt 0 ] || exit 1; sleep 0.1; n=$((n-1)); done';

/** Wait (on the host, one round trip) until `path` exists; false when it did not appear. */
export async function waitForPath(
  runner: HostRunner,
  host: string,
  path: string,
  timeoutMs: number,
): Promise<boolean> {
  const tries = Math.max(0, Math.ceil(timeoutMs / 100));
  const r = await runner.run(
    host,
    ["sh", "-c", WAIT_PATH_SCRIPT, "oneblk-wait", checkPath(path), String(tries)],
    { timeoutMs: timeoutMs + 10_000, okCodes: [0, 1] },
  );
  return r.code === 0;
}

const FORMAT_RE = /^[a-z0-9_-]{1,32}$/;

function checkFormat(fmt: string, what = "format"): string {
  if (!FORMAT_RE.test(fmt)) throw new OneblkError("input", `invalid ${what} '${fmt}'`);
  return fmt;
}

/** What `qemu-img info` says about an image. */
export interface ImageInfo {
  /** Detected (or given) format: raw, qcow2, vmdk … */
  format: string;
  /** Virtual disk size in bytes. */
  virtualSizeBytes: number;
  /** Backing file when the image has one (callers importing images should refuse it). */
  backingFile?: string;
}

/**
 * `qemu-img info -U --output=json [-f format] path`. Pass `format` when it is known: probing
 * a raw volume written by a guest could report a guest-chosen format.
 */
export async function qemuImgInfo(
  runner: HostRunner,
  host: string,
  path: string,
  opts: OpOptions & { format?: string } = {},
): Promise<ImageInfo> {
  const argv = ["qemu-img", "info", "-U", "--output=json"];
  if (opts.format) argv.push("-f", checkFormat(opts.format));
  argv.push(checkPath(path, "image path"));
  const r = await runner.run(host, argv, ro(opts));
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new OneblkError("host", `qemu-img info on ${host} returned no JSON for ${path}`);
  }
  const format = j["format"], size = j["virtual-size"], backing = j["backing-filename"];
  if (typeof format !== "string" || typeof size !== "number") {
    throw new OneblkError("host", `qemu-img info on ${host} returned unexpected JSON for ${path}`);
  }
  const info: ImageInfo = { format, virtualSizeBytes: size };
  if (typeof backing === "string" && backing) info.backingFile = backing;
  return info;
}

/** Options for qemuImgConvert. */
export interface ConvertOptions extends OpOptions {
  /** Source format (default: probed by qemu-img). */
  srcFormat?: string;
  /** The target exists already (a volume/device): write into it (`-n`) instead of creating it. */
  targetExists?: boolean;
  /**
   * Create the (qcow2) target with this backing file (`-B path -F format`). qemu-img then
   * writes every cluster of the source, zero ranges as qcow2 zero clusters, so nothing reads
   * through to whatever ends up beneath the file.
   */
  backing?: { path: string; format: string };
}

/** `qemu-img convert -q [-f src] -O fmt [-n] [-B backing -F fmt] src dst` */
export async function qemuImgConvert(
  runner: HostRunner,
  host: string,
  src: string,
  dst: string,
  fmt: string,
  opts: ConvertOptions = {},
): Promise<void> {
  const argv = ["qemu-img", "convert", "-q"];
  if (opts.srcFormat) argv.push("-f", checkFormat(opts.srcFormat));
  argv.push("-O", checkFormat(fmt));
  if (opts.targetExists) argv.push("-n");
  if (opts.backing) {
    argv.push("-B", checkPath(opts.backing.path, "backing image"));
    argv.push("-F", checkFormat(opts.backing.format, "backing format"));
  }
  argv.push(checkPath(src, "source image"), checkPath(dst, "target image"));
  await runner.run(host, argv, ro(opts));
}

/**
 * `qemu-img create -q -f qcow2 -F <format> -b <backing> file`: an empty qcow2 overlay of
 * `backing` (same virtual size), every cluster reading through to it.
 */
export async function qemuImgOverlay(
  runner: HostRunner,
  host: string,
  file: string,
  backing: { path: string; format: string },
  opts?: OpOptions,
): Promise<void> {
  await runner.run(host, [
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "-F",
    checkFormat(backing.format, "backing format"),
    "-b",
    checkPath(backing.path, "backing image"),
    checkPath(file, "qcow2 file"),
  ], ro(opts));
}

/**
 * `qemu-img rebase -q -f qcow2 …` of the qcow2 `file` onto `backing`, or onto nothing (null).
 * Safe mode (default) compares the old and the new backing cluster by cluster and writes into
 * `file` every cluster whose content differs, so what the file reads stays the same; `unsafe`
 * (`-u`) only rewrites the backing reference.
 */
export async function qemuImgRebase(
  runner: HostRunner,
  host: string,
  file: string,
  backing: { path: string; format: string } | null,
  opts: OpOptions & { unsafe?: boolean } = {},
): Promise<void> {
  const argv = ["qemu-img", "rebase", "-q", "-f", "qcow2"];
  if (opts.unsafe) argv.push("-u");
  if (backing) {
    argv.push("-F", checkFormat(backing.format, "backing format"));
    argv.push("-b", checkPath(backing.path, "backing image"));
  } else argv.push("-b", "");
  argv.push(checkPath(file, "qcow2 file"));
  await runner.run(host, argv, ro(opts));
}

/** `qemu-img check -q -f <format> file`: fails unless the image's metadata is consistent. */
export async function qemuImgCheck(
  runner: HostRunner,
  host: string,
  file: string,
  format: string,
  opts?: OpOptions,
): Promise<void> {
  await runner.run(
    host,
    ["qemu-img", "check", "-q", "-f", checkFormat(format), checkPath(file, "image path")],
    ro(opts),
  );
}

/** One extent of `qemu-img map --output=json`. */
export interface MapExtent {
  start: number;
  length: number;
  /** Layer the extent comes from (0 = the image itself). */
  depth: number;
  /** Read from some layer (false: unallocated in every layer). */
  present: boolean;
  zero: boolean;
  data: boolean;
}

/** `qemu-img map --output=json -f <format> file`: where the image's data lives. */
export async function qemuImgMap(
  runner: HostRunner,
  host: string,
  file: string,
  opts: OpOptions & { format?: string } = {},
): Promise<MapExtent[]> {
  const argv = ["qemu-img", "map", "--output=json"];
  if (opts.format) argv.push("-f", checkFormat(opts.format));
  argv.push(checkPath(file, "image path"));
  const r = await runner.run(host, argv, ro(opts));
  let j: unknown;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new OneblkError("host", `qemu-img map on ${host} returned no JSON for ${file}`);
  }
  if (!Array.isArray(j)) {
    throw new OneblkError("host", `qemu-img map on ${host} returned unexpected JSON for ${file}`);
  }
  return j.map((e) => ({
    start: Number(e.start),
    length: Number(e.length),
    depth: Number(e.depth),
    present: e.present !== false,
    zero: e.zero === true,
    data: e.data === true,
  }));
}

/** `qemu-img resize -q [-f format] path <size>M` (grow only; `bytes`: the size is in bytes). */
export async function qemuImgResize(
  runner: HostRunner,
  host: string,
  path: string,
  sizeMiB: number,
  opts: OpOptions & { format?: string; bytes?: boolean } = {},
): Promise<void> {
  if (!Number.isSafeInteger(sizeMiB) || sizeMiB <= 0) {
    throw new OneblkError("input", `invalid size ${sizeMiB} ${opts.bytes ? "bytes" : "MiB"}`);
  }
  const argv = ["qemu-img", "resize", "-q"];
  if (opts.format) argv.push("-f", checkFormat(opts.format));
  argv.push(checkPath(path, "image path"), opts.bytes ? String(sizeMiB) : `${sizeMiB}M`);
  await runner.run(host, argv, ro(opts));
}

/** Options for mkfs. */
export interface MkfsOptions extends OpOptions {
  /** Filesystem label. */
  label?: string;
  /** Extra arguments for the mkfs program (e.g. from a datastore setting). */
  extraArgs?: string[];
}

/** The argv that makes filesystem `fs` ("ext4", "xfs", "swap", …) on `device`. */
export function mkfsArgv(device: string, fs: string, opts: MkfsOptions = {}): string[] {
  const dev = checkPath(device, "device");
  const f = checkFormat(fs, "filesystem");
  const label = opts.label;
  const extra = opts.extraArgs ?? [];
  if (f === "swap") return ["mkswap", ...(label ? ["-L", label] : []), ...extra, dev];
  if (/^ext[234]$/.test(f)) {
    // -F: the target may be a plain file (simulation, file-backed volumes)
    return [`mkfs.${f}`, "-F", "-q", ...(label ? ["-L", label] : []), ...extra, dev];
  }
  if (f === "xfs" || f === "btrfs") {
    return [`mkfs.${f}`, "-f", "-q", ...(label ? ["-L", label] : []), ...extra, dev];
  }
  if (f === "vfat" || f === "fat") {
    return ["mkfs.vfat", ...(label ? ["-n", label] : []), ...extra, dev];
  }
  return [`mkfs.${f}`, ...extra, dev];
}

/** Make a filesystem (or swap) on `device`. */
export async function mkfs(
  runner: HostRunner,
  host: string,
  device: string,
  fs: string,
  opts: MkfsOptions = {},
): Promise<void> {
  await runner.run(host, mkfsArgv(device, fs, opts), ro(opts));
}

/** What makeQcow2 builds. */
export interface Qcow2Spec {
  /** The qcow2 file to write. */
  qcow2: string;
  /** Raw scratch file the filesystem is made in first (only used with `fs`). */
  raw: string;
  /** Virtual size in MiB. */
  sizeMiB: number;
  /** Filesystem to make inside ("" or unset: an empty image). */
  fs?: string;
  /** Extra arguments for the mkfs program. */
  fsArgs?: string[];
}

/**
 * Make a qcow2 image file on the host: empty (`qemu-img create`), or holding a new filesystem
 * made in a sparse raw scratch file and converted. The caller removes both files.
 */
export async function makeQcow2(
  runner: HostRunner,
  host: string,
  spec: Qcow2Spec,
  opts?: OpOptions,
): Promise<void> {
  const size = `${spec.sizeMiB}M`;
  if (!spec.fs) {
    await runner.run(
      host,
      ["qemu-img", "create", "-q", "-f", "qcow2", checkPath(spec.qcow2, "qcow2 file"), size],
      ro(opts),
    );
    return;
  }
  await runner.run(host, ["truncate", "-s", size, checkPath(spec.raw, "scratch file")], ro(opts));
  await mkfs(runner, host, spec.raw, spec.fs, { ...ro(opts), extraArgs: spec.fsArgs });
  await qemuImgConvert(runner, host, spec.raw, spec.qcow2, "qcow2", {
    ...ro(opts),
    srcFormat: "raw",
  });
}

/** dd options. */
export interface DdOptions {
  /** Block size (`bs=`), e.g. "1M", "64K" (default "1M"). */
  blockSize?: string;
  /** O_DIRECT on the device side. */
  direct?: boolean;
}

/** dd write options. */
export interface DdWriteOptions extends DdOptions {
  /** Skip writing all-zero blocks (`conv=sparse`, default true): only for targets that read as
   *  zeros (new thin volumes). */
  sparse?: boolean;
  /** Flush to the device before exiting (`conv=fsync`, default true). */
  fsync?: boolean;
}

function checkBs(bs: string): string {
  if (!/^[1-9][0-9]{0,9}[kKMG]?$/.test(bs)) {
    throw new OneblkError("input", `invalid dd block size '${bs}'`);
  }
  return bs;
}

/**
 * argv that writes stdin into `device` without truncating it:
 * `dd of=<device> bs=… iflag=fullblock conv=notrunc[,sparse][,fsync] [oflag=direct] status=none`.
 */
export function ddWriteArgv(device: string, opts: DdWriteOptions = {}): string[] {
  const conv = ["notrunc"];
  if (opts.sparse ?? true) conv.push("sparse");
  if (opts.fsync ?? true) conv.push("fsync");
  return [
    "dd",
    `of=${checkPath(device, "device")}`,
    `bs=${checkBs(opts.blockSize ?? "1M")}`,
    "iflag=fullblock",
    `conv=${conv.join(",")}`,
    ...(opts.direct ? ["oflag=direct"] : []),
    "status=none",
  ];
}

/**
 * argv that copies file `src` whole into `device` (zero runs included, device not truncated):
 * `dd if=<src>` with ddWriteArgv's output side, sparse off.
 */
export function ddFileArgv(src: string, device: string, opts: DdWriteOptions = {}): string[] {
  return [
    "dd",
    `if=${checkPath(src, "source file")}`,
    ...ddWriteArgv(device, { ...opts, sparse: false }).slice(1),
  ];
}

/** SHA-256 (hex) of a file or device's content. */
export async function sha256(
  runner: HostRunner,
  host: string,
  path: string,
  opts?: OpOptions,
): Promise<string> {
  const r = await runner.run(host, ["sha256sum", "--", checkPath(path)], ro(opts));
  const m = /^\\?([0-9a-f]{64})\s/.exec(r.stdout);
  if (!m) throw new OneblkError("host", `sha256sum on ${host} gave no digest for ${path}`);
  return m[1];
}

/** Constant script: the size in bytes of a block device, or of a plain file; exit 3 if none. */
export const SIZE_SCRIPT = 'if [ -b "$1" ]; then exec blockdev --getsize64 "$1"; fi\n' +
  'if [ -f "$1" ]; then exec stat -L -c %s -- "$1"; fi\nexit 3';

/**
 * Size in bytes of `path` on the host: `blockdev --getsize64` of a block device (a plain file,
 * as a simulated host's devices are, gives its length); null when there is neither.
 */
export async function deviceSize(
  runner: HostRunner,
  host: string,
  path: string,
  opts?: OpOptions,
): Promise<number | null> {
  const r = await runner.run(
    host,
    ["sh", "-c", SIZE_SCRIPT, "oneblk-size", checkPath(path, "device")],
    { ...ro(opts), okCodes: [0, 3] },
  );
  if (r.code === 3) return null;
  const t = r.stdout.trim();
  if (!/^\d+$/.test(t)) {
    throw new OneblkError(
      "host",
      `size of ${path} on ${host}: unexpected output ${JSON.stringify(t)}`,
    );
  }
  return Number(t);
}

/** Constant script: print a regular file; exit 3 when there is none. */
const CAT_SCRIPT = '[ -f "$1" ] || exit 3\nexec cat -- "$1"';

/** The text of file `path` on the host, or null when it does not exist. */
export async function readTextFile(
  runner: HostRunner,
  host: string,
  path: string,
  opts?: OpOptions,
): Promise<string | null> {
  const r = await runner.run(
    host,
    ["sh", "-c", CAT_SCRIPT, "oneblk-cat", checkPath(path, "file path")],
    { ...ro(opts), okCodes: [0, 3] },
  );
  return r.code === 3 ? null : r.stdout;
}

/** Constant script: rename $1 to $2 unless $2 exists (exit 4) or $1 is missing (exit 3). */
const MOVE_SCRIPT = '[ -e "$2" ] && exit 4\n[ -e "$1" ] || exit 3\nexec mv -- "$1" "$2"';

/**
 * Rename `from` to `to` on the host, never over an existing `to` (OneblkError "exists"); a
 * missing `from` is OneblkError "not_found".
 */
export async function moveFile(
  runner: HostRunner,
  host: string,
  from: string,
  to: string,
  opts?: OpOptions,
): Promise<void> {
  const r = await runner.run(
    host,
    [
      "sh",
      "-c",
      MOVE_SCRIPT,
      "oneblk-mv",
      checkPath(from, "file path"),
      checkPath(to, "file path"),
    ],
    { ...ro(opts), okCodes: [0, 3, 4] },
  );
  if (r.code === 4) throw new OneblkError("exists", `${to} exists on ${host}`);
  if (r.code === 3) throw new OneblkError("not_found", `${from} does not exist on ${host}`);
}

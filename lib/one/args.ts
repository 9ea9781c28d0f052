/**
 * argv/stdin handling for every way oned (through its Ruby MADs) calls a driver script:
 * the version-proof DS payload (argv ≤6.6, `- id` + stdin 6.6.2 `-i`, stdin ≥6.8), the
 * migrate VM XML (stdin ≥5.10 / argv ≤5.8), raw backup XML, base64 VMM override stdin,
 * `host:path` arguments, transfer-file lines and per-action arity checks.
 */
import { join } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { after } from "../timer.ts";

/** Reads all of stdin as text ("" when there is none). Injected so tests can fake it. */
export type StdinReader = () => Promise<string>;

// ---------------------------------------------------------------------------------------------
// stdin

/** stdin's first read buffer (bytes); it doubles while stdin fills it. */
const STDIN_FIRST = 16 * 1024;

/**
 * Default StdinReader: reads the process's whole stdin as UTF-8. Returns "" when stdin is a
 * terminal. Gives up with OneblkError("timeout") after `timeoutMs` (default 30 s) if the
 * writer never closes the pipe.
 */
export function processStdin(timeoutMs = 30_000): StdinReader {
  return async () => {
    if (Deno.stdin.isTerminal()) return "";
    // Deno.stdin.read, not Deno.stdin.readable: the web-streams machinery costs every action
    // ~3 MiB and ~4 ms to load (measured), and nothing else on a quiet action's path needs it.
    // One buffer, read into until it is full, then doubled: oned's payloads fit the first (a
    // new buffer per read held 64 KiB each, the read of the end included).
    let buf = new Uint8Array(STDIN_FIRST);
    let len = 0;
    let timedOut = false;
    let cancelTimer = () => {};
    const timeout = new Promise<null>((resolve) => {
      cancelTimer = after(timeoutMs, () => {
        timedOut = true;
        resolve(null);
      });
    });
    try {
      for (;;) {
        if (len === buf.length) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf);
          buf = bigger;
        }
        const n = await Promise.race([Deno.stdin.read(buf.subarray(len)), timeout]);
        if (timedOut) {
          throw new OneblkError("timeout", `stdin was not closed within ${timeoutMs} ms`);
        }
        if (n === null) break;
        len += n;
      }
    } finally {
      cancelTimer();
    }
    return decodeUtf8(buf.subarray(0, len), "stdin");
  };
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OneblkError("input", `${what} is not valid UTF-8`);
  }
}

// ---------------------------------------------------------------------------------------------
// base64

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict standard base64 → UTF-8 text. Surrounding whitespace (a trailing newline) is
 * ignored; anything else that is not canonical base64 is OneblkError("input", "… is not valid
 * base64 …").
 */
export function decodeBase64Text(b64: string, what = "payload"): string {
  const s = b64.trim();
  if (!s) throw new OneblkError("input", `${what} is empty`);
  if (s.length % 4 !== 0 || !B64_RE.test(s)) {
    throw new OneblkError(
      "input",
      `${what} is not valid base64 (${s.length} characters starting ${
        JSON.stringify(s.slice(0, 12))
      })`,
    );
  }
  let bytes: Uint8Array;
  try {
    // native (a per-character copy of atob's result costs ~1 ms per 7 KB without the JIT)
    bytes = Uint8Array.fromBase64(s);
  } catch {
    throw new OneblkError("input", `${what} is not valid base64`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OneblkError("input", `${what} does not decode to UTF-8 text`);
  }
}

/** Only 7-bit characters. */
// deno-lint-ignore no-control-regex
const ASCII = /^[\x00-\x7f]*$/;

/** Standard base64 of the UTF-8 bytes of `text`, no line breaks. */
export function encodeBase64Text(text: string): string {
  // ASCII is its own UTF-8: btoa takes it as is (10× faster than encoding: per-VM monitor lines)
  if (ASCII.test(text)) return btoa(text);
  return new TextEncoder().encode(text).toBase64();
}

/**
 * Decode a base64 XML payload and check it looks like XML (first non-blank char `<`).
 * With `allowRaw`, text that already starts with `<` is returned as is.
 */
export function decodeXmlPayload(
  payload: string,
  what: string,
  opts: { allowRaw?: boolean } = {},
): string {
  const t = payload.trim();
  if (opts.allowRaw && t.startsWith("<")) return t;
  const xml = decodeBase64Text(t, what).trim();
  if (!xml.startsWith("<")) {
    throw new OneblkError("input", `${what} does not decode to XML`);
  }
  return xml;
}

// ---------------------------------------------------------------------------------------------
// ids

/** Parse a non-negative integer argument (ids, sizes). OneblkError("input") otherwise. */
export function parseId(s: string | undefined, what: string): number {
  const t = (s ?? "").trim();
  if (!/^\d+$/.test(t)) {
    throw new OneblkError("input", `${what} must be a non-negative integer, got ${quoteArg(s)}`);
  }
  return Number(t);
}

/** Parse an integer argument that may be -1 (snapshot id -1, disk id -1 …). */
export function parseSignedId(s: string | undefined, what: string): number {
  const t = (s ?? "").trim();
  if (!/^-?\d+$/.test(t)) {
    throw new OneblkError("input", `${what} must be an integer, got ${quoteArg(s)}`);
  }
  return Number(t);
}

function quoteArg(s: string | undefined): string {
  if (s === undefined) return "nothing";
  const q = JSON.stringify(s);
  return q.length > 80 ? q.slice(0, 77) + '…"' : q;
}

// ---------------------------------------------------------------------------------------------
// DS payload

/** The decoded DS action payload. */
export interface DsPayload {
  /** Decoded DS_DRIVER_ACTION_DATA XML text (not yet parsed; see parseDsAction). */
  xml: string;
  /** The id argument (image id, datastore id, request id or app id), as given. */
  id: string;
  /** Where the payload came from. */
  style: "argv" | "stdin";
}

/**
 * Read a DS action payload in any OpenNebula version's style (docs/contract.md "Datastore
 * action payload", "Version differences"):
 * - `b64 id` (≤6.6, argv);
 * - `- id` + base64 on stdin (6.6.2/6.6.3 with `-i`);
 * - `id` + base64 on stdin (≥6.7.80).
 * stdin is only read in the stdin styles. Errors are OneblkError("usage") for missing
 * arguments and OneblkError("input") for empty stdin, bad base64 or a bad id.
 */
export async function readDsPayload(
  argv: string[],
  readStdin: StdinReader,
): Promise<DsPayload> {
  if (argv.length === 0 || (argv.length === 1 && argv[0] === "-")) {
    throw new OneblkError("usage", "datastore action expects an id argument (and a payload)");
  }
  let raw: string;
  let id: string;
  let style: DsPayload["style"];
  if (argv.length >= 2 || argv[0] === "-") {
    id = argv[1];
    if (argv[0] === "-") {
      raw = await readStdin();
      style = "stdin";
    } else {
      raw = argv[0];
      style = "argv";
    }
  } else {
    id = argv[0];
    raw = await readStdin();
    style = "stdin";
  }
  parseSignedId(id, "datastore action id");
  if (!raw.trim()) {
    throw new OneblkError(
      "input",
      style === "stdin"
        ? "no driver action on stdin (expected base64 DS_DRIVER_ACTION_DATA)"
        : "empty driver action argument",
    );
  }
  const xml = decodeXmlPayload(raw, `driver action (${style})`);
  return { xml, id: id.trim(), style };
}

/**
 * Read a VMM override's stdin: base64 of the driver message (local `-l` actions) or of the
 * domain XML (deploy). Plain XML is accepted too (host-side save.<tm>/restore.<tm> hooks).
 */
export async function readVmmStdin(readStdin: StdinReader): Promise<string> {
  const raw = await readStdin();
  if (!raw.trim()) {
    throw new OneblkError("input", "no driver message on stdin (expected base64 XML)");
  }
  return decodeXmlPayload(raw, "VMM driver message", { allowRaw: true });
}

// ---------------------------------------------------------------------------------------------
// host:path

const HOST_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Validate a host name (letters, digits, `.`, `-`, `_`); OneblkError("input") otherwise. */
export function validateHost(host: string, context?: string): string {
  if (host.length === 0 || host.length > 253 || !HOST_RE.test(host)) {
    const where = context ? ` in ${quoteArg(context)}` : "";
    throw new OneblkError("input", `invalid host name ${quoteArg(host)}${where}`);
  }
  return host;
}

/** Collapse repeated slashes and drop a trailing slash (for comparisons only). */
export function normPath(p: string): string {
  const s = p.replace(/\/{2,}/g, "/");
  return s.length > 1 && s.endsWith("/") ? s.slice(0, -1) : s;
}

/** Disk id of a `…/disk.<i>` path, or null (VM directory or anything else). */
export function diskIdFromPath(p: string): number | null {
  const m = /\/disk\.(\d+)$/.exec(normPath(p));
  return m ? Number(m[1]) : null;
}

/** The VM directory of a `DIR/disk.i` path (original spelling kept), or the path itself. */
export function vmDirOf(p: string): string {
  const trimmed = p.length > 1 ? p.replace(/\/+$/, "") : p;
  return diskIdFromPath(trimmed) === null ? trimmed : trimmed.replace(/\/+disk\.\d+$/, "");
}

/** A split `host:path` argument. */
export interface HostPath {
  /** Host name (validated). */
  host: string;
  /** Path exactly as given (use it for symlinks and messages). */
  path: string;
  /** Path with `//` collapsed and no trailing `/` (use it for comparisons). */
  norm: string;
  /** Disk id when the path ends in `/disk.<i>`, else null. */
  diskId: number | null;
  /** VM directory (the path without `/disk.<i>`), original spelling. */
  vmDir: string;
}

/**
 * Split `host:path` at the first `:`. The host must be a plain host name; the path must be
 * non-empty and free of control characters. With `absolute`, the path must also be absolute
 * and contain no `..` segment (use it for VM directories and disk paths).
 */
export function splitHostPath(arg: string, opts: { absolute?: boolean } = {}): HostPath {
  const i = arg.indexOf(":");
  if (i < 0) {
    throw new OneblkError("input", `expected host:path, got ${quoteArg(arg)}`);
  }
  const host = validateHost(arg.slice(0, i), arg);
  const path = arg.slice(i + 1);
  checkPath(path, arg, opts.absolute ?? false);
  return { host, path, norm: normPath(path), diskId: diskIdFromPath(path), vmDir: vmDirOf(path) };
}

function checkPath(path: string, context: string, absolute: boolean): void {
  // deno-lint-ignore no-control-regex
  if (path === "" || /[\x00-\x1f\x7f]/.test(path)) {
    throw new OneblkError("input", `invalid path in ${quoteArg(context)}`);
  }
  if (absolute) {
    if (!path.startsWith("/")) {
      throw new OneblkError("input", `path must be absolute in ${quoteArg(context)}`);
    }
    if (path.split("/").includes("..")) {
      throw new OneblkError("input", `path must not contain '..' in ${quoteArg(context)}`);
    }
  }
}

/** A VM directory `<DATASTORE_LOCATION>/<sys_ds_id>/<vmid>` split into its parts. */
export interface VmDirInfo {
  /** DATASTORE_LOCATION part (normalised). */
  location: string;
  sysDsId: number;
  vmId: number;
}

/** Parse `…/<ds>/<vm>[/disk.i]`; null when the path does not end that way. */
export function vmDirInfo(p: string): VmDirInfo | null {
  const dir = normPath(vmDirOf(p));
  const m = /^(.*)\/(\d+)\/(\d+)$/.exec(dir);
  return m ? { location: m[1] || "/", sysDsId: Number(m[2]), vmId: Number(m[3]) } : null;
}

/** join that keeps the caller's spelling otherwise (helper for DIR/disk.i paths). */
export function diskPath(vmDir: string, diskId: number): string {
  return join(vmDir, `disk.${diskId}`);
}

// ---------------------------------------------------------------------------------------------
// arity

/** Action kinds with argv contracts. */
export type ActionKind = "tm" | "ds" | "vmm";

/** Expected argv of one action. */
export interface AritySpec {
  min: number;
  max: number;
  /** Argument names for messages. */
  usage: string;
}

const a = (min: number, max: number, usage: string): AritySpec => ({ min, max, usage });
const DS_ID_ARGS = a(1, 2, "id | b64 id | - id");
const SNAP_ARGS = a(4, 4, "host:DIR/disk.i snap_id vmid dsid");
const MIGRATE_ARGS = a(5, 7, "src_host dst_host DIR vmid dsid [b64_vm (≤5.8)] [caller_tm]");
const BACKUP_ARGS = a(5, 6, "host:DIR disk_ids deploy_id [bj_id] vmid dsid");

/** argv contract of every TM, DS and VMM-override action (docs/contract.md, per action). */
export const ARITY: Readonly<Record<ActionKind, Readonly<Record<string, AritySpec>>>> = {
  tm: {
    clone: a(4, 4, "fe:SOURCE host:DIR/disk.i vmid dsid"),
    ln: a(4, 4, "fe:SOURCE host:DIR/disk.i vmid dsid"),
    mkswap: a(4, 4, "size host:DIR/disk.i vmid dsid"),
    mkimage: a(5, 5, "size format host:DIR/disk.i vmid dsid"),
    context: a(4, Infinity, "file... host:DIR/disk.i vmid dsid"),
    mv: a(4, 4, "src_host:PATH dst_host:PATH vmid dsid"),
    mvds: a(4, 4, "host:DIR/disk.i SOURCE vmid dsid"),
    cpds: a(5, 5, "host:DIR/disk.i SOURCE snap_id vmid dsid"),
    delete: a(3, 3, "host:PATH vmid dsid"),
    premigrate: MIGRATE_ARGS,
    postmigrate: MIGRATE_ARGS,
    failmigrate: MIGRATE_ARGS,
    snap_create: SNAP_ARGS,
    snap_create_live: SNAP_ARGS,
    snap_delete: SNAP_ARGS,
    snap_revert: SNAP_ARGS,
    resize: a(4, 4, "host:DIR/disk.i size_mb vmid dsid"),
    monitor: DS_ID_ARGS,
    monitor_ds: a(1, 1, "DS_DIR"),
    prebackup: BACKUP_ARGS,
    prebackup_live: BACKUP_ARGS,
    postbackup: BACKUP_ARGS,
    postbackup_live: BACKUP_ARGS,
    restore: a(5, 5, "host:DIR vmid img_id inc_id disk_id"),
  },
  ds: {
    stat: DS_ID_ARGS,
    cp: DS_ID_ARGS,
    mkfs: DS_ID_ARGS,
    clone: DS_ID_ARGS,
    rm: DS_ID_ARGS,
    monitor: DS_ID_ARGS,
    snap_delete: DS_ID_ARGS,
    snap_revert: DS_ID_ARGS,
    snap_flatten: DS_ID_ARGS,
    export: DS_ID_ARGS,
    restore: DS_ID_ARGS,
    increment_flatten: DS_ID_ARGS,
    backup: a(5, 6, "host:DIR disk_ids deploy_id [bj_id] vmid dsid"),
    backup_cancel: a(5, 6, "host:DIR disk_ids deploy_id [bj_id] vmid dsid"),
    ls: a(2, 2, "-i inc_id"),
  },
  vmm: {
    save: a(5, 5, "deploy_id checkpoint_file host vmid host"),
    restore: a(5, 5, "checkpoint_file host deploy_id vmid host"),
    deploy: a(4, 4, "local_deployment_file host vmid host"),
    attach_disk: a(7, 7, "deploy_id disk_path target target_index b64_drv_msg vmid host"),
    detach_disk: a(6, 6, "deploy_id disk_path target target_index vmid host"),
    migrate: a(5, 5, "deploy_id dst_host src_host vmid host"),
    snapshotcreate: a(4, 4, "deploy_id snap_id vmid host"),
    snapshotrevert: a(4, 4, "deploy_id snap_id vmid host"),
    snapshotdelete: a(4, 4, "deploy_id snap_id vmid host"),
  },
};

/** Action name without the `.sys` suffix (`clone.ssh` → `clone`), lower-cased. */
export function baseAction(action: string): string {
  const l = action.toLowerCase();
  const dot = l.indexOf(".");
  return dot > 0 ? l.slice(0, dot) : l;
}

/** The AritySpec of an action; OneblkError("usage") for unknown actions. */
export function aritySpec(kind: ActionKind, action: string): AritySpec {
  const spec = ARITY[kind]?.[baseAction(action)];
  if (!spec) throw new OneblkError("usage", `unknown ${kind} action ${quoteArg(action)}`);
  return spec;
}

/**
 * Check argv length against the action's contract. Throws OneblkError("usage",
 * "tm clone expects 4 arguments (fe:SOURCE host:DIR/disk.i vmid dsid), got 2").
 */
export function checkArity(kind: ActionKind, action: string, argv: string[]): void {
  const spec = aritySpec(kind, action);
  const n = argv.length;
  if (n >= spec.min && n <= spec.max) return;
  const plural = (k: number) => (k === 1 ? "argument" : "arguments");
  const want = spec.min === spec.max
    ? `${spec.min} ${plural(spec.min)}`
    : spec.max === Infinity
    ? `at least ${spec.min} ${plural(spec.min)}`
    : `${spec.min} to ${spec.max} arguments`;
  throw new OneblkError(
    "usage",
    `${kind} ${baseAction(action)} expects ${want} (${spec.usage}), got ${n}`,
  );
}

// ---------------------------------------------------------------------------------------------
// TM argv

/**
 * The VM a TM action's argv names, for its progress lines (docs/contract.md "Results, errors
 * and logging"), or undefined: `restore host:DIR vmid …` has it second, the migrate steps
 * (`src dst DIR vmid dsid [caller_tm]`) fourth, monitor and monitor_ds none, every other TM
 * action next to last.
 */
export function tmVmId(action: string, argv: string[]): number | undefined {
  const base = baseAction(action);
  const word = base === "restore"
    ? argv[1]
    : ["premigrate", "postmigrate", "failmigrate"].includes(base)
    ? argv[3]
    : ["monitor", "monitor_ds"].includes(base)
    ? undefined
    : argv.at(-2);
  const n = Number(word);
  return word !== undefined && /^\d+$/.test(word) && Number.isSafeInteger(n) ? n : undefined;
}

/** Named TM arguments. Which fields are set depends on the action (see parseTmArgs). */
export interface TmArgs {
  /** Base action (clone, ln, mv, …). */
  action: string;
  vmId: number;
  dsId: number;
  /** clone/ln: `fe:SOURCE`; mv: source side. */
  src?: HostPath;
  /** The `host:DIR/disk.i` or `host:DIR` the action works on (mv: destination). */
  dst?: HostPath;
  /** mvds/cpds: SOURCE (no host prefix). */
  source?: string;
  /** mkswap/mkimage/resize: size in MB. */
  size?: number;
  /** mkimage: format (≤5.12: filesystem type). */
  format?: string;
  /** snap_*, cpds: snapshot id (cpds: -1 = current state). */
  snapId?: number;
  /** context: files to put into the ISO (`path` or `path:'name'`). */
  files?: string[];
}

/**
 * Check arity and name the arguments of a TM action (not monitor, monitor_ds, the migrate
 * family, backup family or restore: use readMigrateArgs, readBackupArgs, parseRestoreArgs).
 */
export function parseTmArgs(action: string, argv: string[]): TmArgs {
  const base = baseAction(action);
  checkArity("tm", base, argv);
  const ids = (k: number) => ({
    vmId: parseId(argv[k], "vmid"),
    dsId: parseId(argv[k + 1], "dsid"),
  });
  const abs = { absolute: true };
  switch (base) {
    case "clone":
    case "ln":
      return {
        action: base,
        src: splitHostPath(argv[0]),
        dst: splitHostPath(argv[1], abs),
        ...ids(2),
      };
    case "mkswap":
      return {
        action: base,
        size: parseId(argv[0], "size"),
        dst: splitHostPath(argv[1], abs),
        ...ids(2),
      };
    case "mkimage":
      return {
        action: base,
        size: parseId(argv[0], "size"),
        format: argv[1],
        dst: splitHostPath(argv[2], abs),
        ...ids(3),
      };
    case "context": {
      const n = argv.length;
      return {
        action: base,
        files: argv.slice(0, n - 3),
        dst: splitHostPath(argv[n - 3], abs),
        ...ids(n - 2),
      };
    }
    case "mv":
      return {
        action: base,
        src: splitHostPath(argv[0], abs),
        dst: splitHostPath(argv[1], abs),
        ...ids(2),
      };
    case "mvds":
      return { action: base, dst: splitHostPath(argv[0], abs), source: argv[1], ...ids(2) };
    case "cpds":
      return {
        action: base,
        dst: splitHostPath(argv[0], abs),
        source: argv[1],
        snapId: parseSignedId(argv[2], "snap_id"),
        ...ids(3),
      };
    case "delete":
      return { action: base, dst: splitHostPath(argv[0], abs), ...ids(1) };
    case "snap_create":
    case "snap_create_live":
    case "snap_delete":
    case "snap_revert":
      return {
        action: base,
        dst: splitHostPath(argv[0], abs),
        snapId: parseId(argv[1], "snap_id"),
        ...ids(2),
      };
    case "resize":
      return {
        action: base,
        dst: splitHostPath(argv[0], abs),
        size: parseId(argv[1], "size"),
        ...ids(2),
      };
    default:
      throw new OneblkError("usage", `parseTmArgs does not handle tm ${base}`);
  }
}

/** Arguments of pre/post/failmigrate. */
export interface MigrateArgs {
  srcHost: string;
  dstHost: string;
  /** VM directory as given. */
  dir: string;
  vmId: number;
  dsId: number;
  /** Name of the system TM that forwarded the call (do not forward again), or null. */
  callerTm: string | null;
  /** Decoded `<VM>` XML, or null when none was passed (fetch it with one.vm.info). */
  vmXml: string | null;
  /** Where the VM XML came from. */
  vmSource: "stdin" | "argv" | "none";
}

/**
 * Read pre/post/failmigrate arguments (docs/contract.md "tm migrate", "Version differences").
 * The VM XML is base64 on stdin (≥5.10) or argv[5] (≤5.8); the caller-TM argument is then
 * argv[5] (≥5.10) or argv[6] (≤5.8). Detection does not need the version: argv[5] counts as the VM only when it
 * decodes to XML.
 */
export async function readMigrateArgs(
  action: string,
  argv: string[],
  readStdin: StdinReader,
): Promise<MigrateArgs> {
  checkArity("tm", action, argv);
  const srcHost = validateHost(argv[0]);
  const dstHost = validateHost(argv[1]);
  const dir = argv[2];
  checkPath(dir, dir, true);
  const vmId = parseId(argv[3], "vmid");
  const dsId = parseId(argv[4], "dsid");
  const stdin = (await readStdin()).trim();
  let vmXml: string | null = null;
  let vmSource: MigrateArgs["vmSource"] = "none";
  let rest = argv.slice(5);
  if (stdin) {
    vmXml = decodeXmlPayload(stdin, "migrate VM XML (stdin)", { allowRaw: true });
    vmSource = "stdin";
  } else if (rest.length > 0 && looksLikeB64Xml(rest[0])) {
    vmXml = decodeXmlPayload(rest[0], "migrate VM XML (argv)");
    vmSource = "argv";
    rest = rest.slice(1);
  }
  if (rest.length > 1) {
    throw new OneblkError("usage", `tm ${baseAction(action)}: unexpected extra arguments`);
  }
  const callerTm = rest[0] ?? null;
  if (callerTm !== null && !/^[A-Za-z0-9_.-]+$/.test(callerTm)) {
    throw new OneblkError("input", `invalid caller TM name ${quoteArg(callerTm)}`);
  }
  return { srcHost, dstHost, dir, vmId, dsId, callerTm, vmXml, vmSource };
}

function looksLikeB64Xml(s: string): boolean {
  if (s.length < 8 || s.length % 4 !== 0 || !B64_RE.test(s)) return false;
  try {
    return atob(s.slice(0, 8)).trimStart().startsWith("<");
  } catch {
    return false;
  }
}

/** Arguments of prebackup/postbackup[_live] (and DS backup/backup_cancel). */
export interface BackupArgs {
  host: string;
  dir: string;
  diskIds: number[];
  deployId: string;
  /** Backup job id (6.8+), null when absent or `-`. */
  bjId: string | null;
  vmId: number;
  dsId: number;
  /** Raw `<VM>` XML from stdin (TM), or the raw DS_DRIVER_ACTION_DATA (DS backup); null if none. */
  xml: string | null;
}

/**
 * Read `host:DIR d0:d1 deploy_id [bj_id|-] vmid dsid` plus raw XML on stdin (backup steps).
 */
export async function readBackupArgs(
  kind: "tm" | "ds",
  action: string,
  argv: string[],
  readStdin: StdinReader,
): Promise<BackupArgs> {
  checkArity(kind, action, argv);
  const hp = splitHostPath(argv[0], { absolute: true });
  const diskIds = argv[1].split(":").filter((s) => s !== "").map((s) => parseId(s, "disk id"));
  const deployId = argv[2];
  const bj = argv.length === 6 ? argv[3] : null;
  const vmId = parseId(argv[argv.length - 2], "vmid");
  const dsId = parseId(argv[argv.length - 1], "dsid");
  const t = (await readStdin()).trim();
  if (t && !t.startsWith("<")) throw new OneblkError("input", "backup XML on stdin is not XML");
  return {
    host: hp.host,
    dir: hp.path,
    diskIds,
    deployId,
    bjId: bj === null || bj === "-" ? null : bj,
    vmId,
    dsId,
    xml: t || null,
  };
}

/** Arguments of TM restore: `host:DIR vmid img_id inc_id disk_id`. */
export interface RestoreArgs {
  dst: HostPath;
  vmId: number;
  imageId: number;
  /** Increment id, -1 for the last one. */
  incrementId: number;
  /** Disk id, -1 for all disks. */
  diskId: number;
}

/** Parse TM restore arguments. */
export function parseRestoreArgs(argv: string[]): RestoreArgs {
  checkArity("tm", "restore", argv);
  return {
    dst: splitHostPath(argv[0], { absolute: true }),
    vmId: parseId(argv[1], "vmid"),
    imageId: parseId(argv[2], "img_id"),
    incrementId: parseSignedId(argv[3], "inc_id"),
    diskId: parseSignedId(argv[4], "disk_id"),
  };
}

// ---------------------------------------------------------------------------------------------
// transfer files

/** One line of a transfer file / TM_COMMAND. */
export interface TransferLine {
  /** Operation as written (`CLONE`, `MV`, …; without the `.sys` suffix), upper-case. */
  op: string;
  /** Script name one_tm.rb looks for first (`clone.ssh`), lower-case. */
  script: string;
  /** Base action (`clone`). */
  action: string;
  /** The `.sys` suffix (system TM) or null. */
  sysTm: string | null;
  /** TM_MAD that runs it. */
  tm: string;
  /** Arguments passed to the script. */
  args: string[];
}

/**
 * Parse one transfer-file line (`CLONE.ssh linstor fe:SRC host:DIR/disk.0 7 100`), split on
 * blanks like one_tm.rb. Returns null for blank and comment lines.
 */
export function parseTransferLine(line: string): TransferLine | null {
  const t = line.trim();
  if (!t || t.startsWith("#")) return null;
  const words = t.split(/\s+/);
  if (words.length < 2) {
    throw new OneblkError("input", `transfer line has no TM_MAD: ${quoteArg(t)}`);
  }
  const [cmd, tm, ...args] = words;
  const dot = cmd.indexOf(".");
  return {
    op: (dot > 0 ? cmd.slice(0, dot) : cmd).toUpperCase(),
    script: cmd.toLowerCase(),
    action: baseAction(cmd),
    sysTm: dot > 0 ? cmd.slice(dot + 1) : null,
    tm,
    args,
  };
}

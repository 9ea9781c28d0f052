/**
 * `oneblk install` / `oneblk uninstall`: the remotes tree of symlinks and the oned.conf text.
 *
 * install creates `<remotes>/<kind>/<driver>/<action>` (VMM overrides: `<remotes>/vmm/kvm/<name>`)
 * as symlinks to one binary, or with `stubs` as tiny bash scripts that run it under their own
 * name (`onehost sync` follows symlinks, so each link would become a full copy of the binary on
 * every host; a stub is a few bytes). A stub is ours when its second line is the marker
 * `# oneblk stub: <bin>`. It is idempotent and careful:
 *  - a link already pointing at the binary, or an identical stub, is "unchanged";
 *  - a link to another oneblk binary (base name `oneblk…`), a stub for another binary, and our
 *    own entry of the other mode (link ↔ stub) are "updated";
 *  - a link pointing anywhere else, or a regular file (an add-on's script), is "skipped" unless
 *    `force`; with `force` a regular file is first kept as `<file>.oneblk-backup-<UTC stamp>`;
 *  - directories in the way are always skipped;
 *  - entries are replaced atomically (written under a temporary name, then renamed);
 *  - `dryRun` reports the same statuses and changes nothing.
 * uninstall removes only symlinks that point at our binary and our stubs (then driver
 * directories left empty), never other files, and lists the backups it finds (not restored).
 *
 * The oned.conf / vmm_execrc text covers TM_MAD_CONF, DS_MAD_CONF, the `-d`/`-s` additions,
 * the VM_MAD `-l` overrides and LIVE_DISK_SNAPSHOTS for the selected drivers, derived from the
 * actions actually installed (docs/contract.md "oned.conf entries"; the rows come from each
 * add-on's file, lib/addons/).
 */
import { basename, dirname, join, relative, resolve } from "../lib/path.ts";
import { OneblkError } from "../lib/errors.ts";
import { addOn, DRIVERS, VMM_OVERRIDES } from "../lib/addons/index.ts";

/** The three directories oned runs drivers from. */
export type InstallKind = "datastore" | "tm" | "vmm";

/**
 * One implemented action to link. Accepts both the registry's listing
 * (`{kind, driver: "kvm", name: "tmsave", profile: "storpool", action: "save"}`) and the short
 * form (`{kind, driver, action}`, where for vmm `action` is the override file name).
 */
export interface InstallAction {
  kind: InstallKind;
  /** Driver directory (datastore/tm), or "kvm" / the driver name for VMM overrides. */
  driver: string;
  /** Logical action ("clone", "save"); the file name when `name` is absent. */
  action: string;
  /** File name ("clone.ssh", "save_linstor_un"); default `action`. */
  name?: string;
  /** Driver (profile) the file belongs to; default `driver` (guessed from the name for kvm). */
  profile?: string;
}

/** install() options. */
export interface InstallOptions {
  /** Remotes directory ($R, e.g. /var/lib/one/remotes). */
  remotes: string;
  /** Drivers to install (default: all of linstor, linstor_un, storpool). */
  drivers?: readonly string[];
  /** Binary the links point to (default: defaultBin()). */
  bin?: string;
  /** Report only; change nothing. */
  dryRun?: boolean;
  /** Replace foreign symlinks and regular files (regular files are backed up first). */
  force?: boolean;
  /** Write small bash stubs that exec the binary instead of symlinks (see stubScript()). */
  stubs?: boolean;
  /** The implemented actions (from the registry). */
  actions: readonly InstallAction[];
  /** Clock for backup names (tests). */
  now?: Date;
}

/** What happened (or, in a dry run, would happen) to one link. */
export type LinkStatus = "created" | "updated" | "unchanged" | "skipped";

/** One link's outcome. */
export interface LinkChange {
  /** Absolute path of the link. */
  path: string;
  /** Path relative to the remotes directory ("tm/linstor/clone"). */
  rel: string;
  kind: InstallKind;
  /** Driver (profile) the link serves. */
  profile: string;
  status: LinkStatus;
  /** Why it was updated or skipped. */
  reason?: string;
  /** Former symlink target, or the binary a replaced stub of ours ran (updated entries). */
  previous?: string;
  /** Backup of a replaced regular file. */
  backup?: string;
}

/** install() result. */
export interface InstallReport {
  remotes: string;
  bin: string;
  drivers: string[];
  dryRun: boolean;
  force: boolean;
  /** Stub mode (true) or symlink mode (false). */
  stubs: boolean;
  links: LinkChange[];
  counts: Record<LinkStatus, number>;
  /** Other files in the datastore/tm driver directories we manage (left alone; oned may run them). */
  foreign: string[];
  /** oned.conf and vmm_execrc text for the selected drivers. */
  onedConf: string;
  /** Human-readable report (links summary + onedConf). */
  text: string;
}

/** uninstall() options. */
export interface UninstallOptions {
  remotes: string;
  /**
   * Only links to this binary and stubs for it are ours; default: links whose target's base name
   * is oneblk…, and every stub carrying the marker.
   */
  bin?: string;
  dryRun?: boolean;
}

/** uninstall() result. */
export interface UninstallReport {
  remotes: string;
  dryRun: boolean;
  /** Removed links and stubs (relative to remotes). */
  removed: string[];
  /** Driver directories removed because they became empty (relative). */
  removedDirs: string[];
  /** `*.oneblk-backup-*` files present (relative); never restored automatically. */
  backups: string[];
  text: string;
}

const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const OURS_RE = /^oneblk([._-][A-Za-z0-9._-]*)?$/;
const BACKUP_TAG = ".oneblk-backup-";

/**
 * The program links point to by default: the launcher this process was started by (it exports
 * its own path as ONEBLK_LAUNCHER, whether it runs the bundle or the sources), else the compiled
 * program, else the launcher beside these sources (`deno run main.ts …`).
 */
export function defaultBin(): string {
  const launcher = Deno.env.get("ONEBLK_LAUNCHER");
  if (launcher) return launcher;
  const exe = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exe))) return exe;
  return decodeURIComponent(new URL("../scripts/oneblk", import.meta.url).pathname);
}

interface Entry {
  kind: InstallKind;
  dir: string;
  file: string;
  profile: string;
  /** VM_MAD -l key for VMM overrides. */
  vmmKey?: string;
  /** Logical action. */
  action: string;
}

/** Code-point order (stable across locales). */
function byCode(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Conventional order of VM_MAD -l keys in the printed snippet. */
const KEY_ORDER = [
  "deploy",
  "save",
  "restore",
  "migrate",
  "attach_disk",
  "detach_disk",
  "resize_disk",
  "snapshotcreate",
  "snapshotrevert",
  "snapshotdelete",
];

function keyRank(k: string): number {
  const i = KEY_ORDER.indexOf(k);
  return i < 0 ? KEY_ORDER.length : i;
}

function entryOf(a: InstallAction): Entry {
  const file = a.name ?? a.action;
  for (const [what, v] of [["file", file], ["driver", a.driver]]) {
    if (!NAME_RE.test(v)) throw new OneblkError("internal", `invalid action ${what} name '${v}'`);
  }
  if (a.kind !== "vmm") {
    return {
      kind: a.kind,
      dir: a.driver,
      file,
      profile: a.profile ?? a.driver,
      action: a.action,
    };
  }
  // An add-on's override file names tell its driver and VM_MAD key (lib/addons/).
  const known = VMM_OVERRIDES[file];
  const profile = a.profile ?? (a.driver !== "kvm" ? a.driver : known?.driver ?? "");
  const vmmKey = a.name && a.name !== a.action ? a.action : known?.action ?? file;
  return { kind: "vmm", dir: "kvm", file, profile, vmmKey: vmmKey.toLowerCase(), action: a.action };
}

function selectDrivers(drivers: readonly string[] | undefined): string[] {
  const all = DRIVERS;
  const sel = drivers?.length ? [...new Set(drivers)] : [...all];
  for (const d of sel) {
    if (!all.includes(d)) {
      throw new OneblkError("usage", `unknown driver '${d}' (known: ${all.join(", ")})`);
    }
  }
  return all.filter((d) => sel.includes(d));
}

async function lstat(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function linkTarget(link: string, target: string): string {
  return resolve(dirname(link), target);
}

async function placeLink(bin: string, path: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.oneblk-tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await Deno.symlink(bin, tmp);
  try {
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** The marker (second line) that identifies a file as a oneblk stub. */
export const STUB_MARKER = "# oneblk stub: ";

/** `s` as one bash word in single quotes. */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The stub that runs `bin` as `<remotes>/<kind>/<driver>/<action>`. A binary gets
 * `exec -a "$0" '<bin>' "$@"`, so its argv[0] stays the stub's path. With `source` (for a bash
 * script such as the dev launcher scripts/oneblk, whose `$0` the kernel would replace by its own
 * path) the stub sources it instead, so it runs with the stub's `$0`.
 */
export function stubScript(bin: string, source = false): string {
  if (/[\n\r]/.test(bin)) throw new OneblkError("config", "binary path contains a line break");
  const run = source ? `. ${shellQuote(bin)} "$@"` : `exec -a "$0" ${shellQuote(bin)} "$@"`;
  return `#!/bin/bash\n${STUB_MARKER}${bin}\n${run}\n`;
}

/** True when `bin` starts with a bash shebang (`#!/bin/bash`, `#!/usr/bin/env bash`). */
async function isBashScript(bin: string): Promise<boolean> {
  const f = await Deno.open(bin, { read: true });
  try {
    const buf = new Uint8Array(256);
    const n = await f.read(buf);
    const first = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\n")[0];
    const m = /^#!\s*(\S+)(?:\s+(\S+))?/.exec(first);
    if (!m) return false;
    const prog = basename(m[1]) === "env" ? m[2] ?? "" : basename(m[1]);
    return prog === "bash";
  } finally {
    f.close();
  }
}

/** A stub of ours at `path`: the binary it runs (marker line) and its text; else undefined. */
export async function readStub(
  path: string,
  st: Deno.FileInfo,
): Promise<{ bin: string; text: string } | undefined> {
  if (!st.isFile || st.size > 4096) return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  const lines = text.split("\n");
  if (!lines[0].startsWith("#!") || !lines[1]?.startsWith(STUB_MARKER)) return undefined;
  return { bin: lines[1].slice(STUB_MARKER.length), text };
}

async function placeStub(text: string, path: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.oneblk-tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text, { createNew: true, mode: 0o755 });
    await Deno.chmod(tmp, 0o755); // whatever the umask
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

async function backupName(path: string, now: Date): Promise<string> {
  const base = `${path}${BACKUP_TAG}${stamp(now)}`;
  let name = base;
  for (let i = 1; await lstat(name); i++) name = `${base}-${i}`;
  return name;
}

async function keepBackup(path: string, backup: string): Promise<void> {
  try {
    await Deno.link(path, backup); // same inode: the original stays in place until the rename
  } catch {
    await Deno.copyFile(path, backup);
  }
}

async function checkBin(bin: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(bin);
  } catch {
    throw new OneblkError("config", `binary ${bin} not found (pass --bin)`);
  }
  if (!st.isFile) throw new OneblkError("config", `binary ${bin} is not a file`);
  if (st.mode !== null && (st.mode & 0o111) === 0) {
    throw new OneblkError("config", `binary ${bin} is not executable`);
  }
}

/** Create or update the remotes symlinks (or stubs) for the selected drivers; see the file header. */
export async function install(opts: InstallOptions): Promise<InstallReport> {
  if (!opts.remotes) throw new OneblkError("usage", "install needs --remotes DIR");
  const remotes = resolve(opts.remotes);
  const bin = resolve(opts.bin ?? defaultBin());
  await checkBin(bin);
  const drivers = selectDrivers(opts.drivers);
  const dryRun = !!opts.dryRun, force = !!opts.force, stubs = !!opts.stubs;
  const now = opts.now ?? new Date();
  const want = stubs ? stubScript(bin, await isBashScript(bin)) : "";
  const place = (path: string) => stubs ? placeStub(want, path) : placeLink(bin, path);

  const seen = new Map<string, Entry>();
  for (const a of opts.actions) {
    const e = entryOf(a);
    if (!drivers.includes(e.profile)) continue;
    seen.set(join(e.kind, e.dir, e.file), e);
  }
  const entries = [...seen.entries()].sort(([a], [b]) => byCode(a, b));

  const links: LinkChange[] = [];
  for (const [rel, e] of entries) {
    const path = join(remotes, rel);
    const c: LinkChange = { path, rel, kind: e.kind, profile: e.profile, status: "unchanged" };
    const st = await lstat(path);
    if (!st) {
      c.status = "created";
      if (!dryRun) await place(path);
    } else if (st.isSymlink) {
      const target = await Deno.readLink(path);
      const abs = linkTarget(path, target);
      const ours = abs === bin || OURS_RE.test(basename(abs));
      if (!stubs && abs === bin) {
        c.status = "unchanged";
      } else if (ours || force) {
        c.status = "updated";
        c.previous = target;
        c.reason = ours ? `was a link to ${target}` : `was a link to ${target} (replaced: --force)`;
        if (!dryRun) await place(path);
      } else {
        c.status = "skipped";
        c.reason = `is a link to ${target}; use --force to replace it`;
      }
    } else if (st.isFile) {
      const stub = await readStub(path, st);
      if (stub) {
        if (stubs && stub.text === want && (st.mode === null || (st.mode & 0o777) === 0o755)) {
          c.status = "unchanged";
        } else {
          c.status = "updated";
          c.previous = stub.bin;
          c.reason = stubs && stub.bin === bin ? "stub rewritten" : `was a stub for ${stub.bin}`;
          if (!dryRun) await place(path);
        }
      } else if (force) {
        c.status = "updated";
        c.backup = await backupName(path, now);
        c.reason = `regular file kept as ${basename(c.backup)}`;
        if (!dryRun) {
          await keepBackup(path, c.backup);
          await place(path);
        }
      } else {
        c.status = "skipped";
        c.reason = "is a regular file; use --force to replace it (a backup is kept)";
      }
    } else {
      c.status = "skipped";
      c.reason = st.isDirectory ? "is a directory" : "is not a regular file or link";
    }
    links.push(c);
  }

  const foreign: string[] = [];
  const ours = new Set(entries.map(([rel]) => rel));
  const dirs = new Set(entries.filter(([, e]) => e.kind !== "vmm").map(([rel]) => dirname(rel)));
  for (const d of [...dirs].sort()) {
    const names: string[] = [];
    try {
      for await (const de of Deno.readDir(join(remotes, d))) names.push(de.name);
    } catch {
      continue;
    }
    for (const n of names.sort()) {
      const rel = join(d, n);
      if (ours.has(rel) || n.includes(BACKUP_TAG) || n.includes(".oneblk-tmp-")) continue;
      foreign.push(rel);
    }
  }

  const counts: Record<LinkStatus, number> = { created: 0, updated: 0, unchanged: 0, skipped: 0 };
  for (const l of links) counts[l.status]++;
  const onedConf = onedConfSnippets(drivers, opts.actions);
  const text = renderInstall({
    remotes,
    bin,
    drivers,
    dryRun,
    stubs,
    links,
    counts,
    foreign,
    onedConf,
  });
  return { remotes, bin, drivers, dryRun, force, stubs, links, counts, foreign, onedConf, text };
}

function renderInstall(r: {
  remotes: string;
  bin: string;
  drivers: string[];
  dryRun: boolean;
  stubs: boolean;
  links: LinkChange[];
  counts: Record<LinkStatus, number>;
  foreign: string[];
  onedConf: string;
}): string {
  const out: string[] = [];
  const verb = (s: LinkStatus) =>
    r.dryRun
      ? ({ created: "create", updated: "update", unchanged: "keep", skipped: "skip" })[s]
      : s;
  out.push(
    `oneblk install${r.dryRun ? " (dry run: nothing changed)" : ""}: ${r.remotes} -> ${r.bin}`,
  );
  out.push(`drivers: ${r.drivers.join(", ")}`);
  if (r.stubs) {
    out.push(`mode: stubs (small bash scripts that run ${r.bin} under their own name)`);
  } else {
    out.push("mode: symlinks");
    out.push(
      "note: onehost sync copies the binary once per link to every host; use --stubs to avoid that",
    );
  }
  for (const l of r.links) {
    if (l.status === "unchanged") continue;
    out.push(`  ${verb(l.status).padEnd(9)} ${l.rel}${l.reason ? `: ${l.reason}` : ""}`);
  }
  const c = r.counts;
  out.push(
    `summary: ${c.created} created, ${c.updated} updated, ${c.unchanged} unchanged, ` +
      `${c.skipped} skipped${r.dryRun ? " (dry run)" : ""}`,
  );
  if (c.skipped) {
    out.push(
      `exit code 3: ${c.skipped} path(s) left as they are (the skip lines): oned runs what is ` +
        "there, not oneblk; --force replaces them, keeping a backup of each file",
    );
  }
  if (r.foreign.length) {
    out.push("other files in the driver directories (left alone; oned still runs them):");
    for (const f of r.foreign) out.push(`  ${f}`);
  }
  out.push("", r.onedConf);
  return out.join("\n");
}

/** `text` as comment lines of at most 100 characters (`next` indents the continuation). */
function commentLines(text: string, first: string, next = first): string[] {
  const out: string[] = [];
  let line = first;
  for (const word of text.split(" ")) {
    const pre = line === first || line === next ? line : `${line} `;
    if (pre.length + word.length > 100 && line !== first && line !== next) {
      out.push(line);
      line = next + word;
    } else line = pre + word;
  }
  out.push(line);
  return out;
}

function block(name: string, lines: readonly string[]): string {
  return `${name} = [\n${lines.map((l) => `    ${l}`).join("\n")} ]`;
}

/**
 * What naming a VMM override in -l changes, per group of VM_MAD actions (printed with the
 * oned.conf text; the overrides are optional). A new override adds its line here.
 */
const OVERRIDE_NOTES: readonly { actions: readonly string[]; text: string }[] = [
  {
    actions: ["deploy"],
    text: "the domain XML gets the store's volatile disks, CDROMs and context ISO as block " +
      "devices (live migration needs no shared filesystem) and deploy-tweaks.d helpers run, " +
      "before the stock deploy starts it",
  },
  {
    actions: ["attach_disk", "detach_disk"],
    text: "hot-plugged store disks are attached as block devices, a CDROM on IDE/SATA by a " +
      "media change",
  },
  {
    actions: ["save", "restore"],
    text: "the memory checkpoint of stop/suspend goes to a volume on the system datastore's " +
      "store instead of a file in the VM directory on the host",
  },
  {
    actions: ["snapshotcreate", "snapshotrevert", "snapshotdelete"],
    text: "VM snapshots become atomic store snapshots of all the VM's disks (set " +
      'KEEP_SNAPSHOTS = "YES" in that VM_MAD); the stock scripts take libvirt snapshots, ' +
      "which raw volumes do not support",
  },
];

/** VM_MAD action → the override files serving it (first: the one to name in -l), in order. */
function vmmOverrideFiles(es: Entry[]): Map<string, { file: string; profile: string }[]> {
  const sel = DRIVERS.filter((d) => es.some((e) => e.profile === d));
  const overrides = new Map<string, { file: string; profile: string }[]>();
  const vmm = es.filter((e) => e.kind === "vmm").sort((a, b) =>
    keyRank(a.vmmKey!) - keyRank(b.vmmKey!) || byCode(a.vmmKey!, b.vmmKey!) ||
    sel.indexOf(a.profile) - sel.indexOf(b.profile) || byCode(a.file, b.file)
  );
  for (const e of vmm) {
    const list = overrides.get(e.vmmKey!) ?? [];
    if (!list.some((x) => x.file === e.file)) list.push({ file: e.file, profile: e.profile });
    overrides.set(e.vmmKey!, list);
  }
  return overrides;
}

/** `save=save_linstor,restore=…`: the VM_MAD -l list naming one file per action. */
function localList(overrides: Map<string, { file: string; profile: string }[]>): string {
  return [...overrides.entries()].map(([k, v]) => `${k}=${v[0].file}`).join(",");
}

/**
 * The VM_MAD `-l` list for `drivers` (one override file per action, as the install text
 * suggests), "" when none of their actions is an override.
 */
export function vmmLocalList(
  drivers: readonly string[],
  actions: readonly InstallAction[],
): string {
  const sel = selectDrivers(drivers);
  return localList(vmmOverrideFiles(actions.map(entryOf).filter((e) => sel.includes(e.profile))));
}

/**
 * oned.conf and vmm_execrc text for `drivers`, derived from the implemented `actions`:
 * `-d` lists get drivers with datastore/tm actions, `-s` those with a tm `monitor`,
 * VM_MAD `-l` the VMM overrides, LIVE_DISK_SNAPSHOTS those with tm `snap_create_live`, a
 * backups note for those with tm `prebackup` and `restore`;
 * TM_MAD_CONF/DS_MAD_CONF blocks are printed for drivers with at least one action.
 */
export function onedConfSnippets(
  drivers: readonly string[],
  actions: readonly InstallAction[],
): string {
  const sel = selectDrivers(drivers);
  const es = actions.map(entryOf).filter((e) => sel.includes(e.profile));
  const has = (d: string, kind: InstallKind, action?: string) =>
    es.some((e) => e.profile === d && e.kind === kind && (!action || e.action === action));
  const tmD = sel.filter((d) => has(d, "tm"));
  const dsD = sel.filter((d) => has(d, "datastore"));
  const dsS = sel.filter((d) => has(d, "tm", "monitor"));
  const live = sel.filter((d) => has(d, "tm", "snap_create_live"));

  const overrides = vmmOverrideFiles(es);
  const out: string[] = [];
  const list = (xs: string[]) => xs.length ? xs.join(",") : "(nothing)";
  out.push(`# ---- /etc/one/oned.conf: oneblk drivers ${sel.join(", ")} ----`);
  out.push(`# TM_MAD ARGUMENTS:         append to the -d list: ${list(tmD)}`);
  out.push(`# DATASTORE_MAD ARGUMENTS:  append to the -d list: ${list(dsD)}`);
  out.push(`#                           append to the -s list: ${list(dsS)}`);
  out.push(`#   (-s: system datastores whose capacity oned reads from tm/<driver>/monitor)`);
  if (overrides.size) {
    out.push(`# VM_MAD (NAME = "kvm") ARGUMENTS, optional: add -l ${localList(overrides)}`);
    out.push(`#   (merge into an existing -l option: one -l, comma-separated)`);
    out.push(
      "#   -l runs these on the front-end, for EVERY VM of that VM_MAD, instead of oned's stock",
      "#   scripts; a VM that is not on oneblk storage is handed to the host's stock script.",
      "#   Leave out what you do not want:",
    );
    const told = new Set<string>();
    for (const k of overrides.keys()) {
      const note = OVERRIDE_NOTES.find((n) => n.actions.includes(k));
      if (!note || told.has(note.text)) continue;
      told.add(note.text);
      const files = note.actions.filter((a) => overrides.has(a));
      out.push(...commentLines(`- ${files.join(", ")}: ${note.text}`, "#   ", "#     "));
    }
    const shared = [...overrides].filter(([, v]) => v.length > 1);
    if (shared.length) {
      const others = [...new Set(shared.flatMap(([, v]) => v.slice(1).map((x) => x.profile)))];
      out.push(...commentLines(
        `One script per action: ${shared.map(([, v]) => v[0].file).join(", ")} also serve ` +
          `the ${others.join(", ")} VMs (the driver is read from each VM); the other drivers' ` +
          "files are installed but not named in -l.",
        "#   ",
      ));
    }
  } else {
    out.push(`# VM_MAD: no -l overrides needed`);
  }
  const limits = [
    ...(overrides.has("snapshotcreate") ? ["VMSNAPSHOT_LIMIT"] : []),
    ...(es.some((e) => e.kind === "tm" && e.action === "snap_create")
      ? ["DISKSNAPSHOT_LIMIT"]
      : []),
  ];
  if (limits.length) {
    out.push("", "# snapshot limits are set by the admin only (users must not raise their own):");
    for (const l of limits) out.push(`VM_RESTRICTED_ATTR = "${l}"`);
  }
  const backups = sel.filter((d) => has(d, "tm", "prebackup") && has(d, "tm", "restore"));
  if (backups.length) {
    out.push(
      "",
      `# backups (${backups.join(", ")} as the system datastore's TM): tm prebackup[_live],`,
      "# postbackup[_live] and restore are installed; keep the backup datastore drivers (rsync,",
      "# restic) in the DATASTORE_MAD -d list. MODE=INCREMENT needs OpenNebula 7.2+; the backup",
      "# directory follows BACKUP_BASE_PATH in $R/etc/datastore/datastore.conf when set.",
    );
  }
  const active = sel.filter((d) => es.some((e) => e.profile === d));
  if (!active.length) {
    out.push("", "# no implemented actions for these drivers: nothing to configure");
  }
  for (const d of active) {
    const a = addOn(d);
    out.push("", block("TM_MAD_CONF", a.tmMadConf));
    for (const n of a.dsMadConf.notes) out.push(`# ${n}`);
    out.push(block("DS_MAD_CONF", a.dsMadConf.lines));
  }
  out.push("", "# ---- /etc/one/vmm_exec/vmm_execrc ----");
  if (live.length) {
    out.push(
      `# append to LIVE_DISK_SNAPSHOTS (space-separated): ${live.map((d) => `kvm-${d}`).join(" ")}`,
    );
  } else {
    out.push("# LIVE_DISK_SNAPSHOTS: no change (no live disk snapshot action installed)");
  }
  out.push(
    "",
    "# Restart oned afterwards. TM_MAD_CONF/DS_MAD_CONF values are copied into a datastore",
    "# when it is created: existing datastores keep theirs.",
  );
  return out.join("\n");
}

/** Remove the remotes symlinks that point at our binary, and our stubs; see the file header. */
export async function uninstall(opts: UninstallOptions): Promise<UninstallReport> {
  if (!opts.remotes) throw new OneblkError("usage", "uninstall needs --remotes DIR");
  const remotes = resolve(opts.remotes);
  const bin = opts.bin ? resolve(opts.bin) : undefined;
  const dryRun = !!opts.dryRun;
  const isOurs = (abs: string) => bin ? abs === bin : OURS_RE.test(basename(abs));

  const dirs: { rel: string; prunable: boolean }[] = [];
  for (const kind of ["datastore", "tm"]) {
    try {
      for await (const de of Deno.readDir(join(remotes, kind))) {
        if (de.isDirectory) dirs.push({ rel: join(kind, de.name), prunable: true });
      }
    } catch {
      // no such kind directory
    }
  }
  dirs.push({ rel: "vmm/kvm", prunable: false });
  dirs.sort((a, b) => byCode(a.rel, b.rel));

  const removed: string[] = [], removedDirs: string[] = [], backups: string[] = [];
  let stubCount = 0;
  for (const d of dirs) {
    const abs = join(remotes, d.rel);
    const names: string[] = [];
    try {
      for await (const de of Deno.readDir(abs)) names.push(de.name);
    } catch {
      continue;
    }
    let left = names.length;
    for (const n of names.sort()) {
      const p = join(abs, n);
      if (n.includes(BACKUP_TAG)) {
        backups.push(relative(remotes, p));
        continue;
      }
      const st = await lstat(p);
      if (st?.isSymlink) {
        if (!isOurs(linkTarget(p, await Deno.readLink(p)))) continue;
      } else if (st?.isFile) {
        const stub = await readStub(p, st);
        if (!stub || (bin && resolve(stub.bin) !== bin)) continue;
        stubCount++;
      } else {
        continue;
      }
      removed.push(relative(remotes, p));
      left--;
      if (!dryRun) await Deno.remove(p);
    }
    if (d.prunable && left === 0 && names.length > 0) {
      removedDirs.push(d.rel);
      if (!dryRun) await Deno.remove(abs).catch(() => {});
    }
  }

  const out: string[] = [
    `oneblk uninstall${dryRun ? " (dry run: nothing changed)" : ""}: ${remotes}`,
  ];
  for (const r of removed) out.push(`  ${dryRun ? "remove" : "removed"}  ${r}`);
  for (const r of removedDirs) out.push(`  ${dryRun ? "remove" : "removed"}  ${r}/ (empty)`);
  out.push(
    `summary: ${removed.length - stubCount} link(s) and ${stubCount} stub(s) ` +
      (dryRun ? "to remove" : "removed"),
  );
  if (backups.length) {
    out.push("backups left in place (restore by renaming if wanted):");
    for (const b of backups) out.push(`  ${b}`);
  }
  return { remotes, dryRun, removed, removedDirs, backups, text: out.join("\n") };
}

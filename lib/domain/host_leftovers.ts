/**
 * The journal of host leftovers: paths on a host that a cleanup oned never retries could not
 * remove (the host was unreachable, or its `rm` failed). It lives on the front-end, in
 * `<state dir>/host-leftovers/` (lib/state_dir.ts), one small JSON file per (host, path),
 * named by a hash of the two (slashes of the path normalised), so that a second failure on the
 * same path rewrites the same entry instead of adding one. Files are written whole (temporary
 * file, then rename), so a reader never sees half an entry.
 *
 * Who writes: tm postmigrate (the VM directory on the old host), tm mv (the VM directory a
 * dead source keeps on oned's host_error path), tm delete (the VM directory on a host that did
 * not answer), tm failmigrate / any vmDirShared test (a
 * `.oneblk-shared-*` marker it could not remove), tm prebackup / postbackup (the backup
 * directory). Who removes: the action that later removes the same path
 * (or re-creates it on purpose: premigrate back to that host), and `oneblk gc`
 * (lib/domain/gc.ts runHostGc) with the rules it applies before touching a host. `oneblk
 * doctor` (leftovers check) lists what gc would do.
 *
 * Never fatal: the journal only records what a cleanup could not do; a journal that cannot be
 * written is reported on the action's log and the action goes on exactly as it would without
 * the journal (these cleanups must not fail a VM operation more than they did before).
 */
import type { ActionContext } from "../context.ts";
import { join } from "../path.ts";
import { ensureStateDir, stateDir } from "../state_dir.ts";
import { errorLine } from "../errors.ts";
import { normPath } from "../one/args.ts";
import { uniqueId } from "../frugal.ts";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

/** Sub-directory of the state directory holding the journal. */
export const HOST_LEFTOVERS_DIR = "host-leftovers";

/** What a recorded path is. */
export type HostLeftoverKind = "vm-dir" | "marker" | "backup-dir";

/** Words for each kind in reports. */
export const HOST_LEFTOVER_WORDS: Record<HostLeftoverKind, string> = {
  "vm-dir": "VM directory",
  marker: "shared-directory marker",
  "backup-dir": "backup directory",
};

/** One journal entry. */
export interface HostLeftover {
  /** Host the path is on. */
  host: string;
  /** Absolute path on that host. */
  path: string;
  kind: HostLeftoverKind;
  vmId: number;
  /** The system datastore of the VM directory (its BASE_PATH bounds what may be removed). */
  dsId: number;
  /** The action that left it ("tm postmigrate"). */
  action: string;
  /** Who wrote the entry ("tm/linstor/postmigrate pid 4711"). */
  owner: string;
  /** When (ms since the epoch). */
  since: number;
  /** Why the path could not be removed (one line). */
  why: string;
}

const KINDS: readonly string[] = ["vm-dir", "marker", "backup-dir"];

/**
 * The journal file name of (host, path): a hash, so any path gives a plain file name. SHA-256
 * (its first 128 bits in hex) as Web Crypto computed it for the journals written before
 * 2026-12-05; @noble/hashes, because Web Crypto's first use costs an action 0.45 MiB of the
 * runtime's code (lib/frugal.ts).
 */
function entryName(host: string, path: string): string {
  const digest = sha256(new TextEncoder().encode(`${host}\n${normPath(path)}`));
  return `${bytesToHex(digest).slice(0, 32)}.json`;
}

/** The journal file of (host, path). */
function entryFile(env: Record<string, string | undefined>, host: string, path: string): string {
  return join(stateDir(env), HOST_LEFTOVERS_DIR, entryName(host, path));
}

/** Write (or rewrite) the entry for `e.host`, `e.path`. */
export async function recordHostLeftover(
  env: Record<string, string | undefined>,
  e: HostLeftover,
): Promise<void> {
  const dir = await ensureStateDir(env, HOST_LEFTOVERS_DIR);
  e = { ...e, path: normPath(e.path) };
  const name = entryName(e.host, e.path);
  const tmp = join(dir, `.${name}.${uniqueId()}.tmp`);
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(e) + "\n", { mode: 0o600 });
    await Deno.rename(tmp, join(dir, name));
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** A valid entry parsed from `text`, else null. */
function parseEntry(text: string): HostLeftover | null {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object") return null;
  const str = (k: string) => typeof v[k] === "string";
  const int = (k: string) => Number.isInteger(v[k]);
  if (!str("host") || !str("path") || !KINDS.includes(v.kind as string)) return null;
  if (!int("vmId") || !int("dsId") || typeof v.since !== "number") return null;
  return {
    host: v.host as string,
    path: v.path as string,
    kind: v.kind as HostLeftoverKind,
    vmId: v.vmId as number,
    dsId: v.dsId as number,
    action: str("action") ? v.action as string : "",
    owner: str("owner") ? v.owner as string : "",
    since: v.since as number,
    why: str("why") ? v.why as string : "",
  };
}

/** A journal file that is not a valid entry (reported, never acted on). */
export interface BadHostLeftover {
  file: string;
  why: string;
}

/** Every entry of the journal (none when it does not exist), oldest first, and bad files. */
export async function listHostLeftovers(
  env: Record<string, string | undefined>,
): Promise<{ entries: HostLeftover[]; bad: BadHostLeftover[] }> {
  const dir = join(stateDir(env), HOST_LEFTOVERS_DIR);
  const entries: HostLeftover[] = [];
  const bad: BadHostLeftover[] = [];
  let names: string[] = [];
  try {
    for await (const d of Deno.readDir(dir)) {
      if (d.isFile && d.name.endsWith(".json") && !d.name.startsWith(".")) names.push(d.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { entries, bad };
    throw e;
  }
  names = names.sort();
  for (const n of names) {
    const file = join(dir, n);
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // resolved meanwhile
      throw e;
    }
    const e = parseEntry(text);
    if (e && n === entryName(e.host, e.path)) entries.push(e);
    else bad.push({ file, why: e ? "its name does not match its host and path" : "not an entry" });
  }
  return { entries: entries.sort((a, b) => a.since - b.since), bad };
}

/** The entry for (host, path), or null. */
export function findHostLeftover(
  env: Record<string, string | undefined>,
  host: string,
  path: string,
): HostLeftover | null {
  const file = entryFile(env, host, path);
  try {
    const e = parseEntry(Deno.readTextFileSync(file));
    return e && e.host === host && e.path === normPath(path) ? e : null;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** Drop the entry for (host, path); true when there was one. */
export async function resolveHostLeftover(
  env: Record<string, string | undefined>,
  host: string,
  path: string,
): Promise<boolean> {
  const file = entryFile(env, host, path);
  try {
    await Deno.remove(file);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** What an action records (the rest comes from the action's context). */
export interface LeftoverNote {
  host: string;
  path: string;
  kind: HostLeftoverKind;
  vmId: number;
  dsId: number;
}

/**
 * For an action: journal `n` as left behind because of `cause`, and say so on the log. A
 * journal that cannot be written is logged too; never throws.
 */
export async function noteHostLeftover(
  ctx: ActionContext,
  n: LeftoverNote,
  cause: unknown,
): Promise<void> {
  const why = errorLine(cause);
  const inv = ctx.inv;
  try {
    await recordHostLeftover(ctx.env, {
      ...n,
      action: `${inv.kind} ${inv.action}`,
      owner: `${inv.kind}/${inv.driver}/${inv.action} pid ${Deno.pid}`,
      since: Date.now(),
      why,
    });
    ctx.info(
      `${HOST_LEFTOVER_WORDS[n.kind]} ${n.path} left on ${n.host} (${why}): ` +
        `recorded for oneblk gc`,
    );
  } catch (e) {
    ctx.info(
      `${HOST_LEFTOVER_WORDS[n.kind]} ${n.path} left on ${n.host} (${why}); ` +
        `could not record it for oneblk gc: ${errorLine(e)}`,
    );
  }
}

/**
 * For an action that removed (or re-created on purpose) `path` on `host`: drop its entry, if
 * any. Never throws (a stale entry is harmless: gc asks oned before removing anything).
 */
export async function dropHostLeftover(
  ctx: ActionContext,
  host: string,
  path: string,
): Promise<void> {
  try {
    // Usually there is none: it is read first, because a failed read costs a short action less
    // than a failed removal (their first use: +0.13 against +0.32 MiB; lib/frugal.ts). Any
    // file of that name goes, an entry or not, as gc's resolution removes it.
    try {
      Deno.readTextFileSync(entryFile(ctx.env, host, path));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (await resolveHostLeftover(ctx.env, host, path)) {
      ctx.info(`${path} on ${host} is no longer a leftover: dropped from oneblk gc's journal`);
    }
  } catch (e) {
    ctx.info(`could not update oneblk gc's journal for ${path} on ${host}: ${errorLine(e)}`);
  }
}

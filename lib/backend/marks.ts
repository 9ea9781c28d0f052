/**
 * The text of a leftover mark and of a temporary snapshot's name, shared by every store (the
 * rule is in types.ts, "Temporaries and leftovers").
 *
 * A mark holds its owner and the time it was set, in the characters every store accepts in a
 * property value or a tag value (StorPool tags: A-Za-z0-9_-.:): `<owner words joined by _>.<ms>`,
 * e.g. `datastore_cp_image_12.1700000000000`.
 */
import { TEMP_PREFIX } from "./types.ts";

/** The mark of `owner` set at `since` (ms since epoch). */
export function encodeMark(owner: string, since = Date.now()): string {
  const words = owner.trim().replace(/[^A-Za-z0-9-]+/g, "_").replace(/^_+|_+$/g, "");
  return `${words || "oneblk"}.${Math.max(0, Math.floor(since))}`;
}

/** An owner as a mark keeps it (words separated by one space), for comparing owners. */
export function ownerKey(owner: string): string {
  return owner.replace(/[^A-Za-z0-9-]+/g, " ").trim();
}

/** Owner and time of a mark; null when the text is not a mark. */
export function decodeMark(text: string | undefined): { owner: string; since: number } | null {
  const m = /^([A-Za-z0-9_-]+)\.(\d{1,16})$/.exec(text ?? "");
  if (!m) return null;
  return { owner: m[1].replace(/_/g, " "), since: Number(m[2]) };
}

/**
 * A temporary snapshot name: `oneblk-tmp-<purpose>[-<part>…]-<time base 36><random>`, at most 48
 * characters (LINSTOR's limit; parts are cut to fit).
 */
export function tempSnapshotName(purpose: string, ...parts: (string | number)[]): string {
  const tail = `${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const head = [TEMP_PREFIX + purpose, ...parts.map(String)].join("-");
  return `${head.slice(0, 47 - tail.length)}-${tail}`;
}

/** True for a temporary snapshot name (and for nothing else). */
export function isTempSnapshot(name: string): boolean {
  return name.startsWith(TEMP_PREFIX);
}

/** The owner words of a temporary snapshot name ("saveas vm7 disk0"). */
export function tempSnapshotOwner(name: string): string {
  const words = name.slice(TEMP_PREFIX.length).split("-");
  if (words.length > 1) words.pop();
  return words.join(" ") || "oneblk";
}

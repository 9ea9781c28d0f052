/**
 * `oneblk gc`: find what oneblk made for itself and could not remove (Backend.findLeftovers:
 * temporary snapshots, marked attachments, volumes marked unfinished) in the stores of our
 * datastores, decide what is safe to remove, and remove it (nothing with `dryRun`).
 *
 * The rules (a leftover is kept whenever one is not met; nothing else is ever looked at, so a
 * persistent image, or anything the store does not report as oneblk's leftover, is never
 * touched):
 *  - it is older than `minAgeMs` (default one hour): a younger one may belong to an action
 *    still running. A leftover of unknown age is removed only with a minimum age of 0;
 *  - a volume marked unfinished by a datastore action of image N ("datastore cp image 12") is
 *    an orphan only when oned no longer has image N, or has it in ERROR without SOURCE (oned
 *    drops such an image without calling DS rm). An image oned still has otherwise is kept: it
 *    is being made, or oned uses it. When oned cannot be asked, it is kept;
 *  - a volume marked by another owner is removed (the mark says its making never finished: it
 *    holds no data anyone can use); a temporary snapshot is deleted; a marked attachment is
 *    detached (then unmarked). The store refuses what is in use: kept and reported.
 */
import type { Backend, BackendDeps, Leftover } from "../backend/types.ts";
import { openBackend } from "../backend/index.ts";
import { isDriver, profileFor } from "../addons/index.ts";
import type { DatastoreView } from "../one/views.ts";
import type { OneClient } from "../one/xmlrpc.ts";
import { errorLine, isKind } from "../errors.ts";

/** Default minimum age of a leftover gc removes. */
export const GC_MIN_AGE_MS = 3_600_000;

/** Image state ERROR (`/IMAGE/STATE`). */
const IMAGE_ERROR = 5;

/** One store to clean, named by the datastores that use it. */
export interface GcStore {
  /** "datastores 100, 101". */
  label: string;
  /** The ids of those datastores. */
  datastoreIds: number[];
  backend: Backend;
}

/**
 * The stores behind our datastores (DS_MAD, for a system datastore TM_MAD, one of our
 * drivers), each opened once however many datastores share it.
 */
export function storesOf(datastores: DatastoreView[], deps: BackendDeps): GcStore[] {
  const byStore = new Map<string, { ids: number[]; open: () => Backend }>();
  for (const ds of datastores) {
    const driver = [ds.dsMad, ds.tmMad].find((d) => isDriver(d));
    if (!driver) continue;
    const store = profileFor(driver, deps.env).store(ds.template, ds.id);
    const key = JSON.stringify(store);
    const e = byStore.get(key) ?? { ids: [], open: () => openBackend(store, deps) };
    e.ids.push(ds.id);
    byStore.set(key, e);
  }
  return [...byStore.values()].map((e) => ({
    label: `datastore${e.ids.length > 1 ? "s" : ""} ${e.ids.join(", ")}`,
    datastoreIds: e.ids,
    backend: e.open(),
  }));
}

/** What gc did (or would do) with one leftover. */
export interface GcItem {
  store: string;
  leftover: Leftover;
  action: "removed" | "would remove" | "kept" | "failed";
  /** Why (kept, failed) or what (removed). */
  why: string;
}

/** Options of runGc. */
export interface GcOptions {
  dryRun?: boolean;
  minAgeMs?: number;
  now?: number;
}

/** The image id of an owner "datastore <action> image <id>", else null. */
export function ownerImage(owner: string): number | null {
  const m = /^datastore \w+ image (\d+)$/.exec(owner.trim());
  return m ? Number(m[1]) : null;
}

/** Why `l` must be kept (null: it may be removed). */
async function keepReason(
  l: Leftover,
  one: (() => Promise<OneClient>) | undefined,
  minAgeMs: number,
  now: number,
): Promise<string | null> {
  if (l.since <= 0 ? minAgeMs > 0 : now - l.since < minAgeMs) {
    return l.since <= 0
      ? "age unknown (use --min-age 0 to remove it)"
      : `younger than ${Math.round(minAgeMs / 60_000)} min: its action may still run`;
  }
  if (l.kind !== "volume") return null;
  const imageId = ownerImage(l.owner);
  if (imageId === null) return null;
  if (!one) return `oned cannot be asked whether image ${imageId} still exists`;
  try {
    const image = await (await one()).imageInfo(imageId);
    if (image.state === IMAGE_ERROR && !image.source.trim()) return null;
    return `oned still has image ${imageId} (state ${image.state})`;
  } catch (e) {
    if (isKind(e, "not_found")) return null;
    return `oned cannot tell whether image ${imageId} still exists: ${errorLine(e)}`;
  }
}

/** Remove one leftover. */
async function remove(b: Backend, l: Leftover): Promise<string> {
  switch (l.kind) {
    case "snapshot":
      await b.deleteSnapshot(l.volume ?? l.name, l.name);
      return "snapshot deleted";
    case "attachment":
      await b.detach(l.volume ?? l.name, l.host!);
      await b.clearMark({ kind: "attachment", name: l.volume ?? l.name, host: l.host! });
      return `detached from ${l.host}`;
    case "volume":
      await b.deleteVolume(l.name, { immediate: true });
      return "volume deleted";
  }
}

/**
 * Find the leftovers of every store and remove those the rules (module doc) allow; `one`
 * answers the questions about images (undefined: oned is not reachable, image orphans kept).
 */
export async function runGc(
  stores: GcStore[],
  one: (() => Promise<OneClient>) | undefined,
  opts: GcOptions = {},
): Promise<GcItem[]> {
  const minAgeMs = opts.minAgeMs ?? GC_MIN_AGE_MS;
  const now = opts.now ?? Date.now();
  const out: GcItem[] = [];
  for (const s of stores) {
    for (const l of await s.backend.findLeftovers()) {
      const kept = await keepReason(l, one, minAgeMs, now);
      if (kept) {
        out.push({ store: s.label, leftover: l, action: "kept", why: kept });
      } else if (opts.dryRun) {
        out.push({ store: s.label, leftover: l, action: "would remove", why: l.reason });
      } else {
        try {
          out.push({
            store: s.label,
            leftover: l,
            action: "removed",
            why: await remove(s.backend, l),
          });
        } catch (e) {
          out.push({ store: s.label, leftover: l, action: "failed", why: errorLine(e) });
        }
      }
    }
  }
  return out;
}

/** One report line for an item. */
export function gcLine(i: GcItem, now = Date.now()): string {
  const l = i.leftover;
  const what = l.kind === "snapshot"
    ? `snapshot ${l.name} of ${l.volume}`
    : l.kind === "attachment"
    ? `attachment of ${l.name} on ${l.host}`
    : `volume ${l.name}`;
  const age = l.since > 0 ? `, ${Math.round((now - l.since) / 60_000)} min old` : "";
  return `${i.action}: ${what} (${i.store}; left by ${l.owner}${age}): ${i.why}`;
}

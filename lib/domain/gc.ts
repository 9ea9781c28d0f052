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
 *    detached (then unmarked) only when oned has no VM on that host that uses the volume (a
 *    later action may have attached the same volume there for a VM, leaving the old mark; a
 *    powered-off VM does not hold its device open, so the store would let it go). When oned
 *    cannot be asked, the attachment is kept. The store refuses what is in use: kept and
 *    reported.
 */
import type { Backend, BackendDeps, Leftover } from "../backend/types.ts";
import { openBackend } from "../backend/index.ts";
import { ADDONS, isDriver, profileFor } from "../addons/index.ts";
import type { Profile } from "../addons/types.ts";
import type { DatastoreView, VmView } from "../one/views.ts";
import { imageVolumes } from "./vm_disk.ts";
import { keepsDisksOn } from "./shared_image.ts";
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
  /** The profiles naming its volumes (default: every add-on's, with no settings). */
  profiles?: Profile[];
}

/**
 * The stores behind our datastores (DS_MAD, for a system datastore TM_MAD, one of our
 * drivers), each opened once however many datastores share it.
 */
export function storesOf(datastores: DatastoreView[], deps: BackendDeps): GcStore[] {
  const byStore = new Map<string, { ids: number[]; drivers: Set<string>; open: () => Backend }>();
  for (const ds of datastores) {
    const driver = [ds.dsMad, ds.tmMad].find((d) => isDriver(d));
    if (!driver) continue;
    const store = profileFor(driver, deps.env).store(ds.template, ds.id);
    const key = JSON.stringify(store);
    const e = byStore.get(key) ??
      { ids: [], drivers: new Set<string>(), open: () => openBackend(store, deps) };
    e.ids.push(ds.id);
    e.drivers.add(driver);
    byStore.set(key, e);
  }
  return [...byStore.values()].map((e) => ({
    label: `datastore${e.ids.length > 1 ? "s" : ""} ${e.ids.join(", ")}`,
    datastoreIds: e.ids,
    backend: e.open(),
    profiles: [...e.drivers].map((d) => profileFor(d, deps.env)),
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

/** Every volume `vm` may use under `profile`: its disks' images and own volumes, its state. */
export function vmVolumes(profile: Profile, vm: VmView): Set<string> {
  const out = new Set<string>();
  const add = (f: () => string | null) => {
    try {
      const v = f();
      if (v) out.add(v);
    } catch {
      // a disk this profile cannot name is not one of its volumes
    }
  };
  for (const d of vm.disks) {
    for (const v of imageVolumes(profile, d)) out.add(v);
    add(() => profile.diskVolume(vm.id, d));
  }
  const ctxId = vm.contextDiskId;
  if (ctxId !== null) add(() => profile.contextVolume(vm.id, ctxId));
  add(() => profile.checkpointVolume(vm.id));
  for (const kind of ["nvram", "tpm", "memory"] as const) {
    add(() => profile.vmStateVolume(vm.id, kind));
  }
  return out;
}

/** The first VM oned has on `host` that uses `volume` ("VM 7"), or null. */
async function attachmentUser(
  one: OneClient,
  profiles: Profile[],
  volume: string,
  host: string,
): Promise<string | null> {
  let ids: number[];
  try {
    ids = (await one.hostInfo(host)).vms;
  } catch (e) {
    if (isKind(e, "not_found")) return null; // no such host: no VM there
    throw e;
  }
  for (const id of ids) {
    const vm = await one.vmInfo(id).catch((e) => {
      if (isKind(e, "not_found")) return null; // gone meanwhile
      throw e;
    });
    if (!vm || !keepsDisksOn(vm, host)) continue;
    if (profiles.some((p) => vmVolumes(p, vm).has(volume))) return `VM ${id}`;
  }
  return null;
}

/** Why `l` must be kept (null: it may be removed). */
async function keepReason(
  l: Leftover,
  one: (() => Promise<OneClient>) | undefined,
  profiles: Profile[],
  minAgeMs: number,
  now: number,
): Promise<string | null> {
  if (l.since <= 0 ? minAgeMs > 0 : now - l.since < minAgeMs) {
    return l.since <= 0
      ? "age unknown (use --min-age 0 to remove it)"
      : `younger than ${Math.round(minAgeMs / 60_000)} min: its action may still run`;
  }
  if (l.kind === "attachment") {
    const volume = l.volume ?? l.name;
    if (!one) return `oned cannot be asked whether a VM on ${l.host} uses ${volume}`;
    try {
      const user = await attachmentUser(await one(), profiles, volume, l.host!);
      return user ? `${user} on ${l.host} uses ${volume}: the device stays` : null;
    } catch (e) {
      return `oned cannot tell whether a VM on ${l.host} uses ${volume}: ${errorLine(e)}`;
    }
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
    const profiles = s.profiles ?? ADDONS.map((a) => profileFor(a.driver, {}));
    for (const l of await s.backend.findLeftovers()) {
      const kept = await keepReason(l, one, profiles, minAgeMs, now);
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

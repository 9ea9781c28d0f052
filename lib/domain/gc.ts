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
 *
 * Host leftovers (runHostGc): the paths the journal of lib/domain/host_leftovers.ts holds,
 * which a cleanup oned never retries could not remove on a host. An entry is acted on only
 * when every rule holds, else it is kept (and said why):
 *  - it is older than `minAgeMs` (as above);
 *  - the path is what its kind allows, checked against oned's datastore, never against the
 *    path itself: a VM directory is `<BASE_PATH of system datastore N>/<vmid>` (vmDirPrefix,
 *    as tm delete checks), a marker is one `.oneblk-shared-<uuid>` file directly in such a
 *    directory, a backup directory is `<that directory>/backup` or
 *    `<BACKUP_BASE_PATH of datastore.conf>/<vmid>`;
 *  - oned answers about the VM (a VM oned no longer has, or DONE, is gone). A VM directory
 *    whose VM oned has on that host now (its last history record) is the VM's own again: the
 *    entry is dropped, the directory never touched; while the VM is moving away from that
 *    host (ACTIVE, not RUNNING, previous record on it) it is kept. A backup directory is kept
 *    while the VM is in a backup (BACKUP, BACKUP_POWEROFF). A marker belongs to no one (its
 *    name is unique to the call that made it);
 *  - a VM directory whose VM oned has on another host is not the one that host uses: a probe
 *    file made in it is not seen there (a filesystem shared by both would make it the VM's
 *    live directory: the entry is dropped). The probe has its own name, so an action testing
 *    the same directory at that moment never removes it, nor gc an action's marker;
 *  - the host answers: an unreachable host keeps the entry for the next run.
 * Then the path is removed (`rm -rf` below the checked prefix, `rm -f` for a marker) and the
 * entry dropped.
 */
import type { Backend, BackendDeps, Leftover } from "../backend/types.ts";
import { openBackend } from "../backend/index.ts";
import { ADDONS, isDriver, profileFor } from "../addons/index.ts";
import type { Profile } from "../addons/types.ts";
import { type DatastoreView, LCM_STATE, VM_STATE, type VmView } from "../one/views.ts";
import { imageVolumes } from "./vm_disk.ts";
import { keepsDisksOn } from "./shared_image.ts";
import type { OneClient } from "../one/xmlrpc.ts";
import { errorLine, isKind } from "../errors.ts";
import type { HostRunner } from "../host/types.ts";
import { removeDir, unlink } from "../host/ops.ts";
import { basename, dirname } from "../path.ts";
import { normPath } from "../one/args.ts";
import { readDatastoreConf } from "./remotes.ts";
import { dirSharedProbe, isSharedMarkName, vmDirPrefix } from "./vm_dir.ts";
import {
  findHostLeftover,
  HOST_LEFTOVER_WORDS,
  type HostLeftover,
  listHostLeftovers,
  recordHostLeftover,
  resolveHostLeftover,
} from "./host_leftovers.ts";

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

/** What gc did (or would do) with one host leftover (lib/domain/host_leftovers.ts). */
export interface HostGcItem {
  entry: HostLeftover;
  /** dropped: the path is no longer a leftover (its VM uses it again), the entry goes. */
  action: "removed" | "would remove" | "dropped" | "would drop" | "kept" | "failed";
  why: string;
}

/** What runHostGc needs. */
export interface HostGcDeps {
  env: Record<string, string | undefined>;
  hosts: HostRunner;
  /** undefined: oned is not reachable (every entry is kept). */
  one: (() => Promise<OneClient>) | undefined;
  /** The remotes directory (datastore.conf's BACKUP_BASE_PATH). */
  remotes: string;
}

/** Options of runHostGc. */
export interface HostGcOptions extends GcOptions {
  /** Only entries of these system datastores. */
  datastoreIds?: number[];
}

/** LCM states of a VM in a backup (its backup directory is in use). */
const IN_BACKUP: readonly number[] = [LCM_STATE.BACKUP, LCM_STATE.BACKUP_POWEROFF];

type Verdict =
  | { keep: string }
  | { drop: string }
  | { remove: (hosts: HostRunner) => Promise<void>; note?: string };

/** The checked removal of `e` (the path rule of the module doc), else why it is refused. */
async function hostRemoval(
  e: HostLeftover,
  one: () => Promise<OneClient>,
  remotes: string,
): Promise<((hosts: HostRunner) => Promise<void>) | string> {
  const asked = { one };
  const path = normPath(e.path);
  const refuse = (why: unknown) => `not removed: ${errorLine(why)}`;
  try {
    switch (e.kind) {
      case "vm-dir": {
        const prefix = await vmDirPrefix(asked, path, e.vmId, e.dsId);
        return (h) => removeDir(h, e.host, path, [prefix]);
      }
      case "marker": {
        if (!isSharedMarkName(basename(path))) return `${path} is not a marker file name`;
        await vmDirPrefix(asked, dirname(path), e.vmId, e.dsId);
        return (h) => unlink(h, e.host, path);
      }
      case "backup-dir": {
        if (basename(path) === "backup") {
          const prefix = await vmDirPrefix(asked, dirname(path), e.vmId, e.dsId);
          return (h) => removeDir(h, e.host, path, [prefix]);
        }
        const base = normPath(((await readDatastoreConf(remotes)).BACKUP_BASE_PATH ?? "").trim());
        if (base && base !== "/" && path === `${base}/${e.vmId}`) {
          return (h) => removeDir(h, e.host, path, [base]);
        }
        return `${path} is neither <VM directory>/backup nor <BACKUP_BASE_PATH>/${e.vmId}`;
      }
    }
  } catch (err) {
    return refuse(err);
  }
}

/**
 * Whether the VM directory `e` names on its host is the one the VM uses on `current` (one
 * filesystem shared by both hosts): a verdict to keep or drop, or null when it is not.
 */
async function sharedVerdict(
  e: HostLeftover,
  current: string,
  deps: HostGcDeps,
): Promise<Verdict | null> {
  const onLeft = (path: string, err: unknown) =>
    recordHostLeftover(deps.env, {
      host: e.host,
      path,
      kind: "marker",
      vmId: e.vmId,
      dsId: e.dsId,
      action: "oneblk gc",
      owner: `oneblk gc pid ${Deno.pid}`,
      since: Date.now(),
      why: errorLine(err),
    }).catch(() => {});
  try {
    const shared = await dirSharedProbe(deps.hosts, e.host, current, normPath(e.path), onLeft);
    return shared
      ? { drop: `it is the directory VM ${e.vmId} uses on ${current} (shared): never removed` }
      : null;
  } catch (err) {
    return { keep: `cannot tell whether it is shared with ${current}: ${errorLine(err)}` };
  }
}

/** What to do with entry `e` (rules of the module doc, except the age and the host). */
async function hostVerdict(
  e: HostLeftover,
  deps: HostGcDeps,
  dryRun: boolean,
): Promise<Verdict> {
  const one = deps.one!;
  const remotes = deps.remotes;
  let vm: VmView | null = null;
  if (e.kind !== "marker") {
    try {
      vm = await (await one()).vmInfo(e.vmId);
    } catch (err) {
      if (!isKind(err, "not_found")) {
        return { keep: `oned cannot tell where VM ${e.vmId} is: ${errorLine(err)}` };
      }
    }
  }
  const alive = vm !== null && vm.state !== VM_STATE.DONE;
  if (alive && e.kind === "vm-dir") {
    if (vm!.history?.hostname === e.host) {
      return { drop: `VM ${e.vmId} is on ${e.host} again: the directory is its own` };
    }
    if (
      vm!.state === VM_STATE.ACTIVE && vm!.lcmState !== LCM_STATE.RUNNING &&
      vm!.prevHistory?.hostname === e.host
    ) {
      return { keep: `VM ${e.vmId} is moving away from ${e.host} (LCM state ${vm!.lcmState})` };
    }
  }
  const r = await hostRemoval(e, one, remotes);
  if (typeof r === "string") return { keep: r };
  const current = vm?.history?.hostname;
  if (alive && e.kind === "vm-dir" && current) {
    // A dry run writes nothing, not even a probe: it says what the real run will check.
    if (dryRun) return { remove: r, note: `once not shared with ${current}` };
    const v = await sharedVerdict(e, current, deps);
    if (v) return v;
  }
  if (alive && e.kind === "backup-dir" && vm!.state === VM_STATE.ACTIVE) {
    if (IN_BACKUP.includes(vm!.lcmState)) return { keep: `VM ${e.vmId} is being backed up` };
  }
  return { remove: r };
}

/**
 * Act on the entries of the host leftovers journal (rules in the module doc); with `dryRun`
 * nothing is removed or dropped. Journal files that are not entries are returned in `bad`.
 */
export async function runHostGc(
  deps: HostGcDeps,
  opts: HostGcOptions = {},
): Promise<{ items: HostGcItem[]; bad: string[] }> {
  const minAgeMs = opts.minAgeMs ?? GC_MIN_AGE_MS;
  const now = opts.now ?? Date.now();
  const { entries, bad } = await listHostLeftovers(deps.env);
  const items: HostGcItem[] = [];
  for (const e of entries) {
    if (opts.datastoreIds && !opts.datastoreIds.includes(e.dsId)) continue;
    const item = (action: HostGcItem["action"], why: string) =>
      items.push({ entry: e, action, why });
    if (now - e.since < minAgeMs) {
      item("kept", `younger than ${Math.round(minAgeMs / 60_000)} min: its action may still run`);
      continue;
    }
    if (!deps.one) {
      item("kept", "oned cannot be asked about the VM and its datastore");
      continue;
    }
    const v = await hostVerdict(e, deps, !!opts.dryRun);
    if ("keep" in v) {
      item("kept", v.keep);
    } else if ("drop" in v) {
      if (opts.dryRun) item("would drop", v.drop);
      else {
        await resolveHostLeftover(deps.env, e.host, e.path);
        item("dropped", v.drop);
      }
    } else if (opts.dryRun) {
      item(
        "would remove",
        (e.why ? `left because ${e.why}` : "left by a failed cleanup") +
          (v.note ? ` (${v.note})` : ""),
      );
    } else {
      try {
        // An action that re-created the path on purpose (a premigrate back to that host) drops
        // the entry first: read it again right before removing, so that only the moments of
        // the removal itself can meet such an action.
        const still = findHostLeftover(deps.env, e.host, e.path);
        if (!still || still.since !== e.since) {
          item("dropped", "its entry was settled by an action meanwhile");
          continue;
        }
        await v.remove(deps.hosts);
        await resolveHostLeftover(deps.env, e.host, e.path);
        item("removed", `removed from ${e.host}`);
      } catch (err) {
        if (isKind(err, "unavailable")) {
          item("kept", `${e.host} does not answer (${errorLine(err)}): kept for the next run`);
        } else item("failed", errorLine(err));
      }
    }
  }
  return { items, bad: bad.map((b) => `${b.file}: ${b.why}`) };
}

/** One report line for a host item. */
export function hostGcLine(i: HostGcItem, now = Date.now()): string {
  const e = i.entry;
  const age = Math.round((now - e.since) / 60_000);
  return `${i.action}: ${HOST_LEFTOVER_WORDS[e.kind]} ${e.path} on ${e.host} (VM ${e.vmId}, ` +
    `datastore ${e.dsId}; left by ${e.owner || e.action}, ${age} min old): ${i.why}`;
}

/**
 * The StorPool backend: lib/backend/types.ts on the StorPool JSON API.
 *
 * Mapping (the names and tags come from the profile, lib/addons/storpool.ts):
 *  - volume = StorPool volume, size in bytes (MiB × 2^20); props = StorPool tags (keys as-is:
 *    virt, nloc, nvm, type, diskid, qc …; a null prop is sent as "" which removes the tag);
 *  - placement (StorpoolPlacement): `group` = template name (`one-ds-<id>`), passed as
 *    `template`; `qos` → tag `qc` on new volumes and clones (unless props set qc);
 *    `replicas`, placeAll, placeTail, placeHead, iops, bw → sent only when `group` is empty:
 *    with a template StorPool takes them from it, as the add-on does;
 *  - snapshots are global StorPool snapshot names used as given (the profile names them
 *    `<volume>-<suffix>`: `-snap<N>`, `-ONESNAP-…`). Names decide whose a snapshot is, as in
 *    the add-on: the owner is `onVolume` when the name starts with `<onVolume>-`, else the
 *    longest existing volume V with the name starting with `V-`, else `onVolume` when that
 *    volume exists. So a scratch volume of a rename scheme never takes the real volume's
 *    snapshots with it. Anonymous snapshots (delayed delete) and snapshots being deleted
 *    (`*name`) belong to nobody. The volume list is fetched only when the snapshot list alone
 *    cannot tell;
 *  - attach = `VolumesReassignWait` rw (or ro) to the host's client id with attachTimeout;
 *    openSnapshot attaches the snapshot itself read-only (no scratch volume);
 *    StorPool lets a volume be attached rw on several clients, so attach never detaches
 *    others and setDualPrimary is a no-op;
 *  - detach = `VolumesReassignWait` detach of that client id, without force unless
 *    `forceDetach`: an open device fails with kind "in_use";
 *  - deleteVolume = detach from all clients (same force rule), then (delayed delete, default
 *    48 h, `delayDeleteSeconds`) an anonymous snapshot with `deleteAfter`, then `VolumeDelete`
 *    and deletion of the volume's own snapshots;
 *  - cloneVolume = `VolumeCreate` with `baseOn` (or `parent` = fromSnapshot), then grow;
 *  - rollbackSnapshot = `VolumeRevert` (revertSize); an attached but not open volume is
 *    detached, reverted and attached back with the same rights;
 *  - createSnapshots = one `VolumesGroupSnapshot` (atomic);
 *  - usageVolumes = `VolumesSpace` + `SnapshotsSpace` (2 requests whatever the count; they carry
 *    the usage, so readUsage is never needed after it);
 *  - capacity = `VolumeTemplatesStatus` stored.capacity / stored.free of the template;
 *  - leftover marks (types.ts) are tags of the volume: `oneblk-leftover` (the volume),
 *    `oneblk-att-<client id>` (a temporary attachment to that client); findLeftovers reads them
 *    and the temporary snapshots (`oneblk-…`) with `VolumesList` + `SnapshotsList`. They are
 *    not shown in VolumeInfo.props. An attach drops the client's `oneblk-att-` tag with one
 *    `VolumeUpdate` after it, none when the volume's tags as this backend read or made them
 *    in this action lack it (unknown, they are read with `Volume/<name>` beside the attach);
 *  - an unknown outcome (reply lost, timeout: kind unavailable/timeout) of a create, clone or
 *    snapshot is followed by a read: StorPool makes them atomically, so what exists is whole.
 * devicePath = `/dev/storpool/<name>`.
 */
import { isKind, OneblkError } from "../../errors.ts";
import type { HostRunner } from "../../host/types.ts";
import type {
  Attachment,
  AttachOptions,
  Backend,
  BackendStats,
  Capacity,
  CloneOptions,
  CreateOptions,
  Leftover,
  LeftoverRef,
  PlacementBase,
  SnapshotInfo,
  UsageFigures,
  UsageVolume,
  VolumeInfo,
} from "../types.ts";
import {
  type AttachmentDesc,
  type ReassignDesc,
  type SnapshotSummary,
  StorpoolApiError,
  StorpoolClient,
  type Tags,
  type VolumeCreateDesc,
  type VolumeSummary,
} from "./client.ts";
import { type StorpoolConfig, storpoolDevicePath } from "./config.ts";
import { decodeMark, encodeMark, isTempSnapshot, ownerKey, tempSnapshotOwner } from "../marks.ts";
import { compareNatural } from "../../compare.ts";
import { TurnBatches } from "../../limit.ts";

const MiB = 1024 * 1024;
const TAG_NAME = /^[A-Za-z0-9_\-.:]+$/;
const TAG_VALUE = /^[A-Za-z0-9_\-.:]*$/;
/**
 * What a StorPool volume name may be (a `~` prefix names a volume by its global id): at most 199
 * characters, and not one of the API's own path words.
 */
const VOLUME_NAME = /^(?!(?:list|status)$)~?[A-Za-z0-9_\-.:]{1,199}$/;
/** Leftover mark of a volume (types.ts). */
const LEFTOVER_TAG = "oneblk-leftover";
/** Leftover mark of a temporary attachment to client N: `oneblk-att-N`. */
const ATT_TAG = "oneblk-att-";

/** A call whose outcome is unknown (no answer, or no answer in time): read the state. */
function unknownOutcome(e: unknown): boolean {
  return isKind(e, "unavailable", "timeout") &&
    !(e instanceof StorpoolApiError && e.apiName !== "");
}

/** Where new StorPool volumes go (built by the StorPool add-on's profile). */
export interface StorpoolPlacement extends PlacementBase {
  /** Placement groups, used only without a template (`group` empty). */
  placeAll?: string;
  placeTail?: string;
  placeHead?: string;
  /** IOPS and bandwidth limits, used only without a template. */
  iops?: number;
  bw?: number;
  /** QoS class: the `qc` tag of new volumes (SP_QOSCLASS). */
  qos?: string;
}

/** Default of StorpoolConfig.delayDeleteSeconds (48 h, DELAY_DELETE=48h). */
export const DEFAULT_DELAY_DELETE_SECONDS = 48 * 3600;

/** What the backend needs besides its config. */
export interface StorpoolBackendDeps {
  /** StorPool client id of an OpenNebula host (see createClientIdResolver). */
  clientIdOf(host: string): Promise<number>;
  /** Host runner (reserved for host-side work; not used by the API calls). */
  hosts?: HostRunner;
  /**
   * Host name of a client id, for attachments(). Ids resolved by this backend are known
   * already; others fall back to this, then to the name `sp-client-<id>` (which attach and
   * detach accept back).
   */
  hostOf?(clientId: number): string | undefined | Promise<string | undefined>;
}

function checkTags(tags: Tags, volume: string): Tags {
  for (const [k, v] of Object.entries(tags)) {
    if (!TAG_NAME.test(k)) {
      throw new OneblkError("input", `StorPool tag name '${k}' (volume ${volume}) is not valid`);
    }
    if (!TAG_VALUE.test(v)) {
      throw new OneblkError(
        "input",
        `StorPool tag ${k}='${v}' (volume ${volume}) has characters outside A-Za-z0-9_-.:`,
      );
    }
  }
  return tags;
}

function mib(bytes: number): number {
  return Math.ceil(bytes / MiB);
}

/**
 * The volume owning snapshot `s` (see module doc), given every existing volume name;
 * undefined for nobody's.
 */
export function snapshotOwner(
  s: Pick<SnapshotSummary, "name" | "onVolume" | "autoName" | "deleted">,
  volumes: ReadonlySet<string>,
): string | undefined {
  if (s.autoName || s.deleted || s.name.startsWith("*")) return undefined;
  if (s.onVolume && s.name.startsWith(`${s.onVolume}-`)) return s.onVolume;
  for (let i = s.name.lastIndexOf("-"); i > 0; i = s.name.lastIndexOf("-", i - 1)) {
    const p = s.name.slice(0, i);
    if (volumes.has(p)) return p;
  }
  return s.onVolume && volumes.has(s.onVolume) ? s.onVolume : undefined;
}

/**
 * Whether `s` belongs to `volume` as far as the snapshot alone tells: "maybe" when the
 * existing volume names are needed (then ask snapshotOwner).
 */
export function snapshotOwnership(s: SnapshotSummary, volume: string): "yes" | "no" | "maybe" {
  if (s.autoName || s.deleted || s.name.startsWith("*")) return "no";
  if (s.onVolume && s.name.startsWith(`${s.onVolume}-`)) {
    return s.onVolume === volume ? "yes" : "no";
  }
  return s.name.startsWith(`${volume}-`) || s.onVolume === volume ? "maybe" : "no";
}

/** snapshotOwnership resolved with the existing volume names. */
export function snapshotBelongs(
  s: SnapshotSummary,
  volume: string,
  volumes: ReadonlySet<string>,
): boolean {
  const o = snapshotOwnership(s, volume);
  return o === "yes" || (o === "maybe" && snapshotOwner(s, volumes) === volume);
}

/** Tags without the leftover marks. */
function ownTags(tags: Tags | undefined): Tags {
  const out: Tags = {};
  for (const [k, v] of Object.entries(tags ?? {})) {
    if (k !== LEFTOVER_TAG && !k.startsWith(ATT_TAG)) out[k] = v;
  }
  return out;
}

function volumeInfo(v: VolumeSummary): VolumeInfo {
  return { name: v.name, sizeMiB: mib(v.size), props: ownTags(v.tags) };
}

/** A create that failed: name the template when that is what is missing. */
function createError(e: unknown, template: string | undefined): unknown {
  if (isKind(e, "not_found") && template && /template/i.test(e.message)) {
    return new OneblkError(
      "config",
      `StorPool template '${template}' does not exist: create it (storpool template ` +
        `${template} replication 3 placeAll … placeTail …)`,
    );
  }
  return e;
}

/** The VolumeCreate fields of a placement, with `props` as tags. */
function placementBody(p: StorpoolPlacement, props?: Record<string, string>): VolumeCreateDesc {
  const body: VolumeCreateDesc = {};
  if (p.group) {
    body.template = p.group;
  } else {
    if (p.replicas !== undefined) body.replication = p.replicas;
    for (const k of ["placeAll", "placeTail", "placeHead"] as const) {
      if (p[k]?.trim()) body[k] = p[k].trim();
    }
    if (p.iops !== undefined) body.iops = p.iops;
    if (p.bw !== undefined) body.bw = p.bw;
  }
  const tags: Tags = {};
  const qos = p.qos?.trim();
  if (qos) tags.qc = qos;
  Object.assign(tags, props ?? {});
  for (const [k, v] of Object.entries(tags)) if (v === "") delete tags[k];
  if (Object.keys(tags).length) body.tags = tags;
  return body;
}

/** The StorPool backend (see the module doc). */
class StorpoolBackend implements Backend<StorpoolPlacement> {
  readonly kind = "storpool";
  readonly stats: BackendStats;
  readonly #client: StorpoolClient;
  readonly #deps: StorpoolBackendDeps;
  readonly #delay: number;
  readonly #attachTimeout: number;
  readonly #force: boolean;
  readonly #cfg: StorpoolConfig;
  readonly #hostById = new Map<number, string>();
  /**
   * The tags of a volume as this backend last read or wrote them: an attach clears an
   * attachment mark only where there may be one.
   */
  readonly #tags = new Map<string, Tags>();
  /**
   * Attachments asked for side by side (premigrate's disks) go in one VolumesReassignWait: one
   * call and one wait for the clients, as the add-on's one list. The call's outcome is each
   * one's: a refusal or a lost reply fails every attach of the list, whose callers undo (detach)
   * each of them.
   */
  readonly #attaching = new TurnBatches<ReassignDesc, unknown>((_, items) =>
    this.#client.volumesReassignWait(items, this.#attachTimeout)
  );

  constructor(cfg: StorpoolConfig, deps: StorpoolBackendDeps) {
    this.#client = new StorpoolClient(
      { host: cfg.host, port: cfg.port, token: cfg.token },
      { timeoutMs: cfg.requestTimeoutMs, retries: cfg.retries, retryDelayMs: cfg.retryDelayMs },
    );
    this.stats = this.#client.stats;
    this.#deps = deps;
    this.#delay = cfg.delayDeleteSeconds ?? DEFAULT_DELAY_DELETE_SECONDS;
    this.#attachTimeout = cfg.attachTimeoutSeconds ?? 20;
    this.#force = cfg.forceDetach ?? false;
    this.#cfg = cfg;
  }

  async #idOf(host: string): Promise<number> {
    const m = /^sp-client-(\d+)$/.exec(host);
    if (m) return Number(m[1]);
    const id = await this.#deps.clientIdOf(host);
    this.#hostById.set(id, host);
    return id;
  }

  async #hostOf(id: number): Promise<string> {
    return this.#hostById.get(id) ?? (await this.#deps.hostOf?.(id)) ?? `sp-client-${id}`;
  }

  async #detachItems(items: ReassignDesc[], what: string): Promise<void> {
    try {
      await this.#client.volumesReassignWait(items, this.#attachTimeout);
    } catch (e) {
      if (isKind(e, "in_use")) {
        throw new OneblkError(
          "in_use",
          `${what} is open (in use); stop its user first. ${(e as Error).message}`,
        );
      }
      throw e;
    }
  }

  /** Volume names, fetched only when an ownership question needs them. */
  async #volumeNamesIf(needed: boolean): Promise<ReadonlySet<string>> {
    return needed ? new Set((await this.#client.volumesList()).map((v) => v.name)) : new Set();
  }

  async #ownSnapshots(volume: string): Promise<SnapshotSummary[]> {
    const all = await this.#client.snapshotsList();
    const maybe = all.some((s) => snapshotOwnership(s, volume) === "maybe");
    const names = await this.#volumeNamesIf(maybe);
    return all.filter((s) => snapshotBelongs(s, volume, names));
  }

  async #deleteSnapshotNamed(name: string): Promise<void> {
    try {
      await this.#client.snapshotDelete(name);
    } catch (e) {
      if (isKind(e, "not_found")) return;
      if (!isKind(e, "in_use")) throw e;
      // Attached (export/backup read): detach it from every client, then delete.
      await this.#detachItems(
        [{ snapshot: name, detach: "all", force: this.#force }],
        `StorPool snapshot ${name}`,
      );
      try {
        await this.#client.snapshotDelete(name);
      } catch (e2) {
        if (!isKind(e2, "not_found")) throw e2;
      }
    }
  }

  devicePath(volume: string): string {
    return storpoolDevicePath(this.#cfg, volume);
  }

  /** Remember the tags of volumes read. */
  #learn<T extends VolumeSummary>(vols: T[]): T[] {
    for (const v of vols) this.#tags.set(v.name, { ...v.tags });
    return vols;
  }

  async getVolume(volume: string): Promise<VolumeInfo | null> {
    try {
      const list = this.#learn(await this.#client.volume(volume));
      return list.length ? volumeInfo(list[0]) : null;
    } catch (e) {
      if (isKind(e, "not_found")) return null;
      throw e;
    }
  }

  async createVolume(
    volume: string,
    sizeMiB: number,
    opts: CreateOptions<StorpoolPlacement>,
  ): Promise<boolean> {
    if (!Number.isInteger(sizeMiB) || sizeMiB <= 0) {
      throw new OneblkError("input", `volume ${volume}: size ${sizeMiB} MiB is not valid`);
    }
    const props = opts.props ? checkTags({ ...opts.props }, volume) : {};
    if (opts.pending) props[LEFTOVER_TAG] = encodeMark(opts.pending);
    const body = { name: volume, size: sizeMiB * MiB, ...placementBody(opts.placement, props) };
    try {
      await this.#client.volumeCreate(body);
      this.#tags.set(volume, { ...body.tags });
      return true;
    } catch (e) {
      if (unknownOutcome(e)) {
        // Made by this call when it exists now (VolumeCreate is atomic).
        const cur = await this.getVolume(volume).catch(() => null);
        if (cur && cur.sizeMiB === sizeMiB) return true;
        throw e;
      }
      if (!isKind(e, "exists")) throw createError(e, body.template);
      const cur = await this.#client.volume(volume).then((l) => this.#learn(l)[0]).catch(() =>
        undefined
      );
      const mark = decodeMark(cur?.tags?.[LEFTOVER_TAG]);
      if (cur && mark && (!opts.pending || ownerKey(mark.owner) !== ownerKey(opts.pending))) {
        // Unfinished by an earlier call (types.ts, the reuse rule): made again.
        await this.deleteVolume(volume, { immediate: true });
        await this.#client.volumeCreate(body);
        return true;
      }
      if (cur && mib(cur.size) === sizeMiB) return false;
      throw new OneblkError(
        "exists",
        `StorPool volume ${volume} already exists` +
          (cur ? ` with ${mib(cur.size)} MiB (wanted ${sizeMiB} MiB)` : ""),
      );
    }
  }

  async deleteVolume(volume: string, opts?: { immediate?: boolean }): Promise<void> {
    // A name StorPool cannot have is a caller's error, never "already gone".
    if (!VOLUME_NAME.test(volume)) {
      throw new OneblkError("input", `invalid StorPool volume name ${JSON.stringify(volume)}`);
    }
    this.#tags.delete(volume);
    try {
      await this.#detachItems(
        [{ volume, detach: "all", force: this.#force }],
        `StorPool volume ${volume}`,
      );
    } catch (e) {
      if (!isKind(e, "not_found")) throw e;
      // Gone already: finish a delete that stopped before its snapshots.
      for (const s of await this.#ownSnapshots(volume)) await this.#deleteSnapshotNamed(s.name);
      return;
    }
    if (this.#delay > 0 && !opts?.immediate) {
      try {
        await this.#client.volumeSnapshot(volume, { deleteAfter: this.#delay });
      } catch (e) {
        if (isKind(e, "not_found")) return;
        throw e;
      }
    }
    const snaps = await this.#ownSnapshots(volume);
    try {
      await this.#client.volumeDelete(volume);
    } catch (e) {
      if (!isKind(e, "not_found")) throw e;
    }
    for (const s of snaps) await this.#deleteSnapshotNamed(s.name);
  }

  async cloneVolume(
    source: string,
    target: string,
    opts: CloneOptions<StorpoolPlacement>,
  ): Promise<boolean> {
    const props = opts.props ? checkTags({ ...opts.props }, target) : {};
    if (opts.pending) props[LEFTOVER_TAG] = encodeMark(opts.pending);
    const body: VolumeCreateDesc = { name: target, ...placementBody(opts.placement, props) };
    if (opts.fromSnapshot) body.parent = opts.fromSnapshot;
    else body.baseOn = source;
    let created = true;
    try {
      await this.#client.volumeCreate(body);
      this.#tags.set(target, { ...body.tags });
    } catch (e) {
      if (unknownOutcome(e)) {
        // Made by this call when it exists now (VolumeCreate is atomic).
        if (!(await this.getVolume(target).catch(() => null))) throw e;
      } else if (isKind(e, "exists")) {
        created = await this.#reuseClone(source, target, opts, body);
      } else {
        throw createError(e, body.template);
      }
    }
    if (opts.sizeMiB !== undefined) {
      try {
        await this.resizeVolume(target, opts.sizeMiB);
      } catch (e) {
        if (created) {
          try {
            await this.#client.volumeDelete(target);
          } catch { /* best effort: report the first failure */ }
        }
        throw e;
      }
    }
    return created;
  }

  /**
   * The clone target exists already: the reuse rule (types.ts). Unfinished (marked by another
   * owner) → deleted and made again (true); at least the source's size → reused, with the
   * clone's tags (false); smaller → kind "exists", left as it is.
   */
  async #reuseClone(
    source: string,
    target: string,
    opts: CloneOptions<StorpoolPlacement>,
    body: VolumeCreateDesc,
  ): Promise<boolean> {
    const cur = this.#learn(await this.#client.volume(target).catch(() => []))[0];
    if (!cur) throw new OneblkError("exists", `StorPool volume ${target} already exists`);
    const mark = decodeMark(cur.tags?.[LEFTOVER_TAG]);
    if (mark && (!opts.pending || ownerKey(mark.owner) !== ownerKey(opts.pending))) {
      await this.deleteVolume(target, { immediate: true });
      await this.#client.volumeCreate(body);
      return true;
    }
    const from = opts.fromSnapshot
      ? (await this.#client.snapshot(opts.fromSnapshot).catch(() => []))[0]
      : (await this.#client.volume(source).catch(() => []))[0];
    if (!from) {
      throw new OneblkError(
        "not_found",
        `StorPool ${opts.fromSnapshot ? "snapshot" : "volume"} ${
          opts.fromSnapshot ?? source
        } not found: cannot check the existing clone ${target}`,
      );
    }
    if (cur.size < from.size) {
      throw new OneblkError(
        "exists",
        `StorPool volume ${target} exists with ${mib(cur.size)} MiB, less than its source ` +
          `${opts.fromSnapshot ?? source} (${mib(from.size)} MiB): not a complete clone, left ` +
          `as it is`,
      );
    }
    if (body.tags && Object.keys(body.tags).length) {
      await this.#client.volumeUpdate(target, { tags: body.tags });
    }
    return false;
  }

  async resizeVolume(volume: string, sizeMiB: number): Promise<number> {
    const cur = await this.getVolume(volume);
    if (!cur) throw new OneblkError("not_found", `StorPool volume ${volume} does not exist`);
    if (cur.sizeMiB < sizeMiB) await this.#client.volumeUpdate(volume, { size: sizeMiB * MiB });
    return cur.sizeMiB;
  }

  async renameVolume(volume: string, newName: string): Promise<void> {
    if (volume === newName) return;
    for (const v of [volume, newName]) this.#tags.delete(v);
    try {
      await this.#client.volumeUpdate(volume, { rename: newName });
    } catch (e) {
      if (isKind(e, "not_found") && (await this.getVolume(newName))) return;
      if (isKind(e, "exists")) {
        throw new OneblkError("exists", `cannot rename ${volume}: ${newName} already exists`);
      }
      throw e;
    }
  }

  async listSnapshots(volume: string): Promise<SnapshotInfo[]> {
    return (await this.#ownSnapshots(volume))
      .sort((a, b) =>
        a.creationTimestamp - b.creationTimestamp ||
        (a.visibleVolumeId ?? 0) - (b.visibleVolumeId ?? 0) ||
        compareNatural(a.name, b.name)
      )
      .map((s) => ({
        name: s.name,
        volume,
        sizeMiB: mib(s.size),
        createdAt: (s.creationTimestamp ?? 0) * 1000,
      }));
  }

  async createSnapshot(volume: string, snapshot: string): Promise<void> {
    try {
      await this.#client.volumeSnapshot(volume, { name: snapshot });
    } catch (e) {
      if (unknownOutcome(e)) {
        // Taken by this call when it exists now (snapshots are atomic).
        const [s] = await this.#client.snapshot(snapshot).catch(() => []);
        if (s && snapshotOwnership(s, volume) !== "no") return;
        throw e;
      }
      if (!isKind(e, "exists")) throw e;
      const [s] = await this.#client.snapshot(snapshot);
      const own = s ? snapshotOwnership(s, volume) : "no";
      if (own === "yes") return;
      if (own === "maybe" && snapshotBelongs(s, volume, await this.#volumeNamesIf(true))) return;
      throw new OneblkError(
        "exists",
        `StorPool snapshot ${snapshot} already exists on another volume (${s?.onVolume})`,
      );
    }
  }

  async createSnapshots(items: { volume: string; snapshot: string }[]): Promise<void> {
    if (!items.length) return;
    try {
      await this.#client.volumesGroupSnapshot({
        volumes: items.map((i) => ({ volume: i.volume, name: i.snapshot })),
      });
    } catch (e) {
      if (unknownOutcome(e)) {
        // Taken by this call when every snapshot exists now (the group snapshot is atomic).
        const have = new Set(
          (await this.#client.snapshotsList().catch(() => [])).map((s) => s.name),
        );
        if (items.every((i) => have.has(i.snapshot))) return;
        throw e;
      }
      if (!isKind(e, "exists")) throw e;
      const all = new Map((await this.#client.snapshotsList()).map((s) => [s.name, s]));
      const names = await this.#volumeNamesIf(items.some((i) => {
        const s = all.get(i.snapshot);
        return s !== undefined && snapshotOwnership(s, i.volume) === "maybe";
      }));
      const missing = items.filter((i) => {
        const s = all.get(i.snapshot);
        return !s || !snapshotBelongs(s, i.volume, names);
      });
      if (!missing.length) return;
      throw new OneblkError(
        "exists",
        `group snapshot: ${missing.map((i) => i.snapshot).join(", ")} clash with existing ` +
          `snapshots while others exist already; nothing was created`,
      );
    }
  }

  async deleteSnapshot(_volume: string, snapshot: string): Promise<void> {
    await this.#deleteSnapshotNamed(snapshot);
  }

  async rollbackSnapshot(volume: string, snapshot: string): Promise<void> {
    try {
      await this.#client.volumeRevert(volume, snapshot, true);
      return;
    } catch (e) {
      if (isKind(e, "not_found")) throw e;
      const att = (await this.#client.attachmentsList()).filter((a) =>
        !a.snapshot && a.volume === volume
      );
      if (!att.length) throw e;
      await this.#detachItems(
        [{ volume, detach: att.map((a) => a.client) }],
        `StorPool volume ${volume}`,
      );
      const back = (): ReassignDesc => ({
        volume,
        rw: att.filter((a) => a.rights === "rw").map((a) => a.client),
        ro: att.filter((a) => a.rights !== "rw").map((a) => a.client),
      });
      try {
        await this.#client.volumeRevert(volume, snapshot, true);
      } catch (e2) {
        await this.#client.volumesReassignWait([back()], this.#attachTimeout).catch(() => {});
        throw e2;
      }
      await this.#client.volumesReassignWait([back()], this.#attachTimeout);
    }
  }

  /** StorPool attaches the snapshot itself (read-only); no scratch volume. */
  async openSnapshot(
    _volume: string,
    snapshot: string,
    host: string,
    _scratch: string,
    _placement: StorpoolPlacement,
  ): Promise<string> {
    const id = await this.#idOf(host);
    await this.#client.volumesReassignWait([{ snapshot, ro: [id] }], this.#attachTimeout);
    return this.devicePath(snapshot);
  }

  async closeSnapshot(
    _volume: string,
    snapshot: string,
    host: string,
    _scratch: string,
  ): Promise<void> {
    const id = await this.#idOf(host);
    try {
      await this.#detachItems(
        [{ snapshot, detach: [id], force: this.#force }],
        `StorPool snapshot ${snapshot} on ${host}`,
      );
    } catch (e) {
      if (!isKind(e, "not_found")) throw e;
    }
  }

  async attachments(volume: string, host?: string): Promise<Attachment[]> {
    // (the listing is the cluster's: a host's attachments are picked by its client id; a host
    // without one has none, as #hostOf names no attachment after it)
    const [all, id] = await Promise.all([
      this.#client.attachmentsList(),
      host === undefined ? undefined : this.#idOf(host).catch((e) => {
        if (isKind(e, "config")) return null;
        throw e;
      }),
    ]);
    const list: AttachmentDesc[] = all.filter((a) =>
      !a.snapshot && a.volume === volume && (id === undefined || a.client === id)
    );
    const out: Attachment[] = [];
    for (const a of list) {
      out.push({
        host: host ?? await this.#hostOf(a.client),
        diskful: false,
        tieBreaker: false,
        inUse: a.open === true,
        readOnly: a.rights === "ro",
      });
    }
    return out;
  }

  async attach(volume: string, host: string, opts: AttachOptions = {}): Promise<void> {
    const id = await this.#idOf(host);
    const item: ReassignDesc = opts.readOnly ? { volume, ro: [id] } : { volume, rw: [id] };
    // An earlier call may have left this attachment marked as its leftover: this attach wants
    // it, so the mark goes (types.ts, attach), after the attach (a failed attach keeps the
    // mark of an attachment that was there). The volume's tags, as this backend read or made
    // them in this action, tell whether there is one; unknown, they are read beside the attach
    // (no round trip of its own), and the mark is dropped unless that read shows none.
    const tag = `${ATT_TAG}${id}`;
    let known = this.#tags.get(volume);
    const read = known
      ? undefined
      : this.#client.volume(volume).then((l) => this.#learn(l)[0]?.tags ?? {}, () => undefined);
    try {
      await this.#attaching.join("", item);
    } finally {
      if (read) known = await read;
    }
    if (known && known[tag] === undefined) return;
    await this.#client.volumeUpdate(volume, { tags: { [tag]: "" } });
    const now = this.#tags.get(volume);
    if (now) delete now[tag];
  }

  async detach(volume: string, host: string): Promise<void> {
    const id = await this.#idOf(host);
    try {
      await this.#detachItems(
        [{ volume, detach: [id], force: this.#force }],
        `StorPool volume ${volume} on ${host}`,
      );
    } catch (e) {
      if (isKind(e, "not_found")) return;
      throw e;
    }
  }

  /** StorPool lets a volume be attached rw on several clients: nothing to allow. */
  setDualPrimary(_volume: string, _allow: boolean): Promise<void> {
    return Promise.resolve();
  }

  warmHosts(hosts: readonly string[]): void {
    // the resolver keeps an answer for the process and shares one on its way; not a failure
    for (const h of hosts) this.#idOf(h).catch(() => {});
  }

  async setProps(volume: string, props: Record<string, string | null>): Promise<void> {
    const tags: Tags = {};
    for (const [k, v] of Object.entries(props)) tags[k] = v ?? "";
    if (!Object.keys(tags).length) return;
    await this.#client.volumeUpdate(volume, { tags: checkTags(tags, volume) });
  }

  async usageVolumes(match: Record<string, string>): Promise<UsageVolume[]> {
    // Both listings are read element by element (the whole cluster's: 4 MB at 10,000
    // volumes), keeping only what is used below; a volume outside `match` only by its name.
    const entries = Object.entries(match);
    const [vols, snaps] = await Promise.all([
      this.#client.volumesSpace((v) => ({
        name: v.name,
        mine: entries.every(([k, val]) => v.tags?.[k] === val)
          ? {
            props: ownTags(v.tags),
            stamp: `${v.globalId}/${v.size}`,
            allocatedMiB: mib(v.spaceUsed ?? v.storedSize ?? 0),
          }
          : undefined,
      })),
      this.#client.snapshotsSpace((s) => ({
        name: s.name,
        onVolume: s.onVolume,
        autoName: s.autoName,
        deleted: s.deleted,
        mib: mib(s.spaceUsed ?? s.storedSize ?? 0),
      })),
    ]);
    const allNames = new Set(vols.map((v) => v.name));
    const owned = new Map<string, Record<string, number>>();
    for (const s of snaps) {
      const owner = snapshotOwner(s, allNames);
      if (owner === undefined) continue;
      const rec = owned.get(owner) ?? {};
      rec[s.name] = s.mib;
      owned.set(owner, rec);
    }
    const out: UsageVolume[] = [];
    for (const { name, mine } of vols) {
      if (!mine) continue;
      out.push({
        name,
        props: mine.props,
        stamp: mine.stamp,
        usage: { allocatedMiB: mine.allocatedMiB, snapshots: owned.get(name) ?? {} },
      });
    }
    return out;
  }

  /** StorPool's space listings cannot be filtered: the same two listings as usageVolumes. */
  async readUsage(volumes: UsageVolume[]): Promise<Map<string, UsageFigures>> {
    const out = new Map<string, UsageFigures>();
    if (!volumes.length) return out;
    const now = new Map((await this.usageVolumes({})).map((v) => [v.name, v.usage!]));
    for (const v of volumes) out.set(v.name, now.get(v.name) ?? { allocatedMiB: 0, snapshots: {} });
    return out;
  }

  async #markTag(ref: LeftoverRef): Promise<string> {
    return ref.kind === "volume" ? LEFTOVER_TAG : `${ATT_TAG}${await this.#idOf(ref.host)}`;
  }

  async markLeftover(ref: LeftoverRef, owner: string): Promise<void> {
    const tag = await this.#markTag(ref);
    // Whatever the outcome, an attach must look for the mark.
    this.#tags.delete(ref.name);
    await this.#client.volumeUpdate(ref.name, { tags: { [tag]: encodeMark(owner) } });
  }

  async clearMark(ref: LeftoverRef): Promise<void> {
    try {
      const tag = await this.#markTag(ref);
      await this.#client.volumeUpdate(ref.name, { tags: { [tag]: "" } });
      delete this.#tags.get(ref.name)?.[tag];
    } catch (e) {
      if (!isKind(e, "not_found")) throw e;
    }
  }

  async findLeftovers(): Promise<Leftover[]> {
    const [vols, snaps] = await Promise.all([
      this.#client.volumesList().then((l) => this.#learn(l)),
      this.#client.snapshotsList(),
    ]);
    const out: Leftover[] = [];
    for (const v of vols) {
      for (const [tag, text] of Object.entries(v.tags ?? {})) {
        const m = decodeMark(text);
        if (!m) continue;
        if (tag === LEFTOVER_TAG) {
          out.push({
            kind: "volume",
            name: v.name,
            owner: m.owner,
            since: m.since,
            reason: `volume left unfinished by ${m.owner}`,
          });
        } else if (tag.startsWith(ATT_TAG) && /^\d+$/.test(tag.slice(ATT_TAG.length))) {
          const host = await this.#hostOf(Number(tag.slice(ATT_TAG.length)));
          out.push({
            kind: "attachment",
            name: v.name,
            volume: v.name,
            host,
            owner: m.owner,
            since: m.since,
            reason: `temporary attachment on ${host} not released by ${m.owner}`,
          });
        }
      }
    }
    for (const s of snaps) {
      if (!isTempSnapshot(s.name) || s.deleted) continue;
      const owner = tempSnapshotOwner(s.name);
      out.push({
        kind: "snapshot",
        name: s.name,
        volume: s.onVolume,
        owner,
        since: (s.creationTimestamp ?? 0) * 1000,
        reason: `temporary snapshot of ${s.onVolume} not removed (${owner})`,
      });
    }
    return out;
  }

  async capacity(placement: StorpoolPlacement): Promise<Capacity> {
    if (!placement.group) {
      throw new OneblkError("config", "StorPool capacity needs a template (placement group)");
    }
    const t = (await this.#client.templatesStatus()).find((x) => x.name === placement.group);
    if (!t) {
      throw new OneblkError("config", `StorPool template '${placement.group}' does not exist`);
    }
    const totalMiB = Math.floor(t.stored.capacity / MiB);
    const freeMiB = Math.min(totalMiB, Math.floor(t.stored.free / MiB));
    return { totalMiB, freeMiB, usedMiB: totalMiB - freeMiB };
  }

  close(): Promise<void> {
    this.#client.close();
    return Promise.resolve();
  }
}

/** Open a StorPool backend (no request is made until an operation runs). */
export function createStorpoolBackend(
  cfg: StorpoolConfig,
  deps: StorpoolBackendDeps,
): Backend<StorpoolPlacement> {
  return new StorpoolBackend(cfg, deps);
}

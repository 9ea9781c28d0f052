/**
 * The LINSTOR implementation of the Backend interface (lib/backend/types.ts).
 *
 * Volume = resource definition (RD) with volume 0, device `/dev/drbd/by-res/<RD>/0`; or, for a
 * resource adopted with its own DRBD volume number, `<RD>/<n>`, device `/dev/drbd/by-res/<RD>/<n>`
 * (volume_ref.ts). Clones of such a volume are block copies into a new volume 0.
 * Metadata (setProps) = RD properties `Aux/one/<key>`. Snapshots = LINSTOR snapshots.
 *
 * Placement (LinstorPlacement):
 * - `group`: resource group. Set → create = `POST /v1/resource-groups/{rg}/spawn`.
 *   Empty → RD + VD + autoplace (or explicit resources on `nodes`) in DfltRscGrp.
 * - `replicas`: place count override (select_filter.place_count).
 * - the LINSTOR fields below map to select_filter fields; `nodes` without a group creates one
 *   resource per node, with a group it restricts placement; `encryption` without a group gives
 *   the VD the ENCRYPTED flag, with a group adds the LUKS layer to the layer stack;
 *   `cloneFromSnapshot` makes clones skip the LINSTOR clone API and start with snapshot +
 *   restore.
 *
 * Read-only attach (CDROMs, READONLY disks, export and backup reads): the node's resource gets
 * the mark READ_ONLY below (an Aux property: LINSTOR takes no DRBD option on one node's
 * resource); attachments() reports it, and detach drops it from a replica that stays.
 *
 * Leftover marks (types.ts): `Aux/oneblk/leftover` on the RD (a volume) or on the node's
 * resource (an attachment); findLeftovers lists both with one filtered query each, and the
 * temporary snapshots (`oneblk-…`) with one snapshot view. A pending volume is marked by the
 * request that makes it (spawn, RD create, clone); an attach that finds the node's resource
 * there removes its mark unless this backend knows it has none (its views, its new RDs).
 *
 * Placement of a clone (#place): the clone API and the snapshot restore put the copy on the
 * source's nodes; the copy is then counted like a new volume (a replica on the preferred host,
 * the placement's or its resource group's count: missing replicas autoplaced, extra ones away
 * from the host and not in use removed). The block copy creates its target like a new volume.
 *
 * REST economy: no unfiltered listings, no version probe, one call for the common path of
 * each operation (create: 1 spawn; attach: 1, read-only 2, plus 1 when the node's resource
 * existed and may carry a leftover mark; detach: 1 view + 1 delete; delete:
 * 1, plus the snapshot steps only when LINSTOR answers "has snapshots"; usageVolumes: 1 RD
 * listing filtered by the metadata; readUsage: one view and one snapshot view per chunk of
 * names that fits a request line (about 130), filtered by name because the `props` filter of
 * /v1/view/resources matches resource (per node) properties, not the RD properties where the
 * metadata lives).
 *
 * Rename: LINSTOR cannot rename an RD. renameVolume = server-side clone into the new name
 * (props kept) + delete of the old RD; it refuses volumes with snapshots (they cannot move)
 * and volumes in use.
 */
import { isKind, OneblkError } from "../../errors.ts";
import { sleep } from "../../timer.ts";
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
import { TEMP_PREFIX } from "../types.ts";
import {
  decodeMark,
  encodeMark,
  isTempSnapshot,
  ownerKey,
  tempSnapshotName,
  tempSnapshotOwner,
} from "../marks.ts";
import { CODE, isError, isWarnNotFound, rcClass, rcCode } from "./api_call_rc.ts";
import {
  LinstorApiError,
  LinstorClient,
  type LinstorClientOptions,
  type LinstorReply,
  nameChunks,
  seg,
} from "./client.ts";
import { linstorDevicePath, parseVolumeRef, rdOf, volumeRef } from "./volume_ref.ts";
import { compareText } from "../../compare.ts";
import { TurnBatches } from "../../limit.ts";

/** Where new LINSTOR volumes go (built by the LINSTOR add-ons' profiles). */
export interface LinstorPlacement extends PlacementBase {
  /** Storage pools for diskful replicas (storage_pool_list). */
  storagePools?: string[];
  /** Diskless pools (storage_pool_diskless_list). */
  disklessPools?: string[];
  /** Explicit nodes (node_name_list; without a group: one resource on each). */
  nodes?: string[];
  /** Layer stack, e.g. ["DRBD", "STORAGE"] (layer_stack). */
  layers?: string[];
  /** Provider kinds, e.g. ["LVM_THIN", "ZFS_THIN"] (provider_list). */
  providers?: string[];
  /** Node property names replicas share (replicas_on_same). */
  replicasOnSame?: string[];
  /** Node property names replicas differ in (replicas_on_different). */
  replicasOnDifferent?: string[];
  /** Resources not to share nodes with (not_place_with_rsc). */
  notPlaceWith?: string[];
  /** Regex of resources not to share nodes with (not_place_with_rsc_regex). */
  notPlaceWithRegex?: string;
  /** LUKS encryption (a group: LUKS layer; no group: ENCRYPTED volume definition). */
  encryption?: boolean;
  /** Clones start with snapshot + restore instead of the LINSTOR clone API. */
  cloneFromSnapshot?: boolean;
}

/** Connection settings of the LINSTOR backend (the REST client's, plus data-step deadlines). */
export interface LinstorConfig extends
  Pick<
    LinstorClientOptions,
    "controllers" | "caFile" | "certFile" | "keyFile" | "token" | "timeoutMs"
  > {
  /** Deadline for a server-side clone to complete in ms (default 900000). */
  cloneTimeoutMs?: number;
  /** Deadline of the dd block copy in ms (default 3600000). */
  copyTimeoutMs?: number;
}

/** Dependencies of the LINSTOR backend. */
export interface LinstorDeps {
  /** Runs dd for the block-copy clone fallback. */
  hosts?: HostRunner;
}

const AUX = "Aux/one/";
/** Most resource names sent as a list filter in one query string. */
/** Chunked name-filtered listings in flight at once (readUsage). */
const CHUNKS_IN_FLIGHT = 4;
const TWO_PRIMARIES = "DrbdOptions/Net/allow-two-primaries";
/** Leftover mark (types.ts) on an RD (volume) or a node's resource (attachment). */
const LEFTOVER = "Aux/oneblk/leftover";
/**
 * Read-only attachment mark on the node's resource. LINSTOR allows DRBD resource options
 * (auto-promote among them) only on the controller and resource definitions, never on one
 * node's resource (a real controller refuses the key with FAIL_INVLD_PROP), so the mark is an
 * Aux property: the device is opened for reading only by its users (DRBD promotes a node only
 * on a write open).
 */
const READ_ONLY = "Aux/oneblk/read-only";
const PROP_KEY_RE = /^[A-Za-z0-9_.-]+$/;
/**
 * The volume number the RD's Aux/one metadata is about, set with it when that is not volume 0
 * (setProps on `<resource>/<n>`): usageVolumes names the volume from it, its listing being
 * asked without the volume definitions.
 */
const META_VNR = "Aux/oneblk/volume-number";
/** The volume-definition property naming an existing backing volume (adopted resources). */
const OVERRIDE_VLM_ID = "OverrideVlmId";
/** Name prefix of the clone fallback's temporary snapshots. */
const TEMP_CLONE = `${TEMP_PREFIX}clone`;
/** A temporary snapshot older than this was left by a call that ended long ago. */
const STALE_TEMP_MS = 3_600_000;

/** What an existing volume is, for the reuse rule (types.ts). */
type Verdict =
  | { state: "absent" | "cloning" }
  | { state: "complete"; sizeMiB: number }
  /** Holds no data worth keeping: a failed clone, an unfinished or an empty volume. */
  | { state: "failed" | "unfinished" | "empty"; why: string }
  /** Not complete, but holds data (snapshots): never deleted here. */
  | { state: "stuck"; why: string };

/** The clone target's name is taken (FAIL_EXISTS_RSC_DFN at the first creating step). */
class TargetExists extends OneblkError {
  constructor(target: string) {
    super("exists", `LINSTOR volume ${target} already exists`);
  }
}

interface RdJson {
  name: string;
  uuid?: string;
  props?: Record<string, string>;
  flags?: string[];
  resource_group_name?: string;
  volume_definitions?: {
    volume_number?: number;
    size_kib: number;
    props?: Record<string, string>;
  }[];
}
interface VolumeJson {
  volume_number?: number;
  storage_pool_name?: string;
  provider_kind?: string;
  allocated_size_kib?: number;
}
interface RscJson {
  name: string;
  node_name: string;
  flags?: string[];
  props?: Record<string, string>;
  state?: { in_use?: boolean };
  volumes?: VolumeJson[];
}
interface SnapJson {
  name: string;
  resource_name: string;
  flags?: string[];
  volume_definitions?: { volume_number?: number; size_kib?: number }[];
  snapshots?: { create_timestamp?: number }[];
}

/** Most resource names one batched view request carries (#viewOne). */
const VIEW_BATCH_MAX = 32;

function sameName(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase();
}

function isDiskless(r: RscJson): boolean {
  const f = r.flags ?? [];
  return f.includes("DISKLESS") || f.includes("DRBD_DISKLESS") || f.includes("TIE_BREAKER");
}

function isDeleting(r: RscJson): boolean {
  const f = r.flags ?? [];
  return f.includes("DELETE") || f.includes("DRBD_DELETE");
}

function kib(mib: number): number {
  return Math.ceil(mib * 1024);
}

function mibDown(k: number): number {
  return Math.floor(k / 1024);
}

function checkName(kind: string, name: string): void {
  if (!/^[a-zA-Z0-9_][a-zA-Z0-9_-]{1,47}$/.test(name)) {
    throw new OneblkError("input", `invalid LINSTOR ${kind} name ${JSON.stringify(name)}`);
  }
}

function checkSize(sizeMiB: number): void {
  if (!Number.isFinite(sizeMiB) || sizeMiB <= 0) {
    throw new OneblkError("input", `invalid volume size ${sizeMiB} MiB`);
  }
}

/** select_filter fields from a placement (without place_count unless replicas is set). */
export function selectFilter(p: LinstorPlacement): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (p.replicas !== undefined && p.replicas > 0) f.place_count = p.replicas;
  if (p.storagePools?.length) f.storage_pool_list = [...p.storagePools];
  if (p.disklessPools?.length) f.storage_pool_diskless_list = [...p.disklessPools];
  const layers = (p.layers ?? []).map((s) => s.toUpperCase());
  if (p.encryption && p.group) {
    const base = layers.length ? layers : ["DRBD", "STORAGE"];
    if (!base.includes("LUKS")) base.splice(Math.max(0, base.indexOf("STORAGE")), 0, "LUKS");
    f.layer_stack = base;
  } else if (layers.length) f.layer_stack = layers;
  const prov = (p.providers ?? []).map((s) => s.toUpperCase());
  if (prov.length) f.provider_list = prov;
  if (p.replicasOnSame?.length) f.replicas_on_same = [...p.replicasOnSame];
  if (p.replicasOnDifferent?.length) f.replicas_on_different = [...p.replicasOnDifferent];
  if (p.notPlaceWith?.length) f.not_place_with_rsc = [...p.notPlaceWith];
  if (p.notPlaceWithRegex) f.not_place_with_rsc_regex = p.notPlaceWithRegex;
  if (p.group) {
    const nodes = p.nodes ?? [];
    if (nodes.length) {
      f.node_name_list = nodes;
      if (f.place_count === undefined) f.place_count = nodes.length;
    }
  }
  return f;
}

function auxProps(props?: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(props ?? {})) {
    if (!PROP_KEY_RE.test(k)) throw new OneblkError("input", `invalid metadata key "${k}"`);
    out[AUX + k] = v;
  }
  return out;
}

function stripAux(props?: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  // for…in, not Object.entries: no pair arrays (a 10,000-RD listing goes through here)
  for (const k in props) {
    if (k.startsWith(AUX)) out[k.slice(AUX.length)] = props[k];
  }
  return out;
}

/** Run `fn` on every item, at most `width` at a time; rejects with the first failure. */
async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** True when `e` is a LINSTOR reply with an error entry carrying `code`. */
function errHas(e: unknown, ...codes: number[]): e is LinstorApiError {
  return e instanceof LinstorApiError &&
    e.rcs.some((r) => isError(r.ret_code) && codes.includes(rcCode(r.ret_code)));
}

/** Key of a node's resource of an RD (names are case-insensitive). */
const rscKey = (rd: string, node: string) => `${rd.toUpperCase()}@${node.toUpperCase()}`;

/** REST path of the resource definition of volume `v`. */
const rdPath = (v: string) => `/v1/resource-definitions/${seg(rdOf(v))}`;

/** The volume definition of volume number `vnr` among `vds`. */
function vdOf<T extends { volume_number?: number }>(
  vds: T[] | undefined,
  vnr: number,
): T | undefined {
  return (vds ?? []).find((v) => (v.volume_number ?? 0) === vnr);
}

/**
 * Volume `vnr` of a resource's (or snapshot's) volumes; for a plain resource name (null) its
 * volume 0, else its only volume (a hand-made resource with one volume of another number).
 */
function pickVolume<T extends { volume_number?: number }>(
  vols: T[] | undefined,
  vnr: number | null,
): T | undefined {
  if (vnr !== null) return vdOf(vols, vnr);
  return vdOf(vols, 0) ?? (vols?.length === 1 ? vols[0] : undefined);
}

/** The volume an RD's metadata is about: `<resource>`, or `<resource>/<n>` (META_VNR). */
function metaVolume(rd: RdJson): string {
  const n = rd.props?.[META_VNR];
  if (n === undefined) return rd.name;
  try {
    return volumeRef(rd.name, parseVolumeRef(`${rd.name}/${n}`).vnr);
  } catch {
    return rd.name; // not a volume number: the metadata's volume is found in the views
  }
}

/** The LINSTOR backend. */
class LinstorBackend implements Backend<LinstorPlacement> {
  readonly kind = "linstor";
  readonly stats: BackendStats;
  readonly #c: LinstorClient;
  readonly #cfg: LinstorConfig;
  readonly #hosts?: HostRunner;
  /**
   * Whether a node's resource carries an attachment mark, as this backend last saw it (its
   * views) or left it (its attaches, marks, detaches): an attach clears a mark only where
   * there may be one. Keys: rscKey.
   */
  readonly #marked = new Map<string, boolean>();
  /** RDs this backend created: their resources start without marks. */
  readonly #made = new Set<string>();

  constructor(cfg: LinstorConfig, deps: LinstorDeps) {
    this.#cfg = cfg;
    this.#c = new LinstorClient({
      controllers: cfg.controllers,
      caFile: cfg.caFile,
      certFile: cfg.certFile,
      keyFile: cfg.keyFile,
      token: cfg.token,
      timeoutMs: cfg.timeoutMs,
    });
    this.stats = this.#c.stats;
    this.#hosts = deps.hosts;
  }

  /** The REST client (tests, diagnostics). */
  get client(): LinstorClient {
    return this.#c;
  }

  devicePath(volume: string): string {
    return linstorDevicePath(volume);
  }

  /** GET /v1/view/resources with `query`; learns each resource's attachment mark. */
  async #view(query: Record<string, string[]>): Promise<RscJson[]> {
    const { resources, ...rest } = query;
    if (resources?.length === 1) return await this.#viewOne(resources[0], rest);
    return this.#learn(await this.#c.get<RscJson[]>("/v1/view/resources", query));
  }

  /** Note whether each resource carries an attachment mark (#mayBeMarked); returns them. */
  #learn(rscs: RscJson[]): RscJson[] {
    for (const r of rscs) {
      this.#marked.set(rscKey(r.name, r.node_name), r.props?.[LEFTOVER] !== undefined);
    }
    return rscs;
  }

  /** Views of single resources asked in the same turn, by their other filters (see #viewOne). */
  readonly #views = new TurnBatches<string, RscJson[]>(
    (key, names) =>
      this.#c.get<RscJson[]>("/v1/view/resources", { ...JSON.parse(key), resources: names })
        .then((rscs) => this.#learn(rscs)),
    { max: VIEW_BATCH_MAX, same: sameName },
  );

  /**
   * The view of one resource (with `rest`'s filters). Asked in the same turn as others with the
   * same filters (the disks of a VM, side by side), it goes in one request naming them all,
   * sent once the turn is over: every caller gets a reading taken after it asked, and only its
   * own resource's entries.
   */
  async #viewOne(name: string, rest: Record<string, string[]>): Promise<RscJson[]> {
    const rscs = await this.#views.join(JSON.stringify(rest), name);
    return rscs.filter((r) => sameName(r.name, name));
  }

  /**
   * GET /v1/view/resources with `query`, read element by element (LinstorClient.getItems):
   * keeps what `pick` returns of each resource; learns each one's attachment mark like #view.
   */
  #viewItems<U>(
    query: Record<string, string[]>,
    pick: (r: RscJson) => U | undefined,
  ): Promise<U[]> {
    return this.#c.getItems<RscJson, U>("/v1/view/resources", query, (r) => {
      this.#learn([r]);
      return pick(r);
    });
  }

  /** False when `host`'s resource of `volume` is known to carry no attachment mark. */
  #mayBeMarked(volume: string, host: string): boolean {
    return this.#marked.get(rscKey(rdOf(volume), host)) ??
      !this.#made.has(rdOf(volume).toUpperCase());
  }

  async #rd(volume: string): Promise<RdJson | null> {
    const name = rdOf(volume);
    const rds = await this.#c.get<RdJson[]>("/v1/resource-definitions", {
      resource_definitions: [name],
      with_volume_definitions: true,
    });
    return rds.find((r) => sameName(r.name, name) && !(r.flags ?? []).includes("DELETE")) ??
      null;
  }

  /** Volume `volume` of `rd` (its size is that of its volume number). */
  #info(rd: RdJson, volume: string): VolumeInfo {
    const { vnr } = parseVolumeRef(volume);
    const vd = vdOf(rd.volume_definitions, vnr);
    return {
      name: volumeRef(rd.name, vnr),
      sizeMiB: vd ? mibDown(vd.size_kib) : 0,
      props: stripAux(rd.props),
    };
  }

  async getVolume(volume: string): Promise<VolumeInfo | null> {
    const rd = await this.#rd(volume);
    return rd ? this.#info(rd, volume) : null;
  }

  /** Status of the clone `target` of `source` (clone API); null when it is no such clone. */
  async #cloneStatus(source: string, target: string): Promise<string | null> {
    try {
      const st = await this.#c.get<{ status?: string }>(
        `${rdPath(source)}/clone/${seg(target)}`,
      );
      return st.status ?? null;
    } catch (e) {
      if (e instanceof LinstorApiError && e.kind === "not_found") return null;
      throw e;
    }
  }

  /**
   * What an existing volume is, for the reuse rule (types.ts). `source`: it may be a clone of
   * that volume (its clone status is asked). `ownMark`: a leftover mark of this owner was set
   * by the calling operation itself and does not make the volume unfinished.
   */
  async #verdict(volume: string, source?: string, ownMark?: string): Promise<Verdict> {
    const rd = await this.#rd(volume);
    if (!rd) return { state: "absent" };
    const flags = rd.flags ?? [];
    if (flags.includes("FAILED")) return { state: "failed", why: "its clone FAILED" };
    if (flags.includes("CLONING")) return { state: "cloning" };
    if (source) {
      const st = await this.#cloneStatus(source, volume);
      if (st === "CLONING") return { state: "cloning" };
      if (st === "FAILED") return { state: "failed", why: "its clone FAILED" };
    }
    const mark = decodeMark(rd.props?.[LEFTOVER]);
    if (mark && (!ownMark || ownerKey(mark.owner) !== ownerKey(ownMark))) {
      return { state: "unfinished", why: `left unfinished by ${mark.owner}` };
    }
    const vd = vdOf(rd.volume_definitions, parseVolumeRef(volume).vnr);
    if (vd) {
      const rscs = await this.#view({ resources: [rd.name] });
      if (rscs.some((r) => sameName(r.name, rd.name) && !isDiskless(r) && !isDeleting(r))) {
        return { state: "complete", sizeMiB: mibDown(vd.size_kib) };
      }
    }
    const why = vd ? "it has no replica" : "it has no volume";
    const snaps = await this.listSnapshots(volume);
    if (snaps.length) return { state: "stuck", why: `${why} but ${snaps.length} snapshot(s)` };
    return { state: "empty", why };
  }

  /** Best-effort removal of something this call created; never throws. */
  async #cleanup(volume: string): Promise<void> {
    try {
      await this.deleteVolume(volume);
    } catch { /* the original error matters more */ }
  }

  async createVolume(
    volume: string,
    sizeMiB: number,
    opts: CreateOptions<LinstorPlacement>,
  ): Promise<boolean> {
    checkName("resource", volume);
    checkSize(sizeMiB);
    const made = await this.#create(volume, sizeMiB, opts, true);
    if (made) this.#made.add(rdOf(volume).toUpperCase());
    return made;
  }

  /**
   * createVolume. `redo`: an existing volume that holds no data may be deleted and made again
   * (once).
   */
  async #create(
    volume: string,
    sizeMiB: number,
    opts: CreateOptions<LinstorPlacement>,
    redo: boolean,
  ): Promise<boolean> {
    const p = opts.placement;
    const props = auxProps(opts.props);
    if (opts.pending) props[LEFTOVER] = encodeMark(opts.pending);
    const filter = selectFilter(p);
    const size = kib(sizeMiB);
    const failed = async (e: unknown): Promise<boolean> => {
      if (errHas(e, CODE.FAIL_EXISTS_RSC_DFN)) {
        return await this.#existing(volume, sizeMiB, e, redo ? opts : undefined);
      }
      if (e instanceof LinstorApiError) throw e;
      // Unknown outcome: read what exists. A complete volume was made by this call; anything
      // else it may have begun is removed (a retry makes it whole).
      const v = await this.#verdict(volume, undefined, opts.pending).catch(() => null);
      if (v?.state === "complete" && v.sizeMiB === Math.ceil(sizeMiB)) return true;
      if (v && v.state !== "absent") await this.#cleanup(volume);
      throw e;
    };
    if (p.group) {
      const body: Record<string, unknown> = {
        resource_definition_name: volume,
        volume_sizes: [size],
        partial: false,
        definitions_only: !!opts.preferHost,
      };
      if (Object.keys(filter).length) body.select_filter = filter;
      if (Object.keys(props).length) body.resource_definition_props = props;
      let r: LinstorReply;
      try {
        r = await this.#c.write("POST", `/v1/resource-groups/${seg(p.group)}/spawn`, body);
      } catch (e) {
        if (errHas(e, CODE.FAIL_NOT_FOUND_RSC_GRP)) {
          throw new OneblkError("config", `LINSTOR resource group ${p.group} not found`);
        }
        // A definite refusal: remove whatever the spawn may have left.
        if (e instanceof LinstorApiError && !errHas(e, CODE.FAIL_EXISTS_RSC_DFN)) {
          await this.#cleanup(volume);
        }
        return await failed(e);
      }
      const spawned = !r.rcs.some((e) =>
        rcClass(e.ret_code) === "info" && rcCode(e.ret_code) === CODE.INFO_NO_RSC_SPAWNED
      );
      if (!spawned || opts.preferHost) {
        try {
          await this.#place(volume, p, opts.preferHost);
        } catch (e) {
          await this.#cleanup(volume);
          throw e;
        }
      }
      return true;
    }
    try {
      await this.#c.write("POST", "/v1/resource-definitions", {
        resource_definition: { name: volume, props },
      });
    } catch (e) {
      return await failed(e);
    }
    try {
      const vd: Record<string, unknown> = { size_kib: size };
      if (p.encryption) vd.flags = ["ENCRYPTED"];
      await this.#c.write("POST", `${rdPath(volume)}/volume-definitions`, {
        volume_definition: vd,
      });
      const nodes = p.nodes ?? [];
      if (nodes.length) {
        const pool = p.storagePools?.[0];
        const items = nodes.map((n) => {
          const res: Record<string, unknown> = { node_name: n };
          if (pool) res.props = { StorPoolName: pool };
          const item: Record<string, unknown> = { resource: res };
          const layers = filter.layer_stack as string[] | undefined;
          if (layers) item.layer_list = layers;
          return item;
        });
        await this.#c.write("POST", `${rdPath(volume)}/resources`, items);
      } else await this.#place(volume, p, opts.preferHost);
    } catch (e) {
      await this.#cleanup(volume);
      throw e;
    }
    return true;
  }

  /**
   * A create found `volume` existing (the reuse rule, types.ts): complete with the same size →
   * false (idempotent); holding no data (a failed clone, unfinished, empty) → deleted and made
   * again when `redo` is given; anything else → kind "exists", left as it is.
   */
  async #existing(
    volume: string,
    sizeMiB: number,
    err: unknown,
    redo?: CreateOptions<LinstorPlacement>,
  ): Promise<boolean> {
    const v = await this.#verdict(volume);
    if (v.state === "absent") throw err;
    if (v.state === "complete") {
      if (v.sizeMiB === Math.ceil(sizeMiB)) return false;
      throw new OneblkError(
        "exists",
        `LINSTOR volume ${volume} already exists with ${v.sizeMiB} MiB (wanted ${sizeMiB} MiB)`,
      );
    }
    if (redo && (v.state === "failed" || v.state === "unfinished" || v.state === "empty")) {
      await this.deleteVolume(volume);
      return await this.#create(volume, sizeMiB, redo, false);
    }
    throw new OneblkError(
      "exists",
      `LINSTOR volume ${volume} already exists and is not complete (${
        "why" in v ? v.why : "its clone is running"
      }): left as it is`,
    );
  }

  /** make-available diskful on the preferred host; "no diskful pool there" is not an error. */
  async #preferDiskful(volume: string, host: string): Promise<void> {
    try {
      await this.#c.write(
        "POST",
        `${rdPath(volume)}/resources/${seg(host)}/make-available`,
        { diskful: true },
      );
    } catch (e) {
      if (errHas(e, CODE.FAIL_NOT_FOUND_STOR_POOL, CODE.FAIL_NOT_FOUND_NODE)) return;
      throw e;
    }
  }

  /**
   * The one placement rule of a new volume, however it was made: diskful on `preferHost` (when
   * given) and as many diskful replicas as the placement asks for. A volume the autoplacer
   * places (a create, the block copy's new volume) gets the missing ones from it. A copy LINSTOR
   * placed itself (`copied`: clone API and snapshot restore put it on the source's nodes) is
   * counted: missing replicas are autoplaced, extra ones away from the host and not in use are
   * removed (a clone on a host that held no source replica would keep one too many).
   */
  async #place(
    volume: string,
    p: LinstorPlacement,
    preferHost?: string,
    copied = false,
  ): Promise<void> {
    if (preferHost) await this.#preferDiskful(volume, preferHost);
    const filter = selectFilter(p);
    if (!p.group && filter.place_count === undefined) filter.place_count = p.nodes?.length || 2;
    const autoplace = () =>
      this.#c.write("POST", `${rdPath(volume)}/autoplace`, { select_filter: filter });
    if (!copied) {
      await autoplace();
      return;
    }
    const name = rdOf(volume);
    const rscs = await this.#view({ resources: [name] });
    const disks = rscs.filter((r) => sameName(r.name, name) && !isDiskless(r) && !isDeleting(r));
    const want = await this.#placeCount(p, filter);
    if (disks.length < want) {
      await autoplace();
      return;
    }
    const spare = disks
      .filter((r) => !r.state?.in_use && !(preferHost && sameName(r.node_name, preferHost)))
      .sort((a, b) => compareText(b.node_name, a.node_name))
      .slice(0, disks.length - want);
    for (const r of spare) {
      await this.#c.write("DELETE", `${rdPath(volume)}/resources/${seg(r.node_name)}`);
    }
  }

  /** Diskful replicas a placement asks for: its own count, else its resource group's (2). */
  async #placeCount(p: LinstorPlacement, filter: Record<string, unknown>): Promise<number> {
    if (typeof filter.place_count === "number") return filter.place_count;
    const rgs = await this.#c.get<{ name: string; select_filter?: { place_count?: number } }[]>(
      "/v1/resource-groups",
      { resource_groups: [p.group!] },
    );
    return rgs.find((g) => sameName(g.name, p.group!))?.select_filter?.place_count ?? 2;
  }

  async deleteVolume(volume: string): Promise<void> {
    // A name LINSTOR cannot have is a caller's error, never "already gone".
    checkName("resource", rdOf(volume));
    // What is known of its resources ends with it (another call may make it again).
    const rd = rdOf(volume).toUpperCase();
    this.#made.delete(rd);
    for (const k of [...this.#marked.keys()]) if (k.startsWith(`${rd}@`)) this.#marked.delete(k);
    try {
      await this.#c.write("DELETE", rdPath(volume));
      return;
    } catch (e) {
      if (!(e instanceof LinstorApiError)) throw e;
      if (e.kind === "not_found") return;
      if (!errHas(e, CODE.FAIL_EXISTS_SNAPSHOT_DFN)) throw e;
    }
    // The RD has snapshots. Check "in use" before deleting any of them (LINSTOR tests the
    // snapshots first, so an in-use RD would otherwise lose its snapshots and still stay).
    const name = rdOf(volume);
    const rscs = await this.#view({ resources: [name] });
    const busy = rscs.find((r) => sameName(r.name, name) && r.state?.in_use);
    if (busy) {
      throw new OneblkError("in_use", `LINSTOR volume ${volume} is in use on ${busy.node_name}`);
    }
    const snaps = await this.#c.get<SnapJson[]>("/v1/view/snapshots", { resources: [name] });
    for (const s of snaps.filter((x) => sameName(x.resource_name, name))) {
      await this.deleteSnapshot(volume, s.name);
    }
    try {
      await this.#c.write("DELETE", rdPath(volume));
    } catch (e) {
      if (e instanceof LinstorApiError && e.kind === "not_found") return;
      throw e;
    }
  }

  async cloneVolume(
    source: string,
    target: string,
    opts: CloneOptions<LinstorPlacement>,
  ): Promise<boolean> {
    checkName("resource", target);
    let created = true;
    try {
      await this.#clone(source, target, opts.placement, false, opts);
    } catch (e) {
      if (!(e instanceof TargetExists)) throw e;
      created = await this.#reuseClone(source, target, opts);
    }
    try {
      const over = auxProps(opts.props);
      if (Object.keys(over).length) {
        await this.#c.write("PUT", rdPath(target), { override_props: over });
      }
      if (opts.sizeMiB !== undefined) await this.resizeVolume(target, opts.sizeMiB);
      try {
        // A new clone is placed like a new volume whichever path made it; a reused one only
        // gets its replica on the host.
        if (created) await this.#place(target, opts.placement, opts.preferHost, true);
        else if (opts.preferHost) await this.#preferDiskful(target, opts.preferHost);
      } catch { /* placement beyond the copy is best effort: the clone is whole */ }
    } catch (e) {
      if (created) await this.#cleanup(target);
      throw e;
    }
    return created;
  }

  /**
   * The clone target exists already (a repeat, or an earlier call's unknown outcome): the
   * reuse rule (types.ts). A running clone is waited for; one that holds no data is deleted and
   * made again (true); a complete one at least as large as its source is reused (false).
   */
  async #reuseClone(
    source: string,
    target: string,
    opts: CloneOptions<LinstorPlacement>,
  ): Promise<boolean> {
    const limit = this.#cfg.cloneTimeoutMs ?? 900_000;
    const deadline = Date.now() + limit;
    let wait = 50;
    for (;;) {
      const v = await this.#verdict(target, opts.fromSnapshot ? undefined : source);
      if (v.state === "cloning") {
        if (Date.now() >= deadline) {
          throw new OneblkError(
            "timeout",
            `LINSTOR volume ${target} exists and its clone is not complete after ${limit} ms`,
          );
        }
        await sleep(wait);
        wait = Math.min(1000, wait * 2);
        continue;
      }
      if (v.state === "complete") {
        const want = await this.#sourceSize(source, opts.fromSnapshot);
        if (v.sizeMiB < want) {
          throw new OneblkError(
            "exists",
            `LINSTOR volume ${target} exists with ${v.sizeMiB} MiB, less than its source ` +
              `${source} (${want} MiB): not a complete clone, left as it is`,
          );
        }
        return false;
      }
      if (v.state === "stuck") {
        throw new OneblkError(
          "exists",
          `LINSTOR volume ${target} exists and is not a complete clone (${v.why}): left as it is`,
        );
      }
      if (v.state !== "absent") await this.deleteVolume(target);
      try {
        await this.#clone(source, target, opts.placement, false, opts);
      } catch (e) {
        if (e instanceof TargetExists) {
          throw new OneblkError("exists", `LINSTOR volume ${target} was made again meanwhile`);
        }
        throw e;
      }
      return true;
    }
  }

  /** Size of the clone source: the snapshot `fromSnapshot` of `source`, else `source`. */
  async #sourceSize(source: string, fromSnapshot?: string): Promise<number> {
    const size = fromSnapshot
      ? (await this.listSnapshots(source)).find((s) => sameName(s.name, fromSnapshot))?.sizeMiB
      : (await this.getVolume(source))?.sizeMiB;
    if (size === undefined) {
      throw new OneblkError(
        "not_found",
        `LINSTOR ${fromSnapshot ? `snapshot ${fromSnapshot} of ` : "volume "}${source} not ` +
          `found: cannot check the existing clone's size`,
      );
    }
    return size;
  }

  /**
   * Clone with fallbacks (clone API → snapshot restore → block copy). `keepProps`: keep the
   * source's Aux/one props (rename); otherwise the clone starts without them. `pending`: the
   * target is marked unfinished by this owner as soon as it exists; `preferHost`: the block
   * copy's new volume is placed with a replica there. The target's name being
   * taken is TargetExists. `unavailable`, `timeout` (the outcome is unknown), `exists`,
   * `not_found` and `in_use` end the chain: another method would not do better. On failure
   * nothing this call made is left, except what an unknown outcome leaves for a later read.
   */
  async #clone(
    source: string,
    target: string,
    placement: LinstorPlacement,
    keepProps: boolean,
    opts: Pick<CloneOptions<LinstorPlacement>, "fromSnapshot" | "pending" | "preferHost"> = {},
  ): Promise<void> {
    const { fromSnapshot, pending, preferHost } = opts;
    const { vnr } = parseVolumeRef(source);
    if (vnr !== 0) {
      // LINSTOR's clone and restore keep the volume numbers: a new volume 0 is a block copy
      // (from a snapshot: restored into a temporary resource first, marked unfinished so that
      // findLeftovers reports it should its removal fail)
      if (!fromSnapshot) {
        await this.#blockCopy(source, target, placement, keepProps, pending, preferHost);
        return;
      }
      const tmp = `oneblk-restore-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
      await this.#restoreInto(source, fromSnapshot, tmp, placement, false, `restore of ${source}`);
      try {
        await this.#blockCopy(
          volumeRef(tmp, vnr),
          target,
          placement,
          keepProps,
          pending,
          preferHost,
        );
      } finally {
        await this.#cleanup(tmp);
      }
      return;
    }
    if (fromSnapshot) {
      await this.#restoreInto(source, fromSnapshot, target, placement, keepProps, pending);
      return;
    }
    const final = (e: unknown) =>
      e instanceof TargetExists || isKind(e, "exists", "not_found", "timeout", "in_use") ||
      isKind(e, "unavailable");
    const reasons: string[] = [];
    // LINSTOR's clone copies every volume-definition property, OverrideVlmId too: the clone
    // of an adopted volume would name the source's own backing volume. Snapshot restores do
    // not copy it.
    if (!placement.cloneFromSnapshot && !(await this.#overridesVlmId(source))) {
      try {
        await this.#cloneApi(source, target, placement, keepProps, pending);
        return;
      } catch (e) {
        if (final(e)) throw e;
        reasons.push(`clone API: ${(e as Error).message}`);
      }
    }
    try {
      await this.#viaSnapshot(source, target, placement, keepProps, pending);
      return;
    } catch (e) {
      if (final(e)) throw e;
      reasons.push(`snapshot restore: ${(e as Error).message}`);
    }
    try {
      await this.#blockCopy(source, target, placement, keepProps, pending, preferHost);
    } catch (e) {
      if (final(e)) throw e;
      reasons.push(`block copy: ${(e as Error).message}`);
      throw new OneblkError(
        "backend",
        `LINSTOR clone ${source} -> ${target} failed: ${reasons.join(" | ")}`,
      );
    }
  }

  /** True when a volume definition of `volume`'s RD names its backing volume itself. */
  async #overridesVlmId(volume: string): Promise<boolean> {
    const rd = await this.#rd(volume);
    return (rd?.volume_definitions ?? []).some((v) => v.props?.[OVERRIDE_VLM_ID] !== undefined);
  }

  async #cloneApi(
    source: string,
    target: string,
    p: LinstorPlacement,
    keepProps: boolean,
    pending?: string,
  ): Promise<void> {
    // The clone copies the source's properties, then applies these in the same transaction
    // that creates it (LINSTOR 1.32+, whose clone request takes property changes; an older
    // controller refuses the request's unknown fields, and the snapshot restore follows): a
    // pending clone exists only marked, and no other clone inherits a mark of its source.
    const body: Record<string, unknown> = { name: target };
    if (pending) {
      body.override_props = { [LEFTOVER]: encodeMark(pending) };
      body.delete_props = [TWO_PRIMARIES];
    } else body.delete_props = [TWO_PRIMARIES, LEFTOVER];
    if (p.group) body.resource_group = p.group;
    if (!keepProps) body.delete_namespaces = ["Aux/one"];
    try {
      await this.#c.write("POST", `${rdPath(source)}/clone`, body);
    } catch (e) {
      if (errHas(e, CODE.FAIL_EXISTS_RSC_DFN)) throw new TargetExists(target);
      if (errHas(e, CODE.FAIL_NOT_FOUND_RSC_DFN)) {
        // the source is missing: nothing was created
        throw new OneblkError("not_found", `LINSTOR volume ${source} not found`);
      }
      if (e instanceof LinstorApiError) {
        await this.#cleanup(target);
        throw e;
      }
      // Unknown outcome (reply lost, timeout): read whether the controller started the clone.
      // Started: wait for it like for an answered call. Not started, or unreadable: report.
      if ((await this.#cloneStatus(source, target).catch(() => null)) === null) throw e;
    }
    const limit = this.#cfg.cloneTimeoutMs ?? 900_000;
    const deadline = Date.now() + limit;
    let wait = 50;
    for (;;) {
      // A failed read leaves the clone as it is: a retry reads its state (the reuse rule).
      const st = await this.#cloneStatus(source, target);
      if (st === "COMPLETE") return;
      if (st === null) {
        throw new OneblkError("backend", `LINSTOR clone ${target} of ${source} disappeared`);
      }
      if (st === "FAILED") {
        await this.#cleanup(target);
        throw new OneblkError("backend", `LINSTOR clone of ${source} into ${target} FAILED`);
      }
      if (Date.now() >= deadline) {
        await this.#cleanup(target);
        throw new OneblkError(
          "timeout",
          `LINSTOR clone of ${source} into ${target} not complete after ${limit} ms`,
        );
      }
      await sleep(wait);
      wait = Math.min(1000, wait * 2);
    }
  }

  /**
   * Clone through a temporary snapshot of the source restored into the target. Temporaries of
   * earlier calls on this source (older than STALE_TEMP_MS: their removal failed) go first;
   * this call's is removed whatever happens, and when that fails its `oneblk-` name is its
   * mark (findLeftovers, the next call here).
   */
  async #viaSnapshot(
    source: string,
    target: string,
    p: LinstorPlacement,
    keepProps: boolean,
    pending?: string,
  ): Promise<void> {
    const now = Date.now();
    for (const s of await this.listSnapshots(source)) {
      if (
        isTempSnapshot(s.name) && s.name.startsWith(`${TEMP_CLONE}-`) &&
        s.createdAt > 0 && now - s.createdAt > STALE_TEMP_MS
      ) {
        await this.deleteSnapshot(source, s.name).catch(() => {});
      }
    }
    const tmp = tempSnapshotName("clone");
    try {
      await this.createSnapshot(source, tmp);
      await this.#restoreInto(source, tmp, target, p, keepProps, pending);
    } finally {
      await this.deleteSnapshot(source, tmp).catch(() => {});
    }
  }

  /** Restore snapshot `snap` of `source` into a new RD `target`. */
  async #restoreInto(
    source: string,
    snap: string,
    target: string,
    p: LinstorPlacement,
    keepProps: boolean,
    pending?: string,
  ): Promise<void> {
    let props: Record<string, string> = {};
    if (keepProps) {
      const rd = await this.#rd(source);
      if (!rd) throw new OneblkError("not_found", `LINSTOR volume ${source} not found`);
      props = Object.fromEntries(
        Object.entries(rd.props ?? {}).filter(([k]) => k.startsWith(AUX)),
      );
    }
    if (pending) props[LEFTOVER] = encodeMark(pending);
    const def: Record<string, unknown> = { name: target, props };
    if (p.group) def.resource_group_name = p.group;
    try {
      await this.#c.write("POST", "/v1/resource-definitions", { resource_definition: def });
    } catch (e) {
      if (errHas(e, CODE.FAIL_EXISTS_RSC_DFN)) throw new TargetExists(target);
      // Unknown outcome: whatever exists is read (the reuse rule) by the retry.
      throw e;
    }
    try {
      await this.#c.write(
        "POST",
        `${rdPath(source)}/snapshot-restore-volume-definition/${seg(snap)}`,
        { to_resource: target },
      );
      await this.#c.write(
        "POST",
        `${rdPath(source)}/snapshot-restore-resource/${seg(snap)}`,
        { to_resource: target },
      );
    } catch (e) {
      await this.#cleanup(target);
      throw e;
    }
  }

  /**
   * Create `target` like a new volume (marked unfinished until the copy is done) and dd the
   * data on a node holding a source replica.
   */
  async #blockCopy(
    source: string,
    target: string,
    p: LinstorPlacement,
    keepProps: boolean,
    pending?: string,
    preferHost?: string,
  ): Promise<void> {
    const hosts = this.#hosts;
    if (!hosts) throw new OneblkError("backend", "no host runner for the block-copy fallback");
    const rd = await this.#rd(source);
    if (!rd) throw new OneblkError("not_found", `LINSTOR volume ${source} not found`);
    const info = this.#info(rd, source);
    const rscs = await this.#view({ resources: [rd.name] });
    const diskful = rscs.filter((r) =>
      sameName(r.name, rd.name) && !isDiskless(r) && !isDeleting(r)
    );
    const node = (diskful.find((r) => r.state?.in_use) ?? diskful[0])?.node_name;
    if (!node) throw new OneblkError("backend", `LINSTOR volume ${source} has no diskful replica`);
    const props = keepProps ? info.props : undefined;
    const owner = pending ?? `LINSTOR block copy of ${source}`;
    const created = await this.createVolume(target, info.sizeMiB, {
      placement: p,
      props,
      pending: owner,
      preferHost,
    });
    if (!created) throw new TargetExists(target);
    try {
      await this.attach(target, node);
      const view = await this.#view({
        resources: [target],
        nodes: [node],
      });
      const kind = view[0]?.volumes?.[0]?.provider_kind ?? "";
      const conv = /_THIN$/.test(kind) ? "notrunc,sparse,fsync" : "notrunc,fsync";
      await hosts.run(node, [
        "dd",
        `if=${this.devicePath(source)}`,
        `of=${this.devicePath(target)}`,
        "bs=4M",
        `conv=${conv}`,
      ], { timeoutMs: this.#cfg.copyTimeoutMs ?? 3_600_000 });
      if (!pending) await this.clearMark({ kind: "volume", name: target });
    } catch (e) {
      await this.#cleanup(target);
      throw e;
    }
    try {
      await this.detach(target, node);
    } catch {
      // The copy is whole; the temporary attachment stays marked for gc.
      await this.markLeftover({ kind: "attachment", name: target, host: node }, owner)
        .catch(() => {});
    }
  }

  async resizeVolume(volume: string, sizeMiB: number): Promise<number> {
    checkSize(sizeMiB);
    const rd = await this.#rd(volume);
    if (!rd) throw new OneblkError("not_found", `LINSTOR volume ${volume} not found`);
    const { vnr } = parseVolumeRef(volume);
    const vd = vdOf(rd.volume_definitions, vnr);
    if (!vd) throw new OneblkError("backend", `LINSTOR volume ${volume} has no volume ${vnr}`);
    if (vd.size_kib < kib(sizeMiB)) {
      await this.#c.write("PUT", `${rdPath(volume)}/volume-definitions/${vnr}`, {
        size_kib: kib(sizeMiB),
      });
    }
    return mibDown(vd.size_kib);
  }

  async renameVolume(volume: string, newName: string): Promise<void> {
    checkName("resource", newName);
    if (sameName(volume, newName)) return;
    const rd = await this.#rd(volume);
    if (!rd) {
      if (await this.#rd(newName)) return; // already renamed
      throw new OneblkError("not_found", `LINSTOR volume ${volume} not found`);
    }
    if (await this.#rd(newName)) {
      throw new OneblkError("exists", `LINSTOR volume ${newName} already exists`);
    }
    const snaps = await this.listSnapshots(volume);
    if (snaps.length) {
      throw new OneblkError(
        "backend",
        `LINSTOR cannot rename ${volume}: it has ${snaps.length} snapshot(s), which cannot move to a new name`,
      );
    }
    const busy = (await this.attachments(volume)).find((a) => a.inUse);
    if (busy) throw new OneblkError("in_use", `LINSTOR volume ${volume} is in use on ${busy.host}`);
    const placement: LinstorPlacement = {
      group: rd.resource_group_name && rd.resource_group_name !== "DfltRscGrp"
        ? rd.resource_group_name
        : "",
    };
    await this.#clone(volume, newName, placement, true);
    await this.deleteVolume(volume);
  }

  async listSnapshots(volume: string): Promise<SnapshotInfo[]> {
    const snaps = await this.#c.get<SnapJson[]>(`${rdPath(volume)}/snapshots`);
    const { vnr } = parseVolumeRef(volume);
    return snaps
      .filter((s) => !(s.flags ?? []).includes("DELETE"))
      .map((s) => {
        const vd = vdOf(s.volume_definitions, vnr);
        const times = (s.snapshots ?? []).map((n) => n.create_timestamp ?? 0).filter((t) => t > 0);
        return {
          name: s.name,
          volume: s.resource_name ? volumeRef(s.resource_name, vnr) : volume,
          sizeMiB: mibDown(vd?.size_kib ?? 0),
          createdAt: times.length ? Math.min(...times) : 0,
        };
      })
      .sort((a, b) => a.createdAt - b.createdAt || compareText(a.name, b.name));
  }

  async createSnapshot(volume: string, snapshot: string): Promise<void> {
    checkName("snapshot", snapshot);
    try {
      await this.#c.write("POST", `${rdPath(volume)}/snapshots`, { name: snapshot });
    } catch (e) {
      if (errHas(e, CODE.FAIL_EXISTS_SNAPSHOT_DFN)) return;
      // Unknown outcome (reply lost, timeout): taken when the controller shows it.
      if (!(e instanceof LinstorApiError) && await this.#hasSnapshots(volume, [snapshot])) return;
      throw e;
    }
  }

  /** True when every snapshot of `names` exists on `volume`, whole (false when unreadable). */
  async #hasSnapshots(volume: string, names: string[]): Promise<boolean> {
    try {
      const rd = rdOf(volume);
      const have = await this.#c.get<SnapJson[]>("/v1/view/snapshots", { resources: [rd] });
      return names.every((n) =>
        have.some((s) =>
          sameName(s.resource_name, rd) && sameName(s.name, n) &&
          !(s.flags ?? []).some((f) => f === "DELETE" || f.startsWith("FAILED"))
        )
      );
    } catch {
      return false;
    }
  }

  async createSnapshots(items: { volume: string; snapshot: string }[]): Promise<void> {
    if (items.length === 0) return;
    for (const it of items) checkName("snapshot", it.snapshot);
    if (items.length === 1) return this.createSnapshot(items[0].volume, items[0].snapshot);
    const send = (xs: typeof items) =>
      this.#c.write("POST", "/v1/actions/snapshot/multi", {
        snapshots: xs.map((i) => ({ name: i.snapshot, resource_name: rdOf(i.volume) })),
      });
    try {
      await send(items);
    } catch (e) {
      if (!(e instanceof LinstorApiError)) {
        // Unknown outcome: taken when the controller shows every snapshot.
        const byVolume = Map.groupBy(items, (i) => i.volume);
        let all = true;
        for (const [v, xs] of byVolume) {
          all &&= await this.#hasSnapshots(v, xs.map((x) => x.snapshot));
        }
        if (all) return;
        throw e;
      }
      if (!errHas(e, CODE.FAIL_EXISTS_SNAPSHOT_DFN)) throw e;
      const have = await this.#c.get<SnapJson[]>("/v1/view/snapshots", {
        resources: [...new Set(items.map((i) => rdOf(i.volume)))],
      });
      const missing = items.filter((i) =>
        !have.some((s) => sameName(s.resource_name, rdOf(i.volume)) && sameName(s.name, i.snapshot))
      );
      if (missing.length) await send(missing);
    }
  }

  async deleteSnapshot(volume: string, snapshot: string): Promise<void> {
    try {
      const r = await this.#c.write("DELETE", `${rdPath(volume)}/snapshots/${seg(snapshot)}`);
      if (r.rcs.some((e) => isWarnNotFound(e.ret_code))) return;
    } catch (e) {
      if (e instanceof LinstorApiError && e.kind === "not_found") return;
      throw e;
    }
  }

  async rollbackSnapshot(volume: string, snapshot: string): Promise<void> {
    await this.#c.write("POST", `${rdPath(volume)}/snapshot-rollback/${seg(snapshot)}`, {});
  }

  async openSnapshot(
    volume: string,
    snapshot: string,
    host: string,
    scratch: string,
    placement: LinstorPlacement,
  ): Promise<string> {
    checkName("resource", scratch);
    // LINSTOR cannot attach a snapshot: restore it into `scratch` (diskful where the snapshot
    // lives) and attach that. A leftover scratch of an earlier attempt may be half-made.
    await this.deleteVolume(scratch);
    await this.#restoreInto(volume, snapshot, scratch, placement, false);
    try {
      await this.attach(scratch, host, { readOnly: true });
    } catch (e) {
      await this.#cleanup(scratch);
      throw e;
    }
    return this.devicePath(scratch);
  }

  async closeSnapshot(
    _volume: string,
    _snapshot: string,
    _host: string,
    scratch: string,
  ): Promise<void> {
    await this.deleteVolume(scratch);
  }

  async attachments(volume: string, host?: string): Promise<Attachment[]> {
    const name = rdOf(volume);
    const rscs = await this.#view(
      host === undefined ? { resources: [name] } : { resources: [name], nodes: [host] },
    );
    return rscs
      .filter((r) =>
        sameName(r.name, name) && (host === undefined || sameName(r.node_name, host)) &&
        !isDeleting(r)
      )
      .map((r) => ({
        host: r.node_name,
        diskful: !isDiskless(r),
        tieBreaker: (r.flags ?? []).includes("TIE_BREAKER"),
        inUse: r.state?.in_use === true,
        readOnly: r.props?.[READ_ONLY] === "yes",
      }));
  }

  async attach(volume: string, host: string, opts: AttachOptions = {}): Promise<void> {
    const made = await this.#c.write(
      "POST",
      `${rdPath(volume)}/resources/${seg(host)}/make-available`,
      { diskful: false },
    );
    const created = made.rcs.some((r) =>
      !isError(r.ret_code) && rcCode(r.ret_code) === CODE.CREATED
    );
    // A resource that was there may carry the leftover mark of an earlier call that could not
    // release it: this attach wants it, so the mark goes (types.ts, attach), in the modify
    // that sets the read-only mark, else in one of its own; none when it cannot be there.
    const body: Record<string, unknown> = {};
    if (opts.readOnly) body.override_props = { [READ_ONLY]: "yes" };
    if (!created && this.#mayBeMarked(volume, host)) body.delete_props = [LEFTOVER];
    if (Object.keys(body).length) {
      try {
        await this.#c.write("PUT", `${rdPath(volume)}/resources/${seg(host)}`, body);
      } catch (e) {
        // Not read-only: a resource this call created must not stay writable.
        if (created) await this.detach(volume, host).catch(() => {});
        throw e;
      }
    }
    this.#marked.set(rscKey(rdOf(volume), host), false);
  }

  async detach(volume: string, host: string): Promise<void> {
    const name = rdOf(volume);
    const rscs = await this.#view({
      resources: [name],
      nodes: [host],
    });
    const r = rscs.find((x) => sameName(x.name, name) && sameName(x.node_name, host));
    if (!r || isDeleting(r)) return;
    const f = r.flags ?? [];
    if (f.includes("TIE_BREAKER") || !(f.includes("DISKLESS") || f.includes("DRBD_DISKLESS"))) {
      // The store's own replica stays; the marks of an attach (read-only, leftover) are
      // dropped.
      const marks = [READ_ONLY, LEFTOVER].filter((k) => r.props?.[k] !== undefined);
      if (marks.length) {
        await this.#c.write("PUT", `${rdPath(volume)}/resources/${seg(host)}`, {
          delete_props: marks,
        });
        this.#marked.set(rscKey(name, host), false);
      }
      return;
    }
    if (r.state?.in_use) {
      throw new OneblkError("in_use", `LINSTOR volume ${volume} is in use on ${host}`);
    }
    try {
      await this.#c.write("DELETE", `${rdPath(volume)}/resources/${seg(host)}`);
    } catch (e) {
      if (e instanceof LinstorApiError && e.kind === "not_found") return;
      throw e;
    }
  }

  warmHosts(_hosts: readonly string[]): void {
    // nodes are named as the hosts: nothing to find out
  }

  async setDualPrimary(volume: string, allow: boolean): Promise<void> {
    await this.#c.write(
      "PUT",
      rdPath(volume),
      allow ? { override_props: { [TWO_PRIMARIES]: "yes" } } : { delete_props: [TWO_PRIMARIES] },
    );
  }

  async setProps(volume: string, props: Record<string, string | null>): Promise<void> {
    const over: Record<string, string> = {};
    const del: string[] = [];
    for (const [k, v] of Object.entries(props)) {
      if (!PROP_KEY_RE.test(k)) throw new OneblkError("input", `invalid metadata key "${k}"`);
      if (v === null) del.push(AUX + k);
      else over[AUX + k] = v;
    }
    if (!del.length && !Object.keys(over).length) return;
    const { vnr } = parseVolumeRef(volume);
    if (vnr !== 0 && Object.keys(over).length) over[META_VNR] = String(vnr);
    const body: Record<string, unknown> = {};
    if (Object.keys(over).length) body.override_props = over;
    if (del.length) body.delete_props = del;
    await this.#c.write("PUT", rdPath(volume), body);
  }

  async usageVolumes(match: Record<string, string>): Promise<UsageVolume[]> {
    const props = Object.entries(match).map(([k, v]) => {
      if (!PROP_KEY_RE.test(k)) throw new OneblkError("input", `invalid metadata key "${k}"`);
      return `${AUX}${k}=${v}`;
    });
    // Read element by element: of a 10,000-RD listing (4.3 MB) only these fields stay. Asked
    // without the volume definitions (they would be 40 % of its bytes): the stamp is the RD's
    // identity, so a resized volume is read again by age, like any other change of its
    // figures, and the volume is 0 unless the metadata names another (META_VNR).
    return await this.#c.getItems<RdJson, UsageVolume>(
      "/v1/resource-definitions",
      { props },
      (rd) => ({
        name: metaVolume(rd),
        props: stripAux(rd.props),
        stamp: rd.uuid ?? "",
      }),
    );
  }

  async readUsage(volumes: UsageVolume[]): Promise<Map<string, UsageFigures>> {
    const key = (n: string) => n.toUpperCase();
    // RD → the volume number its name gives (`<resource>/<n>`), or null for a plain resource
    // name: its volume 0, or its only volume (pickVolume)
    const vnrOf = new Map<string, number | null>();
    for (const v of volumes) {
      const { rd, vnr } = parseVolumeRef(v.name);
      vnrOf.set(key(rd), v.name === rd ? null : vnr);
    }
    // The views filtered on the controller by these names only, never the whole cluster's:
    // one request each for a small datastore, chunks (a few in flight) past what one query
    // string holds. Each reply is read element by element, keeping only the figures, which
    // are folded into the two maps once the reply is complete (a reply cut off and read again
    // counts once).
    const alloc = new Map<string, number>();
    const snapsOf = new Map<string, Record<string, number>>();
    const chunks = nameChunks(volumes.map((v) => rdOf(v.name)), "resources");
    await inBatches(chunks, CHUNKS_IN_FLIGHT, async (names) => {
      const [rscs, snaps] = await Promise.all([
        this.#viewItems({ resources: names }, (r) => {
          const k = key(r.name);
          if (isDiskless(r) || !vnrOf.has(k)) return undefined;
          return { k, a: pickVolume(r.volumes, vnrOf.get(k) ?? null)?.allocated_size_kib ?? 0 };
        }),
        this.#c.getItems<SnapJson, { k: string; name: string; mib: number }>(
          "/v1/view/snapshots",
          { resources: names },
          (s) => {
            const k = key(s.resource_name);
            if (!vnrOf.has(k)) return undefined;
            const sz = pickVolume(s.volume_definitions, vnrOf.get(k) ?? null)?.size_kib ?? 0;
            return { k, name: s.name, mib: Math.ceil(sz / 1024) };
          },
        ),
      ]);
      for (const { k, a } of rscs) alloc.set(k, Math.max(alloc.get(k) ?? 0, a));
      for (const s of snaps) {
        const m = snapsOf.get(s.k) ?? {};
        m[s.name] = s.mib;
        snapsOf.set(s.k, m);
      }
    });
    const out = new Map<string, UsageFigures>();
    for (const v of volumes) {
      const k = key(rdOf(v.name));
      out.set(v.name, {
        allocatedMiB: Math.ceil((alloc.get(k) ?? 0) / 1024),
        snapshots: snapsOf.get(k) ?? {},
      });
    }
    return out;
  }

  /** Where a leftover mark lives: the RD (volume) or the node's resource (attachment). */
  #markPath(ref: LeftoverRef): string {
    return ref.kind === "volume"
      ? rdPath(ref.name)
      : `${rdPath(ref.name)}/resources/${seg(ref.host)}`;
  }

  async markLeftover(ref: LeftoverRef, owner: string): Promise<void> {
    // Whatever the outcome, an attach here must look for the mark.
    if (ref.kind === "attachment") this.#marked.delete(rscKey(rdOf(ref.name), ref.host));
    await this.#c.write("PUT", this.#markPath(ref), {
      override_props: { [LEFTOVER]: encodeMark(owner) },
    });
    if (ref.kind === "attachment") this.#marked.set(rscKey(rdOf(ref.name), ref.host), true);
  }

  async clearMark(ref: LeftoverRef): Promise<void> {
    try {
      await this.#c.write("PUT", this.#markPath(ref), { delete_props: [LEFTOVER] });
      if (ref.kind === "attachment") this.#marked.set(rscKey(rdOf(ref.name), ref.host), false);
    } catch (e) {
      if (e instanceof LinstorApiError && e.kind === "not_found") return;
      throw e;
    }
  }

  async findLeftovers(): Promise<Leftover[]> {
    const [rds, rscs, snaps] = await Promise.all([
      this.#c.get<RdJson[]>("/v1/resource-definitions", { props: [LEFTOVER] }),
      this.#view({ props: [LEFTOVER] }),
      this.#c.get<SnapJson[]>("/v1/view/snapshots"),
    ]);
    const out: Leftover[] = [];
    for (const rd of rds) {
      const m = decodeMark(rd.props?.[LEFTOVER]);
      if (!m || (rd.flags ?? []).includes("DELETE")) continue;
      out.push({
        kind: "volume",
        name: rd.name,
        owner: m.owner,
        since: m.since,
        reason: `volume left unfinished by ${m.owner}`,
      });
    }
    for (const r of rscs) {
      const m = decodeMark(r.props?.[LEFTOVER]);
      if (!m || isDeleting(r)) continue;
      out.push({
        kind: "attachment",
        name: r.name,
        volume: r.name,
        host: r.node_name,
        owner: m.owner,
        since: m.since,
        reason: `temporary attachment on ${r.node_name} not released by ${m.owner}`,
      });
    }
    for (const s of snaps) {
      if (!isTempSnapshot(s.name) || (s.flags ?? []).includes("DELETE")) continue;
      const times = (s.snapshots ?? []).map((n) => n.create_timestamp ?? 0).filter((t) => t > 0);
      const owner = tempSnapshotOwner(s.name);
      out.push({
        kind: "snapshot",
        name: s.name,
        volume: s.resource_name,
        owner,
        since: times.length ? Math.min(...times) : 0,
        reason: `temporary snapshot of ${s.resource_name} not removed (${owner})`,
      });
    }
    return out;
  }

  async capacity(placement: LinstorPlacement): Promise<Capacity> {
    const filter = selectFilter(placement);
    const group = placement.group || "DfltRscGrp";
    if (!placement.group && filter.place_count === undefined) filter.place_count = 2;
    try {
      const r = await this.#c.write(
        "POST",
        `/v1/resource-groups/${seg(group)}/query-size-info`,
        Object.keys(filter).length ? { select_filter: filter } : {},
      );
      const si = (r.data as { space_info?: Record<string, number> })?.space_info;
      if (si && typeof si.capacity_in_kib === "number") {
        const total = mibDown(si.capacity_in_kib);
        const free = Math.min(total, mibDown(si.available_size_in_kib ?? 0));
        return { totalMiB: total, freeMiB: free, usedMiB: total - free };
      }
    } catch (e) {
      if (placement.group && e instanceof LinstorApiError && e.kind === "not_found") {
        throw new OneblkError("config", `LINSTOR resource group ${placement.group} not found`);
      }
      if (placement.group || !(e instanceof LinstorApiError)) throw e;
    }
    // Fallback without a group: sum the storage pools, divided by the place count.
    const pools = filter.storage_pool_list as string[] | undefined;
    const sps = await this.#c.get<
      { provider_kind?: string; free_capacity?: number; total_capacity?: number }[]
    >("/v1/view/storage-pools", pools ? { storage_pools: pools } : undefined);
    let free = 0;
    let total = 0;
    for (const sp of sps) {
      if (sp.provider_kind === "DISKLESS" || sp.free_capacity === undefined) continue;
      free += sp.free_capacity;
      total += sp.total_capacity ?? 0;
    }
    const pc = (filter.place_count as number | undefined) ?? 2;
    const t = mibDown(total / pc);
    const f = Math.min(t, mibDown(free / pc));
    return { totalMiB: t, freeMiB: f, usedMiB: t - f };
  }

  close(): Promise<void> {
    this.#c.close();
    return Promise.resolve();
  }
}

/** Create the LINSTOR backend. */
export function createLinstorBackend(
  cfg: LinstorConfig,
  deps: LinstorDeps = {},
): Backend<LinstorPlacement> {
  return new LinstorBackend(cfg, deps);
}

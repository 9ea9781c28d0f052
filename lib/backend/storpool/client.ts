/**
 * StorPool JSON API client (`http://<host>:<port>/ctrl/1.0/<Method>[/<name>]`).
 *
 * Transport rules:
 *  - header `Authorization: Storpool v1:<token>`; the token is checked (no line break or other
 *    control character) and scrubbed from every error text (lib/http.ts secretHeaderValue: it
 *    never reaches argv, logs or messages);
 *  - once the API could not be reached (no answer after the retries, or a timeout), the
 *    process's later calls share a short grace and then fail at once with that cause
 *    (lib/http.ts `Outage`: one deadline per action);
 *  - replies are `{"generation": N, "data": …}` or `{"error": {"name","descr","transient"}}`;
 *  - every call has one deadline (`timeoutMs`, covering all its attempts) → kind "timeout";
 *  - the retry rule of lib/http.ts: reads (GET) are retried on network errors and HTTP 5xx;
 *    changes (POST) only when no connection was made (nothing was sent); both are retried on
 *    errors the API marks `transient`;
 *  - every HTTP attempt is counted in `stats.requests`;
 *  - HTTP/1.1 over lib/wire.ts: reads may reuse a kept connection, changes go only over
 *    connections that never carried a request.
 */
import { type ErrorKind, isKind, OneblkError } from "../../errors.ts";
import {
  backoffMs,
  Deadline,
  mayRetry,
  Outage,
  replyText,
  type RequestKind,
  secretHeaderValue,
  transportErrorText,
  transportFailure,
} from "../../http.ts";
import { readPicked } from "../../json_items.ts";
import { WireClient, type WireResponse } from "../../wire.ts";
import type { BackendStats } from "../types.ts";

/** Where the API is and how to authenticate. */
export interface StorpoolEndpoint {
  host: string;
  port: number;
  token: string;
}

/** Tuning of one client. */
export interface StorpoolClientOptions {
  /** Deadline of one call including its retries, ms (default 60000). */
  timeoutMs?: number;
  /** Extra attempts after a retryable failure (default 4). */
  retries?: number;
  /** First retry delay, doubled each time up to 2 s (default 100 ms). */
  retryDelayMs?: number;
}

/** An error answered by the StorPool API (or the transport), with the API's own fields. */
export class StorpoolApiError extends OneblkError {
  /** StorPool error name (objectDoesNotExist, objectExists, …), or "" for transport errors. */
  readonly apiName: string;
  /** The API said the call may be retried unchanged. */
  readonly transient: boolean;
  /** HTTP status (0 when no answer arrived). */
  readonly status: number;
  /** API method ("VolumeCreate"). */
  readonly method: string;

  constructor(
    kind: ErrorKind,
    message: string,
    info: { apiName: string; transient: boolean; status: number; method: string },
  ) {
    super(kind, message);
    this.apiName = info.apiName;
    this.transient = info.transient;
    this.status = info.status;
    this.method = info.method;
  }
}

/** Tags (name → value); values match `^[A-Za-z0-9_\-.:]*$`. */
export type Tags = Record<string, string>;

/** Fields common to volumes and snapshots (VolumeSummary / SnapshotSummary). */
export interface SummaryBase {
  name: string;
  size: number;
  parentName: string;
  templateName: string;
  globalId: string;
  /** Creation id, increasing with creation order. */
  visibleVolumeId?: number;
  replication?: number;
  placeAll?: string;
  placeTail?: string;
  placeHead?: string;
  iops?: number | string;
  bw?: number | string;
  creationTimestamp: number;
  tags?: Tags;
}

/** `VolumesList` / `Volume/<name>` entry. */
export type VolumeSummary = SummaryBase;

/** `SnapshotsList` / `Snapshot/<name>` entry. */
export interface SnapshotSummary extends SummaryBase {
  onVolume: string;
  autoName: boolean;
  deleted: boolean;
  transient?: boolean;
  bound?: boolean;
  /** Unix seconds; 0 or absent when not scheduled. */
  targetDeleteDate?: number;
}

/** `VolumesSpace` entry. */
export interface VolumeSpace extends VolumeSummary {
  storedSize: number;
  spaceUsed: number;
}

/** `SnapshotsSpace` entry. */
export interface SnapshotSpace extends SnapshotSummary {
  storedSize: number;
  spaceUsed: number;
}

/** `AttachmentsList` entry. */
export interface AttachmentDesc {
  volume: string;
  snapshot: boolean;
  client: number;
  rights: "rw" | "ro";
  pos?: number;
  globalId?: string;
  /** Not in the real API (the simulator adds it): the device is open on the client. */
  open?: boolean;
}

/** `VolumeTemplatesList` / `VolumeTemplateDescribe` entry. */
export interface TemplateDesc {
  name: string;
  replication: number | "-";
  placeAll: string;
  placeTail: string;
  placeHead: string;
  size?: number | "-";
  iops?: number | string;
  bw?: number | string;
  parentName?: string;
}

/** One service of `ServicesList` (clients, servers, mgmt …). */
export interface ServiceDesc {
  id: number;
  /** running, down (clients); servers also waiting, booting … */
  status: string;
}

/** `ServicesList`: the cluster's services by kind, each keyed by its id. */
export interface ServicesDesc {
  clusterStatus: string;
  clients: Record<string, ServiceDesc>;
  servers: Record<string, ServiceDesc>;
  mgmt?: Record<string, ServiceDesc & { active?: boolean }>;
}

/** Capacity estimate of one placement group inside a template status. */
export interface SpaceEstimate {
  capacity: number;
  free: number;
}

/** `VolumeTemplatesStatus` entry (fields used here). */
export interface TemplateStatus {
  name: string;
  replication: number | "-";
  placeAll: string;
  placeTail: string;
  placeHead: string;
  volumesCount: number;
  snapshotsCount: number;
  stored: SpaceEstimate & { internal?: { u1: number; u2: number; u3: number } };
}

/** Placement, limits and tags of a volume: the fields `VolumeCreate` and `VolumeUpdate` share. */
export interface VolumePolicyDesc {
  template?: string;
  replication?: number;
  placeAll?: string;
  placeTail?: string;
  placeHead?: string;
  iops?: number;
  bw?: number;
  tags?: Tags;
}

/** Body of `VolumeCreate`. */
export interface VolumeCreateDesc extends VolumePolicyDesc {
  name?: string;
  size?: number;
  parent?: string;
  baseOn?: string;
}

/** Body of `VolumeUpdate/<name>`. */
export interface VolumeUpdateDesc extends VolumePolicyDesc {
  rename?: string;
  size?: number;
  sizeAdd?: number;
  shrinkOk?: boolean;
}

/** Body of `VolumeSnapshot/<volume>`. */
export interface VolumeSnapshotDesc {
  name?: string;
  bind?: boolean;
  deleteAfter?: number;
  targetDeleteDate?: number;
  tags?: Tags;
}

/** Body of `SnapshotUpdate/<snapshot>`. */
export interface SnapshotUpdateDesc {
  rename?: string;
  bind?: boolean;
  deleteAfter?: number;
  targetDeleteDate?: number;
  tags?: Tags;
  template?: string;
}

/** One entry of `VolumesReassign(Wait)`: a volume or a snapshot. */
export type ReassignDesc =
  | {
    volume: string;
    detach?: number[] | "all";
    ro?: number[];
    rw?: number[];
    force?: boolean;
  }
  | {
    snapshot: string;
    detach?: number[] | "all";
    ro?: number[];
    force?: boolean;
  };

/** Body of `VolumesGroupSnapshot`. */
export interface GroupSnapshotSpec {
  volumes: { volume: string; name?: string; tags?: Tags }[];
  tags?: Tags;
}

/** Reply of `VolumesGroupSnapshot`. */
export interface GroupSnapshotResult {
  snapshots: {
    volume: string;
    volumeGlobalId: string;
    snapshot?: string;
    snapshotGlobalId: string;
  }[];
}

/** Reply of a successful change (`ApiOk`), plus call-specific fields. */
export interface ApiOk {
  ok: true;
  generation?: number;
  info?: string;
  autoName?: string;
  globalId?: string;
  snapshotGlobalId?: string;
}

const SAFE_NAME = /[^A-Za-z0-9_\-.:@~*]/g;

function pathName(name: string): string {
  return name.replace(SAFE_NAME, (c) => encodeURIComponent(c));
}

/** Map a StorPool error to an ErrorKind. */
export function storpoolErrorKind(apiName: string, descr: string, status: number): ErrorKind {
  const n = apiName.toLowerCase();
  if (n === "objectdoesnotexist") return "not_found";
  if (n === "objectexists") return "exists";
  if (n === "busy" || /\b(is open|in use|still open)\b/i.test(descr)) return "in_use";
  if (n === "timeout" || n === "timeouted") return "timeout";
  if (n === "authorization" || n === "auth" || status === 401 || status === 403) return "config";
  if (n === "insufficientresources") return "backend";
  if (status >= 500) return "unavailable";
  return "backend";
}

/** A StorPool JSON API client; `close()` releases its keep-alive connections. */
export class StorpoolClient {
  /** Request counter (every HTTP attempt). */
  readonly stats: BackendStats = { requests: 0, bytes: 0 };
  readonly #base: string;
  readonly #auth: string;
  readonly #token: string;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #retryDelayMs: number;
  #http: WireClient | undefined;
  readonly #outage = new Outage();

  constructor(ep: StorpoolEndpoint, opts: StorpoolClientOptions = {}) {
    const host = ep.host.includes(":") && !ep.host.startsWith("[") ? `[${ep.host}]` : ep.host;
    this.#base = `http://${host}:${ep.port}/ctrl/1.0/`;
    this.#token = ep.token;
    this.#auth = secretHeaderValue(ep.token, "SP_AUTH_TOKEN", (t) => `Storpool v1:${t}`);
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    this.#retries = opts.retries ?? 4;
    this.#retryDelayMs = opts.retryDelayMs ?? 100;
  }

  /** `host:port` of the API (no secret). */
  get endpoint(): string {
    return this.#base.slice("http://".length, -"/ctrl/1.0/".length);
  }

  /** Remove the token from any text before it can reach a message. */
  #scrub(text: string): string {
    return this.#token ? text.split(this.#token).join("***") : text;
  }

  #fail(
    kind: ErrorKind,
    method: string,
    text: string,
    info: { apiName?: string; transient?: boolean; status?: number } = {},
  ): StorpoolApiError {
    return new StorpoolApiError(kind, this.#scrub(`StorPool ${method}: ${text}`), {
      apiName: info.apiName ?? "",
      transient: info.transient ?? false,
      status: info.status ?? 0,
      method,
    });
  }

  /**
   * One API call. `path` is `Method` or `Method/<name>` (the name is escaped here).
   * Returns the reply's `data`.
   */
  async call<T>(
    httpMethod: "GET" | "POST",
    method: string,
    name?: string,
    body?: unknown,
    opts: {
      timeoutMs?: number;
      oneObject?: boolean;
      /** A list reply is read element by element: its `data` holds what this returns of each. */
      pick?: (item: unknown) => unknown;
    } = {},
  ): Promise<T> {
    const write = httpMethod !== "GET";
    if (write) this.#writes++;
    const url = this.#base + method + (name === undefined ? "" : `/${pathName(name)}`);
    const down = this.#outage.check();
    if (down?.leftMs === 0) {
      throw this.#fail(
        "unavailable",
        method,
        `not sent, the API did not answer earlier in this action (${down.text})`,
      );
    }
    const timeoutMs = Math.min(opts.timeoutMs ?? this.#timeoutMs, down?.leftMs ?? Infinity);
    const deadline = new Deadline(timeoutMs);
    const kind: RequestKind = httpMethod === "GET" ? "read" : "write";
    const retries = down ? 0 : this.#retries;
    let attempt = 0;
    let effect = write;
    try {
      while (true) {
        let retryable: StorpoolApiError;
        try {
          const r = await this.#attempt<T>(
            httpMethod,
            method,
            url,
            body,
            deadline.signal,
            kind,
            httpMethod === "GET" ? opts.pick : undefined,
          );
          this.#outage.clear();
          return r;
        } catch (e) {
          if (deadline.expired) {
            throw this.#fail("timeout", method, `no answer within ${timeoutMs} ms`);
          }
          if (e instanceof StorpoolApiError && e.status > 0) this.#outage.clear();
          if (!(e instanceof RetryableError)) throw e;
          retryable = e.error;
        }
        attempt++;
        const wait = backoffMs(attempt, this.#retryDelayMs, 2000);
        if (attempt > retries || wait >= deadline.remaining()) throw retryable;
        await deadline.sleep(wait);
        if (deadline.expired) {
          throw this.#fail("timeout", method, `no answer within ${timeoutMs} ms`);
        }
      }
    } catch (e) {
      if (e instanceof StorpoolApiError && e.status === 0 && isKind(e, "unavailable", "timeout")) {
        this.#outage.record(e.message.replace(/^StorPool \w+: /, ""));
      }
      // The API refused a change of one object that does not exist: nothing changed.
      if (
        opts.oneObject !== false && e instanceof StorpoolApiError && e.status > 0 &&
        e.apiName === "objectDoesNotExist"
      ) effect = false;
      throw e;
    } finally {
      deadline.clear();
      if (effect) this.#changes++;
    }
  }

  async #attempt<T>(
    httpMethod: "GET" | "POST",
    method: string,
    url: string,
    body: unknown,
    signal: AbortSignal,
    kind: RequestKind,
    pick?: (item: unknown) => unknown,
  ): Promise<T> {
    this.#http ??= new WireClient();
    this.stats.requests++;
    const headers: Record<string, string> = { Authorization: this.#auth };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    let res: WireResponse;
    try {
      res = await this.#http.request(url, {
        method: httpMethod,
        headers,
        body: payload,
        signal,
        // a read may go over a kept connection; a change only over one that carried none
        reuse: kind === "read",
        gzip: pick !== undefined,
      });
    } catch (e) {
      if (signal.aborted) throw e;
      const err = this.#fail(
        "unavailable",
        method,
        `cannot reach the API at ${this.endpoint} (${transportErrorText(e)})`,
      );
      if (mayRetry(kind, transportFailure(e))) throw new RetryableError(err);
      throw err;
    }
    const cutOff = () => {
      const err = this.#fail(
        "unavailable",
        method,
        `connection to ${this.endpoint} dropped before the reply was complete`,
        { status: res.status },
      );
      return mayRetry(kind, "lost") ? new RetryableError(err) : err;
    };
    const notJson = () => {
      const err = this.#fail(
        res.status >= 500 ? "unavailable" : "backend",
        method,
        `HTTP ${res.status} with a reply that is not JSON`,
        { status: res.status },
      );
      return res.status >= 500 && mayRetry(kind, "5xx") ? new RetryableError(err) : err;
    };
    let json: { data?: unknown; error?: { name?: string; descr?: string; transient?: boolean } };
    if (pick && res.ok) {
      // a listing read element by element: only what `pick` keeps of each element is held
      const r = await readPicked(res, this.stats, pick, { member: "data" });
      if (!r.ok) {
        if (signal.aborted) throw r.error;
        throw r.error instanceof SyntaxError ? notJson() : cutOff();
      }
      const { end, kept } = r;
      json = end.array ? { ...end.rest, data: kept } : end.value as typeof json;
    } else {
      let text: string;
      try {
        text = await replyText(res, this.stats);
      } catch (e) {
        if (signal.aborted) throw e;
        throw cutOff();
      }
      try {
        json = JSON.parse(text);
      } catch {
        throw notJson();
      }
    }
    if (json && typeof json === "object" && json.error) {
      const apiName = String(json.error.name ?? "");
      const descr = String(json.error.descr ?? "");
      const transient = json.error.transient === true;
      const errKind = transient ? "unavailable" : storpoolErrorKind(apiName, descr, res.status);
      const err = this.#fail(errKind, method, `${apiName || `HTTP ${res.status}`}: ${descr}`, {
        apiName,
        transient,
        status: res.status,
      });
      if (transient || (res.status >= 500 && mayRetry(kind, "5xx"))) throw new RetryableError(err);
      throw err;
    }
    if (!res.ok || !json || typeof json !== "object" || !("data" in json)) {
      const err = this.#fail(
        res.status >= 500 ? "unavailable" : "backend",
        method,
        `unexpected HTTP ${res.status} reply`,
        { status: res.status },
      );
      if (res.status >= 500 && mayRetry(kind, "5xx")) throw new RetryableError(err);
      throw err;
    }
    return json.data as T;
  }

  #get<T>(method: string, name?: string): Promise<T> {
    return this.call<T>("GET", method, name);
  }

  #post<T = ApiOk>(method: string, name: string | undefined, body?: unknown): Promise<T> {
    return this.call<T>("POST", method, name, body);
  }

  // ---- volumes ----

  /** `GET VolumesList`. */
  volumesList(): Promise<VolumeSummary[]> {
    return this.#get("VolumesList");
  }
  /** `GET Volume/<name>`: a one-element list; objectDoesNotExist when missing. */
  volume(name: string): Promise<VolumeSummary[]> {
    return this.#get("Volume", name);
  }
  /** `GET VolumeDescribe/<name>`. */
  volumeDescribe(name: string): Promise<VolumeSummary & Record<string, unknown>> {
    return this.#get("VolumeDescribe", name);
  }
  /** `GET VolumesSpace`: every volume with storedSize/spaceUsed (and tags). */
  volumesSpace(): Promise<VolumeSpace[]>;
  /** `GET VolumesSpace`, read element by element, keeping what `pick` returns of each. */
  volumesSpace<U>(pick: (v: VolumeSpace) => U | undefined): Promise<U[]>;
  volumesSpace<U>(pick?: (v: VolumeSpace) => U | undefined): Promise<U[] | VolumeSpace[]> {
    return this.call("GET", "VolumesSpace", undefined, undefined, {
      pick: pick as ((item: unknown) => unknown) | undefined,
    });
  }
  /** `POST VolumeCreate`. */
  volumeCreate(desc: VolumeCreateDesc): Promise<ApiOk> {
    return this.#post("VolumeCreate", undefined, desc);
  }
  /** `POST VolumeUpdate/<name>` (size, rename, tags, template, placement). */
  volumeUpdate(name: string, desc: VolumeUpdateDesc): Promise<ApiOk> {
    return this.#post("VolumeUpdate", name, desc);
  }
  /** `POST VolumeDelete/<name>`. */
  volumeDelete(name: string): Promise<ApiOk> {
    return this.#post("VolumeDelete", name);
  }
  /** `POST VolumeFreeze/<name>`: turn a volume into a snapshot of the same name. */
  volumeFreeze(name: string, desc?: { deleteAfter?: number }): Promise<ApiOk> {
    return this.#post("VolumeFreeze", name, desc);
  }
  /** `POST VolumeRevert/<name>`. */
  volumeRevert(name: string, toSnapshot: string, revertSize = true): Promise<ApiOk> {
    return this.#post("VolumeRevert", name, { toSnapshot, revertSize });
  }

  // ---- snapshots ----

  /** `GET SnapshotsList` (shared: see #sharedList). */
  snapshotsList(): Promise<SnapshotSummary[]> {
    return this.#sharedList<SnapshotSummary>("SnapshotsList");
  }
  /** `GET Snapshot/<name>`: a one-element list. */
  snapshot(name: string): Promise<SnapshotSummary[]> {
    return this.#get("Snapshot", name);
  }
  /** `GET SnapshotsSpace`. */
  snapshotsSpace(): Promise<SnapshotSpace[]>;
  /** `GET SnapshotsSpace`, read element by element, keeping what `pick` returns of each. */
  snapshotsSpace<U>(pick: (s: SnapshotSpace) => U | undefined): Promise<U[]>;
  snapshotsSpace<U>(pick?: (s: SnapshotSpace) => U | undefined): Promise<U[] | SnapshotSpace[]> {
    return this.call("GET", "SnapshotsSpace", undefined, undefined, {
      pick: pick as ((item: unknown) => unknown) | undefined,
    });
  }
  /** `POST VolumeSnapshot/<volume>` (named, or anonymous with deleteAfter). */
  volumeSnapshot(volume: string, desc: VolumeSnapshotDesc): Promise<ApiOk> {
    return this.#post("VolumeSnapshot", volume, desc);
  }
  /** `POST SnapshotUpdate/<name>`. */
  snapshotUpdate(name: string, desc: SnapshotUpdateDesc): Promise<ApiOk> {
    return this.#post("SnapshotUpdate", name, desc);
  }
  /** `POST SnapshotDelete/<name>`. */
  snapshotDelete(name: string): Promise<ApiOk> {
    return this.#post("SnapshotDelete", name);
  }
  /** `POST VolumesGroupSnapshot`: atomic, crash-consistent snapshots of several volumes. */
  volumesGroupSnapshot(spec: GroupSnapshotSpec): Promise<GroupSnapshotResult & Partial<ApiOk>> {
    return this.#post("VolumesGroupSnapshot", undefined, spec);
  }

  // ---- templates ----

  /** `GET VolumeTemplatesList`. */
  templatesList(): Promise<TemplateDesc[]> {
    return this.#get("VolumeTemplatesList");
  }
  /** `GET VolumeTemplateDescribe/<name>`. */
  templateDescribe(name: string): Promise<TemplateDesc> {
    return this.#get("VolumeTemplateDescribe", name);
  }
  /** `GET VolumeTemplatesStatus`: capacity and free space per template. */
  templatesStatus(): Promise<TemplateStatus[]> {
    return this.#get("VolumeTemplatesStatus");
  }

  // ---- services ----

  /** `GET ServicesList`: clients, servers and mgmt with their status. */
  servicesList(): Promise<ServicesDesc> {
    return this.#get("ServicesList");
  }

  // ---- attachments ----

  /** `GET AttachmentsList` (shared: see #sharedList). */
  attachmentsList(): Promise<AttachmentDesc[]> {
    return this.#sharedList<AttachmentDesc>("AttachmentsList");
  }

  /** Changes started so far. */
  #writes = 0;
  /** Changes ended so far that may have changed something (all but refusals of a missing object). */
  #changes = 0;
  readonly #lists = new Map<
    string,
    { list: Promise<unknown[]>; writes: number; changes: number }
  >();

  /**
   * A listing (`GET <method>`) that callers asking while one is on its way share (the disks of
   * one VM ask side by side), as long as no change started since it was sent and no change
   * under way then has ended since with a possible effect: a caller always sees its own
   * changes, since every change it made had ended (and counted) before it asked. A change the
   * API refused because its one object does not exist changed nothing and does not count.
   * Once the reply is in, the next caller sends a new one. Each caller gets its own copy of
   * the entries.
   */
  #sharedList<T>(method: string): Promise<T[]> {
    let shared = this.#lists.get(method);
    if (!shared || shared.writes !== this.#writes || shared.changes !== this.#changes) {
      const list = this.#get<unknown[]>(method);
      const mine = { list, writes: this.#writes, changes: this.#changes };
      this.#lists.set(method, shared = mine);
      const clear = () => {
        if (this.#lists.get(method) === mine) this.#lists.delete(method);
      };
      list.then(clear, clear);
    }
    return shared.list.then((l) => l.map((x) => ({ ...(x as object) }) as T));
  }
  /** `POST VolumesReassign` (no wait for the clients). */
  volumesReassign(items: ReassignDesc[]): Promise<ApiOk> {
    return this.call("POST", "VolumesReassign", undefined, items, {
      oneObject: items.length === 1,
    });
  }
  /**
   * `POST VolumesReassignWait {reassign, attachTimeout}`: waits for the clients. The call
   * deadline is stretched past attachTimeout so the API can answer first.
   */
  volumesReassignWait(items: ReassignDesc[], attachTimeoutS?: number): Promise<ApiOk> {
    const body: { reassign: ReassignDesc[]; attachTimeout?: number } = { reassign: items };
    if (attachTimeoutS !== undefined) body.attachTimeout = attachTimeoutS;
    const timeoutMs = attachTimeoutS !== undefined
      ? Math.max(this.#timeoutMs, attachTimeoutS * 1000 + 10_000)
      : undefined;
    // (a refusal of several entries is not known to leave all of them as they were)
    return this.call("POST", "VolumesReassignWait", undefined, body, {
      timeoutMs,
      oneObject: items.length === 1,
    });
  }

  /** Release keep-alive connections. The client can still be used afterwards. */
  close(): void {
    this.#http?.close();
    this.#http = undefined;
  }
}

class RetryableError extends Error {
  readonly error: StorpoolApiError;
  constructor(error: StorpoolApiError) {
    super(error.message);
    this.error = error;
  }
}

/**
 * A simulated StorPool JSON API over real HTTP on 127.0.0.1.
 *
 * Follows the real API names and shapes: `/ctrl/1.0/<Method>[/<name>]`, header
 * `Authorization: Storpool v1:<token>`, replies `{"generation": N, "data": …}` and
 * `{"error": {"name", "descr", "transient"}}`. Modelled: templates (replication, placeAll,
 * placeTail, placeHead, capacity), volumes and snapshots with parent chains and tags,
 * attachments per client id (ro/rw, force detach, "open" state), delayed delete
 * (deleteAfter → targetDeleteDate, purged when due), group snapshots (atomic), revert.
 *
 * Volume data lives in sparse files under `<stateDir>/data/`; snapshots, clones and reverts
 * copy bytes (`cp --sparse=always`). Attaching to a client that `clients` maps to host X
 * creates `<hostsRoot>/X/dev/storpool/<name>` as a symlink to the data file; detach removes it.
 *
 * Capacity accounting: a template's `stored.free` = capacity − Σ provisioned size of the
 * volumes and snapshots in it (never below 0); creating or growing a volume beyond it fails
 * (insufficientResources). Snapshots are never refused (they share the volume's data).
 *
 * Error names used: objectDoesNotExist (404), objectExists (409), invalidParam (400),
 * jsonError (400), busy (409: attached or open), insufficientResources (400), timeout (500:
 * a client outside `clients` with attachTimeout ≠ 0), authorization (401), notImplemented
 * (404), internalError (500, injected).
 *
 * Control endpoints (not StorPool, no token): see SIM_ENDPOINTS.
 */
import { dirname, join, resolve } from "node:path";

/** Control endpoints under /_sim/ (documentation). */
export const SIM_ENDPOINTS = [
  "GET  /_sim/stats                 → {requests, byMethod, errors}",
  "POST /_sim/stats/reset",
  "GET  /_sim/state                 → templates, volumes, snapshots, attachments, clients",
  "POST /_sim/in-use {volume|snapshot, client: id|host, in_use: bool}",
  "POST /_sim/fault {method?='*', delayMs?, status?, transient?, errorName?, drop?, times?}",
  "GET  /_sim/fault                 → active faults",
  "DELETE /_sim/fault               → clear faults",
  "POST /_sim/restart {downMs?}     → drop connections, listen again (state kept)",
  "POST /_sim/clock {advanceSeconds} → move the sim clock (delayed deletes fall due)",
] as const;

/** A template known at start. */
export interface SimTemplateSpec {
  name: string;
  /** Client-data capacity in GiB (or capacityBytes). */
  capacityGiB?: number;
  capacityBytes?: number;
  replication?: number;
  placeAll?: string;
  placeTail?: string;
  placeHead?: string;
  iops?: number;
  bw?: number;
}

/** An injected fault. */
export interface SimFault {
  /** API method name ("VolumesList") or "*" (default). */
  method?: string;
  /** Delay before answering (or dropping), ms. */
  delayMs?: number;
  /** Answer with this HTTP status and a StorPool error body. */
  status?: number;
  /** The error's `transient` flag (default false). */
  transient?: boolean;
  /** The error's name (default internalError). */
  errorName?: string;
  /** Drop the connection: headers go out, then the body breaks. */
  drop?: boolean;
  /** How many requests it applies to (default: until cleared). */
  times?: number;
}

/** Options of startStorpoolSim. */
export interface StorpoolSimOptions {
  /** TCP port (default 0 = ephemeral). */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** API token (default: random). */
  token?: string;
  /** Client name → StorPool client id; names are host dirs under hostsRoot. */
  clients?: Record<string, number>;
  templates?: SimTemplateSpec[];
  /** Added to every API request, ms. */
  latencyMs?: number;
  /** Where state.json and data/ live (default: a temp dir removed by stop()). */
  stateDir?: string;
  /** `<hostsRoot>/<host>/dev/storpool/<name>` symlinks for attachments (default: none). */
  hostsRoot?: string;
}

/** Request counters. */
export interface SimStats {
  requests: number;
  byMethod: Record<string, number>;
  errors: number;
}

/** A running simulator. */
export interface StorpoolSim {
  url: string;
  port: number;
  token: string;
  stateDir: string;
  hostsRoot?: string;
  clients: Record<string, number>;
  /** Stop serving; removes the state dir when it was a temp dir. */
  stop(): Promise<void>;
  /** Drop every connection and listen again on the same port after downMs; state kept. */
  restart(downMs?: number): Promise<void>;
  stats(): SimStats;
  resetStats(): void;
  /** JSON-able dump of the whole state. */
  state(): SimStateDump;
  /** Mark a volume/snapshot attachment open (in use) on a client. */
  setInUse(name: string, client: number | string, inUse: boolean): void;
  addFault(f: SimFault): void;
  clearFaults(): void;
  advanceClock(seconds: number): void;
  /** Data file of a volume (or snapshot), undefined when missing. */
  dataPath(name: string, kind?: "volume" | "snapshot"): string | undefined;
}

interface SimTemplate {
  name: string;
  capacity: number;
  replication: number;
  placeAll: string;
  placeTail: string;
  placeHead: string;
  iops?: number;
  bw?: number;
}

interface SimObj {
  name: string;
  globalId: string;
  visibleVolumeId: number;
  size: number;
  templateName: string;
  parentName: string;
  replication: number;
  placeAll: string;
  placeTail: string;
  placeHead: string;
  iops?: number;
  bw?: number;
  tags: Record<string, string>;
  creationTimestamp: number;
  file: string;
}

interface SimSnap extends SimObj {
  onVolume: string;
  autoName: boolean;
  bound: boolean;
  targetDeleteDate: number;
}

interface SimAttachment {
  volume: string;
  snapshot: boolean;
  client: number;
  rights: "rw" | "ro";
  pos: number;
  open: boolean;
}

interface SimState {
  generation: number;
  nextId: number;
  clockOffset: number;
  templates: Record<string, SimTemplate>;
  volumes: Record<string, SimObj>;
  snapshots: Record<string, SimSnap>;
  attachments: SimAttachment[];
}

/** What GET /_sim/state returns. */
export type SimStateDump = SimState & { clients: Record<string, number> };

class SimError extends Error {
  constructor(
    readonly status: number,
    readonly apiName: string,
    readonly descr: string,
    readonly transient = false,
  ) {
    super(descr);
  }
}

const VOLUME_NAME = /^#?[A-Za-z0-9_\-.:]+$/;
const SNAPSHOT_NAME = /^\*?[A-Za-z0-9_\-.:@]+$/;
const TEMPLATE_NAME = /^[A-Za-z0-9_\-]+$/;
const TAG_NAME = /^[A-Za-z0-9_\-.:]+$/;
const TAG_VALUE = /^[A-Za-z0-9_\-.:]*$/;
const GiB = 1024 ** 3;

const notFound = (what: string) =>
  new SimError(404, "objectDoesNotExist", `${what} does not exist`);
const invalid = (descr: string) => new SimError(400, "invalidParam", descr);

// deno-lint-ignore no-explicit-any
type Json = any;

/** Start a simulator (see module doc). */
export async function startStorpoolSim(opts: StorpoolSimOptions = {}): Promise<StorpoolSim> {
  const token = opts.token ?? crypto.randomUUID().replaceAll("-", "");
  const hostname = opts.hostname ?? "127.0.0.1";
  const tempState = !opts.stateDir;
  const stateDir = resolve(opts.stateDir ?? await Deno.makeTempDir({ prefix: "oneblk-spsim-" }));
  const dataDir = join(stateDir, "data");
  await Deno.mkdir(dataDir, { recursive: true });
  const hostsRoot = opts.hostsRoot ? resolve(opts.hostsRoot) : undefined;
  const clients: Record<string, number> = { ...(opts.clients ?? {}) };
  const hostById = new Map<number, string>();
  for (const [h, id] of Object.entries(clients)) hostById.set(id, h);
  const latencyMs = opts.latencyMs ?? 0;
  const statePath = join(stateDir, "state.json");

  let st: SimState = {
    generation: 1,
    nextId: 1,
    clockOffset: 0,
    templates: {},
    volumes: {},
    snapshots: {},
    attachments: [],
  };
  try {
    st = JSON.parse(await Deno.readTextFile(statePath));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const t of opts.templates ?? []) {
    if (!TEMPLATE_NAME.test(t.name)) throw new Error(`bad template name '${t.name}'`);
    st.templates[t.name] = {
      name: t.name,
      capacity: t.capacityBytes ?? Math.round((t.capacityGiB ?? 100) * GiB),
      replication: t.replication ?? 3,
      placeAll: t.placeAll ?? "default",
      placeTail: t.placeTail ?? t.placeAll ?? "default",
      placeHead: t.placeHead ?? t.placeAll ?? "default",
      iops: t.iops,
      bw: t.bw,
    };
  }

  const stats: SimStats = { requests: 0, byMethod: {}, errors: 0 };
  let faults: SimFault[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const aborts = new Set<AbortController>();
  let stopped = false;

  const now = () => Math.floor(Date.now() / 1000) + st.clockOffset;

  const sleep = (ms: number) =>
    new Promise<boolean>((res) => {
      const ac = new AbortController();
      aborts.add(ac);
      const id = setTimeout(() => {
        timers.delete(id);
        aborts.delete(ac);
        res(true);
      }, ms);
      timers.add(id);
      ac.signal.addEventListener("abort", () => {
        clearTimeout(id);
        timers.delete(id);
        aborts.delete(ac);
        res(false);
      });
    });

  // ---- serialised state access ----
  let lock: Promise<unknown> = Promise.resolve();
  const locked = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn, fn);
    lock = run.catch(() => {});
    return run;
  };

  const save = async () => {
    const tmp = `${statePath}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(st));
    await Deno.rename(tmp, statePath);
  };

  // ---- helpers ----
  const newIds = () => {
    const n = st.nextId++;
    return { globalId: `s.b.${n.toString(36)}`, visibleVolumeId: n };
  };
  const fileFor = (gid: string) => join(dataDir, `${gid.replaceAll(".", "_")}.raw`);

  const run = async (argv: string[]) => {
    const out = await new Deno.Command(argv[0], { args: argv.slice(1), stderr: "piped" })
      .output();
    if (!out.success) {
      throw new SimError(
        500,
        "internalError",
        `${argv[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
  };
  const copyData = (src: string, dst: string) =>
    run(["cp", "--sparse=always", "--reflink=auto", src, dst]);
  const setSize = async (file: string, size: number) => {
    const f = await Deno.open(file, { write: true, create: true });
    try {
      await f.truncate(size);
    } finally {
      f.close();
    }
  };
  const removeFile = async (file: string) => {
    try {
      await Deno.remove(file);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  const allocated = async (o: SimObj) => {
    try {
      const s = await Deno.stat(o.file);
      return Math.min(o.size, (s.blocks ?? 0) * 512);
    } catch {
      return 0;
    }
  };

  /** A volume or snapshot by name, or by global id as `~<globalId>`. */
  const findByRef = <T extends SimObj>(all: Record<string, T>, ref: string, kind: string): T => {
    if (ref.startsWith("~")) {
      const o = Object.values(all).find((x) => x.globalId === ref.slice(1));
      if (o) return o;
    } else if (all[ref]) return all[ref];
    throw notFound(`${kind} ${ref}`);
  };
  const findVolume = (ref: string): SimObj => findByRef(st.volumes, ref, "Volume");
  const findSnapshot = (ref: string): SimSnap => findByRef(st.snapshots, ref, "Snapshot");
  const findTemplate = (name: string): SimTemplate => {
    const t = st.templates[name];
    if (!t) throw notFound(`Template ${name}`);
    return t;
  };

  const checkTags = (tags: unknown): Record<string, string> => {
    if (tags === undefined || tags === null) return {};
    if (typeof tags !== "object" || Array.isArray(tags)) throw invalid("tags must be an object");
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(tags as Record<string, unknown>)) {
      if (!TAG_NAME.test(k) || k.length > 200) throw invalid(`Invalid tag name "${k}"`);
      if (typeof v !== "string" || !TAG_VALUE.test(v) || v.length > 200) {
        throw invalid(`Invalid value for tag "${k}"`);
      }
      out[k] = v;
    }
    return out;
  };
  const mergeTags = (cur: Record<string, string>, upd: Record<string, string>) => {
    for (const [k, v] of Object.entries(upd)) {
      if (v === "") delete cur[k];
      else cur[k] = v;
    }
  };
  const checkSize = (size: unknown, what = "size"): number => {
    if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) {
      throw invalid(`Invalid ${what} ${JSON.stringify(size)}`);
    }
    if (size % 512 !== 0) throw invalid(`${what} ${size} is not a multiple of 512`);
    return size;
  };
  const checkClient = (c: unknown): number => {
    const n = typeof c === "string" && /^\d+$/.test(c) ? Number(c) : c;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 4095) {
      throw invalid(`Invalid client id ${JSON.stringify(c)}`);
    }
    return n;
  };
  const optNum = (v: unknown, what: string): number | undefined => {
    if (v === undefined || v === null || v === "-") return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw invalid(`Invalid ${what}`);
    return v;
  };

  const templateUsed = (name: string) => {
    let used = 0;
    for (const v of Object.values(st.volumes)) if (v.templateName === name) used += v.size;
    for (const s of Object.values(st.snapshots)) if (s.templateName === name) used += s.size;
    return used;
  };
  const reserve = (templateName: string, extra: number) => {
    const t = st.templates[templateName];
    if (!t || extra <= 0) return;
    const free = t.capacity - templateUsed(templateName);
    if (extra > free) {
      throw new SimError(
        400,
        "insufficientResources",
        `Not enough space in template ${templateName}: ${extra} bytes asked, ${free} free`,
      );
    }
  };

  const summary = (o: SimObj) => ({
    name: o.name,
    globalId: o.globalId,
    visibleVolumeId: o.visibleVolumeId,
    size: o.size,
    parentName: o.parentName,
    templateName: o.templateName,
    replication: o.replication,
    placeAll: o.placeAll,
    placeTail: o.placeTail,
    placeHead: o.placeHead,
    iops: o.iops ?? "-",
    bw: o.bw ?? "-",
    limitType: "total",
    reuseServer: false,
    objectsCount: Math.ceil(o.size / (32 * 1024 * 1024)),
    creationTimestamp: o.creationTimestamp,
    tags: { ...o.tags },
  });
  const snapSummary = (s: SimSnap) => ({
    ...summary(s),
    onVolume: s.onVolume,
    autoName: s.autoName,
    bound: s.bound,
    deleted: false,
    transient: false,
    recoveringFromRemote: false,
    targetDeleteDate: s.targetDeleteDate,
  });

  /** The Describe answer: the summary plus (empty) disk sets and objects. */
  const described = (sum: Record<string, unknown>) => ({
    ...sum,
    targetDiskSets: [],
    objects: [],
  });
  /** The *Space answer for `objs`: each summary with its allocated bytes. */
  const spaceList = async <T extends SimObj>(objs: T[], summarize: (o: T) => object) => {
    const out = [];
    for (const o of objs) {
      const used = await allocated(o);
      out.push({ ...summarize(o), storedSize: used, spaceUsed: used });
    }
    return out;
  };
  /** One VolumesGetStatus entry. */
  const statusOf = async (o: SimObj, sum: object, snapshot: boolean) => ({
    ...sum,
    status: "up",
    snapshot,
    migrating: false,
    decreasedRedundancy: false,
    storedSize: await allocated(o),
  });
  /** A volume template as VolumeTemplateDescribe shows it. */
  const templateSummary = (t: SimTemplate) => ({
    name: t.name,
    parentName: "",
    replication: t.replication,
    placeAll: t.placeAll,
    placeTail: t.placeTail,
    placeHead: t.placeHead,
    size: "-",
    iops: t.iops ?? "-",
    bw: t.bw ?? "-",
  });

  // ---- device symlinks on simulated hosts ----
  const linkPath = (client: number, name: string) => {
    const host = hostById.get(client);
    return hostsRoot && host ? join(hostsRoot, host, "dev", "storpool", name) : undefined;
  };
  const link = async (client: number, name: string, file: string) => {
    const p = linkPath(client, name);
    if (!p) return;
    await Deno.mkdir(dirname(p), { recursive: true });
    await removeFile(p);
    await Deno.symlink(file, p);
  };
  const unlink = async (client: number, name: string) => {
    const p = linkPath(client, name);
    if (p) await removeFile(p);
  };

  const attachmentsOf = (name: string, snapshot: boolean) =>
    st.attachments.filter((a) => a.volume === name && a.snapshot === snapshot);
  const refuseAttached = (name: string, snapshot: boolean, what: string) => {
    const att = attachmentsOf(name, snapshot);
    if (att.length) {
      throw new SimError(
        409,
        "busy",
        `${what} ${name} is attached to client(s) ${att.map((a) => a.client).join(",")}`,
      );
    }
  };

  const dropSnapshot = async (s: SimSnap) => {
    delete st.snapshots[s.name];
    for (const o of [...Object.values(st.volumes), ...Object.values(st.snapshots)]) {
      if (o.parentName === s.name) o.parentName = s.parentName;
    }
    await removeFile(s.file);
  };

  const purgeDue = async () => {
    const t = now();
    let changed = false;
    for (const s of Object.values(st.snapshots)) {
      if (
        s.targetDeleteDate > 0 && s.targetDeleteDate <= t && !attachmentsOf(s.name, true).length
      ) {
        await dropSnapshot(s);
        changed = true;
      }
    }
    if (changed) {
      st.generation++;
      await save();
    }
  };

  const ok = (extra: Record<string, unknown> = {}) => ({
    ok: true,
    generation: st.generation,
    ...extra,
  });

  const makeSnapshot = async (
    v: SimObj,
    name: string | undefined,
    b: { deleteAfter?: unknown; targetDeleteDate?: unknown; tags?: unknown; bind?: unknown },
    ts = now(),
  ): Promise<SimSnap> => {
    const ids = newIds();
    const anonymous = name === undefined;
    const snapName = name ?? `${v.name}@${ids.visibleVolumeId}`;
    if (!SNAPSHOT_NAME.test(snapName)) throw invalid(`Invalid snapshot name "${snapName}"`);
    if (st.snapshots[snapName]) {
      throw new SimError(409, "objectExists", `Snapshot ${snapName} already exists`);
    }
    const deleteAfter = optNum(b.deleteAfter, "deleteAfter") ?? 0;
    const target = optNum(b.targetDeleteDate, "targetDeleteDate") ?? 0;
    const s: SimSnap = {
      ...v,
      tags: checkTags(b.tags),
      name: snapName,
      globalId: ids.globalId,
      visibleVolumeId: ids.visibleVolumeId,
      file: fileFor(ids.globalId),
      creationTimestamp: ts,
      parentName: v.parentName,
      onVolume: v.name,
      autoName: anonymous,
      bound: b.bind === true,
      targetDeleteDate: deleteAfter > 0 ? now() + deleteAfter : target,
    };
    await copyData(v.file, s.file);
    return s;
  };

  // ---- reassign ----
  const reassign = async (items: unknown, attachTimeout: number | undefined) => {
    if (!Array.isArray(items)) throw invalid("reassign must be a list");
    interface Plan {
      name: string;
      snapshot: boolean;
      file: string;
      detach: number[] | "all";
      ro: number[];
      rw: number[];
      force: boolean;
    }
    const plans: Plan[] = [];
    for (const it of items as Json[]) {
      if (!it || typeof it !== "object") throw invalid("reassign entry must be an object");
      const snapshot = typeof it.snapshot === "string";
      if (!snapshot && typeof it.volume !== "string") throw invalid("volume or snapshot expected");
      const obj = snapshot ? findSnapshot(it.snapshot) : findVolume(it.volume);
      const list = (x: unknown, what: string) => {
        if (x === undefined || x === null) return [];
        if (!Array.isArray(x)) throw invalid(`${what} must be a list of client ids`);
        return x.map(checkClient);
      };
      const detach = it.detach === "all" ? "all" : list(it.detach, "detach");
      const ro = list(it.ro, "ro");
      const rw = list(it.rw, "rw");
      if (snapshot && rw.length) throw invalid(`Snapshot ${obj.name} can only be attached ro`);
      const missing = [...ro, ...rw].filter((c) => hostById.size > 0 && !hostById.has(c));
      if (missing.length && attachTimeout !== 0) {
        throw new SimError(
          500,
          "timeout",
          `Timeout waiting for client(s) ${missing.join(",")} to attach ${obj.name}`,
        );
      }
      const force = it.force === true;
      for (const a of attachmentsOf(obj.name, snapshot)) {
        const leaving = detach === "all" || detach.includes(a.client);
        if (leaving && a.open && !force) {
          throw new SimError(
            409,
            "busy",
            `${snapshot ? "Snapshot" : "Volume"} ${obj.name} is open on client ${a.client}`,
          );
        }
      }
      plans.push({ name: obj.name, snapshot, file: obj.file, detach, ro, rw, force });
    }
    for (const p of plans) {
      const leaving = st.attachments.filter((a) =>
        a.volume === p.name && a.snapshot === p.snapshot &&
        (p.detach === "all" || p.detach.includes(a.client))
      );
      for (const a of leaving) {
        st.attachments.splice(st.attachments.indexOf(a), 1);
        await unlink(a.client, a.volume);
      }
      for (const [rights, ids] of [["ro", p.ro], ["rw", p.rw]] as const) {
        for (const c of ids) {
          const cur = st.attachments.find((a) =>
            a.volume === p.name && a.snapshot === p.snapshot && a.client === c
          );
          if (cur) {
            cur.rights = rights;
          } else {
            const used = new Set(st.attachments.filter((a) => a.client === c).map((a) => a.pos));
            let pos = 0;
            while (used.has(pos)) pos++;
            st.attachments.push({
              volume: p.name,
              snapshot: p.snapshot,
              client: c,
              rights,
              pos,
              open: false,
            });
          }
          await link(c, p.name, p.file);
        }
      }
    }
  };

  // ---- API methods ----
  type Route = {
    http: "GET" | "POST";
    mutates?: boolean;
    fn: (arg: string | undefined, body: Json) => Promise<unknown> | unknown;
  };
  const needArg = (arg: string | undefined, what: string) => {
    if (!arg) throw invalid(`missing ${what} name in the path`);
    return arg;
  };

  const routes: Record<string, Route> = {
    VolumesList: { http: "GET", fn: () => Object.values(st.volumes).map(summary) },
    Volume: { http: "GET", fn: (a) => [summary(findVolume(needArg(a, "volume")))] },
    VolumeDescribe: {
      http: "GET",
      fn: (a) => described(summary(findVolume(needArg(a, "volume")))),
    },
    VolumeGetInfo: {
      http: "GET",
      fn: (a) => ({
        ...summary(findVolume(needArg(a, "volume"))),
        disksCount: 0,
        objectsPerDisk: {},
        objectsPerChain: [],
        objectsPerDiskSet: [],
      }),
    },
    VolumeListSnapshots: {
      http: "GET",
      fn: (a) => {
        const v = findVolume(needArg(a, "volume"));
        const out = [];
        let p = v.parentName;
        while (p && st.snapshots[p]) {
          out.push(snapSummary(st.snapshots[p]));
          p = st.snapshots[p].parentName;
        }
        return out;
      },
    },
    VolumesSpace: {
      http: "GET",
      fn: () => spaceList(Object.values(st.volumes), summary),
    },
    VolumesGetStatus: {
      http: "GET",
      fn: async () => {
        const out: Record<string, unknown> = {};
        for (const v of Object.values(st.volumes)) {
          out[v.name] = await statusOf(v, summary(v), false);
        }
        for (const s of Object.values(st.snapshots)) {
          out[s.name] = await statusOf(s, snapSummary(s), true);
        }
        return out;
      },
    },
    VolumeCreate: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        const name = b.name;
        if (typeof name !== "string" || !VOLUME_NAME.test(name) || name.length > 200) {
          throw invalid(`Invalid volume name ${JSON.stringify(name)}`);
        }
        if (st.volumes[name]) {
          throw new SimError(409, "objectExists", `Volume ${name} already exists`);
        }
        const tags = checkTags(b.tags);
        let src: SimObj | undefined;
        let parentName = "";
        if (b.parent !== undefined && b.baseOn !== undefined) {
          throw invalid("parent and baseOn are mutually exclusive");
        }
        if (typeof b.parent === "string") {
          src = findSnapshot(b.parent);
          parentName = src.name;
        } else if (typeof b.baseOn === "string") {
          src = findVolume(b.baseOn);
          parentName = src.parentName;
        }
        if (!src && b.size === undefined) throw invalid("size is required without parent/baseOn");
        const size = b.size === undefined ? src!.size : checkSize(b.size);
        if (src && size < src.size) throw invalid(`size ${size} is smaller than the parent's`);
        const tpl = typeof b.template === "string" ? findTemplate(b.template) : undefined;
        const templateName = tpl?.name ?? src?.templateName ?? "";
        const base = tpl ?? (src ? undefined : st.templates[templateName]);
        reserve(templateName, size);
        const ids = newIds();
        const v: SimObj = {
          name,
          ...ids,
          size,
          templateName,
          parentName,
          replication: optNum(b.replication, "replication") ?? base?.replication ??
            src?.replication ??
            3,
          placeAll: b.placeAll ?? base?.placeAll ?? src?.placeAll ?? "default",
          placeTail: b.placeTail ?? base?.placeTail ?? src?.placeTail ?? "default",
          placeHead: b.placeHead ?? base?.placeHead ?? src?.placeHead ?? "default",
          iops: optNum(b.iops, "iops") ?? base?.iops ?? src?.iops,
          bw: optNum(b.bw, "bw") ?? base?.bw ?? src?.bw,
          tags,
          creationTimestamp: now(),
          file: fileFor(ids.globalId),
        };
        if (src) await copyData(src.file, v.file);
        await setSize(v.file, size);
        st.volumes[name] = v;
        const extra: Record<string, unknown> = { globalId: v.globalId };
        if (b.baseOn !== undefined) extra.autoName = `${src!.name}@${ids.visibleVolumeId}`;
        return ok(extra);
      },
    },
    VolumeUpdate: {
      http: "POST",
      mutates: true,
      fn: async (a, b) => {
        const v = findVolume(needArg(a, "volume"));
        const tags = b.tags === undefined ? undefined : checkTags(b.tags);
        let size: number | undefined;
        if (b.size !== undefined) size = checkSize(b.size);
        if (b.sizeAdd !== undefined) size = v.size + checkSize(b.sizeAdd, "sizeAdd");
        if (size !== undefined && size < v.size && b.shrinkOk !== true) {
          throw invalid(`Shrinking volume ${v.name} needs shrinkOk`);
        }
        const tpl = typeof b.template === "string" ? findTemplate(b.template) : undefined;
        const newName = b.rename;
        if (newName !== undefined) {
          if (typeof newName !== "string" || !VOLUME_NAME.test(newName)) {
            throw invalid(`Invalid volume name ${JSON.stringify(newName)}`);
          }
          if (newName !== v.name && st.volumes[newName]) {
            throw new SimError(409, "objectExists", `Volume ${newName} already exists`);
          }
        }
        if (size !== undefined && size > v.size) {
          reserve(tpl?.name ?? v.templateName, size - v.size);
        }
        if (size !== undefined && size !== v.size) {
          await setSize(v.file, size);
          v.size = size;
        }
        if (tpl) v.templateName = tpl.name;
        for (const k of ["placeAll", "placeTail", "placeHead"] as const) {
          if (typeof b[k] === "string") v[k] = b[k];
        }
        if (b.replication !== undefined) v.replication = optNum(b.replication, "replication")!;
        if (b.iops !== undefined) v.iops = optNum(b.iops, "iops");
        if (b.bw !== undefined) v.bw = optNum(b.bw, "bw");
        if (tags) mergeTags(v.tags, tags);
        if (newName !== undefined && newName !== v.name) {
          const old = v.name;
          delete st.volumes[old];
          v.name = newName;
          st.volumes[newName] = v;
          for (const s of Object.values(st.snapshots)) if (s.onVolume === old) s.onVolume = newName;
          for (const att of attachmentsOf(old, false)) {
            att.volume = newName;
            await unlink(att.client, old);
            await link(att.client, newName, v.file);
          }
        }
        return ok();
      },
    },
    VolumeDelete: {
      http: "POST",
      mutates: true,
      fn: async (a) => {
        const v = findVolume(needArg(a, "volume"));
        refuseAttached(v.name, false, "Volume");
        delete st.volumes[v.name];
        await removeFile(v.file);
        return ok();
      },
    },
    VolumeFreeze: {
      http: "POST",
      mutates: true,
      fn: (a, b) => {
        const v = findVolume(needArg(a, "volume"));
        refuseAttached(v.name, false, "Volume");
        if (st.snapshots[v.name]) {
          throw new SimError(409, "objectExists", `Snapshot ${v.name} already exists`);
        }
        const deleteAfter = optNum(b?.deleteAfter, "deleteAfter") ?? 0;
        delete st.volumes[v.name];
        st.snapshots[v.name] = {
          ...v,
          onVolume: v.name,
          autoName: false,
          bound: false,
          targetDeleteDate: deleteAfter > 0 ? now() + deleteAfter : 0,
        };
        return ok();
      },
    },
    VolumeRevert: {
      http: "POST",
      mutates: true,
      fn: async (a, b) => {
        const v = findVolume(needArg(a, "volume"));
        if (typeof b?.toSnapshot !== "string") throw invalid("toSnapshot is required");
        const s = findSnapshot(b.toSnapshot);
        const chain = new Set<string>();
        for (let p = v.parentName; p && st.snapshots[p] && !chain.has(p);) {
          chain.add(p);
          p = st.snapshots[p].parentName;
        }
        if (s.onVolume !== v.name && !chain.has(s.name)) {
          throw invalid(`Snapshot ${s.name} is not a parent of volume ${v.name}`);
        }
        refuseAttached(v.name, false, "Volume");
        const revertSize = b.revertSize !== false;
        const size = revertSize ? s.size : Math.max(v.size, s.size);
        if (size > v.size) reserve(v.templateName, size - v.size);
        const tmp = `${v.file}.revert`;
        await copyData(s.file, tmp);
        await setSize(tmp, size);
        await Deno.rename(tmp, v.file);
        v.size = size;
        v.parentName = s.name;
        return ok();
      },
    },
    VolumeSnapshot: {
      http: "POST",
      mutates: true,
      fn: async (a, b) => {
        const v = findVolume(needArg(a, "volume"));
        const body = b ?? {};
        if (body.name !== undefined && typeof body.name !== "string") throw invalid("Invalid name");
        const s = await makeSnapshot(v, body.name, body);
        st.snapshots[s.name] = s;
        v.parentName = s.name;
        return ok({
          snapshotGlobalId: s.globalId,
          snapshotVisibleVolumeId: s.visibleVolumeId,
          ...(s.autoName ? { autoName: s.name } : {}),
        });
      },
    },
    SnapshotsList: { http: "GET", fn: () => Object.values(st.snapshots).map(snapSummary) },
    Snapshot: { http: "GET", fn: (a) => [snapSummary(findSnapshot(needArg(a, "snapshot")))] },
    SnapshotDescribe: {
      http: "GET",
      fn: (a) => described(snapSummary(findSnapshot(needArg(a, "snapshot")))),
    },
    SnapshotsSpace: {
      http: "GET",
      fn: () => spaceList(Object.values(st.snapshots), snapSummary),
    },
    SnapshotUpdate: {
      http: "POST",
      mutates: true,
      fn: (a, b) => {
        const s = findSnapshot(needArg(a, "snapshot"));
        const tags = b?.tags === undefined ? undefined : checkTags(b.tags);
        if (b?.rename !== undefined) {
          if (typeof b.rename !== "string" || !SNAPSHOT_NAME.test(b.rename)) {
            throw invalid("Invalid snapshot name");
          }
          if (b.rename !== s.name && st.snapshots[b.rename]) {
            throw new SimError(409, "objectExists", `Snapshot ${b.rename} already exists`);
          }
        }
        if (typeof b?.template === "string") s.templateName = findTemplate(b.template).name;
        if (tags) mergeTags(s.tags, tags);
        if (b?.bind !== undefined) s.bound = b.bind === true;
        if (b?.deleteAfter !== undefined) {
          const d = optNum(b.deleteAfter, "deleteAfter")!;
          s.targetDeleteDate = d > 0 ? now() + d : 0;
        }
        if (b?.targetDeleteDate !== undefined) {
          s.targetDeleteDate = optNum(b.targetDeleteDate, "targetDeleteDate")!;
        }
        if (b?.rename !== undefined && b.rename !== s.name) {
          const old = s.name;
          delete st.snapshots[old];
          s.name = b.rename;
          st.snapshots[s.name] = s;
          for (const o of [...Object.values(st.volumes), ...Object.values(st.snapshots)]) {
            if (o.parentName === old) o.parentName = s.name;
          }
          for (const att of attachmentsOf(old, true)) att.volume = s.name;
        }
        return ok();
      },
    },
    SnapshotDelete: {
      http: "POST",
      mutates: true,
      fn: async (a) => {
        const s = findSnapshot(needArg(a, "snapshot"));
        refuseAttached(s.name, true, "Snapshot");
        await dropSnapshot(s);
        return ok();
      },
    },
    SnapshotDeleteById: {
      http: "POST",
      mutates: true,
      fn: async (a) => {
        const s = findSnapshot(`~${needArg(a, "snapshot").replace(/^~/, "")}`);
        refuseAttached(s.name, true, "Snapshot");
        await dropSnapshot(s);
        return ok();
      },
    },
    VolumesGroupSnapshot: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        if (!b || !Array.isArray(b.volumes) || !b.volumes.length) {
          throw invalid("volumes must be a non-empty list");
        }
        const common = checkTags(b.tags);
        const names = new Set<string>();
        const plan: { v: SimObj; name?: string; tags: Record<string, string> }[] = [];
        for (const it of b.volumes as Json[]) {
          const v = findVolume(String(it?.volume));
          if (it.name !== undefined) {
            if (typeof it.name !== "string" || !SNAPSHOT_NAME.test(it.name)) {
              throw invalid(`Invalid snapshot name ${JSON.stringify(it.name)}`);
            }
            if (st.snapshots[it.name] || names.has(it.name)) {
              throw new SimError(409, "objectExists", `Snapshot ${it.name} already exists`);
            }
            names.add(it.name);
          }
          plan.push({ v, name: it.name, tags: { ...common, ...checkTags(it.tags) } });
        }
        const ts = now();
        const made: SimSnap[] = [];
        try {
          for (const p of plan) made.push(await makeSnapshot(p.v, p.name, { tags: p.tags }, ts));
        } catch (e) {
          for (const s of made) await removeFile(s.file);
          throw e;
        }
        for (let i = 0; i < made.length; i++) {
          st.snapshots[made[i].name] = made[i];
          plan[i].v.parentName = made[i].name;
        }
        return {
          ...ok(),
          snapshots: made.map((s, i) => ({
            volume: plan[i].v.name,
            volumeGlobalId: plan[i].v.globalId,
            snapshot: s.name,
            snapshotGlobalId: s.globalId,
            remoteId: s.globalId,
          })),
        };
      },
    },
    VolumeTemplatesList: {
      http: "GET",
      fn: () =>
        Object.values(st.templates).map((t) => ({ ...templateSummary(t), reuseServer: false })),
    },
    VolumeTemplateDescribe: {
      http: "GET",
      fn: (a) => templateSummary(findTemplate(needArg(a, "template"))),
    },
    VolumeTemplatesStatus: {
      http: "GET",
      fn: async () => {
        const out = [];
        for (const t of Object.values(st.templates)) {
          const vols = Object.values(st.volumes).filter((v) => v.templateName === t.name);
          const snaps = Object.values(st.snapshots).filter((s) => s.templateName === t.name);
          let stored = 0;
          for (const o of [...vols, ...snaps]) stored += await allocated(o);
          const size = vols.reduce((n, v) => n + v.size, 0);
          const free = Math.max(0, t.capacity - templateUsed(t.name));
          const est = { capacity: t.capacity, free };
          out.push({
            name: t.name,
            placeAll: t.placeAll,
            placeTail: t.placeTail,
            placeHead: t.placeHead,
            replication: t.replication,
            volumesCount: vols.length,
            snapshotsCount: snaps.length,
            removingSnapshotsCount: 0,
            size,
            totalSize: size * t.replication,
            storedSize: stored,
            onDiskSize: stored * t.replication,
            availablePlaceAll: free * t.replication,
            availablePlaceTail: free,
            availablePlaceHead: free,
            capacityPlaceAll: t.capacity * t.replication,
            capacityPlaceTail: t.capacity,
            capacityPlaceHead: t.capacity,
            stored: {
              ...est,
              internal: { u1: 0, u2: 0, u3: 0 },
              placeAll: est,
              placeTail: est,
              placeHead: est,
            },
          });
        }
        return out;
      },
    },
    VolumeTemplateCreate: {
      http: "POST",
      mutates: true,
      fn: (_a, b) => {
        if (typeof b?.name !== "string" || !TEMPLATE_NAME.test(b.name)) {
          throw invalid("Invalid template name");
        }
        if (st.templates[b.name]) {
          throw new SimError(409, "objectExists", `Template ${b.name} already exists`);
        }
        st.templates[b.name] = {
          name: b.name,
          capacity: 100 * GiB,
          replication: optNum(b.replication, "replication") ?? 3,
          placeAll: b.placeAll ?? "default",
          placeTail: b.placeTail ?? b.placeAll ?? "default",
          placeHead: b.placeHead ?? b.placeAll ?? "default",
          iops: optNum(b.iops, "iops"),
          bw: optNum(b.bw, "bw"),
        };
        return ok();
      },
    },
    VolumeTemplateUpdate: {
      http: "POST",
      mutates: true,
      fn: (a, b) => {
        const t = findTemplate(needArg(a, "template"));
        if (b?.replication !== undefined) t.replication = optNum(b.replication, "replication")!;
        for (const k of ["placeAll", "placeTail", "placeHead"] as const) {
          if (typeof b?.[k] === "string") t[k] = b[k];
        }
        if (b?.iops !== undefined) t.iops = optNum(b.iops, "iops");
        if (b?.bw !== undefined) t.bw = optNum(b.bw, "bw");
        return ok();
      },
    },
    AttachmentsList: {
      http: "GET",
      fn: () =>
        st.attachments.map((a) => ({
          volume: a.volume,
          snapshot: a.snapshot,
          client: a.client,
          rights: a.snapshot ? "ro" : a.rights,
          pos: a.pos,
          globalId: (a.snapshot ? st.snapshots[a.volume] : st.volumes[a.volume])?.globalId,
          open: a.open,
        })),
    },
    VolumesReassign: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        await reassign(b, 0);
        return ok();
      },
    },
    VolumesReassignWait: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        if (!b || typeof b !== "object") throw invalid("body must be an object");
        const t = b.attachTimeout === undefined
          ? undefined
          : optNum(b.attachTimeout, "attachTimeout");
        await reassign(b.reassign, t);
        return ok();
      },
    },
  };

  // ---- HTTP ----
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  const apiError = (e: SimError) =>
    json(e.status, { error: { name: e.apiName, descr: e.descr, transient: e.transient } });
  // A reply cut short: the headers promise more bytes than ever come, so the connection is
  // aborted mid-body (an errored stream would do the same but makes Deno log it).
  const dropped = () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("{"));
          c.close();
        },
      }),
      { status: 200, headers: { "Content-Type": "application/json", "Content-Length": "4096" } },
    );

  const readBody = async (req: Request): Promise<Json> => {
    const text = await req.text();
    if (!text.trim()) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new SimError(400, "jsonError", "Request body is not valid JSON");
    }
  };

  const clientRef = (c: unknown): number => {
    if (typeof c === "string" && !/^\d+$/.test(c)) {
      const id = clients[c];
      if (id === undefined) throw invalid(`Unknown client '${c}'`);
      return id;
    }
    return checkClient(c);
  };

  const setInUse = (name: string, client: number | string, inUse: boolean, snapshot = false) => {
    const id = clientRef(client);
    const a = st.attachments.find((x) =>
      x.volume === name && x.client === id && x.snapshot === snapshot
    );
    if (!a) throw notFound(`Attachment of ${name} on client ${id}`);
    a.open = inUse;
  };

  const control = async (req: Request, path: string): Promise<Response> => {
    const m = req.method;
    if (path === "/_sim/stats" && m === "GET") return json(200, stats);
    if (path === "/_sim/stats/reset" && m === "POST") {
      resetStats();
      return json(200, { ok: true });
    }
    if (path === "/_sim/state" && m === "GET") return json(200, dump());
    if (path === "/_sim/in-use" && m === "POST") {
      const b = await readBody(req);
      const name = b?.volume ?? b?.snapshot;
      if (typeof name !== "string") throw invalid("volume (or snapshot) is required");
      await locked(async () => {
        setInUse(name, b.client, b.in_use !== false, b.volume === undefined);
        await save();
      });
      return json(200, { ok: true });
    }
    if (path === "/_sim/fault") {
      if (m === "GET") return json(200, faults);
      if (m === "DELETE") {
        faults = [];
        return json(200, { ok: true });
      }
      if (m === "POST") {
        const b = await readBody(req);
        if (!b || typeof b !== "object") throw invalid("fault object expected");
        faults.push({ ...b });
        return json(200, { ok: true, faults });
      }
    }
    if (path === "/_sim/restart" && m === "POST") {
      const b = await readBody(req);
      const downMs = Number(b?.downMs ?? 0) || 0;
      const id = setTimeout(() => {
        timers.delete(id);
        restart(downMs).catch(() => {});
      }, 5);
      timers.add(id);
      return json(200, { ok: true });
    }
    if (path === "/_sim/clock" && m === "POST") {
      const b = await readBody(req);
      st.clockOffset += Number(b?.advanceSeconds ?? 0) || 0;
      await locked(save);
      return json(200, { ok: true, now: now() });
    }
    return json(404, { error: { name: "notImplemented", descr: `No such control ${path}` } });
  };

  const handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path.startsWith("/_sim/")) {
      try {
        return await control(req, path);
      } catch (e) {
        if (e instanceof SimError) return apiError(e);
        return json(500, { error: { name: "internalError", descr: String(e) } });
      }
    }
    const prefix = "/ctrl/1.0/";
    const rest = path.startsWith(prefix) ? path.slice(prefix.length) : "";
    const slash = rest.indexOf("/");
    const method = slash < 0 ? rest : rest.slice(0, slash);
    const arg = slash < 0 ? undefined : decodeURIComponent(rest.slice(slash + 1));
    stats.requests++;
    stats.byMethod[method || "?"] = (stats.byMethod[method || "?"] ?? 0) + 1;
    const fail = (e: SimError) => {
      stats.errors++;
      return apiError(e);
    };
    if (req.headers.get("authorization") !== `Storpool v1:${token}`) {
      await req.body?.cancel();
      return fail(new SimError(401, "authorization", "Invalid or missing authorization token"));
    }
    if (latencyMs > 0 && !(await sleep(latencyMs))) return dropped();
    const fault = faults.find((f) => (f.method ?? "*") === "*" || f.method === method);
    if (fault) {
      if (fault.times !== undefined && --fault.times <= 0) {
        faults.splice(faults.indexOf(fault), 1);
      }
      if (fault.delayMs && !(await sleep(fault.delayMs))) return dropped();
      if (fault.drop) {
        await req.body?.cancel();
        stats.errors++;
        return dropped();
      }
      if (fault.status) {
        await req.body?.cancel();
        return fail(
          new SimError(
            fault.status,
            fault.errorName ?? "internalError",
            "Simulated failure",
            fault.transient ?? false,
          ),
        );
      }
    }
    const route = routes[method];
    if (!route) {
      await req.body?.cancel();
      return fail(new SimError(404, "notImplemented", `Unknown API call '${method}'`));
    }
    if (route.http !== req.method) {
      await req.body?.cancel();
      return fail(invalid(`${method} needs ${route.http}`));
    }
    try {
      const body = route.http === "POST" ? await readBody(req) : undefined;
      const data = await locked(async () => {
        await purgeDue();
        const d = await route.fn(arg, body ?? {});
        if (route.mutates) {
          st.generation++;
          if (d && typeof d === "object" && "generation" in d) {
            (d as { generation: number }).generation = st.generation;
          }
          await save();
        }
        return d;
      });
      return json(200, { generation: st.generation, data });
    } catch (e) {
      if (e instanceof SimError) return fail(e);
      return fail(new SimError(500, "internalError", String(e)));
    }
  };

  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  const listen = (port: number) =>
    Deno.serve({ port, hostname, onListen() {} }, (req) => {
      if (stopped) return dropped();
      return handle(req);
    });
  server = listen(opts.port ?? 0);
  const port = server.addr.port;

  const abortAll = () => {
    for (const ac of [...aborts]) ac.abort();
  };

  const restart = async (downMs = 0) => {
    if (stopped) return;
    abortAll();
    await server?.shutdown();
    server = undefined;
    if (downMs > 0) await sleep(downMs);
    if (!stopped) server = listen(port);
  };

  const resetStats = () => {
    stats.requests = 0;
    stats.errors = 0;
    stats.byMethod = {};
  };

  const dump = (): SimStateDump => JSON.parse(JSON.stringify({ ...st, clients }));

  return {
    url: `http://${hostname}:${port}`,
    port,
    token,
    stateDir,
    hostsRoot,
    clients,
    async stop() {
      if (stopped) return;
      stopped = true;
      abortAll();
      for (const id of timers) clearTimeout(id);
      timers.clear();
      await server?.shutdown();
      server = undefined;
      await lock.catch(() => {});
      if (tempState) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    },
    restart,
    stats: () => JSON.parse(JSON.stringify(stats)),
    resetStats,
    state: dump,
    setInUse(name, client, inUse) {
      setInUse(name, client, inUse);
    },
    addFault(f) {
      faults.push({ ...f });
    },
    clearFaults() {
      faults = [];
    },
    advanceClock(seconds) {
      st.clockOffset += seconds;
    },
    dataPath(name, kind = "volume") {
      return (kind === "volume" ? st.volumes[name] : st.snapshots[name])?.file;
    },
  };
}

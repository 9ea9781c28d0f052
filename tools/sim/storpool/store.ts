/**
 * The simulated StorPool API's store: the state (persisted as `<stateDir>/state.json`), the
 * volume and snapshot data in sparse files under `<stateDir>/data/`, the device links on the
 * simulated hosts, template capacity and the disks that hold it, placement groups, attachments
 * (reassign) and snapshots (taking, dropping, the delayed deletes). Access to the state is
 * serialised (locked()).
 */
import { basename, dirname, join } from "node:path";
import { removeFile } from "../common.ts";
import {
  anonSnapshotName,
  busy,
  checkClient,
  checkName,
  checkTags,
  type DiskRef,
  GiB,
  invalid,
  isName,
  type Json,
  MAX_DISK_ID,
  notFound,
  optNum,
  type Placements,
  PLACES,
  SimError,
  type SimObj,
  type SimPlacementGroup,
  type SimSnap,
  type SimState,
  type SimStateDump,
  type SimTemplate,
  type SimTemplateSpec,
} from "./model.ts";

/** Options of {@link SpStore.open}. */
export interface SpStoreOptions {
  /** Where state.json and data/ live (absolute). */
  stateDir: string;
  /** `<hostsRoot>/<host>/dev/storpool/<name>` symlinks for attachments (absolute; none if unset). */
  hostsRoot?: string;
  /** Client name → StorPool client id; names are host dirs under hostsRoot. */
  clients: Record<string, number>;
  /** Templates (re)defined at start. */
  templates?: SimTemplateSpec[];
}

async function run(argv: string[]): Promise<void> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stderr: "piped" })
    .output();
  if (!out.success) {
    throw new SimError(
      500,
      "internalError",
      `${argv[0]} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Copy data keeping holes (cp --sparse=always, reflink when possible). */
export function copyData(src: string, dst: string): Promise<void> {
  return run(["cp", "--sparse=always", "--reflink=auto", src, dst]);
}

/** Create `file` if needed and set its size. */
export async function setSize(file: string, size: number): Promise<void> {
  const f = await Deno.open(file, { write: true, create: true });
  try {
    await f.truncate(size);
  } finally {
    f.close();
  }
}

/** Bytes the object's data file allocates (at most its size; 0 when missing). */
export async function allocated(o: SimObj): Promise<number> {
  try {
    const s = await Deno.stat(o.file);
    return Math.min(o.size, (s.blocks ?? 0) * 512);
  } catch {
    return 0;
  }
}

/**
 * `allocated` of each object, for a listing: each data directory is read once and each file
 * that exists is stat'ed once (at thousands of objects, a stat per object, failing for the
 * missing files, cost more than the rest of the answer).
 */
export async function allocatedEach(objs: SimObj[]): Promise<number[]> {
  const present = new Map<string, Set<string>>();
  for (const o of objs) {
    const dir = dirname(o.file);
    if (present.has(dir)) continue;
    const names = new Set<string>();
    try {
      for await (const e of Deno.readDir(dir)) names.add(e.name);
    } catch {
      // no data directory: no file
    }
    present.set(dir, names);
  }
  // a file's blocks are read once per listing, however many objects share it
  const blocks = new Map<string, number>();
  const out: number[] = [];
  for (const o of objs) {
    if (!present.get(dirname(o.file))!.has(basename(o.file))) {
      out.push(0);
      continue;
    }
    let b = blocks.get(o.file);
    if (b === undefined) {
      try {
        b = ((await Deno.stat(o.file)).blocks ?? 0) * 512;
      } catch {
        b = 0;
      }
      blocks.set(o.file, b);
    }
    out.push(Math.min(o.size, b));
  }
  return out;
}

/** A volume or snapshot by name, or by global id as `~<globalId>`. */
function findByRef<T extends SimObj>(all: Record<string, T>, ref: string, kind: string): T {
  if (ref.startsWith("~")) {
    const o = Object.values(all).find((x) => x.globalId === ref.slice(1));
    if (o) return o;
  } else if (all[ref]) return all[ref];
  throw notFound(`${kind} ${ref}`);
}

/** The state and data of one simulated StorPool cluster. */
export class SpStore {
  st: SimState;
  readonly stateDir: string;
  readonly dataDir: string;
  readonly hostsRoot: string | undefined;
  readonly clients: Record<string, number>;
  readonly hostById = new Map<number, string>();
  readonly statePath: string;
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(o: SpStoreOptions, st: SimState) {
    this.stateDir = o.stateDir;
    this.dataDir = join(o.stateDir, "data");
    this.hostsRoot = o.hostsRoot;
    this.clients = o.clients;
    for (const [h, id] of Object.entries(this.clients)) this.hostById.set(id, h);
    this.statePath = join(o.stateDir, "state.json");
    this.st = st;
  }

  /**
   * Open the store in `stateDir` (state.json when there is one), then apply `templates` (a
   * template defined again keeps its disks), give each template its disks and make the
   * placement groups that templates, volumes and snapshots name (an older state has neither).
   */
  static async open(o: SpStoreOptions): Promise<SpStore> {
    await Deno.mkdir(join(o.stateDir, "data"), { recursive: true });
    let st: SimState = {
      generation: 1,
      nextId: 1,
      clockOffset: 0,
      templates: {},
      placementGroups: {},
      volumes: {},
      snapshots: {},
      attachments: [],
    };
    try {
      st = JSON.parse(await Deno.readTextFile(join(o.stateDir, "state.json")));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    st.placementGroups ??= {};
    for (const t of o.templates ?? []) {
      if (!isName("template", t.name)) throw new Error(`bad template name '${t.name}'`);
      const capacity = t.capacityBytes ?? Math.round((t.capacityGiB ?? 100) * GiB);
      st.templates[t.name] = {
        name: t.name,
        // whole sectors: the capacity is the size of each of the template's disks
        capacity: capacity - capacity % 512,
        replication: t.replication ?? 3,
        placeAll: t.placeAll ?? "default",
        placeTail: t.placeTail ?? t.placeAll ?? "default",
        placeHead: t.placeHead ?? t.placeAll ?? "default",
        iops: t.iops,
        bw: t.bw,
        disks: st.templates[t.name]?.disks ?? [],
      };
    }
    const store = new SpStore(o, st);
    for (const t of Object.values(st.templates)) t.disks ??= [];
    for (const t of Object.values(st.templates)) {
      store.implyGroups(t);
      store.syncDisks(t);
    }
    for (const v of [...Object.values(st.volumes), ...Object.values(st.snapshots)]) {
      store.implyGroups(v);
    }
    return store;
  }

  /** The simulator's clock (epoch seconds, moved by the /_sim/clock control). */
  now(): number {
    return Math.floor(Date.now() / 1000) + this.st.clockOffset;
  }

  /** Run `fn` after every earlier locked() call settled (serialised state access). */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** Resolves once every locked() call so far settled. */
  async settled(): Promise<void> {
    await this.#lock.catch(() => {});
  }

  /** Write state.json atomically. */
  async save(): Promise<void> {
    const tmp = `${this.statePath}.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(this.st));
    await Deno.rename(tmp, this.statePath);
  }

  /** JSON-able dump of the whole state, with the client map. */
  dump(): SimStateDump {
    return JSON.parse(JSON.stringify({ ...this.st, clients: this.clients }));
  }

  /** A fresh global id and visible volume id. */
  newIds(): { globalId: string; visibleVolumeId: number } {
    const n = this.st.nextId++;
    return { globalId: `s.b.${n.toString(36)}`, visibleVolumeId: n };
  }

  /** Data file of the object with global id `gid`. */
  fileFor(gid: string): string {
    return join(this.dataDir, `${gid.replaceAll(".", "_")}.raw`);
  }

  /** A volume by name (or `~globalId`); objectDoesNotExist when missing. */
  findVolume(ref: string): SimObj {
    return findByRef(this.st.volumes, ref, "Volume");
  }

  /** A snapshot by name (or `~globalId`); objectDoesNotExist when missing. */
  findSnapshot(ref: string): SimSnap {
    return findByRef(this.st.snapshots, ref, "Snapshot");
  }

  /** A template by name; objectDoesNotExist when missing. */
  findTemplate(name: string): SimTemplate {
    const t = this.st.templates[name];
    if (!t) throw notFound(`Template ${name}`);
    return t;
  }

  /** The volumes and snapshots in template `name`. */
  templateObjs(name: string): SimObj[] {
    return [...Object.values(this.st.volumes), ...Object.values(this.st.snapshots)].filter((o) =>
      o.templateName === name
    );
  }

  /** The disks holding `o`: those of its template (none without one). */
  disksOf(o: SimObj): number[] {
    return this.st.templates[o.templateName]?.disks ?? [];
  }

  /** Provisioned bytes of the volumes and snapshots in template `name`. */
  templateUsed(name: string): number {
    return this.templateObjs(name).reduce((n, o) => n + o.size, 0);
  }

  /** insufficientResources unless template `templateName` has `extra` bytes free. */
  reserve(templateName: string, extra: number): void {
    const t = this.st.templates[templateName];
    if (!t || extra <= 0) return;
    const free = t.capacity - this.templateUsed(templateName);
    if (extra > free) {
      throw new SimError(
        400,
        "insufficientResources",
        `Not enough space in template ${templateName}: ${extra} bytes asked, ${free} free`,
      );
    }
  }

  // ---- disks and placement groups ----

  /**
   * Give template `t` one disk a copy, adding disks (the lowest free ids) or dropping the last
   * ones to match its replication. A new disk joins the template's groups as a store's admin
   * would have put it there: every disk but the last in placeAll, the first also in placeHead,
   * the last in placeTail. Later changes of the template's groups move no disk (as in StorPool,
   * where the groups' disks are set on the groups); a dropped disk leaves every group.
   */
  syncDisks(t: SimTemplate): void {
    while (t.disks.length > t.replication) this.#ungroup(t.disks.pop()!);
    const taken = new Set([
      ...Object.values(this.st.templates).flatMap((x) => x.disks),
      ...t.disks,
    ]);
    const first = t.disks.length;
    while (t.disks.length < t.replication) {
      let id = 1;
      while (taken.has(id)) id++;
      if (id > MAX_DISK_ID) {
        throw new SimError(400, "insufficientResources", `No disk id left for template ${t.name}`);
      }
      taken.add(id);
      t.disks.push(id);
    }
    const last = t.disks.length - 1;
    for (let i = first; i <= last; i++) {
      const names = new Set<string>();
      if (i < last) names.add(t.placeAll);
      if (i === 0) names.add(t.placeHead);
      if (i === last) names.add(t.placeTail);
      for (const n of names) this.group(n).disks.push(t.disks[i]);
    }
  }

  /** Delete template `t` and its disks (they leave every group); busy while objects are in it. */
  dropTemplate(t: SimTemplate): void {
    const objs = this.templateObjs(t.name);
    if (objs.length) {
      const some = objs.slice(0, 3).map((o) => o.name).join(", ");
      throw busy(`Template ${t.name} is in use by ${some}${objs.length > 3 ? ", …" : ""}`);
    }
    for (const id of t.disks.splice(0)) this.#ungroup(id);
    delete this.st.templates[t.name];
  }

  #ungroup(id: number): void {
    for (const g of Object.values(this.st.placementGroups)) {
      g.disks = g.disks.filter((d) => d !== id);
    }
  }

  /** Every disk: its id, its template and its place among the template's disks. */
  disks(): DiskRef[] {
    return Object.values(this.st.templates).flatMap((t) =>
      t.disks.map((id, index) => ({ id, t, index }))
    ).sort((a, b) => a.id - b.id);
  }

  /** A disk by id; objectDoesNotExist when no template has it. */
  findDisk(id: number): DiskRef {
    const d = this.disks().find((x) => x.id === id);
    if (!d) throw notFound(`Disk ${id}`);
    return d;
  }

  /** A placement group by name; objectDoesNotExist when missing. */
  findGroup(name: string): SimPlacementGroup {
    const g = this.st.placementGroups[name];
    if (!g) throw notFound(`Placement group ${name}`);
    return g;
  }

  /** The placement group `name`, made (with no disks) when missing. */
  group(name: string): SimPlacementGroup {
    let g = this.st.placementGroups[name];
    if (!g) {
      const id = Math.max(0, ...Object.values(this.st.placementGroups).map((x) => x.id)) + 1;
      g = this.st.placementGroups[name] = { id, name, disks: [] };
    }
    return g;
  }

  /** Make the placement groups that `o` (a template, volume or request) names. */
  implyGroups(o: Placements): void {
    for (const k of PLACES) if (o[k]) this.group(o[k]);
  }

  /** The templates, volumes and snapshots (the objects that name placement groups), by kind. */
  #placed(): [string, Placements & { name: string }][] {
    const st = this.st;
    const kind = (k: string, os: (Placements & { name: string })[]) =>
      os.map((o): [string, Placements & { name: string }] => [k, o]);
    return [
      ...kind("template", Object.values(st.templates)),
      ...kind("volume", Object.values(st.volumes)),
      ...kind("snapshot", Object.values(st.snapshots)),
    ];
  }

  /** The first template, volume or snapshot (`<kind> <name>`) naming placement group `name`. */
  groupUser(name: string): string | undefined {
    const user = this.#placed().find(([, o]) => PLACES.some((k) => o[k] === name));
    return user && `${user[0]} ${user[1].name}`;
  }

  /** Delete placement group `g`; busy while a template, volume or snapshot names it. */
  dropGroup(g: SimPlacementGroup): void {
    const user = this.groupUser(g.name);
    if (user) throw busy(`Placement group ${g.name} is used by ${user}`);
    delete this.st.placementGroups[g.name];
  }

  /** Rename group `g` to `to`; the templates, volumes and snapshots naming it name `to`. */
  renameGroup(g: SimPlacementGroup, to: string): void {
    const from = g.name;
    delete this.st.placementGroups[from];
    g.name = to;
    this.st.placementGroups[to] = g;
    for (const [, o] of this.#placed()) for (const k of PLACES) if (o[k] === from) o[k] = to;
  }

  // ---- device symlinks on simulated hosts ----

  /** `/dev/storpool/<name>`, for an unnamed volume (`~<globalId>`) `/dev/storpool-byid/<globalId>`. */
  #linkPath(client: number, name: string): string | undefined {
    const host = this.hostById.get(client);
    if (!this.hostsRoot || !host) return undefined;
    const dev = join(this.hostsRoot, host, "dev");
    return name.startsWith("~")
      ? join(dev, "storpool-byid", name.slice(1))
      : join(dev, "storpool", name);
  }

  /** Link `/dev/storpool/<name>` on the client's host to `file`. */
  async link(client: number, name: string, file: string): Promise<void> {
    const p = this.#linkPath(client, name);
    if (!p) return;
    await Deno.mkdir(dirname(p), { recursive: true });
    await removeFile(p);
    await Deno.symlink(file, p);
  }

  /** Remove `/dev/storpool/<name>` on the client's host. */
  async unlink(client: number, name: string): Promise<void> {
    const p = this.#linkPath(client, name);
    if (p) await removeFile(p);
  }

  // ---- attachments ----

  /** Attachments of a volume (or snapshot). */
  attachmentsOf(name: string, snapshot: boolean): SimState["attachments"] {
    return this.st.attachments.filter((a) => a.volume === name && a.snapshot === snapshot);
  }

  /** busy when the volume (or snapshot) is attached anywhere. */
  refuseAttached(name: string, snapshot: boolean, what: string): void {
    const att = this.attachmentsOf(name, snapshot);
    if (att.length) {
      throw new SimError(
        409,
        "busy",
        `${what} ${name} is attached to client(s) ${att.map((a) => a.client).join(",")}`,
      );
    }
  }

  /** A client id, or a client name of the `clients` map. */
  clientRef(c: unknown): number {
    if (typeof c === "string" && !/^\d+$/.test(c)) {
      const id = this.clients[c];
      if (id === undefined) throw invalid(`Unknown client '${c}'`);
      return id;
    }
    return checkClient(c);
  }

  /** Mark an attachment open (in use) or closed. */
  setInUse(name: string, client: number | string, inUse: boolean, snapshot = false): void {
    const id = this.clientRef(client);
    const a = this.st.attachments.find((x) =>
      x.volume === name && x.client === id && x.snapshot === snapshot
    );
    if (!a) throw notFound(`Attachment of ${name} on client ${id}`);
    a.open = inUse;
  }

  /**
   * VolumesReassign: detach, then attach ro/rw, per volume or snapshot; every entry is checked
   * before anything changes (busy for an open attachment unless forced; timeout for a client
   * outside `clients` unless attachTimeout is 0).
   */
  async reassign(items: unknown, attachTimeout: number | undefined): Promise<void> {
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
      const obj = snapshot ? this.findSnapshot(it.snapshot) : this.findVolume(it.volume);
      const list = (x: unknown, what: string) => {
        if (x === undefined || x === null) return [];
        if (!Array.isArray(x)) throw invalid(`${what} must be a list of client ids`);
        return x.map(checkClient);
      };
      const detach = it.detach === "all" ? "all" : list(it.detach, "detach");
      const ro = list(it.ro, "ro");
      const rw = list(it.rw, "rw");
      if (snapshot && rw.length) throw invalid(`Snapshot ${obj.name} can only be attached ro`);
      const missing = [...ro, ...rw].filter((c) => this.hostById.size > 0 && !this.hostById.has(c));
      if (missing.length && attachTimeout !== 0) {
        throw new SimError(
          500,
          "timeout",
          `Timeout waiting for client(s) ${missing.join(",")} to attach ${obj.name}`,
        );
      }
      const force = it.force === true;
      for (const a of this.attachmentsOf(obj.name, snapshot)) {
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
    const st = this.st;
    for (const p of plans) {
      const leaving = st.attachments.filter((a) =>
        a.volume === p.name && a.snapshot === p.snapshot &&
        (p.detach === "all" || p.detach.includes(a.client))
      );
      for (const a of leaving) {
        st.attachments.splice(st.attachments.indexOf(a), 1);
        await this.unlink(a.client, a.volume);
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
          await this.link(c, p.name, p.file);
        }
      }
    }
  }

  // ---- snapshots ----

  /**
   * A snapshot of `v` (data copied), named `name` or anonymous (`<volume>@<id>`), with the
   * request's deleteAfter/targetDeleteDate, tags and bind. Not yet in the state.
   */
  async makeSnapshot(
    v: SimObj,
    name: string | undefined,
    b: { deleteAfter?: unknown; targetDeleteDate?: unknown; tags?: unknown; bind?: unknown },
    ts = this.now(),
  ): Promise<SimSnap> {
    const ids = this.newIds();
    const anonymous = name === undefined;
    const snapName = name ?? anonSnapshotName(v.name, ids.visibleVolumeId);
    checkName("snapshot", snapName);
    if (this.st.snapshots[snapName]) {
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
      file: this.fileFor(ids.globalId),
      creationTimestamp: ts,
      parentName: v.parentName,
      onVolume: v.name,
      autoName: anonymous,
      bound: b.bind === true,
      targetDeleteDate: deleteAfter > 0 ? this.now() + deleteAfter : target,
    };
    await copyData(v.file, s.file);
    return s;
  }

  /** Remove a snapshot (its children get its parent) and its data. */
  async dropSnapshot(s: SimSnap): Promise<void> {
    delete this.st.snapshots[s.name];
    for (const o of [...Object.values(this.st.volumes), ...Object.values(this.st.snapshots)]) {
      if (o.parentName === s.name) o.parentName = s.parentName;
    }
    await removeFile(s.file);
  }

  /** Drop the snapshots whose delayed delete fell due (and that are not attached). */
  async purgeDue(): Promise<void> {
    const t = this.now();
    let changed = false;
    for (const s of Object.values(this.st.snapshots)) {
      if (
        s.targetDeleteDate > 0 && s.targetDeleteDate <= t &&
        !this.attachmentsOf(s.name, true).length
      ) {
        await this.dropSnapshot(s);
        changed = true;
      }
    }
    if (changed) {
      this.st.generation++;
      await this.save();
    }
  }

  /** The `{ok, generation}` answer of a mutating call (with `extra`). */
  ok(extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { ok: true, generation: this.st.generation, ...extra };
  }
}

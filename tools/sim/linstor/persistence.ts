/**
 * What the simulated LINSTOR controller keeps on disk, under its state dir:
 * - `state.json`: a snapshot of the whole state;
 * - `journal.jsonl`: one line per mutating request since that snapshot, with the resource
 *   definitions it changed (whole, or null when deleted) and, when it changed, the small global
 *   part (nodes, pools, groups, clones, in-use marks, counters). A line is written before the
 *   reply is sent, so a simulator killed at any point restarts with every answered change.
 *   The journal is folded into a new snapshot at start, at stop and when it grows past twice
 *   the snapshot (at least 16 MiB); a torn last line (killed mid-write) is ignored;
 * - `volumes/<RD>/<vnr>.img`: volume data in sparse files; all replicas of a volume share that
 *   file (DRBD keeps them identical);
 * - `snapshots/<RD>/<snap>/<vnr>.img`: snapshot copies of those files;
 * and, when a hosts root is configured, the device symlinks
 * `<hostsRoot>/<node>/dev/drbd/by-res/<RD>/<vnr>` and `<hostsRoot>/<node>/dev/drbd<minor>` to the
 * data file for every resource on a node whose satellite is online (an offline satellite does
 * not touch its host: {@link reconcileNode} catches up when it comes back), unless deactivated
 * (its satellite took the device down). The per-volume properties of resources are saved with
 * their resource definition like everything else of it.
 *
 * Adopted volumes: the first time a satellite takes over a volume whose definition names an
 * existing backing volume (OverrideVlmId) that exists on its host (`/dev/<VG>/<id>`, a file),
 * the data file starts as a copy of that volume's first net-size bytes (what DRBD showed of it),
 * so the known data stays readable through the LINSTOR devices on every node.
 */
import { join } from "node:path";
import type { SimController, StateChanges } from "./controller.ts";
import { k, type SimRd, type SimRsc, type SimState, type SimVd } from "./model.ts";
import { backingDevice, hasOverrideVlmId } from "./drbd_layer.ts";

const SNAPSHOT = "state.json";
const JOURNAL = "journal.jsonl";
const MIN_COMPACT_BYTES = 16 * 1024 * 1024;

/**
 * The state saved in `stateDir` (snapshot plus journal), or undefined when there is none yet
 * (or the snapshot is unreadable and there is no journal).
 */
export async function loadState(stateDir: string): Promise<SimState | undefined> {
  let st: SimState | undefined;
  try {
    st = JSON.parse(await Deno.readTextFile(join(stateDir, SNAPSHOT))) as SimState;
  } catch {
    st = undefined;
  }
  let text = "";
  try {
    text = await Deno.readTextFile(join(stateDir, JOURNAL));
  } catch {
    return st;
  }
  if (!text.trim()) return st;
  const rds = new Map((st?.rds ?? []).map((r) => [k(r.name), r]));
  let globals: Partial<SimState> = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let rec: StateChanges;
    try {
      rec = JSON.parse(line) as StateChanges;
    } catch {
      break; // torn last line: the request it belongs to was never answered
    }
    for (const [key, rd] of Object.entries(rec.rds ?? {})) {
      if (rd) rds.set(key, rd);
      else rds.delete(key);
    }
    if (rec.globals) globals = rec.globals;
  }
  if (!st && !globals.nodes) return undefined;
  return { ...(st as SimState), ...globals, version: 1, rds: [...rds.values()] };
}

/** The state files of one state dir: a snapshot and the journal appended after each request. */
export class StateStore {
  readonly dir: string;
  #fd: Deno.FsFile | null = null;
  #journalBytes = 0;
  #snapshotBytes = 0;
  #enc = new TextEncoder();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Write the whole state as the new snapshot (atomically) and empty the journal. */
  compact(ctl: SimController): void {
    const text = JSON.stringify(ctl.state);
    const path = join(this.dir, SNAPSHOT);
    Deno.writeTextFileSync(path + ".tmp", text);
    Deno.renameSync(path + ".tmp", path);
    this.#snapshotBytes = text.length;
    // the snapshot holds everything: the journal can go (replaying it again would be harmless)
    this.#fd?.close();
    this.#fd = Deno.openSync(join(this.dir, JOURNAL), {
      write: true,
      create: true,
      truncate: true,
    });
    this.#journalBytes = 0;
    ctl.markSaved();
  }

  /** Append what changed since the last save; fold into a snapshot when the journal is large. */
  save(ctl: SimController): void {
    if (!this.#fd) {
      this.compact(ctl);
      return;
    }
    const ch = ctl.takeChanges();
    if (!ch) return;
    const bytes = this.#enc.encode(JSON.stringify(ch) + "\n");
    let off = 0;
    while (off < bytes.length) off += this.#fd.writeSync(bytes.subarray(off));
    this.#journalBytes += bytes.length;
    if (this.#journalBytes > Math.max(MIN_COMPACT_BYTES, 2 * this.#snapshotBytes)) {
      this.compact(ctl);
    }
  }

  /** Close the journal. */
  close(): void {
    this.#fd?.close();
    this.#fd = null;
  }
}

/** Data file of volume `nr` of resource definition `rd`. */
export function volumeFile(ctl: SimController, rd: string, nr: number): string {
  return join(ctl.opts.stateDir, "volumes", k(rd), `${nr}.img`);
}

/** Data file of volume `nr` in snapshot `snap` of `rd`. */
export function snapFile(ctl: SimController, rd: string, snap: string, nr: number): string {
  return join(ctl.opts.stateDir, "snapshots", k(rd), k(snap), `${nr}.img`);
}

/** Device link of volume `nr` of `rd` on `node` (undefined without a hosts root). */
export function devicePath(
  ctl: SimController,
  node: string,
  rd: string,
  nr: number,
): string | undefined {
  if (!ctl.opts.hostsRoot) return undefined;
  return join(ctl.opts.hostsRoot, node, "dev", "drbd", "by-res", rd, String(nr));
}

/**
 * What of a definition its files and device links are made from (what {@link reconcile} reads
 * of it): between two definitions of the same shape (a change of properties, of flags) nothing
 * on disk changes. A volume still waiting for its adoption (an OverrideVlmId whose backing volume
 * was not there yet) has no shape: every change looks for that volume again.
 */
export function filesShape(rd: SimRd): string | null {
  if (rd.vds.some((v) => hasOverrideVlmId(v) && !v.adoptedFrom)) return null;
  return JSON.stringify([
    rd.name,
    rd.vds.map((v) => [v.nr, v.sizeKib, v.minor, v.adoptedFrom ?? ""]),
    rd.rscs.map((r) => [r.node, r.pool, r.diskless, r.inactive === true]),
    rd.snaps.map((s) => s.name),
  ]);
}

/**
 * Make files and device links match the state for one RD name. `before` is the definition as
 * it was before the change (null: it did not exist; undefined: unknown): its spelling and
 * nodes tell which old links to remove (no directory of all definitions is scanned), its
 * minors which `/dev/drbd<minor>` links may have to go.
 */
export function reconcile(ctl: SimController, name: string, before?: SimRd | null): void {
  reconcileFiles(ctl, name, before);
  if (!ctl.opts.hostsRoot) return;
  // spellings the links may have (LINSTOR names are case-insensitive)
  const rd = ctl.rd(name);
  const spellings = new Set<string>([name]);
  if (rd) spellings.add(rd.name);
  if (before) spellings.add(before.name);
  for (const n of ctl.state.nodes) {
    // A host whose directory is gone is down (FT tests): its /dev is not touched (and so
    // not brought back to life by a mkdir). An offline satellite does not touch it either.
    if (n.offline || !hostExists(ctl, n.name)) continue;
    hostLinks(ctl, n.name, name, before, spellings);
  }
}

/** The data files of RD `name`: one per volume, sized; snapshot copies of gone snapshots go. */
function reconcileFiles(ctl: SimController, name: string, before?: SimRd | null): void {
  const rd = ctl.rd(name);
  const volDir = join(ctl.opts.stateDir, "volumes", k(name));
  const snapDir = join(ctl.opts.stateDir, "snapshots", k(name));
  if (!rd) {
    rmrf(volDir);
    rmrf(snapDir);
    return;
  }
  Deno.mkdirSync(volDir, { recursive: true });
  const want = new Set(rd.vds.map((v) => `${v.nr}.img`));
  for (const e of readDir(volDir)) if (!want.has(e)) rmrf(join(volDir, e));
  for (const vd of rd.vds) {
    const f = volumeFile(ctl, rd.name, vd.nr);
    const fh = Deno.openSync(f, { create: true, write: true });
    try {
      const size = fh.statSync().size;
      if (size !== vd.sizeKib * 1024) fh.truncateSync(vd.sizeKib * 1024);
    } finally {
      fh.close();
    }
  }
  if (rd.snaps.length || (before && before.snaps.length) || before === undefined) {
    const snaps = new Set(rd.snaps.map((s) => k(s.name)));
    for (const e of readDir(snapDir)) if (!snaps.has(e)) rmrf(join(snapDir, e));
  }
}

/**
 * The device links of RD `name` on one (online) node's host. `spellings`: the names its
 * `by-res` directory may have that are to go unless current (null: already cleaned up).
 */
function hostLinks(
  ctl: SimController,
  node: string,
  name: string,
  before: SimRd | null | undefined,
  spellings: Set<string> | null,
): void {
  const rd = ctl.rd(name);
  const dev = join(ctl.opts.hostsRoot!, node, "dev");
  const base = join(dev, "drbd", "by-res");
  const r = rd && deviceRsc(ctl, rd, node);
  for (const sp of spellings ?? []) {
    if (r && sp === rd!.name) continue;
    rmrf(join(base, sp));
  }
  const wantMinors = new Set(r ? rd!.vds.map((v) => v.minor) : []);
  // `/dev/drbd<minor>` links of this RD that are no longer wanted (only links into its data
  // files: a device some other program made stays)
  const volDir = join(ctl.opts.stateDir, "volumes", k(name)) + "/";
  for (const vd of [...(before?.vds ?? []), ...(rd?.vds ?? [])]) {
    if (wantMinors.has(vd.minor)) continue;
    const link = join(dev, `drbd${vd.minor}`);
    if (linkTarget(link)?.startsWith(volDir)) rmrf(link);
  }
  if (!rd || !r) return;
  const dir = join(base, rd.name);
  Deno.mkdirSync(dir, { recursive: true });
  const want = new Set(rd.vds.map((v) => String(v.nr)));
  for (const e of readDir(dir)) if (!want.has(e)) rmrf(join(dir, e));
  for (const vd of rd.vds) {
    const target = volumeFile(ctl, rd.name, vd.nr);
    if (!r.diskless && !vd.adoptedFrom && hasOverrideVlmId(vd)) adopt(ctl, rd, vd, node);
    setLink(join(dir, String(vd.nr)), target);
    setLink(join(dev, `drbd${vd.minor}`), target);
  }
}

/**
 * `rd`'s resource on `node` while it has devices there: a deactivated resource (taken down by
 * its satellite) has none.
 */
function deviceRsc(ctl: SimController, rd: SimRd, node: string): SimRsc | undefined {
  const r = ctl.rsc(rd, node);
  return r && !r.inactive ? r : undefined;
}

/**
 * The first satellite taking over a volume with OverrideVlmId: when the backing volume exists
 * on its host, the data file becomes a copy of its first net-size bytes.
 */
function adopt(ctl: SimController, rd: SimRd, vd: SimVd, node: string): void {
  const r = ctl.rsc(rd, node)!;
  const backing = join(ctl.opts.hostsRoot!, node, backingDevice(rd, vd, ctl.pool(node, r.pool)));
  let isFile = false;
  try {
    isFile = Deno.statSync(backing).isFile;
  } catch {
    isFile = false;
  }
  if (!isFile) return;
  const f = volumeFile(ctl, rd.name, vd.nr);
  copySparse(backing, f);
  Deno.truncateSync(f, vd.sizeKib * 1024);
  vd.adoptedFrom = node;
}

function setLink(link: string, target: string): void {
  if (linkTarget(link) === target) return;
  rmrf(link);
  Deno.symlinkSync(target, link);
}

function linkTarget(p: string): string | null {
  try {
    return Deno.readLinkSync(p);
  } catch {
    return null;
  }
}

/**
 * A satellite came back online (or the simulator starts): bring its host's device links in
 * line with the state — links of definitions deleted meanwhile, or under another spelling,
 * go; those of resources made meanwhile appear.
 */
export function reconcileNode(ctl: SimController, node: string): void {
  if (!hostExists(ctl, node)) return;
  const dev = join(ctl.opts.hostsRoot!, node, "dev");
  const volumes = join(ctl.opts.stateDir, "volumes") + "/";
  for (const e of readDir(join(dev, "drbd", "by-res"))) {
    const rd = ctl.rd(e);
    if (!rd || rd.name !== e || !deviceRsc(ctl, rd, node)) rmrf(join(dev, "drbd", "by-res", e));
  }
  for (const e of readDir(dev)) {
    if (!/^drbd\d+$/.test(e)) continue;
    const t = linkTarget(join(dev, e));
    if (!t?.startsWith(volumes)) continue;
    const rdKey = t.slice(volumes.length).split("/")[0];
    const rd = ctl.rd(rdKey);
    if (!rd || !deviceRsc(ctl, rd, node)) rmrf(join(dev, e));
  }
  for (const rd of ctl.state.rds) {
    if (deviceRsc(ctl, rd, node)) hostLinks(ctl, node, rd.name, undefined, null);
  }
}

/**
 * Whether the simulated world has host `node`: a directory of that name under the hosts root
 * (none without a hosts root). Only such a host runs a satellite that a node registered later
 * can reach (nodes.ts createNode), and only its /dev gets device links.
 */
export function hostExists(ctl: SimController, node: string): boolean {
  const root = ctl.opts.hostsRoot;
  return root !== undefined && isDir(join(root, node));
}

/** At start: every definition's files, every connected host's device links. */
export function reconcileAll(ctl: SimController): void {
  for (const rd of ctl.state.rds) reconcileFiles(ctl, rd.name);
  for (const n of ctl.state.nodes) if (!n.offline) reconcileNode(ctl, n.name);
}

function readDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

function isDir(p: string): boolean {
  try {
    return Deno.statSync(p).isDirectory;
  } catch {
    return false;
  }
}

function rmrf(p: string): void {
  try {
    Deno.removeSync(p, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/** KiB a file allocates on disk (0 when missing). */
export function fileAllocKib(f: string): number {
  try {
    const st = Deno.statSync(f);
    return Math.ceil(((st.blocks ?? 0) * 512) / 1024);
  } catch {
    return 0;
  }
}

/**
 * Copy a (sparse) file keeping holes: GNU cp (SEEK_DATA/SEEK_HOLE, reflink when possible),
 * or a block scan when cp is not available. The destination is replaced atomically.
 */
export function copySparse(src: string, dst: string): void {
  const tmp = `${dst}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  let done = false;
  try {
    const out = new Deno.Command("cp", {
      args: ["--sparse=always", "--reflink=auto", src, tmp],
      stdout: "null",
      stderr: "piped",
    }).outputSync();
    done = out.success;
  } catch {
    done = false;
  }
  if (!done) copyScan(src, tmp);
  Deno.renameSync(tmp, dst);
}

function copyScan(src: string, tmp: string): void {
  const size = Deno.statSync(src).size;
  const inF = Deno.openSync(src, { read: true });
  const outF = Deno.openSync(tmp, { write: true, create: true, truncate: true });
  try {
    outF.truncateSync(size);
    const buf = new Uint8Array(1 << 20);
    let off = 0;
    for (;;) {
      const n = inF.readSync(buf);
      if (n === null || n === 0) break;
      for (let b = 0; b < n; b += 4096) {
        const blk = buf.subarray(b, Math.min(n, b + 4096));
        if (blk.some((x) => x !== 0)) {
          outF.seekSync(off + b, Deno.SeekMode.Start);
          let w = 0;
          while (w < blk.length) w += outF.writeSync(blk.subarray(w));
        }
      }
      off += n;
    }
  } finally {
    inF.close();
    outF.close();
  }
}

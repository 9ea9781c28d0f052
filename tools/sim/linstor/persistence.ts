/**
 * What the simulated LINSTOR controller keeps on disk, under its state dir:
 * - `state.json`: the whole state (written after every mutating request);
 * - `volumes/<RD>/<vnr>.img`: volume data in sparse files; all replicas of a volume share that
 *   file (DRBD keeps them identical);
 * - `snapshots/<RD>/<snap>/<vnr>.img`: snapshot copies of those files;
 * and, when a hosts root is configured, the device symlinks
 * `<hostsRoot>/<node>/dev/drbd/by-res/<RD>/<vnr>` and `<hostsRoot>/<node>/dev/drbd<minor>` to the
 * data file for every resource on a node whose satellite is online (an offline satellite does
 * not touch its host: {@link reconcileNode} catches up when it comes back).
 *
 * Adopted volumes: the first time a satellite takes over a volume whose definition names an
 * existing backing volume (OverrideVlmId) that exists on its host (`/dev/<VG>/<id>`, a file),
 * the data file starts as a copy of that volume's first net-size bytes (what DRBD showed of it),
 * so the known data stays readable through the LINSTOR devices on every node.
 */
import { join } from "node:path";
import type { SimController } from "./controller.ts";
import { k, type SimRd, type SimState, type SimVd } from "./model.ts";
import { backingDevice, hasOverrideVlmId } from "./drbd_layer.ts";

/** The state saved in `stateDir`, or undefined when there is none yet (or it is unreadable). */
export async function loadState(stateDir: string): Promise<SimState | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(stateDir, "state.json"))) as SimState;
  } catch {
    return undefined;
  }
}

/** Save `state` in `stateDir` atomically (temp file, then rename). */
export function saveState(stateDir: string, state: SimState): void {
  const statePath = join(stateDir, "state.json");
  Deno.writeTextFileSync(statePath + ".tmp", JSON.stringify(state));
  Deno.renameSync(statePath + ".tmp", statePath);
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
 * Make files and device links match the state for one RD name. `before` is the definition as
 * it was before the change (null: it did not exist; undefined: unknown): its minors tell which
 * `/dev/drbd<minor>` links may have to go.
 */
export function reconcile(ctl: SimController, name: string, before?: SimRd | null): void {
  const rd = ctl.rd(name);
  const volDir = join(ctl.opts.stateDir, "volumes", k(name));
  const snapDir = join(ctl.opts.stateDir, "snapshots", k(name));
  if (!rd) {
    rmrf(volDir);
    rmrf(snapDir);
  } else {
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
    const snaps = new Set(rd.snaps.map((s) => k(s.name)));
    for (const e of readDir(snapDir)) if (!snaps.has(e)) rmrf(join(snapDir, e));
  }
  if (!ctl.opts.hostsRoot) return;
  for (const n of ctl.state.nodes) {
    // A host whose directory is gone is down (FT tests): its /dev is not touched (and so
    // not brought back to life by a mkdir). An offline satellite does not touch it either.
    if (n.offline || !isDir(join(ctl.opts.hostsRoot, n.name))) continue;
    hostLinks(ctl, n.name, name, before);
  }
}

/** The device links of RD `name` on one (online) node's host. */
function hostLinks(
  ctl: SimController,
  node: string,
  name: string,
  before: SimRd | null | undefined,
): void {
  const rd = ctl.rd(name);
  const dev = join(ctl.opts.hostsRoot!, node, "dev");
  const base = join(dev, "drbd", "by-res");
  // LINSTOR names are case-insensitive: remove links under any spelling first.
  for (const e of readDir(base)) {
    if (k(e) !== k(name)) continue;
    const r = rd && ctl.rsc(rd, node);
    if (!r || e !== rd!.name) rmrf(join(base, e));
  }
  const r = rd && ctl.rsc(rd, node);
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
 * A satellite came back online: bring its host's device links in line with the state (links
 * of definitions deleted meanwhile go, those of resources made meanwhile appear).
 */
export function reconcileNode(ctl: SimController, node: string): void {
  const root = ctl.opts.hostsRoot;
  if (!root || !isDir(join(root, node))) return;
  const dev = join(root, node, "dev");
  const volumes = join(ctl.opts.stateDir, "volumes") + "/";
  for (const e of readDir(join(dev, "drbd", "by-res"))) {
    if (!ctl.rd(e)) rmrf(join(dev, "drbd", "by-res", e));
  }
  for (const e of readDir(dev)) {
    if (!/^drbd\d+$/.test(e)) continue;
    const t = linkTarget(join(dev, e));
    if (!t?.startsWith(volumes)) continue;
    const rdKey = t.slice(volumes.length).split("/")[0];
    const rd = ctl.rd(rdKey);
    if (!rd || !ctl.rsc(rd, node)) rmrf(join(dev, e));
  }
  for (const rd of ctl.state.rds) hostLinks(ctl, node, rd.name, undefined);
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

/**
 * What the simulated LINSTOR controller keeps on disk, under its state dir:
 * - `state.json`: the whole state (written after every mutating request);
 * - `volumes/<RD>/<vnr>.img`: volume data in sparse files; all replicas of a volume share that
 *   file (DRBD keeps them identical);
 * - `snapshots/<RD>/<snap>/<vnr>.img`: snapshot copies of those files;
 * and, when a hosts root is configured, the device symlink
 * `<hostsRoot>/<node>/dev/drbd/by-res/<RD>/<vnr>` to the data file for every resource on a node.
 */
import { join } from "node:path";
import type { SimController } from "./controller.ts";
import { k, type SimState } from "./model.ts";

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

/** Make files and device links match the state for one RD name. */
export function reconcile(ctl: SimController, name: string): void {
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
    // not brought back to life by a mkdir).
    if (!isDir(join(ctl.opts.hostsRoot, n.name))) continue;
    const base = join(ctl.opts.hostsRoot, n.name, "dev", "drbd", "by-res");
    // LINSTOR names are case-insensitive: remove links under any spelling first.
    for (const e of readDir(base)) {
      if (k(e) !== k(name)) continue;
      const r = rd && ctl.rsc(rd, n.name);
      if (!r || e !== rd!.name) rmrf(join(base, e));
    }
    const r = rd && ctl.rsc(rd, n.name);
    if (!rd || !r) continue;
    const dir = join(base, rd.name);
    Deno.mkdirSync(dir, { recursive: true });
    const want = new Set(rd.vds.map((v) => String(v.nr)));
    for (const e of readDir(dir)) if (!want.has(e)) rmrf(join(dir, e));
    for (const vd of rd.vds) {
      const link = join(dir, String(vd.nr));
      const target = volumeFile(ctl, rd.name, vd.nr);
      let cur: string | null = null;
      try {
        cur = Deno.readLinkSync(link);
      } catch { /* missing */ }
      if (cur !== target) {
        rmrf(link);
        Deno.symlinkSync(target, link);
      }
    }
  }
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

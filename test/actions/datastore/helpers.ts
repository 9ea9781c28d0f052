/**
 * Helpers for the datastore action tests: payloads in the shape oned sends, a backend on the
 * simulated store of a profile (to inspect and to prepare state), the bytes of a volume (the
 * simulator's data file, which every attached device path links to), and a snapshot of the
 * whole simulated world (volumes, attachments, staging files) to prove "nothing left behind".
 */
import { after, before } from "node:test";
import { join } from "node:path";
import {
  type Cluster,
  CLUSTER_DS,
  CLUSTER_HOSTS,
  startCluster,
} from "../../../tools/sim/cluster.ts";
import {
  buildDsActionXml,
  buildImageXml,
  type ImageInput,
} from "../../../tools/sim/oned/builders.ts";
import type { Backend } from "../../../lib/backend/types.ts";
import { parseDatastoreSync } from "../../support/views_sync.ts";
import { profileFor } from "../../../lib/addons/index.ts";
import type { Profile } from "../../../lib/addons/types.ts";
import { dsPlacement, openDsBackend, PROFILES } from "../../support/cluster.ts";
import { md5Hex, sha256Hex, xorshiftBytes } from "../../support/bytes.ts";
import { writeAt } from "../../support/files.ts";

export { PROFILES };
/** Both payload styles. */
export const STYLES = ["argv", "stdin"] as const;

const MiB = 1024 * 1024;

/** The image datastore XML of a profile, with TEMPLATE attributes added or replaced. */
export function imageDsXml(c: Cluster, drv: string, extra: Record<string, string> = {}): string {
  const xml = c.oned.state.datastores.get(CLUSTER_DS[drv].image);
  if (!xml) throw new Error(`no datastore for ${drv}`);
  let out = xml;
  for (const [k, v] of Object.entries(extra)) {
    out = out.replace(new RegExp(`<${k}>.*?</${k}>`, "gs"), "");
    out = out.replace(
      "</TEMPLATE></DATASTORE>",
      `<${k}><![CDATA[${v}]]></${k}></TEMPLATE></DATASTORE>`,
    );
  }
  return out;
}

/** A DS_DRIVER_ACTION_DATA with an IMAGE on the profile's image datastore. */
export function imagePayload(
  c: Cluster,
  drv: string,
  image: Omit<ImageInput, "datastoreId">,
  dsExtra: Record<string, string> = {},
): string {
  const dsId = CLUSTER_DS[drv].image;
  return buildDsActionXml({
    image: buildImageXml({ ...image, datastoreId: dsId }),
    datastore: imageDsXml(c, drv, dsExtra),
  });
}

/** A DS_DRIVER_ACTION_DATA with only the DATASTORE (monitor). */
export function dsOnlyPayload(c: Cluster, drv: string): string {
  return buildDsActionXml({ datastore: imageDsXml(c, drv) });
}

/** Profile, backend and names for one driver on the cluster. */
export interface Store {
  drv: string;
  dsId: number;
  profile: Profile;
  backend: Backend;
  /** Volume of image `id`. */
  vol(id: number): string;
  /** SOURCE of image `id`. */
  source(id: number): string;
  /** Real path of the volume's bytes (the simulator's data file). */
  dataPath(volume: string): string;
}

/** Open a backend on the profile's store (close it with closeStores). */
export function openStore(c: Cluster, drv: string): Promise<Store> {
  const dsId = CLUSTER_DS[drv].image;
  const ds = parseDatastoreSync(imageDsXml(c, drv));
  const profile = profileFor(drv, c.env);
  const backend = openDsBackend(c, profile, dsId);
  return Promise.resolve({
    drv,
    dsId,
    profile,
    backend,
    vol: (id) => profile.imageVolume(id, dsId),
    source: (id) => profile.imageSource(id, dsId),
    dataPath(volume) {
      if (profile.store(ds.template, dsId).kind === "linstor") return c.linstor.dataPath(volume);
      const p = c.storpool.dataPath(volume);
      if (!p) throw new Error(`StorPool volume ${volume} has no data file`);
      return p;
    },
  });
}

/** Open a Store for every profile, keyed by driver (close them with closeStores). */
export async function openStores(c: Cluster): Promise<Record<string, Store>> {
  const out: Record<string, Store> = {};
  for (const d of PROFILES) out[d] = await openStore(c, d);
  return out;
}

/**
 * Register node:test hooks for the enclosing describe: before() starts a cluster, hands it to
 * `onStart` and opens a Store per profile into the returned record; after() closes the stores
 * and stops the cluster.
 */
export function useStores(onStart: (c: Cluster) => void): Record<string, Store> {
  const stores: Record<string, Store> = {};
  let c: Cluster | undefined;
  before(async () => {
    c = await startCluster();
    onStart(c);
    Object.assign(stores, await openStores(c));
  });
  after(async () => {
    await closeStores(stores);
    await c?.stop();
  });
  return stores;
}

/** Close the backends of Stores. */
export async function closeStores(stores: Record<string, Store>): Promise<void> {
  for (const s of Object.values(stores)) await s.backend.close();
}

/** sha256 hex of bytes. */
export const sha256: (b: Uint8Array) => string = sha256Hex;

/** md5 hex of bytes. */
export const md5: (b: Uint8Array) => string = md5Hex;

/** Deterministic pseudo-random bytes with zero runs (so sparse handling is exercised). */
export function testBytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  return xorshiftBytes(n, seed, { sparse: true });
}

/** Assert-friendly view of a volume: its first `n` bytes' sha256 and whether the rest is zero. */
export async function volumeBytes(
  store: Store,
  volume: string,
  n: number,
): Promise<{ sizeBytes: number; headSha: string; restZero: boolean }> {
  const all = await Deno.readFile(store.dataPath(volume));
  const info = await store.backend.getVolume(volume);
  const sizeBytes = (info?.sizeMiB ?? 0) * MiB;
  return {
    sizeBytes,
    headSha: sha256(all.subarray(0, n)),
    restZero: all.subarray(n).every((v) => v === 0),
  };
}

/** Write a raw file and a qcow2 made from it with qemu-img; returns both paths. */
export async function makeImages(
  dir: string,
  name: string,
  raw: Uint8Array,
): Promise<{ raw: string; qcow2: string }> {
  const rawPath = join(dir, `${name}.raw`);
  const qPath = join(dir, `${name}.qcow2`);
  await Deno.writeFile(rawPath, raw);
  const out = await new Deno.Command("qemu-img", {
    args: ["convert", "-q", "-f", "raw", "-O", "qcow2", rawPath, qPath],
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return { raw: rawPath, qcow2: qPath };
}

/** Convert a qcow2 file to raw bytes (to read what a kept-qcow2 volume holds). */
export async function qcow2ToRaw(path: string, out: string): Promise<Uint8Array> {
  const r = await new Deno.Command("qemu-img", {
    args: ["convert", "-q", "-f", "qcow2", "-O", "raw", path, out],
  }).output();
  if (r.code !== 0) throw new Error(new TextDecoder().decode(r.stderr));
  return await Deno.readFile(out);
}

/** Everything that must not change when an action fails: volumes, attachments, temp files. */
export async function worldState(c: Cluster): Promise<string[]> {
  const out: string[] = [];
  for (const rd of c.linstor.controller.state.rds) {
    if (rd.flags.includes("DELETE")) continue;
    out.push(`linstor:${rd.name}`);
    for (const r of rd.rscs) {
      out.push(`linstor:${rd.name}@${r.node}:${r.diskless ? "diskless" : r.pool}`);
    }
  }
  const sp = c.storpool.state();
  for (const v of Object.keys(sp.volumes)) out.push(`storpool:${v}`);
  for (const a of sp.attachments) out.push(`storpool-att:${a.volume}@${a.client}:${a.rights}`);
  for (const h of CLUSTER_HOSTS) {
    for (const d of ["var/tmp", "dev"]) {
      for await (const p of walk(join(c.hostsRoot, h, d))) {
        // udev's directories, there on a host once any DRBD resource was: not left by a test
        if (/\/dev\/drbd(\/by-res)?$/.test(p)) continue;
        out.push(`${h}:${p}`);
      }
    }
  }
  return out.sort();
}

async function* walk(dir: string): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    yield p;
    if (e.isDirectory) yield* walk(p);
  }
}

/** Number of stderr lines (the runner must print exactly one on failure). */
export function lines(s: string): number {
  return s.trim() === "" ? 0 : s.trim().split("\n").length;
}

/** Temporary files of cp/mkfs/export on a host's /var/tmp. */
export async function stagingLeft(c: Cluster, host: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(c.hostPath(host, "/var/tmp"))) {
      if (e.name.startsWith(prefix)) out.push(e.name);
    }
  } catch { /* no dir */ }
  return out;
}

/** Create `volume` (sizeMiB) on the profile's store and write `bytes` at its start. */
export async function makeVolume(
  c: Cluster,
  s: Store,
  volume: string,
  sizeMiB: number,
  bytes: Uint8Array,
): Promise<void> {
  await s.backend.createVolume(volume, sizeMiB, { placement: dsPlacement(c, s.profile, s.dsId) });
  await writeVolume(s, volume, bytes);
}

/** Overwrite the start of a volume's content (as a guest writing through its device would). */
export function writeVolume(s: Store, volume: string, bytes: Uint8Array): Promise<void> {
  return writeAt(s.dataPath(volume), 0, bytes);
}

/** Names of the volume's snapshots ([] when the volume is gone). */
export async function snapshotNames(s: Store, volume: string): Promise<string[]> {
  try {
    return (await s.backend.listSnapshots(volume)).map((x) => x.name).sort();
  } catch (e) {
    if ((e as { kind?: string }).kind === "not_found") return [];
    throw e;
  }
}

/** sha256 of the first `n` bytes of a volume. */
export async function volumeSha(s: Store, volume: string, n: number): Promise<string> {
  return sha256((await Deno.readFile(s.dataPath(volume))).subarray(0, n));
}

/**
 * Helpers for the datastore action tests: payloads in the shape oned sends, a backend on the
 * simulated store of a profile (to inspect and to prepare state), the bytes of a volume (the
 * simulator's data file, which every attached device path links to), and a snapshot of the
 * whole simulated world (volumes, attachments, staging files) to prove "nothing left behind".
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import { type Cluster, CLUSTER_DS, CLUSTER_HOSTS } from "../../../lib/sim/cluster.ts";
import { buildDsActionXml, buildImageXml, type ImageInput } from "../../../lib/sim/oned.ts";
import { openBackend } from "../../../lib/backend/index.ts";
import type { Backend } from "../../../lib/backend/types.ts";
import { hostRunnerFromEnv } from "../../../lib/host/index.ts";
import { OneClient } from "../../../lib/one/xmlrpc.ts";
import { parseDatastore } from "../../../lib/one/views.ts";
import { profileFor } from "../../../lib/profiles/index.ts";
import type { Profile } from "../../../lib/profiles/types.ts";

/** Every profile. */
export const PROFILES = ["linstor", "linstor_un", "storpool"] as const;
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
export async function openStore(c: Cluster, drv: string): Promise<Store> {
  const dsId = CLUSTER_DS[drv].image;
  const ds = parseDatastore(imageDsXml(c, drv));
  const profile = profileFor(drv, c.env);
  const one = await OneClient.fromEnv({ env: c.env });
  const backend = openBackend(profile.store(ds.template, dsId), {
    env: c.env,
    hosts: hostRunnerFromEnv(c.env),
    one: () => Promise.resolve(one),
  });
  return {
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
  };
}

/** sha256 hex of bytes. */
export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** md5 hex of bytes. */
export function md5(b: Uint8Array): string {
  return createHash("md5").update(b).digest("hex");
}

/** Deterministic pseudo-random bytes with zero runs (so sparse handling is exercised). */
export function testBytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    if ((i >> 16) % 3 === 1) continue; // every third 64 KiB block stays zero
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
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
      for await (const p of walk(join(c.hostsRoot, h, d))) out.push(`${h}:${p}`);
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
  const ds = parseDatastore(imageDsXml(c, s.drv));
  await s.backend.createVolume(volume, sizeMiB, {
    placement: s.profile.placement(ds.template, s.dsId),
  });
  await writeVolume(s, volume, bytes);
}

/** Overwrite the start of a volume's content (as a guest writing through its device would). */
export async function writeVolume(s: Store, volume: string, bytes: Uint8Array): Promise<void> {
  const f = await Deno.open(s.dataPath(volume), { write: true });
  try {
    for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
  } finally {
    f.close();
  }
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

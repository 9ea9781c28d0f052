/**
 * Shared pieces of the fault-tolerance matrix (test/ft): a scripted oned per profile with one
 * registered raw image (and optionally a CDROM image), data checks through host paths, and the
 * "no leftovers" inventory of the simulated store and hosts.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CLUSTER_HOSTS } from "../../tools/sim/cluster.ts";
import {
  type ImageModel,
  type ProfileName,
  ScriptedOned,
  type VmModel,
} from "../../tools/sim/oned/scripted_oned.ts";
import {
  inspectStore,
  purgeDelayedDeletes,
  randomBytes,
  regionSha,
  sha256,
} from "../../tools/sim/scenario.ts";

const MiB = 1024 * 1024;

/** A scripted oned with a registered raw image whose bytes are known. */
export interface FtWorld {
  oned: ScriptedOned;
  image: ImageModel;
  /** sha256 of the image's first `imageLen` bytes. */
  imageSha: string;
  imageLen: number;
  /** A CDROM image (TYPE 1), when asked for. */
  cdrom?: ImageModel;
  cdromSha?: string;
}

/** Start a cluster + scripted oned for `profile` and register the test images. */
export async function startWorld(
  profile: ProfileName,
  opts: { cdrom?: boolean } = {},
): Promise<FtWorld> {
  const oned = await ScriptedOned.start({ profile });
  try {
    const work = join(oned.cluster.root, "sources");
    await Deno.mkdir(work, { recursive: true });
    const imageLen = 2 * MiB;
    const raw = randomBytes(imageLen);
    await Deno.writeFile(join(work, "base.raw"), raw);
    const image = await oned.registerImage({ name: "base", path: join(work, "base.raw") });
    const world: FtWorld = { oned, image, imageSha: await sha256(raw), imageLen };
    if (opts.cdrom) {
      const iso = randomBytes(MiB);
      await Deno.writeFile(join(work, "tools.iso"), iso);
      world.cdrom = await oned.registerImage({
        name: "tools",
        path: join(work, "tools.iso"),
        type: 1,
      });
      world.cdromSha = await sha256(iso);
    }
    return world;
  } catch (e) {
    await oned.close();
    throw e;
  }
}

/** sha256 of the first `len` bytes readable through `DIR/disk.<diskId>` of `vm` on `host`. */
export function diskSha(
  oned: ScriptedOned,
  vm: VmModel,
  diskId: number,
  len: number,
  host?: string,
): Promise<string> {
  return regionSha(oned.diskPath(vm.id, diskId, host), 0, len, "raw");
}

/** Volumes of the store, lower-cased and sorted. */
export function storeVolumes(oned: ScriptedOned): string[] {
  return inspectStore(oned).volumes.map((v) => v.toLowerCase()).sort();
}

/** Volumes of the registered images, lower-cased and sorted. */
export function imageVolumes(oned: ScriptedOned): string[] {
  return [...oned.images.values()].filter((i) => i.dsId !== oned.backupDs)
    .map((i) => oned.profile.sourceVolume(i.source).toLowerCase()).sort();
}

/** Client attachments (diskless, or open) left in the store, as `volume@host`. */
export function clientAttachments(oned: ScriptedOned): string[] {
  return inspectStore(oned).attachments
    .filter((a) => a.inUse || (!a.diskful && !a.tieBreaker))
    .map((a) => `${a.volume}@${a.host}`).sort();
}

/** Entries left in the system datastore directory of every host that is alive. */
export async function vmDirsLeft(oned: ScriptedOned): Promise<string[]> {
  const left: string[] = [];
  for (const h of CLUSTER_HOSTS) {
    const dir = oned.cluster.hostPath(h, `/var/lib/one/datastores/${oned.systemDs}`);
    try {
      for await (const e of Deno.readDir(dir)) left.push(`${h}:${e.name}`);
    } catch { /* no such dir (or a dead host) */ }
  }
  return left.sort();
}

/**
 * The end state after every VM is gone: the store holds exactly the images (no clone, copy,
 * checkpoint or context leftovers, no snapshots), no client attachment and no device open,
 * no VM directory on any host, and no contract complaint.
 */
export async function assertClean(oned: ScriptedOned): Promise<void> {
  await purgeDelayedDeletes(oned);
  assert.deepEqual(storeVolumes(oned), imageVolumes(oned), "store volumes = the images");
  assert.deepEqual(
    inspectStore(oned).snapshots.map((s) => `${s.volume}@${s.name}`),
    [],
    "no snapshots left",
  );
  assert.deepEqual(clientAttachments(oned), [], "no attachment left");
  assert.deepEqual(await vmDirsLeft(oned), [], "no VM directory left");
  assert.deepEqual(oned.allComplaints(), [], "no contract complaints");
}

/** A simulated host "dies": its directory is moved away (the sim host runner: unreachable). */
export async function killHost(oned: ScriptedOned, host: string): Promise<string> {
  const dir = join(oned.cluster.hostsRoot, host);
  const grave = join(oned.cluster.root, `dead-${host}`);
  await Deno.rename(dir, grave);
  return grave;
}

/** Bring a host killed by killHost back (same filesystem). */
export async function reviveHost(oned: ScriptedOned, host: string, grave: string): Promise<void> {
  await Deno.rename(grave, join(oned.cluster.hostsRoot, host));
}

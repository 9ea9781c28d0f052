/**
 * Helpers for the system-datastore TM and VMM override tests: the three profiles on one
 * simulated cloud (tools/sim/cluster.ts), a Backend per datastore opened in the test process, VM
 * documents in the simulated oned, byte patterns through host device paths, and a fake `virsh`
 * that really moves bytes between a domain's "memory" file and a device.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import { CLUSTER_DS } from "../../../tools/sim/cluster.ts";
import type { DiskInput } from "../../../tools/sim/oned/builders.ts";
import type { Backend } from "../../../lib/backend/types.ts";
import { createLinstorBackend } from "../../../lib/backend/linstor/backend.ts";
import { createStorpoolBackend } from "../../../lib/backend/storpool/backend.ts";
import { profileFor } from "../../../lib/addons/index.ts";
import type { Profile } from "../../../lib/addons/types.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import {
  assertOk,
  assertOneLineFailure,
  dsPlacement,
  type ProfileName,
  PROFILES,
  putVm,
  vmDir,
} from "../../support/cluster.ts";
import { lcgBytes, sha256Hex } from "../../support/bytes.ts";
import { fileSha256, lexists, readAt, writeAt } from "../../support/files.ts";
import {
  allNodes,
  fileSource,
  findNode,
  type IsoReport,
  type IsoSource,
  readData,
  readIso,
} from "../../support/iso9660_reader.ts";
import { parseDomainXml } from "../../../lib/domain/domain_xml.ts";

export {
  assertOk,
  assertOneLineFailure,
  lexists,
  type ProfileName,
  PROFILES,
  putVm,
  sha256Hex,
  vmDir,
};

/** Hosts and their StorPool client ids in the simulated cloud. */
export const CLIENT_IDS: Record<string, number> = { alpha: 1, bravo: 2, charlie: 3, delta: 4 };

/** A profile's view of the cluster: its datastores, profile object and backends. */
export interface ProfileEnv {
  name: ProfileName;
  profile: Profile;
  imageDs: number;
  systemDs: number;
  /** Backend of the image datastore (same store as the system one). */
  backend: Backend;
  /** Placement of new volumes on a datastore. */
  placement(dsId: number): ReturnType<Profile["placement"]>;
}

/** Open test-side backends for every profile (close them with closeEnvs). */
export function profileEnvs(c: Cluster): Record<ProfileName, ProfileEnv> {
  const out = {} as Record<ProfileName, ProfileEnv>;
  const hosts = new SimRunner(c.root);
  for (const name of PROFILES) {
    const profile = profileFor(name, {});
    const ids = CLUSTER_DS[name];
    const backend = name === "storpool"
      ? createStorpoolBackend(
        {
          host: "127.0.0.1",
          port: c.storpool.port,
          token: c.storpool.token,
          delayDeleteSeconds: 0,
          retryDelayMs: 5,
        },
        {
          clientIdOf: (h) => Promise.resolve(CLIENT_IDS[h]),
          hostOf: (id) => Object.keys(CLIENT_IDS).find((h) => CLIENT_IDS[h] === id),
        },
      )
      : createLinstorBackend({ controllers: c.linstor.url, timeoutMs: 10_000 }, { hosts });
    out[name] = {
      name,
      profile,
      imageDs: ids.image,
      systemDs: ids.system,
      backend,
      placement: (dsId) => dsPlacement(c, profile, dsId),
    };
  }
  return out;
}

/** Close the backends of profileEnvs. */
export async function closeEnvs(envs: Record<ProfileName, ProfileEnv>): Promise<void> {
  for (const e of Object.values(envs)) await e.backend.close();
}

/** A volatile disk of the system datastore of `env`. */
export function volatileDisk(
  env: ProfileEnv,
  diskId: number,
  extra: Partial<DiskInput> = {},
): DiskInput {
  return {
    diskId,
    type: "fs",
    format: "raw",
    size: 16,
    datastoreId: env.systemDs,
    tmMad: env.name,
    diskType: "BLOCK",
    target: `vd${String.fromCharCode(97 + diskId)}`,
    ...extra,
  };
}

/** A persistent image disk of the image datastore of `env` (the image volume must exist). */
export function persistentDisk(env: ProfileEnv, diskId: number, imageId: number): DiskInput {
  return {
    diskId,
    imageId,
    image: `img-${imageId}`,
    source: env.profile.imageSource(imageId, env.imageDs),
    persistent: true,
    clone: false,
    type: "BLOCK",
    diskType: "BLOCK",
    format: "raw",
    size: 16,
    datastoreId: env.imageDs,
    tmMad: env.name,
    target: `vd${String.fromCharCode(97 + diskId)}`,
  };
}

/**
 * Placement on datastore `dsId` with the replicas on `nodes` (LINSTOR node_list; StorPool has
 * no such notion and ignores it): keeps the hosts a test migrates between diskless.
 */
export function placementOn(env: ProfileEnv, dsId: number, nodes = ["alpha", "delta"]) {
  const p = env.placement(dsId);
  return { ...p, nodes };
}

/** Create an image volume of `sizeMiB` on the image datastore (replicas on alpha and delta). */
export async function createImage(env: ProfileEnv, imageId: number, sizeMiB = 16) {
  const vol = env.profile.imageVolume(imageId, env.imageDs);
  await env.backend.createVolume(vol, sizeMiB, { placement: placementOn(env, env.imageDs) });
  return vol;
}

/** Real path of the device of `volume` on `host`. */
export function devicePath(c: Cluster, env: ProfileEnv, host: string, volume: string): string {
  return c.hostPath(host, env.backend.devicePath(volume));
}

/** A deterministic pattern of `len` bytes. */
export function pattern(len: number, seed: number): Uint8Array {
  return lcgBytes(len, seed);
}

/** Write bytes at the start of a file or device (through symlinks), without truncating. */
export function writeStart(path: string, data: Uint8Array): Promise<void> {
  return writeAt(path, 0, data);
}

/** Read `len` bytes from offset `off` of a file. */
export const readRange: (path: string, off: number, len: number) => Promise<Uint8Array> = readAt;

/** sha256 (hex) of the first `len` bytes of a file or device. */
export function sha256Of(path: string, len: number): Promise<string> {
  return fileSha256(path, len);
}

/** Read the ISO image at `iso` (a file, or a device holding one) with `use`, then close it. */
function withIso<T>(iso: string, use: (src: IsoSource, r: IsoReport) => T): T {
  const src = fileSource(iso);
  try {
    return use(src, readIso(src));
  } finally {
    src.close();
  }
}

/** Contents of file `/name` inside ISO image `iso` (Rock Ridge names; the tests' own reader). */
export function isoFile(iso: string, name: string): Promise<string> {
  return Promise.resolve(withIso(iso, (src, r) => {
    const n = findNode(r.plain, `/${name}`);
    assert.ok(n && !n.dir, `no file /${name} in ${iso}`);
    return new TextDecoder().decode(readData(src, n));
  }));
}

/** Sorted paths inside ISO image `iso` (Rock Ridge names; the tests' own reader). */
export function isoList(iso: string): Promise<string[]> {
  return Promise.resolve(withIso(iso, (_src, r) => {
    assert.ok(r.rockRidge, "the image has Rock Ridge names");
    return allNodes(r.plain).map((n) => n.path).sort();
  }));
}

/** Volume label of ISO image `iso`, and whether it has a Joliet tree (what Windows reads). */
export function isoLabel(iso: string): { label: string; joliet: boolean } {
  return withIso(iso, (_src, r) => ({ label: r.primary.volumeId, joliet: r.jolietTree !== null }));
}

/** Hosts where `volume` is attached/placed (sorted). */
export async function hostsOf(env: ProfileEnv, volume: string): Promise<string[]> {
  return (await env.backend.attachments(volume)).map((a) => a.host).sort();
}

/**
 * A fake `virsh` for simulated hosts (the host is the cwd the SimRunner gives it). A domain is
 * the file `var/run/fakevirsh/<name>.mem` under the host (its "memory"). `save DOM DEV` writes
 * a 512-byte header and the memory to DEV and removes the domain; `restore DEV` reads them back
 * into the domain file; `save-image-dumpxml DEV` prints a domain XML naming it; `domstate`,
 * `domfsfreeze`, `domfsthaw`, `suspend`, `resume` are
 * answered. Every call is appended to `var/run/fakevirsh/calls.log`. A file
 * `var/run/fakevirsh/fail-<verb>` makes that verb fail.
 */
export const FAKE_VIRSH = `#!/bin/sh
set -u
if [ "\${1:-}" = "--connect" ] || [ "\${1:-}" = "-c" ]; then shift 2; fi
cmd=\${1:-}; shift
d="$PWD/var/run/fakevirsh"
mkdir -p "$d"
echo "$cmd $*" >> "$d/calls.log"
if [ -e "$d/fail-$cmd" ]; then echo "error: injected $cmd failure" >&2; exit 1; fi
case "$cmd" in
  domstate)
    if [ -f "$d/$1.mem" ]; then echo running; exit 0; fi
    echo "error: failed to get domain '$1'" >&2; exit 1 ;;
  save)
    [ -f "$d/$1.mem" ] || { echo "error: failed to get domain '$1'" >&2; exit 1; }
    size=$(stat -c %s "$d/$1.mem")
    printf 'FAKEVIRSH %s %s\\n' "$1" "$size" |
      dd of="$2" bs=512 count=1 conv=sync,notrunc status=none || exit 1
    dd if="$d/$1.mem" of="$2" bs=512 seek=1 conv=notrunc status=none || exit 1
    rm -f "$d/$1.mem" ;;
  restore)
    dev=$1
    hdr=$(dd if="$dev" bs=512 count=1 status=none | head -n 1 | tr -d '\\0')
    set -- $hdr
    [ "\${1:-}" = FAKEVIRSH ] || { echo "error: not a saved domain image" >&2; exit 1; }
    [ -f "$d/$2.mem" ] && { echo "error: domain $2 exists already" >&2; exit 1; }
    dd if="$dev" bs=512 skip=1 status=none | head -c "$3" > "$d/$2.mem" ;;
  save-image-dumpxml)
    hdr=$(dd if="$1" bs=512 count=1 status=none | head -n 1 | tr -d '\\0')
    set -- $hdr
    [ "\${1:-}" = FAKEVIRSH ] || { echo "error: not a saved domain image" >&2; exit 1; }
    echo "<domain type='kvm'><name>$2</name></domain>" ;;
  domfsfreeze|domfsthaw|suspend|resume) : ;;
  *) echo "error: fake virsh does not know $cmd" >&2; exit 1 ;;
esac
`;

/** Install the fake virsh under the cluster root; returns its path (for ONEBLK_VIRSH). */
export async function installFakeVirsh(c: Cluster): Promise<string> {
  const bin = join(c.root, "bin");
  await Deno.mkdir(bin, { recursive: true });
  const path = join(bin, "fake-virsh");
  await Deno.writeTextFile(path, FAKE_VIRSH);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Real path of a fake domain's memory file on `host`. */
export function domainFile(c: Cluster, host: string, domain: string): string {
  return c.hostPath(host, `var/run/fakevirsh/${domain}.mem`);
}

/** Calls the fake virsh received on `host` ("" when none). */
export async function virshCalls(c: Cluster, host: string): Promise<string> {
  try {
    return await Deno.readTextFile(c.hostPath(host, "var/run/fakevirsh/calls.log"));
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// the simulated cloud's own virsh (tools/sim/libvirt.ts), which keeps domain XML

/** Real path of a domain of the simulated virsh on `host`. */
export function simDomainFile(c: Cluster, host: string, domain: string): string {
  return c.hostPath(host, `var/run/oneblk-sim/domains/${domain}`);
}

/** The simulated virsh's domain on `host` (parsed), or null when it does not run. */
export async function simDomain(c: Cluster, host: string, domain: string) {
  try {
    return parseDomainXml(await Deno.readTextFile(simDomainFile(c, host, domain)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/** One `<disk>` of a test domain: its target and the host path of its source. */
export interface SimDisk {
  target: string;
  path: string;
  bus?: string;
}

/**
 * Start domain `domain` on `host` with `virsh create` of the simulated virsh (its disks must
 * exist there; store volumes behind them are marked open). `dir` is the VM directory written
 * into OpenNebula's metadata. Returns the domain's UUID.
 */
export async function startSimDomain(
  c: Cluster,
  host: string,
  domain: string,
  dir: string,
  disks: SimDisk[],
): Promise<string> {
  const uuid = crypto.randomUUID();
  const ds = disks.map((d) =>
    `<disk type='block' device='disk'><source dev='${d.path}'/>` +
    `<target dev='${d.target}'${d.bus ? ` bus='${d.bus}'` : ""}/><driver name='qemu' type='raw'/>` +
    `</disk>`
  ).join("");
  const xml = `<domain type='kvm'><name>${domain}</name><uuid>${uuid}</uuid>` +
    `<os><type arch='x86_64'>hvm</type></os><devices>${ds}</devices><metadata>` +
    `<one:vm xmlns:one="http://opennebula.org/xmlns/libvirt/1.0"><one:system_datastore>${dir}` +
    `</one:system_datastore></one:vm></metadata></domain>\n`;
  const file = c.hostPath(host, `${dir}/${domain}.boot.xml`);
  await Deno.mkdir(join(file, ".."), { recursive: true });
  await Deno.writeTextFile(file, xml);
  await new SimRunner(c.root).run(host, [
    join(c.root, "bin", "virsh"),
    "create",
    `${dir}/${domain}.boot.xml`,
  ]);
  return uuid;
}

/** Make the simulated virsh's `verb` fail on `host` until the returned function is called. */
export async function failSimVirsh(c: Cluster, host: string, verb: string) {
  const mark = c.hostPath(host, `var/run/oneblk-sim/fail-${verb}`);
  await Deno.mkdir(join(mark, ".."), { recursive: true });
  await Deno.writeTextFile(mark, "");
  return () => Deno.remove(mark);
}

/** The simulated virsh's call log on `host` (argv per line), emptied. */
export async function simVirshCalls(c: Cluster, host: string): Promise<string[]> {
  const log = c.hostPath(host, "var/run/oneblk-sim/virsh.log");
  const text = await Deno.readTextFile(log).catch(() => "");
  await Deno.remove(log).catch(() => {});
  return text.split("\n").filter(Boolean);
}

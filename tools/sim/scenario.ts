/**
 * The whole life of a VM, played by the scripted oned against the simulators, with the data
 * checked at every step: register images (raw and qcow2 sources), a persistent datablock,
 * instantiate with non-persistent, persistent and volatile disks plus context, write data
 * through the host paths, live migration (and a failed one), disk snapshots (create / revert
 * / delete, live and powered off), disk hot-plug, resize, save-as, backup, stop / resume on
 * another host, VM snapshots (reverted while running), terminate, image clone / delete, and a
 * final inventory of the simulators. Deploys, hot-plugs and reverts go through the VMM
 * overrides when they are installed, as oned runs them.
 *
 * Used by test/lifecycle (one `it` per step) and by tools/bench.ts (timings). Each step
 * names the driver actions it needs (with those of the steps it builds on); a step whose
 * actions are not implemented yet is reported as skipped with the missing names.
 *
 * Also exported: data helpers (write bytes / sha256 of a region of a raw or qcow2 disk) and
 * inspectStore() (volumes, snapshots, attachments of the profile's store).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { listActions } from "../../app/registry.ts";
import { type DomainDisk, domainDisks, parseDomainXml } from "../../lib/domain/domain_xml.ts";
import { CLUSTER_HOSTS } from "./cluster.ts";
import type { ImageModel, ProfileName, VmModel } from "./oned/scripted_oned.ts";
import { type Convention, conventionFor, OnedFailure, ScriptedOned } from "./oned/scripted_oned.ts";

const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// data helpers

/** Hex sha256 of bytes. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `len` random bytes. */
export function randomBytes(len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  if (!r.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(r.stderr).trim()}`);
  }
  return new TextDecoder().decode(r.stdout);
}

/** qemu-img format of a file or device ("raw" when it cannot tell). */
export async function fileFormat(path: string): Promise<string> {
  try {
    const j = JSON.parse(await run("qemu-img", ["info", "--output=json", path]));
    return String(j.format ?? "raw");
  } catch {
    return "raw";
  }
}

async function readRegion(path: string, offset: number, len: number): Promise<Uint8Array> {
  const f = await Deno.open(path, { read: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const n = await f.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    return buf;
  } finally {
    f.close();
  }
}

/**
 * sha256 of `len` bytes at `offset` of the guest-visible content of a disk (a raw device, or
 * a qcow2 image which is converted to raw first). Bytes past the end read as zeros.
 */
export async function regionSha(
  path: string,
  offset: number,
  len: number,
  format?: string,
): Promise<string> {
  const fmt = format ?? await fileFormat(path);
  if (fmt === "raw") return sha256(await readRegion(path, offset, len));
  const tmp = await Deno.makeTempFile({ prefix: "oneblk-region-" });
  try {
    await run("qemu-img", ["convert", "-f", fmt, "-O", "raw", path, tmp]);
    return sha256(await readRegion(tmp, offset, len));
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** Write `bytes` at `offset` into a raw device/file (no truncation) or a qcow2 image. */
export async function writeRegion(
  path: string,
  offset: number,
  bytes: Uint8Array,
  format?: string,
): Promise<void> {
  const fmt = format ?? await fileFormat(path);
  if (fmt === "raw") {
    const f = await Deno.open(path, { write: true });
    try {
      await f.seek(offset, Deno.SeekMode.Start);
      let off = 0;
      while (off < bytes.length) off += await f.write(bytes.subarray(off));
      await f.syncData();
    } finally {
      f.close();
    }
    return;
  }
  const tmp = await Deno.makeTempFile({ prefix: "oneblk-write-" });
  try {
    await Deno.writeFile(tmp, bytes);
    await run("qemu-io", ["-f", fmt, "-c", `write -s ${tmp} ${offset} ${bytes.length}`, path]);
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}

/** Guest-visible size in bytes of a raw device or a qcow2 image. */
export async function diskSize(path: string, format?: string): Promise<number> {
  const fmt = format ?? await fileFormat(path);
  if (fmt === "raw") return (await Deno.stat(path)).size;
  const j = JSON.parse(await run("qemu-img", ["info", "--output=json", "-f", fmt, path]));
  return Number(j["virtual-size"]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// store inventory

/** What the profile's store holds. */
export interface StoreView {
  volumes: string[];
  snapshots: { volume: string; name: string; delayedDelete: boolean }[];
  attachments: {
    volume: string;
    host: string;
    diskful: boolean;
    tieBreaker: boolean;
    inUse: boolean;
  }[];
}

/** Volumes, snapshots and attachments of the scripted oned's store, from the simulator. */
export function inspectStore(oned: ScriptedOned): StoreView {
  if (oned.store === "linstor") {
    const c = oned.cluster.linstor.controller;
    const rds = c.state.rds;
    return {
      volumes: rds.map((r) => r.name).sort(),
      snapshots: rds.flatMap((r) =>
        r.snaps.map((s) => ({ volume: r.name, name: s.name, delayedDelete: false }))
      ),
      attachments: rds.flatMap((r) =>
        r.rscs.map((x) => ({
          volume: r.name,
          host: x.node,
          diskful: !x.diskless,
          tieBreaker: x.tieBreaker,
          inUse: c.isInUse(r, x.node),
        }))
      ),
    };
  }
  const st = oned.cluster.storpool.state();
  const hostOf = (id: number) =>
    Object.entries(st.clients).find(([, v]) => v === id)?.[0] ?? `client${id}`;
  return {
    volumes: Object.keys(st.volumes).sort(),
    snapshots: Object.values(st.snapshots).map((s) => ({
      volume: s.onVolume,
      name: s.name,
      delayedDelete: s.targetDeleteDate > 0,
    })),
    attachments: st.attachments.map((a) => ({
      volume: a.volume,
      host: hostOf(a.client),
      diskful: false,
      tieBreaker: false,
      inUse: a.open,
    })),
  };
}

/**
 * Let the store's delayed deletes fall due (StorPool keeps deleted volumes' data as
 * snapshots with deleteAfter for 48 h): advance the simulator clock and make one API request,
 * which purges what is due. No-op for LINSTOR.
 */
export async function purgeDelayedDeletes(oned: ScriptedOned): Promise<void> {
  if (oned.store !== "storpool") return;
  const sp = oned.cluster.storpool;
  sp.advanceClock(49 * 3600);
  const r = await fetch(`${sp.url}/ctrl/1.0/VolumesList`, {
    headers: { authorization: `Storpool v1:${sp.token}` },
    signal: AbortSignal.timeout(10_000),
  });
  await r.body?.cancel();
}

/** Client attachments (not diskful replicas, not tie-breakers) of `volume` per host. */
export function clientHosts(view: StoreView, volume: string): string[] {
  return view.attachments.filter((a) => a.volume === volume && !a.diskful && !a.tieBreaker)
    .map((a) => a.host).sort();
}

// ---------------------------------------------------------------------------------------------
// which actions exist

/** The `kind/action` names (e.g. `tm/clone`, `vmm/save`) of `needs` not implemented for profile. */
export function missingActions(profile: ProfileName, needs: string[]): string[] {
  const have = new Set(
    listActions().filter((a) => a.profile === profile).map((a) => `${a.kind}/${a.action}`),
  );
  return [...new Set(needs)].filter((n) => !have.has(n));
}

// ---------------------------------------------------------------------------------------------
// the lifecycle

/** One step of the life. */
export interface LifeStep {
  id: string;
  title: string;
  /** Actions needed by this step and by the steps it builds on. */
  needs: string[];
  /** Set when the played OpenNebula version has no such operation. */
  unsupported?: string;
  /** A failure of this step leaves the rest of the story intact (it cleans up after itself). */
  isolated?: boolean;
  run(life: Lifecycle): Promise<void>;
}

/** Options of the lifecycle. */
export interface LifecycleOptions {
  profile: ProfileName;
  /** OpenNebula version whose calling convention is played (default 7.0.0). */
  version?: string;
  /** Only register, instantiate, write, migrate, terminate (cheap runs of more versions). */
  short?: boolean;
  /** Latency of the simulated stores (ms). */
  latencyMs?: number;
  /** Play only the steps with these ids (in their usual order). */
  only?: string[];
  /** Measure every driver program run (ClusterOptions.meter). */
  meter?: boolean;
  /** Extra environment of every driver program (ClusterOptions.env). */
  env?: Record<string, string>;
}

const REG = ["datastore/stat", "datastore/cp"];
const RUN = [
  ...REG,
  "datastore/mkfs",
  "tm/clone",
  "tm/ln",
  "tm/mkimage",
  "tm/mkswap",
  "tm/context",
];
const END = ["tm/mvds", "tm/delete"];

/** Disk layout of the lifecycle VM. */
export const DISK = { clone: 0, pers: 1, fs: 2, swap: 3, qcow: 4, context: 5 } as const;

/** Where each disk gets written (offset, length). */
const REGION: Record<number, { offset: number; len: number }> = {
  [DISK.clone]: { offset: 8 * MiB, len: MiB },
  [DISK.pers]: { offset: 0, len: MiB },
  [DISK.fs]: { offset: 4 * MiB, len: MiB },
  [DISK.qcow]: { offset: 4 * MiB, len: MiB },
};

/** A played lifecycle: the scripted oned plus what the steps learned. */
export class Lifecycle {
  readonly opts: LifecycleOptions;
  oned!: ScriptedOned;
  /** Temp dir for source files. */
  work = "";
  imgRaw?: ImageModel;
  imgQcow?: ImageModel;
  imgPers?: ImageModel;
  imgSaved?: ImageModel;
  vm?: VmModel;
  /** sha256 of the raw image's bytes (its first rawLen bytes). */
  rawSha = "";
  rawLen = 6 * MiB;
  /** sha256 of the guest view of the qcow2 source (first qcowLen bytes). */
  qcowSha = "";
  qcowLen = 8 * MiB;
  /** Expected sha of each written disk region. */
  readonly expect = new Map<number, string>();
  /** Narration lines (what each step checked). */
  readonly notes: string[] = [];

  constructor(opts: LifecycleOptions) {
    this.opts = opts;
  }

  /** Start the cluster and the scripted oned; write the image sources. */
  async start(): Promise<void> {
    this.oned = await ScriptedOned.start({
      profile: this.opts.profile,
      version: this.opts.version ?? "7.0.0",
      latencyMs: this.opts.latencyMs,
      meter: this.opts.meter,
      env: this.opts.env,
    });
    this.work = join(this.oned.cluster.root, "sources");
    await Deno.mkdir(this.work, { recursive: true });
    const raw = randomBytes(this.rawLen);
    this.rawSha = await sha256(raw);
    await Deno.writeFile(join(this.work, "alpine.raw"), raw);
    const seed = join(this.work, "seed.raw");
    const q = randomBytes(2 * MiB);
    await Deno.writeFile(seed, new Uint8Array(this.qcowLen));
    await writeRegion(seed, 0, q, "raw");
    this.qcowSha = await sha256(await readRegion(seed, 0, this.qcowLen));
    await run("qemu-img", [
      "convert",
      "-f",
      "raw",
      "-O",
      "qcow2",
      seed,
      join(this.work, "tools.qcow2"),
    ]);
    await Deno.remove(seed);
  }

  /** The calling convention played (known before start()). */
  get convention(): Convention {
    return conventionFor(this.opts.version ?? "7.0.0");
  }

  /** Stop everything. */
  async close(): Promise<void> {
    await this.oned?.close();
  }

  /** The steps, in order (only `opts.only` when given). */
  steps(): LifeStep[] {
    const all = this.opts.short ? shortSteps() : fullSteps();
    return this.opts.only ? all.filter((s) => this.opts.only!.includes(s.id)) : all;
  }

  /** Missing actions of a step for this profile ([] when it can run). */
  missing(step: LifeStep): string[] {
    return missingActions(this.opts.profile, step.needs);
  }

  note(s: string): void {
    this.notes.push(s);
  }

  /** Current host of the VM. */
  /** The disks of the lifecycle VM's running domain (the simulated virsh's XML). */
  async domainXml(): Promise<DomainDisk[]> {
    const text = await Deno.readTextFile(this.oned.domainPath(this.vm!, this.host));
    return domainDisks(parseDomainXml(text));
  }

  get host(): string {
    return this.oned.hostOf(this.vm!);
  }

  /** Real path of a VM disk on its host. */
  disk(id: number, host?: string): string {
    return this.oned.diskPath(this.vm!.id, id, host);
  }

  /** Format of a VM disk. */
  fmt(id: number): string {
    return this.vm!.disks.find((d) => d.diskId === id)?.format ?? "raw";
  }

  /** Write fresh random bytes into a disk's region; remembers the expected sha. */
  async write(id: number, host?: string): Promise<string> {
    const r = REGION[id];
    const bytes = randomBytes(r.len);
    await writeRegion(this.disk(id, host), r.offset, bytes, this.fmt(id));
    const sha = await sha256(bytes);
    this.expect.set(id, sha);
    return sha;
  }

  /** Assert every written region reads back as expected through the VM's host paths. */
  async checkWritten(what: string, host?: string): Promise<void> {
    for (const [id, sha] of this.expect) {
      const r = REGION[id];
      const got = await regionSha(this.disk(id, host), r.offset, r.len, this.fmt(id));
      assert.equal(got, sha, `${what}: disk ${id} data differs`);
    }
    this.note(`${what}: ${this.expect.size} written disk regions read back (sha256)`);
  }

  /** The data file of image `imageId`'s store volume; asserts it exists (`what` says why). */
  imageFile(imageId: number, what?: string): string {
    const f = this.oned.volumeFile(this.oned.imageVolume(imageId));
    assert.ok(f, what);
    return f;
  }

  /** Assert each backup file of a written disk holds that disk's region. */
  async checkBackupFiles(
    files: readonly { diskId: number; path: string; format: string }[],
  ): Promise<void> {
    for (const f of files) {
      const r = REGION[f.diskId];
      if (!r) continue;
      assert.equal(
        await regionSha(f.path, r.offset, r.len, f.format),
        this.expect.get(f.diskId),
        `backup of disk ${f.diskId} holds its data`,
      );
    }
  }

  /** Store volumes of the VM's disks (links on its host). */
  vmVolumes(host?: string): Promise<string[]> {
    return this.vmVolumesOf(this.vm!, host);
  }

  /** Store volumes of any VM's disks (links on its host). */
  async vmVolumesOf(vm: VmModel, host?: string): Promise<string[]> {
    const ids = vm.disks.map((d) => d.diskId);
    if (vm.contextDiskId !== null) ids.push(vm.contextDiskId);
    const h = host ?? this.oned.hostOf(vm);
    const out: string[] = [];
    for (const id of ids) {
      const m = await this.oned.linkedVolume(h, `${this.oned.vmDir(vm)}/disk.${id}`);
      if (m) out.push(m.name);
    }
    return out;
  }

  /** `volume@snapshot` (lower case) of every disk snapshot oned knows for the VM. */
  diskSnapshots(): string[] {
    const vm = this.vm!;
    const p = this.oned.profile;
    return vm.disks.flatMap((d) => {
      const vol = p.diskVolume(vm.id, {
        diskId: d.diskId,
        source: d.source,
        imageId: d.imageId === undefined ? "" : String(d.imageId),
        clone: d.clone,
        persistent: d.persistent,
        type: d.type.toUpperCase(),
        volatile: d.imageId === undefined,
        format: d.type === "swap" ? "swap" : d.format,
      });
      return d.snapshots.map((s) => `${vol}@${p.snapshotName(vol, s.id)}`.toLowerCase());
    }).sort();
  }

  /** Assert the VM's volumes are in use on `host` and have no client attachment elsewhere. */
  async checkPlacement(host: string, what: string): Promise<void> {
    const vols = await this.vmVolumes(host);
    assert.ok(vols.length > 0, `${what}: no disk links to store volumes on ${host}`);
    const view = inspectStore(this.oned);
    for (const v of vols) {
      const rel = view.attachments.filter((a) => a.volume.toLowerCase() === v.toLowerCase());
      assert.ok(
        rel.some((a) => a.host === host && a.inUse),
        `${what}: ${v} is not in use on ${host}`,
      );
      const elsewhere = rel.filter((a) =>
        a.host !== host && (a.inUse || (!a.diskful && !a.tieBreaker))
      );
      assert.deepEqual(
        elsewhere.map((a) => `${a.host}${a.inUse ? " (in use)" : ""}`),
        [],
        `${what}: ${v} still attached elsewhere`,
      );
    }
    this.note(`${what}: ${vols.length} volumes in use on ${host}, no client attachment elsewhere`);
  }
}

/** `volume@snapshot` (lower case) of the store's snapshots, delayed deletes excluded. */
export function liveSnapshots(l: Lifecycle): string[] {
  return inspectStore(l.oned).snapshots.filter((s) => !s.delayedDelete)
    .map((s) => `${s.volume}@${s.name}`.toLowerCase()).sort();
}

function step(
  id: string,
  title: string,
  needs: string[],
  run: (l: Lifecycle) => Promise<void>,
  unsupported?: (l: Lifecycle) => string | undefined,
): LifeStep & { unsupportedFor?: (l: Lifecycle) => string | undefined } {
  return { id, title, needs, run, unsupportedFor: unsupported };
}

/** A step's "unsupported" reason for a lifecycle (version lacks the operation). */
export function unsupportedReason(l: Lifecycle, s: LifeStep): string | undefined {
  return (s as { unsupportedFor?: (l: Lifecycle) => string | undefined }).unsupportedFor?.(l) ??
    s.unsupported;
}

const stepReportFailure: LifeStep = step(
  "stat-failure",
  "a failing driver call is reported the way this oned version shows it",
  ["datastore/stat"],
  async (l) => {
    const before = l.oned.calls.length;
    await assert.rejects(
      l.oned.registerImage({ name: "missing", path: "/nonexistent/image.raw" }),
      (e) => e instanceof OnedFailure && !e.missing,
    );
    const call = l.oned.calls.at(-1)!;
    assert.equal(l.oned.calls.length, before + 1, "only stat runs when stat fails");
    assert.equal(call.ok, false);
    assert.deepEqual(call.complaints, [], "the error text is one plain line");
    assert.ok(call.info && call.info !== "-", "oned finds an error text");
    assert.ok(!call.info.includes("\n"));
    l.note(`stat of a missing PATH fails: "${call.info}"`);
  },
);

const stepRegisterRaw = step(
  "register-raw",
  "register an image from a raw file (stat + cp)",
  REG,
  async (l) => {
    const img = await l.oned.registerImage({ name: "alpine", path: join(l.work, "alpine.raw") });
    l.imgRaw = img;
    assert.equal(img.sizeMb, 6, "stat reports the size in MB");
    assert.equal(img.source, l.oned.profile.imageSource(img.id, img.dsId), "SOURCE naming");
    assert.equal(img.format, "raw");
    const f = l.imageFile(img.id, "the image volume exists in the store");
    assert.equal(await regionSha(f, 0, l.rawLen, "raw"), l.rawSha, "image bytes in the volume");
    l.note(`image ${img.id}: SOURCE ${img.source} FORMAT ${img.format}, bytes verified`);
  },
);

const stepRegisterQcow = step(
  "register-qcow2",
  "register an image from a qcow2 file",
  REG,
  async (l) => {
    const img = await l.oned.registerImage({ name: "tools", path: join(l.work, "tools.qcow2") });
    l.imgQcow = img;
    assert.equal(img.sizeMb, 8, "stat reports the virtual size");
    assert.equal(img.source, l.oned.profile.imageSource(img.id, img.dsId));
    const want = l.oned.profile.keepImageFormat ? "qcow2" : "raw";
    assert.equal(img.format, want, "FORMAT per profile (kept or converted)");
    const f = l.imageFile(img.id);
    assert.equal(await regionSha(f, 0, l.qcowLen, img.format), l.qcowSha, "guest bytes");
    l.note(`image ${img.id}: FORMAT ${img.format}, guest bytes verified`);
  },
);

const stepDatablock = step(
  "datablock",
  "create an empty persistent datablock (mkfs)",
  ["datastore/mkfs"],
  async (l) => {
    const img = await l.oned.createDatablock({ name: "data", sizeMb: 16, persistent: true });
    l.imgPers = img;
    assert.equal(img.source, l.oned.profile.imageSource(img.id, img.dsId));
    const f = l.imageFile(img.id, "the datablock volume exists");
    assert.ok((await Deno.stat(f)).size >= 16 * MiB, "the volume has the requested size");
    l.note(`datablock ${img.id}: SOURCE ${img.source}`);
  },
);

const stepMonitor = step(
  "monitor",
  "monitor the image and system datastores",
  ["datastore/monitor", "tm/monitor"],
  async (l) => {
    for (const ds of [l.oned.imageDs, l.oned.systemDs]) {
      const c = await l.oned.monitorDatastore(ds, { vmDisks: true });
      assert.ok(c.totalMb > 0, `datastore ${ds}: TOTAL_MB > 0`);
      assert.ok(c.freeMb <= c.totalMb && c.usedMb >= 0, `datastore ${ds}: sane numbers`);
      l.note(`datastore ${ds}: USED_MB=${c.usedMb} TOTAL_MB=${c.totalMb} FREE_MB=${c.freeMb}`);
    }
  },
);

const stepInstantiate = step(
  "instantiate",
  "instantiate on bravo: clone, persistent, volatile fs + swap, qcow2 clone, context",
  RUN,
  async (l) => {
    const vm = await l.oned.instantiate({
      host: "bravo",
      name: "web",
      disks: [
        { image: l.imgRaw!.id, sizeMb: 12 },
        { image: l.imgPers!.id },
        { volatile: "fs", sizeMb: 16, fs: "ext4" },
        { volatile: "swap", sizeMb: 8 },
        { image: l.imgQcow!.id },
      ],
    });
    l.vm = vm;
    assert.equal(
      await regionSha(l.disk(DISK.clone), 0, l.rawLen, l.fmt(DISK.clone)),
      l.rawSha,
      "image bytes in the cloned disk",
    );
    assert.ok(await diskSize(l.disk(DISK.clone), l.fmt(DISK.clone)) >= 12 * MiB, "clone grown");
    assert.equal(
      await regionSha(l.disk(DISK.qcow), 0, l.qcowLen, l.fmt(DISK.qcow)),
      l.qcowSha,
      "qcow2 image bytes in its cloned disk",
    );
    assert.ok((await Deno.stat(l.disk(DISK.pers))).size >= 16 * MiB, "persistent disk linked");
    assert.ok((await Deno.stat(l.disk(DISK.fs))).size >= 16 * MiB, "volatile disk size");
    const ext = await readRegion(l.disk(DISK.fs), 1080, 2);
    assert.equal(ext[0] | (ext[1] << 8), 0xef53, "volatile disk carries an ext4 filesystem");
    assert.ok((await Deno.stat(l.disk(DISK.swap))).size >= 8 * MiB, "swap size");
    const sw = new TextDecoder().decode(await readRegion(l.disk(DISK.swap), 4086, 10));
    assert.equal(sw, "SWAPSPACE2", "swap signature");
    const iso = new TextDecoder().decode(await readRegion(l.disk(DISK.context), 32769, 5));
    assert.equal(iso, "CD001", "context ISO");
    await l.checkPlacement("bravo", "running on bravo");
    l.note(`VM ${vm.id} running on bravo; clone/qcow2/ext4/swap/ISO contents verified`);
  },
);

const stepWrite = step(
  "write",
  "write data into the disks through the host paths",
  RUN,
  async (l) => {
    for (const id of [DISK.clone, DISK.pers, DISK.fs, DISK.qcow]) await l.write(id);
    await l.checkWritten("after writing");
  },
);

const stepMigrate = step(
  "live-migrate",
  "live migrate bravo → charlie (premigrate, virsh, postmigrate)",
  [...RUN, "tm/premigrate", "tm/postmigrate"],
  async (l) => {
    await l.oned.liveMigrate(l.vm!.id, "charlie");
    assert.equal(l.host, "charlie");
    await l.checkWritten("on charlie after live migration");
    await l.checkPlacement("charlie", "after migrating to charlie");
  },
);

const stepFailMigrate = step(
  "fail-migrate",
  "a live migration to delta whose virsh step fails (failmigrate)",
  [...RUN, "tm/premigrate", "tm/failmigrate"],
  async (l) => {
    const host = l.host;
    await assert.rejects(
      l.oned.liveMigrate(l.vm!.id, "delta", { failVirsh: true }),
      (e) => e instanceof OnedFailure && /failmigrate ran/.test(e.message),
    );
    assert.equal(l.host, host, "the VM stays where it was");
    assert.ok(l.oned.calls.at(-1)!.ok, "failmigrate succeeded");
    await l.checkWritten(`on ${host} after the failed migration`);
    await l.checkPlacement(host, "after failmigrate");
  },
);

const stepSnapshots = step(
  "snapshots",
  "poweroff, disk snapshots create / revert / delete, resume",
  [...RUN, "tm/snap_create", "tm/snap_revert", "tm/snap_delete"],
  async (l) => {
    const vm = l.vm!;
    await l.oned.poweroff(vm.id);
    const s0Sha = l.expect.get(DISK.clone)!;
    const s0 = await l.oned.diskSnapshotCreate(vm.id, DISK.clone, "before");
    const s1Sha = await l.write(DISK.clone);
    const s1 = await l.oned.diskSnapshotCreate(vm.id, DISK.clone, "middle");
    await l.write(DISK.clone);
    await l.oned.diskSnapshotRevert(vm.id, DISK.clone, s0);
    l.expect.set(DISK.clone, s0Sha);
    await l.checkWritten(`after reverting disk 0 to snapshot ${s0}`);
    await l.oned.diskSnapshotRevert(vm.id, DISK.clone, s1);
    l.expect.set(DISK.clone, s1Sha);
    await l.checkWritten(`after reverting disk 0 to snapshot ${s1}`);
    await l.oned.diskSnapshotDelete(vm.id, DISK.clone, s0);
    const p0 = await l.oned.diskSnapshotCreate(vm.id, DISK.pers, "pers");
    await l.write(DISK.pers);
    await l.oned.diskSnapshotDelete(vm.id, DISK.pers, p0);
    await l.checkWritten("after deleting snapshots");
    assert.deepEqual(vm.disks[DISK.clone].snapshots.map((s) => s.id), [s1]);
    assert.deepEqual(vm.disks[DISK.pers].snapshots, []);
    assert.deepEqual(liveSnapshots(l), l.diskSnapshots(), "store snapshots match oned's");
    await l.oned.resume(vm.id);
    await l.checkPlacement(l.host, "resumed from poweroff");
  },
);

const stepLiveSnapshot = step(
  "live-snapshot",
  "disk snapshot of the running VM (snap_create_live), deleted while running",
  [...RUN, "tm/snap_create_live", "tm/snap_delete"],
  async (l) => {
    const vm = l.vm!;
    const id = await l.oned.diskSnapshotCreate(vm.id, DISK.pers, "live");
    await l.checkWritten("after a live snapshot");
    await l.oned.diskSnapshotDelete(vm.id, DISK.pers, id);
    assert.deepEqual(vm.disks[DISK.pers].snapshots, []);
    await l.checkPlacement(l.host, "after the live snapshot");
  },
);

const stepHotplug = step(
  "hotplug",
  "hot-attach a volatile disk to the running VM (a block device in the domain), detach it",
  [...RUN, ...END, "vmm/deploy", "vmm/attach_disk", "vmm/detach_disk"],
  async (l) => {
    const vm = l.vm!;
    const d = await l.oned.attachDisk(vm.id, { volatile: "fs", sizeMb: 8, fs: "ext4" });
    const dom = await l.domainXml();
    const path = `${l.oned.vmDir(vm)}/disk.${d.diskId}`.replaceAll("//", "/");
    const hit = dom.filter((x) => x.source.replaceAll("//", "/") === path);
    assert.deepEqual(
      hit.map((x) => x.type),
      ["block"],
      `disk.${d.diskId} attached as a block device`,
    );
    const ext = await readRegion(l.oned.diskPath(vm.id, d.diskId), 1080, 2);
    assert.equal(ext[0] | (ext[1] << 8), 0xef53, "the attached disk carries its ext4 filesystem");
    await l.oned.detachDisk(vm.id, d.diskId);
    assert.ok(!(await l.domainXml()).some((x) => x.source.replaceAll("//", "/") === path));
    assert.ok(!(await exists(l.oned.diskPath(vm.id, d.diskId))), "the TM step removed the link");
    await l.checkWritten("after hot-plug");
    await l.checkPlacement(l.host, "after hot-plug");
    l.note(`disk ${d.diskId} (${d.target}) attached as a block device and detached`);
  },
);

const stepVmSnapshots: LifeStep = step(
  "vm-snapshots",
  "VM snapshots of a second VM: snapshotcreate running, revert running, delete running",
  [...RUN, ...END, "vmm/snapshotcreate", "vmm/snapshotrevert", "vmm/snapshotdelete"],
  async (l) => {
    const o = l.oned;
    const vm = await o.instantiate({
      host: "bravo",
      name: "snappy",
      disks: [{ image: l.imgRaw!.id, sizeMb: 12 }, { volatile: "fs", sizeMb: 8 }],
      context: false,
    });
    const r = REGION[DISK.clone];
    const put = async (disk: number) => {
      const bytes = randomBytes(r.len);
      await writeRegion(o.diskPath(vm.id, disk), r.offset % (4 * MiB), bytes, "raw");
      return await sha256(bytes);
    };
    const read = (disk: number) =>
      regionSha(o.diskPath(vm.id, disk), r.offset % (4 * MiB), r.len, "raw");
    try {
      const want = [await put(0), await put(1)];
      const snap = await o.vmSnapshotCreate(vm.id, "before-upgrade");
      assert.ok(snap.hypervisorId, "snapshotcreate printed the hypervisor snapshot id");
      await put(0);
      await put(1);
      // oned reverts a RUNNING VM: the override stops the domain, rolls back, starts it again
      await o.vmSnapshot("revert", vm.id, snap.id);
      assert.deepEqual([await read(0), await read(1)], want, "revert brought back both disks");
      await o.vmSnapshot("delete", vm.id, snap.id);
      assert.deepEqual(vm.vmSnapshots, []);
      const vols = new Set((await l.vmVolumesOf(vm)).map((v) => v.toLowerCase()));
      assert.deepEqual(
        liveSnapshots(l).filter((n) => vols.has(n.split("@")[0])),
        [],
        "the VM snapshot left no store snapshot",
      );
      l.note(`VM snapshot ${snap.id} (${snap.hypervisorId}) created, reverted, deleted`);
    } finally {
      // Whatever failed above, the VM goes away so the inventory can still be checked.
      if (vm.state === 8) await o.resume(vm.id).catch(() => {});
      await o.terminate(vm.id).catch(() => {});
    }
  },
);
stepVmSnapshots.isolated = true;

const stepResize = step(
  "resize",
  "resize disk 0 of the running VM to 24 MB",
  [...RUN, "tm/resize"],
  async (l) => {
    await l.oned.diskResize(l.vm!.id, DISK.clone, 24);
    assert.ok(await diskSize(l.disk(DISK.clone), l.fmt(DISK.clone)) >= 24 * MiB, "disk grew");
    await l.checkWritten("after resize");
  },
);

const stepSaveAs = step(
  "save-as",
  "save disk 0 as a new image (mkfs save_as + cpds)",
  [...RUN, "tm/cpds"],
  async (l) => {
    const img = await l.oned.diskSaveAs(l.vm!.id, DISK.clone, "saved");
    l.imgSaved = img;
    assert.equal(img.source, l.oned.profile.imageSource(img.id, img.dsId), "SOURCE naming");
    const f = l.imageFile(img.id, "the saved image has a volume");
    const r = REGION[DISK.clone];
    assert.equal(
      await regionSha(f, r.offset, r.len, img.format),
      l.expect.get(DISK.clone),
      "the saved image holds the disk's data",
    );
    assert.equal(await regionSha(f, 0, l.rawLen, img.format), l.rawSha, "and the image bytes");
    l.note(`saved image ${img.id} (${img.source}) verified`);
  },
);

const stepBackup = step(
  "backup",
  "backup of the running VM (prebackup_live, copy, postbackup_live)",
  [...RUN, "tm/prebackup_live", "tm/postbackup_live"],
  async (l) => {
    const vm = l.vm!;
    const res = await l.oned.backup(vm.id);
    assert.deepEqual(res.files.map((f) => f.diskId), l.oned.backupDiskIds(vm));
    await l.checkBackupFiles(res.files);
    assert.ok(
      !(await exists(l.oned.cluster.hostPath(l.host, `${l.oned.vmDir(vm)}/backup`))),
      "postbackup removed DIR/backup",
    );
    assert.deepEqual(liveSnapshots(l), l.diskSnapshots(), "no backup snapshot left");
    l.note(`backup files ${res.files.map((f) => `${f.name} (${f.format})`).join(", ")} verified`);
  },
  (l) => l.convention.backups ? undefined : `OpenNebula ${l.convention.version} has no backups`,
);

const stepBackupPoweroff = step(
  "backup-poweroff",
  "poweroff, backup (prebackup, copy, postbackup), resume",
  [...RUN, "tm/prebackup", "tm/postbackup"],
  async (l) => {
    const vm = l.vm!;
    await l.oned.poweroff(vm.id);
    const res = await l.oned.backup(vm.id);
    await l.checkBackupFiles(res.files);
    assert.deepEqual(liveSnapshots(l), l.diskSnapshots(), "no backup snapshot left");
    await l.oned.resume(vm.id);
    await l.checkPlacement(l.host, "resumed after the backup");
    l.note(`powered-off backup: ${res.files.map((f) => f.name).join(", ")} verified`);
  },
  (l) => l.convention.backups ? undefined : `OpenNebula ${l.convention.version} has no backups`,
);

const stepStopResume = step(
  "stop-resume",
  "stop (save + MV to the front-end), resume on delta (MV + restore)",
  [...RUN, "tm/mv"],
  async (l) => {
    const vm = l.vm!;
    const from = l.host;
    await l.oned.stop(vm.id);
    const view = inspectStore(l.oned);
    assert.deepEqual(view.attachments.filter((a) => a.inUse), [], "nothing in use while stopped");
    const leftOn = view.attachments.filter((a) => a.host === from && !a.diskful && !a.tieBreaker)
      .map((a) => a.volume);
    const how = l.oned.vmmOverride("save") ? "save override" : "stock save";
    await l.oned.resume(vm.id, "delta");
    assert.equal(l.host, "delta");
    await l.checkWritten(`on delta after stop/resume (${how})`);
    await l.checkPlacement("delta", "resumed on delta");
    assert.deepEqual(leftOn, [], `the stopped VM kept client attachments on ${from}`);
  },
);

/** sha of the persistent disk region at each of its snapshots (persistent-snapshots step). */
const persSnapSha = new WeakMap<Lifecycle, Map<number, string>>();

const stepPersistentSnapshots = step(
  "persistent-snapshots",
  "three live snapshots of the persistent disk (they go to the image at terminate)",
  [...RUN, "tm/snap_create_live"],
  async (l) => {
    const vm = l.vm!;
    const shas = new Map<number, string>();
    for (let i = 0; i < 3; i++) {
      const sha = await l.write(DISK.pers);
      const id = await l.oned.diskSnapshotCreate(vm.id, DISK.pers, `pers-${i}`);
      shas.set(id, sha);
    }
    await l.write(DISK.pers);
    persSnapSha.set(l, shas);
    assert.deepEqual(liveSnapshots(l), l.diskSnapshots(), "store snapshots match oned's");
    l.note(`persistent disk snapshots ${[...shas.keys()].join(", ")} taken live`);
  },
);

const stepTerminate = step(
  "terminate",
  "terminate (MVDS for the persistent disk, DELETE for the rest and the dir)",
  [...RUN, ...END],
  async (l) => {
    const vm = l.vm!;
    const host = l.host;
    await l.oned.terminate(vm.id);
    const f = l.imageFile(l.imgPers!.id, "the persistent image survives");
    const r = REGION[DISK.pers];
    assert.equal(
      await regionSha(f, r.offset, r.len, "raw"),
      l.expect.get(DISK.pers),
      "the persistent disk's data is in its image",
    );
    assert.ok(
      !(await exists(l.oned.cluster.hostPath(host, l.oned.vmDir(vm)))),
      `the VM directory is gone from ${host}`,
    );
    l.note(`terminated; persistent image ${l.imgPers!.id} keeps the data`);
  },
);

const stepImageSnapshots = step(
  "image-snapshots",
  "image snapshots of the persistent image: snap_revert, snap_delete, snap_flatten",
  [
    ...RUN,
    ...END,
    "tm/snap_create_live",
    "datastore/snap_revert",
    "datastore/snap_delete",
    "datastore/snap_flatten",
  ],
  async (l) => {
    const img = l.imgPers!;
    const shas = persSnapSha.get(l);
    assert.ok(shas && shas.size === 3, "the persistent-snapshots step ran");
    const ids = [...shas.keys()];
    assert.deepEqual(img.snapshots.map((x) => x.id), ids, "the disk snapshots moved to the image");
    const f = () => l.oned.volumeFile(l.oned.imageVolume(img.id))!;
    const r = REGION[DISK.pers];
    const vol = l.oned.imageVolume(img.id);
    const storeSnaps = () =>
      liveSnapshots(l).filter((n) => n.startsWith(`${vol.toLowerCase()}@`)).length;
    assert.equal(storeSnaps(), 3, "the store keeps the 3 snapshots with the image");
    await l.oned.imageSnapshot("snap_revert", img.id, ids[0]);
    assert.equal(await regionSha(f(), r.offset, r.len, "raw"), shas.get(ids[0]), "revert");
    await l.oned.imageSnapshot("snap_delete", img.id, ids[2]);
    assert.equal(storeSnaps(), 2, "snap_delete removed one snapshot");
    await l.oned.imageSnapshot("snap_flatten", img.id, ids[1]);
    assert.equal(await regionSha(f(), r.offset, r.len, "raw"), shas.get(ids[1]), "flatten");
    assert.equal(storeSnaps(), 0, "snap_flatten dropped every snapshot");
    assert.deepEqual(img.snapshots, []);
    l.expect.set(DISK.pers, shas.get(ids[1])!);
    l.note(`image ${img.id}: reverted to ${ids[0]}, deleted ${ids[2]}, flattened to ${ids[1]}`);
  },
);

const stepExport = step(
  "export",
  "export an image to a marketplace (IMPORT_INFO, download, dispose)",
  [...REG, "datastore/export"],
  async (l) => {
    const img = l.imgRaw!;
    const info = await l.oned.exportImage(img.id, 42);
    assert.equal(info.FORMAT, "raw");
    assert.equal(Number(info.SIZE), img.sizeMb, "SIZE in MB");
    const m = /^ssh:\/\/([^:/]+):(\/.+)$/.exec(info.IMPORT_SOURCE ?? "");
    assert.ok(m, `IMPORT_SOURCE is ssh://host:/path, got ${info.IMPORT_SOURCE}`);
    const file = l.oned.cluster.hostPath(m[1], m[2]);
    const bytes = await Deno.readFile(file);
    assert.equal(await sha256(bytes.subarray(0, l.rawLen)), l.rawSha, "the export holds the image");
    if (info.MD5) {
      const md5 = (await run("md5sum", [file])).split(/\s+/)[0];
      assert.equal(info.MD5, md5, "MD5 of the exported file");
    }
    if ((info.DISPOSE ?? "").toUpperCase() === "YES") {
      // The market driver runs DISPOSE_CMD (`ssh <host> rm -f <file>`) after the download.
      const cmd = (info.DISPOSE_CMD ?? "").split(/\s+/);
      assert.deepEqual(cmd.slice(0, 2), ["ssh", m[1]], "DISPOSE_CMD runs on the export host");
      await Deno.remove(l.oned.cluster.hostPath(m[1], cmd.at(-1)!));
    }
    assert.deepEqual(
      inspectStore(l.oned).attachments.filter((a) => !a.diskful && !a.tieBreaker)
        .map((a) => `${a.volume}@${a.host}`),
      [],
      "export left no attachment",
    );
    l.note(`exported image ${img.id} as ${info.IMPORT_SOURCE}, bytes and MD5 verified`);
  },
);

const stepHardTerminate = step(
  "terminate-hard",
  "terminate --hard of a VM with the persistent image: DELETE keeps persistent data",
  [...RUN, ...END],
  async (l) => {
    const vm = await l.oned.instantiate({
      host: "charlie",
      name: "scratch",
      disks: [{ image: l.imgPers!.id }, { volatile: "fs", sizeMb: 8 }],
      context: false,
    });
    const path = l.oned.diskPath(vm.id, 0);
    const r = REGION[DISK.pers];
    assert.equal(
      await regionSha(path, r.offset, r.len, "raw"),
      l.expect.get(DISK.pers),
      "the persistent image carries the first VM's data into the second",
    );
    const bytes = randomBytes(r.len);
    await writeRegion(path, r.offset, bytes, "raw");
    l.expect.set(DISK.pers, await sha256(bytes));
    const vol1 = await l.oned.linkedVolume("charlie", `${l.oned.vmDir(vm)}/disk.1`);
    await l.oned.terminate(vm.id, { hard: true });
    const f = l.imageFile(l.imgPers!.id, "DELETE kept the persistent image");
    assert.equal(await regionSha(f, r.offset, r.len, "raw"), l.expect.get(DISK.pers));
    if (vol1) {
      assert.ok(
        !inspectStore(l.oned).volumes.some((v) => v.toLowerCase() === vol1.name.toLowerCase()),
        "DELETE removed the volatile disk",
      );
    }
    l.note("terminate --hard: persistent data kept, volatile disk removed");
  },
);

const stepCloneDelete = step(
  "clone-delete",
  "clone an image (datastore clone), check it, delete it (rm)",
  [...REG, "datastore/clone", "datastore/rm"],
  async (l) => {
    const c = await l.oned.cloneImage(l.imgRaw!.id, "alpine-copy");
    const vol = l.oned.imageVolume(c.id);
    const f = l.oned.volumeFile(vol);
    assert.ok(f, "the clone has a volume");
    assert.equal(await regionSha(f, 0, l.rawLen, c.format), l.rawSha, "clone bytes");
    await l.oned.deleteImage(c.id);
    assert.ok(!inspectStore(l.oned).volumes.some((v) => v.toLowerCase() === vol.toLowerCase()));
    l.note(`image clone ${c.id} verified and deleted`);
  },
);

const stepFinal = step(
  "inventory",
  "the store holds exactly the images: no clone, volatile, checkpoint or backup leftovers",
  [...RUN, ...END],
  async (l) => {
    await purgeDelayedDeletes(l.oned);
    const view = inspectStore(l.oned);
    // backup images live in the backup datastore, not in the store
    const want = [...l.oned.images.values()].filter((i) => i.dsId !== l.oned.backupDs)
      .map((i) => l.oned.profile.sourceVolume(i.source))
      .map((v) => v.toLowerCase()).sort();
    assert.deepEqual(view.volumes.map((v) => v.toLowerCase()).sort(), want, "volumes");
    assert.deepEqual(view.snapshots.map((s) => `${s.volume}@${s.name}`), [], "snapshots");
    assert.deepEqual(
      view.attachments.filter((a) => a.inUse || (!a.diskful && !a.tieBreaker))
        .map((a) => `${a.volume}@${a.host}`),
      [],
      "attachments",
    );
    for (const h of CLUSTER_HOSTS) {
      const dir = l.oned.cluster.hostPath(h, `/var/lib/one/datastores/${l.oned.systemDs}`);
      const left: string[] = [];
      try {
        for await (const e of Deno.readDir(dir)) left.push(e.name);
      } catch { /* no such dir */ }
      assert.deepEqual(left, [], `no VM directory left on ${h}`);
    }
    assert.deepEqual(l.oned.allComplaints(), [], "no contract complaints");
    l.note(`store holds ${view.volumes.length} image volumes and nothing else`);
  },
);

function fullSteps(): LifeStep[] {
  return [
    stepReportFailure,
    stepRegisterRaw,
    stepRegisterQcow,
    stepDatablock,
    stepMonitor,
    stepInstantiate,
    stepWrite,
    stepMigrate,
    stepFailMigrate,
    stepSnapshots,
    stepLiveSnapshot,
    stepHotplug,
    stepResize,
    stepSaveAs,
    stepBackup,
    stepBackupPoweroff,
    stepStopResume,
    stepPersistentSnapshots,
    stepTerminate,
    stepImageSnapshots,
    stepHardTerminate,
    stepCloneDelete,
    stepExport,
    stepVmSnapshots,
    stepFinal,
  ];
}

function shortSteps(): LifeStep[] {
  return [
    stepReportFailure,
    stepRegisterRaw,
    stepRegisterQcow,
    stepDatablock,
    stepInstantiate,
    stepWrite,
    stepMigrate,
    stepTerminate,
    stepFinal,
  ];
}

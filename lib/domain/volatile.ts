/**
 * Volatile disks (tm mkimage and mkswap; docs/contract.md "tm mkswap and mkimage"): a volume of
 * `size` MB on the system datastore's store, attached and linked at `DIR/disk.i`.
 *
 * - format `raw`/`qcow2` (≥6.0): the filesystem comes from the VM disk's FS attribute;
 * - any other word (≤5.12, where the 2nd argument was the filesystem itself, or the add-ons'
 *   `mkimage size swap`): that filesystem on a raw volume;
 * - swap → `mkswap -L swap`; a filesystem → `mkfs` on the host (it must be in datastore.conf's
 *   SUPPORTED_FS and gets its FS_OPTS_<fs>: mkfs_conf.ts); qcow2 → a qcow2 header (with the
 *   filesystem inside when FS is set) built in a scratch file on the host and written to the
 *   start of the device.
 *
 * With the datastore's preferLocal placement (linstor_un PREFER_NODE) the volume gets a replica
 * on the VM's host. A failure after the volume exists unlinks, detaches and deletes it: nothing
 * half-made. A repeated call (oned retry) reuses the volume of the same size and formats it
 * again.
 */
import type { ActionContext } from "../context.ts";
import type { DiskView } from "../one/views.ts";
import { type HostPath, parseTmArgs } from "../one/args.ts";
import { ddFileArgv, link, makeQcow2, mkdirp, mkfs, unlink } from "../host/ops.ts";
import { OneblkError } from "../errors.ts";
import { attachReady, detachAndDelete } from "./attach.ts";
import { withUndo } from "./undo.ts";
import { uniqueId } from "../frugal.ts";
import { diskOf, loadVmAndDs } from "./vm_disk.ts";
import { mkfsArgsFor } from "./mkfs_conf.ts";

/** What to make on a new volatile volume. */
interface VolatileSpec {
  /** Image format inside the volume. */
  format: "raw" | "qcow2";
  /** Filesystem to create ("" none, "swap" for swap space). */
  fs: string;
  /** The format word in the volume name (profile.volatileVolume): "swap", "raw" or "qcow2". */
  nameFormat: string;
  /** Extra mkfs arguments (FS_OPTS_<fs>). */
  fsArgs?: string[];
}

const FS_RE = /^[a-z0-9_-]{1,32}$/;

/**
 * Interpret mkimage's 2nd argument (or mkswap) for a disk. `raw`/`qcow2` take the FS from the
 * disk; `swap` and any other word (≤5.12 filesystem argument) mean that filesystem on raw.
 */
function volatileSpec(
  action: "mkimage" | "mkswap",
  arg: string,
  disk: DiskView,
): VolatileSpec {
  const swap: VolatileSpec = { format: "raw", fs: "swap", nameFormat: "swap" };
  if (action === "mkswap" || disk.type === "SWAP") return swap;
  const a = arg.trim().toLowerCase();
  if (a === "swap") return swap;
  if (a === "raw" || a === "qcow2" || a === "") {
    const format = a === "qcow2" ? "qcow2" : "raw";
    let fs = disk.fs.toLowerCase();
    if (fs === "raw" || fs === "none") fs = "";
    if (fs && !FS_RE.test(fs)) {
      throw new OneblkError("input", `VM disk ${disk.diskId} has an invalid FS '${disk.fs}'`);
    }
    return { format, fs, nameFormat: format };
  }
  if (!FS_RE.test(a)) throw new OneblkError("input", `invalid volatile disk format '${arg}'`);
  return { format: "raw", fs: a, nameFormat: "raw" };
}

/** Volume size for `sizeMiB` of guest-visible space in `format` (qcow2 needs its metadata). */
function volatileVolumeSize(sizeMiB: number, format: "raw" | "qcow2"): number {
  if (format === "raw") return sizeMiB;
  // L1/L2 tables and refcounts of 64 KiB clusters are < 0.05 % of the size; add headroom.
  return sizeMiB + Math.ceil(sizeMiB / 512) + 4;
}

/** Deadline for formatting a new volume on the host (mkfs, qemu-img, dd). */
const FORMAT_TIMEOUT_MS = 900_000;

/**
 * Make the content `spec` asks for on `device` of `host`. Scratch files (qcow2 only) live in
 * `scratchDir` on the host and are always removed.
 */
async function formatVolatile(
  ctx: ActionContext,
  host: string,
  device: string,
  spec: VolatileSpec,
  sizeMiB: number,
  scratchDir: string,
): Promise<void> {
  const opts = { timeoutMs: FORMAT_TIMEOUT_MS };
  if (spec.format === "raw") {
    if (spec.fs) {
      await mkfs(ctx.hosts, host, device, spec.fs, {
        ...opts,
        label: spec.fs === "swap" ? "swap" : undefined,
        extraArgs: spec.fsArgs,
      });
    }
    return;
  }
  const base = `${scratchDir}/.oneblk-mkimage-${uniqueId()}`;
  const raw = `${base}.raw`, q = `${base}.qcow2`;
  await mkdirp(ctx.hosts, host, scratchDir);
  try {
    await makeQcow2(
      ctx.hosts,
      host,
      { qcow2: q, raw, sizeMiB, fs: spec.fs, fsArgs: spec.fsArgs },
      opts,
    );
    // Written into the device: a block device (or the simulator's data file) keeps its size.
    await ctx.hosts.run(host, ddFileArgv(q, device), opts);
  } finally {
    await ctx.hosts.run(host, ["rm", "-f", "--", raw, q]).catch(() => {});
  }
}

/** The body of tm mkimage and tm mkswap. */
export async function makeVolatile(
  ctx: ActionContext,
  action: "mkimage" | "mkswap",
): Promise<void> {
  const a = parseTmArgs(action, ctx.args);
  const dst: HostPath = a.dst!;
  const size = a.size!;
  if (size <= 0) throw new OneblkError("input", `volatile disk size must be > 0 MB, got ${size}`);
  const { vm, ds } = await loadVmAndDs(ctx, a.vmId, a.dsId);
  const disk = diskOf(vm, dst);
  const spec = volatileSpec(action, a.format ?? "", disk);
  if (spec.fs) spec.fsArgs = await mkfsArgsFor(ctx.remotes, spec.fs);
  const p = ctx.profile;
  const volume = p.volatileVolume(vm.id, disk.diskId, spec.nameFormat);
  const backend = ctx.backend(ds);
  const placement = p.placement(ds.template, ds.id);
  const host = dst.host;
  const preferHost = placement.preferLocal ? host : undefined;
  const created = await backend.createVolume(volume, volatileVolumeSize(size, spec.format), {
    placement,
    props: p.diskProps(vm.id, disk.diskId, ds.id),
    preferHost,
  });
  if (!created) ctx.info(`${volume} exists already (repeated call): formatting it again`);
  await withUndo(
    ctx,
    async () => {
      const formatting = spec.fs !== "" || spec.format !== "raw";
      const device = formatting
        ? await attachReady(ctx, backend, volume, host)
        : (await backend.attach(volume, host), backend.devicePath(volume));
      if (formatting) await formatVolatile(ctx, host, device, spec, size, dst.vmDir);
      await link(ctx.hosts, host, device, dst.path);
    },
    async () => {
      await unlink(ctx.hosts, host, dst.path).catch(() => {});
      await detachAndDelete(backend, volume, host);
    },
  );
}

/**
 * VM state on the store, for add-ons that keep it there (profile.vmStateVolume; addon-storpool):
 * a UEFI VM's NVRAM and a VM's TPM state (docs/contract.md "VM state on the store").
 *
 * NVRAM: a VM asks for it with USER_TEMPLATE `T_OS_NVRAM="storpool:template=<file> [k=v…]"`
 * (addon-storpool's attribute; `<file>` relative to OVMF_PATH, default `$R/OVMF`). tm context,
 * which runs before every deploy and restore, creates the volume from the template file (sized
 * like it) and attaches it read-write on the host; once it exists it is only attached there.
 * It follows the VM directory (mv, the migrate steps), is part of every VM snapshot, and is
 * deleted with the VM directory. The domain's `<nvram>` must name its device on the host
 * (backend.devicePath; the deploy-tweaks rewrite the domain XML).
 *
 * TPM: a VM with TEMPLATE/TPM/MODEL (unless ONE_TPM_SAVE=0) gets its swtpm state directory
 * `DIR/tpm` saved as a gzip'd tar written to the start of the volume (4 MiB, grown when the tar
 * needs more; the rest zeroed) when it leaves a host (mv for stop, undeploy and cold migration,
 * premigrate) and before a VM snapshot; it is extracted back into DIR (replacing `DIR/tpm`) when
 * the VM arrives on a host (mv for resume and cold migration, also from a dead host) and after
 * a VM snapshot revert. The volume is attached only while it is read or written.
 *
 * OVMF_PATH and ONE_TPM_SAVE come from the environment, else from addon-storpoolrc, where the
 * add-on's operators set them (profile.setting).
 */
import { isAbsolute, join } from "../path.ts";
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import type { Profile, VmStateKind } from "../addons/types.ts";
import type { DatastoreView, VmView } from "../one/views.ts";
import { OneblkError } from "../errors.ts";
import { concatBytes } from "../bytes.ts";
import { checkPath, ddWriteArgv, exists, removeDir } from "../host/ops.ts";
import { attachReady, detachAndDelete, withAttached } from "./attach.ts";
import { withUndo } from "./undo.ts";

const MiB = 1024 * 1024;

/** Size of a new TPM state volume. */
const TPM_VOLUME_MIB = 4;

/** Deadline of the TPM state copies. */
const TPM_TIMEOUT_MS = 120_000;

/**
 * The NVRAM template file a VM asks to keep on the store (`T_OS_NVRAM` naming `storpool` as
 * the file), as an absolute path on the front-end, or null.
 */
export function nvramTemplate(
  ctx: Pick<ActionContext, "env" | "remotes" | "profile">,
  vm: VmView,
): string | null {
  const v = (vm.userTemplate.get("T_OS_NVRAM") || vm.template.get("T_OS_NVRAM")).trim();
  const colon = v.indexOf(":");
  if (colon < 0 || v.slice(0, colon).trim() !== "storpool") return null;
  const pairs = v.slice(colon + 1).trim().split(/\s+/).filter((p) => p.includes("="))
    .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] as const);
  const file = (pairs.find(([k]) => k === "template") ?? pairs[0])?.[1] ?? "";
  if (!file || file.includes("\0") || file.split("/").includes("..")) {
    throw new OneblkError(
      "input",
      `VM ${vm.id}: T_OS_NVRAM ${JSON.stringify(v)} names no usable template file`,
    );
  }
  if (isAbsolute(file)) return file;
  const dir = ctx.profile.setting(ctx.env, "OVMF_PATH")?.value ?? join(ctx.remotes, "OVMF");
  return join(dir, file);
}

/** True when the VM's TPM state is kept on the store (TEMPLATE/TPM/MODEL, ONE_TPM_SAVE≠0). */
export function tpmOnStore(
  ctx: Pick<ActionContext, "env">,
  profile: Profile,
  vm: VmView,
): boolean {
  if (profile.vmStateVolume(vm.id, "tpm") === null) return false;
  if (profile.setting(ctx.env, "ONE_TPM_SAVE")?.value === "0") return false;
  return (vm.template.vector("TPM")?.get("MODEL") ?? "") !== "";
}

/**
 * tm context's part: make sure the NVRAM volume exists (filled from its template file) and is
 * attached read-write on `host`. Nothing for VMs that do not ask for it.
 */
export async function ensureNvram(
  ctx: ActionContext,
  vm: VmView,
  ds: DatastoreView,
  host: string,
): Promise<void> {
  const volume = ctx.profile.vmStateVolume(vm.id, "nvram");
  const template = volume === null ? null : nvramTemplate(ctx, vm);
  if (volume === null || template === null) return;
  const backend = ctx.backend(ds);
  if (await backend.getVolume(volume)) {
    await backend.attach(volume, host);
    return;
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(template);
  } catch (e) {
    throw new OneblkError(
      "config",
      `VM ${vm.id}: cannot read the NVRAM template ${template}: ${(e as Error).message}`,
    );
  }
  const created = await backend.createVolume(volume, Math.max(1, Math.ceil(bytes.length / MiB)), {
    placement: ctx.profile.placement(ds.template, ds.id),
    props: ctx.profile.vmStateProps(vm.id, "nvram"),
  });
  await withUndo(
    ctx,
    async () => {
      const dev = await attachReady(ctx, backend, volume, host);
      await ctx.hosts.run(host, ddWriteArgv(dev, { sparse: false }), {
        stdin: bytes,
        timeoutMs: TPM_TIMEOUT_MS,
      });
      ctx.info(`NVRAM of VM ${vm.id} on ${volume} from ${template}`);
    },
    async () => {
      if (created) await detachAndDelete(backend, volume, host);
    },
  );
}

/** Read a whole stream (small: a TPM state tar). */
async function collect(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > max) throw new OneblkError("host", `TPM state is larger than ${max} bytes`);
    parts.push(c);
  }
  return concatBytes(parts);
}

/**
 * Save `dir/tpm` of `host` to the VM's TPM state volume (created when missing). A VM directory
 * without `tpm` is reported and nothing is written (an older save stays).
 */
export async function saveTpm(
  ctx: ActionContext,
  profile: Profile,
  backend: Backend,
  ds: DatastoreView,
  vmId: number,
  host: string,
  dir: string,
): Promise<void> {
  const volume = profile.vmStateVolume(vmId, "tpm");
  if (volume === null) return;
  const tpmDir = `${checkPath(dir, "VM directory").replace(/\/+$/, "")}/tpm`;
  if (!(await exists(ctx.hosts, host, tpmDir))) {
    ctx.info(`VM ${vmId} has no ${tpmDir} on ${host}: TPM state not saved`);
    return;
  }
  const tar = ctx.hosts.stream(host, ["tar", "czf", "-", "-C", dir, "tpm"], {
    timeoutMs: TPM_TIMEOUT_MS,
  });
  const [bytes] = await Promise.all([collect(tar.stdout, 256 * MiB), tar.done]);
  const sizeMiB = Math.max(TPM_VOLUME_MIB, Math.ceil(bytes.length / MiB));
  const info = await backend.getVolume(volume);
  if (!info) {
    await backend.createVolume(volume, sizeMiB, {
      placement: profile.placement(ds.template, ds.id),
      props: profile.vmStateProps(vmId, "tpm"),
    });
  } else if (info.sizeMiB < sizeMiB) await backend.resizeVolume(volume, sizeMiB);
  const size = Math.max(sizeMiB, info?.sizeMiB ?? 0) * MiB;
  // The whole volume is written: zeros after the tar, so no older, longer tar trails it.
  const image = new Uint8Array(size);
  image.set(bytes);
  await withAttached(ctx, backend, volume, host, async (dev) => {
    await ctx.hosts.run(host, ddWriteArgv(dev, { sparse: false }), {
      stdin: image,
      timeoutMs: TPM_TIMEOUT_MS,
    });
  });
  ctx.info(`TPM state of VM ${vmId} saved from ${host}:${tpmDir} to ${volume}`);
}

/**
 * Put the TPM state saved on the volume back into `dir/tpm` on `host` (replacing it). Nothing
 * when the VM has no saved state.
 */
export async function restoreTpm(
  ctx: ActionContext,
  profile: Profile,
  backend: Backend,
  vmId: number,
  host: string,
  dir: string,
): Promise<void> {
  const volume = profile.vmStateVolume(vmId, "tpm");
  if (volume === null || !(await backend.getVolume(volume))) return;
  const d = checkPath(dir, "VM directory").replace(/\/+$/, "");
  await withAttached(ctx, backend, volume, host, async (dev) => {
    await removeDir(ctx.hosts, host, `${d}/tpm`, [d]);
    await ctx.hosts.run(host, ["tar", "xzf", dev, "-C", d], { timeoutMs: TPM_TIMEOUT_MS });
  }, { readOnly: true });
  ctx.info(`TPM state of VM ${vmId} restored from ${volume} to ${host}:${d}/tpm`);
}

/** The state volumes of VM `vmId` under `profile` (whether they exist or not), in `kinds` order. */
export function stateVolumeNames(
  profile: Profile,
  vmId: number,
  kinds: readonly VmStateKind[] = ["nvram", "tpm"],
): { kind: VmStateKind; volume: string }[] {
  return kinds.flatMap((kind) => {
    const volume = profile.vmStateVolume(vmId, kind);
    return volume === null ? [] : [{ kind, volume }];
  });
}

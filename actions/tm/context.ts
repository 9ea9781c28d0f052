/**
 * tm context `file… host:DIR/disk.N vmid dsid` (docs/contract.md "tm context"): the context ISO
 * of the file arguments (lib/domain/context_iso.ts, written by oneblk itself and streamed to
 * the host), at `DIR/disk.N` on the host.
 *
 * Profiles whose `contextVolume(vm, disk)` names a volume keep the ISO on the store (StorPool:
 * lib/addons/storpool.ts): the volume is created or overwritten, attached on the host, and
 * DIR/disk.N becomes a link to its device; tm delete of the VM directory deletes it, mv and the
 * migrate steps move its attachment with the directory. The other profiles keep a plain file,
 * like tm/ssh/context: written next to DIR/disk.N and renamed over it, so the ISO appears
 * atomically and an old link there is replaced, never written through.
 *
 * Profiles that keep VM state on the store (StorPool) also get the VM's UEFI NVRAM volume ready
 * here, before the deploy or restore that follows: created from its template file, or attached
 * on the host when it exists (lib/domain/vm_state.ts).
 */
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { checkPath, putFile } from "../../lib/host/ops.ts";
import { isoToVolume, sendIso, withContextIso } from "../../lib/domain/context_iso.ts";
import { ensureNvram, nvramTemplate } from "../../lib/domain/vm_state.ts";
import { isKind } from "../../lib/errors.ts";

/** Run tm context. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs("context", ctx.args);
  const dst = a.dst!;
  const path = checkPath(dst.path, "context ISO path");
  const volume = dst.diskId === null ? null : ctx.profile.contextVolume(a.vmId, dst.diskId);
  await withContextIso(a.files!, (l) => ctx.info(l), async (iso) => {
    if (volume) return await isoToVolume(ctx, volume, iso, dst, a.vmId, a.dsId);
    await sendIso(
      iso,
      (data) => putFile(ctx.hosts, dst.host, path, data, { timeoutMs: 300_000, size: iso.size }),
    );
  });
  if (ctx.profile.vmStateVolume(a.vmId, "nvram") === null) return;
  const one = await ctx.one();
  let vm;
  try {
    vm = await one.vmInfo(a.vmId);
  } catch (e) {
    if (!isKind(e, "not_found")) throw e;
    ctx.info(`VM ${a.vmId} is unknown to oned: its NVRAM is not looked for`);
    return;
  }
  if (nvramTemplate(ctx, vm) === null) return;
  await ensureNvram(ctx, vm, await one.datastoreInfo(a.dsId), dst.host);
}

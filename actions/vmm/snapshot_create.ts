/**
 * VMM override snapshotcreate (file names per add-on: lib/addons/): `deploy_id snap_id vmid
 * host`, stdin base64 VMM_DRIVER_ACTION_DATA; prints the hypervisor snapshot id
 * (docs/contract.md "vmm VM snapshots").
 *
 * 1. The VM's writable disks and their stores (lib/domain/vm_snapshot.ts); none of ours → the
 *    host's stock snapshot_create.
 * 2. VMSNAPSHOT_LIMIT (VM USER_TEMPLATE > system DS > env > add-on rc): refused, nothing
 *    created, when the VM already has that many VM snapshots besides this one.
 * 3. One atomic `createSnapshots` per store over all the VM's volumes (normally one store: one
 *    call). With VMSNAPSHOT_FSFREEZE=YES (VM template > system DS > env > add-on rc) the guest's
 *    filesystems are frozen around it (thaw guaranteed; without a guest agent the snapshot is
 *    crash-consistent and the log says so).
 * 4. Any failure (a store refusing, a second store failing, a failed thaw) deletes every
 *    snapshot this call may have made: nothing half-made is left.
 * 5. stdout: `ONESNAP-<snap_id>-<unix ts>`.
 *
 * VM state on the store (StorPool, lib/domain/vm_state.ts): the TPM state is saved to its
 * volume first, then the NVRAM and TPM state volumes are snapshotted with the disks. With
 * USER_TEMPLATE VMSNAPSHOT_WITH_CHECKPOINT the memory goes in too: the domain is saved (`virsh
 * save`, the guest stops) to the profile's memory volume, everything is snapshotted at once, and
 * the domain is restored from the volume. If the domain cannot be restored, the error says how
 * to restore it from the volume.
 */
import type { ActionContext } from "../../lib/context.ts";
import { errorLine, OneblkError } from "../../lib/errors.ts";
import { snapshotLimit } from "../../lib/domain/snapshot_limit.ts";
import {
  domainExists,
  restoreDomain,
  saveDomain,
  withGuestFrozen,
} from "../../lib/domain/libvirt.ts";
import {
  byBackend,
  delegateVmSnap,
  hypervisorId,
  loadVmSnapCall,
  stateVolumes,
  stockOnly,
  type VmSnapCall,
  vmSnapshots,
  withMemory,
} from "../../lib/domain/vm_snapshot.ts";
import { saveTpm, tpmOnStore } from "../../lib/domain/vm_state.ts";
import { checkpointSizeMiB } from "../../lib/domain/checkpoint.ts";
import { attachReady } from "../../lib/domain/attach.ts";

/** Run the snapshotcreate override. */
export async function run(ctx: ActionContext): Promise<void> {
  const call = await loadVmSnapCall(ctx, "create");
  if (stockOnly(call)) {
    const out = await delegateVmSnap(ctx, call, "create");
    const id = out.trim().split("\n").pop() ?? "";
    if (id) ctx.out(id);
    return;
  }
  const { vm, sysDs } = call;
  const limit = await snapshotLimit(
    "VMSNAPSHOT_LIMIT",
    sysDs ? [vm.userTemplate, sysDs.template] : [vm.userTemplate],
    (n) => ctx.profile.setting(ctx.env, n),
  );
  if (limit) {
    const others = vmSnapshots(vm).filter((s) => s.id !== call.snapId).length;
    if (others >= limit.value) {
      throw new OneblkError(
        "input",
        `VM ${vm.id} has ${others} VM snapshots: VMSNAPSHOT_LIMIT is ${limit.value} ` +
          `(${limit.from}); delete a VM snapshot first`,
      );
    }
  }
  const st = call.state;
  if (st && tpmOnStore(ctx, st.profile, vm)) {
    await saveTpm(ctx, st.profile, st.backend, st.ds, vm.id, call.host, st.dir);
  }
  const memory = withMemory(call) ? (await stateVolumes(call, ["memory"], true))[0] : undefined;
  const members = [...call.volumes, ...await stateVolumes(call, ["nvram", "tpm"])];
  if (memory) members.push(memory);
  const ts = Math.floor(Date.now() / 1000);
  const items = members.map((v) => ({
    v,
    snapshot: v.profile.vmSnapshotName(v.volume, call.snapId, ts),
  }));
  const groups = [...byBackend(items)];
  const tried: typeof items = [];
  const take = async () => {
    for (const [backend, list] of groups) {
      tried.push(...list);
      await backend.createSnapshots(
        list.map((i) => ({ volume: i.v.volume, snapshot: i.snapshot })),
      );
    }
  };
  try {
    if (memory) await withSavedMemory(ctx, call, memory.volume, take);
    else if (freezeWanted(ctx, call)) await frozen(ctx, call.host, call.deployId, take);
    else await take();
  } catch (e) {
    for (const i of tried) {
      await i.v.backend.deleteSnapshot(i.v.volume, i.snapshot).catch((d) =>
        ctx.info(`cleanup: snapshot ${i.snapshot} not deleted: ${errorLine(d)}`)
      );
    }
    throw e;
  }
  ctx.out(hypervisorId(call.snapId, ts));
}

/**
 * Run `fn` (the snapshots) while the domain's memory is saved on `volume`: create it when
 * missing (it stays between VM snapshots: it shares its blocks with its latest snapshot, and
 * tm delete of the VM directory deletes it), attach it, `virsh save` into it, `fn`, `virsh
 * restore` from it (tried three times), detach it.
 */
async function withSavedMemory(
  ctx: ActionContext,
  call: VmSnapCall,
  volume: string,
  fn: () => Promise<void>,
): Promise<void> {
  const st = call.state!;
  const memoryMb = Number(call.vm.template.get("MEMORY"));
  if (!Number.isFinite(memoryMb) || memoryMb <= 0) {
    throw new OneblkError("input", `VM ${call.vmId} has no valid TEMPLATE/MEMORY`);
  }
  const { backend } = st;
  const size = checkpointSizeMiB(memoryMb);
  const existing = await backend.getVolume(volume);
  if (!existing) {
    await backend.createVolume(volume, size, {
      placement: st.profile.placement(st.ds.template, st.ds.id),
      props: st.profile.vmStateProps(call.vmId, "memory"),
    });
  } else if (existing.sizeMiB < size) await backend.resizeVolume(volume, size);
  const dev = await attachReady(ctx, backend, volume, call.host);
  const detach = () =>
    backend.detach(volume, call.host).catch((e) =>
      ctx.info(`memory volume ${volume} not detached from ${call.host}: ${errorLine(e)}`)
    );
  try {
    await saveDomain(ctx, call.host, call.deployId, dev);
  } catch (e) {
    await detach();
    throw e;
  }
  ctx.info(`memory of ${call.deployId} saved on ${volume}; taking the snapshots`);
  let failure: unknown;
  try {
    await fn();
  } catch (e) {
    failure = e;
  }
  let restored: unknown = "no attempt";
  for (let i = 0; i < 3 && restored !== undefined; i++) {
    try {
      await restoreDomain(ctx, call.host, dev);
      restored = undefined;
    } catch (e) {
      restored = e;
    }
  }
  if (restored !== undefined) {
    throw new OneblkError(
      "host",
      `${call.deployId} could not be restored after its VM snapshot (${errorLine(restored)}); ` +
        `its memory is on ${volume}: restore it with virsh restore ${dev} on ${call.host}`,
    );
  }
  await detach();
  if (failure !== undefined) throw failure;
}

/** VMSNAPSHOT_FSFREEZE from the VM template, USER_TEMPLATE, system DS, then env / add-on rc. */
function freezeWanted(ctx: ActionContext, call: VmSnapCall): boolean {
  const v = call.vm.template.get("VMSNAPSHOT_FSFREEZE") ||
    call.vm.userTemplate.get("VMSNAPSHOT_FSFREEZE") ||
    call.sysDs?.template.get("VMSNAPSHOT_FSFREEZE") ||
    ctx.profile.setting(ctx.env, "VMSNAPSHOT_FSFREEZE")?.value || "";
  return /^(yes|1|true|on)$/i.test(v.trim());
}

/** Run `fn` with the guest's filesystems frozen when the domain runs (best effort). */
async function frozen(
  ctx: ActionContext,
  host: string,
  deployId: string,
  fn: () => Promise<void>,
): Promise<void> {
  if (!(await domainExists(ctx, host, deployId))) {
    ctx.info(`${deployId} does not run on ${host}: nothing to freeze`);
    return await fn();
  }
  await withGuestFrozen(
    ctx,
    host,
    deployId,
    async (ok) => {
      if (!ok) {
        ctx.info(
          `guest filesystems of ${deployId} not frozen (no guest agent?): ` +
            `the VM snapshot is crash-consistent`,
        );
      }
      await fn();
    },
    { optional: true },
  );
}

/**
 * Checkpoints on the store (the VMM save/restore overrides; docs/contract.md "vmm save and
 * restore"): which profile serves the VM, the store of its system datastore, the checkpoint
 * volume and the argv/message prologue save and restore share.
 *
 * The profile comes from the message's system DATASTORE/TM_MAD, not from the override's file
 * name: oned takes a single `save=`/`restore=` override, so `tmsave` must also serve linstor_un
 * VMs and `save_linstor_un` StorPool VMs. A TM_MAD that is not ours goes to the host's stock
 * `$RR/vmm/kvm/<action>` with the DECODED message on stdin (the add-ons pipe the base64 text,
 * which hides TM_MAD from the stock script's save.<tm>/restore.<tm> hooks).
 */
import type { ActionContext } from "../context.ts";
import type { Backend, VolumeInfo } from "../backend/types.ts";
import type { Placement } from "../backend/index.ts";
import type { Profile } from "../addons/types.ts";
import { isDriver, profileFor } from "../addons/index.ts";
import { type DatastoreView, parseVmmAction, type VmmActionView } from "../one/views.ts";
import { parseId, readVmmStdin, validateHost } from "../one/args.ts";
import { checkPath } from "../host/ops.ts";
import { OneblkError } from "../errors.ts";
import { checkDomain, domainState } from "./libvirt.ts";
import { delegateToStock } from "./stock.ts";
import { ownershipProps } from "./vm_props.ts";

/** The store serving a VM's checkpoint. */
export interface CheckpointStore {
  profile: Profile;
  ds: DatastoreView;
  backend: Backend;
  /** Placement of the checkpoint volume. */
  placement: Placement;
  /** Release a backend opened here (not the context's own). */
  close(): Promise<void>;
}

/**
 * The checkpoint store for a VMM message, or null when its system datastore is not served by
 * oneblk (or the message names none): then the stock action must run.
 */
export function checkpointStore(ctx: ActionContext, view: VmmActionView): CheckpointStore | null {
  const ds = view.datastore;
  const tm = ds?.tmMad ?? "";
  if (!ds || !isDriver(tm)) return null;
  const profile = tm === ctx.profile.name ? ctx.profile : profileFor(tm, ctx.env);
  const backend = ctx.backend(ds, profile);
  const close = () => Promise.resolve();
  const placement = profile.placement(ds.template, ds.id);
  const replicas = placement.checkpointReplicas;
  return {
    profile,
    ds,
    backend,
    placement: replicas ? { ...placement, replicas } : placement,
    close,
  };
}

/** The arguments of a save or restore override (their order differs between the two). */
export interface CheckpointArgs {
  deployId: string;
  checkpointFile: string;
  host: string;
  vmId: string;
}

/** A checked save/restore call whose system datastore oneblk serves. */
export interface CheckpointCall {
  deployId: string;
  /** The checkpoint file path (checked). */
  ckpt: string;
  host: string;
  vmId: number;
  /** The decoded driver message. */
  xml: string;
  view: VmmActionView;
  store: CheckpointStore;
}

/**
 * The prologue of save and restore: check host and VM id, read and parse the driver message,
 * find the checkpoint store (none → the host's stock `action` runs instead and `body` does
 * not), check deploy id, checkpoint path and that the message is about this VM, then run
 * `body`; the store is closed afterwards whatever happens.
 */
export async function withCheckpointCall(
  ctx: ActionContext,
  action: "save" | "restore",
  args: CheckpointArgs,
  body: (ctx: ActionContext, call: CheckpointCall) => Promise<void>,
): Promise<void> {
  const host = validateHost(args.host);
  const vmId = parseId(args.vmId, "vmid");
  const xml = await readVmmStdin(() => ctx.stdin());
  const view = await parseVmmAction(xml);
  const store = checkpointStore(ctx, view);
  if (!store) return void (await delegateToStock(ctx, action, host, xml));
  try {
    const deployId = checkDomain(args.deployId);
    const ckpt = checkPath(args.checkpointFile, "checkpoint file");
    if (view.vm.id !== vmId) {
      throw new OneblkError("input", `the message is about VM ${view.vm.id}, not VM ${vmId}`);
    }
    await body(ctx, { deployId, ckpt, host, vmId, xml, view, store });
  } finally {
    await store.close();
  }
}

/** What save and restore look at first: the checkpoint volume and whether the domain runs. */
export interface CheckpointState {
  /** `profile.checkpointVolume(vm)`. */
  volume: string;
  existing: VolumeInfo | null;
  /** The domain exists on the host (running, paused or pm-suspended). */
  running: boolean;
  /** Its `virsh domstate` ("running", "pmsuspended", …), null when there is none. */
  state: string | null;
}

/** Look up the call's checkpoint volume and the domain's state on the host (in parallel). */
export async function checkpointState(
  ctx: ActionContext,
  { deployId, host, vmId, store }: CheckpointCall,
): Promise<CheckpointState> {
  const volume = store.profile.checkpointVolume(vmId);
  const [existing, state] = await Promise.all([
    store.backend.getVolume(volume),
    domainState(ctx, host, deployId),
  ]);
  return { volume, existing, running: state !== null && state !== "shut off", state };
}

/** Checkpoint volume size (MiB) for a VM with `memoryMb` of memory: ×1.1 plus 256 MiB. */
export function checkpointSizeMiB(memoryMb: number): number {
  return Math.ceil(memoryMb * 1.1) + 256;
}

/**
 * Metadata of a checkpoint volume: only the ownership keys (vm_props.ts), so monitoring does not
 * count it as a disk of the VM.
 */
export function checkpointProps(store: CheckpointStore, vmId: number): Record<string, string> {
  return ownershipProps(store.profile, vmId, store.ds.id);
}

/**
 * VM snapshots on the store (the VMM overrides snapshotcreate / snapshotrevert /
 * snapshotdelete, file names per add-on in lib/addons/; docs/contract.md "vmm VM snapshots"):
 * argv `deploy_id snap_id vmid host`, stdin base64 VMM_DRIVER_ACTION_DATA.
 *
 * A VM snapshot is one store snapshot per writable VM disk, named
 * `profile.vmSnapshotName(volume, snap_id, ts)` with the profile of the disk's TM_MAD (the
 * override's file name does not matter: any of them serves VMs of every oneblk driver). The
 * hypervisor snapshot id oned stores (TEMPLATE/SNAPSHOT/HYPERVISOR_ID) is `ONESNAP-<snap_id>-<ts>`
 * for every profile (addon-storpool's form), so revert and delete find the names again.
 *
 * CDROM and READONLY disks are left out (they cannot change). A VM with no disk of ours goes to
 * the host's stock `$RR/vmm/kvm/snapshot_*` (libvirt snapshots) with the decoded message; a VM
 * mixing our disks with writable disks of another TM_MAD is refused (the snapshot could not be
 * consistent).
 *
 * When the system datastore's add-on keeps VM state on the store (StorPool: vm_state.ts), the
 * VM's NVRAM and TPM state volumes are part of the snapshot too (`callState`, named like the
 * disks' snapshots), and with USER_TEMPLATE VMSNAPSHOT_WITH_CHECKPOINT the domain's memory
 * (the profile's memory volume; its snapshot is what stays).
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import type { Profile, VmStateKind } from "../addons/types.ts";
import { isDriver, profileFor } from "../addons/index.ts";
import { normPath, parseId, readVmmStdin, validateHost } from "../one/args.ts";
import {
  type DatastoreView,
  type DiskView,
  parseVmmAction,
  type VmmActionView,
  type VmView,
} from "../one/views.ts";
import { OneblkError } from "../errors.ts";
import { readOnlyDisk } from "./vm_disk.ts";
import { delegateToStock } from "./stock.ts";
import { stateVolumeNames } from "./vm_state.ts";

/** One volume of the VM on our storage: a disk, or VM state (NVRAM, TPM state, memory). */
export interface VmSnapVolume {
  /** The disk, or undefined for a state volume. */
  disk?: DiskView;
  /** For messages: "disk 2", "NVRAM", … */
  label: string;
  profile: Profile;
  backend: Backend;
  volume: string;
}

/** The system datastore's store, when its add-on keeps VM state on the store. */
export interface VmStateStore {
  profile: Profile;
  backend: Backend;
  ds: DatastoreView;
  /** The VM directory `<BASE_PATH>/<vmid>` on the host. */
  dir: string;
}

const STATE_LABEL: Readonly<Record<VmStateKind, string>> = {
  nvram: "NVRAM",
  tpm: "TPM state",
  memory: "memory",
};

/** A parsed snapshot* call. */
export interface VmSnapCall {
  deployId: string;
  /** oned's snapshot id (-1 when the HYPERVISOR_ID names no snapshot of this VM). */
  snapId: number;
  /** HYPERVISOR_ID of the snapshot ("" for create, which makes a new one). */
  hvId: string;
  vmId: number;
  host: string;
  /** The decoded message (for the stock script). */
  xml: string;
  view: VmmActionView;
  vm: VmView;
  /** The message's (system) datastore, if any. */
  sysDs: DatastoreView | undefined;
  /** Writable disks on our drivers. */
  volumes: VmSnapVolume[];
  /** Writable disks on other TM_MADs. */
  foreign: DiskView[];
  /** The store of the VM's state volumes, or null. */
  state: VmStateStore | null;
}

/** Hypervisor snapshot id of VM snapshot `snapId` taken at unix time `ts`. */
export function hypervisorId(snapId: number, ts: number): string {
  return `ONESNAP-${snapId}-${ts}`;
}

/** `{snapId, ts}` of a hypervisor id of ours, or null for any other id. */
export function parseHypervisorId(id: string): { snapId: number; ts: number } | null {
  const m = /^ONESNAP-(\d+)-(\d+)$/.exec(id.trim());
  return m ? { snapId: Number(m[1]), ts: Number(m[2]) } : null;
}

/** The VM's TEMPLATE/SNAPSHOT records (VM snapshots). */
export function vmSnapshots(vm: VmView): { id: number; hypervisorId: string }[] {
  return vm.template.vectors("SNAPSHOT").map((s) => ({
    id: /^\d+$/.test(s.get("SNAPSHOT_ID")) ? Number(s.get("SNAPSHOT_ID")) : -1,
    hypervisorId: s.get("HYPERVISOR_ID"),
  }));
}

/** Parse the call, the message and the VM's disks with their profiles and stores. */
export async function loadVmSnapCall(
  ctx: ActionContext,
  kind: "create" | "revert" | "delete",
): Promise<VmSnapCall> {
  // oned (one_vmm_exec.rb) passes `deploy_id snap_id` to create, but `deploy_id
  // HYPERVISOR_ID` (of the ACTIVE snapshot) to revert and delete.
  const [deployId, snapArg, vmArg, hostArg] = ctx.args;
  const numeric = /^\d+$/.test(snapArg ?? "");
  if (kind === "create" || numeric) parseId(snapArg, "snap_id");
  else if (!/^[A-Za-z0-9_.:@-]+$/.test(snapArg ?? "")) {
    throw new OneblkError("input", `snapshot ${kind} needs the snapshot's HYPERVISOR_ID`);
  }
  const vmId = parseId(vmArg, "vmid");
  const host = validateHost(hostArg);
  const xml = await readVmmStdin(() => ctx.stdin());
  const view = await parseVmmAction(xml);
  const vm = view.vm;
  if (vm.id !== vmId) {
    throw new OneblkError("input", `the message is about VM ${vm.id}, not VM ${vmId}`);
  }
  const sysDs = view.datastore;
  const sysDsId = sysDs?.id ?? vm.history?.dsId ?? -1;
  const writable = vm.disks.filter((d) => !readOnlyDisk(d));
  const mine = writable.filter((d) => isDriver(d.tmMad));
  const foreign = writable.filter((d) => !isDriver(d.tmMad));
  const dss = new Map<number, Promise<DatastoreView>>();
  if (sysDs) dss.set(sysDs.id, Promise.resolve(sysDs));
  const dsOf = async (id: number): Promise<DatastoreView> => {
    let p = dss.get(id);
    if (!p) {
      p = ctx.one().then((one) => one.datastoreInfo(id));
      dss.set(id, p);
    }
    return await p;
  };
  const volumes = await Promise.all(mine.map(async (disk) => {
    const profile = disk.tmMad === ctx.profile.name ? ctx.profile : profileFor(disk.tmMad, ctx.env);
    const dsId = disk.datastoreId >= 0 ? disk.datastoreId : sysDsId;
    if (dsId < 0) {
      throw new OneblkError("input", `disk ${disk.diskId} of VM ${vm.id} names no datastore`);
    }
    const ds = await dsOf(dsId);
    return {
      disk,
      label: `disk ${disk.diskId}`,
      profile,
      backend: ctx.backend(ds, profile),
      volume: profile.diskVolume(vm.id, disk),
    };
  }));
  let state: VmStateStore | null = null;
  const sysTm = sysDs?.tmMad ?? vm.history?.tmMad ?? "";
  if (sysDsId >= 0 && isDriver(sysTm)) {
    const profile = sysTm === ctx.profile.name ? ctx.profile : profileFor(sysTm, ctx.env);
    if (profile.vmStateVolume(vm.id, "nvram") !== null) {
      const ds = await dsOf(sysDsId);
      state = {
        profile,
        backend: ctx.backend(ds, profile),
        ds,
        dir: `${normPath(ds.basePath)}/${vm.id}`,
      };
    }
  }
  let snapId: number;
  let hvId = "";
  if (kind === "create") snapId = Number(snapArg);
  else if (numeric) {
    snapId = Number(snapArg);
    hvId = vmSnapshots(vm).find((s) => s.id === snapId)?.hypervisorId ?? "";
  } else {
    hvId = snapArg;
    snapId = vmSnapshots(vm).find((s) => s.hypervisorId === hvId)?.id ??
      parseHypervisorId(hvId)?.snapId ?? -1;
  }
  return { deployId, snapId, hvId, vmId, host, xml, view, vm, sysDs, volumes, foreign, state };
}

/**
 * True when the VM has none of our disks (the stock script must serve it). With `strict`, a VM
 * mixing our disks with writable disks of other TM_MADs is refused.
 */
export function stockOnly(call: VmSnapCall, strict = true): boolean {
  if (!call.volumes.length) return true;
  if (strict && call.foreign.length) {
    const d = call.foreign[0];
    throw new OneblkError(
      "input",
      `disk ${d.diskId} of VM ${call.vmId} uses TM_MAD ${d.tmMad || "(none)"}, not a oneblk ` +
        `driver: a VM snapshot needs every writable disk on oneblk storage`,
    );
  }
  return false;
}

/**
 * Run the host's stock `snapshot_<action>` for a VM with no disk on oneblk storage (see
 * stockOnly); returns its stdout.
 */
export function delegateVmSnap(
  ctx: ActionContext,
  call: VmSnapCall,
  action: "create" | "revert" | "delete",
): Promise<string> {
  return delegateToStock(
    ctx,
    `snapshot_${action}`,
    call.host,
    call.xml,
    `VM ${call.vmId} has no disk on oneblk storage`,
  );
}

/**
 * The VM's state volumes of `kinds` as snapshot members: those that exist, or with `all` every
 * name the profile gives (a memory volume only exists while its snapshot is taken).
 */
export async function stateVolumes(
  call: VmSnapCall,
  kinds: readonly VmStateKind[],
  all = false,
): Promise<VmSnapVolume[]> {
  const st = call.state;
  if (!st) return [];
  const named = stateVolumeNames(st.profile, call.vmId, kinds);
  // (looked up side by side)
  const found = all ? [] : await Promise.all(named.map((n) => st.backend.getVolume(n.volume)));
  return named.filter((_, i) => all || found[i] !== null).map(({ kind, volume }) => ({
    label: STATE_LABEL[kind],
    profile: st.profile,
    backend: st.backend,
    volume,
  }));
}

/**
 * The snapshot name of each of `volumes` (default: the call's disks) for hypervisor id `hvId`
 * of snapshot `snapId`, or null when the id is not ours.
 */
export function namesFor(
  call: VmSnapCall,
  hvId: string,
  volumes: VmSnapVolume[] = call.volumes,
): { v: VmSnapVolume; snapshot: string }[] | null {
  const p = parseHypervisorId(hvId);
  if (!p || p.snapId !== call.snapId) return null;
  return volumes.map((v) => ({
    v,
    snapshot: v.profile.vmSnapshotName(v.volume, p.snapId, p.ts),
  }));
}

/** USER_TEMPLATE VMSNAPSHOT_WITH_CHECKPOINT: VM snapshots keep the domain's memory too. */
export function withMemory(call: VmSnapCall): boolean {
  if (!call.state || call.state.profile.vmStateVolume(call.vmId, "memory") === null) return false;
  const v = call.vm.userTemplate.get("VMSNAPSHOT_WITH_CHECKPOINT") ||
    call.vm.template.get("VMSNAPSHOT_WITH_CHECKPOINT");
  return /^(yes|1|true|on|y|t)$/i.test(v.trim());
}

/** HYPERVISOR_ID of the call's snapshot ("" when unknown). */
export function hypervisorIdOf(call: VmSnapCall): string {
  return call.hvId;
}

/** Group volumes by store (one atomic call per store). */
export function byBackend<T extends { v: VmSnapVolume }>(items: T[]): Map<Backend, T[]> {
  const out = new Map<Backend, T[]>();
  for (const it of items) {
    const list = out.get(it.v.backend) ?? [];
    list.push(it);
    out.set(it.v.backend, list);
  }
  return out;
}

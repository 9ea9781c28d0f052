/**
 * Operations on the storage of a living VM in the scripted oned: disk snapshots (create, revert,
 * delete), disk resize and save-as, and VM snapshots through the profile's VMM overrides.
 */
import { OneblkError } from "../../../../lib/errors.ts";
import {
  type DriverCall,
  IMAGE_STATE,
  type ImageModel,
  OnedFailure,
  type VmDiskModel,
  type VmModel,
  type VmSnapshotModel,
} from "./models.ts";
import { OnedVms } from "./vms.ts";
import { hostArg, tmVerb } from "./transfer_lines.ts";

const LIVE_SNAPSHOT_LCM = 57;

/** Disk snapshots, resize, save-as, VM snapshots and backups of a VM. */
export abstract class OnedVmStorage extends OnedVms {
  #snap(vm: VmModel, diskId: number): VmDiskModel {
    const d = vm.disks.find((x) => x.diskId === diskId);
    if (!d) throw new OneblkError("input", `VM ${vm.id} has no disk ${diskId}`);
    return d;
  }

  #diskArg(vm: VmModel, d: VmDiskModel): string {
    return hostArg(this.hostOf(vm), `${this.vmDir(vm)}/disk.${d.diskId}`);
  }

  /**
   * `onevm disk-snapshot-create`: RUNNING → VMM DISKSNAPSHOTCREATE → TM snap_create_live
   * (when live disk snapshots are enabled); POWEROFF → TRANSFER SNAP_CREATE. Returns the id.
   */
  async diskSnapshotCreate(vmId: number, diskId: number, name?: string): Promise<number> {
    const op = "diskSnapshotCreate";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    const running = vm.state === 3 && vm.lcmState === 3;
    if (running && this.opts.liveDiskSnapshots === false) {
      throw new OnedFailure(`${op}: Cannot perform a live DISKSNAPSHOTCREATE operation`);
    }
    if (!running && vm.state !== 8) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING/POWEROFF`);
    }
    const snapId = d.nextSnapshot;
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.setVmState(vm, vm.state, running ? LIVE_SNAPSHOT_LCM : 51);
    const line = `${tmVerb(running ? "SNAP_CREATE_LIVE" : "SNAP_CREATE", d)} ${d.tmMad} ` +
      `${this.#diskArg(vm, d)} ${snapId} ${vm.id} ${d.dsId}`;
    try {
      if (running) {
        const call = await this.tmLine(op, line);
        if (!call.ok) this.fail(op, "SNAP_CREATE_LIVE", call);
      } else await this.transfer(op, vm, "disk_snapshot", [line]);
    } finally {
      this.setVmState(vm, prev.state, prev.lcm);
    }
    d.nextSnapshot++;
    d.snapshots.push({
      id: snapId,
      name: name ?? `snap-${snapId}`,
      size: d.sizeMb,
      parent: -1,
      date: Math.floor(Date.now() / 1000),
    });
    this.putVm(vm);
    return snapId;
  }

  /** `onevm disk-snapshot-revert` (POWEROFF only): TRANSFER SNAP_REVERT; it becomes ACTIVE. */
  async diskSnapshotRevert(vmId: number, diskId: number, snapId: number): Promise<void> {
    const op = "diskSnapshotRevert";
    const vm = this.vm(vmId);
    if (vm.state !== 8) throw new OneblkError("input", `VM ${vmId} must be POWEROFF to revert`);
    const d = this.#snap(vm, diskId);
    const s = d.snapshots.find((x) => x.id === snapId);
    if (!s) throw new OneblkError("input", `disk ${diskId} has no snapshot ${snapId}`);
    this.setVmState(vm, 8, 52);
    try {
      await this.transfer(op, vm, "disk_snapshot", [
        `${tmVerb("SNAP_REVERT", d)} ${d.tmMad} ${
          this.#diskArg(vm, d)
        } ${snapId} ${vm.id} ${d.dsId}`,
      ]);
    } finally {
      this.setVmState(vm, 8, 0);
    }
    for (const x of d.snapshots) x.active = x.id === snapId;
    this.putVm(vm);
  }

  /** `onevm disk-snapshot-delete` (any state; not the ACTIVE one): TRANSFER SNAP_DELETE. */
  async diskSnapshotDelete(vmId: number, diskId: number, snapId: number): Promise<void> {
    const op = "diskSnapshotDelete";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    const s = d.snapshots.find((x) => x.id === snapId);
    if (!s) throw new OneblkError("input", `disk ${diskId} has no snapshot ${snapId}`);
    if (s.active) throw new OnedFailure(`${op}: Cannot delete the active snapshot`);
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.setVmState(vm, vm.state, vm.state === 3 ? 59 : 53);
    try {
      await this.transfer(op, vm, "disk_snapshot", [
        `${tmVerb("SNAP_DELETE", d)} ${d.tmMad} ${
          this.#diskArg(vm, d)
        } ${snapId} ${vm.id} ${d.dsId}`,
      ]);
    } finally {
      this.setVmState(vm, prev.state, prev.lcm);
    }
    d.snapshots = d.snapshots.filter((x) => x.id !== snapId);
    this.putVm(vm);
  }

  /**
   * `onevm disk-resize`: RUNNING → VMM RESIZEDISK whose TM step is RESIZE (then the host's
   * blockresize); POWEROFF → TRANSFER RESIZE. Updates DISK/SIZE.
   */
  async diskResize(vmId: number, diskId: number, sizeMb: number): Promise<void> {
    const op = "diskResize";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    const running = vm.state === 3;
    const prev = { state: vm.state, lcm: vm.lcmState };
    const old = d.sizeMb;
    d.sizeMb = sizeMb;
    this.setVmState(vm, vm.state, running ? 62 : 63);
    const line = `${tmVerb("RESIZE", d)} ${d.tmMad} ${
      this.#diskArg(vm, d)
    } ${sizeMb} ${vm.id} ${d.dsId}`;
    try {
      if (running) {
        const call = await this.tmLine(op, line);
        if (!call.ok) this.fail(op, "RESIZE", call);
      } else await this.transfer(op, vm, "disk_resize", [line]);
    } catch (e) {
      d.sizeMb = old;
      throw e;
    } finally {
      this.setVmState(vm, prev.state, prev.lcm);
    }
  }

  /**
   * `onevm disk-saveas`: a new image (FORMAT/FSTYPE `save_as`, SAVED_* attributes) gets its
   * SOURCE from DS mkfs, then TRANSFER disk_saveas runs CPDS. The image ends READY.
   */
  async diskSaveAs(vmId: number, diskId: number, name: string, snapId = -1): Promise<ImageModel> {
    const op = "diskSaveAs";
    const vm = this.vm(vmId);
    const d = this.#snap(vm, diskId);
    if (d.imageId === undefined) throw new OneblkError("input", "only image disks can be saved");
    const src = this.image(d.imageId);
    const img = this.newImage({
      name,
      dsId: d.dsId,
      sizeMb: d.sizeMb,
      format: "save_as",
      type: src.type === 1 ? 2 : src.type,
      template: {
        SAVED_DISK_ID: String(diskId),
        SAVED_IMAGE_ID: String(src.id),
        SAVED_VM_ID: String(vm.id),
        SAVE_AS_HOT: vm.state === 3 ? "YES" : "NO",
      },
    });
    this.images.set(img.id, img);
    this.putImage(img);
    this.putDsImages(img.dsId);
    img.source = await this.mkfs(op, img);
    img.format = d.format;
    this.putImage(img);
    const prev = { state: vm.state, lcm: vm.lcmState };
    const lcm = vm.state === 3 ? 26 : vm.state === 8 ? 27 : vm.state === 4 ? 68 : 28;
    this.setVmState(vm, vm.state, lcm);
    const host = vm.state === 4 ? this.frontend : this.hostOf(vm);
    try {
      await this.transfer(op, vm, "disk_saveas", [
        `${tmVerb("CPDS", d)} ${d.tmMad} ${hostArg(host, `${this.vmDir(vm)}/disk.${d.diskId}`)} ` +
        `${img.source} ${snapId} ${vm.id} ${d.dsId}`,
      ]);
    } catch (e) {
      this.imageError(img, `Error saving disk: ${(e as Error).message}`);
      throw e;
    } finally {
      this.setVmState(vm, prev.state, prev.lcm);
    }
    img.state = IMAGE_STATE.READY;
    this.putImage(img);
    await this.monitorAfter(op, img.dsId);
    return img;
  }

  async #vmSnapshotCall(
    op: string,
    vm: VmModel,
    action: "snapshotcreate" | "snapshotrevert" | "snapshotdelete",
    arg: string,
  ): Promise<DriverCall> {
    const script = this.vmSnapshotOverride(action);
    if (!script) {
      throw new OnedFailure(`${op}: no ${action} override installed (action not implemented)`, {
        missing: true,
      });
    }
    const host = this.hostOf(vm);
    // one_vmm_exec.rb: create passes the ACTIVE snapshot's SNAPSHOT_ID, revert and delete its
    // HYPERVISOR_ID (what create printed); local actions get base64 of the message on stdin.
    return await this.vmmLocal(
      op,
      script,
      [vm.deployId, arg, String(vm.id), host],
      this.vmmData(vm, host),
    );
  }

  /**
   * `onevm snapshot-create` (VMM SNAPSHOTCREATE through the profile's override): the new
   * snapshot is ACTIVE during the call, and its HYPERVISOR_ID is what the driver prints.
   */
  async vmSnapshotCreate(vmId: number, name?: string): Promise<VmSnapshotModel> {
    const op = "vmSnapshotCreate";
    const vm = this.vm(vmId);
    if (vm.state !== 3 && vm.state !== 8) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING/POWEROFF`);
    }
    const id = vm.vmSnapshots.reduce((n, x) => Math.max(n, x.id + 1), 0);
    const snap: VmSnapshotModel = {
      id,
      name: name ?? `snapshot-${id}`,
      hypervisorId: "",
      time: Math.floor(Date.now() / 1000),
      active: true,
    };
    vm.vmSnapshots.push(snap);
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.setVmState(vm, vm.state, vm.state === 3 ? 24 : prev.lcm);
    try {
      const call = await this.#vmSnapshotCall(op, vm, "snapshotcreate", String(id));
      snap.hypervisorId = call.stdout.trim();
      if (!snap.hypervisorId) call.complaints.push("snapshotcreate printed no hypervisor id");
    } catch (e) {
      vm.vmSnapshots = vm.vmSnapshots.filter((x) => x !== snap);
      throw e;
    } finally {
      snap.active = false;
      this.setVmState(vm, prev.state, prev.lcm);
    }
    return snap;
  }

  /**
   * `onevm snapshot-revert` / `snapshot-delete` (VMM SNAPSHOTREVERT / SNAPSHOTDELETE). As in
   * oned, a revert is only for a RUNNING VM, which must be running again afterwards.
   */
  async vmSnapshot(action: "revert" | "delete", vmId: number, snapId: number): Promise<void> {
    const op = `vmSnapshot${action === "revert" ? "Revert" : "Delete"}`;
    const vm = this.vm(vmId);
    const snap = vm.vmSnapshots.find((x) => x.id === snapId);
    if (!snap) throw new OneblkError("input", `VM ${vmId} has no snapshot ${snapId}`);
    if (action === "revert" && (vm.state !== 3 || vm.lcmState !== 3)) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING (oned reverts only those)`);
    }
    const prev = { state: vm.state, lcm: vm.lcmState };
    snap.active = true;
    this.setVmState(vm, vm.state, vm.state === 3 ? 24 : prev.lcm);
    try {
      await this.#vmSnapshotCall(
        op,
        vm,
        action === "revert" ? "snapshotrevert" : "snapshotdelete",
        snap.hypervisorId,
      );
    } finally {
      snap.active = false;
      this.setVmState(vm, prev.state, prev.lcm);
    }
    if (action === "revert" && !(await this.domainRuns(vm, this.hostOf(vm)))) {
      this.complain(op, `domain ${vm.deployId} is not running after the revert`);
    }
    if (action === "delete") vm.vmSnapshots = vm.vmSnapshots.filter((x) => x !== snap);
    this.putVm(vm);
  }
}

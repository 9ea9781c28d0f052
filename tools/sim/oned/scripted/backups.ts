/**
 * Backups and in-place restores in the scripted oned, as oned drives them (docs/contract.md
 * "tm backups", "tm restore"), against the simulated rsync backup datastore (tools/sim/rsync.ts,
 * datastore CLUSTER_BACKUP_DS):
 *
 *  - `onevm backup [--reset]`: BACKUP_CONFIG/MODE=INCREMENT is only kept when the played
 *    version allows increments for the VM's disks (raw disks need 7.2+; before, oned forces
 *    FULL); TM prebackup(_live) with the raw `<VM>` on stdin, the backup datastore's `backup`
 *    with the same argv (stdin `<DATASTORE>` before 7.0, DS_DRIVER_ACTION_DATA with the VM
 *    after), then TM postbackup(_live) — also after a failed upload and, from 6.8, after a
 *    failed prebackup, with `<BACKUP_RESULT>FAILURE</BACKUP_RESULT>` in the VM XML after 7.4.
 *    On success a full backup makes a new BACKUP image (its first INCREMENT in MODE=INCREMENT,
 *    INCREMENTAL_BACKUP_ID and LAST_INCREMENT_ID set), an increment is appended to the chain's
 *    image (LAST_INCREMENT_ID moves on); more increments than KEEP_LAST run the datastore's
 *    `increment_flatten`, whose answer re-points the chain (ids are kept, the first becomes
 *    FULL). oned moves LAST_INCREMENT_ID only after a success.
 *  - `onevm restore <vm> <image> [--increment n] [--disk d]` (6.10+, POWEROFF only): TRANSFER
 *    RESTORE on the system datastore's TM (LCM 71), then the chain is reset and the snapshots
 *    of non-persistent disks and the VM snapshots are forgotten, as oned does.
 */
import { join } from "node:path";
import { OneblkError } from "../../../../lib/errors.ts";
import { encodeBase64Text } from "../../../../lib/one/args.ts";
import { buildDsActionXml } from "../builders.ts";
import { BACKUP_HOST, CLUSTER_BACKUP_DS } from "../../cluster.ts";
import {
  type BackupFile,
  type BackupResult,
  IMAGE_STATE,
  type ImageModel,
  OnedFailure,
  type VmModel,
} from "./models.ts";
import { OnedVmStorage } from "./vm_storage.ts";
import { hostArg } from "./transfer_lines.ts";

/** Backups and restores of a VM. */
export abstract class OnedBackups extends OnedVmStorage {
  /** The backup datastore backups go to. */
  readonly backupDs = CLUSTER_BACKUP_DS;

  /** Disk ids oned backs up: image disks except CDROMs (volatile ones with BACKUP_VOLATILE). */
  backupDiskIds(vm: VmModel): number[] {
    const vol = String(vm.backupConfig.BACKUP_VOLATILE ?? "NO").toUpperCase() === "YES";
    return vm.disks.filter((d) => d.type !== "CDROM" && (d.imageId !== undefined || vol))
      .map((d) => d.diskId);
  }

  /** `onevm backup --reset` without the backup: the next backup starts a new chain. */
  resetBackupChain(vmId: number): void {
    const vm = this.vm(vmId);
    vm.backupConfig.LAST_INCREMENT_ID = -1;
    vm.backupConfig.INCREMENTAL_BACKUP_ID = -1;
    this.putVm(vm);
  }

  /** Change BACKUP_CONFIG attributes (`onevm updateconf`; a MODE change resets the chain). */
  setBackupConfig(vmId: number, attrs: Record<string, string | number>): void {
    const vm = this.vm(vmId);
    const mode = String(vm.backupConfig.MODE ?? "FULL");
    Object.assign(vm.backupConfig, attrs);
    if (attrs.MODE !== undefined && String(attrs.MODE) !== mode) this.resetBackupChain(vmId);
    this.putVm(vm);
  }

  /** The mode oned lets the VM use (raw disks of a block TM get increments only on 7.2+). */
  #effectiveMode(vm: VmModel): "FULL" | "INCREMENT" {
    const mode = String(vm.backupConfig.MODE ?? "FULL").toUpperCase();
    if (mode !== "INCREMENT") return "FULL";
    const ids = this.backupDiskIds(vm);
    const raw = vm.disks.some((d) => ids.includes(d.diskId) && d.format !== "qcow2");
    const snaps = vm.disks.some((d) => ids.includes(d.diskId) && d.snapshots.length > 0);
    if ((raw && !this.convention.rawIncrements) || snaps || vm.vmSnapshots.length) return "FULL";
    return "INCREMENT";
  }

  /**
   * `onevm backup` (see the file header). Returns the files the backup datastore stored (copied
   * away, so later flattens cannot change them), the backup id, image and increment.
   */
  async backup(vmId: number, opts: { reset?: boolean } = {}): Promise<BackupResult> {
    const op = "backup";
    if (!this.convention.backups) {
      throw new OneblkError("input", `OpenNebula ${this.convention.version} has no backups`);
    }
    const vm = this.vm(vmId);
    const running = vm.state === 3 && vm.lcmState === 3;
    if (!running && vm.state !== 8) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING/POWEROFF`);
    }
    if (opts.reset) this.resetBackupChain(vmId);
    const mode = this.#effectiveMode(vm);
    if (mode !== String(vm.backupConfig.MODE ?? "FULL").toUpperCase()) {
      vm.backupConfig.MODE = mode;
      this.resetBackupChain(vmId);
    }
    vm.backupConfig.LAST_DATASTORE_ID = this.backupDs;
    const host = this.hostOf(vm);
    const sys = this.datastore(this.systemDs);
    const ids = this.backupDiskIds(vm);
    const prev = { state: vm.state, lcm: vm.lcmState };
    this.setVmState(vm, vm.state, running ? 69 : 70);
    const suffix = running ? "_LIVE" : "";
    const args = [
      hostArg(host, this.vmDir(vm)),
      ids.join(":"),
      vm.deployId,
      ...(this.convention.backupJobArg ? ["-"] : []),
      String(vm.id),
      String(this.systemDs),
    ];
    const stdin = () => ({ text: this.vmXml(vm, { historyLimit: 2 }), mode: "xml" as const });
    const post = async (failed: boolean) => {
      if (failed && this.convention.backupResult) vm.backupResult = "FAILURE";
      try {
        return await this.tmLine(op, `POSTBACKUP${suffix} ${sys.tmMad} ${args.join(" ")}`, stdin());
      } finally {
        vm.backupResult = undefined;
      }
    };
    try {
      const pre = await this.tmLine(
        op,
        `PREBACKUP${suffix} ${sys.tmMad} ${args.join(" ")}`,
        stdin(),
      );
      if (!pre.ok) {
        if (this.convention.postbackupAfterPre) await post(true);
        this.fail(op, `PREBACKUP${suffix}`, pre);
      }
      const bds = this.datastore(this.backupDs);
      const dsXml = this.cluster.oned.state.datastores.get(this.backupDs)!;
      const dsStdin = this.convention.backupDsVm
        ? buildDsActionXml({ datastore: dsXml, vm: this.vmXml(vm, { historyLimit: 2 }) })
        : dsXml;
      const copy = await this.dsScript(op, bds.dsMad, "backup", args, {
        text: dsStdin,
        mode: "xml",
      });
      const m = /^(\S+)\s+(\d+)(?:\s+(\S+))?\s*$/.exec(copy.stdout.trim());
      if (!copy.ok || !m) {
        await post(true);
        if (copy.ok) copy.complaints.push(`backup printed ${JSON.stringify(copy.stdout)}`);
        this.fail(op, "BACKUP", copy);
      }
      const postCall = await post(false);
      if (!postCall.ok) this.fail(op, `POSTBACKUP${suffix}`, postCall);
      return await this.#recordBackup(op, vm, mode, m[1], Number(m[2]), m[3] ?? "raw", ids);
    } finally {
      this.setVmState(vm, prev.state, prev.lcm);
    }
  }

  /** oned's trigger_backup_success: the backup image, its increments, the VM's chain ids. */
  async #recordBackup(
    op: string,
    vm: VmModel,
    mode: "FULL" | "INCREMENT",
    backupId: string,
    sizeMb: number,
    format: string,
    ids: number[],
  ): Promise<BackupResult> {
    const chainId = Number(vm.backupConfig.INCREMENTAL_BACKUP_ID ?? -1);
    const last = Number(vm.backupConfig.LAST_INCREMENT_ID ?? -1);
    let img: ImageModel;
    let increment = 0;
    if (mode === "FULL" || chainId < 0 || last < 0) {
      img = this.newImage({
        name: `${vm.id} ${new Date().toISOString()}`,
        dsId: this.backupDs,
        source: backupId,
        sizeMb,
        format,
        type: 6,
        state: IMAGE_STATE.READY,
        vms: [vm.id],
        increments: mode === "INCREMENT"
          ? [{ id: 0, type: "FULL", parentId: -1, source: backupId, size: sizeMb }]
          : undefined,
      });
      this.images.set(img.id, img);
      vm.backupIds = [...(vm.backupIds ?? []), img.id];
      if (mode === "INCREMENT") {
        vm.backupConfig.INCREMENTAL_BACKUP_ID = img.id;
        vm.backupConfig.LAST_INCREMENT_ID = 0;
      }
    } else {
      img = this.image(chainId);
      increment = last + 1;
      img.increments = [
        ...(img.increments ?? []),
        { id: increment, type: "INCREMENT", parentId: last, source: backupId, size: sizeMb },
      ];
      img.sizeMb += sizeMb;
      vm.backupConfig.LAST_INCREMENT_ID = increment;
    }
    vm.backupConfig.LAST_BACKUP_ID = backupId;
    vm.backupConfig.LAST_BACKUP_SIZE = sizeMb;
    this.putImage(img);
    this.putDsImages(this.backupDs);
    this.putVm(vm);
    const result = await this.#collect(vm, backupId, ids, img.id, increment);
    const keep = Number(vm.backupConfig.KEEP_LAST ?? 0);
    // KEEP_LAST: oned's flatten runs after the backup has succeeded.
    if (mode === "INCREMENT" && keep > 0 && (img.increments?.length ?? 0) > keep) {
      await this.#flatten(op, img, keep);
    }
    return result;
  }

  /** DS increment_flatten and oned's update of the chain from its answer. */
  async #flatten(op: string, img: ImageModel, keep: number): Promise<void> {
    const payload = buildDsActionXml({
      image: this.imageXml(img),
      datastore: this.cluster.oned.state.datastores.get(this.backupDs)!,
    }).replace(
      "</DS_DRIVER_ACTION_DATA>",
      `<EXTRA_DATA><KEEP_LAST>${keep}</KEEP_LAST></EXTRA_DATA></DS_DRIVER_ACTION_DATA>`,
    );
    const call = await this.dsScript(op, this.datastore(this.backupDs).dsMad, "increment_flatten", [
      String(img.id),
    ], { text: encodeBase64Text(payload), mode: "base64" });
    // oned flattens after the backup succeeded: a failure is only logged, the chain stays.
    const m = /^(\d+)\s+(\S+)\s*$/.exec(call.stdout.trim());
    if (!call.ok || !m) return;
    const kept = new Map(
      m[2].split(",").map((x) => {
        const [id, src] = x.split(":");
        return [Number(id), src] as const;
      }),
    );
    img.increments = (img.increments ?? []).filter((i) => kept.has(i.id)).map((i, n) => ({
      ...i,
      source: kept.get(i.id)!,
      ...(n === 0 ? { type: "FULL", parentId: -1 } : {}),
    }));
    img.source = img.increments[0].source;
    img.sizeMb = Number(m[1]);
    this.putImage(img);
  }

  /** Copies of the files the backup datastore stored for this backup. */
  async #collect(
    vm: VmModel,
    backupId: string,
    ids: number[],
    imageId: number,
    increment: number,
  ): Promise<BackupResult> {
    const base = this.datastore(this.backupDs).basePath.replace(/\/+$/, "");
    const src = this.cluster.hostPath(BACKUP_HOST, `${base}/${vm.id}/${backupId}`);
    const dir = join(this.cluster.root, "backups", `vm${vm.id}`, backupId);
    await Deno.mkdir(dir, { recursive: true });
    const names: string[] = [];
    for await (const e of Deno.readDir(src)) names.push(e.name);
    const files: BackupFile[] = [];
    for (const id of ids) {
      const name = names.find((x) => x === `disk.${id}.${increment}`);
      if (!name) {
        throw new OnedFailure(`backup: the datastore holds no disk.${id}.${increment}`);
      }
      const path = join(dir, name);
      await Deno.copyFile(join(src, name), path);
      const info = await new Deno.Command("qemu-img", {
        args: ["info", "--output=json", path],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const format = info.success
        ? String(JSON.parse(new TextDecoder().decode(info.stdout)).format ?? "raw")
        : "raw";
      files.push({ diskId: id, path, name, format });
    }
    return { files, dir, backupId, imageId, increment, stored: names.sort() };
  }

  /**
   * `onevm restore <vm> <image> [--increment inc] [--disk disk]` (6.10+, POWEROFF): TRANSFER
   * RESTORE on the system datastore's TM; success resets the backup chain and drops the
   * snapshots oned forgets.
   */
  async restore(vmId: number, imageId: number, inc = -1, diskId = -1): Promise<void> {
    const op = "restore";
    if (!this.convention.restore) {
      throw new OneblkError(
        "input",
        `OpenNebula ${this.convention.version} has no in-place restore`,
      );
    }
    const vm = this.vm(vmId);
    if (vm.state !== 8) throw new OneblkError("input", `VM ${vmId} must be POWEROFF to restore`);
    const img = this.image(imageId);
    if (img.type !== 6) throw new OneblkError("input", `image ${imageId} is not a backup`);
    const lastInc = img.increments?.at(-1)?.id ?? 0;
    if (inc > lastInc) throw new OneblkError("input", `image ${imageId} has no increment ${inc}`);
    if (diskId >= 0 && !vm.disks.some((d) => d.diskId === diskId)) {
      throw new OneblkError("input", `VM ${vmId} has no disk ${diskId}`);
    }
    const sys = this.datastore(this.systemDs);
    this.setVmState(vm, 3, 71);
    try {
      await this.transfer(op, vm, "restore", [
        `RESTORE ${sys.tmMad} ${hostArg(this.hostOf(vm), this.vmDir(vm))} ${vm.id} ` +
        `${imageId} ${inc} ${diskId}`,
      ]);
    } finally {
      this.setVmState(vm, 8, 0);
    }
    vm.backupConfig.LAST_INCREMENT_ID = -1;
    vm.backupConfig.INCREMENTAL_BACKUP_ID = -1;
    for (const d of vm.disks) if (!d.persistent) d.snapshots = [];
    vm.vmSnapshots = [];
    this.putVm(vm);
  }
}

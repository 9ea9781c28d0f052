/**
 * The VM lifecycle steps of the scripted oned: instantiate (prolog and deploy), live migration,
 * poweroff, stop (save) and resume (restore), terminate (epilog), each as oned runs the TM
 * transfer files, the VMM TM steps and the VMM overrides. A running VM holds its disks open
 * (in-use marks in the store simulators) and its libvirt domain exists on its host.
 */
import { join } from "node:path";
import { OneblkError } from "../../../../lib/errors.ts";
import { buildVmmActionXml } from "../builders.ts";
import { compareVersion } from "../../../../lib/one/output.ts";
import { buildDomainXml } from "./domain.ts";
import { encodeBase64Text } from "../../../../lib/one/args.ts";
import { SimRunner } from "../../../../lib/host/sim.ts";
import {
  type DiskSpec,
  type DriverCall,
  IMAGE_STATE,
  type InstantiateOptions,
  type InUseMark,
  OnedFailure,
  type VmDiskModel,
  type VmModel,
} from "./models.ts";
import { OnedImages } from "./images.ts";
import {
  contextLine,
  epilogLines,
  migrateArgs,
  mvLines,
  prologLines,
  type VmPlace,
} from "./transfer_lines.ts";

/** VMs: instantiate, migrate, poweroff, stop, resume, terminate; domains and open disks. */
export abstract class OnedVms extends OnedImages {
  #nextVmId(): number {
    let id = 0;
    for (const k of this.cluster.oned.state.vms.keys()) id = Math.max(id, k + 1);
    for (const k of this.vms.keys()) id = Math.max(id, k + 1);
    return id;
  }

  /** Real local path of the libvirt domain `one-<vm>` on `host` (exists while it runs). */
  domainPath(vm: VmModel | number, host: string): string {
    const id = typeof vm === "number" ? vm : vm.id;
    return this.cluster.hostPath(host, `/var/run/oneblk-sim/domains/one-${id}`);
  }

  /**
   * The stock deploy of `vm` on `host`, played here: the domain (its deployment file, with its
   * UUID) runs; DEPLOY_ID is the UUID on 6.0+, the name on 5.12.
   */
  async #domainUp(vm: VmModel, host: string): Promise<void> {
    const p = this.domainPath(vm, host);
    await Deno.mkdir(join(p, ".."), { recursive: true });
    vm.uuid ??= crypto.randomUUID();
    await Deno.writeTextFile(p, this.#deploymentFile(vm));
    vm.deployId = compareVersion(this.convention.version, "6.0.0") >= 0 ? vm.uuid : `one-${vm.id}`;
  }

  /** The domain XML oned writes for `vm` (tools/sim/oned/scripted/domain.ts). */
  #deploymentFile(vm: VmModel): string {
    return buildDomainXml(vm, {
      dir: this.vmDir(vm),
      version: this.convention.version,
      uuid: vm.uuid,
    });
  }

  async #domainDown(vm: VmModel, host: string): Promise<void> {
    await Deno.remove(this.domainPath(vm, host)).catch(() => {});
  }

  /** The "virsh migrate": the running domain (its XML) moves from `src` to `dst`. */
  async #domainMove(vm: VmModel, src: string, dst: string): Promise<void> {
    const text = await Deno.readTextFile(this.domainPath(vm, src)).catch(() => "");
    await this.#domainDown(vm, src);
    if (!text) return await this.#domainUp(vm, dst);
    const p = this.domainPath(vm, dst);
    await Deno.mkdir(join(p, ".."), { recursive: true });
    await Deno.writeTextFile(p, text);
  }

  /** True when the domain of `vm` runs on `host`. */
  protected async domainRuns(vm: VmModel, host: string): Promise<boolean> {
    return await this.#domainExists(vm, host);
  }

  async #domainExists(vm: VmModel, host: string): Promise<boolean> {
    try {
      await Deno.stat(this.domainPath(vm, host));
      return true;
    } catch {
      return false;
    }
  }

  /** Which store volume a `disk.i` link on `host` points at, or null. */
  async linkedVolume(host: string, path: string): Promise<InUseMark | null> {
    let target: string;
    try {
      target = await Deno.readLink(this.cluster.hostPath(host, path));
    } catch {
      return null;
    }
    const ls = /\/dev\/drbd\/by-res\/([^/]+)\/\d+$/.exec(target);
    if (ls) return { store: "linstor", name: ls[1], host };
    const sp = /\/dev\/storpool\/([^/]+)$/.exec(target);
    if (sp) return { store: "storpool", name: sp[1], host };
    return null;
  }

  async #marksOn(vm: VmModel, host: string): Promise<InUseMark[]> {
    const ids = vm.disks.map((d) => d.diskId);
    if (vm.contextDiskId !== null) ids.push(vm.contextDiskId);
    const out: InUseMark[] = [];
    for (const id of ids) {
      const m = await this.linkedVolume(host, `${this.vmDir(vm)}/disk.${id}`);
      if (m) out.push(m);
    }
    return out;
  }

  #setMark(m: InUseMark, inUse: boolean): string | null {
    try {
      if (m.store === "linstor") {
        return this.cluster.linstor.setInUse(m.name, m.host, inUse)
          ? null
          : `LINSTOR has no resource ${m.name} on ${m.host}`;
      }
      this.cluster.storpool.setInUse(m.name, m.host, inUse);
      return null;
    } catch (e) {
      return `StorPool: ${(e as Error).message}`;
    }
  }

  /** Open the VM's disks on `host` (the domain starts); complaints for links to nothing. */
  async #open(vm: VmModel, host: string, op: string): Promise<void> {
    const marks = await this.#marksOn(vm, host);
    for (const m of marks) {
      const err = this.#setMark(m, true);
      if (err) this.complain(op, `disk link to ${m.name} on ${host}, but ${err}`);
      else vm.marks.push(m);
    }
  }

  /** Close every disk the VM holds open (the domain stops). */
  #close(vm: VmModel): void {
    for (const m of vm.marks) this.#setMark(m, false);
    vm.marks = [];
  }

  #diskTm(imageDsId: number): { tm: string; sys: string } {
    const ids = this.datastore(imageDsId);
    const sys = this.datastore(this.systemDs);
    if (ids.tmMad === sys.tmMad) return { tm: ids.tmMad, sys: "" };
    const allowed = ids.template.get("TM_MAD_SYSTEM").split(/[\s,]+/).filter(Boolean);
    if (!allowed.includes(sys.tmMad)) {
      throw new OneblkError(
        "config",
        `Image Datastore does not support transfer mode: ${sys.tmMad}`,
      );
    }
    return { tm: ids.tmMad, sys: sys.tmMad };
  }

  /**
   * `onetemplate instantiate` + deploy: TRANSFER prolog (CLONE/LN per image disk, MKIMAGE/
   * MKSWAP per volatile disk), then VMM DEPLOY whose first step is TM CONTEXT; the domain then
   * opens its disks on the host.
   */
  async instantiate(opts: InstantiateOptions): Promise<VmModel> {
    const op = "instantiate";
    const id = this.#nextVmId();
    const disks = opts.disks.map((spec, i) =>
      this.#diskModel(spec, i, `vd${String.fromCharCode(97 + i)}`)
    );
    const vm: VmModel = {
      id,
      name: opts.name ?? `vm-${id}`,
      state: 3,
      lcmState: 1,
      disks,
      contextDiskId: opts.context === false ? null : disks.length,
      history: [{
        hostname: opts.host,
        hid: this.hostId(opts.host),
        dsId: this.systemDs,
        tmMad: this.datastore(this.systemDs).tmMad,
      }],
      backupConfig: {
        BACKUP_VOLATILE: "NO",
        FS_FREEZE: "NONE",
        INCREMENTAL_BACKUP_ID: -1,
        KEEP_LAST: 3,
        LAST_INCREMENT_ID: -1,
        MODE: "FULL",
        ...(opts.backupConfig ?? {}),
      },
      userTemplate: { ...(opts.userTemplate ?? {}) },
      memoryMb: opts.memoryMb ?? 128,
      ...(opts.tpmModel ? { tpmModel: opts.tpmModel } : {}),
      vmSnapshots: [],
      marks: [],
      transferSeq: 0,
      deployId: `one-${id}`,
    };
    this.vms.set(id, vm);
    for (const d of disks) {
      if (d.imageId === undefined) continue;
      const img = this.image(d.imageId);
      img.vms.push(id);
      img.state = img.persistent ? IMAGE_STATE.USED_PERS : IMAGE_STATE.USED;
      this.putImage(img);
    }
    this.putVm(vm);
    this.putHostVms();
    const lines = prologLines(vm, {
      host: opts.host,
      dir: this.vmDir(vm),
      frontend: this.frontend,
      legacyFstype: this.convention.legacyFstype,
    });
    try {
      await this.transfer(op, vm, "prolog", lines);
    } catch (e) {
      this.setVmState(vm, 3, 39);
      throw e;
    }
    await this.#deploy(op, vm, 2);
    return vm;
  }

  /** The model of disk `i` of a VM from its spec. */
  #diskModel(spec: DiskSpec, i: number, target: string): VmDiskModel {
    const sys = this.datastore(this.systemDs);
    if ("image" in spec) {
      const img = this.image(spec.image);
      const { tm, sys: tmSys } = this.#diskTm(img.dsId);
      const cdrom = img.type === 1;
      return {
        diskId: i,
        imageId: img.id,
        image: img.name,
        source: img.source,
        clone: !img.persistent && !cdrom,
        persistent: img.persistent,
        type: cdrom ? "CDROM" : "BLOCK",
        sizeMb: spec.sizeMb ?? img.sizeMb,
        originalSize: img.sizeMb,
        format: img.format || "raw",
        fs: "",
        dsId: img.dsId,
        tmMad: tm,
        tmMadSystem: tmSys,
        target,
        readonly: spec.readonly ?? cdrom,
        snapshots: [],
        nextSnapshot: 0,
      };
    }
    return {
      diskId: i,
      source: "",
      clone: false,
      persistent: false,
      type: spec.volatile,
      sizeMb: spec.sizeMb,
      format: spec.format ?? "raw",
      fs: spec.volatile === "fs" ? (spec.fs ?? "") : "",
      dsId: this.systemDs,
      tmMad: sys.tmMad,
      tmMadSystem: "",
      target,
      readonly: false,
      snapshots: [],
      nextSnapshot: 0,
    };
  }

  /**
   * VMM DEPLOY: TM CONTEXT first, then the domain starts (disks open). With the profile's
   * deploy override installed, oned writes the deployment file (and, 6.0+, vm.xml and ds.xml
   * beside it, base64: a local step's stdin) on the front-end and runs the override with
   * `local_file host vmid host` and the base64 domain XML on stdin; its stdout is DEPLOY_ID.
   * Otherwise the host's stock deploy is played here.
   */
  async #deploy(op: string, vm: VmModel, bootLcm: number): Promise<void> {
    this.setVmState(vm, 3, bootLcm);
    await this.#context(op, vm);
    const host = this.hostOf(vm);
    const script = this.vmmOverride("deploy");
    if (!script) {
      await this.#domainUp(vm, host);
    } else {
      try {
        await this.#deployOverride(op, vm, host, script);
      } catch (e) {
        this.setVmState(vm, 3, 36); // BOOT_FAILURE
        throw e;
      }
    }
    await this.#open(vm, host, op);
    this.setVmState(vm, 3, 3);
  }

  async #deployOverride(op: string, vm: VmModel, host: string, script: string): Promise<void> {
    const dir = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}`);
    await Deno.mkdir(dir, { recursive: true });
    const local = join(dir, `deployment.${vm.history.length - 1}`);
    const xml = this.#deploymentFile(vm);
    await Deno.writeTextFile(local, xml);
    if (compareVersion(this.convention.version, "6.0.0") >= 0) {
      await Deno.writeTextFile(join(dir, "vm.xml"), encodeBase64Text(this.vmXml(vm)));
      const ds = this.cluster.oned.state.datastores.get(this.systemDs) ?? "";
      await Deno.writeTextFile(join(dir, "ds.xml"), encodeBase64Text(ds));
    }
    const call = await this.vmmLocal(op, script, [local, host, String(vm.id), host], xml);
    const id = call.stdout.trim();
    if (!id) call.complaints.push("the deploy override printed no deploy id");
    if (!(await this.#domainExists(vm, host))) {
      this.complain(op, `the deploy override did not start domain one-${vm.id} on ${host}`);
      return await this.#domainUp(vm, host);
    }
    vm.deployId = id || `one-${vm.id}`;
    const text = await Deno.readTextFile(this.domainPath(vm, host));
    vm.uuid = /<uuid>([^<]+)<\/uuid>/.exec(text)?.[1] ?? vm.uuid;
    const want = compareVersion(this.convention.version, "6.0.0") >= 0 ? vm.uuid : `one-${vm.id}`;
    if (id && id !== want) {
      call.complaints.push(`deploy id ${JSON.stringify(id)} is not the stock deploy's (${want})`);
    }
  }

  /** The CONTEXT line oned puts in TM_COMMAND (deploy, restore). */
  #contextLine(vm: VmModel): string | null {
    if (vm.contextDiskId === null) return null;
    const host = this.hostOf(vm);
    // oned names /var/lib/one/vms/<id>/context.sh, a front-end-local file. In the simulation
    // the front-end's files live under hosts/<frontend>/, so the line names that real path
    // (paths inside the simulation root are valid on every simulated host).
    const ctx = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}/context.sh`);
    return contextLine(vm.id, vm.contextDiskId, this.#place(vm), host, ctx);
  }

  /** The VM's directory and system datastore, for its transfer lines. */
  #place(vm: VmModel): VmPlace {
    return {
      dir: this.vmDir(vm),
      sysDs: this.systemDs,
      sysTm: this.datastore(this.systemDs).tmMad,
    };
  }

  async #context(op: string, vm: VmModel): Promise<void> {
    const line = this.#contextLine(vm);
    if (!line) return;
    const dir = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, "context.sh"),
      `# Context variables generated by OpenNebula\nDISK_ID='${vm.contextDiskId}'\n` +
        `ETH0_IP='10.0.1.${vm.id % 250}'\nNETWORK='YES'\nTARGET='hda'\nVMID='${vm.id}'\n`,
    );
    const call = await this.tmLine(op, line);
    if (!call.ok) this.fail(op, "CONTEXT", call);
  }

  /**
   * `onevm migrate --live`: TM premigrate (system TM, base64 `<VM>` on stdin), the virsh
   * migrate (in-use marks move from the source to the destination host), TM postmigrate.
   * With `failVirsh`, the virsh step fails: TM failmigrate runs and the VM stays on the source.
   */
  async liveMigrate(vmId: number, dst: string, opts: { failVirsh?: boolean } = {}): Promise<void> {
    const op = opts.failVirsh ? "liveMigrate(fail)" : "liveMigrate";
    const vm = this.vm(vmId);
    if (vm.state !== 3 || vm.lcmState !== 3) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING`);
    }
    const src = this.hostOf(vm);
    const sys = this.datastore(this.systemDs);
    vm.history.push({
      hostname: dst,
      hid: this.hostId(dst),
      dsId: this.systemDs,
      tmMad: sys.tmMad,
    });
    this.setVmState(vm, 3, 4);
    const stdin = () => ({
      text: encodeBase64Text(this.vmXml(vm, { historyLimit: 2 })),
      mode: "base64" as const,
    });
    const args = migrateArgs(vm, this.#place(vm), src, dst).join(" ");
    const back = () => {
      vm.history.pop();
      this.setVmState(vm, 3, 3);
      this.putHostVms();
    };
    let pre: DriverCall;
    try {
      pre = await this.tmLine(op, `PREMIGRATE ${sys.tmMad} ${args}`, stdin());
    } catch (e) {
      back();
      throw e;
    }
    if (!pre.ok) {
      back();
      this.fail(op, "PREMIGRATE", pre);
    }
    if (opts.failVirsh) {
      const fail = await this.tmLine(op, `FAILMIGRATE ${sys.tmMad} ${args}`, stdin());
      back();
      if (!fail.ok) fail.complaints.push("failmigrate failed");
      throw new OnedFailure(`${op}: virsh migrate failed (simulated); failmigrate ran`, {
        call: fail,
      });
    }
    // The "virsh migrate": the domain now holds its disks on dst instead of src.
    this.#close(vm);
    await this.#domainMove(vm, src, dst);
    await this.#open(vm, dst, op);
    const post = await this.tmLine(op, `POSTMIGRATE ${sys.tmMad} ${args}`, stdin());
    if (!post.ok) post.complaints.push("postmigrate failed (no_fail: oned carries on)");
    this.setVmState(vm, 3, 3);
    this.putHostVms();
  }

  /** `onevm poweroff`: VMM SHUTDOWN; the disks close. */
  async poweroff(vmId: number): Promise<void> {
    const vm = this.vm(vmId);
    if (vm.state !== 3) throw new OneblkError("input", `VM ${vmId} is not ACTIVE`);
    this.setVmState(vm, 3, 18);
    this.#close(vm);
    await this.#domainDown(vm, this.hostOf(vm));
    this.setVmState(vm, 8, 0);
  }

  /**
   * `onevm resume`: from POWEROFF a VMM DEPLOY (CONTEXT first); from STOPPED a TRANSFER
   * resume (MV front-end → host per disk + dir) then VMM RESTORE (CONTEXT, restore override).
   */
  async resume(vmId: number, host?: string): Promise<void> {
    const vm = this.vm(vmId);
    if (vm.state === 8) {
      await this.#deploy("resume", vm, 20);
      return;
    }
    if (vm.state !== 4) {
      throw new OneblkError("input", `VM ${vmId} is neither POWEROFF nor STOPPED`);
    }
    const op = "resume";
    const prev = vm.history.at(-1)!;
    const dst = host ?? prev.hostname;
    vm.history.push({ ...prev, hostname: dst, hid: this.hostId(dst) });
    this.setVmState(vm, 3, 9);
    this.putHostVms();
    try {
      await this.transfer(op, vm, "resume", mvLines(vm, this.#place(vm), this.frontend, dst));
    } catch (e) {
      this.setVmState(vm, 3, 49);
      throw e;
    }
    this.setVmState(vm, 3, 22);
    await this.#context(op, vm);
    const checkpoint = `${this.vmDir(vm)}/checkpoint`;
    const script = this.vmmOverride("restore");
    if (script) {
      await this.vmmLocal(
        op,
        script,
        [checkpoint, dst, vm.deployId, String(vm.id), dst],
        this.vmmData(vm, dst, { checkpoint, tmCommand: this.#contextLine(vm) ?? undefined }),
      );
      if (!(await this.#domainExists(vm, dst))) {
        this.complain(op, `the restore override did not bring domain one-${vm.id} up on ${dst}`);
        await this.#domainUp(vm, dst);
      }
    } else {
      // Stock host restore: `virsh restore` of the checkpoint file, which must be there.
      try {
        await Deno.stat(this.cluster.hostPath(dst, checkpoint));
      } catch {
        throw new OnedFailure(`${op}: checkpoint ${checkpoint} not found on ${dst}`);
      }
      await this.#domainUp(vm, dst);
    }
    await this.#open(vm, dst, op);
    this.setVmState(vm, 3, 3);
  }

  /** The VMM driver message (VMM_DRIVER_ACTION_DATA) of a VM action on `host`. */
  protected vmmData(
    vm: VmModel,
    host: string,
    o: {
      checkpoint?: string;
      tmCommand?: string;
      tmCommandRollback?: string;
      migrHost?: string;
      diskTargetPath?: string;
    } = {},
  ): string {
    return buildVmmActionXml({
      vm: this.vmXml(vm, { historyLimit: 2 }),
      datastore: this.cluster.oned.state.datastores.get(this.systemDs),
      host,
      migrHost: o.migrHost,
      deployId: vm.deployId,
      checkpointFile: o.checkpoint,
      tmCommand: o.tmCommand,
      tmCommandRollback: o.tmCommandRollback,
      diskTargetPath: o.diskTargetPath,
    });
  }

  /**
   * `onevm stop`: VMM SAVE (the profile's save override, else the stock save writing
   * DIR/checkpoint on the host), the disks close, then TRANSFER stop (MV host → front-end).
   */
  async stop(vmId: number): Promise<void> {
    const op = "stop";
    const vm = this.vm(vmId);
    if (vm.state !== 3 || vm.lcmState !== 3) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING`);
    }
    const host = this.hostOf(vm);
    const checkpoint = `${this.vmDir(vm)}/checkpoint`;
    this.setVmState(vm, 3, 5);
    const script = this.vmmOverride("save");
    try {
      if (script) {
        await this.vmmLocal(
          op,
          script,
          [vm.deployId, checkpoint, host, String(vm.id), host],
          this.vmmData(vm, host, { checkpoint }),
        );
        if (await this.#domainExists(vm, host)) {
          this.complain(op, `the save override left domain one-${vm.id} running on ${host}`);
          await this.#domainDown(vm, host);
        }
      } else {
        // Stock host save: `virsh save` to DIR/checkpoint.
        const p = this.cluster.hostPath(host, checkpoint);
        await Deno.writeTextFile(p, `ONEBLK-SIM-CHECKPOINT one-${vm.id}\n`);
        await this.#domainDown(vm, host);
      }
    } catch (e) {
      this.setVmState(vm, 3, 3);
      throw e;
    }
    this.#close(vm);
    this.setVmState(vm, 3, 10);
    try {
      await this.transfer(op, vm, "stop", mvLines(vm, this.#place(vm), host, this.frontend));
    } catch (e) {
      this.setVmState(vm, 3, 41);
      throw e;
    }
    this.setVmState(vm, 4, 0);
    this.putHostVms();
  }

  /**
   * `onevm terminate`: VMM SHUTDOWN (disks close), TRANSFER epilog (MVDS for SAVE=YES disks,
   * DELETE for the others, DELETE of the VM dir). A STOPPED VM, or `hard`, gets the
   * epilog_delete form instead: DELETE of every disk (persistent ones too) and the dir.
   * Images are released; snapshots of persistent disks move into their image (≥7.0).
   */
  async terminate(vmId: number, opts: { hard?: boolean } = {}): Promise<void> {
    const op = opts.hard ? "terminate(hard)" : "terminate";
    const vm = this.vm(vmId);
    const stopped = vm.state === 4;
    const host = stopped ? this.frontend : this.hostOf(vm);
    if (vm.state === 3) {
      this.setVmState(vm, 3, 12);
      this.#close(vm);
      await this.#domainDown(vm, host);
    }
    this.setVmState(vm, 3, stopped || opts.hard ? 23 : 11);
    const lines = epilogLines(vm, this.#place(vm), host, stopped || !!opts.hard);
    try {
      await this.transfer(op, vm, stopped || opts.hard ? "delete" : "epilog", lines);
    } catch (e) {
      this.setVmState(vm, 3, 40);
      throw e;
    }
    for (const d of vm.disks) {
      if (d.imageId === undefined) continue;
      const img = this.images.get(d.imageId);
      if (!img) continue;
      img.vms = img.vms.filter((v) => v !== vm.id);
      if (!img.vms.length) img.state = IMAGE_STATE.READY;
      if (d.persistent && d.snapshots.length) {
        img.snapshots = d.snapshots;
        img.nextSnapshot = d.nextSnapshot;
      }
      this.putImage(img);
    }
    this.setVmState(vm, 6, 0);
    this.putHostVms();
  }

  /**
   * The target oned gives a hot-attached disk: the first free name with its prefix (`vd` for
   * disks; CDROMs `hd`, or `sd` on 7.2+ whose machines are q35).
   */
  #attachTarget(vm: VmModel, cdrom: boolean): string {
    const prefix = !cdrom
      ? "vd"
      : compareVersion(this.convention.version, "7.2.0") >= 0
      ? "sd"
      : "hd";
    const used = new Set(vm.disks.map((d) => d.target));
    // the context CD: hda (sda on q35)
    if (vm.contextDiskId !== null) {
      used.add(compareVersion(this.convention.version, "7.2.0") >= 0 ? "sda" : "hda");
    }
    for (let i = 0; i < 26; i++) {
      const t = `${prefix}${String.fromCharCode(97 + i)}`;
      if (!used.has(t)) return t;
    }
    throw new OneblkError("input", `VM ${vm.id} has no free ${prefix} target`);
  }

  /** The TM line that undoes the attach of `d` (TM_COMMAND_ROLLBACK) or detaches it. */
  #detachLine(vm: VmModel, d: VmDiskModel, host: string): string {
    return epilogLines({ ...vm, disks: [d] }, this.#place(vm), host, false)[0];
  }

  /** Run the profile's `attach_disk`/`detach_disk` override, or the host's stock script. */
  async #hotplugCall(
    op: string,
    vm: VmModel,
    d: VmDiskModel,
    action: "attach_disk" | "detach_disk",
    data: string,
  ): Promise<void> {
    const host = this.hostOf(vm);
    const path = `${this.vmDir(vm)}/disk.${d.diskId}`;
    const index = String(d.target.charCodeAt(d.target.length - 1) - 97);
    const b64 = encodeBase64Text(data);
    const params = action === "attach_disk"
      ? [vm.deployId, path, d.target, index, b64]
      : [vm.deployId, path, d.target, index];
    const script = this.vmmOverride(action);
    if (script) {
      await this.vmmLocal(op, script, [...params, String(vm.id), host], data);
      return;
    }
    // oned runs the stock script on the host (remote steps get the decoded message on stdin)
    const hosts = new SimRunner(this.cluster.root);
    try {
      await hosts.run(host, [`/var/tmp/one/vmm/kvm/${action}`, ...params], { stdin: data });
    } catch (e) {
      throw new OnedFailure(`${op}: stock ${action}: ${(e as Error).message}`);
    }
  }

  /**
   * `onevm disk-attach` of a RUNNING VM: the new DISK (ATTACH=YES) gets the next DISK_ID and a
   * free target, the TM step makes DIR/disk.N (LN/CLONE, MKIMAGE/MKSWAP), then VMM ATTACH_DISK
   * (the profile's override, else the host's stock script); when that fails the TM rollback
   * runs and the disk is dropped. Returns the new disk.
   */
  async attachDisk(vmId: number, spec: DiskSpec): Promise<VmDiskModel> {
    const op = "attachDisk";
    const vm = this.vm(vmId);
    if (vm.state !== 3 || vm.lcmState !== 3) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING`);
    }
    const ids = vm.disks.map((x) => x.diskId);
    if (vm.contextDiskId !== null) ids.push(vm.contextDiskId);
    const id = Math.max(-1, ...ids) + 1;
    const cdrom = "image" in spec && this.image(spec.image).type === 1;
    const d = { ...this.#diskModel(spec, id, this.#attachTarget(vm, cdrom)), attach: true };
    const host = this.hostOf(vm);
    const line = prologLines({ ...vm, disks: [d] }, {
      host,
      dir: this.vmDir(vm),
      frontend: this.frontend,
      legacyFstype: this.convention.legacyFstype,
    })[0];
    const rollback = this.#detachLine(vm, d, host);
    vm.disks.push(d);
    this.setVmState(vm, 3, 17); // HOTPLUG
    const undo = () => {
      vm.disks = vm.disks.filter((x) => x !== d);
      this.setVmState(vm, 3, 3);
    };
    const tm = await this.tmLine(op, line);
    if (!tm.ok) {
      undo();
      this.fail(op, "TM attach", tm);
    }
    const data = this.vmmData(vm, host, {
      tmCommand: line,
      tmCommandRollback: rollback,
      diskTargetPath: `${this.vmDir(vm)}/disk.${d.diskId}`,
    });
    try {
      await this.#hotplugCall(op, vm, d, "attach_disk", data);
    } catch (e) {
      const rb = await this.tmLine(op, rollback);
      if (!rb.ok) rb.complaints.push("TM_COMMAND_ROLLBACK failed after a failed attach");
      undo();
      throw e;
    }
    d.attach = false;
    if (d.imageId !== undefined) {
      const img = this.image(d.imageId);
      img.vms.push(vm.id);
      img.state = img.persistent ? IMAGE_STATE.USED_PERS : IMAGE_STATE.USED;
      this.putImage(img);
    }
    const m = await this.linkedVolume(host, `${this.vmDir(vm)}/disk.${d.diskId}`);
    if (m && !vm.marks.some((x) => x.name === m.name && x.host === m.host)) {
      if (this.#setMark(m, true) === null) vm.marks.push(m);
    }
    this.setVmState(vm, 3, 3);
    return d;
  }

  /**
   * `onevm disk-detach` of a RUNNING VM: VMM DETACH_DISK (the profile's override, else the
   * host's stock script), then the TM step (MVDS for a persistent image, DELETE otherwise).
   */
  async detachDisk(vmId: number, diskId: number): Promise<void> {
    const op = "detachDisk";
    const vm = this.vm(vmId);
    if (vm.state !== 3 || vm.lcmState !== 3) {
      throw new OneblkError("input", `VM ${vmId} is not RUNNING`);
    }
    const d = vm.disks.find((x) => x.diskId === diskId);
    if (!d) throw new OneblkError("input", `VM ${vmId} has no disk ${diskId}`);
    const host = this.hostOf(vm);
    const line = this.#detachLine(vm, d, host);
    d.attach = true;
    this.setVmState(vm, 3, 17);
    try {
      await this.#hotplugCall(
        op,
        vm,
        d,
        "detach_disk",
        this.vmmData(vm, host, { tmCommand: line }),
      );
    } catch (e) {
      d.attach = false;
      this.setVmState(vm, 3, 3);
      throw e;
    }
    const m = await this.linkedVolume(host, `${this.vmDir(vm)}/disk.${d.diskId}`);
    if (m) {
      this.#setMark(m, false);
      vm.marks = vm.marks.filter((x) => !(x.name === m.name && x.host === m.host));
    }
    const tm = await this.tmLine(op, line);
    vm.disks = vm.disks.filter((x) => x !== d);
    if (d.imageId !== undefined) {
      const img = this.images.get(d.imageId);
      if (img) {
        img.vms = img.vms.filter((v) => v !== vm.id);
        if (!img.vms.length) img.state = IMAGE_STATE.READY;
        this.putImage(img);
      }
    }
    this.setVmState(vm, 3, 3);
    if (!tm.ok) this.fail(op, "TM detach", tm);
  }
}

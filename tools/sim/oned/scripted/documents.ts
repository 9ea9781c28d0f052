/**
 * The scripted oned's documents: its image and VM models, and the XML documents of the simulated
 * oned (IMAGE, VM, DATASTORE capacity and image list, HOST VM list) kept in step with them;
 * template attributes the drivers wrote into oned are read back into the models. Also where a
 * VM's files are (VM directory, host, disk links, store volumes).
 */
import { OneblkError } from "../../../../lib/errors.ts";
import { child, type XmlNode } from "../../../../lib/one/xml.ts";
import { buildImageXml, buildVmXml, type DiskInput } from "../builders.ts";
import { IMAGE_STATE, type ImageModel, type VmDiskModel, type VmModel } from "./models.ts";
import { OnedMads } from "./mads.ts";

function setLeaf(parent: XmlNode, name: string, value: string): void {
  const c = child(parent, name);
  if (c) {
    c.text = value;
    c.children = [];
  } else parent.children.push({ name, attrs: {}, text: value, children: [] });
}

/** The leaf elements of `node` (name → text). */
export function leafMap(node: XmlNode | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of node?.children ?? []) if (c.children.length === 0) out[c.name] = c.text;
  return out;
}

/** The image and VM models and the simulated oned's documents of them. */
export abstract class OnedDocuments extends OnedMads {
  /** Images by id. */
  readonly images = new Map<number, ImageModel>();
  /** VMs by id. */
  readonly vms = new Map<number, VmModel>();

  /** An image model; OneblkError("not_found") when unknown. */
  image(id: number): ImageModel {
    const i = this.images.get(id);
    if (!i) throw new OneblkError("not_found", `no image ${id}`);
    return i;
  }

  /** A VM model; OneblkError("not_found") when unknown. */
  vm(id: number): VmModel {
    const v = this.vms.get(id);
    if (!v) throw new OneblkError("not_found", `no VM ${id}`);
    return v;
  }

  /** `<IMAGE>` XML of a model (TEMPLATE updates made by drivers are kept). */
  imageXml(img: ImageModel): string {
    const cur = this.cluster.oned.state.get("IMAGE", img.id);
    if (cur) img.template = { ...img.template, ...leafMap(child(cur, "TEMPLATE")) };
    return buildImageXml({
      id: img.id,
      name: img.name,
      source: img.source,
      path: img.path,
      size: img.sizeMb,
      format: img.format,
      fs: img.fs,
      legacyFstype: this.convention.legacyFstype,
      type: img.type,
      diskType: 2,
      persistent: img.persistent,
      state: img.state,
      datastoreId: img.dsId,
      datastore: this.datastore(img.dsId).name,
      cloningId: img.cloningId,
      targetSnapshot: img.targetSnapshot,
      vms: img.vms,
      template: img.error ? { ...img.template, ERROR: img.error } : img.template,
      snapshots: img.snapshots,
      increments: img.increments,
    });
  }

  /** Store the image's document in the simulated oned. */
  protected putImage(img: ImageModel): void {
    this.cluster.oned.state.putImage(this.imageXml(img));
  }

  /** `<VM>` XML of a model (USER_TEMPLATE updates made by drivers are kept). */
  vmXml(vm: VmModel, opts: { historyLimit?: number } = {}): string {
    const cur = this.cluster.oned.state.get("VM", vm.id);
    if (cur) vm.userTemplate = { ...vm.userTemplate, ...leafMap(child(cur, "USER_TEMPLATE")) };
    const history = opts.historyLimit ? vm.history.slice(-opts.historyLimit) : vm.history;
    return buildVmXml({
      id: vm.id,
      name: vm.name,
      state: vm.state,
      lcmState: vm.lcmState,
      deployId: vm.deployId,
      disks: vm.disks.map((d) => this.#diskInput(d)),
      contextDiskId: vm.contextDiskId ?? undefined,
      history,
      userTemplate: vm.userTemplate,
      snapshots: vm.disks.filter((d) => d.snapshots.length)
        .map((d) => ({ diskId: d.diskId, snapshots: d.snapshots })),
      backupConfig: vm.backupConfig,
      backupIds: vm.backupIds,
      backupResult: vm.backupResult,
      template: {
        CPU: "1",
        MEMORY: String(vm.memoryMb),
        VCPU: "1",
        ...(vm.tpmModel ? { TPM: { MODEL: vm.tpmModel } } : {}),
        ...(vm.vmSnapshots.length
          ? {
            SNAPSHOT: vm.vmSnapshots.map((x) => ({
              ...(x.active ? { ACTIVE: "YES" } : {}),
              HYPERVISOR_ID: x.hypervisorId,
              NAME: x.name,
              SNAPSHOT_ID: x.id,
              TIME: x.time,
            })),
          }
          : {}),
        ...(this.#diskSys(vm) ? { TM_MAD_SYSTEM: this.#diskSys(vm) } : {}),
      },
    });
  }

  #diskSys(vm: VmModel): string {
    return vm.disks.find((d) => d.tmMadSystem)?.tmMadSystem ?? "";
  }

  #diskInput(d: VmDiskModel): DiskInput {
    const extra: Record<string, string | number> = { DEV_PREFIX: "vd" };
    if (d.imageId !== undefined) {
      extra.CLONE_TARGET = "SELF";
      extra.LN_TARGET = "NONE";
      extra.IMAGE_STATE = this.images.get(d.imageId)?.state ?? IMAGE_STATE.USED;
    }
    extra.ALLOW_ORPHANS = "YES";
    return {
      attach: d.attach,
      diskId: d.diskId,
      imageId: d.imageId,
      image: d.image,
      source: d.imageId === undefined ? undefined : d.source,
      clone: d.imageId === undefined ? undefined : d.clone,
      persistent: d.persistent,
      type: d.type,
      diskType: d.imageId === undefined ? "FILE" : "BLOCK",
      size: d.sizeMb,
      originalSize: d.originalSize,
      datastoreId: d.dsId,
      datastore: this.datastore(d.dsId).name,
      tmMad: d.tmMad,
      tmMadSystem: d.tmMadSystem || undefined,
      format: d.format,
      driver: d.format,
      fs: d.fs || undefined,
      target: d.target,
      readonly: d.readonly,
      extra,
    };
  }

  /** Store the VM's document in the simulated oned. */
  protected putVm(vm: VmModel): void {
    this.cluster.oned.state.putVm(this.vmXml(vm));
  }

  /** Set the VM's STATE and LCM_STATE (and store its document). */
  protected setVmState(vm: VmModel, state: number, lcm: number): void {
    vm.state = state;
    vm.lcmState = lcm;
    this.putVm(vm);
  }

  /** Update capacity (and the image list) of a datastore in the simulated oned. */
  protected putDsCapacity(
    dsId: number,
    c: { usedMb: number; totalMb: number; freeMb: number },
  ): void {
    this.cluster.oned.state.edit("DATASTORE", dsId, (n) => {
      setLeaf(n, "TOTAL_MB", String(Math.round(c.totalMb)));
      setLeaf(n, "FREE_MB", String(Math.round(c.freeMb)));
      setLeaf(n, "USED_MB", String(Math.round(c.usedMb)));
    });
  }

  /** Update the image list of a datastore in the simulated oned. */
  protected putDsImages(dsId: number): void {
    const ids = [...this.images.values()].filter((i) => i.dsId === dsId).map((i) => i.id);
    this.cluster.oned.state.edit("DATASTORE", dsId, (n) => {
      const list = child(n, "IMAGES");
      const node: XmlNode = {
        name: "IMAGES",
        attrs: {},
        text: "",
        children: ids.map((i) => ({ name: "ID", attrs: {}, text: String(i), children: [] })),
      };
      if (list) Object.assign(list, node);
      else n.children.push(node);
    });
  }

  /** Update the VM list of every host in the simulated oned (active VMs on their last host). */
  protected putHostVms(): void {
    const byHost = new Map<string, number[]>();
    for (const vm of this.vms.values()) {
      const h = vm.history.at(-1)?.hostname;
      if (h && vm.state !== 6 && vm.state !== 4) byHost.set(h, [...(byHost.get(h) ?? []), vm.id]);
    }
    for (const [id, xml] of this.cluster.oned.state.hosts) {
      const name = /<NAME>([^<]*)<\/NAME>/.exec(xml)?.[1] ?? "";
      const ids = byHost.get(name) ?? [];
      this.cluster.oned.state.edit("HOST", id, (n) => {
        const node: XmlNode = {
          name: "VMS",
          attrs: {},
          text: "",
          children: ids.map((i) => ({ name: "ID", attrs: {}, text: String(i), children: [] })),
        };
        const list = child(n, "VMS");
        if (list) Object.assign(list, node);
        else n.children.push(node);
      });
    }
  }

  /** The VM directory as oned writes it (`/var/lib/one//datastores/<sys>/<vm>`). */
  vmDir(vm: VmModel | number): string {
    const v = typeof vm === "number" ? this.vm(vm) : vm;
    const ds = v.history.at(-1)?.dsId ?? this.systemDs;
    return `/var/lib/one//datastores/${ds}/${v.id}`;
  }

  /** The host a VM currently runs on (last HISTORY record). */
  hostOf(vm: VmModel | number): string {
    const v = typeof vm === "number" ? this.vm(vm) : vm;
    const h = v.history.at(-1)?.hostname;
    if (!h) throw new OneblkError("input", `VM ${v.id} was never deployed`);
    return h;
  }

  /** Real local path of `DIR/disk.<diskId>` of a VM on `host` (default: its current host). */
  diskPath(vmId: number, diskId: number, host?: string): string {
    const vm = this.vm(vmId);
    return this.cluster.hostPath(host ?? this.hostOf(vm), `${this.vmDir(vm)}/disk.${diskId}`);
  }

  /** The simulator data file of a store volume (for checks), or undefined. */
  volumeFile(volume: string): string | undefined {
    if (this.store === "linstor") {
      const rd = this.cluster.linstor.controller.rd(volume);
      return rd ? this.cluster.linstor.dataPath(rd.name, 0) : undefined;
    }
    return this.cluster.storpool.dataPath(volume);
  }

  /** The store volume behind an image's SOURCE. */
  imageVolume(imageId: number): string {
    return this.profile.sourceVolume(this.image(imageId).source);
  }
}

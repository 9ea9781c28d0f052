/**
 * Image operations of the scripted oned (`oneimage create/clone/delete`, image snapshots,
 * marketplace export) and datastore monitoring, each as oned runs the datastore driver
 * (one_datastore.rb) and records its answer in the image's document.
 */
import { OneblkError } from "../../../../lib/errors.ts";
import type { XmlNode } from "../../../../lib/one/xml.ts";
import { parseXmlSync } from "../../../../lib/one/xml_saxes.ts";
import { buildDsActionXml } from "../builders.ts";
import { parseMonitor } from "./conventions.ts";
import { type DriverCall, IMAGE_STATE, type ImageModel, OnedFailure } from "./models.ts";
import { leafMap, OnedDocuments } from "./documents.ts";

/** The images: registering, creating, cloning, deleting, snapshots, export; monitoring. */
export abstract class OnedImages extends OnedDocuments {
  #reqId = 9000;
  /** The last image id given (oned never gives one twice). */
  protected lastImageId = -1;

  /** oned never gives an id twice, even after the image is gone. */
  #nextImageId(): number {
    let id = this.lastImageId + 1;
    for (const k of this.cluster.oned.state.images.keys()) id = Math.max(id, k + 1);
    for (const k of this.images.keys()) id = Math.max(id, k + 1);
    this.lastImageId = id;
    return id;
  }

  /** DS payload for an image action. */
  #dsPayload(img: ImageModel, extra?: Record<string, string | number>): string {
    return buildDsActionXml({
      image: this.imageXml(img),
      datastore: this.cluster.oned.state.datastores.get(img.dsId)!,
      extra,
    });
  }

  /** A new image model (LOCKED, next free id) with `p` over the defaults. */
  protected newImage(p: Partial<ImageModel> & { name: string; dsId: number }): ImageModel {
    return {
      id: this.#nextImageId(),
      source: "",
      path: "",
      sizeMb: 0,
      format: "raw",
      fs: "",
      type: 0,
      persistent: false,
      state: IMAGE_STATE.LOCKED,
      cloningId: -1,
      targetSnapshot: -1,
      snapshots: [],
      nextSnapshot: 0,
      vms: [],
      template: {},
      ...p,
    };
  }

  /** Put the image in ERROR with `text` as its ERROR attribute. */
  protected imageError(img: ImageModel, text: string): void {
    img.state = IMAGE_STATE.ERROR;
    img.error = text;
    this.putImage(img);
  }

  /**
   * `oneimage create` with PATH: DS stat (synchronous, request id), then cp. Sets SOURCE,
   * FORMAT and SIZE; the image ends READY (or ERROR, and OnedFailure is thrown).
   */
  async registerImage(
    opts: { name: string; path: string; persistent?: boolean; type?: number; dsId?: number },
  ): Promise<ImageModel> {
    const op = "registerImage";
    const dsId = opts.dsId ?? this.imageDs;
    const statXml = buildDsActionXml({
      image: `<IMAGE><PATH>${escapeText(opts.path)}</PATH><SIZE>0</SIZE></IMAGE>`,
      datastore: this.cluster.oned.state.datastores.get(dsId)!,
    });
    const stat = await this.dsAction(op, "stat", dsId, statXml, this.#reqId++);
    if (!stat.ok) this.fail(op, "Cannot parse image SIZE", stat);
    const size = stat.stdout.trim();
    if (!/^\d+$/.test(size)) {
      throw new OnedFailure(`${op}: Cannot parse image SIZE: ${JSON.stringify(size)}`, {
        call: stat,
      });
    }
    const img = this.newImage({
      name: opts.name,
      dsId,
      path: opts.path,
      sizeMb: Number(size),
      format: "",
      type: opts.type ?? 0,
      persistent: opts.persistent ?? false,
    });
    this.images.set(img.id, img);
    this.putImage(img);
    this.putDsImages(dsId);
    const cp = await this.dsAction(op, "cp", dsId, this.#dsPayload(img), img.id);
    if (!cp.ok) {
      this.imageError(img, `Error copying image in the datastore: ${cp.info}`);
      this.fail(op, "Error copying image in the datastore", cp);
    }
    const words = cp.stdout.split("\n")[0]?.trim().split(/\s+/).filter(Boolean) ?? [];
    if (words.length === 0) {
      this.imageError(img, "CP operation succeeded but image SOURCE was not returned");
      throw new OnedFailure(`${op}: cp printed no SOURCE`, { call: cp });
    }
    if (words.length < 2 && this.convention.cpFormatRequired) {
      this.imageError(img, "CP operation succeeded but image FORMAT was not returned.");
      throw new OnedFailure(`${op}: CP operation succeeded but image FORMAT was not returned.`, {
        call: cp,
      });
    }
    if (words.length > 2) cp.complaints.push(`cp printed ${words.length} words`);
    img.source = words[0];
    img.format = words[1] ?? "raw";
    img.state = IMAGE_STATE.READY;
    this.putImage(img);
    await this.monitorAfter(op, dsId);
    return img;
  }

  /**
   * Take over an image something else registered in the simulated oned through XML-RPC
   * (one.image.allocate with a SOURCE, e.g. `oneblk adopt drbd --register`): from then on the
   * scripted oned plays it like its own images.
   */
  importImage(id: number): ImageModel {
    const node = this.cluster.oned.state.get("IMAGE", id);
    if (!node) throw new OneblkError("not_found", `the simulated oned has no image ${id}`);
    const leaf = (n: string) => node.children.find((c) => c.name === n)?.text ?? "";
    const img = this.newImage({
      id,
      name: leaf("NAME"),
      dsId: Number(leaf("DATASTORE_ID")),
      source: leaf("SOURCE"),
      sizeMb: Number(leaf("SIZE")),
      format: leaf("FORMAT") || "raw",
      type: Number(leaf("TYPE")),
      persistent: leaf("PERSISTENT") === "1",
      state: Number(leaf("STATE")),
      template: leafMap(node.children.find((c) => c.name === "TEMPLATE")),
    });
    this.images.set(id, img);
    this.putImage(img);
    this.putDsImages(img.dsId);
    return img;
  }

  /** `oneimage create` without PATH: an empty DATABLOCK of `sizeMb` (DS mkfs). */
  async createDatablock(
    opts: {
      name: string;
      sizeMb: number;
      persistent?: boolean;
      format?: string;
      fs?: string;
      dsId?: number;
    },
  ): Promise<ImageModel> {
    const op = "createDatablock";
    const dsId = opts.dsId ?? this.imageDs;
    const img = this.newImage({
      name: opts.name,
      dsId,
      sizeMb: opts.sizeMb,
      format: opts.format ?? "raw",
      fs: opts.fs ?? "",
      type: 2,
      persistent: opts.persistent ?? false,
    });
    this.images.set(img.id, img);
    this.putImage(img);
    this.putDsImages(dsId);
    const source = await this.mkfs(op, img);
    img.source = source;
    img.state = IMAGE_STATE.READY;
    this.putImage(img);
    await this.monitorAfter(op, dsId);
    return img;
  }

  /** DS mkfs for `img`: returns the SOURCE it printed (the image goes to ERROR on failure). */
  protected async mkfs(op: string, img: ImageModel): Promise<string> {
    const call = await this.dsAction(op, "mkfs", img.dsId, this.#dsPayload(img), img.id);
    if (!call.ok) {
      this.imageError(img, `Error creating datablock: ${call.info}`);
      this.fail(op, "Error creating datablock", call);
    }
    const lines = call.stdout.split("\n").filter((l) => l.trim() !== "");
    if (lines.length !== 1) {
      this.imageError(img, "MKFS printed no single SOURCE line");
      throw new OnedFailure(`${op}: mkfs printed ${lines.length} lines, not one SOURCE`, { call });
    }
    const source = lines[0].trim();
    if (/\s/.test(source)) call.complaints.push(`mkfs SOURCE contains blanks: ${source}`);
    return source;
  }

  /** `oneimage clone`: DS clone into a new image of the same datastore. */
  async cloneImage(srcId: number, name: string): Promise<ImageModel> {
    const op = "cloneImage";
    const src = this.image(srcId);
    const img = this.newImage({
      name,
      dsId: src.dsId,
      path: src.source,
      sizeMb: src.sizeMb,
      format: src.format,
      fs: src.fs,
      type: src.type,
      cloningId: src.id,
    });
    this.images.set(img.id, img);
    this.putImage(img);
    this.putDsImages(img.dsId);
    const prev = src.state;
    src.state = IMAGE_STATE.CLONE;
    this.putImage(src);
    const srcDs = this.datastore(src.dsId);
    let call: DriverCall;
    try {
      call = await this.dsAction(
        op,
        "clone",
        img.dsId,
        this.#dsPayload(img, { SOURCE_BRIDGE_LIST: srcDs.template.get("BRIDGE_LIST") }),
        img.id,
      );
    } finally {
      src.state = prev;
      this.putImage(src);
    }
    if (!call.ok) {
      this.imageError(img, `Error cloning image: ${call.info}`);
      this.fail(op, "Error cloning image", call);
    }
    const words = call.stdout.split("\n")[0]?.trim().split(/\s+/).filter(Boolean) ?? [];
    if (!words.length) throw new OnedFailure(`${op}: clone printed no SOURCE`, { call });
    img.source = words[0];
    if (words[1]) img.format = words[1];
    img.state = IMAGE_STATE.READY;
    this.putImage(img);
    await this.monitorAfter(op, img.dsId);
    return img;
  }

  /**
   * `oneimage delete`: DS rm; the image leaves oned on success. An image without SOURCE (its
   * cp or clone failed) is dropped from the pool without any driver call, as oned does.
   */
  async deleteImage(id: number): Promise<void> {
    const op = "deleteImage";
    const img = this.image(id);
    if (img.vms.length) throw new OneblkError("in_use", `image ${id} is used by VMs ${img.vms}`);
    if (img.source === "") {
      this.images.delete(id);
      this.cluster.oned.state.remove("IMAGE", id);
      this.putDsImages(img.dsId);
      return;
    }
    img.state = IMAGE_STATE.DELETE;
    this.putImage(img);
    const call = await this.dsAction(op, "rm", img.dsId, this.#dsPayload(img), img.id);
    if (!call.ok) {
      this.imageError(img, `Error removing image from datastore: ${call.info}`);
      this.fail(op, "Error removing image from datastore", call);
    }
    this.images.delete(id);
    this.cluster.oned.state.remove("IMAGE", id);
    this.putDsImages(img.dsId);
    await this.monitorAfter(op, img.dsId);
  }

  /**
   * Image snapshot operations (image not in use): DS snap_revert (the snapshot becomes
   * ACTIVE), snap_delete (it goes away; not the ACTIVE one), snap_flatten (the image becomes
   * the snapshot, every snapshot goes away). IMAGE/TARGET_SNAPSHOT names the snapshot.
   */
  async imageSnapshot(
    action: "snap_revert" | "snap_delete" | "snap_flatten",
    imageId: number,
    snapId: number,
  ): Promise<void> {
    const op = `image ${action}`;
    const img = this.image(imageId);
    if (img.vms.length) throw new OneblkError("in_use", `image ${imageId} is in use`);
    const snap = img.snapshots.find((x) => x.id === snapId);
    if (!snap) throw new OneblkError("input", `image ${imageId} has no snapshot ${snapId}`);
    if (action === "snap_delete" && snap.active) {
      throw new OnedFailure(`${op}: Cannot delete the active snapshot`);
    }
    const prev = img.state;
    img.targetSnapshot = snapId;
    img.state = IMAGE_STATE.LOCKED;
    this.putImage(img);
    let call: DriverCall;
    try {
      call = await this.dsAction(op, action, img.dsId, this.#dsPayload(img), img.id);
    } finally {
      img.targetSnapshot = -1;
      img.state = prev;
    }
    if (!call.ok) {
      this.putImage(img);
      this.fail(op, `Error on image snapshot ${snapId}`, call);
    }
    if (action === "snap_revert") { for (const x of img.snapshots) x.active = x.id === snapId; }
    else if (action === "snap_delete") img.snapshots = img.snapshots.filter((x) => x.id !== snapId);
    else img.snapshots = [];
    this.putImage(img);
  }

  /**
   * Marketplace export (one_market.rb): DS export with `app_id`; returns the parsed
   * IMPORT_INFO (IMPORT_SOURCE, MD5, SIZE, FORMAT, DISPOSE, DISPOSE_CMD).
   */
  async exportImage(imageId: number, appId: number): Promise<Record<string, string>> {
    const op = "exportImage";
    const img = this.image(imageId);
    const call = await this.dsAction(op, "export", img.dsId, this.#dsPayload(img), appId);
    if (!call.ok) this.fail(op, "Error exporting image", call);
    let node: XmlNode;
    try {
      node = parseXmlSync(call.stdout, "export output");
    } catch (e) {
      throw new OnedFailure(`${op}: export printed no IMPORT_INFO: ${(e as Error).message}`, {
        call,
      });
    }
    if (node.name !== "IMPORT_INFO") {
      throw new OnedFailure(`${op}: export printed <${node.name}>, not <IMPORT_INFO>`, { call });
    }
    return leafMap(node);
  }

  /**
   * Monitor a datastore (image DS: datastore/<DS_MAD>/monitor; shared system DS:
   * tm/<TM_MAD>/monitor with DATASTORE_LOCATION and MONITOR_VM_DISKS). Updates its capacity.
   */
  async monitorDatastore(
    dsId: number,
    opts: { vmDisks?: boolean } = {},
  ): Promise<{ usedMb: number; totalMb: number; freeMb: number }> {
    const op = "monitorDatastore";
    const ds = this.datastore(dsId);
    const extra = ds.isSystem
      ? { DATASTORE_LOCATION: "/var/lib/one//datastores", MONITOR_VM_DISKS: opts.vmDisks ? 1 : 0 }
      : undefined;
    const xml = buildDsActionXml({
      datastore: this.cluster.oned.state.datastores.get(dsId)!,
      extra,
    });
    const call = await this.dsAction(op, "monitor", dsId, xml, dsId);
    if (!call.ok) this.fail(op, `Error monitoring datastore ${dsId}`, call);
    const cap = parseMonitor(call.stdout);
    if (!cap) {
      throw new OnedFailure(`${op}: monitor output lacks USED_MB/TOTAL_MB/FREE_MB`, { call });
    }
    this.putDsCapacity(dsId, cap);
    return cap;
  }

  /** oned re-monitors a datastore after cp/clone/mkfs/rm; a missing monitor is skipped. */
  protected async monitorAfter(op: string, dsId: number): Promise<void> {
    const ds = this.datastore(dsId);
    if (!this.installed("datastore", ds.dsMad, "monitor")) return;
    try {
      await this.monitorDatastore(dsId);
    } catch (e) {
      this.complain(op, `monitor after ${op} failed: ${(e as Error).message}`);
    }
  }
}

function escapeText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

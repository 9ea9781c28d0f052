/**
 * Pure decisions for the disk hot-plug overrides (`attach_disk`, `detach_disk`; contract in
 * `docs/contract.md "vmm deploy and disk hot-plug"`): from the DISK oned is attaching or
 * detaching and the live domain XML (`virsh dumpxml`), a typed plan. The caller runs it.
 *
 * - A disk on oneblk's store is a block device: its DISK_TYPE/TYPE in the driver message become
 *   BLOCK (a CDROM keeps its CDROM type) before the stock host `attach_disk` builds the
 *   `<disk>` from them; otherwise it writes `type='file'`.
 * - IDE and SATA drives cannot be hot-plugged. A CDROM attach therefore becomes a media change
 *   into an existing empty CDROM drive (made at deploy by the persistent CDROM rewrite of
 *   `domain_xml.ts`) when the requested target is such a drive, is taken, or would land on a
 *   fixed bus. The bus is read from the live domain, not guessed from DEV_PREFIX: OpenNebula
 *   7.2+ names CDROMs `sdX` on bus `sata` on q35 machines, where an `hd` test misses them.
 * - Detaching a disk that sits in an IDE/SATA CDROM drive ejects the medium instead. Disks are
 *   found by their exact source path, since a media change may have used another drive than
 *   the target oned recorded.
 * - A repeated call (the MAD retries after a lost reply) finds the state already reached.
 */
import { OneblkError } from "../errors.ts";
import { child, mapChildren, type XmlNode } from "../one/xml.ts";
import type { DiskView } from "../one/views.ts";
import { defaultBus, type DomainDisk, domainDisks, isFixedBus, samePath } from "./domain_xml.ts";

/** CDROM, BLOCK_CDROM, RBD_CDROM, … (a disk TYPE that is a CD-ROM). */
export function isCdromType(type: string): boolean {
  return /(^|_)CDROM$/i.test(type.trim());
}

function onStore(disk: DiskView, tms: Iterable<string>): boolean {
  const tm = disk.tmMad.trim().toLowerCase();
  return tm !== "" && [...tms].some((t) => t.toLowerCase() === tm);
}

/** New DISK_TYPE and TYPE for the DISK in the attach message. */
export interface DiskRetype {
  DISK_TYPE: "BLOCK";
  /** BLOCK, or the disk's own CDROM type (CDROM, BLOCK_CDROM). */
  TYPE: string;
}

/**
 * How the DISK being attached must be retyped so that the stock `attach_disk` writes a block
 * device, or null when it needs nothing: the disk's TM_MAD is not one of `tms`, or DISK_TYPE is
 * already BLOCK and TYPE already BLOCK (or a CDROM type).
 */
export function attachRetype(disk: DiskView, tms: Iterable<string>): DiskRetype | null {
  if (!onStore(disk, tms)) return null;
  const type = isCdromType(disk.type) ? disk.type : "BLOCK";
  return disk.diskType === "BLOCK" && disk.type === type
    ? null
    : { DISK_TYPE: "BLOCK", TYPE: type };
}

/** What `planAttach` decides from. */
export interface AttachInput {
  /** The DISK with ATTACH=YES from the driver message (`VmView.attachedDisk`). */
  disk: DiskView;
  /** Its path on the host, argv DIR/disk.N. */
  path: string;
  /** The live domain (`virsh dumpxml`), parsed with `parseDomainXml`. */
  live: XmlNode;
  /** TM_MAD names of oneblk drivers (any case). */
  tms: Iterable<string>;
}

/** The plan for one attach_disk call. */
export type AttachPlan =
  /** Stock host attach_disk, with the message's DISK retyped first when `retype` is set. */
  | { route: "attach"; retype: DiskRetype | null }
  /**
   * `virsh change-media <dom> <target> <path> --insert`, with `--block` when `block` (the disk
   * is a store device or DISK_TYPE BLOCK; the host may still check `test -b`).
   */
  | { route: "media"; target: string; bus: string; path: string; block: boolean }
  /** The path is in the domain already (at `target`): nothing to do. */
  | { route: "present"; target: string }
  /** Cannot be done; `reason` is one line for oned. */
  | { route: "refuse"; reason: string };

function holder(disks: DomainDisk[], path: string): DomainDisk | undefined {
  return disks.find((d) => !d.empty && samePath(d.source, path));
}

function what(d: DomainDisk): string {
  const kind = d.device === "cdrom" ? (d.empty ? "an empty CDROM drive" : "a CDROM") : "a disk";
  return `${kind}${d.source ? ` (${d.source})` : ""}${d.bus ? ` on bus ${d.bus}` : ""}`;
}

/**
 * Decide how to attach `input.disk`:
 * 1. its path already in the domain → present;
 * 2. a CDROM whose target is an empty CDROM drive in the domain → media change into it;
 * 3. a CDROM whose target is taken, or whose target name puts it on a fixed bus (`hdX`: IDE,
 *    or SATA on q35) → media change into the first empty IDE/SATA CDROM drive, or refuse when
 *    there is none;
 * 4. any other disk whose target is taken → refuse (libvirt would reject the duplicate);
 * 5. otherwise → stock attach, retyped per `attachRetype`.
 */
export function planAttach(input: AttachInput): AttachPlan {
  const { disk, path } = input;
  const disks = domainDisks(input.live);
  const there = holder(disks, path);
  if (there) return { route: "present", target: there.target };
  const target = disk.target;
  if (!target) return { route: "refuse", reason: `disk ${disk.diskId} has no TARGET` };
  const at = disks.find((d) => d.target === target);
  const retype = attachRetype(disk, input.tms);
  if (!isCdromType(disk.type)) {
    if (at) {
      return {
        route: "refuse",
        reason: `target ${target} is already used in the live domain by ${what(at)}`,
      };
    }
    return { route: "attach", retype };
  }
  const media = (d: DomainDisk): AttachPlan => ({
    route: "media",
    target: d.target,
    bus: d.bus,
    path,
    block: onStore(disk, input.tms) || disk.diskType === "BLOCK" || disk.type.startsWith("BLOCK"),
  });
  if (at?.device === "cdrom" && at.empty) return media(at);
  const bus = defaultBus(target);
  if (!at && !isFixedBus({ bus })) return { route: "attach", retype };
  const free = disks.find((d) => d.device === "cdrom" && d.empty && isFixedBus(d));
  if (free) return media(free);
  return {
    route: "refuse",
    reason: at
      ? `target ${target} is already used in the live domain by ${what(at)} and no empty ` +
        `IDE/SATA CDROM drive is free`
      : `CDROM ${target} would be on bus ${bus}, which cannot hot-plug, and the domain has no ` +
        `empty IDE/SATA CDROM drive (T_PERSISTENT_CDROM creates them at deploy)`,
  };
}

/** What `planDetach` decides from. */
export interface DetachInput {
  /** The disk's path on the host, argv DIR/disk.N. */
  path: string;
  /** The target oned recorded, argv TARGET. */
  target: string;
  /** The live domain (`virsh dumpxml`), parsed with `parseDomainXml`. */
  live: XmlNode;
}

/** The plan for one detach_disk call. */
export type DetachPlan =
  /** Stock host detach_disk of `target`. */
  | { route: "detach"; target: string }
  /** `virsh change-media <dom> <target> --eject --force`: the drive stays, empty. */
  | { route: "eject"; target: string }
  /** Not in the domain (any more): nothing to do. */
  | { route: "absent" };

/**
 * Decide how to detach: the drive holding `path` is ejected when it is a CDROM on a fixed bus
 * (IDE/SATA) and detached otherwise (by its own target). When no drive holds the path, the
 * stock detach of `target` runs if that target holds a medium (OpenNebula 6.10+ writes resolved
 * paths for hot-attached file disks, so a non-store disk may not show `DIR/disk.N`); an absent
 * target or an empty CDROM drive means it is detached already.
 */
export function planDetach(input: DetachInput): DetachPlan {
  const disks = domainDisks(input.live);
  const there = holder(disks, input.path);
  if (there) {
    return there.device === "cdrom" && isFixedBus(there)
      ? { route: "eject", target: there.target }
      : { route: "detach", target: there.target };
  }
  const at = input.target ? disks.find((d) => d.target === input.target) : undefined;
  if (!at || at.empty) return { route: "absent" };
  return { route: "detach", target: input.target };
}

function setLeaf(node: XmlNode, name: string, value: string): XmlNode {
  if (!child(node, name)) {
    return {
      ...node,
      children: [...node.children, { name, attrs: {}, text: value, children: [] }],
    };
  }
  return mapChildren(node, (c) => c.name === name && c.text !== value ? { ...c, text: value } : c);
}

/**
 * The driver message (`<VMM_DRIVER_ACTION_DATA>`, or a bare `<VM>`) with DISK_TYPE and TYPE of
 * the DISK with ATTACH=YES set per `retype` (added when missing). Throws OneblkError("input")
 * when the message has no such DISK.
 */
export function retypeAttachDisk(message: XmlNode, retype: DiskRetype): XmlNode {
  let found = false;
  const onDisk = (d: XmlNode): XmlNode => {
    if (d.name !== "DISK" || !/^yes$/i.test(child(d, "ATTACH")?.text.trim() ?? "")) return d;
    found = true;
    return setLeaf(setLeaf(d, "DISK_TYPE", retype.DISK_TYPE), "TYPE", retype.TYPE);
  };
  const onVm = (vm: XmlNode): XmlNode =>
    mapChildren(vm, (t) => t.name === "TEMPLATE" ? mapChildren(t, onDisk) : t);
  const next = message.name === "VM"
    ? onVm(message)
    : mapChildren(message, (c) => c.name === "VM" ? onVm(c) : c);
  if (!found) throw new OneblkError("input", "driver message has no DISK with ATTACH=YES");
  return next;
}

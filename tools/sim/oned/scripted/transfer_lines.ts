/**
 * Transfer-file building of the scripted oned: the TM command lines oned writes for a VM's
 * prolog, epilog, stop/resume moves, context and migration (`VERB[.sys] tm_mad args… vmid dsid`,
 * see docs/contract.md "Which VM operation calls which TM action"), from the VM model alone.
 */
import type { VmDiskModel, VmModel } from "./models.ts";

/** Where a VM's files are: its directory (as oned names it) and its system datastore. */
export interface VmPlace {
  /** `/var/lib/one//datastores/<sys>/<vm>`. */
  dir: string;
  /** System datastore id. */
  sysDs: number;
  /** The system datastore's TM_MAD. */
  sysTm: string;
}

/** `fe:SOURCE`/`host:DIR/disk.i` style argument. */
export function hostArg(host: string, path: string): string {
  return `${host}:${path}`;
}

/** The command word of a disk's line: `op`, or `op.<sys>` for a disk with TM_MAD_SYSTEM. */
export function tmVerb(op: string, d: VmDiskModel, sysOverride?: string): string {
  const sys = sysOverride ?? d.tmMadSystem;
  return sys ? `${op}.${sys}` : op;
}

/** The prolog of a new VM on `host`: CLONE/LN per image disk, MKIMAGE/MKSWAP per volatile disk. */
export function prologLines(
  vm: VmModel,
  o: { host: string; dir: string; frontend: string; legacyFstype: boolean },
): string[] {
  return vm.disks.map((d) => {
    const dst = hostArg(o.host, `${o.dir}/disk.${d.diskId}`);
    if (d.imageId !== undefined) {
      const verb = d.clone ? "CLONE" : "LN";
      return `${tmVerb(verb, d)} ${d.tmMad} ${
        hostArg(o.frontend, d.source)
      } ${dst} ${vm.id} ${d.dsId}`;
    }
    if (d.type === "swap") return `MKSWAP ${d.tmMad} ${d.sizeMb} ${dst} ${vm.id} ${d.dsId}`;
    const second = o.legacyFstype ? (d.fs || "raw") : d.format;
    return `MKIMAGE ${d.tmMad} ${d.sizeMb} ${second} ${dst} ${vm.id} ${d.dsId}`;
  });
}

/**
 * MV lines of stop/resume (per disk, then the VM dir), with oned's quirk of not resetting
 * the `.sys` suffix between disks (a volatile disk after an image disk inherits it).
 */
export function mvLines(vm: VmModel, place: VmPlace, from: string, to: string): string[] {
  const dir = place.dir;
  let sticky = "";
  const lines = vm.disks.map((d) => {
    if (d.tmMadSystem) sticky = d.tmMadSystem;
    const p = `${dir}/disk.${d.diskId}`;
    return `${tmVerb("MV", d, d.tmMadSystem || sticky)} ${d.tmMad} ${hostArg(from, p)} ` +
      `${hostArg(to, p)} ${vm.id} ${d.dsId}`;
  });
  lines.push(
    `MV ${place.sysTm} ${hostArg(from, dir)} ${hostArg(to, dir)} ${vm.id} ${place.sysDs}`,
  );
  return lines;
}

/**
 * The epilog of a VM on `host`: MVDS for persistent disks and DELETE for the others, then
 * DELETE of the VM dir. With `deleteAll` (a STOPPED VM, or a hard terminate) oned writes the
 * epilog_delete form: DELETE of every disk, persistent ones too, with the sticky `.sys` suffix.
 */
export function epilogLines(
  vm: VmModel,
  place: VmPlace,
  host: string,
  deleteAll: boolean,
): string[] {
  const dir = place.dir;
  let sticky = "";
  const lines = vm.disks.map((d) => {
    if (d.tmMadSystem) sticky = d.tmMadSystem;
    const p = hostArg(host, `${dir}/disk.${d.diskId}`);
    if (d.persistent && !deleteAll) {
      return `${tmVerb("MVDS", d)} ${d.tmMad} ${p} ${d.source} ${vm.id} ${d.dsId}`;
    }
    const sfx = deleteAll ? (d.tmMadSystem || sticky) : d.tmMadSystem;
    return `${tmVerb("DELETE", d, sfx)} ${d.tmMad} ${p} ${vm.id} ${d.dsId}`;
  });
  lines.push(`DELETE ${place.sysTm} ${hostArg(host, dir)} ${vm.id} ${place.sysDs}`);
  return lines;
}

/** The CONTEXT line of VM `vmId` whose context disk is `diskId` on `host`, for `ctxFile`. */
export function contextLine(
  vmId: number,
  diskId: number,
  place: VmPlace,
  host: string,
  ctxFile: string,
): string {
  return `CONTEXT ${place.sysTm} ${ctxFile} ` +
    `${hostArg(host, `${place.dir}/disk.${diskId}`)} ${vmId} ${place.sysDs}`;
}

/** The arguments of pre/post/failmigrate: `src dst DIR vmid dsid`. */
export function migrateArgs(vm: VmModel, place: VmPlace, src: string, dst: string): string[] {
  return [src, dst, place.dir, String(vm.id), String(place.sysDs)];
}

/**
 * What a fault world holds, for comparing it with a reference world that lived the same oned
 * history without the fault: the store's volumes (with sizes), snapshots, attachments and
 * properties/tags, the files under the hosts' datastore and staging directories, and the
 * front-end's journal of host leftovers. And the data checks: every image and every VM disk
 * still reads the bytes it must.
 *
 * A difference from the reference is a leftover (orphan) when the world has something more or
 * something changed, and lost data when a volume or snapshot the reference keeps is missing.
 * Missing attachments are not judged here: a VM disk that lost its device shows in the data
 * check. Nor are LINSTOR tie-breakers, which the controller adds and removes itself.
 */
import { join, relative } from "node:path";
import { CLUSTER_HOSTS } from "../sim/cluster.ts";
import { purgeDelayedDeletes, regionSha } from "../sim/scenario.ts";
import type { FaultWorld } from "./world.ts";
import { listHostLeftovers } from "../../lib/domain/host_leftovers.ts";

/** The inventory of a world, each list sorted. */
export interface Inventory {
  /** `name size=<KiB>` */
  volumes: string[];
  /** `volume@snapshot` */
  snapshots: string[];
  /** `volume@host kind` */
  attachments: string[];
  /** `object: key=value` */
  props: string[];
  /** `host:/path` (`-> target` for links) */
  files: string[];
  /**
   * `host:/path kind`: the entries of the front-end's journal of host leftovers
   * (lib/domain/host_leftovers.ts, in the world's `state` folder). An entry oneblk gc could not
   * settle is a leftover like the path it names.
   */
  journal: string[];
}

const KEYS = ["volumes", "snapshots", "attachments", "props", "files", "journal"] as const;

/** Directories whose files are part of the inventory, on every host. */
const WATCHED_DIRS = ["/var/lib/one/datastores", "/var/tmp"];

/** The inventory of `w` (delayed deletes of the store are let fall due first). */
export async function inventory(w: FaultWorld): Promise<Inventory> {
  await purgeDelayedDeletes(w.oned);
  const inv: Inventory = {
    volumes: [],
    snapshots: [],
    attachments: [],
    props: [],
    files: [],
    journal: [],
  };
  if (w.store === "linstor") {
    const c = w.cluster.linstor.controller;
    for (const rd of c.state.rds) {
      inv.volumes.push(`${rd.name} size=${rd.vds.map((v) => v.sizeKib).join("+")}`);
      for (const s of rd.snaps) inv.snapshots.push(`${rd.name}@${s.name}`);
      // Where the replicas are is the controller's choice: their number counts, not their nodes
      // (unless one is held open). A client or diskless attachment is per host.
      const diskful = rd.rscs.filter((r) => !r.diskless && !r.tieBreaker);
      inv.attachments.push(`${rd.name} diskful x${diskful.length}`);
      for (const r of rd.rscs) {
        const open = c.isInUse(rd, r.node) ? " open" : "";
        if (!r.diskless && !r.tieBreaker) {
          if (open) inv.attachments.push(`${rd.name}@${r.node} diskful${open}`);
          continue;
        }
        const kind = r.tieBreaker ? "tie-breaker" : r.client ? "client" : "diskless";
        inv.attachments.push(`${rd.name}@${r.node} ${kind}${open}`);
        for (const [k, v] of Object.entries(r.props)) {
          if (!k.startsWith("Internal/") && k !== "StorPoolName") {
            inv.props.push(`${rd.name}@${r.node}: ${k}=${v}`);
          }
        }
      }
      for (const [k, v] of Object.entries(rd.props)) {
        if (!k.startsWith("Internal/")) inv.props.push(`${rd.name}: ${k}=${v}`);
      }
    }
  } else {
    const st = w.cluster.storpool.state();
    const hostOf = (id: number) =>
      Object.entries(st.clients).find(([, v]) => v === id)?.[0] ?? `client${id}`;
    for (const v of Object.values(st.volumes)) {
      inv.volumes.push(`${v.name} size=${v.size / 1024}`);
      for (const [k, t] of Object.entries(v.tags)) inv.props.push(`${v.name}: ${k}=${t}`);
    }
    for (const s of Object.values(st.snapshots)) {
      const name = s.autoName ? "(anonymous)" : s.name;
      inv.snapshots.push(`${s.onVolume}@${name}`);
      for (const [k, t] of Object.entries(s.tags)) {
        inv.props.push(`${s.onVolume}@${name}: ${k}=${t}`);
      }
    }
    for (const a of st.attachments) {
      inv.attachments.push(
        `${a.volume}@${hostOf(a.client)} ${a.snapshot ? "snapshot " : ""}${a.rights}${
          a.open ? " open" : ""
        }`,
      );
    }
  }
  for (const h of CLUSTER_HOSTS) {
    for (const d of WATCHED_DIRS) await listFiles(w, h, d, inv.files);
  }
  const { entries, bad } = await listHostLeftovers(w.cluster.env);
  for (const e of entries) inv.journal.push(`${e.host}:${e.path} ${e.kind}`);
  for (const b of bad) inv.journal.push(`${b.file} (${b.why})`);
  for (const k of KEYS) inv[k].sort();
  return inv;
}

async function listFiles(w: FaultWorld, host: string, dir: string, out: string[]): Promise<void> {
  const root = w.cluster.hostPath(host, "/");
  const walk = async (p: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(p));
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(p, e.name);
      const shown = `${host}:/${relative(root, full)}`;
      if (e.isSymlink) {
        const to = await Deno.readLink(full).catch(() => "?");
        out.push(`${shown} -> ${to.replace(w.cluster.root, "<root>")}`);
      } else if (e.isDirectory) {
        out.push(`${shown}/`);
        await walk(full);
      } else out.push(shown);
    }
  };
  await walk(w.cluster.hostPath(host, dir));
}

/** How `got` differs from the reference `ref`. */
export interface InventoryDiff {
  /** Things `got` has that the reference has not (leftovers, changed properties). */
  extra: string[];
  /** Volumes and snapshots the reference keeps and `got` lost. */
  lost: string[];
}

/** The volume an inventory line is about (`name size=…`, `name@…`, `name: …`). */
function volumeOf(line: string): string {
  return line.split(/[ @:]/)[0];
}

/**
 * Compare an inventory with its reference (see the module doc). An extra volume is one line
 * (`volume X (+ its snapshots, attachments, properties)`), not one per thing it carries.
 */
export function diffInventory(ref: Inventory, got: Inventory): InventoryDiff {
  const extra: string[] = [];
  const lost: string[] = [];
  const refVolumes = new Set(ref.volumes.map(volumeOf));
  const newVolumes = new Set(got.volumes.map(volumeOf).filter((v) => !refVolumes.has(v)));
  const carried = new Map<string, number>();
  const gotVolumes = new Map(got.volumes.map((v) => [volumeOf(v), v]));
  for (const v of ref.volumes) {
    const now = gotVolumes.get(volumeOf(v));
    if (now === undefined) lost.push(`volume ${v}`);
    else if (now !== v) extra.push(`volume ${now} (reference: ${v.slice(volumeOf(v).length + 1)})`);
  }
  for (const k of KEYS) {
    const r = new Set(ref[k]);
    const g = new Set(got[k]);
    for (const x of got[k]) {
      if (r.has(x) || (k === "volumes" && !newVolumes.has(volumeOf(x)))) continue;
      // LINSTOR places and removes tie-breakers itself: one is nobody's leftover.
      if (k === "attachments" && / tie-breaker$/.test(x) && !newVolumes.has(volumeOf(x))) continue;
      if (k !== "volumes" && k !== "files" && k !== "journal" && newVolumes.has(volumeOf(x))) {
        carried.set(volumeOf(x), (carried.get(volumeOf(x)) ?? 0) + 1);
      } else extra.push(`${k.replace(/s$/, "")} ${x}`);
    }
    if (k === "snapshots") { for (const x of ref[k]) if (!g.has(x)) lost.push(`snapshot ${x}`); }
  }
  return {
    extra: extra.map((x) => {
      const n = x.startsWith("volume ") ? carried.get(volumeOf(x.slice(7))) : undefined;
      return n ? `${x} (+${n} snapshots/attachments/properties)` : x;
    }),
    lost,
  };
}

/**
 * Data checks: every image the world expects still has its volume with the expected bytes,
 * and every VM disk it expects (of a VM that runs or is powered off) resolves through its
 * `DIR/disk.N` link on the VM's host to those bytes. Returns what is wrong.
 */
export async function dataProblems(w: FaultWorld): Promise<string[]> {
  const out: string[] = [];
  const { oned } = w;
  for (const [id, exp] of w.images) {
    const img = oned.images.get(id);
    if (!img || !img.source) {
      out.push(`image ${id} is gone from oned`);
      continue;
    }
    const vol = oned.profile.sourceVolume(img.source);
    const file = oned.volumeFile(vol);
    if (!file) {
      out.push(`image ${id}: volume ${vol} is gone`);
      continue;
    }
    const sha = await regionSha(file, 0, exp.len, "raw").catch(() => "unreadable");
    if (sha !== exp.sha) out.push(`image ${id}: volume ${vol} does not hold the image's data`);
  }
  for (const [key, exp] of w.disks) {
    const [vmId, diskId] = key.split("/").map(Number);
    const vm = oned.vms.get(vmId);
    if (!vm || !(vm.state === 8 || (vm.state === 3 && vm.lcmState === 3))) continue;
    const host = oned.hostOf(vm);
    const path = oned.diskPath(vmId, diskId, host);
    try {
      await Deno.lstat(path);
    } catch {
      out.push(`VM ${vmId} disk ${diskId}: no DIR/disk.${diskId} on ${host}`);
      continue;
    }
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch {
      out.push(`VM ${vmId} disk ${diskId}: DIR/disk.${diskId} on ${host} points to nothing`);
      continue;
    }
    if (exp.size !== undefined && st.size < exp.size) {
      out.push(`VM ${vmId} disk ${diskId}: ${st.size} bytes, expected at least ${exp.size}`);
    }
    if (exp.len === 0) continue;
    const sha = await regionSha(path, 0, exp.len, "raw").catch(() => "unreadable");
    if (sha !== exp.sha) out.push(`VM ${vmId} disk ${diskId}: wrong data on ${host}`);
  }
  return out;
}

/**
 * Helpers of the backup tests: the store as the test sees it (chain snapshots, scratch volumes
 * and restore snapshots of a VM's disks), qemu-img, and OpenNebula's rsync chain rebuild done
 * offline on copies of the stored files.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import type { ScriptedOned, VmModel } from "../../tools/sim/oned/scripted_oned.ts";
import type { Backend } from "../../lib/backend/types.ts";
import { openBackend } from "../../lib/backend/index.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { OneClient } from "../../lib/one/xmlrpc.ts";
import { parseVmSync } from "../support/views_sync.ts";

const backends = new WeakMap<ScriptedOned, Backend>();

/** The store behind the scripted oned's image datastore, opened in the test process. */
export function backendOf(s: ScriptedOned): Backend {
  let b = backends.get(s);
  if (!b) {
    const ds = s.datastore(s.imageDs);
    const env = s.cluster.env;
    b = openBackend(s.profile.store(ds.template, ds.id), {
      env,
      hosts: new SimRunner(s.cluster.root),
      one: () => OneClient.fromEnv({ env }),
    });
    backends.set(s, b);
  }
  return b;
}

/** The volume of each image disk of the VM, by disk id. */
export function diskVolumes(s: ScriptedOned, vm: VmModel): Map<number, string> {
  const view = parseVmSync(s.vmXml(vm));
  return new Map(
    vm.disks.filter((d) => d.imageId !== undefined)
      .map((d) => [d.diskId, s.profile.diskVolume(vm.id, view.disk(d.diskId)!)]),
  );
}

/** Per disk: its chain snapshot ids; scratch volumes and restore snapshots that exist. */
export async function chainState(
  s: ScriptedOned,
  vm: VmModel,
): Promise<{ chain: number[][]; scratch: string[]; undo: string[] }> {
  const b = backendOf(s);
  const chain: number[][] = [];
  const scratch: string[] = [];
  const undo: string[] = [];
  for (const [d, volume] of diskVolumes(s, vm)) {
    const snaps = await b.listSnapshots(volume);
    chain.push(
      snaps.map((x) => s.profile.backupSnapshotInc(volume, vm.id, d, x.name))
        .filter((x): x is number => x !== null).sort((a, b) => a - b),
    );
    const u = s.profile.restoreUndoName(volume, vm.id, d);
    if (snaps.some((x) => x.name === u)) undo.push(u);
    for (let inc = 0; inc < 8; inc++) {
      const v = s.profile.backupVolume(vm.id, d, inc);
      if (await b.getVolume(v)) scratch.push(v);
    }
  }
  return { chain, scratch, undo };
}

/** Run qemu-img here; its stdout. */
export async function qemuImg(args: string[]): Promise<string> {
  const o = await new Deno.Command("qemu-img", { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  assert.ok(o.success, `qemu-img ${args.join(" ")}: ${dec.decode(o.stderr)}`);
  return dec.decode(o.stdout);
}

/**
 * OpenNebula's rsync chain rebuild on copies of `files` (disk.N.0 … disk.N.k, oldest first):
 * `qemu-img rebase -u -F qcow2 -b <previous> <next>` for each link, `qemu-img convert -O qcow2`
 * of the last one (what the downloader streams), then raw for comparing. Returns the raw file.
 */
export async function rebuildLikeRsync(files: string[], work: string): Promise<string> {
  await Deno.mkdir(work, { recursive: true });
  const copies: string[] = [];
  for (const [i, f] of files.entries()) {
    const dir = join(work, `inc${i}`);
    await Deno.mkdir(dir, { recursive: true });
    const to = join(dir, basename(f));
    await Deno.copyFile(f, to);
    copies.push(to);
  }
  for (let i = 1; i < copies.length; i++) {
    await qemuImg(["rebase", "-u", "-F", "qcow2", "-b", copies[i - 1], copies[i]]);
  }
  const merged = join(work, "merged.qcow2");
  await qemuImg(["convert", "-O", "qcow2", copies.at(-1)!, merged]);
  const raw = join(work, "merged.raw");
  await qemuImg(["convert", "-f", "qcow2", "-O", "raw", merged, raw]);
  return raw;
}

/**
 * Backup rows of `deno task bench`: for one disk (1 GiB, filled with data; `quick`: 128 MiB)
 * with 1% of it changed, a full backup against an incremental one, per store, played by the
 * scripted oned (7.2, MODE=INCREMENT) into the simulated rsync backup datastore. Reported: the
 * wall time of the whole `onevm backup` (prebackup, the datastore's copy, postbackup) and of
 * prebackup alone (where the driver's work is), and the bytes written into the backup (the
 * `disk.0.<n>` file the datastore stores) next to the bytes changed.
 */
import { ScriptedOned } from "../sim/oned/scripted_oned.ts";

const MiB = 1024 * 1024;

/** One backup measured. */
export interface BackupRow {
  profile: string;
  /** full or incremental. */
  kind: string;
  diskMiB: number;
  /** MiB changed since the previous backup (the whole disk for the full one). */
  changedMiB: number;
  /** Wall time of `onevm backup`, ms. */
  backupMs: number;
  /** Wall time of tm prebackup, ms. */
  prebackupMs: number;
  /** Size of the stored disk.0.<n> file, bytes. */
  fileBytes: number;
}

/** `len` random bytes (incompressible, like real data). */
function randomBytes(len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function writeAt(path: string, offset: number, data: Uint8Array): Promise<void> {
  const f = await Deno.open(path, { write: true });
  try {
    await f.seek(offset, Deno.SeekMode.Start);
    let n = 0;
    while (n < data.length) n += await f.write(data.subarray(n));
  } finally {
    f.close();
  }
}

/** Full then incremental backup of one disk with 1% changed, per profile. */
export async function benchBackups(
  latencyMs: number,
  quick: boolean,
  profiles: readonly ("linstor" | "storpool" | "linstor_un")[] = ["linstor", "storpool"],
): Promise<BackupRow[]> {
  const diskMiB = quick ? 128 : 1024;
  const rows: BackupRow[] = [];
  for (const profile of profiles) {
    const s = await ScriptedOned.start({ profile, version: "7.2.0", latencyMs });
    try {
      const img = await s.createDatablock({ name: "bench", sizeMb: diskMiB });
      const vm = await s.instantiate({
        host: "bravo",
        disks: [{ image: img.id }],
        backupConfig: { MODE: "INCREMENT", KEEP_LAST: 10 },
      });
      const dev = s.cluster.hostPath("bravo", `${s.vmDir(vm)}/disk.0`);
      for (let off = 0; off < diskMiB; off += 64) {
        await writeAt(dev, off * MiB, randomBytes(Math.min(64, diskMiB - off) * MiB));
      }
      const measure = async (kind: string, changedMiB: number) => {
        const t0 = performance.now();
        const r = await s.backup(vm.id);
        const backupMs = performance.now() - t0;
        const pre = s.calls.filter((c) => c.script.startsWith("prebackup")).at(-1)!;
        rows.push({
          profile,
          kind,
          diskMiB,
          changedMiB,
          backupMs: Math.round(backupMs),
          prebackupMs: Math.round(pre.wallMs),
          fileBytes: (await Deno.stat(r.files[0].path)).size,
        });
      };
      await measure("full", diskMiB);
      // 1% of the disk, in 1 MiB pieces spread over it
      const changed = Math.max(1, Math.round(diskMiB / 100));
      for (let i = 0; i < changed; i++) {
        const at = Math.floor((i + 0.5) * diskMiB / changed);
        await writeAt(dev, at * MiB, randomBytes(MiB));
      }
      await measure("incremental", changed);
    } finally {
      await s.close();
    }
  }
  return rows;
}

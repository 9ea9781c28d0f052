/**
 * A hand-made DRBD resource on simulated hosts, as LINBIT's article "How to migrate manually
 * created resources to LINSTOR" describes it: resource `legacy`, port 15500, volume 10, minor
 * 9100, a 1,340 MiB LV `/dev/datastore/legacy` with internal meta data for 4 peer slots,
 * nodes `eagle` (node-id 4) and `rabbit` (node-id 8).
 *
 * On each host: `/etc/drbd.d/legacy.res`, the LV as a sparse file holding known bytes in its
 * data area and a meta-data pattern in its last 204 KiB, and — while the resource runs — the
 * DRBD device `/dev/drbd9100`: a file of the net size holding the same data (a simulated host
 * has no block devices: a device is a file of its size).
 */
import { dirname, join } from "node:path";
import { sha256Hex } from "./bytes.ts";
import { lcgBytes } from "./bytes.ts";
import { readAt, writeAt } from "./files.ts";

/** The article's figures. */
export const LEGACY = {
  name: "legacy",
  port: 15500,
  volume: 10,
  minor: 9100,
  lv: "/dev/datastore/legacy",
  vg: "datastore",
  lvBytes: 1340 * 1024 * 1024,
  peerSlots: 4,
  netKiB: 1_371_956,
  nodeIds: { eagle: 4, rabbit: 8 } as Record<string, number>,
  resPath: "/etc/drbd.d/legacy.res",
} as const;

/** The article's configuration file (DRBD 9 syntax). */
export function legacyResText(opts: { name?: string; metaDisk?: string; hosts?: string[] } = {}) {
  const hosts = opts.hosts ?? ["eagle", "rabbit"];
  const ids = [4, 8, 12, 16];
  return `# hand-made, as in LINBIT's migration article
resource ${opts.name ?? LEGACY.name} {
    net {
        protocol C;
    }
    volume ${LEGACY.volume} {
        device      minor ${LEGACY.minor};
        disk        ${LEGACY.lv};
        meta-disk   ${opts.metaDisk ?? "internal"};
    }
${
    hosts.map((h, i) =>
      `    on ${h} {\n        node-id     ${ids[i]};\n        address     10.1.1.${
        ids[i]
      }:${LEGACY.port};\n    }`
    ).join("\n")
  }
}
`;
}

/** Where the known bytes are, in the data area (offset, length). */
export const KNOWN_REGIONS: [number, number][] = [
  [0, 1 << 20],
  [700 * 1024 * 1024, 1 << 20],
  [LEGACY.netKiB * 1024 - 65536, 65536],
];

/** The known bytes of region `i`. */
export function knownBytes(i: number): Uint8Array {
  return lcgBytes(KNOWN_REGIONS[i][1], 1000 + i);
}

/** The meta-data pattern DRBD would keep after the data area (must never show in a device). */
export function metadataBytes(): Uint8Array {
  return lcgBytes(LEGACY.lvBytes - LEGACY.netKiB * 1024, 77);
}

/** Options of {@link makeLegacyHost}. */
export interface LegacyHostOptions {
  /** Configuration text (default: the article's). */
  resText?: string;
  /** The resource runs: `/dev/drbd9100` exists (default true). */
  running?: boolean;
  /** Size of the device file when running (default: the net size). */
  deviceBytes?: number;
  /** Size of the LV (default 1,340 MiB). */
  lvBytes?: number;
}

/** Make host `hostDir` (a simulated host's directory) hold the hand-made resource. */
export async function makeLegacyHost(hostDir: string, o: LegacyHostOptions = {}): Promise<void> {
  const res = join(hostDir, LEGACY.resPath);
  await Deno.mkdir(dirname(res), { recursive: true });
  await Deno.writeTextFile(res, o.resText ?? legacyResText());
  const lvBytes = o.lvBytes ?? LEGACY.lvBytes;
  const lv = join(hostDir, LEGACY.lv);
  await Deno.mkdir(dirname(lv), { recursive: true });
  await Deno.writeFile(lv, new Uint8Array());
  await Deno.truncate(lv, lvBytes);
  for (let i = 0; i < KNOWN_REGIONS.length; i++) {
    await writeAt(lv, KNOWN_REGIONS[i][0], knownBytes(i));
  }
  if (lvBytes === LEGACY.lvBytes) await writeAt(lv, LEGACY.netKiB * 1024, metadataBytes());
  if (o.running ?? true) {
    const dev = join(hostDir, `/dev/drbd${LEGACY.minor}`);
    await Deno.writeFile(dev, new Uint8Array());
    for (let i = 0; i < KNOWN_REGIONS.length; i++) {
      await writeAt(dev, KNOWN_REGIONS[i][0], knownBytes(i));
    }
    await Deno.truncate(dev, o.deviceBytes ?? LEGACY.netKiB * 1024);
  }
}

/**
 * True when `path` (a real path: a device link on a simulated host) shows the known bytes and
 * is exactly the net size (no meta data visible).
 */
export async function showsKnownBytes(path: string): Promise<boolean> {
  const st = await Deno.stat(path);
  if (st.size !== LEGACY.netKiB * 1024) return false;
  for (let i = 0; i < KNOWN_REGIONS.length; i++) {
    const [off, len] = KNOWN_REGIONS[i];
    const got = await readAt(path, off, len);
    if (sha256Hex(got) !== sha256Hex(knownBytes(i))) return false;
  }
  return true;
}

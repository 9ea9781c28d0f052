/**
 * DRBD internal ("flexible internal", `meta-disk internal`) meta-data size math: what net size
 * a DRBD device exposes on top of a backing device, which backing size a net size needs, and
 * which peer-slot count explains an observed net size. Shared by DRBD 8.4 (one slot) and 9.
 *
 * Layout at the end of the backing device, each part a whole number of 4 KiB blocks:
 *
 *     [ data (net size) ][ bitmap ][ activity log ][ superblock 4 KiB ]
 *
 * - the superblock is the last 4 KiB-aligned 4 KiB block of the device, so a backing size that
 *   is not a multiple of 4 KiB loses its tail;
 * - the activity log is `al-stripes` x `al-stripe-size-kB` (1 x 32 KiB unless `drbdmeta
 *   create-md` was given other values; the `al-extents` disk option does not change it);
 * - the bitmap has one bit per bitmap block (4 KiB) of the whole backing device per peer slot,
 *   each slot rounded up to 64 bits, the total rounded up to 4 KiB.
 *
 * All sizes are plain numbers: DRBD's limit (1 PiB) is far below 2^53.
 */
import { OneblkError } from "../errors.ts";

/** Fewest bitmap (peer) slots DRBD meta data can have. */
export const MIN_PEER_SLOTS = 1;
/** Most bitmap (peer) slots DRBD 9 meta data can have (32 nodes, minus this one). */
export const MAX_PEER_SLOTS = 31;
/** Size of the meta-data superblock. */
export const SUPERBLOCK_BYTES = 4096;
/** Largest device DRBD handles: 1 PiB. */
export const MAX_BACKING_BYTES = 2 ** 50;
/** Smallest net size worth a DRBD device (one 4 KiB block). */
export const MIN_NET_KIB = 4;
/** Smallest backing device drbdmeta formats, and LINSTOR's smallest gross size. */
export const MIN_GROSS_KIB = 68;

const BLOCK = 4096;
const SECTOR = 512;

/** The parts of the meta data that are not fixed by DRBD. Every field is optional. */
export interface MetadataLayout {
  /** Activity-log stripes (`drbdmeta create-md --al-stripes`); default 1. */
  alStripes?: number;
  /** Size of one activity-log stripe in KiB (`--al-stripe-size-kB`), a multiple of 4; default 32. */
  alStripeSizeKiB?: number;
  /** Data covered by one bitmap bit, in KiB (power of two, 4 .. 1024); default 4. */
  bitmapBlockKiB?: number;
}

/** The computed internal meta data of one backing device. All sizes in bytes unless named KiB. */
export interface InternalMetadata {
  backingBytes: number;
  peerSlots: number;
  bitmapBytes: number;
  activityLogBytes: number;
  superblockBytes: number;
  /** bitmap + activity log + superblock. */
  metadataBytes: number;
  /** Backing bytes past the last whole 4 KiB block (unused by DRBD). */
  unusedTailBytes: number;
  /** What the DRBD device exposes (`blockdev --getsize64 /dev/drbdN`). */
  netBytes: number;
  /** netBytes / 1024: the size of a LINSTOR volume definition. */
  netKiB: number;
}

/** Outcome of {@link inferPeerSlots}. */
export type PeerSlotInference =
  | { kind: "exact"; peerSlots: number }
  | { kind: "ambiguous"; candidates: number[] }
  | { kind: "none"; closest: { peerSlots: number; netKiB: number } };

function bad(msg: string): never {
  throw new OneblkError("input", msg);
}

function alignUp(v: number, a: number): number {
  return Math.ceil(v / a) * a;
}

function checkInt(v: number, what: string, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    bad(`${what} must be an integer from ${min} to ${max}, not ${v}`);
  }
}

interface Resolved {
  alBytes: number;
  bmBlockBytes: number;
}

function resolve(layout: MetadataLayout): Resolved {
  const stripes = layout.alStripes ?? 1;
  const stripeKiB = layout.alStripeSizeKiB ?? 32;
  const bmKiB = layout.bitmapBlockKiB ?? 4;
  checkInt(stripes, "al-stripes", 1, 8192);
  checkInt(stripeKiB, "al-stripe-size-kB", 4, 32768);
  if (stripeKiB % 4 !== 0) bad(`al-stripe-size-kB must be a multiple of 4, not ${stripeKiB}`);
  const alBytes = stripes * stripeKiB * 1024;
  // drbdmeta refuses an activity log under 32 KiB or over its 32 MiB I/O buffer.
  if (alBytes < 32 * 1024 || alBytes > 32 * 1024 * 1024) {
    bad(`activity log of ${stripes} x ${stripeKiB} KiB is outside 32 KiB .. 32 MiB`);
  }
  checkInt(bmKiB, "bitmap block size (KiB)", 4, 1024);
  if ((bmKiB & (bmKiB - 1)) !== 0) {
    bad(`bitmap block size must be a power of two, not ${bmKiB} KiB`);
  }
  return { alBytes, bmBlockBytes: bmKiB * 1024 };
}

/** Bitmap bytes for a backing device of `backingBytes` with `peerSlots` slots. */
function bitmapBytes(backingBytes: number, peerSlots: number, bmBlockBytes: number): number {
  // The kernel and drbdmeta count the device in 512-byte sectors (a partial sector is ignored),
  // then need one bit per started bitmap block, each slot padded to 64-bit words.
  const sectors = Math.floor(backingBytes / SECTOR);
  const bits = alignUp(Math.ceil(sectors / (bmBlockBytes / SECTOR)), 64);
  return alignUp((bits / 8) * peerSlots, BLOCK);
}

/**
 * The internal meta data DRBD places on a backing device of `backingBytes` bytes with
 * `peerSlots` bitmap slots, and the net size left for data. Throws OneblkError("input") for
 * a slot count outside 1..31, a bad layout, or a device too small or too large for DRBD.
 */
export function internalMetadata(
  backingBytes: number,
  peerSlots: number,
  layout: MetadataLayout = {},
): InternalMetadata {
  checkInt(backingBytes, "backing device size (bytes)", 0, MAX_BACKING_BYTES);
  checkInt(peerSlots, "peer slots", MIN_PEER_SLOTS, MAX_PEER_SLOTS);
  const { alBytes, bmBlockBytes } = resolve(layout);
  const usable = Math.floor(backingBytes / BLOCK) * BLOCK;
  const bm = bitmapBytes(backingBytes, peerSlots, bmBlockBytes);
  const metadataBytes = bm + alBytes + SUPERBLOCK_BYTES;
  const netBytes = usable - metadataBytes;
  if (backingBytes < MIN_GROSS_KIB * 1024 || netBytes < MIN_NET_KIB * 1024) {
    bad(
      `a backing device of ${backingBytes} bytes is too small for DRBD internal meta data ` +
        `with ${peerSlots} peer slots (${metadataBytes} bytes of meta data)`,
    );
  }
  return {
    backingBytes,
    peerSlots,
    bitmapBytes: bm,
    activityLogBytes: alBytes,
    superblockBytes: SUPERBLOCK_BYTES,
    metadataBytes,
    unusedTailBytes: backingBytes - usable,
    netBytes,
    netKiB: netBytes / 1024,
  };
}

/** Net size in KiB of a DRBD device with internal meta data: see {@link internalMetadata}. */
export function netSizeKiB(
  backingBytes: number,
  peerSlots: number,
  layout: MetadataLayout = {},
): number {
  return internalMetadata(backingBytes, peerSlots, layout).netKiB;
}

/**
 * The smallest backing size in KiB (a multiple of 4 KiB, at least {@link MIN_GROSS_KIB}) whose
 * internal meta data leaves at least `netKiB` for data: what LINSTOR allocates for a volume
 * definition of `netKiB` (its gross size) before the storage layer rounds it up (to LVM
 * extents, say). Above the minimum, a backing device of exactly this size exposes `netKiB`
 * rounded up to 4 KiB.
 */
export function grossSizeKiB(
  netKiB: number,
  peerSlots: number,
  layout: MetadataLayout = {},
): number {
  checkInt(netKiB, "net size (KiB)", MIN_NET_KIB, MAX_BACKING_BYTES / 1024);
  checkInt(peerSlots, "peer slots", MIN_PEER_SLOTS, MAX_PEER_SLOTS);
  const { alBytes, bmBlockBytes } = resolve(layout);
  const data = alignUp(netKiB * 1024, BLOCK);
  // The bitmap must also cover itself, the activity log and the superblock: grow the gross
  // size until the bitmap it needs no longer changes (a few rounds at most).
  let gross = data + alBytes + SUPERBLOCK_BYTES;
  for (;;) {
    const next = data + bitmapBytes(gross, peerSlots, bmBlockBytes) + alBytes + SUPERBLOCK_BYTES;
    if (next <= gross) break;
    gross = next;
  }
  if (gross > MAX_BACKING_BYTES) bad(`a net size of ${netKiB} KiB exceeds DRBD's 1 PiB limit`);
  return Math.max(gross / 1024, MIN_GROSS_KIB);
}

/**
 * Which peer-slot counts (1..31) make a backing device of `backingBytes` expose exactly
 * `netKiB`. Small devices need less than 4 KiB of bitmap per slot, so several counts can give
 * the same net size: the answer is then "ambiguous" and lists them (read the slot count from
 * the meta data with `drbdadm dump-md`, or give it). "none" means no count fits (another
 * activity-log layout, a size limited by `disk-size`/a peer, or a device grown without
 * `drbdadm resize`), with the closest count for the message.
 */
export function inferPeerSlots(
  backingBytes: number,
  netKiB: number,
  layout: MetadataLayout = {},
): PeerSlotInference {
  checkInt(netKiB, "net size (KiB)", 1, MAX_BACKING_BYTES / 1024);
  const candidates: number[] = [];
  let closest = { peerSlots: 0, netKiB: 0 };
  for (let slots = MIN_PEER_SLOTS; slots <= MAX_PEER_SLOTS; slots++) {
    let got: number;
    try {
      got = netSizeKiB(backingBytes, slots, layout);
    } catch (e) {
      // Too small for this many slots: larger counts only need more meta data.
      if (slots === MIN_PEER_SLOTS) throw e;
      break;
    }
    if (got === netKiB) candidates.push(slots);
    if (closest.peerSlots === 0 || Math.abs(got - netKiB) < Math.abs(closest.netKiB - netKiB)) {
      closest = { peerSlots: slots, netKiB: got };
    }
  }
  if (candidates.length === 1) return { kind: "exact", peerSlots: candidates[0] };
  if (candidates.length > 1) return { kind: "ambiguous", candidates };
  return { kind: "none", closest };
}

/**
 * A byte size as KiB for LINSTOR, which keeps volume sizes in KiB: `bytes` must be a
 * non-negative whole number that divides by 1024 (a DRBD device with internal meta data always
 * does). Accepts a number, a bigint or a decimal string (as printed by `blockdev --getsize64`);
 * `what` names the size in the error.
 */
export function bytesToKiB(bytes: number | bigint | string, what: string): number {
  let n: bigint;
  if (typeof bytes === "string") {
    const t = bytes.trim();
    if (!/^\d+$/.test(t)) bad(`${what}: ${JSON.stringify(bytes)} is not a size in bytes`);
    n = BigInt(t);
  } else if (typeof bytes === "number") {
    if (!Number.isSafeInteger(bytes) || bytes < 0) bad(`${what}: ${bytes} is not a size in bytes`);
    n = BigInt(bytes);
  } else {
    if (bytes < 0n) bad(`${what}: ${bytes} is not a size in bytes`);
    n = bytes;
  }
  if (n % 1024n !== 0n) {
    bad(
      `${what}: ${n} bytes is not a whole number of KiB (remainder ${n % 1024n}); ` +
        `LINSTOR needs the net size in KiB: check that the device uses internal meta data ` +
        `and no disk-size limit, or adopt it by hand`,
    );
  }
  const kib = n / 1024n;
  if (kib > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${what}: ${n} bytes is too large`);
  return Number(kib);
}

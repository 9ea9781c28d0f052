import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneblkError } from "../../lib/errors.ts";
import {
  bytesToKiB,
  grossSizeKiB,
  inferPeerSlots,
  internalMetadata,
  MAX_PEER_SLOTS,
  type MetadataLayout,
  MIN_GROSS_KIB,
  netSizeKiB,
} from "../../lib/drbd/metadata.ts";

const MiB = 1024 * 1024;

/** An input error whose message contains `part`. */
function inputError(part: string | RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof OneblkError, String(e));
    assert.equal(e.kind, "input");
    if (typeof part === "string") assert.ok(e.message.includes(part), e.message);
    else assert.match(e.message, part);
    assert.ok(!e.message.includes("\n"));
    return true;
  };
}

/**
 * Net sizes in KiB for peer slots 1..31 (index 0 = 1 slot), as drbdmeta (drbd-utils 9.22)
 * laid them out: `drbdmeta --force 0 v09 FILE internal create-md [AL options] SLOTS` on a
 * sparse file of `bytes` bytes, then the `bm_offset` of `dump-md` (the first meta-data byte,
 * which is where the data area ends) divided by 1024. Sizes include ones that are not a
 * multiple of 4 KiB nor of 512 bytes, the smallest devices drbdmeta accepts, and other
 * activity-log layouts.
 */
// deno-fmt-ignore
const DRBDMETA: { bytes: number; layout?: MetadataLayout; netKiB: number[] }[] = [
  { bytes: 1405091840, netKiB: [1372080, 1372040, 1371996, 1371956, 1371912, 1371872, 1371828, 1371788, 1371744, 1371704, 1371660, 1371620, 1371576, 1371536, 1371492, 1371452, 1371412, 1371368, 1371328, 1371284, 1371244, 1371200, 1371160, 1371116, 1371076, 1371032, 1370992, 1370948, 1370908, 1370864, 1370824] },
  { bytes: 104857600, netKiB: [102360, 102356, 102352, 102348, 102348, 102344, 102340, 102336, 102332, 102332, 102328, 102324, 102320, 102320, 102316, 102312, 102308, 102304, 102304, 102300, 102296, 102292, 102292, 102288, 102284, 102280, 102276, 102276, 102272, 102268, 102264] },
  { bytes: 4194304, netKiB: [4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056, 4056] },
  // 4 MiB + 4 KiB: with 31 slots only the 64-bit padding of each slot needs a second block.
  { bytes: 4198400, netKiB: [4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4060, 4056] },
  { bytes: 1073741824, netKiB: [1048508, 1048476, 1048444, 1048412, 1048380, 1048348, 1048316, 1048284, 1048252, 1048220, 1048188, 1048156, 1048124, 1048092, 1048060, 1048028, 1047996, 1047964, 1047932, 1047900, 1047868, 1047836, 1047804, 1047772, 1047740, 1047708, 1047676, 1047644, 1047612, 1047580, 1047548] },
  // 1 GiB + 100 bytes: the partial sector does not count, so the bitmap is that of 1 GiB.
  { bytes: 1073741924, netKiB: [1048508, 1048476, 1048444, 1048412, 1048380, 1048348, 1048316, 1048284, 1048252, 1048220, 1048188, 1048156, 1048124, 1048092, 1048060, 1048028, 1047996, 1047964, 1047932, 1047900, 1047868, 1047836, 1047804, 1047772, 1047740, 1047708, 1047676, 1047644, 1047612, 1047580, 1047548] },
  { bytes: 1073742336, netKiB: [1048504, 1048472, 1048440, 1048408, 1048376, 1048344, 1048312, 1048280, 1048248, 1048216, 1048184, 1048152, 1048120, 1048088, 1048056, 1048024, 1047992, 1047960, 1047928, 1047896, 1047864, 1047832, 1047800, 1047768, 1047736, 1047704, 1047672, 1047640, 1047608, 1047576, 1047544] },
  { bytes: 1073742824, netKiB: [1048504, 1048472, 1048440, 1048408, 1048376, 1048344, 1048312, 1048280, 1048248, 1048216, 1048184, 1048152, 1048120, 1048088, 1048056, 1048024, 1047992, 1047960, 1047928, 1047896, 1047864, 1047832, 1047800, 1047768, 1047736, 1047704, 1047672, 1047640, 1047608, 1047576, 1047544] },
  { bytes: 10737421312, netKiB: [10485400, 10485080, 10484760, 10484440, 10484120, 10483800, 10483480, 10483160, 10482840, 10482520, 10482200, 10481880, 10481560, 10481240, 10480920, 10480600, 10480280, 10479960, 10479640, 10479320, 10479000, 10478680, 10478360, 10478040, 10477720, 10477400, 10477080, 10476760, 10476440, 10476120, 10475800] },
  { bytes: 123456789, netKiB: [120520, 120516, 120512, 120508, 120504, 120500, 120496, 120492, 120488, 120484, 120480, 120476, 120476, 120472, 120468, 120464, 120460, 120456, 120452, 120448, 120444, 120440, 120436, 120432, 120432, 120428, 120424, 120420, 120416, 120412, 120408] },
  { bytes: 134221824, netKiB: [131032, 131028, 131024, 131020, 131016, 131012, 131008, 131004, 131000, 130996, 130992, 130988, 130984, 130980, 130976, 130972, 130968, 130964, 130960, 130956, 130952, 130948, 130944, 130940, 130936, 130932, 130928, 130924, 130920, 130916, 130912] },
  { bytes: 68719476224, netKiB: [67106776, 67104728, 67102680, 67100632, 67098584, 67096536, 67094488, 67092440, 67090392, 67088344, 67086296, 67084248, 67082200, 67080152, 67078104, 67076056, 67074008, 67071960, 67069912, 67067864, 67065816, 67063768, 67061720, 67059672, 67057624, 67055576, 67053528, 67051480, 67049432, 67047384, 67045336] },
  { bytes: 69632, netKiB: [28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28] },
  { bytes: 73728, netKiB: [32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32] },
  { bytes: 139264, netKiB: [96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96, 96] },
  { bytes: 1405091840, layout: { alStripes: 2, alStripeSizeKiB: 64 }, netKiB: [1371984, 1371944, 1371900, 1371860, 1371816, 1371776, 1371732, 1371692, 1371648, 1371608, 1371564, 1371524, 1371480, 1371440, 1371396, 1371356, 1371316, 1371272, 1371232, 1371188, 1371148, 1371104, 1371064, 1371020, 1370980, 1370936, 1370896, 1370852, 1370812, 1370768, 1370728] },
  { bytes: 1073741824, layout: { alStripes: 4, alStripeSizeKiB: 1024 }, netKiB: [1044444, 1044412, 1044380, 1044348, 1044316, 1044284, 1044252, 1044220, 1044188, 1044156, 1044124, 1044092, 1044060, 1044028, 1043996, 1043964, 1043932, 1043900, 1043868, 1043836, 1043804, 1043772, 1043740, 1043708, 1043676, 1043644, 1043612, 1043580, 1043548, 1043516, 1043484] },
  { bytes: 1073741824, layout: { alStripes: 1, alStripeSizeKiB: 36 }, netKiB: [1048504, 1048472, 1048440, 1048408, 1048376, 1048344, 1048312, 1048280, 1048248, 1048216, 1048184, 1048152, 1048120, 1048088, 1048056, 1048024, 1047992, 1047960, 1047928, 1047896, 1047864, 1047832, 1047800, 1047768, 1047736, 1047704, 1047672, 1047640, 1047608, 1047576, 1047544] },
];

describe("DRBD internal meta data: net size", () => {
  it("gives the article's figure: a 1,340 MiB LV with 4 peer slots exposes 1,371,956 KiB", () => {
    assert.equal(netSizeKiB(1340 * MiB, 4), 1_371_956);
  });

  it("breaks the article's device down into bitmap, activity log and superblock", () => {
    const md = internalMetadata(1340 * MiB, 4);
    // 1,340 MiB / 4 KiB = 343,040 bits per slot = 42,880 bytes; x4 = 171,520 -> 168 KiB.
    assert.equal(md.bitmapBytes, 168 * 1024);
    assert.equal(md.activityLogBytes, 32 * 1024);
    assert.equal(md.superblockBytes, 4096);
    assert.equal(md.metadataBytes, 204 * 1024);
    assert.equal(md.unusedTailBytes, 0);
    assert.equal(md.netBytes, 1_404_882_944);
    assert.equal(md.netKiB, 1_371_956);
  });

  it("matches drbdmeta for every vector (sizes x 1..31 slots x activity-log layouts)", () => {
    let n = 0;
    for (const v of DRBDMETA) {
      assert.equal(v.netKiB.length, MAX_PEER_SLOTS);
      v.netKiB.forEach((want, i) => {
        assert.equal(
          netSizeKiB(v.bytes, i + 1, v.layout),
          want,
          `${v.bytes} bytes, ${i + 1} slots`,
        );
        n++;
      });
    }
    assert.equal(n, DRBDMETA.length * 31);
  });

  it("covers DRBD 8.4 (v08) meta data as one peer slot", () => {
    // drbdmeta ... v08 ... internal create-md, then bm_offset / 1024, for these sizes.
    const v08: [number, number][] = [
      [1405091840, 1372080],
      [1073741924, 1048508],
      [123456789, 120520],
      [4198400, 4060],
      [69632, 28],
      [10737421312, 10485400],
    ];
    for (const [bytes, kib] of v08) assert.equal(netSizeKiB(bytes, 1), kib, String(bytes));
  });

  it("ignores a tail that is not a whole 4 KiB block, but counts it in the bitmap", () => {
    const md = internalMetadata(1024 * MiB + 1000, 1);
    assert.equal(md.unusedTailBytes, 1000);
    // One started 4 KiB block more than 1 GiB needs a 65th bitmap word: 36 KiB of bitmap.
    assert.equal(md.bitmapBytes, 36 * 1024);
    assert.equal(md.netKiB, 1024 * 1024 - 4 - 32 - 36);
  });

  it("sizes the bitmap from the bitmap block size (derived from drbdmeta's bm_bytes)", () => {
    // 1 GiB at 64 KiB per bit: 16,384 bits = 2,048 bytes per slot.
    assert.equal(netSizeKiB(1024 * MiB, 1, { bitmapBlockKiB: 64 }), 1024 * 1024 - 4 - 32 - 4);
    // 31 slots: 63,488 bytes -> 64 KiB.
    assert.equal(netSizeKiB(1024 * MiB, 31, { bitmapBlockKiB: 64 }), 1024 * 1024 - 4 - 32 - 64);
  });

  it("refuses slot counts outside 1..31, bad layouts and devices too small or too large", () => {
    assert.throws(() => netSizeKiB(1340 * MiB, 0), inputError("peer slots"));
    assert.throws(() => netSizeKiB(1340 * MiB, 32), inputError("from 1 to 31"));
    assert.throws(() => netSizeKiB(1340 * MiB, 2.5), inputError("peer slots"));
    assert.throws(() => netSizeKiB(-1, 1), inputError("backing device size"));
    assert.throws(() => netSizeKiB(2 ** 51, 1), inputError("backing device size"));
    // drbdmeta refuses devices under 68 KiB ("That's not enough"), whatever they would leave.
    assert.throws(() => netSizeKiB(64 * 1024, 1), inputError("too small"));
    assert.equal(netSizeKiB(68 * 1024, 1), 28);
    assert.throws(() => netSizeKiB(68 * 1024, 1, { alStripes: 2 }), inputError("too small"));
    assert.throws(() => netSizeKiB(MiB, 1, { alStripeSizeKiB: 30 }), inputError("multiple of 4"));
    assert.throws(() => netSizeKiB(MiB, 1, { alStripeSizeKiB: 16 }), inputError("32 KiB"));
    assert.throws(() => netSizeKiB(MiB, 1, { bitmapBlockKiB: 12 }), inputError("power of two"));
  });
});

describe("DRBD internal meta data: gross size", () => {
  it("needs exactly the article's 1,340 MiB LV for 1,371,956 KiB with 4 slots", () => {
    assert.equal(grossSizeKiB(1_371_956, 4), 1340 * 1024);
  });

  it("is the smallest 4 KiB-aligned backing size that gives the net size, for every vector", () => {
    for (const v of DRBDMETA) {
      v.netKiB.forEach((net, i) => {
        const slots = i + 1;
        const gross = grossSizeKiB(net, slots, v.layout);
        assert.equal(gross % 4, 0);
        assert.ok(gross * 1024 <= v.bytes, `${v.bytes}/${slots}: gross ${gross} KiB`);
        if (gross > MIN_GROSS_KIB) {
          assert.equal(netSizeKiB(gross * 1024, slots, v.layout), net);
          assert.ok(netSizeKiB((gross - 4) * 1024, slots, v.layout) < net);
        }
      });
    }
  });

  it("rounds a net size up to 4 KiB and never goes below LINSTOR's 68 KiB minimum", () => {
    assert.equal(grossSizeKiB(4, 1), MIN_GROSS_KIB);
    assert.equal(grossSizeKiB(1_371_955, 4), 1340 * 1024);
    assert.equal(grossSizeKiB(1_371_957, 4), 1340 * 1024 + 4);
  });
});

describe("DRBD internal meta data: inferring the peer slots", () => {
  it("finds the article's 4 slots from the LV size and the net size", () => {
    assert.deepEqual(inferPeerSlots(1340 * MiB, 1_371_956), { kind: "exact", peerSlots: 4 });
  });

  it("agrees with every drbdmeta vector: exact, or ambiguous among equal net sizes", () => {
    for (const v of DRBDMETA) {
      v.netKiB.forEach((net, i) => {
        const same = v.netKiB.flatMap((x, j) => (x === net ? [j + 1] : []));
        const got = inferPeerSlots(v.bytes, net, v.layout);
        if (same.length === 1) assert.deepEqual(got, { kind: "exact", peerSlots: i + 1 });
        else assert.deepEqual(got, { kind: "ambiguous", candidates: same });
      });
    }
  });

  it("says ambiguous for small devices, where a slot needs less than 4 KiB of bitmap", () => {
    // 100 MiB: 3,200 bytes of bitmap per slot; 4 and 5 slots both round to 16 KiB.
    assert.deepEqual(inferPeerSlots(100 * MiB, 102_348), { kind: "ambiguous", candidates: [4, 5] });
    // 4 MiB: even 31 slots fit in one 4 KiB bitmap block.
    const all = inferPeerSlots(4 * MiB, 4056);
    assert.equal(all.kind, "ambiguous");
    assert.deepEqual(all.kind === "ambiguous" && all.candidates.length, 31);
  });

  it("says none, with the closest count, when no slot count explains the net size", () => {
    assert.deepEqual(inferPeerSlots(1340 * MiB, 1_371_960), {
      kind: "none",
      closest: { peerSlots: 4, netKiB: 1_371_956 },
    });
    // Larger than any layout leaves: e.g. a device grown without `drbdadm resize`.
    assert.equal(inferPeerSlots(1340 * MiB, 1_372_160).kind, "none");
  });

  it("refuses a device too small for any meta data", () => {
    assert.throws(() => inferPeerSlots(40 * 1024, 4), inputError("too small"));
  });
});

describe("net size in bytes to KiB", () => {
  it("accepts blockdev --getsize64 output, numbers and bigints that divide by 1024", () => {
    assert.equal(bytesToKiB("1404882944\n", "/dev/drbd9100"), 1_371_956);
    assert.equal(bytesToKiB(1_404_882_944, "x"), 1_371_956);
    assert.equal(bytesToKiB(1_404_882_944n, "x"), 1_371_956);
    assert.equal(bytesToKiB(0, "x"), 0);
  });

  it("refuses a size that does not divide by 1024, with the remainder, in one line", () => {
    assert.throws(
      () => bytesToKiB("1404882945", "/dev/drbd9100"),
      inputError(/^\/dev\/drbd9100: 1404882945 bytes is not a whole number of KiB \(remainder 1\)/),
    );
  });

  it("refuses what is not a byte count", () => {
    assert.throws(() => bytesToKiB("12 GiB", "size"), inputError('"12 GiB" is not a size'));
    assert.throws(() => bytesToKiB("", "size"), inputError("is not a size"));
    assert.throws(() => bytesToKiB(-1024, "size"), inputError("is not a size"));
    assert.throws(() => bytesToKiB(1024.5, "size"), inputError("is not a size"));
    assert.throws(() => bytesToKiB(-1024n, "size"), inputError("is not a size"));
    assert.throws(() => bytesToKiB(2n ** 80n, "size"), inputError("too large"));
  });
});

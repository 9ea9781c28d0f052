/** Reading `drbdmeta … dump-md` output: the facts adoption takes from the meta data. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { dumpMdArgv, parseDumpMd } from "../../lib/drbd/dump_md.ts";
import { netSizeKiB } from "../../lib/drbd/metadata.ts";
import { isKind } from "../../lib/errors.ts";

/** The shape drbdmeta prints for v09 meta data (peers and bitmap shortened). */
const V09 = `# DRBD meta data dump
# 2026-12-03 10:00:00 +0000 [1764756000]
# eagle> drbdmeta 9100 v09 /dev/datastore/legacy internal dump-md
#

version "v09";

max-peers 4;
# md_size_sect 408
# md_offset 1405087744
# al_offset 1405022208
# bm_offset 1404850176

node-id 4;
current-uuid 0x8C2F4E2B1A7D3E05;
flags 0x00000011;
peer[0] {
    bitmap-index -1;
    bitmap-uuid 0x0000000000000000;
    bitmap-dagtag 0x0000000000000000;
    flags 0x00000000;
}
peer[8] {
    bitmap-index 0;
    bitmap-uuid 0x0000000000000000;
    bitmap-dagtag 0x0000000000000000;
    flags 0x00000000;
}
history-uuids {
    0x0000000000000000; 0x0000000000000000; 0x0000000000000000; 0x0000000000000000;
}
# al-extents 1237;
la-size-sect 2743912;
bm-byte-per-bit 4096;
device-uuid 0x2A4B6C8D0E1F2A3B;
la-peer-max-bio-size 1048576;
al-stripes 1;
al-stripe-size-4k 8;
# bm-bytes 171520;
bitmap[0] {
   21440 times 0x0000000000000000;
}
# bits-set 0;
`;

describe("drbdmeta dump-md", () => {
  it("reads peer slots, node id, net size and layout of v09 meta data", () => {
    const d = parseDumpMd(V09);
    assert.deepEqual(d, {
      version: "v09",
      peerSlots: 4,
      nodeId: 4,
      netKiB: 1_371_956,
      layout: { bitmapBlockKiB: 4, alStripes: 1, alStripeSizeKiB: 32 },
    });
    // the article's figures: 1,340 MiB with 4 slots give exactly this net size
    assert.equal(netSizeKiB(1340 * 1024 * 1024, d.peerSlots, d.layout), d.netKiB);
  });

  it("v08 meta data have one peer slot", () => {
    const d = parseDumpMd(
      `version "v08";\n# md_size_sect 262144\nuuid {\n 0x1; 0x0; 0x0; 0x0;\n` +
        `    flags 0x00000011;\n}\nla-size-sect 2097152;\nbm-byte-per-bit 4096;\n` +
        `device-uuid 0x1;\nla-peer-max-bio-size 1048576;\nal-stripes 1;\nal-stripe-size-4k 8;\n`,
    );
    assert.equal(d.peerSlots, 1);
    assert.equal(d.nodeId, undefined);
    assert.equal(d.netKiB, 1_048_576);
  });

  it("refuses what is not a dump", () => {
    for (
      const bad of ["", 'version "v07";\nla-size-sect 8;\n', 'version "v09";\nla-size-sect 8;\n']
    ) {
      assert.throws(() => parseDumpMd(bad), (e) => isKind(e, "input"));
    }
  });

  it("builds the command for a stopped resource", () => {
    assert.deepEqual(dumpMdArgv(9100, "/dev/datastore/legacy"), [
      "drbdmeta",
      "9100",
      "v09",
      "/dev/datastore/legacy",
      "internal",
      "dump-md",
    ]);
  });
});

/**
 * The bridge host of datastore actions without BRIDGE_LIST: the front-end named by
 * ONEBLK_FRONTEND, which may be a list of names (several front-ends). A list picks this
 * machine's name when it is in the list, else the first name; the action works there.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import { imagePayload, PROFILES, useStores } from "./helpers.ts";
import { needing } from "../../support/tools.ts";

/** The ext2/3/4 superblock magic 0xEF53 at byte 1080. */
function hasExtMagic(b: Uint8Array): boolean {
  return b[1080] === 0x53 && b[1081] === 0xef;
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

describe("datastore bridge host without BRIDGE_LIST", () => {
  let c: Cluster;
  const stores = useStores((started) => {
    c = started;
  });
  let nextId = 900;

  for (const drv of PROFILES) {
    it(
      ...needing(["mkfs.ext4"], `${drv}: ONEBLK_FRONTEND=bravo,alpha makes mkfs work on bravo`),
      async () => {
        const s = stores[drv];
        const id = nextId++;
        const xml = imagePayload(c, drv, { id, size: 8, format: "raw", fs: "ext4" }, {
          BRIDGE_LIST: "",
        });
        const r = await c.run("datastore", drv, "mkfs", [String(id)], {
          stdin: b64(xml),
          env: { ONEBLK_FRONTEND: "bravo,alpha" },
        });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${s.source(id)}\n`);
        assert.match(r.stderr, new RegExp(`making ext4 on ${s.vol(id)} on bravo`));
        assert.ok(hasExtMagic(await Deno.readFile(s.dataPath(s.vol(id)))), "ext superblock");
        const left = (await s.backend.attachments(s.vol(id))).filter((a) =>
          a.host === "bravo" && !a.diskful && !a.tieBreaker
        );
        assert.deepEqual(left, [], "the temporary attachment on the bridge is released");
      },
    );
  }
});

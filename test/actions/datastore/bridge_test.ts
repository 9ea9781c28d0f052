/**
 * The bridge host of datastore actions. Without BRIDGE_LIST: the front-end named by
 * ONEBLK_FRONTEND, which may be a list of names (several front-ends); a list picks this
 * machine's name when it is in the list, else the first name; the action works there. With
 * BRIDGE_LIST: the entry the image id picks, passing over hosts oned reports OFFLINE / ERROR /
 * DISABLED and hosts ssh cannot reach, naming them; none usable fails and leaves nothing.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import { needing } from "../../support/tools.ts";
import { buildHostXml } from "../../../tools/sim/oned/builders.ts";
import {
  imagePayload,
  lines,
  makeImages,
  PROFILES,
  sha256,
  testBytes,
  useStores,
  volumeBytes,
  worldState,
} from "./helpers.ts";

/** The ext2/3/4 superblock magic 0xEF53 at byte 1080. */
function hasExtMagic(b: Uint8Array): boolean {
  return b[1080] === 0x53 && b[1081] === 0xef;
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

describe("datastore bridge host", () => {
  let c: Cluster;
  const stores = useStores((started) => {
    c = started;
  });
  let nextId = 900;
  let evenId = 940; // even ids: BRIDGE_LIST entry 0 comes first

  /** Set host `name` (id `id`) to oned state `state` (2 MONITORED, 8 OFFLINE, …). */
  function hostState(id: number, name: string, state: number): void {
    c.oned.state.putHost(
      buildHostXml({ id, name, state, template: { SP_OURID: String(id + 1) } }),
    );
  }

  for (const drv of PROFILES) {
    it(
      ...needing(
        ["qemu-img"],
        `${drv}: cp with the first BRIDGE_LIST host down (ssh, OFFLINE) uses the next`,
      ),
      async () => {
        const s = stores[drv];
        const raw = testBytes(2 * 1024 * 1024 + 7, 11);
        const dir = await Deno.makeTempDir({ dir: c.root, prefix: "bridge-" });
        const { raw: file } = await makeImages(dir, "img", raw);
        // image id 2k: entry 0 comes first, as OpenNebula picks hosts[id % n]
        const cases = [
          { list: "ghost,bravo", skipped: /skipped ghost \(.*not reachable.*\); using bravo/ },
          { list: "charlie,bravo", skipped: /skipped charlie \(OFFLINE\); using bravo/ },
        ];
        hostState(2, "charlie", 8);
        try {
          for (const { list, skipped } of cases) {
            const id = (evenId += 2);
            const xml = imagePayload(c, drv, { id, path: file, size: 3, format: "" }, {
              BRIDGE_LIST: list,
            });
            const r = await c.runDs("datastore", drv, "cp", xml, id);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(r.stdout, `${s.source(id)} raw\n`);
            assert.match(r.stderr, skipped);
            assert.match(r.stderr, new RegExp(`copying .* into ${s.vol(id)} on bravo`));
            assert.equal((await volumeBytes(s, s.vol(id), raw.length)).headSha, sha256(raw));
            const left = (await s.backend.attachments(s.vol(id))).filter((a) =>
              a.host === "bravo" && !a.diskful && !a.tieBreaker
            );
            assert.deepEqual(left, [], "the temporary attachment on bravo is released");
          }
          // nothing usable: one line naming every host, nothing made
          const beforeState = await worldState(c);
          for (
            const [list, why] of [
              [
                "ghost,charlie",
                /no host of BRIDGE_LIST is usable: ghost \(.*\), charlie \(OFFLINE\)/,
              ],
              ["charlie,charlie", /All hosts from 'BRIDGE_LIST' are offline, error or disabled/],
            ] as const
          ) {
            const id = (evenId += 2);
            const xml = imagePayload(c, drv, { id, path: file, size: 3, format: "" }, {
              BRIDGE_LIST: list,
            });
            const r = await c.runDs("datastore", drv, "cp", xml, id);
            assert.equal(r.code, 1);
            assert.equal(lines(r.stderr.replace(/^INFO: .*\n/gm, "")), 1, r.stderr);
            assert.match(r.stderr, why);
          }
          assert.deepEqual(await worldState(c), beforeState);
        } finally {
          hostState(2, "charlie", 2);
          await Deno.remove(join(dir), { recursive: true });
        }
      },
    );

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

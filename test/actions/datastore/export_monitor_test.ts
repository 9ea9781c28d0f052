/**
 * datastore export and monitor through the real program. export: the IMPORT_INFO document
 * parses, names a staged copy on the bridge host whose bytes and MD5 match the volume, asks the
 * marketplace to dispose of it, and leaves the volume detached. monitor: the three keys oned
 * keeps, consistent numbers from one REST call, and USED_MB that follows the data.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import { child, text } from "../../../lib/one/xml.ts";
import { parseXmlSync } from "../../../lib/one/xml_saxes.ts";
import {
  dsOnlyPayload,
  imagePayload,
  lines,
  makeImages,
  makeVolume,
  md5,
  PROFILES,
  qcow2ToRaw,
  sha256,
  stagingLeft,
  STYLES,
  testBytes,
  useStores,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

const MiB = 1024 * 1024;

function parseMonitor(out: string): Record<string, number> {
  assert.match(out, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+\n$/);
  return Object.fromEntries(
    out.trim().split("\n").map((l) => l.split("=")).map(([k, v]) => [k, Number(v)]),
  );
}

describe("datastore export and monitor", () => {
  let c: Cluster;
  const stores = useStores((started) => {
    c = started;
  });
  let nextId = 600;
  const data = testBytes(3 * MiB, 21);

  for (const drv of PROFILES) {
    for (const style of STYLES) {
      it(`${drv} (${style}): monitor prints USED/TOTAL/FREE from one REST call`, async () => {
        const r = await c.runDs("datastore", drv, "monitor", dsOnlyPayload(c, drv), 1, style);
        assert.equal(r.code, 0, r.stderr);
        const m = parseMonitor(r.stdout);
        assert.ok(m.TOTAL_MB > 0);
        assert.ok(m.FREE_MB <= m.TOTAL_MB);
        assert.equal(m.USED_MB + m.FREE_MB, m.TOTAL_MB);
        const st = (await c.stats()).at(-1)!;
        assert.deepEqual([st.rest, st.ssh], [1, 0]);
      });
    }

    it(`${drv}: monitor's USED_MB grows after a cp`, async () => {
      const s = stores[drv];
      const was = parseMonitor(
        (await c.runDs("datastore", drv, "monitor", dsOnlyPayload(c, drv), s.dsId)).stdout,
      );
      const img = join(c.root, `mon-${drv}.raw`);
      await Deno.writeFile(img, testBytes(16 * MiB, 5));
      const id = nextId++;
      const cp = await c.runDs(
        "datastore",
        drv,
        "cp",
        imagePayload(c, drv, { id, path: img, size: 16, format: "" }),
        id,
      );
      assert.equal(cp.code, 0, cp.stderr);
      const afterCp = parseMonitor(
        (await c.runDs("datastore", drv, "monitor", dsOnlyPayload(c, drv), s.dsId)).stdout,
      );
      assert.ok(afterCp.USED_MB > was.USED_MB, `${was.USED_MB} -> ${afterCp.USED_MB}`);
      assert.equal(afterCp.USED_MB + afterCp.FREE_MB, afterCp.TOTAL_MB);
    });

    it(
      ...needing(
        ["qemu-img"],
        `${drv}: export stages a copy whose bytes and MD5 match, to be disposed`,
      ),
      async () => {
        const s = stores[drv];
        const id = nextId++;
        const vol = s.vol(id);
        await makeVolume(c, s, vol, 4, data);
        const appId = 77;
        const xml = imagePayload(c, drv, { id, source: s.source(id), size: 4, format: "raw" });
        const r = await c.runDs("datastore", drv, "export", xml, appId);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(lines(r.stdout), 1);
        const doc = parseXmlSync(r.stdout, "IMPORT_INFO");
        assert.equal(doc.name, "IMPORT_INFO");
        const file = `/var/tmp/oneblk-export-${vol}-${appId}`;
        assert.equal(text(doc, "IMPORT_SOURCE"), `ssh://alpha:${file}`);
        assert.equal(text(doc, "FORMAT"), "raw");
        assert.equal(text(doc, "SIZE"), "4");
        assert.equal(text(doc, "DISPOSE"), "YES");
        assert.equal(text(doc, "DISPOSE_CMD"), `ssh alpha rm -f ${file}`);
        assert.ok(child(doc, "MD5"));
        const staged = await Deno.readFile(c.hostPath("alpha", file));
        const volumeBytes = await Deno.readFile(s.dataPath(vol));
        assert.equal(staged.length, 4 * MiB);
        assert.equal(sha256(staged), sha256(volumeBytes.subarray(0, 4 * MiB)));
        assert.equal(text(doc, "MD5"), md5(staged));
        const temp = (await s.backend.attachments(vol)).filter((a) =>
          a.host === "alpha" && !a.diskful && !a.tieBreaker
        );
        assert.deepEqual(temp, [], "the volume is detached again");
        // a repeat rewrites the same file
        const again = await c.runDs("datastore", drv, "export", xml, appId, "argv");
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.stdout, r.stdout);
        await Deno.remove(c.hostPath("alpha", file));
      },
    );

    it(`${drv}: export of a missing volume fails and leaves no staging file`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const r = await c.runDs(
        "datastore",
        drv,
        "export",
        imagePayload(c, drv, { id, source: s.source(id), size: 4, format: "raw" }),
        5,
      );
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr.replace(/^INFO: .*\n/gm, "")), 1, r.stderr);
      assert.deepEqual(await stagingLeft(c, "alpha", "oneblk-export-"), []);
    });
  }

  it(
    ...needing(
      ["qemu-img"],
      "linstor: a kept qcow2 image is exported as qcow2 with the same content",
    ),
    async () => {
      const s = stores.linstor;
      const raw = testBytes(3 * MiB, 31);
      const f = await makeImages(c.root, "exp", raw);
      const id = nextId++;
      const cp = await c.runDs(
        "datastore",
        "linstor",
        "cp",
        imagePayload(c, "linstor", { id, path: f.qcow2, size: 3, format: "" }),
        id,
      );
      assert.equal(cp.stdout, `${s.source(id)} qcow2\n`, cp.stderr);
      const r = await c.runDs(
        "datastore",
        "linstor",
        "export",
        imagePayload(c, "linstor", { id, source: s.source(id), size: 3, format: "qcow2" }),
        9,
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = parseXmlSync(r.stdout, "IMPORT_INFO");
      assert.equal(text(doc, "FORMAT"), "qcow2");
      assert.equal(text(doc, "SIZE"), "3");
      const file = text(doc, "IMPORT_SOURCE").replace(/^ssh:\/\/alpha:/, "");
      const back = await qcow2ToRaw(c.hostPath("alpha", file), join(c.root, "exp-back.raw"));
      assert.equal(sha256(back), sha256(raw));
    },
  );
});

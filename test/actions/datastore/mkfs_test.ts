/**
 * datastore mkfs through the real program: empty raw volumes, a real ext4 made on the bridge
 * host, qcow2 for the profile that keeps formats (refused by the raw-only ones), save-as
 * targets that create nothing, OpenNebula ≤5.12 FSTYPE, and failures that leave no volume.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Cluster } from "../../../tools/sim/cluster.ts";
import {
  imagePayload,
  lines,
  PROFILES,
  qcow2ToRaw,
  stagingLeft,
  useStores,
  worldState,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

const MiB = 1024 * 1024;

/** The ext2/3/4 superblock magic 0xEF53 at byte 1080. */
function hasExtMagic(b: Uint8Array): boolean {
  return b[1080] === 0x53 && b[1081] === 0xef;
}

async function dumpe2fsOk(path: string): Promise<boolean> {
  const r = await new Deno.Command("dumpe2fs", { args: ["-h", path], stderr: "null" }).output();
  return r.code === 0 && /Filesystem features:.*extent/.test(new TextDecoder().decode(r.stdout));
}

describe("datastore mkfs", () => {
  let c: Cluster;
  const stores = useStores((started) => {
    c = started;
  });
  let nextId = 300;

  for (const drv of PROFILES) {
    it(
      ...needing(
        ["mkfs.ext4"],
        `${drv}: FS ext4 makes a real ext4 volume of SIZE MiB; a repeat succeeds`,
      ),
      async () => {
        const s = stores[drv];
        const id = nextId++;
        const xml = imagePayload(c, drv, { id, size: 16, format: "raw", fs: "ext4", type: 2 });
        for (const style of ["argv", "stdin"] as const) {
          const r = await c.runDs("datastore", drv, "mkfs", xml, id, style);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, `${s.source(id)}\n`);
        }
        const info = await s.backend.getVolume(s.vol(id));
        assert.equal(info?.sizeMiB, 16);
        const bytes = await Deno.readFile(s.dataPath(s.vol(id)));
        assert.ok(hasExtMagic(bytes), "ext superblock magic");
        assert.ok(await dumpe2fsOk(s.dataPath(s.vol(id))), "dumpe2fs reads an ext4 filesystem");
        const temp = (await s.backend.attachments(s.vol(id))).filter((a) =>
          a.host === "alpha" && !a.diskful && !a.tieBreaker
        );
        assert.deepEqual(temp, []);
      },
    );

    it(`${drv}: no FS makes an empty raw volume, with no host work`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const r = await c.runDs(
        "datastore",
        drv,
        "mkfs",
        imagePayload(c, drv, { id, size: 8, format: "raw", fs: "" }),
        id,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${s.source(id)}\n`);
      assert.equal((await s.backend.getVolume(s.vol(id)))?.sizeMiB, 8);
      const st = (await c.stats()).at(-1)!;
      assert.equal(st.ssh, 0);
    });

    it(`${drv}: save_as (FORMAT or ≤5.12 FSTYPE) prints SOURCE only`, async () => {
      const s = stores[drv];
      const beforeState = await worldState(c);
      for (const legacyFstype of [false, true]) {
        const id = nextId++;
        const r = await c.runDs(
          "datastore",
          drv,
          "mkfs",
          // an unreachable store proves nothing is asked of it
          imagePayload(c, drv, { id, size: 1024, format: "save_as", legacyFstype }, {
            LINSTOR_CONTROLLERS: "linstor://127.0.0.1:1",
            LS_CONTROLLERS: "linstor://127.0.0.1:1",
            SP_API_HTTP_PORT: "1",
          }),
          id,
          legacyFstype ? "argv" : "stdin",
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${s.source(id)}\n`);
        const st = (await c.stats()).at(-1)!;
        assert.deepEqual([st.rest, st.ssh], [0, 0]);
      }
      assert.deepEqual(await worldState(c), beforeState);
    });

    it(...needing(["mkfs.ext4"], `${drv}: ≤5.12 FSTYPE ext4 means raw with ext4`), async () => {
      const s = stores[drv];
      const id = nextId++;
      const r = await c.runDs(
        "datastore",
        drv,
        "mkfs",
        imagePayload(c, drv, { id, size: 16, format: "ext4", legacyFstype: true }),
        id,
        "argv",
      );
      assert.equal(r.code, 0, r.stderr);
      assert.ok(hasExtMagic(await Deno.readFile(s.dataPath(s.vol(id)))));
    });

    it(
      ...needing(
        ["qemu-img", "mkfs.ext4"],
        `${drv}: FORMAT qcow2 is kept as qcow2 or refused, as the profile says`,
      ),
      async () => {
        const s = stores[drv];
        const beforeState = await worldState(c);
        for (const fs of ["", "ext4"]) {
          const id = nextId++;
          const r = await c.runDs(
            "datastore",
            drv,
            "mkfs",
            imagePayload(c, drv, { id, size: 16, format: "qcow2", fs }),
            id,
          );
          if (!s.profile.keepImageFormat) {
            assert.equal(r.code, 1);
            assert.equal(lines(r.stderr), 1);
            assert.match(r.stderr, /stores images as raw: use FORMAT raw/);
            continue;
          }
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stdout, `${s.source(id)}\n`);
          const data = s.dataPath(s.vol(id));
          const info = await new Deno.Command("qemu-img", {
            args: ["info", "--output=json", "-f", "qcow2", data],
          }).output();
          assert.equal(info.code, 0);
          assert.equal(JSON.parse(new TextDecoder().decode(info.stdout))["virtual-size"], 16 * MiB);
          const vol = await s.backend.getVolume(s.vol(id));
          assert.ok(vol && vol.sizeMiB > 16, "room for the qcow2 metadata");
          if (fs) {
            const back = await qcow2ToRaw(data, join(c.root, `mkfs-${id}.raw`));
            assert.ok(hasExtMagic(back), "ext4 inside the qcow2");
          }
        }
        assert.deepEqual(await stagingLeft(c, "alpha", "oneblk-mkfs-"), []);
        if (!s.profile.keepImageFormat) assert.deepEqual(await worldState(c), beforeState);
      },
    );

    it(
      ...needing(
        ["mkfs.ext4"],
        `${drv}: datastore.conf's SUPPORTED_FS and FS_OPTS_<fs> (argv, no shell)`,
      ),
      async () => {
        const s = stores[drv];
        const conf = join(c.remotes, "etc", "datastore", "datastore.conf");
        await Deno.mkdir(join(c.remotes, "etc", "datastore"), { recursive: true });
        await Deno.writeTextFile(
          conf,
          [
            "# OpenNebula's driver configuration",
            'SUPPORTED_FS="ext4,xfs"',
            'FS_OPTS_ext4="-b 4096  -L from-conf"',
            "FS_OPTS_xfs=$(touch /tmp/oneblk-pwned)",
          ].join("\n") + "\n",
        );
        try {
          const id = nextId++;
          const xml = imagePayload(c, drv, { id, size: 16, format: "raw", fs: "ext4" });
          const r = await c.runDs("datastore", drv, "mkfs", xml, id);
          assert.equal(r.code, 0, r.stderr);
          const d = await new Deno.Command("dumpe2fs", {
            args: ["-h", s.dataPath(s.vol(id))],
            stderr: "null",
          }).output();
          const text = new TextDecoder().decode(d.stdout);
          assert.match(text, /^Block size:\s+4096$/m);
          assert.match(text, /^Filesystem volume name:\s+from-conf$/m);
          // not in SUPPORTED_FS: refused with OpenNebula's words, before anything is made
          const beforeState = await worldState(c);
          const bad = nextId++;
          const r2 = await c.runDs(
            "datastore",
            drv,
            "mkfs",
            imagePayload(c, drv, { id: bad, size: 16, format: "raw", fs: "ext2" }),
            bad,
          );
          assert.equal(r2.code, 1);
          assert.match(
            r2.stderr,
            /Unsupported file system type: ext2\. Supported types are: ext4,xfs/,
          );
          assert.deepEqual(await worldState(c), beforeState);
        } finally {
          await Deno.remove(conf);
        }
      },
    );

    it(`${drv}: bad requests and a failing bridge leave nothing behind`, async () => {
      const beforeState = await worldState(c);
      for (
        const [img, extra, why] of [
          [
            { size: 16, format: "raw", fs: "zfs" },
            {},
            /Unsupported file system type: zfs\. Supported types are: ext2,ext3,ext4,xfs,btrfs,vfat/,
          ],
          [{ size: 0, format: "raw", fs: "" }, {}, /IMAGE\/SIZE greater than 0/],
          [{ size: 16, format: "vmdk", fs: "" }, {}, /cannot make FORMAT 'vmdk'/],
          // the volume is created, then the bridge host cannot attach it: deleted again
          [{ size: 16, format: "raw", fs: "ext4" }, { BRIDGE_LIST: "nosuchhost" }, /./],
        ] as const
      ) {
        const id = nextId++;
        const r = await c.runDs(
          "datastore",
          drv,
          "mkfs",
          imagePayload(c, drv, { id, ...img }, extra),
          id,
        );
        assert.equal(r.code, 1, JSON.stringify(img));
        assert.equal(r.stdout, "");
        assert.equal(lines(r.stderr.replace(/^INFO: .*\n/gm, "")), 1, r.stderr);
        assert.match(r.stderr, why);
      }
      assert.deepEqual(await worldState(c), beforeState);
    });
  }
});

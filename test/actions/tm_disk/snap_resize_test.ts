/**
 * tm snap_create / snap_create_live / snap_delete / snap_revert and tm resize through the real
 * programs, for every profile: a revert brings back the snapshot's bytes as the host reads
 * them through DIR/disk.i, repeats succeed, an in-use volume is not reverted, the live variant
 * works without a guest agent (crash-consistent, said so), REST budgets, and resize grows only
 * (qcow2 images kept as qcow2 are grown inside too).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Case } from "./helpers.ts";
import {
  cloneDisk,
  diskArg,
  forEachCase,
  MiB,
  pattern,
  persistentDisk,
  shaBytes,
  shaOf,
  useEnv,
  vmDir,
  vmInput,
  writeAt,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

/** REST budget of snap_create / snap_delete / snap_revert. */
const SNAP_BUDGET = 3;

describe("tm snap_* / resize", () => {
  const env = useEnv();

  async function linked(tc: Case, n: number, persistent: boolean, lcmState = 3) {
    const img = await env.image(tc, 70 + n, 4, pattern(tc.vmBase + 70 + n, 4096));
    const vmId = tc.vmBase + 70 + n;
    const diskIn = persistent ? persistentDisk(tc, 0, 70 + n, 4) : cloneDisk(tc, 0, 70 + n, 4, 4);
    env.vm(vmInput(tc, vmId, "bravo", [diskIn], { lcmState }));
    const disk = diskArg("bravo", tc.systemDs, vmId, 0);
    await env.ok(tc, persistent ? "ln" : "clone", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
    const link = env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.0`);
    const volume = tc.profile.diskVolume(vmId, {
      diskId: 0,
      source: img.source,
      imageId: String(70 + n),
      clone: !persistent,
      persistent,
      type: "FS",
      volatile: false,
      format: "raw",
    });
    return { vmId, disk, link, volume, img };
  }

  it("snap_create + snap_revert bring back the snapshot's bytes; snap_delete; repeats", async () => {
    await forEachCase(async (tc) => {
      for (const persistent of [false, true]) {
        const s = await linked(tc, persistent ? 2 : 1, persistent, 52);
        const a = pattern(tc.vmBase + 1, 128 * 1024), b = pattern(tc.vmBase + 2, 128 * 1024);
        await writeAt(s.link, 0, a);
        const snapArgs = (id: number) => [s.disk, id, s.vmId, tc.imageDs];
        // Repeats (oned retries) on the clone only, to keep the file fast.
        const times = persistent ? 1 : 2;
        for (let i = 0; i < times; i++) {
          const r = await env.ok(tc, "snap_create", snapArgs(3));
          assert.ok(r.rest >= 1 && r.rest <= SNAP_BUDGET, `snap_create: ${r.rest} REST calls`);
        }
        const name = tc.profile.snapshotName(s.volume, 3);
        const snaps = await env.backend(tc).listSnapshots(s.volume);
        assert.deepEqual(snaps.map((x) => x.name), [name]);
        assert.equal(tc.profile.snapshotId(s.volume, name), 3);
        await writeAt(s.link, 0, b);
        assert.equal(await shaOf(s.link, b.length), await shaBytes(b));
        // Powered off, disk still attached and linked on bravo.
        for (let i = 0; i < times; i++) {
          const r = await env.ok(tc, "snap_revert", snapArgs(3));
          assert.ok(r.rest >= 1, "snap_revert made no REST call");
          if (tc.driver !== "storpool") {
            assert.ok(r.rest <= SNAP_BUDGET, `snap_revert: ${r.rest} REST calls`);
          }
          assert.equal(await shaOf(s.link, a.length), await shaBytes(a), "revert lost the bytes");
        }
        for (let i = 0; i < times; i++) {
          const r = await env.ok(tc, "snap_delete", snapArgs(3));
          assert.ok(r.rest >= 1 && r.rest <= SNAP_BUDGET, `snap_delete: ${r.rest} REST calls`);
        }
        assert.deepEqual(await env.backend(tc).listSnapshots(s.volume), []);
        if (persistent) continue;
        await env.fails(tc, "snap_revert", snapArgs(3), /cannot revert disk 0/);
        assert.equal(await shaOf(s.link, a.length), await shaBytes(a));
      }
    });
  });

  it("snap_revert refuses a volume in use and leaves its data", async () => {
    await forEachCase(async (tc) => {
      const s = await linked(tc, 3, false);
      const a = pattern(tc.vmBase + 3, 64 * 1024), b = pattern(tc.vmBase + 4, 64 * 1024);
      await writeAt(s.link, 0, a);
      await env.ok(tc, "snap_create", [s.disk, 0, s.vmId, tc.imageDs]);
      await writeAt(s.link, 0, b);
      await env.inUse(tc, s.volume, "bravo", true);
      try {
        await env.fails(tc, "snap_revert", [s.disk, 0, s.vmId, tc.imageDs], /in use/);
      } finally {
        await env.inUse(tc, s.volume, "bravo", false);
      }
      assert.equal(await shaOf(s.link, b.length), await shaBytes(b));
      // snap_delete works on a volume in use (running VM).
      await env.inUse(tc, s.volume, "bravo", true);
      try {
        await env.ok(tc, "snap_delete", [s.disk, 0, s.vmId, tc.imageDs]);
      } finally {
        await env.inUse(tc, s.volume, "bravo", false);
      }
    });
  });

  it("snap_create_live without a guest agent: crash-consistent, said so, within budget", async () => {
    await forEachCase(async (tc) => {
      const s = await linked(tc, 4, false);
      await env.inUse(tc, s.volume, "bravo", true);
      try {
        const r = await env.ok(tc, "snap_create_live", [s.disk, 1, s.vmId, tc.imageDs]);
        assert.match(r.stderr, /not frozen .*crash-consistent/);
        assert.ok(r.rest >= 1 && r.rest <= SNAP_BUDGET, `snap_create_live: ${r.rest} REST calls`);
      } finally {
        await env.inUse(tc, s.volume, "bravo", false);
      }
      const snaps = await env.backend(tc).listSnapshots(s.volume);
      assert.deepEqual(snaps.map((x) => x.name), [tc.profile.snapshotName(s.volume, 1)]);
    });
  });

  it("resize grows the volume (seen through DIR/disk.i), repeats, refuses to shrink", async () => {
    await forEachCase(async (tc) => {
      const s = await linked(tc, 5, false);
      const args = (mb: number) => [s.disk, mb, s.vmId, tc.imageDs];
      for (let i = 0; i < 2; i++) {
        const r = await env.ok(tc, "resize", args(12));
        assert.equal((await env.backend(tc).getVolume(s.volume))?.sizeMiB, 12);
        assert.equal((await Deno.stat(s.link)).size, 12 * MiB);
        // one read of the volume, and the change when it grows (the same size again: the read)
        assert.equal(r.rest, i === 0 ? 2 : 1, `${tc.driver} resize #${i + 1}: REST calls`);
      }
      await env.fails(tc, "resize", args(8), /cannot shrink/);
      assert.equal((await env.backend(tc).getVolume(s.volume))?.sizeMiB, 12);
      // A persistent image grows in place.
      const p = await linked(tc, 6, true);
      await env.ok(tc, "resize", [p.disk, 6, p.vmId, tc.imageDs]);
      assert.equal((await env.backend(tc).getVolume(p.img.volume))?.sizeMiB, 6);
    });
  });

  it(
    ...needing(
      ["qemu-img"],
      "qcow2 images kept as qcow2 (keepImageFormat) are grown by clone and resize",
    ),
    async () => {
      await forEachCase(async (tc) => {
        if (!tc.profile.keepImageFormat) return;
        // A qcow2 image of 4 MiB virtual size stored in an 8 MiB volume.
        const local = `${env.c.root}/q-${tc.driver}.qcow2`;
        const mk = await new Deno.Command("qemu-img", {
          args: ["create", "-q", "-f", "qcow2", local, "4M"],
        }).output();
        assert.equal(mk.code, 0);
        const img = await env.image(tc, 79, 8, await Deno.readFile(local));
        const vmId = tc.vmBase + 79;
        const d = cloneDisk(tc, 0, 79, 16, 8, { format: "qcow2", driver: "qcow2" });
        env.vm(vmInput(tc, vmId, "bravo", [d]));
        const disk = diskArg("bravo", tc.systemDs, vmId, 0);
        await env.ok(tc, "clone", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
        const path = `${vmDir(tc.systemDs, vmId)}/disk.0`;
        const vsize = async () => {
          const r = await env.hosts.run("bravo", ["qemu-img", "info", "--output=json", path]);
          return JSON.parse(r.stdout)["virtual-size"] as number;
        };
        assert.equal(await vsize(), 16 * MiB);
        await env.ok(tc, "resize", [disk, 24, vmId, tc.imageDs]);
        assert.equal(await vsize(), 24 * MiB);
        // Running VM (DISK_RESIZE, 62): qemu holds the image and the VMM's blockresize grows the
        // qcow2 next; the TM only grows the volume under it, as the stock TMs skip qemu-img.
        env.vm(vmInput(tc, vmId, "bravo", [d], { lcmState: 62 }));
        const r = await env.ok(tc, "resize", [disk, 32, vmId, tc.imageDs]);
        assert.equal(
          (await env.backend(tc).getVolume(tc.profile.diskVolume(vmId, {
            diskId: 0,
            source: img.source,
            imageId: "79",
            clone: true,
            persistent: false,
            type: "FS",
            volatile: false,
            format: "qcow2",
          })))?.sizeMiB,
          32,
        );
        assert.equal(await vsize(), 24 * MiB, "qemu-img resize ran on the image of a running VM");
        assert.match(r.stderr, /running VM: the VMM.s blockresize grows the qcow2/);
      });
    },
  );
});

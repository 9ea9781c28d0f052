/**
 * tm cpds (disk-saveas) through the real programs, for every profile: the new image volume gets
 * the disk's current bytes (powered off, and running through a temporary snapshot that is
 * removed afterwards) or a snapshot's bytes; a repeat keeps the copy; a store failure in the
 * middle leaves no new volume and no temporary snapshot; SOURCE naming the disk itself is
 * refused.
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
  shaBytes,
  useEnv,
  vmDir,
  vmInput,
  writeAt,
} from "./helpers.ts";

describe("tm cpds", () => {
  const env = useEnv();

  /** A VM with a cloned disk 0 on bravo whose first 256 KiB the guest overwrote. */
  async function setup(tc: Case, n: number, lcmState: number, template = {}) {
    const img = await env.image(tc, 40 + n, 4, pattern(tc.vmBase + 40 + n, 4096));
    const vmId = tc.vmBase + 40 + n;
    const disks = [cloneDisk(tc, 0, 40 + n, 4, 4)];
    env.vm(vmInput(tc, vmId, "bravo", disks, { lcmState, template }));
    const disk = diskArg("bravo", tc.systemDs, vmId, 0);
    await env.ok(tc, "clone", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
    const link = env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.0`);
    const current = pattern(tc.vmBase + 50 + n, 256 * 1024);
    await writeAt(link, 0, current);
    const volume = tc.profile.diskVolume(vmId, {
      diskId: 0,
      source: img.source,
      imageId: String(40 + n),
      clone: true,
      persistent: false,
      type: "FS",
      volatile: false,
      format: "raw",
    });
    return { vmId, disk, link, current, volume };
  }

  const saveAs = (tc: Case, imageId: number) => tc.profile.imageSource(imageId, tc.imageDs);
  const newVolume = (tc: Case, imageId: number) => tc.profile.imageVolume(imageId, tc.imageDs);

  it("powered off: the new image holds the disk's current bytes; a repeat keeps it", async () => {
    await forEachCase(async (tc) => {
      const s = await setup(tc, 1, 27);
      for (let i = 0; i < 2; i++) {
        await env.ok(tc, "cpds", [s.disk, saveAs(tc, 61), -1, s.vmId, tc.imageDs]);
        const got = await env.volumeSha(tc, newVolume(tc, 61), 4 * MiB);
        assert.equal(got, await shaBytes(s.current, 4 * MiB));
      }
    });
  });

  it("from a snapshot: the new image holds the snapshot's bytes", async () => {
    await forEachCase(async (tc) => {
      const s = await setup(tc, 2, 3);
      await env.ok(tc, "snap_create", [s.disk, 0, s.vmId, tc.imageDs]);
      await writeAt(s.link, 0, pattern(7, 256 * 1024));
      await env.ok(tc, "cpds", [s.disk, saveAs(tc, 62), 0, s.vmId, tc.imageDs]);
      const got = await env.volumeSha(tc, newVolume(tc, 62), 256 * 1024);
      assert.equal(got, await shaBytes(s.current));
    });
  });

  it("running (HOTPLUG_SAVEAS): copied through a temporary snapshot that is removed", async () => {
    await forEachCase(async (tc) => {
      const s = await setup(tc, 3, 26, { DISK_SAVEAS_FSFREEZE: "YES" });
      const r = await env.ok(tc, "cpds", [s.disk, saveAs(tc, 63), -1, s.vmId, tc.imageDs]);
      assert.match(r.stderr, /not frozen: crash-consistent/);
      const got = await env.volumeSha(tc, newVolume(tc, 63), 256 * 1024);
      assert.equal(got, await shaBytes(s.current));
      const snaps = await env.backend(tc).listSnapshots(s.volume);
      assert.deepEqual(snaps.map((x) => x.name), [], "temporary snapshot left");
    });
  });

  it("a store failure in the middle leaves no new volume and no temporary snapshot", async () => {
    const setups = new Map<string, Awaited<ReturnType<typeof setup>>>();
    await forEachCase(async (tc) => void setups.set(tc.driver, await setup(tc, 4, 26)));
    // LINSTOR: the restore into the new resource fails after its definition was created;
    // StorPool: the create from the temporary snapshot fails.
    env.c.linstor.addFault({ path: "snapshot-restore-volume-definition", action: "error" });
    env.c.storpool.addFault({ method: "VolumeCreate", status: 500, errorName: "internalError" });
    try {
      await forEachCase(async (tc) => {
        const s = setups.get(tc.driver)!;
        await env.fails(tc, "cpds", [s.disk, saveAs(tc, 64), -1, s.vmId, tc.imageDs]);
        assert.equal(await env.backend(tc).getVolume(newVolume(tc, 64)), null, "new volume left");
        const snaps = await env.backend(tc).listSnapshots(s.volume);
        assert.deepEqual(snaps.map((x) => x.name), [], "temporary snapshot left");
      });
    } finally {
      env.c.linstor.clearFaults();
      env.c.storpool.clearFaults();
    }
    // Without the fault the same call succeeds.
    await forEachCase(async (tc) => {
      const s = setups.get(tc.driver)!;
      await env.ok(tc, "cpds", [s.disk, saveAs(tc, 64), -1, s.vmId, tc.imageDs]);
      const got = await env.volumeSha(tc, newVolume(tc, 64), 256 * 1024);
      assert.equal(got, await shaBytes(s.current));
    });
  });

  it("refuses a SOURCE that names the disk's own volume or its image", async () => {
    await forEachCase(async (tc) => {
      const vmId = tc.vmBase + 49;
      const disks = [cloneDisk(tc, 0, 49, 4, 4)];
      env.vm(vmInput(tc, vmId, "bravo", disks));
      const disk = diskArg("bravo", tc.systemDs, vmId, 0);
      await env.fails(tc, "cpds", [disk, saveAs(tc, 49), -1, vmId, tc.imageDs], /own volume/);
      await env.fails(tc, "cpds", [disk, saveAs(tc, 65), "x", vmId, tc.imageDs], /snap_id/);
    });
  });
});

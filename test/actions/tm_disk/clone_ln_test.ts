/**
 * tm clone and tm ln through the real programs of an installed remotes tree, for every profile:
 * image bytes readable through DIR/disk.i on the host, growth to DISK/SIZE, repeats, a failure
 * at the link step leaving no clone, persistent disk metadata, CDROM images shared by two VMs,
 * and the REST budget of ln.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cdromDisk,
  cloneDisk,
  diskArg,
  forEachCase,
  MiB,
  pattern,
  persistentDisk,
  present,
  shaBytes,
  shaOf,
  useEnv,
  vmDir,
  vmInput,
  writeAt,
} from "./helpers.ts";

describe("tm clone / ln", () => {
  const env = useEnv();

  it("clone: the image's bytes on the host at DIR/disk.i, grown to SIZE; a repeat succeeds", async () => {
    await forEachCase(async (tc) => {
      const data = pattern(tc.vmBase + 1, MiB);
      const img = await env.image(tc, 5, 4, data);
      const vmId = tc.vmBase + 1;
      env.vm(vmInput(tc, vmId, "bravo", [cloneDisk(tc, 0, 5, 8, 4)]));
      const args = [
        `alpha:${img.source}`,
        diskArg("bravo", tc.systemDs, vmId, 0),
        vmId,
        tc.imageDs,
      ];
      await env.ok(tc, "clone", args);
      const link = env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.0`);
      assert.equal(await shaOf(link, 4 * MiB), await shaBytes(data, 4 * MiB));
      assert.equal((await Deno.stat(link)).size, 8 * MiB);
      const volume = tc.profile.diskVolume(vmId, {
        diskId: 0,
        source: img.source,
        imageId: "5",
        clone: true,
        persistent: false,
        type: "FS",
        volatile: false,
        format: "raw",
      });
      assert.notEqual(volume, img.volume);
      const info = await env.backend(tc).getVolume(volume);
      assert.equal(info?.sizeMiB, 8);
      for (const [k, v] of Object.entries(tc.profile.diskProps(vmId, 0, tc.systemDs))) {
        assert.equal(info?.props[k], v, `prop ${k}`);
      }
      // The clone is private: writing to it leaves the image alone.
      await writeAt(link, 0, pattern(98, 4096));
      assert.equal(await env.volumeSha(tc, img.volume, 4 * MiB), await shaBytes(data, 4 * MiB));
      // oned retries: the existing clone is reused, nothing changes.
      const again = await env.ok(tc, "clone.ssh", args);
      assert.match(again.stderr, /exists already/);
      assert.equal((await env.backend(tc).getVolume(volume))?.sizeMiB, 8);
      assert.equal(await shaOf(link, 4096), await shaBytes(pattern(98, 4096)));
    });
  });

  it("clone: a failure at the link step removes the clone again", async () => {
    await forEachCase(async (tc) => {
      const data = pattern(tc.vmBase + 2, 64 * 1024);
      const img = await env.image(tc, 15, 4, data);
      const vmId = tc.vmBase + 2;
      const disk = cloneDisk(tc, 0, 15, 4, 4);
      env.vm(vmInput(tc, vmId, "bravo", [disk]));
      // The VM directory is a plain file on bravo: `mkdir -p DIR` fails after the attach.
      const dir = env.c.hostPath("bravo", vmDir(tc.systemDs, vmId));
      await Deno.mkdir(env.c.hostPath("bravo", `/var/lib/one/datastores/${tc.systemDs}`), {
        recursive: true,
      });
      await Deno.writeTextFile(dir, "not a directory\n");
      const volume = tc.profile.diskVolume(vmId, {
        diskId: 0,
        source: img.source,
        imageId: "15",
        clone: true,
        persistent: false,
        type: "FS",
        volatile: false,
        format: "raw",
      });
      await env.fails(tc, "clone", [
        `alpha:${img.source}`,
        diskArg("bravo", tc.systemDs, vmId, 0),
        vmId,
        tc.imageDs,
      ]);
      assert.equal(await env.backend(tc).getVolume(volume), null, "clone left behind");
      assert.equal(await present(env.c.hostPath("bravo", `/dev/storpool/${volume}`)), false);
      assert.equal(
        await present(env.c.hostPath("bravo", `/dev/drbd/by-res/${volume}/0`)),
        false,
      );
      // The image is untouched.
      assert.equal(await env.volumeSha(tc, img.volume, data.length), await shaBytes(data));
      await Deno.remove(dir);
      // An unknown host fails at the attach: nothing left either.
      await env.fails(tc, "clone", [
        `alpha:${img.source}`,
        diskArg("zulu", tc.systemDs, vmId, 0),
        vmId,
        tc.imageDs,
      ]);
      assert.equal(await env.backend(tc).getVolume(volume), null, "clone left behind (zulu)");
    });
  });

  it("ln: a persistent image linked with its bytes and metadata, in at most 3 REST calls", async () => {
    await forEachCase(async (tc) => {
      const data = pattern(tc.vmBase + 3, 512 * 1024);
      const img = await env.image(tc, 6, 4, data);
      const vmId = tc.vmBase + 3;
      env.vm(vmInput(tc, vmId, "bravo", [persistentDisk(tc, 1, 6, 4)]));
      const args = [
        `alpha:${img.source}`,
        diskArg("bravo", tc.systemDs, vmId, 1),
        vmId,
        tc.imageDs,
      ];
      const r = await env.ok(tc, "ln", args);
      assert.ok(r.rest >= 1 && r.rest <= 3, `ln used ${r.rest} REST calls`);
      const link = env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.1`);
      assert.equal(await shaOf(link, 4 * MiB), await shaBytes(data, 4 * MiB));
      const info = await env.backend(tc).getVolume(img.volume);
      for (const [k, v] of Object.entries(tc.profile.diskProps(vmId, 1, tc.systemDs))) {
        assert.equal(info?.props[k], v, `prop ${k}`);
      }
      const again = await env.ok(tc, "ln.ssh", args);
      assert.ok(again.rest <= 3, `repeated ln used ${again.rest} REST calls`);
      assert.equal(await shaOf(link, 4 * MiB), await shaBytes(data, 4 * MiB));
    });
  });

  it("ln: a CDROM shared by two VMs stays attached for the one still using it", async () => {
    await forEachCase(async (tc) => {
      const data = pattern(tc.vmBase + 4, 256 * 1024);
      const img = await env.image(tc, 7, 4, data);
      const a = tc.vmBase + 4, b = tc.vmBase + 5;
      for (const id of [a, b]) env.vm(vmInput(tc, id, "charlie", [cdromDisk(tc, 2, 7, 4)]));
      for (const id of [a, b]) {
        const r = await env.ok(tc, "ln", [
          `alpha:${img.source}`,
          diskArg("charlie", tc.systemDs, id, 2),
          id,
          tc.imageDs,
        ]);
        assert.ok(r.rest <= 3, `CDROM ln used ${r.rest} REST calls`);
      }
      const facts = (id: number) =>
        tc.profile.diskVolume(id, {
          diskId: 2,
          source: img.source,
          imageId: "7",
          clone: false,
          persistent: false,
          type: "CDROM",
          volatile: false,
          format: "raw",
        });
      const linkB = env.c.hostPath("charlie", `${vmDir(tc.systemDs, b)}/disk.2`);
      for (const id of [a, b]) {
        const link = env.c.hostPath("charlie", `${vmDir(tc.systemDs, id)}/disk.2`);
        assert.equal(await shaOf(link, data.length), await shaBytes(data));
      }
      // VM b has the device open; VM a terminates.
      await env.inUse(tc, facts(b), "charlie", true);
      try {
        await env.ok(tc, "delete", [diskArg("charlie", tc.systemDs, a, 2), a, tc.imageDs]);
        assert.equal(
          await present(env.c.hostPath("charlie", `${vmDir(tc.systemDs, a)}/disk.2`)),
          false,
        );
        assert.equal(await shaOf(linkB, data.length), await shaBytes(data));
        const dev = env.c.hostPath("charlie", env.backend(tc).devicePath(facts(b)));
        assert.ok(await present(dev), "CDROM detached under VM b");
        // Never the image.
        assert.ok(await env.backend(tc).getVolume(img.volume), "CDROM image deleted");
        // A per-VM CDROM copy (cdromClone profiles) of VM a is gone.
        if (facts(a) !== facts(b)) {
          assert.equal(await env.backend(tc).getVolume(facts(a)), null);
        }
      } finally {
        await env.inUse(tc, facts(b), "charlie", false);
      }
      await env.ok(tc, "delete", [diskArg("charlie", tc.systemDs, b, 2), b, tc.imageDs]);
      assert.ok(await env.backend(tc).getVolume(img.volume), "CDROM image deleted");
      assert.equal(await env.volumeSha(tc, img.volume, data.length), await shaBytes(data));
    });
  });
});

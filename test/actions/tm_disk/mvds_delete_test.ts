/**
 * tm mvds and tm delete through the real programs, for every profile: a persistent disk goes
 * back to its image with its data (≤ 3 REST calls), delete never destroys a persistent image
 * (recover --delete), private clones and volatile disks are deleted, the VM directory and the
 * checkpoint volume go, and every delete can run twice.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  cloneDisk,
  diskArg,
  forEachCase,
  pattern,
  persistentDisk,
  present,
  shaBytes,
  useEnv,
  vmDir,
  vmInput,
  volatileDisk,
  writeAt,
} from "./helpers.ts";

describe("tm mvds / delete", () => {
  const env = useEnv();

  it("mvds: the persistent disk's data stays in its image, detached, VM metadata cleared", async () => {
    await forEachCase(async (tc) => {
      const img = await env.image(tc, 21, 4, pattern(tc.vmBase + 21, 4096));
      const vmId = tc.vmBase + 21;
      env.vm(vmInput(tc, vmId, "delta", [persistentDisk(tc, 1, 21, 4)]));
      const disk = diskArg("delta", tc.systemDs, vmId, 1);
      await env.ok(tc, "ln", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
      // The guest writes through the link.
      const link = env.c.hostPath("delta", `${vmDir(tc.systemDs, vmId)}/disk.1`);
      const written = pattern(tc.vmBase + 22, 256 * 1024);
      await writeAt(link, 0, written);
      const r = await env.ok(tc, "mvds", [disk, img.source, vmId, tc.imageDs]);
      assert.ok(r.rest >= 1 && r.rest <= 3, `mvds used ${r.rest} REST calls`);
      assert.equal(await present(link), false, "link left on delta");
      const b = env.backend(tc);
      const dev = env.c.hostPath("delta", b.devicePath(img.volume));
      const diskful = (await b.attachments(img.volume)).some((a) =>
        a.diskful && a.host === "delta"
      );
      if (!diskful) assert.equal(await present(dev), false, "still attached on delta");
      const info = await b.getVolume(img.volume);
      assert.ok(info, "image volume gone");
      const vmKeys = Object.entries(tc.profile.diskProps(vmId, 1, tc.systemDs))
        .filter(([k, v]) => tc.profile.diskProps(vmId + 1, 2, tc.systemDs + 1)[k] !== v);
      assert.ok(vmKeys.length > 0);
      for (const [k] of vmKeys) assert.equal(info.props[k], undefined, `prop ${k} not cleared`);
      assert.equal(await env.volumeSha(tc, img.volume, written.length), await shaBytes(written));
      // Repeat (oned retry): nothing left to do, still fine and cheap.
      const again = await env.ok(tc, "mvds", [disk, img.source, vmId, tc.imageDs]);
      assert.ok(again.rest <= 3, `repeated mvds used ${again.rest} REST calls`);
    });
  });

  it("delete never destroys a persistent image (recover --delete), and runs twice", async () => {
    await forEachCase(async (tc) => {
      const data = pattern(tc.vmBase + 23, 128 * 1024);
      const img = await env.image(tc, 22, 4, data);
      const vmId = tc.vmBase + 23;
      env.vm(vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, 22, 4)]));
      const disk = diskArg("bravo", tc.systemDs, vmId, 0);
      await env.ok(tc, "ln", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
      for (let i = 0; i < 2; i++) {
        const r = await env.ok(tc, i ? "delete.ssh" : "delete", [disk, vmId, tc.imageDs]);
        assert.match(r.stderr, /kept/);
        assert.ok(await env.backend(tc).getVolume(img.volume), "persistent image deleted");
      }
      assert.equal(
        await present(env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.0`)),
        false,
      );
      assert.equal(await env.volumeSha(tc, img.volume, data.length), await shaBytes(data));
    });
  });

  it("delete removes a private clone and a volatile disk; a second run succeeds", async () => {
    await forEachCase(async (tc) => {
      const data = pattern(tc.vmBase + 24, 64 * 1024);
      const img = await env.image(tc, 23, 4, data);
      const vmId = tc.vmBase + 24;
      const disks = [cloneDisk(tc, 0, 23, 4, 4), volatileDisk(tc, 1, 4)];
      env.vm(vmInput(tc, vmId, "bravo", disks));
      const d0 = diskArg("bravo", tc.systemDs, vmId, 0);
      const d1 = diskArg("bravo", tc.systemDs, vmId, 1);
      await env.ok(tc, "clone", [`alpha:${img.source}`, d0, vmId, tc.imageDs]);
      const clone = tc.profile.diskVolume(vmId, {
        diskId: 0,
        source: img.source,
        imageId: "23",
        clone: true,
        persistent: false,
        type: "FS",
        volatile: false,
        format: "raw",
      });
      // The volatile disk as mkimage would leave it (system datastore, attached and linked).
      const vol = tc.profile.diskVolume(vmId, {
        diskId: 1,
        source: "",
        imageId: "",
        clone: false,
        persistent: false,
        type: "FS",
        volatile: true,
        format: "raw",
      });
      const sb = env.backend(tc, tc.systemDs);
      await sb.createVolume(vol, 4, { placement: env.placement(tc, tc.systemDs) });
      await sb.attach(vol, "bravo");
      await env.hosts.run("bravo", [
        "ln",
        "-s",
        sb.devicePath(vol),
        `${vmDir(tc.systemDs, vmId)}/disk.1`,
      ]);
      assert.ok(await env.backend(tc).getVolume(clone));
      for (let i = 0; i < 2; i++) {
        await env.ok(tc, "delete", [d0, vmId, tc.imageDs]);
        await env.ok(tc, "delete", [d1, vmId, tc.systemDs]);
        assert.equal(await env.backend(tc).getVolume(clone), null, "clone kept");
        assert.equal(await sb.getVolume(vol), null, "volatile volume kept");
      }
      for (const i of [0, 1]) {
        assert.equal(
          await present(env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.${i}`)),
          false,
        );
      }
      // The image stays.
      assert.equal(await env.volumeSha(tc, img.volume, data.length), await shaBytes(data));
    });
  });

  it("delete of the VM directory removes it and the checkpoint volume", async () => {
    await forEachCase(async (tc) => {
      const vmId = tc.vmBase + 25;
      env.vm(vmInput(tc, vmId, "charlie", []));
      const dir = vmDir(tc.systemDs, vmId);
      await env.hosts.run("charlie", ["mkdir", "-p", dir]);
      await Deno.writeFile(env.c.hostPath("charlie", `${dir}/deployment.0`), pattern(1, 100));
      const sb = env.backend(tc, tc.systemDs);
      const ckpt = tc.profile.checkpointVolume(vmId);
      await sb.createVolume(ckpt, 4, { placement: env.placement(tc, tc.systemDs) });
      for (let i = 0; i < 2; i++) {
        await env.ok(tc, "delete", [`charlie:${dir}`, vmId, tc.systemDs]);
        assert.equal(await present(env.c.hostPath("charlie", dir)), false, "dir kept");
        assert.equal(await sb.getVolume(ckpt), null, "checkpoint kept");
      }
      // The datastore directory itself stays.
      assert.ok(
        await present(env.c.hostPath("charlie", `/var/lib/one/datastores/${tc.systemDs}`)),
      );
    });
  });

  it("delete refuses paths that are not the VM's directory or disk", async () => {
    await forEachCase(async (tc) => {
      const vmId = tc.vmBase + 26;
      env.vm(vmInput(tc, vmId, "charlie", []));
      const ds = `/var/lib/one/datastores/${tc.systemDs}`;
      await env.hosts.run("charlie", ["mkdir", "-p", `${ds}/${vmId + 1}`]);
      for (const p of [ds, `${ds}/${vmId + 1}`, `/${tc.systemDs}/${vmId}`, "/"]) {
        await env.fails(tc, "delete", [`charlie:${p}`, vmId, tc.systemDs], /not the directory/);
      }
      assert.ok(await present(env.c.hostPath("charlie", `${ds}/${vmId + 1}`)));
      // A disk the VM does not have.
      await env.fails(
        tc,
        "delete",
        [diskArg("charlie", tc.systemDs, vmId, 7), vmId, tc.imageDs],
        /has no disk 7/,
      );
    });
  });
});

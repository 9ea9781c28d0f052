/**
 * tm mkimage / mkswap through the installed symlinks, for the three profiles: a formatted
 * volatile volume linked at DIR/disk.i (ext4 / swap / qcow2 checked by their on-disk bytes),
 * the repeat, the ≤5.12 argument form, and a failing mkfs that leaves nothing behind.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import {
  assertOk,
  assertOneLineFailure,
  closeEnvs,
  devicePath,
  hostsOf,
  lexists,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  PROFILES,
  putVm,
  readRange,
  vmDir,
  volatileDisk,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

describe("tm mkimage / mkswap", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  before(async () => {
    c = await startCluster();
    envs = profileEnvs(c);
  });
  after(async () => {
    await closeEnvs(envs);
    await c.stop();
  });

  PROFILES.forEach((name, i) => {
    it(
      ...needing(
        ["mkfs.ext4", "qemu-img"],
        `${name}: ext4, swap and qcow2 volatile disks, repeat, failure leaves nothing`,
      ),
      async () => {
        const env = envs[name];
        const vmId = 10 + i;
        const sys = env.systemDs;
        const dir = vmDir(sys, vmId);
        putVm(c, {
          id: vmId,
          disks: [
            volatileDisk(env, 0, { fs: "ext4", size: 32 }),
            volatileDisk(env, 1, { type: "swap", size: 16 }),
            volatileDisk(env, 2, { format: "qcow2", size: 64 }),
            volatileDisk(env, 3, { fs: "nosuchfs", size: 16 }),
            volatileDisk(env, 4, { fs: "xfs", size: 16 }),
          ],
          history: [{ hostname: "bravo", dsId: sys, tmMad: name }],
        });
        const at = (d: number) => `bravo:${dir}/disk.${d}`;

        // ext4 on raw
        const r0 = await c.run("tm", name, "mkimage", ["32", "raw", at(0), `${vmId}`, `${sys}`]);
        assertOk(r0);
        assert.equal(r0.stdout, "");
        const v0 = env.profile.volatileVolume(vmId, 0, "raw");
        assert.ok((await env.backend.getVolume(v0))?.sizeMiB! >= 32);
        assert.ok((await hostsOf(env, v0)).includes("bravo"));
        const link0 = c.hostPath("bravo", `${dir}/disk.0`);
        assert.equal(await Deno.readLink(link0), devicePath(c, env, "bravo", v0));
        const magic = await readRange(link0, 1024 + 56, 2); // ext superblock s_magic 0xEF53
        assert.deepEqual([...magic], [0x53, 0xef]);

        // repeat (oned retry): succeeds, same volume
        assertOk(await c.run("tm", name, "mkimage", ["32", "raw", at(0), `${vmId}`, `${sys}`]));
        assert.deepEqual([...await readRange(link0, 1024 + 56, 2)], [0x53, 0xef]);

        // swap through mkswap
        assertOk(await c.run("tm", name, "mkswap", ["16", at(1), `${vmId}`, `${sys}`]));
        const v1 = env.profile.volatileVolume(vmId, 1, "swap");
        const sig = new TextDecoder().decode(
          await readRange(c.hostPath("bravo", `${dir}/disk.1`), 4096 - 10, 10),
        );
        assert.equal(sig, "SWAPSPACE2");
        assert.ok(await env.backend.getVolume(v1));

        // qcow2 format: a qcow2 header of the requested virtual size on the device
        assertOk(await c.run("tm", name, "mkimage", ["64", "qcow2", at(2), `${vmId}`, `${sys}`]));
        const q = await new Deno.Command("qemu-img", {
          args: ["info", "--output=json", "-f", "qcow2", c.hostPath("bravo", `${dir}/disk.2`)],
        }).output();
        assert.ok(q.success, new TextDecoder().decode(q.stderr));
        const info = JSON.parse(new TextDecoder().decode(q.stdout));
        assert.equal(info["virtual-size"], 64 * 1024 * 1024);
        const v2 = env.profile.volatileVolume(vmId, 2, "qcow2");
        assert.ok((await env.backend.getVolume(v2))!.sizeMiB > 64);

        // ≤5.12 form: the 2nd argument is the filesystem itself
        const old = await c.run("tm", name, "mkimage", ["32", "ext4", at(0), `${vmId}`, `${sys}`]);
        assertOk(old);

        // datastore.conf: SUPPORTED_FS and FS_OPTS_<fs>, as the stock mkimage scripts read them
        const conf = join(c.remotes, "etc", "datastore", "datastore.conf");
        await Deno.mkdir(join(c.remotes, "etc", "datastore"), { recursive: true });
        await Deno.writeTextFile(
          conf,
          'SUPPORTED_FS="ext4,nosuchfs"\nFS_OPTS_ext4="-b 4096 -L vol-conf"\n',
        );
        try {
          assertOk(await c.run("tm", name, "mkimage", ["32", "raw", at(0), `${vmId}`, `${sys}`]));
          const sb = await readRange(link0, 1024, 136);
          assert.equal(
            new DataView(sb.buffer, sb.byteOffset).getUint32(24, true),
            2,
            "4 KiB blocks",
          );
          assert.equal(new TextDecoder().decode(sb.subarray(120, 128)), "vol-conf");

          // not in SUPPORTED_FS: refused before a volume is made
          const v4 = env.profile.volatileVolume(vmId, 4, "raw");
          const r4 = await c.run("tm", name, "mkimage", ["16", "raw", at(4), `${vmId}`, `${sys}`]);
          assertOneLineFailure(
            r4,
            /Unsupported file system type: xfs\. Supported types are: ext4,nosuchfs/,
          );
          assert.equal(await env.backend.getVolume(v4), null);

          // mkfs fails in the middle: no volume, no link, no attachment
          const v3 = env.profile.volatileVolume(vmId, 3, "raw");
          const bad = await c.run("tm", name, "mkimage", ["16", "raw", at(3), `${vmId}`, `${sys}`]);
          assertOneLineFailure(bad, /mkfs\.nosuchfs|nosuchfs/);
          assert.equal(await env.backend.getVolume(v3), null);
          assert.equal(await lexists(c.hostPath("bravo", `${dir}/disk.3`)), false);
          assert.equal(await lexists(devicePath(c, env, "bravo", v3)), false);
        } finally {
          await Deno.remove(conf);
        }
      },
    );
  });

  it("bad input: one line on stderr, exit 1", async () => {
    const r1 = await c.run("tm", "linstor", "mkimage", [
      "x",
      "raw",
      "bravo:/d/0/1/disk.0",
      "1",
      "101",
    ]);
    assertOneLineFailure(r1, /size must be a non-negative integer/);
    const r2 = await c.run("tm", "storpool", "mkswap", ["16", "bravo:relative/disk.0", "1", "111"]);
    assertOneLineFailure(r2, /absolute/);
    const r3 = await c.run("tm", "linstor_un", "mkimage", [
      "16",
      "raw",
      `bravo:${vmDir(121, 999)}/disk.0`,
      "999",
      "121",
    ]);
    assertOneLineFailure(r3, /999/);
  });
});

/**
 * tm prebackup(_live) / postbackup(_live) through the installed symlinks, for the three
 * profiles: the files in DIR/backup are valid qcow2 whose raw content has the disk's sha256 at
 * snapshot time (later writes do not leak in), the guest is frozen around the snapshot with
 * FS_FREEZE=AGENT, no temporary volume or snapshot survives, postbackup removes the directory,
 * repeats work, and a store failure in the middle leaves nothing behind.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { link } from "../../../lib/host/ops.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import {
  assertOk,
  assertOneLineFailure,
  closeEnvs,
  createImage,
  devicePath,
  installFakeVirsh,
  lexists,
  pattern,
  persistentDisk,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  PROFILES,
  putVm,
  sha256Hex,
  virshCalls,
  vmDir,
  volatileDisk,
  writeStart,
} from "./helpers.ts";
import { needing } from "../../support/tools.ts";

const MiB = 1024 * 1024;

async function qcow2ToRaw(file: string, out: string): Promise<Uint8Array> {
  const info = await new Deno.Command("qemu-img", {
    args: ["info", "--output=json", file],
  }).output();
  assert.ok(info.success);
  assert.equal(JSON.parse(new TextDecoder().decode(info.stdout)).format, "qcow2");
  const conv = await new Deno.Command("qemu-img", {
    args: ["convert", "-f", "qcow2", "-O", "raw", file, out],
  }).output();
  assert.ok(conv.success, new TextDecoder().decode(conv.stderr));
  return await Deno.readFile(out);
}

describe("tm prebackup / postbackup", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  let hosts: SimRunner;
  let virsh: string;
  before(async () => {
    c = await startCluster();
    envs = profileEnvs(c);
    hosts = new SimRunner(c.root);
    virsh = await installFakeVirsh(c);
  });
  after(async () => {
    await closeEnvs(envs);
    await c.stop();
  });

  /** A running VM on bravo with a persistent disk 0 and a volatile disk 1, both with data. */
  async function runningVm(env: ProfileEnv, vmId: number, backup: Record<string, string>) {
    const sys = env.systemDs;
    const dir = vmDir(sys, vmId);
    const img = await createImage(env, 600 + vmId, 16);
    const vol = env.profile.volatileVolume(vmId, 1, "raw");
    await env.backend.createVolume(vol, 8, { placement: env.placement(sys) });
    const data: Record<string, Uint8Array> = {};
    for (const [d, v, seed] of [[0, img, vmId], [1, vol, vmId + 1000]] as const) {
      await env.backend.attach(v, "bravo");
      await link(hosts, "bravo", env.backend.devicePath(v), `${dir}/disk.${d}`);
      await writeStart(devicePath(c, env, "bravo", v), pattern(3 * MiB + 123, seed));
      data[v] = await Deno.readFile(devicePath(c, env, "bravo", v));
    }
    const xml = putVm(c, {
      id: vmId,
      lcmState: 69,
      deployId: `one-${vmId}`,
      disks: [persistentDisk(env, 0, 600 + vmId), volatileDisk(env, 1, { size: 8 })],
      history: [{ hostname: "bravo", dsId: sys, tmMad: env.name }],
      backupConfig: { MODE: "FULL", ...backup },
    });
    return { dir, img, vol, data, xml };
  }

  async function leftovers(env: ProfileEnv, vmId: number, vols: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const [d, v] of vols.entries()) {
      for (const inc of [0, 1, 2, 3]) {
        const temp = env.profile.backupVolume(vmId, d, inc);
        if (await env.backend.getVolume(temp)) out.push(temp);
      }
      for (const s of await env.backend.listSnapshots(v)) {
        if (env.profile.backupSnapshotInc(v, vmId, d, s.name) !== null) out.push(s.name);
      }
    }
    return out;
  }

  PROFILES.forEach((name, i) => {
    it(
      ...needing(
        ["qemu-img"],
        `${name}: live backup of two disks, frozen; postbackup cleans; repeats`,
      ),
      async () => {
        const env = envs[name];
        const vmId = 60 + i;
        const { dir, img, vol, data, xml } = await runningVm(env, vmId, { FS_FREEZE: "AGENT" });
        const args = [`bravo:${dir}`, "0:1", `one-${vmId}`, "-", `${vmId}`, `${env.systemDs}`];
        const envv = { ONEBLK_VIRSH: virsh };

        const r = await c.run("tm", name, "prebackup_live", args, { stdin: xml, env: envv });
        assertOk(r);
        assert.equal(r.stdout, "");
        // written after the snapshot: must not be in the backup
        await writeStart(devicePath(c, env, "bravo", img), pattern(MiB, 999));
        const calls = (await virshCalls(c, "bravo")).split("\n")
          .filter((l) => l.endsWith(` one-${vmId}`));
        assert.deepEqual(calls, [`domfsfreeze one-${vmId}`, `domfsthaw one-${vmId}`]);
        for (const [d, v] of [[0, img], [1, vol]] as const) {
          const file = c.hostPath("bravo", `${dir}/backup/disk.${d}.0`);
          const raw = await qcow2ToRaw(file, join(c.root, `raw-${name}-${d}`));
          assert.equal(raw.length, data[v].length);
          assert.equal(await sha256Hex(raw), await sha256Hex(data[v]), `disk ${d} content`);
        }
        const vmXml = await Deno.readTextFile(c.hostPath("bravo", `${dir}/backup/vm.xml`));
        assert.equal(
          new TextDecoder().decode(Uint8Array.from(atob(vmXml.trim()), (x) => x.charCodeAt(0))),
          xml,
        );
        assert.deepEqual(await leftovers(env, vmId, [img, vol]), []);

        // repeat of prebackup: starts clean, same result (the later write is in now)
        assertOk(await c.run("tm", name, "prebackup_live", args, { stdin: xml, env: envv }));
        const raw0 = await qcow2ToRaw(
          c.hostPath("bravo", `${dir}/backup/disk.0.0`),
          join(c.root, `raw-${name}-again`),
        );
        assert.deepEqual(raw0.subarray(0, MiB), pattern(MiB, 999));

        assertOk(await c.run("tm", name, "postbackup_live", args, { stdin: xml }));
        assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup`)), false);
        assert.ok(await lexists(c.hostPath("bravo", `${dir}/disk.0`)));
        assertOk(await c.run("tm", name, "postbackup_live", args, { stdin: xml }));

        // powered-off variant without bj_id (6.6 argv)
        const off = [`bravo:${dir}`, "1", `one-${vmId}`, `${vmId}`, `${env.systemDs}`];
        assertOk(await c.run("tm", name, "prebackup", off, { stdin: xml }));
        assert.ok(await lexists(c.hostPath("bravo", `${dir}/backup/disk.1.0`)));
        assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup/disk.0.0`)), false);
        assertOk(await c.run("tm", name, "postbackup", off, { stdin: xml }));
        assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup`)), false);
      },
    );

    it(
      ...needing(
        ["qemu-img"],
        `${name}: a store failure in the middle leaves no backup, volume or snapshot`,
      ),
      async () => {
        const env = envs[name];
        const vmId = 70 + i;
        const { dir, img, vol, xml } = await runningVm(env, vmId, { FS_FREEZE: "SUSPEND" });
        const args = [`bravo:${dir}`, "0:1", `one-${vmId}`, "3", `${vmId}`, `${env.systemDs}`];
        if (name === "storpool") {
          c.storpool.addFault({ method: "VolumesReassignWait", status: 500, times: 1 });
        } else {
          c.linstor.addFault({
            method: "POST",
            path: "snapshot-restore-resource",
            action: "error",
            status: 500,
            times: 1,
          });
        }
        try {
          const f = await c.run("tm", name, "prebackup", args, { stdin: xml });
          assertOneLineFailure(f, /snapshot-restore-resource|VolumesReassignWait/);
        } finally {
          c.storpool.clearFaults();
          c.linstor.clearFaults();
        }
        assert.deepEqual(await leftovers(env, vmId, [img, vol]), []);
        assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup`)), false);
        // and it works once the store is fine again (live: the domain is paused around the snapshot)
        const envv = { ONEBLK_VIRSH: virsh };
        assertOk(await c.run("tm", name, "prebackup_live", args, { stdin: xml, env: envv }));
        const calls = (await virshCalls(c, "bravo")).split("\n")
          .filter((l) => l.endsWith(` one-${vmId}`));
        assert.deepEqual(calls, [`suspend one-${vmId}`, `resume one-${vmId}`]);
        assertOk(await c.run("tm", name, "postbackup", args, { stdin: xml }));
        assert.deepEqual(await leftovers(env, vmId, [img, vol]), []);
      },
    );
  });

  it(
    ...needing(
      ["qemu-img"],
      "BACKUP_BASE_PATH (datastore.conf) and LAST_BRIDGE place the backup directory",
    ),
    async () => {
      const env = envs.storpool;
      const vmId = 77;
      const { xml } = await runningVm(env, vmId, { LAST_BRIDGE: "charlie" });
      const conf = join(c.remotes, "etc", "datastore", "datastore.conf");
      await Deno.mkdir(join(c.remotes, "etc", "datastore"), { recursive: true });
      await Deno.writeTextFile(conf, 'SUPPORTED_FS="ext4"\nBACKUP_BASE_PATH="/var/lib/one/bk"\n');
      const dir = vmDir(env.systemDs, vmId);
      const args = [`bravo:${dir}`, "0:1", `one-${vmId}`, "-", `${vmId}`, `${env.systemDs}`];
      try {
        assertOk(await c.run("tm", "storpool", "prebackup", args, { stdin: xml }));
        for (const f of ["vm.xml", "disk.0.0", "disk.1.0"]) {
          assert.ok(await lexists(c.hostPath("charlie", `/var/lib/one/bk/${vmId}/backup/${f}`)), f);
        }
        assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup`)), false);
        assertOk(await c.run("tm", "storpool", "postbackup", args, { stdin: xml }));
        assert.equal(await lexists(c.hostPath("charlie", `/var/lib/one/bk/${vmId}`)), false);
        assert.ok(await lexists(c.hostPath("charlie", "/var/lib/one/bk")), "the base path stays");
      } finally {
        await Deno.remove(conf);
      }
    },
  );

  it("refuses an unknown mode, pull backups, foreign disks and bad input in one line", async () => {
    const env = envs.linstor;
    const vmId = 79;
    const dir = vmDir(env.systemDs, vmId);
    const base = {
      id: vmId,
      disks: [volatileDisk(env, 0), { ...volatileDisk(env, 1), tmMad: "ceph" }],
      history: [{ hostname: "bravo", dsId: env.systemDs, tmMad: "linstor" }],
    };
    const args = (
      disks: string,
    ) => [`bravo:${dir}`, disks, `one-${vmId}`, "-", `${vmId}`, `${env.systemDs}`];
    const odd = putVm(c, { ...base, backupConfig: { MODE: "SOMETIMES" } });
    assertOneLineFailure(
      await c.run("tm", "linstor", "prebackup", args("0"), { stdin: odd }),
      /MODE/,
    );
    const pull = putVm(c, { ...base, backupConfig: { MODE: "FULL", INTERACTIVE: "YES" } });
    assertOneLineFailure(
      await c.run("tm", "linstor", "prebackup", args("0"), { stdin: pull }),
      /INTERACTIVE/,
    );
    const full = putVm(c, { ...base, backupConfig: { MODE: "FULL" } });
    assertOneLineFailure(
      await c.run("tm", "linstor", "prebackup", args("0:1"), { stdin: full }),
      /ceph/,
    );
    assertOneLineFailure(
      await c.run("tm", "linstor", "prebackup", args("0:x"), { stdin: full }),
      /disk id/,
    );
    assertOneLineFailure(
      await c.run("tm", "linstor", "prebackup", args("0"), { stdin: "nope" }),
      /not XML/,
    );
    assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup`)), false);
  });
});

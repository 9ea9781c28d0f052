/**
 * tm context on the store (StorPool profile: `one-sys-<vm>-<disk>-iso`, like addon-storpool):
 * the ISO is written into the volume, DIR/disk.N links to its device and the ISO read there
 * holds context.sh; a repeat overwrites the same volume; a failure in the middle leaves no
 * volume; mv / premigrate / postmigrate move the attachment with the VM directory; tm delete of
 * the VM directory deletes the volume. The LINSTOR profiles keep a plain file and no volume.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../../../tools/sim/cluster.ts";
import {
  assertOk,
  assertOneLineFailure,
  closeEnvs,
  devicePath,
  hostsOf,
  isoFile,
  lexists,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  putVm,
  vmDir,
} from "./helpers.ts";

describe("tm context on a store volume", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  let files: string;
  before(async () => {
    c = await startCluster();
    envs = profileEnvs(c);
    files = join(c.root, "fe");
    await Deno.mkdir(files, { recursive: true });
  });
  after(async () => {
    await closeEnvs(envs);
    await c.stop();
  });

  async function contextSh(vmId: number, text: string): Promise<string> {
    const p = join(files, `context-${vmId}.sh`);
    await Deno.writeTextFile(p, text);
    return p;
  }

  it("storpool: volume written, linked, moved with the VM directory, deleted with it", async () => {
    const pe = envs.storpool;
    const sys = CLUSTER_DS.storpool.system;
    const vmId = 40;
    const dir = vmDir(sys, vmId);
    putVm(c, {
      id: vmId,
      contextDiskId: 3,
      history: [{ hostname: "bravo", dsId: sys, tmMad: "storpool" }],
    });
    const vol = pe.profile.contextVolume(vmId, 3)!;
    assert.equal(vol, "one-sys-40-3-iso");
    const sh = await contextSh(vmId, "ETH0_IP='10.0.0.40'\n");
    const args = [`${sh}:'context.sh'`, `bravo:${dir}/disk.3`, `${vmId}`, `${sys}`];

    // the attach fails once: the volume this call created is gone again
    c.storpool.addFault({ method: "VolumesReassignWait", status: 500, times: 1 });
    try {
      assertOneLineFailure(await c.run("tm", "storpool", "context", args));
    } finally {
      c.storpool.clearFaults();
    }
    assert.equal(await pe.backend.getVolume(vol), null);
    assert.equal(await lexists(c.hostPath("bravo", `${dir}/disk.3`)), false);

    assertOk(await c.run("tm", "storpool", "context", args));
    const info = await pe.backend.getVolume(vol);
    assert.ok(info && info.sizeMiB >= 1, JSON.stringify(info));
    const link = c.hostPath("bravo", `${dir}/disk.3`);
    assert.equal(await Deno.readLink(link), devicePath(c, pe, "bravo", vol));
    assert.deepEqual(await hostsOf(pe, vol), ["bravo"]);
    assert.match(
      await isoFile(devicePath(c, pe, "bravo", vol), "context.sh"),
      /ETH0_IP='10.0.0.40'/,
    );

    // repeat with a new context: the same volume is overwritten
    await contextSh(vmId, "ETH0_IP='10.0.0.41'\n");
    assertOk(await c.run("tm", "storpool", "context", args));
    assert.match(
      await isoFile(devicePath(c, pe, "bravo", vol), "context.sh"),
      /ETH0_IP='10.0.0.41'/,
    );
    assert.equal(await Deno.readLink(link), devicePath(c, pe, "bravo", vol));

    // cold migration of the VM directory: the attachment follows it
    assertOk(
      await c.run("tm", "storpool", "mv", [`bravo:${dir}`, `charlie:${dir}`, `${vmId}`, `${sys}`]),
    );
    assert.deepEqual(await hostsOf(pe, vol), ["charlie"]);
    assert.equal(
      await Deno.readLink(c.hostPath("charlie", `${dir}/disk.3`)),
      devicePath(c, pe, "charlie", vol),
    );
    assert.match(
      await isoFile(devicePath(c, pe, "charlie", vol), "context.sh"),
      /10\.0\.0\.41/,
    );

    // live migration charlie -> delta
    putVm(c, {
      id: vmId,
      contextDiskId: 3,
      history: [{ hostname: "charlie", dsId: sys, tmMad: "storpool" }],
    });
    const mig = ["charlie", "delta", dir, `${vmId}`, `${sys}`];
    const stats = join(c.root, `stats-${vmId}.jsonl`);
    assertOk(
      await c.run("tm", "storpool", "premigrate", mig, { env: { ONEBLK_STATS_FILE: stats } }),
    );
    // the ISO volume's link is made by the copy's own command on delta (its lookup comes before
    // the copy): one host command on each host, none after
    assert.equal(JSON.parse(await Deno.readTextFile(stats)).ssh, 2);
    assert.deepEqual(await hostsOf(pe, vol), ["charlie", "delta"]);
    assert.equal(
      await Deno.readLink(c.hostPath("delta", `${dir}/disk.3`)),
      devicePath(c, pe, "delta", vol),
    );
    assertOk(await c.run("tm", "storpool", "postmigrate", mig));
    assert.deepEqual(await hostsOf(pe, vol), ["delta"]);

    // delete of the VM directory removes the volume; a repeat is fine
    for (let k = 0; k < 2; k++) {
      assertOk(await c.run("tm", "storpool", "delete", [`delta:${dir}`, `${vmId}`, `${sys}`]));
      assert.equal(await pe.backend.getVolume(vol), null);
      assert.equal(await lexists(c.hostPath("delta", dir)), false);
    }
  });

  it("storpool: a stop whose store refuses the detach (401) fails and keeps the ISO attached; the retry releases it", async () => {
    // (deno task faults, storpool tm/mv:stop-dir token: StorPool's auth failure is kind
    // "config", which the release took for "the front-end is not a client": the move succeeded
    // with the ISO and the checkpoint attached on bravo for good)
    const pe = envs.storpool;
    const sys = CLUSTER_DS.storpool.system;
    const vmId = 42;
    const dir = vmDir(sys, vmId);
    const history = [{ hostname: "bravo", dsId: sys, tmMad: "storpool" }];
    putVm(c, { id: vmId, contextDiskId: 3, history });
    const sh = await contextSh(vmId, "HOSTNAME='stop'\n");
    const ctx = [`${sh}:'context.sh'`, `bravo:${dir}/disk.3`, `${vmId}`, `${sys}`];
    assertOk(await c.run("tm", "storpool", "context", ctx));
    const vol = pe.profile.contextVolume(vmId, 3)!;
    assert.deepEqual(await hostsOf(pe, vol), ["bravo"]);
    putVm(c, { id: vmId, contextDiskId: 3, lcmState: 10, history });
    const stop = [`bravo:${dir}`, `alpha:${dir}`, `${vmId}`, `${sys}`];
    c.storpool.addFault({ method: "VolumesReassignWait", status: 401, errorName: "authorization" });
    try {
      assertOneLineFailure(await c.run("tm", "storpool", "mv", stop));
    } finally {
      c.storpool.clearFaults();
    }
    assert.deepEqual(await hostsOf(pe, vol), ["bravo"], "still attached: the retry's to release");
    assertOk(await c.run("tm", "storpool", "mv", stop));
    assert.deepEqual(await hostsOf(pe, vol), []);
    assertOk(await c.run("tm", "storpool", "delete", [`alpha:${dir}`, `${vmId}`, `${sys}`]));
  });

  for (const name of ["linstor", "linstor_un"] as const) {
    it(`${name}: the ISO stays a plain file, no volume`, async () => {
      const pe = envs[name];
      assert.equal(pe.profile.contextVolume(41, 2), null);
      const sys = CLUSTER_DS[name].system;
      const dir = vmDir(sys, 41);
      const sh = await contextSh(41, "HOSTNAME='x'\n");
      assertOk(await c.run("tm", name, "context", [sh, `bravo:${dir}/disk.2`, "41", `${sys}`]));
      assert.ok((await Deno.lstat(c.hostPath("bravo", `${dir}/disk.2`))).isFile);
    });
  }
});

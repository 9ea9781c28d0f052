/**
 * VMM overrides save / restore through the installed vmm/kvm symlinks, for the three profiles:
 * the domain's memory goes through a checkpoint volume (a fake virsh on the simulated hosts
 * moves real bytes) from one host to another; the profile comes from the system datastore's
 * TM_MAD whatever the override's file name; repeats are harmless; a failing virsh leaves no
 * volume; a foreign TM_MAD runs the host's stock script with the decoded message.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../../../tools/sim/cluster.ts";
import { buildDatastoreXml, buildVmmActionXml } from "../../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import {
  assertOk,
  assertOneLineFailure,
  closeEnvs,
  devicePath,
  domainFile,
  installFakeVirsh,
  lexists,
  pattern,
  type ProfileEnv,
  profileEnvs,
  type ProfileName,
  PROFILES,
  putVm,
  readRange,
  sha256Hex,
  vmDir,
} from "../tm_system/helpers.ts";

/** Override file names, crossed on purpose: the TM_MAD decides, not the name. */
const SAVE_FILE: Record<ProfileName, string> = {
  linstor: "tmsave",
  linstor_un: "save_linstor",
  storpool: "save_linstor_un",
};
const RESTORE_FILE: Record<ProfileName, string> = {
  linstor: "restore_linstor_un",
  linstor_un: "tmrestore",
  storpool: "restore_linstor",
};

describe("vmm save / restore overrides", () => {
  let c: Cluster;
  let envs: Record<ProfileName, ProfileEnv>;
  let env: Record<string, string>;
  before(async () => {
    c = await startCluster();
    envs = profileEnvs(c);
    env = { ONEBLK_VIRSH: await installFakeVirsh(c) };
  });
  after(async () => {
    await closeEnvs(envs);
    await c.stop();
  });

  function message(vmXml: string, dsXml: string, host: string, ckpt: string, deployId: string) {
    return encodeBase64Text(buildVmmActionXml({
      vm: vmXml,
      datastore: dsXml,
      host,
      deployId,
      checkpointFile: ckpt,
    }));
  }

  async function startDomain(host: string, domain: string, seed: number): Promise<Uint8Array> {
    const mem = pattern(2 * 1024 * 1024 + 77, seed);
    const f = domainFile(c, host, domain);
    await Deno.mkdir(join(f, ".."), { recursive: true });
    await Deno.writeFile(f, mem);
    return mem;
  }

  PROFILES.forEach((name, i) => {
    it(`${name}: save on bravo, restore on charlie through the checkpoint volume`, async () => {
      const pe = envs[name];
      const vmId = 80 + i;
      const dom = `one-${vmId}`;
      const sys = CLUSTER_DS[name].system;
      const ckpt = `${vmDir(sys, vmId)}/checkpoint`;
      const vmXml = putVm(c, { id: vmId, deployId: dom, template: { MEMORY: 64 } });
      const dsXml = c.oned.state.datastores.get(sys)!;
      const mem = await startDomain("bravo", dom, vmId);
      const vol = pe.profile.checkpointVolume(vmId);

      // virsh fails: no volume is left, the domain keeps running
      await Deno.writeTextFile(c.hostPath("bravo", "var/run/fakevirsh/fail-save"), "");
      const saveArgs = [dom, ckpt, "bravo", `${vmId}`, "bravo"];
      const stdin = message(vmXml, dsXml, "bravo", ckpt, dom);
      try {
        const bad = await c.run("vmm", "kvm", SAVE_FILE[name], saveArgs, { stdin, env });
        assertOneLineFailure(bad, /injected save failure/);
      } finally {
        await Deno.remove(c.hostPath("bravo", "var/run/fakevirsh/fail-save"));
      }
      assert.equal(await pe.backend.getVolume(vol), null);
      assert.ok(await lexists(domainFile(c, "bravo", dom)));

      // save
      const r = await c.run("vmm", "kvm", SAVE_FILE[name], saveArgs, { stdin, env });
      assertOk(r);
      const info = await pe.backend.getVolume(vol);
      assert.ok(info && info.sizeMiB >= Math.ceil(64 * 1.1), JSON.stringify(info));
      assert.equal(await lexists(domainFile(c, "bravo", dom)), false, "domain gone after save");
      const dev = devicePath(c, pe, "bravo", vol);
      assert.equal(await Deno.readLink(c.hostPath("bravo", ckpt)), dev);
      const hdr = new TextDecoder().decode(await readRange(dev, 0, 40));
      assert.match(hdr, new RegExp(`^FAKEVIRSH ${dom} ${mem.length}\\n`));
      // repeat: the saved checkpoint is kept and linked again
      assertOk(await c.run("vmm", "kvm", SAVE_FILE[name], saveArgs, { stdin, env }));
      assert.match(new TextDecoder().decode(await readRange(dev, 0, 40)), /^FAKEVIRSH /);

      // restore on another host; a failing virsh keeps the checkpoint volume
      const restArgs = [ckpt, "charlie", dom, `${vmId}`, "charlie"];
      const rstdin = message(vmXml, dsXml, "charlie", ckpt, dom);
      const failMark = c.hostPath("charlie", "var/run/fakevirsh/fail-restore");
      await Deno.mkdir(join(failMark, ".."), { recursive: true });
      await Deno.writeTextFile(failMark, "");
      try {
        const bad = await c.run("vmm", "kvm", RESTORE_FILE[name], restArgs, { stdin: rstdin, env });
        assertOneLineFailure(bad, /injected restore failure/);
      } finally {
        await Deno.remove(failMark);
      }
      assert.ok(await pe.backend.getVolume(vol), "the memory image is kept");
      assert.ok(
        !(await pe.backend.attachments(vol)).some((a) =>
          a.host === "charlie" && !a.diskful && !a.tieBreaker
        ),
      );
      assert.equal(await lexists(domainFile(c, "charlie", dom)), false);
      const rr = await c.run("vmm", "kvm", RESTORE_FILE[name], restArgs, { stdin: rstdin, env });
      assertOk(rr);
      const restored = await Deno.readFile(domainFile(c, "charlie", dom));
      assert.equal(await sha256Hex(restored), await sha256Hex(mem));
      assert.equal(await pe.backend.getVolume(vol), null, "checkpoint volume deleted");
      assert.equal(await lexists(c.hostPath("charlie", ckpt)), false);
      // repeat: the domain runs, nothing to do
      assertOk(await c.run("vmm", "kvm", RESTORE_FILE[name], restArgs, { stdin: rstdin, env }));
      assert.ok(await lexists(domainFile(c, "charlie", dom)));
    });
  });

  it("a foreign TM_MAD runs the host's stock script with the decoded message", async () => {
    const rr = join(c.hostPath("bravo", "var/tmp/one"));
    await Deno.mkdir(join(rr, "vmm", "kvm"), { recursive: true });
    for (const a of ["save", "restore"]) {
      await Deno.writeTextFile(
        join(rr, "vmm", "kvm", a),
        `#!/bin/sh\necho "$*" > "$PWD/stock-${a}.args"\ncat > "$PWD/stock-${a}.stdin"\n`,
      );
      await Deno.chmod(join(rr, "vmm", "kvm", a), 0o755);
    }
    const vmXml = putVm(c, { id: 90, template: { MEMORY: 64 } });
    const dsXml = buildDatastoreXml({ id: 0, tmMad: "ssh", type: "SYSTEM" });
    const ckpt = `${vmDir(0, 90)}/checkpoint`;
    const stdin = message(vmXml, dsXml, "bravo", ckpt, "one-90");
    const e = { ...env, ONEBLK_SCRIPTS_REMOTE_DIR: rr };
    const args = ["one-90", ckpt, "bravo", "90", "bravo"];
    assertOk(await c.run("vmm", "kvm", "tmsave", args, { stdin, env: e }));
    // (absolute paths are mapped onto the simulated host's directory, as for every command)
    const mapped = (a: string) => (a.startsWith("/") ? c.hostPath("bravo", a) : a);
    assert.equal(
      await Deno.readTextFile(c.hostPath("bravo", "stock-save.args")),
      `${args.map(mapped).join(" ")}\n`,
    );
    const got = await Deno.readTextFile(c.hostPath("bravo", "stock-save.stdin"));
    assert.match(got, /^<VMM_DRIVER_ACTION_DATA>.*<TM_MAD><!\[CDATA\[ssh\]\]><\/TM_MAD>/s);

    // our TM_MAD but no checkpoint volume (a file checkpoint): the stock restore runs
    const sys = CLUSTER_DS.linstor.system;
    const ours = message(vmXml, c.oned.state.datastores.get(sys)!, "bravo", ckpt, "one-90");
    const rargs = [ckpt, "bravo", "one-90", "90", "bravo"];
    assertOk(await c.run("vmm", "kvm", "restore_linstor", rargs, { stdin: ours, env: e }));
    assert.equal(
      await Deno.readTextFile(c.hostPath("bravo", "stock-restore.args")),
      `${rargs.map(mapped).join(" ")}\n`,
    );
  });

  it("bad input: one line on stderr, exit 1", async () => {
    const args = ["one-1", "/var/lib/one/datastores/101/1/checkpoint", "bravo", "1", "bravo"];
    assertOneLineFailure(
      await c.run("vmm", "kvm", "save_linstor_un", args, { stdin: "!!", env }),
      /base64/,
    );
    const vmXml = putVm(c, { id: 1, template: { MEMORY: 64 } });
    const dsXml = c.oned.state.datastores.get(CLUSTER_DS.storpool.system)!;
    const stdin = message(vmXml, dsXml, "bravo", args[1], "one 1");
    assertOneLineFailure(
      await c.run("vmm", "kvm", "tmsave", ["one 1", ...args.slice(1)], { stdin, env }),
      /invalid deploy id/,
    );
    assertOneLineFailure(
      await c.run("vmm", "kvm", "tmrestore", ["x", "bravo"], { stdin, env }),
      /expects 5 arguments/,
    );
  });
});

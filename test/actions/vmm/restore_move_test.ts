/**
 * The restore override after the VM moved to another system datastore (contract finding 3),
 * on the simulated virsh, which refuses to start a domain whose disk sources do not exist on
 * the host: the VM is saved on bravo from system datastore A, its directory moves to system
 * datastore B on charlie, and the restore (checkpoint file under B) must start the domain with
 * every `…/A/<vmid>/` path pointed at `…/B/<vmid>/`, as the stock restore does. Also: a domain
 * its guest suspended (pmsuspended) is woken up by the restore, as the stock restore does.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Cluster, CLUSTER_DS, startCluster } from "../../../tools/sim/cluster.ts";
import { buildDatastoreXml, buildVmmActionXml } from "../../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import { child } from "../../../lib/one/xml.ts";
import { domainDisks, systemDatastoreDir } from "../../../lib/domain/domain_xml.ts";
import { parseDatastoreSync } from "../../support/views_sync.ts";
import {
  assertOk,
  lexists,
  PROFILES,
  putVm,
  simDomain,
  simDomainFile,
  startSimDomain,
  vmDir,
} from "../tm_system/helpers.ts";

const SAVE: Record<string, string> = {
  linstor: "save_linstor",
  linstor_un: "save_linstor_un",
  storpool: "tmsave",
};
const RESTORE: Record<string, string> = {
  linstor: "restore_linstor",
  linstor_un: "restore_linstor_un",
  storpool: "tmrestore",
};

describe("vmm restore after a system datastore change", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  /** A second system datastore of `name`'s store, id = the profile's system id + 50. */
  function otherSystemDs(name: string): string {
    const sys = parseDatastoreSync(c.oned.state.datastores.get(CLUSTER_DS[name].system)!);
    const id = sys.id + 50;
    const xml = buildDatastoreXml({
      id,
      name: `${name}_system_b`,
      tmMad: name,
      type: "SYSTEM",
      template: sys.template.entries(),
    });
    c.oned.state.putDatastore(xml);
    return xml;
  }

  function message(vmXml: string, dsXml: string, host: string, ckpt: string, dom: string) {
    return encodeBase64Text(buildVmmActionXml({
      vm: vmXml,
      datastore: dsXml,
      host,
      deployId: dom,
      checkpointFile: ckpt,
    }));
  }

  PROFILES.forEach((name, i) => {
    it(`${name}: the restored domain's disks are in the new VM directory`, async () => {
      const vmId = 70 + i;
      const dom = `one-${vmId}`;
      const a = CLUSTER_DS[name].system;
      const bXml = otherSystemDs(name);
      const b = parseDatastoreSync(bXml).id;
      const dirA = vmDir(a, vmId);
      const dirB = vmDir(b, vmId);
      for (const [host, dir] of [["bravo", dirA], ["charlie", dirB]]) {
        await Deno.mkdir(c.hostPath(host, dir), { recursive: true });
        await Deno.writeFile(c.hostPath(host, `${dir}/disk.0`), new Uint8Array(4096));
      }
      const uuid = await startSimDomain(c, "bravo", dom, dirA, [
        { target: "vda", path: `${dirA}/disk.0` },
      ]);
      const vmXml = putVm(c, { id: vmId, deployId: dom, template: { MEMORY: 64 } });
      const aXml = c.oned.state.datastores.get(a)!;
      const ckptA = `${dirA}/checkpoint`;
      assertOk(
        await c.run("vmm", "kvm", SAVE[name], [dom, ckptA, "bravo", `${vmId}`, "bravo"], {
          stdin: message(vmXml, aXml, "bravo", ckptA, dom),
        }),
        "save",
      );
      assert.equal(await simDomain(c, "bravo", dom), null);

      // the VM directory moved to datastore B (tm mv), the restore runs on charlie
      const ckptB = `${dirB}/checkpoint`;
      const r = await c.run("vmm", "kvm", RESTORE[name], [
        ckptB,
        "charlie",
        dom,
        `${vmId}`,
        "charlie",
      ], {
        stdin: message(vmXml, bXml, "charlie", ckptB, dom),
      });
      assertOk(r, "restore");
      assert.match(r.stderr, new RegExp(`moved to system datastore ${b}: 2 path`));
      const back = (await simDomain(c, "charlie", dom))!;
      assert.equal(child(back, "uuid")?.text, uuid);
      const norm = (p: string) => p.replaceAll("//", "/");
      assert.deepEqual(domainDisks(back).map((d) => norm(d.source)), [norm(`${dirB}/disk.0`)]);
      assert.equal(norm(systemDatastoreDir(back)!), norm(dirB));
      assert.equal(await lexists(c.hostPath("charlie", `${ckptB}.xml`)), false);
      await Deno.remove(simDomainFile(c, "charlie", dom));
    });
  });

  it("a domain suspended by its guest is woken up", async () => {
    const name = "storpool";
    const vmId = 79;
    const dom = `one-${vmId}`;
    const sys = CLUSTER_DS[name].system;
    const dir = vmDir(sys, vmId);
    await Deno.mkdir(c.hostPath("bravo", dir), { recursive: true });
    await Deno.writeFile(c.hostPath("bravo", `${dir}/disk.0`), new Uint8Array(4096));
    await startSimDomain(c, "bravo", dom, dir, [{ target: "vda", path: `${dir}/disk.0` }]);
    const state = `${simDomainFile(c, "bravo", dom)}.state`;
    await Deno.writeTextFile(state, "pmsuspended\n");
    const vmXml = putVm(c, { id: vmId, deployId: dom, template: { MEMORY: 64 } });
    const ckpt = `${dir}/checkpoint`;
    const r = await c.run("vmm", "kvm", RESTORE[name], [ckpt, "bravo", dom, `${vmId}`, "bravo"], {
      stdin: message(vmXml, c.oned.state.datastores.get(sys)!, "bravo", ckpt, dom),
    });
    assertOk(r);
    assert.match(r.stderr, /suspended by its guest: waking it up/);
    assert.equal(await lexists(state), false, "running again");
  });
});

/**
 * The disk hot-plug overrides (`attach_disk.storpool` / `detach_disk.storpool`,
 * `attach_disk_linstor[_un]` / `detach_disk_linstor[_un]`) through the installed symlinks, for
 * the three profiles, on a running domain of the simulated hosts (tools/sim/libvirt.ts: the
 * store volumes behind a running domain's disks are open; IDE/SATA drives cannot be
 * hot-plugged; the stock attach_disk writes the `<disk>` from the message's TYPE/DISK_TYPE).
 *
 * Played as oned does: the TM step first (mkimage for a volatile disk, ln for a CDROM image),
 * then the override with argv `deploy_id DIR/disk.N target index b64(message) vmid host` (attach)
 * or `deploy_id DIR/disk.N target index vmid host` (detach).
 * Checked: a volatile disk on the store is attached as a block device and opened, a repeat
 * changes nothing, detach closes it, a repeat is fine; a CDROM image goes into the domain's
 * empty IDE drive by a media change (another target than oned's) and is ejected on detach;
 * a CDROM with no empty drive left is refused in one line.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildVmmActionXml, buildVmXml, type VmInput } from "../../../tools/sim/oned/builders.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import { parseVmSync } from "../../support/views_sync.ts";
import { child } from "../../../lib/one/xml.ts";
import { domainDisks, parseDomainXml } from "../../../lib/domain/domain_xml.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import {
  type Case,
  cdromDisk,
  diskArg,
  forEachCase,
  pattern,
  persistentDisk,
  useEnv,
  vmDir,
  vmInput,
  volatileDisk,
} from "../tm_disk/helpers.ts";
import { assertOk, assertOneLineFailure } from "../../support/cluster.ts";

const OVERRIDE: Record<string, [string, string]> = {
  storpool: ["attach_disk.storpool", "detach_disk.storpool"],
  linstor: ["attach_disk_linstor", "detach_disk_linstor"],
  linstor_un: ["attach_disk_linstor_un", "detach_disk_linstor_un"],
};

describe("vmm attach_disk / detach_disk overrides", () => {
  const env = useEnv();

  /** A running VM on bravo: its image disk 0 linked, an empty IDE CDROM drive hdb. */
  async function runningVm(tc: Case, vmId: number): Promise<{ dom: string; dir: string }> {
    const c = env.c;
    const img = await env.image(tc, vmId, 4, pattern(vmId, 4096));
    env.vm(vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, vmId, 4)]));
    await env.ok(tc, "ln", [
      `alpha:${img.source}`,
      diskArg("bravo", tc.systemDs, vmId, 0),
      vmId,
      tc.imageDs,
    ]);
    const dir = vmDir(tc.systemDs, vmId);
    const dom = `one-${vmId}`;
    const xml = `<domain type='kvm'>
	<name>${dom}</name>
	<os><type arch='x86_64'>hvm</type></os>
	<devices>
		<disk type='block' device='disk'><source dev='${dir}/disk.0'/><target dev='vda' bus='virtio'/><driver name='qemu' type='raw'/></disk>
		<disk type='block' device='cdrom'><target dev='hdb' bus='ide'/><driver name='qemu' type='raw'/><readonly/></disk>
	</devices>
	<metadata><one:vm xmlns:one="http://opennebula.org/xmlns/libvirt/1.0"><one:system_datastore>${dir}</one:system_datastore></one:vm></metadata>
</domain>
`;
    await Deno.writeTextFile(c.hostPath("bravo", `${dir}/boot.xml`), xml);
    const hosts = new SimRunner(c.root);
    await hosts.run("bravo", [join(c.root, "bin", "virsh"), "create", `${dir}/boot.xml`]);
    // (paths compared with single slashes: the simulated host keeps what the commands got)
    return { dom, dir: dir.replaceAll("//", "/") };
  }

  async function live(dom: string) {
    const text = await Deno.readTextFile(
      env.c.hostPath("bravo", `var/run/oneblk-sim/domains/${dom}`),
    );
    return domainDisks(parseDomainXml(text)).map((d) => ({
      target: d.target,
      type: d.type,
      device: d.device,
      source: d.source,
      dev: child(d.node, "source")?.attrs.dev?.replaceAll("//", "/"),
      empty: d.empty,
    }));
  }

  async function openOn(tc: Case, volume: string, dsId: number): Promise<boolean> {
    return (await env.backend(tc, dsId).attachments(volume)).some((a) =>
      a.host === "bravo" && a.inUse
    );
  }

  /** Run the attach or detach override for disk `diskId` of `input` as oned does. */
  function hotplug(
    verb: "attach" | "detach",
    tc: Case,
    input: VmInput,
    dom: string,
    diskId: number,
    target: string,
  ) {
    const msg = encodeBase64Text(buildVmmActionXml({
      vm: buildVmXml(input),
      datastore: env.c.oned.state.datastores.get(tc.systemDs)!,
      host: "bravo",
      deployId: dom,
    }));
    const path = `${vmDir(tc.systemDs, input.id)}/disk.${diskId}`;
    const index = String(target.charCodeAt(target.length - 1) - 97);
    const args = verb === "attach"
      ? [dom, path, target, index, msg, String(input.id), "bravo"]
      : [dom, path, target, index, String(input.id), "bravo"];
    const script = OVERRIDE[tc.driver][verb === "attach" ? 0 : 1];
    return env.c.run("vmm", "kvm", script, args, { stdin: msg });
  }
  const attach = (tc: Case, input: VmInput, dom: string, diskId: number, target: string) =>
    hotplug("attach", tc, input, dom, diskId, target);
  const detach = (tc: Case, input: VmInput, dom: string, diskId: number, target: string) =>
    hotplug("detach", tc, input, dom, diskId, target);

  it("a volatile disk on the store is hot-attached as a block device and detached", async () => {
    await forEachCase(async (tc) => {
      const vmId = tc.vmBase + 61;
      const { dom, dir } = await runningVm(tc, vmId);
      // oned's message: DISK_TYPE from the system datastore (FILE), TYPE FS
      const vol = volatileDisk(tc, 1, 8);
      const disk = { ...vol, diskType: "FILE", attach: true, target: "vdb" };
      const input = vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, vmId, 4), disk]);
      env.vm(input);
      await env.ok(tc, "mkimage", [
        8,
        "raw",
        diskArg("bravo", tc.systemDs, vmId, 1),
        vmId,
        tc.systemDs,
      ]);
      const volume = tc.profile.diskVolume(vmId, parseVmSync(buildVmXml(input)).disk(1)!);
      for (let k = 0; k < 2; k++) {
        const r = await attach(tc, input, dom, 1, "vdb");
        assertOk(r, `attach #${k + 1}`);
        const vdb = (await live(dom)).filter((d) => d.target === "vdb");
        assert.deepEqual(vdb.map((d) => [d.type, d.dev]), [["block", `${dir}/disk.1`]]);
        if (k === 1) assert.match(r.stderr, /attached to .* already/);
      }
      assert.ok(await openOn(tc, volume, tc.systemDs), "the running domain holds the disk open");
      for (let k = 0; k < 2; k++) {
        assertOk(await detach(tc, input, dom, 1, "vdb"), `detach #${k + 1}`);
        assert.deepEqual((await live(dom)).map((d) => d.target), ["vda", "hdb"]);
      }
      assert.equal(await openOn(tc, volume, tc.systemDs), false, "closed after detach");
    });
  });

  it("a CDROM goes into the empty IDE drive and is ejected on detach; no drive left: refused", async () => {
    await forEachCase(async (tc) => {
      const vmId = tc.vmBase + 62;
      const { dom, dir } = await runningVm(tc, vmId);
      const iso = await env.image(tc, vmId + 1000, 4, pattern(vmId + 1, 4096));
      const cd = { ...cdromDisk(tc, 2, vmId + 1000, 4), attach: true, target: "hdc" };
      const input = vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, vmId, 4), cd]);
      env.vm(input);
      await env.ok(tc, "ln", [
        `alpha:${iso.source}`,
        diskArg("bravo", tc.systemDs, vmId, 2),
        vmId,
        tc.imageDs,
      ]);
      for (let k = 0; k < 2; k++) {
        const r = await attach(tc, input, dom, 2, "hdc");
        assertOk(r, `attach #${k + 1}`);
        if (k === 0) assert.match(r.stderr, /goes into the empty drive hdb/);
        assert.deepEqual(
          (await live(dom)).map((d) => [d.target, d.device, d.type, d.dev ?? ""]),
          [["vda", "disk", "block", `${dir}/disk.0`], ["hdb", "cdrom", "block", `${dir}/disk.2`]],
        );
      }
      // a second CDROM: no empty drive is left
      const iso2 = await env.image(tc, vmId + 2000, 4, pattern(vmId + 2, 4096));
      const cd2 = { ...cdromDisk(tc, 3, vmId + 2000, 4), attach: true, target: "hdd" };
      const input2 = vmInput(tc, vmId, "bravo", [
        persistentDisk(tc, 0, vmId, 4),
        { ...cd, attach: false },
        cd2,
      ]);
      env.vm(input2);
      await env.ok(tc, "ln", [
        `alpha:${iso2.source}`,
        diskArg("bravo", tc.systemDs, vmId, 3),
        vmId,
        tc.imageDs,
      ]);
      assertOneLineFailure(
        await attach(tc, input2, dom, 3, "hdd"),
        /no .*empty IDE\/SATA CDROM drive/,
      );
      // detach the first CDROM (oned names its own target hdc): the medium is ejected from hdb
      for (let k = 0; k < 2; k++) {
        assertOk(await detach(tc, input, dom, 2, "hdc"), `detach #${k + 1}`);
        assert.deepEqual(
          (await live(dom)).map((d) => [d.target, d.empty]),
          [["vda", false], ["hdb", true]],
        );
      }
    });
  });
});

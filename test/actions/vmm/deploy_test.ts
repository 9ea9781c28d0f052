/**
 * The deploy override (`deploy-tweaks`, `deploy_linstor`, `deploy_linstor_un`) through the
 * installed symlinks, on the domain XML fixtures of test/fixtures/domain/: called as oned's
 * MAD calls a local deploy (argv `local_deployment_file host vmid host`, base64 domain XML on
 * stdin, vm.xml written next to the local file on 6.0+), handing over to the simulated host's
 * stock deploy, which stores the file and `virsh create`s it (tools/sim/libvirt.ts).
 *
 * Checked: the created domain has the store's volatile disk, context ISO (StorPool) and CDROM
 * image as block devices and everything else as oned wrote it; persistent CDROM drives appear;
 * the deploy id printed is the stock deploy's (UUID, or the name on 5.12); XML needing no
 * change reaches the host byte for byte; the operator's deploy-tweaks.d helpers run in the
 * add-on's order, arguments and environment, a Python helper written like the add-on's keeps
 * working, and a helper that fails, hangs or writes broken XML is ignored with an INFO line.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { encodeBase64Text } from "../../../lib/one/args.ts";
import { child } from "../../../lib/one/xml.ts";
import { domainDisks, parseDomainXml } from "../../../lib/domain/domain_xml.ts";
import { fixture, VM_DIR } from "../../domain/helpers.ts";
import { assertOk, assertOneLineFailure } from "../../support/cluster.ts";
import { needing } from "../../support/tools.ts";

/** What a deploy left on the host. */
interface Deployed {
  stdout: string;
  stderr: string;
  /** The domain XML the stock deploy stored (the remote deployment file). */
  handed: string;
  /** The running domain, as the simulated virsh keeps it. */
  domain: ReturnType<typeof parseDomainXml>;
}

describe("vmm deploy override", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  /** Make the files the fixture's disks name on `host` (libvirt refuses missing sources). */
  async function vmDirOn(host: string, ids: number[]): Promise<void> {
    for (const i of ids) {
      const p = c.hostPath(host, `${VM_DIR}/disk.${i}`);
      await Deno.mkdir(dirname(p), { recursive: true });
      await Deno.writeFile(p, new Uint8Array(4096));
    }
  }

  /** Play oned's local deploy of `domainXml` for VM 42 on `host` through `override`. */
  async function deploy(
    override: string,
    domainXml: string,
    vmXml: string | null,
    host = "bravo",
    env: Record<string, string> = {},
  ): Promise<Deployed & { code: number }> {
    const local = c.hostPath(c.frontend, "/var/lib/one/vms/42/deployment.0");
    await Deno.mkdir(dirname(local), { recursive: true });
    await Deno.writeTextFile(local, domainXml);
    const vmFile = join(dirname(local), "vm.xml");
    await Deno.remove(vmFile).catch(() => {});
    if (vmXml !== null) await Deno.writeTextFile(vmFile, encodeBase64Text(vmXml));
    const domFile = c.hostPath(host, "var/run/oneblk-sim/domains/one-42");
    await Deno.remove(domFile).catch(() => {});
    const r = await c.run("vmm", "kvm", override, [local, host, "42", host], {
      stdin: encodeBase64Text(domainXml),
      env,
    });
    const handed = await Deno.readTextFile(c.hostPath(host, `${VM_DIR}/deployment.0`))
      .catch(() => "");
    const text = await Deno.readTextFile(domFile).catch(() => "");
    return {
      code: r.code,
      stdout: r.stdout,
      stderr: r.stderr,
      handed,
      domain: text
        ? parseDomainXml(text)
        : parseDomainXml("<domain type='kvm'><name>-</name></domain>"),
    };
  }

  function disks(d: Deployed) {
    return domainDisks(d.domain).map((x) => ({
      target: x.target,
      type: x.type,
      device: x.device,
      source: x.source,
      bus: x.bus,
      empty: x.empty,
      dev: child(x.node, "source")?.attrs.dev,
    }));
  }

  it("storpool: the volatile disk and the context ISO become block devices (6.10, i440fx)", async () => {
    await vmDirOn("bravo", [0, 1, 2]);
    const d = await deploy(
      "deploy-tweaks",
      fixture("deploy_6.10_i440fx.xml"),
      fixture("vm_42_6.10.xml"),
    );
    assertOk(d);
    const uuid = child(d.domain, "uuid")?.text;
    assert.match(d.stdout, /^[0-9a-f-]{36}\n$/, "the stock deploy's UUID");
    assert.equal(d.stdout.trim(), uuid);
    assert.deepEqual(disks(d).map((x) => [x.target, x.type, x.dev]), [
      ["vda", "block", `${VM_DIR}/disk.0`],
      ["sda", "block", `${VM_DIR}/disk.1`],
      ["hda", "block", `${VM_DIR}/disk.2`],
    ]);
    // Everything else is oned's: the original with only the two disks changed.
    const orig = parseDomainXml(fixture("deploy_6.10_i440fx.xml"));
    assert.equal(child(d.domain, "title")?.text, child(orig, "title")?.text);
    assert.equal(d.domain.children.filter((x) => x.name === "devices").length, 2);
    assert.match(d.stderr, /INFO: .*block devices: sda, hda/);
    // The MAD's vm.xml (a local deploy writes none on the host) is copied there, decoded.
    const copied = await Deno.readTextFile(c.hostPath("bravo", `${VM_DIR}/vm.xml`));
    assert.match(copied, /^<VM>/);
  });

  it("linstor and linstor_un: the volatile disk becomes a block device, the context ISO stays a file", async () => {
    await vmDirOn("bravo", [0, 1, 2]);
    for (const override of ["deploy_linstor", "deploy_linstor_un"]) {
      const vm = fixture("vm_42_6.10_linstor.xml").replaceAll(
        "[linstor]",
        override === "deploy_linstor" ? "[linstor]" : "[linstor_un]",
      );
      const d = await deploy(override, fixture("deploy_6.10_i440fx.xml"), vm);
      assertOk(d, override);
      assert.deepEqual(disks(d).map((x) => [x.target, x.type]), [
        ["vda", "block"],
        ["sda", "block"],
        ["hda", "file"],
      ], override);
    }
  });

  it("7.2 q35: persistent CDROM drives on the SATA bus, the context CD sdb on the store", async () => {
    await vmDirOn("bravo", [0, 1, 2]);
    const vm = fixture("vm_42_7.2.xml").replace(
      /<USER_TEMPLATE\/>|<USER_TEMPLATE>/,
      (m) =>
        m === "<USER_TEMPLATE/>"
          ? "<USER_TEMPLATE><T_PERSISTENT_CDROM>2</T_PERSISTENT_CDROM></USER_TEMPLATE>"
          : `${m}<T_PERSISTENT_CDROM>2</T_PERSISTENT_CDROM>`,
    );
    const d = await deploy("deploy-tweaks", fixture("deploy_7.2_q35.xml"), vm);
    assertOk(d);
    const all = disks(d);
    assert.deepEqual(
      all.filter((x) => !x.empty).map((x) => [x.target, x.type, x.bus]),
      [["sda", "block", "scsi"], ["sdc", "block", "scsi"], ["sdb", "block", "sata"]],
    );
    const empty = all.filter((x) => x.empty);
    assert.equal(empty.length, 2);
    for (const e of empty) assert.deepEqual([e.device, e.bus, e.type], ["cdrom", "sata", "block"]);
  });

  it("5.12: the VM comes from oned, the deploy id is the domain name, CDROM image and drives", async () => {
    await vmDirOn("charlie", [0, 1, 2, 3]);
    const rr = c.hostPath("charlie", "var/tmp/one/VERSION");
    await Deno.writeTextFile(rr, "5.12.0\n");
    try {
      c.oned.state.putVm(fixture("vm_42_5.12.xml"));
      const d = await deploy(
        "deploy-tweaks",
        fixture("deploy_5.12_i440fx_cdrom.xml"),
        null,
        "charlie",
      );
      assertOk(d);
      assert.equal(d.stdout, "one-42\n");
      // T_PERSISTENT_CDROM=4 in the VM: two empty IDE drives join the CDROM and the context.
      assert.deepEqual(disks(d).map((x) => [x.target, x.type, x.bus, x.empty]), [
        ["vda", "block", "virtio", false],
        ["vdb", "block", "virtio", false],
        ["hda", "block", "ide", false],
        ["hdb", "block", "ide", false],
        ["hdc", "block", "ide", true],
        ["hdd", "block", "ide", true],
      ]);
    } finally {
      await Deno.writeTextFile(rr, "7.0.0\n");
    }
  });

  it("XML needing no change reaches the host byte for byte", async () => {
    await vmDirOn("bravo", [0, 1, 2]);
    const vm = fixture("vm_42_6.10.xml").replaceAll("[storpool]", "[ssh]");
    const xml = fixture("deploy_6.10_i440fx.xml");
    const d = await deploy("deploy-tweaks", xml, vm);
    assertOk(d);
    assert.equal(d.handed, xml);
    assert.doesNotMatch(d.stderr, /block devices/);
  });

  it("XML oned wrote malformed is handed on unchanged with one INFO line", async () => {
    await vmDirOn("bravo", [0, 1, 2]);
    const xml = fixture("deploy_6.10_i440fx.xml").replace("<title>web-01", "<title>web & 01");
    const d = await deploy("deploy-tweaks", xml, fixture("vm_42_6.10.xml"));
    // libvirt refuses it as it would without oneblk; oneblk did not touch it.
    assert.equal(d.handed, xml);
    assert.match(d.stderr, /INFO: .*domain XML handed on unchanged/);
    assertOneLineFailure(d, /Could not create domain/, { ignoreInfo: true });
  });

  // one helper is Python, as the add-on's are
  describe(...needing(["python3"], "deploy-tweaks.d helpers"), () => {
    const order: string[] = [];
    let dir: string;
    let log: string;
    before(async () => {
      dir = join(c.remotes, "vmm", "kvm", "deploy-tweaks.d");
      log = join(c.root, "helpers.log");
      await Deno.mkdir(dir, { recursive: true });
      await Deno.mkdir(join(c.remotes, "etc", "vmm", "kvm"), { recursive: true });
      await Deno.writeTextFile(
        join(c.remotes, "etc", "vmm", "kvm", "kvmrc"),
        "export LANG=C\nLIBVIRT_URI=qemu:///system\nMY_RC_VALUE=from-kvmrc\n",
      );
      const sh = (name: string, body: string, mode = 0o755) =>
        Deno.writeTextFile(
          join(dir, name),
          `#!/bin/sh\necho ${name} >> ${JSON.stringify(log)}\n${body}\n`,
          { mode },
        );
      // A helper written the way the add-on's are: Python ElementTree, vm.xml for TM_MAD, the
      // file rewritten in place only when something changed.
      await Deno.writeTextFile(
        join(dir, "10-disk-cache-io.py"),
        `#!/usr/bin/env python3
import sys
from xml.etree import ElementTree as ET
with open(${JSON.stringify(log)}, "a") as f:
    f.write("10-disk-cache-io.py\\n")
dom = ET.parse(sys.argv[1])
vm = ET.parse(sys.argv[2]).getroot()
tms = {d.findtext("DISK_ID"): d.findtext("TM_MAD") for d in vm.findall("./TEMPLATE/DISK")}
changed = False
for disk in dom.getroot().findall("./devices/disk"):
    src = disk.find("source")
    if src is None:
        continue
    path = src.get("file") or src.get("dev") or ""
    if tms.get(path.rsplit(".", 1)[-1]) == "storpool":
        drv = disk.find("driver")
        drv.set("cache", "none")
        drv.set("io", "native")
        changed = True
if changed:
    dom.write(sys.argv[1])
`,
        { mode: 0o755 },
      );
      await sh(".hidden.sh", "exit 0");
      await sh("20-fails.sh", "echo boom >&2\nexit 3");
      await sh("30-broken.sh", `printf '<domain type="kvm"><name>x</name>' > "$1"`);
      await sh("40-hangs.sh", "sleep 60");
      await sh(
        "50-env.sh",
        `echo "$VM_ID $DS_ID $TM_MAD $HOST $DEP_NAME $LANG $MY_RC_VALUE $LOG_PREFIX" >> ${
          JSON.stringify(log)
        }\n[ "$(basename "$1")" = deployment.xml ] && [ "$(basename "$2")" = vm.xml ] || exit 9\n` +
          `grep -q '<VM>' "$2" || exit 8\necho this-is-not-a-deploy-id`,
      );
      await sh("60-not-executable.sh", "exit 0", 0o644);
      await Deno.mkdir(join(dir, "70-dir"), { recursive: true });
      order.push(".hidden.sh", "10-disk-cache-io.py", "20-fails.sh", "30-broken.sh", "40-hangs.sh");
    });
    after(async () => {
      await Deno.remove(dir, { recursive: true });
    });

    it("run in order with the add-on's arguments and environment; bad ones are ignored with an INFO line", async () => {
      await vmDirOn("bravo", [0, 1, 2]);
      const t0 = Date.now();
      const d = await deploy(
        "deploy-tweaks",
        fixture("deploy_6.10_i440fx.xml"),
        fixture("vm_42_6.10.xml"),
        "bravo",
        { ONEBLK_DEPLOY_TWEAKS_TIMEOUT: "1" },
      );
      assertOk(d);
      assert.ok(Date.now() - t0 < 30_000, "the hung helper did not hang the deploy");
      assert.match(d.stdout, /^[0-9a-f-]{36}\n$/, "helper stdout is not the deploy id");
      const lines = (await Deno.readTextFile(log)).trim().split("\n");
      assert.deepEqual(lines.slice(0, 5), order);
      assert.deepEqual(lines.slice(5), [
        "50-env.sh",
        "42 101 storpool bravo deployment.0 C from-kvmrc vmm",
      ]);
      assert.match(d.stderr, /INFO: .*deploy-tweaks\.d\/20-fails\.sh ignored: .*exit 3.*boom/);
      assert.match(d.stderr, /INFO: .*deploy-tweaks\.d\/30-broken\.sh ignored: .*result/);
      assert.match(d.stderr, /INFO: .*deploy-tweaks\.d\/40-hangs\.sh ignored: .*timed out/);
      assert.match(d.stderr, /INFO: .*deploy-tweaks\.d\/10-disk-cache-io\.py applied/);
      assert.doesNotMatch(d.stderr, /50-env\.sh ignored|60-not|70-dir/);
      // ours first (block), then the add-on-style helper's change on the storpool disks
      const drivers = domainDisks(d.domain).map((x) => {
        const drv = child(x.node, "driver")!.attrs;
        return [x.target, x.type, drv.cache ?? "", drv.io ?? ""];
      });
      assert.deepEqual(drivers, [
        ["vda", "block", "none", "native"],
        ["sda", "block", "none", "native"],
        ["hda", "block", "", ""],
      ]);
    });
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { posix } from "node:path";
import { FIXTURES } from "../fixtures_path.ts";
import { OneblkError } from "../../lib/errors.ts";
import { parseVmmActionSync } from "../support/views_sync.ts";
import { toXml } from "../../lib/one/xml.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";
import { parseDomainXml } from "../../lib/domain/domain_xml.ts";
import {
  attachRetype,
  isCdromType,
  planAttach,
  planDetach,
  retypeAttachDisk,
} from "../../lib/domain/disk_hotplug.ts";
import { attaching, fixture, shape, VM_DIR } from "./helpers.ts";

const SP = ["storpool"];
const live610 = () => parseDomainXml(fixture("live_6.10_i440fx.xml"));
const live72 = () => parseDomainXml(fixture("live_7.2_q35.xml"));
const path = (n: number) => `${VM_DIR}/disk.${n}`;

/** A hot-attached disk as oned describes it (attribute subset the decisions read). */
function disk(id: number, target: string, type: string, diskType: string, tm = "storpool") {
  return attaching({
    DISK_ID: String(id),
    TARGET: target,
    TYPE: type,
    DISK_TYPE: diskType,
    TM_MAD: tm,
    DEV_PREFIX: target.slice(0, 2),
  });
}

describe("DISK_TYPE/TYPE of a hot-attached disk", () => {
  it("store disks become BLOCK; a CDROM keeps its type", () => {
    const cases: [string, string, string, ReturnType<typeof attachRetype>][] = [
      ["FS", "FILE", "storpool", { DISK_TYPE: "BLOCK", TYPE: "BLOCK" }], // volatile, ≤6.4.0
      ["SWAP", "FILE", "StorPool", { DISK_TYPE: "BLOCK", TYPE: "BLOCK" }],
      ["FS", "BLOCK", "storpool", { DISK_TYPE: "BLOCK", TYPE: "BLOCK" }], // DISK_TYPE BLOCK system DS
      ["CDROM", "FILE", "storpool", { DISK_TYPE: "BLOCK", TYPE: "CDROM" }],
      ["BLOCK", "BLOCK", "storpool", null], // image datablock: already right
      ["CDROM", "BLOCK", "storpool", null],
      ["BLOCK_CDROM", "BLOCK", "storpool", null],
      ["FS", "FILE", "qcow2", null], // not ours
      ["FS", "FILE", "", null],
    ];
    for (const [type, diskType, tm, want] of cases) {
      assert.deepEqual(attachRetype(disk(3, "vdb", type, diskType, tm), SP), want, `${type}/${tm}`);
    }
  });

  it("knows the CDROM types", () => {
    assert.deepEqual(
      ["CDROM", "BLOCK_CDROM", "rbd_cdrom", "BLOCK", "FS", "CDROMX"].map(isCdromType),
      [true, true, true, false, false, false],
    );
  });

  it("rewrites the message's ATTACH=YES disk and nothing else", () => {
    const text = Deno.readTextFileSync(posix.join(FIXTURES, "vmm_action/attach_disk.xml"));
    const msg = parseXmlSync(text);
    const out = retypeAttachDisk(msg, { DISK_TYPE: "BLOCK", TYPE: "CDROM" });
    const before = parseVmmActionSync(text);
    const after = parseVmmActionSync(toXml(out));
    assert.equal(after.vm.attachedDisk?.diskId, 5);
    assert.equal(after.vm.attachedDisk?.type, "CDROM");
    assert.equal(after.vm.attachedDisk?.diskType, "BLOCK");
    for (const [i, d] of before.vm.disks.entries()) {
      if (!d.attach) assert.deepEqual(shape(after.vm.disks[i].node), shape(d.node));
    }
    assert.equal(after.diskTargetPath, before.diskTargetPath);
    // already as asked: the very same tree
    assert.equal(retypeAttachDisk(msg, { DISK_TYPE: "BLOCK", TYPE: "BLOCK" }), msg);
  });

  it("adds DISK_TYPE when oned left it out, and works on a bare <VM>", () => {
    const vm = parseXmlSync(
      `<VM><ID>1</ID><TEMPLATE><DISK><DISK_ID>0</DISK_ID></DISK><DISK><ATTACH>YES</ATTACH>` +
        `<TYPE>FS</TYPE></DISK></TEMPLATE></VM>`,
    );
    const out = retypeAttachDisk(vm, { DISK_TYPE: "BLOCK", TYPE: "BLOCK" });
    assert.equal(
      toXml(out),
      `<VM><ID>1</ID><TEMPLATE><DISK><DISK_ID>0</DISK_ID></DISK><DISK><ATTACH>YES</ATTACH>` +
        `<TYPE>BLOCK</TYPE><DISK_TYPE>BLOCK</DISK_TYPE></DISK></TEMPLATE></VM>`,
    );
  });

  it("refuses a message without an ATTACH=YES disk", () => {
    const msg = parseXmlSync(
      "<VMM_DRIVER_ACTION_DATA><VM><TEMPLATE><DISK/></TEMPLATE></VM></VMM_DRIVER_ACTION_DATA>",
    );
    assert.throws(
      () => retypeAttachDisk(msg, { DISK_TYPE: "BLOCK", TYPE: "BLOCK" }),
      (e: unknown) =>
        e instanceof OneblkError && e.message === "driver message has no DISK with ATTACH=YES",
    );
  });
});

describe("attach plan, 6.10 on i440fx with one persistent drive (hdb, empty)", () => {
  it("a volatile disk: stock attach, retyped to BLOCK", () => {
    const plan = planAttach({
      disk: disk(3, "vdb", "FS", "FILE"),
      path: path(3),
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(plan, { route: "attach", retype: { DISK_TYPE: "BLOCK", TYPE: "BLOCK" } });
  });

  it("a CDROM for hdb: media change into the empty drive hdb", () => {
    const plan = planAttach({
      disk: disk(3, "hdb", "CDROM", "FILE"),
      path: path(3),
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(plan, {
      route: "media",
      target: "hdb",
      bus: "ide",
      path: path(3),
      block: true,
    });
  });

  it("a CDROM for hdc (no such drive, IDE cannot hot-plug): into the free drive hdb", () => {
    const plan = planAttach({
      disk: disk(3, "hdc", "CDROM", "FILE"),
      path: path(3),
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(plan, {
      route: "media",
      target: "hdb",
      bus: "ide",
      path: path(3),
      block: true,
    });
  });

  it("a CDROM from a file datastore: media change without --block", () => {
    const plan = planAttach({
      disk: disk(3, "hdb", "CDROM", "FILE", "shared"),
      path: path(3),
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(plan, {
      route: "media",
      target: "hdb",
      bus: "ide",
      path: path(3),
      block: false,
    });
  });

  it("a CDROM for sdb (scsi hot-plugs): stock attach, CDROM made a block device", () => {
    const plan = planAttach({
      disk: disk(3, "sdb", "CDROM", "FILE"),
      path: path(3),
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(plan, { route: "attach", retype: { DISK_TYPE: "BLOCK", TYPE: "CDROM" } });
  });

  it("a repeated call finds the disk there already", () => {
    const plan = planAttach({
      disk: disk(1, "sda", "FS", "FILE"),
      path: path(1),
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(plan, { route: "present", target: "sda" });
    // the path written differently (one slash) is the same file
    const again = planAttach({
      disk: disk(1, "sda", "FS", "FILE"),
      path: "/var/lib/one/datastores/101/42/disk.1",
      live: live610(),
      tms: SP,
    });
    assert.deepEqual(again, { route: "present", target: "sda" });
  });

  it("a disk for a target the live domain uses: refused in one line", () => {
    for (const target of ["sda", "hdb"]) {
      const plan = planAttach({
        disk: disk(4, target, "FS", "FILE"),
        path: path(4),
        live: live610(),
        tms: SP,
      });
      assert.equal(plan.route, "refuse");
      if (plan.route !== "refuse") return;
      assert.match(
        plan.reason,
        new RegExp(`^target ${target} is already used in the live domain by `),
      );
      assert.ok(!plan.reason.includes("\n"));
    }
  });

  it("no empty drive left: refused, naming T_PERSISTENT_CDROM", () => {
    // the 5.12 deployment: hda (CDROM image) and hdb (context) both hold media
    const live = parseDomainXml(fixture("deploy_5.12_i440fx_cdrom.xml"));
    const plan = planAttach({
      disk: disk(4, "hdc", "CDROM", "FILE"),
      path: path(4),
      live,
      tms: SP,
    });
    assert.deepEqual(plan, {
      route: "refuse",
      reason: "CDROM hdc would be on bus ide, which cannot hot-plug, and the domain has no empty " +
        "IDE/SATA CDROM drive (T_PERSISTENT_CDROM creates them at deploy)",
    });
    const taken = planAttach({
      disk: disk(4, "hdb", "CDROM", "FILE"),
      path: path(4),
      live,
      tms: SP,
    });
    assert.equal(taken.route, "refuse");
  });
});

describe("attach plan, odd input", () => {
  it("a DISK without TARGET is refused; a detach without target finds nothing by it", () => {
    const d = attaching({ DISK_ID: "3", TYPE: "CDROM", TM_MAD: "storpool" });
    assert.deepEqual(planAttach({ disk: d, path: path(3), live: live610(), tms: SP }), {
      route: "refuse",
      reason: "disk 3 has no TARGET",
    });
    assert.deepEqual(planDetach({ path: path(9), target: "", live: live610() }), {
      route: "absent",
    });
  });
});

describe("attach plan, 7.2 on q35 (CDROMs are sdX on bus sata)", () => {
  it("a CDROM for sdb, an empty SATA drive: media change, whatever the prefix", () => {
    // the add-on routes only DEV_PREFIX hd to a media change; attach-device of sdb would fail
    const plan = planAttach({
      disk: disk(5, "sdb", "CDROM", "BLOCK"),
      path: path(5),
      live: live72(),
      tms: SP,
    });
    assert.deepEqual(plan, {
      route: "media",
      target: "sdb",
      bus: "sata",
      path: path(5),
      block: true,
    });
  });

  it("a CDROM for sdc, which holds the context: into the free SATA drive sdb", () => {
    const plan = planAttach({
      disk: disk(5, "sdc", "CDROM", "BLOCK"),
      path: path(5),
      live: live72(),
      tms: SP,
    });
    assert.deepEqual(plan, {
      route: "media",
      target: "sdb",
      bus: "sata",
      path: path(5),
      block: true,
    });
  });

  it("a CDROM for a new sde: scsi hot-plug by the stock attach", () => {
    const plan = planAttach({
      disk: disk(5, "sde", "CDROM", "BLOCK"),
      path: path(5),
      live: live72(),
      tms: SP,
    });
    assert.deepEqual(plan, { route: "attach", retype: null });
  });
});

describe("detach plan", () => {
  it("a CDROM in an IDE drive is ejected; the drive stays", () => {
    const live = parseDomainXml(fixture("deploy_5.12_i440fx_cdrom.xml"));
    assert.deepEqual(planDetach({ path: path(2), target: "hda", live }), {
      route: "eject",
      target: "hda",
    });
  });

  it("a disk on a hot-pluggable bus is detached", () => {
    assert.deepEqual(planDetach({ path: path(1), target: "sdd", live: live72() }), {
      route: "detach",
      target: "sdd",
    });
  });

  it("a CDROM that was hot-plugged on scsi is detached, not ejected", () => {
    const live = parseDomainXml(
      fixture("live_7.2_q35.xml").replace(
        "    <controller type='scsi'",
        `    <disk type='block' device='cdrom'><source dev='${path(6)}'/>` +
          `<target dev='sde' bus='scsi'/><readonly/></disk>\n    <controller type='scsi'`,
      ),
    );
    assert.deepEqual(planDetach({ path: path(6), target: "sde", live }), {
      route: "detach",
      target: "sde",
    });
  });

  it("found by path where a media change put it, not by oned's target", () => {
    const live = parseDomainXml(
      fixture("live_6.10_i440fx.xml").replace(
        "<target dev='hdb' bus='ide'/>",
        `<source dev='${path(5)}' index='5'/><target dev='hdb' bus='ide'/>`,
      ),
    );
    assert.deepEqual(planDetach({ path: path(5), target: "hdd", live }), {
      route: "eject",
      target: "hdb",
    });
  });

  it("already gone: an ejected drive or no such target", () => {
    assert.deepEqual(planDetach({ path: path(2), target: "sdb", live: live72() }), {
      route: "absent",
    });
    assert.deepEqual(planDetach({ path: path(7), target: "vdc", live: live610() }), {
      route: "absent",
    });
  });

  it("a file disk whose path libvirt shows resolved: stock detach by target", () => {
    const live = parseDomainXml(
      `<domain type='kvm'><name>one-42</name><devices><disk type='file' device='disk'>` +
        `<source file='/var/lib/one/datastores/1/3f2a'/><target dev='vdc' bus='virtio'/>` +
        `</disk></devices></domain>`,
    );
    assert.deepEqual(planDetach({ path: path(4), target: "vdc", live }), {
      route: "detach",
      target: "vdc",
    });
  });
});

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneblkError } from "../../lib/errors.ts";
import { parseVmSync } from "../support/views_sync.ts";
import { child, type XmlNode } from "../../lib/one/xml.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";
import {
  addPersistentCdroms,
  blockStoreDisks,
  byDiskId,
  cdromBus,
  domainDisks,
  domainXmlProblem,
  machineType,
  parseDomainXml,
  persistentCdroms,
  relocateVmDir,
  rewriteDomainStorage,
  serializeDomainXml,
  storeDiskIds,
  systemDatastoreDir,
} from "../../lib/domain/domain_xml.ts";
import { el, fixture, shape, VM_DIR } from "./helpers.ts";

const A = "deploy_6.10_i440fx.xml";
const B = "deploy_7.2_q35.xml";
const C = "deploy_5.12_i440fx_cdrom.xml";
const STORPOOL = { tms: ["storpool"], contextOnStore: true };
const LINSTOR = { tms: ["linstor", "linstor_un"], contextOnStore: false };

function diskAt(domain: XmlNode, target: string): XmlNode {
  const d = domainDisks(domain).find((x) => x.target === target);
  assert.ok(d, `disk ${target}`);
  return d.node;
}

function summary(domain: XmlNode) {
  return domainDisks(domain).map((d) => [d.target, d.type, d.device, d.bus, d.diskId, d.empty]);
}

/** The store predicate of the StorPool VM matching a deploy fixture. */
function storpoolPredicate(vmFile: string) {
  return byDiskId(storeDiskIds(parseVmSync(fixture(vmFile)), STORPOOL));
}

/** `<disk>` as OpenNebula writes it, with the storage rewrite applied by hand. */
function blockDisk(device: string, n: number, rest: string): string {
  return `<disk type='block' device='${device}'><source dev='${VM_DIR}/disk.${n}'/>${rest}</disk>`;
}

describe("reading OpenNebula domain XML", () => {
  it("lists the disks of the three layouts with bus, disk id and medium", () => {
    assert.deepEqual(summary(parseDomainXml(fixture(A))), [
      ["vda", "block", "disk", "virtio", 0, false],
      ["sda", "file", "disk", "scsi", 1, false],
      ["hda", "file", "cdrom", "ide", 2, false],
    ]);
    assert.deepEqual(summary(parseDomainXml(fixture(B))), [
      ["sda", "block", "disk", "scsi", 0, false],
      ["sdc", "file", "disk", "scsi", 1, false],
      ["sdb", "file", "cdrom", "sata", 2, false],
    ]);
    assert.deepEqual(summary(parseDomainXml(fixture(C))), [
      ["vda", "block", "disk", "virtio", 0, false],
      ["vdb", "file", "disk", "virtio", 1, false],
      ["hda", "file", "cdrom", "ide", 2, false],
      ["hdb", "file", "cdrom", "ide", 3, false],
    ]);
  });

  it("knows the machine and the bus of fixed CDROM drives", () => {
    const [a, b, c] = [A, B, C].map((f) => parseDomainXml(fixture(f)));
    assert.deepEqual([a, b, c].map(machineType), ["", "q35", ""]);
    assert.deepEqual([a, b, c].map(cdromBus), ["ide", "sata", "ide"]);
    const live = parseDomainXml(fixture("live_7.2_q35.xml"));
    assert.equal(machineType(live), "pc-q35-8.2");
    assert.equal(cdromBus(live), "sata");
  });

  it("finds the VM directory by namespace, whatever the prefix", () => {
    assert.equal(systemDatastoreDir(parseDomainXml(fixture(A))), VM_DIR);
    // ElementTree (the add-on's helpers) hoists the declaration to the root and renames it
    const hoisted = `<domain type="kvm" xmlns:ns0="http://opennebula.org/xmlns/libvirt/1.0">
      <name>one-9</name>
      <devices>
        <disk type="file" device="disk"><source file="/d/9/disk.3"/><target dev="vdb"/></disk>
        <disk type="file" device="disk"><source file="/elsewhere/disk.4"/><target dev="vdc"/></disk>
      </devices>
      <metadata><ns0:vm><ns0:system_datastore>/d/9/</ns0:system_datastore></ns0:vm></metadata>
    </domain>`;
    const d = parseDomainXml(hoisted);
    assert.equal(systemDatastoreDir(d), "/d/9/");
    assert.deepEqual(domainDisks(d).map((x) => x.diskId), [3, null]);
    // `one:` bound to something else is not OpenNebula's metadata: fall back to the file name
    const foreign = hoisted.replace('xmlns:ns0="http://opennebula.org/xmlns/libvirt/1.0"', "")
      .replaceAll("ns0:", "one:").replace("<one:vm>", '<one:vm xmlns:one="urn:other">');
    const f = parseDomainXml(foreign);
    assert.equal(systemDatastoreDir(f), undefined);
    assert.deepEqual(domainDisks(f).map((x) => x.diskId), [3, 4]);
  });

  it("accepts every fixture and every rewrite result", () => {
    for (const f of [A, B, C, "live_6.10_i440fx.xml", "live_7.2_q35.xml"]) {
      assert.equal(domainXmlProblem(fixture(f)), undefined, f);
    }
  });

  describe("rejects broken XML with one clear line", () => {
    const a = fixture(A);
    const cases: [string, string, RegExp][] = [
      ["empty", "  \n", /^domain XML is empty$/],
      [
        "truncated",
        a.slice(0, a.length / 2),
        /^malformed domain XML: input ends inside <domain> <devices> <controller>$/,
      ],
      // OpenNebula writes <title> unescaped: a VM named "R&D" gives this
      ["bare &", a.replace("<title>web-01", "<title>R&D"), /^malformed domain XML: .*'&'/],
      ["undefined entity", a.replace("web-01", "web&nbsp;01"), /undefined entity/],
      [
        "undeclared prefix",
        a.replace(/ xmlns:qemu='[^']*'/, "").replace(
          "</devices>",
          "</devices><qemu:commandline><qemu:arg value='-S'/></qemu:commandline>",
        ),
        /unbound namespace prefix: "qemu"/,
      ],
      ["< in an attribute", a.replace("port='5942'", "port='<5942'"), /disallowed character/],
      ["two roots", a + "<domain type='kvm'><name>x</name></domain>", /^malformed domain XML/],
      ["not a domain", fixture("vm_42_6.10.xml"), /^domain XML: root element is <VM>/],
      ["no type", a.replace("<domain type='kvm'", "<domain"), /has no type attribute/],
      ["no name", a.replace("<name>one-42</name>", ""), /exactly one non-empty <name>/],
    ];
    for (const [label, text, want] of cases) {
      it(label, () => {
        assert.throws(() => parseDomainXml(text), (e: unknown) => {
          assert.ok(e instanceof OneblkError && e.kind === "input", String(e));
          assert.match(e.message, want);
          assert.ok(!e.message.includes("\n"), e.message);
          return true;
        });
        const problem = domainXmlProblem(text);
        assert.match(problem ?? "", want);
        assert.ok(!rewriteAttempt(text), "a rewrite refuses it too");
      });
    }
  });
});

function rewriteAttempt(text: string): boolean {
  try {
    rewriteDomainStorage(text, { isStoreDisk: () => true });
    return true;
  } catch (e) {
    assert.ok(e instanceof OneblkError);
    return false;
  }
}

describe("store-backed file disks become block devices", () => {
  it("6.10 i440fx on StorPool: volatile sda and context hda, nothing else", () => {
    const text = fixture(A);
    const r = rewriteDomainStorage(text, { isStoreDisk: storpoolPredicate("vm_42_6.10.xml") });
    assert.equal(r.changed, true);
    assert.deepEqual(r.converted.map((d) => d.target), ["sda", "hda"]);
    assert.deepEqual(r.addedCdroms, []);
    const before = parseDomainXml(text);
    const after = parseDomainXml(r.xml);
    const sda = blockDisk(
      "disk",
      1,
      `<target dev='sda'/><driver name='qemu' type='raw' cache='none' discard='unmap'/>` +
        `<address type='drive' controller='0' bus='0' target='0' unit='0'/>`,
    );
    const hda = blockDisk(
      "cdrom",
      2,
      `<target dev='hda' bus='ide'/><readonly/><driver name='qemu' type='raw'/>`,
    );
    assert.deepEqual(shape(diskAt(after, "sda")), el(sda));
    assert.deepEqual(shape(diskAt(after, "hda")), el(hda));
    // the whole document is the input with exactly those two elements replaced
    const repl = new Map([[diskAt(before, "sda"), parseXmlSync(sda)], [
      diskAt(before, "hda"),
      parseXmlSync(hda),
    ]]);
    assert.deepEqual(shape(after), shape(before, repl));
  });

  it("7.2 q35: volatile sdc and the SATA context sdb", () => {
    const text = fixture(B);
    const r = rewriteDomainStorage(text, { isStoreDisk: storpoolPredicate("vm_42_7.2.xml") });
    assert.deepEqual(r.converted.map((d) => d.target), ["sdc", "sdb"]);
    const sdb = blockDisk(
      "cdrom",
      2,
      `<target dev='sdb' bus='sata'/><readonly/><driver name='qemu' type='raw' cache='none'/>`,
    );
    const sdc = blockDisk(
      "disk",
      1,
      `<target dev='sdc'/><driver name='qemu' type='raw' cache='none' discard='unmap'/>` +
        `<address type='drive' controller='0' bus='0' target='2' unit='0'/>`,
    );
    const [before, after] = [parseDomainXml(text), parseDomainXml(r.xml)];
    assert.deepEqual(shape(diskAt(after, "sdb")), el(sdb));
    assert.deepEqual(shape(diskAt(after, "sdc")), el(sdc));
    // the OS disk, every controller, the second <devices> and the metadata stay as they were
    const repl = new Map([[diskAt(before, "sdb"), parseXmlSync(sdb)], [
      diskAt(before, "sdc"),
      parseXmlSync(sdc),
    ]]);
    assert.deepEqual(shape(after), shape(before, repl));
  });

  it("5.12 with a StorPool CDROM image: swap vdb, CDROM hda and context hdb", () => {
    const text = fixture(C);
    const r = rewriteDomainStorage(text, { isStoreDisk: storpoolPredicate("vm_42_5.12.xml") });
    assert.deepEqual(r.converted.map((d) => d.target), ["vdb", "hda", "hdb"]);
    const vdb = blockDisk(
      "disk",
      1,
      `<target dev='vdb' bus='virtio'/><driver name='qemu' type='raw' cache='none'/>`,
    );
    const hda = blockDisk(
      "cdrom",
      2,
      `<target dev='hda' bus='ide'/><readonly/><driver name='qemu' type='raw' cache='none'/>`,
    );
    const hdb = blockDisk(
      "cdrom",
      3,
      `<target dev='hdb' bus='ide'/><readonly/><driver name='qemu' type='raw'/>`,
    );
    const [before, after] = [parseDomainXml(text), parseDomainXml(r.xml)];
    const repl = new Map(
      [["vdb", vdb], ["hda", hda], ["hdb", hdb]]
        .map(([t, x]) => [diskAt(before, t), parseXmlSync(x)]),
    );
    assert.deepEqual(shape(after), shape(before, repl));
  });

  it("LINSTOR profiles: the volatile disk, not the context ISO (a plain file there)", () => {
    const ids = storeDiskIds(parseVmSync(fixture("vm_42_6.10_linstor.xml")), LINSTOR);
    assert.deepEqual([...ids].sort(), [0, 1]);
    const text = fixture(A);
    const r = rewriteDomainStorage(text, { isStoreDisk: byDiskId(ids) });
    assert.deepEqual(r.converted.map((d) => d.target), ["sda"]);
    const [before, after] = [parseDomainXml(text), parseDomainXml(r.xml)];
    assert.deepEqual(shape(diskAt(after, "hda")), shape(diskAt(before, "hda")));
    assert.equal(diskAt(after, "hda").attrs.type, "file");
  });

  it("nothing on our store: the input bytes are handed back", () => {
    for (const f of [A, B, C]) {
      const text = fixture(f);
      const ids = storeDiskIds(parseVmSync(fixture("vm_42_6.10.xml")), {
        ...LINSTOR,
        tms: ["linstor"],
      });
      assert.equal(ids.size, 0);
      const r = rewriteDomainStorage(text, { isStoreDisk: byDiskId(ids) });
      assert.equal(r.changed, false);
      assert.equal(r.xml, text); // tabs, single quotes and CDATA as oned wrote them
    }
  });

  it("is idempotent: a second rewrite changes nothing, to the byte", () => {
    const cases: [string, string][] = [[A, "vm_42_6.10.xml"], [B, "vm_42_7.2.xml"], [
      C,
      "vm_42_5.12.xml",
    ]];
    for (const [f, vm] of cases) {
      const opts = {
        isStoreDisk: storpoolPredicate(vm),
        cdroms: { count: 4, type: "block" as const, max: 4 },
      };
      const once = rewriteDomainStorage(fixture(f), opts);
      assert.equal(once.changed, true, f);
      const twice = rewriteDomainStorage(once.xml, opts);
      assert.equal(twice.changed, false, f);
      assert.equal(twice.xml, once.xml, f);
      const tree = parseDomainXml(once.xml);
      assert.equal(blockStoreDisks(tree, () => true).domain, tree, "no file disk left");
    }
  });

  it("keeps every other attribute and child; dev takes the place of file", () => {
    const text = `<domain type='kvm'><name>one-5</name><devices>
      <disk type='file' device='disk' snapshot='no'>
        <source file='/d/5/disk.1' startupPolicy='optional' index='3'>
          <seclabel model='dac' relabel='no'/>
        </source>
        <target dev='vdb' bus='virtio'/>
        <iotune><total_iops_sec>500</total_iops_sec></iotune>
        <serial>abc</serial>
      </disk></devices></domain>`;
    const r = blockStoreDisks(parseDomainXml(text), () => true);
    assert.deepEqual(
      shape(r.domain.children[1].children[0]),
      el(`<disk type='block' device='disk' snapshot='no'>
        <source dev='/d/5/disk.1' startupPolicy='optional' index='3'>
          <seclabel model='dac' relabel='no'/></source>
        <target dev='vdb' bus='virtio'/>
        <iotune><total_iops_sec>500</total_iops_sec></iotune><serial>abc</serial></disk>`),
    );
  });

  it("never touches network or block disks, empty drives, or what the predicate rejects", () => {
    const text = `<domain type='kvm'><name>one-5</name><devices>
      <disk type='network' device='disk'><source protocol='rbd' name='one/one-7'/><target dev='vda'/></disk>
      <disk type='block' device='disk'><source dev='/d/5/disk.1'/><target dev='vdb'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>
      <disk type='file' device='disk'><source file='/d/5/disk.3'/><target dev='vdd'/></disk>
      <disk type='file' device='disk'><source file='/d/5/disk.4'/><target dev='vde'/></disk>
      </devices></domain>`;
    const seen: string[] = [];
    const r = blockStoreDisks(parseDomainXml(text), (d) => {
      seen.push(d.target);
      return d.diskId === 4;
    });
    assert.deepEqual(seen, ["vdd", "vde"], "only file disks with a source are asked about");
    assert.deepEqual(r.converted.map((d) => d.target), ["vde"]);
    assert.deepEqual(summary(r.domain).map((s) => s[1]), [
      "network",
      "block",
      "file",
      "file",
      "block",
    ]);
  });

  it("writes what libvirt reads: namespaces, attribute order, escaped text", () => {
    const text = fixture(A).replace("<title>web-01", "<title>R&amp;D &lt;web&gt;").replace(
      "</devices>\n\t<features>",
      "</devices>\n\t<qemu:commandline><qemu:arg value='-no-hpet'/></qemu:commandline>\n\t<features>",
    );
    const r = rewriteDomainStorage(text, { isStoreDisk: storpoolPredicate("vm_42_6.10.xml") });
    assert.equal(domainXmlProblem(r.xml), undefined);
    const out = parseDomainXml(r.xml);
    assert.deepEqual(Object.entries(out.attrs), [
      ["type", "kvm"],
      ["xmlns:qemu", "http://libvirt.org/schemas/domain/qemu/1.0"],
    ]);
    assert.equal(child(out, "title")?.text, "R&D <web>");
    assert.deepEqual(
      shape(child(out, "qemu:commandline")!),
      el(
        "<qemu:commandline><qemu:arg value='-no-hpet'/></qemu:commandline>",
      ),
    );
    const vm = child(child(out, "metadata"), "one:vm")!;
    assert.deepEqual(vm.attrs, { "xmlns:one": "http://opennebula.org/xmlns/libvirt/1.0" });
    assert.equal(child(vm, "one:system_datastore")?.text, VM_DIR);
    assert.equal(systemDatastoreDir(out), VM_DIR);
    // the serializer itself: tab-indented, self-closed empty elements, no CDATA left
    assert.ok(r.xml.startsWith('<domain type="kvm" xmlns:qemu='), r.xml.slice(0, 80));
    assert.ok(r.xml.includes(`\n\t\t\t<source dev="${VM_DIR}/disk.1"/>\n`));
    assert.ok(r.xml.includes("<title>R&amp;D &lt;web&gt;</title>"));
    assert.ok(!r.xml.includes("CDATA"));
    assert.equal(serializeDomainXml(out), r.xml, "writing is deterministic");
  });
});

describe("which disks are on the store (volatile2dev's rule, typed)", () => {
  const vm = (disks: string, ctx: string, historyTm: string | null) =>
    parseVmSync(
      `<VM><ID>3</ID><TEMPLATE>${ctx}${disks}</TEMPLATE>` +
        (historyTm === null ? "" : `<HISTORY_RECORDS><HISTORY><SEQ>0</SEQ><TM_MAD>ssh</TM_MAD>` +
          `</HISTORY><HISTORY><SEQ>1</SEQ><TM_MAD>${historyTm}</TM_MAD></HISTORY></HISTORY_RECORDS>`) +
        `</VM>`,
    );
  const disk = (id: number, tm: string) =>
    `<DISK><DISK_ID>${id}</DISK_ID><TM_MAD>${tm}</TM_MAD></DISK>`;
  const ctx = (id: number) => `<CONTEXT><DISK_ID>${id}</DISK_ID></CONTEXT>`;

  it("fixtures: every StorPool disk and the context", () => {
    const v610 = parseVmSync(fixture("vm_42_6.10.xml"));
    const v512 = parseVmSync(fixture("vm_42_5.12.xml"));
    assert.deepEqual([...storeDiskIds(v610, STORPOOL)], [0, 1, 2]);
    assert.deepEqual([...storeDiskIds(v512, STORPOOL)], [0, 1, 2, 3]);
    const noCtx = { ...STORPOOL, contextOnStore: false };
    assert.deepEqual([...storeDiskIds(v512, noCtx)], [0, 1, 2]);
  });

  it("matches TM_MAD without regard to case, and only ours", () => {
    const v = vm(disk(0, "StorPool") + disk(1, "ssh") + disk(2, "linstor_un"), ctx(3), "ssh");
    assert.deepEqual([...storeDiskIds(v, STORPOOL)], [0]);
    assert.deepEqual([...storeDiskIds(v, LINSTOR)], [2]);
  });

  it("context: the current HISTORY's TM decides; a DISK with the same id wins", () => {
    assert.deepEqual([...storeDiskIds(vm(disk(0, "ssh"), ctx(1), "storpool"), STORPOOL)], [1]);
    assert.deepEqual([...storeDiskIds(vm(disk(0, "ssh"), ctx(1), "ssh"), STORPOOL)], []);
    assert.deepEqual([...storeDiskIds(vm(disk(0, "ssh"), ctx(1), null), STORPOOL)], []);
    assert.deepEqual([...storeDiskIds(vm(disk(1, "ssh"), ctx(1), "storpool"), STORPOOL)], []);
  });
});

describe("persistent CDROM drives", () => {
  const cd = (type: string, target: string, bus: string) =>
    el(
      `<disk type='${type}' device='cdrom'><target dev='${target}' bus='${bus}'/>` +
        `<driver name='qemu' type='raw' cache='none' io='native'/><readonly/></disk>`,
    );
  const want = (count: number, max = 4, type: "block" | "file" = "block") => ({ count, type, max });

  it("settings: the VM's USER_TEMPLATE wins over the rc when valid", () => {
    const tpl = (m: Record<string, string>) => ({ get: (k: string) => m[k] ?? "" });
    assert.deepEqual(persistentCdroms({}, tpl({})), want(0));
    assert.deepEqual(
      persistentCdroms({ T_PERSISTENT_CDROM: "2", T_PERSISTENT_CDROM_TYPE: "file" }, tpl({})),
      want(2, 4, "file"),
    );
    assert.deepEqual(
      persistentCdroms(
        { T_PERSISTENT_CDROM: "2", T_PERSISTENT_CDROM_TYPE: "file", MAX_CDROM_DEVICES: "6" },
        tpl({ T_PERSISTENT_CDROM: "3", T_PERSISTENT_CDROM_TYPE: "BLOCK" }),
      ),
      want(3, 6, "block"),
    );
    assert.deepEqual(
      persistentCdroms(
        { T_PERSISTENT_CDROM: "x", MAX_CDROM_DEVICES: "-1" },
        tpl({ T_PERSISTENT_CDROM: "yes", T_PERSISTENT_CDROM_TYPE: "iso" }),
      ),
      want(0),
    );
    const c = parseVmSync(fixture("vm_42_5.12.xml"));
    assert.deepEqual(persistentCdroms({ T_PERSISTENT_CDROM: "1" }, c.userTemplate), want(4));
  });

  it("i440fx: IDE drives hdb…hdd after the context at hda, at the end of the first <devices>", () => {
    const before = parseDomainXml(fixture(A));
    const r = addPersistentCdroms(before, want(4));
    assert.deepEqual(r.added, ["hdb", "hdc", "hdd"]);
    const dev0 = r.domain.children.find((c) => c.name === "devices")!;
    const old0 = before.children.find((c) => c.name === "devices")!;
    assert.deepEqual(
      dev0.children.slice(0, -3).map((c) => shape(c)),
      old0.children.map((c) => shape(c)),
    );
    assert.deepEqual(dev0.children.slice(-3).map((c) => shape(c)), [
      cd("block", "hdb", "ide"),
      cd("block", "hdc", "ide"),
      cd("block", "hdd", "ide"),
    ]);
    // every other top-level element is the very same object
    const others = (d: XmlNode) => d.children.filter((c) => c !== dev0 && c !== old0);
    assert.deepEqual(others(r.domain), others(before));
    assert.ok(others(r.domain).every((c, i) => c === others(before)[i]));
  });

  it("q35: SATA drives, skipping hdb whose unit the context CD sdb holds", () => {
    const r = addPersistentCdroms(parseDomainXml(fixture(B)), want(4, 4, "file"));
    assert.deepEqual(r.added, ["hda", "hdc", "hdd"]);
    const disks = domainDisks(r.domain).slice(-3);
    assert.deepEqual(disks.map((d) => shape(d.node)), [
      cd("file", "hda", "sata"),
      cd("file", "hdc", "sata"),
      cd("file", "hdd", "sata"),
    ]);
  });

  it("5.12: the CDROM image and the context count toward the maximum", () => {
    const r = addPersistentCdroms(parseDomainXml(fixture(C)), want(4));
    assert.deepEqual(r.added, ["hdc", "hdd"]);
    // a higher maximum cannot add more: an i440fx machine has only hda…hdd on IDE
    assert.deepEqual(addPersistentCdroms(parseDomainXml(fixture(C)), want(4, 8)).added, [
      "hdc",
      "hdd",
    ]);
  });

  it("never reuses a disk's name or drive address", () => {
    const text = `<domain type='kvm'><name>one-5</name><devices>
      <disk type='block' device='disk'><source dev='/d/disk.0'/><target dev='hdc'/></disk>
      <disk type='block' device='disk'><source dev='/d/disk.1'/><target dev='hdq' bus='ide'/>
        <address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>
      </devices></domain>`;
    // hdb's address (ide 0:0:0:1) is taken by hdq, hdc by name: hda and hdd remain
    const r = addPersistentCdroms(parseDomainXml(text), want(4));
    assert.deepEqual(r.added, ["hda", "hdd"]);
  });

  it("is idempotent: empty drives count toward the wish", () => {
    const once = addPersistentCdroms(parseDomainXml(fixture(A)), want(1));
    assert.deepEqual(once.added, ["hdb"]);
    const twice = addPersistentCdroms(once.domain, want(1));
    assert.deepEqual(twice.added, []);
    assert.equal(twice.domain, once.domain);
    // after a reparse too
    const again = addPersistentCdroms(parseDomainXml(serializeDomainXml(once.domain)), want(1));
    assert.deepEqual(again.added, []);
  });

  it("off, or no room: the same tree", () => {
    const d = parseDomainXml(fixture(C));
    assert.equal(addPersistentCdroms(d, want(0)).domain, d);
    assert.equal(addPersistentCdroms(d, want(4, 2)).domain, d);
  });

  it("a domain without <devices> gets one", () => {
    const r = addPersistentCdroms(
      parseDomainXml("<domain type='kvm'><name>x</name></domain>"),
      want(1),
    );
    assert.deepEqual(
      shape(r.domain),
      el(
        `<domain type='kvm'><name>x</name><devices><disk type='block' device='cdrom'>` +
          `<target dev='hda' bus='ide'/><driver name='qemu' type='raw' cache='none' io='native'/>` +
          `<readonly/></disk></devices></domain>`,
      ),
    );
  });

  it("with the block rewrite on text: 5.12 gets block disks and two empty drives", () => {
    const vm = parseVmSync(fixture("vm_42_5.12.xml"));
    const r = rewriteDomainStorage(fixture(C), {
      isStoreDisk: byDiskId(storeDiskIds(vm, STORPOOL)),
      cdroms: persistentCdroms({}, vm.userTemplate),
    });
    assert.deepEqual(r.converted.map((d) => d.target), ["vdb", "hda", "hdb"]);
    assert.deepEqual(r.addedCdroms, ["hdc", "hdd"]);
    assert.deepEqual(summary(parseDomainXml(r.xml)), [
      ["vda", "block", "disk", "virtio", 0, false],
      ["vdb", "block", "disk", "virtio", 1, false],
      ["hda", "block", "cdrom", "ide", 2, false],
      ["hdb", "block", "cdrom", "ide", 3, false],
      ["hdc", "block", "cdrom", "ide", null, true],
      ["hdd", "block", "cdrom", "ide", null, true],
    ]);
  });
});

describe("the VM directory after a move to another system datastore", () => {
  const place = { dsLocation: "/var/lib/one//datastores", dsId: 105, vmId: 42 };

  it("points every path of the VM directory at the new datastore, written either way", () => {
    const saved = parseDomainXml(fixture("live_6.10_i440fx.xml"));
    const r = relocateVmDir(saved, place);
    assert.equal(r.changed, 4, "three disk sources and the metadata");
    const now = domainDisks(r.domain).filter((d) => !d.empty).map((d) => d.source);
    assert.deepEqual(now, [0, 1, 2].map((i) => `/var/lib/one//datastores/105/42/disk.${i}`));
    assert.equal(systemDatastoreDir(r.domain), "/var/lib/one//datastores/105/42");
    // a single-slash spelling, and a path of another VM or a prefix of the id, stay apart
    const other = parseDomainXml(
      `<domain type='kvm'><name>x</name><os><nvram>/var/lib/one/datastores/101/42/nvram</nvram>` +
        `</os><devices><disk type='file' device='disk'>` +
        `<source file='/var/lib/one/datastores/101/420/disk.0'/><target dev='vda'/></disk>` +
        `<disk type='file' device='disk'><source file='/var/lib/one/datastores/101/7/disk.0'/>` +
        `<target dev='vdb'/></disk></devices></domain>`,
    );
    const o = relocateVmDir(other, place);
    assert.equal(o.changed, 1);
    assert.equal(
      child(child(o.domain, "os"), "nvram")?.text,
      "/var/lib/one//datastores/105/42/nvram",
    );
    assert.deepEqual(domainDisks(o.domain).map((d) => d.source), [
      "/var/lib/one/datastores/101/420/disk.0",
      "/var/lib/one/datastores/101/7/disk.0",
    ]);
  });

  it("changes nothing when the VM stayed, or a second time", () => {
    const saved = parseDomainXml(fixture("live_6.10_i440fx.xml"));
    const same = relocateVmDir(saved, { ...place, dsId: 101 });
    assert.equal(same.changed, 0);
    assert.equal(same.domain, saved);
    const once = relocateVmDir(saved, place).domain;
    const twice = relocateVmDir(once, place);
    assert.equal(twice.changed, 0);
    assert.equal(twice.domain, once);
  });
});

import { FIXTURES } from "../fixtures_path.ts";
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { posix } from "node:path";
import { OneblkError } from "../../lib/errors.ts";
import {
  DatastoreView,
  DsActionView,
  HostView,
  ImageView,
  LCM_STATE,
  parseDatastore,
  parseDsAction,
  parseVm,
  parseVmmAction,
  VmmActionView,
  VmView,
} from "../../lib/one/views.ts";
import { checkArity, parseTransferLine } from "../../lib/one/args.ts";
import { parseXml, toXml } from "../../lib/one/xml.ts";
import {
  parseDatastoreSync,
  parseDsActionSync,
  parseVmmActionSync,
  parseVmSync,
} from "../support/views_sync.ts";
import type { Attrs as ProfileAttrs, DiskFacts } from "../../lib/addons/types.ts";
import { profileFor } from "../../lib/addons/index.ts";

const FIX = FIXTURES;
const read = (p: string) => Deno.readTextFileSync(posix.join(FIX, p));

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = posix.join(dir, e.name);
    if (e.isDirectory) out.push(...walk(p));
    else out.push(p);
  }
  return out.sort();
}

/** The view of any oned document, by its root element. */
async function parseAny(xml: string) {
  const node = await parseXml(xml);
  const View = {
    VM: VmView,
    IMAGE: ImageView,
    DATASTORE: DatastoreView,
    HOST: HostView,
    DS_DRIVER_ACTION_DATA: DsActionView,
    VMM_DRIVER_ACTION_DATA: VmmActionView,
  }[node.name];
  if (!View) throw new OneblkError("input", `unknown oned document <${node.name}>`);
  return new View(node);
}

/** An `<IMAGE>` document's view. */
async function parseImage(xml: string): Promise<ImageView> {
  return new ImageView(await parseXml(xml, "IMAGE XML"));
}

/** The lines of a transfer file (blank and comment lines skipped). */
function transferLines(text: string) {
  return text.split("\n").map(parseTransferLine).filter((l) => l !== null);
}

/** Transfer-file ops that run a TM script of another name. */
const OP_ACTION: Record<string, string> = { migrate: "premigrate", backup: "prebackup" };

describe("every shared fixture parses into a typed view", () => {
  const files = walk(FIX);
  it("finds the fixture set", () => {
    assert.ok(files.filter((f) => f.endsWith(".xml")).length >= 50, "fixture count");
  });
  for (const f of files) {
    const rel = f.slice(FIX.length + 1);
    if (/README\.(md|txt)$/.test(f)) continue;
    if (rel.startsWith("domain/")) continue; // libvirt domain XML and its VMs: test/domain/
    it(rel, async () => {
      const src = Deno.readTextFileSync(f);
      if (f.endsWith(".xml")) {
        const v = await parseAny(src);
        if (v instanceof VmView) {
          assert.ok(v.id >= 0 && v.disks.length > 0);
          for (const d of v.disks) assert.ok(d.diskId >= 0);
        } else if (v instanceof ImageView) assert.ok(v.id >= 0);
        else if (v instanceof DatastoreView) assert.ok(v.id >= 0 && v.tmMad !== "");
        else if (v instanceof DsActionView) assert.ok(v.datastore.id >= 0);
        else if (v instanceof VmmActionView) {
          assert.ok(v.host !== "" && v.vm.id === 7);
        } else assert.ok(v instanceof HostView);
        // Re-serialising the tree keeps every value (order-agnostic views see the same data).
        const again = await parseAny(toXml(v.node));
        assert.equal(again.constructor, v.constructor);
      } else {
        // transfer files and TM_COMMAND strings: every line satisfies the TM argv contract
        const lines = transferLines(src);
        assert.ok(lines.length > 0);
        for (const l of lines) checkArity("tm", OP_ACTION[l.action] ?? l.action, l.args);
      }
    });
  }
});

describe("VM 7 (running on node1)", () => {
  const vm = parseVmSync(read("onexml/vm_7_linstor_running.xml"));
  it("has the scalar fields", () => {
    assert.equal(vm.id, 7);
    assert.equal(vm.name, "web-7");
    assert.equal(vm.state, 3);
    assert.equal(vm.lcmState, LCM_STATE.RUNNING);
    assert.equal(vm.lcmStateName, "RUNNING");
    assert.equal(vm.prevState, 3);
    assert.equal(vm.deployId, "one-7");
    assert.equal(vm.contextDiskId, 4);
  });
  it("disk 0 is a resized non-persistent clone", () => {
    const d = vm.disk(0)!;
    assert.equal(d.clone, true);
    assert.equal(d.persistent, false);
    assert.equal(d.save, false);
    assert.equal(d.size, 10240);
    assert.equal(d.originalSize, 2048);
    assert.equal(d.source, "OpenNebula-Image-42");
    assert.equal(d.image, "alpine-3.20");
    assert.equal(d.imageId, "42");
    assert.equal(d.imageIdNum, 42);
    assert.equal(d.datastoreId, 100);
    assert.equal(d.tmMad, "linstor");
    assert.equal(d.tmMadSystem, "ssh");
    assert.equal(d.type, "BLOCK");
    assert.equal(d.diskType, "BLOCK");
    assert.equal(d.format, "raw");
    assert.equal(d.driver, "raw");
    assert.equal(d.target, "vda");
    assert.equal(d.readonly, false);
    assert.equal(d.shareable, false);
    assert.equal(d.volatile, false);
    assert.equal(d.attach, false);
    assert.equal(d.get("DEV_PREFIX"), "vd");
    assert.equal(d.get("NOPE"), "");
  });
  it("views plug into the profile interfaces (type-checked)", () => {
    const facts: DiskFacts = vm.disk(0)!;
    const attrs: ProfileAttrs = parseDatastoreSync(read("onexml/datastore_100_linstor_image.xml"))
      .template;
    assert.equal(facts.imageId, "42");
    assert.equal(attrs.get("LINSTOR_RESOURCE_GROUP"), "OneRscGrp");
  });
  it("disk 1 is persistent with one snapshot", () => {
    const d = vm.disk(1)!;
    assert.equal(d.persistent, true);
    assert.equal(d.save, true);
    assert.equal(d.clone, false);
    const s = vm.snapshots(1)!;
    assert.equal(s.diskId, 1);
    assert.equal(s.nextSnapshot, 1);
    assert.deepEqual(s.snapshots.map((x) => [x.id, x.size, x.active, x.name]), [
      [0, 1024, true, "before-upgrade"],
    ]);
    assert.equal(s.active?.id, 0);
    assert.equal(s.get(0)?.parent, -1);
    assert.equal(vm.snapshots(0), undefined);
  });
  it("disk 2 is a volatile swap disk on the system DS", () => {
    const d = vm.disk(2)!;
    assert.equal(d.volatile, true);
    assert.equal(d.isVolatile, true);
    assert.equal(d.type, "SWAP");
    assert.equal(d.imageId, "");
    assert.equal(d.imageIdNum, -1);
    assert.equal(d.tmMad, "ssh");
    assert.equal(d.datastoreId, 0);
    assert.equal(d.originalSize, null);
  });
  it("disk 3 is a read-only CDROM", () => {
    const d = vm.disk(3)!;
    assert.equal(d.isCdrom, true);
    assert.equal(d.readonly, true);
    assert.equal(d.target, "hdb");
    assert.equal(vm.disk(4), undefined, "context is not a DISK");
  });
  it("has history, templates and backup config", () => {
    assert.equal(vm.history?.hostname, "node1");
    assert.equal(vm.history?.dsId, 0);
    assert.equal(vm.history?.tmMad, "ssh");
    assert.equal(vm.prevHistory, null);
    assert.equal(vm.userTemplate.get("SP_QOSCLASS"), "tier1");
    assert.equal(vm.template.get("TM_MAD_SYSTEM"), "ssh");
    assert.equal(vm.template.vector("CONTEXT")?.get("TARGET"), "hda");
    assert.equal(vm.template.vectors("DISK").length, 4);
    assert.equal(vm.backupConfig.get("MODE"), "FULL");
    assert.equal(vm.backupConfig.int("KEEP_LAST", 0), 3);
    assert.equal(vm.backupConfig.int("LAST_INCREMENT_ID", 0), -1);
    assert.equal(vm.attachedDisk, undefined);
  });
  it("sees both history records during live migration", async () => {
    const m = await parseVm(read("onexml/alt/vm_7_linstor_migrating.xml"));
    assert.equal(m.lcmState, LCM_STATE.MIGRATE);
    assert.equal(m.history?.hostname, "node2");
    assert.equal(m.prevHistory?.hostname, "node1");
  });
  it("is order-agnostic and tolerates unknown elements", async () => {
    const shuffled = `<VM><NEW_7X_THING><X>1</X></NEW_7X_THING>
      <TEMPLATE><DISK><TYPE>fs</TYPE><FS>ext4</FS><SIZE>512</SIZE><DISK_ID>5</DISK_ID></DISK>
      <UNKNOWN>x</UNKNOWN></TEMPLATE><LCM_STATE>31</LCM_STATE><ID>9</ID>
      <HISTORY_RECORDS><HISTORY><SEQ>1</SEQ><HOSTNAME>b</HOSTNAME></HISTORY>
      <HISTORY><SEQ>0</SEQ><HOSTNAME>a</HOSTNAME></HISTORY></HISTORY_RECORDS></VM>`;
    const v = await parseVm(shuffled);
    assert.equal(v.id, 9);
    assert.equal(v.lcmStateName, "PROLOG_UNDEPLOY");
    assert.equal(v.disk(5)?.fs, "ext4");
    assert.equal(v.disk(5)?.type, "FS");
    assert.equal(v.history?.hostname, "b");
    assert.equal(v.prevHistory?.hostname, "a");
    assert.equal(v.contextDiskId, null);
    assert.equal(v.deployId, "");
  });
});

describe("addon-linstor test VM", () => {
  const vm = parseVmSync(read("linstor/vm_0_three_disks_with_context.xml"));
  it("matches what the add-on's tests assert", () => {
    assert.deepEqual(vm.disks.map((d) => d.diskId), [0, 1, 2]);
    const d0 = vm.disk(0)!;
    assert.deepEqual([d0.imageIdNum, d0.target, d0.persistent, d0.type, d0.clone], [
      146,
      "hdb",
      true,
      "FILE",
      false,
    ]);
    const d2 = vm.disk(2)!;
    assert.deepEqual([d2.imageIdNum, d2.target, d2.persistent, d2.type, d2.clone], [
      149,
      "hdc",
      false,
      "BLOCK",
      true,
    ]);
    assert.equal(d2.source, "/var/lib/one//datastores/1/baee88c26cb6055334aaed153a7c8327");
    assert.equal(vm.history?.hostname, "sam");
  });
});

describe("images", () => {
  it("image 42", async () => {
    const i = await parseImage(read("onexml/image_42_linstor_os.xml"));
    assert.equal(i.id, 42);
    assert.equal(i.name, "alpine-3.20");
    assert.equal(i.source, "OpenNebula-Image-42");
    assert.equal(i.path, "https://marketplace.opennebula.io/appliance/alpine/download/0");
    assert.equal(i.size, 2048);
    assert.equal(i.format, "raw");
    assert.equal(i.fs, "");
    assert.equal(i.type, 0);
    assert.equal(i.typeName, "OS");
    assert.equal(i.persistent, false);
    assert.equal(i.datastoreId, 100);
    assert.equal(i.datastore, "linstor-images");
    assert.equal(i.cloningId, -1);
    assert.equal(i.targetSnapshot, -1);
    assert.deepEqual(i.snapshots, []);
    assert.deepEqual(i.vms, [7]);
    assert.equal(i.get("DRIVER"), "raw");
    assert.equal(i.uid, 0);
    assert.equal(i.uname, "oneadmin");
    assert.equal(i.isSaveAs, false);
  });
  it("≤5.12 images use FSTYPE for the format", async () => {
    const i = await parseImage(read("linstor/image_233_persistent_linstor_with_snapshot.xml"));
    assert.equal(i.format, "raw");
    assert.equal(i.persistent, true);
    assert.equal(i.targetSnapshot, 0);
    assert.equal(i.source, "OpenNebula-Image-233");
    assert.deepEqual(i.snapshots.map((s) => [s.id, s.name, s.size]), [[0, "gfdgfd", 1024]]);
    assert.match(i.get("ERROR"), /Error removing snapshot 1/);
    const old = await parseImage(read("linstor/image_5_ttylinux_persistent_ds100.xml"));
    assert.deepEqual([old.id, old.size, old.datastoreId, old.format, old.uid], [
      5,
      5830,
      100,
      "",
      5,
    ]);
  });
});

describe("datastores", () => {
  it("LINSTOR image DS 100", () => {
    const ds = parseDatastoreSync(read("onexml/datastore_100_linstor_image.xml"));
    assert.equal(ds.id, 100);
    assert.equal(ds.name, "linstor-images");
    assert.equal(ds.dsMad, "linstor");
    assert.equal(ds.tmMad, "linstor");
    assert.equal(ds.type, 0);
    assert.equal(ds.typeName, "IMAGE");
    assert.equal(ds.isSystem, false);
    assert.equal(ds.basePath, "/var/lib/one//datastores/100");
    assert.equal(ds.diskType, "BLOCK");
    assert.equal(ds.shared, false);
    assert.deepEqual(ds.imageIds, [42, 43, 44]);
    assert.deepEqual(ds.clusterIds, [0]);
    assert.deepEqual([ds.totalMb, ds.freeMb, ds.usedMb], [15354, 12778, 2576]);
    const t = ds.template;
    assert.equal(t.get("LINSTOR_CONTROLLERS"), "linstor://192.168.221.20");
    assert.equal(t.get("LINSTOR_RESOURCE_GROUP"), "OneRscGrp");
    assert.deepEqual(t.list("BRIDGE_LIST"), ["node1", "node2", "node3"]);
    assert.deepEqual(t.list("TM_MAD_SYSTEM"), ["ssh", "shared"]);
    assert.deepEqual(t.list("COMPATIBLE_SYS_DS"), ["0", "101"]);
    assert.equal(t.bool("ALLOW_ORPHANS"), true);
    assert.equal(t.has("REPLICA_COUNT"), false);
    assert.equal(t.int("REPLICA_COUNT", 2), 2);
    assert.throws(() => t.requireAttr("REPLICA_COUNT"), (e) => {
      assert.ok(e instanceof OneblkError);
      assert.equal(e.kind, "input");
      assert.equal(e.message, "datastore 100 has no REPLICA_COUNT attribute");
      return true;
    });
    assert.equal(t.requireAttr("LINSTOR_RESOURCE_GROUP"), "OneRscGrp");
  });
  it("LINSTOR system DS 101 is shared", () => {
    const ds = parseDatastoreSync(read("onexml/datastore_101_linstor_system.xml"));
    assert.equal(ds.isSystem, true);
    assert.equal(ds.typeName, "SYSTEM");
    assert.equal(ds.shared, true);
    assert.equal(ds.dsMad, "-");
    assert.equal(ds.template.get("LINSTOR_RESOURCE_GROUP"), "OneSysRscGrp");
  });
  it("linstor_un DS 120", () => {
    const t = parseDatastoreSync(read("onexml/datastore_120_linstor_un_image.xml")).template;
    assert.equal(t.get("LS_CONTROLLERS"), "192.168.221.20");
    assert.equal(t.get("RESOURCE_GROUP"), "opennebula");
    assert.equal(t.int("CHECKPOINT_REPLICA_COUNT", 0), 1);
    assert.equal(t.get("CLONE_MODE"), "snapshot");
    assert.equal(t.bool("PREFER_NODE"), true);
  });
  it("StorPool DS 110", () => {
    const ds = parseDatastoreSync(read("onexml/datastore_110_storpool_image.xml"));
    assert.equal(ds.name, "StorPool IMAGE");
    assert.equal(ds.template.get("SP_QOSCLASS"), "tier1");
    assert.equal(ds.template.get("DRIVER"), "raw");
    assert.equal(ds.template.has("SP_API_HTTP_HOST"), false);
    assert.equal(ds.template.get("SP_API_HTTP_HOST"), "");
  });
  it("legacy addon-linstor 1.x attributes become the linstor placement", () => {
    const ds = parseDatastoreSync(
      read("linstor/datastore_1_fs_shared_with_legacy_linstor_attrs.xml"),
    );
    const p = profileFor("linstor", {}).placement(ds.template, ds.id);
    assert.deepEqual([p.replicas, "storagePools" in p && p.storagePools], [3, ["drbdpool"]]);
    assert.equal(ds.diskType, "FILE");
    const mk = parseDsActionSync(
      read("linstor/ds_driver_action_mkfs_image18_qcow2_ds103_linstor.xml"),
    );
    assert.equal(mk.datastore.template.get("LINSTOR_AUTO_PLACE"), "2");
    assert.equal(mk.datastore.template.get("LINSTOR_CLONE_MODE"), "copy");
    assert.equal(mk.requireImage().format, "qcow2");
    assert.equal(mk.requireImage().fs, "");
  });
  it("bad attribute values are one-line input errors", () => {
    const ds = parseDatastoreSync(
      `<DATASTORE><ID>5</ID><TEMPLATE><REPLICA_COUNT>two</REPLICA_COUNT>` +
        `<PREFER_NODE>maybe</PREFER_NODE></TEMPLATE></DATASTORE>`,
    );
    assert.throws(() => ds.template.int("REPLICA_COUNT", 1), {
      name: "OneblkError",
      message: 'datastore 5 attribute REPLICA_COUNT is not an integer: "two"',
    });
    assert.throws(() => ds.template.bool("PREFER_NODE"), /not YES or NO/);
  });
});

describe("DS driver actions", () => {
  it("clone carries CLONING_ID and SOURCE_BRIDGE_LIST", () => {
    for (const flavour of ["linstor", "linstor_un", "storpool"]) {
      const a = parseDsActionSync(read(`ds_action/clone_${flavour}.xml`));
      const img = a.requireImage();
      assert.equal(img.id, 53);
      assert.equal(img.cloningId, 42);
      assert.deepEqual(a.sourceBridgeList, ["node1", "node2", "node3"]);
      assert.equal(a.datastore.id, { linstor: 100, linstor_un: 120, storpool: 110 }[flavour]);
    }
    const sp = parseDsActionSync(read("ds_action/clone_storpool.xml"));
    assert.equal(sp.requireImage().path, "one-ds-110/one-img-42");
  });
  it("system monitor has no image but location and MONITOR_VM_DISKS", () => {
    const a = parseDsActionSync(read("ds_action/monitor_system_linstor.xml"));
    assert.equal(a.image, undefined);
    assert.throws(() => a.requireImage(), /no IMAGE/);
    assert.equal(a.datastore.id, 101);
    assert.equal(a.datastoreLocation, "/var/lib/one//datastores");
    assert.equal(a.monitorVmDisks, true);
    const img = parseDsActionSync(read("ds_action/monitor_image_linstor.xml"));
    assert.equal(img.monitorVmDisks, false);
    assert.equal(img.datastoreLocation, "");
  });
  it("stat has only PATH", () => {
    const a = parseDsActionSync(read("ds_action/stat_linstor.xml"));
    assert.equal(a.requireImage().id, -1);
    assert.equal(a.requireImage().path, "https://example.org/images/alpine.qcow2");
    assert.equal(a.requireImage().size, 0);
    const odd = parseDsActionSync(read("linstor/ds_driver_action_stat_http_iso_ds106_linstor.xml"));
    assert.ok(odd.requireImage().path.endsWith('.iso"'));
    assert.equal(odd.datastore.basePath, "/var/lib/one//datastores/106");
  });
  it("mkfs save-as and plain mkfs", () => {
    const s = parseDsActionSync(read("ds_action/mkfs_saveas_linstor.xml")).requireImage();
    assert.equal(s.isSaveAs, true);
    assert.equal(s.template.int("SAVED_VM_ID", -1), 7);
    assert.equal(s.template.int("SAVED_DISK_ID", -1), 0);
    const m = parseDsActionSync(read("ds_action/mkfs_storpool.xml")).requireImage();
    assert.deepEqual([m.isSaveAs, m.fs, m.format, m.size, m.persistent], [
      false,
      "ext4",
      "raw",
      4096,
      true,
    ]);
  });
  it("snapshot actions have TARGET_SNAPSHOT and the snapshot list", () => {
    const i = parseDsActionSync(read("ds_action/snap_delete_linstor_un.xml")).requireImage();
    assert.equal(i.targetSnapshot, 0);
    assert.deepEqual(i.snapshots.map((s) => [s.id, s.active]), [[0, false], [1, true]]);
    assert.equal(i.snapshotSet.active?.id, 1);
    assert.equal(i.snapshotSet.nextSnapshot, 2);
    assert.equal(i.source, "/dev/drbd/by-res/one-image-43/0");
  });
  it("cp keeps MD5 in the image template", () => {
    const i = parseDsActionSync(read("ds_action/cp_storpool.xml")).requireImage();
    assert.equal(i.get("MD5"), "0123456789abcdef0123456789abcdef");
    assert.equal(i.format, "");
  });
});

describe("VMM driver actions", () => {
  it("attach_disk", () => {
    const a = parseVmmActionSync(read("vmm_action/attach_disk.xml"));
    assert.equal(a.host, "node1");
    assert.equal(a.deployId, "one-7");
    assert.equal(a.vm.attachedDisk?.diskId, 5);
    assert.equal(
      a.tmCommand,
      "LN.ssh linstor frontend:OpenNebula-Image-45 node1:/var/lib/one//datastores/0/7/disk.5 7 100",
    );
    assert.match(a.tmCommandRollback, /^MVDS\.ssh linstor /);
    assert.equal(a.diskTargetPath, "/var/lib/one//datastores/0/7/disk.5");
    assert.equal(a.datastore?.id, 0);
  });
  it("migrate, deploy, save, restore, backup", () => {
    const m = parseVmmActionSync(read("vmm_action/migrate.xml"));
    assert.deepEqual([m.host, m.migrHost], ["node1", "node2"]);
    assert.equal(m.vm.prevHistory?.hostname, "node1");
    assert.equal(m.vm.history?.hostname, "node2");
    const d = parseVmmActionSync(read("vmm_action/deploy.xml"));
    assert.equal(d.deployId, "");
    assert.equal(d.localDeploymentFile, "/var/lib/one/vms/7/deployment.0");
    assert.equal(d.remoteDeploymentFile, "/var/lib/one//datastores/0/7/deployment.0");
    assert.equal(d.migrHost, "");
    for (const f of ["save", "restore"]) {
      const s = parseVmmActionSync(read(`vmm_action/${f}.xml`));
      assert.equal(s.checkpointFile, "/var/lib/one//datastores/0/7/checkpoint");
    }
    const b = parseVmmActionSync(read("vmm_action/backup_live.xml"));
    assert.equal(b.datastore?.id, 102);
    assert.equal(b.datastore?.typeName, "BACKUP");
  });
});

describe("bad documents are one-line input errors", () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ["empty", () => parseVm(""), /^VM XML is empty$/],
    ["blank", () => parseDsAction("  \n "), /is empty/],
    ["malformed", () => parseVm("<VM><ID>1</ID>"), /^malformed VM XML/],
    [
      "mismatched tags",
      () => parseImage("<IMAGE><ID>1</NAME></IMAGE>"),
      /^malformed IMAGE XML/,
    ],
    ["wrong root", () => parseVm("<IMAGE><ID>1</ID></IMAGE>"), /expected a <VM> document/],
    ["no id", () => parseVm("<VM><NAME>x</NAME></VM>"), /VM XML has no valid ID/],
    ["bad id", () => parseDatastore("<DATASTORE><ID>abc</ID></DATASTORE>"), /no valid ID/],
    ["ds action without DS", () => parseDsAction("<DS_DRIVER_ACTION_DATA/>"), /no DATASTORE/],
    ["vmm action without VM", () => parseVmmAction("<VMM_DRIVER_ACTION_DATA/>"), /no VM/],
    ["unknown root", () => parseAny("<FOO/>"), /unknown oned document/],
  ];
  for (const [name, fn, re] of cases) {
    it(name, async () => {
      await assert.rejects(fn, (e) => {
        assert.ok(e instanceof OneblkError, String(e));
        assert.equal(e.kind, "input");
        assert.match(e.message, re);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    });
  }
});

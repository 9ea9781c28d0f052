/**
 * Issue 10 through the real datastore programs and `oneblk gc`: a failed cp whose cleanup
 * failed too leaves a volume marked by its image, which gc removes once oned no longer has the
 * image (and never earlier, never anything else; --dry-run changes nothing); cp's bridge
 * attachment that could not be released is marked and gc releases it; datastore clone leaves
 * no mark behind; datastore rm refuses a SOURCE that cannot name a volume (item 9).
 *
 * Store faults are injected in the shared simulators, so the profiles run one after the other.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, startCluster } from "../../../tools/sim/cluster.ts";
import { buildHostXml, buildImageXml, buildVmXml } from "../../../tools/sim/oned/builders.ts";
import {
  closeStores,
  imagePayload,
  lines,
  makeImages,
  openStores,
  PROFILES,
  type Store,
  testBytes,
  worldState,
} from "./helpers.ts";

const MiB = 1024 * 1024;

describe("issue 10: datastore actions and oneblk gc", () => {
  let c: Cluster;
  let file: string;
  const stores: Record<string, Store> = {};
  const raw = testBytes(MiB + 7, 9);
  let nextId = 700;

  before(async () => {
    c = await startCluster();
    Object.assign(stores, await openStores(c));
    file = join(c.root, "safety.raw");
    await Deno.writeFile(file, raw);
  });
  after(async () => {
    await closeStores(stores);
    await c.stop();
  });

  /** Run `oneblk gc` with the cluster's environment. */
  const gc = (...args: string[]) => c.cli(["gc", ...args]);

  /**
   * Make the store refuse to delete `volume` (every try, after the first `skip` on LINSTOR)
   * until the returned undo runs.
   */
  function refuseDelete(drv: string, volume: string, skip = 0): () => void {
    if (drv === "storpool") {
      c.storpool.addFault({ method: "VolumeDelete", status: 500 });
      return () => c.storpool.clearFaults();
    }
    c.linstor.addFault({
      method: "DELETE",
      path: `^/v1/resource-definitions/${volume}$`,
      action: "error",
      skip,
    });
    return () => c.linstor.clearFaults();
  }

  for (const drv of PROFILES) {
    it(`${drv}: item 5: a failed cp that cannot delete its volume leaves it for gc, by image`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const vol = s.vol(id);
      const xml = imagePayload(c, drv, {
        id,
        path: file,
        size: 2,
        format: "raw",
        template: { MD5: "0".repeat(32) },
      });
      const undo = refuseDelete(drv, vol);
      let r;
      try {
        r = await c.runDs("datastore", drv, "cp", xml, id);
      } finally {
        undo();
      }
      assert.equal(r.code, 1);
      assert.equal(lines(r.stderr.split("\n").filter((l) => !l.startsWith("INFO")).join("\n")), 1);
      assert.ok(await s.backend.getVolume(vol), "the delete failed: the volume is still there");
      const marked = (await s.backend.findLeftovers()).filter((l) => l.name === vol);
      assert.deepEqual(marked.map((l) => [l.kind, l.owner]), [[
        "volume",
        `datastore cp image ${id}`,
      ]]);

      // oned still has the image (being made, say): gc keeps it; --dry-run changes nothing.
      c.oned.state.putImage(buildImageXml({ id, datastoreId: s.dsId, state: 4 }));
      const kept = await gc("--min-age", "0", "--datastore", String(s.dsId));
      assert.equal(kept.code, 0, kept.stderr);
      assert.match(kept.stdout, new RegExp(`kept: volume ${vol} .*oned still has image ${id}`));
      c.oned.state.images.delete(id);
      const world = await worldState(c);
      const dry = await gc("--dry-run", "--min-age", "0", "--datastore", String(s.dsId));
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`would remove: volume ${vol} `));
      assert.deepEqual(await worldState(c), world, "--dry-run changed nothing");
      // Young leftovers are kept by default (their action may still run).
      assert.match((await gc("--datastore", String(s.dsId))).stdout, /kept: .*younger than/);
      // oned dropped the image (no SOURCE: no DS rm): gc removes the volume, nothing else.
      const done = await gc("--min-age", "0", "--datastore", String(s.dsId));
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, new RegExp(`removed: volume ${vol} `));
      assert.equal(await s.backend.getVolume(vol), null);
      // Only the volume went (its replicas, device links and DRBD minor devices).
      const after = await worldState(c);
      assert.deepEqual(after.filter((x) => !world.includes(x)), [], "gc made nothing");
      const gone = world.filter((x) => !after.includes(x));
      assert.ok(gone.length > 0);
      assert.deepEqual(
        gone.filter((x) => !x.includes(vol) && !/\/dev\/drbd\d+$/.test(x)),
        [],
        "gc touched nothing else",
      );
    });

    it(`${drv}: datastore clone leaves no mark; gc removes temporaries, never images`, async () => {
      const s = stores[drv];
      const src = nextId++, dst = nextId++;
      const cp = await c.runDs(
        "datastore",
        drv,
        "cp",
        imagePayload(c, drv, { id: src, path: file, size: 2, format: "raw" }),
        src,
      );
      assert.equal(cp.code, 0, cp.stderr);
      const cl = await c.runDs(
        "datastore",
        drv,
        "clone",
        imagePayload(c, drv, { id: dst, path: s.source(src), cloningId: src, size: 2 }),
        dst,
      );
      assert.equal(cl.code, 0, cl.stderr);
      const left = (await s.backend.findLeftovers()).filter((l) =>
        [s.vol(src), s.vol(dst)].includes(l.volume ?? l.name)
      );
      assert.deepEqual(left, [], "complete images carry no mark");
      // A temporary snapshot an action could not remove (its name is its mark), next to an
      // image snapshot that is nobody's leftover.
      const tmp = `oneblk-tmp-saveas-vm${src}-disk0-x1`;
      const own = s.profile.snapshotName(s.vol(src), 0);
      await s.backend.createSnapshot(s.vol(src), tmp);
      await s.backend.createSnapshot(s.vol(src), own);
      const r = await gc("--min-age", "0", "--datastore", String(s.dsId));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`removed: snapshot ${tmp} of ${s.vol(src)}`));
      assert.deepEqual((await s.backend.listSnapshots(s.vol(src))).map((x) => x.name), [own]);
      assert.ok(await s.backend.getVolume(s.vol(src)) && await s.backend.getVolume(s.vol(dst)));
    });

    it(`${drv}: item 9: rm refuses a SOURCE that cannot name a volume; a missing one is fine`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const base = s.source(id);
      for (
        const bad of [
          `${base}$(reboot)`,
          `${base};rm -rf /`,
          `${base}'x`,
          `${base}\nx`,
          `../${base}`,
          `${base}/../x`,
        ]
      ) {
        const r = await c.runDs(
          "datastore",
          drv,
          "rm",
          imagePayload(c, drv, { id, source: bad }),
          id,
        );
        assert.equal(r.code, 1, `${JSON.stringify(bad)}: ${r.stderr}`);
        assert.equal(lines(r.stderr), 1, r.stderr);
        assert.match(r.stderr, /cannot name a volume|names no volume/);
      }
      const ok = await c.runDs(
        "datastore",
        drv,
        "rm",
        imagePayload(c, drv, { id, source: base }),
        id,
      );
      assert.equal(ok.code, 0, ok.stderr);
    });
  }

  for (const drv of PROFILES.filter((d) => d !== "storpool")) {
    it(`${drv}: item 5: cp's bridge attachment that cannot be released is marked; gc releases it`, async () => {
      const s = stores[drv];
      const id = nextId++;
      const vol = s.vol(id);
      // Three replicas on alpha, bravo, charlie (no tie-breaker); the bridge is delta, where
      // the cp's attachment is its own.
      const dsExtra: Record<string, string> = drv === "linstor"
        ? { LINSTOR_DEPLOYMENT_NODES: "alpha bravo charlie", BRIDGE_LIST: "delta" }
        : { NODE_LIST: "alpha bravo charlie", BRIDGE_LIST: "delta" };
      c.linstor.addFault({
        method: "DELETE",
        path: `^/v1/resource-definitions/${vol}/resources/delta$`,
        action: "error",
      });
      let r;
      try {
        r = await c.runDs(
          "datastore",
          drv,
          "cp",
          imagePayload(c, drv, { id, path: file, size: 2, format: "raw" }, dsExtra),
          id,
        );
      } finally {
        c.linstor.clearFaults();
      }
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /could not detach .*marked for oneblk gc/);
      const bridge = async () =>
        (await s.backend.attachments(vol)).filter((a) => a.host === "delta" && !a.diskful);
      assert.equal((await bridge()).length, 1, "the temporary attachment stayed");
      const found = (await s.backend.findLeftovers()).filter((l) => l.name === vol);
      assert.deepEqual(found.map((l) => [l.kind, l.host, l.owner]), [
        ["attachment", "delta", `datastore cp image ${id}`],
      ]);
      // A later action attached the same volume on delta for a VM (the old mark stays): while
      // oned has that VM there, powered off (its device linked, not open), gc keeps it.
      const hostId = [...c.oned.state.hosts.entries()].find(([, x]) =>
        x.includes("<NAME>delta</NAME>")
      )![0];
      const hostXml = c.oned.state.hosts.get(hostId)!;
      const vmId = 9000 + id;
      c.oned.state.putVm(buildVmXml({
        id: vmId,
        state: 8, // POWEROFF
        lcmState: 0,
        disks: [{
          diskId: 0,
          imageId: id,
          source: s.profile.imageSource(id, s.dsId),
          persistent: true,
          clone: false,
          datastoreId: s.dsId,
        }],
        history: [{ hostname: "delta", dsId: 0, tmMad: drv }],
      }));
      c.oned.state.putHost(buildHostXml({ id: hostId, name: "delta", vms: [vmId] }));
      try {
        const k = await gc("--min-age", "0", "--datastore", String(s.dsId));
        assert.equal(k.code, 0, k.stderr);
        assert.match(
          k.stdout,
          new RegExp(`kept: attachment of ${vol} on delta.*VM ${vmId} on delta uses`),
        );
        assert.equal((await bridge()).length, 1, "the VM's device stays");
      } finally {
        c.oned.state.hosts.set(hostId, hostXml);
        c.oned.state.remove("VM", vmId);
      }
      const g = await gc("--min-age", "0", "--datastore", String(s.dsId));
      assert.equal(g.code, 0, g.stderr);
      assert.match(g.stdout, new RegExp(`removed: attachment of ${vol} on delta`));
      assert.deepEqual(await bridge(), []);
      assert.ok(await s.backend.getVolume(vol), "the image stays");
    });
  }

  for (const drv of PROFILES) {
    it(`${drv}: cp's qcow2 staging volume that cannot be deleted is marked; gc removes it`, async (t) => {
      const s = stores[drv];
      if (s.profile.keepImageFormat) return t.skip("keeps qcow2: no staging volume");
      const id = nextId++;
      const stage = s.profile.importStageVolume(id);
      const q = (await makeImages(c.root, `stage-${id}`, raw)).qcow2;
      // The first delete (of a staging volume an earlier cp left) goes through.
      const undo = refuseDelete(drv, stage, 1);
      let r;
      try {
        r = await c.runDs(
          "datastore",
          drv,
          "cp",
          imagePayload(c, drv, { id, path: q, size: 2, format: "" }),
          id,
        );
      } finally {
        undo();
      }
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /could not delete the temporary volume .*marked for oneblk gc/);
      assert.ok(await s.backend.getVolume(stage), "the staging volume stayed");
      const found = (await s.backend.findLeftovers()).filter((l) => l.name === stage);
      assert.deepEqual(found.map((l) => [l.kind, l.owner]), [
        ["volume", `datastore cp image ${id} staging`],
      ]);
      // The image is READY and in use: the staging volume is not the image's, gc removes it.
      c.oned.state.putImage(buildImageXml({ id, datastoreId: s.dsId, state: 1 }));
      try {
        const g = await gc("--min-age", "0", "--datastore", String(s.dsId));
        assert.equal(g.code, 0, g.stderr);
        assert.match(g.stdout, new RegExp(`removed: volume ${stage} `));
      } finally {
        c.oned.state.images.delete(id);
      }
      assert.equal(await s.backend.getVolume(stage), null);
      assert.ok(await s.backend.getVolume(s.vol(id)), "the image's volume stays");
    });
  }
});

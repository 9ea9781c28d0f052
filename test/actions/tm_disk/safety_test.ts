/**
 * Issue 10 through the real TM programs: a clone target with no volume is never a disk
 * (item 3), a shared CDROM stays attached for another VM on the host (item 4), a snapshot
 * whose reply was lost is taken and an orphan one is cleaned (item 5), a dead store fails an
 * action fast with one short line (item 6), a hostile token never shows (item 7), and tm delete
 * removes only a VM directory below the datastore's BASE_PATH (item 8).
 *
 * Store faults are injected in the shared simulators, so the profiles run one after the
 * other here.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  buildDatastoreXml,
  buildHostXml,
  buildImageXml,
} from "../../../tools/sim/oned/builders.ts";
import {
  type Case,
  CASES,
  cdromDisk,
  cloneDisk,
  diskArg,
  MiB,
  pattern,
  persistentDisk,
  present,
  shaBytes,
  shaOf,
  useEnv,
  vmDir,
  vmInput,
} from "./helpers.ts";

/** A TCP port nobody listens on. */
function deadPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const LINSTOR_CASES = CASES.filter((c) => c.driver !== "storpool");

describe("issue 10: tm actions under store faults", () => {
  const env = useEnv();

  /** The volume of disk `diskId` of VM `vmId` using image `imageId`. */
  function volumeOf(tc: Case, vmId: number, diskId: number, imageId: number, type = "FS") {
    return tc.profile.diskVolume(vmId, {
      diskId,
      source: tc.profile.imageSource(imageId, tc.imageDs),
      imageId: String(imageId),
      clone: type !== "CDROM",
      persistent: false,
      type,
      volatile: false,
      format: "raw",
    });
  }

  it("item 3: a lost reply on the restore fallback never yields a disk without a volume", async () => {
    for (const tc of LINSTOR_CASES) {
      const data = pattern(tc.vmBase + 61, MiB);
      const imageId = tc.vmBase + 61;
      const img = await env.image(tc, imageId, 4, data);
      const vmId = tc.vmBase + 61;
      env.vm(vmInput(tc, vmId, "bravo", [cloneDisk(tc, 0, imageId, 4, 4)]));
      const args = [
        `alpha:${img.source}`,
        diskArg("bravo", tc.systemDs, vmId, 0),
        vmId,
        tc.imageDs,
      ];
      const target = volumeOf(tc, vmId, 0, imageId);
      const sim = env.c.linstor;
      // No clone API; the reply to the target's RD creation is lost (the RD is made).
      sim.addFault({ method: "POST", path: `/${img.volume}/clone$`, action: "error" });
      sim.addFault({
        method: "POST",
        path: "^/v1/resource-definitions$",
        action: "drop",
        times: 1,
      });
      try {
        await env.fails(tc, "clone", args, /unavailable|lost|not retried/i);
      } finally {
        sim.clearFaults();
      }
      const link = env.c.hostPath("bravo", `${vmDir(tc.systemDs, vmId)}/disk.0`);
      assert.equal(await present(link), false, `${tc.driver}: no disk link after the failure`);
      // oned's retry reads what exists: the empty RD is made again, whole.
      sim.addFault({ method: "POST", path: `/${img.volume}/clone$`, action: "error" });
      try {
        await env.ok(tc, "clone", args);
      } finally {
        sim.clearFaults();
      }
      assert.equal((await env.backend(tc).getVolume(target))?.sizeMiB, 4);
      assert.equal(await shaOf(link, MiB), await shaBytes(data), `${tc.driver}: the image's bytes`);
      await env.ok(tc, "delete", [diskArg("bravo", tc.systemDs, vmId, 0), vmId, tc.imageDs]);
    }
  });

  it("item 4: a shared CDROM stays attached while another VM on the host has it", async () => {
    for (const tc of CASES) {
      const imageId = tc.vmBase + 62;
      const data = pattern(imageId, 64 * 1024);
      const img = await env.image(tc, imageId, 4, data);
      const b0 = env.backend(tc);
      // A host without a replica of the image: there an attachment is the VMs' own. Preferably
      // one without any resource; else a tie-breaker's (LINSTOR places one where it likes), which
      // the VMs' attachment replaces and which does not count as attached.
      const held = await b0.attachments(img.volume);
      const names = ["alpha", "bravo", "charlie", "delta"];
      const hostId = [3, 2, 1].find((i) => !held.some((x) => x.host === names[i])) ??
        [3, 2, 1].find((i) => !held.some((x) => x.host === names[i] && x.diskful))!;
      const host = ["alpha", "bravo", "charlie", "delta"][hostId];
      const a = tc.vmBase + 62, b = tc.vmBase + 63;
      const disk = cdromDisk(tc, 1, imageId, 4);
      env.vm(vmInput(tc, a, host, [disk]));
      // VM b is powered off on the same host: its link is there, its device is not open.
      env.vm(vmInput(tc, b, host, [disk], { state: 8, lcmState: 0 }));
      const oned = env.c.oned.state;
      const image = (vms: number[]) =>
        oned.putImage(buildImageXml({
          id: imageId,
          type: 1,
          source: img.source,
          datastoreId: tc.imageDs,
          state: 2,
          vms,
        }));
      image([a, b]);
      const hostXml = oned.hosts.get(hostId)!;
      oned.putHost(buildHostXml({
        id: hostId,
        name: host,
        vms: [a, b],
        template: { SP_OURID: String(hostId + 1) },
      }));
      const attachedFor = async (vmId: number) => {
        const vol = volumeOf(tc, vmId, 1, imageId, "CDROM");
        return (await b0.attachments(vol)).some((x) => x.host === host && !x.tieBreaker);
      };
      try {
        for (const id of [a, b]) {
          await env.ok(tc, "ln", [
            `alpha:${img.source}`,
            diskArg(host, tc.systemDs, id, 1),
            id,
            tc.imageDs,
          ]);
        }
        await env.ok(tc, "delete", [diskArg(host, tc.systemDs, a, 1), a, tc.imageDs]);
        const linkB = env.c.hostPath(host, `${vmDir(tc.systemDs, b)}/disk.1`);
        assert.ok(await attachedFor(b), `${tc.driver}: CDROM detached under powered-off VM ${b}`);
        assert.equal(await shaOf(linkB, data.length), await shaBytes(data));
        // The last VM out detaches it (VM a is gone from the image's list).
        image([b]);
        await env.ok(tc, "delete", [diskArg(host, tc.systemDs, b, 1), b, tc.imageDs]);
        assert.equal(await attachedFor(b), false, `${tc.driver}: detached by the last user`);
        assert.ok(await b0.getVolume(img.volume), "the image is never deleted");
      } finally {
        oned.putHost(hostXml);
      }
    }
  });

  it("item 5: a snapshot whose reply was lost is taken; one oned dropped is cleaned", async () => {
    for (const tc of CASES) {
      const imageId = tc.vmBase + 64, vmId = tc.vmBase + 64;
      const img = await env.image(tc, imageId, 4, pattern(vmId, 4096));
      const vm = (ids: number[]) =>
        env.vm(vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, imageId, 4)], {
          state: 8,
          lcmState: 0,
          snapshots: [{ diskId: 0, snapshots: ids.map((id) => ({ id })) }],
        }));
      const disk = diskArg("bravo", tc.systemDs, vmId, 0);
      // oned asks for snapshot 0 (it is in its list while the driver runs); the reply is lost.
      vm([0]);
      await env.ok(tc, "ln", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
      const b = env.backend(tc);
      const ours = async () =>
        (await b.listSnapshots(img.volume)).map((s) => tc.profile.snapshotId(img.volume, s.name))
          .filter((id) => id !== null).sort();
      const undo = tc.driver === "storpool"
        ? (env.c.storpool.addFault({ method: "VolumeSnapshot", dropAfterApply: true, times: 1 }),
          () => env.c.storpool.clearFaults())
        : (env.c.linstor.addFault({
          method: "POST",
          path: `/${img.volume}/snapshots$`,
          action: "drop",
          times: 1,
        }),
          () => env.c.linstor.clearFaults());
      try {
        await env.ok(tc, "snap_create", [disk, 0, vmId, tc.imageDs]);
      } finally {
        undo();
      }
      assert.deepEqual(await ours(), [0]);
      // An earlier snap_create of id 1 failed after the store took it: oned dropped it and
      // gives the next id (2). The next snap_create removes the orphan.
      await b.createSnapshot(img.volume, tc.profile.snapshotName(img.volume, 1));
      vm([0, 2]);
      const r = await env.ok(tc, "snap_create", [disk, 2, vmId, tc.imageDs]);
      assert.match(r.stderr, /oned does not know it/);
      assert.deepEqual(await ours(), [0, 2], `${tc.driver}: orphan 1 removed, 0 kept`);
      await env.ok(tc, "delete", [disk, vmId, tc.imageDs]);
    }
  });

  it("item 6: a dead store fails tm clone within its deadline, with one short line", async () => {
    const dead = deadPort();
    // linstor_un waits the same 20 s as linstor: one LINSTOR profile is enough.
    for (const tc of CASES.filter((c) => c.driver !== "linstor_un")) {
      const dsId = tc.imageDs + 80;
      const template: Record<string, string> = tc.driver === "storpool"
        ? {
          SP_API_HTTP_HOST: "127.0.0.1",
          SP_API_HTTP_PORT: String(dead),
          SP_AUTH_TOKEN: "t0ken",
        }
        : {
          [tc.driver === "linstor" ? "LINSTOR_CONTROLLERS" : "LS_CONTROLLERS"]:
            `linstor://127.0.0.1:${dead}`,
          [tc.driver === "linstor" ? "LINSTOR_RESOURCE_GROUP" : "RESOURCE_GROUP"]: "one_image",
        };
      env.c.oned.state.putDatastore(buildDatastoreXml({
        id: dsId,
        name: `dead_${tc.driver}`,
        tmMad: tc.driver,
        dsMad: tc.driver,
        type: "IMAGE",
        template: { ...template, DISK_TYPE: "BLOCK", BRIDGE_LIST: "alpha" },
      }));
      const vmId = tc.vmBase + 65;
      const disk = { ...cloneDisk(tc, 0, tc.vmBase + 65, 4, 4), datastoreId: dsId };
      env.vm(vmInput(tc, vmId, "bravo", [disk]));
      const t0 = Date.now();
      const r = await env.fails(tc, "clone", [
        `alpha:${disk.source}`,
        diskArg("bravo", tc.systemDs, vmId, 0),
        vmId,
        dsId,
      ]);
      const ms = Date.now() - t0;
      const line = r.stderr.split("\n").filter((l) => l && !l.startsWith("INFO")).join("");
      // The deadline: 20 s of "connection refused" (a controller restarting), then + 5 s.
      assert.ok(ms < 25_000, `${tc.driver}: failed after ${ms} ms`);
      assert.ok(line.length < 300, `${tc.driver}: ${line.length} chars: ${line}`);
      assert.equal(line.match(/refused/gi)?.length, 1, `${tc.driver}: one cause, once: ${line}`);
    }
  });

  it("item 7: a LINSTOR_TOKEN with a line break never shows in the error", async () => {
    const tc = CASES.find((c) => c.driver === "linstor")!;
    const vmId = tc.vmBase + 66;
    env.vm(vmInput(tc, vmId, "bravo", [cloneDisk(tc, 0, tc.vmBase + 66, 4, 4)]));
    const r = await env.c.run("tm", tc.driver, "clone", [
      `alpha:${tc.profile.imageSource(tc.vmBase + 66, tc.imageDs)}`,
      diskArg("bravo", tc.systemDs, vmId, 0),
      String(vmId),
      String(tc.imageDs),
    ], { env: { LINSTOR_TOKEN: "tok-Sekr1t-A\r\nX-Inject: Sekr1t-B" } });
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /Sekr1t|X-Inject/, r.stderr);
    assert.match(r.stderr, /LINSTOR_TOKEN contains a line break/);
  });

  it("item 8: tm delete removes only <BASE_PATH>/<vm> of the system datastore", async () => {
    for (const tc of CASES) {
      const vmId = tc.vmBase + 67;
      const victim = `/etc/${tc.systemDs}/${vmId}`;
      const real = env.c.hostPath("bravo", victim);
      await Deno.mkdir(real, { recursive: true });
      await Deno.writeTextFile(`${real}/keep`, "precious");
      env.vm(vmInput(tc, vmId, "bravo", []));
      await env.fails(tc, "delete", [`bravo:${victim}`, vmId, tc.systemDs], /BASE_PATH/);
      assert.equal(await Deno.readTextFile(`${real}/keep`), "precious", `${tc.driver}: rm -rf ran`);
      // The real VM directory goes.
      const dir = env.c.hostPath("bravo", vmDir(tc.systemDs, vmId));
      await Deno.mkdir(dir, { recursive: true });
      await env.ok(tc, "delete", [`bravo:${vmDir(tc.systemDs, vmId)}`, vmId, tc.systemDs]);
      assert.equal(await present(dir), false);
    }
  });
});

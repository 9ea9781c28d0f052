/**
 * FT matrix, store controller faults (user voice R17, R18, R20; goal "controller restarting"):
 *
 *  - a dropped connection and a 5xx reply on read-only calls, and a store restart (state kept)
 *    right before a read-only action (monitor) and a creating one (tm clone): retried, the
 *    actions succeed;
 *  - a transient StorPool error on the create call is retried;
 *  - a hard failure of the create endpoint during `tm clone`: the action fails with one error
 *    line and leaves nothing half-made (no volume, no temporary snapshot, no attachment); oned's
 *    retry after the fault is gone succeeds;
 *  - failover (LINSTOR): a datastore whose controller list names a dead controller first and
 *    the live one second works for a whole VM life.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { PROFILES, type ScriptedOned, type VmModel } from "../../tools/sim/oned/scripted_oned.ts";
import { inspectStore } from "../../tools/sim/scenario.ts";
import { LinstorClient } from "../../lib/backend/linstor/client.ts";
import {
  assertClean,
  clientAttachments,
  diskSha,
  type FtWorld,
  imageVolumes,
  startWorld,
  storeVolumes,
} from "./helpers.ts";

/** Store-specific fault injection, in the terms of the tests. */
interface Faults {
  /** The next read-only call's connection drops, the one after gets a 5xx. */
  readFaults(): void;
  /** Every create call fails hard from now on. */
  createFails(): void;
  /** The next create call fails with a retryable error (StorPool only). */
  createTransient?(): void;
  /** Store requests that failed or were dropped by the faults (for "the fault fired"). */
  injected(): number;
  clear(): void;
}

function faultsFor(oned: ScriptedOned): Faults {
  if (oned.store === "linstor") {
    const sim = oned.cluster.linstor;
    let base = 0;
    const reads = () =>
      Object.entries(sim.byRoute).filter(([k]) => k.startsWith("GET ")).reduce(
        (a, [, v]) => a + v,
        0,
      );
    return {
      readFaults() {
        base = reads();
        sim.addFault({ method: "GET", path: ".*", action: "drop", times: 1 });
        sim.addFault({ method: "GET", path: ".*", action: "error", status: 500, times: 1 });
      },
      createFails() {
        sim.addFault({
          method: "POST",
          path: "^/v1/resource-(definitions|groups)",
          action: "error",
        });
      },
      injected: () => reads() - base,
      clear: () => sim.clearFaults(),
    };
  }
  const sim = oned.cluster.storpool;
  let base = 0;
  return {
    readFaults() {
      base = sim.stats().errors;
      for (const method of ["VolumesList", "AttachmentsList", "VolumeTemplatesStatus"]) {
        sim.addFault({ method, drop: true, times: 1 });
        sim.addFault({ method, status: 503, times: 1 });
      }
    },
    createFails() {
      sim.addFault({ method: "VolumeCreate", status: 500, errorName: "internalError" });
    },
    createTransient() {
      base = sim.stats().errors;
      sim.addFault({ method: "VolumeCreate", status: 500, transient: true, times: 1 });
    },
    injected: () => sim.stats().errors - base,
    clear: () => sim.clearFaults(),
  };
}

/**
 * Restart the store (state kept), down for `ms`; the port refuses connections as soon as this
 * returns (the returned promise resolves when it listens again).
 */
function restartStore(oned: ScriptedOned, ms: number): Promise<void> {
  const sim = oned.store === "linstor" ? oned.cluster.linstor : oned.cluster.storpool;
  return sim.restart(ms);
}

for (const profile of PROFILES) {
  describe(`${profile}: store controller faults`, () => {
    let w: FtWorld;
    let f: Faults;
    before(async () => {
      w = await startWorld(profile);
      f = faultsFor(w.oned);
    });
    after(async () => {
      f?.clear();
      await w?.oned.close();
    });

    async function cloneVm(host = "bravo"): Promise<VmModel> {
      const vm = await w.oned.instantiate({ host, disks: [{ image: w.image.id }], context: false });
      assert.equal(await diskSha(w.oned, vm, 0, w.imageLen), w.imageSha, "clone bytes");
      return vm;
    }

    it("dropped connection and 5xx on reads are retried (monitor, clone, delete)", async () => {
      const { oned } = w;
      f.readFaults();
      const cap = await oned.monitorDatastore(oned.imageDs);
      assert.ok(cap.totalMb > 0, "monitor answered");
      f.readFaults();
      const vm = await cloneVm();
      f.readFaults();
      await oned.terminate(vm.id);
      assert.ok(f.injected() >= 1, "the faults fired");
      f.clear();
      await assertClean(oned);
    });

    it("a store restart before a read-only action and before tm clone is survived", async () => {
      const { oned } = w;
      let up = restartStore(oned, 300);
      const cap = await oned.monitorDatastore(oned.imageDs);
      assert.ok(cap.totalMb > 0);
      await up;
      up = restartStore(oned, 300);
      const vm = await cloneVm("charlie");
      await up;
      await oned.terminate(vm.id);
      await assertClean(oned);
    });

    if (profile === "storpool") {
      it("a transient error on VolumeCreate is retried", async () => {
        const { oned } = w;
        f.createTransient!();
        const vm = await cloneVm();
        assert.equal(f.injected(), 1, "the transient error was answered once");
        await oned.terminate(vm.id);
        await assertClean(oned);
      });
    }

    it("a hard failure of the create call fails tm clone cleanly; the retry works", async () => {
      const { oned } = w;
      const images = imageVolumes(oned);
      f.createFails();
      let vm: VmModel | undefined;
      await assert.rejects(
        oned.instantiate({ host: "delta", disks: [{ image: w.image.id }], context: false }),
        (e: Error) => {
          assert.match(e.message, /clone/);
          return true;
        },
      );
      vm = [...oned.vms.values()].at(-1)!;
      const call = oned.calls.at(-1)!;
      assert.equal(call.script, "clone");
      assert.equal(call.ok, false);
      assert.ok(call.info && call.info !== "-", "oned gets an error text");
      assert.ok(!call.info.includes("\n"), `one line: ${call.info}`);
      assert.deepEqual(call.complaints, [], "a clean failure report");
      assert.deepEqual(storeVolumes(oned), images, "no volume half-made");
      assert.deepEqual(inspectStore(oned).snapshots, [], "no temporary snapshot left");
      assert.deepEqual(clientAttachments(oned), [], "no attachment left");
      assert.equal(
        await oned.linkedVolume("delta", `${oned.vmDir(vm)}/disk.0`),
        null,
        "no disk link on the host",
      );

      // The fault is gone; oned retries the prolog (recover --retry).
      f.clear();
      const line = `CLONE ${vm.disks[0].tmMad} ${oned.frontend}:${vm.disks[0].source} ` +
        `delta:${oned.vmDir(vm)}/disk.0 ${vm.id} ${vm.disks[0].dsId}`;
      const retry = await oned.tmLine("retry", line);
      assert.ok(retry.ok, `the retried clone succeeds: ${retry.stderr}`);
      assert.equal(await diskSha(oned, vm, 0, w.imageLen), w.imageSha);
      await oned.terminate(vm.id);
      vm = undefined;
      await assertClean(oned);
    });

    if (profile === "linstor") {
      it("a LINSTOR write whose connection is refused (restart) is sent again", async () => {
        const sim = w.oned.cluster.linstor;
        const c = new LinstorClient({ controllers: sim.url, retryDelayMs: 150 });
        try {
          const up = sim.restart(300);
          // In-process, the first attempt hits the closed port at once.
          const r = await c.write("POST", "/v1/resource-groups/one_image/query-size-info", {});
          await up;
          assert.equal(r.status, 200, "answered once the controller is back");
        } finally {
          c.close();
        }
      });
    }

    if (profile !== "storpool") {
      it("failover: a dead controller listed first, the live one second", async () => {
        const { oned } = w;
        const attr = profile === "linstor" ? "LINSTOR_CONTROLLERS" : "LS_CONTROLLERS";
        const live = oned.cluster.linstor.url;
        const dead = `linstor://127.0.0.1:${await deadPort()}`;
        const state = oned.cluster.oned.state;
        const saved = new Map<number, string>();
        for (const id of [oned.imageDs, oned.systemDs]) {
          const xml = state.datastores.get(id)!;
          saved.set(id, xml);
          const next = xml.replace(
            new RegExp(`<${attr}>(<!\\[CDATA\\[)?${escapeRe(live)}(\\]\\]>)?</${attr}>`),
            `<${attr}><![CDATA[${dead},${live}]]></${attr}>`,
          );
          assert.notEqual(next, xml, `${attr} of datastore ${id} rewritten`);
          state.putDatastore(next);
        }
        try {
          const cap = await oned.monitorDatastore(oned.imageDs);
          assert.ok(cap.totalMb > 0);
          const vm = await oned.instantiate({
            host: "bravo",
            disks: [{ image: w.image.id }, { volatile: "fs", sizeMb: 4 }],
          });
          assert.equal(await diskSha(oned, vm, 0, w.imageLen), w.imageSha);
          await oned.terminate(vm.id);
        } finally {
          for (const xml of saved.values()) state.putDatastore(xml);
        }
        await assertClean(oned);
      });
    }
  });
}

/** A local TCP port nobody listens on. */
async function deadPort(): Promise<number> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await Promise.resolve();
  return port;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

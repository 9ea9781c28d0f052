/**
 * DISKSNAPSHOT_LIMIT in tm snap_create / snap_create_live through the real programs, for every
 * profile: without a limit nothing is listed (REST budget); with one, the call that would pass
 * it fails in one line and creates nothing; a retried snapshot id does not count itself, other
 * tools' snapshots do not count; precedence VM USER_TEMPLATE > image DS > system DS > env.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { RunOutput } from "../../../tools/sim/cluster.ts";
import { assertOneLineFailure, runWithStats } from "../../support/cluster.ts";
import type { Case } from "./helpers.ts";
import { diskArg, forEachCase, pattern, persistentDisk, useEnv, vmInput } from "./helpers.ts";

describe("tm snap_create DISKSNAPSHOT_LIMIT", () => {
  const env = useEnv();

  /** Run a TM action with extra environment; returns the output and its REST count. */
  function tm(tc: Case, action: string, args: (string | number)[], e = {}) {
    return runWithStats(env.c, "tm", tc.driver, action, args, { env: e, tag: "limit" });
  }

  function refused(r: RunOutput, re: RegExp) {
    assertOneLineFailure(r, re, { ignoreInfo: true });
  }

  /** Set (or clear) a datastore template attribute in the simulated oned. */
  function setDsAttr(dsId: number, name: string, value: string | null) {
    let xml = env.c.oned.state.datastores.get(dsId)!;
    xml = xml.replace(new RegExp(`<${name}>.*?</${name}>`, "s"), "");
    if (value !== null) {
      xml = xml.replace("</TEMPLATE>", `<${name}><![CDATA[${value}]]></${name}></TEMPLATE>`);
    }
    env.c.oned.state.putDatastore(xml);
  }

  it("refuses at the limit, creates nothing; precedence; no listing without a limit", async () => {
    await forEachCase(async (tc) => {
      const imageId = tc.vmBase + 50;
      const vmId = tc.vmBase + 50;
      const img = await env.image(tc, imageId, 4, pattern(vmId, 4096));
      const vm = (user: Record<string, string | number> = {}) =>
        env.vm(vmInput(tc, vmId, "bravo", [persistentDisk(tc, 0, imageId, 4)], {
          lcmState: 51,
          userTemplate: user,
        }));
      vm();
      const disk = diskArg("bravo", tc.systemDs, vmId, 0);
      await env.ok(tc, "ln", [`alpha:${img.source}`, disk, vmId, tc.imageDs]);
      const args = (id: number) => [disk, id, vmId, tc.imageDs];
      const b = env.backend(tc);
      const ours = async () =>
        (await b.listSnapshots(img.volume)).map((s) => s.name).filter((n) =>
          tc.profile.snapshotId(img.volume, n) !== null
        ).sort();

      // no limit anywhere: nothing listed
      const r0 = await tm(tc, "snap_create", args(0));
      assert.equal(r0.code, 0, r0.stderr);
      assert.ok(r0.rest >= 1 && r0.rest <= 3, `snap_create without a limit: ${r0.rest} REST`);

      // a snapshot made by someone else does not count
      await b.createSnapshot(img.volume, "manual-keep");
      const lim = { DISKSNAPSHOT_LIMIT: "2" };
      const r1 = await tm(tc, "snap_create", args(1), lim);
      assert.equal(r1.code, 0, r1.stderr);
      assert.ok(r1.rest <= 3, `snap_create with a limit: ${r1.rest} REST calls`);
      assert.ok(r0.rest < r1.rest, "without a limit the snapshots are not listed");
      // a retried id does not count itself
      assert.equal((await tm(tc, "snap_create", args(1), lim)).code, 0);
      const two = [0, 1].map((i) => tc.profile.snapshotName(img.volume, i)).sort();
      assert.deepEqual(await ours(), two);

      for (const action of ["snap_create", "snap_create_live"]) {
        refused(
          await tm(tc, action, args(2), lim),
          /disk 0 of VM \d+ has 2 snapshots: DISKSNAPSHOT_LIMIT is 2 \(the driver environment\)/,
        );
      }
      assert.deepEqual(await ours(), two, "nothing created");

      // the system DS beats the environment, the image DS beats the system DS
      setDsAttr(tc.systemDs, "DISKSNAPSHOT_LIMIT", "1");
      refused(
        await tm(tc, "snap_create", args(2), { DISKSNAPSHOT_LIMIT: "9" }),
        new RegExp(`DISKSNAPSHOT_LIMIT is 1 \\(datastore ${tc.systemDs}\\)`),
      );
      setDsAttr(tc.imageDs, "DISKSNAPSHOT_LIMIT", "2");
      refused(
        await tm(tc, "snap_create", args(2)),
        new RegExp(`DISKSNAPSHOT_LIMIT is 2 \\(datastore ${tc.imageDs}\\)`),
      );
      // the VM's USER_TEMPLATE beats both
      vm({ DISKSNAPSHOT_LIMIT: 3 });
      const r3 = await tm(tc, "snap_create", args(2));
      assert.equal(r3.code, 0, r3.stderr);
      refused(await tm(tc, "snap_create", args(3)), /DISKSNAPSHOT_LIMIT is 3 \(VM \d+ user/);
      vm({ DISKSNAPSHOT_LIMIT: "many" });
      refused(await tm(tc, "snap_create", args(3)), /must be a non-negative integer/);
      setDsAttr(tc.systemDs, "DISKSNAPSHOT_LIMIT", null);
      setDsAttr(tc.imageDs, "DISKSNAPSHOT_LIMIT", null);
      assert.equal((await ours()).length, 3);
    });
  });
});

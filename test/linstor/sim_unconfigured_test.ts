/**
 * The simulated LINSTOR controller lists the features it has no objects of (remotes, backups,
 * schedules, external files, physical storage) as a controller where none was configured, so
 * that LINBIT's `linstor remote list`, `schedule list`, `file list`, `physical-storage list` and
 * `backup list` work against it (tools/sim/linstor/unconfigured.ts).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { MASK_ERROR, parseJsonLossless } from "../../lib/backend/linstor/api_call_rc.ts";

async function get(sim: LinstorSim, path: string): Promise<{ status: number; data: unknown }> {
  const r = await fetch(sim.url + path);
  const text = await r.text();
  return { status: r.status, data: text ? parseJsonLossless(text) : undefined };
}

/** A ret_code as the controller sends it (signed 64 bits). */
const ret = (v: bigint) => BigInt.asIntN(64, v);

describe("LINSTOR simulator: features without objects", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"] });
  });
  after(async () => {
    await sim.stop();
  });

  it("lists no remotes, of every kind", async () => {
    assert.deepEqual(await get(sim, "/v1/remotes"), {
      status: 200,
      data: { s3_remotes: [], linstor_remotes: [], ebs_remotes: [] },
    });
    for (const kind of ["s3", "linstor", "ebs"]) {
      assert.deepEqual(await get(sim, `/v1/remotes/${kind}`), { status: 200, data: [] });
    }
  });

  it("has no remote to list backups of (FAIL_NOT_FOUND_REMOTE in the backup object, 404)", async () => {
    const r = await get(sim, "/v1/remotes/default/backups");
    assert.equal(r.status, 404);
    const [e] = r.data as { ret_code: bigint; message: string }[];
    // MASK_BACKUP (0x80000) and FAIL_NOT_FOUND_REMOTE (321), as linstor-common defines them
    assert.equal(e.ret_code, ret(MASK_ERROR | 0x80000n | 321n));
    assert.equal(
      e.message,
      "The remote default does not exist. Please provide a valid remote or create a new one.",
    );
  });

  it("lists no schedules, no external files, no unused devices; a named file is not found", async () => {
    assert.deepEqual(await get(sim, "/v1/schedules"), { status: 200, data: { data: [] } });
    assert.deepEqual(await get(sim, "/v1/files"), { status: 200, data: [] });
    assert.deepEqual(await get(sim, "/v1/physical-storage"), { status: 200, data: [] });
    const r = await get(sim, `/v1/files/${encodeURIComponent("/etc/lvm/lvm.conf")}`);
    assert.equal(r.status, 404);
    const [e] = r.data as { ret_code: bigint; message: string }[];
    assert.equal(e.ret_code, ret(MASK_ERROR | 998n));
    assert.equal(e.message, "External file '/etc/lvm/lvm.conf' not found.");
  });

  it("still refuses to make them (not modelled)", async () => {
    const r = await fetch(sim.url + "/v1/remotes/s3", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ remote_name: "s3", endpoint: "e", bucket: "b", region: "r" }),
    });
    await r.body?.cancel();
    assert.equal(r.status, 405);
  });
});

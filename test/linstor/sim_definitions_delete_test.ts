/**
 * The simulated LINSTOR controller deletes volume definitions (CtrlVlmDfnDeleteApiCallHandler:
 * LINBIT's `linstor volume-definition delete`) and changes and deletes volume groups
 * (CtrlVlmGrpApiCallHandler: `linstor volume-group set-property`, `drbd-options`, `delete`) as
 * the controller does: its entries and masks, its refusals, and the effect everywhere the state
 * shows — listings, the resources' volumes, data files, device links and the saved state.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { loadState } from "../../tools/sim/linstor/persistence.ts";
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
  stringifyJsonLossless,
} from "../../lib/backend/linstor/api_call_rc.ts";
import { simCall, type SimEntry } from "./helpers.ts";
import { lexists } from "../support/files.ts";

/** Requests that must succeed (setting up a case). */
async function setUp(sim: LinstorSim, steps: [string, string, unknown?][]): Promise<void> {
  for (const [m, p, b] of steps) {
    const r = await simCall(sim, m, p, b);
    assert.ok(r.status < 300, `${m} ${p}: ${stringifyJsonLossless(r.data)}`);
  }
}

/** A ret_code as the controller sends it (signed 64 bits). */
const code = (v: bigint) => BigInt.asIntN(64, v);
/** Each entry's ret_code and message. */
const pairs = (es: SimEntry[]) => es.map((e) => [e.ret_code, e.message]);

/** The volume numbers of `rd`'s volume definitions. */
async function vdNumbers(sim: LinstorSim, rd: string): Promise<number[]> {
  const r = await simCall(sim, "GET", `/v1/resource-definitions/${rd}/volume-definitions`);
  return (r.data as { volume_number: number }[]).map((v) => v.volume_number);
}

const VD_DEL = OBJ.VLM_DFN | MASK_DEL;

describe("LINSTOR simulator: volume definitions deleted", () => {
  let root: string;
  let sim: LinstorSim;
  const opts = () => ({
    nodes: ["alpha", "bravo"],
    stateDir: join(root, "state"),
    hostsRoot: join(root, "hosts"),
  });
  const link = (node: string, nr: number) =>
    join(root, "hosts", node, "dev", "drbd", "by-res", "r1", String(nr));
  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-lsvddel-" });
    sim = await startLinstorSim(opts());
    await setUp(sim, [
      ["POST", "/v1/resource-definitions", { resource_definition: { name: "r1" } }],
      ["POST", "/v1/resource-definitions/r1/volume-definitions", {
        volume_definition: { size_kib: 10240 },
      }],
      ["POST", "/v1/resource-definitions/r1/volume-definitions", {
        volume_definition: { size_kib: 20480 },
      }],
      ["POST", "/v1/resource-definitions/r1/resources", [
        { resource: { node_name: "alpha", props: { StorPoolName: "DfltStorPool" } } },
        { resource: { node_name: "bravo", props: { StorPoolName: "DfltStorPool" } } },
      ]],
    ]);
  });
  after(async () => {
    await sim.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  });

  it("deletes the definition with every resource's volume of its number, data file and device links, also in the saved state", async () => {
    const vd1 = (await simCall(sim, "GET", "/v1/resource-definitions/r1/volume-definitions/1"))
      .data as { uuid: string; layer_data: { data?: { minor_number?: number } }[] };
    const minor = vd1.layer_data[0].data!.minor_number!;
    const data1 = sim.dataPath("r1", 1);
    assert.ok(await lexists(data1));
    assert.ok(await lexists(link("alpha", 1)));
    assert.ok(await lexists(join(root, "hosts", "bravo", "dev", `drbd${minor}`)));

    const r = await simCall(sim, "DELETE", "/v1/resource-definitions/r1/volume-definitions/1");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const own = "Volume definition with number '1' of resource definition 'r1'";
    assert.deepEqual(pairs(r.entries), [
      [code(VD_DEL | 2n), `${own} marked for deletion.`],
      [code(VD_DEL | 3n), "Deleted volume 1 of 'r1' on 'alpha'"],
      [code(VD_DEL | 3n), "Deleted volume 1 of 'r1' on 'bravo'"],
      [code(VD_DEL | 2n), `${own} deleted.`],
    ]);
    assert.equal(r.entries[0].details, `${own} UUID is: ${vd1.uuid}`);
    assert.equal(r.entries[3].details, `${own} UUID was: ${vd1.uuid}`);
    assert.deepEqual(r.entries[0].obj_refs, { RscDfn: "r1", VlmNr: "1" });

    // gone from the listings and from every resource's volumes
    assert.deepEqual(await vdNumbers(sim, "r1"), [0]);
    assert.equal(
      (await simCall(sim, "GET", "/v1/resource-definitions/r1/volume-definitions/1")).status,
      404,
    );
    const view = (await simCall(sim, "GET", "/v1/view/resources?resources=r1")).data as {
      node_name: string;
      volumes: { volume_number: number }[];
    }[];
    assert.deepEqual(
      view.map((x) => [x.node_name, x.volumes.map((v) => v.volume_number)]).sort(),
      [["alpha", [0]], ["bravo", [0]]],
    );
    // its data file and device links went; volume 0's stay
    assert.equal(await lexists(data1), false);
    assert.equal(await lexists(link("alpha", 1)), false);
    assert.equal(await lexists(link("bravo", 1)), false);
    assert.equal(await lexists(join(root, "hosts", "bravo", "dev", `drbd${minor}`)), false);
    assert.ok(await lexists(link("alpha", 0)));

    // the saved state, and a simulator started on it again
    const saved = await loadState(opts().stateDir);
    assert.deepEqual(saved?.rds.find((x) => x.name === "r1")?.vds.map((v) => v.nr), [0]);
    await sim.stop();
    sim = await startLinstorSim(opts());
    assert.deepEqual(await vdNumbers(sim, "r1"), [0]);
    assert.equal(await lexists(link("alpha", 1)), false);
  });

  it("answers a missing number or definition with WARN_NOT_FOUND (200), the description in the details", async () => {
    for (const [rd, nr] of [["r1", 1], ["nope", 0]] as const) {
      const r = await simCall(
        sim,
        "DELETE",
        `/v1/resource-definitions/${rd}/volume-definitions/${nr}`,
      );
      assert.equal(r.status, 200);
      const description = `Resource definition: ${rd}, Volume number: ${nr}`;
      assert.deepEqual(pairs(r.entries), [
        [code(MASK_WARN | VD_DEL | BigInt(CODE.WARN_NOT_FOUND)), `${description} not found.`],
      ]);
      assert.equal(r.entries[0].details, description);
    }
  });

  it("refuses while a resource is in use, and with the ZFS delete strategy DELETE while snapshots exist; a rollback brings it back", async () => {
    await setUp(sim, [["POST", "/v1/resource-definitions/r1/volume-definitions", {
      volume_definition: { volume_number: 1, size_kib: 20480 },
    }]]);
    const path = "/v1/resource-definitions/r1/volume-definitions/1";
    assert.ok(sim.setInUse("r1", "bravo", true));
    let r = await simCall(sim, "DELETE", path);
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | OBJ.RSC_DFN | MASK_DEL | BigInt(CODE.FAIL_IN_USE)),
      "Resource 'r1' on node 'bravo' is still in use.",
    ]]);
    assert.equal(r.entries[0].correction, "Un-mount resource 'r1' on the node 'bravo'.");
    assert.equal(r.entries[0].details, "Resource definition: r1, Volume number: 1");
    assert.equal(r.entries[0].error_report_ids?.length, 1);
    sim.setInUse("r1", "bravo", false);
    assert.deepEqual(await vdNumbers(sim, "r1"), [0, 1]);

    const strategy = (value: string | null) =>
      simCall(
        sim,
        "PUT",
        "/v1/resource-definitions/r1",
        value === null
          ? { delete_props: ["StorDriver/Zfs/DeleteStrategy"] }
          : { override_props: { "StorDriver/Zfs/DeleteStrategy": value } },
      );
    await setUp(sim, [["POST", "/v1/resource-definitions/r1/snapshots", { name: "s1" }]]);
    assert.equal((await strategy("Delete")).status, 200);
    r = await simCall(sim, "DELETE", path);
    assert.equal(r.status, 500);
    // FAIL_EXISTS_SNAPSHOT (516), as linstor-common defines it
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | VD_DEL | 516n),
      "Cannot use DELETE strategy since the resource definition 'r1' still has snapshots",
    ]]);
    assert.deepEqual(await vdNumbers(sim, "r1"), [0, 1]);
    assert.equal((await strategy(null)).status, 200);
    r = await simCall(sim, "DELETE", path);
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(await vdNumbers(sim, "r1"), [0]);
    // the snapshot keeps its volume, and a rollback to it makes the definition again
    const snap = (await simCall(sim, "GET", "/v1/resource-definitions/r1/snapshots/s1")).data as {
      volume_definitions: { volume_number: number }[];
    };
    assert.deepEqual(snap.volume_definitions.map((v) => v.volume_number), [0, 1]);
    r = await simCall(sim, "POST", "/v1/resource-definitions/r1/snapshot-rollback/s1");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(await vdNumbers(sim, "r1"), [0, 1]);
    assert.ok(await lexists(link("alpha", 1)));
  });

  it("warns for a satellite that is not connected, which removes its devices when it is back", async () => {
    assert.ok(sim.setNodeOnline("bravo", false));
    const r = await simCall(sim, "DELETE", "/v1/resource-definitions/r1/volume-definitions/1");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(pairs(r.entries).slice(1, 4), [
      [code(VD_DEL | 3n), "Deleted volume 1 of 'r1' on 'alpha'"],
      [code(MASK_WARN | VD_DEL | 1002n), "No active connection to satellite 'bravo'"],
      [code(VD_DEL | 3n), "Deleted volume 1 of 'r1' on 'bravo'"],
    ]);
    assert.equal(await lexists(link("alpha", 1)), false);
    assert.ok(await lexists(link("bravo", 1)));
    sim.setNodeOnline("bravo", true);
    assert.equal(await lexists(link("bravo", 1)), false);
  });

  it("takes the volume number as the REST layer does: not a number 404, out of range FAIL_INVLD_VLM_NR", async () => {
    let r = await simCall(sim, "DELETE", "/v1/resource-definitions/r1/volume-definitions/x");
    assert.equal(r.status, 404);
    assert.equal(
      r.entries[0].message,
      "Path '/v1/resource-definitions/r1/volume-definitions/x' not found on server.",
    );
    r = await simCall(sim, "DELETE", "/v1/resource-definitions/r1/volume-definitions/65535");
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | VD_DEL | 205n),
      "The given volume number '65535' is invalid. Valid range from 0 to 65534",
    ]]);
    assert.deepEqual(await vdNumbers(sim, "r1"), [0]);
    // the volume definition's modify converts it the same way
    r = await simCall(sim, "PUT", "/v1/resource-definitions/r1/volume-definitions/x", {});
    assert.equal(r.status, 404);
    r = await simCall(sim, "PUT", "/v1/resource-definitions/r1/volume-definitions/65535", {});
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | OBJ.VLM_DFN | MASK_MOD | 205n),
      "The given volume number '65535' is invalid. Valid range from 0 to 65534",
    ]]);
  });
});

describe("LINSTOR simulator: volume groups changed and deleted", () => {
  let sim: LinstorSim;
  const vgPath = (nr: number | string) => `/v1/resource-groups/g1/volume-groups/${nr}`;
  const vg = async (nr: number) =>
    (await simCall(sim, "GET", vgPath(nr))).data as {
      props: Record<string, string>;
      flags: string[];
      uuid: string;
    };
  /** The reply's context: a creation of the group's volume groups (MASK_CRT, MASK_VLM_GRP). */
  const VG_CRT = OBJ.VLM_GRP | MASK_CRT;
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"] });
    await setUp(sim, [
      ["POST", "/v1/resource-groups", { name: "g1", select_filter: { place_count: 2 } }],
      ["POST", "/v1/resource-groups/g1/volume-groups", {}],
      ["POST", "/v1/resource-groups/g1/volume-groups", {}],
    ]);
  });
  after(async () => {
    await sim.stop();
  });

  it("sets and deletes properties under the volume definition whitelist, adds and removes GROSS_SIZE", async () => {
    let r = await simCall(sim, "PUT", vgPath(0), {
      override_props: { "DrbdOptions/Disk/disk-flushes": "No", "Aux/a": "b" },
    });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const g1 = (await simCall(sim, "GET", "/v1/resource-groups/g1")).data as { uuid: string };
    assert.deepEqual(pairs(r.entries), [
      [
        code(OBJ.VLM_DFN | MASK_CRT | 1n),
        "Successfully set property key(s): DrbdOptions/Disk/disk-flushes,Aux/a",
      ],
      [code(VG_CRT | 3n), "Resource group 'g1' modified."],
    ]);
    assert.equal(r.entries[1].details, `Resource group 'g1' UUID is: ${g1.uuid}`);
    assert.deepEqual((await vg(0)).props, { "DrbdOptions/Disk/disk-flushes": "no", "Aux/a": "b" });

    r = await simCall(sim, "PUT", vgPath(0), { delete_props: ["Aux/a"], flags: ["GROSS_SIZE"] });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(r.entries[0].ret_code, code(OBJ.VLM_DFN | MASK_DEL | 2n));
    assert.equal(r.entries[0].message, "Successfully deleted property key(s): Aux/a");
    const changed = await vg(0);
    assert.deepEqual(changed.props, { "DrbdOptions/Disk/disk-flushes": "no" });
    assert.deepEqual(changed.flags, ["GROSS_SIZE"]);
    r = await simCall(sim, "PUT", vgPath(0), { flags: ["-GROSS_SIZE"] });
    assert.equal(r.status, 200);
    assert.deepEqual((await vg(0)).flags, []);
    // volume group 1 is untouched
    assert.deepEqual((await vg(1)).props, {});
  });

  it("refuses a key the whitelist lacks or an unknown flag, applying nothing; a missing group is 404", async () => {
    let r = await simCall(sim, "PUT", vgPath(0), {
      override_props: { "Aux/z": "1", "Nope/key": "1" },
    });
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | VG_CRT | BigInt(CODE.FAIL_INVLD_PROP)),
      "Invalid property key: Nope/key",
    ]]);
    assert.equal(r.entries[0].details, "Volume groups for resource group 'g1'");
    assert.deepEqual(r.entries[0].obj_refs, { RscGrp: "g1", VlmNr: "0", VlmGrp: "g1" });
    r = await simCall(sim, "PUT", vgPath(0), {
      override_props: { "Aux/z": "1" },
      flags: ["BOGUS"],
    });
    assert.equal(r.status, 500);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | VG_CRT | BigInt(CODE.FAIL_UNKNOWN_ERROR)),
      "Creation of volume groups for resource group 'g1' failed due to an unhandled exception " +
      "of type IllegalArgumentException. No enum constant " +
      "com.linbit.linstor.core.objects.VolumeGroup.Flags.BOGUS",
    ]]);
    assert.equal((await vg(0)).props["Aux/z"], undefined);

    r = await simCall(sim, "PUT", vgPath(7), { override_props: { "Aux/z": "1" } });
    assert.equal(r.status, 404);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | VG_CRT | BigInt(CODE.FAIL_NOT_FOUND_VLM_GRP)),
      "Volume group 'g1' with volume number '7' not found.",
    ]]);
    r = await simCall(sim, "PUT", "/v1/resource-groups/nope/volume-groups/0", {});
    assert.equal(r.status, 404);
    assert.equal(r.entries[0].message, "Resource group 'nope' not found.");
  });

  it("warns for every resource of the group's definitions on a satellite that is not connected", async () => {
    await setUp(sim, [["POST", "/v1/resource-groups/g1/spawn", {
      resource_definition_name: "sp1",
      volume_sizes: [10240, 10240],
    }]]);
    sim.setNodeOnline("bravo", false);
    try {
      const r = await simCall(sim, "PUT", vgPath(1), { override_props: { "Aux/w": "1" } });
      assert.equal(r.status, 200, stringifyJsonLossless(r.data));
      assert.deepEqual(pairs(r.entries).slice(2), [
        [
          code(MASK_WARN | OBJ.VLM_DFN | MASK_MOD | 1002n),
          "No active connection to satellite 'bravo'",
        ],
      ]);
    } finally {
      sim.setNodeOnline("bravo", true);
    }
  });

  it("deletes a volume group (whatever was spawned from it stays); a missing one is 404; kept in the saved state", async () => {
    const uuid = (await vg(1)).uuid;
    let r = await simCall(sim, "DELETE", vgPath(1));
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    const own = "Volume group with number '1' of resource group 'g1'";
    assert.deepEqual(pairs(r.entries), [[code(VG_CRT | 2n), `${own} deleted.`]]);
    assert.equal(r.entries[0].details, `${own} UUID was: ${uuid}`);
    const list = (await simCall(sim, "GET", "/v1/resource-groups/g1/volume-groups")).data as {
      volume_number: number;
    }[];
    assert.deepEqual(list.map((v) => v.volume_number), [0]);
    assert.deepEqual(await vdNumbers(sim, "sp1"), [0, 1]);
    assert.equal((await loadState(sim.stateDir))?.rgs.find((g) => g.name === "g1")?.vgs.length, 1);

    r = await simCall(sim, "DELETE", vgPath(1));
    assert.equal(r.status, 404);
    assert.deepEqual(pairs(r.entries), [[
      code(MASK_ERROR | VG_CRT | BigInt(CODE.FAIL_NOT_FOUND_VLM_GRP)),
      "Volume group 'g1' with volume number '1' not found.",
    ]]);
    assert.equal(r.entries[0].details, "Volume groups for resource group 'g1'");
    // a spawn now takes one size
    await setUp(sim, [["POST", "/v1/resource-groups/g1/spawn", {
      resource_definition_name: "sp2",
      volume_sizes: [10240],
    }]]);
    assert.deepEqual(await vdNumbers(sim, "sp2"), [0]);
  });
});

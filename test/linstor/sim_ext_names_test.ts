/**
 * The LINSTOR simulator makes a resource name from an external name as the controller does
 * (tools/sim/linstor/ext_names.ts): LINBIT's `linstor.Resource` creates its definitions with an
 * empty name and an `external_name`, and reads the name made from the reply's object refs.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { nameFromExternal } from "../../tools/sim/linstor/ext_names.ts";
import { isLinstorName } from "../../tools/sim/linstor/model.ts";
import { SimApiError } from "../../tools/sim/linstor/replies.ts";
import { parseJsonLossless, rcCode } from "../../lib/backend/linstor/api_call_rc.ts";

const none = () => false;
const made = (ext: string, taken: (n: string) => boolean = none) =>
  nameFromExternal("", ext, taken, none).name;
const LS_UUID = /^LS_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("LINSTOR simulator: resource names made from external names", () => {
  it("keeps a valid name, makes a UUID one LS_ + its canonical form, translates the rest", () => {
    assert.equal(made("web-data_1"), "web-data_1");
    assert.equal(made("0123abcd-1-2-3-4"), "LS_0123ABCD-0001-0002-0003-000000000004");
    // punctuation becomes _, a leading digit or '-' and other bytes become letters
    assert.equal(made("my disk.img"), "my_disk_img");
    assert.equal(made("9lives"), "Flives"); // '9' (57) % 52 = 5
    assert.equal(made("-x"), "tx"); // '-' (45): a letter, not '_'
    assert.equal(made("ü-x"), "JQ-x"); // 0xC3, 0xBC: Java bytes -61, -68; % 52 → 9, 16
    // only the first 48 bytes are used
    assert.equal(made("a".repeat(60)), "a".repeat(48));
    for (const x of ["web-data_1", "my disk.img", "9lives", "ü-x"]) {
      assert.ok(isLinstorName(made(x)));
    }
  });

  it("falls back to LS_ + a random UUID: nothing valid, taken, or an empty external name", () => {
    assert.match(made("1"), LS_UUID); // one byte: too short to be a name
    assert.match(made("web", (n) => n.toLowerCase() === "web"), LS_UUID);
    const empty = nameFromExternal("", "", none, none);
    assert.match(empty.name, LS_UUID);
    assert.equal(empty.ext, undefined, "an empty external name is not kept");
  });

  it("refuses a taken external name, a missing one, and one over 256 bytes", () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof SimApiError);
        return rcCode(e.entries[0].ret_code);
      }
      assert.fail("no error");
    };
    assert.equal(code(() => nameFromExternal("", "x1", none, (x) => x === "x1")), 517);
    assert.equal(code(() => nameFromExternal("named", "x1", none, (x) => x === "x1")), 517);
    assert.equal(code(() => nameFromExternal("", undefined, none, none)), 606);
    assert.equal(code(() => nameFromExternal("", "a".repeat(257), none, none)), 202);
    assert.deepEqual(nameFromExternal("named", undefined, none, none), { name: "named" });
  });
});

describe("LINSTOR simulator: definitions created by external name", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"] });
  });
  after(async () => {
    await sim.stop();
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(sim.url + path, {
      method,
      headers: { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: r.status,
      data: parseJsonLossless(await r.text()) as Record<string, unknown>[],
    };
  };

  it("refuses the names the controller refuses (a digit or '-' first, no letter, too short)", async () => {
    assert.ok(isLinstorName("_x1") && isLinstorName("a-1") && !isLinstorName("1a"));
    assert.ok(!isLinstorName("__") && !isLinstorName("-a") && !isLinstorName("a.b"));
    assert.ok(
      isLinstorName("ab") && !isLinstorName("ab", 3) && !isLinstorName("a".repeat(33), 3, 32),
    );
    const code = async (method: string, path: string, body: unknown) =>
      rcCode((await call(method, path, body)).data[0].ret_code as bigint);
    assert.equal(
      await code("POST", "/v1/resource-definitions", { resource_definition: { name: "1rd" } }),
      202,
    );
    assert.equal(await code("POST", "/v1/resource-groups", { name: "42" }), 237);
    assert.equal(
      await code("POST", "/v1/nodes/alpha/storage-pools", {
        storage_pool_name: "sp",
        provider_kind: "LVM_THIN",
      }),
      208,
    );
    await call("POST", "/v1/resource-groups/DfltRscGrp/spawn", {
      resource_definition_name: "snapme",
      volume_sizes: [4096],
    });
    assert.equal(
      await code("POST", "/v1/resource-definitions/snapme/snapshots", { name: "7" }),
      218,
    );
    assert.equal(
      rcCode(
        (await call("POST", "/v1/resource-definitions/snapme/snapshots", { name: "s7" })).data[0]
          .ret_code as bigint,
      ),
      1,
    );
  });

  it("answers with the name made in the object refs and shows both names", async () => {
    // what python-linstor's Resource sends for a definition it does not find
    let r = await call("POST", "/v1/resource-definitions", {
      resource_definition: { external_name: "vm disk 7", resource_group_name: "DfltRscGrp" },
    });
    assert.equal(r.status, 201);
    assert.deepEqual(r.data[0].obj_refs, { RscDfn: "vm_disk_7" });
    r = await call("GET", "/v1/resource-definitions/vm_disk_7");
    assert.equal((r.data as unknown as { external_name: string }).external_name, "vm disk 7");
    // the same external name again: refused, nothing made
    r = await call("POST", "/v1/resource-definitions", {
      resource_definition: { external_name: "vm disk 7" },
    });
    assert.equal(r.status, 500);
    assert.equal(rcCode(r.data[0].ret_code as bigint), 517);
    // a spawn by external name alone
    r = await call("POST", "/v1/resource-groups/DfltRscGrp/spawn", {
      resource_definition_name: "",
      resource_definition_external_name: "vm disk 8",
      volume_sizes: [4096],
    });
    assert.equal(r.status, 201);
    const names = ((await call("GET", "/v1/resource-definitions")).data as { name: string }[])
      .map((d) => d.name).filter((n) => n.startsWith("vm_")).sort();
    assert.deepEqual(names, ["vm_disk_7", "vm_disk_8"]);
  });
});

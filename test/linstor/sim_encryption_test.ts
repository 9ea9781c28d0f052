/**
 * The simulated LINSTOR controller's master passphrase (`/v1/encryption/passphrase`), as
 * CtrlConfApiCallHandler setPassphrase / enterPassphrase / masterPassphraseStatus answer
 * LINBIT's `linstor encryption create-passphrase`, `modify-passphrase`, `enter-passphrase` and
 * python-linstor's `crypt_status()`: the statuses, the replies and refusals, the controller
 * properties it is kept in, a restart that keeps it set but locked, and a passphrase that
 * shows up in no reply, saved state or error report.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type LinstorSim,
  type SimExchange,
  startLinstorSim,
} from "../../tools/sim/linstor/server.ts";
import { loadState } from "../../tools/sim/linstor/persistence.ts";
import {
  CODE,
  MASK_CRT,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
  stringifyJsonLossless,
} from "../../lib/backend/linstor/api_call_rc.ts";
import { simCall, type SimEntry } from "./helpers.ts";

/** The ret_codes of a reply's entries, as unsigned 64-bit values (the masks' form). */
const codes = (r: { entries: SimEntry[] }) => r.entries.map((e) => BigInt.asUintN(64, e.ret_code));

/** A reply of `status` with one entry: `retCode` (unsigned) and the texts of `fields`. */
function assertOne(
  r: { status: number; entries: SimEntry[]; data: unknown },
  status: number,
  retCode: bigint,
  fields: Partial<Record<"message" | "cause" | "correction", string>>,
): void {
  assert.equal(r.status, status, stringifyJsonLossless(r.data));
  assert.deepEqual(codes(r), [retCode]);
  const keys = Object.keys(fields) as (keyof typeof fields)[];
  assert.deepEqual(Object.fromEntries(keys.map((k) => [k, r.entries[0][k]])), fields);
}
const CTRL = OBJ.CTRL_CONF;
/** ApiConsts: FAIL_EXISTS_CRYPT_PASSPHRASE, FAIL_MISSING_PROPS, PASSPHRASE_ACCEPTED. */
const EXISTS_CRYPT_PASSPHRASE = 512n;
const MISSING_PROPS = 600n;
const ACCEPTED = 4n;
const PATH = "/v1/encryption/passphrase";
const FIRST = "first-Secret-7f3a";
const SECOND = "second-Secret-9c1d";

async function status(sim: LinstorSim): Promise<string> {
  const r = await simCall(sim, "GET", PATH);
  assert.equal(r.status, 200);
  return (r.data as { status: string }).status;
}

/** The controller properties under `encrypted/`. */
async function encryptedProps(sim: LinstorSim): Promise<Record<string, string>> {
  const all = (await simCall(sim, "GET", "/v1/controller/properties")).data as Record<
    string,
    string
  >;
  return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith("encrypted/")));
}

/** Every file's text under `dir`. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) out.push(...await filesUnder(p));
    else if (e.isFile) out.push(await Deno.readTextFile(p));
  }
  return out;
}

describe("LINSTOR simulator: the master passphrase", () => {
  let dir: string;
  let sim: LinstorSim;
  const exchanges: SimExchange[] = [];
  /** The error reports' texts (in memory: read before the restart). */
  const reportTexts: string[] = [];
  const start = async () => {
    sim = await startLinstorSim({
      nodes: [],
      stateDir: join(dir, "linstor"),
      record: (ex) => exchanges.push(ex),
    });
  };
  before(async () => {
    dir = await Deno.makeTempDir({ prefix: "oneblk-sim-encryption-" });
    await start();
  });
  after(async () => {
    await sim.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  });

  it("unset: entering or modifying a passphrase is refused", async () => {
    assert.equal(await status(sim), "unset");
    let r = await simCall(sim, "PATCH", PATH, FIRST);
    assertOne(r, 500, MASK_ERROR | MASK_MOD | CTRL | MISSING_PROPS, {
      message: "encrypted namespace is empty, you need to set a passphrase first",
    });
    assert.equal(r.entries[0].error_report_ids, undefined);
    r = await simCall(sim, "PUT", PATH, { new_passphrase: SECOND, old_passphrase: FIRST });
    assertOne(r, 500, MASK_ERROR | MASK_MOD | CTRL | EXISTS_CRYPT_PASSPHRASE, {
      message: "Could not modify crypt passphrase as it does not exist",
      cause: "No passphrase was defined yet",
      correction: "Use the crypt-create-passphrase command instead of crypt-modify-passphrase",
    });
    assert.deepEqual(await encryptedProps(sim), {});
  });

  it("creates it: unlocked, kept as the controller keeps it; a second create is refused", async () => {
    let r = await simCall(sim, "POST", PATH, { new_passphrase: FIRST });
    assertOne(r, 201, MASK_CRT | CTRL | BigInt(CODE.CREATED), {
      message: "Crypt passphrase created.",
    });
    assert.equal(r.entries[0].obj_refs, undefined);
    assert.equal(await status(sim), "unlocked");
    // controller properties, base64: SHA-512 hash, IV + padded key, salt
    const props = await encryptedProps(sim);
    const bytes = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, atob(v).length]));
    assert.deepEqual(bytes, {
      "encrypted/masterhash": 64,
      "encrypted/masterkey": 48,
      "encrypted/passphrasesalt": 16,
    });
    r = await simCall(sim, "POST", PATH, { new_passphrase: SECOND });
    assertOne(r, 500, MASK_ERROR | MASK_CRT | CTRL | EXISTS_CRYPT_PASSPHRASE, {
      message: "Could not create new crypt passphrase as it already exists",
      cause: "A passphrase was already defined",
      correction: "Use the crypt-modify-passphrase command instead of crypt-create-passphrase",
    });
    // the properties are out of reach of the controller's property calls
    r = await simCall(sim, "DELETE", "/v1/controller/properties/encrypted/masterkey");
    assert.ok(r.status >= 400, stringifyJsonLossless(r.data));
    assert.deepEqual(await encryptedProps(sim), props);
  });

  it("modifies it only with the right old passphrase; entering checks it", async () => {
    const wrong = {
      message: "Could not restore master passphrase as the given old passphrase was incorrect",
      cause: "Wrong passphrase",
      correction: "Enter the correct passphrase",
    };
    const before = await encryptedProps(sim);
    let r = await simCall(sim, "PUT", PATH, { new_passphrase: SECOND, old_passphrase: "wrong" });
    assertOne(r, 500, MASK_ERROR | MASK_MOD | CTRL | MISSING_PROPS, wrong);
    assert.deepEqual(await encryptedProps(sim), before);
    r = await simCall(sim, "PUT", PATH, { new_passphrase: SECOND, old_passphrase: FIRST });
    assertOne(r, 200, MASK_MOD | CTRL | BigInt(CODE.MODIFIED), {
      message: "Crypt passphrase updated",
    });
    assert.notDeepEqual(await encryptedProps(sim), before);
    r = await simCall(sim, "PATCH", PATH, FIRST);
    assertOne(r, 500, MASK_ERROR | MASK_MOD | CTRL | MISSING_PROPS, wrong);
    r = await simCall(sim, "PATCH", PATH, SECOND);
    assertOne(r, 200, MASK_MOD | CTRL | ACCEPTED, { message: "Passphrase accepted" });
  });

  it("binds bodies as the controller does; a missing passphrase fails with an error report", async () => {
    let r = await simCall(sim, "POST", PATH, { new_passphrase: "x", old: "y" });
    assert.equal(r.status, 500);
    assert.equal(r.entries[0].message, "Unable to parse input json.");
    assert.match(r.entries[0].details!, /Unrecognized field "old" .*PassPhraseCreate/);
    r = await simCall(sim, "PATCH", PATH, { passphrase: SECOND });
    assert.equal(r.status, 500);
    assert.equal(
      r.entries[0].details,
      "Cannot deserialize value of type `java.lang.String` from Object value " +
        "(token `JsonToken.START_OBJECT`)",
    );
    r = await simCall(sim, "PATCH", PATH, null);
    assertOne(r, 500, MASK_ERROR | MASK_MOD | CTRL | 998n, {
      message: "Modification of controller failed due to an unhandled exception of type " +
        'NullPointerException. Cannot invoke "String.getBytes(java.nio.charset.Charset)" ' +
        'because "passphrase" is null',
    });
    assert.equal(r.entries[0].error_report_ids?.length, 1);
    r = await simCall(sim, "PUT", PATH, { old_passphrase: SECOND });
    assert.deepEqual(codes(r), [MASK_ERROR | MASK_CRT | CTRL | 998n]);
    assert.match(r.entries[0].message, /^Creation of controller failed .*"newPassphrase" is null$/);
    // a body that is not JSON: refused without its text
    const raw = await fetch(sim.url + PATH, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: SECOND,
    });
    const text = await raw.text();
    assert.equal(raw.status, 500);
    assert.match(text, /Unable to parse input json\./);
    assert.ok(!text.includes(SECOND.slice(1)), text);
    assert.equal(await status(sim), "unlocked");
    const reports = await simCall(sim, "GET", "/v1/error-reports?withContent=true");
    const listed = reports.data as { text: string }[];
    assert.equal(listed.length, 2);
    reportTexts.push(...listed.map((x) => x.text));
  });

  it("after a restart it is set but locked until entered", async () => {
    await sim.stop();
    const saved = await loadState(join(dir, "linstor"));
    assert.ok(saved?.ctrlProps?.["encrypted/masterkey"]);
    await start();
    assert.equal(await status(sim), "locked");
    let r = await simCall(sim, "PATCH", PATH, FIRST);
    assert.equal(r.status, 500);
    assert.equal(await status(sim), "locked");
    // a modify works while locked and leaves it locked
    r = await simCall(sim, "PUT", PATH, { new_passphrase: FIRST, old_passphrase: SECOND });
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.equal(await status(sim), "locked");
    r = await simCall(sim, "PATCH", PATH, FIRST);
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.equal(r.entries[0].message, "Passphrase accepted");
    assert.equal(await status(sim), "unlocked");
  });

  it("the passphrases appear in no reply, saved state or error report", async () => {
    await sim.stop();
    const saved = await filesUnder(join(dir, "linstor"));
    // what is kept: the passphrase's salt, hash and sealed key, never the passphrase
    assert.ok(saved.some((t) => t.includes("encrypted/masterkey")));
    assert.equal(reportTexts.length, 2);
    const texts = [...exchanges.map((e) => e.responseBody), ...reportTexts, ...saved];
    for (const secret of [FIRST, SECOND]) {
      for (const t of texts) assert.ok(!t.includes(secret), `${secret} in ${t.slice(0, 200)}`);
    }
    await start();
  });
});

describe("LINSTOR simulator: the first unlock updates the satellites", () => {
  let sim: LinstorSim;
  before(async () => {
    sim = await startLinstorSim({ nodes: ["alpha", "bravo"] });
    // the default group places 2 replicas: one on each node
    const r = await simCall(sim, "POST", "/v1/resource-groups/DfltRscGrp/spawn", {
      resource_definition_name: "r1",
      volume_sizes: [10240],
    });
    assert.equal(r.status, 201, stringifyJsonLossless(r.data));
    sim.setNodeOnline("bravo", false);
  });
  after(async () => {
    await sim.stop();
  });

  it("an empty passphrase is taken; each resource's satellite is told, once", async () => {
    let r = await simCall(sim, "POST", PATH, { new_passphrase: "" });
    assert.equal(r.status, 201, stringifyJsonLossless(r.data));
    assert.deepEqual(
      r.entries.map((e) => [BigInt.asUintN(64, e.ret_code), e.message]),
      [
        [MASK_CRT | CTRL | BigInt(CODE.CREATED), "Crypt passphrase created."],
        [MASK_CRT | CTRL | BigInt(CODE.MODIFIED), "Updated resource definition r1"],
        [MASK_WARN | MASK_CRT | CTRL | 1002n, "No active connection to satellite 'bravo'"],
        [MASK_CRT | CTRL | BigInt(CODE.MODIFIED), "Updated resource definition r1"],
      ],
    );
    r = await simCall(sim, "PATCH", PATH, "not it");
    assert.equal(r.status, 500);
    r = await simCall(sim, "PATCH", PATH, "");
    assert.equal(r.status, 200, stringifyJsonLossless(r.data));
    assert.deepEqual(r.entries.map((e) => e.message), ["Passphrase accepted"]);
  });
});

/**
 * The simulator's replies in the shapes StorPool's API types give them: the fields its own
 * client library requires of each reply (present, and of the documented type), and the names
 * and values the API refuses, so that nothing the simulator accepts comes back in a listing
 * that library would reject. Written from the API's type definitions (the Python bindings'
 * sptypes: ClusterStatus, Service, VolumeStatus, SnapshotStatus, VolumeSummary, the name
 * rules); the bindings themselves are run against the simulator by hand (README, "Trying it
 * by hand against the simulators").
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startStorpoolSim, type StorpoolSim } from "../../tools/sim/storpool/server.ts";

const MiB = 1024 * 1024;

/** A test of one field's value. */
type Check = (v: unknown) => boolean;

const int: Check = (v) => Number.isInteger(v);
const str: Check = (v) => typeof v === "string";
const bool: Check = (v) => typeof v === "boolean";
const range = (lo: number, hi: number): Check => (v) =>
  int(v) && lo <= Number(v) && Number(v) <= hi;
const oneOf = (...xs: unknown[]): Check => (v) => xs.includes(v);
const match = (re: RegExp): Check => (v) => str(v) && re.test(String(v));
const listOf = (c: Check): Check => (v) => Array.isArray(v) && v.every(c);
const either = (...cs: Check[]): Check => (v) => cs.some((c) => c(v));
/** May be absent or null (the bindings' `maybe`). */
const maybe = (c: Check): Check => (v) => v === undefined || v === null || c(v);

/** Field name → check; a field whose check fails on `undefined` must be present. */
type Spec = Record<string, Check>;

function assertFields(obj: unknown, spec: Spec, where: string): void {
  assert.ok(obj !== null && typeof obj === "object" && !Array.isArray(obj), `${where}: object`);
  const o = obj as Record<string, unknown>;
  for (const [field, check] of Object.entries(spec)) {
    assert.ok(check(o[field]), `${where}.${field} = ${JSON.stringify(o[field])}`);
  }
}

/** A map keyed by ids (decimal strings in JSON) in `lo..hi`, each value checked. */
function assertIdMap(m: unknown, lo: number, hi: number, spec: Spec, where: string): void {
  assert.ok(m !== null && typeof m === "object" && !Array.isArray(m), `${where}: object`);
  for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
    assert.ok(range(lo, hi)(Number(k)), `${where}: key ${k}`);
    assertFields(v, spec, `${where}[${k}]`);
    assert.equal((v as { id: number }).id, Number(k), `${where}[${k}].id`);
  }
}

const PLACEMENT_GROUP = match(/^[A-Za-z0-9_\-]+$/);
const LIMIT = either(range(0, Number.MAX_SAFE_INTEGER), oneOf("-"));

// Service and its kinds (ClusterStatus of ServicesList).
const SERVICE: Spec = {
  nodeId: maybe(range(0, 63)),
  version: str,
  startTime: either(int, oneOf(null)),
};
const CLIENT: Spec = { ...SERVICE, id: range(1, 4095), status: oneOf("running", "down") };
const MGMT: Spec = {
  ...SERVICE,
  id: range(1, 4095),
  status: oneOf("running", "down"),
  active: bool,
};
const SERVER: Spec = {
  ...SERVICE,
  id: range(1, 32767),
  status: oneOf("running", "waiting", "booting", "down"),
  missingDisks: listOf(range(0, 4095)),
  pendingDisks: listOf(range(0, 4095)),
};

// VolumeSummary, SnapshotSummary and their status (VolumesGetStatus).
const SUMMARY: Spec = {
  name: str,
  parentName: str,
  templateName: str,
  size: (v) => int(v) && Number(v) > 0 && Number(v) % 512 === 0,
  replication: range(1, 3),
  globalId: match(/^[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+$/),
  placeAll: PLACEMENT_GROUP,
  placeTail: PLACEMENT_GROUP,
  placeHead: PLACEMENT_GROUP,
  visibleVolumeId: int,
  objectsCount: int,
  creationTimestamp: int,
  bw: LIMIT,
  iops: LIMIT,
  tags: maybe((v) => typeof v === "object" && Object.values(v as object).every(str)),
};
const SNAP_SUMMARY: Spec = {
  ...SUMMARY,
  onVolume: str,
  autoName: bool,
  bound: bool,
  deleted: bool,
  transient: bool,
  recoveringFromRemote: bool,
  targetDeleteDate: maybe(int),
};
const DISKS = listOf(range(0, 4095));
const STATUS: Spec = {
  status: oneOf("up", "up soon", "data lost", "down"),
  snapshot: bool,
  migrating: bool,
  decreasedRedundancy: bool,
  balancerBlocked: bool,
  syncingDataBytes: int,
  syncingMetaObjects: int,
  downBytes: int,
  objectsCount: int,
  upSoonChainsCount: int,
  downDrives: DISKS,
  missingDrives: DISKS,
  missingTargetDrives: DISKS,
  softEjectingDrives: DISKS,
  storedSize: int,
  onDiskSize: int,
};

interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

describe("storpool simulator: reply shapes of StorPool's API types", () => {
  let root: string;
  let sim: StorpoolSim;
  const call = async (method: string, body?: unknown, name?: string): Promise<Reply> => {
    const url = `${sim.url}/ctrl/1.0/${method}${name ? `/${encodeURIComponent(name)}` : ""}`;
    const res = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers: { Authorization: `Storpool v1:${sim.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  };
  const data = async (method: string, body?: unknown, name?: string) => {
    const r = await call(method, body, name);
    assert.equal(r.status, 200, `${method}: ${JSON.stringify(r.body)}`);
    return r.body.data;
  };
  /** The call is refused as invalidParam, in the error shape. */
  const refused = async (method: string, body: unknown, name?: string) => {
    const r = await call(method, body, name);
    assert.equal(r.status, 400, `${method} ${JSON.stringify(body)?.slice(0, 80)}`);
    assertFields(
      r.body.error,
      { name: oneOf("invalidParam"), descr: str, transient: bool },
      "error",
    );
    assert.equal("data" in r.body, false);
  };

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-spshape-test-" });
    sim = await startStorpoolSim({
      // a client id above the highest node id is listed without one
      clients: { alpha: 1, bravo: 100 },
      templates: [{ name: "one-ds-0", capacityGiB: 1, replication: 2 }],
      stateDir: join(root, "sp"),
    });
  });
  after(async () => {
    await sim.stop();
    await Deno.remove(root, { recursive: true });
  });

  it("ServicesList: every service has version, startTime (and nodeId up to 63)", async () => {
    const st = await data("ServicesList");
    assert.ok(oneOf("running", "waiting", "down")(st.clusterStatus));
    assertIdMap(st.clients, 1, 4095, CLIENT, "clients");
    assertIdMap(st.mgmt, 1, 4095, MGMT, "mgmt");
    assertIdMap(st.servers, 1, 32767, SERVER, "servers");
    assertIdMap(st.bridges, 1, 4095, {}, "bridges");
    assertIdMap(st.iscsiTargets, 1, 4095, {}, "iscsiTargets");
    assert.deepEqual(Object.keys(st.clients), ["1", "100"]);
    assert.equal(st.clients["1"].nodeId, 1);
    assert.equal("nodeId" in st.clients["100"], false);
    assert.deepEqual(Object.values(st.mgmt).map((m) => (m as { active: boolean }).active), [true]);
  });

  it("VolumesGetStatus: volumes and snapshots with every status field", async () => {
    await data("VolumeCreate", { name: "v1", size: 4 * MiB, template: "one-ds-0" });
    await data("VolumeSnapshot", { name: "v1-s1" }, "v1");
    const st = await data("VolumesGetStatus");
    assert.deepEqual(Object.keys(st).sort(), ["v1", "v1-s1"]);
    assertFields(st.v1, { ...SUMMARY, ...STATUS }, "v1");
    assertFields(st["v1-s1"], { ...SNAP_SUMMARY, ...STATUS }, "v1-s1");
    assert.equal(st.v1.snapshot, false);
    assert.equal(st["v1-s1"].snapshot, true);
    assert.equal(st.v1.onDiskSize, st.v1.storedSize * st.v1.replication);
  });

  it("names: reserved words and names of 200 characters are refused, 199 taken", async () => {
    for (const name of ["list", "status", "x".repeat(200)]) {
      await refused("VolumeCreate", { name, size: MiB });
      await refused("VolumeSnapshot", { name }, "v1");
    }
    await refused("VolumeUpdate", { rename: "status" }, "v1");
    await refused("SnapshotUpdate", { rename: "list" }, "v1-s1");
    await refused("VolumesGroupSnapshot", { volumes: [{ volume: "v1", name: "status" }] });
    await refused("VolumeTemplateCreate", { name: "list" });
    await refused("VolumeTemplateCreate", { name: "t".repeat(200) });
    const long = "y".repeat(199);
    await data("VolumeCreate", { name: long, size: MiB, tags: { [long]: long } });
    await refused("VolumeUpdate", { tags: { ["k".repeat(200)]: "v" } }, long);
    await refused("VolumeUpdate", { tags: { k: "v".repeat(200) } }, long);
    const [v] = await data("Volume", undefined, long);
    assertFields(v, SUMMARY, "Volume");
    assert.equal(v.name, long);
  });

  it("replication is 1 to 3 and placement groups are names", async () => {
    for (const replication of [0, 4]) {
      await refused("VolumeCreate", { name: "v2", size: MiB, replication });
      await refused("VolumeUpdate", { replication }, "v1");
      await refused("VolumeTemplateCreate", { name: "t2", replication });
      await refused("VolumeTemplateUpdate", { replication }, "one-ds-0");
    }
    for (const bad of ["no such.group", "list", "g".repeat(128), 7]) {
      await refused("VolumeCreate", { name: "v2", size: MiB, placeAll: bad });
      await refused("VolumeUpdate", { placeTail: bad }, "v1");
      await refused("VolumeTemplateCreate", { name: "t2", placeHead: bad });
      await refused("VolumeTemplateUpdate", { placeAll: bad }, "one-ds-0");
    }
    await data("VolumeUpdate", { replication: 1, placeAll: "hdd", placeTail: "ssd" }, "v1");
    await data("VolumeTemplateCreate", { name: "t2", replication: 3, placeAll: "g".repeat(127) });
    for (const v of await data("VolumesList")) assertFields(v, SUMMARY, `VolumesList ${v.name}`);
    const [v1] = await data("Volume", undefined, "v1");
    assert.deepEqual([v1.replication, v1.placeAll, v1.placeTail], [1, "hdd", "ssd"]);
  });

  it("VolumeTemplatesList and VolumeTemplateDescribe show a template alike", async () => {
    const list = await data("VolumeTemplatesList");
    const one = list.find((t: { name: string }) => t.name === "one-ds-0");
    assert.deepEqual(await data("VolumeTemplateDescribe", undefined, "one-ds-0"), one);
  });
});

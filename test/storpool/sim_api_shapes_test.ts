/**
 * The simulator's replies in the shapes StorPool's API types give them: the fields its own
 * client library requires of each reply (present, and of the documented type), and the names
 * and values the API refuses, so that nothing the simulator accepts comes back in a listing
 * that library would reject. Written from the API's type definitions (the Python bindings'
 * sptypes: ClusterStatus, Service, VolumeStatus, SnapshotStatus, VolumeSummary, the name
 * rules; UpDiskSummary, Disk, DiskObject, PlacementGroup, VolumeInfo, SnapshotInfo, the quick
 * statuses and spapi's ApiOkVolumeCreate); the second part also checks that the disks add up
 * to the templates' capacity and free space and how the layout, template deletion and unnamed
 * volumes behave. The bindings themselves are run against the simulator by hand (README,
 * "Trying it by hand against the simulators").
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

/** Requests to the simulator `simOf()` gives (GET without a body, POST with one). */
function apiOf(simOf: () => StorpoolSim) {
  const call = async (method: string, body?: unknown, name?: string): Promise<Reply> => {
    const sim = simOf();
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
  /** The call is refused as `error` (invalidParam unless told) with `status`, in the error shape. */
  const refused = async (
    method: string,
    body: unknown,
    name?: string,
    error = "invalidParam",
    status = 400,
  ) => {
    const r = await call(method, body, name);
    assert.equal(r.status, status, `${method} ${JSON.stringify(body)?.slice(0, 80)}`);
    assertFields(r.body.error, { name: oneOf(error), descr: str, transient: bool }, "error");
    assert.equal("data" in r.body, false);
  };
  return { call, data, refused };
}

describe("storpool simulator: reply shapes of StorPool's API types", () => {
  let root: string;
  let sim: StorpoolSim;
  const { data, refused } = apiOf(() => sim);

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

// The cluster's layout: disks (UpDiskSummary, Disk, DiskObject), placement groups, GetInfo.
const DISK_ID = range(0, 4095);
const DISK: Spec = {
  id: DISK_ID,
  serverId: range(1, 32767),
  ssd: bool,
  generationLeft: oneOf(-1),
  model: str,
  serial: str,
  description: match(/^[A-Za-z0-9_\- ]{0,30}$/),
  softEject: oneOf("on", "off", "paused"),
  sectorsCount: int,
  empty: bool,
  noFua: bool,
  noFlush: bool,
  noTrim: bool,
  isWbc: bool,
  journaled: bool,
  device: str,
  entriesCount: int,
  entriesAllocated: int,
  entriesFree: int,
  objectsCount: int,
  objectsAllocated: int,
  objectsFree: int,
  objectsOnDiskSize: int,
  scrubbingStartedBefore: int,
  scrubbedBytes: int,
  scrubbingBW: int,
  scrubbingFinishAfter: int,
  scrubbingPausedFor: int,
  scrubbingPaused: bool,
  lastScrubCompleted: int,
};
const DISK_OBJECT: Spec = {
  generation: int,
  version: int,
  volume: str,
  parentVolume: str,
  onDiskSize: range(0, 32 * MiB),
  storedSize: int,
  state: range(0, 9),
};
const GROUP: Spec = { id: maybe(int), name: PLACEMENT_GROUP, disks: listOf(DISK_ID) };
const CHAINS = listOf((c) =>
  typeof c === "object" && c !== null && DISKS((c as { disks: unknown }).disks) &&
  int((c as { count: unknown }).count)
);
const INFO: Spec = {
  disksCount: int,
  objectsPerDisk: (v) =>
    typeof v === "object" && v !== null &&
    Object.entries(v).every(([k, n]) => DISK_ID(Number(k)) && int(n)),
  objectsPerChain: CHAINS,
  objectsPerDiskSet: CHAINS,
};

/** A disk as the replies give it (the fields the tests read). */
interface Disk {
  id: number;
  serverId: number;
  sectorsCount: number;
  objectsOnDiskSize: number;
  objectsAllocated: number;
  objects?: Record<string, { volume: string; onDiskSize: number; storedSize: number }>;
}

describe("storpool simulator: disks, servers, placement groups and the other methods", () => {
  let root: string;
  let sim: StorpoolSim;
  const { call, data, refused } = apiOf(() => sim);
  const TEMPLATES = [
    // disks 1 and 2 in hdd, 3 in ssd
    { name: "one-ds-100", capacityGiB: 4, replication: 3, placeAll: "hdd", placeTail: "ssd" },
    // disk 4 in default
    { name: "spare", capacityGiB: 1, replication: 1 },
  ];
  const start = () =>
    startStorpoolSim({
      clients: { alpha: 1 },
      templates: TEMPLATES,
      stateDir: join(root, "sp"),
      hostsRoot: join(root, "hosts"),
    });
  /** The disks of `template` (those of its groups) and its VolumeTemplatesStatus entry. */
  const templateDisks = async (template: string) => {
    const disks: Record<string, Disk> = await data("DisksList");
    const t = await data("VolumeTemplateDescribe", undefined, template);
    const groups = await data("PlacementGroupsList");
    const ids = new Set([...groups[t.placeAll].disks, ...groups[t.placeTail].disks]);
    const status = (await data("VolumeTemplatesStatus")).find((x: { name: string }) =>
      x.name === template
    );
    return { disks: [...ids].map((id) => disks[id]), status };
  };
  const bytes = (d: Disk) => d.sectorsCount * 512;
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-splayout-test-" });
    sim = await start();
  });
  after(async () => {
    await sim.stop();
    await Deno.remove(root, { recursive: true });
  });

  it("DisksList: a disk a copy of each template, adding up to its capacity and free space", async () => {
    const disks: Record<string, Disk> = await data("DisksList");
    assert.deepEqual(Object.keys(disks), ["1", "2", "3", "4"]);
    for (const [id, d] of Object.entries(disks)) {
      assertFields(d, DISK, `disk ${id}`);
      assert.equal(d.id, Number(id));
    }
    assert.deepEqual(Object.values(disks).map((d) => d.serverId), [1, 2, 3, 1]);
    const check = async (template: string) => {
      const { disks, status } = await templateDisks(template);
      assert.equal(sum(disks.map(bytes)), status.capacityPlaceAll, `${template} capacity`);
      assert.equal(
        sum(disks.map((d) => bytes(d) - d.objectsOnDiskSize)),
        status.availablePlaceAll,
        `${template} free`,
      );
      assert.equal(bytes(disks.at(-1)!), status.stored.capacity);
    };
    await check("one-ds-100");
    await check("spare");
    // a volume takes its size of each disk of its template, and its objects
    await data("VolumeCreate", { name: "v1", size: 100 * MiB, template: "one-ds-100" });
    await check("one-ds-100");
    const { disks: after } = await templateDisks("one-ds-100");
    assert.deepEqual(after.map((d) => d.objectsOnDiskSize), [100 * MiB, 100 * MiB, 100 * MiB]);
    assert.deepEqual(after.map((d) => d.objectsAllocated), [4, 4, 4]);
    await refused("DisksList", {});
  });

  it("DiskDescribe: the objects on a disk add up to its usage and the volumes' stored bytes", async () => {
    await Deno.writeFile(sim.dataPath("v1")!, new Uint8Array(MiB).fill(7));
    await data("VolumeSnapshot", { name: "v1-s1" }, "v1");
    const d: Disk = await data("DiskDescribe", undefined, "2");
    assertFields(d, DISK, "disk 2");
    const objs = Object.values(d.objects!);
    for (const o of objs) assertFields(o, DISK_OBJECT, "object");
    assert.equal(objs.length, d.objectsAllocated);
    assert.equal(sum(objs.map((o) => o.onDiskSize)), d.objectsOnDiskSize);
    const space = await data("VolumesSpace");
    const stored = sum(objs.filter((o) => o.volume === "v1").map((o) => o.storedSize));
    assert.equal(stored, space.find((v: { name: string }) => v.name === "v1").storedSize);
    assert.ok(stored >= MiB);
    await refused("DiskDescribe", undefined, "4000", "objectDoesNotExist", 404);
    await refused("DiskDescribe", undefined, "x");
  });

  it("ServersList: the servers of the disks without clients; ServerDisksList, ServerDiskDescribe", async () => {
    const st = await data("ServersList");
    assertIdMap(st.servers, 1, 32767, SERVER, "servers");
    assert.deepEqual(Object.keys(st.servers), ["1", "2", "3"]);
    assert.equal("clients" in st, false);
    assert.deepEqual(Object.keys((await data("ServicesList")).servers), ["1", "2", "3"]);
    const on1: Record<string, Disk> = await data("ServerDisksList", undefined, "1");
    assert.deepEqual(Object.keys(on1), ["1", "4"]);
    for (const d of Object.values(on1)) assertFields(d, DISK, "disk");
    const d3: Disk = await data("ServerDiskDescribe", undefined, "3/3");
    assert.deepEqual([d3.id, d3.serverId, typeof d3.objects], [3, 3, "object"]);
    await refused("ServerDisksList", undefined, "9", "objectDoesNotExist", 404);
    await refused("ServerDiskDescribe", undefined, "1/3", "objectDoesNotExist", 404);
    await refused("ServersList", {});
  });

  it("SnapshotGetInfo and VolumeGetInfo: the object's disks; VolumesGetStatusQuick", async () => {
    const s = await data("SnapshotGetInfo", undefined, "v1-s1");
    assertFields(s, { ...SNAP_SUMMARY, ...INFO }, "SnapshotGetInfo");
    assert.equal(s.onVolume, "v1");
    assert.deepEqual(s.objectsPerDisk, { "1": 4, "2": 4, "3": 4 });
    assert.deepEqual(s.objectsPerChain, [{ disks: [1, 2, 3], count: 4 }]);
    const v = await data("VolumeGetInfo", undefined, "v1");
    assertFields(v, { ...SUMMARY, ...INFO }, "VolumeGetInfo");
    assert.equal(v.disksCount, 3);
    const described = await data("VolumeDescribe", undefined, "v1");
    assert.deepEqual(described.targetDiskSets, [[1, 2, 3]]);
    assert.equal(described.objects.length, 4);
    await refused("SnapshotGetInfo", undefined, "nope", "objectDoesNotExist", 404);

    const quick = await data("VolumesGetStatusQuick");
    const full = await data("VolumesGetStatus");
    assert.deepEqual(Object.keys(quick).sort(), Object.keys(full).sort());
    const { storedSize: _s, onDiskSize: _o, ...quickFields } = STATUS;
    assertFields(quick.v1, { ...SUMMARY, ...quickFields }, "v1");
    assertFields(quick["v1-s1"], { ...SNAP_SUMMARY, ...quickFields }, "v1-s1");
    assert.equal("storedSize" in quick.v1, false);
    assert.equal(quick["v1-s1"].snapshot, true);
    await refused("VolumesGetStatusQuick", {});
  });

  it("PlacementGroups: those the templates name, with their disks; update, rename, delete", async () => {
    const groups = await data("PlacementGroupsList");
    for (const [name, g] of Object.entries(groups)) {
      assertFields(g, GROUP, `group ${name}`);
      assert.equal((g as { name: string }).name, name);
    }
    const disksOf = (g: string) => groups[g].disks;
    assert.deepEqual([disksOf("hdd"), disksOf("ssd"), disksOf("default")], [[1, 2], [3], [4]]);
    assert.deepEqual(await data("PlacementGroupDescribe", undefined, "ssd"), groups.ssd);

    // made when missing, disks added then removed
    await data("PlacementGroupUpdate", { addDisks: [3, 4] }, "nvme");
    assert.deepEqual((await data("PlacementGroupDescribe", undefined, "nvme")).disks, [3, 4]);
    await data("PlacementGroupUpdate", { rmDisks: [4], addDisks: [1] }, "nvme");
    assert.deepEqual((await data("PlacementGroupDescribe", undefined, "nvme")).disks, [1, 3]);
    // a volume naming a group makes it
    await data("VolumeCreate", { name: "v2", size: MiB, placeAll: "fresh" });
    assert.deepEqual((await data("PlacementGroupDescribe", undefined, "fresh")).disks, []);

    // a rename follows into the templates, volumes and snapshots naming the group
    await data("PlacementGroupUpdate", { rename: "hdd2" }, "hdd");
    assert.equal((await data("VolumeTemplateDescribe", undefined, "one-ds-100")).placeAll, "hdd2");
    assert.equal((await data("Volume", undefined, "v1"))[0].placeAll, "hdd2");
    assert.equal((await data("Snapshot", undefined, "v1-s1"))[0].placeHead, "hdd2");
    await refused("PlacementGroupDescribe", undefined, "hdd", "objectDoesNotExist", 404);

    await refused("PlacementGroupUpdate", { addDisks: [4000] }, "nvme", "objectDoesNotExist", 404);
    await refused("PlacementGroupUpdate", { addDisks: "1" }, "nvme");
    await refused("PlacementGroupUpdate", { rename: "ssd" }, "nvme", "objectExists", 409);
    await refused("PlacementGroupUpdate", { rename: "no such.group" }, "nvme");
    await refused("PlacementGroupUpdate", {}, "list");
    await refused("PlacementGroupDelete", {}, "hdd2", "busy", 409);
    await refused("PlacementGroupDelete", {}, "fresh", "busy", 409);
    await data("PlacementGroupDelete", {}, "nvme");
    await refused("PlacementGroupDelete", {}, "nvme", "objectDoesNotExist", 404);
    assert.deepEqual(Object.keys(await data("PlacementGroupsList")).sort(), [
      "default",
      "fresh",
      "hdd2",
      "ssd",
    ]);
  });

  it("VolumeTemplateDelete: refused while in use; its disks go with it", async () => {
    await data("VolumeTemplateCreate", { name: "gone", replication: 2, placeAll: "g1" });
    const disks = Object.keys(await data("DisksList"));
    assert.deepEqual(disks, ["1", "2", "3", "4", "5", "6"]);
    assert.deepEqual((await data("PlacementGroupDescribe", undefined, "g1")).disks, [5, 6]);
    await data("VolumeCreate", { name: "v3", size: MiB, template: "gone" });
    await refused("VolumeTemplateDelete", {}, "gone", "busy", 409);
    await data("VolumeSnapshot", { name: "v3-s1" }, "v3");
    await data("VolumeDelete", {}, "v3");
    // the snapshot still holds the template
    await refused("VolumeTemplateDelete", {}, "gone", "busy", 409);
    await data("SnapshotDelete", {}, "v3-s1");
    await data("VolumeTemplateDelete", {}, "gone");
    assert.deepEqual(Object.keys(await data("DisksList")), ["1", "2", "3", "4"]);
    assert.deepEqual((await data("PlacementGroupDescribe", undefined, "g1")).disks, []);
    const names = (await data("VolumeTemplatesList")).map((t: { name: string }) => t.name);
    assert.deepEqual(names.sort(), ["one-ds-100", "spare"]);
    await refused("VolumeTemplateDelete", {}, "gone", "objectDoesNotExist", 404);
    // a template's replication grows and shrinks its disks
    await data("VolumeTemplateUpdate", { replication: 2 }, "spare");
    assert.deepEqual(Object.keys(await data("DisksList")), ["1", "2", "3", "4", "5"]);
    await data("VolumeTemplateUpdate", { replication: 1 }, "spare");
    assert.deepEqual(Object.keys(await data("DisksList")), ["1", "2", "3", "4"]);
  });

  it("VolumeCreate without a name: the volume goes by ~<globalId>", async () => {
    const r = await data("VolumeCreate", { size: 8 * MiB, template: "spare" });
    assert.match(r.globalId, /^[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+$/);
    assert.equal(r.name, `~${r.globalId}`);
    const [v] = await data("Volume", undefined, r.name);
    assertFields(v, SUMMARY, "unnamed volume");
    assert.deepEqual([v.name, v.globalId], [r.name, r.globalId]);
    assert.ok((await data("VolumesList")).some((x: { name: string }) => x.name === r.name));
    // a named volume's reply has no name
    assert.equal("name" in await data("VolumeCreate", { name: "v4", size: MiB }), false);
    // an anonymous snapshot of it takes a snapshot name, without the ~
    const s = await data("VolumeSnapshot", {}, r.name);
    assert.equal(s.autoName, `${r.globalId}@${s.snapshotVisibleVolumeId}`);
    // attached, it is /dev/storpool-byid/<globalId> on the host
    await data("VolumesReassign", [{ volume: r.name, rw: [1] }]);
    const link = join(root, "hosts", "alpha", "dev", "storpool-byid", r.globalId);
    assert.equal(await Deno.readLink(link), sim.dataPath(r.name));
    await data("VolumesReassign", [{ volume: r.name, detach: "all" }]);
    await refused("VolumeCreate", { template: "spare" });
    await refused("VolumeCreate", { name: "", size: MiB });
  });

  it("the layout outlives a restart: disks keep their ids, groups their disks", async () => {
    await data("PlacementGroupUpdate", { addDisks: [4] }, "kept");
    const before = [await data("DisksList"), await data("PlacementGroupsList")];
    await sim.stop();
    sim = await start();
    const disks = await data("DisksList");
    assert.deepEqual(Object.keys(disks), Object.keys(before[0]));
    const groups = await data("PlacementGroupsList");
    for (const [name, g] of Object.entries(before[1])) assert.deepEqual(groups[name], g, name);
    // the template defined again at start names hdd again (renamed hdd2 before): made, empty
    assert.deepEqual(groups.hdd.disks, []);
    assert.equal((await call("VolumeTemplatesStatus")).status, 200);
  });
});

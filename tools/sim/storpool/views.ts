/**
 * How the simulated StorPool API shows its objects: the summaries of volumes, snapshots and
 * templates as the list/describe/info/status/space methods answer them, and the disks, placement
 * groups and services of the cluster.
 */
import {
  type DiskRef,
  OBJECT_SIZE,
  objectsOf,
  type SimObj,
  type SimPlacementGroup,
  type SimSnap,
  type SimTemplate,
} from "./model.ts";
import { allocatedEach } from "./store.ts";

/** A volume (or the common part of a snapshot) as VolumesList shows it. */
export const summary = (o: SimObj) => ({
  name: o.name,
  globalId: o.globalId,
  visibleVolumeId: o.visibleVolumeId,
  size: o.size,
  parentName: o.parentName,
  templateName: o.templateName,
  replication: o.replication,
  placeAll: o.placeAll,
  placeTail: o.placeTail,
  placeHead: o.placeHead,
  iops: o.iops ?? "-",
  bw: o.bw ?? "-",
  limitType: "total",
  reuseServer: false,
  objectsCount: objectsOf(o.size),
  creationTimestamp: o.creationTimestamp,
  tags: { ...o.tags },
});

/** A snapshot as SnapshotsList shows it. */
export const snapSummary = (s: SimSnap) => ({
  ...summary(s),
  onVolume: s.onVolume,
  autoName: s.autoName,
  bound: s.bound,
  deleted: false,
  transient: false,
  recoveringFromRemote: false,
  targetDeleteDate: s.targetDeleteDate,
});

/**
 * The Describe answer: the summary, the object's disks (those of its template, `disks`) as its
 * one target disk set, and each object on all of them.
 */
export const described = (sum: ReturnType<typeof summary>, disks: number[]) => ({
  ...sum,
  targetDiskSets: disks.length ? [disks] : [],
  objects: disks.length ? Array.from({ length: sum.objectsCount }, () => disks) : [],
});

/** The GetInfo answer: the summary and its `objects` objects, each on every one of `disks`. */
export const info = (sum: ReturnType<typeof summary>, disks: number[]) => {
  const chains = disks.length ? [{ disks, count: sum.objectsCount }] : [];
  return {
    ...sum,
    disksCount: disks.length,
    objectsPerDisk: Object.fromEntries(disks.map((d) => [d, sum.objectsCount])),
    objectsPerChain: chains,
    objectsPerDiskSet: chains,
  };
};

/** The *Space answer for `objs`: each summary with its allocated bytes. */
export const spaceList = async <T extends SimObj>(objs: T[], summarize: (o: T) => object) => {
  const used = await allocatedEach(objs);
  return objs.map((o, i) => ({ ...summarize(o), storedSize: used[i], spaceUsed: used[i] }));
};

/**
 * One VolumesGetStatusQuick entry: a healthy object, every copy in place on disks that are all
 * up, nothing to sync or rebalance.
 */
export const quickStatusOf = (sum: ReturnType<typeof summary>, snapshot: boolean) => ({
  ...sum,
  status: "up",
  snapshot,
  migrating: false,
  decreasedRedundancy: false,
  balancerBlocked: false,
  syncingDataBytes: 0,
  syncingMetaObjects: 0,
  downBytes: 0,
  upSoonChainsCount: 0,
  downDrives: [],
  missingDrives: [],
  missingTargetDrives: [],
  softEjectingDrives: [],
});

/** One VolumesGetStatus entry: the quick one with the object's allocated bytes (`stored`). */
export const statusOf = (sum: ReturnType<typeof summary>, snapshot: boolean, stored: number) => ({
  ...quickStatusOf(sum, snapshot),
  storedSize: stored,
  onDiskSize: stored * sum.replication,
});

/** A volume template as VolumeTemplatesList and VolumeTemplateDescribe show it. */
export const templateSummary = (t: SimTemplate) => ({
  name: t.name,
  parentName: "",
  replication: t.replication,
  placeAll: t.placeAll,
  placeTail: t.placeTail,
  placeHead: t.placeHead,
  size: "-",
  iops: t.iops ?? "-",
  bw: t.bw ?? "-",
  reuseServer: false,
});

/** The StorPool version the simulated services report (release.minor.build, then a tag). */
const SIM_SP_VERSION = "21.0.0.sim";
/** The highest node id the API shows (a service above it is listed without one). */
const MAX_NODE_ID = 63;

/** A running service (client, server or mgmt) of ServicesList, up since `startTime`. */
export const service = (id: number, startTime: number) => ({
  id,
  status: "running",
  ...(id <= MAX_NODE_ID ? { nodeId: id } : {}),
  version: SIM_SP_VERSION,
  startTime,
});

/** What each disk of a template holds: its volumes and snapshots (one copy of each). */
export interface DiskLoad {
  /** How many volumes and snapshots. */
  count: number;
  /** Their provisioned bytes: what the template reserves on each disk. */
  reserved: number;
  /** Their objects. */
  objects: number;
}

/** The load of a disk holding a copy of each of `objs`. */
export const diskLoad = (objs: SimObj[]): DiskLoad => ({
  count: objs.length,
  reserved: objs.reduce((n, o) => n + o.size, 0),
  objects: objs.reduce((n, o) => n + objectsOf(o.size), 0),
});

/** The disk model the simulated disks report. */
const SIM_DISK_MODEL = "oneblk simulated disk";

/**
 * A disk as DisksList shows it (UpDiskSummary): its size is its template's capacity, and what
 * it uses is what the template reserves (the provisioned sizes), so that its size less its
 * objectsOnDiskSize is the template's free space (VolumeTemplatesStatus, summed over the disks:
 * capacityPlaceAll and availablePlaceAll). Objects are counted as the summaries count them.
 */
export const diskSummary = (d: DiskRef, load: DiskLoad) => {
  const objectsCount = Math.floor(d.t.capacity / OBJECT_SIZE);
  const objectsFree = Math.max(0, objectsCount - load.objects);
  return {
    id: d.id,
    serverId: d.index + 1,
    ssd: false,
    generationLeft: -1,
    model: SIM_DISK_MODEL,
    serial: `SIM${String(d.id).padStart(4, "0")}`,
    description: "",
    softEject: "off",
    sectorsCount: Math.floor(d.t.capacity / 512),
    empty: load.count === 0,
    noFua: false,
    noFlush: false,
    noTrim: false,
    isWbc: false,
    journaled: false,
    device: `/dev/spsim${d.id}`,
    entriesCount: objectsCount,
    entriesAllocated: load.objects,
    entriesFree: objectsFree,
    objectsCount,
    objectsAllocated: load.objects,
    objectsFree,
    objectsOnDiskSize: load.reserved,
    scrubbingStartedBefore: 0,
    scrubbedBytes: 0,
    scrubbingBW: 0,
    scrubbingFinishAfter: 0,
    scrubbingPausedFor: 0,
    scrubbingPaused: false,
    lastScrubCompleted: 0,
  };
};

/** The API's ObjectState of an object in place (OBJECT_OK). */
const OBJECT_OK = 1;

/**
 * The objects on a disk holding a copy of each of `objs` (`stored`: their allocated bytes), by
 * their index on it: each object takes up to 32 MiB of its volume's size (onDiskSize, which
 * adds up to objectsOnDiskSize) and holds the written bytes in order (storedSize, which adds up
 * to the volume's storedSize of VolumesSpace).
 */
export const diskObjects = (objs: SimObj[], stored: number[]) => {
  const out: Record<number, unknown> = {};
  let n = 0;
  objs.forEach((o, k) => {
    let left = stored[k];
    for (let off = 0; off < o.size; off += OBJECT_SIZE) {
      const onDiskSize = Math.min(OBJECT_SIZE, o.size - off);
      const storedSize = Math.min(onDiskSize, left);
      left -= storedSize;
      out[n++] = {
        generation: 0,
        version: 0,
        volume: o.name,
        parentVolume: o.parentName,
        onDiskSize,
        storedSize,
        state: OBJECT_OK,
      };
    }
  });
  return out;
};

/** A placement group as PlacementGroupsList shows it. */
export const groupView = (g: SimPlacementGroup) => ({
  id: g.id,
  name: g.name,
  disks: [...g.disks].sort((a, b) => a - b),
});

/** Running servers `ids` (ServicesList, ServersList), up since `startTime`, no disk missing. */
export const serversView = (ids: number[], startTime: number) =>
  Object.fromEntries(
    ids.map((
      id,
    ) => [String(id), { ...service(id, startTime), missingDisks: [], pendingDisks: [] }]),
  );

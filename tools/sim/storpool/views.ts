/**
 * How the simulated StorPool API shows its objects: the summaries of volumes, snapshots and
 * templates as the list/describe/status/space methods answer them.
 */
import type { SimObj, SimSnap, SimTemplate } from "./model.ts";
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
  objectsCount: Math.ceil(o.size / (32 * 1024 * 1024)),
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

/** The Describe answer: the summary plus (empty) disk sets and objects. */
export const described = (sum: Record<string, unknown>) => ({
  ...sum,
  targetDiskSets: [],
  objects: [],
});

/** The *Space answer for `objs`: each summary with its allocated bytes. */
export const spaceList = async <T extends SimObj>(objs: T[], summarize: (o: T) => object) => {
  const used = await allocatedEach(objs);
  return objs.map((o, i) => ({ ...summarize(o), storedSize: used[i], spaceUsed: used[i] }));
};

/**
 * One VolumesGetStatus entry (`stored`: the object's allocated bytes): a healthy object, every
 * copy in place on disks that are all up, nothing to sync or rebalance.
 */
export const statusOf = (sum: ReturnType<typeof summary>, snapshot: boolean, stored: number) => ({
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

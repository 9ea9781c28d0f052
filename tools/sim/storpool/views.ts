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

/** One VolumesGetStatus entry (`stored`: the object's allocated bytes). */
export const statusOf = (sum: object, snapshot: boolean, stored: number) => ({
  ...sum,
  status: "up",
  snapshot,
  migrating: false,
  decreasedRedundancy: false,
  storedSize: stored,
});

/** A volume template as VolumeTemplateDescribe shows it. */
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
});

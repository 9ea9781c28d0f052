/**
 * The StorPool API methods the simulator implements (`/ctrl/1.0/<Method>[/<arg>]`): volumes,
 * snapshots, templates and attachments, over a store, with those of the cluster's layout
 * (layout.ts: services, servers, disks, placement groups). Each answers the method's `data`.
 */
import {
  anonSnapshotName,
  type ApiMethod,
  checkName,
  checkSize,
  checkTags,
  GiB,
  invalid,
  type Json,
  mergeTags,
  needArg,
  optNum,
  optReplication,
  placementsOf,
  SimError,
  type SimObj,
  type SimSnap,
} from "./model.ts";
import { layoutMethods } from "./layout.ts";
import { allocatedEach, copyData, setSize, type SpStore } from "./store.ts";
import { removeFile } from "../common.ts";
import {
  described,
  info,
  quickStatusOf,
  snapSummary,
  spaceList,
  statusOf,
  summary,
  templateSummary,
} from "./views.ts";

/** The API methods by name, over `store`. */
export function apiMethods(store: SpStore): Record<string, ApiMethod> {
  // when the simulated services started (ServicesList)
  const startTime = store.now();
  /**
   * Every volume and snapshot by name with its status: VolumesGetStatus with `stored` (their
   * allocated bytes, volumes first), VolumesGetStatusQuick without.
   */
  const statuses = (stored?: number[]) => {
    const all = [
      ...Object.values(store.st.volumes).map((v) => [summary(v), false] as const),
      ...Object.values(store.st.snapshots).map((s) => [snapSummary(s), true] as const),
    ];
    return Object.fromEntries(
      all.map(([sum, isSnap], i) => [
        sum.name,
        stored ? statusOf(sum, isSnap, stored[i]) : quickStatusOf(sum, isSnap),
      ]),
    );
  };
  /** The volume, the snapshot the path names (objectDoesNotExist when missing). */
  const volume = (a: string | undefined) => store.findVolume(needArg(a, "volume"));
  const snapshot = (a: string | undefined) => store.findSnapshot(needArg(a, "snapshot"));
  /** `view` (Describe, GetInfo) of `o` as `summarize` shows it, with the disks holding it. */
  const onDisks = <T extends SimObj>(
    o: T,
    summarize: (o: T) => ReturnType<typeof summary>,
    view: (sum: ReturnType<typeof summary>, disks: number[]) => unknown,
  ) => view(summarize(o), store.disksOf(o));
  return {
    ...layoutMethods(store, startTime),
    VolumesList: { http: "GET", fn: () => Object.values(store.st.volumes).map(summary) },
    Volume: { http: "GET", fn: (a) => [summary(volume(a))] },
    VolumeDescribe: { http: "GET", fn: (a) => onDisks(volume(a), summary, described) },
    VolumeGetInfo: { http: "GET", fn: (a) => onDisks(volume(a), summary, info) },
    VolumeListSnapshots: {
      http: "GET",
      fn: (a) => {
        const v = volume(a);
        const out = [];
        let p = v.parentName;
        while (p && store.st.snapshots[p]) {
          out.push(snapSummary(store.st.snapshots[p]));
          p = store.st.snapshots[p].parentName;
        }
        return out;
      },
    },
    VolumesSpace: {
      http: "GET",
      fn: () => spaceList(Object.values(store.st.volumes), summary),
    },
    VolumesGetStatus: {
      http: "GET",
      fn: async () =>
        statuses(
          await allocatedEach([
            ...Object.values(store.st.volumes),
            ...Object.values(store.st.snapshots),
          ]),
        ),
    },
    // the same without the stored sizes (no data file is looked at)
    VolumesGetStatusQuick: { http: "GET", fn: () => statuses() },
    VolumeCreate: {
      http: "POST",
      mutates: true,
      // without a name the volume is unnamed: it goes by `~<globalId>` (a name the API's
      // types take wherever a volume is named), which the reply's `name` gives
      fn: async (_a, b) => {
        const unnamed = b.name === undefined || b.name === null;
        const name = unnamed ? undefined : checkName("volume", b.name);
        if (name !== undefined && store.st.volumes[name]) {
          throw new SimError(409, "objectExists", `Volume ${name} already exists`);
        }
        const tags = checkTags(b.tags);
        let src: SimObj | undefined;
        let parentName = "";
        if (b.parent !== undefined && b.baseOn !== undefined) {
          throw invalid("parent and baseOn are mutually exclusive");
        }
        if (typeof b.parent === "string") {
          src = store.findSnapshot(b.parent);
          parentName = src.name;
        } else if (typeof b.baseOn === "string") {
          src = store.findVolume(b.baseOn);
          parentName = src.parentName;
        }
        if (!src && b.size === undefined) throw invalid("size is required without parent/baseOn");
        const size = b.size === undefined ? src!.size : checkSize(b.size);
        if (src && size < src.size) throw invalid(`size ${size} is smaller than the parent's`);
        const tpl = typeof b.template === "string" ? store.findTemplate(b.template) : undefined;
        const place = placementsOf(b);
        const templateName = tpl?.name ?? src?.templateName ?? "";
        const base = tpl ?? (src ? undefined : store.st.templates[templateName]);
        store.reserve(templateName, size);
        const ids = store.newIds();
        const v: SimObj = {
          name: name ?? `~${ids.globalId}`,
          ...ids,
          size,
          templateName,
          parentName,
          replication: optReplication(b.replication) ?? base?.replication ?? src?.replication ??
            3,
          placeAll: place.placeAll ?? base?.placeAll ?? src?.placeAll ?? "default",
          placeTail: place.placeTail ?? base?.placeTail ?? src?.placeTail ?? "default",
          placeHead: place.placeHead ?? base?.placeHead ?? src?.placeHead ?? "default",
          iops: optNum(b.iops, "iops") ?? base?.iops ?? src?.iops,
          bw: optNum(b.bw, "bw") ?? base?.bw ?? src?.bw,
          tags,
          creationTimestamp: store.now(),
          file: store.fileFor(ids.globalId),
        };
        if (src) await copyData(src.file, v.file);
        await setSize(v.file, size);
        store.st.volumes[v.name] = v;
        store.implyGroups(v);
        const extra: Record<string, unknown> = { globalId: v.globalId };
        if (unnamed) extra.name = v.name;
        if (b.baseOn !== undefined) {
          extra.autoName = anonSnapshotName(src!.name, ids.visibleVolumeId);
        }
        return store.ok(extra);
      },
    },
    VolumeUpdate: {
      http: "POST",
      mutates: true,
      fn: async (a, b) => {
        const v = volume(a);
        const tags = b.tags === undefined ? undefined : checkTags(b.tags);
        let size: number | undefined;
        if (b.size !== undefined) size = checkSize(b.size);
        if (b.sizeAdd !== undefined) size = v.size + checkSize(b.sizeAdd, "sizeAdd");
        if (size !== undefined && size < v.size && b.shrinkOk !== true) {
          throw invalid(`Shrinking volume ${v.name} needs shrinkOk`);
        }
        const tpl = typeof b.template === "string" ? store.findTemplate(b.template) : undefined;
        const newName = b.rename === undefined ? undefined : checkName("volume", b.rename);
        const place = placementsOf(b);
        const replication = optReplication(b.replication);
        if (newName !== undefined) {
          if (newName !== v.name && store.st.volumes[newName]) {
            throw new SimError(409, "objectExists", `Volume ${newName} already exists`);
          }
        }
        if (size !== undefined && size > v.size) {
          store.reserve(tpl?.name ?? v.templateName, size - v.size);
        }
        if (size !== undefined && size !== v.size) {
          await setSize(v.file, size);
          v.size = size;
        }
        if (tpl) v.templateName = tpl.name;
        Object.assign(v, place);
        store.implyGroups(place);
        if (replication !== undefined) v.replication = replication;
        if (b.iops !== undefined) v.iops = optNum(b.iops, "iops");
        if (b.bw !== undefined) v.bw = optNum(b.bw, "bw");
        if (tags) mergeTags(v.tags, tags);
        if (newName !== undefined && newName !== v.name) {
          const old = v.name;
          delete store.st.volumes[old];
          v.name = newName;
          store.st.volumes[newName] = v;
          for (const s of Object.values(store.st.snapshots)) {
            if (s.onVolume === old) s.onVolume = newName;
          }
          for (const att of store.attachmentsOf(old, false)) {
            att.volume = newName;
            await store.unlink(att.client, old);
            await store.link(att.client, newName, v.file);
          }
        }
        return store.ok();
      },
    },
    VolumeDelete: {
      http: "POST",
      mutates: true,
      fn: async (a) => {
        const v = volume(a);
        store.refuseAttached(v.name, false, "Volume");
        delete store.st.volumes[v.name];
        await removeFile(v.file);
        return store.ok();
      },
    },
    VolumeFreeze: {
      http: "POST",
      mutates: true,
      fn: (a, b) => {
        const v = volume(a);
        store.refuseAttached(v.name, false, "Volume");
        if (store.st.snapshots[v.name]) {
          throw new SimError(409, "objectExists", `Snapshot ${v.name} already exists`);
        }
        const deleteAfter = optNum(b?.deleteAfter, "deleteAfter") ?? 0;
        delete store.st.volumes[v.name];
        store.st.snapshots[v.name] = {
          ...v,
          onVolume: v.name,
          autoName: false,
          bound: false,
          targetDeleteDate: deleteAfter > 0 ? store.now() + deleteAfter : 0,
        };
        return store.ok();
      },
    },
    VolumeRevert: {
      http: "POST",
      mutates: true,
      fn: async (a, b) => {
        const v = volume(a);
        if (typeof b?.toSnapshot !== "string") throw invalid("toSnapshot is required");
        const s = store.findSnapshot(b.toSnapshot);
        const chain = new Set<string>();
        for (let p = v.parentName; p && store.st.snapshots[p] && !chain.has(p);) {
          chain.add(p);
          p = store.st.snapshots[p].parentName;
        }
        if (s.onVolume !== v.name && !chain.has(s.name)) {
          throw invalid(`Snapshot ${s.name} is not a parent of volume ${v.name}`);
        }
        store.refuseAttached(v.name, false, "Volume");
        const revertSize = b.revertSize !== false;
        const size = revertSize ? s.size : Math.max(v.size, s.size);
        if (size > v.size) store.reserve(v.templateName, size - v.size);
        const tmp = `${v.file}.revert`;
        await copyData(s.file, tmp);
        await setSize(tmp, size);
        await Deno.rename(tmp, v.file);
        v.size = size;
        v.parentName = s.name;
        return store.ok();
      },
    },
    VolumeSnapshot: {
      http: "POST",
      mutates: true,
      fn: async (a, b) => {
        const v = volume(a);
        const body = b ?? {};
        if (body.name !== undefined) checkName("snapshot", body.name);
        const s = await store.makeSnapshot(v, body.name, body);
        store.st.snapshots[s.name] = s;
        v.parentName = s.name;
        return store.ok({
          snapshotGlobalId: s.globalId,
          snapshotVisibleVolumeId: s.visibleVolumeId,
          ...(s.autoName ? { autoName: s.name } : {}),
        });
      },
    },
    SnapshotsList: { http: "GET", fn: () => Object.values(store.st.snapshots).map(snapSummary) },
    Snapshot: { http: "GET", fn: (a) => [snapSummary(snapshot(a))] },
    SnapshotDescribe: { http: "GET", fn: (a) => onDisks(snapshot(a), snapSummary, described) },
    SnapshotGetInfo: { http: "GET", fn: (a) => onDisks(snapshot(a), snapSummary, info) },
    SnapshotsSpace: {
      http: "GET",
      fn: () => spaceList(Object.values(store.st.snapshots), snapSummary),
    },
    SnapshotUpdate: {
      http: "POST",
      mutates: true,
      fn: (a, b) => {
        const s = snapshot(a);
        const tags = b?.tags === undefined ? undefined : checkTags(b.tags);
        if (b?.rename !== undefined) {
          checkName("snapshot", b.rename);
          if (b.rename !== s.name && store.st.snapshots[b.rename]) {
            throw new SimError(409, "objectExists", `Snapshot ${b.rename} already exists`);
          }
        }
        if (typeof b?.template === "string") s.templateName = store.findTemplate(b.template).name;
        if (tags) mergeTags(s.tags, tags);
        if (b?.bind !== undefined) s.bound = b.bind === true;
        if (b?.deleteAfter !== undefined) {
          const d = optNum(b.deleteAfter, "deleteAfter")!;
          s.targetDeleteDate = d > 0 ? store.now() + d : 0;
        }
        if (b?.targetDeleteDate !== undefined) {
          s.targetDeleteDate = optNum(b.targetDeleteDate, "targetDeleteDate")!;
        }
        if (b?.rename !== undefined && b.rename !== s.name) {
          const old = s.name;
          delete store.st.snapshots[old];
          s.name = b.rename;
          store.st.snapshots[s.name] = s;
          for (
            const o of [...Object.values(store.st.volumes), ...Object.values(store.st.snapshots)]
          ) {
            if (o.parentName === old) o.parentName = s.name;
          }
          for (const att of store.attachmentsOf(old, true)) att.volume = s.name;
        }
        return store.ok();
      },
    },
    SnapshotDelete: {
      http: "POST",
      mutates: true,
      fn: async (a) => {
        const s = snapshot(a);
        store.refuseAttached(s.name, true, "Snapshot");
        await store.dropSnapshot(s);
        return store.ok();
      },
    },
    SnapshotDeleteById: {
      http: "POST",
      mutates: true,
      fn: async (a) => {
        const s = store.findSnapshot(`~${needArg(a, "snapshot").replace(/^~/, "")}`);
        store.refuseAttached(s.name, true, "Snapshot");
        await store.dropSnapshot(s);
        return store.ok();
      },
    },
    VolumesGroupSnapshot: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        if (!b || !Array.isArray(b.volumes) || !b.volumes.length) {
          throw invalid("volumes must be a non-empty list");
        }
        const common = checkTags(b.tags);
        const names = new Set<string>();
        const plan: { v: SimObj; name?: string; tags: Record<string, string> }[] = [];
        for (const it of b.volumes as Json[]) {
          const v = store.findVolume(String(it?.volume));
          if (it.name !== undefined) {
            checkName("snapshot", it.name);
            if (store.st.snapshots[it.name] || names.has(it.name)) {
              throw new SimError(409, "objectExists", `Snapshot ${it.name} already exists`);
            }
            names.add(it.name);
          }
          plan.push({ v, name: it.name, tags: { ...common, ...checkTags(it.tags) } });
        }
        const ts = store.now();
        const made: SimSnap[] = [];
        try {
          for (const p of plan) {
            made.push(await store.makeSnapshot(p.v, p.name, { tags: p.tags }, ts));
          }
        } catch (e) {
          for (const s of made) await removeFile(s.file);
          throw e;
        }
        for (let i = 0; i < made.length; i++) {
          store.st.snapshots[made[i].name] = made[i];
          plan[i].v.parentName = made[i].name;
        }
        return {
          ...store.ok(),
          snapshots: made.map((s, i) => ({
            volume: plan[i].v.name,
            volumeGlobalId: plan[i].v.globalId,
            snapshot: s.name,
            snapshotGlobalId: s.globalId,
            remoteId: s.globalId,
          })),
        };
      },
    },
    VolumeTemplatesList: {
      http: "GET",
      fn: () => Object.values(store.st.templates).map(templateSummary),
    },
    VolumeTemplateDescribe: {
      http: "GET",
      fn: (a) => templateSummary(store.findTemplate(needArg(a, "template"))),
    },
    VolumeTemplatesStatus: {
      http: "GET",
      fn: async () => {
        const out = [];
        for (const t of Object.values(store.st.templates)) {
          const vols = Object.values(store.st.volumes).filter((v) => v.templateName === t.name);
          const snaps = Object.values(store.st.snapshots).filter((s) => s.templateName === t.name);
          let stored = 0;
          for (const n of await allocatedEach([...vols, ...snaps])) stored += n;
          const size = vols.reduce((n, v) => n + v.size, 0);
          const free = Math.max(0, t.capacity - store.templateUsed(t.name));
          const est = { capacity: t.capacity, free };
          out.push({
            name: t.name,
            placeAll: t.placeAll,
            placeTail: t.placeTail,
            placeHead: t.placeHead,
            replication: t.replication,
            volumesCount: vols.length,
            snapshotsCount: snaps.length,
            removingSnapshotsCount: 0,
            size,
            totalSize: size * t.replication,
            storedSize: stored,
            onDiskSize: stored * t.replication,
            availablePlaceAll: free * t.replication,
            availablePlaceTail: free,
            availablePlaceHead: free,
            capacityPlaceAll: t.capacity * t.replication,
            capacityPlaceTail: t.capacity,
            capacityPlaceHead: t.capacity,
            stored: {
              ...est,
              internal: { u1: 0, u2: 0, u3: 0 },
              placeAll: est,
              placeTail: est,
              placeHead: est,
            },
          });
        }
        return out;
      },
    },
    VolumeTemplateCreate: {
      http: "POST",
      mutates: true,
      fn: (_a, b) => {
        checkName("template", b?.name);
        const place = placementsOf(b);
        if (store.st.templates[b.name]) {
          throw new SimError(409, "objectExists", `Template ${b.name} already exists`);
        }
        const t = store.st.templates[b.name] = {
          name: b.name,
          capacity: 100 * GiB,
          replication: optReplication(b.replication) ?? 3,
          placeAll: place.placeAll ?? "default",
          placeTail: place.placeTail ?? place.placeAll ?? "default",
          placeHead: place.placeHead ?? place.placeAll ?? "default",
          iops: optNum(b.iops, "iops"),
          bw: optNum(b.bw, "bw"),
          disks: [],
        };
        store.implyGroups(t);
        store.syncDisks(t);
        return store.ok();
      },
    },
    VolumeTemplateUpdate: {
      http: "POST",
      mutates: true,
      fn: (a, b) => {
        const t = store.findTemplate(needArg(a, "template"));
        const place = placementsOf(b);
        const replication = optReplication(b?.replication);
        const iops = b?.iops === undefined ? t.iops : optNum(b.iops, "iops");
        const bw = b?.bw === undefined ? t.bw : optNum(b.bw, "bw");
        Object.assign(t, place, { iops, bw });
        store.implyGroups(place);
        if (replication !== undefined && replication !== t.replication) {
          t.replication = replication;
          store.syncDisks(t);
        }
        return store.ok();
      },
    },
    // refused while volumes or snapshots are in it (the API's docs say nothing: a store that
    // keeps the template of each volume would not drop one in use); its disks go with it
    VolumeTemplateDelete: {
      http: "POST",
      mutates: true,
      fn: (a) => {
        store.dropTemplate(store.findTemplate(needArg(a, "template")));
        return store.ok();
      },
    },
    AttachmentsList: {
      http: "GET",
      fn: () =>
        store.st.attachments.map((a) => ({
          volume: a.volume,
          snapshot: a.snapshot,
          client: a.client,
          rights: a.snapshot ? "ro" : a.rights,
          pos: a.pos,
          globalId: (a.snapshot ? store.st.snapshots[a.volume] : store.st.volumes[a.volume])
            ?.globalId,
          open: a.open,
        })),
    },
    VolumesReassign: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        await store.reassign(b, 0);
        return store.ok();
      },
    },
    VolumesReassignWait: {
      http: "POST",
      mutates: true,
      fn: async (_a, b) => {
        if (!b || typeof b !== "object") throw invalid("body must be an object");
        const t = b.attachTimeout === undefined
          ? undefined
          : optNum(b.attachTimeout, "attachTimeout");
        await store.reassign(b.reassign, t);
        return store.ok();
      },
    },
  };
}

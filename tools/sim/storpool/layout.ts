/**
 * The StorPool API methods of the simulated cluster's layout: its services and servers, its
 * disks and its placement groups, over a store.
 *
 * The layout follows the templates (store.ts, syncDisks): each template has one disk a copy,
 * disk i on server i + 1, each the size of the template's capacity and holding a copy of each of
 * the template's volumes and snapshots, so that the disks add up to what VolumeTemplatesStatus
 * reports. Placement groups are stored; a template or volume that names a missing one makes it.
 */
import {
  type ApiMethod,
  checkDiskId,
  checkId,
  checkName,
  type DiskRef,
  exists,
  invalid,
  type Json,
  needArg,
  notFound,
  type SimTemplate,
} from "./model.ts";
import { allocatedEach, type SpStore } from "./store.ts";
import {
  type DiskLoad,
  diskLoad,
  diskObjects,
  diskSummary,
  groupView,
  serversView,
  service,
} from "./views.ts";

/** The highest server id the API takes. */
const MAX_SERVER_ID = 0x7fff;

/** The layout's API methods over `store`; the services run since `startTime`. */
export function layoutMethods(store: SpStore, startTime: number): Record<string, ApiMethod> {
  /** The running servers: one for each copy of the template with the most (at least one). */
  const serverIds = () => {
    const n = Math.max(1, ...store.disks().map((d) => d.index + 1));
    return Array.from({ length: n }, (_, i) => i + 1);
  };
  const findServer = (a: string | undefined) => {
    const id = checkId(needArg(a, "server"), 1, MAX_SERVER_ID, "server id");
    if (!serverIds().includes(id)) throw notFound(`Server ${id}`);
    return id;
  };
  /** `disks` as DisksList shows them, by id (each template's load reckoned once). */
  const disksView = (disks: DiskRef[]) => {
    const loads = new Map<SimTemplate, DiskLoad>();
    const loadOf = (t: SimTemplate) => {
      let l = loads.get(t);
      if (!l) loads.set(t, l = diskLoad(store.templateObjs(t.name)));
      return l;
    };
    return Object.fromEntries(disks.map((d) => [String(d.id), diskSummary(d, loadOf(d.t))]));
  };
  /** DiskDescribe: the disk with the objects on it. */
  const describeDisk = async (d: DiskRef) => {
    const objs = store.templateObjs(d.t.name);
    return {
      ...diskSummary(d, diskLoad(objs)),
      objects: diskObjects(objs, await allocatedEach(objs)),
    };
  };
  /** ServicesList without the clients when `clients` is false (ServersList). */
  const cluster = (clients: boolean) => ({
    clusterStatus: "running",
    mgmt: { "1": { ...service(1, startTime), active: true } },
    ...(clients
      ? {
        clients: Object.fromEntries(
          Object.values(store.clients).sort((a, b) => a - b).map((id) => [
            String(id),
            service(id, startTime),
          ]),
        ),
      }
      : {}),
    servers: serversView(serverIds(), startTime),
    bridges: {},
    iscsiTargets: {},
  });
  /** A list of disk ids of a request (absent or null: none); each disk must exist. */
  const diskIds = (v: unknown, what: string): number[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw invalid(`${what} must be a list of disk ids`);
    return v.map((x) => store.findDisk(checkDiskId(x)).id);
  };

  return {
    // every client of the `clients` map runs; one active mgmt per cluster
    ServicesList: { http: "GET", fn: () => cluster(true) },
    ServersList: { http: "GET", fn: () => cluster(false) },
    ServerDisksList: {
      http: "GET",
      fn: (a) => {
        const id = findServer(a);
        return disksView(store.disks().filter((d) => d.index + 1 === id));
      },
    },
    ServerDiskDescribe: {
      http: "GET",
      fn: (a) => {
        const [server, disk, ...more] = needArg(a, "server").split("/");
        if (disk === undefined || more.length) throw invalid("the path is <serverId>/<diskId>");
        const id = findServer(server);
        const d = store.findDisk(checkDiskId(disk));
        if (d.index + 1 !== id) throw notFound(`Disk ${d.id} on server ${id}`);
        return describeDisk(d);
      },
    },
    DisksList: { http: "GET", fn: () => disksView(store.disks()) },
    DiskDescribe: {
      http: "GET",
      fn: (a) => describeDisk(store.findDisk(checkDiskId(needArg(a, "disk")))),
    },
    PlacementGroupsList: {
      http: "GET",
      fn: () =>
        Object.fromEntries(
          Object.values(store.st.placementGroups).map((g) => [g.name, groupView(g)]),
        ),
    },
    PlacementGroupDescribe: {
      http: "GET",
      fn: (a) => groupView(store.findGroup(needArg(a, "placement group"))),
    },
    // made when missing (the API's documented behaviour); renamed where templates, volumes and
    // snapshots name it; disks added, then removed
    PlacementGroupUpdate: {
      http: "POST",
      mutates: true,
      fn: (a, b: Json) => {
        const name = checkName("placement group", needArg(a, "placement group"));
        const add = diskIds(b?.addDisks, "addDisks");
        const rm = diskIds(b?.rmDisks, "rmDisks");
        const to = b?.rename === undefined || b?.rename === null
          ? undefined
          : checkName("placement group", b.rename);
        if (to !== undefined && to !== name && store.st.placementGroups[to]) {
          throw exists(`Placement group ${to}`);
        }
        const g = store.group(name);
        g.disks = [...new Set([...g.disks, ...add])].filter((d) => !rm.includes(d));
        if (to !== undefined && to !== name) store.renameGroup(g, to);
        return store.ok();
      },
    },
    // refused while a template, volume or snapshot names it (its disks just leave it)
    PlacementGroupDelete: {
      http: "POST",
      mutates: true,
      fn: (a) => {
        store.dropGroup(store.findGroup(needArg(a, "placement group")));
        return store.ok();
      },
    },
  };
}

/**
 * What the simulated LINSTOR controller shows: the JSON views of its objects as the real REST
 * API returns them (nodes, pools, groups, definitions, resources with DRBD layer data,
 * snapshots) and the GET listings with their filters and paging.
 */
import { fail, notConnectedWarning, type SimReply } from "./replies.ts";
import { FAIL_NOT_FOUND_SNAPSHOT } from "./codes.ts";
import { backingDevice, rscPeerSlots, storageUsableKib } from "./drbd_layer.ts";
import {
  align,
  derivedUuid,
  drbdMetaKib,
  k,
  nicsOf,
  PEER_SLOTS,
  type SimNic,
  type SimNode,
  type SimPool,
  type SimRd,
  type SimRg,
  type SimRsc,
  type SimSnap,
  type SimVd,
  SNAP_KINDS,
  THIN_KINDS,
  volumeProps,
} from "./model.ts";
import { type SimController } from "./controller.ts";
import { allocatedKib, memoVolumeDirs, poolFreeKib } from "./placement.ts";

/** GET /v1/controller/version. */
export function version(): SimReply {
  return {
    status: 200,
    body: {
      version: "1.34.0",
      git_hash: "0000000000000000000000000000000000000000",
      build_time: "2026-06-02T00:00:00+00:00",
      rest_api_version: "1.28.0",
    },
  };
}

/** A node as GET /v1/nodes shows it. */
export function nodeView(n: SimNode): Record<string, unknown> {
  return {
    name: n.name,
    type: n.type,
    flags: n.evacuate ? ["EVACUATE"] : [],
    props: {
      CurStltConnName: (nicsOf(n).find((x) => x.active) ?? nicsOf(n)[0]).name,
      ...n.props,
    },
    net_interfaces: nicsOf(n).map(nicView),
    connection_status: n.offline ? "OFFLINE" : "ONLINE",
    uuid: n.uuid,
    storage_providers: ["DISKLESS", "LVM", "LVM_THIN", "ZFS", "ZFS_THIN", "FILE", "FILE_THIN"],
    resource_layers: ["DRBD", "LUKS", "STORAGE"],
    unsupported_providers: {},
    unsupported_layers: {},
  };
}

/** A network interface as the node listings show it. */
export function nicView(x: SimNic): Record<string, unknown> {
  return {
    name: x.name,
    address: x.address,
    satellite_port: x.port,
    satellite_encryption_type: x.encryption,
    is_active: x.active,
    uuid: x.uuid,
  };
}

/** GET /v1/nodes. */
export function listNodes(ctl: SimController, q: URLSearchParams): SimReply {
  const names = q.getAll("nodes").map(k);
  const props = q.getAll("props");
  const list = ctl.state.nodes
    .filter((n) => !names.length || names.includes(k(n.name)))
    .filter((n) => propsMatch(n.props, props))
    .map((n) => nodeView(n));
  return { status: 200, body: page(list, q) };
}

/** A storage pool as the pool listings show it (no capacity while its satellite is offline). */
export function poolView(ctl: SimController, p: SimPool): Record<string, unknown> {
  const thin = THIN_KINDS.has(p.kind);
  const v: Record<string, unknown> = {
    storage_pool_name: p.name,
    node_name: p.node,
    provider_kind: p.kind,
    props: { ...p.props },
    static_traits: p.kind === "DISKLESS" ? { SupportsSnapshots: "false" } : {
      Provisioning: thin ? "Thin" : "Fat",
      SupportsSnapshots: String(SNAP_KINDS.has(p.kind)),
    },
    free_space_mgr_name: `${p.node};${p.name}`,
    uuid: p.uuid,
    reports: [],
    supports_snapshots: SNAP_KINDS.has(p.kind),
    external_locking: false,
  };
  if (!ctl.isOnline(p.node)) {
    // no satellite, no free-space report: capacities unknown, a WARN_NOT_CONNECTED report
    v.reports = [notConnectedWarning(p.node)];
  } else if (p.kind !== "DISKLESS") {
    v.free_capacity = poolFreeKib(ctl, p);
    v.total_capacity = p.totalKib;
  }
  return v;
}

/** GET /v1/view/storage-pools, or GET /v1/nodes/{node}/storage-pools with `node`. */
export function listPools(ctl: SimController, q: URLSearchParams, node?: string): SimReply {
  if (node) ctl.needNode(node);
  // a pool listing asks the satellites for fresh free-space reports
  ctl.usage.refreshAll();
  const nodes = node ? [k(node)] : q.getAll("nodes").map(k);
  const pools = q.getAll("storage_pools").map(k);
  const props = q.getAll("props");
  const list = ctl.state.pools
    .filter((p) => !nodes.length || nodes.includes(k(p.node)))
    .filter((p) => !pools.length || pools.includes(k(p.name)))
    .filter((p) => propsMatch(p.props, props))
    .sort((a, b) => a.node.localeCompare(b.node) || a.name.localeCompare(b.name))
    .map((p) => poolView(ctl, p));
  return { status: 200, body: page(list, q) };
}

/** A resource group as GET /v1/resource-groups shows it. */
export function rgView(g: SimRg): Record<string, unknown> {
  const v: Record<string, unknown> = {
    name: g.name,
    ...(g.description !== undefined ? { description: g.description } : {}),
    props: { ...g.props },
    // a one-pool list shows as storage_pool as well
    select_filter: {
      ...g.filter,
      ...((g.filter.storage_pool_list as string[] | undefined)?.length === 1
        ? { storage_pool: (g.filter.storage_pool_list as string[])[0] }
        : {}),
    },
    uuid: g.uuid,
  };
  if (g.peerSlots !== undefined) v.peer_slots = g.peerSlots;
  return v;
}

/** GET /v1/resource-groups. */
export function listRgs(ctl: SimController, q: URLSearchParams): SimReply {
  const names = q.getAll("resource_groups").map(k);
  const props = q.getAll("props");
  const list = ctl.state.rgs
    .filter((g) => !names.length || names.includes(k(g.name)))
    .filter((g) => propsMatch(g.props, props))
    .map((g) => rgView(g));
  return { status: 200, body: page(list, q) };
}

/** GET /v1/resource-groups/{rg}/volume-groups. */
export function listVgs(ctl: SimController, rgName: string): SimReply {
  const g = ctl.needRg(rgName);
  return {
    status: 200,
    body: g.vgs.map((v) => ({
      volume_number: v.nr,
      props: { ...v.props },
      uuid: v.uuid,
      flags: [...v.flags],
    })),
  };
}

/** A resource definition as GET /v1/resource-definitions shows it. */
export function rdView(rd: SimRd, withVds: boolean): Record<string, unknown> {
  const v: Record<string, unknown> = {
    name: rd.name,
    props: { ...rd.props },
    flags: [...rd.flags],
    layer_data: [{
      type: "DRBD",
      data: {
        resource_name_suffix: "",
        peer_slots: rd.peerSlots ?? PEER_SLOTS,
        al_stripes: 1,
        al_stripe_size_kib: 32,
        port: rd.port,
        transport_type: "IP",
        secret: rd.secret ?? "simulated",
        down: false,
      },
    }, { type: "STORAGE" }],
    uuid: rd.uuid,
    resource_group_name: rd.rg,
  };
  if (rd.extName !== undefined) v.external_name = rd.extName;
  if (withVds) v.volume_definitions = rd.vds.map((vd) => vdView(vd));
  return v;
}

/** A volume definition as the listings show it. */
export function vdView(vd: SimVd): Record<string, unknown> {
  return {
    volume_number: vd.nr,
    size_kib: vd.sizeKib,
    props: { ...vd.props },
    flags: [...vd.flags],
    layer_data: [{
      type: "DRBD",
      data: { resource_name_suffix: "", volume_number: vd.nr, minor_number: vd.minor },
    }, { type: "STORAGE" }],
    uuid: vd.uuid,
  };
}

/** GET /v1/resource-definitions. */
export function listRds(ctl: SimController, q: URLSearchParams): SimReply {
  const names = q.getAll("resource_definitions").map(k);
  const props = q.getAll("props");
  const withVds = q.get("with_volume_definitions") === "true";
  const list = selectRds(ctl, names)
    .filter((r) => propsMatch(r.props, props))
    .map((r) => rdView(r, withVds));
  return { status: 200, body: page(list, q) };
}

/** GET /v1/resource-definitions/{r}/sync-status. */
export function syncStatus(ctl: SimController, name: string): SimReply {
  const rd = ctl.needRd(name);
  // a disconnected satellite (or a deactivated replica) reports no disk state: the replica is
  // not known to be UpToDate
  const synced = rd.rscs.every((r) => r.diskless || reportsState(ctl, r));
  return { status: 200, body: { synced_on_all: synced } };
}

/** GET /v1/resource-definitions/{r}/volume-definitions. */
export function listVds(ctl: SimController, name: string): SimReply {
  const rd = ctl.needRd(name);
  return { status: 200, body: rd.vds.map((v) => vdView(v)) };
}

/** A resource's flags (diskless, tie-breaker, inactive, evacuate) in the controller's order. */
export function rscFlags(r: SimRsc): string[] {
  const flags = r.tieBreaker
    ? ["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"]
    : r.diskless
    ? ["DISKLESS", "DRBD_DISKLESS"]
    : [];
  if (r.inactive) flags.push("INACTIVE");
  if (r.evacuate) flags.push("EVACUATE");
  return flags;
}

/**
 * Whether `r`'s satellite reports its DRBD state: connected, and `r` not deactivated (its
 * device is down then).
 */
function reportsState(ctl: SimController, r: SimRsc): boolean {
  return ctl.isOnline(r.node) && !r.inactive;
}

/** A resource with its DRBD layer data (and volumes with `withVolumes`). */
export function rscView(
  ctl: SimController,
  rd: SimRd,
  r: SimRsc,
  withVolumes: boolean,
): Record<string, unknown> {
  const inUse = ctl.isInUse(rd, r.node);
  const otherPrimary = rd.rscs.some((o) => o !== r && ctl.isInUse(rd, o.node));
  const pool = ctl.pool(r.node, r.pool);
  // A disconnected satellite reports nothing (no state, no connections, no disk states);
  // its connected peers see their DRBD connection to it as Connecting. A deactivated resource
  // reports nothing either.
  const online = reportsState(ctl, r);
  const connections: Record<string, unknown> = {};
  for (const o of peersOf(rd, r)) {
    if (!online) continue;
    connections[o.node] = ctl.isOnline(o.node)
      ? { connected: true, message: "Connected" }
      : { connected: false, message: "Connecting" };
  }
  const v: Record<string, unknown> = {
    name: rd.name,
    node_name: r.node,
    props: { ...r.props },
    flags: rscFlags(r),
    layer_object: {
      children: [{
        type: "STORAGE",
        resource_name_suffix: "",
        storage: {
          storage_volumes: rd.vds.map((vd) => ({
            volume_number: vd.nr,
            ...(r.diskless ? {} : { device_path: backingDevice(rd, vd, pool) }),
            allocated_size_kib: allocatedKib(ctl, rd, r, vd),
            usable_size_kib: r.diskless ? 0 : storageUsableKib(rd, r, vd, pool),
            disk_state: r.diskless ? "[]" : "",
          })),
        },
      }],
      resource_name_suffix: "",
      type: "DRBD",
      drbd: {
        node_id: r.nodeId,
        tcp_ports: [rd.port],
        peer_slots: rscPeerSlots(rd, r),
        al_stripes: 1,
        al_size: 32,
        // a DRBD client (non-voting diskless) carries CLIENT
        flags: r.tieBreaker
          ? ["INITIALIZED", "DISKLESS"]
          : r.diskless
          ? ["DISKLESS", "INITIALIZED", ...(r.client ? ["CLIENT"] : [])]
          : ["INITIALIZED"],
        connections,
        promotion_score: otherPrimary ? 0 : r.diskless ? 1 : 10102,
        may_promote: !otherPrimary && !inUse,
      },
    },
    uuid: r.uuid,
    create_timestamp: r.created,
  };
  if (online) v.state = { in_use: inUse };
  if (withVolumes) v.volumes = rd.vds.map((vd) => volumeView(ctl, rd, r, vd));
  return v;
}

/** One volume of a resource (its DRBD device and backing storage), as the volume listings show it. */
export function volumeView(
  ctl: SimController,
  rd: SimRd,
  r: SimRsc,
  vd: SimVd,
): Record<string, unknown> {
  const online = reportsState(ctl, r);
  const pool = ctl.pool(r.node, r.pool);
  return {
    volume_number: vd.nr,
    storage_pool_name: r.pool,
    provider_kind: pool?.kind ?? "DISKLESS",
    device_path: `/dev/drbd${vd.minor}`,
    allocated_size_kib: allocatedKib(ctl, rd, r, vd),
    usable_size_kib: vd.sizeKib,
    // the volume's own properties (the volume definition's are not repeated here)
    props: volumeProps(r, vd.nr),
    flags: [],
    ...(online
      ? {
        state: {
          disk_state: r.diskless ? "Diskless" : "UpToDate",
          replication_states: replicationStates(ctl, rd, r),
        },
      }
      : {}),
    // only the DRBD entry: the spec's oneOf cannot tell a STORAGE entry from an NVME one
    layer_data_list: [{
      type: "DRBD",
      data: {
        drbd_volume_definition: {
          resource_name_suffix: "",
          volume_number: vd.nr,
          minor_number: vd.minor,
        },
        device_path: `/dev/drbd${vd.minor}`,
        ...(r.diskless ? {} : { backing_device: backingDevice(rd, vd, pool) }),
        meta_disk: "internal",
        allocated_size_kib: r.diskless
          ? 0
          : align(vd.sizeKib, 4) + drbdMetaKib(vd.sizeKib, rscPeerSlots(rd, r)),
        usable_size_kib: vd.sizeKib,
        disk_state: !online ? "Unknown" : r.diskless ? "Diskless" : "UpToDate",
      },
    }],
    uuid: derivedUuid(r.uuid, "volume", vd.nr),
    reports: [],
  };
}

/**
 * The DRBD peers of `r`: every other resource, except that two diskless resources (tie-breaker,
 * client or plain diskless) do not connect to each other and that a deactivated one is no
 * one's peer (the satellite's resource file builder leaves those connections out).
 */
function peersOf(rd: SimRd, r: SimRsc): SimRsc[] {
  return rd.rscs.filter((o) => o !== r && !o.inactive && !(o.diskless && r.diskless));
}

/**
 * Per DRBD peer the replication state of a volume, as the satellite reports it: Established
 * with a connected peer, Off with one whose satellite is gone.
 */
function replicationStates(
  ctl: SimController,
  rd: SimRd,
  r: SimRsc,
): Record<string, { replication_state: string }> {
  const out: Record<string, { replication_state: string }> = {};
  for (const o of peersOf(rd, r)) {
    out[o.node] = { replication_state: ctl.isOnline(o.node) ? "Established" : "Off" };
  }
  return out;
}

/** GET /v1/view/resources. */
export function viewResources(ctl: SimController, q: URLSearchParams): SimReply {
  // One listing stats each volume file once, however many replicas show it.
  ctl.allocMemo = new Map();
  memoVolumeDirs(ctl, ctl.allocMemo);
  try {
    return listAllResources(ctl, q);
  } finally {
    ctl.allocMemo = undefined;
  }
}

function listAllResources(ctl: SimController, q: URLSearchParams): SimReply {
  const nodes = q.getAll("nodes").map(k);
  const rscs = q.getAll("resources").map(k);
  const pools = q.getAll("storage_pools").map(k);
  const props = q.getAll("props");
  const list: Record<string, unknown>[] = [];
  for (const rd of selectRds(ctl, rscs)) {
    for (const r of rd.rscs) {
      if (nodes.length && !nodes.includes(k(r.node))) continue;
      if (!propsMatch(r.props, props)) continue;
      if (pools.length && !pools.includes(k(r.pool))) continue;
      list.push(rscView(ctl, rd, r, true));
    }
  }
  return { status: 200, body: page(list, q) };
}

/** GET /v1/resource-definitions/{r}/resources. */
export function listRscs(ctl: SimController, name: string, q: URLSearchParams): SimReply {
  const rd = ctl.needRd(name);
  return { status: 200, body: page(rd.rscs.map((r) => rscView(ctl, rd, r, false)), q) };
}

/** A snapshot definition as the snapshot listings show it. */
export function snapView(rd: SimRd, s: SimSnap): Record<string, unknown> {
  return {
    name: s.name,
    resource_name: rd.name,
    nodes: [...s.nodes],
    // (compatibility) the definition's properties merged with the snapshot definition's
    props: { ...rd.props, ...s.props },
    snapshot_definition_props: { ...s.props },
    resource_definition_props: { ...rd.props },
    flags: ["SUCCESSFUL"],
    volume_definitions: s.vds.map((v) => ({ volume_number: v.nr, size_kib: v.sizeKib })),
    uuid: s.uuid,
    // each node's snapshot and each snapshot volume is an object of its own, with its uuid
    snapshots: s.nodes.map((n) => ({
      snapshot_name: s.name,
      node_name: n,
      create_timestamp: s.created,
      flags: [],
      uuid: derivedUuid(s.uuid, n),
      snapshot_volumes: s.vds.map((v) => ({
        uuid: derivedUuid(s.uuid, n, v.nr),
        vlm_nr: v.nr,
        state: "",
      })),
    })),
  };
}

/** GET /v1/resource-definitions/{r}/snapshots. */
export function listSnaps(ctl: SimController, name: string): SimReply {
  const rd = ctl.needRd(name);
  return { status: 200, body: rd.snaps.map((s) => snapView(rd, s)) };
}

/** GET /v1/resource-definitions/{r}/snapshots/{s}. */
export function getSnap(ctl: SimController, name: string, snap: string): SimReply {
  const rd = ctl.needRd(name);
  const s = ctl.snap(rd, snap);
  if (!s) fail(FAIL_NOT_FOUND_SNAPSHOT, `Snapshot '${snap}' not found.`);
  return { status: 200, body: snapView(rd, s) };
}

/** GET /v1/view/snapshots. */
export function viewSnaps(ctl: SimController, q: URLSearchParams): SimReply {
  const nodes = q.getAll("nodes").map(k);
  const rscs = q.getAll("resources").map(k);
  const list: Record<string, unknown>[] = [];
  for (const rd of selectRds(ctl, rscs)) {
    for (const s of rd.snaps) {
      if (nodes.length && !s.nodes.some((n) => nodes.includes(k(n)))) continue;
      list.push(snapView(rd, s));
    }
  }
  return { status: 200, body: page(list, q) };
}

/**
 * The definitions a listing filtered by resource names covers, in listing order (all of them
 * without a filter); looked up by name, so a filtered listing costs the same at any size.
 */
function selectRds(ctl: SimController, names: string[]): SimRd[] {
  if (!names.length) return ctl.state.rds;
  const found = new Set<SimRd>();
  for (const n of names) {
    const rd = ctl.rd(n);
    if (rd) found.add(rd);
  }
  if (found.size <= 1) return [...found];
  return ctl.state.rds.filter((r) => found.has(r));
}

function propsMatch(props: Record<string, string>, filters: string[]): boolean {
  for (const f of filters) {
    const i = f.indexOf("=");
    const key = i < 0 ? f : f.slice(0, i);
    const v = props[key];
    if (v === undefined) return false;
    if (i >= 0 && v !== f.slice(i + 1)) return false;
  }
  return true;
}

/** One page of a listing: the query's `limit` entries from `offset` (all without a limit). */
export function page<T>(list: T[], q: URLSearchParams): T[] {
  const limit = Number(q.get("limit") ?? 0);
  const offset = Number(q.get("offset") ?? 0);
  if (limit > 0) return list.slice(offset, offset + limit);
  return list;
}

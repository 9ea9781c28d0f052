/**
 * Request body checking of the simulated LINSTOR controller: like the real controller's JSON
 * binding (Jackson), unknown properties and wrong types are rejected with HTTP 400
 * (API_CALL_PARSE_ERROR).
 */
import { parseErrorReply, type SimReply } from "./replies.ts";

type FieldType =
  | "string"
  | "int"
  | "bool"
  | "number"
  | "strings"
  | "ints"
  | "props"
  | "intmap"
  | { obj: Shape }
  | { arr: Shape };
/** Allowed fields of a request object. */
export type Shape = Record<string, FieldType>;

const FILTER: Shape = {
  place_count: "int",
  additional_place_count: "int",
  node_name_list: "strings",
  storage_pool: "string",
  storage_pool_list: "strings",
  storage_pool_diskless_list: "strings",
  not_place_with_rsc: "strings",
  not_place_with_rsc_regex: "string",
  replicas_on_same: "strings",
  replicas_on_different: "strings",
  x_replicas_on_different_map: "intmap",
  layer_stack: "strings",
  provider_list: "strings",
  diskless_on_remaining: "bool",
  diskless_type: "string",
  overprovision: "number",
  port_count: "int",
};
const RD_SHAPE: Shape = {
  name: "string",
  external_name: "string",
  props: "props",
  flags: "strings",
  layer_data: { arr: { type: "string", data: { obj: {} } } },
  uuid: "string",
  resource_group_name: "string",
  volume_definitions: { arr: {} },
};
const VD_SHAPE: Shape = {
  volume_number: "int",
  size_kib: "int",
  props: "props",
  flags: "strings",
  layer_data: { arr: {} },
  uuid: "string",
};
const RSC_SHAPE: Shape = {
  name: "string",
  node_name: "string",
  props: "props",
  effective_props: "props",
  flags: "strings",
  layer_object: { obj: {} },
  state: { obj: { in_use: "bool" } },
  uuid: "string",
  create_timestamp: "int",
};
const SNAP_SHAPE: Shape = {
  name: "string",
  resource_name: "string",
  nodes: "strings",
  props: "props",
  snapshot_definition_props: "props",
  resource_definition_props: "props",
  flags: "strings",
  volume_definitions: { arr: { volume_number: "int", size_kib: "int" } },
  uuid: "string",
  snapshots: { arr: {} },
};

/** Request shapes by name. */
export const SHAPES: Record<string, Shape> = {
  Node: {
    name: "string",
    type: "string",
    flags: "strings",
    props: "props",
    net_interfaces: {
      arr: {
        name: "string",
        address: "string",
        satellite_port: "int",
        satellite_encryption_type: "string",
        is_active: "bool",
        uuid: "string",
      },
    },
    connection_status: "string",
    uuid: "string",
    storage_providers: "strings",
    resource_layers: "strings",
  },
  StoragePool: {
    storage_pool_name: "string",
    node_name: "string",
    provider_kind: "string",
    props: "props",
    free_space_mgr_name: "string",
    uuid: "string",
    supports_snapshots: "bool",
    shared_space: "string",
    external_locking: "bool",
    free_capacity: "int",
    total_capacity: "int",
  },
  ResourceGroup: {
    name: "string",
    props: "props",
    select_filter: { obj: FILTER },
    uuid: "string",
    peer_slots: "int",
  },
  ResourceGroupModify: {
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    select_filter: { obj: FILTER },
    peer_slots: "int",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  VolumeGroup: { volume_number: "int", props: "props", uuid: "string", flags: "strings" },
  ResourceGroupSpawn: {
    resource_definition_name: "string",
    resource_definition_external_name: "string",
    volume_sizes: "ints",
    select_filter: { obj: FILTER },
    partial: "bool",
    definitions_only: "bool",
    peer_slots: "int",
    volume_passphrases: "strings",
    resource_definition_props: "props",
  },
  QuerySizeInfoRequest: { select_filter: { obj: FILTER }, ignore_cache_older_than_sec: "int" },
  ResourceDefinitionCreate: {
    drbd_port: "int",
    drbd_secret: "string",
    drbd_peer_slots: "int",
    drbd_transport_type: "string",
    resource_definition: { obj: RD_SHAPE },
  },
  ResourceDefinitionModify: {
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    drbd_port: "int",
    drbd_peer_slots: "int",
    layer_stack: "strings",
    resource_group: "string",
  },
  VolumeDefinitionCreate: {
    volume_definition: { obj: VD_SHAPE },
    drbd_minor_number: "int",
    passphrase: "string",
  },
  VolumeDefinitionModify: {
    size_kib: "int",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    flags: "strings",
  },
  ResourceCreate: {
    resource: { obj: RSC_SHAPE },
    layer_list: "strings",
    drbd_node_id: "int",
    drbd_tcp_port_count: "int",
    drbd_tcp_ports: "ints",
    snap_names: "strings",
    copy_all_snaps: "bool",
    drbd_client: "bool",
  },
  ResourceMakeAvailable: {
    layer_list: "strings",
    diskful: "bool",
    drbd_tcp_ports: "ints",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  ResourceModify: {
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    drbd_tiebreaker: "bool",
    drbd_client: "bool",
  },
  AutoPlaceRequest: {
    diskless_on_remaining: "bool",
    select_filter: { obj: FILTER },
    layer_list: "strings",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  Snapshot: SNAP_SHAPE,
  CreateMultiSnapshotRequest: { snapshots: { arr: SNAP_SHAPE } },
  SnapshotRestore: { to_resource: "string", nodes: "strings", stor_pool_rename: "props" },
  SnapshotRollback: { zfs_rollback_strategy: "string" },
  ResourceDefinitionCloneRequest: {
    name: "string",
    external_name: "string",
    use_zfs_clone: "bool",
    layer_list: "strings",
    volume_passphrases: "strings",
    resource_group: "string",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
  },
};

function checkShape(v: unknown, shape: Shape, path: string): string | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return `${path}: expected an object`;
  const lenient = Object.keys(shape).length === 0;
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    const t = shape[key];
    const p = `${path}.${key}`;
    if (!t) {
      if (lenient) continue;
      return `Unrecognized field "${key}" (${path})`;
    }
    if (val === null) continue;
    const err = checkType(val, t, p);
    if (err) return err;
  }
  return null;
}

function checkType(val: unknown, t: FieldType, p: string): string | null {
  if (t === "string") return typeof val === "string" ? null : `${p}: expected a string`;
  if (t === "int") return Number.isInteger(val) ? null : `${p}: expected an integer`;
  if (t === "number") return typeof val === "number" ? null : `${p}: expected a number`;
  if (t === "bool") return typeof val === "boolean" ? null : `${p}: expected a boolean`;
  if (t === "strings") {
    return Array.isArray(val) && val.every((x) => typeof x === "string")
      ? null
      : `${p}: expected an array of strings`;
  }
  if (t === "ints") {
    return Array.isArray(val) && val.every((x) => Number.isInteger(x))
      ? null
      : `${p}: expected an array of integers`;
  }
  if (t === "props" || t === "intmap") {
    if (typeof val !== "object" || Array.isArray(val)) return `${p}: expected an object`;
    for (const x of Object.values(val as Record<string, unknown>)) {
      if (t === "props" && typeof x !== "string") return `${p}: values must be strings`;
      if (t === "intmap" && !Number.isInteger(x)) return `${p}: values must be integers`;
    }
    return null;
  }
  if ("obj" in t) return checkShape(val, t.obj, p);
  if (!Array.isArray(val)) return `${p}: expected an array`;
  for (let i = 0; i < val.length; i++) {
    const e = checkShape(val[i], t.arr, `${p}[${i}]`);
    if (e) return e;
  }
  return null;
}

/** Validate a request body against a shape; returns a 400 reply or null. */
export function checkBody(body: unknown, shapeName: string): SimReply | null {
  const err = checkShape(body ?? {}, SHAPES[shapeName], shapeName);
  return err ? parseErrorReply(err) : null;
}

/**
 * Request bodies of the simulated LINSTOR controller, read the way the real controller's JSON
 * binding reads them (issue 11 item 1). The controller maps every body onto its generated
 * request classes with a default Jackson 2 ObjectMapper, so:
 * - unknown fields are refused ("Unrecognized field … not marked as ignorable");
 * - scalars are coerced: "2" / " 2 " / 2.7 → 2 for integers (text trimmed, decimal only,
 *   in range), "true" / "False" (any case, trimmed) → booleans, a JSON number → true/false
 *   for booleans (0 is false), numbers and booleans → their text for strings, "" and
 *   "null" → null (absent; 0/false for the few primitive fields);
 * - a single value is not wrapped into a list, objects and lists never become scalars.
 * {@link readBody} returns the body with the coerced values, or the parse error reply
 * (API_CALL_PARSE_ERROR; the HTTP status depends on the handler, see routes.ts).
 *
 * The field lists follow the controller's request classes (JsonGenTypes, REST API 1.28); the
 * class names appear in the error details as in the real messages.
 */

/** A field type: scalar kinds (`!` = Java primitive: null becomes 0/false), lists, maps. */
type FieldType =
  | "string"
  | "int"
  | "int!"
  | "long"
  | "long!"
  | "bool"
  | "bool!"
  | "double"
  | "strings"
  | "ints"
  | "longs"
  | "props"
  | "intmap"
  | "any"
  | { obj: string }
  | { arr: string };
/** Allowed fields of a request class. */
export type Shape = Record<string, FieldType>;

/** The property changes every modify request carries (JsonGenTypes.PropsModify's fields). */
const PROPS_MODIFY: Shape = {
  override_props: "props",
  delete_props: "strings",
  delete_namespaces: "strings",
};

const AUTO_SELECT_FILTER: Shape = {
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
  overprovision: "double",
  port_count: "int",
};

/** Request classes by name (JsonGenTypes$<name> in the controller). */
export const SHAPES: Record<string, Shape> = {
  AutoSelectFilter: AUTO_SELECT_FILTER,
  NetInterface: {
    name: "string",
    address: "string",
    satellite_port: "int",
    satellite_encryption_type: "string",
    is_active: "bool",
    uuid: "string",
  },
  Node: {
    name: "string",
    type: "string",
    flags: "strings",
    props: "props",
    net_interfaces: { arr: "NetInterface" },
    connection_status: "string",
    uuid: "string",
    storage_providers: "strings",
    resource_layers: "strings",
    unsupported_providers: "any",
    unsupported_layers: "any",
    eviction_timestamp: "long",
    platform: "string",
    os_variant: "string",
  },
  NodeModify: {
    node_type: "string",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
  },
  NodeEvacuate: { target: "strings", do_not_target: "strings" },
  NodeRestore: { delete_resources: "bool", delete_snapshots: "bool" },
  StoragePool: {
    storage_pool_name: "string",
    node_name: "string",
    provider_kind: "string",
    props: "props",
    static_traits: "props",
    free_capacity: "long",
    total_capacity: "long",
    free_space_mgr_name: "string",
    uuid: "string",
    reports: "any",
    supports_snapshots: "bool",
    shared_space: "string",
    external_locking: "bool!",
  },
  ResourceGroup: {
    name: "string",
    description: "string",
    props: "props",
    select_filter: { obj: "AutoSelectFilter" },
    uuid: "string",
    peer_slots: "int",
  },
  ResourceGroupModify: {
    description: "string",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    select_filter: { obj: "AutoSelectFilter" },
    peer_slots: "int",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  VolumeGroup: { volume_number: "int", props: "props", uuid: "string", flags: "strings" },
  VolumeGroupModify: {
    override_props: "props",
    flags: "strings",
    delete_props: "strings",
    delete_namespaces: "strings",
  },
  ResourceGroupSpawn: {
    resource_definition_name: "string",
    resource_definition_external_name: "string",
    volume_sizes: "longs",
    select_filter: { obj: "AutoSelectFilter" },
    partial: "bool!",
    definitions_only: "bool!",
    peer_slots: "int",
    volume_passphrases: "strings",
    resource_definition_props: "props",
  },
  QuerySizeInfoRequest: {
    select_filter: { obj: "AutoSelectFilter" },
    ignore_cache_older_than_sec: "int!",
  },
  ResourceDefinition: {
    name: "string",
    external_name: "string",
    props: "props",
    flags: "strings",
    layer_data: "any",
    uuid: "string",
    resource_group_name: "string",
    volume_definitions: "any",
  },
  ResourceDefinitionCreate: {
    drbd_port: "int",
    drbd_secret: "string",
    drbd_peer_slots: "int",
    drbd_transport_type: "string",
    resource_definition: { obj: "ResourceDefinition" },
  },
  ResourceDefinitionModify: {
    ...PROPS_MODIFY,
    drbd_port: "int",
    drbd_peer_slots: "int",
    layer_stack: "strings",
    resource_group: "string",
  },
  VolumeDefinition: {
    volume_number: "int",
    size_kib: "long!",
    props: "props",
    flags: "strings",
    layer_data: "any",
    uuid: "string",
  },
  VolumeDefinitionCreate: {
    volume_definition: { obj: "VolumeDefinition" },
    drbd_minor_number: "int",
    passphrase: "string",
  },
  VolumeDefinitionModify: {
    size_kib: "long",
    override_props: "props",
    delete_props: "strings",
    delete_namespaces: "strings",
    flags: "strings",
  },
  Resource: {
    name: "string",
    node_name: "string",
    props: "props",
    effective_props: "any",
    flags: "strings",
    layer_object: "any",
    state: "any",
    uuid: "string",
    create_timestamp: "long",
  },
  ResourceCreate: {
    resource: { obj: "Resource" },
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
    diskful: "bool!",
    drbd_tcp_ports: "ints",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  ToggleDiskRequest: {
    operation: "string",
    storage_pool: "string",
    migrate_from: "string",
    layer_list: "strings",
  },
  ToggleDiskDiskful: { layer_list: "strings" },
  NodeConnectionModify: PROPS_MODIFY,
  ResourceConnectionModify: PROPS_MODIFY,
  ControllerPropsModify: PROPS_MODIFY,
  KeyValueStoreModify: PROPS_MODIFY,
  StoragePoolDefinitionModify: PROPS_MODIFY,
  ResourceModify: {
    ...PROPS_MODIFY,
    drbd_tiebreaker: "bool",
    drbd_client: "bool",
  },
  VolumeModify: PROPS_MODIFY,
  AutoPlaceRequest: {
    diskless_on_remaining: "bool!",
    select_filter: { obj: "AutoSelectFilter" },
    layer_list: "strings",
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  SnapshotVolumeDefinition: {
    volume_number: "int",
    size_kib: "long",
    snapshot_volume_definition_props: "props",
    volume_definition_props: "props",
  },
  Snapshot: {
    name: "string",
    resource_name: "string",
    nodes: "strings",
    props: "props",
    snapshot_definition_props: "props",
    resource_definition_props: "props",
    flags: "strings",
    volume_definitions: { arr: "SnapshotVolumeDefinition" },
    uuid: "string",
    snapshots: "any",
  },
  CreateMultiSnapshotRequest: { snapshots: { arr: "Snapshot" } },
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
  PassPhraseCreate: { new_passphrase: "string", old_passphrase: "string" },
  ErrorReportDelete: {
    since: "long",
    to: "long",
    nodes: "strings",
    exception: "string",
    version: "string",
    ids: "strings",
  },
  ResourceGroupAdjust: {
    select_filter: { obj: "AutoSelectFilter" },
    snap_names: "strings",
    copy_all_snaps: "bool",
  },
  // the controller's and a satellite's configuration (`…/config`: log levels)
  ControllerConfig: {
    config: { obj: "ControllerConfigConfig" },
    debug: { obj: "ControllerConfigDebug" },
    log: { obj: "ControllerConfigLog" },
    db: { obj: "ControllerConfigDb" },
    http: { obj: "ControllerConfigHttp" },
    https: { obj: "ControllerConfigHttps" },
    ldap: { obj: "ControllerConfigLdap" },
  },
  ControllerConfigConfig: { dir: "string" },
  ControllerConfigDebug: { console_enabled: "bool" },
  ControllerConfigLog: {
    print_stack_trace: "bool",
    directory: "string",
    level: "string",
    level_global: "string",
    level_linstor: "string",
    level_linstor_global: "string",
    rest_access_log_path: "string",
    rest_access_mode: "string",
  },
  ControllerConfigDb: {
    connection_url: "string",
    ca_certificate: "string",
    client_certificate: "string",
    in_memory: "string",
    version_check_disabled: "bool",
    etcd: { obj: "ControllerConfigDbEtcd" },
    k8s: { obj: "ControllerConfigDbK8s" },
  },
  ControllerConfigDbEtcd: { operations_per_transaction: "int", prefix: "string" },
  ControllerConfigDbK8s: { request_retries: "int", max_rollback_entries: "int" },
  ControllerConfigHttp: { enabled: "bool", listen_address: "string", port: "int" },
  ControllerConfigHttps: { enabled: "bool", listen_address: "string", port: "int" },
  ControllerConfigLdap: {
    enabled: "bool",
    public_access_allowed: "bool",
    uri: "string",
    dn: "string",
    search_base: "string",
    search_filter: "string",
  },
  SatelliteConfig: {
    config: { obj: "ControllerConfigConfig" },
    debug: { obj: "ControllerConfigDebug" },
    log: { obj: "SatelliteConfigLog" },
    stlt_override_node_name: "string",
    remote_spdk: "bool",
    ebs: "bool",
    special_satellite: "bool",
    drbd_keep_res_pattern: "string",
    net: { obj: "SatelliteConfigNet" },
  },
  SatelliteConfigLog: {
    print_stack_trace: "bool",
    directory: "string",
    level: "string",
    level_linstor: "string",
  },
  SatelliteConfigNet: { bind_address: "string", port: "int", com_type: "string" },
};

const CLASS_PREFIX = "com.linbit.linstor.api.rest.v1.serializer.JsonGenTypes$";

/** A Jackson binding failure (its message becomes the parse error's details). */
class BindError extends Error {}

function javaType(t: FieldType): string {
  if (t === "string") return "java.lang.String";
  if (t === "int" || t === "int!") return t === "int" ? "java.lang.Integer" : "int";
  if (t === "long" || t === "long!") return t === "long" ? "java.lang.Long" : "long";
  if (t === "bool" || t === "bool!") return t === "bool" ? "java.lang.Boolean" : "boolean";
  if (t === "double") return "java.lang.Double";
  return "java.util.ArrayList<java.lang.String>";
}

function tokenOf(v: unknown): string {
  if (Array.isArray(v)) return "Array value (token `JsonToken.START_ARRAY`)";
  if (v !== null && typeof v === "object") return "Object value (token `JsonToken.START_OBJECT`)";
  if (typeof v === "string") return `String "${v}"`;
  if (typeof v === "boolean") {
    return `Boolean value (token \`JsonToken.VALUE_${v ? "TRUE" : "FALSE"}\`)`;
  }
  return `Number value (token \`JsonToken.VALUE_NUMBER_${Number.isInteger(v) ? "INT" : "FLOAT"}\`)`;
}

function cannot(t: FieldType, v: unknown, why = ""): never {
  throw new BindError(
    `Cannot deserialize value of type \`${javaType(t)}\` from ${tokenOf(v)}${why}`,
  );
}

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/** One scalar or list value coerced like Jackson's defaults (null: absent). */
function coerce(v: unknown, t: FieldType, where: string[]): unknown {
  if (typeof t === "object") {
    if ("obj" in t) return coerceObject(v, t.obj, where);
    if (v === null) return null;
    if (!Array.isArray(v)) cannot("strings", v);
    return v.map((x) => coerceObject(x, t.arr, where));
  }
  const primitive = t.endsWith("!");
  const base = (primitive ? t.slice(0, -1) : t) as FieldType;
  const scalar = base === "int" || base === "long" || base === "bool" || base === "double";
  if (
    v === null ||
    (scalar && typeof v === "string" && (v.trim() === "" || v.trim() === "null"))
  ) {
    if (!primitive) return null;
    return base === "bool" ? false : 0;
  }
  switch (base) {
    case "any":
      return v;
    case "string":
      if (typeof v === "string") return v;
      if (typeof v === "number" || typeof v === "boolean") return String(v);
      return cannot(t, v);
    case "int":
    case "long": {
      let n: number;
      if (typeof v === "number") n = Math.trunc(v);
      else if (typeof v === "string" && /^\s*[-+]?\d+\s*$/.test(v)) n = Number(v.trim());
      else if (typeof v === "string") {
        return cannot(t, v, `: not a valid \`${javaType(t)}\` value`);
      } else return cannot(t, v);
      if (base === "int" && (n < INT_MIN || n > INT_MAX)) {
        return cannot(t, v, `: Numeric value (${v}) out of range of int`);
      }
      return n;
    }
    case "double":
      if (typeof v === "number") return v;
      if (typeof v === "string" && Number.isFinite(Number(v.trim()))) return Number(v.trim());
      return cannot(t, v, typeof v === "string" ? ": not a valid `Double` value" : "");
    case "bool":
      if (typeof v === "boolean") return v;
      if (typeof v === "number" && Number.isInteger(v)) return v !== 0;
      if (typeof v === "string" && /^(true|false)$/i.test(v.trim())) {
        return v.trim().toLowerCase() === "true";
      }
      return cannot(
        t,
        v,
        typeof v === "string" ? ': only "true" or "false" recognized' : "",
      );
    case "strings":
    case "ints":
    case "longs": {
      if (!Array.isArray(v)) return cannot(t, v);
      const el: FieldType = base === "strings" ? "string" : base === "ints" ? "int" : "long";
      return v.map((x, i) => coerce(x, el, [...where, `[${i}]`]));
    }
    case "props":
    case "intmap": {
      if (typeof v !== "object" || Array.isArray(v)) {
        throw new BindError(
          `Cannot deserialize value of type \`java.util.LinkedHashMap<java.lang.String,${
            base === "props" ? "java.lang.String" : "java.lang.Integer"
          }>\` from ${tokenOf(v)}`,
        );
      }
      const out: Record<string, unknown> = {};
      for (const [key, x] of Object.entries(v as Record<string, unknown>)) {
        out[key] = coerce(x, base === "props" ? "string" : "int", [...where, `["${key}"]`]);
      }
      return out;
    }
  }
  return v;
}

function coerceObject(v: unknown, cls: string, where: string[]): Record<string, unknown> | null {
  if (v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) {
    throw new BindError(
      `Cannot construct instance of \`${CLASS_PREFIX}${cls}\`: no suitable creator method found to deserialize from ${
        tokenOf(v)
      }`,
    );
  }
  const shape = SHAPES[cls];
  const out: Record<string, unknown> = {};
  for (const [key, val] of Object.entries(v as Record<string, unknown>)) {
    const t = shape[key];
    if (!t) {
      throw new BindError(
        `Unrecognized field "${key}" (class ${CLASS_PREFIX}${cls}), not marked as ignorable (${
          Object.keys(shape).length
        } known properties: ${Object.keys(shape).map((x) => `"${x}"`).join(", ")})`,
      );
    }
    try {
      const c = coerce(val, t, [...where, key]);
      if (c !== null) out[key] = c;
    } catch (e) {
      if (!(e instanceof BindError) || e.message.includes("(through reference chain")) throw e;
      throw new BindError(
        `${e.message}\n (through reference chain: ${CLASS_PREFIX}${cls}["${key}"])`,
      );
    }
  }
  return out;
}

/**
 * Bind a request body (parsed JSON) to request class `shape` (`Name[]` for a list, `String`
 * for a JSON text): the coerced body, or the Jackson-like message of why it cannot be bound.
 */
export function bindBody(
  body: unknown,
  shape: string,
): { ok: true; body: unknown } | { ok: false; details: string } {
  try {
    // a body read as a plain `java.lang.String` (the passphrase entered)
    if (shape === "String") return { ok: true, body: coerce(body, "string", []) };
    if (shape.endsWith("[]")) {
      const cls = shape.slice(0, -2);
      if (!Array.isArray(body)) {
        throw new BindError(
          `Cannot deserialize value of type \`java.util.ArrayList<${CLASS_PREFIX}${cls}>\` from ${
            tokenOf(body)
          }`,
        );
      }
      return { ok: true, body: body.map((x) => coerceObject(x, cls, [])) };
    }
    return { ok: true, body: coerceObject(body ?? {}, shape, []) ?? {} };
  } catch (e) {
    if (e instanceof BindError) return { ok: false, details: e.message };
    throw e;
  }
}

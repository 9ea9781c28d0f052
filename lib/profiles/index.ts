/**
 * The three compatibility profiles, selected by driver name.
 *
 * Names and attributes follow the add-ons exactly (docs/linstor.md §1, docs/storpool.md §2b),
 * so existing datastores and images keep working with no data movement.
 */
import { OneblkError } from "../errors.ts";
import type { Placement } from "../backend/types.ts";
import { type Attrs, type DiskFacts, intAttr, type Profile } from "./types.ts";

export type { Attrs, DiskFacts, Profile, StoreConfig } from "./types.ts";

function opts(entries: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(entries).filter(([, v]) => v.trim() !== ""));
}

/** LINSTOR metadata keys (stored as Aux/one/<key> by the LINSTOR backend). */
function linstorDiskProps(vmId: number, diskId: number, dsId: number): Record<string, string> {
  return { VM_ID: String(vmId), DISK_ID: String(diskId), DS_ID: String(dsId) };
}

function numbered(prefix: string, suffix = ""): (name: string) => number | null {
  return (name) => {
    if (!name.startsWith(prefix) || !name.endsWith(suffix)) return null;
    const mid = name.slice(prefix.length, name.length - suffix.length);
    return /^\d+$/.test(mid) ? Number(mid) : null;
  };
}

/** addon-linstor 3.x (OpenNebula's official, Python). */
export const linstor: Profile = {
  name: "linstor",
  keepImageFormat: true,
  cdromClone: false,
  store(ds) {
    return {
      kind: "linstor",
      controllers: ds.get("LINSTOR_CONTROLLERS") || "linstor://localhost",
      caFile: ds.get("LINSTOR_CAFILE") || undefined,
      certFile: ds.get("LINSTOR_CERTFILE") || undefined,
      keyFile: ds.get("LINSTOR_KEYFILE") || undefined,
    };
  },
  placement(ds): Placement {
    // 1.x/2.x attributes are honoured when no resource group is configured.
    return {
      group: ds.get("LINSTOR_RESOURCE_GROUP"),
      replicas: intAttr(ds.get("LINSTOR_AUTO_PLACE")),
      options: opts({
        storage_pool: ds.get("LINSTOR_STORAGE_POOL"),
        node_list: ds.get("LINSTOR_DEPLOYMENT_NODES"),
      }),
    };
  },
  imageVolume: (id) => `OpenNebula-Image-${id}`,
  imageSource: (id) => `OpenNebula-Image-${id}`,
  sourceVolume: (source) => source.trim(),
  diskVolume(vmId, d: DiskFacts) {
    if (d.volatile || !d.source) return `OpenNebula-Volatile-vm${vmId}-disk${d.diskId}`;
    if (!d.persistent && d.type !== "CDROM") return `${d.source}-vm${vmId}-disk${d.diskId}`;
    return d.source;
  },
  volatileVolume: (vmId, diskId) => `OpenNebula-Volatile-vm${vmId}-disk${diskId}`,
  checkpointVolume: (vmId) => `OpenNebula-Checkpoint-vm${vmId}`,
  backupSnapshotName: (_v, vmId) => `OpenNebula-Backup-vm${vmId}`,
  backupVolume: (vmId, diskId) => `OpenNebula-Backup-vm${vmId}-disk${diskId}`,
  snapshotName: (_v, snapId) => `OpenNebula-Snap-${snapId}`,
  snapshotId: (_v, s) => numbered("OpenNebula-Snap-")(s),
  vmSnapshotName: (_v, snapId, ts) => `OpenNebula-VmSnap-${snapId}-${ts}`,
  contextVolume: () => null,
  diskProps: linstorDiskProps,
  dsMatch: (dsId) => ({ DS_ID: String(dsId) }),
};

/** addon-linstor_un (community, bash). */
export const linstorUn: Profile = {
  name: "linstor_un",
  keepImageFormat: false,
  cdromClone: false,
  store(ds) {
    return {
      kind: "linstor",
      controllers: ds.get("LS_CONTROLLERS") || "linstor://localhost",
      caFile: ds.get("LS_CAFILE") || undefined,
      certFile: ds.get("LS_CERTFILE") || undefined,
      keyFile: ds.get("LS_KEYFILE") || undefined,
    };
  },
  placement(ds): Placement {
    return {
      group: ds.get("RESOURCE_GROUP"),
      replicas: intAttr(ds.get("REPLICA_COUNT") || ds.get("AUTO_PLACE")),
      options: opts({
        storage_pool: ds.get("STORAGE_POOL"),
        diskless_pool: ds.get("DISKLESS_POOL"),
        node_list: ds.get("NODE_LIST"),
        layer_list: ds.get("LAYER_LIST"),
        providers: ds.get("PROVIDERS"),
        replicas_on_same: ds.get("REPLICAS_ON_SAME"),
        replicas_on_different: ds.get("REPLICAS_ON_DIFFERENT"),
        do_not_place_with: ds.get("DO_NOT_PLACE_WITH"),
        do_not_place_with_regex: ds.get("DO_NOT_PLACE_WITH_REGEX"),
        encryption: ds.get("ENCRYPTION"),
        prefer_node: ds.get("PREFER_NODE"),
        clone_mode: ds.get("CLONE_MODE"),
        checkpoint_replicas: ds.get("CHECKPOINT_REPLICA_COUNT") ||
          ds.get("CHECKPOINT_AUTO_PLACE"),
      }),
    };
  },
  imageVolume: (id) => `one-image-${id}`,
  imageSource: (id) => `/dev/drbd/by-res/one-image-${id}/0`,
  sourceVolume(source) {
    const parts = source.trim().split("/").filter(Boolean);
    // /dev/drbd/by-res/<res>/0 → <res>; a bare resource name is accepted too.
    return parts.length >= 2 && parts[0] === "dev" ? parts[parts.length - 2] : source.trim();
  },
  diskVolume(vmId, d) {
    if (d.volatile || d.clone) return `one-vm-${vmId}-disk-${d.diskId}`;
    return `one-image-${d.imageId}`;
  },
  volatileVolume: (vmId, diskId) => `one-vm-${vmId}-disk-${diskId}`,
  checkpointVolume: (vmId) => `one-vm-${vmId}-checkpoint`,
  backupSnapshotName: (_v, vmId) => `backup-vm-${vmId}`,
  backupVolume: (vmId, diskId) => `one-vm-${vmId}-backup-${diskId}`,
  snapshotName: (_v, snapId) => `snapshot-${snapId}`,
  snapshotId: (_v, s) => numbered("snapshot-")(s),
  vmSnapshotName: (_v, snapId, ts) => `vmsnap-${snapId}-${ts}`,
  contextVolume: () => null,
  diskProps: linstorDiskProps,
  dsMatch: (dsId) => ({ DS_ID: String(dsId) }),
};

/** The ONE_PX prefix of addon-storpool (several OpenNebula instances on one cluster). */
export function storpoolPrefix(env: Record<string, string | undefined> = Deno.env.toObject()) {
  return env.ONE_PX || "one";
}

/** addon-storpool, with name prefix `px` (ONE_PX, default "one"). */
export function storpoolProfile(px: string): Profile {
  return {
    name: "storpool",
    keepImageFormat: false,
    cdromClone: true,
    store(ds) {
      const attrs: Record<string, string> = {};
      for (const k of ["SP_API_HTTP_HOST", "SP_API_HTTP_PORT", "SP_AUTH_TOKEN", "SP_CLONE_GW"]) {
        attrs[k] = ds.get(k);
      }
      return { kind: "storpool", attrs };
    },
    placement(ds: Attrs, dsId): Placement {
      return {
        group: `${px}-ds-${dsId}`,
        replicas: intAttr(ds.get("SP_REPLICATION")),
        options: opts({
          replication: ds.get("SP_REPLICATION"),
          placeAll: ds.get("SP_PLACEALL"),
          placeTail: ds.get("SP_PLACETAIL"),
          placeHead: ds.get("SP_PLACEHEAD"),
          qos: ds.get("SP_QOSCLASS"),
        }),
      };
    },
    imageVolume: (id) => `${px}-img-${id}`,
    imageSource: (id, dsId) => `${px}-ds-${dsId}/${px}-img-${id}`,
    sourceVolume(source) {
      const s = source.trim();
      return s.slice(s.lastIndexOf("/") + 1);
    },
    diskVolume(vmId, d) {
      if (d.volatile || !d.source) {
        const fmt = d.type === "SWAP" || d.type === "swap" ? "swap" : (d.format || "raw");
        return `${px}-sys-${vmId}-${d.diskId}-${fmt}`;
      }
      if (d.clone || d.type === "CDROM") return `${px}-img-${d.imageId}-${vmId}-${d.diskId}`;
      return `${px}-img-${d.imageId}`;
    },
    volatileVolume: (vmId, diskId, format) => `${px}-sys-${vmId}-${diskId}-${format || "raw"}`,
    checkpointVolume: (vmId) => `${px}-sys-${vmId}-rawcheckpoint`,
    backupSnapshotName: (volume, vmId) => `${volume}-onebackup-${vmId}`,
    backupVolume: (vmId, diskId) => `${px}-sys-${vmId}-${diskId}-backup`,
    snapshotName: (volume, snapId) => `${volume}-snap${snapId}`,
    snapshotId: (volume, s) => numbered(`${volume}-snap`)(s),
    vmSnapshotName: (volume, snapId, ts) => `${volume}-ONESNAP-${snapId}-${ts}`,
    contextVolume: (vmId, diskId) => `${px}-sys-${vmId}-${diskId}-iso`,
    diskProps: (vmId, diskId) => ({
      virt: "one",
      nloc: px,
      nvm: String(vmId),
      diskid: String(diskId),
    }),
    dsMatch: () => ({ virt: "one", nloc: px }),
  };
}

/** Every driver name oneblk answers to. */
export const DRIVERS = ["linstor", "linstor_un", "storpool"] as const;

/** The profile for a driver name; throws a usage error naming the known ones. */
export function profileFor(driver: string, env?: Record<string, string | undefined>): Profile {
  switch (driver) {
    case "linstor":
      return linstor;
    case "linstor_un":
      return linstorUn;
    case "storpool":
      return storpoolProfile(storpoolPrefix(env));
  }
  throw new OneblkError("usage", `unknown driver '${driver}' (known: ${DRIVERS.join(", ")})`);
}

/**
 * addon-linstor_un (community, bash), driver `linstor_un`.
 *
 * Datastore attributes:
 *  - store: LS_CONTROLLERS (default `linstor://localhost`), LS_CAFILE, LS_CERTFILE, LS_KEYFILE;
 *  - placement: RESOURCE_GROUP, or NODE_LIST / REPLICA_COUNT (AUTO_PLACE), STORAGE_POOL,
 *    DISKLESS_POOL, LAYER_LIST, PROVIDERS, REPLICAS_ON_SAME, REPLICAS_ON_DIFFERENT,
 *    DO_NOT_PLACE_WITH, DO_NOT_PLACE_WITH_REGEX, ENCRYPTION; PREFER_NODE (a volatile disk gets
 *    a replica on the VM's host), CLONE_MODE (`snapshot`: clones start from a snapshot) and
 *    CHECKPOINT_REPLICA_COUNT (CHECKPOINT_AUTO_PLACE: replicas of checkpoint volumes).
 * Names: image `one-image-<image>`, SOURCE its device `/dev/drbd/by-res/one-image-<image>/0`
 * (an adopted resource's: `/dev/drbd/by-res/<res>/<n>`; a disk uses the volume its SOURCE names),
 * private clone and volatile disk `one-vm-<vm>-disk-<disk>`, checkpoint
 * `one-vm-<vm>-checkpoint`, snapshot `snapshot-<snap>`; metadata Aux/one VM_ID, DISK_ID, DS_ID.
 * Images are always raw. Backup and VM snapshot names are oneblk's own.
 * VMM overrides: the add-on's `save_linstor_un`/`restore_linstor_un`; the deploy and disk
 * hot-plug overrides (`deploy_linstor_un` with its `deploy_linstor_un.d/` helper directory,
 * `attach_disk_linstor_un`, `detach_disk_linstor_un`) and the VM snapshot ones are oneblk's, the
 * add-on having none.
 */
import { type LinstorPlacement, parseVolumeRef, volumeRef } from "../backend/linstor/index.ts";
import {
  type AddOn,
  backupNames,
  flagAttr,
  intAttr,
  listAttr,
  numbered,
  type Profile,
  vmDiskIds,
} from "./types.ts";
import { envSetting } from "./setting.ts";

const profile: Profile = {
  name: "linstor_un",
  setting: envSetting,
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
  placement(ds): LinstorPlacement {
    return {
      group: ds.get("RESOURCE_GROUP"),
      replicas: intAttr(ds.get("REPLICA_COUNT") || ds.get("AUTO_PLACE")),
      storagePools: listAttr(ds.get("STORAGE_POOL")),
      disklessPools: listAttr(ds.get("DISKLESS_POOL")),
      nodes: listAttr(ds.get("NODE_LIST")),
      layers: listAttr(ds.get("LAYER_LIST")),
      providers: listAttr(ds.get("PROVIDERS")),
      replicasOnSame: listAttr(ds.get("REPLICAS_ON_SAME")),
      replicasOnDifferent: listAttr(ds.get("REPLICAS_ON_DIFFERENT")),
      notPlaceWith: listAttr(ds.get("DO_NOT_PLACE_WITH")),
      notPlaceWithRegex: ds.get("DO_NOT_PLACE_WITH_REGEX") || undefined,
      encryption: flagAttr(ds.get("ENCRYPTION")),
      preferLocal: flagAttr(ds.get("PREFER_NODE")),
      cloneFromSnapshot: ds.get("CLONE_MODE") === "snapshot" || undefined,
      checkpointReplicas: intAttr(
        ds.get("CHECKPOINT_REPLICA_COUNT") || ds.get("CHECKPOINT_AUTO_PLACE"),
      ),
    };
  },
  imageVolume: (id) => `one-image-${id}`,
  imageSource: (id) => `/dev/drbd/by-res/one-image-${id}/0`,
  sourceVolume(source) {
    const parts = source.trim().split("/").filter(Boolean);
    // /dev/drbd/by-res/<res>/0 → <res>, /dev/drbd/by-res/<res>/<n> → <res>/<n> (an adopted
    // resource's volume n); a bare resource name is accepted too.
    if (parts.length < 2 || parts[0] !== "dev") return source.trim();
    const n = parts[parts.length - 1];
    const res = parts[parts.length - 2];
    return /^\d+$/.test(n) ? volumeRef(res, Number(n)) : res;
  },
  volumeSource(volume) {
    const { rd, vnr } = parseVolumeRef(volume);
    return `/dev/drbd/by-res/${rd}/${vnr}`;
  },
  diskVolume(vmId, d) {
    if (d.volatile || d.clone) return `one-vm-${vmId}-disk-${d.diskId}`;
    // the image's own volume: the one its SOURCE names (an adopted resource keeps its name)
    return d.source ? profile.sourceVolume(d.source) : `one-image-${d.imageId}`;
  },
  volatileVolume: (vmId, diskId) => `one-vm-${vmId}-disk-${diskId}`,
  importStageVolume: (id) => `one-image-${id}-import`,
  checkpointVolume: (vmId) => `one-vm-${vmId}-checkpoint`,
  backupSnapshotName: (_v, vmId, diskId, inc) => backupNames.snapshot("", vmId, diskId, inc),
  backupSnapshotInc: (_v, vmId, diskId, s) => backupNames.inc("", vmId, diskId, s),
  backupVolume: (vmId, diskId, inc) => `one-vm-${vmId}-backup-${diskId}-${inc}`,
  restoreUndoName: (_v, vmId, diskId) => backupNames.undo("", vmId, diskId),
  snapshotName: (_v, snapId) => `snapshot-${snapId}`,
  snapshotId: (_v, s) => numbered("snapshot-")(s),
  vmSnapshotName: (_v, snapId, ts) => `vmsnap-${snapId}-${ts}`,
  contextVolume: () => null,
  vmStateVolume: () => null,
  vmStateProps: () => ({}),
  diskProps: vmDiskIds.props,
  dsMatch: vmDiskIds.match,
};

/** The `linstor_un` add-on. */
export const linstorUn: AddOn = {
  driver: "linstor_un",
  store: "linstor",
  replaces: "addon-linstor_un",
  profile: () => profile,
  vmmOverrides: {
    deploy: "deploy_linstor_un",
    save: "save_linstor_un",
    restore: "restore_linstor_un",
    attach_disk: "attach_disk_linstor_un",
    detach_disk: "detach_disk_linstor_un",
    snapshotcreate: "snapshot_create-linstor_un",
    snapshotrevert: "snapshot_revert-linstor_un",
    snapshotdelete: "snapshot_delete-linstor_un",
  },
  tmMadConf: [
    `NAME = "linstor_un", LN_TARGET = "NONE", CLONE_TARGET = "SYSTEM", SHARED = "YES",`,
    `DS_MIGRATE = "YES", ALLOW_ORPHANS = "YES"`,
  ],
  dsMadConf: {
    lines: [`NAME = "linstor_un", PERSISTENT_ONLY = "NO", MARKETPLACE_ACTIONS = "export"`],
    notes: [
      "No REQUIRED_ATTRS (as the add-on): placement takes RESOURCE_GROUP or NODE_LIST /",
      "REPLICA_COUNT, an either-or that REQUIRED_ATTRS cannot express.",
    ],
  },
};

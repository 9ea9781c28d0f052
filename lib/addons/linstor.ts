/**
 * addon-linstor (OpenNebula's, Python, by LINBIT), driver `linstor`.
 *
 * Datastore attributes:
 *  - store: LINSTOR_CONTROLLERS (comma list, default `linstor://localhost`), LINSTOR_CAFILE,
 *    LINSTOR_CERTFILE, LINSTOR_KEYFILE;
 *  - placement: LINSTOR_RESOURCE_GROUP; without a group the 1.x/2.x attributes still apply:
 *    LINSTOR_AUTO_PLACE (replica count), LINSTOR_STORAGE_POOL, LINSTOR_DEPLOYMENT_NODES.
 * Names: image `OpenNebula-Image-<image>` (also its SOURCE; an adopted resource's SOURCE is its
 * name, or `<res>/<n>` for a volume number n other than 0), private clone of a non-persistent
 * disk `<SOURCE>-vm<vm>-disk<disk>`, volatile disk `OpenNebula-Volatile-vm<vm>-disk<disk>`,
 * snapshot `OpenNebula-Snap-<snap>`. The add-on stores images as uploaded (a qcow2 stays qcow2)
 * and shares one CDROM image between VMs. Checkpoint, backup and VM snapshot names, and the
 * Aux/one VM_ID/DISK_ID/DS_ID metadata, are oneblk's own (the add-on has none), and so are the
 * VMM overrides, named like addon-linstor_un's (`save_linstor`, `deploy_linstor` with its
 * `deploy_linstor.d/` helper directory, `attach_disk_linstor`, `detach_disk_linstor`, …).
 */
import { type LinstorPlacement, rdOf } from "../backend/linstor/index.ts";
import {
  type AddOn,
  backupNames,
  intAttr,
  listAttr,
  numbered,
  type Profile,
  vmDiskIds,
} from "./types.ts";
import { envSetting } from "./setting.ts";

const profile: Profile = {
  name: "linstor",
  setting: envSetting,
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
  placement(ds): LinstorPlacement {
    // 1.x/2.x attributes are honoured when no resource group is configured.
    return {
      group: ds.get("LINSTOR_RESOURCE_GROUP"),
      replicas: intAttr(ds.get("LINSTOR_AUTO_PLACE")),
      storagePools: listAttr(ds.get("LINSTOR_STORAGE_POOL")),
      nodes: listAttr(ds.get("LINSTOR_DEPLOYMENT_NODES")),
    };
  },
  imageVolume: (id) => `OpenNebula-Image-${id}`,
  imageSource: (id) => `OpenNebula-Image-${id}`,
  sourceVolume: (source) => source.trim(),
  volumeSource: (volume) => volume,
  diskVolume(vmId, d) {
    if (d.volatile || !d.source) return `OpenNebula-Volatile-vm${vmId}-disk${d.diskId}`;
    // an adopted volume `<res>/<n>` is cloned into a new resource named after `<res>`
    if (!d.persistent && d.type !== "CDROM") return `${rdOf(d.source)}-vm${vmId}-disk${d.diskId}`;
    return d.source;
  },
  volatileVolume: (vmId, diskId) => `OpenNebula-Volatile-vm${vmId}-disk${diskId}`,
  importStageVolume: (id) => `OpenNebula-Import-${id}`,
  checkpointVolume: (vmId) => `OpenNebula-Checkpoint-vm${vmId}`,
  backupSnapshotName: (_v, vmId, diskId, inc) => backupNames.snapshot("", vmId, diskId, inc),
  backupSnapshotInc: (_v, vmId, diskId, s) => backupNames.inc("", vmId, diskId, s),
  backupVolume: (vmId, diskId, inc) => `OpenNebula-Backup-vm${vmId}-disk${diskId}-${inc}`,
  restoreUndoName: (_v, vmId, diskId) => backupNames.undo("", vmId, diskId),
  snapshotName: (_v, snapId) => `OpenNebula-Snap-${snapId}`,
  snapshotId: (_v, s) => numbered("OpenNebula-Snap-")(s),
  vmSnapshotName: (_v, snapId, ts) => `OpenNebula-VmSnap-${snapId}-${ts}`,
  contextVolume: () => null,
  vmStateVolume: () => null,
  vmStateProps: () => ({}),
  diskProps: vmDiskIds.props,
  dsMatch: vmDiskIds.match,
};

/** The `linstor` add-on. */
export const linstor: AddOn = {
  driver: "linstor",
  store: "linstor",
  replaces: "addon-linstor",
  profile: () => profile,
  vmmOverrides: {
    deploy: "deploy_linstor",
    save: "save_linstor",
    restore: "restore_linstor",
    attach_disk: "attach_disk_linstor",
    detach_disk: "detach_disk_linstor",
    snapshotcreate: "snapshot_create-linstor",
    snapshotrevert: "snapshot_revert-linstor",
    snapshotdelete: "snapshot_delete-linstor",
  },
  tmMadConf: [
    `NAME = "linstor", LN_TARGET = "NONE", CLONE_TARGET = "SELF", SHARED = "YES",`,
    `DS_MIGRATE = "YES", ALLOW_ORPHANS = "YES",`,
    `TM_MAD_SYSTEM = "ssh,shared",`,
    `LN_TARGET_SSH = "NONE", CLONE_TARGET_SSH = "SELF", DISK_TYPE_SSH = "BLOCK",`,
    `LN_TARGET_SHARED = "NONE", CLONE_TARGET_SHARED = "SELF", DISK_TYPE_SHARED = "BLOCK"`,
  ],
  dsMadConf: {
    lines: [
      `NAME = "linstor", REQUIRED_ATTRS = "DISK_TYPE", PERSISTENT_ONLY = "NO",`,
      `MARKETPLACE_ACTIONS = "export"`,
    ],
    notes: [
      'addon-linstor documents REQUIRED_ATTRS = "BRIDGE_LIST" but never reads it. oneblk',
      "uses BRIDGE_LIST when present (hosts for image import, mkfs and export) and falls back",
      "to the front-end, so it is optional. DISK_TYPE is required instead, as StorPool does,",
      'so new image datastores state DISK_TYPE = "BLOCK" (the volumes are block devices).',
    ],
  },
};

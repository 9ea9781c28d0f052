/**
 * addon-storpool, driver `storpool`.
 *
 * Datastore attributes:
 *  - store: SP_API_HTTP_HOST, SP_API_HTTP_PORT, SP_AUTH_TOKEN, SP_CLONE_GW (else the add-on's
 *    rc files, RC_FILES below, else storpool.conf: lib/backend/storpool/config.ts);
 *  - placement: the StorPool template `<px>-ds-<datastore>`, SP_REPLICATION, SP_PLACEALL,
 *    SP_PLACETAIL, SP_PLACEHEAD, SP_QOSCLASS (tag `qc`).
 * ONE_PX (default `one`) prefixes every name, so several OpenNebula instances can share one
 * StorPool cluster. It and the other process-wide settings (DISKSNAPSHOT_LIMIT,
 * VMSNAPSHOT_LIMIT, VMSNAPSHOT_FSFREEZE, OVMF_PATH, ONE_TPM_SAVE) come from the environment,
 * else from the add-on's rc files, where its operators set them (storpoolSetting).
 * Names: image `<px>-img-<image>`, SOURCE
 * `<px>-ds-<ds>/<px>-img-<image>`, private clone (and per-VM CDROM copy)
 * `<px>-img-<image>-<vm>-<disk>`, volatile disk
 * `<px>-sys-<vm>-<disk>-<format>`, context ISO volume `<px>-sys-<vm>-<disk>-iso`, checkpoint
 * `<px>-sys-<vm>-rawcheckpoint`, snapshots `<volume>-snap<snap>`, VM snapshots
 * `<volume>-ONESNAP-<snap>-<ts>`, backup chain bases `<volume>-oneblk-backup-…`, UEFI NVRAM
 * `<px>-sys-<vm>-NVRAM` (tag type=NVRAM), TPM state `<px>-sys-<vm>-SWTPM` (type=SWTPM), the
 * memory of VM snapshots `<px>-sys-<vm>`; tags virt=one, nloc=<px>, nvm, diskid. VMM overrides:
 * the add-on's `deploy-tweaks` (with its `deploy-tweaks.d/` helper directory),
 * `tmsave`/`tmrestore`, `attach_disk.storpool`/`detach_disk.storpool` and the `-storpool`
 * snapshot overrides.
 */
import type { StorpoolPlacement } from "../backend/storpool/index.ts";
import { addonRc } from "../backend/storpool/config.ts";
import {
  type AddOn,
  type Attrs,
  backupNames,
  intAttr,
  numbered,
  type Profile,
  type VmStateKind,
} from "./types.ts";
import { envSetting, type Setting } from "./setting.ts";

/**
 * Where addon-storpool keeps its rc files, in reading order (later files win): addon-storpoolrc
 * in the directories the add-on looks in, then /etc/storpool/addon-storpool.conf.
 */
const RC_FILES: readonly string[] = [
  "/var/lib/one/remotes/addon-storpoolrc",
  "/var/lib/one/remotes/datastore/addon-storpoolrc",
  "/var/lib/one/remotes/tm/storpool/addon-storpoolrc",
  "/var/tmp/one/addon-storpoolrc",
  "/var/tmp/one/datastore/addon-storpoolrc",
  "/var/tmp/one/tm/storpool/addon-storpoolrc",
  "/etc/storpool/addon-storpool.conf",
];

/** Name suffix of the VM state volumes: NVRAM, TPM state, a VM snapshot's memory. */
const STATE_SUFFIX: Readonly<Record<VmStateKind, string>> = {
  nvram: "-NVRAM",
  tpm: "-SWTPM",
  memory: "",
};

/** The `type` tag the add-on puts on them. */
const STATE_TYPE: Readonly<Record<VmStateKind, string>> = {
  nvram: "NVRAM",
  tpm: "SWTPM",
  memory: "",
};

/**
 * A setting of the storpool profile: the environment, else the add-on's rc files (RC_FILES,
 * read once per process and only when the environment lacks the setting; `rc` instead of them
 * when given); null when neither sets it.
 */
export function storpoolSetting(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
  rc?: Readonly<Record<string, string>>,
): Setting | null {
  const own = envSetting(env, name);
  if (own) return own;
  const value = ((rc ?? addonRc(RC_FILES))[name] ?? "").trim();
  return value ? { value, from: "addon-storpoolrc" } : null;
}

/** The profile in `env` (`rc`: see storpoolSetting). */
function storpoolProfile(
  env: Readonly<Record<string, string | undefined>>,
  rc?: Readonly<Record<string, string>>,
): Profile {
  const px = storpoolSetting(env, "ONE_PX", rc)?.value ?? "one";
  return {
    name: "storpool",
    setting: (e, name) => storpoolSetting(e, name, rc),
    keepImageFormat: false,
    cdromClone: true,
    store(ds) {
      const attrs: Record<string, string> = {};
      for (const k of ["SP_API_HTTP_HOST", "SP_API_HTTP_PORT", "SP_AUTH_TOKEN", "SP_CLONE_GW"]) {
        attrs[k] = ds.get(k);
      }
      return { kind: "storpool", attrs, rcFiles: RC_FILES };
    },
    placement(ds: Attrs, dsId): StorpoolPlacement {
      return {
        group: `${px}-ds-${dsId}`,
        replicas: intAttr(ds.get("SP_REPLICATION")),
        placeAll: ds.get("SP_PLACEALL") || undefined,
        placeTail: ds.get("SP_PLACETAIL") || undefined,
        placeHead: ds.get("SP_PLACEHEAD") || undefined,
        qos: ds.get("SP_QOSCLASS") || undefined,
      };
    },
    imageVolume: (id) => `${px}-img-${id}`,
    imageSource: (id, dsId) => `${px}-ds-${dsId}/${px}-img-${id}`,
    sourceVolume(source) {
      const s = source.trim();
      return s.slice(s.lastIndexOf("/") + 1);
    },
    volumeSource: (volume, dsId) => `${px}-ds-${dsId}/${volume}`,
    diskVolume(vmId, d) {
      if (d.volatile || !d.source) {
        const fmt = d.type === "SWAP" || d.type === "swap" ? "swap" : (d.format || "raw");
        return `${px}-sys-${vmId}-${d.diskId}-${fmt}`;
      }
      if (d.clone || d.type === "CDROM") return `${px}-img-${d.imageId}-${vmId}-${d.diskId}`;
      return `${px}-img-${d.imageId}`;
    },
    volatileVolume: (vmId, diskId, format) => `${px}-sys-${vmId}-${diskId}-${format || "raw"}`,
    importStageVolume: (id) => `${px}-img-${id}-import`,
    checkpointVolume: (vmId) => `${px}-sys-${vmId}-rawcheckpoint`,
    backupSnapshotName: (v, vmId, diskId, inc) => backupNames.snapshot(`${v}-`, vmId, diskId, inc),
    backupSnapshotInc: (v, vmId, diskId, s) => backupNames.inc(`${v}-`, vmId, diskId, s),
    backupVolume: (vmId, diskId, inc) => `${px}-sys-${vmId}-${diskId}-backup-${inc}`,
    restoreUndoName: (v, vmId, diskId) => backupNames.undo(`${v}-`, vmId, diskId),
    snapshotName: (volume, snapId) => `${volume}-snap${snapId}`,
    snapshotId: (volume, s) => numbered(`${volume}-snap`)(s),
    vmSnapshotName: (volume, snapId, ts) => `${volume}-ONESNAP-${snapId}-${ts}`,
    contextVolume: (vmId, diskId) => `${px}-sys-${vmId}-${diskId}-iso`,
    vmStateVolume: (vmId, kind) => `${px}-sys-${vmId}${STATE_SUFFIX[kind]}`,
    vmStateProps: (vmId, kind) => ({
      virt: "one",
      nloc: px,
      nvm: String(vmId),
      ...(STATE_TYPE[kind] ? { type: STATE_TYPE[kind] } : {}),
    }),
    diskProps: (vmId, diskId) => ({
      virt: "one",
      nloc: px,
      nvm: String(vmId),
      diskid: String(diskId),
    }),
    dsMatch: () => ({ virt: "one", nloc: px }),
  };
}

/** The `storpool` add-on. */
export const storpool: AddOn = {
  driver: "storpool",
  store: "storpool",
  replaces: "addon-storpool",
  profile: storpoolProfile,
  rcFiles: RC_FILES,
  vmmOverrides: {
    deploy: "deploy-tweaks",
    save: "tmsave",
    restore: "tmrestore",
    attach_disk: "attach_disk.storpool",
    detach_disk: "detach_disk.storpool",
    snapshotcreate: "snapshot_create-storpool",
    snapshotrevert: "snapshot_revert-storpool",
    snapshotdelete: "snapshot_delete-storpool",
  },
  tmMadConf: [
    `NAME = "storpool", LN_TARGET = "NONE", CLONE_TARGET = "SELF", SHARED = "YES",`,
    `DS_MIGRATE = "YES", DRIVER = "raw", ALLOW_ORPHANS = "YES", TM_MAD_SYSTEM = ""`,
  ],
  dsMadConf: {
    lines: [
      `NAME = "storpool", REQUIRED_ATTRS = "DISK_TYPE", PERSISTENT_ONLY = "NO",`,
      `MARKETPLACE_ACTIONS = "export"`,
    ],
    notes: [
      "Both blocks are those of addon-storpool's installation guide. Its installers differ:",
      'autoconf.rb writes MARKETPLACE_ACTIONS = "", which turns marketplace export off, while',
      "oneblk implements datastore/storpool/export, so it is on here; the 5.10 install scripts",
      'set TM_MAD_SYSTEM = "ssh,shared", which later versions dropped: StorPool image',
      "datastores declare no system datastores of other drivers (addon-linstor's TM_MAD_CONF",
      "does).",
    ],
  },
};

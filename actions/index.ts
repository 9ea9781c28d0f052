/**
 * The action registry: every implemented kind/driver/action and how to load it.
 *
 * Only actions that really work are listed (`oneblk actions`, `oneblk install`).
 * Modules are loaded lazily so a call pays only for the action it runs.
 */
export type { ActionDef } from "./def.ts";
import type { Kind } from "../lib/dispatch.ts";
import type { ActionDef } from "./def.ts";
import { DATASTORE_ACTIONS } from "./datastore/registry.ts";
import { TM_DISK_ACTIONS } from "./tm/registry_disk.ts";
import { TM_SYSTEM_ACTIONS } from "./tm/registry_system.ts";
import { VMM_ACTIONS } from "./vmm/registry.ts";

/** Every implemented action. */
export const ACTIONS: ActionDef[] = [
  ...DATASTORE_ACTIONS,
  ...TM_DISK_ACTIONS,
  ...TM_SYSTEM_ACTIONS,
  ...VMM_ACTIONS,
];

/** VMM override file names under vmm/kvm/ → profile and logical action. */
export const VMM_OVERRIDES: Record<string, { driver: string; action: string }> = {
  save_linstor_un: { driver: "linstor_un", action: "save" },
  restore_linstor_un: { driver: "linstor_un", action: "restore" },
  save_linstor: { driver: "linstor", action: "save" },
  restore_linstor: { driver: "linstor", action: "restore" },
  tmsave: { driver: "storpool", action: "save" },
  tmrestore: { driver: "storpool", action: "restore" },
  "snapshot_create-linstor_un": { driver: "linstor_un", action: "snapshotcreate" },
  "snapshot_revert-linstor_un": { driver: "linstor_un", action: "snapshotrevert" },
  "snapshot_delete-linstor_un": { driver: "linstor_un", action: "snapshotdelete" },
  "snapshot_create-linstor": { driver: "linstor", action: "snapshotcreate" },
  "snapshot_revert-linstor": { driver: "linstor", action: "snapshotrevert" },
  "snapshot_delete-linstor": { driver: "linstor", action: "snapshotdelete" },
  "snapshot_create-storpool": { driver: "storpool", action: "snapshotcreate" },
  "snapshot_revert-storpool": { driver: "storpool", action: "snapshotrevert" },
  "snapshot_delete-storpool": { driver: "storpool", action: "snapshotdelete" },
};

/** A listed action: what `oneblk actions` prints and `oneblk install` links. */
export interface ListedAction {
  kind: Kind;
  /** Directory under the kind: the driver, or "kvm" for VMM overrides. */
  driver: string;
  /** File name. */
  name: string;
  /** Profile that serves it. */
  profile: string;
  action: string;
}

/** Flatten the registry into kind/driver/name entries, sorted. */
export function listActions(): ListedAction[] {
  const out: ListedAction[] = [];
  for (const def of ACTIONS) {
    if (def.kind === "vmm") {
      for (const [name, o] of Object.entries(VMM_OVERRIDES)) {
        if (o.action === def.action && def.drivers.includes(o.driver)) {
          out.push({ kind: "vmm", driver: "kvm", name, profile: o.driver, action: def.action });
        }
      }
      continue;
    }
    for (const d of def.drivers) {
      out.push({ kind: def.kind, driver: d, name: def.action, profile: d, action: def.action });
    }
  }
  const order = (k: Kind) => ["datastore", "tm", "vmm"].indexOf(k);
  return out.sort((a, b) =>
    order(a.kind) - order(b.kind) || a.driver.localeCompare(b.driver) ||
    a.name.localeCompare(b.name)
  );
}

/** Find the definition for kind + logical action. */
export function findAction(kind: Kind, action: string): ActionDef | undefined {
  return ACTIONS.find((a) => a.kind === kind && a.action === action);
}

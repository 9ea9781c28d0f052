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
import { ADDONS, VMM_OVERRIDES } from "../lib/addons/index.ts";

export { VMM_OVERRIDES };

/** Every implemented action. */
export const ACTIONS: ActionDef[] = [
  ...DATASTORE_ACTIONS,
  ...TM_DISK_ACTIONS,
  ...TM_SYSTEM_ACTIONS,
  ...VMM_ACTIONS,
];

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
      for (const a of ADDONS) {
        const name = a.vmmOverrides[def.action];
        if (name && def.drivers.includes(a.driver)) {
          out.push({ kind: "vmm", driver: "kvm", name, profile: a.driver, action: def.action });
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

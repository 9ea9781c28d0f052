/**
 * The action registry: every implemented kind/driver/action and how to load it.
 *
 * Only actions that really work are listed (`oneblk actions`, `oneblk install`).
 * Modules are loaded lazily so a call pays only for the action it runs.
 */
import type { Kind } from "../lib/dispatch.ts";
import type { ActionModule } from "../lib/context.ts";
import { DRIVERS } from "../lib/profiles/index.ts";

const ALL = DRIVERS;

/** Shorthand for a registry entry served by every profile. */
function every(kind: Kind, action: string, load: () => Promise<ActionModule>): ActionDef {
  return { kind, action, drivers: ALL, load };
}

/** One implemented action. */
export interface ActionDef {
  kind: Kind;
  /** Logical action name ("clone", "save"). */
  action: string;
  /** Profiles (driver names) it serves. */
  drivers: readonly string[];
  load(): Promise<ActionModule>;
}

/** Every implemented action. */
export const ACTIONS: ActionDef[] = [
  every("datastore", "stat", () => import("./datastore/stat.ts")),
];

/** VMM override file names under vmm/kvm/ → profile and logical action. */
export const VMM_OVERRIDES: Record<string, { driver: string; action: string }> = {
  save_linstor_un: { driver: "linstor_un", action: "save" },
  restore_linstor_un: { driver: "linstor_un", action: "restore" },
  save_linstor: { driver: "linstor", action: "save" },
  restore_linstor: { driver: "linstor", action: "restore" },
  tmsave: { driver: "storpool", action: "save" },
  tmrestore: { driver: "storpool", action: "restore" },
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

/** Registry entry type and helper, shared by the registry fragments. */
import type { Kind } from "../lib/dispatch.ts";
import type { ActionModule } from "../lib/context.ts";
import { DRIVERS } from "../lib/addons/index.ts";

/** One implemented action. */
export interface ActionDef {
  kind: Kind;
  /** Logical action name ("clone", "save"). */
  action: string;
  /** Profiles (driver names) it serves. */
  drivers: readonly string[];
  load(): Promise<ActionModule>;
}

/** Shorthand for a registry entry served by every profile. */
export function every(
  kind: Kind,
  action: string,
  load: () => Promise<ActionModule>,
): ActionDef {
  return { kind, action, drivers: DRIVERS, load };
}

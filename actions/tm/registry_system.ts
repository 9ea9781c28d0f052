/** TM actions of the system datastore: volatile disks, context, monitor, migrate, backup. */
import type { ActionDef } from "../def.ts";

/** Implemented TM system-datastore actions. */
export const TM_SYSTEM_ACTIONS: ActionDef[] = [];

/** TM actions on image-backed VM disks (tm/<driver>/<action>). */
import type { ActionDef } from "../def.ts";

/** Implemented TM disk actions. */
export const TM_DISK_ACTIONS: ActionDef[] = [];

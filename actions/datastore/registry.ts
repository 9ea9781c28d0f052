/** Datastore actions (datastore/<driver>/<action>). */
import { type ActionDef, every } from "../def.ts";

/** Implemented datastore actions. */
export const DATASTORE_ACTIONS: ActionDef[] = [
  every("datastore", "stat", () => import("./stat.ts")),
  every("datastore", "cp", () => import("./cp.ts")),
  every("datastore", "mkfs", () => import("./mkfs.ts")),
  every("datastore", "clone", () => import("./clone.ts")),
  every("datastore", "rm", () => import("./rm.ts")),
  every("datastore", "monitor", () => import("./monitor.ts")),
  every("datastore", "snap_delete", () => import("./snap_delete.ts")),
  every("datastore", "snap_revert", () => import("./snap_revert.ts")),
  every("datastore", "snap_flatten", () => import("./snap_flatten.ts")),
  every("datastore", "export", () => import("./export.ts")),
];

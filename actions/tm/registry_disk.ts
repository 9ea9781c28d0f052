/** TM actions on image-backed VM disks (tm/<driver>/<action>). */
import { type ActionDef, every } from "../def.ts";

/** Implemented TM disk actions. */
export const TM_DISK_ACTIONS: ActionDef[] = [
  every("tm", "clone", () => import("./clone.ts")),
  every("tm", "ln", () => import("./ln.ts")),
  every("tm", "mv", () => import("./mv.ts")),
  every("tm", "mvds", () => import("./mvds.ts")),
  every("tm", "cpds", () => import("./cpds.ts")),
  every("tm", "delete", () => import("./delete.ts")),
  every("tm", "resize", () => import("./resize.ts")),
  every("tm", "snap_create", () => import("./snap_create.ts")),
  every("tm", "snap_create_live", () => import("./snap_create_live.ts")),
  every("tm", "snap_delete", () => import("./snap_delete.ts")),
  every("tm", "snap_revert", () => import("./snap_revert.ts")),
];

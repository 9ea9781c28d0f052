/** TM actions of the system datastore: volatile disks, context, monitor, migrate, backup. */
import { type ActionDef, every } from "../def.ts";

/** Implemented TM system-datastore actions. */
export const TM_SYSTEM_ACTIONS: ActionDef[] = [
  every("tm", "mkimage", () => import("./mkimage.ts")),
  every("tm", "mkswap", () => import("./mkswap.ts")),
  every("tm", "context", () => import("./context.ts")),
  every("tm", "monitor", () => import("./monitor.ts")),
  every("tm", "premigrate", () => import("./premigrate.ts")),
  every("tm", "postmigrate", () => import("./postmigrate.ts")),
  every("tm", "failmigrate", () => import("./failmigrate.ts")),
  every("tm", "prebackup", () => import("./prebackup.ts")),
  every("tm", "prebackup_live", () => import("./prebackup_live.ts")),
  every("tm", "postbackup", () => import("./postbackup.ts")),
  every("tm", "postbackup_live", () => import("./postbackup_live.ts")),
];

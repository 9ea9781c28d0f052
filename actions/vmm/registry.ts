/** VMM overrides (vmm/kvm/<override>): checkpoint save/restore and VM snapshots on the store. */
import { type ActionDef, every } from "../def.ts";

/** Implemented VMM overrides (logical actions; file names in VMM_OVERRIDES). */
export const VMM_ACTIONS: ActionDef[] = [
  every("vmm", "save", () => import("./save.ts")),
  every("vmm", "restore", () => import("./restore.ts")),
  every("vmm", "snapshotcreate", () => import("./snapshot_create.ts")),
  every("vmm", "snapshotrevert", () => import("./snapshot_revert.ts")),
  every("vmm", "snapshotdelete", () => import("./snapshot_delete.ts")),
];

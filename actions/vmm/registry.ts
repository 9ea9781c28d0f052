/** VMM overrides (vmm/kvm/<override>): checkpoint save/restore on the store. */
import { type ActionDef, every } from "../def.ts";

/** Implemented VMM overrides (logical actions; file names in VMM_OVERRIDES). */
export const VMM_ACTIONS: ActionDef[] = [
  every("vmm", "save", () => import("./save.ts")),
  every("vmm", "restore", () => import("./restore.ts")),
];

/** Datastore actions (datastore/<driver>/<action>). */
import { type ActionDef, every } from "../def.ts";

/** Implemented datastore actions. */
export const DATASTORE_ACTIONS: ActionDef[] = [
  every("datastore", "stat", () => import("./stat.ts")),
];

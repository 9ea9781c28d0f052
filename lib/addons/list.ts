/**
 * The add-ons this program serves, in display order: every one (a new add-on is one file beside
 * these, an AddOn of lib/addons/types.ts, and one entry here). The bundle builds each driver's
 * datastore and tm programs with this module replaced by one that lists that driver's add-on
 * only (tools/bundle.ts `buildDriverPrograms`, with the module `driverLists` writes); everything
 * else derives from lib/addons/index.ts.
 */
import { linstor } from "./linstor.ts";
import { linstorUn } from "./linstor_un.ts";
import { storpool } from "./storpool.ts";
import type { AddOn } from "./types.ts";

/** Every add-on of this program. */
export const ADDON_LIST: readonly AddOn[] = [linstor, linstorUn, storpool];

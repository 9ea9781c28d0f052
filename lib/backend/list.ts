/**
 * The stores this program serves: every block store implementation (a new store is one folder,
 * lib/backend/<store>/, its index.ts exporting a StoreImpl, and one entry here). The bundle
 * builds each driver's datastore and tm programs with this module replaced by one that lists
 * that driver's store only (tools/bundle.ts `buildDriverPrograms`, with the module `driverLists`
 * writes); lib/backend/index.ts opens them.
 */
import { linstorStore } from "./linstor/index.ts";
import { storpoolStore } from "./storpool/index.ts";

/** Every store implementation of this program. */
export const STORE_LIST = [linstorStore, storpoolStore] as const;

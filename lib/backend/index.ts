/**
 * The store registry: every block store implementation, one line each. Nothing else knows
 * which stores exist; actions only see the Backend interface, add-on profiles build the
 * store settings and placement types derived here. A new store is one folder
 * (lib/backend/<store>/, its index.ts exporting a StoreImpl) and one line in STORES.
 */
import type { Backend, BackendDeps, StoreImpl } from "./types.ts";
import { linstorStore } from "./linstor/index.ts";
import { storpoolStore } from "./storpool/index.ts";

export type { BackendDeps } from "./types.ts";

/** Every store implementation. */
const STORES = [linstorStore, storpoolStore] as const;

type Store = typeof STORES[number];

/** The settings of any store (what an add-on profile's `store()` returns). */
export type StoreConfig = Store extends StoreImpl<infer C, infer _P> ? C : never;

/** The placement of any store (what an add-on profile's `placement()` returns). */
export type Placement = Store extends StoreImpl<infer _C, infer P> ? P : never;

/** Open the backend a store configuration describes. */
export function openBackend(store: StoreConfig, deps: BackendDeps): Backend {
  const impl = STORES.find((s) => s.kind === store.kind) as StoreImpl<StoreConfig, Placement>;
  return impl.open(store, deps) as Backend;
}

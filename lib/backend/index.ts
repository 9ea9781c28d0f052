/**
 * The store registry: every block store implementation (lib/backend/list.ts, one line each: a
 * new store is one folder, lib/backend/<store>/, its index.ts exporting a StoreImpl, and one line
 * there). Nothing else knows which stores exist; actions only see the Backend interface, add-on
 * profiles build the store settings and placement types derived here.
 */
import { OneblkError } from "../errors.ts";
import type { Backend, BackendDeps, StoreImpl } from "./types.ts";
import { STORE_LIST } from "./list.ts";

export type { BackendDeps } from "./types.ts";

/** Every store implementation (a driver's own program of the bundle: its store only). */
const STORES: readonly StoreImpl<{ kind: string }, never>[] = STORE_LIST;

type Store = typeof STORE_LIST[number];

/** The settings of any store (what an add-on profile's `store()` returns). */
export type StoreConfig = Store extends StoreImpl<infer C, infer _P> ? C : never;

/** The placement of any store (what an add-on profile's `placement()` returns). */
export type Placement = Store extends StoreImpl<infer _C, infer P> ? P : never;

/** Open the backend a store configuration describes. */
export function openBackend(store: StoreConfig, deps: BackendDeps): Backend {
  const impl = STORES.find((s) => s.kind === store.kind) as
    | StoreImpl<StoreConfig, Placement>
    | undefined;
  // (a driver's own program holds its store alone, and its actions open no other)
  if (!impl) throw new OneblkError("internal", `store ${store.kind} is not in this program`);
  return impl.open(store, deps) as Backend;
}

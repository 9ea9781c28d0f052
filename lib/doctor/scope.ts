/**
 * What the checks look at, worked out once per run: which hosts serve which datastores, the
 * datastores grouped by store, and each host's reachability over ssh. Shared by the check
 * files; results are memoised per DoctorEnv.
 */
import { errorLine } from "../errors.ts";
import type { StoreConfig } from "../backend/index.ts";
import { frontendBridge } from "../domain/frontend.ts";
import type { HostView } from "../one/views.ts";
import type { DoctorEnv, OurDatastore } from "./types.ts";

const memo = new WeakMap<DoctorEnv, Map<string, Promise<unknown>>>();

/** `make()` once per env and key. */
export function shared<T>(env: DoctorEnv, key: string, make: () => Promise<T>): Promise<T> {
  let m = memo.get(env);
  if (!m) memo.set(env, m = new Map());
  let p = m.get(key) as Promise<T> | undefined;
  if (!p) m.set(key, p = make());
  return p;
}

/** OpenNebula host state OFFLINE: left alone (onehost sync skips it too). */
const OFFLINE = 8;

/**
 * The hosts that import and export images for a datastore: its BRIDGE_LIST, or for an image
 * datastore without one the front-end (lib/domain/frontend.ts).
 */
export function bridges(ds: OurDatastore, env: Record<string, string>): string[] {
  const list = ds.view.template.get("BRIDGE_LIST").split(/[\s,]+/).filter(Boolean);
  if (list.length || ds.view.isSystem) return list;
  return [frontendBridge(env)];
}

/**
 * The hosts a datastore serves: the hosts of its clusters (all hosts when it names none) that
 * are not OFFLINE, and its bridges. Sorted, unique.
 */
export function hostsOf(
  ds: OurDatastore,
  pool: HostView[],
  env: Record<string, string>,
): string[] {
  const clusters = ds.view.clusterIds;
  const out = new Set<string>();
  for (const h of pool) {
    if (h.state === OFFLINE) continue;
    if (clusters.length && !clusters.includes(h.clusterId)) continue;
    out.add(h.name);
  }
  for (const b of bridges(ds, env)) out.add(b);
  return [...out].sort();
}

/** The hosts of every datastore that `keep` selects. */
export async function hostsFor(
  env: DoctorEnv,
  keep: (ds: OurDatastore) => boolean = () => true,
): Promise<string[]> {
  const [dss, pool] = await Promise.all([env.datastores(), env.hostPool()]);
  const out = new Set<string>();
  for (const ds of dss.filter(keep)) for (const h of hostsOf(ds, pool, env.env)) out.add(h);
  return [...out].sort();
}

/** Datastores sharing one store (same settings), with the store's settings. */
export interface StoreGroup<C extends StoreConfig = StoreConfig> {
  /** Stable key of the settings. */
  key: string;
  store: C;
  datastores: OurDatastore[];
}

/** The datastores whose store is of `kind`, grouped by store settings. */
export async function storeGroups<K extends StoreConfig["kind"]>(
  env: DoctorEnv,
  kind: K,
): Promise<StoreGroup<Extract<StoreConfig, { kind: K }>>[]> {
  const groups = new Map<string, StoreGroup<Extract<StoreConfig, { kind: K }>>>();
  for (const ds of await env.datastores()) {
    if (ds.store instanceof Error || ds.store.kind !== kind) continue;
    const key = JSON.stringify(ds.store);
    let g = groups.get(key);
    if (!g) {
      g = { key, store: ds.store as Extract<StoreConfig, { kind: K }>, datastores: [] };
      groups.set(key, g);
    }
    g.datastores.push(ds);
  }
  return [...groups.values()];
}

/** "datastores 100, 101" */
export function dsList(dss: OurDatastore[]): string {
  return `datastore${dss.length > 1 ? "s" : ""} ${dss.map((d) => d.view.id).join(", ")}`;
}

/**
 * Whether `host` answers a trivial command (`true`) over the host runner: null when it does,
 * else the one-line reason. Host checks skip unreachable hosts (the host-ssh check reports
 * them once).
 */
export function reach(env: DoctorEnv, host: string): Promise<string | null> {
  return shared(env, `reach:${host}`, async () => {
    try {
      await env.hosts.run(host, ["true"], { timeoutMs: env.timeoutMs });
      return null;
    } catch (e) {
      return errorLine(e);
    }
  });
}

const closers = new WeakMap<DoctorEnv, (() => void)[]>();

/** Release `close` (a client's connections) when the run ends (closeAll). */
export function closeLater(env: DoctorEnv, close: () => void): void {
  let l = closers.get(env);
  if (!l) closers.set(env, l = []);
  l.push(close);
}

/** Release everything registered with closeLater. */
export function closeAll(env: DoctorEnv): void {
  for (const c of closers.get(env) ?? []) {
    try {
      c();
    } catch {
      // already closed
    }
  }
  closers.delete(env);
}

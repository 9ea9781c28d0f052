/**
 * The DoctorEnv the checks share: oned, its datastores and hosts, the host runner and the
 * front-end's files, each fetched once on first use. What only the command line knows (the
 * remotes tree next to `oneblk actions`, the VMM override names) is passed in by app/doctor.ts.
 */
import { posix } from "node:path";
import { isDriver, profileFor } from "../addons/index.ts";
import { scriptsRemoteDir } from "../domain/stock.ts";
import { hostRunnerFromEnv } from "../host/index.ts";
import type { HostView } from "../one/views.ts";
import { OneClient } from "../one/xmlrpc.ts";
import type { DoctorEnv, OurDatastore, RemotesReport } from "./types.ts";

/** What the command line gives the doctor. */
export interface DoctorEnvOptions {
  env: Record<string, string>;
  /** The remotes tree report (app/doctor.ts). */
  remotes: () => Promise<RemotesReport>;
  /** oned.conf path (default $ONE_LOCATION/etc/oned.conf or /etc/one/oned.conf). */
  onedConf?: string;
  /** VMM override file names oneblk installs. */
  vmmOverrides: ReadonlySet<string>;
  /** Deadline of each host command and store request, ms (default 15000). */
  timeoutMs?: number;
}

/** Default oned.conf location. */
export function defaultOnedConf(env: Record<string, string | undefined>): string {
  return env.ONE_LOCATION ? posix.join(env.ONE_LOCATION, "etc/oned.conf") : "/etc/one/oned.conf";
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

/** Build the environment the checks share. */
export async function createDoctorEnv(o: DoctorEnvOptions): Promise<DoctorEnv> {
  const timeoutMs = o.timeoutMs ?? 15_000;
  const one = once(() => OneClient.fromEnv({ env: o.env, timeoutMs }));
  const confPath = o.onedConf ?? defaultOnedConf(o.env);
  return {
    env: o.env,
    hosts: await hostRunnerFromEnv(o.env),
    timeoutMs,
    one,
    datastores: once(async () => {
      const pool = await (await one()).datastorePool();
      const out: OurDatastore[] = [];
      for (const view of pool) {
        const driver = isDriver(view.tmMad) ? view.tmMad : isDriver(view.dsMad) ? view.dsMad : "";
        if (!driver) continue;
        const profile = profileFor(driver, o.env);
        let store: OurDatastore["store"];
        try {
          store = profile.store(view.template, view.id);
        } catch (e) {
          store = e as Error;
        }
        const label = `datastore ${view.id}${view.name ? ` (${view.name})` : ""}`;
        out.push({ view, driver, profile, store, label });
      }
      return out.sort((a, b) => a.view.id - b.view.id);
    }),
    hostPool: once(async (): Promise<HostView[]> => {
      const hosts = await (await one()).hostPool();
      return hosts.sort((a, b) => a.id - b.id);
    }),
    remotes: once(o.remotes),
    onedConf: once(async () => {
      try {
        return { path: confPath, text: await Deno.readTextFile(confPath) };
      } catch (e) {
        return { path: confPath, error: (e as Error).message };
      }
    }),
    vmmOverrides: o.vmmOverrides,
    scriptsRemoteDir: scriptsRemoteDir(o.env),
  };
}

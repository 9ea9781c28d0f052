/**
 * Open the backend a profile's store settings describe. The only place that knows which
 * store implementations exist; actions only see the Backend interface.
 */
import type { Backend } from "./types.ts";
import type { HostRunner } from "../host/types.ts";
import type { StoreConfig } from "../addons/types.ts";
import type { OneClient } from "../one/xmlrpc.ts";
import type { HostView } from "../one/views.ts";
import { createLinstorBackend } from "./linstor/backend.ts";
import { openStorpoolBackend } from "./storpool/index.ts";

/** What a backend may need from the process. */
export interface BackendDeps {
  env: Record<string, string>;
  hosts: HostRunner;
  one: () => Promise<OneClient>;
}

/** Create the backend for a store configuration. */
export function openBackend(store: StoreConfig, deps: BackendDeps): Backend {
  if (store.kind === "linstor") {
    return createLinstorBackend({
      controllers: store.controllers,
      caFile: store.caFile,
      certFile: store.certFile,
      keyFile: store.keyFile,
      token: deps.env.LINSTOR_TOKEN || undefined,
    }, { hosts: deps.hosts });
  }
  // Host ↔ client id from the hosts' SP_OURID attributes: one host-pool query per process.
  let pool: Promise<HostView[]> | undefined;
  const hostPool = () =>
    pool ??= deps.one().then((c) => c.hostPool()).catch(() => [] as HostView[]);
  return openStorpoolBackend({
    template: store.attrs,
    hosts: deps.hosts,
    hostAttr: async (host) =>
      (await hostPool()).find((h) => h.name === host)?.template.get("SP_OURID") || undefined,
    hostOf: async (id) =>
      (await hostPool()).find((h) => h.template.get("SP_OURID").trim() === String(id))?.name,
  });
}

/**
 * The StorPool store: its settings (the datastore's SP_* attributes), its placement type, and
 * how they open the backend (backend.ts; API client client.ts; settings config.ts).
 */
import type { Backend, StoreImpl } from "../types.ts";
import type { HostRunner } from "../../host/types.ts";
import type { HostView } from "../../one/views.ts";
import type { StorpoolPlacement } from "./backend.ts";
import { DeferredBackend } from "../deferred.ts";
import {
  addonRc,
  type ClientIdResolver,
  createClientIdResolver,
  resolveStorpoolConfig,
  storpoolDevicePath,
} from "./config.ts";

/** Inputs of openStorpoolBackend. */
export interface OpenStorpoolInput {
  /** Datastore template SP_* attributes (StoreConfig.attrs of the storpool profile). */
  template: Record<string, string | undefined>;
  /** Add-on rc values (default: none). */
  rc?: Record<string, string | undefined>;
  /** Host runner: asking hosts for their SP_OURID. */
  hosts?: HostRunner;
  /** The host template's SP_OURID (onehost show), "" or undefined if unset. */
  hostAttr?: (host: string) => Promise<string | undefined>;
  /** The OpenNebula host whose SP_OURID is `clientId` (names attachments not yet resolved). */
  hostOf?: (clientId: number) => Promise<string | undefined>;
  /** storpool.conf location overrides (tests). */
  confPath?: string;
  confDir?: string;
  hostname?: string;
}

let processResolver: ClientIdResolver | undefined;

/**
 * Resolve settings (template > rc > storpool.conf) and open a backend; host → client ids
 * are resolved by one resolver per process (COMMON_DOMAIN from the rc values), so they are
 * looked up once whatever the number of backends. Synchronous: no request is made here, and the
 * backend's code loads on its first call (lib/backend/deferred.ts).
 */
export function openStorpoolBackend(input: OpenStorpoolInput): Backend<StorpoolPlacement> {
  const rc = input.rc ?? {};
  const cfg = resolveStorpoolConfig({
    template: input.template,
    rc,
    confPath: input.confPath,
    confDir: input.confDir,
    hostname: input.hostname,
  });
  processResolver ??= createClientIdResolver({
    hostAttr: input.hostAttr,
    hosts: input.hosts,
    commonDomain: rc.COMMON_DOMAIN?.trim() || undefined,
    confPath: input.confPath,
    confDir: input.confDir,
  });
  const resolver = processResolver;
  return new DeferredBackend(
    "storpool",
    (volume) => storpoolDevicePath(cfg, volume),
    async () =>
      (await import("./backend.ts")).createStorpoolBackend(cfg, {
        clientIdOf: resolver.clientIdOf,
        hostOf: (id) => resolver.hostOf(id) ?? input.hostOf?.(id),
        hosts: input.hosts,
      }),
  );
}

export type { StorpoolPlacement } from "./backend.ts";

/** A datastore's StorPool settings. */
export interface StorpoolStore {
  kind: "storpool";
  /** Its raw SP_* attributes ("" when absent). */
  attrs: Record<string, string>;
  /** Shell rc files with defaults for every datastore (read in order, later files win). */
  rcFiles: readonly string[];
}

/**
 * The StorPool store implementation. Host ↔ client id come from the OpenNebula hosts' SP_OURID
 * attributes: one host-pool query per process, made only when a name must be resolved.
 */
export const storpoolStore: StoreImpl<StorpoolStore, StorpoolPlacement> = {
  kind: "storpool",
  open(store, deps) {
    let pool: Promise<HostView[]> | undefined;
    const hostPool = () =>
      pool ??= deps.one().then((c) => c.hostPool()).catch(() => [] as HostView[]);
    return openStorpoolBackend({
      template: store.attrs,
      rc: addonRc(store.rcFiles),
      hosts: deps.hosts,
      hostAttr: async (host) =>
        (await hostPool()).find((h) => h.name === host)?.template.get("SP_OURID") || undefined,
      hostOf: async (id) =>
        (await hostPool()).find((h) => h.template.get("SP_OURID").trim() === String(id))?.name,
    });
  },
};

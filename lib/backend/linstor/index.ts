/**
 * The LINSTOR store: its settings (from the LINSTOR add-ons' datastore attributes), its
 * placement type and how they open the backend (backend.ts, REST client client.ts).
 */
import type { StoreImpl } from "../types.ts";
import { DeferredBackend } from "../deferred.ts";
import type { LinstorPlacement } from "./backend.ts";
import type { LinstorClientOptions } from "./client.ts";
import { linstorDevicePath } from "./volume_ref.ts";

export type { LinstorPlacement } from "./backend.ts";
export {
  linstorDevicePath,
  parseVolumeRef,
  rdOf,
  type VolumeRef,
  volumeRef,
} from "./volume_ref.ts";

/** How to reach a LINSTOR controller (a datastore's store settings). */
export interface LinstorStore {
  kind: "linstor";
  /** Controller list (LINSTOR_CONTROLLERS syntax, see client.ts). */
  controllers: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/** The REST client settings of a store: its controllers and TLS files, LINSTOR_TOKEN. */
export function linstorClientOptions(
  store: LinstorStore,
  env: Record<string, string | undefined>,
): LinstorClientOptions {
  return {
    controllers: store.controllers,
    caFile: store.caFile,
    certFile: store.certFile,
    keyFile: store.keyFile,
    token: env.LINSTOR_TOKEN || undefined,
  };
}

/**
 * The LINSTOR store implementation; the bearer token comes from LINSTOR_TOKEN. The backend's
 * code loads on its first call (lib/backend/deferred.ts).
 */
export const linstorStore: StoreImpl<LinstorStore, LinstorPlacement> = {
  kind: "linstor",
  open(store, deps) {
    return new DeferredBackend(
      "linstor",
      linstorDevicePath,
      async () =>
        (await import("./backend.ts")).createLinstorBackend(
          linstorClientOptions(store, deps.env),
          { hosts: deps.hosts },
        ),
    );
  },
};

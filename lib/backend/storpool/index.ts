/**
 * The StorPool backend, its API client and its configuration, plus a one-call opener.
 */
import type { Backend } from "../types.ts";
import type { HostRunner } from "../../host/types.ts";
import { createStorpoolBackend } from "./backend.ts";
import {
  type ClientIdResolver,
  createClientIdResolver,
  readAddonRc,
  resolveStorpoolConfig,
} from "./config.ts";

export {
  createStorpoolBackend,
  DEFAULT_DELAY_DELETE_SECONDS,
  snapshotBelongs,
  snapshotOwner,
  snapshotOwnership,
  type StorpoolBackendDeps,
} from "./backend.ts";
export {
  type ApiOk,
  type AttachmentDesc,
  type ReassignDesc,
  type SnapshotSummary,
  StorpoolApiError,
  StorpoolClient,
  type StorpoolClientOptions,
  type StorpoolEndpoint,
  storpoolErrorKind,
  type TemplateStatus,
  type VolumeSummary,
} from "./client.ts";
export {
  ADDON_RC_PATHS,
  type ClientIdResolver,
  type ClientIdResolverOptions,
  type ClientIdSource,
  createClientIdResolver,
  MAX_CLIENT_ID,
  mergeStorpoolConf,
  parseDuration,
  parseShellRc,
  parseStorpoolConf,
  readAddonRc,
  readStorpoolConfFiles,
  type ResolveConfigInput,
  resolveStorpoolConfig,
  type StorpoolConfFile,
  type StorpoolConfig,
  type StorpoolConfigSources,
} from "./config.ts";

/** Inputs of openStorpoolBackend. */
export interface OpenStorpoolInput {
  /** Datastore template SP_* attributes (StoreConfig.attrs of the storpool profile). */
  template: Record<string, string | undefined>;
  /** Add-on rc values; default: readAddonRc() (ADDON_RC_PATHS). */
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
 * looked up once whatever the number of backends. Synchronous: no request is made here.
 */
export function openStorpoolBackend(input: OpenStorpoolInput): Backend {
  const rc = input.rc ?? readAddonRc();
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
  return createStorpoolBackend(cfg, {
    clientIdOf: resolver.clientIdOf,
    hostOf: (id) => resolver.hostOf(id) ?? input.hostOf?.(id),
    hosts: input.hosts,
  });
}

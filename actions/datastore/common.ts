/**
 * What the datastore actions share: the decoded payload with its image, datastore, store and
 * placement; the image's volume name; the bridge host that does host-side work (dd, mkfs,
 * qemu-img) for the front-end; and a temporary attachment that is always released.
 *
 * Bridge host: DATASTORE/TEMPLATE/BRIDGE_LIST picked round-robin by image id, as OpenNebula's
 * `get_destination_host` does; without BRIDGE_LIST, the front-end itself (lib/domain/frontend.ts:
 * this machine, or the first name ONEBLK_FRONTEND lists when this machine is not among them).
 * The bridge must be able to attach the store's volumes (a LINSTOR satellite or StorPool
 * client).
 */
import type { ActionContext } from "../../lib/context.ts";
import type { Backend } from "../../lib/backend/types.ts";
import type { Placement } from "../../lib/backend/index.ts";
import { OneblkError } from "../../lib/errors.ts";
import { readDsPayload, validateHost } from "../../lib/one/args.ts";
import {
  type DatastoreView,
  type DsActionView,
  type ImageView,
  parseDsAction,
} from "../../lib/one/views.ts";
import { checkPath, unlink, waitForPath } from "../../lib/host/ops.ts";
import { frontendBridge } from "../../lib/domain/frontend.ts";

/** Deadline for commands that move a whole image (dd, qemu-img convert, md5sum): 6 h. */
export const DATA_TIMEOUT_MS = 6 * 3600_000;

/** How long a device may take to appear on a host after attach. */
export const DEVICE_WAIT_MS = 30_000;

/** Staging directory on bridge hosts when the datastore sets no STAGING_DIR. */
export const DEFAULT_STAGING_DIR = "/var/tmp";

const MiB = 1024 * 1024;

/** Bytes → MiB, rounded up (at least 1). */
export function mibCeil(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / MiB));
}

/** The decoded payload of a datastore action. */
export interface DsPayloadFacts {
  act: DsActionView;
  ds: DatastoreView;
  /** The id argument (image id, datastore id, or marketplace app id). */
  id: number;
  /** The datastore's store, opened on first use (mkfs save_as never touches it). */
  readonly backend: Backend;
  /** Placement of new volumes on this datastore. */
  readonly placement: Placement;
}

/** Read and parse the payload (argv ≤6.6 or stdin ≥6.8); the store is opened lazily. */
export async function loadPayload(ctx: ActionContext): Promise<DsPayloadFacts> {
  const p = await readDsPayload(ctx.args, () => ctx.stdin());
  const act = parseDsAction(p.xml);
  const ds = act.datastore;
  let backend: Backend | undefined;
  return {
    act,
    ds,
    id: Number(p.id),
    get backend() {
      backend ??= ctx.backend(ds);
      return backend;
    },
    get placement() {
      return ctx.profile.placement(ds.template, ds.id);
    },
  };
}

/** The payload's image plus its id (IMAGE/ID, else the id argument). */
export function imageOf(f: DsPayloadFacts): { image: ImageView; imageId: number } {
  const image = f.act.requireImage();
  const imageId = image.id >= 0 ? image.id : f.id;
  if (!Number.isInteger(imageId) || imageId < 0) {
    throw new OneblkError("input", "the driver action names no image id");
  }
  return { image, imageId };
}

/**
 * The volume of an existing image: from its SOURCE when set, else the profile's name for the
 * image id (an image whose cp failed has no SOURCE yet).
 */
export function existingImageVolume(
  ctx: ActionContext,
  image: ImageView,
  imageId: number,
  dsId: number,
): string {
  const source = image.source.trim();
  const v = source ? ctx.profile.sourceVolume(source) : ctx.profile.imageVolume(imageId, dsId);
  if (!v) throw new OneblkError("input", `image ${imageId} SOURCE names no volume: ${source}`);
  return v;
}

/** The snapshot id of a snap_* action (IMAGE/TARGET_SNAPSHOT). */
export function targetSnapshot(image: ImageView): number {
  const s = image.targetSnapshot;
  if (!Number.isInteger(s) || s < 0) {
    throw new OneblkError("input", "the driver action has no IMAGE/TARGET_SNAPSHOT");
  }
  return s;
}

/**
 * The host that works for the front-end: `attrs` (first present, e.g. EXPORT_BRIDGE_LIST,
 * BRIDGE_LIST) round-robin by `n`, else the front-end.
 */
export function bridgeHost(
  ctx: ActionContext,
  ds: DatastoreView,
  n: number,
  attrs: string[] = ["BRIDGE_LIST"],
): string {
  for (const a of attrs) {
    const list = ds.template.list(a);
    if (list.length) return validateHost(list[Math.abs(n) % list.length], a);
  }
  return frontendBridge(ctx.env);
}

/** STAGING_DIR of the datastore (absolute, no `..`), else /var/tmp. */
export function stagingDir(ds: DatastoreView): string {
  const d = ds.template.get("STAGING_DIR") || DEFAULT_STAGING_DIR;
  return checkPath(d, "STAGING_DIR").replace(/\/+$/, "") || "/";
}

/** Remove a staging file on `host`; a failure is reported (ctx.info), never thrown. */
export async function removeStaging(ctx: ActionContext, host: string, path: string): Promise<void> {
  try {
    await unlink(ctx.hosts, host, path);
  } catch (e) {
    ctx.info(`could not remove staging file ${host}:${path}: ${(e as Error).message}`);
  }
}

/** Unique-enough suffix for temporary names. */
export function tmpSuffix(): string {
  return `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Options of withAttached. */
export interface AttachUse {
  readOnly?: boolean;
  /**
   * When the host already has the volume (a replica, or a VM using it there), use it as it is
   * and leave it attached afterwards (a LINSTOR tie-breaker does not count).
   */
  reuseExisting?: boolean;
}

/**
 * Attach `volume` on `host`, wait for its device, run `fn(device)`, and detach again whatever
 * happens. A failed detach is reported (ctx.info) but does not fail the action: the data
 * step's outcome is what counts, and a leftover attachment is removed with the volume.
 */
export async function withAttached<T>(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  fn: (device: string) => Promise<T>,
  opts: AttachUse = {},
): Promise<T> {
  const device = backend.devicePath(volume);
  if (opts.reuseExisting) {
    const here = (await backend.attachments(volume)).some((a) => a.host === host && !a.tieBreaker);
    if (here) return await fn(device);
  }
  try {
    await backend.attach(volume, host, { readOnly: opts.readOnly });
    if (!(await waitForPath(ctx.hosts, host, device, DEVICE_WAIT_MS))) {
      throw new OneblkError(
        "host",
        `device ${device} of ${volume} did not appear on ${host} within ${DEVICE_WAIT_MS} ms`,
      );
    }
    return await fn(device);
  } finally {
    try {
      await backend.detach(volume, host);
    } catch (e) {
      ctx.info(`could not detach ${volume} from ${host}: ${(e as Error).message}`);
    }
  }
}

/**
 * Create-then-fill: run `fill` for a volume that was just created (`created`), deleting the
 * volume at once (no delayed-delete copy) if `fill` fails so nothing half-made stays. A
 * volume that existed before is left alone on failure (it was not ours to remove).
 */
export async function fillOrDelete<T>(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  created: boolean,
  fill: () => Promise<T>,
): Promise<T> {
  try {
    return await fill();
  } catch (e) {
    if (created) {
      try {
        await backend.deleteVolume(volume, { immediate: true });
      } catch (u) {
        ctx.info(`cleanup: could not delete ${volume}: ${(u as Error).message}`);
      }
    }
    throw e;
  }
}

/** fillOrDelete whose fill is `fn` on the volume's device, attached on `host` (withAttached). */
export function fillAttached<T>(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  created: boolean,
  host: string,
  fn: (device: string) => Promise<T>,
): Promise<T> {
  return fillOrDelete(
    ctx,
    backend,
    volume,
    created,
    () => withAttached(ctx, backend, volume, host, fn),
  );
}

/** `md5sum` of a file or device on a host (hex). */
export async function md5OnHost(ctx: ActionContext, host: string, path: string): Promise<string> {
  const r = await ctx.hosts.run(host, ["md5sum", "--", checkPath(path)], {
    timeoutMs: DATA_TIMEOUT_MS,
  });
  const m = /^\\?([0-9a-f]{32})\s/.exec(r.stdout);
  if (!m) throw new OneblkError("host", `md5sum on ${host} gave no digest for ${path}`);
  return m[1];
}

/**
 * Moving image bytes for the datastore actions (cp, mkfs, export): the bridge host that does
 * host-side work for the front-end, its staging directory, the volume made and filled (deleted
 * again when the fill fails) and the digest of what was written.
 *
 * Bridge host: chosen by frontend.ts pickBridge (BRIDGE_LIST round-robin by image id, unusable
 * hosts skipped, else the front-end). The bridge must be able to attach the store's volumes (a
 * LINSTOR satellite or StorPool client).
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import { OneblkError } from "../errors.ts";
import type { DatastoreView } from "../one/views.ts";
import { checkPath, unlink } from "../host/ops.ts";
import { withAttached } from "./attach.ts";
import { fillOrDelete } from "./undo.ts";
import { uniqueId } from "../frugal.ts";

/** Deadline for commands that move a whole image (dd, qemu-img convert, md5sum): 6 h. */
export const DATA_TIMEOUT_MS = 6 * 3600_000;

/** Staging directory on bridge hosts when the datastore sets no STAGING_DIR. */
const DEFAULT_STAGING_DIR = "/var/tmp";

const MiB = 1024 * 1024;

/** Bytes → MiB, rounded up (at least 1). */
export function mibCeil(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / MiB));
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
  return `${Deno.pid}-${uniqueId().slice(0, 8)}`;
}

/**
 * fillOrDelete whose fill is `fn` on the volume's device, attached on `host` (withAttached).
 * `pending`: the owner the volume was created unfinished for (fillOrDelete), also the owner of
 * the attachment's mark if it cannot be released.
 */
export function fillAttached<T>(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  created: boolean,
  host: string,
  fn: (device: string) => Promise<T>,
  pending?: string,
): Promise<T> {
  return fillOrDelete(
    ctx,
    backend,
    volume,
    created,
    () => withAttached(ctx, backend, volume, host, fn, { owner: pending }),
    pending,
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

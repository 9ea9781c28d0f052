/**
 * Making a volume usable on a host and releasing it again: attach and wait for the device,
 * attach and link it at a VM path, a temporary attachment that is always released, and the
 * tolerant release of a VM disk (dead host, device still open, a front-end the store does not
 * know).
 */
import type { ActionContext } from "../context.ts";
import type { AttachOptions, Backend } from "../backend/types.ts";
import { errorLine, isKind, OneblkError } from "../errors.ts";
import { link, unlink, waitForPath } from "../host/ops.ts";
import { isFrontend } from "./frontend.ts";

/** How long a device may take to appear on a host after attach. */
export const DEVICE_WAIT_MS = 30_000;

/** Attach `volume` on `host` and wait (on the host) until its device node exists. */
export async function attachReady(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  opts: AttachOptions = {},
): Promise<string> {
  await backend.attach(volume, host, opts);
  const device = backend.devicePath(volume);
  if (!(await waitForPath(ctx.hosts, host, device, DEVICE_WAIT_MS))) {
    throw new OneblkError(
      "timeout",
      `device ${device} of ${volume} did not appear on ${host} within ${DEVICE_WAIT_MS} ms`,
    );
  }
  return device;
}

/** Attach `volume` on `host` and point `path` at its device there. */
export async function attachAndLink(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  path: string,
  opts: AttachOptions = {},
): Promise<void> {
  await backend.attach(volume, host, opts);
  await link(ctx.hosts, host, backend.devicePath(volume), path);
}

/** Options of withAttached. */
export interface AttachUse {
  readOnly?: boolean;
  /**
   * When the host already has the volume (a replica, or a VM using it there), use it as it is
   * and leave it attached afterwards (a LINSTOR tie-breaker does not count).
   */
  reuseExisting?: boolean;
  /** Owner of the attachment's leftover mark when it cannot be released (default: the action). */
  owner?: string;
}

/**
 * Attach `volume` on `host`, wait for its device, run `fn(device)`, and detach again whatever
 * happens. A failed detach does not fail the action (the data step's outcome is what counts):
 * the attachment is marked as a leftover of its owner, so that `oneblk gc` releases it, and the
 * failure is reported (ctx.info).
 */
export async function withAttached<T>(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  fn: (device: string) => Promise<T>,
  opts: AttachUse = {},
): Promise<T> {
  if (opts.reuseExisting) {
    const here = (await backend.attachments(volume, host)).some((a) => !a.tieBreaker);
    if (here) return await fn(backend.devicePath(volume));
  }
  try {
    return await fn(await attachReady(ctx, backend, volume, host, { readOnly: opts.readOnly }));
  } finally {
    await releaseTemporary(ctx, backend, volume, host, opts.owner);
  }
}

/**
 * Detach a temporary attachment; when that fails, mark it as a leftover of `owner` (default:
 * the action) and report it. Never throws.
 */
export async function releaseTemporary(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  owner = `${ctx.inv.kind} ${ctx.inv.action}`,
): Promise<void> {
  try {
    await backend.detach(volume, host);
    return;
  } catch (e) {
    await markStaying(ctx, backend, volume, host, owner, e);
  }
}

/**
 * An attachment that should have gone and could not be released (`cause`): mark it as a
 * leftover of `owner`, so that `oneblk gc` releases it, and report it. Never throws; false when
 * the mark could not be set either (the store is unreachable).
 */
export async function markStaying(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  owner: string,
  cause: unknown,
): Promise<boolean> {
  let marked = false;
  try {
    await backend.markLeftover({ kind: "attachment", name: volume, host }, owner);
    marked = true;
  } catch { /* the store is unreachable: nothing more to do now */ }
  const how = marked ? "; marked for oneblk gc" : "";
  ctx.info(`could not detach ${volume} from ${host}: ${errorLine(cause)}${how}`);
  return marked;
}

/**
 * Undo of a volume made and attached on `host` by this call: detach it there (not attached any
 * more is fine) and delete it at once.
 */
export async function detachAndDelete(
  backend: Backend,
  volume: string,
  host: string,
): Promise<void> {
  try {
    await backend.detach(volume, host);
  } catch (e) {
    if (!isKind(e, "not_found")) throw e;
  }
  await backend.deleteVolume(volume, { immediate: true });
}

/**
 * Remove `path` on `host` and detach `volume` there, tolerating what a retry or a dead host
 * brings: an unreachable host (the link dies with it; the store side is still released), a
 * device still open (left attached, reported) and a front-end the store does not know as a
 * client. `keep`: the volume is an image other VMs may use (sharedImageUser): asked only once
 * the link is gone, a true answer leaves it attached. `passOver`: whether the unreachable host
 * may be passed over (default yes); no fails the call before the store is touched (a retry
 * does both once the host answers).
 */
export async function unlinkAndDetach(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  host: string,
  path: string,
  keep?: () => Promise<string | null>,
  passOver?: (e: unknown) => Promise<boolean>,
): Promise<void> {
  try {
    await unlink(ctx.hosts, host, path);
  } catch (e) {
    if (!isKind(e, "unavailable") || (passOver && !(await passOver(e)))) throw e;
    ctx.info(`host ${host} is unreachable: ${path} not removed there`);
  }
  const user = keep ? await keep() : null;
  if (user) {
    ctx.info(`${volume} stays attached on ${host}: ${user} uses it there`);
    return;
  }
  try {
    await backend.detach(volume, host);
  } catch (e) {
    if (isKind(e, "in_use")) {
      ctx.info(`${volume} is still in use on ${host}; left attached`);
      return;
    }
    if (isKind(e, "config", "not_found", "unavailable") && await isFrontend(ctx, host)) return;
    throw e;
  }
}

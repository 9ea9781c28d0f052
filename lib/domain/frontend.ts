/**
 * Front-end identity and the bridge host that works for it: the one reader of ONEBLK_FRONTEND
 * and of a datastore's BRIDGE_LIST choice.
 *
 * ONEBLK_FRONTEND names the front-end as it appears in `host:path` arguments (stop, undeploy,
 * resume move a VM to and from it). It may list several names, separated by commas or blanks:
 * a front-end known under several names, or several front-ends (an HA oned). Two questions are
 * asked of it:
 *  - is `host` the front-end rather than a hypervisor (isFrontend)? Any listed name counts;
 *    without the variable, a host oned does not know is the front-end;
 *  - which host works for the front-end when a datastore sets no BRIDGE_LIST (frontendBridge)?
 *    This machine when its name is in the list (the action runs on it), else the first name;
 *    without the variable, this machine.
 *
 * The bridge of a datastore action (pickBridge): the first of the datastore's list attributes
 * that is set (BRIDGE_LIST; EXPORT_BRIDGE_LIST first for export), starting at entry
 * `n % length` (n = the image id) as OpenNebula's `get_destination_host` does, else the
 * front-end. With two or more entries, hosts oned reports in ERROR, DISABLED or OFFLINE are left
 * out (as OpenNebula does; names oned does not know as hosts are kept, and when oned cannot be
 * asked the list is used as it is), and a host that does not answer a trivial command (ssh
 * failing) is passed over for the next one. Skipped hosts are named in a progress line.
 */
import type { ActionContext } from "../context.ts";
import { errorLine, isKind, OneblkError } from "../errors.ts";
import { validateHost } from "../one/args.ts";
import type { DatastoreView } from "../one/views.ts";

/** The names ONEBLK_FRONTEND lists ([] when unset or blank). */
export function frontendNames(env: Record<string, string | undefined>): string[] {
  return (env.ONEBLK_FRONTEND ?? "").split(/[\s,]+/).filter((s) => s !== "");
}

/** This machine's host name ("" when the runtime may not ask). */
function thisHost(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/**
 * The host that does host-side work for the front-end: this machine when ONEBLK_FRONTEND is
 * unset or lists it, else the first listed name. `hostname` is this machine's name (tests).
 */
export function frontendBridge(
  env: Record<string, string | undefined>,
  hostname: string = thisHost(),
): string {
  const names = frontendNames(env);
  const pick = names.length === 0 || names.includes(hostname) ? hostname : names[0];
  return validateHost(pick, "ONEBLK_FRONTEND");
}

/**
 * True when `host` is the front-end rather than a hypervisor: listed in ONEBLK_FRONTEND when
 * it is set; otherwise a host oned does not know.
 */
export async function isFrontend(ctx: ActionContext, host: string): Promise<boolean> {
  const names = frontendNames(ctx.env);
  if (names.length) return names.includes(host);
  try {
    await (await ctx.one()).hostInfo(host);
    return false;
  } catch (e) {
    if (isKind(e, "not_found")) return true;
    throw e;
  }
}

/** Host states a bridge is not used in (OpenNebula skips `err`, `dsbl` and `off` hosts). */
const UNUSABLE_STATES: Readonly<Record<number, string>> = {
  3: "ERROR",
  4: "DISABLED",
  7: "DISABLED",
  8: "OFFLINE",
};

/** Deadline of the reachability check of a bridge candidate. */
const BRIDGE_PROBE_MS = 20_000;

/** `list` rotated to start at entry `n % length` (the host OpenNebula would pick first). */
export function bridgeOrder(list: readonly string[], n: number): string[] {
  if (!list.length) return [];
  const start = Math.abs(n) % list.length;
  return [...list.slice(start), ...list.slice(0, start)];
}

/** Host name → state from oned, or null when oned cannot be asked. */
async function hostStates(ctx: ActionContext): Promise<Map<string, number> | null> {
  try {
    const pool = await (await ctx.one()).hostPool();
    return new Map(pool.map((h) => [h.name, h.state]));
  } catch (e) {
    ctx.info(`host states not read from oned (${errorLine(e)}): BRIDGE_LIST used as it is`);
    return null;
  }
}

/**
 * The host that does host-side work for a datastore action (module doc): `attrs` are the
 * datastore's list attributes in order of preference, `n` the round-robin index (image id).
 * Throws OneblkError("unavailable") when every listed host is unusable.
 */
export async function pickBridge(
  ctx: ActionContext,
  ds: DatastoreView,
  n: number,
  attrs: readonly string[] = ["BRIDGE_LIST"],
): Promise<string> {
  const attr = attrs.find((a) => ds.template.list(a).length > 0);
  if (!attr) return frontendBridge(ctx.env);
  const order = bridgeOrder(ds.template.list(attr).map((h) => validateHost(h, attr)), n);
  if (order.length === 1) return order[0];
  const states = await hostStates(ctx);
  const skipped: string[] = [];
  let stateSkips = 0;
  for (const host of order) {
    const state = UNUSABLE_STATES[states?.get(host) ?? -1];
    if (state) {
      skipped.push(`${host} (${state})`);
      stateSkips++;
      continue;
    }
    try {
      await ctx.hosts.run(host, ["true"], { timeoutMs: BRIDGE_PROBE_MS });
    } catch (e) {
      skipped.push(`${host} (${errorLine(e)})`);
      continue;
    }
    if (skipped.length) ctx.info(`${attr}: skipped ${skipped.join(", ")}; using ${host}`);
    return host;
  }
  if (stateSkips === order.length) {
    throw new OneblkError(
      "unavailable",
      `All hosts from '${attr}' are offline, error or disabled: ${skipped.join(", ")}`,
    );
  }
  throw new OneblkError("unavailable", `no host of ${attr} is usable: ${skipped.join(", ")}`);
}

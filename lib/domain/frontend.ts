/**
 * Front-end identity: the one reader of ONEBLK_FRONTEND.
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
 */
import type { ActionContext } from "../context.ts";
import { isKind } from "../errors.ts";
import { validateHost } from "../one/args.ts";

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

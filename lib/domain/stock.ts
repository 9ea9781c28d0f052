/**
 * The host's stock VMM scripts (`$RR/vmm/kvm/<action>`, what `onehost sync` puts on every
 * host). A VMM override of ours hands on to them in two ways:
 *
 * - a call it does not serve at all (a VM whose system datastore or disks are not on oneblk
 *   storage) runs the stock script with our argv and the DECODED driver message on stdin
 *   (docs/contract.md "VMM overrides"; the add-ons pipe the base64 text, which hides TM_MAD
 *   from the stock script's save.<tm>/restore.<tm> hooks): `delegateToStock`;
 * - the overrides that only prepare a call (deploy, attach_disk, detach_disk) run the stock
 *   script with the argv the MAD would have given it on the host: `runStock`.
 */
import type { ActionContext } from "../context.ts";
import { VIRSH_TIMEOUT_MS } from "./libvirt.ts";

/** The stock host scripts oneblk hands on to. */
export type StockAction =
  | "deploy"
  | "attach_disk"
  | "detach_disk"
  | "save"
  | "restore"
  | "snapshot_create"
  | "snapshot_revert"
  | "snapshot_delete";

/** SCRIPTS_REMOTE_DIR on the hosts (`$RR`): ONEBLK_SCRIPTS_REMOTE_DIR or /var/tmp/one. */
export function scriptsRemoteDir(env: Record<string, string | undefined>): string {
  return (env.ONEBLK_SCRIPTS_REMOTE_DIR || "/var/tmp/one").replace(/\/+$/, "");
}

/**
 * Run the host's stock `$RR/vmm/kvm/<action> <argv…>` with `stdin`; returns its stdout (deploy
 * prints the deploy id, snapshot_create the hypervisor snapshot id). A non-zero exit throws
 * with the script's stderr.
 */
export async function runStock(
  ctx: ActionContext,
  action: StockAction,
  host: string,
  argv: string[],
  stdin?: string,
): Promise<string> {
  const script = `${scriptsRemoteDir(ctx.env)}/vmm/kvm/${action}`;
  const r = await ctx.hosts.run(host, [script, ...argv], { stdin, timeoutMs: VIRSH_TIMEOUT_MS });
  return r.stdout;
}

/**
 * Run the host's stock `$RR/vmm/kvm/<action>` with our argv and the decoded message; returns
 * its stdout.
 */
export async function delegateToStock(
  ctx: ActionContext,
  action: Exclude<StockAction, "deploy">,
  host: string,
  xml: string,
  why = "system datastore is not served by oneblk",
): Promise<string> {
  ctx.info(`${why}: running ${scriptsRemoteDir(ctx.env)}/vmm/kvm/${action} on ${host}`);
  return await runStock(ctx, action, host, ctx.args, xml);
}

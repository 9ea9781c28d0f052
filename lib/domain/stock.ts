/**
 * The host's stock VMM scripts: a VMM override of ours hands a call it does not serve (a VM
 * whose system datastore or disks are not on oneblk storage) to `$RR/vmm/kvm/<action>` on the
 * host, with our argv and the DECODED driver message on stdin (docs/contract.md "VMM
 * overrides"; the add-ons pipe the base64 text, which hides TM_MAD from the stock script's
 * save.<tm>/restore.<tm> hooks).
 */
import type { ActionContext } from "../context.ts";
import { VIRSH_TIMEOUT_MS } from "./libvirt.ts";

/** SCRIPTS_REMOTE_DIR on the hosts (`$RR`): ONEBLK_SCRIPTS_REMOTE_DIR or /var/tmp/one. */
export function scriptsRemoteDir(env: Record<string, string | undefined>): string {
  return (env.ONEBLK_SCRIPTS_REMOTE_DIR || "/var/tmp/one").replace(/\/+$/, "");
}

/**
 * Run the host's stock `$RR/vmm/kvm/<action>` with our argv and the decoded message; returns
 * its stdout (snapshot_create prints the hypervisor snapshot id).
 */
export async function delegateToStock(
  ctx: ActionContext,
  action: "save" | "restore" | "snapshot_create" | "snapshot_revert" | "snapshot_delete",
  host: string,
  xml: string,
  why = "system datastore is not served by oneblk",
): Promise<string> {
  const script = `${scriptsRemoteDir(ctx.env)}/vmm/kvm/${action}`;
  ctx.info(`${why}: running ${script} on ${host}`);
  const r = await ctx.hosts.run(host, [script, ...ctx.args], {
    stdin: xml,
    timeoutMs: VIRSH_TIMEOUT_MS,
  });
  return r.stdout;
}

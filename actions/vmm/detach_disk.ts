/**
 * VMM override detach_disk (file names per add-on: lib/addons/; addon-storpool's
 * `detach_disk.storpool`): `deploy_id DIR/disk.N target target_index vmid host`, stdin base64
 * of the message (docs/contract.md "vmm deploy and disk hot-plug"). The MAD runs the TM step
 * (mvds/delete) after it.
 *
 * The live domain (`virsh dumpxml`) decides (lib/domain/disk_hotplug.ts `planDetach`), the
 * disk being found by its exact source path (a media change may have used another drive than
 * oned's target):
 * - in a CDROM drive on an IDE or SATA bus: the medium is ejected (`virsh change-media --eject
 *   --force`) and the drive stays, empty, for the next CDROM;
 * - anywhere else: the host's stock `detach_disk` with the drive's target;
 * - not in the domain (any more; a repeat after a lost reply): nothing to do.
 */
import type { ActionContext } from "../../lib/context.ts";
import { checkPath } from "../../lib/host/ops.ts";
import { decodeXmlPayload, parseId, validateHost } from "../../lib/one/args.ts";
import { changeMedia, checkDomain, dumpDomainXml } from "../../lib/domain/libvirt.ts";
import { parseDomainXml } from "../../lib/domain/domain_xml.ts";
import { planDetach } from "../../lib/domain/disk_hotplug.ts";
import { runStock } from "../../lib/domain/stock.ts";

/** Run the detach_disk override. */
export async function run(ctx: ActionContext): Promise<void> {
  const [domArg, pathArg, target, index, vmArg, hostArg] = ctx.args;
  const domain = checkDomain(domArg);
  const path = checkPath(pathArg, "disk path");
  parseId(vmArg, "vmid");
  const host = validateHost(hostArg);
  // stdin (the message) is read all the same, so that the MAD never writes into a closed pipe
  const raw = (await ctx.stdin()).trim();
  const live = parseDomainXml(await dumpDomainXml(ctx, host, domain), `domain ${domain}`);
  const plan = planDetach({ path, target, live });
  switch (plan.route) {
    case "absent":
      ctx.info(`${path} is not attached to ${domain}: nothing to detach`);
      return;
    case "eject":
      await changeMedia(ctx, host, domain, plan.target, "eject");
      return;
    case "detach": {
      // The stock script reads nothing from stdin; it gets the decoded message as on a remote
      // call all the same.
      let msg: string | undefined;
      try {
        msg = raw ? decodeXmlPayload(raw, "driver message", { allowRaw: true }) : undefined;
      } catch {
        msg = undefined;
      }
      await runStock(ctx, "detach_disk", host, [domain, path, plan.target, index], msg);
    }
  }
}

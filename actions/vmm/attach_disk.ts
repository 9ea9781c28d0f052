/**
 * VMM override attach_disk (file names per add-on: lib/addons/; addon-storpool's
 * `attach_disk.storpool`): `deploy_id DIR/disk.N target target_index b64(message) vmid host`,
 * stdin base64 of the message (docs/contract.md "vmm deploy and disk hot-plug"). Runs after
 * the MAD's TM step made `DIR/disk.N`; a failure makes the MAD run TM_COMMAND_ROLLBACK.
 *
 * The live domain (`virsh dumpxml`) and the DISK with ATTACH=YES decide
 * (lib/domain/disk_hotplug.ts `planAttach`):
 * - the path is in the domain already (a repeat after a lost reply): nothing to do;
 * - a CDROM that cannot be hot-plugged (its drive is on an IDE or SATA bus, as read from the
 *   live domain, whatever its prefix) goes into an empty CDROM drive with `virsh change-media
 *   --insert` (`--block` for a block device); that drive may have another target than oned's;
 * - anything else goes to the host's stock `attach_disk` with the message, where a disk on
 *   oneblk's store first gets DISK_TYPE=BLOCK and TYPE=BLOCK (a CDROM keeps its CDROM type), so
 *   that the stock script writes a block device, not a file;
 * - a target already taken, or a CDROM with no empty drive left, is refused in one line.
 */
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { DRIVERS } from "../../lib/addons/index.ts";
import { checkPath } from "../../lib/host/ops.ts";
import { decodeXmlPayload, encodeBase64Text, parseId, validateHost } from "../../lib/one/args.ts";
import { parseVmmAction } from "../../lib/one/views.ts";
import { parseXml, toXml } from "../../lib/one/xml.ts";
import { changeMedia, checkDomain, dumpDomainXml } from "../../lib/domain/libvirt.ts";
import { parseDomainXml } from "../../lib/domain/domain_xml.ts";
import { planAttach, retypeAttachDisk } from "../../lib/domain/disk_hotplug.ts";
import { runStock } from "../../lib/domain/stock.ts";

/** Run the attach_disk override. */
export async function run(ctx: ActionContext): Promise<void> {
  const [domArg, pathArg, target, index, b64, vmArg, hostArg] = ctx.args;
  const domain = checkDomain(domArg);
  const path = checkPath(pathArg, "disk path");
  const vmId = parseId(vmArg, "vmid");
  const host = validateHost(hostArg);
  // The message is argument 5; stdin carries it too and is read all the same, so that the MAD
  // never writes into a closed pipe.
  const raw = (await ctx.stdin()).trim();
  const message = b64.trim() || !raw
    ? decodeXmlPayload(b64, "driver message (argument 5)", { allowRaw: true })
    : decodeXmlPayload(raw, "driver message on stdin", { allowRaw: true });
  const vm = (await parseVmmAction(message)).vm;
  if (vm.id !== vmId) {
    throw new OneblkError("input", `the message is about VM ${vm.id}, not VM ${vmId}`);
  }
  const disk = vm.attachedDisk;
  if (!disk) {
    throw new OneblkError("input", `the message of VM ${vmId} has no DISK with ATTACH=YES`);
  }
  const live = parseDomainXml(await dumpDomainXml(ctx, host, domain), `domain ${domain}`);
  const plan = planAttach({ disk, path, live, tms: DRIVERS });
  switch (plan.route) {
    case "present":
      ctx.info(`${path} is attached to ${domain} already (${plan.target})`);
      return;
    case "refuse":
      throw new OneblkError("in_use", `disk ${disk.diskId} of VM ${vmId}: ${plan.reason}`);
    case "media":
      if (plan.target !== disk.target) {
        ctx.info(`CDROM disk ${disk.diskId} goes into the empty drive ${plan.target}`);
      }
      await changeMedia(ctx, host, domain, plan.target, { insert: path, block: plan.block });
      return;
    case "attach": {
      const msg = plan.retype
        ? toXml(retypeAttachDisk(await parseXml(message, "driver message"), plan.retype))
        : message;
      if (plan.retype) {
        ctx.info(`disk ${disk.diskId} attached as a block device (TYPE ${plan.retype.TYPE})`);
      }
      const argv = [domain, path, target, index, encodeBase64Text(msg)];
      await runStock(ctx, "attach_disk", host, argv, msg);
    }
  }
}

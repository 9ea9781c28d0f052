/**
 * tm monitor_ds `DS_DIR` (docs/contract.md "tm monitor_ds"): run on a host by OpenNebula's
 * host probe for a datastore directory whose `.monitor` file names this driver. stdout: one
 * line per VM with disks in that directory (lib/domain/monitor.ts measureDsDir), in the form
 * the calling OpenNebula reads:
 *  - 5.12 and later: `VM=[ID=<vmid>, MONITOR="<b64(DISK_SIZE=[…] SNAPSHOT_SIZE=[…])>"]`;
 *  - 5.10 and earlier: `VM=[ID=<vmid>,POLL="DISK_SIZE=[…] SNAPSHOT_SIZE=[…] "]`.
 * The convention is read from the host's probes when the remotes copy has them (5.12 added
 * `im/kvm-probes.d/vm/`, the test the add-ons use), else from `$RR/VERSION`.
 */
import { join } from "../../lib/path.ts";
import type { ActionContext } from "../../lib/context.ts";
import { OneblkError } from "../../lib/errors.ts";
import { monitorVmLine, pollVmLine, VERSION_GATES, versionAtLeast } from "../../lib/one/output.ts";
import { measureDsDir } from "../../lib/domain/monitor.ts";
import { isDirectory } from "../../lib/frugal.ts";

/** True when the calling OpenNebula reads the 5.12+ MONITOR lines. */
function monitorConvention(ctx: ActionContext): boolean {
  const probes = join(ctx.remotes, "im", "kvm-probes.d");
  if (isDirectory(probes)) return isDirectory(join(probes, "vm"));
  return versionAtLeast(ctx.version, VERSION_GATES.monitord);
}

/** Run tm monitor_ds. */
export async function run(ctx: ActionContext): Promise<void> {
  const dir = ctx.args[0];
  if (!dir.startsWith("/") || dir.split("/").includes("..")) {
    throw new OneblkError("input", `monitor_ds needs an absolute datastore directory, got ${dir}`);
  }
  const vms = await measureDsDir(dir);
  const line = monitorConvention(ctx) ? monitorVmLine : pollVmLine;
  for (const vm of vms) ctx.out(line(vm));
}

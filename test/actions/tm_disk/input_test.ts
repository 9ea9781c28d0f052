/**
 * Bad input to the TM disk actions, through the real programs: wrong arity, hostile host:path
 * arguments, a disk the VM does not have, a VM oned does not know, bad ids. Each fails with one
 * line on stderr, nothing on stdout, exit 1, and nothing is created or run on a host.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { CASES, cloneDisk, diskArg, present, useEnv, vmInput } from "./helpers.ts";

describe("tm disk actions: bad input", () => {
  const env = useEnv();

  it("fail with one line and touch nothing", async () => {
    const tc = CASES[0];
    const vmId = tc.vmBase + 90;
    env.vm(vmInput(tc, vmId, "bravo", [cloneDisk(tc, 0, 90, 4, 4)]));
    const src = `alpha:${tc.profile.imageSource(90, tc.imageDs)}`;
    const d0 = diskArg("bravo", tc.systemDs, vmId, 0);
    const cases: [string, (string | number)[], RegExp][] = [
      ["clone", [src, d0], /expects 4 arguments/],
      ["ln", [src, d0, vmId, tc.imageDs, "extra"], /expects 4 arguments/],
      ["snap_create", [d0, 0, vmId], /expects 4 arguments/],
      ["delete", [d0, vmId], /expects 3 arguments/],
      ["cpds", [d0, "x", vmId, tc.imageDs], /expects 5 arguments/],
      ["clone", [src, `bra;vo:/var/lib/one/datastores/1/2/disk.0`, vmId, tc.imageDs], /host/],
      ["clone", [src, `bravo'$(id):/x/disk.0`, vmId, tc.imageDs], /invalid host name/],
      ["ln", [src, `"bravo":/x/disk.0`, vmId, tc.imageDs], /invalid host name/],
      ["mv", [d0, `charlie:relative/disk.0`, vmId, tc.imageDs], /absolute/],
      ["delete", [`bravo:/var/lib/one/../../etc/disk.0`, vmId, tc.imageDs], /'\.\.'/],
      ["clone", [src, diskArg("bravo", tc.systemDs, vmId, 5), vmId, tc.imageDs], /no disk 5/],
      ["mvds", [`bravo:/var/lib/one/datastores/1/2/notadisk`, "S", vmId, tc.imageDs], /disk/],
      ["snap_revert", [d0, "-1", vmId, tc.imageDs], /snap_id/],
      ["resize", [d0, "big", vmId, tc.imageDs], /size/],
      ["snap_delete", [d0, 0, "seven", tc.imageDs], /vmid/],
      ["clone", [src, diskArg("bravo", tc.systemDs, 4242, 0), 4242, tc.imageDs], /4242/],
    ];
    for (const [action, args, re] of cases) {
      await env.fails(tc, action, args, re);
    }
    // Nothing was attached or linked anywhere.
    assert.equal(await present(env.c.hostPath("bravo", `/var/lib/one/datastores/1`)), false);
    assert.equal(
      await present(env.c.hostPath("bravo", `/var/lib/one/datastores/${tc.systemDs}/${vmId}`)),
      false,
    );
  });
});

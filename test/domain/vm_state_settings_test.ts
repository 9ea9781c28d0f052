/**
 * OVMF_PATH and ONE_TPM_SAVE of the StorPool VM state: an addon-storpoolrc carried over from the
 * add-on is honoured (NVRAM template directory, TPM state off), the environment wins over it, and
 * without either the defaults hold ($R/OVMF, TPM state on the store).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { nvramTemplate, tpmOnStore } from "../../lib/domain/vm_state.ts";
import { readAddonRc } from "../../lib/backend/storpool/config.ts";
import { profileFor } from "../../lib/addons/index.ts";
import { parseVmSync } from "../support/views_sync.ts";
import { buildVmXml } from "../../tools/sim/oned/builders.ts";

const vm = parseVmSync(buildVmXml({
  id: 42,
  template: { TPM: { MODEL: "tpm-crb" } },
  userTemplate: { T_OS_NVRAM: "storpool:template=OVMF_VARS.fd" },
}));
/** The storpool profile with no rc file at all. */
const noRc = profileFor("storpool", {}, {});
const remotes = "/var/lib/one/remotes";

describe("VM state settings (OVMF_PATH, ONE_TPM_SAVE)", () => {
  it("reads them from an addon-storpoolrc file", async () => {
    const dir = await Deno.makeTempDir({ prefix: "oneblk-rc-" });
    try {
      const file = join(dir, "addon-storpoolrc");
      await Deno.writeTextFile(
        file,
        '# carried over from the add-on\nOVMF_PATH="/srv/ovmf"\nONE_TPM_SAVE=0\n',
      );
      const profile = profileFor("storpool", {}, readAddonRc([file]));
      assert.deepEqual(profile.setting({}, "OVMF_PATH"), {
        value: "/srv/ovmf",
        from: "addon-storpoolrc",
      });
      assert.equal(nvramTemplate({ env: {}, remotes, profile }, vm), "/srv/ovmf/OVMF_VARS.fd");
      assert.equal(tpmOnStore({ env: {} }, profile, vm), false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  it("the environment wins over the rc file", () => {
    const env = { OVMF_PATH: "/opt/ovmf", ONE_TPM_SAVE: "1" };
    const profile = profileFor("storpool", env, { OVMF_PATH: "/srv/ovmf", ONE_TPM_SAVE: "0" });
    assert.equal(nvramTemplate({ env, remotes, profile }, vm), "/opt/ovmf/OVMF_VARS.fd");
    assert.equal(tpmOnStore({ env }, profile, vm), true);
    assert.equal(tpmOnStore({ env: { ONE_TPM_SAVE: "0" } }, noRc, vm), false);
  });

  it("without either: $R/OVMF and TPM state on the store; absolute templates as given", () => {
    assert.equal(
      nvramTemplate({ env: {}, remotes, profile: noRc }, vm),
      `${remotes}/OVMF/OVMF_VARS.fd`,
    );
    assert.equal(tpmOnStore({ env: {} }, noRc, vm), true);
    const abs = parseVmSync(buildVmXml({
      id: 43,
      userTemplate: { T_OS_NVRAM: "storpool:template=/usr/share/OVMF/OVMF_VARS_4M.fd" },
    }));
    const profile = profileFor("storpool", {}, { OVMF_PATH: "/srv/ovmf" });
    assert.equal(
      nvramTemplate({ env: {}, remotes, profile }, abs),
      "/usr/share/OVMF/OVMF_VARS_4M.fd",
    );
    // the LINSTOR profiles keep the TPM state in the VM directory whatever the settings say
    assert.equal(tpmOnStore({ env: {} }, profileFor("linstor_un", {}), vm), false);
  });
});

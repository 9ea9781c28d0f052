/**
 * The storpool profile's process-wide settings follow addon-storpool's rc files when the
 * environment does not set them: ONE_PX names every volume (an rc file with a custom prefix
 * must give the add-on's names, or oneblk would not find the existing volumes), and the
 * snapshot limits and VMSNAPSHOT_FSFREEZE come from there too; the environment wins; the
 * LINSTOR profiles have no rc file.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { profileFor } from "../../lib/addons/index.ts";
import { storpoolSetting } from "../../lib/addons/storpool.ts";
import { addonRc, readAddonRc } from "../../lib/backend/storpool/config.ts";
import { snapshotLimit } from "../../lib/domain/snapshot_limit.ts";

/** Read an rc file written with `text` the way the driver reads the add-on's files. */
async function rcFile(text: string): Promise<Record<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "oneblk-rc-" });
  try {
    const file = join(dir, "addon-storpoolrc");
    await Deno.writeTextFile(file, text);
    return readAddonRc([join(dir, "missing"), file]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const disk = {
  diskId: 2,
  source: "foo-ds-100/foo-img-7",
  imageId: "7",
  clone: true,
  persistent: false,
  type: "FILE",
  volatile: false,
  format: "raw",
};

describe("storpool settings from addon-storpoolrc", () => {
  it("ONE_PX in the rc file (no environment) names every volume", async () => {
    const rc = await rcFile('# the operator\'s prefix\nONE_PX="foo"\n');
    const p = profileFor("storpool", {}, rc);
    assert.equal(p.imageVolume(7, 100), "foo-img-7");
    assert.equal(p.imageSource(7, 100), "foo-ds-100/foo-img-7");
    assert.equal(p.diskVolume(42, disk), "foo-img-7-42-2");
    assert.equal(p.volatileVolume(42, 3, ""), "foo-sys-42-3-raw");
    assert.equal(p.contextVolume(42, 4), "foo-sys-42-4-iso");
    assert.equal(p.vmStateVolume(42, "nvram"), "foo-sys-42-NVRAM");
    assert.equal((p.placement({ get: () => "" }, 100) as { group: string }).group, "foo-ds-100");
    assert.deepEqual(p.dsMatch(100), { virt: "one", nloc: "foo" });
    assert.equal(p.diskProps(42, 2, 100).nloc, "foo");
  });

  it("the environment wins over the rc file; neither: the default prefix 'one'", () => {
    const rc = { ONE_PX: "foo", DISKSNAPSHOT_LIMIT: "2" };
    const p = profileFor("storpool", { ONE_PX: "bar", DISKSNAPSHOT_LIMIT: "5" }, rc);
    assert.equal(p.imageVolume(7, 100), "bar-img-7");
    assert.deepEqual(p.setting({ DISKSNAPSHOT_LIMIT: "5" }, "DISKSNAPSHOT_LIMIT"), {
      value: "5",
      from: "the driver environment",
    });
    // an empty environment value counts as unset, like the add-on's ${ONE_PX:-one}
    assert.equal(profileFor("storpool", { ONE_PX: "" }, rc).imageVolume(7, 100), "foo-img-7");
    assert.equal(profileFor("storpool", {}, {}).imageVolume(7, 100), "one-img-7");
    assert.equal(storpoolSetting({}, "ONE_PX", { ONE_PX: "  " }), null);
  });

  it("snapshot limits and VMSNAPSHOT_FSFREEZE: templates, then env, then the rc file", async () => {
    const rc = await rcFile("DISKSNAPSHOT_LIMIT=2\nVMSNAPSHOT_LIMIT=4\nVMSNAPSHOT_FSFREEZE=1\n");
    const p = profileFor("storpool", {}, rc);
    const setting = (env: Record<string, string>) => (n: string) => p.setting(env, n);
    const none = { label: "VM 1 user template", get: () => "" };
    assert.deepEqual(await snapshotLimit("DISKSNAPSHOT_LIMIT", [none], setting({})), {
      value: 2,
      from: "addon-storpoolrc",
    });
    assert.deepEqual(
      await snapshotLimit("VMSNAPSHOT_LIMIT", [none], setting({ VMSNAPSHOT_LIMIT: "9" })),
      { value: 9, from: "the driver environment" },
    );
    const vm = { label: "VM 1 user template", get: () => "1" };
    assert.deepEqual(await snapshotLimit("VMSNAPSHOT_LIMIT", [vm], setting({})), {
      value: 1,
      from: "VM 1 user template",
    });
    assert.equal(p.setting({}, "VMSNAPSHOT_FSFREEZE")?.value, "1");
    // a bad value names where it came from
    const bad = profileFor("storpool", {}, { VMSNAPSHOT_LIMIT: "many" });
    await assert.rejects(
      snapshotLimit("VMSNAPSHOT_LIMIT", [], (n) => bad.setting({}, n)),
      /VMSNAPSHOT_LIMIT in addon-storpoolrc must be a non-negative integer/,
    );
  });

  it("the rc files are read once per process", async () => {
    const dir = await Deno.makeTempDir({ prefix: "oneblk-rc-" });
    try {
      const file = join(dir, "addon-storpoolrc");
      await Deno.writeTextFile(file, "ONE_PX=foo\n");
      assert.equal(addonRc([file]).ONE_PX, "foo");
      await Deno.writeTextFile(file, "ONE_PX=bar\n");
      assert.equal(addonRc([file]).ONE_PX, "foo", "the first read holds for the process");
      assert.equal(readAddonRc([file]).ONE_PX, "bar");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  it("the LINSTOR profiles read only the environment", () => {
    for (const d of ["linstor", "linstor_un"]) {
      const p = profileFor(d, {}, { DISKSNAPSHOT_LIMIT: "2" });
      assert.equal(p.setting({}, "DISKSNAPSHOT_LIMIT"), null);
      assert.equal(p.setting({ DISKSNAPSHOT_LIMIT: "3" }, "DISKSNAPSHOT_LIMIT")?.value, "3");
    }
  });
});

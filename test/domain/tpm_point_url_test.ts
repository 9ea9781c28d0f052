/**
 * The TPM state URL of a restored point (lib/domain/restore.ts tpmPointUrl): the backup
 * datastores list disk.tpm.0 with the whole chain, which their downloaders would rebuild like a
 * disk chain; the restore asks for the restored point's file alone.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { tpmPointUrl } from "../../lib/domain/restore.ts";

describe("tpmPointUrl", () => {
  it("rsync: the last increment of the chain, in its own directory", () => {
    assert.equal(
      tpmPointUrl(
        "rsync://100//0:a47997,1:6ca565,2:ffee00/var/lib/one/datastores/100/3/a47997/disk.tpm.0",
      ),
      "rsync://100//2:ffee00/var/lib/one/datastores/100/3/ffee00/disk.tpm.0",
    );
    // after a flatten the chain starts later; a one-increment chain stays as it is
    assert.equal(
      tpmPointUrl("rsync://100/5/3:c1,4:d2/var/lib/one/datastores/100/3/d2/disk.tpm.0"),
      "rsync://100/5/4:d2/var/lib/one/datastores/100/3/d2/disk.tpm.0",
    );
    const one = "rsync://100/5/0:a47997/var/lib/one/datastores/100/3/a47997/disk.tpm.0";
    assert.equal(tpmPointUrl(one), one);
  });

  it("restic (the host path, no increment directory): only the chain is cut", () => {
    assert.equal(
      tpmPointUrl("restic://100/5/0:aa11,1:bb22/var/lib/one/datastores/0/3/backup/disk.tpm.0"),
      "restic://100/5/1:bb22/var/lib/one/datastores/0/3/backup/disk.tpm.0",
    );
  });

  it("leaves URLs of another shape alone", () => {
    for (const u of ["/var/tmp/disk.tpm.0", "http://h/x/disk.tpm.0", "rsync://1/2/x/disk.tpm.0"]) {
      assert.equal(tpmPointUrl(u), u);
    }
  });
});

/**
 * datastore.conf as OpenNebula's drivers read it (lib/domain/remotes.ts readDatastoreConf), and
 * which increment a backup writes (lib/domain/backup.ts chainPoint).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readDatastoreConf } from "../../lib/domain/remotes.ts";
import { chainPoint } from "../../lib/domain/backup.ts";
import { parseVmSync } from "../support/views_sync.ts";
import { buildVmXml } from "../../tools/sim/oned/builders.ts";

describe("readDatastoreConf", () => {
  it("reads KEY=value lines like the stock drivers; no file sets nothing", async () => {
    const remotes = await Deno.makeTempDir();
    try {
      assert.deepEqual(await readDatastoreConf(remotes), {});
      await Deno.mkdir(join(remotes, "etc", "datastore"), { recursive: true });
      await Deno.writeTextFile(
        join(remotes, "etc", "datastore", "datastore.conf"),
        [
          "# comment",
          'SUPPORTED_FS="ext2,ext3,ext4,xfs"',
          '#BACKUP_BASE_PATH="/nope"',
          'export BACKUP_BASE_PATH="/var/lib/one/bk"  # where',
          "FS_OPTS_ext4='-b 16384'",
          "PLAIN=word",
          "not a setting",
        ].join("\n"),
      );
      assert.deepEqual(await readDatastoreConf(remotes), {
        SUPPORTED_FS: "ext2,ext3,ext4,xfs",
        BACKUP_BASE_PATH: "/var/lib/one/bk",
        FS_OPTS_ext4: "-b 16384",
        PLAIN: "word",
      });
    } finally {
      await Deno.remove(remotes, { recursive: true });
    }
  });
});

describe("chainPoint", () => {
  const point = (cfg: Record<string, string | number>) =>
    chainPoint(parseVmSync(buildVmXml({ id: 7, backupConfig: cfg })).backupConfig);
  it("full, first of a chain, next increment", () => {
    assert.deepEqual(point({ MODE: "FULL", LAST_INCREMENT_ID: 4 }), {
      incremental: false,
      last: -1,
      inc: 0,
    });
    assert.deepEqual(point({}), { incremental: false, last: -1, inc: 0 });
    assert.deepEqual(point({ MODE: "INCREMENT", LAST_INCREMENT_ID: -1 }), {
      incremental: true,
      last: -1,
      inc: 0,
    });
    assert.deepEqual(point({ MODE: "INCREMENT", LAST_INCREMENT_ID: 4 }), {
      incremental: true,
      last: 4,
      inc: 5,
    });
    assert.throws(() => point({ MODE: "DIFF" }), /MODE/);
  });
});

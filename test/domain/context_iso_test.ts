/**
 * lib/domain/context_iso.ts below the action: the ISO streamed to a host through putFile is put
 * in place only when whole. A source that shrinks between planning and streaming fails the call
 * with the source's own error, and neither the new file nor a temp file is left; the old file at
 * the path stays.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { planIso } from "../../lib/domain/iso9660.ts";
import { sendIso } from "../../lib/domain/context_iso.ts";
import { putFile } from "../../lib/host/ops.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { OneblkError } from "../../lib/errors.ts";
import { fileSource, findNode, readData, readIso } from "../support/iso9660_reader.ts";

async function world() {
  const root = await Deno.makeTempDir({ prefix: "oneblk-ctxiso-" });
  await Deno.mkdir(join(root, "hosts", "n1", "vms"), { recursive: true });
  return { root, sim: new SimRunner(root), at: (p: string) => join(root, "hosts", "n1", p) };
}

Deno.test("a whole ISO is streamed into place and reads back", async () => {
  const w = await world();
  try {
    const src = join(w.root, "context.sh");
    await Deno.writeTextFile(src, "HOSTNAME='a'\n");
    const iso = await planIso([{ path: "context.sh", source: src }]);
    await sendIso(iso, (s) => putFile(w.sim, "n1", "/vms/disk.1", s, { size: iso.size }));
    const f = fileSource(w.at("vms/disk.1"));
    try {
      const r = readIso(f);
      assert.equal(r.primary.volumeId, "CONTEXT");
      assert.equal(
        new TextDecoder().decode(readData(f, findNode(r.plain, "/context.sh")!)),
        "HOSTNAME='a'\n",
      );
    } finally {
      f.close();
    }
  } finally {
    await Deno.remove(w.root, { recursive: true });
  }
});

Deno.test("a source cut short leaves the old file and no temp file, with its own error", async () => {
  const w = await world();
  try {
    const src = join(w.root, "big.bin");
    await Deno.writeFile(src, new Uint8Array(3 * 1024 * 1024).fill(7));
    await Deno.writeTextFile(w.at("vms/disk.1"), "old ISO");
    const iso = await planIso([{ path: "big.bin", source: src }]);
    await Deno.truncate(src, 1024 * 1024); // shrinks after planning
    let caught: unknown;
    try {
      await sendIso(iso, (s) => putFile(w.sim, "n1", "/vms/disk.1", s, { size: iso.size }));
    } catch (e) {
      caught = e;
    }
    assert(caught instanceof OneblkError, String(caught));
    assert.match(caught.message, /shrank while the image was written/);
    assert.equal(await Deno.readTextFile(w.at("vms/disk.1")), "old ISO");
    assert.deepEqual([...Deno.readDirSync(w.at("vms"))].map((e) => e.name), ["disk.1"]);
  } finally {
    await Deno.remove(w.root, { recursive: true });
  }
});

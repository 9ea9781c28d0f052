import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { SimRunner } from "../../lib/host/sim.ts";
import {
  checkPath,
  exists,
  link,
  links,
  mkdirp,
  mkfs,
  qemuImgConvert,
  qemuImgInfo,
  qemuImgResize,
  readLink,
  removeDir,
  sha256,
  unlink,
  waitForPath,
} from "../../lib/host/ops.ts";
import { OneblkError } from "../../lib/errors.ts";
import { withFrozen } from "../../lib/domain/libvirt.ts";
import { sha256Hex, writeScript } from "./helpers.ts";
import { needing } from "../support/tools.ts";

const isKind = (kind: string, re?: RegExp) => (e: unknown) =>
  e instanceof OneblkError && e.kind === kind && (!re || re.test(e.message));
const MiB = 1024 * 1024;

describe("host ops (through the simulated runner)", () => {
  let root: string;
  let h: string;
  let sim: SimRunner;

  /** Simulated device: /dev/sim/<name> on host h → sparse file outside the host dir. */
  async function device(name: string, size: number): Promise<{ file: string; path: string }> {
    const file = join(root, "data", name);
    {
      using f = await Deno.open(file, { create: true, write: true, truncate: true });
      await f.truncate(size);
    }
    await Deno.mkdir(join(h, "dev/sim"), { recursive: true });
    await Deno.symlink(file, join(h, "dev/sim", name));
    return { file, path: `/dev/sim/${name}` };
  }

  async function readAt(file: string, offset: number, len: number): Promise<Uint8Array> {
    using f = await Deno.open(file);
    await f.seek(offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(len);
    await f.read(buf);
    return buf;
  }

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-ops-" });
    h = join(root, "hosts", "n1");
    await Deno.mkdir(h, { recursive: true });
    await Deno.mkdir(join(root, "data"));
    sim = new SimRunner(root);
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  it("validates paths", () => {
    assert.equal(checkPath("/a//b/"), "/a/b/");
    for (const bad of ["rel/x", "/a/../etc", "/a/./b", "/x\0", "-rf"]) {
      assert.throws(() => checkPath(bad), isKind("input"), bad);
    }
  });

  it("creates, tests and removes paths", async () => {
    await mkdirp(sim, "n1", "/var/lib/one/datastores/0/7");
    assert.ok(await exists(sim, "n1", "/var/lib/one/datastores/0/7"));
    assert.equal(await exists(sim, "n1", "/var/lib/one/datastores/0/8"), false);
    await Deno.writeTextFile(join(h, "var/lib/one/datastores/0/7/disk.1"), "x");
    await unlink(sim, "n1", "/var/lib/one/datastores/0/7/disk.1");
    await unlink(sim, "n1", "/var/lib/one/datastores/0/7/disk.1"); // already gone: fine
    assert.equal(await exists(sim, "n1", "/var/lib/one/datastores/0/7/disk.1"), false);
    // a failing constant script is named after its $0 in the error
    await Deno.writeTextFile(join(h, "var/lib/one/datastores/0/7/file"), "x");
    await assert.rejects(
      link(sim, "n1", "/dev/sim/x", "/var/lib/one/datastores/0/7/file/disk.0"),
      isKind("host", /^oneblk-link on n1 failed \(exit 1\): mkdir: .*\/datastores\/0\/7\/file/),
    );
  });

  it("makes and removes the links of several disks in one host command (issue 15)", async () => {
    let calls = 0;
    const counting = {
      get calls() {
        return calls;
      },
      run: (host: string, argv: string[], o?: Parameters<SimRunner["run"]>[2]) => {
        calls++;
        return sim.run(host, argv, o);
      },
      stream: sim.stream.bind(sim),
    };
    const dir = "/var/lib/one/datastores/0/9";
    const specs = [0, 1, 2].map((i) => ({ device: `/dev/sim/d${i}`, path: `${dir}/disk.${i}` }));
    // the directory is missing: made first; a link already there is replaced
    await links(counting, "n1", specs);
    await links(counting, "n1", [{ device: "/dev/sim/other", path: `${dir}/disk.2` }]);
    assert.equal(calls, 2, "one command per call, whatever the number of links");
    assert.equal(await readLink(sim, "n1", `${dir}/disk.0`), "/dev/sim/d0");
    assert.equal(await readLink(sim, "n1", `${dir}/disk.1`), "/dev/sim/d1");
    assert.equal(await readLink(sim, "n1", `${dir}/disk.2`), "/dev/sim/other");
    await links(counting, "n1", []);
    assert.equal(calls, 2, "no link, no command");
    // stops at the first failure: the links after it are not made
    await Deno.writeTextFile(join(h, "var/lib/one/datastores/0/file"), "x");
    await assert.rejects(
      links(counting, "n1", [
        { device: "/dev/sim/d3", path: "/var/lib/one/datastores/0/file/disk.3" },
        { device: "/dev/sim/d4", path: `${dir}/disk.4` },
      ]),
      isKind("host", /^oneblk-link on n1 failed \(exit 1\)/),
    );
    assert.equal(await exists(sim, "n1", `${dir}/disk.4`), false);
    // data stays data: a path with shell syntax is one argument
    await assert.rejects(links(counting, "n1", [{ device: "/dev/sim/x", path: "rel/disk.0" }]));
    await unlink(counting, "n1", specs.map((s) => s.path));
    assert.equal(calls, 4, "every path removed by one command");
    for (const s of specs) assert.equal(await readLink(sim, "n1", s.path), null);
  });

  it("a yes/no command that fails with a message is an error, never a no (issue 10)", async () => {
    // `test` and `readlink` say "no" with exit 1 and nothing on stderr; an exit 1 with a message
    // (I/O error, broken program, injected fault) is an unknown answer.
    const failing = {
      calls: 0,
      run: () => Promise.resolve({ code: 1, stdout: "", stderr: "test: simulated failure\n" }),
      stream: () => {
        throw new Error("not used");
      },
    };
    await assert.rejects(
      exists(failing, "n1", "/var/lib/one/datastores/0/7"),
      isKind("host", /^test -e \/var\/lib\/one\/datastores\/0\/7 on n1 failed: test: simulated/),
    );
    await assert.rejects(readLink(failing, "n1", "/var/lib/one/x"), isKind("host"));
    assert.equal(await readLink(sim, "n1", "/var/lib/one/datastores/0/no-such-link"), null);
  });

  it("removes only directories below an allowed prefix", async () => {
    const pre = ["/var/lib/one/datastores"];
    await mkdirp(sim, "n1", "/var/lib/one/datastores/0/9/sub");
    for (const bad of ["/", "/var/lib/one/datastores", "/var/lib/one/datastores/", "/etc/x"]) {
      await assert.rejects(removeDir(sim, "n1", bad, pre), isKind("input", /refusing/), bad);
    }
    await assert.rejects(
      removeDir(sim, "n1", "/var/lib/one/datastores/0/9", ["/"]),
      isKind("input"),
    );
    await assert.rejects(
      removeDir(sim, "n1", "/var/lib/one/datastores-other/1", pre),
      isKind("input"),
    );
    assert.ok(await exists(sim, "n1", "/var/lib/one/datastores/0/9/sub"));
    await removeDir(sim, "n1", "/var/lib/one/datastores/0/9", pre);
    assert.equal(await exists(sim, "n1", "/var/lib/one/datastores/0/9"), false);
    assert.ok(await exists(sim, "n1", "/var/lib/one/datastores/0"));
  });

  it("waits for a path to appear", async () => {
    assert.equal(await waitForPath(sim, "n1", "/dev/sim/never", 300), false);
    const dev = await device("sized", 3 * MiB);
    assert.equal(await waitForPath(sim, "n1", dev.path, 300), true);
  });

  it(...needing(["qemu-img"], "inspects, converts and resizes images with qemu-img"), async () => {
    await mkdirp(sim, "n1", "/images");
    await sim.run("n1", ["qemu-img", "create", "-q", "-f", "qcow2", "/images/a.qcow2", "64M"]);
    const info = await qemuImgInfo(sim, "n1", "/images/a.qcow2");
    assert.deepEqual(info, { format: "qcow2", virtualSizeBytes: 64 * MiB });
    await qemuImgResize(sim, "n1", "/images/a.qcow2", 128, { format: "qcow2" });
    assert.equal((await qemuImgInfo(sim, "n1", "/images/a.qcow2")).virtualSizeBytes, 128 * MiB);
    // into an existing "device" (a volume): -n writes into it instead of creating a file
    const dev = await device("conv-target", 128 * MiB);
    await qemuImgConvert(sim, "n1", "/images/a.qcow2", dev.path, "raw", {
      srcFormat: "qcow2",
      targetExists: true,
    });
    assert.ok((await Deno.lstat(join(h, dev.path))).isSymlink, "the device link was kept");
    assert.equal(
      (await qemuImgInfo(sim, "n1", dev.path, { format: "raw" })).virtualSizeBytes,
      128 * MiB,
    );
    // a new file
    await qemuImgConvert(sim, "n1", dev.path, "/images/b.qcow2", "qcow2", { srcFormat: "raw" });
    assert.equal((await qemuImgInfo(sim, "n1", "/images/b.qcow2")).format, "qcow2");
    // a backing file is reported, so importers can refuse such images
    await sim.run("n1", [
      "qemu-img",
      "create",
      "-q",
      "-f",
      "qcow2",
      "-b",
      "/images/a.qcow2",
      "-F",
      "qcow2",
      "/images/c.qcow2",
    ]);
    const c = await qemuImgInfo(sim, "n1", "/images/c.qcow2");
    assert.equal(c.backingFile, "/images/a.qcow2");
    await assert.rejects(qemuImgInfo(sim, "n1", "/images/none.qcow2"), isKind("host"));
    await assert.rejects(qemuImgResize(sim, "n1", "/images/a.qcow2", 0), isKind("input"));
  });

  it(...needing(["mkfs.ext4"], "makes filesystems and swap on devices"), async () => {
    const ext = await device("fs-ext4", 16 * MiB);
    await mkfs(sim, "n1", ext.path, "ext4", { label: "data disk" });
    // ext superblock magic 0xEF53 at byte 1024 + 56
    assert.deepEqual(await readAt(ext.file, 1080, 2), new Uint8Array([0x53, 0xef]));
    const swap = await device("swap", 16 * MiB);
    await mkfs(sim, "n1", swap.path, "swap");
    const sig = new TextDecoder().decode(await readAt(swap.file, 4096 - 10, 10));
    assert.equal(sig, "SWAPSPACE2");
    await assert.rejects(mkfs(sim, "n1", ext.path, "ext4; rm -rf /"), isKind("input"));
  });

  it("hashes content", async () => {
    const bytes = new TextEncoder().encode("hash me\n");
    await Deno.writeFile(join(h, "h.txt"), bytes);
    assert.equal(await sha256(sim, "n1", "/h.txt"), await sha256Hex(bytes));
  });

  describe("withFrozen", () => {
    let log: string;
    const opts = { virsh: "/usr/bin/virsh" };

    before(async () => {
      log = join(root, "virsh.log");
      await Deno.mkdir(join(h, "usr/bin"), { recursive: true });
      // the host's own virsh: logs its verb, misbehaves according to the domain name
      await writeScript(
        join(h, "usr/bin"),
        "virsh",
        `verb=$3; dom=$4
echo "$verb $dom" >> ${JSON.stringify(log)}
case "$verb:$dom" in
  domfsfreeze:vm-noagent) echo "error: Guest agent is not responding" >&2; exit 1 ;;
  domfsfreeze:vm-hang) exec sleep 30 ;;
  domfsthaw:vm-nothaw) echo "error: thaw failed" >&2; exit 1 ;;
esac
echo "Froze/thawed 1 filesystem(s)"`,
      );
    });

    const calls = async () => {
      const t = await Deno.readTextFile(log).catch(() => "");
      await Deno.remove(log).catch(() => {});
      return t.trim().split("\n").filter(Boolean);
    };

    it("freezes, runs, thaws", async () => {
      const seen: boolean[] = [];
      const r = await withFrozen(
        sim,
        "n1",
        "one-7",
        async (frozen) => {
          seen.push(frozen);
          assert.deepEqual(await calls(), ["domfsfreeze one-7"]);
          return 42;
        },
        5000,
        opts,
      );
      assert.equal(r, 42);
      assert.deepEqual(seen, [true]);
      assert.deepEqual(await calls(), ["domfsthaw one-7"]);
    });

    it("thaws when the operation fails and rethrows its error", async () => {
      await assert.rejects(
        withFrozen(
          sim,
          "n1",
          "one-8",
          () => Promise.reject(new Error("snapshot failed")),
          5000,
          opts,
        ),
        /snapshot failed/,
      );
      assert.deepEqual(await calls(), ["domfsfreeze one-8", "domfsthaw one-8"]);
    });

    it("fails without a guest agent, or runs unfrozen when freezing is optional", async () => {
      let ran = false;
      await assert.rejects(
        withFrozen(
          sim,
          "n1",
          "vm-noagent",
          () => {
            ran = true;
            return Promise.resolve();
          },
          5000,
          opts,
        ),
        isKind("host", /Guest agent is not responding/),
      );
      assert.equal(ran, false);
      assert.deepEqual(await calls(), ["domfsfreeze vm-noagent", "domfsthaw vm-noagent"]);
      const seen: boolean[] = [];
      await withFrozen(
        sim,
        "n1",
        "vm-noagent",
        (f) => {
          seen.push(f);
          return Promise.resolve();
        },
        5000,
        { ...opts, optional: true },
      );
      assert.deepEqual(seen, [false]);
      assert.deepEqual(await calls(), ["domfsfreeze vm-noagent", "domfsthaw vm-noagent"]);
    });

    it("gives up on a hanging freeze with a timeout error and still thaws", async () => {
      await assert.rejects(
        withFrozen(sim, "n1", "vm-hang", () => Promise.resolve(), 1000, opts),
        isKind("timeout", /virsh domfsfreeze vm-hang on n1 timed out after 1s/),
      );
      assert.deepEqual(await calls(), ["domfsfreeze vm-hang", "domfsthaw vm-hang"]);
    });

    it("reports a failed thaw loudly (after retrying)", async () => {
      await assert.rejects(
        withFrozen(sim, "n1", "vm-nothaw", () => Promise.resolve("ok"), 5000, opts),
        isKind("host", /^filesystems of vm-nothaw on n1 may still be frozen: .*thaw failed/),
      );
      assert.deepEqual(await calls(), [
        "domfsfreeze vm-nothaw",
        "domfsthaw vm-nothaw",
        "domfsthaw vm-nothaw",
      ]);
    });
  });
});

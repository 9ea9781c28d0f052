/**
 * lib/domain/vm_dir.ts: a VM directory's copy never reads the directory while the sharing test's
 * marker is still being removed from it (tar fails, "file changed as we read it"); a marker kept
 * for the copy goes with it, on every way out.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { SimRunner } from "../../lib/host/sim.ts";
import type { HostRunner, RunOptions } from "../../lib/host/types.ts";
import type { ActionContext } from "../../lib/context.ts";
import {
  type CopyPlan,
  copyVmDir,
  copyVmDirUnlessShared,
  vmDirShared,
  vmDirSharedHeld,
} from "../../lib/domain/vm_dir.ts";
import { OneblkError } from "../../lib/errors.ts";
import { withLater } from "../../lib/limit.ts";
import { lexists } from "../support/files.ts";

describe("VM directory: sharing test and copy", () => {
  let root = "";
  let sim: SimRunner;

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-vmdir-" });
    for (const h of ["src", "dst"]) await Deno.mkdir(join(root, "hosts", h), { recursive: true });
    await Deno.mkdir(join(root, "hosts/src/var/lib/one/datastores/0/7"), { recursive: true });
    await Deno.writeTextFile(join(root, "hosts/src/var/lib/one/datastores/0/7/vm.xml"), "<VM/>");
    sim = new SimRunner(root);
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  it("the copy starts only once the marker's removal has ended", async () => {
    const events: string[] = [];
    // the marker's removal (rm on src) is slow; every command's start and end is recorded
    const hosts: HostRunner = {
      get calls() {
        return sim.calls;
      },
      async run(host: string, argv: string[], opts?: RunOptions) {
        const what = `${host} ${argv[0]}`;
        events.push(`start ${what}`);
        if (argv[0] === "rm") await new Promise((r) => setTimeout(r, 300));
        try {
          return await sim.run(host, argv, opts);
        } finally {
          events.push(`end ${what}`);
        }
      },
      stream(host: string, argv: string[], opts?: RunOptions) {
        events.push(`start ${host} ${argv[0]} (stream)`);
        return sim.stream(host, argv, opts);
      },
    };
    const ctx = { hosts, env: {}, info: () => {} } as unknown as ActionContext;
    const dir = "/var/lib/one/datastores/0/7";
    await withLater(async (later) => {
      assert.equal((await vmDirShared(ctx, "src", "dst", dir, later)).shared, false);
      await copyVmDir(ctx, "src", dir, "dst", dir);
    });
    const rmEnd = events.indexOf("end src rm");
    const tarStart = events.indexOf("start src tar (stream)");
    assert.ok(rmEnd >= 0 && tarStart >= 0, events.join(" | "));
    assert.ok(rmEnd < tarStart, `tar started before the marker was removed: ${events.join(" | ")}`);
    assert.equal(
      await Deno.readTextFile(join(root, "hosts/dst", dir, "vm.xml")),
      "<VM/>",
      "the directory was copied",
    );
  });

  /** The simulated runner, recording `host program` of every command (streams too). */
  function recording(fail?: (host: string, argv: string[]) => boolean) {
    const seen: string[] = [];
    const hosts: HostRunner = {
      get calls() {
        return sim.calls;
      },
      run(host: string, argv: string[], opts?: RunOptions) {
        seen.push(`${host} ${argv[0] === "sh" ? argv[3] : argv[0]}`);
        return sim.run(host, argv, opts);
      },
      stream(host: string, argv: string[], opts?: RunOptions) {
        seen.push(`${host} ${argv[0] === "sh" ? argv[3] : argv[0]}`);
        if (fail?.(host, argv)) return sim.stream(host, ["false"], opts);
        return sim.stream(host, argv, opts);
      },
    };
    return { seen, ctx: { hosts, env: {}, info: () => {} } as unknown as ActionContext };
  }

  const markers = async (host: string, dir: string) =>
    (await Array.fromAsync(Deno.readDir(join(root, "hosts", host, dir))))
      .map((e) => e.name).filter((n) => n.startsWith(".oneblk-"));

  it("a kept marker goes with the copy's tar: no command of its own, none left", async () => {
    const dir = "/var/lib/one/datastores/0/9";
    await Deno.mkdir(join(root, "hosts/src", dir), { recursive: true });
    await Deno.writeTextFile(join(root, "hosts/src", dir, "vm.xml"), "<VM/>");
    const { seen, ctx } = recording();
    await withLater(async (later) => {
      const s = await vmDirShared(ctx, "src", "dst", dir, later, true);
      assert.deepEqual([s.shared, s.onA, s.onB], [false, true, false]);
      assert.ok(s.marker && (await markers("src", dir)).length === 1, "kept until the copy");
      await copyVmDir(ctx, "src", dir, "dst", dir, s);
    });
    assert.deepEqual(seen, [
      "src oneblk-mark",
      "dst oneblk-look",
      "src oneblk-tar",
      "dst oneblk-untar",
    ]);
    assert.deepEqual(await markers("src", dir), []);
    assert.deepEqual(await markers("dst", dir), []);
    assert.equal(await Deno.readTextFile(join(root, "hosts/dst", dir, "vm.xml")), "<VM/>");
  });

  it("a kept marker is removed when the copy fails", async () => {
    const dir = "/var/lib/one/datastores/0/7";
    const { seen, ctx } = recording((host) => host === "src");
    await assert.rejects(withLater(async (later) => {
      const s = await vmDirShared(ctx, "src", "dst", dir, later, true);
      await copyVmDir(ctx, "src", dir, "dst", dir, s);
    }));
    assert.deepEqual(seen.at(-1), "src rm");
    assert.deepEqual(await markers("src", dir), []);
  });

  it("a kept marker is dropped once; a shared directory's goes at once; none without a directory", async () => {
    const dir = "/var/lib/one/datastores/0/7";
    const { seen, ctx } = recording();
    const s = await vmDirShared(ctx, "src", "dst", dir, undefined, true);
    // dst has its own directory now (the earlier copy): seen there, not shared
    assert.deepEqual([s.shared, s.onA, s.onB], [false, true, true]);
    await s.dropMarker();
    await s.dropMarker(); // once only
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look", "src rm"]);
    assert.deepEqual(await markers("src", dir), []);
    // the same directory seen from a second name of the host: shared, removed without keep's help
    await Deno.symlink(join(root, "hosts/src"), join(root, "hosts/alias"));
    try {
      const same = await vmDirShared(ctx, "src", "alias", dir, undefined, true);
      assert.deepEqual([same.shared, same.onB, same.marker], [true, true, null]);
      assert.deepEqual(await markers("src", dir), []);
      const gone = await vmDirShared(
        ctx,
        "dst",
        "src",
        "/var/lib/one/datastores/0/8",
        undefined,
        true,
      );
      assert.deepEqual([gone.shared, gone.onA, gone.onB, gone.marker], [false, false, null, null]);
    } finally {
      await Deno.remove(join(root, "hosts/alias"));
    }
  });
});

describe("VM directory: the migrations' marking command waits for the caller (pre-, postmigrate)", () => {
  let root = "";
  let sim: SimRunner;
  const base = "/var/lib/one/datastores/0";

  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-vmdir-once-" });
    for (const h of ["src", "dst"]) await Deno.mkdir(join(root, "hosts", h), { recursive: true });
    sim = new SimRunner(root);
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  const onHost = (host: string, path: string) => join(root, "hosts", host, path);

  /** A VM directory with one file on src. */
  async function vmDir(vm: number): Promise<string> {
    const dir = `${base}/${vm}`;
    await Deno.mkdir(onHost("src", dir), { recursive: true });
    await Deno.writeTextFile(onHost("src", `${dir}/deployment.0`), `<domain>${vm}</domain>`);
    return dir;
  }

  /**
   * The simulated runner, recording `host label` of every command; `change` may replace a
   * command's argv; `waitMs`: the runners' default deadline.
   */
  function recording(change?: (host: string, argv: string[]) => string[], waitMs?: number) {
    const seen: string[] = [];
    const runner = waitMs ? new SimRunner(root, { defaultTimeoutMs: waitMs }) : sim;
    const hosts: HostRunner = {
      get calls() {
        return runner.calls;
      },
      defaultTimeoutMs: waitMs,
      run(host: string, argv: string[], opts?: RunOptions) {
        seen.push(`${host} ${argv[0] === "sh" ? argv[3] : argv[0]}`);
        return runner.run(host, argv, opts);
      },
      stream(host: string, argv: string[], opts?: RunOptions) {
        seen.push(`${host} ${argv[0] === "sh" ? argv[3] : argv[0]}`);
        return runner.stream(host, change?.(host, argv) ?? argv, opts);
      },
    };
    return { seen, ctx: { hosts, env: {}, info: () => {} } as unknown as ActionContext };
  }

  /** A `change` for recording(): in the `sh -c` script of `label`, `from` (which must be there) → `to`. */
  const scriptEdit =
    (label: string, from: string, to: string) => (_host: string, argv: string[]) => {
      if (argv[3] !== label) return argv;
      assert.ok(argv[2].includes(from), `the ${label} script has ${from}`);
      return [argv[0], argv[1], argv[2].replace(from, to), ...argv.slice(3)];
    };

  const markers = async (host: string, dir: string) =>
    (await Array.fromAsync(Deno.readDir(onHost(host, dir)))).map((e) => e.name)
      .filter((n) => n.startsWith(".oneblk-"));

  const plan = (dir: string, stale = false): CopyPlan => ({
    prefix: base,
    stale,
    links: [{ device: "/dev/drbd1000", path: `${dir}/disk.0` }],
  });

  /** copyVmDirUnlessShared of `dir` from src to `dst` (plan(dir, stale)); onCopy's calls go to `copies`. */
  const copyTo = (ctx: ActionContext, dst: string, dir: string, copies: boolean[], stale = false) =>
    copyVmDirUnlessShared(
      ctx,
      "src",
      dst,
      dir,
      Promise.resolve(plan(dir, stale)),
      (existed) => copies.push(existed),
    );

  it("not shared: two commands started together, the directory and its links copied, no marker", async () => {
    const dir = await vmDir(21);
    const { seen, ctx } = recording();
    const copies: boolean[] = [];
    const r = await copyTo(ctx, "dst", dir, copies);
    assert.deepEqual(r, { shared: false, removedStale: false });
    assert.deepEqual(seen, ["src oneblk-tar", "dst oneblk-untar"]);
    assert.deepEqual(copies, [false], "told before dst changed: no directory there before");
    assert.equal(
      await Deno.readTextFile(onHost("dst", `${dir}/deployment.0`)),
      "<domain>21</domain>",
    );
    assert.match(
      await Deno.readLink(onHost("dst", `${dir}/disk.0`)),
      /\/hosts\/dst\/dev\/drbd1000$/,
    );
    assert.deepEqual(await markers("src", dir), []);
    assert.deepEqual(await markers("dst", dir), []);
  });

  it("the links are made while the source's tar is on its way; its own entries of them are not unpacked", async () => {
    const dir = await vmDir(40);
    // the source's directory has its own link of the same name (to its own device), and
    // entries whose names only look like it
    await Deno.symlink("/dev/src-only", onHost("src", `${dir}/disk.0`));
    await Deno.writeTextFile(onHost("src", `${dir}/disk.01`), "not a link");
    await Deno.mkdir(onHost("src", `${dir}/sub`));
    await Deno.symlink("/dev/src-sub", onHost("src", `${dir}/sub/disk.0`));
    // the source's tar starts 400 ms late
    const { ctx } = recording((host, argv) => {
      if (host !== "src") return argv;
      const i = argv.indexOf("tar");
      assert.ok(i > 3, "the source's command ends with its tar");
      return [
        ...argv.slice(0, i),
        "sh",
        "-c",
        'sleep 0.4; exec tar "$@"',
        "slow-tar",
        ...argv.slice(i + 1),
      ];
    });
    // what dst has when its link appears
    let seenWithLink: string[] | null = null;
    const watching = (async () => {
      for (let i = 0; i < 300 && !seenWithLink; i++) {
        if (await lexists(onHost("dst", `${dir}/disk.0`))) {
          seenWithLink = (await Array.fromAsync(Deno.readDir(onHost("dst", dir)))).map((e) =>
            e.name
          );
        } else await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const r = await copyTo(ctx, "dst", dir, []);
    await watching;
    assert.deepEqual(r, { shared: false, removedStale: false });
    assert.deepEqual(seenWithLink, ["disk.0"], "the link came before anything of the tar");
    assert.match(
      await Deno.readLink(onHost("dst", `${dir}/disk.0`)),
      /\/hosts\/dst\/dev\/drbd1000$/,
    );
    assert.equal(await Deno.readTextFile(onHost("dst", `${dir}/disk.01`)), "not a link");
    assert.equal(await Deno.readLink(onHost("dst", `${dir}/sub/disk.0`)), "/dev/src-sub");
    assert.equal(
      await Deno.readTextFile(onHost("dst", `${dir}/deployment.0`)),
      "<domain>40</domain>",
    );
  });

  /** `size` random bytes. */
  const noise = (size: number) => {
    const b = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
    return b;
  };

  it("not shared, several MiB: every byte of every file arrives (the tar's pieces share one buffer)", async () => {
    const dir = await vmDir(41);
    const files: Record<string, Uint8Array> = {
      "disk.1": noise(3 * 1024 * 1024 + 17),
      "checkpoint": noise(700 * 1024 + 3),
      "disk.2.iso": noise(65536),
    };
    for (const [n, b] of Object.entries(files)) {
      await Deno.writeFile(onHost("src", `${dir}/${n}`), b);
    }
    const { ctx } = recording();
    const r = await copyTo(ctx, "dst", dir, []);
    assert.deepEqual(r, { shared: false, removedStale: false });
    for (const [n, b] of Object.entries(files)) {
      assert.deepEqual(await Deno.readFile(onHost("dst", `${dir}/${n}`)), b, n);
    }
    assert.deepEqual(await markers("src", dir), []);
  });

  it("dst's tar ending early in a large copy: the source's tar is stopped at once, not at the copy's deadline", async () => {
    const dir = await vmDir(42);
    await Deno.writeFile(onHost("src", `${dir}/disk.1`), noise(8 * 1024 * 1024));
    // dst takes 100 kB of the tar, then fails
    const { ctx } = recording(
      scriptEdit(
        "oneblk-untar",
        'exec tar -C "$d" --sparse "$@" -xf -',
        "head -c 100000 > /dev/null; exit 1",
      ),
    );
    const t0 = Date.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("still copying after 20 s")), 20_000);
    });
    try {
      await assert.rejects(
        Promise.race([copyTo(ctx, "dst", dir, []), late]),
        (e) => e instanceof OneblkError && /oneblk-untar on dst failed/.test(e.message),
      );
    } finally {
      clearTimeout(timer);
    }
    assert.ok(Date.now() - t0 < 10_000);
    assert.deepEqual(await markers("src", dir), []);
  });

  it("shared: nothing copied, nothing linked, the marker removed by the source's command", async () => {
    const dir = await vmDir(22);
    await Deno.symlink(onHost("src", ""), onHost("alias", ""));
    try {
      const { seen, ctx } = recording();
      const copies: boolean[] = [];
      const r = await copyTo(ctx, "alias", dir, copies);
      assert.deepEqual(r, { shared: true, removedStale: false });
      assert.deepEqual(seen, ["src oneblk-tar", "alias oneblk-untar"]);
      assert.deepEqual(copies, []);
      assert.deepEqual(await markers("src", dir), []);
      assert.equal(await lexists(onHost("src", `${dir}/disk.0`)), false, "no link made");
    } finally {
      await Deno.remove(onHost("alias", ""));
    }
  });

  it("a stale directory on dst goes before the copy; one that is not stale is kept", async () => {
    const dir = await vmDir(23);
    await Deno.mkdir(onHost("dst", dir), { recursive: true });
    await Deno.writeTextFile(onHost("dst", `${dir}/old`), "stale");
    const { ctx } = recording();
    const copies: boolean[] = [];
    const stale = await copyTo(ctx, "dst", dir, copies, true);
    assert.deepEqual(stale, { shared: false, removedStale: true });
    assert.equal(await lexists(onHost("dst", `${dir}/old`)), false, "old files never mix in");
    await Deno.writeTextFile(onHost("dst", `${dir}/mine`), "kept");
    const kept = await copyTo(ctx, "dst", dir, copies);
    assert.deepEqual(kept, { shared: false, removedStale: false });
    assert.equal(await Deno.readTextFile(onHost("dst", `${dir}/mine`)), "kept");
    // the stale one counts as not there (an undo removes the copy), the kept one as there
    assert.deepEqual(copies, [false, true]);
  });

  it("a directory missing on src fails the call; dst is never asked", async () => {
    const { seen, ctx } = recording();
    await assert.rejects(
      copyVmDirUnlessShared(
        ctx,
        "src",
        "dst",
        `${base}/24`,
        Promise.resolve(plan(`${base}/24`)),
        () => {},
      ),
      /does not exist on src/,
    );
    assert.deepEqual(seen, ["src oneblk-tar"]);
  });

  it("a failed plan (oned) is thrown as it is; the marker is removed, dst never asked", async () => {
    const dir = await vmDir(25);
    const { seen, ctx } = recording();
    const bad = new OneblkError("input", "not the VM's directory");
    await assert.rejects(
      copyVmDirUnlessShared(ctx, "src", "dst", dir, Promise.reject(bad), () => {}),
      (e) => e === bad,
    );
    assert.deepEqual(seen, ["src oneblk-tar"]);
    assert.deepEqual(await markers("src", dir), []);
  });

  it("dst unreachable: its error; the marker removed on src", async () => {
    const dir = await vmDir(26);
    const { ctx } = recording();
    await assert.rejects(
      copyVmDirUnlessShared(ctx, "src", "gone", dir, Promise.resolve(plan(dir)), () => {}),
      (e) => e instanceof OneblkError && e.kind === "unavailable",
    );
    assert.deepEqual(await markers("src", dir), []);
  });

  it("dst failing after its answer: the failure thrown, the copy told first, no marker left", async () => {
    const dir = await vmDir(27);
    // a file where dst's directory goes: not there (N), then mkdir fails
    await Deno.mkdir(onHost("dst", base), { recursive: true });
    await Deno.writeTextFile(onHost("dst", dir), "in the way");
    const { ctx } = recording();
    const copies: boolean[] = [];
    await assert.rejects(
      copyTo(ctx, "dst", dir, copies),
      (e) => e instanceof OneblkError && /oneblk-untar on dst failed/.test(e.message),
    );
    assert.deepEqual(copies, [false]);
    assert.deepEqual(await markers("src", dir), []);
  });

  it("no answer from dst within the runners' deadline: both stopped, the marker removed", async () => {
    const dir = await vmDir(28);
    const { ctx } = recording(
      (host, argv) => host === "dst" ? ["sh", "-c", "exec sleep 30", "oneblk-untar"] : argv,
      300,
    );
    const t0 = Date.now();
    await assert.rejects(
      copyVmDirUnlessShared(ctx, "src", "dst", dir, Promise.resolve(plan(dir)), () => {}),
      (e) =>
        e instanceof OneblkError && e.kind === "timeout" &&
        /no answer from dst within 0.3s/.test(e.message),
    );
    assert.ok(Date.now() - t0 < 10_000, "stopped at the deadline, not at the copy's");
    assert.deepEqual(await markers("src", dir), []);
  });

  it("not shared: the marking's command removes the directory when told; no third command", async () => {
    const dir = await vmDir(31);
    const { seen, ctx } = recording();
    await withLater(async (later) => {
      const s = await vmDirSharedHeld(ctx, "src", "dst", dir, later);
      assert.deepEqual([s.shared, s.onA, s.onB], [false, true, false]);
      assert.equal((await markers("src", dir)).length, 1, "the marker waits with its command");
      await s.removeDir!([base]);
    });
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look"]);
    assert.equal(await lexists(onHost("src", dir)), false);
  });

  it("not shared, kept: the marker goes, the directory stays", async () => {
    const dir = await vmDir(32);
    const { seen, ctx } = recording();
    await withLater(async (later) => {
      const s = await vmDirSharedHeld(ctx, "src", "dst", dir, later);
      await s.dropMarker();
      await s.dropMarker(); // once only
    });
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look"]);
    assert.deepEqual(await markers("src", dir), []);
    assert.equal(
      await Deno.readTextFile(onHost("src", `${dir}/deployment.0`)),
      "<domain>32</domain>",
    );
  });

  it("shared: the marker goes at once; the directory is never removed", async () => {
    const dir = await vmDir(33);
    await Deno.symlink(onHost("src", ""), onHost("alias", ""));
    try {
      const { seen, ctx } = recording();
      await withLater(async (later) => {
        const s = await vmDirSharedHeld(ctx, "src", "alias", dir, later);
        assert.deepEqual([s.shared, s.marker, s.removeDir], [true, null, undefined]);
      });
      assert.deepEqual(seen, ["src oneblk-mark", "alias oneblk-look"]);
      assert.deepEqual(await markers("src", dir), []);
    } finally {
      await Deno.remove(onHost("alias", ""));
    }
  });

  it("a directory outside the prefix is refused; the marker still goes", async () => {
    const dir = await vmDir(34);
    const { ctx } = recording();
    await withLater(async (later) => {
      const s = await vmDirSharedHeld(ctx, "src", "dst", dir, later);
      await assert.rejects(s.removeDir!(["/elsewhere"]), /refusing to remove/);
      later(s.dropMarker());
    });
    assert.deepEqual(await markers("src", dir), []);
    assert.equal(await lexists(onHost("src", dir)), true);
  });

  it("a marking command that ended by itself: the removal runs on its own, at once", async () => {
    const dir = await vmDir(36);
    // the held command leaves after its marker, without waiting for a decision
    const { seen, ctx } = recording(
      scriptEdit("oneblk-mark", "IFS= read -r go || exit 5", "exit 0"),
    );
    await withLater(async (later) => {
      const s = await vmDirSharedHeld(ctx, "src", "dst", dir, later);
      await new Promise((r) => setTimeout(r, 300)); // it has ended by now
      await s.removeDir!([base]);
    });
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look", "src rm"]);
    assert.equal(await lexists(onHost("src", dir)), false);
  });

  it("a marking command that ended first (its deadline): the removal runs on its own", async () => {
    const dir = await vmDir(35);
    const { seen, ctx } = recording(undefined, 400);
    await withLater(async (later) => {
      const s = await vmDirSharedHeld(ctx, "src", "dst", dir, later);
      await new Promise((r) => setTimeout(r, 1500)); // the held command is stopped meanwhile
      await s.removeDir!([base]);
    });
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look", "src rm"]);
    assert.equal(await lexists(onHost("src", dir)), false);
  });

  it("dst unreachable: the look's error; the marker removed", async () => {
    const dir = await vmDir(36);
    const { ctx } = recording();
    await assert.rejects(
      withLater((later) => vmDirSharedHeld(ctx, "src", "gone", dir, later)),
      (e) => e instanceof OneblkError && e.kind === "unavailable",
    );
    assert.deepEqual(await markers("src", dir), []);
  });

  it("a held command its deadline stops after the decision: the removal runs again on its own", async () => {
    const dir = await vmDir(38);
    // the held command's removal is slow (after the decision), past the runners' 0.8 s deadline
    const { seen, ctx } = recording(
      scriptEdit("oneblk-mark", "rm) exec rm", "rm) sleep 3; exec rm"),
      800,
    );
    await withLater(async (later) => {
      const s = await vmDirSharedHeld(ctx, "src", "dst", dir, later);
      await s.removeDir!([base]);
    });
    assert.deepEqual(seen, ["src oneblk-mark", "dst oneblk-look", "src rm"]);
    assert.equal(await lexists(onHost("src", dir)), false);
  });

  it("shared, and the source's own marker removal fails: still shared, the marker removed apart", async () => {
    const dir = await vmDir(29);
    await Deno.symlink(onHost("src", ""), onHost("alias", ""));
    try {
      const { seen, ctx } = recording(
        scriptEdit("oneblk-tar", '*) exec rm -f -- "$m"', "*) exit 1"),
      );
      const r = await copyTo(ctx, "alias", dir, []);
      assert.deepEqual(r, { shared: true, removedStale: false });
      assert.deepEqual(seen, ["src oneblk-tar", "alias oneblk-untar", "src rm"]);
      assert.deepEqual(await markers("src", dir), []);
    } finally {
      await Deno.remove(onHost("alias", ""));
    }
  });

  it("no directory on src: not shared, nothing held", async () => {
    const { seen, ctx } = recording();
    const s = await withLater((later) => vmDirSharedHeld(ctx, "src", "dst", `${base}/37`, later));
    assert.deepEqual([s.shared, s.onA, s.marker], [false, false, null]);
    assert.deepEqual(seen, ["src oneblk-mark"]);
  });
});

/**
 * The bundle's per-action programs (tools/bundle.ts, app/action_program.ts): one for every
 * installable kind and file name, each a single module with no import left, refusing to run
 * any other action than its own, and a rebuild removes the program of an action that is gone.
 * That the launcher picks them, and that a call then loads nothing else, is in startup_test.ts.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  actionPrograms,
  buildBundle,
  BUNDLE_DIR,
  bundleState,
  ensureBundle,
  PROGRAM_HEADER,
  programHeader,
  refreshBundle,
} from "../tools/bundle.ts";
import { listActions } from "../app/registry.ts";
import { ADDONS } from "../lib/addons/index.ts";
import { HOT_ACTIONS } from "../tools/bench/hot.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Run a program file with deno as the launcher would, under the invoked name `argv0`. */
async function runProgram(file: string, argv0: string, args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-config", "--no-lock", file, ...args],
    env: { ONEBLK_ARGV0: argv0 },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

describe("per-action programs", () => {
  before(async () => {
    await ensureBundle({ quiet: true });
  });

  it("one per installable kind and file name, each with its action's module", async () => {
    const programs = await actionPrograms();
    const listed = [...new Set(listActions().map((a) => `${a.kind}/${a.name}`))].sort();
    assert.deepEqual(programs.map((p) => `${p.kind}/${p.name}`), listed);
    const by = (k: string) => programs.find((p) => `${p.kind}/${p.name}` === k);
    assert.equal(by("tm/ln")?.module, "actions/tm/ln.ts");
    // a VMM override file serves the action its add-on names, from that action's file
    assert.deepEqual(
      { action: by("vmm/snapshot_create-storpool")?.action, module: by("vmm/tmsave")?.module },
      { action: "snapshotcreate", module: "actions/vmm/save.ts" },
    );
    assert.equal(by("vmm/snapshot_create-storpool")?.module, "actions/vmm/snapshot_create.ts");
  });

  it("are built, recorded in BUNDLE.json, and hold no import", async () => {
    const stamp = JSON.parse(await Deno.readTextFile(join(BUNDLE_DIR, "BUNDLE.json")));
    const programs = await actionPrograms();
    const expected = [
      ...programs.map((p) => `actions/${p.kind}/${p.name}.js`),
      // each driver's datastore and tm programs (the vmm ones serve every driver)
      ...ADDONS.flatMap((a) =>
        programs.filter((p) => p.kind !== "vmm").map((p) =>
          `drivers/${a.driver}/${p.kind}/${p.name}.js`
        )
      ),
    ];
    assert.deepEqual(stamp.programs, expected);
    for (const f of expected) {
      const text = await Deno.readTextFile(join(BUNDLE_DIR, f));
      // static imports (`import … from "…"`, `import "…"`), dynamic ones of a file (literal, or
      // as hideDynamicImports writes them); Node's built-ins stay allowed (`import("node:…")`)
      const imports = text.match(
        /\bimport\s*(?:[\w*{][^;]*?\bfrom\s*)?["'][^"']+["']|\bimport\((?:String\()?["']\./g,
      );
      assert.equal(imports, null, `${f}: ${imports?.join(" | ")}`);
    }
  });

  it("name on their first line the deno flags they need: --unstable-net only where a UDP socket is used", async () => {
    const stamp = JSON.parse(await Deno.readTextFile(join(BUNDLE_DIR, "BUNDLE.json")));
    const net: string[] = [];
    for (const f of stamp.programs as string[]) {
      const text = await Deno.readTextFile(join(BUNDLE_DIR, f));
      const first = text.slice(0, text.indexOf("\n"));
      assert.ok(first.startsWith(PROGRAM_HEADER), `${f}: ${first.slice(0, 80)}`);
      const flags = first.slice(PROGRAM_HEADER.length).trim();
      const udp = text.includes("listenDatagram");
      assert.equal(flags, udp ? "--unstable-net" : "", f);
      if (udp) net.push(f);
    }
    // the per-VM disk usage is sent to monitord by tm monitor; no other action opens a socket
    // of Deno's unstable API
    assert.deepEqual(net, [
      "actions/tm/monitor.js",
      ...ADDONS.map((a) => `drivers/${a.driver}/tm/monitor.js`),
    ]);
    assert.equal(programHeader("Deno.connectQuic(x)"), `${PROGRAM_HEADER} --unstable-net\n`);
    assert.equal(programHeader("Deno.connect({port:1})"), `${PROGRAM_HEADER}\n`);
  });

  it("a driver's own hold its store's code alone, and serve that driver only", async () => {
    // (one string from each store's client: a REST path of LINSTOR's API, StorPool's API root)
    const marks = { linstor: "/v1/resource-definitions", storpool: "/ctrl/1.0/" };
    for (const a of ADDONS) {
      for (const name of ["tm/premigrate", "tm/ln", "datastore/stat"]) {
        const own = await Deno.readTextFile(join(BUNDLE_DIR, "drivers", a.driver, `${name}.js`));
        const all = await Deno.readTextFile(join(BUNDLE_DIR, "actions", `${name}.js`));
        for (const [store, mark] of Object.entries(marks)) {
          if (all.includes(mark)) {
            assert.equal(own.includes(mark), store === a.store, `${a.driver} ${name}: ${mark}`);
          }
        }
        assert.ok(own.length < all.length, `${a.driver} ${name}: ${own.length} ≥ ${all.length}`);
      }
    }
    assert.ok(
      (await Deno.readTextFile(join(BUNDLE_DIR, "actions/tm/premigrate.js")))
        .includes(marks.linstor),
    );
    // invoked under another driver's name (not what the launcher does): oned's usage error
    const other = await runProgram(
      join(BUNDLE_DIR, "drivers/linstor/tm/ln.js"),
      "/var/lib/one/remotes/tm/storpool/ln",
      ["a", "b", "0", "1"],
    );
    assert.equal(other.code, 1, other.stderr);
    assert.equal(other.stderr.trim().split("\n").length, 1, other.stderr);
    assert.match(other.stderr, /unknown tm driver 'storpool' \(known: linstor\)/);
    const same = await runProgram(
      join(BUNDLE_DIR, "drivers/linstor_un/tm/ln.js"),
      "/var/lib/one/remotes/tm/linstor/ln",
      ["a", "b", "0", "1"],
    );
    assert.match(same.stderr, /unknown tm driver 'linstor' \(known: linstor_un\)/);
    assert.equal(same.code, 1, same.stderr);
  });

  it("run only their own action, and say so in oned's format", async () => {
    const ln = join(BUNDLE_DIR, "actions/tm/ln.js");
    const other = await runProgram(ln, "/var/lib/one/remotes/tm/linstor/mv", ["a", "b", "7", "0"]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /unknown tm action 'linstor\/mv' \(known: ln\)/);
    assert.equal(other.stderr.trim().split("\n").length, 1, other.stderr);
    const driver = await runProgram(ln, "/var/lib/one/remotes/tm/ceph/ln", ["a", "b", "7", "0"]);
    assert.equal(driver.code, 1);
    assert.match(
      driver.stderr,
      /unknown tm driver 'ceph' \(known: linstor, linstor_un, storpool\)/,
    );
    const cli = await runProgram(ln, "/usr/bin/oneblk", ["version"]);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^ERROR: oneblk: the tm ln program runs only as a driver action/);
    // its arguments are checked as main.js checks them
    const arity = await runProgram(ln, "/var/lib/one/remotes/tm/linstor/ln", ["only-one"]);
    assert.equal(arity.code, 1);
    assert.equal(arity.stdout, "");
    assert.match(arity.stderr, /tm\/linstor\/ln/);
  });

  it("compile the hot functions of tools/eager_profile.json eagerly, and the profile is current", async () => {
    const stamp = JSON.parse(await Deno.readTextFile(join(BUNDLE_DIR, "BUNDLE.json")));
    const profile = JSON.parse(await Deno.readTextFile(join(ROOT, "tools/eager_profile.json")));
    for (const hot of HOT_ACTIONS) {
      assert.ok(profile.programs[`actions/${hot}.js`], `${hot}: not in the profile`);
    }
    assert.ok(!stamp.lazy);
    assert.ok(stamp.eager > 1000, `${stamp.eager} functions made eager`);
    // the code-split bundle too (the command line, the compiled binary)
    assert.ok(stamp.eagerInChunks > 100, `${stamp.eagerInChunks} made eager in the chunks`);
    // and each driver's own programs, from their actions' entries
    assert.ok(stamp.eagerInDrivers > 1000, `${stamp.eagerInDrivers} made eager per driver`);
    // (fewer found: the sources moved since the profile was made; deno task bundle profile)
    assert.ok(
      stamp.profile.found >= 0.9 * stamp.profile.positions,
      `only ${stamp.profile.found} of the profile's ${stamp.profile.positions} positions found: ` +
        "run deno task bundle profile",
    );
    const premigrate = await Deno.readTextFile(join(BUNDLE_DIR, "actions/tm/premigrate.js"));
    assert.ok((premigrate.match(/=\((?:async )?function\b/g) ?? []).length > 100);
  });

  it("a rebuild removes the program of an action that no longer exists", async () => {
    const stale = join(BUNDLE_DIR, "actions/tm/no_such_action.js");
    await Deno.writeTextFile(stale, "throw new Error('stale');\n");
    await buildBundle({ quiet: true });
    await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
    await Deno.stat(join(BUNDLE_DIR, "actions/tm/ln.js"));
    await Deno.stat(join(ROOT, "dist/bundle/main.js"));
  });

  it("builds started together: one refresh per process, and two builds at once both end well", async () => {
    const stampFile = join(BUNDLE_DIR, "BUNDLE.json");
    /** Files an older build left, which every build removes (many, so that removals meet). */
    const plantLeftovers = async () => {
      for (let i = 0; i < 100; i++) {
        await Deno.writeTextFile(join(BUNDLE_DIR, `old-chunk-${i}.js`), "");
        await Deno.writeTextFile(join(BUNDLE_DIR, `actions/tm/gone_${i}.js`), "");
      }
    };
    const leftovers = () =>
      [...Deno.readDirSync(BUNDLE_DIR), ...Deno.readDirSync(join(BUNDLE_DIR, "actions/tm"))]
        .filter((e) => /^(old-chunk|gone)_?-?\d+\.js$/.test(e.name)).length;
    // a stale bundle, refreshed by clusters started at once in one process (the fault
    // matrix's baselines): they share one refresh
    const stamp = JSON.parse(await Deno.readTextFile(stampFile));
    await Deno.writeTextFile(stampFile, JSON.stringify({ ...stamp, sources: "0".repeat(64) }));
    await plantLeftovers();
    assert.equal(await bundleState(), "stale");
    const first = refreshBundle();
    assert.equal(refreshBundle(), first, "a second refresh joins the one under way");
    await first;
    assert.equal(await bundleState(), "fresh");
    assert.equal(leftovers(), 0);
    // two builds of the same sources at once (e.g. a test's and the fault matrix's, or, as
    // here, two in one process): both succeed, whichever removes a leftover first
    await plantLeftovers();
    await Promise.all([buildBundle({ quiet: true }), buildBundle({ quiet: true })]);
    assert.equal(await bundleState(), "fresh");
    assert.equal(leftovers(), 0);
    // the rebuilt program runs: its own action's one-line argument check
    const r = await runProgram(join(BUNDLE_DIR, "actions/tm/ln.js"), "tm/linstor/ln", []);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tm\/linstor\/ln: tm ln expects 4 arguments .*, got 0\n$/);
  });
});

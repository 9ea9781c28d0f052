/**
 * Start-up: what a call loads before its action does anything.
 *
 * - From the sources: the static import closure of main.ts + app/runner.ts + the action file of
 *   every action on oned's hot path holds no Node built-in, no npm package but the path helpers
 *   (not saxes), and none of the code loaded lazily on first use (the stores' clients, the
 *   XML-RPC client, the simulated host runner) or never on an action's path (tools, installer,
 *   command line, adoption, doctor), nor the ISO 9660 writer but in tm context.
 * - The bundle, run by the launcher: `oneblk version` and a datastore action evaluate no Node
 *   compatibility module at all, `version` only a handful of chunks; the action through its
 *   symlink reads and evaluates one module, its own program (dist/bundle/drivers/); through
 *   main.js (`oneblk run`) it does not read saxes's chunk nor any tool's.
 * Speed and memory themselves are measured by `deno task bench`, not here.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ensureBundle } from "../tools/bundle.ts";
import { fileUrl, moduleGraph, ROOT, staticClosure } from "./support/module_graph.ts";

const LAUNCHER = join(ROOT, "scripts/oneblk");

/** The actions oned calls most (monitoring, deploy, migrate, undeploy). */
const HOT = [
  "datastore/stat",
  "datastore/monitor",
  "datastore/rm",
  "tm/monitor",
  "tm/monitor_ds",
  "tm/ln",
  "tm/mv",
  "tm/delete",
  "tm/premigrate",
  "tm/postmigrate",
  "tm/clone",
  "tm/context",
];

/** Never in a hot action's static closure (path relative to the repository). */
const LAZY_OR_NEVER = [
  /^tools\//,
  /^app\/(cli|install|install_cli|adopt|doctor)\.ts$/,
  /^lib\/(adopt|doctor)\//,
  /^lib\/host\/sim\.ts$/,
  /^lib\/one\/xmlrpc\.ts$/,
  /^lib\/one\/xml_saxes\.ts$/,
  /^lib\/backend\/(linstor|storpool)\/(backend|client)\.ts$/,
];

/** In the static closure of these actions only (the ISO 9660 writer: tm context). */
const ONLY_FOR: { re: RegExp; actions: string[] }[] = [
  { re: /^lib\/domain\/(context_iso|iso9660)\.ts$/, actions: ["tm/context"] },
];

/**
 * npm packages allowed on the path (package name prefix): path-browserify, and @noble/hashes's
 * SHA-256 (the host leftovers' journal names, lib/domain/host_leftovers.ts).
 */
const NPM_ALLOWED = ["path-browserify@", "@noble/hashes@"];

async function run(argv0: string, args: string[], env: Record<string, string>, stdin?: string) {
  const child = new Deno.Command(argv0, {
    args,
    env,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await child.output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/** Modules a run evaluated, from Deno's debug log. */
function evaluated(log: string): string[] {
  return [...new Set([...log.matchAll(/ES module: ([^\s,]+)/g)].map((m) => m[1]))];
}

/** Bundle files a run read (Deno's debug log names each module file it fetches). */
function fetched(log: string): string[] {
  return [
    ...new Set(
      [...log.matchAll(/fetch_no_follow - specifier: file:\/\/[^\s]*\/dist\/bundle\/(\S+)/g)]
        .map((m) => m[1]),
    ),
  ];
}

/** Node's built-ins and their compatibility layer. */
const NODE_COMPAT = /^(node:|ext:deno_node\/)/;

/**
 * The lines (`file:line`) of the driver actions' code, lib/ and actions/ (not the doctor's nor
 * the adoption's, which run from the command line), that match `re`, comments left out.
 */
async function runtimeLines(re: RegExp): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(join(ROOT, dir))) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(rel);
      else if (e.name.endsWith(".ts") && !/^lib\/(doctor|adopt)\//.test(rel)) {
        const text = await Deno.readTextFile(join(ROOT, rel));
        for (const [i, line] of text.split("\n").entries()) {
          if (/^\s*(\*|\/\/)/.test(line)) continue;
          if (re.test(line)) found.push(`${rel}:${i + 1}`);
        }
      }
    }
  };
  await walk("lib");
  await walk("actions");
  return found;
}

describe("start-up", () => {
  it("a hot action's static imports: no Node built-in, no npm package but the path and hash ones", async () => {
    const graph = await moduleGraph("main.ts");
    const file = fileUrl;
    for (const action of HOT) {
      const closure = staticClosure(graph, [
        file("main.ts"),
        file("app/runner.ts"),
        file(`actions/${action}.ts`),
      ]);
      assert.ok(closure.has(file(`actions/${action}.ts`)), `${action} is an action file`);
      for (const s of closure) {
        assert.ok(!s.startsWith("node:"), `${action} loads ${s} at start`);
        if (s.startsWith("npm:")) {
          const pkg = s.replace(/^npm:\/?/, "");
          assert.ok(NPM_ALLOWED.some((p) => pkg.startsWith(p)), `${action} loads ${s} at start`);
          continue;
        }
        if (!s.startsWith(`file://${ROOT}/`)) continue;
        const rel = s.slice(`file://${ROOT}/`.length);
        for (const re of LAZY_OR_NEVER) {
          assert.ok(!re.test(rel), `${action} loads ${rel} at start`);
        }
        for (const { re, actions } of ONLY_FOR) {
          assert.ok(!re.test(rel) || actions.includes(action), `${action} loads ${rel} at start`);
        }
      }
    }
    // and `version` reaches nothing but main.ts, the dispatcher, the CLI and the errors
    const cli = staticClosure(graph, [file("main.ts"), file("app/cli.ts")]);
    assert.deepEqual(
      [...cli].map((s) => s.slice(`file://${ROOT}/`.length)).sort(),
      ["app/cli.ts", "lib/dispatch.ts", "lib/errors.ts", "main.ts"],
    );
  });

  it("runtime code never calls the collator or Intl (ICU data: several MiB per process)", async () => {
    assert.deepEqual(
      await runtimeLines(/\.localeCompare\(|\.toLocale\w*\(|\bIntl\./),
      [],
      "use lib/compare.ts",
    );
  });

  it("runtime code never calls Web Crypto, stat for a directory, URLSearchParams (lib/frugal.ts)", async () => {
    const found = await runtimeLines(
      /\bcrypto\.(randomUUID|getRandomValues|subtle)\b|\.statSync\([^)]*\)\.isDirectory|\bURLSearchParams\b/,
    );
    assert.deepEqual(found, [], "use lib/frugal.ts");
  });

  it("the bundle through the launcher evaluates no Node compatibility module", async () => {
    await ensureBundle({ quiet: true });
    const env = { DENO_LOG: "debug", NO_COLOR: "1" };
    const version = await run(LAUNCHER, ["version"], env);
    assert.equal(version.code, 0, version.stderr);
    const vmods = evaluated(version.stderr);
    assert.ok(vmods.includes(`file://${ROOT}/dist/bundle/main.js`), vmods.join("\n"));
    assert.ok(!vmods.some((m) => NODE_COMPAT.test(m)), vmods.join("\n"));
    const chunks = vmods.filter((m) => m.startsWith("file:"));
    assert.ok(
      chunks.length <= 6,
      `version evaluates ${chunks.length} chunks:\n${chunks.join("\n")}`,
    );
    // Deno reads and parses every module a literal dynamic import names before it starts:
    // the bundle's lazy chunks must not be among them (tools/bundle.ts hideDynamicImports)
    const vread = fetched(version.stderr);
    assert.ok(vread.length <= 8, `version reads ${vread.length} files:\n${vread.join("\n")}`);

    const dir = await Deno.makeTempDir({ prefix: "oneblk-startup-" });
    try {
      const img = join(dir, "img");
      await Deno.writeFile(img, new Uint8Array(3 * 1024 * 1024));
      const stat = join(dir, "remotes/datastore/linstor/stat");
      await Deno.mkdir(join(dir, "remotes/datastore/linstor"), { recursive: true });
      await Deno.symlink(LAUNCHER, stat);
      const xml = `<DS_DRIVER_ACTION_DATA><IMAGE><PATH>${img}</PATH></IMAGE>` +
        `<DATASTORE><ID>1</ID></DATASTORE></DS_DRIVER_ACTION_DATA>`;
      const log = (r: { stderr: string }) =>
        r.stderr.split("\n").filter((l) => !/DEBUG/.test(l)).join("\n");
      // through its symlink: the action's own program, one module and nothing else
      const r = await run(stat, ["9"], env, btoa(xml));
      assert.equal(r.code, 0, log(r));
      assert.equal(r.stdout, "3\n");
      const mods = evaluated(r.stderr);
      assert.ok(!mods.some((m) => NODE_COMPAT.test(m)), mods.join("\n"));
      assert.deepEqual(mods.filter((m) => m.startsWith("file:")), [
        `file://${ROOT}/dist/bundle/drivers/linstor/datastore/stat.js`,
      ]);
      assert.deepEqual(fetched(r.stderr), ["drivers/linstor/datastore/stat.js"]);

      // through main.js (the command line's `run`): its own chunks, no tool's, not saxes's
      const m = await run(LAUNCHER, ["run", "datastore", "linstor", "stat", "9"], env, btoa(xml));
      assert.equal(m.code, 0, log(m));
      assert.equal(m.stdout, "3\n");
      const mmods = evaluated(m.stderr);
      assert.ok(mmods.includes(`file://${ROOT}/dist/bundle/main.js`), mmods.join("\n"));
      assert.ok(!mmods.some((x) => NODE_COMPAT.test(x)), mmods.join("\n"));
      const read = fetched(m.stderr);
      assert.ok(read.includes("main.js") && read.some((f) => f.startsWith("stat-")), read.join());
      const never = read.filter((f) =>
        /^(demo|doctor|adopt|cluster|server|install_cli)-|^actions\//.test(f)
      );
      assert.deepEqual(never, [], `datastore stat reads ${never.join(", ")}`);
      // oned's plain XML is read without saxes (lib/one/xml.ts imports it on first need)
      const saxes = read.filter((f) =>
        /\bSaxesParser\b/.test(Deno.readTextFileSync(join(ROOT, "dist/bundle", f)))
      );
      assert.deepEqual(saxes, [], "datastore stat reads saxes's chunk");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

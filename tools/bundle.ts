/**
 * The shipped program as one pre-built, code-split bundle (dist/bundle/), which the launcher
 * (scripts/oneblk) and `deno task compile` run.
 *
 *   deno task bundle              build dist/bundle/ from main.ts (skipped when up to date)
 *   deno task bundle --check      exit 1 unless dist/bundle/ was built from these sources
 *   deno task bundle profile      remake tools/eager_profile.json (tools/eager.ts), then build
 *   deno task compile             the bundle, then `deno compile` of it into dist/oneblk
 *
 * Why a bundle: started from the sources, every call pays for reading deno.json and the lock,
 * resolving npm packages and evaluating Node's globals that npm code brings; the bundle is plain
 * JavaScript run with `--no-config --no-lock`, split so that a call loads only the chunks of its
 * action (a one-file bundle would parse the simulators, the demo and the installer on every
 * start). It is built, not committed: a build takes about a second, is deterministic, and the
 * hashed chunk names would make every change conflict.
 *
 * Per-action programs: beside main.js, the build writes one program per installable kind and file
 * name, `dist/bundle/actions/<kind>/<name>.js` (tm/ln.js serves tm/<every driver>/ln, vmm files
 * are named as oned's override files). Each is the action with everything it may use in one
 * module, no code split and no import left (app/action_program.ts says why); the launcher runs it
 * when the invoked name has one, main.js otherwise (the command line, `deno task compile`). Its
 * lazy parts (saxes, a store's client) are inlined as functions that run on first use, so they
 * cost a parse, not a load. Its first line names the deno flags it needs beyond the actions' own
 * (programHeader): `--unstable-net` for a program that uses Deno's UDP socket (tm monitor's
 * datagrams to monitord), none for the others, which the launcher then runs without it.
 *
 * Per-driver programs: the datastore and tm programs again for each driver, under
 * `dist/bundle/drivers/<driver>/<kind>/<name>.js`, built with that driver's add-on and store alone
 * (lib/addons/list.ts and lib/backend/list.ts replaced through an import map), which the launcher
 * runs for `<kind>/<driver>/<name>`: a call parses no other store's code. A datastore or tm action
 * uses its own driver's profile only (lib/backend/index.ts refuses another store in such a
 * program); the vmm actions, which reach the profiles of every disk of a VM, keep the one program.
 *
 * Staleness: dist/bundle/BUNDLE.json records a hash of everything the bundle is built from
 * (`--check` recomputes it; CI runs it, and the test support rebuilds a stale bundle before it
 * runs actions). The launcher itself does not hash sources on every call.
 *
 * Replacing a bundle while actions run: chunk names are content hashes and only main.js has a
 * fixed name. A build adds its chunks beside the old ones, then replaces main.js in one rename,
 * and removes only the chunks of the generation before the previous one, so an action started on
 * the old main.js still finds every chunk it loads later. A per-action program is replaced by one
 * rename too; it loads nothing later.
 */
import { dirname, join, relative, resolve } from "../lib/path.ts";
import { compareText } from "../lib/compare.ts";
import { type Kind, KINDS } from "../lib/dispatch.ts";
import { removeFile } from "./sim/common.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
/** Where the bundle lives. */
export const BUNDLE_DIR = join(ROOT, "dist/bundle");
const STAMP = join(BUNDLE_DIR, "BUNDLE.json");
/** The one line of flags every `deno run` of oneblk uses (the V8 code cache is keyed on them). */
export const FLAGS_FILE = join(ROOT, "scripts/deno-flags");
/** What the bundle is built from, besides the runtime's source folders. */
const INPUT_FILES = ["main.ts", "deno.json", "deno.lock", "scripts/deno-flags"];
const INPUT_DIRS = ["app", "lib", "actions", "tools"];

/** What BUNDLE.json records. */
export interface Stamp {
  /** SHA-256 of the inputs (sourcesHash). */
  sources: string;
  /** The per-action programs, relative to dist/bundle ("actions/tm/ln.js"). */
  programs?: string[];
  /** The chunk files of this build and of the one before it (kept for running actions). */
  files: string[];
  previous: string[];
  /** Functions of the per-action programs made eager (tools/eager.ts). */
  eager?: number;
  /** Functions of the code-split bundle (main.js and its chunks) made eager. */
  eagerInChunks?: number;
  /** Functions of the per-driver programs made eager (the positions of their actions' programs). */
  eagerInDrivers?: number;
  /** Positions tools/eager_profile.json names, and how many the programs still have. */
  profile?: { positions: number; found: number };
  /** Built without eager functions (for `deno task bundle profile`): not a build to ship. */
  lazy?: boolean;
}

/**
 * The deno flags of scripts/deno-flags, as arguments: line 1 for the oneblk command, line 2 for
 * the driver actions (`action`; line 1 when there is no line 2).
 */
export async function runtimeFlags(opts: { action?: boolean } = {}): Promise<string[]> {
  const lines = (await Deno.readTextFile(FLAGS_FILE)).split("\n").map((l) => l.trim());
  const line = opts.action && lines[1] ? lines[1] : lines[0];
  return line.split(/\s+/).filter(Boolean);
}

async function walk(dir: string, out: string[]): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) await walk(p, out);
    else if (e.isFile && /\.(ts|js|json)$/.test(e.name)) out.push(p);
  }
}

/** SHA-256 (hex) over the path and content of every input of the bundle, in a fixed order. */
export async function sourcesHash(): Promise<string> {
  const files = INPUT_FILES.map((f) => join(ROOT, f));
  for (const d of INPUT_DIRS) await walk(join(ROOT, d), files);
  files.sort();
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(enc.encode(relative(ROOT, f) + "\0"), await Deno.readFile(f), enc.encode("\0"));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** dist/bundle/BUNDLE.json; undefined when there is none (or it cannot be read). */
export async function readStamp(): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(STAMP)) as Stamp;
  } catch {
    return undefined;
  }
}

/** "absent" (no dist/bundle/main.js), "stale" (built from other sources) or "fresh". */
export async function bundleState(): Promise<"absent" | "stale" | "fresh"> {
  try {
    await Deno.stat(join(BUNDLE_DIR, "main.js"));
  } catch {
    return "absent";
  }
  const stamp = await readStamp();
  return stamp?.sources === await sourcesHash() && !stamp.lazy ? "fresh" : "stale";
}

/**
 * How the first line of a per-action program starts: the deno flags the program needs beyond the
 * driver actions' own (scripts/deno-flags), which the launcher adds (empty for most programs).
 */
export const PROGRAM_HEADER = "// oneblk deno flags:";

/**
 * The names `--unstable-net` adds to the Deno namespace (Deno 2.9.6: the UDP socket, QUIC and
 * WebTransport): a program whose text names one of them needs the flag. Property names survive
 * minification, so the shipped text tells.
 */
const UNSTABLE_NET_API = /\b(?:listenDatagram|connectQuic|Quic[A-Z]\w*|upgradeWebTransport)\b/;

/**
 * The first line of a per-action program with text `code` (PROGRAM_HEADER and its flags, then a
 * newline). Why only where needed: `--unstable-net` costs every process that has it 0.2-0.4 MiB
 * of the deno executable's pages, whether or not it opens a socket (docs/performance.md).
 */
export function programHeader(code: string): string {
  return `${PROGRAM_HEADER}${UNSTABLE_NET_API.test(code) ? " --unstable-net" : ""}\n`;
}

/** A dynamic `import("literal")` as the bundler writes it (relative chunk or built-in). */
const DYNAMIC_IMPORT = /\bimport\((["'])((?:\.\/|node:)[^"'\\]+)\1\)/g;

/**
 * Turn every `import("./chunk.js")` of a bundle file into `import(String("./chunk.js"))`.
 * Deno loads and parses, at start, every module a literal dynamic import names (to build the
 * module graph), recursively: the lazy chunks of every other action, the simulators, the demo
 * and the doctor were read and parsed on every call (~660 kB, about 20 ms and 4 MiB measured).
 * A non-literal specifier is resolved only when the import runs, against the same referrer, so
 * the program behaves the same and a call loads the chunks of its own action only. Returns the
 * rewritten text.
 */
export function hideDynamicImports(text: string): string {
  return text.replace(
    DYNAMIC_IMPORT,
    (_m, q: string, spec: string) => `${HIDDEN}${q}${spec}${q}))`,
  );
}

/** What {@link hideDynamicImports} adds to each import it rewrites. */
const HIDDEN = "import(String(";

/**
 * The offset in a file as the bundler wrote it of offset `at` in the same file as shipped: after
 * {@link hideDynamicImports} (which adds `String(` and `)` to each import before `at`) and, for a
 * per-action program, its first line ({@link programHeader}).
 */
export function beforeHiding(text: string, at: number): number {
  if (text.startsWith(PROGRAM_HEADER)) {
    const header = text.indexOf("\n") + 1;
    return beforeHiding(text.slice(header), at - header);
  }
  let shift = 0;
  for (let i = text.indexOf(HIDDEN); i >= 0 && i < at; i = text.indexOf(HIDDEN, i + 1)) {
    shift += "String()".length;
  }
  return at - shift;
}

/** One per-action program: what the launcher runs for `<kind>/<any driver>/<name>`. */
export interface ActionProgram {
  kind: Kind;
  /** oned's file name: the action (datastore, tm) or the override file (vmm). */
  name: string;
  /** The registry's action name. */
  action: string;
  /** The action's module, relative to the repository ("actions/vmm/snapshot_create.ts"). */
  module: string;
}

/**
 * Every per-action program: one per installable kind and file name (`oneblk actions`), with the
 * module of its action, found by loading each action file and the registry's loader and matching
 * the two (the registry keeps literal import specifiers, so nothing is written twice).
 */
export async function actionPrograms(): Promise<ActionProgram[]> {
  const { ACTIONS, listActions } = await import("../app/registry.ts");
  const byModule = new Map<unknown, string>();
  for (const kind of KINDS) {
    for await (const e of Deno.readDir(join(ROOT, "actions", kind))) {
      if (!e.isFile || !e.name.endsWith(".ts")) continue;
      const rel = `actions/${kind}/${e.name}`;
      byModule.set(await import(join(ROOT, rel)), rel);
    }
  }
  const seen = new Set<string>();
  const out: ActionProgram[] = [];
  for (const a of listActions()) {
    const key = `${a.kind}/${a.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const def = ACTIONS.find((d) => d.kind === a.kind && d.action === a.action);
    const module = def && byModule.get(await def.load());
    if (!module) throw new Error(`no action file for ${key} (action ${a.action})`);
    out.push({ kind: a.kind, name: a.name, action: a.action, module });
  }
  return out.sort((x, y) => compareText(`${x.kind}/${x.name}`, `${y.kind}/${y.name}`));
}

/** The entry module of a per-action program, written at `entry` (a file under the repository). */
function programEntry(p: ActionProgram, entry: string): string {
  const up = relative(dirname(entry), ROOT);
  const spec = (rel: string) => JSON.stringify(`${up}/${rel}`);
  return `import { runActionProgram } from ${spec("app/action_program.ts")};\n` +
    `import * as action from ${spec(p.module)};\n` +
    `await runActionProgram({ kind: ${JSON.stringify(p.kind)}, action: ${
      JSON.stringify(p.action)
    }, load: () => Promise.resolve(action) });\n`;
}

/** `deno bundle` with the build's common options; throws with its stderr when it fails. */
async function denoBundle(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--minify",
      "--config",
      join(ROOT, "deno.json"),
      ...args,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno bundle failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

/** The profile of hot functions per program (tools/eager.ts), as the build reads it. */
export const EAGER_PROFILE = join(ROOT, "tools/eager_profile.json");

/**
 * tools/eager_profile.json: per program ("actions/tm/ln.js"), its hot functions' positions by
 * file (tools/eager.ts profileEntry).
 */
interface EagerProfile {
  programs: Record<string, Record<string, string>>;
}

async function readProfile(): Promise<EagerProfile> {
  try {
    return JSON.parse(await Deno.readTextFile(EAGER_PROFILE)) as EagerProfile;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { programs: {} };
    throw new Error(`${EAGER_PROFILE}: ${(e as Error).message}`);
  }
}

/** A per-action program's source-map comment, which the shipped programs do not keep. */
const MAP_COMMENT = /\n?\/\/# sourceMappingURL=[^\n]*\n?$/;

/** What the build did with the profile's hot functions (tools/eager.ts) in some files. */
interface EagerCount {
  /** Functions made eager. */
  eager: number;
  /** Positions the profile names for these files, and how many of them were found. */
  profiled: number;
  found: number;
}

/**
 * Finish one file as the bundler wrote it (with its source map beside it, `<file>.map`): the
 * functions of `hot` (profile positions) made eager, the map and its comment removed, dynamic
 * imports hidden, and, for a per-action program (`program`), its first line (programHeader).
 * `keepMap`: a path to keep the map at (its sources as absolute paths), beside the text it maps
 * (`keepMap` without `.map`). Adds to `count`.
 */
async function finishFile(
  file: string,
  hot: ReadonlySet<string>,
  count: EagerCount,
  opts: { keepMap?: string; program?: boolean } = {},
): Promise<void> {
  const { keepMap } = opts;
  const { eagerize, OriginalPositions } = await import("./eager.ts");
  let code = (await Deno.readTextFile(file)).replace(MAP_COMMENT, "\n");
  if (hot.size || keepMap) {
    const map = JSON.parse(await Deno.readTextFile(file + ".map"));
    if (keepMap) {
      const kept = { ...map, sourceRoot: undefined };
      kept.sources = map.sources.map((src: string) =>
        resolve(dirname(file), map.sourceRoot ?? "", src)
      );
      await Deno.mkdir(dirname(keepMap), { recursive: true });
      await Deno.writeTextFile(keepMap, JSON.stringify(kept));
      await Deno.writeTextFile(keepMap.replace(/\.map$/, ""), code);
    }
    if (hot.size) {
      const r = eagerize(code, new OriginalPositions(code, map, file + ".map", ROOT), hot);
      code = r.code;
      count.eager += r.eager;
      count.found += r.found;
    }
  }
  code = hideDynamicImports(code);
  await Deno.writeTextFile(file, opts.program ? programHeader(code) + code : code);
  await Deno.remove(file + ".map").catch(() => {});
}

/**
 * Build every per-action program into `<tmp>/actions/<kind>/<name>.js` (entries written under
 * `<tmp>/entries/`), and the per-driver ones (buildDriverPrograms), with the hot functions its
 * profile names made eager (tools/eager.ts) unless `opts.lazy`; `opts.maps`: a folder to keep
 * the programs' source maps in (`<file>.map`, beside the text they map, before its dynamic
 * imports are hidden). Returns their paths relative to `tmp`; adds to `count` (the per-driver
 * programs to `drivers`).
 */
async function buildPrograms(
  tmp: string,
  profile: EagerProfile,
  count: EagerCount,
  opts: { maps?: string } = {},
  drivers: EagerCount = { eager: 0, profiled: 0, found: 0 },
): Promise<string[]> {
  const programs = await actionPrograms();
  const entries = new Map<string, string>();
  for (const p of programs) {
    const entry = join(tmp, "entries", p.kind, `${p.name}.ts`);
    await Deno.mkdir(dirname(entry), { recursive: true });
    await Deno.writeTextFile(entry, programEntry(p, entry));
    entries.set(`${p.kind}/${p.name}`, entry);
  }
  await denoBundle([
    "--sourcemap",
    "external",
    "--outdir",
    join(tmp, "actions"),
    ...entries.values(),
  ]);
  const files = programs.map((p) => `actions/${p.kind}/${p.name}.js`);
  for (const f of files) await finishProgram(tmp, f, f, profile, count, opts);
  return [...files, ...await buildDriverPrograms(tmp, entries, profile, drivers, opts)];
}

/**
 * Finish program `f` (relative to `tmp`) as finishFile does, with the hot functions the profile
 * names for program `profiled` (its own path, or its action's for a per-driver program).
 */
async function finishProgram(
  tmp: string,
  f: string,
  profiled: string,
  profile: EagerProfile,
  count: EagerCount,
  opts: { maps?: string },
): Promise<void> {
  const { profileKeys } = await import("./eager.ts");
  const hot = new Set(profile.programs[profiled] ? profileKeys(profile.programs[profiled]) : []);
  count.profiled += hot.size;
  const keepMap = opts.maps && join(opts.maps, f + ".map");
  await finishFile(join(tmp, f), hot, count, { keepMap, program: true }).catch((e) => {
    throw new Error(`program ${f}: ${(e as Error).message}`);
  });
}

/** The kinds whose programs are built per driver too (the vmm actions reach every profile). */
const DRIVER_KINDS: readonly Kind[] = ["datastore", "tm"];

/**
 * The module text that replaces lib/addons/list.ts (`addons`) and lib/backend/list.ts (`stores`)
 * in the programs of `driver`: its add-on (the export of lib/addons/<driver>.ts whose `driver` it
 * is) and that add-on's store (the export of lib/backend/<store>/index.ts of that `kind`). Throws
 * when either is not where the layout says.
 */
export async function driverLists(driver: string): Promise<{ addons: string; stores: string }> {
  const addonFile = join(ROOT, "lib/addons", `${driver}.ts`);
  const addonMod: Record<string, unknown> = await import(addonFile);
  const addonName = Object.keys(addonMod).find((k) =>
    (addonMod[k] as { driver?: unknown } | null)?.driver === driver
  );
  if (!addonName) throw new Error(`${addonFile} exports no add-on of driver ${driver}`);
  const store = (addonMod[addonName] as { store: string }).store;
  const storeFile = join(ROOT, "lib/backend", store, "index.ts");
  const storeMod: Record<string, unknown> = await import(storeFile);
  const storeName = Object.keys(storeMod).find((k) => {
    const v = storeMod[k] as { kind?: unknown; open?: unknown } | null;
    return v?.kind === store && typeof v.open === "function";
  });
  if (!storeName) throw new Error(`${storeFile} exports no store of kind ${store}`);
  const url = (f: string) => JSON.stringify(`file://${f}`);
  return {
    addons: `import { ${addonName} } from ${url(addonFile)};\n` +
      `export const ADDON_LIST = [${addonName}];\n`,
    stores: `import { ${storeName} } from ${url(storeFile)};\n` +
      `export const STORE_LIST = [${storeName}];\n`,
  };
}

/**
 * Build the per-driver programs (see the module doc) from the entries `entries` (kind/name →
 * entry module) into `<tmp>/drivers/<driver>/<kind>/<name>.js`, each with the hot functions of
 * its action's program (the profile's `actions/<kind>/<name>.js`: those of another store's code
 * are not found there). Returns their paths relative to `tmp`; adds to `count`.
 */
async function buildDriverPrograms(
  tmp: string,
  entries: ReadonlyMap<string, string>,
  profile: EagerProfile,
  count: EagerCount,
  opts: { maps?: string } = {},
): Promise<string[]> {
  const { ADDONS } = await import("../lib/addons/index.ts");
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const perDriver = [...entries].filter(([k]) =>
    DRIVER_KINDS.some((kind) => k.startsWith(`${kind}/`))
  );
  const out: string[] = [];
  for (const { driver } of ADDONS) {
    const src = join(tmp, "driver-lists", driver);
    await Deno.mkdir(src, { recursive: true });
    const lists = await driverLists(driver);
    await Deno.writeTextFile(join(src, "addons.ts"), lists.addons);
    await Deno.writeTextFile(join(src, "stores.ts"), lists.stores);
    const map = join(src, "import_map.json");
    await Deno.writeTextFile(
      map,
      JSON.stringify({
        imports: {
          ...config.imports,
          [`file://${ROOT}/lib/addons/list.ts`]: `file://${join(src, "addons.ts")}`,
          [`file://${ROOT}/lib/backend/list.ts`]: `file://${join(src, "stores.ts")}`,
        },
      }),
    );
    await denoBundle([
      "--import-map",
      map,
      "--sourcemap",
      "external",
      "--outdir",
      join(tmp, "drivers", driver),
      ...perDriver.map(([, entry]) => entry),
    ]);
    for (const [key] of perDriver) {
      const f = `drivers/${driver}/${key}.js`;
      await finishProgram(tmp, f, `actions/${key}.js`, profile, count, opts);
      out.push(f);
    }
  }
  return out;
}

/**
 * Remove what lies under `dir`'s folders `top` (up to the programs' depth) and is neither a
 * program of `keep` (paths relative to `dir`) nor a folder on the way to one.
 */
async function removeOthers(dir: string, keep: ReadonlySet<string>, top: string[]): Promise<void> {
  const onTheWay = new Set(
    [...keep].flatMap((p) =>
      p.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/"))
    ),
  );
  const visit = async (rel: string): Promise<void> => {
    const names: { name: string; isDirectory: boolean }[] = [];
    try {
      for await (const e of Deno.readDir(join(dir, rel))) names.push(e);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e; // (none there)
    }
    for (const e of names) {
      const p = `${rel}/${e.name}`;
      if (keep.has(p)) continue;
      if (e.isDirectory && onTheWay.has(p)) await visit(p);
      else await removeFile(join(dir, p), { recursive: true });
    }
  };
  for (const t of top) await visit(t);
}

/** Build dist/bundle/ (see the module doc for how it replaces a previous one). */
export async function buildBundle(
  opts: { quiet?: boolean; lazy?: boolean; maps?: string } = {},
): Promise<void> {
  const sources = await sourcesHash();
  await Deno.mkdir(BUNDLE_DIR, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: join(ROOT, "dist"), prefix: ".bundle-" });
  try {
    const profile = opts.lazy ? { programs: {} } : await readProfile();
    const count: EagerCount = { eager: 0, profiled: 0, found: 0 };
    await denoBundle([
      "--code-splitting",
      "--sourcemap",
      "external",
      "--outdir",
      join(tmp, "split"),
      join(ROOT, "main.ts"),
    ]);
    const split = join(tmp, "split");
    const files: string[] = [];
    for await (const e of Deno.readDir(split)) {
      if (e.isFile && !e.name.endsWith(".map")) files.push(e.name);
    }
    files.sort();
    if (!files.includes("main.js")) throw new Error("deno bundle wrote no main.js");
    // the code-split bundle (the command line, the compiled binary): a function hot in any
    // program is made eager in the chunk that holds it
    const { profileKeys } = await import("./eager.ts");
    const hotAll = new Set(Object.values(profile.programs).flatMap(profileKeys));
    const chunks: EagerCount = { eager: 0, profiled: 0, found: 0 };
    for (const f of files) {
      if (f.endsWith(".js")) await finishFile(join(split, f), hotAll, chunks);
    }
    const drivers: EagerCount = { eager: 0, profiled: 0, found: 0 };
    const programs = await buildPrograms(tmp, profile, count, opts, drivers);
    const { eager, profiled, found } = count;
    const old = await readStamp();
    for (const f of files) {
      if (f !== "main.js") await Deno.rename(join(split, f), join(BUNDLE_DIR, f));
    }
    for (const f of programs) {
      await Deno.mkdir(dirname(join(BUNDLE_DIR, f)), { recursive: true });
      await Deno.rename(join(tmp, f), join(BUNDLE_DIR, f));
    }
    const stamp: Stamp = {
      sources,
      files,
      programs,
      previous: old?.files ?? [],
      eager,
      eagerInChunks: chunks.eager,
      eagerInDrivers: drivers.eager,
      profile: { positions: profiled, found },
      ...(opts.lazy ? { lazy: true } : {}),
    };
    // main.js last, in one rename: a call starting now sees either the old or the new program.
    await Deno.rename(join(split, "main.js"), join(BUNDLE_DIR, "main.js"));
    // (written in this build's own directory: another build may be writing its stamp too)
    await Deno.writeTextFile(join(tmp, "BUNDLE.json"), JSON.stringify(stamp, null, 2) + "\n");
    await Deno.rename(join(tmp, "BUNDLE.json"), STAMP);
    // (a build of the same sources running beside this one, e.g. in another test process, may
    // have removed a file already)
    const keep = new Set([...stamp.files, ...stamp.previous, "BUNDLE.json", "actions", "drivers"]);
    for await (const e of Deno.readDir(BUNDLE_DIR)) {
      if (!keep.has(e.name)) await removeFile(join(BUNDLE_DIR, e.name), { recursive: true });
    }
    // programs of actions (and drivers) that no longer exist
    await removeOthers(BUNDLE_DIR, new Set(programs), ["actions", "drivers"]);
    if (!opts.quiet) {
      console.log(
        `dist/bundle: ${files.length} files, ${programs.length} per-action programs ` +
          `(${eager} hot functions compiled eagerly, ${drivers.eager} in the per-driver ` +
          `programs, ${chunks.eager} in the code-split bundle; ${found} of the profile's ` +
          `${profiled} positions found), sources ` +
          sources.slice(0, 12),
      );
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** The refresh under way in this process, if any. */
let refreshing: Promise<void> | undefined;

/**
 * Rebuild a stale bundle (one that exists but was built from other sources), so that tests and
 * tools started from the sources never run an outdated program through the launcher. A build
 * without eager functions is left as it is: `deno task bundle profile` makes one to run the
 * simulators on (and rebuilds when it is done).
 */
export function refreshBundle(): Promise<void> {
  // one refresh at a time in a process: clusters started together (the fault matrix's
  // baselines) share it
  refreshing ??= (async () => {
    const stamp = await readStamp();
    if (stamp && stamp.sources !== await sourcesHash()) await buildBundle({ quiet: true });
  })().finally(() => refreshing = undefined);
  return refreshing;
}

/** Build the bundle unless it is fresh; returns whether it built. */
export async function ensureBundle(opts: { quiet?: boolean } = {}): Promise<boolean> {
  if (await bundleState() === "fresh") return false;
  await buildBundle(opts);
  return true;
}

/** `deno compile` of the bundle (needs Deno's runtime download, which a normal machine has). */
async function compile(args: string[]): Promise<number> {
  await ensureBundle();
  const out = args[0] ?? join(ROOT, "dist/oneblk");
  const cmd = [
    "compile",
    "--allow-all",
    // Deno's UDP socket (the per-VM disk usage sent to monitord), as scripts/oneblk gives it
    "--unstable-net",
    "--no-config",
    "--no-lock",
    // a compiled binary serves oned's driver actions above all: their flags
    ...await runtimeFlags({ action: true }),
    // the chunks are imported by computed specifiers (hideDynamicImports): name them all
    ...(await readStamp())?.files.filter((f) => f.endsWith(".js") && f !== "main.js")
      .flatMap((f) => ["--include", join(BUNDLE_DIR, f)]) ?? [],
    "--output",
    out,
    join(BUNDLE_DIR, "main.js"),
  ];
  console.log(`deno ${cmd.join(" ")}`);
  const st = await new Deno.Command(Deno.execPath(), { args: cmd, cwd: ROOT }).spawn().status;
  return st.code;
}

/**
 * `deno task bundle [--check | --force]`, `deno task bundle profile` (tools/eager_profile.ts),
 * `deno task compile [OUTPUT]`.
 */
export async function bundleMain(args: string[]): Promise<number> {
  if (args[0] === "compile") return await compile(args.slice(1));
  if (args[0] === "profile") {
    const { makeEagerProfile } = await import("./eager_profile.ts");
    const programs = await makeEagerProfile();
    const { profileKeys } = await import("./eager.ts");
    const n = Object.values(programs).reduce((a, e) => a + profileKeys(e).length, 0);
    console.log(
      `${EAGER_PROFILE}: ${n} hot functions in ${Object.keys(programs).length} programs`,
    );
    const stamp = await readStamp();
    console.log(`dist/bundle: ${stamp?.eager ?? 0} functions compiled eagerly`);
    return 0;
  }
  if (args.includes("--check")) {
    const state = await bundleState();
    if (state === "fresh") {
      console.log("dist/bundle is up to date");
      return 0;
    }
    console.error(
      `ERROR: dist/bundle is ${state === "absent" ? "missing" : "stale"}: run deno task bundle`,
    );
    return 1;
  }
  if (args.includes("--force")) await buildBundle();
  else if (!await ensureBundle()) console.log("dist/bundle is up to date");
  return 0;
}

// (no top-level await: tools the profile imports import this module too)
if (import.meta.main) bundleMain(Deno.args).then((code) => Deno.exit(code));

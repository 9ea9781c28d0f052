/**
 * `deno task bundle profile`: make tools/eager_profile.json, the hot functions of each per-action
 * program (tools/eager.ts says what the build does with them).
 *
 * The programs are built with every function lazy and their source maps kept; the whole VM life
 * of tools/sim/scenario.ts (the one `deno task bench --sections lifecycle` plays: images, disks,
 * snapshots, migrations, backups, resize, undeploy, terminate) is played on the simulators for
 * each driver (linstor, linstor_un, storpool) with V8's function events logged by every driver
 * action; each function V8 compiled lazily in a program is kept under that program, by its
 * original position. Then the bundle is built again with the new profile.
 */
import { join } from "../lib/path.ts";
import { errorLine } from "../lib/errors.ts";
import { beforeHiding, buildBundle, BUNDLE_DIR, EAGER_PROFILE, runtimeFlags } from "./bundle.ts";
import { lazyFunctions, OriginalPositions, profileEntry } from "./eager.ts";
import { Lifecycle } from "./sim/scenario.ts";
import { PROFILES } from "./sim/oned/scripted_oned.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");

/** Make the profile, then rebuild the bundle with it. Returns the functions kept per program. */
export async function makeEagerProfile(): Promise<Record<string, Record<string, string>>> {
  const tmp = await Deno.makeTempDir({ prefix: "oneblk-eager-" });
  try {
    const maps = join(tmp, "maps");
    const logs = join(tmp, "logs");
    await Deno.mkdir(logs);
    await buildBundle({ quiet: true, lazy: true, maps });
    const flags = (await runtimeFlags({ action: true })).map((f) =>
      f.startsWith("--v8-flags=")
        ? `${f},--log-function-events,--logfile=${logs}/%p.log,--no-logfile-per-isolate`
        : f
    );
    const env = { ONEBLK_DENO_FLAGS: flags.join(" "), DENO_DIR: join(tmp, "deno_dir") };
    const failed: string[] = [];
    for (const profile of PROFILES) {
      const life = new Lifecycle({ profile, latencyMs: 0, env });
      await life.start();
      try {
        for (const step of life.steps()) {
          if (life.missing(step).length) continue;
          await step.run(life).catch((e) => failed.push(`${profile} ${step.id}: ${errorLine(e)}`));
        }
      } finally {
        await life.close();
      }
    }
    // a step that failed ran only part of its actions: such a profile is not written
    if (failed.length) {
      throw new Error(`the VM life failed, profile not written: ${failed.join("; ")}`);
    }
    const prefix = `file://${BUNDLE_DIR}/`;
    // a program of the bundle (actions/…, or a driver's drivers/<driver>/…), by its path there
    const programOf = (url: string) =>
      url.startsWith(prefix) && /\/(actions|drivers)\//.test(url)
        ? url.slice(prefix.length)
        : undefined;
    // a driver's program counts for its action's program: the build makes the same functions
    // eager in both (tools/bundle.ts buildDriverPrograms)
    const actionOf = (program: string) => program.replace(/^drivers\/[^/]+\//, "actions/");
    const found = new Map<string, Set<string>>();
    // per program: its original positions, by offset in the text the bundler wrote (V8 logs
    // offsets in the shipped text: beforeHiding)
    const positions = new Map<string, { pos: OriginalPositions; shipped: string }>();
    for await (const e of Deno.readDir(logs)) {
      const log = await Deno.readTextFile(join(logs, e.name));
      for (const [program, starts] of lazyFunctions(log, programOf)) {
        let p = positions.get(program);
        if (!p) {
          const mapPath = join(maps, program + ".map");
          const map = JSON.parse(await Deno.readTextFile(mapPath));
          const written = await Deno.readTextFile(join(maps, program));
          const shipped = await Deno.readTextFile(join(BUNDLE_DIR, program));
          p = { pos: new OriginalPositions(written, map, mapPath, ROOT), shipped };
          positions.set(program, p);
        }
        const action = actionOf(program);
        let keys = found.get(action);
        if (!keys) found.set(action, keys = new Set());
        for (const s of starts) {
          const k = p.pos.keyAt(beforeHiding(p.shipped, s));
          // (a file outside the repository, e.g. in Deno's cache, and the build's temporary
          // entry module have no stable name)
          if (k && !k.startsWith("../") && !k.startsWith("dist/")) keys.add(k);
        }
      }
    }
    const programs: Record<string, Record<string, string>> = {};
    for (const p of [...found.keys()].sort()) programs[p] = profileEntry(found.get(p)!);
    // (replaced whole: a build never reads a half-written profile)
    await Deno.writeTextFile(
      EAGER_PROFILE + ".tmp",
      JSON.stringify({ made: "deno task bundle profile", drivers: PROFILES, programs }, null, 2) +
        "\n",
    );
    await Deno.rename(EAGER_PROFILE + ".tmp", EAGER_PROFILE);
    return programs;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    await buildBundle({ quiet: true });
  }
}

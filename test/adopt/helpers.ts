/**
 * A world for `oneblk adopt drbd` tests: a simulated LINSTOR controller with nodes eagle and
 * rabbit (LVM pool fatpool on VG datastore), simulated hosts holding the article's hand-made
 * resource `legacy`, and the command run as a user runs it (the launcher, a real process).
 */
import { join } from "node:path";
import { type LinstorSim, startLinstorSim } from "../../tools/sim/linstor/server.ts";
import { LEGACY, type LegacyHostOptions, makeLegacyHost } from "../support/legacy_drbd.ts";

const LAUNCHER = new URL("../../scripts/oneblk", import.meta.url).pathname;

/** What one run of the command gave. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running world. */
export interface World {
  root: string;
  sim: LinstorSim;
  /** Real path of `path` on simulated host `host`. */
  host(host: string, path: string): string;
  /** Run `oneblk adopt …` (env: the simulated hosts; `env` adds to it). */
  adopt(args: string[], env?: Record<string, string>): Promise<RunResult>;
  /** Mutating LINSTOR requests served so far. */
  writes(): number;
  close(): Promise<void>;
}

/** Options of {@link startWorld}. */
export interface WorldOptions {
  /** Per host options of the hand-made resource (default: the article's, running). */
  hosts?: Record<string, LegacyHostOptions>;
  /** LINSTOR nodes (default eagle, rabbit). */
  nodes?: string[];
}

/** Start a world. */
export async function startWorld(o: WorldOptions = {}): Promise<World> {
  const root = await Deno.makeTempDir({ prefix: "oneblk-adopt-" });
  const nodes = o.nodes ?? ["eagle", "rabbit"];
  const sim = await startLinstorSim({
    nodes,
    pools: [],
    stateDir: join(root, "linstor"),
    hostsRoot: join(root, "hosts"),
  });
  for (const n of nodes) {
    const r = await fetch(`${sim.url}/v1/nodes/${n}/storage-pools`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        storage_pool_name: "fatpool",
        provider_kind: "LVM",
        props: { "StorDriver/StorPoolName": LEGACY.vg },
      }),
    });
    await r.body?.cancel();
  }
  const hostOpts = o.hosts ?? { eagle: {}, rabbit: {} };
  for (const [h, ho] of Object.entries(hostOpts)) await makeLegacyHost(join(root, "hosts", h), ho);
  const writes0 = () =>
    Object.entries(sim.byRoute).filter(([r]) => !r.startsWith("GET")).reduce(
      (a, [, n]) => a + n,
      0,
    );
  const start = writes0();
  return {
    root,
    sim,
    host: (h, p) => join(root, "hosts", h, p),
    async adopt(args, env = {}) {
      const out = await new Deno.Command(LAUNCHER, {
        args: ["adopt", ...args],
        env: { ONEBLK_SIM_ROOT: root, LS_CONTROLLERS: sim.url, ...env },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
    writes: () => writes0() - start,
    async close() {
      await sim.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
}

/** The lines of `text` that are errors (`ERROR: oneblk: …`). */
export function errorLines(text: string): string[] {
  return text.split("\n").filter((l) => l.startsWith("ERROR:"));
}

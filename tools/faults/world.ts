/**
 * A fault world: one simulated cloud (tools/sim/cluster.ts) with a scripted oned, where every
 * REST request of the driver programs goes through a fault proxy (tools/faults/proxy.ts) and
 * every host step through the host shims (tools/faults/host_faults.ts), and where one driver
 * call, the target, can be given one fault.
 *
 * The world is built fresh for every fault point. Its data is seeded (same bytes every run),
 * its store tokens are odd (so a leak is found by a marker), and it keeps what the data of
 * each image and VM disk must be.
 *
 * The target is the first driver call of the operation under test that matches a predicate.
 * Around it the world:
 *  - arms the proxy (requests counted from 1) and the host shims (steps counted from 1) with
 *    the point's fault, or answers the call itself with a failure (the reference of a clean
 *    failure: oned sees the action fail and nothing was done);
 *  - on LINSTOR, makes clones stay CLONING for 1.5 s (the simulator's default is 40 ms), so an
 *    action that reports success before its clone finished is caught: the clones still copying
 *    or failed when the action exits are recorded;
 *  - afterwards waits for a stalled request to land, and brings a dead controller or host back,
 *    before oned goes on (so what follows does not depend on timing).
 */
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../sim/cluster.ts";
import {
  type DriverCall,
  type PendingCall,
  type PendingResult,
  type ProfileName,
  ScriptedOned,
  type ScriptedState,
} from "../sim/oned/scripted_oned.ts";
import { internalErrorReply } from "../sim/linstor/replies.ts";
import { stringifyJsonLossless } from "../../lib/backend/linstor/api_call_rc.ts";
import { FaultProxy, type ProxiedRequest, type RestFaultMode } from "./proxy.ts";
import { type HostFaultMode, HostFaults, type HostStep } from "./host_faults.ts";

/** Marker in every store token: any output holding it leaks a secret. */
export const SECRET_MARK = "Zq9SeCrEt";
/** The tokens of every world: odd bytes an HTTP header can still carry. */
export const STORE_TOKEN = `${SECRET_MARK}-a1%2F"'$(id);\\x~`;
/** A token with a line break and control bytes (LINSTOR_TOKEN, environment). */
export const BAD_ENV_TOKEN = `${SECRET_MARK}-nl\n${SECRET_MARK}-cr\r\t\u00e9\u0001`;
/** The same for a datastore template (SP_AUTH_TOKEN; XML cannot hold \u0001). */
export const BAD_XML_TOKEN = `${SECRET_MARK}-nl\n${SECRET_MARK}-cr\r\t\u00e9`;

/** How long a clone stays CLONING in the simulated LINSTOR while the target runs (ms). */
export const TARGET_CLONE_MS = 1_500;

/** The fault given to the target call. */
export type PointFault =
  | { kind: "none" }
  | { kind: "fabricate" }
  | { kind: "rest"; k: number; mode: RestFaultMode }
  | { kind: "clone-fail"; k: number; lost: boolean }
  | { kind: "host"; k: number; mode: HostFaultMode }
  | { kind: "token" };

/** What happened to the target call. */
export interface TargetResult {
  call: DriverCall;
  /** REST requests of the call, as the proxy saw them. */
  requests: ProxiedRequest[];
  /** Host steps of the call, as the shims saw them. */
  steps: HostStep[];
  /** LINSTOR clones still CLONING, or FAILED, when the call exited (`target (state)`). */
  unfinishedClones: string[];
}

/**
 * Expected content of an image or a VM disk: sha256 of its first `len` bytes (`len` 0: only
 * that it resolves), and for a disk its least size in bytes.
 */
export interface Expect {
  sha: string;
  len: number;
  size?: number;
}

const DOC_KINDS = ["DATASTORE", "HOST", "IMAGE", "VM"] as const;

/** A world saved right after a case's setup (FaultWorld.save); remove `dir` when done. */
export interface Baseline {
  /** A copy of the cluster root. */
  dir: string;
  /** The root it was copied from (paths in the copy still name it). */
  root: string;
  /** The proxies the saved datastores name. */
  linstorProxy: string;
  spProxyPort: number;
  /** The simulated oned's documents. */
  docs: Record<typeof DOC_KINDS[number], [number, string][]>;
  scripted: ScriptedState;
  world: {
    vars: Record<string, number>;
    images: [number, Expect][];
    disks: [string, Expect][];
    saved: [string, Expect][];
  };
}

/** Options of FaultWorld.start. */
export interface WorldOptions {
  /** Start from a saved world instead of a fresh cloud. */
  baseline?: Baseline;
  /** Datastore template attributes added to the profile's image and system datastores. */
  dsAttrs?: Record<string, string>;
  /** Called when the target starts (after its fault is armed). */
  onTargetStart?: () => void;
  /** Called (and awaited) as soon as the target ended. */
  onTargetEnd?: () => Promise<void> | void;
}

/** Hex sha256 of bytes. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `len` pseudo-random bytes from `seed` (mulberry32): the same bytes on every run. */
export function seededBytes(seed: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = seed >>> 0;
  for (let i = 0; i < len; i += 4) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const v = (t ^ (t >>> 14)) >>> 0;
    out[i] = v & 0xff;
    if (i + 1 < len) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < len) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < len) out[i + 3] = v >>> 24;
  }
  return out;
}

function spError(): string {
  return JSON.stringify({
    error: { name: "internalError", descr: "Simulated internal error", transient: false },
  });
}

/** A simulated cloud wired for fault injection (see the module doc). */
export class FaultWorld {
  readonly profile: ProfileName;
  readonly oned: ScriptedOned;
  readonly cluster: Cluster;
  /** The proxy in front of this profile's store. */
  readonly proxy: FaultProxy;
  readonly hosts: HostFaults;
  /** Where the source files of images are written. */
  readonly work: string;
  /** Ids and numbers a case keeps between its steps. */
  readonly vars: Record<string, number> = {};
  /** Expected content per image id. */
  readonly images = new Map<number, Expect>();
  /** Expected content per VM disk (`<vm>/<disk>`). */
  readonly disks = new Map<string, Expect>();
  /** Contents a case remembers for later (e.g. what a snapshot holds), by name. */
  readonly saved = new Map<string, Expect>();
  readonly #proxies: FaultProxy[];
  readonly #opts: WorldOptions;
  #plan: { match: (c: PendingCall) => boolean; fault: PointFault } | undefined;
  #active: { seq: number; restore: () => void; started: boolean } | undefined;
  #result: TargetResult | undefined;
  #undoToken: (() => void) | undefined;

  private constructor(
    profile: ProfileName,
    oned: ScriptedOned,
    proxy: FaultProxy,
    proxies: FaultProxy[],
    hosts: HostFaults,
    opts: WorldOptions,
  ) {
    this.#opts = opts;
    this.profile = profile;
    this.oned = oned;
    this.cluster = oned.cluster;
    this.proxy = proxy;
    this.#proxies = proxies;
    this.hosts = hosts;
    this.work = join(oned.cluster.root, "sources");
  }

  /**
   * Build a world for `profile`: a fresh cloud, or (with `opts.baseline`) a copy of the world
   * saved by save(), at a new root.
   */
  static async start(profile: ProfileName, opts: WorldOptions = {}): Promise<FaultWorld> {
    const base = opts.baseline;
    let root: string | undefined;
    if (base) {
      root = await Deno.makeTempDir({ prefix: "oneblk-cluster-" });
      await copyTree(base.dir, root);
      await moveRoot(root, base.root, root);
    }
    const cluster = await startCluster({
      root,
      env: { LINSTOR_TOKEN: STORE_TOKEN },
      storpoolToken: STORE_TOKEN,
    });
    const proxies: FaultProxy[] = [];
    try {
      const ls = await FaultProxy.start({
        upstream: cluster.linstor.url,
        errorReply: () => {
          const r = internalErrorReply("Simulated internal controller error");
          return { status: r.status, body: stringifyJsonLossless(r.body) };
        },
      });
      proxies.push(ls);
      const sp = await FaultProxy.start({
        upstream: cluster.storpool.url,
        errorReply: () => ({ status: 500, body: spError() }),
      });
      proxies.push(sp);
      const state = cluster.oned.state;
      if (base) {
        // The saved documents, moved to this root and to this world's proxies.
        // (an edited document has lost its CDATA sections)
        const spPort = new RegExp(
          `<SP_API_HTTP_PORT>(<!\\[CDATA\\[)?${base.spProxyPort}(\\]\\]>)?</SP_API_HTTP_PORT>`,
          "g",
        );
        const move = (x: string) =>
          x.replaceAll(base.root, cluster.root).replaceAll(base.linstorProxy, ls.url)
            .replace(spPort, `<SP_API_HTTP_PORT>${sp.port}</SP_API_HTTP_PORT>`);
        for (const kind of DOC_KINDS) {
          state.mapOf(kind).clear();
          for (const [, xml] of base.docs[kind]) state.put(move(xml));
        }
      } else {
        const ds = CLUSTER_DS[profile];
        for (const [id, xml] of [...state.datastores]) {
          let x = xml.replaceAll(cluster.linstor.url, ls.url).replace(
            `<SP_API_HTTP_PORT><![CDATA[${cluster.storpool.port}]]></SP_API_HTTP_PORT>`,
            `<SP_API_HTTP_PORT><![CDATA[${sp.port}]]></SP_API_HTTP_PORT>`,
          );
          if (opts.dsAttrs && (id === ds.image || id === ds.system)) {
            const extra = Object.entries(opts.dsAttrs)
              .map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`).join("");
            x = x.replace("<TEMPLATE>", `<TEMPLATE>${extra}`);
          }
          state.putDatastore(x);
        }
      }
      // The hooks need the world, which needs the scripted oned.
      const self: { w?: FaultWorld } = {};
      const oned = await ScriptedOned.start({
        profile,
        cluster,
        timeoutMs: 180_000,
        beforeCall: (c) => self.w!.#before(c),
        onCall: (c) => self.w!.#after(c),
      });
      if (base) {
        oned.restoreState(JSON.parse(
          JSON.stringify(base.scripted).replaceAll(base.root, cluster.root),
        ));
      }
      const hosts = await HostFaults.install(
        cluster.root,
        cluster.hostsRoot,
        cluster.env.PATH,
        [oned.virsh],
      );
      cluster.env.PATH = `${hosts.binDir}:${cluster.env.PATH}`;
      const proxy = oned.store === "linstor" ? ls : sp;
      const world = new FaultWorld(profile, oned, proxy, proxies, hosts, opts);
      self.w = world;
      await Deno.mkdir(world.work, { recursive: true });
      if (base) {
        const move = <T>(x: T): T =>
          JSON.parse(JSON.stringify(x).replaceAll(base.root, cluster.root));
        Object.assign(world.vars, base.world.vars);
        for (const [k, v] of base.world.images) world.images.set(k, v);
        for (const [k, v] of base.world.disks) world.disks.set(k, v);
        for (const [k, v] of move(base.world.saved)) world.saved.set(k, v);
      }
      return world;
    } catch (e) {
      for (const p of proxies) await p.stop();
      await cluster.stop();
      if (root) await Deno.remove(root, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /**
   * Save this world as it is now (no driver program running): its files, the simulators'
   * state (kept in their state files), the simulated oned's documents, the scripted oned's
   * models and what the world expects. start() with it builds a copy at a new root.
   */
  async save(): Promise<Baseline> {
    await this.cluster.storpool.flush();
    const dir = await Deno.makeTempDir({ prefix: "oneblk-faults-base-" });
    await copyTree(this.cluster.root, dir);
    const state = this.cluster.oned.state;
    const docs = Object.fromEntries(
      DOC_KINDS.map((k) => [k, [...state.mapOf(k)]]),
    ) as Baseline["docs"];
    const spProxy = this.#proxies.find((p) => p !== this.#proxies[0])!;
    return {
      dir,
      root: this.cluster.root,
      linstorProxy: this.#proxies[0].url,
      spProxyPort: spProxy.port,
      docs,
      scripted: this.oned.saveState(),
      world: {
        vars: { ...this.vars },
        images: [...this.images],
        disks: [...this.disks],
        saved: [...this.saved],
      },
    };
  }

  /** The store of this world's profile. */
  get store(): "linstor" | "storpool" {
    return this.oned.store;
  }

  /**
   * Give `fault` to the first driver call from now on that `match` accepts. The result is
   * in `target` once that call ended.
   */
  plan(
    match: (c: PendingCall) => boolean,
    fault: PointFault,
    opts: { early?: boolean } = {},
  ): void {
    this.#plan = { match, fault };
    this.#result = undefined;
    // A DS action gets its datastore in the payload oned built before the call (`early`): the
    // bad token is in place from now on. Other calls read it when they run.
    this.#undoToken = fault.kind === "token" && opts.early ? this.#badToken() : undefined;
  }

  /** End a plan whose target did not run (an earlier call of the operation failed). */
  unplan(): void {
    this.#plan = undefined;
    this.#undoToken?.();
    this.#undoToken = undefined;
  }

  /** What happened to the planned call (undefined while it has not run). */
  get target(): TargetResult | undefined {
    return this.#result;
  }

  async #before(c: PendingCall): Promise<PendingResult | void> {
    const plan = this.#plan;
    if (!plan || this.#active || !plan.match(c)) return;
    this.#plan = undefined;
    const restores: (() => void)[] = [];
    this.#active = { seq: c.seq, restore: () => restores.forEach((f) => f()), started: false };
    const f = plan.fault;
    if (f.kind === "token" && !this.#undoToken) this.#undoToken = this.#badToken();
    if (f.kind === "fabricate") {
      return {
        code: 1,
        stdout: "",
        stderr: `${c.kind}/${c.dir}/${c.script}: simulated failure (nothing was done)\n`,
      };
    }
    if (this.store === "linstor") {
      const ctl = this.cluster.linstor.controller;
      const was = ctl.opts.cloneDurationMs;
      ctl.opts.cloneDurationMs = TARGET_CLONE_MS;
      restores.push(() => ctl.opts.cloneDurationMs = was);
    }
    if (f.kind === "rest") this.proxy.arm({ k: f.k, mode: f.mode });
    else if (f.kind === "clone-fail") {
      const sim = this.cluster.linstor;
      this.proxy.arm({
        k: f.k,
        mode: f.lost ? "lost" : undefined,
        onHit: (r) => {
          if (r.method === "POST" && /\/clone$/.test(r.path)) {
            sim.addFault({ method: "POST", path: "/clone$", action: "fail-clone", times: 1 });
          }
        },
      });
      restores.push(() => sim.clearFaults());
    } else this.proxy.arm();
    await this.hosts.arm(f.kind === "host" ? { k: f.k, mode: f.mode } : undefined);
    this.#active.started = true;
    this.#opts.onTargetStart?.();
  }

  async #after(call: DriverCall): Promise<void> {
    const active = this.#active;
    if (!active || active.seq !== call.seq) return;
    this.#active = undefined;
    const unfinishedClones = this.#unfinishedClones();
    if (active.started) await this.#opts.onTargetEnd?.();
    const requests = this.proxy.disarm();
    await this.proxy.settled();
    await this.proxy.revive();
    const steps = await this.hosts.disarm();
    await this.hosts.revive();
    active.restore();
    this.#undoToken?.();
    this.#undoToken = undefined;
    this.#result = { call, requests, steps, unfinishedClones };
  }

  #unfinishedClones(): string[] {
    if (this.store !== "linstor") return [];
    const ctl = this.cluster.linstor.controller;
    const now = Date.now();
    return ctl.state.clones
      .filter((c) => c.failed || c.readyAt > now)
      .filter((c) => ctl.rd(c.dst))
      .map((c) => `${c.dst} (${c.readyAt > now ? "CLONING" : "FAILED"})`);
  }

  /** Put a token no header can carry into the profile's store settings; returns the undo. */
  #badToken(): () => void {
    if (this.store === "linstor") {
      const was = this.cluster.env.LINSTOR_TOKEN;
      this.cluster.env.LINSTOR_TOKEN = BAD_ENV_TOKEN;
      return () => this.cluster.env.LINSTOR_TOKEN = was;
    }
    const state = this.cluster.oned.state;
    const saved = [...state.datastores];
    const good = `<SP_AUTH_TOKEN><![CDATA[${STORE_TOKEN}]]></SP_AUTH_TOKEN>`;
    for (const [, xml] of saved) {
      state.putDatastore(
        xml.replace(good, `<SP_AUTH_TOKEN><![CDATA[${BAD_XML_TOKEN}]]></SP_AUTH_TOKEN>`),
      );
    }
    return () => saved.forEach(([, xml]) => state.putDatastore(xml));
  }

  /** Write `len` seeded bytes to `<work>/<name>`; returns the path and their Expect. */
  async source(name: string, seed: number, len: number): Promise<{ path: string } & Expect> {
    const bytes = seededBytes(seed, len);
    const path = join(this.work, name);
    await Deno.writeFile(path, bytes);
    return { path, sha: await sha256(bytes), len };
  }

  /** Stop everything and remove the world's files. */
  async close(): Promise<void> {
    for (const p of this.#proxies) await p.stop();
    await this.oned.close();
    await this.cluster.stop();
    await Deno.remove(this.cluster.root, { recursive: true }).catch(() => {});
  }
}

/** `cp -a src/. dst` (sparse files stay sparse). */
async function copyTree(src: string, dst: string): Promise<void> {
  const r = await new Deno.Command("cp", {
    args: ["-a", "--reflink=auto", `${src}/.`, dst],
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(`cp ${src}: ${new TextDecoder().decode(r.stderr).trim()}`);
}

/**
 * A copied root still names the old one: symbolic links (device links, disk links) and the
 * simulators' state files are moved to `to`.
 */
async function moveRoot(root: string, from: string, to: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isSymlink) {
        const t = await Deno.readLink(p);
        if (t.includes(from)) {
          await Deno.remove(p);
          await Deno.symlink(t.replaceAll(from, to), p);
        }
      } else if (e.isDirectory) await walk(p);
    }
  };
  await walk(root);
  for (const f of ["linstor/state.json", "storpool/state.json"]) {
    const p = join(root, f);
    try {
      const text = await Deno.readTextFile(p);
      if (text.includes(from)) await Deno.writeTextFile(p, text.replaceAll(from, to));
    } catch { /* no such store state */ }
  }
}

/**
 * What an action sees: its arguments, stdin, the profile, oned, hosts and the store.
 *
 * Everything is created lazily: an action pays only for what it touches, and loads only the code
 * of what it touches (the XML-RPC client, the store, the host runner of its mode).
 */
import type { Invocation } from "./dispatch.ts";
import type { Backend } from "./backend/types.ts";
import type { HostRunner } from "./host/types.ts";
import { hostRunnerFactory } from "./host/index.ts";
import { profileFor } from "./addons/index.ts";
import type { Attrs, Profile } from "./addons/types.ts";
import type { OneClient } from "./one/xmlrpc.ts";
import { findRemotesDir, infoLine, type OneVersion } from "./one/output.ts";
import { processStdin, tmVmId } from "./one/args.ts";
import { openBackend } from "./backend/index.ts";
import { writeAllSync } from "./bytes.ts";

/** A module implementing one action. */
export interface ActionModule {
  run(ctx: ActionContext): Promise<void>;
}

/** The datastore facts needed to open its store. */
export interface DatastoreRef {
  id: number;
  template: Attrs;
}

/** Everything an action may use. */
export interface ActionContext {
  readonly inv: Invocation;
  readonly args: string[];
  readonly profile: Profile;
  readonly env: Record<string, string>;
  /** OpenNebula version of the calling front-end (from $R/VERSION; 7.4.0 when absent). */
  readonly version: OneVersion | string;
  /** The remotes directory this program runs from: `$R` on the front-end, `$RR` on hosts. */
  readonly remotes: string;
  /** Whole stdin as text (read once, cached). */
  stdin(): Promise<string>;
  /** Append a line to stdout (written when the action succeeds). */
  out(line: string): void;
  /** Progress line on stderr (`INFO: …`, becomes a LOG message on oned 7.x). */
  info(msg: string): void;
  /** Commands on hosts (ssh, local, or simulated). */
  readonly hosts: HostRunner;
  /** oned XML-RPC client (ONE_XMLRPC / ~/.one/one_endpoint, ONE_AUTH / ~/.one/one_auth). */
  one(): Promise<OneClient>;
  /**
   * The store behind a datastore (cached per connection settings). `profile` overrides the
   * invoked one (VMM overrides serve VMs of any of our drivers).
   */
  backend(ds: DatastoreRef, profile?: Profile): Backend;
}

/** Context plus what the runner needs to finish. */
export interface RunnerContext extends ActionContext {
  flush(): void;
  close(): Promise<void>;
  restCalls(): number;
  /** Reply bytes the store clients read (decoded). */
  restBytes(): number;
  hostCalls(): number;
  oneCalls(): number;
}

/** Build the context for one invocation. */
export async function createContext(
  inv: Invocation,
  driver: string,
  env: Record<string, string>,
  version: OneVersion | string,
  remotes: string = findRemotesDir({ env }),
): Promise<RunnerContext> {
  const profile = profileFor(driver, env);
  const newHostRunner = await hostRunnerFactory(env);
  const lines: string[] = [];
  const backends = new Map<string, Backend>();
  let stdinText: Promise<string> | undefined;
  let hosts: HostRunner | undefined;
  let one: Promise<OneClient> | undefined;
  let oneClient: OneClient | undefined;
  const vmId = inv.kind === "tm" ? tmVmId(inv.action, inv.args) : undefined;

  const ctx: RunnerContext = {
    inv,
    args: inv.args,
    profile,
    env,
    version,
    remotes,
    stdin() {
      stdinText ??= processStdin()();
      return stdinText;
    },
    out(line) {
      lines.push(line);
    },
    info(msg) {
      const line = infoLine(`${inv.kind}/${inv.driver}/${inv.name}: ${msg}`, version, vmId);
      if (line) writeAllSync(Deno.stderr, line);
    },
    get hosts() {
      hosts ??= newHostRunner();
      return hosts;
    },
    one() {
      one ??= import("./one/xmlrpc.ts").then(({ OneClient }) =>
        OneClient.fromEnv({ env, remember: true })
      )
        .then((c) => (oneClient = c));
      return one;
    },
    backend(ds, p = profile) {
      const store = p.store(ds.template, ds.id);
      const key = JSON.stringify(store);
      let b = backends.get(key);
      if (!b) {
        b = openBackend(store, { env, hosts: ctx.hosts, one: () => ctx.one() });
        backends.set(key, b);
      }
      return b;
    },
    flush() {
      if (lines.length) writeAllSync(Deno.stdout, lines.join("\n") + "\n");
    },
    async close() {
      await Promise.all([...backends.values()].map((b) => b.close().catch(() => {})));
    },
    restCalls: () => [...backends.values()].reduce((n, b) => n + b.stats.requests, 0),
    restBytes: () => [...backends.values()].reduce((n, b) => n + b.stats.bytes, 0),
    hostCalls: () => hosts?.calls ?? 0,
    oneCalls: () => oneClient?.requests ?? 0,
  };
  return ctx;
}

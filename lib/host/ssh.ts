/**
 * SshRunner: runs argv commands on hosts over ssh, or directly when the host is this machine.
 *
 * Remote: `ssh -o BatchMode=yes -o ConnectTimeout=N [multiplexing options] [extra] -- host CMD`
 * where CMD is ONE argument, the argv quoted word by word (quote.ts), so the remote login
 * shell rebuilds exactly the original argv: no argument is ever interpreted as shell syntax.
 *
 * Local (host is `localhost`, `127.0.0.1`, `::1`, this machine's hostname, or listed in
 * ONEBLK_LOCAL_HOSTS): the argv is spawned directly, no shell at all.
 *
 * Configuration (environment, read by `sshOptionsFromEnv`):
 *   ONEBLK_SSH                   ssh binary (default `ssh`)
 *   ONEBLK_SSH_CONNECT_TIMEOUT   seconds (default 10)
 *   ONEBLK_SSH_CONTROL_PERSIST   seconds a multiplexing master stays up; 0 disables (default 60)
 *   ONEBLK_SSH_CONTROL_PATH      socket path (default `~/.ssh/oneblk-%C`)
 *   ONEBLK_SSH_OPTIONS           extra ssh arguments, blank-separated (e.g. `-p 2222`)
 *   ONEBLK_LOCAL_HOSTS           comma list of extra names that mean "this machine"
 *   ONEBLK_HOST_TIMEOUT          default deadline per command in seconds (default 120)
 *
 * Exit code 255 from ssh (and no 255 in okCodes) is reported as OneblkError("unavailable").
 */
import { dirname } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { isDirectory } from "../frugal.ts";
import { commandLine } from "./quote.ts";
import { labelOf, ProcessRunner, type ProcessSpec } from "./process.ts";

/** SshRunner settings. */
export interface SshOptions {
  /** ssh binary (default "ssh"). */
  ssh?: string;
  /** ssh ConnectTimeout in seconds (default 10). */
  connectTimeoutS?: number;
  /** ControlPersist seconds for connection reuse; 0 disables multiplexing (default 60). */
  controlPersistS?: number;
  /** ControlPath for the multiplexing socket (default "~/.ssh/oneblk-%C"). */
  controlPath?: string;
  /** Extra ssh arguments placed before `--` (e.g. ["-p", "2222"]). */
  extraArgs?: string[];
  /** Default deadline per command in ms (default 120 000). */
  defaultTimeoutMs?: number;
  /** Extra host names executed locally, besides localhost/127.0.0.1/::1/hostname. */
  localHosts?: string[];
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v.trim() === "") return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new OneblkError("config", `${name} must be a non-negative number, got '${v}'`);
  }
  return n;
}

/** Read SshOptions from the environment (see the file header for the variables). */
export function sshOptionsFromEnv(env: Record<string, string | undefined>): SshOptions {
  const timeoutS = num(env.ONEBLK_HOST_TIMEOUT, "ONEBLK_HOST_TIMEOUT");
  return {
    ssh: env.ONEBLK_SSH || undefined,
    connectTimeoutS: num(env.ONEBLK_SSH_CONNECT_TIMEOUT, "ONEBLK_SSH_CONNECT_TIMEOUT"),
    controlPersistS: num(env.ONEBLK_SSH_CONTROL_PERSIST, "ONEBLK_SSH_CONTROL_PERSIST"),
    controlPath: env.ONEBLK_SSH_CONTROL_PATH || undefined,
    extraArgs: env.ONEBLK_SSH_OPTIONS?.trim() ? env.ONEBLK_SSH_OPTIONS.trim().split(/\s+/) : [],
    defaultTimeoutMs: timeoutS ? timeoutS * 1000 : undefined,
    localHosts: (env.ONEBLK_LOCAL_HOSTS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
  };
}

const HOST_RE = /^[A-Za-z0-9_.:%@\[\]][A-Za-z0-9_.:%@\[\]-]*$/;

/** Throw OneblkError("input") unless `host` is a plain host name (no options, no blanks). */
export function checkHostName(host: string): void {
  if (!HOST_RE.test(host) || host.length > 255) {
    throw new OneblkError("input", `invalid host name ${JSON.stringify(host.slice(0, 80))}`);
  }
}

function checkArgv(argv: readonly string[]): void {
  if (argv.length === 0 || argv[0] === "") throw new OneblkError("internal", "empty command");
}

/** True when the directory of an ssh ControlPath exists (`~/` is taken from $HOME). */
function controlDirUsable(path: string): boolean {
  try {
    let p = path;
    if (p.startsWith("~/")) {
      const home = Deno.env.get("HOME");
      if (!home) return false;
      p = home + p.slice(1);
    }
    if (p.includes("%d") || p.includes("~")) return true; // expanded by ssh itself: trust it
    return isDirectory(dirname(p));
  } catch {
    return false;
  }
}

/** Runs commands over ssh, or locally for this machine. */
export class SshRunner extends ProcessRunner {
  readonly #ssh: string;
  readonly #prefix: string[];
  readonly #local: Set<string>;

  constructor(opts: SshOptions = {}) {
    super(opts.defaultTimeoutMs);
    this.#ssh = opts.ssh || "ssh";
    const controlPath = opts.controlPath || "~/.ssh/oneblk-%C";
    // ssh exits 255 when the socket directory is missing: then run without multiplexing.
    const persist = controlDirUsable(controlPath) ? opts.controlPersistS ?? 60 : 0;
    this.#prefix = [
      "-o",
      "BatchMode=yes",
      "-o",
      `ConnectTimeout=${Math.max(1, Math.round(opts.connectTimeoutS ?? 10))}`,
      "-o",
      "LogLevel=ERROR",
      "-o",
      "ServerAliveInterval=15",
      "-o",
      "ServerAliveCountMax=3",
      ...(persist > 0
        ? [
          "-o",
          "ControlMaster=auto",
          "-o",
          `ControlPath=${controlPath}`,
          "-o",
          `ControlPersist=${Math.round(persist)}`,
        ]
        : []),
      ...(opts.extraArgs ?? []),
    ];
    const names = ["localhost", "127.0.0.1", "::1", ...(opts.localHosts ?? [])];
    try {
      names.push(Deno.hostname());
    } catch {
      // no --allow-sys: only the fixed names count as local
    }
    this.#local = new Set(names.map((n) => n.toLowerCase()));
  }

  /** True when commands for `host` run on this machine without ssh. */
  isLocal(host: string): boolean {
    return this.#local.has(host.toLowerCase());
  }

  /** The local argv that runs `argv` on `host` (ssh invocation, or argv itself when local). */
  commandFor(host: string, argv: readonly string[]): string[] {
    checkHostName(host);
    checkArgv(argv);
    if (this.isLocal(host)) return [...argv];
    return [this.#ssh, ...this.#prefix, "--", host, commandLine(argv)];
  }

  /** The local process of argv on host: ssh, or argv itself for this machine. */
  protected spec(host: string, argv: readonly string[]): ProcessSpec {
    const local = this.isLocal(host);
    const spec: ProcessSpec = { host, argv: this.commandFor(host, argv), label: labelOf(argv) };
    if (!local) {
      spec.classify = (code, tail) =>
        code === 255
          ? new OneblkError(
            "unavailable",
            `host ${host} is not reachable${tail ? `: ${tail}` : ""}`,
          )
          : undefined;
      spec.notFound = () =>
        new OneblkError("config", `ssh binary '${this.#ssh}' not found (set ONEBLK_SSH)`);
    }
    return spec;
  }
}

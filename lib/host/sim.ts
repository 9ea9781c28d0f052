/**
 * SimRunner: the host runner of the simulated mode (env ONEBLK_SIM_ROOT=<root>).
 *
 * Host `X` is the directory `<root>/hosts/X/`; a host without a directory is "unreachable"
 * (OneblkError "unavailable", as ssh failing), also for a command that was running when the
 * directory went away (whatever it answered about the files that vanished with it). Commands
 * really run on this machine, spawned directly (no shell), with cwd `<root>/hosts/X`, after
 * their arguments are mapped:
 *
 *  1. argv[0], the program, is mapped only when the host has that file itself (the stock VMM
 *     scripts `onehost sync` puts under `/var/tmp/one`); otherwise it is this machine's program
 *     (`/usr/bin/dd` stays the real dd).
 *  2. An argument starting with `/` is a path on host X: it becomes `<root>/hosts/X` + the
 *     normalised path (`..` cannot climb out of the host directory).
 *  3. `key=/path` (dd's `if=`/`of=`, `--directory=/path`): the part after `=` is mapped.
 *  4. `-C/path` (a one-letter option glued to an absolute path): the path part is mapped.
 *     (`-C /path` as two arguments is already covered by rule 2.)
 *  5. Not mapped: paths already inside `<root>` (they name the simulated world, e.g. a
 *     simulator's data file), the kernel pseudo-files `/dev/null`, `/dev/zero`, `/dev/full`,
 *     `/dev/random`, `/dev/urandom`, `/dev/stdin`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/…`,
 *     and anything under `/proc/` or `/sys/` — unless the simulated host has that file itself:
 *     a host's kernel state is planted there (`<root>/hosts/X/proc/drbd` is what `/proc/drbd`
 *     reads on X: the DRBD module X has loaded).
 *  6. A program the host lists in `/.oneblk-sim/absent` (one name per line) is not installed
 *     there: running it fails as a missing program does (ProgramMissingError), whatever this
 *     machine has. (Planted by tools/sim/cluster.ts `plant`, e.g. a host without qemu-img.)
 *
 * Consequences: `ln -s /dev/drbd/by-res/r/0 /var/lib/one/datastores/0/7/disk.0` creates a link
 * under host X pointing at host X's (mapped) device path, so reading through it works, and the
 * device path itself is a symlink to the simulator's sparse data file. Text written to stdout
 * and stderr by `run()` is unmapped again (`<root>/hosts/X/a` → `/a`), so `readlink` or
 * `qemu-img info` print host paths like on a real host; `stream()` output is passed through
 * untouched (binary data). Paths inside constant scripts (`sh -c '…'`) are not mapped: only
 * arguments are. Deadlines, stderr capture and okCodes behave as in the ssh runner.
 */
import { basename, isAbsolute, join, normalize, resolve } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { isDirectory } from "../frugal.ts";
import { checkHostName } from "./ssh.ts";
import { labelOf, ProcessRunner, type ProcessSpec, ProgramMissingError } from "./process.ts";

const PASS_THROUGH = new Set([
  "/dev/null",
  "/dev/zero",
  "/dev/full",
  "/dev/random",
  "/dev/urandom",
  "/dev/stdin",
  "/dev/stdout",
  "/dev/stderr",
]);

/** SimRunner settings. */
export interface SimOptions {
  /** Default deadline per command in ms (default 120 000). */
  defaultTimeoutMs?: number;
}

/** True when `path` exists (without following a final symlink). */
function present(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Map one absolute path of a simulated host (rules 2 and 5 of the file header). */
export function simMapPath(root: string, hostDir: string, path: string): string {
  const p = normalize(path);
  if (p === root || p.startsWith(root + "/")) return p;
  if (PASS_THROUGH.has(p) || /^\/dev\/fd(\/|$)/.test(p)) return p;
  if (/^\/(proc|sys)(\/|$)/.test(p)) return present(hostDir + p) ? hostDir + p : p;
  return hostDir + (p === "/" ? "" : p);
}

/** Where a simulated host lists the programs it does not have (rule 6), relative to it. */
export const SIM_ABSENT_FILE = ".oneblk-sim/absent";

/** The programs simulated host directory `hostDir` lists as not installed (rule 6). */
function absentPrograms(hostDir: string): string[] {
  try {
    return Deno.readTextFileSync(join(hostDir, SIM_ABSENT_FILE)).split("\n").map((l) => l.trim())
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Map one argument (rules 2–5 of the file header); argv[0] must not be passed here. */
export function simMapArg(root: string, hostDir: string, arg: string): string {
  if (arg.startsWith("/")) return simMapPath(root, hostDir, arg);
  const kv = /^((?:--?)?[A-Za-z_][A-Za-z0-9_.-]*=)(\/.*)$/s.exec(arg);
  if (kv) return kv[1] + simMapPath(root, hostDir, kv[2]);
  const glued = /^(-[A-Za-z])(\/.*)$/s.exec(arg);
  if (glued) return glued[1] + simMapPath(root, hostDir, glued[2]);
  return arg;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Runs commands against simulated hosts under `<root>/hosts/`. */
export class SimRunner extends ProcessRunner {
  /** Absolute simulation root. */
  readonly root: string;

  constructor(root: string, opts: SimOptions = {}) {
    if (!root) throw new OneblkError("config", "simulation root is empty (ONEBLK_SIM_ROOT)");
    super(opts.defaultTimeoutMs);
    this.root = normalize(resolve(root)).replace(/\/+$/, "") || "/";
  }

  /** Directory holding host X's filesystem (`<root>/hosts/X`). */
  hostDir(host: string): string {
    checkHostName(host);
    if (host === "." || host === ".." || host.includes("/")) {
      throw new OneblkError("input", `invalid host name ${JSON.stringify(host)}`);
    }
    return join(this.root, "hosts", host);
  }

  /** The real path of `path` on host X (what a command on X would touch). */
  mapPath(host: string, path: string): string {
    if (!isAbsolute(path)) throw new OneblkError("internal", `not an absolute path: ${path}`);
    return simMapPath(this.root, this.hostDir(host), path);
  }

  /** The local argv a command on host X becomes (rule 1 for argv[0], rules 2–5 for the rest). */
  commandFor(host: string, argv: readonly string[]): string[] {
    if (argv.length === 0 || argv[0] === "") throw new OneblkError("internal", "empty command");
    const dir = this.hostDir(host);
    let prog = argv[0];
    if (prog.startsWith("/")) {
      const own = simMapPath(this.root, dir, prog);
      try {
        if (own !== prog && Deno.statSync(own).isFile) prog = own;
      } catch {
        // not on the host: this machine's program
      }
    }
    return [prog, ...argv.slice(1).map((a) => simMapArg(this.root, dir, a))];
  }

  /** The local process of argv on simulated host X (paths mapped, cwd in its directory). */
  protected spec(host: string, argv: readonly string[]): ProcessSpec {
    const dir = this.hostDir(host);
    if (!isDirectory(dir)) throw new OneblkError("unavailable", `host ${host} is not reachable`);
    if (absentPrograms(dir).includes(basename(argv[0]))) {
      throw new ProgramMissingError(argv[0], host);
    }
    const re = new RegExp(escapeRe(dir) + "(?:/|(?![A-Za-z0-9_.-]))", "g");
    return {
      host,
      argv: this.commandFor(host, argv),
      label: labelOf(argv),
      cwd: dir,
      unmap: (text) => text.includes(dir) ? text.replace(re, "/") : text,
      // A host that went away while the command ran answered nothing (ssh: exit 255), even when
      // the command, still running here, said "no such file" about what vanished with it.
      lost: (tail) =>
        isDirectory(dir) ? undefined : new OneblkError(
          "unavailable",
          `host ${host} is not reachable (it went away while ${labelOf(argv)} ran)` +
            (tail ? `: ${tail}` : ""),
        ),
    };
  }
}

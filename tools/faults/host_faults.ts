/**
 * Faults at the host steps of an action ("ssh steps"): every command an action runs on a host
 * through its host runner.
 *
 * The simulated host runner (lib/host/sim.ts) starts the program named by argv[0] through PATH,
 * with the host's directory as working directory, like ssh runs it on the host. A directory of
 * shims put first in the actions' PATH wraps each program the actions use: a shim started
 * directly by an action process (its parent is a `deno` process other than the harness) is one
 * host step and is counted; anything else (a command inside `sh -c`, the launcher's own
 * commands) runs the real program untouched. The simulated virsh (ONEBLK_VIRSH) is wrapped the
 * same way in place.
 *
 * Modes (HOST_FAULT_MODES), at the k-th step counted since arm():
 *  - `fail`  the command does not run and exits 1 with one line on stderr;
 *  - `down`  the host becomes unreachable: its directory is moved away (the simulated runner
 *            then reports every later command there as "host not reachable") and the command
 *            exits 255 like ssh; revive() brings the host back with its files.
 */
import { basename, join } from "node:path";

/** The host fault modes. */
export const HOST_FAULT_MODES = ["fail", "down"] as const;
/** A host fault mode (see the module doc). */
export type HostFaultMode = typeof HOST_FAULT_MODES[number];

/** Programs the actions run on hosts (those found on this machine get a shim). */
export const HOST_PROGRAMS = [
  "sh",
  "dd",
  "ln",
  "rm",
  "rmdir",
  "mkdir",
  "mv",
  "cp",
  "cat",
  "tar",
  "test",
  "stat",
  "readlink",
  "realpath",
  "truncate",
  "touch",
  "chmod",
  "qemu-img",
  "qemu-io",
  "mkfs",
  "mkfs.ext2",
  "mkfs.ext3",
  "mkfs.ext4",
  "mkfs.xfs",
  "mkfs.btrfs",
  "mkfs.vfat",
  "mkswap",
  "genisoimage",
  "mkisofs",
  "xorrisofs",
  "blkid",
  "blockdev",
  "md5sum",
  "sha1sum",
  "sha256sum",
  "sync",
  "find",
  "ls",
  "wipefs",
  "timeout",
  "du",
  "df",
  "head",
  "tail",
  "file",
] as const;

/** One counted host step. */
export interface HostStep {
  /** 1-based position since arm(). */
  n: number;
  /** Host name (or the working directory when it is not a simulated host). */
  host: string;
  program: string;
}

function which(prog: string, path: string): string | undefined {
  for (const dir of path.split(":")) {
    if (!dir) continue;
    const p = join(dir, prog);
    try {
      const st = Deno.statSync(p);
      if (st.isFile && (st.mode ?? 0o111) & 0o111) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

function q(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The shims of one simulated cloud (see the module doc). */
export class HostFaults {
  /** Directory of the shims (put it first in the actions' PATH). */
  readonly binDir: string;
  readonly #ctl: string;
  readonly #hostsRoot: string;
  readonly #graves: string;
  /** Absolute paths of the helpers the shims use (never the shims themselves). */
  #tools: Record<"flock" | "sh" | "cat" | "mv", string> = {
    flock: "/usr/bin/flock",
    sh: "/bin/sh",
    cat: "/bin/cat",
    mv: "/bin/mv",
  };

  private constructor(root: string, hostsRoot: string) {
    this.binDir = join(root, "faults", "bin");
    this.#ctl = join(root, "faults", "host");
    this.#graves = join(root, "faults");
    this.#hostsRoot = hostsRoot;
  }

  /**
   * Write the shims under `<root>/faults/` for the programs found in `path`, and wrap the
   * programs in `wrap` (absolute paths, e.g. the simulated virsh) in place.
   */
  static async install(
    root: string,
    hostsRoot: string,
    path: string,
    wrap: string[] = [],
  ): Promise<HostFaults> {
    const f = new HostFaults(root, hostsRoot);
    await Deno.mkdir(f.binDir, { recursive: true });
    await Deno.mkdir(f.#ctl, { recursive: true });
    await Deno.writeTextFile(join(f.#ctl, "count"), "0\n");
    for (const t of ["flock", "sh", "cat", "mv"] as const) {
      const p = which(t, path);
      if (!p) throw new Error(`host faults: ${t} not found in PATH`);
      f.#tools[t] = p;
    }
    for (const prog of HOST_PROGRAMS) {
      const real = which(prog, path);
      if (real) await f.#writeShim(join(f.binDir, prog), prog, real);
    }
    for (const p of wrap) {
      const real = `${p}.real`;
      await Deno.rename(p, real);
      await f.#writeShim(p, basename(p), real);
    }
    return f;
  }

  async #writeShim(at: string, prog: string, real: string): Promise<void> {
    const ctl = q(this.#ctl);
    const hosts = q(this.#hostsRoot);
    const t = this.#tools;
    const script = `#!${t.sh}
# oneblk host-step fault shim for ${prog} (tools/faults/host_faults.ts)
c=${ctl}
comm=
[ -f "$c/armed" ] && [ "$PPID" != ${q(String(Deno.pid))} ] && read -r comm < "/proc/$PPID/comm"
if [ "$comm" = deno ]; then
  n=$(${q(t.flock)} "$c/lock" ${
      q(t.sh)
    } -c 'n=$(( $(${t.cat} "$1/count") + 1 )); echo $n > "$1/count"; echo $n' - "$c")
  printf '%s\\t%s\\t%s\\n' "$n" "$PWD" ${q(prog)} >> "$c/log"
  read -r k mode < "$c/armed"
  if [ "$n" = "$k" ]; then
    case "$mode" in
      fail)
        echo ${q(`${prog}: simulated failure (fault injection)`)} >&2
        exit 1 ;;
      down)
        h=\${PWD#${hosts}/}; h=\${h%%/*}
        if [ "$PWD" != "\${PWD#${hosts}/}" ] && [ -n "$h" ]; then
          ${q(t.mv)} ${hosts}/"$h" ${q(this.#graves)}/down-"$h" && echo "$h" >> "$c/down"
        fi
        echo "ssh: connect to host $h port 22: Connection refused" >&2
        exit 255 ;;
    esac
  fi
fi
exec ${q(real)} "$@"
`;
    await Deno.writeTextFile(at, script, { mode: 0o755 });
  }

  /** Start counting host steps (from 1) and arm a fault at step `k` (none: count only). */
  async arm(fault?: { k: number; mode: HostFaultMode }): Promise<void> {
    await Deno.writeTextFile(join(this.#ctl, "count"), "0\n");
    await Deno.writeTextFile(join(this.#ctl, "log"), "");
    await Deno.writeTextFile(
      join(this.#ctl, "armed"),
      fault ? `${fault.k} ${fault.mode}\n` : "0 none\n",
    );
  }

  /** Stop counting; returns the steps seen since arm(). */
  async disarm(): Promise<HostStep[]> {
    await Deno.remove(join(this.#ctl, "armed")).catch(() => {});
    let text = "";
    try {
      text = await Deno.readTextFile(join(this.#ctl, "log"));
    } catch { /* nothing ran */ }
    const prefix = this.#hostsRoot + "/";
    return text.split("\n").filter(Boolean).map((l) => {
      const [n, cwd, program] = l.split("\t");
      const host = cwd.startsWith(prefix) ? cwd.slice(prefix.length).split("/")[0] : cwd;
      return { n: Number(n), host, program };
    }).sort((a, b) => a.n - b.n);
  }

  /** Bring back every host a `down` fault took away (files made there meanwhile are kept). */
  async revive(): Promise<string[]> {
    let names: string[] = [];
    try {
      names = (await Deno.readTextFile(join(this.#ctl, "down"))).split("\n").filter(Boolean);
    } catch {
      return [];
    }
    for (const h of names) {
      const grave = join(this.#graves, `down-${h}`);
      const dir = join(this.#hostsRoot, h);
      try {
        await Deno.lstat(dir);
        // Something (a store simulator linking a device) recreated the directory: merge.
        await mergeInto(dir, grave);
        await Deno.remove(dir, { recursive: true });
      } catch { /* not recreated */ }
      await Deno.rename(grave, dir);
    }
    await Deno.remove(join(this.#ctl, "down")).catch(() => {});
    return names;
  }
}

async function mergeInto(src: string, dst: string): Promise<void> {
  await Deno.mkdir(dst, { recursive: true });
  for await (const e of Deno.readDir(src)) {
    const s = join(src, e.name);
    const d = join(dst, e.name);
    if (e.isDirectory) await mergeInto(s, d);
    else {
      await Deno.remove(d).catch(() => {});
      await Deno.rename(s, d);
    }
  }
}

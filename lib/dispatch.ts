/**
 * argv[0] dispatch: turn the invoked path (symlinks not resolved) into kind/driver/action.
 *
 *   …/datastore/<driver>/<action>         → datastore action
 *   …/tm/<driver>/<action>[.<system_tm>]  → TM action (".ssh" style suffix: docs/contract.md
 *                                            "How oned runs a driver program")
 *   …/vmm/kvm/<override>                  → VMM override (save_linstor_un, tmsave, …)
 *
 * The invoked path is read without Node's `process` (invokedPath below): how deno was started
 * must not change which action runs.
 */

/** The three kinds of driver programs oned runs. */
export type Kind = "datastore" | "tm" | "vmm";

/** The kinds, in display order. */
export const KINDS: readonly Kind[] = ["datastore", "tm", "vmm"];

/** A resolved call: what to run and with which arguments. */
export interface Invocation {
  kind: Kind;
  /** Driver directory name (= compatibility profile), e.g. "linstor_un"; "kvm" for vmm. */
  driver: string;
  /** Action file name as invoked, e.g. "clone.ssh", "save_linstor_un". */
  name: string;
  /** Action without the system-TM suffix, e.g. "clone". */
  action: string;
  /** System TM suffix of `<action>.<system_tm>` names, e.g. "ssh"; "" when none. */
  systemTm: string;
  /** Arguments after the program name. */
  args: string[];
  /** The invoked path, when the call was dispatched by it (absent for `oneblk run`). */
  path?: string;
}

/** True when s is one of the three kinds. */
export function isKind(s: string): s is Kind {
  return (KINDS as readonly string[]).includes(s);
}

/** Build an Invocation from explicit parts (used by `oneblk run` and by symlink dispatch). */
export function invocation(kind: Kind, driver: string, name: string, args: string[]): Invocation {
  let action = name;
  let systemTm = "";
  if (kind === "tm") {
    const dot = name.indexOf(".");
    if (dot > 0) {
      action = name.slice(0, dot);
      systemTm = name.slice(dot + 1);
    }
  }
  return { kind, driver, name, action, systemTm, args };
}

/**
 * Resolve the invoked path. Returns null when the path is not inside a remotes tree
 * (then the program runs as the `oneblk` command line tool).
 */
export function fromInvokedPath(argv0: string, args: string[]): Invocation | null {
  const parts = argv0.split("/").filter((p) => p !== "");
  const [kind, driver, name] = parts.slice(-3);
  if (parts.length < 3 || !name || !driver || !isKind(kind)) return null;
  return { ...invocation(kind, driver, name, args), path: argv0 };
}

let invoked: string | undefined;

/**
 * The path this program was invoked as (argv[0], symlinks not resolved): the launcher's
 * ONEBLK_ARGV0 when set (it knows the name even when deno itself is started through a wrapper
 * that loses argv[0], such as npm's Node shim), else the first field of /proc/self/cmdline
 * (what the kernel was given: a symlink's path for the compiled binary), else "oneblk".
 * ONEBLK_ARGV0 is removed from the environment once read, so programs this one starts never
 * inherit a name that is not theirs.
 */
export function invokedPath(): string {
  if (invoked !== undefined) return invoked;
  const fromLauncher = Deno.env.get("ONEBLK_ARGV0");
  if (fromLauncher) {
    Deno.env.delete("ONEBLK_ARGV0");
    return invoked = fromLauncher;
  }
  try {
    const raw = Deno.readFileSync("/proc/self/cmdline");
    const end = raw.indexOf(0);
    invoked = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end)) || "oneblk";
  } catch {
    invoked = "oneblk";
  }
  return invoked;
}

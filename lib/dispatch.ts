/**
 * argv[0] dispatch: turn the invoked path (symlinks not resolved) into kind/driver/action.
 *
 *   …/datastore/<driver>/<action>         → datastore action
 *   …/tm/<driver>/<action>[.<system_tm>]  → TM action (".ssh" style suffix: docs/contract.md
 *                                            "How oned runs a driver program")
 *   …/vmm/kvm/<override>                  → VMM override (save_linstor_un, tmsave, …)
 */
import { basename, dirname } from "node:path";

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
  const name = basename(argv0);
  const driver = basename(dirname(argv0));
  const kind = basename(dirname(dirname(argv0)));
  if (!name || !driver || !isKind(kind)) return null;
  return invocation(kind, driver, name, args);
}

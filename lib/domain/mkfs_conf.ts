/**
 * How filesystems are made on new images and volatile disks (datastore mkfs, tm mkimage),
 * configured where OpenNebula keeps it: the shell variables of `$R/etc/datastore/datastore.conf`
 * (remotes.ts), which the stock mkfs and mkimage scripts source.
 *
 * - `SUPPORTED_FS` (comma list; OpenNebula ships `ext2,ext3,ext4,xfs`): a filesystem must be in
 *   it, else "Unsupported file system type: <fs>. Supported types are: <list>", as the stock
 *   scripts say. Without the file or the variable, oneblk's own list applies (BUILT_IN_FS).
 *   Swap space is not a filesystem here and is always allowed.
 * - `FS_OPTS_<fs>` (the FS name exactly as given, e.g. `FS_OPTS_ext4="-b 4096"`): extra mkfs
 *   options, split on blanks as the stock scripts' unquoted expansion does, passed as argv.
 */
import { OneblkError } from "../errors.ts";
import { readDatastoreConf } from "./remotes.ts";

/** Filesystems made when datastore.conf sets no SUPPORTED_FS. */
const BUILT_IN_FS = ["ext2", "ext3", "ext4", "xfs", "btrfs", "vfat"];

/** A filesystem name oneblk turns into a `mkfs.<fs>` program name. */
const FS_NAME_RE = /^[a-z0-9_]{1,32}$/;

/** The datastore.conf variables that matter for mkfs. */
export interface MkfsConf {
  /** SUPPORTED_FS, or null when not set. */
  supported: string[] | null;
  /** All variables of the file (FS_OPTS_<fs> among them). */
  vars: Record<string, string>;
}

/** Read datastore.conf under `remotes`; a missing file sets nothing. */
export async function readMkfsConf(remotes: string): Promise<MkfsConf> {
  const vars = await readDatastoreConf(remotes);
  const list = vars.SUPPORTED_FS?.split(",").map((f) => f.trim()).filter(Boolean);
  return { supported: list?.length ? list : null, vars };
}

/**
 * The extra mkfs arguments for filesystem `fs` (lower case, as the image or disk names it),
 * after checking it is supported; [] for swap. OneblkError("input") when it is not.
 */
export function mkfsExtraArgs(conf: MkfsConf, fs: string): string[] {
  if (fs === "swap") return [];
  const supported = conf.supported ?? BUILT_IN_FS;
  if (!FS_NAME_RE.test(fs) || !supported.includes(fs)) {
    throw new OneblkError(
      "input",
      `Unsupported file system type: ${fs}. Supported types are: ${supported.join(",")}`,
    );
  }
  return (conf.vars[`FS_OPTS_${fs}`] ?? "").split(/\s+/).filter(Boolean);
}

/** readMkfsConf + mkfsExtraArgs. */
export async function mkfsArgsFor(remotes: string, fs: string): Promise<string[]> {
  return mkfsExtraArgs(await readMkfsConf(remotes), fs);
}

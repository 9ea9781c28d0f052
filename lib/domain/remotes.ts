/**
 * The driver-global settings OpenNebula keeps in the remotes dir: `$R/etc/datastore/datastore.conf`
 * (shell `KEY="value"` lines the stock datastore and TM drivers source; read here without a
 * shell, lib/one/shell_rc.ts). Its readers: mkfs and mkimage (SUPPORTED_FS, FS_OPTS_<fs>,
 * mkfs_conf.ts) and backups (BACKUP_BASE_PATH, backup.ts; docs/contract.md "tm backups").
 */
import { join } from "../path.ts";
import { OneblkError } from "../errors.ts";
import { parseShellRc } from "../one/shell_rc.ts";

/** Path of datastore.conf under remotes dir `remotes`. */
export function datastoreConfPath(remotes: string): string {
  return join(remotes, "etc", "datastore", "datastore.conf");
}

/** The variables of datastore.conf under `remotes` ({} when the file does not exist). */
export async function readDatastoreConf(remotes: string): Promise<Record<string, string>> {
  const path = datastoreConfPath(remotes);
  try {
    return parseShellRc(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new OneblkError("config", `cannot read ${path}: ${(e as Error).message}`);
  }
}

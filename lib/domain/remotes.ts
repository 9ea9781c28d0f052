/**
 * The driver-global settings OpenNebula keeps in the remotes dir (`ctx.remotes`):
 * `$R/etc/datastore/datastore.conf` (shell `KEY="value"` lines, read by the stock datastore and
 * TM drivers; docs/contract.md "tm backups" for BACKUP_BASE_PATH).
 */
import { join } from "node:path";
import type { ActionContext } from "../context.ts";
import { OneblkError } from "../errors.ts";

/**
 * Parse a shell-style settings file the way OpenNebula's drivers read datastore.conf: lines
 * `[export] KEY=value` with the value optionally in double or single quotes; comments and
 * anything else are skipped. Later lines win.
 */
export function parseShellSettings(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    let v = m[2].trim();
    const q = /^"([^"]*)"\s*(#.*)?$/.exec(v) ?? /^'([^']*)'\s*(#.*)?$/.exec(v);
    if (q) v = q[1];
    else v = v.replace(/\s+#.*$/, "");
    out[m[1]] = v;
  }
  return out;
}

/** `$R/etc/datastore/datastore.conf` as settings ({} when the file does not exist). */
export async function datastoreConf(ctx: ActionContext): Promise<Record<string, string>> {
  const file = join(ctx.remotes, "etc", "datastore", "datastore.conf");
  try {
    return parseShellSettings(await Deno.readTextFile(file));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new OneblkError("config", `cannot read ${file}: ${(e as Error).message}`);
  }
}

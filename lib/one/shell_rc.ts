/**
 * Shell variable files read without a shell: the add-ons' rc files (addon-storpoolrc) and
 * OpenNebula's driver configuration (`$R/etc/datastore/datastore.conf`). Only plain
 * assignments are understood; nothing is ever executed or expanded.
 */

/**
 * Parse shell-style rc text: `KEY=value`, `export KEY=value`, quoted values, `#` comments.
 * Lines with command substitution, expansions or escapes (`$`, backquote, backslash) are
 * skipped.
 */
export function parseShellRc(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    let val = m[2].trim();
    if (val.startsWith('"') || val.startsWith("'")) {
      const q = val[0];
      const end = val.indexOf(q, 1);
      if (end < 0) continue;
      val = val.slice(1, end);
      if (q === '"' && /[$`\\]/.test(val)) continue;
    } else {
      val = val.replace(/\s+#.*$/, "");
      if (/[$`;|&<>(){}\s]/.test(val)) continue;
    }
    out[m[1]] = val;
  }
  return out;
}

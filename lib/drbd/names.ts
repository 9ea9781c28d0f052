/**
 * LINSTOR's rules for resource names, which are stricter than DRBD's (DRBD also accepts `.`
 * and `+`, a leading digit, and any length): a hand-made DRBD resource may need a new name
 * before LINSTOR takes it over.
 *
 * LINSTOR's rules: 2 to 48 bytes; only ASCII letters, digits, `_` and `-`; the first character
 * a letter or `_`; at least one letter; not `all` or `proxy` (any case), which DRBD reserves.
 * LINSTOR compares names without regard to case.
 */

/** Shortest LINSTOR resource name. */
export const LINSTOR_NAME_MIN = 2;
/** Longest LINSTOR resource name (in bytes, which are characters once the name is valid). */
export const LINSTOR_NAME_MAX = 48;
const RESERVED = ["all", "proxy"];
const RENAME_PREFIX = "res_";

/**
 * Why LINSTOR refuses `name` as a resource name, as one line, or null when it accepts it.
 */
export function linstorResourceNameProblem(name: string): string | null {
  const bytes = new TextEncoder().encode(name).length;
  const q = JSON.stringify(name);
  if (RESERVED.includes(name.toLowerCase())) {
    return `${q} is a name DRBD reserves (${RESERVED.join(", ")})`;
  }
  if (bytes < LINSTOR_NAME_MIN) return `${q} is shorter than ${LINSTOR_NAME_MIN} characters`;
  if (bytes > LINSTOR_NAME_MAX) {
    return `${q} is longer than ${LINSTOR_NAME_MAX} characters (${bytes} bytes)`;
  }
  if (!/[A-Za-z]/.test(name)) return `${q} has no letter (A-Z, a-z)`;
  if (!/^[A-Za-z_]/.test(name)) return `${q} does not begin with a letter or "_"`;
  const badChar = name.match(/[^A-Za-z0-9_-]/u);
  if (badChar) {
    return `${q} contains ${JSON.stringify(badChar[0])} (only letters, digits, "_" and "-")`;
  }
  return null;
}

/** True when LINSTOR treats `a` and `b` as the same resource name (it ignores case). */
export function sameLinstorName(a: string, b: string): boolean {
  return a.toUpperCase() === b.toUpperCase();
}

/**
 * A name LINSTOR accepts, as close to `name` as possible: `name` itself when it is valid;
 * otherwise every other character becomes `_`, `res_` goes in front of a name that is reserved,
 * too short, or does not begin with a letter or `_` or has no letter, and the result is cut
 * to 48 characters. `taken` names (compared without case) are avoided with a `_2`, `_3`, …
 * suffix.
 */
export function proposeLinstorResourceName(name: string, taken: Iterable<string> = []): string {
  const used = new Set([...taken].map((t) => t.toUpperCase()));
  let base = name;
  if (linstorResourceNameProblem(base) !== null) {
    base = [...name].map((c) => (/[A-Za-z0-9_-]/.test(c) ? c : "_")).join("");
    if (
      RESERVED.includes(base.toLowerCase()) || base.length < LINSTOR_NAME_MIN ||
      !/^[A-Za-z_]/.test(base) || !/[A-Za-z]/.test(base)
    ) {
      base = RENAME_PREFIX + base;
    }
    base = base.slice(0, LINSTOR_NAME_MAX);
  }
  if (!used.has(base.toUpperCase())) return base;
  for (let n = 2;; n++) {
    const suffix = `_${n}`;
    const candidate = base.slice(0, LINSTOR_NAME_MAX - suffix.length) + suffix;
    if (!used.has(candidate.toUpperCase())) return candidate;
  }
}

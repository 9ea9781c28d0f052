/**
 * Name ordering without the runtime's collator: `localeCompare` loads ICU's collation data,
 * about 3.5 MiB of every process that calls it once (measured), for names that are plain ASCII.
 */

/** Code-point order of two strings (-1, 0, 1). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Natural order: runs of digits compare by their value ("snap-2" before "snap-10"), the rest in
 * code-point order; equal by that, the shorter digit run (fewer leading zeros) first.
 */
export function compareNatural(a: string, b: string): number {
  const ta = a.match(/\d+|\D+/g) ?? [];
  const tb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i], y = tb[i];
    const dx = x.charCodeAt(0) <= 57 && x.charCodeAt(0) >= 48;
    const dy = y.charCodeAt(0) <= 57 && y.charCodeAt(0) >= 48;
    if (dx && dy) {
      const nx = x.replace(/^0+(?=\d)/, ""), ny = y.replace(/^0+(?=\d)/, "");
      if (nx.length !== ny.length) return nx.length < ny.length ? -1 : 1;
      const c = compareText(nx, ny);
      if (c) return c;
      if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    } else {
      const c = compareText(x, y);
      if (c) return c;
    }
  }
  return ta.length - tb.length < 0 ? -1 : ta.length > tb.length ? 1 : 0;
}

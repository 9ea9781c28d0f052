/**
 * Snapshot limits (DISKSNAPSHOT_LIMIT and VMSNAPSHOT_LIMIT, from addon-storpool:
 * lib/addons/storpool.ts), for every profile: the first source that sets the attribute wins
 * (VM USER_TEMPLATE, then datastore templates, then the driver environment / rc); empty
 * everywhere = no limit.
 */
import { OneblkError } from "../errors.ts";

/** A place a limit may be set, in precedence order. */
export interface LimitSource {
  /** Names the source in messages ("VM 7 USER_TEMPLATE", "datastore 111"). */
  label: string;
  get(name: string): string;
}

/** A resolved limit and where it came from. */
export interface SnapshotLimit {
  value: number;
  from: string;
}

/**
 * The limit `name` from the first source that sets it (sources may be lazy: a function is
 * called only when every earlier source is unset), else env[name]; null when none sets it.
 * A value that is not a non-negative integer is an input error naming its source.
 */
export async function snapshotLimit(
  name: string,
  sources: (LimitSource | (() => Promise<LimitSource | null>))[],
  env: Record<string, string>,
): Promise<SnapshotLimit | null> {
  const all = [...sources, { label: "the driver environment", get: (n: string) => env[n] ?? "" }];
  for (const s of all) {
    const src = typeof s === "function" ? await s() : s;
    if (!src) continue;
    const v = src.get(name).trim();
    if (!v) continue;
    if (!/^\d+$/.test(v)) {
      throw new OneblkError(
        "input",
        `${name} in ${src.label} must be a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
    return { value: Number(v), from: src.label };
  }
  return null;
}

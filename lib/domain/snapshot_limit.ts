/**
 * Snapshot limits (DISKSNAPSHOT_LIMIT and VMSNAPSHOT_LIMIT, from addon-storpool:
 * lib/addons/storpool.ts), for every profile: the first source that sets the attribute wins
 * (VM USER_TEMPLATE, then datastore templates, then the profile's setting: the driver
 * environment, else the add-on's rc files); empty everywhere = no limit.
 */
import { OneblkError } from "../errors.ts";
import type { Setting } from "../addons/types.ts";

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
 * called only when every earlier source is unset), else `setting(name)` (the profile's
 * process-wide setting); null when none sets it.
 * A value that is not a non-negative integer is an input error naming its source.
 */
export async function snapshotLimit(
  name: string,
  sources: (LimitSource | (() => Promise<LimitSource | null>))[],
  setting: (name: string) => Setting | null,
): Promise<SnapshotLimit | null> {
  const last = () => {
    const s = setting(name);
    return Promise.resolve(s ? { label: s.from, get: () => s.value } : null);
  };
  for (const s of [...sources, last]) {
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

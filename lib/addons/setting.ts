/**
 * Process-wide profile settings (Profile.setting): what every profile reads from the
 * environment; the storpool profile adds the add-on's rc files (lib/addons/storpool.ts).
 */

/** A process-wide setting of a profile and where it came from (for messages). */
export interface Setting {
  value: string;
  /** "the driver environment", or the add-on's rc files. */
  from: string;
}

/** `name` from the environment (trimmed; "" counts as unset), else null. */
export function envSetting(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): Setting | null {
  const value = (env[name] ?? "").trim();
  return value ? { value, from: "the driver environment" } : null;
}

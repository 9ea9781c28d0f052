/**
 * The add-on registry: every drop-in add-on oneblk answers for (lib/addons/list.ts, one line
 * each: a new add-on is one file beside these, an AddOn of lib/addons/types.ts, and one line
 * there); the driver list, the profiles and the VMM override names everywhere else are derived
 * from here.
 */
import { OneblkError } from "../errors.ts";
import { ADDON_LIST } from "./list.ts";
import type { AddOn, Profile } from "./types.ts";

export type { AddOn, Attrs, DiskFacts, Profile } from "./types.ts";

/** Every add-on, in display order (a driver's own program of the bundle: that one only). */
export const ADDONS: readonly AddOn[] = ADDON_LIST;

/** Every driver name oneblk answers to. */
export const DRIVERS: readonly string[] = ADDONS.map((a) => a.driver);

/** True when `driver` is one of ours. */
export function isDriver(driver: string): boolean {
  return DRIVERS.includes(driver);
}

/** The add-on of a driver name; throws a usage error naming the known ones. */
export function addOn(driver: string): AddOn {
  const a = ADDONS.find((x) => x.driver === driver);
  if (!a) {
    throw new OneblkError("usage", `unknown driver '${driver}' (known: ${DRIVERS.join(", ")})`);
  }
  return a;
}

/**
 * The profile of a driver name in this environment; throws a usage error for others. `rc`: the
 * add-on's rc values instead of its rc files (tests).
 */
export function profileFor(
  driver: string,
  env: Record<string, string | undefined>,
  rc?: Readonly<Record<string, string>>,
): Profile {
  return addOn(driver).profile(env, rc);
}

/**
 * VMM override file names under vmm/kvm/ → the add-on (driver) and VM_MAD action they serve,
 * for every add-on (whether oneblk implements the action is the action registry's business).
 */
export const VMM_OVERRIDES: Readonly<Record<string, { driver: string; action: string }>> = Object
  .fromEntries(
    ADDONS.flatMap((a) =>
      Object.entries(a.vmmOverrides).map(([action, file]) => [file, { driver: a.driver, action }])
    ),
  );

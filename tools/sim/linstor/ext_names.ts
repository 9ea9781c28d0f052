/**
 * Resource names made from external names, as the controller makes them
 * (CtrlRscDfnApiCallHandler.createRscDfn, ExternalNameConverter): a definition created with an
 * empty name and an `external_name` (LINBIT's `linstor.Resource` creates its definitions so)
 * gets a LINSTOR name derived from the external one, which is kept beside it.
 */
import { CODE } from "../../../lib/backend/linstor/api_call_rc.ts";
import { fail } from "./replies.ts";
import { isLinstorName } from "./model.ts";

/** FAIL_EXISTS_EXT_NAME (517): another definition has this external name. */
const FAIL_EXISTS_EXT_NAME = 517;
/** FAIL_MISSING_EXT_NAME (606): no name and no external name to make one from. */
const FAIL_MISSING_EXT_NAME = 606;

/** The longest resource name, in bytes (ResourceName.MAX_LENGTH). */
const MAX_NAME = 48;
/** The longest external name a name is made from, in bytes. */
const MAX_INPUT = 256;

const isAlpha = (b: number) => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
/** Punctuation that becomes `_` (a difference that rarely tells two names apart). */
const REPLACED = new Set(new TextEncoder().encode(" !@#$%^&*()+=[]{}:;\"'<>?,./~"));

/** A UUID in Java's lenient text form (1-8, 1-4, 1-4, 1-4, 1-12 hex digits), canonical, upper case. */
function uuidText(s: string): string | null {
  const m = /^([0-9a-f]{1,8})-([0-9a-f]{1,4})-([0-9a-f]{1,4})-([0-9a-f]{1,4})-([0-9a-f]{1,12})$/i
    .exec(s);
  if (!m || s.length > 36) return null;
  const widths = [8, 4, 4, 4, 12];
  return m.slice(1).map((g, i) => g.padStart(widths[i], "0")).join("-").toUpperCase();
}

/** Every byte made valid: kept, `_` for common punctuation, else a letter from its value. */
function translated(input: Uint8Array): string {
  const out = input.slice(0, MAX_NAME).map((b, i) => {
    if (isAlpha(b) || b === 0x5f || (i > 0 && (isDigit(b) || b === 0x2d))) return b;
    if (REPLACED.has(b)) return 0x5f;
    const v = Math.abs(((b << 24) >> 24) % 52); // the byte as Java's signed byte
    return v < 26 ? 0x41 + v : 0x61 + v - 26;
  });
  return new TextDecoder().decode(out);
}

/**
 * The resource name for a new definition asked as `name` with external name `ext`
 * (undefined: none given), and the external name it keeps. A name given stays (its external
 * name must be unique); an empty one is made from the external name: `LS_` + the UUID it is, or
 * the external name itself (its first 48 bytes) when valid, or those bytes translated into valid
 * ones; `LS_` + a random UUID when none of these is valid or free (`taken`), or when the external
 * name is empty (which is then not kept).
 */
export function nameFromExternal(
  name: string,
  ext: string | undefined,
  taken: (name: string) => boolean,
  extTaken: (ext: string) => boolean,
): { name: string; ext?: string } {
  if (ext !== undefined && ext !== "" && extTaken(ext)) {
    fail(FAIL_EXISTS_EXT_NAME, "The specified external name is already registered");
  }
  if (name !== "") return { name, ...(ext !== undefined ? { ext } : {}) };
  if (ext === undefined) {
    fail(
      FAIL_MISSING_EXT_NAME,
      "The resource name generation for the creation of a new resource definition failed",
    );
  }
  const bytes = new TextEncoder().encode(ext);
  if (bytes.length > MAX_INPUT) {
    fail(
      CODE.FAIL_INVLD_RSC_NAME,
      `Resource name generation failed, data input length of ${bytes.length} bytes exceeds ` +
        `maximum length of ${MAX_INPUT} bytes`,
    );
  }
  let made: string | null = null;
  if (bytes.length) {
    const trunc = new TextDecoder().decode(bytes.slice(0, MAX_NAME));
    const asUuid = uuidText(trunc);
    made = asUuid ? `LS_${asUuid}` : isLinstorName(trunc) ? trunc : translated(bytes);
    if (!isLinstorName(made)) made = null;
  }
  if (made === null || taken(made)) made = `LS_${crypto.randomUUID()}`;
  return { name: made, ...(ext !== "" ? { ext } : {}) };
}

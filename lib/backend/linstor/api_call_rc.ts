/**
 * LINSTOR ApiCallRc handling: the 64-bit `ret_code` bit layout, a lossless JSON parser, and
 * classification helpers.
 *
 * LINSTOR sends `ret_code` as a signed 64-bit decimal. `JSON.parse` turns it into a double and
 * destroys the low bits, i.e. the 15-bit code that tells "not found" from "exists" from "in use".
 * {@link parseJsonLossless} reads the source text of every `ret_code` (V8 passes it to the
 * reviver as `context.source`) and keeps it exact: as that text (the driver) or as a BigInt
 * (the simulator and the tests, which build codes from the masks below).
 *
 * The driver never computes with BigInt: the classification reads the two 32-bit halves of the
 * value from its decimal text. A process's first BigInt operations map about 0.4 MiB more of
 * the runtime's code (measured in a script on top of the actions' usual calls), which every
 * LINSTOR action that changes something would pay for a few bit tests.
 *
 * Bit layout (linstor-common consts.json): bits 62-63 message type, bits 24-25 operation,
 * bits 18-22 object, bits 0-14 code.
 */

/** Message type mask: error (both top bits). */
export const MASK_ERROR = 0xC000000000000000n;
/** Message type mask: warning. */
export const MASK_WARN = 0x8000000000000000n;
/** Message type mask: info. */
export const MASK_INFO = 0x4000000000000000n;
/** Operation bits (the simulator's; the driver reads the fields through LOW_BITS). */
export const MASK_BITS_OP = 0x0000000003000000n;
/** Object bits (the simulator's; the driver reads the fields through LOW_BITS). */
export const MASK_BITS_OBJ = 0x00000000007C0000n;

/**
 * The fields below the type, all in the value's low 32 bits, as numbers (the driver reads them
 * without BigInt); the type is the high word's top two bits.
 */
const LOW_BITS = { code: 0x7FFF, obj: 0x7C0000 } as const;

/** Operation masks. */
export const MASK_CRT = 0x1000000n;
/** Operation mask: modify. */
export const MASK_MOD = 0x2000000n;
/** Operation mask: delete. */
export const MASK_DEL = 0x3000000n;

/** Object masks used by the backend and the simulator. */
export const OBJ = {
  SCHEDULE: 0x540000n,
  VLM_GRP: 0x480000n,
  RSC_GRP: 0x440000n,
  KVS: 0x400000n,
  NODE: 0x3C0000n,
  RSC_DFN: 0x380000n,
  RSC: 0x340000n,
  VLM_DFN: 0x300000n,
  VLM: 0x2C0000n,
  NET_IF: 0x1C0000n,
  STOR_POOL_DFN: 0x180000n,
  STOR_POOL: 0x140000n,
  CTRL_CONF: 0x100000n,
  RSC_CONN: 0x240000n,
  NODE_CONN: 0x280000n,
  SNAPSHOT: 0xC0000n,
} as const;

/** Selected codes (low 15 bits) from linstor-common consts.json. */
export const CODE = {
  CREATED: 1,
  DELETED: 2,
  MODIFIED: 3,
  FAIL_INVLD_NODE_NAME: 200,
  FAIL_INVLD_RSC_NAME: 202,
  FAIL_INVLD_VLM_SIZE: 206,
  FAIL_INVLD_MINOR_NR: 207,
  FAIL_INVLD_STOR_POOL_NAME: 208,
  FAIL_INVLD_PROP: 213,
  FAIL_INVLD_SNAPSHOT_NAME: 218,
  FAIL_INVLD_PLACE_COUNT: 219,
  FAIL_INVLD_LAYER_STACK: 225,
  FAIL_INVLD_VLM_SIZES: 228,
  FAIL_INVLD_REQUEST: 234,
  FAIL_INVLD_RSC_GRP_NAME: 237,
  FAIL_NOT_FOUND_NODE: 300,
  FAIL_NOT_FOUND_RSC_DFN: 301,
  FAIL_NOT_FOUND_RSC: 302,
  FAIL_NOT_FOUND_VLM_DFN: 303,
  FAIL_NOT_FOUND_STOR_POOL: 310,
  FAIL_NOT_FOUND_SNAPSHOT_DFN: 313,
  FAIL_NOT_FOUND_RSC_GRP: 317,
  FAIL_NOT_FOUND_VLM_GRP: 318,
  FAIL_ACC_DENIED_NODE: 400,
  FAIL_EXISTS_NODE: 500,
  FAIL_EXISTS_RSC_DFN: 501,
  FAIL_EXISTS_RSC: 502,
  FAIL_EXISTS_VLM_DFN: 503,
  FAIL_EXISTS_STOR_POOL: 510,
  FAIL_EXISTS_SNAPSHOT_DFN: 514,
  FAIL_LOST_STOR_POOL: 521,
  FAIL_EXISTS_RSC_GRP: 522,
  FAIL_EXISTS_VLM_GRP: 523,
  FAIL_SNAPSHOT_ROLLBACK_IN_PROGRESS: 971,
  FAIL_NOT_ENOUGH_FREE_SPACE: 980,
  FAIL_INSUFFICIENT_REPLICA_COUNT: 991,
  FAIL_RSC_BUSY: 992,
  FAIL_SNAPSHOTS_NOT_SUPPORTED: 994,
  FAIL_NOT_CONNECTED: 995,
  FAIL_NOT_ENOUGH_NODES: 996,
  FAIL_IN_USE: 997,
  FAIL_UNKNOWN_ERROR: 998,
  FAIL_IMPL_ERROR: 999,
  WARN_DEL_UNSET_PROP: 1005,
  WARN_RSC_ALREADY_DEPLOYED: 1006,
  WARN_RSC_ALREADY_DISKLESS: 1008,
  WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER: 1013,
  WARN_VLMDFN_RESIZE_SAME_SIZE: 1023,
  WARN_NOT_FOUND: 3000,
  INFO_NO_RSC_SPAWNED: 10000,
  INFO_PROP_SET: 10002,
  INFO_TIE_BREAKER_CREATED: 10003,
  INFO_TIE_BREAKER_DELETING: 10004,
  INFO_TIE_BREAKER_TAKEOVER: 10006,
} as const;

/**
 * A ret_code, exact: its decimal text as the controller sent it (the driver), or a BigInt (the
 * simulator and the tests).
 */
export type RetCode = string | bigint;

/** One entry of an ApiCallRcList, with the lossless ret_code. */
export interface ApiCallRc {
  ret_code: RetCode;
  message: string;
  cause?: string;
  details?: string;
  correction?: string;
  error_report_ids?: string[];
  obj_refs?: Record<string, string>;
  created_at?: string;
}

/** The severity class of an entry. */
export type RcClass = "error" | "warning" | "info" | "success";

const TWO32 = 0x1_0000_0000;

/** A number's exact integer part as decimal text (every double below 1e21 prints whole). */
function integerText(n: number): string {
  return Number.isFinite(n) ? Math.trunc(n).toFixed(0) : "";
}

/**
 * The two 32-bit halves of a ret_code as an unsigned 64-bit value (two's complement of a
 * negative one), read from its decimal text; null when it is not an integer of at most 64 bits.
 */
function halves(rc: RetCode | number): { hi: number; lo: number } | null {
  const text = typeof rc === "string"
    ? rc.trim()
    : typeof rc === "bigint"
    ? rc.toString()
    : integerText(rc);
  const m = /^(-?)0*(\d{1,20})$/.exec(text);
  if (!m) return null;
  let hi = 0;
  let lo = 0;
  for (const ch of m[2]) {
    const l = lo * 10 + (ch.charCodeAt(0) - 48); // < 2^36: exact
    lo = l % TWO32;
    hi = hi * 10 + Math.floor(l / TWO32);
    if (hi >= TWO32) return null; // 2^64 or more
  }
  if (m[1] && (hi || lo)) {
    // 2^64 - value
    hi = lo ? TWO32 - 1 - hi : TWO32 - hi;
    lo = lo ? TWO32 - lo : 0;
    if (hi < 2 ** 31) return null; // below -2^63
  }
  return { hi, lo };
}

/** Classify a ret_code the way python-linstor does (error is tested first). */
export function rcClass(rc: RetCode | number): RcClass {
  const h = halves(rc);
  // a ret_code that is not a 64-bit integer is no success (never reported as one)
  if (!h) return "error";
  switch (h.hi >>> 30) {
    case 3:
      return "error";
    case 2:
      return "warning";
    case 1:
      return "info";
    default:
      return "success";
  }
}

/** The low 15-bit code of a ret_code. */
export function rcCode(rc: RetCode | number): number {
  return (halves(rc)?.lo ?? 0) & LOW_BITS.code;
}

/** The object bits of a ret_code (compare with {@link OBJ}). */
export function rcObject(rc: RetCode | number): bigint {
  return BigInt((halves(rc)?.lo ?? 0) & LOW_BITS.obj);
}

/** True for an error entry. */
export function isError(rc: RetCode | number): boolean {
  return rcClass(rc) === "error";
}

/** True for "not found" errors (codes 300-399), optionally for one object kind. */
export function isNotFound(rc: RetCode | number, obj?: bigint): boolean {
  const c = rcCode(rc);
  return isError(rc) && c >= 300 && c <= 399 && (obj === undefined || rcObject(rc) === obj);
}

/** True for the WARN_NOT_FOUND warning a delete of a missing object returns. */
export function isWarnNotFound(rc: RetCode | number): boolean {
  return rcClass(rc) === "warning" && rcCode(rc) === CODE.WARN_NOT_FOUND;
}

/** True for "already exists" errors (codes 500-599 except 521 lost pool). */
export function isExists(rc: RetCode | number, obj?: bigint): boolean {
  const c = rcCode(rc);
  return isError(rc) && c >= 500 && c <= 599 && c !== CODE.FAIL_LOST_STOR_POOL &&
    (obj === undefined || rcObject(rc) === obj);
}

/** True for FAIL_IN_USE (997). */
export function isInUse(rc: RetCode | number): boolean {
  return isError(rc) && rcCode(rc) === CODE.FAIL_IN_USE;
}

interface ReviverContext {
  source?: string;
}

/**
 * JSON.parse that keeps every `ret_code` exact: `exact` gets its decimal text (the source text
 * of the number) and gives what the parsed value holds; by default a BigInt (the simulator and
 * the tests), the text itself for the driver (`String`). Other numbers are parsed normally.
 */
export function parseJsonLossless(text: string): unknown;
export function parseJsonLossless<T>(text: string, exact: (decimal: string) => T): unknown;
export function parseJsonLossless(
  text: string,
  exact: (decimal: string) => unknown = BigInt,
): unknown {
  const reviver = function (this: unknown, key: string, value: unknown, ctx?: ReviverContext) {
    if (key === "ret_code" && typeof value === "number") {
      const src = ctx?.source;
      return exact(src !== undefined && /^-?\d+$/.test(src) ? src : integerText(value));
    }
    return value;
  };
  // The third reviver argument (source text access) is not in TypeScript's lib yet.
  return JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
}

interface RawJsonApi {
  rawJSON(text: string): unknown;
}

/** JSON.stringify that writes BigInt values as exact JSON integers. */
export function stringifyJsonLossless(value: unknown): string {
  const J = JSON as unknown as RawJsonApi;
  return JSON.stringify(value, (_k, v) => typeof v === "bigint" ? J.rawJSON(v.toString()) : v);
}

/** Normalise a parsed ApiCallRcList (tolerates a single object, as the spec's 500 schema). */
export function toRcList(data: unknown): ApiCallRc[] {
  const arr = Array.isArray(data) ? data : (data && typeof data === "object" ? [data] : []);
  const out: ApiCallRc[] = [];
  for (const e of arr) {
    if (!e || typeof e !== "object") continue;
    const o = e as Record<string, unknown>;
    if (!("ret_code" in o)) continue;
    const v = o.ret_code;
    const rc = typeof v === "bigint" || typeof v === "string" ? v : integerText(Number(v) || 0);
    out.push({ ...(o as unknown as ApiCallRc), ret_code: rc, message: String(o.message ?? "") });
  }
  return out;
}

/**
 * One line describing an entry: message, cause, correction. Its error report ids are not in it:
 * LinstorApiError gives them once, as its detail.
 */
export function describeRc(e: ApiCallRc): string {
  const parts = [e.message.trim()];
  if (e.cause) parts.push(`cause: ${e.cause.trim()}`);
  if (e.correction) parts.push(`correction: ${e.correction.trim()}`);
  return parts.join("; ").replace(/\s*\n\s*/g, " ");
}

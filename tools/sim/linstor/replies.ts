/**
 * Replies of the simulated LINSTOR controller: ApiCallRc entries with LINSTOR's ret_code masks,
 * the HTTP status the real controller derives from them, and the error replies (bad JSON,
 * internal errors) its REST layer produces.
 */
import {
  CODE,
  MASK_BITS_OBJ,
  MASK_BITS_OP,
  MASK_ERROR,
  MASK_WARN,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import type { ApiCallRc } from "../../../lib/backend/linstor/api_call_rc.ts";
import { API_CALL_PARSE_ERROR, WARN_NOT_CONNECTED } from "./codes.ts";

/** One ApiCallRc entry as the simulator emits it (ret_code exact as BigInt). */
export type SimRc = Omit<ApiCallRc, "ret_code"> & { ret_code: bigint };

/** A reply of the controller logic: HTTP status and JSON body. */
export interface SimReply {
  status: number;
  body: unknown;
}

/** Operation/object context used to fill in the ret_code masks (like ResponseConverter). */
export interface RcContext {
  op: bigint;
  obj: bigint;
  refs?: Record<string, string>;
}

let errorReportSeq = 0;

/** Build an entry. `type` is MASK_ERROR/MASK_WARN/MASK_INFO/0n. */
export function rc(
  type: bigint,
  code: number,
  message: string,
  extra: Partial<Omit<SimRc, "ret_code" | "message">> = {},
): SimRc {
  return { ret_code: type | BigInt(code), message, ...extra };
}

/**
 * An entry with exactly the ret_code given (signed, with its time), for replies the controller
 * builds outside a call's context: its exception mapper, the key-value store, a satellite's
 * connection warning.
 */
export function plainEntry(
  retCode: bigint,
  message: string,
  extra: Partial<Omit<SimRc, "ret_code" | "message">> = {},
): SimRc {
  return {
    ret_code: BigInt.asIntN(64, retCode),
    message,
    ...extra,
    created_at: new Date().toISOString(),
  };
}

/**
 * The reply of an exception that escaped a handler without the call's context, as the
 * controller's REST layer sends it: each entry's ret_code as it is, no object references; the
 * status from the entries (200 without an error).
 */
export function bareReply(entries: SimRc[]): SimReply {
  // deno-lint-ignore no-unused-vars
  const body = entries.map(({ ret_code, message, obj_refs, created_at, ...rest }) =>
    plainEntry(ret_code, message, rest)
  );
  return { status: statusFor(body, 200), body };
}

/**
 * WARN_NOT_CONNECTED (1002) for a satellite that is not connected (ResponseUtils
 * makeNotConnectedWarning); `extra` adds what the reply carries besides (its details).
 */
export function notConnectedWarning(node: string, extra: Partial<SimRc> = {}): SimRc {
  return plainEntry(
    MASK_WARN | BigInt(WARN_NOT_CONNECTED),
    `No active connection to satellite '${node}'`,
    extra,
  );
}

/** Apply context masks (without overriding masks already set) and make the value signed. */
export function withContext(e: SimRc, ctx: RcContext): SimRc {
  let v = BigInt.asUintN(64, e.ret_code);
  if ((v & MASK_BITS_OP) === 0n) v |= ctx.op;
  if ((v & MASK_BITS_OBJ) === 0n) v |= ctx.obj;
  const out: SimRc = { ...e, ret_code: BigInt.asIntN(64, v) };
  if (ctx.refs && !out.obj_refs) out.obj_refs = ctx.refs;
  if (!out.created_at) out.created_at = new Date().toISOString();
  return out;
}

/** An ApiCallRc exception: stops the handler, becomes the reply. */
export class SimApiError extends Error {
  readonly entries: SimRc[];
  constructor(entries: SimRc[] | SimRc) {
    const list = Array.isArray(entries) ? entries : [entries];
    super(list.map((e) => e.message).join("; "));
    this.entries = list;
  }
}

/**
 * Run `fn`, reporting an ApiCallRc exception it throws as the controller's ResponseConverter
 * reports one: each entry gets the call's masks and object references, and the object's
 * description (`Node: N, Resource: R`, …) appended to its details.
 */
export function describingErrors<T>(ctx: RcContext, description: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof SimApiError)) throw e;
    throw new SimApiError(e.entries.map((x) =>
      withContext({
        ...x,
        details: x.details ? `${x.details}\n${description}` : description,
        obj_refs: { ...ctx.refs, ...x.obj_refs },
      }, ctx)
    ));
  }
}

/** Throw an error entry. */
export function fail(
  code: number,
  message: string,
  extra: Partial<Omit<SimRc, "ret_code" | "message">> = {},
): never {
  throw new SimApiError(rc(MASK_ERROR, code, message, extra));
}

/** HTTP status for a list of entries, as ApiCallRcRestUtils.toResponse computes it. */
export function statusFor(entries: SimRc[], success: number): number {
  for (const e of entries) {
    const v = BigInt.asUintN(64, e.ret_code);
    if ((v & MASK_ERROR) === MASK_ERROR) {
      const code = Number(v & 0x7FFFn);
      if (code >= 300 && code <= 399) return 404;
      if (code >= 400 && code <= 499) return 403;
      return 500;
    }
  }
  return success;
}

/** Build a reply from entries and context. */
export function rcReply(entries: SimRc[], ctx: RcContext, success: number): SimReply {
  const list = entries.map((e) => withContext(e, ctx));
  return { status: statusFor(list, success), body: list };
}

/**
 * A body the controller cannot bind (API_CALL_PARSE_ERROR "Unable to parse input json.",
 * details = the binding error): HTTP 400 with an error report from a synchronous handler,
 * HTTP 500 without one from an asynchronous handler (the error code is outside 300-499).
 */
export function parseErrorReply(details: string, sync = true): SimReply {
  return {
    status: sync ? 400 : 500,
    body: [
      plainEntry(API_CALL_PARSE_ERROR, "Unable to parse input json.", {
        details,
        ...(sync ? { error_report_ids: [errorReportId()] } : {}),
      }),
    ],
  };
}

/** A fresh error report id (`SIM-<time>-<counter>`). */
export function errorReportId(): string {
  errorReportSeq++;
  return `SIM-${String(Date.now() % 1e8).padStart(8, "0")}-${
    String(errorReportSeq).padStart(6, "0")
  }`;
}

/** A simulated internal error reply with an error report id. */
export function internalErrorReply(message: string): SimReply {
  const id = errorReportId();
  return {
    status: 500,
    body: [
      plainEntry(MASK_ERROR | BigInt(CODE.FAIL_UNKNOWN_ERROR), message, {
        cause: "Simulated controller failure (fault injection)",
        error_report_ids: [id],
      }),
    ],
  };
}

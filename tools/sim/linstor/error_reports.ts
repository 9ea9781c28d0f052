/**
 * The simulated controller's error reports: every error report id the simulator hands out in a
 * reply (an ApiCallRc entry's `error_report_ids`) names a report that `GET /v1/error-reports`
 * lists and `GET /v1/error-reports/{id}` shows, until `PATCH /v1/error-reports` or
 * `DELETE /v1/error-reports/{id}` deletes it — so `linstor error-reports list`, `… show ID` and
 * `… delete` work as against a controller.
 *
 * As the controller answers (linstor-server's ErrorReports REST class and its error list
 * handler, read for these facts):
 * - a report is the controller's (module `CONTROLLER`, node: the machine's host name, file
 *   `ErrorReport-<id>.log`); the simulator has no satellite reports, so a `node` filter other
 *   than `Controller` (any case) lists none;
 * - `since` / `to` (milliseconds) are compared by day, as the controller's database query
 *   compares them (a date, not a time: `since` from the start of its day, `to` up to the start
 *   of its day; days in UTC here); `limit` (default 1000) keeps the newest reports, ≤ 0 none;
 *   `offset` is ignored, as by the controller; the list is in time order; a number that is not
 *   one is HTTP 404 (the REST layer cannot convert the parameter: routes.ts answers it);
 * - the list leaves a report's text out unless `withContent` is true; showing one report
 *   includes it unless `withContent` is false; an unknown id shows an empty list;
 * - a delete with no filter at all deletes nothing; otherwise it deletes the reports matching
 *   every filter given (`since` inclusive, `to` exclusive, exact `exception` and `version`,
 *   `ids`), on the controller when `nodes` is empty or names it, and answers "Deleted N
 *   error-report(s)" (DELETED) or, when none went, "No error reports deleted." (INFO_NOOP).
 * Reports live in memory with the controller: a `/_sim/restart` keeps them, a new simulator
 * process starts without any.
 */
import { CODE, MASK_INFO } from "../../../lib/backend/linstor/api_call_rc.ts";
import { INFO_NOOP } from "./codes.ts";
import { plainEntry, type SimReply } from "./replies.ts";

/** The controller version the reports name (as GET /v1/controller/version says). */
const VERSION = "1.34.0";
/** The controller's module name, which a `node` filter may name. */
const CONTROLLER = "Controller";
/** Exception class the reports name: the controller's API failures are ApiRcExceptions. */
const EXCEPTION = "ApiRcException";
const DAY_MS = 86_400_000;

/** One report. */
interface Report {
  id: string;
  /** When it was made (ms since the epoch). */
  time: number;
  peer?: string;
  message: string;
  text: string;
}

/** What the request that got an error report was. */
export interface ReportContext {
  /** `METHOD path`. */
  call: string;
  /** The client: address and user agent. */
  peer?: string;
}

/** A delete's filters (JsonGenTypes.ErrorReportDelete). */
export interface ReportDelete {
  since?: number;
  to?: number;
  nodes?: string[];
  exception?: string;
  version?: string;
  ids?: string[];
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "localhost";
  }
}

/** `ms` truncated to the start of its (UTC) day. */
const dayOf = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/** A query parameter as a Java long: absent → undefined, not a number → null. */
function longParam(q: URLSearchParams, name: string): number | undefined | null {
  const v = q.get(name);
  if (v === null) return undefined;
  return /^[+-]?\d+$/.test(v.trim()) ? Number(v.trim()) : null;
}

/** The error reports of one simulated controller. */
export class ErrorReportLog {
  readonly #reports = new Map<string, Report>();
  readonly #node = hostName();

  /**
   * Record a report for every error report id in a reply's body (a list of ApiCallRc
   * entries) that is not known yet.
   */
  note(body: unknown, ctx: ReportContext): void {
    if (!Array.isArray(body)) return;
    for (const e of body) {
      const ids = (e as { error_report_ids?: unknown })?.error_report_ids;
      if (!Array.isArray(ids)) continue;
      const entry = e as { message?: unknown; cause?: unknown; details?: unknown };
      for (const id of ids) {
        if (typeof id !== "string" || this.#reports.has(id)) continue;
        const time = Date.now();
        const message = String(entry.message ?? "");
        const lines = [
          `Error report ${id} of the simulated LINSTOR controller`,
          "",
          `Module:      ${CONTROLLER}`,
          `Version:     ${VERSION}`,
          `Node:        ${this.#node}`,
          `Time:        ${new Date(time).toISOString()}`,
          ...(ctx.peer ? [`Peer:        ${ctx.peer}`] : []),
          `Request:     ${ctx.call}`,
          "",
          `Exception:   ${EXCEPTION}`,
          `Message:     ${message}`,
          ...(entry.cause ? [`Cause:       ${String(entry.cause)}`] : []),
          ...(entry.details ? [`Details:     ${String(entry.details)}`] : []),
        ];
        this.#reports.set(id, { id, time, peer: ctx.peer, message, text: lines.join("\n") + "\n" });
      }
    }
  }

  /**
   * GET /v1/error-reports (`id` absent) or GET /v1/error-reports/{id}; null when a number
   * parameter is not one (the route answers the REST layer's 404).
   */
  list(q: URLSearchParams, id?: string): SimReply | null {
    const since = longParam(q, "since");
    const to = longParam(q, "to");
    const limit = longParam(q, "limit");
    if (since === null || to === null || limit === null || longParam(q, "offset") === null) {
      return null;
    }
    // a Java boolean parameter: "true" in any case is true, anything else false
    const wc = q.get("withContent");
    const withContent = wc === null ? id !== undefined : wc.trim().toLowerCase() === "true";
    const node = q.get("node");
    if (node !== null && node.toLowerCase() !== CONTROLLER.toLowerCase()) {
      return { status: 200, body: [] };
    }
    const max = limit ?? 1000;
    const hits = [...this.#reports.values()]
      .filter((r) =>
        (id === undefined || r.id === id) &&
        (since === undefined || r.time >= dayOf(since)) &&
        (to === undefined || r.time <= dayOf(to))
      )
      .sort((a, b) => a.time - b.time || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const kept = max > 0 ? hits.slice(Math.max(0, hits.length - max)) : [];
    return { status: 200, body: kept.map((r) => this.#view(r, withContent)) };
  }

  /** PATCH /v1/error-reports (and DELETE /v1/error-reports/{id}: `ids` of one). */
  remove(f: ReportDelete): SimReply {
    const ids = f.ids ?? [];
    const anyFilter = f.since !== undefined || f.to !== undefined ||
      f.exception !== undefined || f.version !== undefined || ids.length > 0;
    const here = !f.nodes?.length ||
      f.nodes.some((n) => n.toLowerCase() === CONTROLLER.toLowerCase());
    let deleted = 0;
    if (anyFilter && here) {
      for (const r of [...this.#reports.values()]) {
        if (f.since !== undefined && r.time < f.since) continue;
        if (f.to !== undefined && r.time >= f.to) continue;
        if (f.exception !== undefined && f.exception !== EXCEPTION) continue;
        if (f.version !== undefined && f.version !== VERSION) continue;
        if (ids.length && !ids.includes(r.id)) continue;
        this.#reports.delete(r.id);
        deleted++;
      }
    }
    return {
      status: 200,
      body: [
        deleted
          ? plainEntry(BigInt(CODE.DELETED), `Deleted ${deleted} error-report(s)`)
          : plainEntry(MASK_INFO | BigInt(INFO_NOOP), "No error reports deleted."),
      ],
    };
  }

  #view(r: Report, withContent: boolean): Record<string, unknown> {
    return {
      node_name: this.#node,
      error_time: r.time,
      filename: `ErrorReport-${r.id}.log`,
      ...(withContent ? { text: r.text } : {}),
      module: "CONTROLLER",
      version: VERSION,
      ...(r.peer ? { peer: r.peer } : {}),
      exception: EXCEPTION,
      exception_message: r.message,
    };
  }
}

/**
 * The controller's and the satellites' configuration in the simulated LINSTOR controller
 * (REST `/v1/controller/config`, `/v1/nodes/{node}/config`; CtrlConfApiCallHandler
 * setCtrlConfig, CtrlNodeApiCallHandler setConfig): what `linstor controller set-log-level
 * LEVEL [--global] [--library]` and `linstor node set-log-level NODE LEVEL [--library]` change,
 * and what the GETs (LINSTOR's GUI reads the controller's) show.
 *
 * - The configuration is that of a packaged controller and its satellites (`/etc/linstor/`,
 *   logs under `/var/log/linstor-{controller,satellite}`, H2 database, REST on 3370/3371); only
 *   the log levels change: `level` (the libraries') and `level_linstor` (LINSTOR's own, shown
 *   once set). Like the real ones they live in memory: a new simulator process starts at INFO.
 * - `PUT /v1/controller/config` `{log: {level, level_linstor, level_global,
 *   level_linstor_global}}`: the `_global` values also go to every connected satellite; each
 *   level must be ERROR, WARN, INFO, DEBUG or TRACE (any case), else FAIL_INVLD_CONF "Given
 *   loglevel 'X' is invalid" with an error report and nothing changes. The reply is "Successfully
 *   updated controller config", then "Successfully updated satellite config" per satellite
 *   reached. A body without `log` fails as the controller's handler does (a
 *   NullPointerException, FAIL_UNKNOWN_ERROR with an error report).
 * - `PUT /v1/nodes/{node}/config` `{log: {level, level_linstor}}`: "Successfully updated
 *   satellite config"; an empty list when the satellite is not connected; errors (unknown node,
 *   invalid level) without the call's masks, as the controller's REST layer reports them.
 * - `GET /v1/nodes/{node}/config`: the satellite's configuration, or 503 "Node is offline".
 */
import {
  CODE,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import {
  errorReportId,
  fail,
  plainEntry,
  rc,
  type RcContext,
  SimApiError,
  type SimRc,
  type SimReply,
  statusFor,
  withContext,
} from "./replies.ts";
import type { SimNode } from "./model.ts";
import type { SimController } from "./controller.ts";
import { nodeOrReply } from "./single_gets.ts";
import { FAIL_INVLD_CONF, WARN_NOT_CONNECTED } from "./codes.ts";

/** Log levels of one process: `level` for the libraries, `linstor` for LINSTOR's own. */
interface LogLevels {
  level: string;
  linstor?: string;
}

/** The levels of a controller's process and of its satellites' (by node uuid). */
interface Levels {
  ctrl: LogLevels;
  stlt: Map<string, LogLevels>;
}

const LEVELS = new WeakMap<SimController, Levels>();
const LOG_LEVELS = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

function levelsOf(ctl: SimController): Levels {
  let l = LEVELS.get(ctl);
  if (!l) LEVELS.set(ctl, l = { ctrl: { level: "INFO" }, stlt: new Map() });
  return l;
}

/** The levels of `n`'s satellite (a node made anew has a new satellite). */
function stltLevels(ctl: SimController, n: SimNode): LogLevels {
  const all = levelsOf(ctl).stlt;
  let l = all.get(n.uuid);
  if (!l) all.set(n.uuid, l = { level: "INFO" });
  return l;
}

/** LinstorParsingUtils.asLogLevel: a level the logger knows, else FAIL_INVLD_CONF. */
function checkLevel(v: string): void {
  if (!LOG_LEVELS.includes(v.toUpperCase())) {
    fail(FAIL_INVLD_CONF, `Given loglevel '${v}' is invalid`);
  }
}

/** A request's log field: set and not empty, else undefined. */
function level(log: Record<string, unknown>, key: string): string | undefined {
  const v = log[key];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Apply `level` / `linstor` to the controller's levels `l` as setCtrlConfig does: both checked
 * (`level` first), then set; an absent one leaves its value.
 */
function applyLevels(l: LogLevels, level?: string, linstor?: string): void {
  if (level !== undefined) checkLevel(level);
  if (linstor !== undefined) checkLevel(linstor);
  if (level !== undefined) l.level = level;
  if (linstor !== undefined) l.linstor = linstor;
}

/** The log section of a configuration view. */
function logView(l: LogLevels, directory: string): Record<string, unknown> {
  return {
    print_stack_trace: false,
    directory,
    level: l.level,
    ...(l.linstor !== undefined ? { level_linstor: l.linstor } : {}),
  };
}

/** GET /v1/controller/config. */
export function getCtrlConfig(ctl: SimController): SimReply {
  return {
    status: 200,
    body: {
      config: { dir: "/etc/linstor/" },
      debug: { console_enabled: false },
      log: {
        ...logView(levelsOf(ctl).ctrl, "/var/log/linstor-controller"),
        rest_access_log_path: "rest-access.log",
        rest_access_mode: "NO_LOG",
      },
      db: {
        connection_url: "jdbc:h2:/var/lib/linstor/linstordb",
        version_check_disabled: false,
        k8s: { request_retries: 3, max_rollback_entries: 100 },
      },
      http: { enabled: true, listen_address: "::", port: 3370 },
      https: { enabled: true, listen_address: "::", port: 3371 },
      ldap: {
        enabled: false,
        public_access_allowed: false,
        uri: "ldap://localhost",
        dn: "uid={user}",
      },
    },
  };
}

/** The entry a satellite's answer to a configuration change gives (with its node's context). */
function stltUpdated(node: string): SimRc {
  return withContext(
    rc(OBJ.NODE, CODE.MODIFIED, "Successfully updated satellite config"),
    { op: MASK_MOD, obj: OBJ.NODE, refs: { Node: node } },
  );
}

/** The message of the NullPointerException a configuration body without `log` raises. */
const NO_LOG = 'Cannot read field "level" because "this.config.log" is null';

/** PUT /v1/controller/config (see the module comment). */
export function setCtrlConfig(ctl: SimController, body: Record<string, unknown>): SimReply {
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.CTRL_CONF };
  // an exception of the handler: reported with the call's context and an error report
  const reported = (code: number, message: string): SimReply => {
    const e = withContext(
      rc(MASK_ERROR, code, message, { details: "Controller", error_report_ids: [errorReportId()] }),
      ctx,
    );
    return { status: statusFor([e], 200), body: [e] };
  };
  const log = body.log as Record<string, unknown> | undefined;
  if (!log) {
    return reported(
      CODE.FAIL_UNKNOWN_ERROR,
      "Modification of controller failed due to an unhandled exception of type " +
        `NullPointerException. ${NO_LOG}`,
    );
  }
  const global = level(log, "level_global");
  const linstorGlobal = level(log, "level_linstor_global");
  try {
    applyLevels(
      levelsOf(ctl).ctrl,
      level(log, "level") ?? global,
      level(log, "level_linstor") ?? linstorGlobal,
    );
  } catch (e) {
    if (!(e instanceof SimApiError)) throw e;
    return reported(FAIL_INVLD_CONF, e.entries[0].message);
  }
  const out: SimRc[] = [
    withContext(rc(OBJ.CTRL_CONF, CODE.MODIFIED, "Successfully updated controller config"), ctx),
  ];
  if (global !== undefined || linstorGlobal !== undefined) {
    // then every satellite, in node order; one not connected gives no answer
    const nodes = [...ctl.state.nodes].sort((a, b) => a.name.localeCompare(b.name));
    for (const n of nodes) {
      if (n.offline) continue;
      applyStltLevels(stltLevels(ctl, n), global, linstorGlobal);
      out.push(stltUpdated(n.name));
    }
  }
  return { status: 200, body: out };
}

/**
 * A satellite's levels as CtrlNodeApiCallHandler.setStltConfig sets them (in the controller's
 * copy of the satellite's configuration, which its GET shows): each checked and set in turn,
 * `level` first — a valid `level` is kept even when `linstor` is refused.
 */
function applyStltLevels(l: LogLevels, level?: string, linstor?: string): void {
  if (level !== undefined) {
    checkLevel(level);
    l.level = level;
  }
  if (linstor !== undefined) {
    checkLevel(linstor);
    l.linstor = linstor;
  }
}

/** PUT /v1/nodes/{node}/config (see the module comment). */
export function setStltConfig(
  ctl: SimController,
  name: string,
  body: Record<string, unknown>,
): SimReply {
  const n = nodeOrReply(ctl, name);
  if (!("uuid" in n)) return n;
  if (n.offline) return { status: 200, body: [] };
  const log = body.log as Record<string, unknown> | undefined;
  if (!log) {
    return {
      status: 500,
      body: [
        plainEntry(MASK_ERROR | BigInt(CODE.FAIL_UNKNOWN_ERROR), NO_LOG, {
          error_report_ids: [errorReportId()],
        }),
      ],
    };
  }
  try {
    applyStltLevels(stltLevels(ctl, n), level(log, "level"), level(log, "level_linstor"));
  } catch (e) {
    if (!(e instanceof SimApiError)) throw e;
    const entry = plainEntry(MASK_ERROR | BigInt(FAIL_INVLD_CONF), e.entries[0].message);
    return { status: 500, body: [entry] };
  }
  return { status: 200, body: [stltUpdated(name)] };
}

/** GET /v1/nodes/{node}/config: the satellite's configuration (503 while not connected). */
export function getStltConfig(ctl: SimController, name: string): SimReply {
  const n = nodeOrReply(ctl, name);
  if (!("uuid" in n)) return n;
  if (n.offline) {
    return {
      status: 503,
      body: [plainEntry(MASK_WARN | OBJ.NODE | BigInt(WARN_NOT_CONNECTED), "Node is offline")],
    };
  }
  return {
    status: 200,
    body: {
      config: { dir: "/etc/linstor/" },
      debug: { console_enabled: false },
      log: logView(stltLevels(ctl, n), "/var/log/linstor-satellite"),
      remote_spdk: false,
      ebs: false,
      special_satellite: false,
      net: { bind_address: "::0", port: 3366, com_type: "plain" },
    },
  };
}

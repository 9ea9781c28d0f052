/**
 * Properties in the simulated LINSTOR controller, checked like the real controller checks them
 * (issue 11 item 6; CtrlPropsHelper with the whitelist of prop_rules.ts):
 * - `Aux/…` keys are free (any value), like a few handler-specific prefixes (`EBS/Tags/` on
 *   nodes, groups and definitions, `SED/` on storage pools);
 * - any other key must be whitelisted for the object it is set on (resource groups use the
 *   resource definition's rules, volume groups the volume definition's; snapshots have none),
 *   else FAIL_INVLD_PROP "Invalid property key: K";
 * - its value must pass the key's rule, else FAIL_INVLD_PROP "Invalid property(K) value: V"
 *   with the rule in the details; either refusal rejects the whole request (HTTP 500);
 * - accepted values are normalised (yes/no lower-case, true/false from yes/no as well);
 * - every set reports "Successfully set property key(s): …" (object|MASK_CRT|CREATED, also in
 *   a modify), every delete "Successfully deleted property key(s): …"; deleting a key that is
 *   not set is silent;
 * - setting `DrbdOptions/Resource/quorum` marks it set by the user
 *   (`Internal/Drbd/QuorumSetBy=user`: the automatic quorum then leaves it alone).
 */
import {
  CODE,
  MASK_CRT,
  MASK_DEL,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import { errorReportId, rc, SimApiError, type SimRc } from "./replies.ts";
import { PROP_RULES, type PropRule } from "./prop_rules.ts";
import { asStrings } from "./model.ts";
import { WARN_DEPRECATED } from "./codes.ts";

/** The object a property container belongs to (its whitelist). */
export type PropObject =
  | "controller"
  | "node"
  | "node-connection"
  | "storage-pool"
  | "resource-group"
  | "resource-definition"
  | "volume-group"
  | "volume-definition"
  | "resource"
  | "resource-connection"
  | "volume"
  | "snapshot";

/** Letter of the whitelist table, ret_code object mask and free prefixes per object. */
const OBJECTS: Record<PropObject, { letter: string; mask: bigint; free: string[] }> = {
  "controller": { letter: "c", mask: OBJ.CTRL_CONF, free: ["Aux/", "EBS/Tags/"] },
  "node": { letter: "n", mask: OBJ.NODE, free: ["Aux/", "EBS/Tags/"] },
  // Paths/ is checked by the connection's own handler (conn_paths.ts)
  "node-connection": { letter: "N", mask: OBJ.NODE_CONN, free: ["Aux/", "Paths/"] },
  "storage-pool": { letter: "p", mask: OBJ.STOR_POOL, free: ["Aux/", "SED/"] },
  "resource-group": { letter: "d", mask: OBJ.RSC_GRP, free: ["Aux/", "EBS/Tags/"] },
  "resource-definition": { letter: "d", mask: OBJ.RSC_DFN, free: ["Aux/", "EBS/Tags/"] },
  // a volume group's properties are the volume definition's (LinStorObject.VLM_DFN: its mask in
  // the entries), EBS tags left unchecked as CtrlVlmGrpApiCallHandler leaves them
  "volume-group": { letter: "v", mask: OBJ.VLM_DFN, free: ["Aux/", "EBS/Tags/"] },
  "volume-definition": { letter: "v", mask: OBJ.VLM_DFN, free: ["Aux/"] },
  "resource": { letter: "r", mask: OBJ.RSC, free: ["Aux/"] },
  "resource-connection": { letter: "R", mask: OBJ.RSC_CONN, free: ["Aux/", "Paths/"] },
  "volume": { letter: "V", mask: OBJ.VLM, free: ["Aux/"] },
  "snapshot": { letter: "", mask: OBJ.SNAPSHOT, free: ["Aux/"] },
};

const RULES = new Map(PROP_RULES.map(([key, objs, rule]) => [key, { objs, rule }]));

/** What a property key may look like at all (a path without empty parts). */
const KEY_RE = /^[A-Za-z0-9_.:+-]+(?:\/[A-Za-z0-9_.:+-]+)*$/;

function fullMatch(pattern: string, v: string): boolean {
  try {
    return new RegExp(`^(?:${pattern})$`).test(v);
  } catch {
    return true; // a Java-only pattern: not checked
  }
}

function num(x: string | number, float: boolean): string {
  return float && Number.isInteger(Number(x)) ? Number(x).toFixed(1) : String(x);
}

/** The rule's own error text (the details of FAIL_INVLD_PROP), as the controller words it. */
function ruleText(rule: PropRule): string {
  const [kind, a, b, c] = rule;
  switch (kind) {
    case "r":
    case "f": {
      const range = `(${num(a, kind === "f")} - ${num(b, kind === "f")})`;
      return c === undefined
        ? `This value has to match ${range}.`
        : `This value  has to match ${range} ${c}.`;
    }
    case "n":
      return `This value has to match (${a} - ${b}) or (?:${c}).`;
    case "e":
      return `This value has to match (?:${a}).`;
    case "x":
      return `This value has to match ${a}.`;
    case "b":
      return "This value must be either 'yes' or 'no'.";
    case "t":
      return "This value must be either 'yes', 'no', 'true' or 'false'.";
    case "l":
      return a === undefined
        ? "This value has to be of type Long."
        : `This value contains ${a} and has to be of type Long.`;
  }
  return "";
}

const LONG_RE = /^[+-]?\d{1,19}$/;

/** The value as stored, or undefined when the rule refuses it. */
function normalise(rule: PropRule, v: string): string | undefined {
  const [kind, a, b, c] = rule;
  switch (kind) {
    case "r":
    case "n": {
      if (LONG_RE.test(v)) {
        const n = Number(v);
        if (n >= Number(a) && n <= Number(b)) return v;
      }
      if (kind === "n" && String(c).split("|").includes(v)) return v;
      return undefined;
    }
    case "f": {
      const n = Number(v.trim());
      return v.trim() !== "" && Number.isFinite(n) && n >= Number(a) && n <= Number(b)
        ? v
        : undefined;
    }
    case "e":
      return String(a).split("|").includes(v) ? v : undefined;
    case "x":
      return fullMatch(String(a), v) ? v : undefined;
    case "b":
      return /^(yes|no)$/i.test(v) ? v.toLowerCase() : undefined;
    case "t":
      if (/^(true|yes)$/i.test(v)) return "true";
      if (/^(false|no)$/i.test(v)) return "false";
      return undefined;
    case "l":
      return LONG_RE.test(v) && BigInt(v) >= -(2n ** 63n) && BigInt(v) < 2n ** 63n ? v : undefined;
    case "s":
      return v;
  }
  return undefined;
}

function invalid(message: string, extra: Partial<SimRc> = {}): never {
  throw new SimApiError(
    rc(0xC000000000000000n, CODE.FAIL_INVLD_PROP, message, {
      ...extra,
      error_report_ids: [errorReportId()],
    }),
  );
}

function isFree(obj: PropObject, key: string): boolean {
  return OBJECTS[obj].free.some((p) => key.startsWith(p));
}

function known(obj: PropObject, key: string): PropRule | undefined {
  const letter = OBJECTS[obj].letter;
  const r = RULES.get(key);
  return letter && r && r.objs.includes(letter) ? r.rule : undefined;
}

/**
 * Check one property set on `obj`: the value to store, or a FAIL_INVLD_PROP exception (unknown
 * key, invalid key syntax, value refused by the key's rule).
 */
export function checkProp(obj: PropObject, key: string, value: string): string {
  if (!KEY_RE.test(key)) {
    invalid(`Invalid key: ${key}`, { cause: `The key '${key}' is invalid.` });
  }
  const v = whitelistVerdict(obj, key, value);
  if (v.ok) return v.value ?? value;
  if (!v.known) {
    invalid(`Invalid property key: ${key}`, { cause: `The key '${key}' is not whitelisted.` });
  }
  invalid(`Invalid property(${key}) value: ${value}`, {
    cause: `The value '${value}' is not valid for the key '${key}'`,
    details: v.rule,
  });
}

/**
 * The whitelist's verdict on a key of `obj` and a value, without throwing: free (any value),
 * the value as stored, or why not (an unknown key; a value the key's rule refuses, with the
 * rule's text). `value` undefined asks about the key alone (a delete).
 */
export function whitelistVerdict(
  obj: PropObject,
  key: string,
  value?: string,
):
  | { ok: true; value?: string }
  | { ok: false; known: false }
  | { ok: false; known: true; rule: string } {
  if (isFree(obj, key)) return { ok: true, value };
  const rule = KEY_RE.test(key) ? known(obj, key) : undefined;
  if (!rule) return { ok: false, known: false };
  if (value === undefined) return { ok: true };
  const v = normalise(rule, value);
  return v === undefined
    ? { ok: false, known: true, rule: ruleText(rule) }
    : { ok: true, value: v };
}

/** A key that may be deleted from `obj` (whitelisted or free), else FAIL_INVLD_PROP. */
function checkDelete(obj: PropObject, key: string): void {
  if (whitelistVerdict(obj, key).ok) return;
  invalid("Invalid property key", { cause: `The key '${key}' is not whitelisted.` });
}

/** The keys of `props` in namespace `ns` (`delete_namespaces`: `ns/…`, a trailing `/` or not). */
export function keysUnder(props: Record<string, string>, ns: string): string[] {
  const pre = `${ns.replace(/\/+$/, "")}/`;
  return Object.keys(props).filter((key) => key.startsWith(pre));
}

/**
 * Set `props` on `target` (checked and normalised), like the controller's fillProperties; the
 * "Successfully set property key(s)" entry goes to `out`.
 */
export function setProps(
  obj: PropObject,
  target: Record<string, string>,
  props: Record<string, string> | undefined,
  out: SimRc[],
): void {
  const keys = Object.keys(props ?? {});
  if (!keys.length) return;
  for (const key of keys) {
    const value = checkProp(obj, key, String(props![key]));
    target[key] = value;
    if (key === "DrbdOptions/Resource/quorum") target["Internal/Drbd/QuorumSetBy"] = "user";
    if (key === "DrbdOptions/auto-quorum") {
      out.push(
        rc(
          MASK_WARN,
          WARN_DEPRECATED,
          `${key} is deprecated, please use DrbdOptions/Resource/quorum`,
        ),
      );
    }
  }
  out.push(
    rc(
      OBJECTS[obj].mask | MASK_CRT,
      CODE.CREATED,
      `Successfully set property key(s): ${keys.join(",")}`,
    ),
  );
}

/**
 * Apply a modify request's `override_props`, `delete_props` and `delete_namespaces` to
 * `target` (sets first, then deletes, as the controller's modify handlers do); the success
 * entries go to `out`.
 */
export function editProps(
  obj: PropObject,
  target: Record<string, string>,
  body: Record<string, unknown>,
  out: SimRc[],
): void {
  setProps(obj, target, body.override_props as Record<string, string> | undefined, out);
  const del = asStrings(body.delete_props) ?? [];
  for (const key of del) {
    checkDelete(obj, key);
    delete target[key];
    if (key === "DrbdOptions/Resource/quorum") delete target["Internal/Drbd/QuorumSetBy"];
  }
  for (const ns of asStrings(body.delete_namespaces) ?? []) {
    const keys = keysUnder(target, ns);
    for (const key of keys) checkDelete(obj, key);
    for (const key of keys) delete target[key];
  }
  if (del.length) {
    out.push(
      rc(
        OBJECTS[obj].mask | MASK_DEL,
        CODE.DELETED,
        `Successfully deleted property key(s): ${del.join(",")}`,
      ),
    );
  }
}

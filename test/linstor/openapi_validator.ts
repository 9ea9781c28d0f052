/**
 * Validates recorded LINSTOR REST exchanges against the OpenAPI 3.0 spec
 * (/work/shared/linstor/rest_v1_openapi.yaml) with ajv.
 *
 * Checked for every exchange:
 * - the path matches a path template of the spec and the method exists for it;
 * - every query parameter is declared for the operation and has the declared type;
 * - the request body is allowed (operation has a requestBody) and matches its schema;
 * - the response matches the schema documented for that status code.
 *
 * Schemas are made strict: objects that list `properties` get `additionalProperties: false`
 * (LINSTOR's Jackson mapper rejects unknown request fields; for responses this keeps the
 * simulator from inventing fields). `allOf` is merged, OpenAPI `nullable` is honoured.
 *
 * LINSTOR's error model (lib/backend/linstor/api_call_rc.ts) applies to every
 * endpoint, documented or not: error statuses carry an ApiCallRcList, 404 for codes 300-399,
 * 403 for 400-499, 500 otherwise, 400 for unparsable input. So:
 * - an error status that the operation does not document must carry an ApiCallRcList;
 * - the spec's `OperationFailed` response is typed as a single ApiCallRc, but the server
 *   serialises the rc list (python-linstor iterates it); an array of ApiCallRc is accepted
 *   there, every element validated against ApiCallRc;
 * - an undocumented success status is an error;
 * - the status must agree with the ret_codes (checked losslessly).
 */
import { parse as parseYaml } from "yaml";
import AjvModule from "ajv";
import addFormatsModule from "ajv-formats";
import { parseJsonLossless, rcClass, rcCode } from "../../lib/backend/linstor/api_call_rc.ts";

/** Default location of the spec. */
export const SPEC_PATH = "/work/shared/linstor/rest_v1_openapi.yaml";

/** One exchange to validate (what the simulator's recorder delivers). */
export interface Exchange {
  method: string;
  path: string;
  query: URLSearchParams;
  requestBody: string;
  status: number;
  responseBody: string;
}

type Json = Record<string, unknown>;
// deno-lint-ignore no-explicit-any
type AnyFn = any;

interface Op {
  template: string;
  re: RegExp;
  literalSegments: number;
  method: string;
  op: Json;
  params: Json[];
}

function isObj(v: unknown): v is Json {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

/**
 * Success statuses where the spec file and the real controller (v1.34 REST classes) disagree:
 * the controller wins (the simulator follows it), the body is checked against the documented
 * status's schema. VolumeDefinitions.createVolumeDefinition maps its reply with the default
 * status, 200, where the spec documents 201.
 */
const REAL_SUCCESS_STATUS: Record<string, { status: number; documented: number }> = {
  "POST /v1/resource-definitions/{resource}/volume-definitions": { status: 200, documented: 201 },
};

/** A validator for one spec. */
export class OpenApiValidator {
  readonly spec: Json;
  readonly #ajv: AnyFn;
  readonly #ops: Op[] = [];
  readonly #cache = new Map<string, AnyFn>();
  readonly #schemas: Json;

  constructor(spec: Json) {
    this.spec = spec;
    const comps = (spec.components ?? {}) as Json;
    this.#schemas = (comps.schemas ?? {}) as Json;
    const defs: Json = {};
    for (const [name, s] of Object.entries(this.#schemas)) defs[name] = this.#convert(s);
    const Ajv = (AjvModule as AnyFn).default ?? AjvModule;
    const addFormats = (addFormatsModule as AnyFn).default ?? addFormatsModule;
    this.#ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.#ajv);
    this.#ajv.addFormat("int32", {
      type: "number",
      validate: (x: number) => Number.isInteger(x) && x >= -(2 ** 31) && x < 2 ** 31,
    });
    this.#ajv.addFormat("int64", { type: "number", validate: (x: number) => Number.isInteger(x) });
    this.#ajv.addFormat("double", { type: "number", validate: () => true });
    this.#ajv.addFormat("float", { type: "number", validate: () => true });
    this.#ajv.addSchema({ $id: "linstor", definitions: defs });
    for (const [template, item] of Object.entries((spec.paths ?? {}) as Json)) {
      if (!isObj(item)) continue;
      const pathParams = (item.parameters ?? []) as Json[];
      const segs = template.split("/");
      const re = new RegExp(
        "^" + segs.map((s) => (/^\{.+\}$/.test(s) ? "[^/]+" : escapeRe(s))).join("/") + "$",
      );
      for (const m of ["get", "post", "put", "delete", "patch"]) {
        const op = item[m];
        if (!isObj(op)) continue;
        const params = [...pathParams, ...((op.parameters ?? []) as Json[])].map((p) =>
          this.#resolve(p)
        );
        this.#ops.push({
          template,
          re,
          literalSegments: segs.filter((s) => !/^\{.+\}$/.test(s)).length,
          method: m.toUpperCase(),
          op,
          params,
        });
      }
    }
  }

  /** Resolve a `$ref` to components (parameters, responses, schemas). */
  #resolve(v: unknown): Json {
    let cur = v as Json;
    for (let i = 0; i < 10 && isObj(cur) && typeof cur.$ref === "string"; i++) {
      const parts = (cur.$ref as string).replace(/^#\//, "").split("/");
      let x: unknown = this.spec;
      for (const p of parts) x = (x as Json)[p];
      cur = x as Json;
    }
    return cur;
  }

  /** OpenAPI 3.0 schema → strict JSON schema for ajv. */
  #convert(s: unknown, inAllOf = false): unknown {
    if (Array.isArray(s)) return s.map((x) => this.#convert(x));
    if (!isObj(s)) return s;
    if (typeof s.$ref === "string") {
      return { $ref: (s.$ref as string).replace("#/components/schemas/", "linstor#/definitions/") };
    }
    if (Array.isArray(s.allOf)) {
      const merged: Json = { type: "object", properties: {}, required: [] as string[] };
      for (const part of s.allOf) {
        const p = this.#resolve(part);
        const c = this.#convert(p, true) as Json;
        Object.assign(merged.properties as Json, c.properties ?? {});
        (merged.required as string[]).push(...((c.required ?? []) as string[]));
      }
      if (!(merged.required as string[]).length) delete merged.required;
      merged.additionalProperties = false;
      return merged;
    }
    const out: Json = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === "example" || k === "description" || k === "examples") continue;
      if (k === "nullable") continue;
      if (k === "properties" && isObj(v)) {
        const props: Json = {};
        for (const [pk, pv] of Object.entries(v)) props[pk] = this.#convert(pv);
        out.properties = props;
      } else if (k === "default" && v === null) {
        continue;
      } else {
        out[k] = this.#convert(v);
      }
    }
    if (s.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
    if (isObj(out.properties) && out.additionalProperties === undefined && !inAllOf) {
      out.additionalProperties = false;
    }
    return out;
  }

  #validator(key: string, schema: unknown): AnyFn {
    let v = this.#cache.get(key);
    if (!v) {
      v = this.#ajv.compile(this.#convert(schema) as Json);
      this.#cache.set(key, v);
    }
    return v;
  }

  #check(key: string, schema: unknown, data: unknown, what: string): string[] {
    const v = this.#validator(key, schema);
    if (v(data)) return [];
    return (v.errors ?? []).slice(0, 5).map((e: Json) =>
      `${what}: ${e.instancePath || "/"} ${e.message}${
        e.params && isObj(e.params) && e.params.additionalProperty
          ? ` (${e.params.additionalProperty})`
          : ""
      }`
    );
  }

  /** Find the operation for a method and a (percent-encoded) path. */
  findOp(method: string, path: string): Op | undefined {
    const cands = this.#ops.filter((o) => o.method === method && o.re.test(path));
    cands.sort((a, b) => b.literalSegments - a.literalSegments);
    return cands[0];
  }

  /** Validate one exchange; returns problems (empty = conforming). */
  validate(ex: Exchange): string[] {
    const errs: string[] = [];
    const label = `${ex.method} ${ex.path}`;
    const op = this.findOp(ex.method, ex.path);
    if (!op) {
      const any = this.#ops.some((o) => o.re.test(ex.path));
      return [`${label}: ${any ? "method not allowed for this path" : "path not in the spec"}`];
    }
    const where = `${ex.method} ${op.template}`;
    // query parameters
    const qp = new Map<string, Json>();
    for (const p of op.params) if (p.in === "query") qp.set(String(p.name), p);
    for (const key of new Set(ex.query.keys())) {
      const p = qp.get(key);
      if (!p) {
        errs.push(`${where}: query parameter "${key}" is not declared`);
        continue;
      }
      const schema = this.#resolve(p.schema ?? {});
      const values = ex.query.getAll(key);
      if (schema.type !== "array" && values.length > 1) {
        errs.push(`${where}: query parameter "${key}" repeated but not an array`);
      }
      const itemSchema = schema.type === "array" ? this.#resolve(schema.items ?? {}) : schema;
      for (const raw of values) {
        const val = coerce(raw, String(itemSchema.type ?? "string"));
        if (val === undefined) {
          errs.push(`${where}: query "${key}=${raw}" is not a ${itemSchema.type}`);
          continue;
        }
        errs.push(
          ...this.#check(
            `q:${op.template}:${ex.method}:${key}`,
            itemSchema,
            val,
            `${where} query ${key}`,
          ),
        );
      }
    }
    // request body
    const rb = op.op.requestBody ? this.#resolve(op.op.requestBody) : null;
    if (ex.requestBody.trim() !== "") {
      if (!rb) errs.push(`${where}: request body not allowed`);
      else {
        const schema = ((rb.content as Json)?.["application/json"] as Json)?.schema;
        let body: unknown;
        try {
          body = JSON.parse(ex.requestBody);
        } catch {
          errs.push(`${where}: request body is not JSON`);
        }
        if (schema && body !== undefined) {
          errs.push(
            ...this.#check(`req:${op.template}:${ex.method}`, schema, body, `${where} request`),
          );
        }
      }
    } else if (rb && rb.required === true) {
      errs.push(`${where}: request body required`);
    }
    // response
    if (ex.status === 0) return errs; // connection dropped on purpose (fault injection)
    let data: unknown = undefined;
    if (ex.responseBody.trim() !== "") {
      try {
        data = JSON.parse(ex.responseBody);
      } catch {
        errs.push(`${where} ${ex.status}: response is not JSON`);
        return errs;
      }
    }
    const responses = (op.op.responses ?? {}) as Json;
    const real = REAL_SUCCESS_STATUS[`${ex.method} ${op.template}`];
    const documented = responses[String(ex.status)] ??
      (real && real.status === ex.status ? responses[String(real.documented)] : undefined);
    if (ex.status >= 400) {
      errs.push(...this.#checkErrorModel(where, ex));
      let schema: unknown = { $ref: "#/components/schemas/ApiCallRcList" };
      if (documented) {
        const resp = this.#resolve(documented);
        const s = ((resp.content as Json)?.["application/json"] as Json)?.schema as Json;
        if (s && s.$ref === "#/components/schemas/ApiCallRc") {
          schema = { type: "array", items: s }; // OperationFailed: see the file header
        } else if (s) schema = s;
      }
      errs.push(
        ...this.#check(
          `resp:${op.template}:${ex.method}:${ex.status}`,
          schema,
          data,
          `${where} ${ex.status}`,
        ),
      );
      return errs;
    }
    if (!documented) {
      errs.push(`${where}: status ${ex.status} is not documented`);
      return errs;
    }
    const resp = this.#resolve(documented);
    const schema = ((resp.content as Json)?.["application/json"] as Json)?.schema;
    if (schema) {
      if (data === undefined) errs.push(`${where} ${ex.status}: empty response body`);
      else {
        errs.push(
          ...this.#check(
            `resp:${op.template}:${ex.method}:${ex.status}`,
            schema,
            data,
            `${where} ${ex.status}`,
          ),
        );
        const s = this.#resolve(schema);
        if (s.type === "array" && (s.items as Json)?.$ref === "#/components/schemas/ApiCallRc") {
          const bad = rcEntries(ex.responseBody).filter((r) => rcClass(r) === "error");
          if (bad.length) errs.push(`${where} ${ex.status}: success status with error entries`);
        }
      }
    }
    return errs;
  }

  #checkErrorModel(where: string, ex: Exchange): string[] {
    const rcs = rcEntries(ex.responseBody);
    const errors = rcs.filter((r) => rcClass(r) === "error");
    if (!errors.length) return [`${where} ${ex.status}: error status without an error entry`];
    const first = rcCode(errors[0]);
    let want = 500;
    if (first >= 300 && first <= 399) want = 404;
    else if (first >= 400 && first <= 499) want = 403;
    if (ex.status === 400 || ex.status === 401) return []; // parse errors / missing credentials
    return ex.status === want
      ? []
      : [`${where}: status ${ex.status} but the first error code ${first} means ${want}`];
  }
}

function rcEntries(text: string): bigint[] {
  try {
    const v = parseJsonLossless(text);
    const arr = Array.isArray(v) ? v : [v];
    return arr.filter((x) => isObj(x) && typeof x.ret_code === "bigint").map((x) =>
      (x as { ret_code: bigint }).ret_code
    );
  } catch {
    return [];
  }
}

function coerce(raw: string, type: string): unknown {
  if (type === "boolean") return raw === "true" ? true : raw === "false" ? false : undefined;
  if (type === "integer") return /^-?\d+$/.test(raw) ? Number(raw) : undefined;
  if (type === "number") {
    return raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : undefined;
  }
  return raw;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Load the spec file and build a validator. */
export async function loadOpenApiValidator(path = SPEC_PATH): Promise<OpenApiValidator> {
  const spec = parseYaml(await Deno.readTextFile(path)) as Json;
  return new OpenApiValidator(spec);
}

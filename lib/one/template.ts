/**
 * OpenNebula template text (`NAME = "value"`, `NAME = [ A = "1", B = 2 ]`, `# comments`).
 *
 * Used for `monitord.conf`, for the template strings of `one.vm.update` / `one.image.update`,
 * and by the simulated oned. Names are upper-cased like oned does; values stay strings.
 */
import { OneblkError } from "../errors.ts";

/** One attribute of a template: a single value or a vector of single values. */
export type TemplateAttr =
  | { name: string; value: string; vector?: undefined }
  | { name: string; vector: Record<string, string>; value?: undefined };

type Tok = { t: "word" | "str" | "=" | "[" | "]" | ","; v: string; line: number };

function tokenize(src: string, what: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  let line = 1;
  const fail = (msg: string): never => {
    throw new OneblkError("input", `${what}: syntax error at line ${line}: ${msg}`);
  };
  while (i < src.length) {
    const c = src[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r") i++;
    else if (c === "#") {
      while (i < src.length && src[i] !== "\n") i++;
    } else if (c === "=" || c === "[" || c === "]" || c === ",") {
      out.push({ t: c, v: c, line });
      i++;
    } else if (c === '"') {
      const start = line;
      let v = "";
      i++;
      for (;;) {
        if (i >= src.length) fail("unterminated string");
        const d = src[i];
        if (d === "\\" && (src[i + 1] === '"' || src[i + 1] === "\\")) {
          v += src[i + 1];
          i += 2;
        } else if (d === '"') {
          i++;
          break;
        } else {
          if (d === "\n") line++;
          v += d;
          i++;
        }
      }
      out.push({ t: "str", v, line: start });
    } else {
      let v = "";
      while (i < src.length && !/[\s=[\],"#]/.test(src[i])) v += src[i++];
      out.push({ t: "word", v, line });
    }
  }
  return out;
}

/**
 * Parse OpenNebula template text into attributes, in order (duplicates kept).
 * Throws OneblkError("input") on syntax errors; `what` names the source in the message.
 */
export function parseTemplate(text: string, what = "template"): TemplateAttr[] {
  const toks = tokenize(text, what);
  const out: TemplateAttr[] = [];
  let p = 0;
  const fail = (msg: string): never => {
    const line = toks[Math.min(p, toks.length - 1)]?.line ?? 1;
    throw new OneblkError("input", `${what}: syntax error at line ${line}: ${msg}`);
  };
  const name = (): string => {
    const t = toks[p];
    if (!t || t.t !== "word" || !/^[A-Za-z0-9_]+$/.test(t.v)) fail("attribute name expected");
    p++;
    return t.v.toUpperCase();
  };
  const expect = (k: Tok["t"]) => {
    if (toks[p]?.t !== k) fail(`'${k}' expected`);
    p++;
  };
  const scalar = (): string => {
    const t = toks[p];
    if (!t || (t.t !== "word" && t.t !== "str")) return fail("value expected");
    p++;
    return t.v;
  };
  while (p < toks.length) {
    const n = name();
    expect("=");
    if (toks[p]?.t === "[") {
      p++;
      const vector: Record<string, string> = {};
      while (toks[p]?.t !== "]") {
        const k = name();
        expect("=");
        vector[k] = scalar();
        if (toks[p]?.t === ",") p++;
        else if (toks[p]?.t !== "]") fail("',' or ']' expected");
      }
      p++;
      out.push({ name: n, vector });
    } else out.push({ name: n, value: scalar() });
  }
  return out;
}

/** First vector attribute `name` (case-insensitive), or undefined. */
export function templateVector(
  attrs: TemplateAttr[],
  name: string,
): Record<string, string> | undefined {
  const n = name.toUpperCase();
  return attrs.find((a) => a.name === n && a.vector !== undefined)?.vector;
}

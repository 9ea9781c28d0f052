/**
 * Eager compilation of a per-action program's hot functions (build time; tools/bundle.ts).
 *
 * Why: an action runs with Deno's V8 code cache, but the cache holds only what V8 compiled with
 * the module, its top-level code. Every function is compiled from source when first called, on
 * every call of the action: for a premigrate about 430 functions of its own program (measured with
 * V8's `--log-function-events`). V8 compiles eagerly, with the module and so into the cache, a
 * function expression written in parentheses (`(function (…) {…})`, its "PIFE" heuristic). So the
 * build rewrites the functions an action is known to call (the profile, below) into that form:
 *
 * - a function declaration at the top of a module or of a function body becomes
 *   `var f=(function f(…){…});` placed first in that body, where hoisting would have put it: the
 *   binding holds the function before any other statement runs, as a declaration's does (the
 *   programs are single modules: nothing sees the binding before the module's body starts);
 * - a function expression gets the parentheses (`(function …)`), unless it is a method, a getter
 *   or a setter (whose syntax has no place for them);
 * - an arrow function that uses neither `this`, `arguments`, `super` nor `new.target` (not even in
 *   a nested function: the test is conservative) becomes `(function (…) {…})`, `async` kept, its
 *   expression body a `return`; an arrow that uses them keeps its form (and stays lazy).
 * Class methods and functions in other places stay as they are.
 *
 * The profile (tools/eager_profile.json) names functions by the original position esbuild's
 * source map gives for V8's start of the function (its parameters' `(`; an arrow's first token),
 * "file:line:column", per program. `deno task bundle profile` makes it: it builds the programs
 * without eager functions, runs the hot actions' VM life on the simulators with function events
 * logged, and keeps, per program, the functions V8 compiled lazily. A profile made before the
 * sources changed still applies to every function whose original position did not move; the
 * others stay lazy (slower, never wrong) until the profile is made again.
 *
 * Measured (deno task bench --sections hot --samples 8, two pairs): premigrate 60 and 56 ms
 * against 65 and 65 with every function lazy, the peaks within the spread.
 */
import { parse } from "acorn";
import { decode, type SourceMapSegment } from "@jridgewell/sourcemap-codec";
import { dirname, join, relative, resolve } from "../lib/path.ts";

/** The parts of a source map (v3) used here. */
export interface SourceMapJson {
  sources: string[];
  sourceRoot?: string;
  mappings: string;
}

/** Original positions of a generated file, by generated offset. */
export class OriginalPositions {
  #lineStarts: number[] = [0];
  #lines: SourceMapSegment[][];
  #sources: string[];

  /**
   * `code`: the generated file; `map`: its source map, written at `mapPath`; `root`: what the
   * original file names are made relative to (the repository).
   */
  constructor(code: string, map: SourceMapJson, mapPath: string, root: string) {
    for (let i = code.indexOf("\n"); i >= 0; i = code.indexOf("\n", i + 1)) {
      this.#lineStarts.push(i + 1);
    }
    this.#lines = decode(map.mappings);
    const base = join(dirname(mapPath), map.sourceRoot ?? "");
    this.#sources = map.sources.map((s) => {
      const abs = s.startsWith("file://")
        ? decodeURIComponent(new URL(s).pathname)
        : resolve(base, s);
      return relative(root, abs);
    });
  }

  /**
   * "file:line:column" (line from 1, column from 0) of the last mapping at or before generated
   * offset `at` on its line; undefined when its line has none before it.
   */
  keyAt(at: number): string | undefined {
    let lo = 0, hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid] <= at) lo = mid;
      else hi = mid - 1;
    }
    const col = at - this.#lineStarts[lo];
    const segs = this.#lines[lo] ?? [];
    let a = 0, b = segs.length - 1, found = -1;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (segs[m][0] <= col) {
        found = m;
        a = m + 1;
      } else b = m - 1;
    }
    for (let i = found; i >= 0; i--) {
      const s = segs[i];
      if (s.length >= 4) return `${this.#sources[s[1]!]}:${s[2]! + 1}:${s[3]}`;
    }
    return undefined;
  }
}

// deno-lint-ignore no-explicit-any
type Node = any;

/** One change of the text: [start, end) replaced by what `render` gives. */
interface Edit {
  start: number;
  end: number;
  render: () => string;
}

/** V8's start position of a function (what `--log-function-events` reports). */
function v8Start(code: string, fn: Node): number {
  if (fn.type === "ArrowFunctionExpression") return fn.start;
  return code.indexOf("(", fn.id ? fn.id.end : fn.start);
}

/** True when `fn` (an arrow) or anything inside it uses this, arguments, super or new.target. */
function usesOwnBindings(fn: Node): boolean {
  let found = false;
  const visit = (n: Node): void => {
    if (found || !n || typeof n.type !== "string") return;
    if (
      n.type === "ThisExpression" || n.type === "Super" || n.type === "MetaProperty" ||
      (n.type === "Identifier" && n.name === "arguments")
    ) {
      found = true;
      return;
    }
    for (const k in n) {
      if (k === "type" || k === "start" || k === "end") continue;
      const v = n[k];
      if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === "object") visit(v);
    }
  };
  visit(fn.body);
  fn.params.forEach(visit);
  return found;
}

/** What {@link eagerize} did. */
export interface EagerResult {
  code: string;
  /** Functions made eager. */
  eager: number;
  /** Functions of the profile found in the program but left lazy (methods, `this` arrows…). */
  kept: number;
  /** Positions of the profile found in the program (the rest: code changed since it was made). */
  found: number;
}

/**
 * Rewrite the functions of `code` whose original position (`positions`, see
 * {@link OriginalPositions.keyAt} at their V8 start) is in `hot` so that V8 compiles them with the
 * module (see the module doc). `code` must be a module that parses as ES2024.
 */
export function eagerize(
  code: string,
  positions: Pick<OriginalPositions, "keyAt">,
  hot: ReadonlySet<string>,
): EagerResult {
  const ast = parse(code, { ecmaVersion: "latest", sourceType: "module" });
  const edits: Edit[] = [];
  /** Declarations moved to a body's start (their removal, with their name), by offset. */
  const moved = new Map<number, (Edit & { name: string })[]>();
  let eager = 0, kept = 0;
  const seen = new Set<string>();

  const emit = (start: number, end: number, skip?: Edit): string => {
    // (an insertion at the start of a moved declaration belongs to the body around it)
    const inside = edits.filter((e) =>
      e !== skip && e.start >= start && e.end <= end &&
      !(skip && e.start === e.end && e.start === start)
    ).sort((x, y) =>
      x.start - y.start || Number(x.end !== x.start) - Number(y.end !== y.start) ||
      (y.end - y.start) - (x.end - x.start)
    );
    let out = "", at = start;
    for (const e of inside) {
      if (e.start < at) continue; // inside an edit already rendered
      out += code.slice(at, e.start) + e.render();
      at = e.end;
    }
    return out + code.slice(at, end);
  };

  /** Where declarations hoisted in `body` (Program or a function's block) are put. */
  const bodyStart = (body: Node): { at: number; semi: boolean } => {
    const stmts: Node[] = body.body;
    let at = body.type === "Program" ? 0 : body.start + 1, semi = false;
    for (const s of stmts) {
      if (s.type !== "ExpressionStatement" || typeof s.directive !== "string") break;
      at = s.end;
      semi = code[s.end - 1] !== ";";
    }
    return { at, semi };
  };

  const isFunction = (n: Node) =>
    n && (n.type === "FunctionDeclaration" || n.type === "FunctionExpression" ||
      n.type === "ArrowFunctionExpression");

  const consider = (fn: Node, parent: Node, grand: Node): void => {
    const key = positions.keyAt(v8Start(code, fn));
    if (!key || !hot.has(key)) return;
    seen.add(key);
    if (fn.type === "FunctionDeclaration") {
      const inBody = parent.type === "Program" ||
        (parent.type === "BlockStatement" && isFunction(grand) && grand.body === parent);
      if (!inBody || !fn.id) return void kept++;
      const del = { start: fn.start, end: fn.end, render: () => "", name: fn.id.name as string };
      edits.push(del);
      const { at, semi } = bodyStart(parent);
      let list = moved.get(at);
      if (!list) {
        list = [];
        moved.set(at, list);
        const items = list;
        edits.push({
          start: at,
          end: at,
          render: () =>
            (semi ? ";" : "") +
            items.map((d) => `var ${d.name}=(${emit(d.start, d.end, d)});`).join(""),
        });
      }
      list.push(del);
      eager++;
      return;
    }
    if (fn.type === "FunctionExpression") {
      const method = (parent.type === "Property" && (parent.method || parent.kind !== "init")) ||
        parent.type === "MethodDefinition";
      if (method) return void kept++;
      if (code[fn.start - 1] === "(") return; // already in parentheses
      const self: Edit = {
        start: fn.start,
        end: fn.end,
        render: () => `(${emit(fn.start, fn.end, self)})`,
      };
      edits.push(self);
      eager++;
      return;
    }
    // an arrow
    if (fn.generator || usesOwnBindings(fn)) return void kept++;
    // (rendered only after the walk: the edits nested in it are known by then)
    const self: Edit = {
      start: fn.start,
      end: fn.end,
      render: () => {
        const p = fn.params.length
          ? emit(fn.params[0].start, fn.params[fn.params.length - 1].end)
          : "";
        const body = fn.expression
          ? `{return(${emit(fn.body.start, fn.body.end)})}`
          : emit(fn.body.start, fn.body.end);
        return `(${fn.async ? "async " : ""}function(${p})${body})`;
      },
    };
    edits.push(self);
    eager++;
  };

  const walk = (n: Node, parent: Node, grand: Node): void => {
    if (!n || typeof n.type !== "string") return;
    if (isFunction(n)) consider(n, parent, grand);
    for (const k in n) {
      if (k === "type" || k === "start" || k === "end") continue;
      const v = n[k];
      if (Array.isArray(v)) { for (const c of v) walk(c, n, parent); }
      else if (v && typeof v === "object" && typeof v.type === "string") walk(v, n, parent);
    }
  };
  walk(ast, null, null);
  return { code: edits.length ? emit(0, code.length) : code, eager, kept, found: seen.size };
}

/** The lazily compiled functions of the per-action programs in one V8 log. */
export function lazyFunctions(log: string, programOf: (url: string) => string | undefined) {
  const scripts = new Map<string, string>();
  const out = new Map<string, Set<number>>();
  for (const line of log.split("\n")) {
    if (line.startsWith("script-details,")) {
      const [, id, url] = line.split(",", 3);
      const program = programOf(url);
      if (program) scripts.set(id, program);
    } else if (line.startsWith("function,parse-function,")) {
      const [, , id, start] = line.split(",", 5);
      const program = scripts.get(id);
      if (!program) continue;
      let set = out.get(program);
      if (!set) out.set(program, set = new Set());
      set.add(Number(start));
    }
  }
  return out;
}

/**
 * One program's entry of tools/eager_profile.json: its hot functions' positions grouped by file,
 * `{ "lib/a.ts": "12:4 30:0" }` (line:column, in order), from keys "file:line:column".
 */
export function profileEntry(keys: Iterable<string>): Record<string, string> {
  const byFile = new Map<string, [number, number][]>();
  for (const k of keys) {
    const m = /^(.*):(\d+):(\d+)$/.exec(k);
    if (!m) continue;
    let list = byFile.get(m[1]);
    if (!list) byFile.set(m[1], list = []);
    list.push([Number(m[2]), Number(m[3])]);
  }
  const out: Record<string, string> = {};
  for (const f of [...byFile.keys()].sort()) {
    out[f] = byFile.get(f)!.sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([l, c]) => `${l}:${c}`)
      .join(" ");
  }
  return out;
}

/** The keys ("file:line:column") of a program's entry of tools/eager_profile.json. */
export function profileKeys(entry: Record<string, string>): string[] {
  return Object.entries(entry).flatMap(([file, list]) =>
    list.split(" ").filter(Boolean).map((p) => `${file}:${p}`)
  );
}

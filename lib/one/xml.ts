/**
 * Minimal, order-preserving XML tree for oned documents (and libvirt domain XML).
 *
 * oned XML is small and attribute-light; we parse it with fast-xml-parser
 * (validated first, since its parser silently accepts malformed input) and
 * expose a tiny navigation API. All values stay strings: no type coercion.
 * Namespace prefixes stay part of element and attribute names (`one:vm`, `xmlns:one`), and
 * attributes keep their document order. Comments, processing instructions and the whitespace
 * between elements are not kept; CDATA sections become plain text.
 *
 * `parseXml(…, { strict: true })` also runs saxes, a conformant well-formedness checker, for what
 * fast-xml-parser's validator lets through (undeclared namespace prefixes, undefined entities,
 * illegal characters, `<` in attribute values): the checks `xmllint --noout` makes.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { SaxesParser } from "saxes";
import { OneblkError } from "../errors.ts";

/** One XML element: name, attributes, text content and child elements. */
export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlNode[];
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  parseTagValue: false,
  parseAttributeValue: false,
  htmlEntities: true,
  trimValues: true,
  cdataPropName: "#cdata",
  processEntities: true,
});

type Raw = Record<string, unknown>;

function build(raw: Raw): XmlNode | null {
  const name = Object.keys(raw).find((k) => k !== ":@");
  if (!name || name === "#text" || name === "#cdata" || name.startsWith("?")) return null;
  const node: XmlNode = { name, attrs: {}, text: "", children: [] };
  const at = raw[":@"] as Record<string, string> | undefined;
  if (at) { for (const [k, v] of Object.entries(at)) node.attrs[k] = String(v); }
  for (const item of (raw[name] as Raw[]) ?? []) {
    if ("#text" in item) node.text += String(item["#text"]);
    else if ("#cdata" in item) {
      for (const c of item["#cdata"] as Raw[]) node.text += String(c["#text"] ?? "");
    } else {
      const child = build(item);
      if (child) node.children.push(child);
    }
  }
  return node;
}

/** Options of `parseXml`. */
export interface ParseXmlOptions {
  /**
   * Reject everything an XML 1.0 + namespaces parser (libxml2, as used by libvirt and xmllint)
   * rejects, not only what fast-xml-parser's validator catches. For documents that did not come
   * from oned (libvirt domain XML, results of operators' helper programs).
   */
  strict?: boolean;
}

/**
 * fast-xml-parser's error as one line. Its report of elements left open at the end of the input
 * is a JSON list of their names with a meaningless line number: name them instead.
 */
function validatorProblem(e: { msg: string; line: number }): string {
  const m = /^Invalid '(\[[\s\S]*\])' found/.exec(e.msg);
  if (m) {
    try {
      const open: unknown = JSON.parse(m[1]);
      if (Array.isArray(open) && open.length > 0) {
        return `input ends inside ${open.map((t) => `<${t}>`).join(" ")}`;
      }
    } catch { /* not the list: report as is */ }
  }
  return `${e.msg} (line ${e.line})`;
}

/** First well-formedness or namespace error saxes reports, as "message (line N)". */
function strictProblem(text: string): string | undefined {
  const parser = new SaxesParser({ xmlns: true, position: true });
  let first: string | undefined;
  parser.on("error", (e: Error) => {
    if (first !== undefined) return;
    const m = /^(\d+):\d+: (.*?)\.?$/s.exec(e.message);
    first = m ? `${m[2]} (line ${m[1]})` : e.message;
  });
  parser.write(text).close();
  return first;
}

/** Parse an XML document and return its root element; throws OneblkError on bad input. */
export function parseXml(text: string, what = "XML", opts: ParseXmlOptions = {}): XmlNode {
  const trimmed = text.trim();
  if (!trimmed) throw new OneblkError("input", `${what} is empty`);
  const ok = XMLValidator.validate(trimmed);
  if (ok !== true) throw new OneblkError("input", `malformed ${what}: ${validatorProblem(ok.err)}`);
  const problem = opts.strict ? strictProblem(trimmed) : undefined;
  if (problem) throw new OneblkError("input", `malformed ${what}: ${problem}`);
  const roots = (parser.parse(trimmed) as Raw[]).map(build).filter((n): n is XmlNode => !!n);
  if (roots.length !== 1) {
    throw new OneblkError("input", `malformed ${what}: no single root element`);
  }
  return roots[0];
}

/** First child element with this name, or undefined. */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return node?.children.find((c) => c.name === name);
}

/** All child elements with this name. */
export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  return node ? node.children.filter((c) => c.name === name) : [];
}

/**
 * Follow a slash-separated path of child names ("TEMPLATE/DISK") and return the first match.
 * Use `select` for all matches.
 */
export function at(node: XmlNode | undefined, path: string): XmlNode | undefined {
  let cur = node;
  for (const part of path.split("/")) {
    if (!part) continue;
    cur = child(cur, part);
    if (!cur) return undefined;
  }
  return cur;
}

/** Every node reached by the slash-separated path (all branches). */
export function select(node: XmlNode | undefined, path: string): XmlNode[] {
  let cur: XmlNode[] = node ? [node] : [];
  for (const part of path.split("/")) {
    if (!part) continue;
    cur = cur.flatMap((n) => children(n, part));
  }
  return cur;
}

/** Text at a path, or "" when absent. */
export function text(node: XmlNode | undefined, path: string): string {
  return at(node, path)?.text ?? "";
}

/** Flatten an element's simple children (leaf elements) into a name → text map. First wins. */
export function leaves(node: XmlNode | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of node?.children ?? []) {
    if (c.children.length === 0 && !(c.name in out)) out[c.name] = c.text;
  }
  return out;
}

/** Escape text for inclusion in XML element content or attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/**
 * Copy of `node` whose child elements are `fn(child, index)`. Returns `node` itself when `fn`
 * returned every child unchanged, so untouched subtrees stay shared (and compare equal by
 * identity).
 */
export function mapChildren(node: XmlNode, fn: (c: XmlNode, index: number) => XmlNode): XmlNode {
  const next = node.children.map(fn);
  return next.every((c, i) => c === node.children[i]) ? node : { ...node, children: next };
}

/** Options of `toXml`. */
export interface ToXmlOptions {
  /**
   * Indentation unit: with it, every element starts on its own line, nested one unit deeper,
   * and empty elements are written self-closed (`<readonly/>`). Without it (the default) the
   * output is one line with explicit end tags.
   */
  indent?: string;
}

// Tabs and line breaks in attribute values become character references: written raw they
// would be normalized to spaces when the document is read again.
function attrText(attrs: Record<string, string>): string {
  return Object.entries(attrs).map(([k, v]) =>
    ` ${k}="${escapeXml(v).replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`)}"`
  ).join("");
}

function writePretty(node: XmlNode, indent: string, depth: number, out: string[]): void {
  const pad = indent.repeat(depth);
  const open = `<${node.name}${attrText(node.attrs)}`;
  if (node.children.length === 0) {
    out.push(
      node.text ? `${pad}${open}>${escapeXml(node.text)}</${node.name}>` : `${pad}${open}/>`,
    );
    return;
  }
  out.push(`${pad}${open}>${escapeXml(node.text)}`);
  for (const c of node.children) writePretty(c, indent, depth + 1, out);
  out.push(`${pad}</${node.name}>`);
}

/** Serialize a node back to XML text (values escaped, no CDATA, no XML declaration). */
export function toXml(node: XmlNode, opts: ToXmlOptions = {}): string {
  if (opts.indent !== undefined) {
    const out: string[] = [];
    writePretty(node, opts.indent, 0, out);
    return out.join("\n") + "\n";
  }
  const inner = escapeXml(node.text) + node.children.map((c) => toXml(c)).join("");
  return `<${node.name}${attrText(node.attrs)}>${inner}</${node.name}>`;
}

/**
 * Minimal, order-preserving XML tree for oned documents (and libvirt domain XML).
 *
 * Documents become XmlNode trees with a tiny navigation API. All values stay strings: no type
 * coercion. Namespace prefixes stay part of element and attribute names (`one:vm`, `xmlns:one`),
 * and attributes keep their document order. Comments, processing instructions and the whitespace
 * around text are not kept; CDATA sections become plain text.
 *
 * By default the parse is lenient where oned's own documents never need strictness: undeclared
 * namespace prefixes, undefined entities (kept as written) and disallowed characters are let
 * through; anything that breaks the structure (tags, quotes, roots, the end of the input) is an
 * error. `parseXml(…, { strict: true })` rejects everything an XML 1.0 + namespaces parser
 * (libxml2, as used by libvirt and `xmllint --noout`) rejects.
 *
 * Two parsers: saxes (npm), a small conformant XML 1.0 parser (xml_saxes.ts), is the reference
 * for trees and error texts, but it reads a character at a time, which costs milliseconds per VM
 * document when V8 runs without a JIT (driver actions run with `--jitless`), and loading it costs
 * an action process about 1.5 ms and 0.6 MiB. The lenient parse therefore first tries xml_fast.ts,
 * a tokenizer for the plain XML oned sends built on native string search; it gives up on anything
 * unusual or wrong, and only then is saxes imported (dynamically: this module does not load it)
 * and parses the input, so trees and error messages do not depend on which path read the document.
 * Hence `parseXml` answers a promise; `parseXmlSync` (xml_saxes.ts) is the same parse for code
 * that may load saxes at start.
 */
import { parseXmlFast, type ParseXmlOptions, type XmlNode } from "./xml_fast.ts";

export type { ParseXmlOptions, XmlNode };

/**
 * Parse an XML document and return its root element; rejects with OneblkError("input") on bad
 * input.
 *
 * The default (lenient) parse first tries a fast tokenizer (xml_fast.ts) that reads the plain
 * XML oned sends; whatever it does not read (unusual constructs, every error), and every strict
 * parse, is parsed by saxes (xml_saxes.ts, imported on that first need), so results and error
 * messages are those of `parseXmlSaxes`. `parseXmlSync` in xml_saxes.ts is the same parse
 * without the wait, for code that may load saxes up front.
 */
export async function parseXml(
  text: string,
  what = "XML",
  opts: ParseXmlOptions = {},
): Promise<XmlNode> {
  if (opts.strict !== true) {
    const trimmed = text.trim();
    const fast = trimmed ? parseXmlFast(trimmed) : undefined;
    if (fast !== undefined) return fast;
  }
  const { parseXmlSaxes } = await import("./xml_saxes.ts");
  return parseXmlSaxes(text, what, opts);
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

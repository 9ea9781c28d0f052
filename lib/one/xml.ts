/**
 * Minimal, order-preserving XML tree for oned documents.
 *
 * oned XML is small and attribute-light; we parse it with fast-xml-parser
 * (validated first, since its parser silently accepts malformed input) and
 * expose a tiny navigation API. All values stay strings: no type coercion.
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";
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

/** Parse an XML document and return its root element; throws OneblkError on bad input. */
export function parseXml(text: string, what = "XML"): XmlNode {
  const trimmed = text.trim();
  if (!trimmed) throw new OneblkError("input", `${what} is empty`);
  const ok = XMLValidator.validate(trimmed);
  if (ok !== true) {
    const e = ok.err;
    throw new OneblkError("input", `malformed ${what}: ${e.msg} (line ${e.line})`);
  }
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

/** Serialize a node back to XML text (values escaped, no CDATA). */
export function toXml(node: XmlNode): string {
  const attrs = Object.entries(node.attrs).map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join("");
  const inner = escapeXml(node.text) + node.children.map(toXml).join("");
  return `<${node.name}${attrs}>${inner}</${node.name}>`;
}

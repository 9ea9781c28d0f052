/**
 * The saxes half of `parseXml` (xml.ts): the parse by saxes (npm), a small conformant XML 1.0
 * parser, with the error texts oneblk reports; and `parseXmlSync`, the whole of `parseXml`
 * (fast path, then saxes) without the promise.
 *
 * Kept apart from xml.ts so that saxes (about 45 KB of bundled code) loads only when a document
 * needs it: xml.ts imports this module dynamically when its fast path (xml_fast.ts) gives up or
 * the parse is strict, and oned's ordinary documents never get here. What imports this module
 * statically loads saxes at start: libvirt domain XML (lib/domain/domain_xml.ts, always strict),
 * the simulators and the tests.
 *
 * Lenient and strict parses are described in xml.ts; both build the tree described there and
 * throw OneblkError("input") with one line naming the problem.
 */
import { SaxesParser, type SaxesTagPlain } from "saxes";
import { OneblkError } from "../errors.ts";
import { parseXmlFast, type ParseXmlOptions, type XmlNode } from "./xml_fast.ts";

/** The problems the default (lenient) parse lets through: none of them hides structure. */
const LENIENT = /^(undefined entity|disallowed character\.|disallowed character in entity name)/;

/** saxes's error text as one line, in words an operator can act on. */
function problemText(message: string): string {
  const m = /^(\d+):\d+: (.*?)\.?$/s.exec(message);
  let what = m ? m[2] : message;
  if (what === "disallowed character in entity name") {
    what = "'&' does not start an entity reference";
  }
  return m ? `${what} (line ${m[1]})` : what;
}

/** Line (1-based) of the first `&` that starts no entity or character reference, if any. */
function bareAmpersandLine(text: string): number | undefined {
  const m = /&(?!(?:[A-Za-z_:][\w.:-]*|#[0-9]+|#x[0-9A-Fa-f]+);)/.exec(text);
  return m ? text.slice(0, m.index).split("\n").length : undefined;
}

/**
 * The problem of input that ended early. saxes reads a bare `&` up to the next `;`, so a stray
 * ampersand surfaces as an early end: name it. Otherwise name the elements left open, with the
 * one whose start tag was cut off.
 */
function earlyEnd(text: string, open: XmlNode[]): string {
  const amp = bareAmpersandLine(text);
  if (amp !== undefined) return `'&' does not start an entity reference (line ${amp})`;
  const names = open.map((n) => n.name);
  const cut = /<([^\s/>!?]+)[^>]*$/.exec(text);
  if (cut) names.push(cut[1]);
  return `input ends inside ${names.map((n) => `<${n}>`).join(" ")}`;
}

/**
 * `parseXml` (xml.ts) without the wait: the fast path, then saxes, with the same results and
 * errors. For strict parses (which always take saxes) and for code off a driver action's path
 * (tools, tests); importing it loads saxes.
 */
export function parseXmlSync(text: string, what = "XML", opts: ParseXmlOptions = {}): XmlNode {
  if (opts.strict !== true) {
    const trimmed = text.trim();
    const fast = trimmed ? parseXmlFast(trimmed) : undefined;
    if (fast !== undefined) return fast;
  }
  return parseXmlSaxes(text, what, opts);
}

/**
 * The parse by saxes alone, without the fast path: `parseXml`'s fallback and strict parse, and
 * the reference the fast path is tested against (test/one/xml_fast_test.ts). Throws
 * OneblkError("input") on bad input.
 */
export function parseXmlSaxes(text: string, what = "XML", opts: ParseXmlOptions = {}): XmlNode {
  const trimmed = text.trim();
  if (!trimmed) throw new OneblkError("input", `${what} is empty`);
  const strict = opts.strict === true;
  const parser = new SaxesParser({ xmlns: strict, position: true });
  const open: XmlNode[] = [];
  let root: XmlNode | undefined;
  let problem: string | undefined;
  let ended = false;
  parser.on("error", (e: Error) => {
    if (problem !== undefined) return;
    const msg = /^\d+:\d+: (.*)$/s.exec(e.message)?.[1] ?? e.message;
    if (!strict && LENIENT.test(msg)) return;
    problem = ended && /^(unclosed tag|unexpected end)/.test(msg)
      ? earlyEnd(trimmed, open)
      : problemText(e.message);
  });
  parser.on("opentag", (tag) => {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries((tag as SaxesTagPlain).attributes)) {
      attrs[k] = typeof v === "string" ? v : (v as { value: string }).value;
    }
    const node: XmlNode = { name: tag.name, attrs, text: "", children: [] };
    const parent = open.at(-1);
    if (parent) parent.children.push(node);
    else root ??= node;
    open.push(node);
  });
  parser.on("text", (t: string) => {
    const parent = open.at(-1);
    if (parent) parent.text += t.trim();
  });
  parser.on("cdata", (t: string) => {
    const parent = open.at(-1);
    if (parent) parent.text += t;
  });
  parser.on("closetag", () => void open.pop());
  parser.write(trimmed);
  ended = true;
  parser.close();
  if (problem !== undefined) throw new OneblkError("input", `malformed ${what}: ${problem}`);
  if (!root) throw new OneblkError("input", `malformed ${what}: no root element`);
  return root;
}

/**
 * The fast path of `parseXml`'s default (lenient) parse: a small tokenizer for the plain XML that
 * oned and the XML-RPC envelope carry, built on native string search (indexOf, sticky regular
 * expressions) so that it costs little even when V8 runs without a JIT (`--jitless`).
 *
 * It accepts only a conservative subset of XML, and for that subset it builds exactly the tree
 * that the saxes parse of `parseXml` builds: ASCII names, quoted attribute values without `<`,
 * the five predefined entities, character references, undefined entities of ASCII names (kept as
 * written), CDATA sections, comments and an XML 1.0 declaration at the start. Anything else
 * (a DOCTYPE, processing instructions, carriage returns, characters beyond the BMP, any
 * well-formedness problem) makes it answer `undefined`, and the caller parses with saxes, which
 * gives today's result or error. It never reports an error itself.
 */
/** One XML element: name, attributes, text content and child elements. */
export interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  text: string;
  children: XmlNode[];
}

/** Options of `parseXml` (xml.ts) and of the saxes parse (xml_saxes.ts). */
export interface ParseXmlOptions {
  /**
   * Reject everything an XML 1.0 + namespaces parser (libxml2, as used by libvirt and xmllint)
   * rejects, not only what breaks the document's structure. For documents that did not come
   * from oned (libvirt domain XML, results of operators' helper programs).
   */
  strict?: boolean;
}

/** An element's start tag: name, attributes (each after whitespace), optional `/`, `>`. */
const OPEN =
  /<([A-Za-z_:][\w.:-]*)((?:[ \t\n]+[A-Za-z_:][\w.:-]*[ \t\n]*=[ \t\n]*(?:"[^"<]*"|'[^'<]*'))*)[ \t\n]*(\/?)>/y;
/** One attribute within the attribute part of OPEN. */
const ATTR = /[ \t\n]+([A-Za-z_:][\w.:-]*)[ \t\n]*=[ \t\n]*(?:"([^"<]*)"|'([^'<]*)')/y;
/** An end tag. */
const CLOSE = /<\/([A-Za-z_:][\w.:-]*)[ \t\n]*>/y;
/** An XML 1.0 declaration of the forms saxes accepts (version, then encoding, standalone). */
const DECL =
  /<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(?:"1\.0"|'1\.0')(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(?:"[A-Za-z][\w.-]*"|'[A-Za-z][\w.-]*'))?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\n]*\?>/y;
/** An entity or character reference. */
const REF = /&(?:#([0-9]+)|#x([0-9A-Fa-f]+)|([A-Za-z_:][\w.:-]*));/y;
/** What saxes reads differently from its raw text: line ends to normalize, surrogates. */
const UNUSUAL = /[\r\uD800-\uDFFF]/;
/** Text that is not XML white space (not allowed outside the root element). */
const NON_SPACE = /[^ \t\n]/;
/** Attribute-value normalization of the characters left after UNUSUAL. */
const ATTR_SPACE = /[\t\n]/g;

/** Whether a character reference names a character XML 1.0 allows. */
function isChar(n: number): boolean {
  return n === 0x9 || n === 0xA || n === 0xD || (n >= 0x20 && n <= 0xD7FF) ||
    (n >= 0xE000 && n <= 0xFFFD) || (n >= 0x10000 && n <= 0x10FFFF);
}

/** A reference other than the five predefined entities. */
const OTHER_REF = /&(?!(?:lt|gt|amp|quot|apos);)/;

/** `s` with its references decoded, or undefined when one is not of the plain kinds. */
function decode(s: string, first: number): string | undefined {
  // The common case (escaped markup: an XML document inside an XML-RPC string) in a few
  // native passes; "&amp;" last so that what it yields is not read again.
  if (!OTHER_REF.test(s)) {
    return s.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&quot;", '"')
      .replaceAll("&apos;", "'").replaceAll("&amp;", "&");
  }
  let out = "";
  let last = 0;
  let i = first;
  while (i !== -1) {
    REF.lastIndex = i;
    const m = REF.exec(s);
    if (!m) return undefined;
    out += s.slice(last, i);
    const name = m[3];
    if (name !== undefined) {
      switch (name) {
        case "amp":
          out += "&";
          break;
        case "lt":
          out += "<";
          break;
        case "gt":
          out += ">";
          break;
        case "quot":
          out += '"';
          break;
        case "apos":
          out += "'";
          break;
        default:
          out += m[0];
      }
    } else {
      const n = m[1] !== undefined ? parseInt(m[1], 10) : parseInt(m[2], 16);
      if (!isChar(n)) return undefined;
      out += String.fromCodePoint(n);
    }
    last = REF.lastIndex;
    i = s.indexOf("&", last);
  }
  return out + s.slice(last);
}

/** Attributes of OPEN's attribute part, or undefined (duplicates, bad references). */
function attributes(part: string): Record<string, string> | undefined {
  const attrs: Record<string, string> = {};
  ATTR.lastIndex = 0;
  while (ATTR.lastIndex < part.length) {
    const m = ATTR.exec(part);
    if (!m) return undefined;
    const name = m[1];
    if (Object.hasOwn(attrs, name)) return undefined;
    let v = m[2] ?? m[3];
    if (v.indexOf("\t") !== -1 || v.indexOf("\n") !== -1) v = v.replace(ATTR_SPACE, " ");
    const amp = v.indexOf("&");
    if (amp !== -1) {
      const d = decode(v, amp);
      if (d === undefined) return undefined;
      v = d;
    }
    attrs[name] = v;
  }
  return attrs;
}

/**
 * The root element of `src` (already trimmed) as the lenient saxes parse would build it, or
 * undefined when `src` is outside the subset this path reads, or is not well-formed.
 */
export function parseXmlFast(src: string): XmlNode | undefined {
  if (UNUSUAL.test(src)) return undefined;
  const n = src.length;
  let pos = 0;
  if (src.startsWith("<?xml")) {
    DECL.lastIndex = 0;
    if (!DECL.test(src)) return undefined;
    pos = DECL.lastIndex;
  }
  const stack: XmlNode[] = [];
  let cur: XmlNode | undefined;
  let root: XmlNode | undefined;
  while (pos < n) {
    const lt = src.indexOf("<", pos);
    const end = lt === -1 ? n : lt;
    if (end > pos) {
      let raw = src.slice(pos, end);
      if (cur === undefined) {
        if (NON_SPACE.test(raw)) return undefined;
      } else {
        if (raw.indexOf("]]>") !== -1) return undefined;
        const amp = raw.indexOf("&");
        if (amp !== -1) {
          const d = decode(raw, amp);
          if (d === undefined) return undefined;
          raw = d;
        }
        const t = raw.trim();
        if (t) cur.text += t;
      }
    }
    if (lt === -1) break;
    const c = src.charCodeAt(lt + 1);
    if (c === 47) { // "</"
      if (cur === undefined) return undefined;
      const name = cur.name;
      const after = lt + 2 + name.length;
      if (src.startsWith(name, lt + 2) && src.charCodeAt(after) === 62) {
        pos = after + 1;
      } else {
        CLOSE.lastIndex = lt;
        const m = CLOSE.exec(src);
        if (!m || m[1] !== name) return undefined;
        pos = CLOSE.lastIndex;
      }
      stack.pop();
      cur = stack.length === 0 ? undefined : stack[stack.length - 1];
    } else if (c === 33) { // "<!"
      if (src.startsWith("<!--", lt)) {
        const dd = src.indexOf("--", lt + 4);
        if (dd === -1 || src.charCodeAt(dd + 2) !== 62) return undefined;
        pos = dd + 3;
      } else if (src.startsWith("<![CDATA[", lt)) {
        if (cur === undefined) return undefined;
        const close = src.indexOf("]]>", lt + 9);
        if (close === -1) return undefined;
        cur.text += src.slice(lt + 9, close);
        pos = close + 3;
      } else {
        return undefined;
      }
    } else {
      if (cur === undefined && root !== undefined) return undefined;
      OPEN.lastIndex = lt;
      const m = OPEN.exec(src);
      if (!m) return undefined;
      let attrs: Record<string, string> | undefined = {};
      if (m[2]) {
        attrs = attributes(m[2]);
        if (attrs === undefined) return undefined;
      }
      const node: XmlNode = { name: m[1], attrs, text: "", children: [] };
      if (cur === undefined) root = node;
      else cur.children.push(node);
      if (m[3] === "") {
        stack.push(node);
        cur = node;
      }
      pos = OPEN.lastIndex;
    }
  }
  return stack.length === 0 ? root : undefined;
}

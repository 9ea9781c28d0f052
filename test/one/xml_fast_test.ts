/**
 * Differential test of parseXml's fast path (lib/one/xml_fast.ts) against the saxes-only parse
 * (parseXmlSaxes): for real documents, generated ones, their mutations and a list of malformed
 * inputs, parseXml (and parseXmlSync, its synchronous twin) must give the same tree or the same
 * error as saxes alone, and the fast path must answer either nothing or saxes's tree.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { FIXTURES } from "../fixtures_path.ts";
import { join } from "../../lib/path.ts";
import { parseXml, type XmlNode } from "../../lib/one/xml.ts";
import { parseXmlSaxes, parseXmlSync } from "../../lib/one/xml_saxes.ts";
import { parseXmlFast } from "../../lib/one/xml_fast.ts";
import { encodeMethodCall, encodeMethodResponse } from "../../lib/one/xmlrpc.ts";

type Outcome = { tree: XmlNode } | { error: string };

function outcome(f: () => XmlNode): Outcome {
  try {
    return { tree: f() };
  } catch (e) {
    return { error: `${(e as { kind?: string }).kind}: ${(e as Error).message}` };
  }
}

async function outcomeOf(p: Promise<XmlNode>): Promise<Outcome> {
  try {
    return { tree: await p };
  } catch (e) {
    return { error: `${(e as { kind?: string }).kind}: ${(e as Error).message}` };
  }
}

/**
 * Check one input; returns whether the fast path read it. Throws (an assertion) on the first
 * difference, naming the input.
 */
async function same(input: string): Promise<boolean> {
  const want = outcome(() => parseXmlSaxes(input, "X"));
  const got = await outcomeOf(parseXml(input, "X"));
  assert.deepStrictEqual(got, want, `parseXml differs from saxes for ${JSON.stringify(input)}`);
  const sync = outcome(() => parseXmlSync(input, "X"));
  assert.deepStrictEqual(
    sync,
    want,
    `parseXmlSync differs from saxes for ${JSON.stringify(input)}`,
  );
  const trimmed = input.trim();
  const fast = trimmed ? parseXmlFast(trimmed) : undefined;
  if (fast === undefined) return false;
  assert.ok("tree" in want, `the fast path accepts what saxes rejects: ${JSON.stringify(input)}`);
  assert.deepStrictEqual(fast, want.tree, `fast tree differs for ${JSON.stringify(input)}`);
  return true;
}

async function xmlFiles(dir: string, out: string[]): Promise<string[]> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) await xmlFiles(p, out);
    else if (e.name.endsWith(".xml")) out.push(p);
  }
  return out.sort();
}

/** Small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["a", "VM", "DISK", "x:y", "_u", "d.e-f", ":n", "n:", "a1", "b:c:d", "ID"];
const ODD_NAMES = ["1a", "é", "a\u00b7b", "-a", "a b", ""];
const SEPS = [" ", " ", "  ", "\t", "\n", "\n  ", ""];
const EQS = ["=", "=", " = ", "\n=\t", " ="];
const VALUE_PARTS = [
  "x",
  "a b",
  "1",
  "\t",
  "\n",
  "&amp;",
  "&lt;",
  "&gt;",
  "&quot;",
  "&apos;",
  "&#10;",
  "&#x9;",
  "&#65;",
  "&#x1F600;",
  "&nbsp;",
  "&a:b;",
  "&#0;",
  "&#x110000;",
  "&#X41;",
  "&#;",
  "<",
  ">",
  "]]>",
  "&",
  "&;",
  "&a b;",
  "é",
  "\u{1F600}",
  "\u0001",
  "\uFFFE",
  "\r\n",
  "\r",
  "'",
  '"',
];
const TEXT_PARTS = [
  "",
  " ",
  "\n  ",
  "word",
  " two words ",
  "&amp;",
  "&lt;tag a=&quot;1&quot;&gt;",
  "&#32;",
  "&#xA0;",
  "\u00A0",
  "&undefined;",
  "&",
  "]]>",
  "]]",
  "]",
  ">",
  "&#65;",
  "&#x10FFFF;",
  "&#xD800;",
  "<![CDATA[ c ]]>",
  "<![CDATA[]]]]>",
  "<![CDATA[<a>&amp;]]>",
  "<![CDATA[x",
  "<!-- c -->",
  "<!---->",
  "<!-- a -- b -->",
  "<!--->",
  "<!-- a --->",
  "<!x>",
  "<?pi x?>",
  "<?xml version='1.0'?>",
  "<!DOCTYPE a>",
  "\r",
  "\r\n",
  "\u{1F600}",
  "\uD800",
  "\uDC00x",
  "\u0085",
  "\u2028",
  "\t",
  "\u0000",
  "< a",
  "</>",
];
const PROLOGS = [
  "",
  "",
  '<?xml version="1.0"?>',
  "<?xml version='1.0' encoding='UTF-8'?>\n",
  '<?xml version="1.0" standalone="yes" ?>',
  '<?xml version="1.0" encoding="utf-8" standalone=\'no\'?>',
  "<?xml  version = '1.0'\n encoding = 'x'?>",
  '<?xml version="1.1"?>',
  '<?xml version="1.0" standalone="maybe"?>',
  '<?xml version="1.0" encoding="8bit"?>',
  '<?xml encoding="UTF-8"?>',
  '<?xml version="1.0"encoding="UTF-8"?>',
  '<?xml version="1.0" ?>',
  "<?XML version='1.0'?>",
  "<!-- lead -->\n",
  "<!DOCTYPE a>\n",
  "<!DOCTYPE a [<!ENTITY e 'v'>]>",
  " \n",
  "\uFEFF",
  "x",
  "&amp;",
  "<?pi?>",
];
const EPILOGS = ["", "", "\n", "<!-- tail -->", "\n<!---->\n", "<b/>", "text", "<?pi?>", "&amp;"];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)];
}

/** A random element; `odd` is the chance of each unusual choice. */
function element(rnd: () => number, depth: number, odd: number): string {
  const name = rnd() < odd / 3 ? pick(rnd, ODD_NAMES) : pick(rnd, NAMES);
  let open = `<${name}`;
  const nAttrs = Math.floor(rnd() * 4);
  const used = new Set<string>();
  for (let i = 0; i < nAttrs; i++) {
    const sep = rnd() < odd ? pick(rnd, SEPS) : pick(rnd, SEPS.slice(0, 6));
    const q = rnd() < 0.5 ? '"' : "'";
    let v = "";
    const nParts = Math.floor(rnd() * 3);
    for (let j = 0; j < nParts; j++) {
      const part = rnd() < odd ? pick(rnd, VALUE_PARTS) : pick(rnd, VALUE_PARTS.slice(0, 13));
      v += part === q ? "" : part;
    }
    if (rnd() < odd / 4) v += q;
    const unquoted = rnd() < odd / 6;
    const attrName = rnd() < odd / 4 ? pick(rnd, ODD_NAMES) : pick(rnd, NAMES);
    if (used.has(attrName) && rnd() >= odd) continue;
    used.add(attrName);
    open += `${sep}${attrName}${pick(rnd, EQS)}${unquoted ? "v" : `${q}${v}${q}`}`;
  }
  open += rnd() < 0.2 ? pick(rnd, [" ", "\n", "\t "]) : "";
  if (depth > 3 || rnd() < 0.25) return `${open}${rnd() < odd / 4 ? "/ >" : "/>"}`;
  let body = "";
  const nKids = Math.floor(rnd() * 4);
  for (let i = 0; i < nKids; i++) {
    if (rnd() < 0.6) {
      body += rnd() < odd ? pick(rnd, TEXT_PARTS) : pick(rnd, TEXT_PARTS.slice(0, 11));
    }
    body += element(rnd, depth + 1, odd);
  }
  if (rnd() < 0.7) body += rnd() < odd ? pick(rnd, TEXT_PARTS) : pick(rnd, TEXT_PARTS.slice(0, 11));
  let close = `</${name}${rnd() < 0.1 ? pick(rnd, [" ", "\n", "\t "]) : ""}>`;
  if (rnd() < odd / 4) close = rnd() < 0.5 ? `</${pick(rnd, NAMES)}>` : "";
  return `${open}>${body}${close}`;
}

function documentOf(rnd: () => number, odd: number): string {
  const prolog = rnd() < odd ? pick(rnd, PROLOGS) : pick(rnd, PROLOGS.slice(0, 7));
  const epilog = rnd() < odd ? pick(rnd, EPILOGS) : pick(rnd, EPILOGS.slice(0, 5));
  return `${prolog}${element(rnd, 0, odd)}${epilog}`;
}

/** The input with one random edit: a character removed, doubled or replaced. */
function mutate(rnd: () => number, s: string): string {
  const i = Math.floor(rnd() * s.length);
  const specials = ["<", ">", "&", "'", '"', "/", "=", "!", "?", "-", "]", ";", " ", "\n", "\r"];
  switch (Math.floor(rnd() * 3)) {
    case 0:
      return s.slice(0, i) + s.slice(i + 1);
    case 1:
      return s.slice(0, i) + s[i] + s.slice(i);
    default:
      return s.slice(0, i) + pick(rnd, specials) + s.slice(i + 1);
  }
}

describe("lib/one/xml_fast.ts (fast path of parseXml)", () => {
  it("reads every fixture document, and the XML-RPC envelopes around them, as saxes does", async () => {
    const files = await xmlFiles(FIXTURES, []);
    assert.ok(files.length > 20, `fixtures found: ${files.length}`);
    for (const f of files) {
      const doc = await Deno.readTextFile(f);
      assert.ok(await same(doc), `the fast path does not read ${f}`);
      assert.ok(await same(encodeMethodResponse([true, doc, 0])), `envelope of ${f}`);
      assert.ok(
        await same(encodeMethodCall("one.vm.update", ["secret", 7, doc, 1])),
        `call of ${f}`,
      );
    }
  });

  it("generated well-formed documents: the same trees, nearly all through the fast path", async () => {
    const rnd = prng(15);
    let fast = 0;
    const n = 1500;
    for (let i = 0; i < n; i++) if (await same(documentOf(rnd, 0))) fast++;
    assert.ok(fast > n * 0.9, `fast path read ${fast} of ${n}`);
  });

  it("generated documents with unusual and malformed parts: the same trees or errors", async () => {
    for (const odd of [0.05, 0.15, 0.4]) {
      const rnd = prng(Math.round(odd * 1000));
      let fast = 0;
      let rejected = 0;
      const n = 1500;
      for (let i = 0; i < n; i++) {
        const doc = documentOf(rnd, odd);
        if (await same(doc)) fast++;
        if (await same(mutate(rnd, doc))) fast++;
        if ("error" in outcome(() => parseXmlSaxes(doc))) rejected++;
      }
      // The corpus must exercise both sides: documents the fast path reads, ones saxes rejects.
      assert.ok(fast > n / 10, `odd ${odd}: fast path read ${fast}`);
      assert.ok(rejected > n / 20, `odd ${odd}: saxes rejected ${rejected}`);
    }
  });

  it("a document cut at every position", async () => {
    const doc = `<?xml version="1.0"?>\n<!-- c --><VM a='1' b="x &amp; y">\n  <ID>7</ID>` +
      `<T><![CDATA[<raw> ]]]]></T><E/><N>&#65;&#x42;&lt;&undef;</N>\n</VM>\n`;
    assert.ok(await same(doc));
    for (let i = 0; i < doc.length; i++) {
      await same(doc.slice(0, i));
      await same(doc.slice(i));
      await same(doc.slice(0, i) + doc.slice(i + 1));
    }
  });

  it("malformed and unusual inputs", async () => {
    const inputs = [
      "",
      "  \n ",
      "<a>R&D</a>",
      "<a>R&D</a><b>x;</b>",
      "<a v='R&D'/>",
      "<a v='&x' w='y;'/>",
      "<a></b>",
      "<a><b></a></b>",
      "<a/><b/>",
      "<a></a><b></b>",
      "<a x=1/>",
      "<a x='1' x='2'/>",
      "<a x='1'x='2'/>",
      "<a x/>",
      "<a x='<'/>",
      '<a x="a<b"/>',
      "<a x='1' / >",
      "<a>]]></a>",
      "<a>&#0;</a>",
      "<a>&#xD800;</a>",
      "<a>&#99999999999999999999;</a>",
      "<a>&#X41;</a>",
      "<a>&-x;</a>",
      "<a>&;</a>",
      "text<a/>",
      "<a/>text",
      "<![CDATA[x]]><a/>",
      "<a/><![CDATA[x]]>",
      "<!-- a -- b --><a/>",
      "<a><!-- a ---></a>",
      "<a><!x></a>",
      "<a><?pi body?></a>",
      "<a><?xml version='1.0'?></a>",
      "<?xml version='1.0'?><?xml version='1.0'?><a/>",
      "<!DOCTYPE a><a/>",
      "<a><!DOCTYPE a></a>",
      "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
      "<a>\r\n x \r</a>",
      "<a v='\r\n'/>",
      "<a>\u{1F600}</a>",
      "<a>\uD800</a>",
      "<a>\uD800<b/></a>",
      "<a>\u0001</a>",
      "<a v='\u0001'/>",
      "<a>\uFFFF</a>",
      "<é/>",
      "<a é='1'/>",
      "<1a/>",
      "< a/>",
      "<a></ a>",
      "<a></a\n>",
      "</a>",
      "<a>",
      "<a",
      "<a><b x='1'",
      "<a xmlns:q='u'><q:b q:c='1'/></a>",
      "<a __proto__='1' constructor='2' toString='3'/>",
      "<a __proto__='1' __proto__='2'/>",
      "<a>&constructor;&__proto__;</a>",
      "<a>&#x1F600;</a>",
      "<a> &#32;x&#32; </a>",
      "<a>\u00A0x\u00A0</a>",
      "<a>x<!-- c -->y<![CDATA[ z ]]> w </a>",
      "\uFEFF<a/>",
      "<?xml version='1.0'?>\uFEFF<a/>",
      "<a>\u0085</a>",
      "<" + "a>".repeat(1),
    ];
    for (const s of inputs) await same(s);
  });

  it("deep nesting", () => {
    const doc = "<a>" + "<b x='1'>t".repeat(5000) + "</b>".repeat(5000) + "</a>";
    const fast = parseXmlFast(doc);
    assert.ok(fast);
    // Compared as JSON: a recursive deep-equal would run out of stack.
    assert.equal(JSON.stringify(fast), JSON.stringify(parseXmlSaxes(doc)));
  });
});

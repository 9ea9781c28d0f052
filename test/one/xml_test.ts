import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneblkError } from "../../lib/errors.ts";
import { mapChildren, parseXml, toXml } from "../../lib/one/xml.ts";
import { parseXmlSaxes, parseXmlSync } from "../../lib/one/xml_saxes.ts";

/** The message of the input error `f` throws or rejects with. */
async function message(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof OneblkError && e.kind === "input", String(e));
    return e.message;
  }
  assert.fail("did not throw");
}

describe("lib/one/xml.ts", () => {
  const doc = `<a x='1' b="2"><c/><d k='v'>t &amp; u</d><e><![CDATA[<raw>]]></e></a>`;

  it("toXml without options: one line, explicit end tags, attributes in order", async () => {
    assert.equal(
      toXml(await parseXml(doc)),
      `<a x="1" b="2"><c></c><d k="v">t &amp; u</d><e>&lt;raw&gt;</e></a>`,
    );
  });

  it("toXml with an indent: one element per line, empty ones self-closed", async () => {
    assert.equal(
      toXml(await parseXml(doc), { indent: "\t" }),
      `<a x="1" b="2">\n\t<c/>\n\t<d k="v">t &amp; u</d>\n\t<e>&lt;raw&gt;</e>\n</a>\n`,
    );
  });

  it("attribute values with tabs and line breaks survive a round trip", async () => {
    const n = await parseXml(`<a v="x&#10;y&#9;z"/>`);
    assert.equal(n.attrs.v, "x\ny\tz");
    for (const opts of [{}, { indent: "  " }]) {
      assert.equal((await parseXml(toXml(n, opts))).attrs.v, "x\ny\tz");
    }
  });

  it("mapChildren shares what did not change", async () => {
    const n = await parseXml(doc);
    assert.equal(mapChildren(n, (c) => c), n);
    const m = mapChildren(n, (c) => c.name === "d" ? { ...c, text: "new" } : c);
    assert.notEqual(m, n);
    assert.equal(m.children[0], n.children[0]);
    assert.equal(m.children[1].text, "new");
    assert.equal(n.children[1].text, "t & u", "the input is not modified");
  });

  it("strict parsing rejects what libxml2 rejects; the default stays lenient", async () => {
    for (
      const [text, want] of [
        ["<a><q:b/></a>", /unbound namespace prefix: "q" \(line 1\)$/],
        ["<a>&nbsp;</a>", /undefined entity \(line 1\)$/],
        ["<a v='<'/>", /disallowed character \(line 1\)$/],
        ["<a>\u0001</a>", /disallowed character \(line 1\)$/],
      ] as const
    ) {
      assert.match(await message(() => parseXml(text, "X", { strict: true })), want);
      await assert.doesNotReject(() => parseXml(text, "X"));
    }
    await assert.doesNotReject(() =>
      parseXml(`<?xml version="1.0"?><!-- c --><a xmlns:q="u"><q:b xml:lang="en"/></a>`, "X", {
        strict: true,
      })
    );
  });

  it("text: trimmed around elements, entities decoded, CDATA kept as written", async () => {
    const n = await parseXml(
      `<a k="x &lt; &#x79;">  one  <b/> two <![CDATA[ three ]]>&amp;</a>`,
    );
    assert.equal(n.attrs.k, "x < y");
    assert.equal(n.text, "onetwo three &");
    assert.equal((await parseXml("<a>x&nbsp;y</a>")).text, "x&nbsp;y", "lenient: kept as written");
  });

  it("a bare ampersand is named, not reported as an early end", async () => {
    assert.equal(
      await message(() => parseXml("<a>\n<t>R&D</t><b/></a>", "X")),
      "malformed X: '&' does not start an entity reference (line 2)",
    );
  });

  it("structure errors are errors in both modes", async () => {
    for (
      const [text, want] of [
        ["<a></b>", /unexpected close tag \(line 1\)$/],
        ["<a/><b/>", /only one root \(line 1\)$/],
        ["<a x='1' x='2'/>", /duplicate attribute: x \(line 1\)$/],
        ["<a x=1/>", /unquoted attribute value \(line 1\)$/],
        ["<a>", /input ends inside <a>$/],
        ["<a><b x='1'", /input ends inside <a> <b>$/],
      ] as const
    ) {
      assert.match(await message(() => parseXml(text, "X")), want, text);
      assert.match(await message(() => parseXml(text, "X", { strict: true })), want, text);
    }
  });

  it("parseXml, parseXmlSync and parseXmlSaxes: the same trees and one-line errors", async () => {
    const inputs = [
      doc,
      "<a>\n<t>R&D</t><b/></a>",
      "<a><b><c>",
      "<a></b>",
      "<a>&nbsp;</a>",
      "<!DOCTYPE a><a/>",
      "",
    ];
    for (const text of inputs) {
      for (const opts of [{}, { strict: true }]) {
        const outcomes = await Promise.all(
          [parseXml, parseXmlSync, parseXmlSaxes].map(async (parse) => {
            try {
              return { tree: await parse(text, "X", opts) };
            } catch (e) {
              assert.ok(e instanceof OneblkError && e.kind === "input", String(e));
              assert.ok(!e.message.includes("\n"), e.message);
              return { error: e.message };
            }
          }),
        );
        assert.deepEqual(
          outcomes[1],
          outcomes[0],
          `${JSON.stringify(text)} ${JSON.stringify(opts)}`,
        );
        assert.deepEqual(
          outcomes[2],
          outcomes[0],
          `${JSON.stringify(text)} ${JSON.stringify(opts)}`,
        );
      }
    }
  });

  it("names the elements left open when the input stops early", async () => {
    assert.equal(
      await message(() => parseXml("<a><b><c>", "X")),
      "malformed X: input ends inside <a> <b> <c>",
    );
  });
});

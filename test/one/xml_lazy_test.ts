/**
 * saxes loads only when a document needs it (lib/one/xml.ts imports lib/one/xml_saxes.ts
 * dynamically): the modules every driver action loads do not import it, a process that parses
 * oned's ordinary documents never loads it, and the first document that needs it (malformed
 * input) loads it and gets the same one-line error as before.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { FIXTURES } from "../fixtures_path.ts";
import { parseXmlSaxes } from "../../lib/one/xml_saxes.ts";
import { fileUrl, moduleGraph, ROOT, staticClosure } from "../support/module_graph.ts";

const file = fileUrl;

/** The child process: parse through xml.ts and views.ts only, as a driver action does. */
const CHILD = `
const [root, vmFile] = Deno.args;
const { parseVm } = await import(root + "/lib/one/views.ts");
const { parseXml } = await import(root + "/lib/one/xml.ts");
const text = await Deno.readTextFile(vmFile);
const vm = await parseVm(text);
const tree = await parseXml(text, "VM XML");
console.error("ORDINARY DOCUMENTS PARSED");
const errors = [];
for (const [bad, opts] of [["<VM>\\n<ID>R&D</ID></VM>", {}], ["<VM><ID>1</ID>", { strict: true }]]) {
  try {
    await parseXml(bad, "VM XML", opts);
    errors.push("no error");
  } catch (e) {
    errors.push(e.kind + ": " + e.message);
  }
}
console.log(JSON.stringify({ id: vm.id, tree, errors }));
`;

describe("saxes is loaded on first need", () => {
  it("xml.ts, views.ts, xmlrpc.ts and the runner do not import saxes", async () => {
    for (
      const root of ["lib/one/xml.ts", "lib/one/views.ts", "lib/one/xmlrpc.ts", "app/runner.ts"]
    ) {
      const found = [...staticClosure(await moduleGraph(root), [file(root)])].filter((s) =>
        /saxes/.test(s) || s === file("lib/one/xml_saxes.ts")
      );
      assert.deepEqual(found, [], `${root} imports saxes`);
    }
  });

  it("ordinary documents never load it; malformed ones do, with the same errors", async () => {
    const dir = await Deno.makeTempDir({ prefix: "oneblk-xml-lazy-" });
    try {
      const script = join(dir, "child.js");
      await Deno.writeTextFile(script, CHILD);
      const vmFile = join(FIXTURES, "onexml/vm_7_linstor_running.xml");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--config", join(ROOT, "deno.json"), script, ROOT, vmFile],
        cwd: ROOT,
        env: { DENO_LOG: "debug", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(out.stderr);
      assert.ok(out.success, log.split("\n").filter((l) => !/DEBUG/.test(l)).join("\n"));
      // Deno's debug log names each module file it loads: saxes's only after the marker
      const [before, after] = log.split("ORDINARY DOCUMENTS PARSED\n");
      assert.ok(after !== undefined, "marker missing");
      const saxes = /node_modules\/saxes\/saxes\.js/;
      assert.ok(!saxes.test(before), "saxes was loaded before a document needed it");
      assert.ok(saxes.test(after), "saxes was not loaded for malformed input (or the log changed)");

      const got = JSON.parse(new TextDecoder().decode(out.stdout));
      const text = await Deno.readTextFile(vmFile);
      assert.equal(got.id, 7);
      assert.deepEqual(got.tree, parseXmlSaxes(text, "VM XML"));
      assert.deepEqual(got.errors, [
        "input: malformed VM XML: '&' does not start an entity reference (line 2)",
        "input: malformed VM XML: input ends inside <VM>",
      ]);
      assert.throws(() => parseXmlSaxes("<VM>\n<ID>R&D</ID></VM>", "VM XML"), {
        message: got.errors[0].slice("input: ".length),
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

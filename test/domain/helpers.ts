/** Shared test helpers for the domain-XML tests. */
import type { DiskView } from "../../lib/one/views.ts";
import { parseVmSync } from "../support/views_sync.ts";
import type { XmlNode } from "../../lib/one/xml.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";

const DIR = new URL("../fixtures/domain/", import.meta.url);

/** Text of a fixture under test/fixtures/domain/. */
export function fixture(name: string): string {
  return Deno.readTextFileSync(new URL(name, DIR));
}

/** An element as nested arrays: unlike the XmlNode objects, attribute ORDER is compared too. */
export type Shape = [string, [string, string][], string, Shape[]];

/** The order-preserving shape of `n`, with elements found in `repl` replaced by their value. */
export function shape(n: XmlNode, repl: Map<XmlNode, XmlNode> = new Map()): Shape {
  const m = repl.get(n) ?? n;
  return [m.name, Object.entries(m.attrs), m.text, m.children.map((c) => shape(c, repl))];
}

/** Shape of an XML snippet. */
export function el(xml: string): Shape {
  return shape(parseXmlSync(xml));
}

/** The DISK with ATTACH=YES of a one-disk VM built from these DISK attributes. */
export function attaching(fields: Record<string, string>): DiskView {
  const leaves = Object.entries(fields).map(([k, v]) => `<${k}><![CDATA[${v}]]></${k}>`).join("");
  const vm = parseVmSync(
    `<VM><ID>42</ID><TEMPLATE><DISK><ATTACH>YES</ATTACH>${leaves}</DISK></TEMPLATE></VM>`,
  );
  return vm.attachedDisk!;
}

/** The VM directory every fixture uses. */
export const VM_DIR = "/var/lib/one//datastores/101/42";

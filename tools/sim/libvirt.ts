/**
 * The simulated hosts' libvirt: a `virsh` and the stock host VMM scripts oneblk hands on to
 * (`$RR/vmm/kvm/deploy`, `attach_disk`, `detach_disk`), for the simulated cloud
 * (tools/sim/cluster.ts) and the scripted oned.
 *
 * Both are small launchers (`<root>/bin/virsh`, `hosts/<h>/var/tmp/one/vmm/kvm/<action>`) that
 * run `oneblk sim virsh …` / `oneblk sim stock <action> <script> …`, served here. They run on
 * a simulated host the way SimRunner runs every command: the host's directory is the working
 * directory and absolute path arguments are already mapped into it; paths written inside
 * domain XML are host paths, resolved against that directory here.
 *
 * A domain is the file `var/run/oneblk-sim/domains/<name>` of its host, holding its domain XML
 * (a file with anything else is a domain known only by name, as older simulations wrote them).
 * Domains are found by name or UUID. Like libvirt, the virsh
 * - refuses XML that is not well-formed or has no name, a second domain of the same name, and a
 *   disk whose source does not exist on the host;
 * - keeps the store volumes behind the disks open while the domain runs (the simulators'
 *   `/_sim/in-use` endpoints, from `<root>/sim.json`): `create`/`restore` open them,
 *   `destroy`/`save` close them, so a store refuses what it refuses for a running VM;
 * - hot-plugs (`attach-device`, `detach-disk`) only on buses that can (not ide, not sata), and
 *   changes media (`change-media --insert|--eject`) only in CDROM drives.
 * Verbs: domstate, dominfo, dumpxml, create, destroy, save, restore [--xml], save-image-dumpxml,
 * change-media, attach-device, detach-disk, and the no-ops (on an existing domain) domfsfreeze,
 * domfsthaw, suspend, resume, blockresize, domblklist; dompmwakeup wakes a domain whose
 * `<name>.state` file says "pmsuspended" (domstate prints it). Every call is appended to
 * `var/run/oneblk-sim/virsh.log`; a file `var/run/oneblk-sim/fail-<verb>` makes that verb fail.
 *
 * The stock scripts follow OpenNebula's: deploy stores stdin at its argument, `virsh create`s it
 * and prints the domain UUID (the name on 5.12, from the host's `$RR/VERSION`); attach_disk
 * builds the `<disk>` from the DISK with ATTACH=YES of the base64 message (file or block, disk
 * or cdrom by TYPE/DISK_TYPE; 6.10+ resolves the `disk.N` link of a file disk) and attaches it;
 * detach_disk detaches the target and checks it is gone.
 */
import { basename, dirname, join, normalize } from "node:path";
import { defaultBin } from "../../app/install.ts";
import { OneblkError } from "../../lib/errors.ts";
import { child, mapChildren, type XmlNode } from "../../lib/one/xml.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";
import { decodeBase64Text } from "../../lib/one/args.ts";
import { compareVersion } from "../../lib/one/output.ts";
import { VmmActionView } from "../../lib/one/views.ts";
import {
  defaultBus,
  domainDisks,
  parseDomainXml,
  serializeDomainXml,
} from "../../lib/domain/domain_xml.ts";

/** Where a host keeps its domains (relative to the host's directory). */
export const DOMAINS_DIR = "var/run/oneblk-sim/domains";
/** The call log and fault marks of the simulated virsh (relative to the host's directory). */
const STATE_DIR = "var/run/oneblk-sim";
/** The stock scripts the simulated hosts have. */
export const STOCK_ACTIONS = ["deploy", "attach_disk", "detach_disk"] as const;

/** Store endpoints the simulated virsh opens and closes volumes with (`<root>/sim.json`). */
export interface SimEndpoints {
  linstor?: string;
  storpool?: string;
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** The launcher of the simulated virsh (run `<bin> sim virsh …`). */
export function simVirshScript(bin = defaultBin()): string {
  return `#!/bin/sh\n# simulated virsh (tools/sim/libvirt.ts)\nexec ${
    shellQuote(bin)
  } sim virsh "$@"\n`;
}

/** The launcher of a stock host script (`<bin> sim stock <action> <its path> …`). */
export function simStockScript(action: string, bin = defaultBin()): string {
  return `#!/bin/sh\n# simulated stock ${action} (tools/sim/libvirt.ts)\n` +
    `exec ${shellQuote(bin)} sim stock ${action} "$0" "$@"\n`;
}

/**
 * Install the simulated virsh as `<root>/bin/virsh`, and on every host the stock scripts under
 * `var/tmp/one/vmm/kvm/` with `var/tmp/one/VERSION` (what `onehost sync` copies); returns the
 * virsh's path.
 */
export async function installSimLibvirt(
  root: string,
  hosts: readonly string[],
  version: string,
  endpoints?: SimEndpoints,
): Promise<string> {
  const bin = join(root, "bin");
  await Deno.mkdir(bin, { recursive: true });
  const virsh = join(bin, "virsh");
  await Deno.writeTextFile(virsh, simVirshScript(), { mode: 0o755 });
  if (endpoints) await Deno.writeTextFile(join(root, "sim.json"), JSON.stringify(endpoints));
  for (const h of hosts) {
    const rr = join(root, "hosts", h, "var/tmp/one");
    await Deno.mkdir(join(rr, "vmm/kvm"), { recursive: true });
    await Deno.writeTextFile(join(rr, "VERSION"), `${version}\n`);
    for (const a of STOCK_ACTIONS) {
      await Deno.writeTextFile(join(rr, "vmm/kvm", a), simStockScript(a), { mode: 0o755 });
    }
  }
  return virsh;
}

// ---------------------------------------------------------------------------------------------
// one simulated host

/** A domain as the host keeps it. */
interface Dom {
  name: string;
  file: string;
  node: XmlNode;
}

const DEVICE_RE = [
  { store: "linstor" as const, re: /\/dev\/drbd\/by-res\/([^/]+)\/\d+$/ },
  { store: "storpool" as const, re: /\/dev\/storpool\/([^/]+)$/ },
];

function virshError(msg: string): OneblkError {
  return new OneblkError("host", msg);
}

function leaf(name: string, attrs: Record<string, string>, text = ""): XmlNode {
  return { name, attrs, text, children: [] };
}

/** The domain with its `<disk>` element `disk` (in a top-level `<devices>`) replaced by `fn`'s. */
function replaceDisk(domain: XmlNode, disk: XmlNode, fn: (d: XmlNode) => XmlNode): XmlNode {
  return mapChildren(
    domain,
    (dev) => dev.name !== "devices" ? dev : mapChildren(dev, (x) => x === disk ? fn(x) : x),
  );
}

/** libvirt's view of one simulated host: its directory, the simulation root, its domains. */
export class SimHost {
  readonly dir: string;
  readonly root: string;
  readonly name: string;

  constructor(dir = Deno.cwd(), root = Deno.env.get("ONEBLK_SIM_ROOT") || "") {
    this.dir = normalize(dir);
    this.name = basename(this.dir);
    this.root = root ? normalize(root) : dirname(dirname(this.dir));
  }

  /** The real path of a host path (paths already inside the simulation stay). */
  hostFile(p: string): string {
    const n = normalize(p);
    return n === this.root || n.startsWith(this.root + "/") ? n : join(this.dir, n);
  }

  /**
   * The host path of a path as a command got it: SimRunner maps path arguments into the host's
   * directory, but what libvirt keeps in the domain XML is the path on the host.
   */
  hostPathOf(p: string): string {
    const n = normalize(p);
    return n.startsWith(this.dir + "/") ? n.slice(this.dir.length) : p;
  }

  #domFile(name: string): string {
    return join(this.dir, DOMAINS_DIR, name);
  }

  #read(name: string): Dom | null {
    const file = this.#domFile(name);
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      return null;
    }
    let node: XmlNode;
    try {
      node = parseDomainXml(text, `domain ${name}`);
    } catch {
      node = {
        name: "domain",
        attrs: { type: "kvm" },
        text: "",
        children: [leaf("name", {}, name)],
      };
    }
    return { name, file, node };
  }

  /** The domain `ref` (name or UUID), or null. */
  find(ref: string): Dom | null {
    if (/^[A-Za-z0-9_.:+-]+$/.test(ref)) {
      const d = this.#read(ref);
      if (d) return d;
    }
    let names: string[] = [];
    try {
      names = [...Deno.readDirSync(join(this.dir, DOMAINS_DIR))].map((e) => e.name);
    } catch {
      return null;
    }
    for (const n of names.filter((x) => !x.endsWith(".state"))) {
      const d = this.#read(n);
      if (d && child(d.node, "uuid")?.text.trim() === ref) return d;
    }
    return null;
  }

  /** The domain `ref`, or libvirt's error. */
  get(ref: string): Dom {
    const d = this.find(ref);
    if (!d) throw virshError(`failed to get domain '${ref}'`);
    return d;
  }

  #write(d: Dom): void {
    Deno.mkdirSync(dirname(d.file), { recursive: true });
    Deno.writeTextFileSync(d.file, serializeDomainXml(d.node));
  }

  /** The store volume behind a disk source path, if any. */
  #volumeOf(path: string): { store: "linstor" | "storpool"; name: string } | null {
    const real = this.hostFile(path);
    const candidates = [path, real];
    try {
      candidates.push(Deno.readLinkSync(real));
    } catch { /* not a link */ }
    for (const c of candidates) {
      for (const { store, re } of DEVICE_RE) {
        const m = re.exec(c);
        if (m) return { store, name: m[1] };
      }
    }
    return null;
  }

  /** Mark the store volumes behind `paths` open (or closed) on this host. */
  async #mark(paths: string[], open: boolean): Promise<void> {
    let ep: SimEndpoints = {};
    try {
      ep = JSON.parse(Deno.readTextFileSync(join(this.root, "sim.json")));
    } catch {
      return; // no simulators to tell
    }
    const set = async (v: { store: "linstor" | "storpool"; name: string }, on: boolean) => {
      const url = v.store === "linstor" ? ep.linstor : ep.storpool;
      if (!url) return "";
      const body = v.store === "linstor"
        ? { resource: v.name, node: this.name, in_use: on }
        : { volume: v.name, client: this.name, in_use: on };
      const r = await fetch(`${url.replace(/\/+$/, "")}/_sim/in-use`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await r.text();
      return r.ok ? "" : text;
    };
    const done: { store: "linstor" | "storpool"; name: string }[] = [];
    for (const p of paths) {
      const v = this.#volumeOf(p);
      if (!v) continue;
      const err = await set(v, open);
      if (err && open) {
        for (const x of done) await set(x, false);
        throw virshError(`Cannot open ${p}: the ${v.store} volume ${v.name} is not here (${err})`);
      }
      done.push(v);
    }
  }

  /** Sources (with a medium) of a domain's disks. */
  #sources(node: XmlNode): string[] {
    return domainDisks(node).filter((d) => !d.empty && d.source).map((d) => d.source);
  }

  #checkSources(paths: string[]): void {
    for (const p of paths) {
      try {
        Deno.statSync(this.hostFile(p));
      } catch {
        throw virshError(`Cannot access storage file '${p}': No such file or directory`);
      }
    }
  }

  /**
   * A domain's state: "running", or what `<name>.state` beside its file says (a test sets
   * "pmsuspended" there: the guest suspended itself).
   */
  state(name: string): string {
    try {
      return Deno.readTextFileSync(`${this.#domFile(name)}.state`).trim() || "running";
    } catch {
      return "running";
    }
  }

  #clearState(file: string): void {
    try {
      Deno.removeSync(`${file}.state`);
    } catch { /* none */ }
  }

  /** Set a domain's state ("running" removes the mark). */
  setState(name: string, state: string): void {
    const f = `${this.#domFile(name)}.state`;
    if (state === "running") Deno.removeSync(f);
    else Deno.writeTextFileSync(f, `${state}\n`);
  }

  /** libvirt's `virsh create`: start a domain from XML text; returns its name. */
  async create(text: string, what = "XML"): Promise<string> {
    let node: XmlNode;
    try {
      node = parseDomainXml(text, what);
    } catch (e) {
      throw virshError(`(domain_definition):1: ${(e as Error).message}`);
    }
    const name = child(node, "name")!.text.trim();
    if (this.find(name)) throw virshError(`operation failed: domain '${name}' already exists`);
    const uuid = child(node, "uuid")?.text.trim();
    if (uuid && this.find(uuid)) {
      throw virshError(`operation failed: domain with uuid '${uuid}' already exists`);
    }
    if (!uuid) {
      node = { ...node, children: [...node.children, leaf("uuid", {}, crypto.randomUUID())] };
    }
    const sources = this.#sources(node);
    this.#checkSources(sources);
    await this.#mark(sources, true);
    this.#write({ name, file: this.#domFile(name), node });
    return name;
  }

  /** `virsh destroy`. */
  async destroy(ref: string): Promise<string> {
    const d = this.get(ref);
    Deno.removeSync(d.file);
    this.#clearState(d.file);
    await this.#mark(this.#sources(d.node), false);
    return d.name;
  }

  /** `virsh save <dom> <file>`: header + XML into the file (not truncated); the domain stops. */
  async save(ref: string, file: string): Promise<void> {
    const d = this.get(ref);
    const body = new TextEncoder().encode(serializeDomainXml(d.node));
    const head = new TextEncoder().encode(`ONEBLK-SIM-CHECKPOINT ${d.name} ${body.length}\n`);
    const f = Deno.openSync(file, { write: true, create: true });
    try {
      f.writeSync(head);
      let off = 0;
      while (off < body.length) off += f.writeSync(body.subarray(off));
    } finally {
      f.close();
    }
    Deno.removeSync(d.file);
    this.#clearState(d.file);
    await this.#mark(this.#sources(d.node), false);
  }

  /** The domain XML in a saved image (`virsh save-image-dumpxml`). */
  savedXml(file: string): string {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(file);
    } catch {
      throw virshError(`Failed to open file '${file}'`);
    }
    const nl = bytes.indexOf(10);
    const head = new TextDecoder().decode(bytes.subarray(0, nl < 0 ? 200 : nl)).replace(/\0/g, "");
    const m = /^ONEBLK-SIM-CHECKPOINT (\S+)(?: (\d+))?$/.exec(head.trim());
    if (!m) throw virshError(`Failed to restore domain from ${file}: not a saved image`);
    const body = m[2] === undefined
      ? ""
      : new TextDecoder().decode(bytes.subarray(nl + 1, nl + 1 + Number(m[2])));
    return body.trim() ? body : `<domain type="kvm"><name>${m[1]}</name></domain>\n`;
  }

  /** `virsh restore <file> [--xml <xml>]`. */
  async restore(file: string, xmlFile?: string): Promise<void> {
    const saved = parseDomainXml(this.savedXml(file), "saved image");
    let xml = serializeDomainXml(saved);
    if (xmlFile) {
      const alt = parseDomainXml(Deno.readTextFileSync(xmlFile), xmlFile);
      const n = (x: XmlNode) => child(x, "name")?.text.trim();
      if (n(alt) !== n(saved)) {
        throw virshError(
          `operation failed: target domain name '${n(alt)}' does not match ` +
            `source '${n(saved)}'`,
        );
      }
      xml = serializeDomainXml(alt);
    }
    await this.create(xml, "saved image");
  }

  /** `virsh change-media <dom> <target> [<path>] --insert|--eject [--block] [--force]`. */
  async changeMedia(
    ref: string,
    target: string,
    path: string | undefined,
    eject: boolean,
    block: boolean,
  ) {
    const d = this.get(ref);
    const disk = domainDisks(d.node).find((x) => x.target === target);
    if (!disk) throw virshError(`No disk found whose source path or target is ${target}`);
    if (disk.device !== "cdrom" && disk.device !== "floppy") {
      throw virshError(`The disk device '${target}' is not removable`);
    }
    if (eject) {
      if (disk.empty) throw virshError(`The disk device '${target}' doesn't have media`);
      const old = disk.source;
      const node = replaceDisk(d.node, disk.node, (x) => ({
        ...x,
        children: x.children.filter((c) => c.name !== "source"),
      }));
      this.#write({ ...d, node });
      await this.#mark([old], false);
      return;
    }
    if (!path) throw virshError("No disk source specified for media insertion");
    if (!disk.empty) throw virshError(`The disk device '${target}' already has media`);
    this.#checkSources([path]);
    await this.#mark([path], true);
    const hp = this.hostPathOf(path);
    const source = leaf("source", block ? { dev: hp } : { file: hp });
    const node = replaceDisk(d.node, disk.node, (x) => ({
      ...x,
      attrs: { ...x.attrs, type: block ? "block" : "file" },
      children: [source, ...x.children.filter((c) => c.name !== "source")],
    }));
    this.#write({ ...d, node });
  }

  /** `virsh attach-device <dom> <file>` of a `<disk>`. */
  async attachDevice(ref: string, xml: string): Promise<void> {
    const d = this.get(ref);
    const disk = parseXmlSync(xml, "device XML", { strict: true });
    if (disk.name !== "disk") throw virshError(`unsupported device <${disk.name}>`);
    const tgt = child(disk, "target")?.attrs.dev ?? "";
    if (!tgt) throw virshError("missing disk target");
    const bus = child(disk, "target")?.attrs.bus || defaultBus(tgt);
    if (bus === "ide" || bus === "sata") {
      throw virshError(`Operation not supported: disk bus '${bus}' cannot be hotplugged.`);
    }
    if (domainDisks(d.node).some((x) => x.target === tgt)) {
      throw virshError(`Requested operation is not valid: target ${tgt} already exists`);
    }
    const src = child(disk, "source");
    const path = src?.attrs.file ?? src?.attrs.dev;
    if (path) {
      this.#checkSources([path]);
      await this.#mark([path], true);
    }
    const first = d.node.children.findIndex((c) => c.name === "devices");
    const node = first < 0
      ? { ...d.node, children: [...d.node.children, { ...leaf("devices", {}), children: [disk] }] }
      : mapChildren(d.node, (c, i) => i === first ? { ...c, children: [...c.children, disk] } : c);
    this.#write({ ...d, node });
  }

  /** `virsh detach-disk <dom> <target>`. */
  async detachDisk(ref: string, target: string): Promise<void> {
    const d = this.get(ref);
    const disk = domainDisks(d.node).find((x) => x.target === target || x.source === target);
    if (!disk) throw virshError(`No disk found whose source path or target is ${target}`);
    if (disk.bus === "ide" || disk.bus === "sata") {
      throw virshError(`Operation not supported: disk bus '${disk.bus}' cannot be hotunplugged.`);
    }
    const node = mapChildren(
      d.node,
      (dev) =>
        dev.name !== "devices"
          ? dev
          : { ...dev, children: dev.children.filter((x) => x !== disk.node) },
    );
    this.#write({ ...d, node });
    if (!disk.empty) await this.#mark([disk.source], false);
  }
}

// ---------------------------------------------------------------------------------------------
// virsh

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}

function out(s: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(s.endsWith("\n") ? s : s + "\n"));
}

/** `oneblk sim virsh <args…>` in the host's directory; returns the exit code. */
export async function virshMain(argv: string[]): Promise<number> {
  const host = new SimHost();
  const args = [...argv];
  while (args.length && /^(-c|--connect|-q|--quiet|-r|--readonly)$/.test(args[0])) {
    args.splice(0, /^(-c|--connect)$/.test(args[0]) ? 2 : 1);
  }
  const verb = args.shift() ?? "";
  const state = join(host.dir, STATE_DIR);
  try {
    Deno.mkdirSync(state, { recursive: true });
    Deno.writeTextFileSync(join(state, "virsh.log"), `${argv.join(" ")}\n`, { append: true });
  } catch { /* a read-only host: no log */ }
  try {
    try {
      Deno.statSync(join(state, `fail-${verb}`));
      throw virshError(`injected ${verb} failure`);
    } catch (e) {
      if (e instanceof OneblkError) throw e;
    }
    await virshVerb(host, verb, args);
    return 0;
  } catch (e) {
    if (!(e instanceof OneblkError)) throw e;
    Deno.stderr.writeSync(new TextEncoder().encode(`error: ${e.message}\n`));
    return 1;
  }
}

async function virshVerb(host: SimHost, verb: string, args: string[]): Promise<void> {
  const opt = (...names: string[]) => {
    let hit = false;
    for (const n of names) {
      const i = args.indexOf(n);
      if (i >= 0) {
        args.splice(i, 1);
        hit = true;
      }
    }
    return hit;
  };
  switch (verb) {
    case "domstate":
      return out(`${host.state(host.get(args[0]).name)}\n`);
    case "dominfo": {
      const d = host.get(args[0]);
      const uuid = child(d.node, "uuid")?.text.trim() ?? "";
      return out(
        `Id:             1\nName:           ${d.name}\nUUID:           ${uuid}\n` +
          `State:          running\n`,
      );
    }
    case "dumpxml":
      opt("--migratable", "--inactive", "--security-info");
      return out(serializeDomainXml(host.get(args[0]).node));
    case "create": {
      const file = args[0] ?? "";
      let text: string;
      try {
        text = Deno.readTextFileSync(file);
      } catch {
        throw virshError(`Failed to open file '${file}': No such file or directory`);
      }
      const name = await host.create(text, file);
      return out(`Domain '${name}' created from ${file}`);
    }
    case "destroy":
      return out(`Domain '${await host.destroy(args[0])}' destroyed`);
    case "save":
      await host.save(args[0], args[1]);
      return out(`\nDomain '${args[0]}' saved to ${args[1]}`);
    case "save-image-dumpxml":
      return out(host.savedXml(args[0]));
    case "restore": {
      const xml = flagValue(args, "--xml");
      await host.restore(args[0], xml);
      return out(`Domain restored from ${args[0]}`);
    }
    case "change-media": {
      const eject = opt("--eject");
      const insert = opt("--insert");
      const block = opt("--block");
      opt("--force", "--live", "--config", "--current", "--update");
      if (eject === insert) throw virshError("exactly one of --insert and --eject is needed");
      return await host.changeMedia(args[0], args[1], args[2], eject, block);
    }
    case "attach-device": {
      opt("--live", "--config", "--current", "--persistent");
      return await host.attachDevice(args[0], Deno.readTextFileSync(args[1]));
    }
    case "detach-disk": {
      opt("--live", "--config", "--current", "--persistent");
      const dom = flagValue(args, "--domain") ?? args.shift()!;
      const target = flagValue(args, "--target") ?? args.shift()!;
      return await host.detachDisk(dom, target);
    }
    case "domfsfreeze":
    case "domfsthaw":
    case "suspend":
    case "resume":
    case "blockresize":
    case "domblklist":
      host.get(args[0]);
      return;
    case "dompmwakeup": {
      const d = host.get(args[0]);
      if (host.state(d.name) !== "pmsuspended") {
        throw virshError("Requested operation is not valid: domain is not suspended by the guest");
      }
      return host.setState(d.name, "running");
    }
  }
  throw virshError(`simulated virsh does not know '${verb}'`);
}

// ---------------------------------------------------------------------------------------------
// the stock host scripts

function versionOf(script: string): string {
  try {
    return Deno.readTextFileSync(join(dirname(script), "../../VERSION")).trim() || "7.4.0";
  } catch {
    return "7.4.0";
  }
}

/** The `<disk>` the stock attach_disk writes for the DISK with ATTACH=YES. */
function stockDisk(
  host: SimHost,
  message: string,
  source: string,
  target: string,
  version: string,
): XmlNode {
  const action = new VmmActionView(parseXmlSync(message, "VMM_DRIVER_ACTION_DATA"));
  const disk = action.vm.attachedDisk;
  if (!disk) throw virshError("no DISK with ATTACH=YES in the driver message");
  const cdrom = /(^|_)CDROM$/.test(disk.type);
  const block = disk.type === "BLOCK" || (cdrom && disk.diskType === "BLOCK");
  let src = source;
  if (!block && compareVersion(version, "6.10.0") >= 0) {
    try {
      src = Deno.readLinkSync(source);
    } catch { /* not a link */ }
  }
  src = host.hostPathOf(src);
  const kids = [
    leaf("driver", { name: "qemu", type: cdrom ? "raw" : (disk.driver || "raw") }),
    leaf("source", block ? { dev: src } : { file: src }),
    leaf("target", { dev: target }),
    ...(disk.readonly || cdrom ? [leaf("readonly", {})] : []),
  ];
  return {
    name: "disk",
    attrs: { type: block ? "block" : "file", device: cdrom ? "cdrom" : "disk" },
    text: "",
    children: kids,
  };
}

async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of Deno.stdin.readable) chunks.push(c);
  let n = 0;
  for (const c of chunks) n += c.length;
  const all = new Uint8Array(n);
  n = 0;
  for (const c of chunks) {
    all.set(c, n);
    n += c.length;
  }
  return new TextDecoder().decode(all);
}

/** `oneblk sim stock <action> <script path> <args…>`; returns the exit code. */
export async function stockMain(argv: string[]): Promise<number> {
  const [action, script, ...args] = argv;
  const host = new SimHost();
  const version = versionOf(script ?? "");
  const fail = (msg: string) => {
    Deno.stderr.writeSync(new TextEncoder().encode(`ERROR: ${msg}\n`));
    return 255;
  };
  try {
    switch (action) {
      case "deploy": {
        const file = args[0];
        Deno.mkdirSync(dirname(file), { recursive: true });
        const text = await readStdin();
        Deno.writeTextFileSync(file, text);
        let name: string;
        try {
          name = await host.create(text, file);
        } catch (e) {
          return fail(`Could not create domain from ${file}: ${(e as Error).message}`);
        }
        const uuid = child(host.get(name).node, "uuid")?.text.trim() ?? "";
        out(compareVersion(version, "6.0.0") >= 0 ? uuid : name);
        return 0;
      }
      case "attach_disk": {
        const [dom, source, target, , b64] = args;
        const xml = stockDisk(
          host,
          decodeBase64Text(b64 ?? "", "driver message"),
          source,
          target,
          version,
        );
        try {
          await host.attachDevice(dom, serializeDomainXml(xml));
        } catch (e) {
          return fail(`Could not attach ${source} (${target}) to ${dom}: ${(e as Error).message}`);
        }
        return 0;
      }
      case "detach_disk": {
        const [dom, , target] = args;
        try {
          await host.detachDisk(dom, target);
        } catch (e) {
          return fail(`Could not detach ${target} from ${dom}: ${(e as Error).message}`);
        }
        if (domainDisks(host.get(dom).node).some((d) => d.target === target)) {
          return fail(`Could not detach ${target} from ${dom}`);
        }
        return 0;
      }
    }
  } catch (e) {
    if (!(e instanceof OneblkError)) throw e;
    return fail(e.message);
  }
  return fail(`no simulated stock script '${action}'`);
}

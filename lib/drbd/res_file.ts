/**
 * Parser of hand-written DRBD configuration files (`/etc/drbd.d/*.res`), for adopting a running
 * DRBD resource into LINSTOR: DRBD 9 syntax (`on HOST { node-id; address; volume N { … } }`,
 * resource-level `volume` sections shared by all hosts, `connection`, `connection-mesh`, option
 * sections) and the DRBD 8.4 two-node form (`device`/`disk`/`meta-disk`/`address` directly in
 * `on`, no node ids).
 *
 * {@link parseResFile} reads the syntax into a raw model: what the file says, with line numbers,
 * nothing resolved; a syntax error throws. `res_check.ts` resolves one resource the way drbdadm
 * does and says what oneblk cannot adopt.
 *
 * Lexical rules follow drbdadm: `#` starts a comment anywhere a token may start; a quoted string
 * stays on one line and a backslash takes the next character literally; a device is
 * `/dev/drbdN`, `drbdN`, `minor N` or `NAME minor N`; `include` statements are noted, not
 * followed; `skip` blocks and `global` are ignored.
 */
import { OneblkError } from "../errors.ts";

/** A host's or a connection's network address. */
export interface DrbdAddress {
  /** `ipv4` unless the file names another (`ipv6`, `ssocks`, `sdp`). */
  family: string;
  /** The IP address as written (IPv6 without brackets). */
  ip: string;
  port: number;
}

/** Where a volume keeps its DRBD meta data. */
export type RawMetaDisk =
  | { kind: "internal" }
  | { kind: "external"; path: string; index: number | "flexible" };

/** Option sections (`net { … }`, `disk { … }`, …): option name → value as written. */
export type DrbdOptions = Record<string, string>;

/** A `volume` section, or the implicit volume 0 of `device`/`disk`/`meta-disk` statements. */
export interface RawVolume {
  number: number;
  /** True for the volume 0 made of statements outside any `volume` section. */
  implicit: boolean;
  line: number;
  /** The device name as written (`/dev/drbd9100`, `/dev/drbd_web`); absent for `minor N`. */
  device?: string;
  minor?: number;
  /** Backing disk path; `none` for a diskless volume. */
  disk?: string;
  metaDisk?: RawMetaDisk;
  /** `disk { … }` options given inside the volume. */
  diskOptions: DrbdOptions;
}

/** An `on NAME… { … }` section. */
export interface RawHost {
  /** The host names of the section (usually one; more are alternatives). */
  names: string[];
  line: number;
  nodeId?: number;
  address?: DrbdAddress;
  volumes: RawVolume[];
  /** Line of a DRBD Proxy section inside the host section. */
  proxyLine?: number;
  options: DrbdOptions;
}

/** One end of a `connection` or `path`: `host NAME [address …|port N];` or `address …;`. */
export interface RawConnectionEnd {
  host?: string;
  address?: DrbdAddress;
  port?: number;
  /** `via proxy …` or `via outside-address …`. */
  via: boolean;
  line: number;
}

/** A `connection { … }` section. */
export interface RawConnection {
  line: number;
  ends: RawConnectionEnd[];
  paths: RawConnectionEnd[][];
  net: DrbdOptions;
}

/** A `resource NAME { … }` section as written. */
export interface RawResource {
  name: string;
  line: number;
  hosts: RawHost[];
  /** Resource-level volumes, shared by all hosts unless a host overrides a field. */
  volumes: RawVolume[];
  connections: RawConnection[];
  meshes: { hosts: string[]; line: number }[];
  /** Option sections by name (`net`, `disk`, `options`, `startup`, `handlers`, `syncer`, `proxy`). */
  sections: Record<string, DrbdOptions>;
  stacked: { lower: string; line: number }[];
  floating: { address: DrbdAddress; line: number }[];
  /** Constructs oneblk does not take over (`_this_host`, `template-file`), with their lines. */
  unsupported: { what: string; line: number }[];
}

/** A parsed DRBD configuration file. */
export interface DrbdConfig {
  file: string;
  resources: RawResource[];
  /** `include` patterns, not followed. */
  includes: { pattern: string; line: number }[];
  /** The `common { … }` section, if any. */
  common?: RawResource;
}

// ---------------------------------------------------------------------------------------------
// Tokens

interface Token {
  /** "word" (unquoted), "string" (double-quoted), or one of `{ } ; [ ]`. */
  kind: "word" | "string" | "{" | "}" | ";" | "[" | "]";
  text: string;
  line: number;
}

const PUNCT = new Set(["{", "}", ";", "[", "]"]);

function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
    } else if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (PUNCT.has(c)) {
      out.push({ kind: c as Token["kind"], text: c, line });
      i++;
    } else if (c === '"') {
      // A quoted string stays on one line; a backslash takes the next character literally.
      let s = "";
      i++;
      for (;;) {
        if (i >= text.length || text[i] === "\n") {
          throw new OneblkError("input", `${file}:${line}: unterminated quoted string`);
        }
        const d = text[i];
        if (d === '"') break;
        if (d === "\\") {
          i++;
          if (i >= text.length || text[i] === "\n") continue;
        }
        s += text[i];
        i++;
      }
      i++;
      out.push({ kind: "string", text: s, line });
    } else {
      let j = i;
      while (j < text.length && !/[\s{};[\]"#]/.test(text[j])) j++;
      out.push({ kind: "word", text: text.slice(i, j), line });
      i = j;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parser

const ADDRESS_FAMILIES = new Set(["ipv4", "ipv6", "ssocks", "sdp", "sci"]);
const OPTION_SECTIONS = new Set(["net", "options", "startup", "handlers", "syncer", "proxy"]);

class Parser {
  private pos = 0;

  constructor(private readonly toks: Token[], private readonly file: string) {}

  fail(msg: string, tok?: Token): never {
    const line = (tok ?? this.peek() ?? this.toks[this.toks.length - 1])?.line ?? 1;
    throw new OneblkError("input", `${this.file}:${line}: ${msg}`);
  }

  peek(): Token | undefined {
    return this.toks[this.pos];
  }

  next(what: string): Token {
    const t = this.toks[this.pos];
    if (!t) this.fail(`unexpected end of file, expected ${what}`);
    this.pos++;
    return t;
  }

  atEnd(): boolean {
    return this.pos >= this.toks.length;
  }

  /** True (and consumes it) when the next token is `kind` (and, for words, `text`). */
  accept(kind: Token["kind"], text?: string): boolean {
    const t = this.peek();
    if (t && t.kind === kind && (text === undefined || t.text === text)) {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(kind: Token["kind"], what = `"${kind}"`): Token {
    const t = this.next(what);
    if (t.kind !== kind) this.fail(`expected ${what}, found ${describe(t)}`, t);
    return t;
  }

  /** A word or a quoted string. */
  value(what: string): Token {
    const t = this.next(what);
    if (t.kind !== "word" && t.kind !== "string") {
      this.fail(`expected ${what}, found ${describe(t)}`, t);
    }
    return t;
  }

  integer(what: string, min: number, max: number): number {
    const t = this.value(what);
    if (!/^\d+$/.test(t.text)) this.fail(`${what} must be a number, not ${describe(t)}`, t);
    const n = Number(t.text);
    if (n < min || n > max) this.fail(`${what} ${n} is out of range [${min}..${max}]`, t);
    return n;
  }

  /** `{ … }` with balanced braces, content ignored (`skip` sections). */
  skipBlock(): void {
    let depth = 0;
    for (;;) {
      const t = this.next('"}"');
      if (t.kind === "{") depth++;
      else if (t.kind === "}" && --depth === 0) return;
    }
  }

  /** After the opening `{`: `name value…;` statements and nested sections, up to `}`. */
  options(into: DrbdOptions = {}, prefix = ""): DrbdOptions {
    for (;;) {
      const t = this.next('an option or "}"');
      if (t.kind === "}") return into;
      if (t.kind !== "word") this.fail(`expected an option name, found ${describe(t)}`, t);
      const vals: string[] = [];
      for (;;) {
        const v = this.next('";"');
        if (v.kind === ";") break;
        if (v.kind === "{") {
          this.options(into, `${prefix}${t.text}.`);
          break;
        }
        if (v.kind === "}") this.fail(`missing ";" after option ${t.text}`, v);
        vals.push(v.text);
      }
      into[prefix + t.text] = vals.join(" ");
    }
  }

  /** `[family] IP:PORT` or `ipv6 [IP]:PORT`, up to (not including) what ends it. */
  address(): DrbdAddress {
    const start = this.peek();
    let family = "ipv4";
    const first = this.value("an address");
    let parts = first.text;
    if (first.kind === "word" && ADDRESS_FAMILIES.has(first.text)) {
      family = first.text === "sci" ? "ssocks" : first.text;
      parts = "";
    }
    // The rest is IP:PORT, possibly split by the tokenizer ("[", "]") or by blanks.
    for (;;) {
      const t = this.peek();
      if (!t || t.kind === ";" || t.kind === "{" || t.kind === "}") break;
      if (t.kind === "word" && /^(port|via)$/.test(t.text) && parts.includes(":")) break;
      parts += t.text;
      this.pos++;
    }
    const m = family === "ipv6"
      ? parts.match(/^\[([^\]]+)\]:(\d+)$/)
      : parts.match(/^([^:\[\]]+):(\d+)$/);
    if (!m) this.fail(`bad address ${JSON.stringify(parts)} (expected [family] IP:PORT)`, start);
    const port = Number(m[2]);
    if (port < 1 || port > 65535) this.fail(`port ${port} is out of range [1..65535]`, start);
    return { family, ip: m[1], port };
  }

  /** `device …;` into `vol`. */
  device(vol: RawVolume): void {
    const t = this.value("a device");
    let name: string | undefined;
    if (t.kind === "word" && t.text === "minor") {
      vol.minor = this.integer("minor", 0, 0xfffff);
      this.expect(";");
    } else {
      name = t.text.startsWith("drbd") ? `/dev/${t.text}` : t.text;
      if (!name.startsWith("/dev/drbd")) {
        this.fail(`device name must start with /dev/drbd, not ${JSON.stringify(t.text)}`, t);
      }
      const fromName = name.match(/^\/dev\/drbd(\d+)$/);
      if (this.accept("word", "minor")) {
        vol.minor = this.integer("minor", 0, 0xfffff);
        if (fromName && Number(fromName[1]) !== vol.minor) {
          this.fail(`device ${name} does not match minor ${vol.minor}`, t);
        }
      } else if (fromName) {
        vol.minor = Number(fromName[1]);
      } else {
        this.fail(`device ${name} has no minor number (write "device ${name} minor N;")`, t);
      }
      this.expect(";");
      vol.device = name;
    }
  }

  /** `meta-disk …;` / `flexible-meta-disk …;` into `vol`. */
  metaDisk(vol: RawVolume, flexible: boolean): void {
    const t = this.value("a meta-disk");
    if (t.text === "internal") {
      vol.metaDisk = { kind: "internal" };
    } else if (flexible) {
      vol.metaDisk = { kind: "external", path: t.text, index: "flexible" };
    } else if (this.accept("[")) {
      const index = this.integer("meta-disk index", 0, 0x7fffffff);
      this.expect("]");
      vol.metaDisk = { kind: "external", path: t.text, index };
    } else {
      vol.metaDisk = { kind: "external", path: t.text, index: "flexible" };
    }
    this.expect(";");
  }

  /** One of device/disk/meta-disk/flexible-meta-disk for `vol`; false if `kw` is none. */
  volumeStatement(kw: Token, vol: RawVolume): boolean {
    switch (kw.text) {
      case "device":
        this.device(vol);
        return true;
      case "disk":
        if (this.accept("{")) {
          this.options(vol.diskOptions);
        } else {
          vol.disk = this.value("a disk").text;
          this.expect(";");
        }
        return true;
      case "meta-disk":
        this.metaDisk(vol, false);
        return true;
      case "flexible-meta-disk":
        this.metaDisk(vol, true);
        return true;
      default:
        return false;
    }
  }

  volume(implicit: boolean, number: number, line: number): RawVolume {
    return { number, implicit, line, diskOptions: {} };
  }

  /** `volume N { … }` after the keyword. */
  volumeSection(): RawVolume {
    const line = this.peek()?.line ?? 0;
    const vol = this.volume(false, this.integer("volume number", 0, 65534), line);
    this.expect("{");
    for (;;) {
      const t = this.next('"}"');
      if (t.kind === "}") return vol;
      if (t.kind === "word" && t.text === "skip") {
        this.skipBlock();
        continue;
      }
      if (t.kind === "word" && t.text === "tiebreaker") {
        this.value("yes or no");
        this.expect(";");
        continue;
      }
      if (t.kind !== "word" || !this.volumeStatement(t, vol)) {
        this.fail(
          `expected device, disk or meta-disk in volume ${vol.number}, found ${describe(t)}`,
          t,
        );
      }
    }
  }

  /** The implicit volume 0 of `list`, made on first use; mixing with `volume` sections fails. */
  volume0(list: RawVolume[], line: number): RawVolume {
    const v = list.find((x) => x.implicit);
    if (v) return v;
    if (list.length > 0) this.failAt(line, "mixing explicit and implicit volumes is not allowed");
    const nv = this.volume(true, 0, line);
    list.push(nv);
    return nv;
  }

  failAt(line: number, msg: string): never {
    throw new OneblkError("input", `${this.file}:${line}: ${msg}`);
  }

  addVolume(list: RawVolume[], vol: RawVolume): void {
    if (list.some((v) => v.implicit)) {
      this.failAt(vol.line, "mixing explicit and implicit volumes is not allowed");
    }
    if (list.some((v) => v.number === vol.number)) {
      this.failAt(vol.line, `volume ${vol.number} is defined twice`);
    }
    list.push(vol);
  }

  /** `on NAME… { … }` after the keyword. */
  hostSection(res: RawResource): void {
    const line = this.peek()?.line ?? 0;
    const names: string[] = [];
    while (!this.accept("{")) names.push(this.value("a host name or {").text);
    if (names.length === 0) this.failAt(line, "on section without a host name");
    const host: RawHost = { names, line, volumes: [], options: {} };
    for (;;) {
      const t = this.next('"}"');
      if (t.kind === "}") break;
      if (t.kind !== "word") this.fail(`unexpected ${describe(t)} in host section`, t);
      switch (t.text) {
        case "node-id":
          if (host.nodeId !== undefined) this.fail(`node-id given twice for ${names[0]}`, t);
          host.nodeId = this.integer("node-id", 0, 31);
          this.expect(";");
          break;
        case "address":
          if (host.address) this.fail(`address given twice for ${names[0]}`, t);
          host.address = this.address();
          this.expect(";");
          break;
        case "volume":
          this.addVolume(host.volumes, this.volumeSection());
          break;
        case "proxy":
          host.proxyLine = t.line;
          this.expect("{");
          this.options();
          break;
        case "options":
          this.expect("{");
          this.options(host.options);
          break;
        case "skip":
          this.skipBlock();
          break;
        default:
          if (!this.volumeStatement(t, this.volume0(host.volumes, t.line))) {
            this.fail(`unknown statement ${describe(t)} in host section of ${names[0]}`, t);
          }
      }
    }
    res.hosts.push(host);
  }

  /** `host NAME [address …|port N] [via …];` or `address …;` in a connection or path. */
  connectionEnd(kw: Token): RawConnectionEnd {
    const end: RawConnectionEnd = { via: false, line: kw.line };
    if (kw.text === "host") {
      end.host = this.value("a host name").text;
      if (this.accept("word", "address")) end.address = this.address();
      else if (this.accept("word", "port")) end.port = this.integer("port", 1, 65535);
    } else {
      end.address = this.address();
    }
    if (this.accept("word", "via")) {
      end.via = true;
      const how = this.value("proxy or outside-address");
      if (how.text === "proxy") {
        while (!this.accept("{")) this.value("{");
        this.options();
        return end;
      }
      this.address();
    }
    this.expect(";");
    return end;
  }

  /** `connection [NAME] { … }` after the keyword. */
  connectionSection(): RawConnection {
    const line = this.peek()?.line ?? 0;
    if (!this.accept("{")) {
      this.value("{");
      this.expect("{");
    }
    const conn: RawConnection = { line, ends: [], paths: [], net: {} };
    for (;;) {
      const t = this.next('"}"');
      if (t.kind === "}") return conn;
      if (t.kind !== "word") this.fail(`unexpected ${describe(t)} in connection`, t);
      switch (t.text) {
        case "host":
        case "address":
          conn.ends.push(this.connectionEnd(t));
          break;
        case "_this_host":
        case "_remote_host":
          this.fail(`${t.text} belongs to drbdsetup show output, not to a configuration file`, t);
          break;
        case "path": {
          this.expect("{");
          const path: RawConnectionEnd[] = [];
          for (;;) {
            const p = this.next('"}"');
            if (p.kind === "}") break;
            if (p.kind === "word" && (p.text === "host" || p.text === "address")) {
              path.push(this.connectionEnd(p));
            } else {
              this.fail(`expected host or "}" in path, found ${describe(p)}`, p);
            }
          }
          conn.paths.push(path);
          break;
        }
        case "net":
          this.expect("{");
          this.options(conn.net);
          break;
        case "disk":
          this.expect("{");
          this.options();
          break;
        case "volume":
          this.integer("volume number", 0, 65534);
          this.skipBlock();
          break;
        case "skip":
          this.skipBlock();
          break;
        default:
          this.fail(`unknown statement ${describe(t)} in connection`, t);
      }
    }
  }

  /** The body of `resource NAME {` (or `common {`) up to its `}`. */
  resourceBody(name: string, line: number): RawResource {
    const res: RawResource = {
      name,
      line,
      hosts: [],
      volumes: [],
      connections: [],
      meshes: [],
      sections: {},
      stacked: [],
      floating: [],
      unsupported: [],
    };
    const section = (n: string): DrbdOptions => (res.sections[n] ??= {});
    for (;;) {
      const t = this.next(`"}" closing resource ${name}`);
      if (t.kind === "}") return res;
      if (t.kind !== "word") this.fail(`unexpected ${describe(t)} in resource ${name}`, t);
      switch (t.text) {
        case "on":
          this.hostSection(res);
          break;
        case "volume":
          this.addVolume(res.volumes, this.volumeSection());
          break;
        case "protocol":
          section("net").protocol = this.value("a protocol").text;
          this.expect(";");
          break;
        case "disk":
          if (this.accept("{")) this.options(section("disk"));
          else {
            this.volume0(res.volumes, t.line).disk = this.value("a disk").text;
            this.expect(";");
          }
          break;
        case "device":
        case "meta-disk":
        case "flexible-meta-disk":
          this.volumeStatement(t, this.volume0(res.volumes, t.line));
          break;
        case "connection":
          res.connections.push(this.connectionSection());
          break;
        case "connection-mesh": {
          this.expect("{");
          const mesh = { hosts: [] as string[], line: t.line };
          for (;;) {
            const m = this.next('"}"');
            if (m.kind === "}") break;
            if (m.kind === "word" && m.text === "hosts") {
              while (!this.accept(";")) mesh.hosts.push(this.value("a host name").text);
            } else if (m.kind === "word" && m.text === "net") {
              this.expect("{");
              this.options();
            } else {this.fail(
                `expected hosts, net or "}" in connection-mesh, found ${describe(m)}`,
                m,
              );}
          }
          res.meshes.push(mesh);
          break;
        }
        case "stacked-on-top-of": {
          const lower = this.value("a resource name").text;
          res.stacked.push({ lower, line: t.line });
          this.skipBlock();
          break;
        }
        case "floating": {
          const address = this.address();
          res.floating.push({ address, line: t.line });
          if (!this.accept(";")) this.skipBlock();
          break;
        }
        case "_this_host":
          res.unsupported.push({
            what: "a _this_host section (drbdsetup show output)",
            line: t.line,
          });
          this.skipBlock();
          break;
        case "template-file":
          res.unsupported.push({ what: "template-file", line: t.line });
          this.value("a file name");
          this.expect(";");
          break;
        case "skip":
          this.skipBlock();
          break;
        default:
          if (OPTION_SECTIONS.has(t.text)) {
            this.expect("{");
            this.options(section(t.text));
          } else this.fail(`unknown statement ${describe(t)} in resource ${name}`, t);
      }
    }
  }

  file_(): DrbdConfig {
    const cfg: DrbdConfig = { file: this.file, resources: [], includes: [] };
    while (!this.atEnd()) {
      const t = this.next("a section");
      if (t.kind !== "word") this.fail(`unexpected ${describe(t)} at top level`, t);
      switch (t.text) {
        case "resource": {
          const name = this.value("a resource name");
          this.expect("{");
          if (cfg.resources.some((r) => r.name === name.text)) {
            this.fail(`resource ${name.text} is defined twice`, name);
          }
          cfg.resources.push(this.resourceBody(name.text, t.line));
          break;
        }
        case "common":
          this.expect("{");
          cfg.common = this.resourceBody("common", t.line);
          break;
        case "global":
          this.skipBlock();
          break;
        case "skip":
          this.skipBlock();
          break;
        case "include":
          cfg.includes.push({ pattern: this.value("a file name").text, line: t.line });
          this.expect(";");
          break;
        default:
          if (t.text.startsWith("require-drbd-module-version-")) {
            this.value("a version");
            this.expect(";");
          } else this.fail(`unknown top-level statement ${describe(t)}`, t);
      }
    }
    return cfg;
  }
}

function describe(t: Token): string {
  return t.kind === "word" || t.kind === "string" ? JSON.stringify(t.text) : `"${t.kind}"`;
}

/**
 * Parse the text of a DRBD configuration file (`file` names it in messages). Throws
 * OneblkError("input") with `file:line: what` on a syntax error.
 */
export function parseResFile(text: string, file = "<input>"): DrbdConfig {
  return new Parser(tokenize(text, file), file).file_();
}

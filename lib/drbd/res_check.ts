/**
 * From a parsed DRBD configuration file to the resource oneblk adopts: resolves one resource the
 * way drbdadm does (resource-level volumes fill in what a host section leaves out; a volume
 * without `meta-disk` has internal meta data; two hosts without node ids get drbdadm's implicit
 * ones) and lists, one line each, what oneblk cannot adopt and what the user must do by hand.
 *
 * Implicit node ids are NOT given in file order: drbdadm 9 hashes each host's IP address text
 * with CRC32C (seed 0x1a656f21, no final inversion), compares the hashes as signed 32-bit
 * numbers, and gives node id 0 to the larger.
 */
import { OneblkError } from "../errors.ts";
import {
  type DrbdAddress,
  type DrbdConfig,
  type DrbdOptions,
  parseResFile,
  type RawHost,
  type RawMetaDisk,
  type RawResource,
  type RawVolume,
} from "./res_file.ts";

/** A volume as adopted: the same on every host. */
export interface DrbdVolume {
  number: number;
  minor: number;
  /** The device name (`/dev/drbdN` unless the file names it otherwise). */
  device: string;
  /** The backing disk, the same path on every host. */
  disk: string;
  metaDisk: "internal";
}

/** A host of an adoptable resource. */
export interface DrbdHost {
  name: string;
  /** Further names of the same `on` section. */
  aliases: string[];
  nodeId: number;
  address: DrbdAddress;
  volumes: DrbdVolume[];
}

/** An adoptable resource: everything LINSTOR needs from the configuration file. */
export interface DrbdResource {
  name: string;
  file: string;
  line: number;
  /** "8.4" for a two-node file without node ids (drbdadm's compatibility form), else "9". */
  syntax: "8.4" | "9";
  /** The TCP port, the same on every host. */
  port: number;
  /** In file order. */
  hosts: DrbdHost[];
  /** The volumes (the same on every host), by number. */
  volumes: DrbdVolume[];
  /** True when the node ids were derived the way drbdadm does for files without them. */
  nodeIdsImplicit: boolean;
  /**
   * Resource-level option sections (net, disk, options, …) as written, for the user to carry
   * over. May hold `net.shared-secret`: never print these.
   */
  sections: Record<string, DrbdOptions>;
  /** `include` patterns of the file (not followed). */
  includes: string[];
  /** Things that do not stop adoption but that the user should know, one line each. */
  warnings: string[];
}

/** What {@link checkResource} found: the resource (if adoptable) and the problems. */
export interface ResourceCheck {
  /** The resource when there is no problem, else null. */
  resource: DrbdResource | null;
  /** One line each: what is out of scope or wrong, and what to do by hand. */
  problems: string[];
}

// ---------------------------------------------------------------------------------------------
// Implicit node ids

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli, reflected) of `data` from `seed`, without the usual final inversion. */
export function crc32cRaw(seed: number, data: Uint8Array): number {
  let crc = seed >>> 0;
  for (const b of data) crc = CRC32C_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return crc >>> 0;
}

const NODE_ID_SEED = 0x1a656f21;

/**
 * The node ids drbdadm gives two hosts of a configuration without node ids, for the hosts'
 * IP addresses as written: the one with the larger hash (as a signed 32-bit number) gets 0, the
 * other 1. Null if both hash alike (drbdadm then gives up).
 */
export function implicitNodeIds(ipA: string, ipB: string): [number, number] | null {
  const enc = new TextEncoder();
  const a = crc32cRaw(NODE_ID_SEED, enc.encode(ipA)) | 0;
  const b = crc32cRaw(NODE_ID_SEED, enc.encode(ipB)) | 0;
  if (a === b) return null;
  return a > b ? [0, 1] : [1, 0];
}

// ---------------------------------------------------------------------------------------------
// Checks

/** A host's volumes with the resource-level fields filled in, as drbdadm does. */
function inherit(host: RawHost, shared: RawVolume[]): RawVolume[] {
  const out = host.volumes.map((v) => ({ ...v }));
  for (const s of shared) {
    let t = out.find((v) => v.number === s.number);
    if (!t) {
      t = { number: s.number, implicit: s.implicit, line: s.line, diskOptions: {} };
      out.push(t);
    }
    t.disk ??= s.disk;
    if (t.minor === undefined && s.minor !== undefined) {
      t.minor = s.minor;
      t.device ??= s.device;
    }
    t.metaDisk ??= s.metaDisk;
  }
  return out.sort((a, b) => a.number - b.number);
}

function sameAddress(a: DrbdAddress, b: DrbdAddress): boolean {
  return a.family === b.family && a.ip === b.ip && a.port === b.port;
}

function metaText(m: RawMetaDisk): string {
  if (m.kind === "internal") return "internal";
  return m.index === "flexible" ? m.path : `${m.path}[${m.index}]`;
}

/** A host's volume once it is known to be complete, diskful and internal. */
interface HostVolume {
  host: RawHost;
  minor: number;
  device: string;
  disk: string;
  line: number;
}

/** The checks of one resource; each adds one-line problems or warnings. */
class Checker {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  private readonly byName = new Map<string, RawHost>();

  constructor(private readonly config: DrbdConfig, private readonly raw: RawResource) {
    for (const h of raw.hosts) {
      for (const n of h.names) {
        if (this.byName.has(n)) this.problem(h.line, `host ${n} has two "on" sections`);
        this.byName.set(n, h);
      }
    }
  }

  private at(line: number): string {
    return `${this.config.file}:${line}: resource ${this.raw.name}`;
  }

  problem(line: number, msg: string): void {
    this.problems.push(`${this.at(line)}: ${msg}`);
  }

  /** Constructs that rule the whole resource out. */
  scope(): void {
    const raw = this.raw;
    for (const s of raw.stacked) {
      this.problem(
        s.line,
        `is stacked on top of ${s.lower}; LINSTOR does not manage stacked resources: ` +
          `keep it out of LINSTOR or rebuild it by hand`,
      );
    }
    for (const fl of raw.floating) {
      this.problem(
        fl.line,
        `has a floating section (${fl.address.ip}:${fl.address.port}); LINSTOR needs named ` +
          `hosts: rewrite it with "on HOSTNAME" sections first`,
      );
    }
    for (const u of raw.unsupported) {
      this.problem(
        u.line,
        `uses ${u.what}, which oneblk does not adopt: write the plain configuration first`,
      );
    }
    const proxied = raw.hosts.find((h) => h.proxyLine !== undefined);
    if (raw.sections.proxy || proxied) {
      this.problem(
        proxied?.proxyLine ?? raw.line,
        "uses DRBD Proxy; oneblk does not adopt proxied resources: migrate it by hand",
      );
    }
    if (raw.hosts.length === 0 && !raw.stacked.length && !raw.floating.length) {
      this.problem(raw.line, `has no "on HOST" sections`);
    }
  }

  /** Every host has a TCP address, and all use one port; returns the port. */
  addresses(): number {
    for (const h of this.raw.hosts) {
      if (!h.address) {
        this.problem(
          h.line,
          `host ${h.names[0]} has no address (IP:port): add the address it runs with`,
        );
      } else if (h.address.family !== "ipv4" && h.address.family !== "ipv6") {
        this.problem(
          h.line,
          `host ${h.names[0]} uses the ${h.address.family} transport; LINSTOR uses TCP over ` +
            `IPv4/IPv6: migrate it by hand`,
        );
      }
    }
    const ports = [...new Set(this.raw.hosts.flatMap((h) => (h.address ? [h.address.port] : [])))];
    if (ports.length > 1) {
      const list = this.raw.hosts.map((h) => `${h.names[0]} ${h.address?.port}`).join(", ");
      this.problem(
        this.raw.line,
        `uses different ports on its hosts (${list}); LINSTOR gives a resource one port on all ` +
          `nodes: make the ports equal by hand first (drbdadm adjust on every node)`,
      );
    }
    return ports[0] ?? 0;
  }

  /** Meshes and connections name known hosts and use the hosts' own addresses. */
  connections(): void {
    for (const m of this.raw.meshes) {
      for (const n of m.hosts) {
        if (!this.byName.has(n)) {
          this.problem(m.line, `connection-mesh names ${n}, which has no "on" section`);
        }
      }
    }
    for (const c of this.raw.connections) {
      for (const end of [...c.ends, ...c.paths.flat()]) {
        const host = end.host !== undefined ? this.byName.get(end.host) : undefined;
        if (end.host !== undefined && !host) {
          this.problem(end.line, `a connection names host ${end.host}, which has no "on" section`);
        } else if (end.via) {
          this.problem(end.line, "a connection goes through a proxy; migrate it by hand");
        } else if (
          (end.address && (!host?.address || !sameAddress(end.address, host.address))) ||
          (end.port !== undefined && end.port !== host?.address?.port)
        ) {
          this.problem(
            end.line,
            `a connection uses its own address or port for ${end.host ?? end.address?.ip}; ` +
              `LINSTOR builds connections from the node addresses: set up LINSTOR node ` +
              `connection paths by hand after adoption, or drop these addresses first`,
          );
        }
      }
    }
  }

  /** The node id of every host: given for all, or drbdadm's implicit ones for two hosts. */
  nodeIds(): { ids: Map<RawHost, number>; implicit: boolean } {
    const hosts = this.raw.hosts;
    const ids = new Map<RawHost, number>();
    let implicit = false;
    const without = hosts.filter((h) => h.nodeId === undefined);
    if (without.length === 0) {
      for (const h of hosts) ids.set(h, h.nodeId as number);
    } else if (without.length === 2 && hosts.length === 2 && this.raw.connections.length === 0) {
      // drbdadm's compatibility with DRBD 8.4 files (also for a two-host connection-mesh).
      const [a, b] = hosts;
      if (a.address && b.address) {
        const got = implicitNodeIds(a.address.ip, b.address.ip);
        if (!got) {
          this.problem(
            this.raw.line,
            "its two addresses hash alike, so drbdadm gives no node ids: add node-id to both hosts",
          );
        } else {
          ids.set(a, got[0]);
          ids.set(b, got[1]);
          implicit = true;
        }
      }
    } else {
      for (const h of without) {
        this.problem(
          h.line,
          `host ${h.names[0]} has no node-id: add the node id the running resource uses ` +
            `(drbdsetup show ${this.raw.name}) to every host`,
        );
      }
    }
    const seen = new Map<number, string>();
    for (const [h, id] of ids) {
      const other = seen.get(id);
      if (other !== undefined) {
        this.problem(h.line, `hosts ${other} and ${h.names[0]} both have node-id ${id}`);
      }
      seen.set(id, h.names[0]);
    }
    return { ids, implicit };
  }

  /** The volumes, each the same on every host. */
  volumes(): DrbdVolume[] {
    const raw = this.raw;
    const perHost = raw.hosts.map((h) => ({ host: h, vols: inherit(h, raw.volumes) }));
    const all = perHost.flatMap((p) => p.vols);
    if (all.some((v) => v.implicit) && all.some((v) => !v.implicit)) {
      this.problem(
        raw.line,
        "mixes volume sections with device/disk statements outside them: use one form " +
          "(drbdadm refuses this too)",
      );
      return [];
    }
    const numbers = [...new Set(all.map((v) => v.number))].sort((a, b) => a - b);
    if (numbers.length === 0) this.problem(raw.line, "has no volume (no device and disk)");
    const out: DrbdVolume[] = [];
    for (const n of numbers) {
      const missing = perHost.filter((p) => !p.vols.some((v) => v.number === n));
      if (missing.length) {
        this.problem(
          raw.line,
          `volume ${n} is not defined on ${missing.map((p) => p.host.names[0]).join(", ")}; ` +
            `every host needs every volume: fix the file to match the running resource`,
        );
        continue;
      }
      const hostVols = perHost.map((p) =>
        this.hostVolume(p.host, p.vols.find((v) => v.number === n)!)
      );
      if (hostVols.every((v) => v !== null)) {
        const vol = this.sameOnAllHosts(n, hostVols as HostVolume[]);
        if (vol) out.push(vol);
      }
    }
    const byMinor = new Map<number, number>();
    for (const v of out) {
      const other = byMinor.get(v.minor);
      if (other !== undefined) {
        this.problem(raw.line, `volumes ${other} and ${v.number} both use minor ${v.minor}`);
      }
      byMinor.set(v.minor, v.number);
    }
    return out;
  }

  /** One host's volume if it is complete, diskful and has internal meta data. */
  private hostVolume(host: RawHost, v: RawVolume): HostVolume | null {
    const where = `host ${host.names[0]}, volume ${v.number}`;
    let ok = true;
    if (v.minor === undefined) {
      this.problem(
        v.line,
        `${where} has no device (minor): add the device the running resource uses`,
      );
      ok = false;
    }
    if (v.disk === undefined) {
      this.problem(v.line, `${where} has no disk: add the backing disk the running resource uses`);
      ok = false;
    } else if (v.disk === "none") {
      this.problem(
        v.line,
        `${where} is diskless; oneblk adopts diskful hosts only: leave that host out of the ` +
          `file, adopt, then add it by hand (linstor resource create --drbd-diskless)`,
      );
      ok = false;
    }
    const md = v.metaDisk ?? { kind: "internal" };
    if (md.kind !== "internal") {
      this.problem(
        v.line,
        `${where} keeps its meta data outside the disk (meta-disk ${metaText(md)}); oneblk ` +
          `adopts internal meta data only: migrate it by hand (LINSTOR keeps external meta ` +
          `data in its own storage pool, StorPoolNameDrbdMeta)`,
      );
      ok = false;
    }
    if (!ok || v.minor === undefined || v.disk === undefined) return null;
    return {
      host,
      minor: v.minor,
      device: v.device ?? `/dev/drbd${v.minor}`,
      disk: v.disk,
      line: v.line,
    };
  }

  /** Volume `n` if its minor, device and disk are the same on every host. */
  private sameOnAllHosts(n: number, vols: HostVolume[]): DrbdVolume | null {
    const list = (f: (v: HostVolume) => string | number) =>
      vols.map((v) => `${v.host.names[0]} ${f(v)}`).join(", ");
    const differs = (f: (v: HostVolume) => string | number) => new Set(vols.map(f)).size > 1;
    if (differs((v) => v.minor)) {
      this.problem(
        this.raw.line,
        `volume ${n} has different minors on its hosts (${list((v) => v.minor)}); LINSTOR ` +
          `gives a volume one minor on all nodes: renumber it by hand first (drbdadm down, edit, up)`,
      );
      return null;
    }
    if (differs((v) => v.disk)) {
      this.problem(
        this.raw.line,
        `volume ${n} has different backing disks on its hosts (${list((v) => v.disk)}); ` +
          `LINSTOR's OverrideVlmId needs one name on all nodes: rename the volumes by hand ` +
          `first (e.g. lvrename while the resource is down)`,
      );
      return null;
    }
    if (differs((v) => v.device)) {
      this.problem(
        this.raw.line,
        `volume ${n} has different device names on its hosts (${
          list((v) => v.device)
        }): use one name first`,
      );
      return null;
    }
    const { minor, device, disk, line } = vols[0];
    if (device !== `/dev/drbd${minor}`) {
      this.warnings.push(
        `${this.at(line)}: volume ${n} is named ${device}; under LINSTOR it is /dev/drbd${minor} ` +
          `(and /dev/drbd/by-res/${this.raw.name}/${n}): change what refers to ${device}`,
      );
    }
    return { number: n, minor, device, disk, metaDisk: "internal" };
  }

  /** Notes on what the file has that is not carried over. */
  notes(): void {
    const { config } = this;
    if (config.includes.length) {
      this.warnings.push(
        `${config.file}: includes ${config.includes.map((i) => i.pattern).join(", ")}, not ` +
          `read: options set there are not carried over`,
      );
    }
    if (config.common && Object.keys(config.common.sections).length) {
      this.warnings.push(`${config.file}: has a common section; its options are not carried over`);
    }
  }
}

function check(config: DrbdConfig, raw: RawResource): ResourceCheck {
  const c = new Checker(config, raw);
  c.scope();
  if (c.problems.length) return { resource: null, problems: c.problems };
  const port = c.addresses();
  c.connections();
  const { ids, implicit } = c.nodeIds();
  const volumes = c.volumes();
  c.notes();
  if (c.problems.length) return { resource: null, problems: c.problems };
  return {
    resource: {
      name: raw.name,
      file: config.file,
      line: raw.line,
      syntax: implicit && raw.meshes.length === 0 ? "8.4" : "9",
      port,
      hosts: raw.hosts.map((h) => ({
        name: h.names[0],
        aliases: h.names.slice(1),
        nodeId: ids.get(h) as number,
        address: h.address as DrbdAddress,
        volumes: volumes.map((v) => ({ ...v })),
      })),
      volumes,
      nodeIdsImplicit: implicit,
      sections: raw.sections,
      includes: config.includes.map((i) => i.pattern),
      warnings: c.warnings,
    },
    problems: [],
  };
}

/**
 * Resolve resource `name` of `config` (or its only resource) and check that oneblk can adopt
 * it. Every problem is one line naming the file (and line), the resource, and what the user must
 * do by hand; the resource is returned only when there is no problem.
 */
export function checkResource(config: DrbdConfig, name?: string): ResourceCheck {
  const f = config.file;
  const names = config.resources.map((r) => r.name);
  const includeNote = config.includes.length
    ? ` (the file includes ${config.includes.map((i) => i.pattern).join(", ")}, which oneblk ` +
      `does not read: give the file that defines the resource)`
    : "";
  const fail = (msg: string): ResourceCheck => ({ resource: null, problems: [`${f}: ${msg}`] });
  if (name !== undefined) {
    const raw = config.resources.find((r) => r.name === name);
    if (raw) return check(config, raw);
    return fail(
      `no resource ${name} in the file (it has: ${names.join(", ") || "none"})${includeNote}`,
    );
  }
  if (names.length === 1) return check(config, config.resources[0]);
  if (names.length === 0) return fail(`the file defines no resource${includeNote}`);
  return fail(
    `the file defines ${names.length} resources (${names.join(", ")}): name the one to adopt`,
  );
}

/**
 * Parse `text` (from `file`) and check resource `name` (or the file's only resource): the
 * adoptable resource, or OneblkError("input") whose one-line message lists every problem, joined
 * by "; ". Syntax errors throw from the parser, also as one line.
 */
export function readResource(
  text: string,
  opts: { file?: string; name?: string } = {},
): DrbdResource {
  const result = checkResource(parseResFile(text, opts.file), opts.name);
  if (!result.resource) throw new OneblkError("input", result.problems.join("; "));
  return result.resource;
}

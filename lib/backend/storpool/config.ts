/**
 * StorPool connection settings and host → StorPool client id resolution.
 *
 * Endpoint and token, per key, first found wins:
 *  1. the datastore template: SP_API_HTTP_HOST, SP_API_HTTP_PORT, SP_AUTH_TOKEN;
 *  2. the add-on rc values passed in (the rc files the storpool add-on names, same keys);
 *  3. `/etc/storpool.conf` then `/etc/storpool.conf.d/*.conf` (sorted), INI: the global part
 *     of every file, then the `[<hostname>]` sections (later values win).
 * The port defaults to 81. Behaviour knobs come from the rc values: DELAY_DELETE (`N[smhd]`,
 * default 48h, empty or 0 disables), ATTACH_TIMEOUT (s, default 20), SP_API_TIMEOUT
 * (s, default 60).
 *
 * Client ids (see createClientIdResolver): host attribute SP_OURID, then the front-end's
 * storpool.conf `[<host>]` section, then the host's own /etc/storpool.conf over the host
 * runner. Everything is synchronous except the resolver, so a backend can be opened
 * synchronously.
 */
import { join } from "../../path.ts";
import { OneblkError } from "../../errors.ts";
import type { HostRunner } from "../../host/types.ts";
import { parseShellRc } from "../../one/shell_rc.ts";

/** Settings of one StorPool backend. Only host, port and token are required. */
export interface StorpoolConfig {
  /** API host (SP_API_HTTP_HOST). */
  host: string;
  /** API port (SP_API_HTTP_PORT, default 81). */
  port: number;
  /** API token (SP_AUTH_TOKEN). Never logged or shown. */
  token: string;
  /**
   * Delayed delete: deleteVolume first keeps the volume's data as an anonymous snapshot that
   * StorPool deletes after this many seconds (DELAY_DELETE). Default 172800 (48 h); 0 deletes
   * at once.
   */
  delayDeleteSeconds?: number;
  /** attachTimeout of VolumesReassignWait, seconds (ATTACH_TIMEOUT, default 20). */
  attachTimeoutSeconds?: number;
  /** Deadline of one API call including retries, ms (SP_API_TIMEOUT × 1000, default 60000). */
  requestTimeoutMs?: number;
  /** Retries of reads and of transient errors (default 4). */
  retries?: number;
  /** First retry delay in ms, doubling (default 100). */
  retryDelayMs?: number;
  /**
   * Detach (and deleteVolume's detach) with `force: true`, i.e. even while the device is open.
   * Default false: an open device makes detach fail with kind "in_use".
   */
  forceDetach?: boolean;
  /** Device directory on hosts (default /dev/storpool). */
  devDir?: string;
}

/** The device of a volume on a host: `<devDir>/<volume>` (default /dev/storpool/<volume>). */
export function storpoolDevicePath(cfg: Pick<StorpoolConfig, "devDir">, volume: string): string {
  return `${(cfg.devDir ?? "/dev/storpool").replace(/\/+$/, "")}/${volume}`;
}

/** Where each connection setting came from (for diagnostics; never the token itself). */
export interface StorpoolConfigSources {
  host: "template" | "rc" | "storpool.conf";
  port: "template" | "rc" | "storpool.conf" | "default";
  token: "template" | "rc" | "storpool.conf";
}

/** Inputs of resolveStorpoolConfig; file paths are injectable for tests. */
export interface ResolveConfigInput {
  /** Datastore template attributes ("" or missing = unset). */
  template?: Record<string, string | undefined>;
  /** Add-on rc values (addon-storpoolrc, /etc/storpool/addon-storpool.conf). */
  rc?: Record<string, string | undefined>;
  /** Default /etc/storpool.conf. */
  confPath?: string;
  /** Default /etc/storpool.conf.d. */
  confDir?: string;
  /** Section name for storpool.conf (default: this machine's hostname). */
  hostname?: string;
}

/** Parsed storpool.conf: the global part and the `[name]` sections. */
export interface StorpoolConfFile {
  global: Record<string, string>;
  sections: Record<string, Record<string, string>>;
}

/** Parse storpool.conf INI text (`KEY=VALUE`, `#`/`;` comments, `[section]` headers). */
export function parseStorpoolConf(text: string): StorpoolConfFile {
  const out: StorpoolConfFile = { global: {}, sections: {} };
  let cur = out.global;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[([^\]]+)\]$/.exec(line);
    if (sec) {
      const name = sec[1].trim();
      cur = out.sections[name] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    let val = line.slice(eq + 1).trim();
    if (val.length >= 2 && (val[0] === '"' || val[0] === "'") && val.at(-1) === val[0]) {
      val = val.slice(1, -1);
    }
    cur[key] = val;
  }
  return out;
}

/**
 * Read the add-on's rc files as the add-on does: of the candidate paths that share a file name
 * (`addon-storpoolrc` in several directories), only the first that exists is read; files of
 * different names are all read, in order, later ones winning
 * (`/etc/storpool/addon-storpool.conf` after the rc file). A stale second copy of the rc file
 * (e.g. under /var/tmp/one on a front-end that is also a host) is therefore ignored, as by the
 * add-on.
 */
export function readAddonRc(paths: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const found = new Set<string>();
  for (const p of paths) {
    const name = p.slice(p.lastIndexOf("/") + 1);
    if (found.has(name)) continue;
    const t = readTextOrNull(p);
    if (t === null) continue;
    found.add(name);
    Object.assign(out, parseShellRc(t));
  }
  return out;
}

const rcOfProcess = new Map<string, Readonly<Record<string, string>>>();

/**
 * readAddonRc of `paths`, read once per process (the add-on's rc files do not change while an
 * action runs): the settings every caller shares (profile, backend, deploy).
 */
export function addonRc(paths: readonly string[]): Readonly<Record<string, string>> {
  const key = paths.join("\0");
  let rc = rcOfProcess.get(key);
  if (!rc) rcOfProcess.set(key, rc = readAddonRc(paths));
  return rc;
}

function readTextOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw new OneblkError("config", `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** storpool.conf plus storpool.conf.d/*.conf (sorted), parsed, in reading order. */
export function readStorpoolConfFiles(
  confPath = "/etc/storpool.conf",
  confDir = "/etc/storpool.conf.d",
): StorpoolConfFile[] {
  const files: StorpoolConfFile[] = [];
  const main = readTextOrNull(confPath);
  if (main !== null) files.push(parseStorpoolConf(main));
  let names: string[] = [];
  try {
    names = [...Deno.readDirSync(confDir)]
      .filter((e) =>
        (e.isFile || e.isSymlink) && e.name.endsWith(".conf") && !e.name.startsWith(".")
      )
      .map((e) => e.name)
      .sort();
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory)) {
      throw new OneblkError("config", `cannot list ${confDir}: ${(e as Error).message}`);
    }
  }
  for (const n of names) {
    const t = readTextOrNull(join(confDir, n));
    if (t !== null) files.push(parseStorpoolConf(t));
  }
  return files;
}

/** Effective settings for `section`: every file's global part, then every file's section. */
export function mergeStorpoolConf(
  files: StorpoolConfFile[],
  section?: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of files) Object.assign(out, f.global);
  if (section) { for (const f of files) Object.assign(out, f.sections[section] ?? {}); }
  return out;
}

/** Parse a DELAY_DELETE-style duration `N[smhd]` (bare N = seconds) into seconds. */
export function parseDuration(value: string, what = "DELAY_DELETE"): number {
  const m = /^(\d+)\s*([smhd]?)$/i.exec(value.trim());
  if (!m) {
    throw new OneblkError("config", `${what}='${value}' is not a duration like 48h, 30m or 0`);
  }
  const mul = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2].toLowerCase()] ?? 1;
  return Number(m[1]) * mul;
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}

function safeHostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/**
 * Resolve a backend config from template, rc values and storpool.conf (see module doc).
 * Throws kind "config" naming the missing setting (never its value).
 */
export function resolveStorpoolConfig(
  input: ResolveConfigInput = {},
): StorpoolConfig & { sources: StorpoolConfigSources } {
  const t = input.template ?? {};
  const rc = input.rc ?? {};
  let conf: Record<string, string> | undefined;
  const confValue = (k: string) => {
    conf ??= mergeStorpoolConf(
      readStorpoolConfFiles(input.confPath, input.confDir),
      input.hostname ?? safeHostname(),
    );
    return nonEmpty(conf[k]);
  };
  const pick = (k: string): [string, "template" | "rc" | "storpool.conf"] | undefined => {
    const a = nonEmpty(t[k]);
    if (a !== undefined) return [a, "template"];
    const b = nonEmpty(rc[k]);
    if (b !== undefined) return [b, "rc"];
    const c = confValue(k);
    if (c !== undefined) return [c, "storpool.conf"];
    return undefined;
  };
  const host = pick("SP_API_HTTP_HOST");
  const token = pick("SP_AUTH_TOKEN");
  const port = pick("SP_API_HTTP_PORT");
  if (!host) {
    throw new OneblkError(
      "config",
      "StorPool API host unknown: set SP_API_HTTP_HOST in the datastore template or /etc/storpool.conf",
    );
  }
  if (!token) {
    throw new OneblkError(
      "config",
      "StorPool API token unknown: set SP_AUTH_TOKEN in the datastore template or /etc/storpool.conf",
    );
  }
  let portNum = 81;
  if (port) {
    portNum = Number(port[0]);
    if (!Number.isInteger(portNum) || portNum < 1 || portNum > 65535) {
      throw new OneblkError("config", `SP_API_HTTP_PORT='${port[0]}' (${port[1]}) is not a port`);
    }
  }
  const cfg: StorpoolConfig & { sources: StorpoolConfigSources } = {
    host: host[0],
    port: portNum,
    token: token[0],
    sources: { host: host[1], port: port ? port[1] : "default", token: token[1] },
  };
  if (rc.DELAY_DELETE !== undefined) {
    cfg.delayDeleteSeconds = rc.DELAY_DELETE.trim() === "" ? 0 : parseDuration(rc.DELAY_DELETE);
  }
  const at = nonEmpty(rc.ATTACH_TIMEOUT);
  if (at !== undefined) cfg.attachTimeoutSeconds = parseDuration(at, "ATTACH_TIMEOUT");
  const apiT = nonEmpty(rc.SP_API_TIMEOUT);
  if (apiT !== undefined) cfg.requestTimeoutMs = parseDuration(apiT, "SP_API_TIMEOUT") * 1000;
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// host → client id

/** Highest StorPool client id. */
export const MAX_CLIENT_ID = 4095;

/** Options of createClientIdResolver. */
export interface ClientIdResolverOptions {
  /** SP_OURID from the OpenNebula host template (`onehost show`), "" or undefined if unset. */
  hostAttr?: (host: string) => Promise<string | undefined>;
  /** Front-end storpool.conf (default /etc/storpool.conf). */
  confPath?: string;
  /** Front-end storpool.conf.d (default /etc/storpool.conf.d). */
  confDir?: string;
  /** Also try the section `[<host>.<commonDomain>]` (COMMON_DOMAIN). */
  commonDomain?: string;
  /** Ask the host itself: its /etc/storpool.conf (+ .d) read with fixed argv commands. */
  hosts?: HostRunner;
  /** Deadline of each host command, ms (default 15000). */
  hostTimeoutMs?: number;
}

/** Where a client id came from. */
export type ClientIdSource = "host-attr" | "storpool.conf" | "host";

/** A per-process cache of host → client id. */
export interface ClientIdResolver {
  /** The StorPool client id of an OpenNebula host; throws kind "config" when unknown. */
  clientIdOf(host: string): Promise<number>;
  /** The host already resolved to this id in this process, if any. */
  hostOf(id: number): string | undefined;
  /** How a cached host was resolved. */
  sourceOf(host: string): ClientIdSource | undefined;
}

function parseClientId(v: string | undefined): number | undefined {
  const t = v?.trim();
  if (!t || !/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 1 && n <= MAX_CLIENT_ID ? n : undefined;
}

/**
 * Build a resolver trying, in this order, the first valid id (1..4095) winning:
 *  1. `hostAttr(host)`: the host template's SP_OURID (set by hand, reserved.sh or the probe);
 *  2. the front-end's storpool.conf: SP_OURID in section `[<host>]` (then
 *     `[<host>.<commonDomain>]`, then `[<short host>]`); the global SP_OURID is the
 *     front-end's own id and is never used for another host;
 *  3. over the host runner: `cat /etc/storpool.conf`, then, only if that has no id,
 *     `find /etc/storpool.conf.d -maxdepth 1 -name *.conf -type f -exec cat {} +`; the host's
 *     own file, so its `[<host>]` section or else its global SP_OURID.
 * Results are cached for the life of the resolver (one per process); failures are not.
 */
export function createClientIdResolver(opts: ClientIdResolverOptions = {}): ClientIdResolver {
  const cache = new Map<string, { id: number; source: ClientIdSource }>();
  const pending = new Map<string, Promise<number>>();
  const byId = new Map<number, string>();
  let feFiles: StorpoolConfFile[] | undefined;

  const sectionsFor = (host: string): string[] => {
    const s = [host];
    if (opts.commonDomain) s.push(`${host}.${opts.commonDomain}`);
    const short = host.split(".")[0];
    if (short !== host) s.push(short);
    return s;
  };

  const fromFiles = (files: StorpoolConfFile[], host: string, useGlobal: boolean) => {
    for (const sec of sectionsFor(host)) {
      for (let i = files.length - 1; i >= 0; i--) {
        const id = parseClientId(files[i].sections[sec]?.SP_OURID);
        if (id !== undefined) return id;
      }
    }
    if (useGlobal) {
      for (let i = files.length - 1; i >= 0; i--) {
        const id = parseClientId(files[i].global.SP_OURID);
        if (id !== undefined) return id;
      }
    }
    return undefined;
  };

  const resolve = async (host: string): Promise<{ id: number; source: ClientIdSource }> => {
    if (opts.hostAttr) {
      const id = parseClientId(await opts.hostAttr(host));
      if (id !== undefined) return { id, source: "host-attr" };
    }
    feFiles ??= readStorpoolConfFiles(opts.confPath, opts.confDir);
    const fe = fromFiles(feFiles, host, false);
    if (fe !== undefined) return { id: fe, source: "storpool.conf" };
    if (opts.hosts) {
      const timeoutMs = opts.hostTimeoutMs ?? 15_000;
      const main = await opts.hosts.run(host, ["cat", "/etc/storpool.conf"], {
        timeoutMs,
        okCodes: [0, 1],
      });
      const files = main.code === 0 ? [parseStorpoolConf(main.stdout)] : [];
      let id = fromFiles(files, host, true);
      if (id === undefined) {
        const more = await opts.hosts.run(host, [
          "find",
          "/etc/storpool.conf.d",
          "-maxdepth",
          "1",
          "-name",
          "*.conf",
          "-type",
          "f",
          "-exec",
          "cat",
          "{}",
          "+",
        ], { timeoutMs, okCodes: [0, 1] });
        if (more.code === 0 && more.stdout) files.push(parseStorpoolConf(more.stdout));
        id = fromFiles(files, host, true);
      }
      if (id !== undefined) return { id, source: "host" };
    }
    throw new OneblkError(
      "config",
      `StorPool client id of host '${host}' unknown: set SP_OURID in the host template ` +
        `(onehost update ${host}) or in a [${host}] section of /etc/storpool.conf`,
    );
  };

  return {
    clientIdOf(host: string): Promise<number> {
      const hit = cache.get(host);
      if (hit) return Promise.resolve(hit.id);
      let p = pending.get(host);
      if (!p) {
        p = resolve(host).then((r) => {
          cache.set(host, r);
          byId.set(r.id, host);
          return r.id;
        }).finally(() => pending.delete(host));
        pending.set(host, p);
      }
      return p;
    },
    hostOf: (id) => byId.get(id),
    sourceOf: (host) => cache.get(host)?.source,
  };
}

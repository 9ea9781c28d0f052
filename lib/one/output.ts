/**
 * What a driver script writes back to oned: the one-line stdout results per action, error
 * text on stderr in the form each OpenNebula version shows (docs/contract.md "Results, errors
 * and logging"), progress/log lines, the marketplace IMPORT_INFO document, and per-VM disk
 * usage pushed to onemonitord over UDP (docs/contract.md "Monitoring formats"), encrypted with
 * monitord's public key when monitord.conf names one (NETWORK/PUBKEY), as OpenNebula's own host
 * agent does.
 */
import { join } from "../path.ts";
import { concatBytes } from "../bytes.ts";
import { OneblkError } from "../errors.ts";
import { after } from "../timer.ts";
import { encodeBase64Text } from "./args.ts";
import { parseTemplate, templateVector } from "./template.ts";

// ---------------------------------------------------------------------------------------------
// version

/** An OpenNebula version as read from `$R/VERSION`. */
export interface OneVersion {
  major: number;
  minor: number;
  patch: number;
  /** The text it was parsed from ("" when assumed). */
  raw: string;
  /** True when no VERSION file was found and DEFAULT_ONE_VERSION was assumed. */
  assumed: boolean;
}

/** Version assumed when `$R/VERSION` is missing (current 7.x). */
export const DEFAULT_ONE_VERSION = "7.4.0";

/** Parse `6.10.0`, `7.0.1`, `5.12.0.3`, `6.99.80` …; OneblkError("input") otherwise. */
export function parseOneVersion(s: string, assumed = false): OneVersion {
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?/.exec(s);
  if (!m) throw new OneblkError("input", `unrecognised OpenNebula version ${JSON.stringify(s)}`);
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3] ?? 0),
    raw: assumed ? "" : s.trim(),
    assumed,
  };
}

/** Compare two versions: negative, 0 or positive. Strings are parsed with parseOneVersion. */
export function compareVersion(a: OneVersion | string, b: OneVersion | string): number {
  const x = typeof a === "string" ? parseOneVersion(a) : a;
  const y = typeof b === "string" ? parseOneVersion(b) : b;
  return x.major - y.major || x.minor - y.minor || x.patch - y.patch;
}

/** `v >= min` (development builds `x.y.80+` count as the next release, as oned numbers them). */
export function versionAtLeast(v: OneVersion | string, min: string): boolean {
  return compareVersion(v, min) >= 0;
}

function asVersion(v: OneVersion | string): OneVersion {
  return typeof v === "string" ? parseOneVersion(v) : v;
}

/** Version thresholds used by the drivers (docs/contract.md "Version differences"). */
export const VERSION_GATES = {
  /** Error text: before this the `ERROR MESSAGE --8<------` block is required. */
  plainErrors: "6.0.3",
  /** DS actions get `id` + stdin. */
  dsStdin: "6.7.80",
  /** Log-prefixed stderr lines become LOG messages. */
  logPrefixes: "6.99.80",
  /** FORMAT/FS replaced FSTYPE; cp must print FORMAT. */
  formatField: "5.13.80",
  /** UDP monitord era (MONITOR_VM). */
  monitord: "5.11.80",
} as const;

/**
 * Find the remotes directory `$R`: from the invoked script path
 * (`<R>/datastore/<mad>/<action>`, `<R>/tm/<tm>/<action>`, `<R>/vmm/<hv>/<script>`, also
 * `$RR` on hosts), else `$ONE_LOCATION/var/remotes`, else `/var/lib/one/remotes`.
 */
export function findRemotesDir(
  opts: { env?: Record<string, string | undefined>; invokedPath?: string } = {},
): string {
  const p = opts.invokedPath;
  if (p && p.startsWith("/")) {
    const parts = p.split("/");
    if (parts.length >= 4 && ["datastore", "tm", "vmm"].includes(parts[parts.length - 3])) {
      return parts.slice(0, parts.length - 3).join("/") || "/";
    }
  }
  const loc = opts.env?.ONE_LOCATION;
  if (loc) return join(loc, "var/remotes");
  return "/var/lib/one/remotes";
}

/**
 * Read `<remotesDir>/VERSION` (first line). A missing file yields DEFAULT_ONE_VERSION with
 * `assumed: true`; an unreadable or unparsable one is OneblkError("config").
 */
export function readOneVersion(remotesDir: string): OneVersion {
  const file = join(remotesDir, "VERSION");
  let textContent: string;
  try {
    textContent = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return parseOneVersion(DEFAULT_ONE_VERSION, true);
    throw new OneblkError("config", `cannot read ${file}: ${(e as Error).message}`);
  }
  const first = textContent.split("\n")[0].trim();
  try {
    return parseOneVersion(first);
  } catch {
    throw new OneblkError("config", `${file} does not hold a version: ${JSON.stringify(first)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// stderr

const LOG_PREFIX_RE = /^(ERROR|INFO|WARN|DEBUG):\s+/;

/** Marker lines of the ≤6.0 error block (scripts_common.sh `error_message`). */
export const ERROR_BLOCK_START = "ERROR MESSAGE --8<------";
/** End marker of the ≤6.0 error block. */
export const ERROR_BLOCK_END = "ERROR MESSAGE ------>8--";

function oneLineText(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\s*[\r\n]+\s*/g, " ").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "").trim();
}

/**
 * The stderr text that makes oned show `message` as the failure reason, ending in "\n":
 * - < 6.0.3: the message between `ERROR MESSAGE --8<------` / `ERROR MESSAGE ------>8--`;
 * - 6.0.3 – 6.10: one plain line;
 * - ≥ 7.0: one plain line that does not look like a log line (else the MAD would turn it
 *   into a LOG message and the failure reason would be empty).
 */
export function formatError(message: string, version: OneVersion | string): string {
  version = asVersion(version);
  let line = oneLineText(message) || "unknown error";
  if (!versionAtLeast(version, VERSION_GATES.plainErrors)) {
    return `${ERROR_BLOCK_START}\n${line}\n${ERROR_BLOCK_END}\n`;
  }
  if (LOG_PREFIX_RE.test(line)) line = `oneblk: ${line}`;
  return `${line}\n`;
}

/** Severity of a log line. */
export type LogLevel = "INFO" | "WARN" | "DEBUG" | "ERROR";

/**
 * A progress/log line for stderr, ending in "\n", or null when it must not be written:
 * - ≥ 7.0: `INFO: <vmid> msg` (goes to the VM log) or `INFO: oneblk: msg` (oned.log);
 * - 6.0.3 – 6.10: null, because all stderr becomes the failure text there;
 * - < 6.0.3: `INFO: oneblk: msg` (logged by the MAD on failure, outside the error block).
 */
export function logLine(
  level: LogLevel,
  msg: string,
  version: OneVersion | string,
  vmId?: number,
): string | null {
  version = asVersion(version);
  const early = !versionAtLeast(version, VERSION_GATES.plainErrors);
  if (!early && !versionAtLeast(version, VERSION_GATES.logPrefixes)) return null;
  const text = oneLineText(msg);
  const who = vmId !== undefined && vmId >= 0 && !early ? `${vmId}` : "oneblk:";
  return `${level}: ${who} ${text}\n`;
}

/** `logLine("INFO", …)`. */
export function infoLine(
  msg: string,
  version: OneVersion | string,
  vmId?: number,
): string | null {
  return logLine("INFO", msg, version, vmId);
}

// ---------------------------------------------------------------------------------------------
// stdout (one line where oned requires it)

function word(v: string, what: string): string {
  if (!v || /\s/.test(v)) {
    throw new OneblkError(
      "internal",
      `${what} must be one non-empty word, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function mb(n: number, what: string): number {
  if (!Number.isFinite(n) || n < 0) {
    throw new OneblkError("internal", `${what} must be a non-negative number, got ${n}`);
  }
  return Math.round(n);
}

/** `cp` stdout: `SOURCE FORMAT\n` (FORMAT mandatory since 6.0, ignored by 5.x). */
export function cpOutput(source: string, format: string): string {
  return `${word(source, "SOURCE")} ${word(format, "FORMAT")}\n`;
}

/** `clone` stdout: `SOURCE [FORMAT]\n`. */
export function cloneOutput(source: string, format?: string): string {
  return format ? cpOutput(source, format) : `${word(source, "SOURCE")}\n`;
}

/** `mkfs` stdout: `SOURCE\n` (the whole line is taken as SOURCE; no format). */
export function mkfsOutput(source: string): string {
  return `${word(source, "SOURCE")}\n`;
}

/** `stat` stdout: the size in MB as an integer (rounded up), `\n`-terminated. */
export function statOutput(sizeMb: number): string {
  if (!Number.isFinite(sizeMb) || sizeMb < 0) {
    throw new OneblkError("internal", `image size must be a non-negative number, got ${sizeMb}`);
  }
  return `${Math.ceil(sizeMb)}\n`;
}

/** Datastore capacity in MB. */
export interface Capacity {
  usedMb: number;
  totalMb: number;
  freeMb: number;
}

/** `monitor` stdout: `USED_MB=..\nTOTAL_MB=..\nFREE_MB=..\n` (integers). */
export function monitorOutput(c: Capacity): string {
  return `USED_MB=${mb(c.usedMb, "USED_MB")}\nTOTAL_MB=${mb(c.totalMb, "TOTAL_MB")}\n` +
    `FREE_MB=${mb(c.freeMb, "FREE_MB")}\n`;
}

/** Wrap text in CDATA, splitting any `]]>` so the section stays well-formed. */
export function cdata(v: string): string {
  return `<![CDATA[${v.replaceAll("]]>", "]]]]><![CDATA[>")}]]>`;
}

/** Fields of a marketplace export answer. */
export interface ImportInfo {
  /** URL the marketplace downloads from (e.g. `ssh://host:/path`). */
  importSource: string;
  md5?: string;
  /** Size in MB. */
  sizeMb: number;
  format: string;
  /** Whether the marketplace must run DISPOSE_CMD after the download. */
  dispose: boolean;
  disposeCmd?: string;
}

/** `<IMPORT_INFO>` document printed by `export` (one line, `\n`-terminated). */
export function importInfoXml(i: ImportInfo): string {
  const parts = [
    `<IMPORT_SOURCE>${cdata(i.importSource)}</IMPORT_SOURCE>`,
    `<MD5>${cdata(i.md5 ?? "")}</MD5>`,
    `<SIZE>${cdata(String(mb(i.sizeMb, "SIZE")))}</SIZE>`,
    `<FORMAT>${cdata(i.format)}</FORMAT>`,
    `<DISPOSE>${cdata(i.dispose ? "YES" : "NO")}</DISPOSE>`,
  ];
  if (i.disposeCmd) parts.push(`<DISPOSE_CMD>${cdata(i.disposeCmd)}</DISPOSE_CMD>`);
  return `<IMPORT_INFO>${parts.join("")}</IMPORT_INFO>\n`;
}

// ---------------------------------------------------------------------------------------------
// per-VM disk usage (MONITOR_VM)

/** Disk and snapshot usage of one VM, sizes in MB. */
export interface VmDiskUsage {
  vmId: number;
  disks: { id: number; sizeMb: number }[];
  snapshots?: { id: number; diskId: number; sizeMb: number }[];
}

/** `DISK_SIZE=[ID=0,SIZE=906] SNAPSHOT_SIZE=[ID=0,DISK_ID=1,SIZE=10]` for one VM. */
export function vmMonitorText(u: VmDiskUsage): string {
  // one string, no arrays: a monitor renders this for thousands of VMs
  let t = "";
  for (const x of u.disks) {
    t += `${t ? " " : ""}DISK_SIZE=[ID=${x.id},SIZE=${mb(x.sizeMb, "SIZE")}]`;
  }
  for (const x of u.snapshots ?? []) {
    t += `${t ? " " : ""}SNAPSHOT_SIZE=[ID=${x.id},DISK_ID=${x.diskId},SIZE=${
      mb(x.sizeMb, "SIZE")
    }]`;
  }
  return t;
}

/** `VM=[ID=<vmid>, MONITOR="<b64(vmMonitorText)>"]` (≥5.12, monitord / monitor_ds). */
export function monitorVmLine(u: VmDiskUsage): string {
  return `VM=[ID=${u.vmId}, MONITOR="${encodeBase64Text(vmMonitorText(u))}"]`;
}

/** `VM=[ID=<vmid>,POLL="<vmMonitorText> "]`: the ≤5.10 monitor_ds line (host monitoring text). */
export function pollVmLine(u: VmDiskUsage): string {
  return `VM=[ID=${u.vmId},POLL="${vmMonitorText(u)} "]`;
}

/** Largest UDP payload sendMonitorVm puts in one datagram. */
export const MAX_MONITOR_DATAGRAM = 60_000;

/** Turns plaintext into what monitord decrypts: RSA PKCS#1 v1.5 blocks (see monitorEncryptor). */
export type MonitorEncryptor = (plain: Uint8Array) => Uint8Array;

/**
 * zlib-compressed bytes (RFC 1950, as Ruby's Zlib::Deflate) with the web CompressionStream, read
 * with its own reader (Blob and Response would load more of the runtime: 1-4 ms, 1.5 MiB).
 */
async function zlibDeflate(bytes: Uint8Array): Promise<Uint8Array> {
  const cs = new CompressionStream("deflate");
  const writer = cs.writable.getWriter();
  const written = writer.write(bytes as Uint8Array<ArrayBuffer>).then(() => writer.close());
  written.catch(() => {}); // its failure is the reader's too
  const reader = cs.readable.getReader();
  const parts: Uint8Array[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  await written;
  return concatBytes(parts);
}

async function monitorMessage(
  lines: string[],
  oid: number,
  encrypt?: MonitorEncryptor,
): Promise<string> {
  let data: Uint8Array = new TextEncoder().encode(lines.join("\n") + "\n");
  if (encrypt) data = encrypt(data);
  const z = await zlibDeflate(data);
  return `MONITOR_VM SUCCESS ${oid} 0 ${z.toBase64()}\n`;
}

/**
 * The encryption of monitord messages for a public key (PEM text, PKCS#1 `RSA PUBLIC KEY` or
 * SPKI `PUBLIC KEY`), as OpenNebula's host agent does it (monitord_client.rb `pack`): the
 * plaintext is cut into blocks of (modulus bytes − 11), each encrypted with RSA PKCS#1 v1.5
 * padding, and the ciphertexts concatenated; the caller then deflates and base64-encodes.
 * node:crypto is loaded only here. OneblkError("config") for a key that is not an RSA key.
 */
export async function monitorEncryptor(pem: string, source = "PUBKEY"): Promise<MonitorEncryptor> {
  const { constants, createPublicKey, publicEncrypt } = await import("node:crypto");
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new OneblkError("config", `${source} is not a public key: ${(e as Error).message}`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < 512) {
    throw new OneblkError("config", `${source} is not an RSA public key`);
  }
  const k = Math.ceil(bits / 8);
  const block = k - 11;
  return (plain) => {
    const out = new Uint8Array(Math.ceil(plain.length / block) * k);
    for (let i = 0, o = 0; i < plain.length; i += block, o += k) {
      const c = publicEncrypt(
        { key, padding: constants.RSA_PKCS1_PADDING },
        plain.subarray(i, i + block),
      );
      out.set(c, o);
    }
    return out;
  };
}

/**
 * monitord messages `MONITOR_VM SUCCESS <oid> 0 <b64(zlib(lines))>\n` for the given VM lines
 * (with `encrypt`: `b64(zlib(encrypt(lines)))`), split so that no message exceeds `maxBytes`.
 */
export async function buildMonitorVmMessages(
  lines: string[],
  opts: { oid?: number; maxBytes?: number; encrypt?: MonitorEncryptor } = {},
): Promise<string[]> {
  const oid = opts.oid ?? -1;
  const max = opts.maxBytes ?? MAX_MONITOR_DATAGRAM;
  const out: string[] = [];
  // A batch too large is cut into as many equal parts as its size says (plus a margin), not
  // halved again and again: thousands of VMs are compressed about twice, not once per halving.
  const pack = async (batch: string[]): Promise<void> => {
    if (batch.length === 0) return;
    const msg = await monitorMessage(batch, oid, opts.encrypt);
    if (msg.length <= max) out.push(msg);
    else if (batch.length === 1) {
      throw new OneblkError("internal", `one MONITOR_VM line exceeds ${max} bytes`);
    } else {
      const parts = Math.min(batch.length, Math.max(2, Math.ceil((msg.length / max) * 1.1)));
      const size = Math.ceil(batch.length / parts);
      for (let i = 0; i < batch.length; i += size) await pack(batch.slice(i, i + size));
    }
  };
  await pack(lines);
  return out;
}

/** Where monitord listens. */
export interface MonitordTarget {
  address: string;
  port: number;
  /** PUBKEY path from monitord.conf ("" when none): messages are encrypted with that key. */
  pubkey: string;
}

/** Default monitord.conf path: `$ONE_LOCATION/etc/monitord.conf` or `/etc/one/monitord.conf`. */
export function monitordConfPath(env: Record<string, string | undefined> = {}): string {
  return env.ONE_LOCATION ? join(env.ONE_LOCATION, "etc/monitord.conf") : "/etc/one/monitord.conf";
}

/**
 * Read MONITOR_ADDRESS / PORT / PUBKEY from monitord.conf's NETWORK section. `auto` (and a
 * missing file or value) means 127.0.0.1; the default port is 4124.
 */
export async function readMonitordConf(path: string): Promise<MonitordTarget> {
  let src: string;
  try {
    src = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { address: "127.0.0.1", port: 4124, pubkey: "" };
    throw new OneblkError("config", `cannot read ${path}: ${(e as Error).message}`);
  }
  let net: Record<string, string> | undefined;
  try {
    net = templateVector(parseTemplate(src, path), "NETWORK");
  } catch {
    // Not parseable as a whole: fall back to line matching like scripts_common.sh does.
    const grab = (k: string) =>
      new RegExp(`\\b${k}\\s*=\\s*"?([^",\\s\\]]*)"?`).exec(src)?.[1] ?? "";
    net = { MONITOR_ADDRESS: grab("MONITOR_ADDRESS"), PORT: grab("PORT"), PUBKEY: grab("PUBKEY") };
  }
  let address = (net?.MONITOR_ADDRESS ?? "").trim();
  if (!address || address.toLowerCase().includes("auto")) address = "127.0.0.1";
  const portText = (net?.PORT ?? "").trim();
  const port = portText ? Number(portText) : 4124;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new OneblkError("config", `${path}: invalid NETWORK PORT ${JSON.stringify(portText)}`);
  }
  return { address, port, pubkey: (net?.PUBKEY ?? "").trim() };
}

/** Read the PEM text of monitord.conf's PUBKEY; OneblkError("config") when unreadable. */
async function readPubkey(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    throw new OneblkError("config", `cannot read monitord PUBKEY ${path}: ${(e as Error).message}`);
  }
}

/**
 * Send VM lines (monitorVmLine) to onemonitord over UDP, as OpenNebula's host agent does:
 * encrypted with the key file `target.pubkey` names, when it names one. Throws
 * OneblkError("config") for an unreadable or unusable key, OneblkError("unavailable"/"timeout")
 * on socket errors. Resolves with what was sent.
 */
export async function sendMonitorVm(
  lines: string[],
  target: { address: string; port: number; pubkey?: string },
  opts: { timeoutMs?: number; oid?: number } = {},
): Promise<{ datagrams: number; bytes: number; encrypted: boolean }> {
  if (lines.length === 0) return { datagrams: 0, bytes: 0, encrypted: false };
  const encrypt = target.pubkey
    ? await monitorEncryptor(await readPubkey(target.pubkey), `PUBKEY ${target.pubkey}`)
    : undefined;
  const msgs = await buildMonitorVmMessages(lines, { oid: opts.oid, encrypt });
  const timeoutMs = opts.timeoutMs ?? 5_000;
  let bytes = 0;
  let cancelTimer = () => {};
  let sock: Deno.DatagramConn | undefined;
  try {
    // Deno's own UDP socket (--unstable-net: the launcher gives it to a per-action program that
    // names this API, see tools/bundle.ts programHeader; the compiled binary and deno.json give
    // it too): node:dgram would load Node's compatibility layer, ~19 ms and 8 MiB here
    sock = Deno.listenDatagram({
      transport: "udp",
      hostname: target.address.includes(":") ? "::" : "0.0.0.0",
      port: 0,
    });
    const to: Deno.NetAddr = { transport: "udp", hostname: target.address, port: target.port };
    const conn = sock;
    const send = (async () => {
      for (const m of msgs) {
        const buf = new TextEncoder().encode(m);
        await conn.send(buf, to);
        bytes += buf.length;
      }
    })();
    send.catch(() => {});
    const timeout = new Promise<never>((_, reject) => {
      cancelTimer = after(
        timeoutMs,
        () => reject(new OneblkError("timeout", `monitord send timed out after ${timeoutMs} ms`)),
      );
    });
    await Promise.race([send, timeout]);
  } catch (e) {
    if (e instanceof OneblkError) throw e;
    throw new OneblkError(
      "unavailable",
      `cannot send to monitord at ${target.address}:${target.port}: ${(e as Error).message}`,
    );
  } finally {
    cancelTimer();
    try {
      sock?.close();
    } catch {
      // closed already
    }
  }
  return { datagrams: msgs.length, bytes, encrypted: encrypt !== undefined };
}

/**
 * A simulated rsync backup datastore (OpenNebula's `datastore/rsync` driver) and the part of
 * `datastore/downloader.sh` that serves its `rsync://` URLs, for the simulated cloud of
 * tools/sim/cluster.ts (`oneblk sim rsync <action> …`, installed as `$R/datastore/rsync/<action>`
 * and `$R/datastore/downloader.sh`). They behave like the real ones as far as a storage driver
 * can see (facts from OpenNebula's rsync driver; our own code):
 *
 *  - `backup host:DIR disks deploy_id [bj_id] vmid dsid`, stdin the plain `<DATASTORE>` (≤6.10)
 *    or `<DS_DRIVER_ACTION_DATA>` with DATASTORE and VM (7.0+): copies every file of the VM's
 *    backup directory (`$BACKUP_BASE_PATH/<vmid>/backup` when datastore.conf sets it and the
 *    version is 6.10+, else `DIR/backup`; on BACKUP_CONFIG/LAST_BRIDGE when set, else `host`)
 *    to `<BASE_PATH>/<vmid>/<backup id>/` on RSYNC_HOST and prints `<backup id> <MB> raw`
 *    (`rbd` for `.rbd2`/`.rbdiff` files). The backup id is 6 random hex digits;
 *  - `ls -i <inc>` (stdin plain DS_DRIVER_ACTION_DATA with DATASTORE, VM, IMAGE): the chain is
 *    every increment (`-1`) or those up to `<inc>`, as `id:source` pairs joined by commas; the
 *    files listed are the `disk.*` of increment 0's directory (the last one's when 0 is gone,
 *    unless TEMPLATE/INCREMENT_ID names another), printed as JSON
 *    `{"<disk>": "rsync://<ds>/<bj_id or empty>/<chain><absolute path>", "tpm": …}`;
 *  - `increment_flatten` (stdin base64 DS_DRIVER_ACTION_DATA with EXTRA_DATA/KEEP_LAST):
 *    when there are more increments than KEEP_LAST, the oldest `n - KEEP_LAST + 1` are
 *    committed into one qcow2 per disk (`qemu-img rebase -u -F qcow2 -b <previous> <next>`
 *    along the chain, `qemu-img commit -f qcow2 -b <first> <last>`, the first file moved over
 *    the last one's name), older directories removed; prints `<MB> <kept chain>` whose first
 *    entry now points at the last committed directory;
 *  - `rm` (stdin base64): removes every increment directory of the image;
 *  - `downloader [--nodecomp] <url|path> <file|->`: a local path is copied; an `rsync://` URL
 *    with one increment streams the stored file as it is; a longer chain is rebuilt on the
 *    rsync host exactly as the real downloader does it (the same `rebase -u` per link, then
 *    `qemu-img convert -O qcow2 <last>` into a temporary directory under RSYNC_TMP_DIR, which
 *    is removed once streamed), so the stream is always a qcow2 image.
 *
 * Hosts are the simulated ones (ONEBLK_SIM_ROOT, lib/host/sim.ts); the datastore for a URL comes
 * from the simulated oned (ONE_XMLRPC, ONE_AUTH), as the real downloader asks oned.
 */
import { basename, join, normalize } from "node:path";
import { OneblkError } from "../../lib/errors.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { at, children, text, type XmlNode } from "../../lib/one/xml.ts";
import { parseXmlSync } from "../../lib/one/xml_saxes.ts";
import { decodeBase64Text } from "../../lib/one/args.ts";
import { OneClient } from "../../lib/one/xmlrpc.ts";
import { readDatastoreConf } from "../../lib/domain/remotes.ts";
import { versionAtLeast } from "../../lib/one/output.ts";

const QEMU_TIMEOUT_MS = 3600_000;

/** The simulation root (ONEBLK_SIM_ROOT). */
function simRoot(): string {
  const root = Deno.env.get("ONEBLK_SIM_ROOT");
  if (!root) throw new OneblkError("config", "ONEBLK_SIM_ROOT is not set");
  return root;
}

/** A backup image's increments (id → source, in document order) and its VM. */
interface BackupImage {
  increments: [number, string][];
  vmId: number;
  bjId: string;
  keepLast: number;
  /** TEMPLATE/INCREMENT_ID of the action data (0 when absent, like the real driver). */
  selectedId: number;
}

function backupImage(action: XmlNode): BackupImage {
  const img = at(action, "IMAGE");
  if (!img) throw new OneblkError("input", "no IMAGE in the action data");
  const incs: [number, string][] = children(at(img, "BACKUP_INCREMENTS"), "INCREMENT")
    .map((i) => [Number(text(i, "ID")), text(i, "SOURCE")]);
  if (!incs.length) incs.push([0, text(img, "SOURCE")]);
  return {
    increments: incs,
    vmId: Number(text(img, "VMS/ID")),
    bjId: text(img, "TEMPLATE/BACKUP_JOB_ID"),
    keepLast: Number(text(action, "EXTRA_DATA/KEEP_LAST") || "0"),
    selectedId: Number(text(action, "TEMPLATE/INCREMENT_ID") || "0"),
  };
}

const chainText = (incs: [number, string][]) => incs.map(([i, s]) => `${i}:${s}`).join(",");

function dsAttrs(ds: XmlNode | undefined) {
  const host = text(ds, "TEMPLATE/RSYNC_HOST");
  if (!host) throw new OneblkError("input", "the backup datastore has no RSYNC_HOST");
  return {
    id: Number(text(ds, "ID")),
    basePath: normalize(text(ds, "BASE_PATH")).replace(/\/+$/, ""),
    host,
    tmpDir: text(ds, "TEMPLATE/RSYNC_TMP_DIR") || "/var/tmp",
  };
}

/** Files named `disk.*` in a directory of a simulated host, sorted. */
async function diskFiles(sim: SimRunner, host: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(sim.mapPath(host, dir))) {
      if (e.isFile && e.name.startsWith("disk.")) out.push(`${dir}/${e.name}`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new OneblkError("not_found", `find: '${dir}': No such file or directory`);
    }
    throw e;
  }
  return out.sort();
}

async function readStdin(): Promise<string> {
  return await new Response(Deno.stdin.readable).text();
}

// ---------------------------------------------------------------------------------------------
// backup

async function backup(args: string[]): Promise<string> {
  if (args.length < 5) throw new OneblkError("usage", "backup host:DIR disks deploy [bj] vm ds");
  const root = simRoot();
  const sim = new SimRunner(root);
  const [host, dir] = [
    args[0].slice(0, args[0].indexOf(":")),
    args[0].slice(args[0].indexOf(":") + 1),
  ];
  const vmId = Number(args.at(-2));
  const doc = parseXmlSync(await readStdin(), "backup stdin");
  const ds = doc.name === "DATASTORE" ? doc : at(doc, "DATASTORE");
  const vm = doc.name === "DATASTORE" ? undefined : at(doc, "VM");
  const d = dsAttrs(ds);
  const remotes = join(root, "remotes");
  let version = "7.0.0";
  try {
    version = (await Deno.readTextFile(join(remotes, "VERSION"))).split("\n")[0].trim();
  } catch { /* default */ }
  let base = "";
  if (versionAtLeast(version, "6.9.80")) {
    base = (await readDatastoreConf(remotes)).BACKUP_BASE_PATH ?? "";
  }
  const vmDir = normalize(base ? `${base}/${vmId}/backup` : `${dir}/backup`);
  const vmHost = text(vm, "BACKUPS/BACKUP_CONFIG/LAST_BRIDGE") || host;
  const id = [...crypto.getRandomValues(new Uint8Array(3))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const dst = `${d.basePath}/${vmId}/${id}`;
  const files = await diskFiles(sim, vmHost, vmDir).catch((e) => {
    throw new OneblkError("host", `Error copying backup: ${(e as Error).message}`);
  });
  if (!files.length) throw new OneblkError("host", "Error copying backup: no disk.* files");
  await sim.run(d.host, ["mkdir", "-p", dst]);
  let bytes = 0;
  for await (const e of Deno.readDir(sim.mapPath(vmHost, vmDir))) {
    if (!e.isFile) continue;
    const from = sim.mapPath(vmHost, `${vmDir}/${e.name}`);
    await new Deno.Command("cp", {
      args: ["--sparse=always", from, sim.mapPath(d.host, `${dst}/${e.name}`)],
    }).output().then((o) => {
      if (!o.success) throw new OneblkError("host", `Error copying backup: ${e.name}`);
    });
    bytes += ((await Deno.stat(from)).blocks ?? 0) * 512;
  }
  const ext = files[0].split(".").at(-1) ?? "";
  const format = ext === "rbd2" || ext === "rbdiff" ? "rbd" : "raw";
  return `${id} ${Math.ceil(bytes / 2 ** 20)} ${format}`;
}

// ---------------------------------------------------------------------------------------------
// ls

async function ls(args: string[]): Promise<string> {
  let inc = -1;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-i" || args[i] === "--increment") inc = Number(args[++i]);
  }
  const action = parseXmlSync(await readStdin(), "ls stdin");
  const img = backupImage(action);
  const d = dsAttrs(at(action, "DATASTORE"));
  const chain = inc === -1 ? img.increments : img.increments.filter(([i]) => i <= inc);
  const map = new Map(img.increments);
  const snap = map.get(img.selectedId) ?? img.increments.at(-1)![1];
  const format = text(action, "IMAGE/FORMAT");
  const burl = `rsync${format === "rbd" ? "+rbd" : ""}://${d.id}/${img.bjId}/${chainText(chain)}`;
  const sim = new SimRunner(simRoot());
  const out: Record<string, string> = {};
  for (const f of await diskFiles(sim, d.host, `${d.basePath}/${img.vmId}/${snap}`)) {
    const m = /disk\.([0-9]+|tpm)/.exec(basename(f));
    if (m) out[m[1]] = `${burl}${f}`;
  }
  return JSON.stringify(out);
}

// ---------------------------------------------------------------------------------------------
// increment_flatten, rm

/** `qemu-img rebase -u -F qcow2 -b <previous> <next>` along a chain of files. */
async function relink(sim: SimRunner, host: string, paths: string[]): Promise<void> {
  for (let i = 1; i < paths.length; i++) {
    await sim.run(host, ["qemu-img", "rebase", "-u", "-F", "qcow2", "-b", paths[i - 1], paths[i]], {
      timeoutMs: QEMU_TIMEOUT_MS,
    });
  }
}

async function flatten(): Promise<string> {
  const action = parseXmlSync(decodeBase64Text((await readStdin()).trim()), "flatten stdin");
  const img = backupImage(action);
  const d = dsAttrs(at(action, "DATASTORE"));
  const n = img.increments.length;
  if (n <= img.keepLast) return "";
  const snaps = img.increments.slice(0, n - img.keepLast + 1).map(([, s]) => s);
  const sim = new SimRunner(simRoot());
  const dirs = snaps.map((s) => `${d.basePath}/${img.vmId}/${s}`);
  const byIndex = new Map<string, string[]>();
  for (const dir of dirs) {
    for (const f of await diskFiles(sim, d.host, dir)) {
      const idx = basename(f).split(".")[1];
      byIndex.set(idx, [...(byIndex.get(idx) ?? []), f]);
    }
  }
  let bytes = 0;
  for (const paths of byIndex.values()) {
    await relink(sim, d.host, paths);
    if (paths.length > 1) {
      await sim.run(d.host, [
        "qemu-img",
        "commit",
        "-q",
        "-f",
        "qcow2",
        "-b",
        paths[0],
        paths.at(-1)!,
      ], {
        timeoutMs: QEMU_TIMEOUT_MS,
      });
      await sim.run(d.host, ["mv", paths[0], paths.at(-1)!]);
    }
    const info = await sim.run(d.host, ["qemu-img", "info", "--output=json", paths.at(-1)!]);
    bytes += Number(JSON.parse(info.stdout)["actual-size"] ?? 0);
  }
  for (const dir of dirs.slice(0, -1)) await sim.run(d.host, ["rm", "-rf", dir]);
  const kept = img.increments.slice(-img.keepLast);
  kept[0] = [img.increments[n - img.keepLast][0], snaps.at(-1)!];
  return `${Math.floor(bytes / 2 ** 20)} ${chainText(kept)}`;
}

async function rm(): Promise<string> {
  const action = parseXmlSync(decodeBase64Text((await readStdin()).trim()), "rm stdin");
  const img = backupImage(action);
  const d = dsAttrs(at(action, "DATASTORE"));
  const sim = new SimRunner(simRoot());
  for (const [, s] of img.increments) {
    await sim.run(d.host, ["rm", "-rf", `${d.basePath}/${img.vmId}/${s}`]);
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// downloader

/** Split like Ruby's `split('/', 4)`: three fields, then the rest. */
function split4(s: string): string[] {
  const out: string[] = [];
  let rest = s;
  for (let i = 0; i < 3; i++) {
    const k = rest.indexOf("/");
    if (k < 0) break;
    out.push(rest.slice(0, k));
    rest = rest.slice(k + 1);
  }
  out.push(rest);
  return out;
}

/** Stream `path` on `host` to stdout or a local file. */
async function emit(sim: SimRunner, host: string, path: string, to: string): Promise<void> {
  const src = sim.mapPath(host, path);
  if (to === "-") {
    const f = await Deno.open(src);
    await f.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
  } else {
    await Deno.copyFile(src, to);
  }
}

async function downloader(args: string[]): Promise<string> {
  const pos: string[] = [];
  const withValue = new Set(["--md5", "-m", "--sha1", "-s", "--limit", "-l", "--max-size", "-o"]);
  for (let i = 0; i < args.length; i++) {
    if (withValue.has(args[i])) i++;
    else if (args[i] === "-" || !args[i].startsWith("-")) pos.push(args[i]);
  }
  const [from, to] = pos;
  if (!from || !to) throw new OneblkError("usage", "downloader [--nodecomp] <from> <to|->");
  if (!/^rsync:\/\//.test(from)) {
    if (!from.startsWith("/")) throw new OneblkError("input", `unsupported source ${from}`);
    const src = await Deno.open(from);
    if (to === "-") await src.readable.pipeTo(Deno.stdout.writable, { preventClose: true });
    else await src.readable.pipeTo((await Deno.create(to)).writable);
    return "";
  }
  const [dsText, _bj, chainPart, pathPart] = split4(from.slice("rsync://".length));
  const incs = chainPart.split(",").map((x) => x.split(":"));
  const diskPath = `/${pathPart}`;
  const diskIndex = basename(diskPath).split(".")[1];
  const m = new RegExp(`/${dsText}/(\\d+)/[^/]+/[^/]+$`).exec(diskPath);
  if (!m) throw new OneblkError("input", `cannot tell the VM from ${diskPath}`);
  const vmId = m[1];
  const one = await OneClient.fromEnv({ env: Deno.env.toObject() });
  const ds = dsAttrs(await one.callXml("one.datastore.info", Number(dsText)));
  const sim = new SimRunner(simRoot());
  if (incs.length === 1) {
    await emit(sim, ds.host, diskPath, to);
    return "";
  }
  const paths = incs.map(([idx, snap]) =>
    normalize(`${ds.basePath}/${vmId}/${snap}/disk.${diskIndex}.${idx}`)
  );
  const tmp = `${ds.tmpDir}/${crypto.randomUUID()}`;
  const merged = `${tmp}/${basename(paths.at(-1)!)}`;
  await relink(sim, ds.host, paths);
  await sim.run(ds.host, ["mkdir", "-p", tmp]);
  await sim.run(ds.host, ["qemu-img", "convert", "-O", "qcow2", paths.at(-1)!, merged], {
    timeoutMs: QEMU_TIMEOUT_MS,
  });
  await emit(sim, ds.host, merged, to);
  await sim.run(ds.host, ["rm", "-rf", tmp]);
  return "";
}

/** `oneblk sim rsync <action> …`: one action of the simulated rsync datastore. */
export async function rsyncSimMain(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let out: string;
  try {
    switch (action) {
      case "backup":
        out = await backup(rest);
        break;
      case "ls":
        out = await ls(rest);
        break;
      case "increment_flatten":
        out = await flatten();
        break;
      case "rm":
        out = await rm();
        break;
      case "downloader":
        out = await downloader(rest);
        break;
      default:
        throw new OneblkError(
          "usage",
          `unknown rsync action '${
            action ?? ""
          }' (known: backup, ls, increment_flatten, rm, downloader)`,
        );
    }
  } catch (e) {
    await Deno.stderr.write(new TextEncoder().encode(`${(e as Error).message}\n`));
    return 255;
  }
  if (out) await Deno.stdout.write(new TextEncoder().encode(out + "\n"));
  return 0;
}

/** The actions installed as `$R/datastore/rsync/<action>` (downloader.sh is separate). */
export const RSYNC_ACTIONS = ["backup", "ls", "increment_flatten", "rm"] as const;

/**
 * The context ISO of a VM, written by tm context (the volume that holds it on the store, which tm
 * delete, mv and the migrate steps move with the VM: vm_disk.ts vmContextVolume).
 *
 * The ISO is written by oneblk itself (lib/domain/iso9660.ts: ISO 9660 with Rock Ridge and
 * Joliet, volume label `CONTEXT`, what `genisoimage -V CONTEXT -J -R` makes): the front-end
 * needs no ISO program. Every file argument is an entry: `path` under its own name,
 * `path:'name'` under `name`, a directory with its tree; http(s) URLs are downloaded into a
 * private temp dir first. The image is planned in memory (names, layout, sizes) and streamed
 * to the host from the source files: nothing is copied on the front-end.
 *
 * Two arguments of the same name: the later one wins, as with OpenNebula's own context script,
 * which copies the arguments one after another into one directory (`cp -R`), so a later file
 * overwrites an earlier one and directories of the same name merge file by file; a file and a
 * directory of the same name are refused (cp cannot do that either). Each replaced name is
 * logged.
 *
 * File names are data: they only travel through the Deno file API, never through a shell.
 * Profiles whose `contextVolume(vm, disk)` names a volume keep the ISO on the store
 * (isoToVolume); the others keep a plain file in the VM directory.
 */
import { basename, join } from "../path.ts";
import type { ActionContext } from "../context.ts";
import { errorLine, OneblkError } from "../errors.ts";
import { ddWriteArgv, link } from "../host/ops.ts";
import type { HostPath } from "../one/args.ts";
import { attachReady } from "./attach.ts";
import { isoEntriesFromPath, type IsoEntry, type IsoImage, planIso } from "./iso9660.ts";
import { after } from "../timer.ts";
import { withUndo } from "./undo.ts";
import { ownershipProps } from "./vm_props.ts";

/** One file argument: where it comes from and its name inside the ISO. */
interface ContextFile {
  src: string;
  name: string;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** Parse `path` or `path:'name'` (FILES_DS entries). */
function parseContextFile(spec: string): ContextFile {
  const m = /^(.+):'([^']*)'$/s.exec(spec);
  const src = m ? m[1] : spec;
  let name = m ? m[2] : basename(src.replace(/[?#].*$/, "").replace(/\/+$/, ""));
  if (isUrl(src) && !m) {
    name = decodeURIComponent(basename(new URL(src).pathname)) || "index.html";
  }
  if (!name || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new OneblkError("input", `invalid context file name ${JSON.stringify(name)}`);
  }
  if (!src || src.includes("\0")) {
    throw new OneblkError("input", `invalid context file ${JSON.stringify(spec)}`);
  }
  return { src, name };
}

const FETCH_TIMEOUT_MS = 120_000;

async function download(url: string, dst: string): Promise<void> {
  const ac = new AbortController();
  const cancelTimer = after(FETCH_TIMEOUT_MS, () => ac.abort());
  try {
    const r = await fetch(url, { signal: ac.signal });
    if (!r.ok || !r.body) {
      await r.body?.cancel();
      throw new OneblkError("input", `context file ${url}: HTTP ${r.status}`);
    }
    const f = await Deno.open(dst, { write: true, create: true, truncate: true });
    await r.body.pipeTo(f.writable);
  } catch (e) {
    if (e instanceof OneblkError) throw e;
    throw new OneblkError(
      "unavailable",
      `cannot download context file ${url}: ${(e as Error).message}`,
    );
  } finally {
    cancelTimer();
  }
}

/** The entries of one local file argument, with a one-line error naming it. */
async function localEntries(f: ContextFile): Promise<IsoEntry[]> {
  try {
    return await isoEntriesFromPath(f.src, f.name);
  } catch (e) {
    const gone = await Deno.stat(f.src).then(() => false, (x) => x instanceof Deno.errors.NotFound);
    if (gone) {
      throw new OneblkError("input", `context file ${f.src} does not exist on the front-end`);
    }
    throw new OneblkError("input", `cannot read context file ${f.src}: ${errorLine(e)}`);
  }
}

/**
 * Merge `entries` into `into` the way `cp -R` into one directory does: a later file replaces
 * an earlier one (its path is added to `replaced`), directories merge, a file and a directory
 * of the same path are refused.
 */
function mergeEntries(into: Map<string, IsoEntry>, entries: IsoEntry[], replaced: string[]) {
  for (const e of entries) {
    const old = into.get(e.path);
    if (old && !!old.dir !== !!e.dir) {
      throw new OneblkError(
        "input",
        `context files: ${e.path} is given both as a file and as a directory`,
      );
    }
    if (old && !e.dir) replaced.push(e.path);
    into.set(e.path, e);
  }
}

/**
 * Plan the context ISO of the file arguments `files` and hand it to `use`, which streams it
 * (sendIso); downloads live in a private temp dir removed afterwards.
 * `info` gets one line per name given twice.
 */
export async function withContextIso<T>(
  files: readonly string[],
  info: (line: string) => void,
  use: (image: IsoImage) => Promise<T>,
): Promise<T> {
  let tmp: string | undefined;
  try {
    const entries = new Map<string, IsoEntry>();
    const replaced: string[] = [];
    let n = 0;
    for (const spec of files) {
      const f = parseContextFile(spec);
      if (isUrl(f.src)) {
        tmp ??= await Deno.makeTempDir({ prefix: "oneblk-context-" });
        const local = join(tmp, String(n++));
        await download(f.src, local);
        mergeEntries(entries, [{ path: f.name, source: local }], replaced);
      } else {
        mergeEntries(entries, await localEntries(f), replaced);
      }
    }
    for (const path of [...new Set(replaced)]) {
      info(`context file name ${JSON.stringify(path)} given more than once: the last one is used`);
    }
    return await use(await planIso([...entries.values()], { volumeId: "CONTEXT" }));
  } finally {
    if (tmp) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Feed the image to `send` as a stream (a host command's stdin). A host command only sees its
 * stdin end, so a source that failed half-way is reported here, before anything else `send`
 * threw, and an image not read to its end is an error.
 */
export async function sendIso(
  image: IsoImage,
  send: (stream: ReadableStream<Uint8Array>) => Promise<unknown>,
): Promise<void> {
  let sent = 0;
  let failure: unknown;
  async function* counted() {
    try {
      for await (const c of image.chunks()) {
        sent += c.length;
        yield c;
      }
    } catch (e) {
      failure = e;
      throw e;
    }
  }
  const producer = () => {
    if (failure === undefined) return;
    throw failure instanceof OneblkError
      ? failure
      : new OneblkError("internal", `context ISO: ${errorLine(failure)}`);
  };
  try {
    await send(ReadableStream.from(counted()));
  } catch (e) {
    producer();
    throw e;
  }
  producer();
  if (sent !== image.size) {
    throw new OneblkError("host", `the context ISO was cut after ${sent} of ${image.size} bytes`);
  }
}

const MiB = 1024 * 1024;

/**
 * Stream the ISO onto the store volume `volume` and link `dst` to its device on the host. The
 * volume is created (or grown when the new ISO is larger; an existing one is overwritten, so a
 * running VM's attachment stays valid); a volume created by a failing call is deleted again.
 */
export async function isoToVolume(
  ctx: ActionContext,
  volume: string,
  iso: IsoImage,
  dst: HostPath,
  vmId: number,
  dsId: number,
): Promise<void> {
  const ds = await (await ctx.one()).datastoreInfo(dsId);
  const backend = ctx.backend(ds);
  const size = Math.max(1, Math.ceil(iso.size / MiB));
  const existing = await backend.getVolume(volume);
  let created = false;
  if (!existing) {
    created = await backend.createVolume(volume, size, {
      placement: ctx.profile.placement(ds.template, ds.id),
      props: ownershipProps(ctx.profile, vmId, ds.id),
    });
  } else if (existing.sizeMiB < size) {
    await backend.resizeVolume(volume, size);
  }
  const device = backend.devicePath(volume);
  await withUndo(
    ctx,
    async () => {
      await attachReady(ctx, backend, volume, dst.host);
      await sendIso(
        iso,
        (stdin) =>
          ctx.hosts.run(dst.host, ddWriteArgv(device, { sparse: false }), {
            stdin,
            timeoutMs: 300_000,
          }),
      );
      await link(ctx.hosts, dst.host, device, dst.path);
    },
    async () => {
      if (created) await backend.deleteVolume(volume, { immediate: true });
    },
  );
}

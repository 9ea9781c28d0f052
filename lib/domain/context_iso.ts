/**
 * The context ISO of a VM (tm context, and what tm delete, mv and the migrate steps do with it).
 *
 * The ISO is built on the front-end from a private temp dir (`genisoimage`/`mkisofs`/
 * `xorrisofs -o … -V CONTEXT -J -R`; ONEBLK_MKISOFS overrides the program) holding every file
 * argument: `path` is copied under its own name, `path:'name'` under `name`, and http(s) URLs
 * are downloaded. File names are data: they only travel as argv elements and through the Deno
 * file API, never through a shell.
 *
 * Profiles whose `contextVolume(vm, disk)` names a volume keep the ISO on the store
 * (isoToVolume); the others keep a plain file in the VM directory.
 */
import { basename, join } from "../path.ts";
import type { ActionContext } from "../context.ts";
import { errorLine, isKind, OneblkError } from "../errors.ts";
import { after } from "../timer.ts";
import { ddWriteArgv, link } from "../host/ops.ts";
import type { HostPath } from "../one/args.ts";
import type { VmView } from "../one/views.ts";
import { attachReady } from "./attach.ts";
import { withUndo } from "./undo.ts";
import { ownershipProps } from "./vm_props.ts";

/** One file argument: where it comes from and its name inside the ISO. */
interface ContextFile {
  src: string;
  name: string;
}

/** Parse `path` or `path:'name'` (FILES_DS entries). */
function parseContextFile(spec: string): ContextFile {
  const m = /^(.+):'([^']*)'$/s.exec(spec);
  const src = m ? m[1] : spec;
  let name = m ? m[2] : basename(src.replace(/[?#].*$/, "").replace(/\/+$/, ""));
  if (/^https?:\/\//i.test(src) && !m) {
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

async function copyTree(src: string, dst: string, depth = 0): Promise<void> {
  const st = await Deno.stat(src);
  if (st.isDirectory) {
    if (depth >= 16) {
      throw new OneblkError("input", `context directory ${src} is nested too deeply`);
    }
    await Deno.mkdir(dst, { recursive: true });
    for await (const e of Deno.readDir(src)) {
      await copyTree(join(src, e.name), join(dst, e.name), depth + 1);
    }
  } else {
    await Deno.copyFile(src, dst);
  }
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

/** Put one file argument into the ISO directory. */
async function addContextFile(isoDir: string, spec: string): Promise<void> {
  const f = parseContextFile(spec);
  const dst = join(isoDir, f.name);
  if (/^https?:\/\//i.test(f.src)) return await download(f.src, dst);
  try {
    await copyTree(f.src, dst);
  } catch (e) {
    if (e instanceof OneblkError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new OneblkError("input", `context file ${f.src} does not exist on the front-end`);
    }
    throw new OneblkError("input", `cannot read context file ${f.src}: ${(e as Error).message}`);
  }
}

const ISO_PROGRAMS = ["genisoimage", "mkisofs", "xorrisofs"];
const ISO_TIMEOUT_MS = 120_000;

/** Build `iso` from `dir` with the first ISO program found (or ONEBLK_MKISOFS). */
async function buildIso(env: Record<string, string>, dir: string, iso: string): Promise<void> {
  const programs = env.ONEBLK_MKISOFS ? [env.ONEBLK_MKISOFS] : ISO_PROGRAMS;
  for (const prog of programs) {
    const ac = new AbortController();
    const cancelTimer = after(ISO_TIMEOUT_MS, () => ac.abort());
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(prog, {
        args: ["-quiet", "-input-charset", "utf-8", "-o", iso, "-V", "CONTEXT", "-J", "-R", dir],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: ac.signal,
      }).output();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw new OneblkError("internal", `cannot run ${prog}: ${(e as Error).message}`);
    } finally {
      cancelTimer();
    }
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").filter(Boolean).pop();
      throw new OneblkError("host", `${prog} failed (exit ${out.code}): ${err ?? "no output"}`);
    }
    return;
  }
  throw new OneblkError(
    "config",
    `no ISO program on the front-end (install genisoimage; tried ${programs.join(", ")})`,
  );
}

/** The context ISO holding the file arguments `files`, built in a temp dir that is removed. */
export async function makeContextIso(
  env: Record<string, string>,
  files: string[],
): Promise<Uint8Array> {
  const tmp = await Deno.makeTempDir({ prefix: "oneblk-context-" });
  try {
    const isoDir = join(tmp, "iso");
    await Deno.mkdir(isoDir);
    for (const spec of files) await addContextFile(isoDir, spec);
    const iso = join(tmp, "context.iso");
    await buildIso(env, isoDir, iso);
    return await Deno.readFile(iso);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

const MiB = 1024 * 1024;

/**
 * Put the ISO on the store volume `volume` and link `dst` to its device on the host. The
 * volume is created (or grown when the new ISO is larger; an existing one is overwritten, so a
 * running VM's attachment stays valid); a volume created by a failing call is deleted again.
 */
export async function isoToVolume(
  ctx: ActionContext,
  volume: string,
  iso: Uint8Array,
  dst: HostPath,
  vmId: number,
  dsId: number,
): Promise<void> {
  const ds = await (await ctx.one()).datastoreInfo(dsId);
  const backend = ctx.backend(ds);
  const size = Math.max(1, Math.ceil(iso.length / MiB));
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
      await ctx.hosts.run(dst.host, ddWriteArgv(device, { sparse: false }), {
        stdin: iso,
        timeoutMs: 300_000,
      });
      await link(ctx.hosts, dst.host, device, dst.path);
    },
    async () => {
      if (created) await backend.deleteVolume(volume, { immediate: true });
    },
  );
}

/**
 * The context ISO volume of VM `vmId` under the invoked profile, or null when the profile keeps
 * the ISO as a file or the VM has no context. `vm` saves the oned lookup when the caller has it;
 * a VM oned no longer knows is reported and gives null.
 */
export async function vmContextVolume(
  ctx: ActionContext,
  vmId: number,
  vm?: VmView,
): Promise<string | null> {
  if (ctx.profile.contextVolume(vmId, 0) === null) return null;
  if (!vm) {
    try {
      vm = await (await ctx.one()).vmInfo(vmId);
    } catch (e) {
      if (!isKind(e, "not_found")) throw e;
      ctx.info(
        `VM ${vmId} is unknown to oned: its context volume is not looked for (${errorLine(e)})`,
      );
      return null;
    }
  }
  const diskId = vm.contextDiskId;
  return diskId === null ? null : ctx.profile.contextVolume(vmId, diskId);
}

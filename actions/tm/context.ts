/**
 * tm context `file… host:DIR/disk.N vmid dsid` (contract §4.4): the context ISO.
 *
 * The ISO is built on the front-end from a private temp dir (`genisoimage`/`mkisofs`/
 * `xorrisofs -o … -V CONTEXT -J -R`; ONEBLK_MKISOFS overrides the program) holding every file
 * argument: `path` is copied under its own name, `path:'name'` under `name`, and http(s) URLs
 * are downloaded. It is then streamed to the host into a temp file next to `DIR/disk.N` and
 * renamed over it, so the ISO appears atomically and an old link there is replaced, never
 * written through. File names are data: they only travel as argv elements and through the
 * Deno file API, never through a shell.
 *
 * The ISO is a plain file in the VM directory for every profile, like tm/ssh/context (the
 * StorPool add-on's `<px>-sys-<vm>-<disk>-iso` volume is not used).
 */
import { basename, join } from "node:path";
import type { ActionContext } from "../../lib/context.ts";
import { parseTmArgs } from "../../lib/one/args.ts";
import { checkPath } from "../../lib/host/ops.ts";
import { OneblkError } from "../../lib/errors.ts";

/** One file argument: where it comes from and its name inside the ISO. */
export interface ContextFile {
  src: string;
  name: string;
}

/** Parse `path` or `path:'name'` (FILES_DS entries). */
export function parseContextFile(spec: string): ContextFile {
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
  const timer = setTimeout(() => ac.abort(), FETCH_TIMEOUT_MS);
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
    clearTimeout(timer);
  }
}

/** Put one file argument into the ISO directory. */
export async function addContextFile(isoDir: string, spec: string): Promise<void> {
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
export async function buildIso(env: Record<string, string>, dir: string, iso: string) {
  const programs = env.ONEBLK_MKISOFS ? [env.ONEBLK_MKISOFS] : ISO_PROGRAMS;
  for (const prog of programs) {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), ISO_TIMEOUT_MS);
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
      clearTimeout(timer);
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

/** Constant script: make $1, write stdin to $2, rename it to $3 (removing $2 on failure). */
export const PUT_FILE_SCRIPT = 'mkdir -p -- "$1" || exit 1\n' +
  'if cat > "$2" && mv -f -- "$2" "$3"; then exit 0; fi\nrm -f -- "$2"\nexit 1';

/** Run tm context. */
export async function run(ctx: ActionContext): Promise<void> {
  const a = parseTmArgs("context", ctx.args);
  const dst = a.dst!;
  const path = checkPath(dst.path, "context ISO path");
  const tmp = await Deno.makeTempDir({ prefix: "oneblk-context-" });
  try {
    const isoDir = join(tmp, "iso");
    await Deno.mkdir(isoDir);
    for (const spec of a.files!) await addContextFile(isoDir, spec);
    const iso = join(tmp, "context.iso");
    await buildIso(ctx.env, isoDir, iso);
    const bytes = await Deno.readFile(iso);
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    const part = `${dir === "/" ? "" : dir}/.${basename(path)}.oneblk-${crypto.randomUUID()}`;
    await ctx.hosts.run(dst.host, ["sh", "-c", PUT_FILE_SCRIPT, "oneblk-put", dir, part, path], {
      stdin: bytes,
      timeoutMs: 300_000,
    });
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

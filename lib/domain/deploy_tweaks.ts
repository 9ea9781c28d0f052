/**
 * The deploy override's two steps on the domain XML (docs/contract.md "vmm deploy and disk
 * hot-plug"): oneblk's own storage rewrites, then the operator's helper programs.
 *
 * Storage: which disks are block devices on the store (`storeDiskIds`: every DISK whose TM_MAD
 * is one of oneblk's drivers, and the context ISO when the system datastore's profile keeps it
 * on a volume) and the persistent CDROM drives wanted (the add-ons' rc files, then the VM's
 * USER_TEMPLATE).
 *
 * Helpers, as addon-storpool's deploy-tweaks runs them from `<override>.d/`:
 * - every entry, dotfiles included, in byte order of its name (the add-on lists them with
 *   `ls -A` under LANG=C); only executable files (symlinks followed) run;
 * - argv: a copy of the current domain XML (`deployment.xml`, rewritten in place by the
 *   helper) and the VM (`vm.xml`, `onevm show -x`), both in a private temporary directory;
 * - environment: oned's, plus what the add-on exports: the variables of kvmrc,
 *   scripts_common.sh and the add-ons' rc files (sourced with `set -a` by a constant bash
 *   wrapper, the paths passed as arguments), LOG_PREFIX=vmm, DEP_FILE, HOST, VM_ID, DEP_NAME,
 *   DEP_XML, VM_XML, DEPLOY_ID, TM_MAD and DS_ID of the system datastore, TMPDIR, DRIVER_PATH;
 *   `/opt/storpool/python3/bin` first in PATH when it exists;
 * - working directory: ours (oned's, `/var/lib/one`).
 * Unlike the add-on, each helper has a deadline (ONEBLK_DEPLOY_TWEAKS_TIMEOUT seconds, default
 * 30; its whole process group is killed), its stdout is kept away from oned (which would read
 * it as the deploy id), and a result that is dropped (non-zero exit, deadline, or a file that
 * is not usable domain XML) is said in an INFO line instead of syslog only.
 */
import { basename, dirname, join } from "../path.ts";
import type { ActionContext } from "../context.ts";
import { ADDONS, isDriver, profileFor } from "../addons/index.ts";
import { addonRc } from "../backend/storpool/config.ts";
import { errorLine } from "../errors.ts";
import { runProcess } from "../host/process.ts";
import type { VmView } from "../one/views.ts";
import {
  byDiskId,
  domainXmlProblem,
  persistentCdroms,
  type StorageRewriteOptions,
  storeDiskIds,
} from "./domain_xml.ts";

/** Every rc file of the add-ons, in order. */
export function addonRcFiles(): string[] {
  return [...new Set(ADDONS.flatMap((a) => a.rcFiles ?? []))];
}

/** What oneblk rewrites in the domain XML of `vm` (see the file header). */
export function storageRewriteFor(
  ctx: ActionContext,
  vm: VmView,
  rc: Readonly<Record<string, string>> = addonRc(addonRcFiles()),
): StorageRewriteOptions {
  const sysTm = vm.history?.tmMad ?? "";
  const ctxId = vm.contextDiskId;
  const contextOnStore = isDriver(sysTm) && ctxId !== null &&
    profileFor(sysTm, ctx.env).contextVolume(vm.id, ctxId) !== null;
  const ids = storeDiskIds(vm, { tms: ADDONS.map((a) => a.driver), contextOnStore });
  return { isStoreDisk: byDiskId(ids), cdroms: persistentCdroms(rc, vm.userTemplate) };
}

/** Deadline of one helper (ONEBLK_DEPLOY_TWEAKS_TIMEOUT seconds, default 30). */
export function helperTimeoutMs(env: Record<string, string | undefined>): number {
  const n = Number(env.ONEBLK_DEPLOY_TWEAKS_TIMEOUT ?? "");
  return Number.isFinite(n) && n > 0 ? n * 1000 : 30_000;
}

/** Names in `ls -A` order under LANG=C: by the bytes of their UTF-8 encoding. */
function byteOrder(a: string, b: string): number {
  const x = new TextEncoder().encode(a), y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** The helper programs of `dir` in run order (empty when the directory does not exist). */
export async function deployHelpers(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return [];
    throw e;
  }
  const out: string[] = [];
  for (const n of names.sort(byteOrder)) {
    try {
      const st = await Deno.stat(join(dir, n));
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) out.push(n);
    } catch {
      // a broken symlink: skipped, as `test -x` does
    }
  }
  return out;
}

/**
 * The constant wrapper every helper runs under: `bash -c WRAPPER oneblk-deploy-tweaks <rc>… --
 * <helper> <args>…` sources the readable rc files with `set -a` (every variable they set is
 * exported), then execs the helper. No data ever becomes shell text.
 */
export const HELPER_WRAPPER = "set -a\n" +
  'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do\n' +
  '  if [ -r "$1" ]; then . "$1"; fi\n' +
  "  shift\n" +
  "done\n" +
  "shift\n" +
  "set +a\n" +
  'exec "$@"\n';

/** What the helpers of one deploy get to know. */
export interface HelperCall {
  /** The helper directory (`$R/vmm/kvm/<override>.d`). */
  dir: string;
  /** The domain XML after oneblk's rewrites. */
  xml: string;
  /** The VM document (`onevm show -x`). */
  vmXml: string;
  vm: VmView;
  /** argv of the deploy override: the local deployment file and the host. */
  depFile: string;
  host: string;
  /** Files sourced into each helper's environment (missing ones are skipped). */
  rcFiles: string[];
}

/** Result of `runDeployHelpers`. */
export interface HelperRun {
  /** The domain XML after every accepted helper. */
  xml: string;
  /** Helpers whose result was taken. */
  applied: string[];
  /** Helpers whose result was dropped, with why. */
  dropped: { name: string; why: string }[];
}

/** Run the helpers of `call.dir` one after the other (see the file header). */
export async function runDeployHelpers(ctx: ActionContext, call: HelperCall): Promise<HelperRun> {
  const names = await deployHelpers(call.dir);
  const out: HelperRun = { xml: call.xml, applied: [], dropped: [] };
  if (!names.length) return out;
  const tmp = await Deno.makeTempDir({ prefix: "oneblk-deploy-tweaks-" });
  try {
    const depXml = join(tmp, "deployment.xml");
    const vmXml = join(tmp, "vm.xml");
    await Deno.writeTextFile(vmXml, call.vmXml);
    const h = call.vm.history;
    const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
    let sp = false;
    try {
      sp = (await Deno.stat("/opt/storpool/python3/bin")).isDirectory;
    } catch { /* not installed */ }
    const env: Record<string, string> = {
      LOG_PREFIX: "vmm",
      DEP_FILE: call.depFile,
      HOST: call.host,
      VM_ID: String(call.vm.id),
      DEP_NAME: basename(call.depFile),
      DEP_XML: depXml,
      VM_XML: vmXml,
      DEPLOY_ID: call.vm.deployId,
      TM_MAD: h?.tmMad ?? "",
      DS_ID: h ? String(h.dsId) : "",
      TMPDIR: tmp,
      DRIVER_PATH: dirname(call.dir),
      PATH: sp ? `/opt/storpool/python3/bin:${path}` : path,
    };
    const timeoutMs = helperTimeoutMs(ctx.env);
    for (const name of names) {
      const drop = (why: string) => {
        out.dropped.push({ name, why });
        ctx.info(`${basename(call.dir)}/${name} ignored: ${why}`);
      };
      await Deno.writeTextFile(depXml, out.xml);
      try {
        await runProcess({
          host: "the front-end",
          argv: [
            "bash",
            "-c",
            HELPER_WRAPPER,
            "oneblk-deploy-tweaks",
            ...call.rcFiles,
            "--",
            join(call.dir, name),
            depXml,
            vmXml,
          ],
          label: name,
          env,
        }, { timeoutMs });
      } catch (e) {
        drop(errorLine(e));
        continue;
      }
      let result: string;
      try {
        result = await Deno.readTextFile(depXml);
      } catch (e) {
        drop(`its result cannot be read: ${errorLine(e)}`);
        continue;
      }
      const problem = domainXmlProblem(result, "its result");
      if (problem) {
        drop(problem);
        continue;
      }
      if (result !== out.xml) out.applied.push(name);
      out.xml = result;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return out;
}

/**
 * libvirt on the hosts: the one module through which every virsh call goes.
 *
 * Every call runs the configured program (ONEBLK_VIRSH, default `virsh`) against the
 * configured connection (ONEBLK_LIBVIRT_URI, default `qemu:///system`) as
 * `<virsh> --connect <uri> <verb> …`, with a deadline. Actions ask for what they need
 * (is the domain running, freeze its filesystems around a step, pause it around a step, save
 * or restore its memory) and never build a virsh argv themselves, so no call can miss the
 * configuration.
 *
 * The guest freeze (qemu guest agent) has its own deadline (ONEBLK_FSFREEZE_TIMEOUT, seconds,
 * default 30) enforced on the host by `timeout` too (stopping ssh alone would leave a hung
 * virsh behind), and the thaw is guaranteed whatever the step in between does.
 */
import type { ActionContext } from "../context.ts";
import { OneblkError } from "../errors.ts";
import type { HostRunner } from "../host/types.ts";
import type { VmView } from "../one/views.ts";

/** Deadline of a virsh save or restore (the domain's memory can be large). */
export const VIRSH_TIMEOUT_MS = 3600_000;

/** Deadline of the short virsh calls (domstate, suspend, resume, dumpxml, change-media). */
const SHORT_TIMEOUT_MS = 60_000;

/** Deadline of `virsh create` (QEMU starts and opens every disk). */
const CREATE_TIMEOUT_MS = 300_000;

/** How libvirt is reached: the virsh program and the connection URI. */
export interface VirshOptions {
  /** virsh program (default "virsh"). */
  virsh?: string;
  /** libvirt URI (default "qemu:///system"). */
  uri?: string;
}

/** The configured virsh program and URI (ONEBLK_VIRSH, ONEBLK_LIBVIRT_URI). */
export function virshOptions(env: Record<string, string | undefined>): VirshOptions {
  return {
    virsh: env.ONEBLK_VIRSH || undefined,
    uri: env.ONEBLK_LIBVIRT_URI || undefined,
  };
}

/** `<virsh> --connect <uri> <args…>`. */
export function virshArgv(opts: VirshOptions, ...args: string[]): string[] {
  return [opts.virsh || "virsh", "--connect", opts.uri || "qemu:///system", ...args];
}

const DOMAIN_RE = /^[A-Za-z0-9_.:+-]{1,128}$/;

/** Check a libvirt domain name (deploy id); returns it. */
export function checkDomain(domain: string): string {
  if (!DOMAIN_RE.test(domain)) throw new OneblkError("input", `invalid deploy id '${domain}'`);
  return domain;
}

/** Deadline of a guest filesystem freeze or thaw (ONEBLK_FSFREEZE_TIMEOUT seconds, else 30 s). */
export function freezeTimeoutMs(env: Record<string, string | undefined>): number {
  const n = Number(env.ONEBLK_FSFREEZE_TIMEOUT ?? "");
  return Number.isFinite(n) && n > 0 ? n * 1000 : 30_000;
}

/**
 * A yes/no freeze setting of the VM template (`attr` in TEMPLATE, then USER_TEMPLATE, e.g.
 * DISK_SNAPSHOT_FSFREEZE); `def` when unset.
 */
export function freezeWanted(vm: VmView, attr: string, def: boolean): boolean {
  const v = (vm.template.get(attr) || vm.userTemplate.get(attr)).toLowerCase();
  if (!v) return def;
  return v === "yes" || v === "1" || v === "true" || v === "on";
}

/** `<virsh> --connect <uri> <args…>` on `host` as the action is configured, with a deadline. */
function virsh(
  ctx: ActionContext,
  host: string,
  args: string[],
  opts: { timeoutMs?: number; okCodes?: number[] } = {},
) {
  return ctx.hosts.run(host, virshArgv(virshOptions(ctx.env), ...args), {
    timeoutMs: opts.timeoutMs ?? SHORT_TIMEOUT_MS,
    okCodes: opts.okCodes,
  });
}

/**
 * The domain's state as `virsh domstate` prints it ("running", "paused", "shut off",
 * "pmsuspended", …), or null when the host has no such domain.
 */
export async function domainState(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<string | null> {
  const r = await virsh(ctx, host, ["domstate", checkDomain(domain)], { okCodes: [0, 1] });
  if (r.code !== 0) return null;
  return r.stdout.trim().split("\n")[0].trim().toLowerCase();
}

/** True when the domain exists (is running, paused or pm-suspended) on the host. */
export async function domainExists(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<boolean> {
  const s = await domainState(ctx, host, domain);
  return s !== null && s !== "shut off";
}

/**
 * `virsh dumpxml <domain>`: the running domain's XML (with `migratable`, without what only
 * this run of it has, the form libvirt itself uses to re-create a domain).
 */
export async function dumpDomainXml(
  ctx: ActionContext,
  host: string,
  domain: string,
  opts: { migratable?: boolean } = {},
): Promise<string> {
  const args = ["dumpxml", checkDomain(domain), ...(opts.migratable ? ["--migratable"] : [])];
  return (await virsh(ctx, host, args)).stdout;
}

/** `virsh create <file>`: start a transient domain from a domain XML file on the host. */
export async function createDomain(ctx: ActionContext, host: string, file: string) {
  await virsh(ctx, host, ["create", file], { timeoutMs: CREATE_TIMEOUT_MS });
}

/**
 * `virsh destroy <domain>` (power cut; the domain is gone). Idempotent: a domain that does not
 * run (any more) is fine; one that still runs afterwards is an error.
 */
export async function destroyDomain(ctx: ActionContext, host: string, domain: string) {
  const r = await virsh(ctx, host, ["destroy", checkDomain(domain)], { okCodes: [0, 1] });
  if (r.code === 0) return;
  if (await domainExists(ctx, host, domain)) {
    throw new OneblkError("host", `virsh destroy ${domain} on ${host} failed: ${r.stderr.trim()}`);
  }
}

/** `virsh dompmwakeup <domain>`: wake a guest that suspended itself (S3). */
export async function wakeDomain(ctx: ActionContext, host: string, domain: string) {
  await virsh(ctx, host, ["dompmwakeup", checkDomain(domain)]);
}

/** What a CDROM drive gets: a medium (a block device or a file), or nothing. */
export type Medium = { insert: string; block: boolean } | "eject";

/**
 * `virsh change-media <domain> <target> …` on the live domain: `<path> --insert` (`--block`
 * for a block device) or `--eject --force` (the guest may hold the tray locked).
 */
export async function changeMedia(
  ctx: ActionContext,
  host: string,
  domain: string,
  target: string,
  medium: Medium,
) {
  if (!/^[a-z]{2,4}[a-z0-9]*$/.test(target)) {
    throw new OneblkError("input", `invalid disk target '${target}'`);
  }
  const args = medium === "eject"
    ? ["--eject", "--force"]
    : [medium.insert, "--insert", ...(medium.block ? ["--block"] : [])];
  await virsh(ctx, host, ["change-media", checkDomain(domain), target, ...args]);
}

/** `virsh save-image-dumpxml <file>`: the domain XML stored in a saved memory image. */
export async function savedDomainXml(ctx: ActionContext, host: string, file: string) {
  return (await virsh(ctx, host, ["save-image-dumpxml", file])).stdout;
}

/** `virsh save <domain> <file>`: the domain's memory to `file` (the domain stops). */
export async function saveDomain(
  ctx: ActionContext,
  host: string,
  domain: string,
  file: string,
): Promise<void> {
  await virsh(ctx, host, ["save", checkDomain(domain), file], { timeoutMs: VIRSH_TIMEOUT_MS });
}

/**
 * `virsh restore <file> [--xml <xmlFile>]`: a domain back from the memory `saveDomain` wrote,
 * with `xmlFile` (on the host) replacing the domain XML stored in it.
 */
export async function restoreDomain(
  ctx: ActionContext,
  host: string,
  file: string,
  xmlFile?: string,
) {
  const args = ["restore", file, ...(xmlFile ? ["--xml", xmlFile] : [])];
  await virsh(ctx, host, args, { timeoutMs: VIRSH_TIMEOUT_MS });
}

/** Run `fn` with the domain paused (virsh suspend/resume; the resume is always tried). */
export async function withSuspended<T>(
  ctx: ActionContext,
  host: string,
  domain: string,
  fn: () => Promise<T>,
): Promise<T> {
  checkDomain(domain);
  await virsh(ctx, host, ["suspend", domain]);
  try {
    return await fn();
  } finally {
    await virsh(ctx, host, ["resume", domain]);
  }
}

/**
 * withFrozen as the action is configured (ONEBLK_VIRSH, ONEBLK_LIBVIRT_URI,
 * ONEBLK_FSFREEZE_TIMEOUT). `optional`: without a guest agent `fn(false)` runs unfrozen.
 */
export function withGuestFrozen<T>(
  ctx: ActionContext,
  host: string,
  domain: string,
  fn: (frozen: boolean) => Promise<T>,
  opts: { optional?: boolean } = {},
): Promise<T> {
  return withFrozen(ctx.hosts, host, domain, fn, freezeTimeoutMs(ctx.env), {
    ...virshOptions(ctx.env),
    optional: opts.optional,
  });
}

async function virshFs(
  runner: HostRunner,
  host: string,
  verb: "domfsfreeze" | "domfsthaw",
  domain: string,
  timeoutMs: number,
  opts: VirshOptions,
): Promise<void> {
  const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
  const argv = ["timeout", "-k", "5", String(secs), ...virshArgv(opts, verb, checkDomain(domain))];
  const r = await runner.run(host, argv, { timeoutMs: timeoutMs + 10_000, okCodes: [0, 124, 137] });
  if (r.code !== 0) {
    throw new OneblkError("timeout", `virsh ${verb} ${domain} on ${host} timed out after ${secs}s`);
  }
}

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Run `fn` with the guest's filesystems frozen; the thaw is guaranteed (tried twice) whatever
 * `fn` does. A failed freeze is followed by a best-effort thaw (a timed-out freeze may have
 * frozen some filesystems) and then thrown, or, with `optional`, `fn(false)` runs unfrozen.
 * A failed thaw is thrown (the guest may still be frozen), mentioning `fn`'s error if any.
 * Actions use withGuestFrozen, which passes the configured program, URI and deadline.
 */
export async function withFrozen<T>(
  runner: HostRunner,
  host: string,
  domain: string,
  fn: (frozen: boolean) => Promise<T>,
  timeoutMs = 60_000,
  opts: VirshOptions & { optional?: boolean } = {},
): Promise<T> {
  let frozen = false;
  try {
    await virshFs(runner, host, "domfsfreeze", domain, timeoutMs, opts);
    frozen = true;
  } catch (e) {
    await virshFs(runner, host, "domfsthaw", domain, timeoutMs, opts).catch(() => {});
    if (!opts.optional) throw e;
  }
  let failed = false;
  let fnError: unknown;
  try {
    return await fn(frozen);
  } catch (e) {
    failed = true;
    fnError = e;
    throw e;
  } finally {
    if (frozen) {
      let thawError: unknown;
      for (let i = 0; i < 2; i++) {
        try {
          await virshFs(runner, host, "domfsthaw", domain, timeoutMs, opts);
          thawError = undefined;
          break;
        } catch (e) {
          thawError = e;
        }
      }
      if (thawError !== undefined) {
        // deno-lint-ignore no-unsafe-finally
        throw new OneblkError(
          "host",
          `filesystems of ${domain} on ${host} may still be frozen: ${msg(thawError)}` +
            (failed ? `; the operation had failed: ${msg(fnError)}` : ""),
        );
      }
    }
  }
}

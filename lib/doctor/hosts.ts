/**
 * Checks run on each host over ssh (the hosts of the oneblk datastores' clusters, and their
 * bridges): the host answers, DRBD 9 is loaded on the hosts of LINSTOR datastores (/proc/drbd,
 * else `drbdadm --version`), qemu-img is installed, and the remotes oned syncs are there and
 * current. Every command is a fixed argv with a deadline; nothing is changed on a host.
 */
import { posix } from "node:path";
import { errorLine } from "../errors.ts";
import { programMissing } from "../host/process.ts";
import type { RunResult } from "../host/types.ts";
import { hostsFor, reach } from "./scope.ts";
import { mapLimit } from "../limit.ts";
import { type Check, type DoctorEnv, type Finding, findings } from "./types.ts";

/** Hosts probed at the same time. */
const PARALLEL = 8;

/** Run argv on host; a program that is not installed gives exit code 127 (as over ssh). */
async function probe(env: DoctorEnv, host: string, argv: string[]): Promise<RunResult> {
  try {
    return await env.hosts.run(host, argv, {
      timeoutMs: env.timeoutMs,
      okCodes: [0, 1, 2, 127],
    });
  } catch (e) {
    if (programMissing(e)) return { code: 127, stdout: "", stderr: errorLine(e) };
    throw e;
  }
}

/**
 * Run `fn` for each reachable host of the datastores `keep` selects. Problems are one finding
 * per host; ok findings with the same message are one line for all their hosts.
 */
async function perHost(
  env: DoctorEnv,
  check: string,
  keep: Parameters<typeof hostsFor>[1],
  fn: (host: string) => Promise<Finding>,
): Promise<Finding[]> {
  const hosts = await hostsFor(env, keep);
  const out = await mapLimit(hosts, PARALLEL, async (h) => {
    if (await reach(env, h) !== null) return null; // host-ssh reports it
    try {
      return await fn(h);
    } catch (e) {
      return findings(check).error(
        `host ${h}`,
        errorLine(e),
        "run the command by hand on the host to see why",
      );
    }
  });
  const found = out.filter((x): x is Finding => x !== null);
  const oks = new Map<string, string[]>();
  for (const x of found) {
    if (x.status === "ok") oks.set(x.message, [...oks.get(x.message) ?? [], x.subject]);
  }
  const merged = [...oks].map(([message, subjects]) => {
    const names = subjects.map((s) => s.replace(/^host /, ""));
    return findings(check).ok(`host${names.length > 1 ? "s" : ""} ${names.join(", ")}`, message);
  });
  return [...found.filter((x) => x.status !== "ok"), ...merged];
}

/** Every host answers over ssh. */
export const hostSshCheck: Check = {
  id: "host-ssh",
  title: "every host of the oneblk datastores (and their bridges) answers over ssh",
  needs: ["oned"],
  async run(env) {
    const f = findings("host-ssh");
    const hosts = await hostsFor(env);
    const res = await mapLimit(hosts, PARALLEL, async (h) => ({ h, why: await reach(env, h) }));
    const out: Finding[] = res.filter((r) => r.why !== null).map((r) =>
      f.error(
        `host ${r.h}`,
        `not reachable: ${r.why}`,
        `let oneadmin on the front-end ssh to ${r.h} without a password (ssh ${r.h} true)`,
      )
    );
    const up = res.filter((r) => r.why === null).map((r) => r.h);
    if (up.length) {
      out.push(f.ok(`host${up.length > 1 ? "s" : ""} ${up.join(", ")}`, "answer over ssh"));
    }
    return out;
  },
};

/** `version: 9.2.12 (api:2/…)` → [9, 2, 12]. */
function versionOf(text: string): number[] | null {
  const m = /^version:\s*(\d+)\.(\d+)(?:\.(\d+))?/m.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

const DRBD9_FIX = "install the DRBD 9 kernel module (LINBIT's drbd-dkms or kmod-drbd9x) and " +
  "drbd-utils, then `modprobe drbd`";

/** DRBD 9 is loaded on the hosts of LINSTOR datastores. */
export const hostDrbdCheck: Check = {
  id: "host-drbd",
  title: "DRBD 9 is loaded on each host of a LINSTOR datastore (/proc/drbd, drbdadm --version)",
  needs: ["oned"],
  run(env) {
    const f = findings("host-drbd");
    const linstor = (ds: { store: { kind?: string } | Error }) =>
      !(ds.store instanceof Error) && ds.store.kind === "linstor";
    return perHost(env, "host-drbd", linstor, async (h) => {
      const subject = `host ${h}`;
      const proc = await probe(env, h, ["cat", "/proc/drbd"]);
      if (proc.code === 0) {
        const v = versionOf(proc.stdout);
        const text = v ? v.join(".") : "of unknown version";
        if (!v) {
          return f.warning(subject, `/proc/drbd has no version line`, "check `cat /proc/drbd`");
        }
        if (v[0] < 9) {
          return f.error(
            subject,
            `DRBD ${text} is loaded; LINSTOR needs DRBD 9`,
            "install the DRBD 9 kernel module (LINBIT's drbd-dkms or kmod-drbd9x), then, with " +
              "no DRBD 8 resource up, `rmmod drbd && modprobe drbd`: /proc/drbd must say " +
              "version: 9",
          );
        }
        return f.ok(subject, `DRBD ${text} loaded`);
      }
      const adm = await probe(env, h, ["drbdadm", "--version"]);
      if (adm.code === 127) {
        return f.error(subject, "DRBD is not loaded (no /proc/drbd) nor installed", DRBD9_FIX);
      }
      const code = /^DRBD_KERNEL_VERSION_CODE=0x([0-9a-f]+)/m.exec(adm.stdout);
      const k = code ? parseInt(code[1], 16) : 0;
      if (!k) {
        return f.error(
          subject,
          "drbd-utils is installed but the DRBD module is not loaded",
          "`modprobe drbd` (and list drbd in /etc/modules-load.d/ for boot)",
        );
      }
      const text = `${k >> 16}.${(k >> 8) & 0xff}.${k & 0xff}`;
      if (k >> 16 < 9) {
        return f.error(subject, `DRBD ${text} is loaded; LINSTOR needs DRBD 9`, DRBD9_FIX);
      }
      return f.ok(subject, `DRBD ${text} loaded`);
    });
  },
};

/** qemu-img is installed on every host (image import and conversion on bridges, qcow2 disks). */
export const hostQemuImgCheck: Check = {
  id: "host-qemu-img",
  title: "qemu-img is installed on each host and bridge",
  needs: ["oned"],
  run(env) {
    const f = findings("host-qemu-img");
    return perHost(env, "host-qemu-img", undefined, async (h) => {
      const r = await probe(env, h, ["qemu-img", "--version"]);
      if (r.code === 127) {
        return f.error(
          `host ${h}`,
          "qemu-img is not installed: image import, conversion and qcow2 disks fail there",
          "install it: apt install qemu-utils (Debian, Ubuntu) or dnf install qemu-img",
        );
      }
      const v = /version\s+(\S+)/.exec(r.stdout)?.[1] ?? "(version unknown)";
      return f.ok(`host ${h}`, `qemu-img ${v}`);
    });
  },
};

/**
 * The remotes oned syncs to the hosts are there and current (the stock scripts oneblk's VMM
 * overrides hand foreign VMs to live there). Datastore and TM actions and the VMM overrides
 * (`-l`, local) run on the front-end; the one action that runs on a host is tm monitor_ds,
 * which the host probe runs for a StorPool system datastore directory whose `.monitor` names
 * the driver. Synced symlinks arrive as copies of the binary; synced stubs need the binary at
 * the same path there, so with stubs the hosts of StorPool system datastores are checked for it
 * (a warning: a shared system datastore never runs it).
 */
export const hostRemotesCheck: Check = {
  id: "host-remotes",
  title: "each host has the front-end's remotes ($RR/VERSION), synced and current",
  needs: ["oned"],
  async run(env) {
    const f = findings("host-remotes");
    const r = await env.remotes();
    let feVersion = "";
    try {
      feVersion = (await Deno.readTextFile(posix.join(r.dir, "VERSION"))).split("\n")[0].trim();
    } catch {
      // no VERSION on the front-end: only presence is checked
    }
    const file = posix.join(env.scriptsRemoteDir, "VERSION");
    const needBin = r.stubs && r.bin
      ? new Set(await hostsFor(env, (ds) => ds.driver === "storpool" && ds.view.isSystem))
      : new Set<string>();
    return await perHost(env, "host-remotes", undefined, async (h) => {
      const subject = `host ${h}`;
      const got = await probe(env, h, ["cat", file]);
      if (got.code !== 0) {
        return f.error(
          subject,
          `no ${file}: the remotes were never synced to this host`,
          "onehost sync --force (as oneadmin on the front-end)",
        );
      }
      if (needBin.has(h) && (await probe(env, h, ["test", "-x", r.bin])).code !== 0) {
        return f.warning(
          subject,
          `the stubs synced here run ${r.bin}, which is not on this host: tm/storpool/monitor_ds ` +
            "fails when the host probe runs it (non-shared StorPool system datastores)",
          `copy the oneblk binary to ${r.bin} on ${h}, or install without --stubs`,
        );
      }
      const v = got.stdout.split("\n")[0].trim();
      if (feVersion && v !== feVersion) {
        return f.warning(
          subject,
          `${file} says ${v}, the front-end's remotes ${feVersion}`,
          "onehost sync --force",
        );
      }
      return f.ok(subject, `remotes ${v || "present"}`);
    });
  },
};

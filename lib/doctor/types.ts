/**
 * What `oneblk doctor` is made of: checks, and the findings they report.
 *
 * A check is one small entry (lib/doctor/index.ts lists them): an id, a title, the checks it
 * builds on, and `run(env)`, which looks at one aspect of the installation through the
 * DoctorEnv and returns findings. Each finding is one line for the operator: ok, warning or
 * error, what it is about, what was found and, unless ok, how to fix it. Checks only read:
 * nothing is created, changed or deleted anywhere.
 */
import type { Profile } from "../addons/types.ts";
import type { StoreConfig } from "../backend/index.ts";
import type { HostRunner } from "../host/types.ts";
import type { DatastoreView, HostView } from "../one/views.ts";
import type { OneClient } from "../one/xmlrpc.ts";

/** How a finding counts: errors make `oneblk doctor` exit non-zero. */
export type Status = "ok" | "warning" | "error";

/** One line of the report. */
export interface Finding {
  /** Id of the check that found it. */
  check: string;
  status: Status;
  /** What it is about: "oned", "datastore 100 (linstor_image)", "host bravo", "$R". */
  subject: string;
  /** What was found, one line. */
  message: string;
  /** How to fix it (warnings and errors), one line. */
  fix?: string;
}

/** A oneblk datastore: one whose DS_MAD or TM_MAD is one of our drivers. */
export interface OurDatastore {
  view: DatastoreView;
  /** Our driver serving it. */
  driver: string;
  profile: Profile;
  /** Its store settings, or the error building them (a bad attribute). */
  store: StoreConfig | Error;
  /** "datastore 100 (linstor_image)". */
  label: string;
}

/** A oneblk entry found in the front-end's remotes tree. */
export interface RemotesEntry {
  /** Path relative to the remotes dir ("tm/linstor/clone"). */
  rel: string;
  /** missing: not there; ok: ours and current; stale: ours, for another binary or mode;
   *  foreign: something else is in the way. */
  state: "ok" | "missing" | "stale" | "foreign";
  /** Why stale or foreign. */
  reason?: string;
}

/** How the remotes tree looks next to what `oneblk actions` lists (app/doctor.ts builds it). */
export interface RemotesReport {
  /** The remotes directory ($R). */
  dir: string;
  /** Drivers with at least one oneblk entry in the tree. */
  drivers: string[];
  /** The binary the entries run ("" when none found). */
  bin: string;
  /** Entries are stubs (`oneblk install --stubs`) rather than symlinks. */
  stubs: boolean;
  /** Every entry `oneblk actions` lists for those drivers. */
  entries: RemotesEntry[];
  /** The binary is missing or not executable (then entries cannot run). */
  binProblem?: string;
}

/** What checks see. Everything is fetched on first use and shared between checks. */
export interface DoctorEnv {
  /** The process environment (ONE_XMLRPC, ONE_AUTH, LINSTOR_TOKEN, ONEBLK_*, …). */
  env: Record<string, string>;
  /** Commands on hosts (ssh, or simulated hosts with ONEBLK_SIM_ROOT). */
  hosts: HostRunner;
  /** Deadline of each host command and store request, ms. */
  timeoutMs: number;
  /** oned's XML-RPC client. */
  one(): Promise<OneClient>;
  /** Every datastore using one of our drivers. */
  datastores(): Promise<OurDatastore[]>;
  /** Every OpenNebula host. */
  hostPool(): Promise<HostView[]>;
  /** The front-end's remotes tree next to `oneblk actions`. */
  remotes(): Promise<RemotesReport>;
  /** oned.conf's path and text, or the error reading it. */
  onedConf(): Promise<{ path: string; text: string } | { path: string; error: string }>;
  /** The VMM override file names `oneblk actions` lists (vmm/kvm/<name>). */
  vmmOverrides: ReadonlySet<string>;
  /** $RR on the hosts (ONEBLK_SCRIPTS_REMOTE_DIR, default /var/tmp/one). */
  scriptsRemoteDir: string;
}

/** One check: a small entry of CHECKS (lib/doctor/index.ts). */
export interface Check {
  /** Short id ("oned", "linstor-nodes"): `--only` takes these, findings carry it. */
  id: string;
  /** What it verifies, one line (`oneblk doctor --list`). */
  title: string;
  /** Checks that must have found no error first; otherwise this one is reported as not run. */
  needs?: readonly string[];
  /** Look and report; an exception becomes one error finding naming the check. */
  run(env: DoctorEnv): Promise<Finding[]>;
}

/** Finding builders for a check: `const f = findings("oned"); f.ok("oned", "…")`. */
export function findings(check: string) {
  return {
    ok: (subject: string, message: string): Finding => ({
      check,
      status: "ok",
      subject,
      message,
    }),
    warning: (subject: string, message: string, fix: string): Finding => ({
      check,
      status: "warning",
      subject,
      message,
      fix,
    }),
    error: (subject: string, message: string, fix: string): Finding => ({
      check,
      status: "error",
      subject,
      message,
      fix,
    }),
  };
}

/**
 * `oneblk doctor`: the checks, in the order they are reported, and how a run goes.
 *
 * A new check is one entry in CHECKS (a Check: lib/doctor/types.ts), usually in its own small
 * file here: an id, a title, the checks it builds on (`needs`), and run(env) returning
 * findings, built with `findings(id)`. Checks read only; they share what they fetch through the
 * DoctorEnv (oned, datastores, hosts, the remotes tree) and scope.ts (hosts per datastore,
 * stores, host reachability). A check that throws is reported as one error naming it; a check
 * whose `needs` found an error is reported as not run.
 *
 * The leftovers of failed operations (Backend.findLeftovers, issue 10) are to be reported by a
 * check added here once the Backend contract has that method.
 */
import { errorLine } from "../errors.ts";
import {
  datastoresCheck,
  onedCheck,
  onedConfCheck,
  remotesCheck,
  vmmOverridesCheck,
} from "./frontend.ts";
import { hostDrbdCheck, hostQemuImgCheck, hostRemotesCheck, hostSshCheck } from "./hosts.ts";
import { linstorControllerCheck, linstorNodesCheck, linstorPlacementCheck } from "./linstor.ts";
import { closeAll } from "./scope.ts";
import { storpoolApiCheck, storpoolClientsCheck, storpoolTemplateCheck } from "./storpool.ts";
import type { Check, DoctorEnv, Finding, Status } from "./types.ts";

export type { Check, DoctorEnv, Finding, Status } from "./types.ts";
export { createDoctorEnv, defaultOnedConf } from "./env.ts";

/** Every check, in report order. */
export const CHECKS: readonly Check[] = [
  onedCheck,
  remotesCheck,
  onedConfCheck,
  vmmOverridesCheck,
  datastoresCheck,
  linstorControllerCheck,
  linstorNodesCheck,
  linstorPlacementCheck,
  storpoolApiCheck,
  storpoolTemplateCheck,
  storpoolClientsCheck,
  hostSshCheck,
  hostDrbdCheck,
  hostQemuImgCheck,
  hostRemotesCheck,
];

/** A doctor run's result. */
export interface DoctorReport {
  /** No error found. */
  ok: boolean;
  counts: Record<Status, number>;
  findings: Finding[];
}

/**
 * Run `checks` (default: all) in order against `env`; `only` limits them to those ids (their
 * `needs` still gate them when those ran too).
 */
export async function runDoctor(
  env: DoctorEnv,
  opts: { checks?: readonly Check[]; only?: readonly string[] } = {},
): Promise<DoctorReport> {
  const checks = (opts.checks ?? CHECKS).filter((c) => !opts.only || opts.only.includes(c.id));
  const out: Finding[] = [];
  const failed = new Set<string>();
  try {
    for (const c of checks) {
      const blocked = (c.needs ?? []).filter((n) => failed.has(n));
      let got: Finding[];
      if (blocked.length) {
        got = [{
          check: c.id,
          status: "warning",
          subject: c.id,
          message: `not run: ${blocked.join(", ")} found an error`,
          fix: `fix ${blocked.join(", ")} first`,
        }];
      } else {
        try {
          got = await c.run(env);
        } catch (e) {
          got = [{
            check: c.id,
            status: "error",
            subject: c.id,
            message: `the check could not run: ${errorLine(e)}`,
            fix: "fix what the message names, then run the doctor again",
          }];
        }
      }
      if (got.some((g) => g.status === "error")) failed.add(c.id);
      out.push(...got);
    }
  } finally {
    closeAll(env);
  }
  const counts: Record<Status, number> = { ok: 0, warning: 0, error: 0 };
  for (const f of out) counts[f.status]++;
  return { ok: counts.error === 0, counts, findings: out };
}

/** One line per finding, then a summary line. */
export function renderReport(r: DoctorReport): string {
  const w = Math.max(0, ...r.findings.map((f) => f.check.length));
  const lines = r.findings.map((f) =>
    `${f.status.padEnd(7)} ${f.check.padEnd(w)}  ${f.subject}: ${f.message}` +
    (f.fix ? ` — fix: ${f.fix}` : "")
  );
  const n = (k: Status, one: string, many: string) =>
    `${r.counts[k]} ${r.counts[k] === 1 ? one : many}`;
  lines.push(
    `doctor: ${n("ok", "ok", "ok")}, ${n("warning", "warning", "warnings")}, ` +
      `${n("error", "error", "errors")}`,
  );
  return lines.join("\n");
}

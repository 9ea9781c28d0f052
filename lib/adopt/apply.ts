/**
 * Carrying out an adoption plan (plan.ts), undoing one, and waiting for LINSTOR's satellites.
 *
 * - Steps run in order; steps an earlier run did are skipped, so a re-run continues where a
 *   failed run stopped.
 * - A failure before any LINSTOR resource exists is undone at once (the configuration files go
 *   back, the resource definition goes): nothing is left behind.
 * - Undo restores the starting state as long as LINSTOR has not taken the resource over: no
 *   resource of it on a satellite that is online (an online satellite applies LINSTOR's
 *   configuration at once). It first removes OverrideVlmId, so that no satellite could ever
 *   delete the backing volume by that name, then the resources and the definition, then puts
 *   the configuration files back (and the DRBD name, after a rename).
 * - Resources on online satellites are waited for (their disk states appear); on offline ones
 *   they are taken over when the satellite starts, as LINBIT's article advises (no
 *   disconnect/reconnect cycle).
 */
import { isKind, OneblkError } from "../errors.ts";
import { sleep } from "../timer.ts";
import type { HostRunner } from "../host/types.ts";
import { moveFile } from "../host/ops.ts";
import { LinstorApiError, type LinstorClient } from "../backend/linstor/client.ts";
import { ADOPTED_PROP, type AdoptFacts, DISABLED_SUFFIX, nameKey, type RscJson } from "./facts.ts";
import { type AdoptPlan, OVERRIDE_VLM_ID, RENAME_SCRIPT, type Step } from "./plan.ts";

/** What the steps need. */
export interface ApplyDeps {
  hosts: HostRunner;
  linstor: LinstorClient;
  /** A progress line. */
  log: (line: string) => void;
  /** How long to wait for resources on online satellites (ms, default 120000). */
  waitMs?: number;
  /** Read the facts again (what exists now), for the undo after a failure. */
  reread?: () => Promise<AdoptFacts>;
}

/** What an adoption did. */
export interface ApplyResult {
  /** Steps run now (not those done before). */
  ran: number;
  skipped: number;
  /** Nodes whose satellite took the resource over (disk state seen). */
  ready: string[];
  /** Nodes whose satellite is offline: LINSTOR takes over when it starts. */
  pending: string[];
}

async function runStep(step: Step, deps: ApplyDeps): Promise<void> {
  if (step.call) {
    const { method, path, body } = step.call;
    await deps.linstor.write(method, path, body);
  } else if (step.move && step.host) {
    await moveFile(deps.hosts, step.host, step.move.from, step.move.to);
  } else if (step.argv && step.host) {
    await deps.hosts.run(step.host, step.argv, { timeoutMs: 60_000 });
  }
}

/** Carry out `plan`. On a failure before any resource exists, undo what exists. */
export async function applyPlan(
  plan: AdoptPlan,
  facts: AdoptFacts,
  deps: ApplyDeps,
): Promise<ApplyResult> {
  const total = plan.steps.length;
  let ran = 0;
  let skipped = 0;
  const resourcesBefore = facts.linstor.rscs.length > 0;
  for (const [i, step] of plan.steps.entries()) {
    const tag = `[${i + 1}/${total}]`;
    if (step.done) {
      deps.log(`${tag} ${step.what}: done already`);
      skipped++;
      continue;
    }
    deps.log(`${tag} ${step.what}`);
    try {
      await runStep(step, deps);
      ran++;
    } catch (e) {
      if (!resourcesBefore && !(step.createsResources && !isDefiniteRefusal(e))) {
        deps.log(`${tag} failed: ${(e as Error).message}`);
        deps.log("undoing what exists (no LINSTOR resource was made)");
        try {
          const now = deps.reread ? await deps.reread() : facts;
          await undoAdoption(now, { ...deps, log: (l) => deps.log(`  ${l}`) });
        } catch (u) {
          throw new OneblkError(
            isKind(e, "timeout") ? "timeout" : "backend",
            `${(e as Error).message}; undoing failed too: ${(u as Error).message}`,
          );
        }
        throw e;
      }
      throw e;
    }
  }
  const { ready, pending } = await waitForResources(plan, deps);
  return { ran, skipped, ready, pending };
}

/** A LINSTOR reply that refused the request (nothing was made), not a lost one. */
function isDefiniteRefusal(e: unknown): boolean {
  return e instanceof LinstorApiError;
}

/** Wait until every online node shows a disk state for the resource's volumes. */
async function waitForResources(
  plan: AdoptPlan,
  deps: ApplyDeps,
): Promise<{ ready: string[]; pending: string[] }> {
  const pending = plan.nodes.filter((n) => !n.online).map((n) => n.node);
  const want = plan.nodes.filter((n) => n.online).map((n) => n.node);
  const deadline = Date.now() + (deps.waitMs ?? 120_000);
  let wait = 100;
  for (;;) {
    const rscs = await deps.linstor.get<RscJson[]>("/v1/view/resources", {
      resources: [plan.name],
    });
    const ready = want.filter((node) => {
      const r = rscs.find((x) =>
        nameKey(x.name) === nameKey(plan.name) && nameKey(x.node_name) === nameKey(node)
      );
      return r !== undefined && (r.volumes ?? []).length > 0 &&
        (r.volumes ?? []).every((v) => (v.state?.disk_state ?? "") !== "");
    });
    if (ready.length === want.length) {
      if (want.length) deps.log(`LINSTOR runs ${plan.name} on ${ready.join(", ")}`);
      if (pending.length) {
        deps.log(
          `satellites offline on ${pending.join(", ")}: LINSTOR takes ${plan.name} over there ` +
            `when they start`,
        );
      }
      return { ready, pending };
    }
    if (Date.now() >= deadline) {
      const late = want.filter((n) => !ready.includes(n));
      throw new OneblkError(
        "timeout",
        `LINSTOR made the resources of ${plan.name}, but ${late.join(", ")} did not report a ` +
          `disk state within ${Math.round((deps.waitMs ?? 120_000) / 1000)} s: check ` +
          `linstor resource list -r ${plan.name}`,
      );
    }
    await sleep(wait);
    wait = Math.min(2000, wait * 2);
  }
}

/** The steps of an undo, for the plan printout; throws when undo is not possible. */
export function planUndo(facts: AdoptFacts): Step[] {
  const { name, linstor } = facts;
  const steps: Step[] = [];
  const rd = linstor.rd;
  if (rd) {
    if (rd.props?.[ADOPTED_PROP] === undefined) {
      throw new OneblkError(
        "input",
        `resource definition ${rd.name} was not made by oneblk adopt: not deleting it`,
      );
    }
    const taken = linstor.rscs.filter((r) =>
      linstor.nodes.get(nameKey(r.node_name))?.online !== false &&
      !(r.flags ?? []).includes("TIE_BREAKER")
    );
    // a node that is not among the resource's hosts: its satellite state is unknown here
    if (taken.length) {
      throw new OneblkError(
        "input",
        `LINSTOR has taken ${rd.name} over on ${
          taken.map((r) => r.node_name).join(", ")
        } (satellite online): undo is only possible before that; remove it by hand (keep ` +
          `the volumes: delete OverrideVlmId first, or LINSTOR deletes the backing volume)`,
      );
    }
    for (const vd of rd.volume_definitions ?? []) {
      if (vd.props?.[OVERRIDE_VLM_ID] === undefined) continue;
      steps.push({
        kind: "controller",
        what: `remove ${OVERRIDE_VLM_ID} from volume definition ${vd.volume_number ?? 0}`,
        done: false,
        call: {
          method: "PUT",
          path: `/v1/resource-definitions/${encodeURIComponent(rd.name)}/volume-definitions/${
            vd.volume_number ?? 0
          }`,
          body: { delete_props: [OVERRIDE_VLM_ID] },
        },
      });
    }
    for (const r of linstor.rscs) {
      steps.push({
        kind: "controller",
        what: `delete resource ${rd.name} on ${r.node_name}`,
        done: false,
        call: {
          method: "DELETE",
          path: `/v1/resource-definitions/${encodeURIComponent(rd.name)}/resources/${
            encodeURIComponent(r.node_name)
          }`,
        },
      });
    }
    steps.push({
      kind: "controller",
      what: `delete resource definition ${rd.name}`,
      done: false,
      call: { method: "DELETE", path: `/v1/resource-definitions/${encodeURIComponent(rd.name)}` },
    });
  }
  for (const h of facts.hosts) {
    if (name !== facts.res.name && h.volumes.some((v) => v.deviceBytes !== null)) {
      steps.push({
        kind: "host",
        host: h.host,
        what: `${h.host}: drbdsetup rename-resource ${name} ${facts.res.name} (if renamed)`,
        done: false,
        argv: ["sh", "-c", RENAME_SCRIPT, "oneblk-rename", name, facts.res.name],
      });
    }
    const from = h.resPath + DISABLED_SUFFIX;
    if (h.disabled && h.enabled) {
      throw new OneblkError("input", `${h.host} has both ${h.resPath} and ${from}: keep one`);
    }
    steps.push({
      kind: "host",
      host: h.host,
      what: `${h.host}: mv ${from} ${h.resPath}`,
      done: !h.disabled,
      move: { from, to: h.resPath },
    });
  }
  return steps;
}

/** Undo an adoption (see the file header). */
export async function undoAdoption(facts: AdoptFacts, deps: ApplyDeps): Promise<number> {
  const steps = planUndo(facts);
  let ran = 0;
  for (const [i, step] of steps.entries()) {
    const tag = `[${i + 1}/${steps.length}]`;
    if (step.done) {
      deps.log(`${tag} ${step.what}: nothing to do`);
      continue;
    }
    deps.log(`${tag} ${step.what}`);
    try {
      await runStep(step, deps);
    } catch (e) {
      // gone already (a concurrent or repeated undo) is fine
      if (!isKind(e, "not_found")) throw e;
    }
    ran++;
  }
  return ran;
}

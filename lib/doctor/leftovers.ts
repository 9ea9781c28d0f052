/**
 * The leftovers of failed operations (issue 10): what oneblk made for itself and could not
 * remove (a temporary snapshot, an attachment, a volume marked unfinished), as each store's
 * Backend.findLeftovers reports it, judged by `oneblk gc`'s own rules in a dry run
 * (lib/domain/gc.ts): what gc would remove is a warning with the command that removes it; what gc
 * keeps (too young, its image still known to oned) is reported as ok with the reason. The
 * front-end's journal of host leftovers (lib/domain/host_leftovers.ts: a VM directory, marker or
 * backup directory a never-retried cleanup could not remove on a host) is judged the same way
 * (runHostGc). Nothing is removed here.
 */
import { errorLine } from "../errors.ts";
import { gcLine, hostGcLine, runGc, runHostGc, storesOf } from "../domain/gc.ts";
import { findRemotesDir } from "../one/output.ts";
import { closeLater } from "./scope.ts";
import { type Check, type Finding, findings } from "./types.ts";

/** Leftovers found in the stores of our datastores. */
export const leftoversCheck: Check = {
  id: "leftovers",
  title:
    "leftovers of failed operations in the stores and on hosts (what `oneblk gc` would remove)",
  // A store that does not answer is the store checks' to report (and would only make this one
  // wait out the store client's deadline).
  needs: ["datastores", "linstor-controller", "storpool-api"],
  async run(env) {
    const f = findings("leftovers");
    const views = (await env.datastores()).filter((d) => !(d.store instanceof Error))
      .map((d) => d.view);
    const stores = storesOf(views, { env: env.env, hosts: env.hosts, one: env.one });
    const out: Finding[] = [];
    const now = Date.now();
    for (const s of stores) {
      closeLater(env, () => void s.backend.close().catch(() => {}));
      let items;
      try {
        items = await runGc([s], env.one, { dryRun: true, now });
      } catch (e) {
        out.push(f.warning(
          s.label,
          `could not list leftovers: ${errorLine(e)}`,
          "fix the store's reachability (see the store checks), then run the doctor again",
        ));
        continue;
      }
      if (!items.length) {
        out.push(f.ok(s.label, "no leftovers of failed operations"));
        continue;
      }
      for (const i of items) {
        const line = gcLine(i, now);
        out.push(
          i.action === "would remove"
            ? f.warning(
              s.label,
              line,
              `oneblk gc --datastore ${s.datastoreIds[0]} (--dry-run first to see the list)`,
            )
            : f.ok(s.label, line),
        );
      }
    }
    out.push(...await hostLeftovers(env, now));
    return out;
  },
};

/** The journal of host leftovers, judged by gc's rules (dry run). */
async function hostLeftovers(env: Parameters<Check["run"]>[0], now: number): Promise<Finding[]> {
  const f = findings("leftovers");
  const subject = "host leftovers";
  let r;
  try {
    r = await runHostGc(
      { env: env.env, hosts: env.hosts, one: env.one, remotes: findRemotesDir({ env: env.env }) },
      { dryRun: true, now },
    );
  } catch (e) {
    return [f.warning(
      subject,
      `could not read the journal of host leftovers: ${errorLine(e)}`,
      "check the front-end's oneblk state directory (ONEBLK_STATE_DIR) and its permissions",
    )];
  }
  const out: Finding[] = [];
  for (const i of r.items) {
    const line = hostGcLine(i, now);
    out.push(
      i.action === "would remove"
        ? f.warning(
          subject,
          line,
          `oneblk gc --datastore ${i.entry.dsId} (--dry-run first to see the list)`,
        )
        : f.ok(subject, line),
    );
  }
  for (const b of r.bad) {
    out.push(f.warning(subject, `not a journal entry: ${b}`, "look at it, then remove the file"));
  }
  return out; // an empty journal adds no line: the stores' lines already say "no leftovers"
}

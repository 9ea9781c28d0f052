/**
 * `oneblk gc [--dry-run] [--datastore ID] [--min-age DURATION]`: remove what oneblk left behind
 * in the stores of our datastores and, from the front-end's journal of host leftovers, on the
 * hosts (lib/domain/gc.ts says what is safe), or with --dry-run only say what it would remove.
 * oned (ONE_XMLRPC / ONE_AUTH as for the actions) lists the datastores and answers whether an
 * image still exists and where a VM is.
 */
import { parseArgs } from "node:util";
import { OneblkError } from "../lib/errors.ts";
import { hostRunnerFromEnv } from "../lib/host/index.ts";
import { OneClient } from "../lib/one/xmlrpc.ts";
import { GC_MIN_AGE_MS, gcLine, hostGcLine, runGc, runHostGc, storesOf } from "../lib/domain/gc.ts";
import { findRemotesDir } from "../lib/one/output.ts";

/** `30`, `30s`, `15m`, `2h`, `1d` → ms (a bare number is seconds). */
export function parseAge(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m) {
    throw new OneblkError("usage", `--min-age ${JSON.stringify(text)}: use e.g. 0, 90s, 30m, 2h`);
  }
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]]!;
  return Number(m[1]) * unit * 1000;
}

/** Run `oneblk gc`; returns the exit code (1 when a removal failed). */
export async function gcMain(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        "dry-run": { type: "boolean" },
        datastore: { type: "string" },
        "min-age": { type: "string" },
      },
    }).values;
  } catch (e) {
    throw new OneblkError("usage", (e as Error).message);
  }
  const dsArg = v.datastore === undefined ? undefined : String(v.datastore);
  if (dsArg !== undefined && !/^\d+$/.test(dsArg)) {
    throw new OneblkError("usage", `--datastore ${JSON.stringify(dsArg)}: a datastore id`);
  }
  const minAgeMs = v["min-age"] === undefined ? GC_MIN_AGE_MS : parseAge(String(v["min-age"]));
  const env = Deno.env.toObject();
  const one = await OneClient.fromEnv({ env });
  const datastores = dsArg === undefined
    ? await one.datastorePool()
    : [await one.datastoreInfo(Number(dsArg))];
  const hosts = await hostRunnerFromEnv(env);
  const stores = storesOf(datastores, { env, hosts, one: () => Promise.resolve(one) });
  if (dsArg !== undefined && !stores.length) {
    throw new OneblkError("usage", `datastore ${dsArg} is not one of oneblk's`);
  }
  try {
    const now = Date.now();
    const items = await runGc(stores, () => Promise.resolve(one), {
      dryRun: !!v["dry-run"],
      minAgeMs,
      now,
    });
    for (const i of items) console.log(gcLine(i, now));
    const host = await runHostGc(
      { env, hosts, one: () => Promise.resolve(one), remotes: findRemotesDir({ env }) },
      {
        dryRun: !!v["dry-run"],
        minAgeMs,
        now,
        datastoreIds: dsArg === undefined ? undefined : [Number(dsArg)],
      },
    );
    for (const i of host.items) console.log(hostGcLine(i, now));
    for (const b of host.bad) console.log(`kept: host leftovers journal file ${b}`);
    const all = [...items, ...host.items];
    const n = (a: string) => all.filter((i) => i.action === a).length;
    console.log(
      `${items.length} leftover(s) in ${stores.length} store(s), ${host.items.length} on hosts: ` +
        (v["dry-run"]
          ? `${n("would remove")} would be removed, ${n("would drop")} dropped`
          : `${n("removed")} removed, ${n("dropped")} dropped`) +
        `, ${n("kept")} kept, ${n("failed")} failed`,
    );
    return n("failed") ? 1 : 0;
  } finally {
    await Promise.all(stores.map((s) => s.backend.close()));
  }
}

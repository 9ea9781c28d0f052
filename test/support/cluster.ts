/**
 * Shared helpers of the tests that run the real driver programs on a simulated cloud
 * (tools/sim/cluster.ts): the profiles, datastore views and test-side backends, VM documents in
 * the simulated oned, running an action with its stats line, and run-result assertions.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Cluster, RunOutput } from "../../tools/sim/cluster.ts";
import { buildVmXml, type VmInput } from "../../tools/sim/oned/builders.ts";
import { openBackend } from "../../lib/backend/index.ts";
import type { Backend } from "../../lib/backend/types.ts";
import type { Placement } from "../../lib/backend/index.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { OneClient } from "../../lib/one/xmlrpc.ts";
import { type DatastoreView } from "../../lib/one/views.ts";
import { parseDatastoreSync } from "./views_sync.ts";
import { DRIVERS } from "../../lib/addons/index.ts";
import type { Profile } from "../../lib/addons/types.ts";

/** The three profiles (driver names). */
export const PROFILES = DRIVERS;
/** A profile name. */
export type ProfileName = typeof PROFILES[number];

/** The datastore `dsId` as the simulated oned holds it. */
export function datastoreView(c: Cluster, dsId: number): DatastoreView {
  const xml = c.oned.state.datastores.get(dsId);
  if (!xml) throw new Error(`no datastore ${dsId}`);
  return parseDatastoreSync(xml);
}

/** Placement of new volumes on datastore `dsId` under `profile`. */
export function dsPlacement(c: Cluster, profile: Profile, dsId: number): Placement {
  return profile.placement(datastoreView(c, dsId).template, dsId);
}

/**
 * A backend on the store of datastore `dsId` under `profile`, opened in the test process as
 * an action would open it (simulated hosts, the simulated oned). The caller closes it.
 */
export function openDsBackend(c: Cluster, profile: Profile, dsId: number): Backend {
  const ds = datastoreView(c, dsId);
  const one = new OneClient({ endpoint: c.oned.url, session: "oneadmin:opennebula" });
  return openBackend(profile.store(ds.template, dsId), {
    env: c.env,
    hosts: new SimRunner(c.root),
    one: () => Promise.resolve(one),
  });
}

/** The VM directory of `vmId` on system datastore `sysDs` as oned writes it (with `//`). */
export function vmDir(sysDs: number, vmId: number): string {
  return `/var/lib/one//datastores/${sysDs}/${vmId}`;
}

/** Put a VM into the simulated oned; returns its XML. */
export function putVm(c: Cluster, vm: VmInput): string {
  const xml = buildVmXml(vm);
  c.oned.state.putVm(xml);
  return xml;
}

let statsSeq = 0;

/**
 * Run a driver program with ONEBLK_STATS_FILE set to a fresh file under the cluster root;
 * returns its output and the REST count of its stats line (-1 when it wrote none).
 */
export async function runWithStats(
  c: Cluster,
  kind: "datastore" | "tm" | "vmm",
  driver: string,
  action: string,
  args: (string | number)[],
  opts: { env?: Record<string, string>; tag?: string } = {},
): Promise<RunOutput & { rest: number }> {
  const stats = join(c.root, `stats-${opts.tag ?? driver}-${++statsSeq}.jsonl`);
  const out = await c.run(kind, driver, action, args.map(String), {
    env: { ONEBLK_STATS_FILE: stats, ...opts.env },
  });
  let rest = -1;
  try {
    const lines = (await Deno.readTextFile(stats)).split("\n").filter(Boolean);
    if (lines.length) rest = JSON.parse(lines.at(-1)!).rest;
  } catch { /* no stats line */ }
  return { ...out, rest };
}

/** Assert success (with the stderr in the message). */
export function assertOk(r: RunOutput, what = ""): void {
  assert.equal(r.code, 0, `${what ? `${what}: ` : ""}exit ${r.code}: ${r.stderr}`);
}

/**
 * Assert a failed run: exit 1, nothing on stdout, exactly one line on stderr (matching `re`).
 * With `ignoreInfo`, INFO lines (progress the runner may print first) are not counted.
 */
export function assertOneLineFailure(
  r: RunOutput,
  re?: RegExp,
  opts: { ignoreInfo?: boolean; what?: string } = {},
): void {
  const what = opts.what ? `${opts.what}: ` : "";
  assert.equal(r.code, 1, `${what}expected failure, got ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, "");
  const lines = r.stderr.split("\n").filter((l) =>
    l.trim() !== "" && !(opts.ignoreInfo && l.startsWith("INFO"))
  );
  assert.equal(lines.length, 1, `${what}expected one stderr line, got:\n${r.stderr}`);
  if (re) assert.match(lines[0], re);
}

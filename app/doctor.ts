/**
 * `oneblk doctor [--json] [--remotes DIR] [--oned-conf FILE] [--only ID,…] [--list]`: check an
 * installation (lib/doctor/) and print one line per finding (ok / warning / error, with the
 * fix), or JSON. Exit 0 without errors (warnings allowed), 1 with errors.
 *
 * What only the command line knows is given to the checks here: the remotes tree next to
 * `oneblk actions`, read with install's own dry run (app/install.ts), so the doctor and
 * `oneblk install` judge every entry the same way.
 */
import { parseArgs } from "node:util";
import { dirname, join, resolve } from "node:path";
import { OneblkError } from "../lib/errors.ts";
import { VMM_OVERRIDES } from "../lib/addons/index.ts";
import { findRemotesDir } from "../lib/one/output.ts";
import { CHECKS, createDoctorEnv, renderReport, runDoctor } from "../lib/doctor/index.ts";
import type { RemotesEntry, RemotesReport } from "../lib/doctor/types.ts";
import { install, readStub, uninstall } from "./install.ts";
import { listActions } from "./registry.ts";

/** The remotes tree `dir` next to `oneblk actions`, as `oneblk install --dry-run` sees it. */
export async function inspectRemotes(dir: string): Promise<RemotesReport> {
  const remotes = resolve(dir);
  const ours = (await uninstall({ remotes, dryRun: true })).removed;
  const drivers = new Set<string>();
  for (const rel of ours) {
    const [kind, drv, file] = rel.split("/");
    if (kind === "vmm") {
      const o = VMM_OVERRIDES[file];
      if (o) drivers.add(o.driver);
    } else drivers.add(drv);
  }
  const report: RemotesReport = {
    dir: remotes,
    drivers: [...drivers].sort(),
    bin: "",
    stubs: false,
    entries: [],
  };
  if (!ours.length) return report;
  // the binary and mode of the first entry of ours
  const first = join(remotes, ours[0]);
  const st = await Deno.lstat(first);
  if (st.isSymlink) report.bin = resolve(dirname(first), await Deno.readLink(first));
  else {
    report.stubs = true;
    report.bin = (await readStub(first, st))?.bin ?? "";
  }
  try {
    const plan = await install({
      remotes,
      drivers: report.drivers,
      bin: report.bin,
      stubs: report.stubs,
      dryRun: true,
      actions: listActions(),
    });
    const state: Record<string, RemotesEntry["state"]> = {
      created: "missing",
      updated: "stale",
      skipped: "foreign",
      unchanged: "ok",
    };
    report.entries = plan.links.map((l) => ({
      rel: l.rel,
      state: state[l.status],
      reason: l.reason,
    }));
  } catch (e) {
    if (!(e instanceof OneblkError) || e.kind !== "config") throw e;
    report.binProblem = `the entries run ${report.bin}, which cannot run: ${e.message}`;
  }
  return report;
}

function args(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        json: { type: "boolean" },
        list: { type: "boolean" },
        remotes: { type: "string" },
        "oned-conf": { type: "string" },
        only: { type: "string" },
        timeout: { type: "string" },
      },
    }).values;
  } catch (e) {
    throw new OneblkError("usage", (e as Error).message);
  }
}

/** Run `oneblk doctor`; returns the exit code. */
export async function doctorMain(argv: string[]): Promise<number> {
  const v = args(argv);
  if (v.list) {
    for (const c of CHECKS) console.log(`${c.id.padEnd(20)} ${c.title}`);
    return 0;
  }
  const only = v.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((id) => !CHECKS.some((c) => c.id === id)) ?? [];
  if (unknown.length) {
    throw new OneblkError(
      "usage",
      `unknown check '${unknown[0]}' (known: ${CHECKS.map((c) => c.id).join(", ")})`,
    );
  }
  const timeoutS = v.timeout === undefined ? 15 : Number(v.timeout);
  if (!(timeoutS > 0)) throw new OneblkError("usage", "--timeout must be a positive number");
  const env = Deno.env.toObject();
  const remotes = v.remotes ?? findRemotesDir({ env });
  const vmmOverrides = new Set(
    listActions().filter((a) => a.kind === "vmm").map((a) => a.name),
  );
  const denv = await createDoctorEnv({
    env,
    remotes: () => inspectRemotes(remotes),
    onedConf: v["oned-conf"],
    vmmOverrides,
    timeoutMs: timeoutS * 1000,
  });
  const report = await runDoctor(denv, { only });
  console.log(v.json ? JSON.stringify(report, null, 2) : renderReport(report));
  return report.ok ? 0 : 1;
}

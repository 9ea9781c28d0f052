/**
 * `deno task faults`: the fault-injection matrix of tools/faults/matrix.ts over every mutating
 * action, on every profile. Prints the summary line, counts per setting and mode, and a table
 * of the points that are not clean; `--json FILE` writes every result.
 */
import { parseArgs } from "node:util";
import { type Mode, MODES, type PointResult } from "./matrix.ts";
import {
  allPairs,
  countClasses,
  failureRows,
  runMatrix,
  type Selection,
  summaryLine,
  table,
} from "./run.ts";

const USAGE = `usage: deno task faults [options]
  --jobs N          points run at a time (default 2)
  --setting NAME    only this setting (repeatable): linstor, linstor_un, storpool,
                    linstor_un+snapclone
  --case NAME       only cases whose name starts with NAME (repeatable), e.g. tm/clone
  --mode MODE       only this mode (repeatable): ${MODES.join(", ")}
  --point ID        only this point (repeatable), e.g. "linstor tm/clone lost@2"
  --json FILE       write every result as JSON
  --quiet           no line per failed point while running
  --trace           print every driver call of each failed point`;

/** Run the CLI; returns the exit code (1 when a point is not clean). */
export async function faultsMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      jobs: { type: "string" },
      setting: { type: "string", multiple: true },
      case: { type: "string", multiple: true },
      mode: { type: "string", multiple: true },
      point: { type: "string", multiple: true },
      json: { type: "string" },
      quiet: { type: "boolean" },
      trace: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const jobs = Number(values.jobs ?? 2);
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`--jobs: '${values.jobs}' is not a positive integer`);
    return 2;
  }
  for (const m of values.mode ?? []) {
    if (!(MODES as readonly string[]).includes(m)) {
      console.error(`--mode: unknown mode '${m}'\n${USAGE}`);
      return 2;
    }
  }
  const pointPairs = (values.point ?? []).map((id) => {
    const [setting, c] = id.split(" ");
    return { setting, case: c };
  });
  let pairs = allPairs().filter((p) =>
    (!values.setting || values.setting.includes(p.setting)) &&
    (!values.case || values.case.some((c) => p.case.startsWith(c))) &&
    (!values.point ||
      pointPairs.some((x) => x.setting === p.setting && x.case === p.case))
  );
  if (!pairs.length) {
    console.error(`nothing selected\n${USAGE}`);
    return 2;
  }
  pairs = [...pairs];
  const sel: Selection = {
    pairs,
    modes: values.mode as Mode[] | undefined,
    points: values.point,
  };
  console.log(
    `oneblk fault matrix: ${pairs.length} (setting, action) pairs, ${jobs} at a time`,
  );
  const report = await runMatrix(sel, {
    jobs,
    trace: values.trace,
    onResult(r: PointResult, done: number, total: number) {
      if (values.quiet || r.class === "clean") return;
      console.log(`  [${done}/${total}] ${r.id}: ${r.class} (${r.problems[0]?.what ?? ""})`);
      for (const t of r.trace ?? []) console.log(`      ${t}`);
    },
  });
  const { results } = report;
  console.log("");
  for (const [key, why] of report.broken) console.log(`BROKEN CASE ${key}: ${why}`);
  for (const r of results) {
    const rep = r.spec.mode === "none" ? r.reported : undefined;
    // Local commands (ISO tools, tar on the front-end) are steps the action's count leaves out.
    if (rep && (rep.rest !== r.requests.length || rep.ssh > r.steps.length)) {
      console.log(
        `WARNING ${r.id}: the action reports ${rep.rest} REST requests and ${rep.ssh} host ` +
          `commands, the proxy and shims saw ${r.requests.length} and ${r.steps.length}`,
      );
    }
  }
  const bySetting = new Map<string, PointResult[]>();
  const byMode = new Map<string, PointResult[]>();
  for (const r of results) {
    bySetting.set(r.spec.setting, [...(bySetting.get(r.spec.setting) ?? []), r]);
    byMode.set(r.spec.mode, [...(byMode.get(r.spec.mode) ?? []), r]);
  }
  const rows = (m: Map<string, PointResult[]>) =>
    [...m].map(([k, rs]) => {
      const c = countClasses(rs);
      return [k, String(rs.length), String(c.clean), String(rs.length - c.clean)];
    });
  console.log(table(["setting", "points", "clean", "not clean"], rows(bySetting)));
  console.log("");
  console.log(table(["mode", "points", "clean", "not clean"], rows(byMode)));
  const failed = failureRows(results);
  if (failed.length) {
    console.log("\nFailures:\n");
    console.log(
      table(
        ["action", "backend", "k", "mode", "request / step", "class", "what was wrong"],
        failed,
      ),
    );
  }
  console.log(`\n${summaryLine(results)}`);
  const gced = results.filter((r) => r.gc?.length);
  if (gced.length) {
    console.log(
      `${gced.length} point(s) left marked leftovers that oneblk gc removed ` +
        `(${gced.filter((r) => r.class === "clean").length} of them clean after it)`,
    );
  }
  console.log(`run time: ${(report.ms / 1000).toFixed(0)} s with ${jobs} jobs`);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify(
        {
          summary: summaryLine(results),
          ms: report.ms,
          jobs,
          broken: Object.fromEntries(report.broken),
          results: results.map((r) => ({ ...r, inventory: undefined })),
        },
        null,
        1,
      ) + "\n",
    );
  }
  return failed.length || report.broken.size ? 1 : 0;
}

if (import.meta.main) Deno.exit(await faultsMain(Deno.args));

/**
 * `oneblk demo`: the seed article's story, played on simulators, offline, in seconds.
 *
 * A simulated 4-node LINSTOR cluster (alpha: controller and OpenNebula front-end; bravo,
 * charlie, delta: hypervisors; thin pools open_image and open_system; resource groups with
 * place count 2), a simulated StorPool cluster and a simulated oned are started
 * (tools/sim/cluster.ts). The scripted oned (tools/sim/oned/scripted_oned.ts) then runs the real driver
 * programs the way OpenNebula does: register an image on a datastore with 2 replicas,
 * instantiate a VM on bravo, live-migrate it to charlie (a diskless assignment appears there
 * and becomes the primary), on to delta (charlie's diskless goes away), take a disk snapshot,
 * resize the disk and terminate. Then the same story on StorPool, where a host's access is a
 * client attachment instead of a diskless resource.
 *
 * Every step narrates what the simulators hold (each node's role and who has the device
 * open), checks the seed article's claims and the data (bytes written on bravo read back on
 * charlie and delta), and the run ends with a table: per driver call the wall time and the
 * REST and ssh calls it made (from the cluster's stats.jsonl), with a legend of the columns
 * (TABLE_LEGEND). `--json` prints the steps and the table as JSON (progress then goes to
 * stderr). The exit code is 1 when a step fails.
 */
import { parseArgs } from "node:util";
import { type Cluster, startCluster } from "./sim/cluster.ts";
import { type DriverCall, type ProfileName, ScriptedOned } from "./sim/oned/scripted_oned.ts";
import { inspectStore, randomBytes, regionSha, sha256, writeRegion } from "./sim/scenario.ts";
import { errorLine } from "../lib/errors.ts";

const MiB = 1024 * 1024;

/** One node's relation to the VM disk's volume. */
export interface NodeRole {
  host: string;
  /** diskful (full replica), diskless (DRBD client), tie-breaker, attached (StorPool), none. */
  role: "diskful" | "diskless" | "tie-breaker" | "attached" | "none";
  /** The device is open on this node (the VM runs there). */
  inUse: boolean;
}

/** One row of the final table: one driver program run. */
export interface CallRow {
  story: ProfileName;
  step: string;
  /** `kind/driver/script`. */
  action: string;
  ok: boolean;
  wallMs: number;
  /** In-process time reported by the action itself (stats.jsonl), ms. */
  actionMs: number | null;
  rest: number | null;
  ssh: number | null;
}

/** One narrated step. */
export interface DemoStep {
  story: ProfileName;
  id: string;
  title: string;
  ok: boolean;
  ms: number;
  /** What happened, as told to the user. */
  lines: string[];
  /** Roles of every node for the VM disk's volume after the step (when a VM exists). */
  roles?: NodeRole[];
  /** The volume the roles describe. */
  volume?: string;
  error?: string;
}

/** Whole demo result (what `--json` prints). */
export interface DemoReport {
  ok: boolean;
  totalMs: number;
  steps: DemoStep[];
  table: CallRow[];
}

/** What onStep hooks may inspect. */
export interface DemoWorld {
  cluster: Cluster;
  oned: ScriptedOned;
  vmId?: number;
  imageId?: number;
}

/** Options of runDemo. */
export interface DemoOptions {
  /** Latency of every simulated store request (ms, default 1). */
  latencyMs?: number;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
  /** Called after each step with the live simulators (tests assert against them). */
  onStep?: (step: DemoStep, world: DemoWorld) => void | Promise<void>;
  /** Stories to play (default both). */
  stories?: ProfileName[];
}

const HOSTS = ["alpha", "bravo", "charlie", "delta"];

/** Each node's role for `volume` in the store behind `oned`. */
export function nodeRoles(oned: ScriptedOned, volume: string): NodeRole[] {
  const view = inspectStore(oned);
  const rel = view.attachments.filter((a) => a.volume.toLowerCase() === volume.toLowerCase());
  return HOSTS.map((host) => {
    const a = rel.find((x) => x.host === host);
    const role: NodeRole["role"] = !a
      ? "none"
      : a.tieBreaker
      ? "tie-breaker"
      : a.diskful
      ? "diskful"
      : oned.store === "linstor"
      ? "diskless"
      : "attached";
    return { host, role, inUse: !!a?.inUse };
  });
}

function rolesLine(roles: NodeRole[]): string {
  return roles.map((r) => `${r.host}: ${r.role}${r.inUse ? " (in use)" : ""}`).join(", ");
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** Play the demo; never throws for a failed step (see DemoReport.ok). */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const t0 = performance.now();
  const say = opts.progress ?? (() => {});
  const steps: DemoStep[] = [];
  const table: CallRow[] = [];
  say("starting the simulated cloud: LINSTOR (alpha bravo charlie delta), StorPool, oned …");
  const cluster = await startCluster({ latencyMs: opts.latencyMs ?? 1, oneVersion: "7.0.0" });
  try {
    for (const story of opts.stories ?? ["linstor", "storpool"] as ProfileName[]) {
      const ok = await playStory(cluster, story, steps, table, say, opts.onStep);
      if (!ok) break;
    }
  } finally {
    await cluster.stop();
  }
  return {
    ok: steps.every((s) => s.ok),
    totalMs: Math.round(performance.now() - t0),
    steps,
    table,
  };
}

async function playStory(
  cluster: Cluster,
  story: ProfileName,
  steps: DemoStep[],
  table: CallRow[],
  say: (l: string) => void,
  onStep: DemoOptions["onStep"],
): Promise<boolean> {
  let current = "";
  const oned = new ScriptedOned(cluster, {
    profile: story,
    version: "7.0.0",
    onCall: (c: DriverCall) => {
      const row: CallRow = {
        story,
        step: current,
        action: `${c.kind}/${c.dir}/${c.script}`,
        ok: c.ok,
        wallMs: c.wallMs,
        actionMs: c.stats?.ms ?? null,
        rest: c.stats?.rest ?? null,
        ssh: c.stats?.ssh ?? null,
      };
      table.push(row);
      say(
        `    ${c.ok ? "✓" : "✗"} ${row.action.padEnd(34)} ${
          String(Math.round(c.wallMs)).padStart(5)
        } ms` +
          `   REST ${row.rest ?? "?"}   ssh ${row.ssh ?? "?"}`,
      );
    },
  });
  await oned.prepare();
  const world: DemoWorld = { cluster, oned };
  const title = story === "storpool" ? "StorPool" : "LINSTOR";
  say("");
  say(`━━ ${title} ━━`);
  let volume = "";
  let dataSha = "";
  const data = { offset: 8 * MiB, len: MiB };

  const run = async (id: string, text: string, body: (lines: string[]) => Promise<void>) => {
    current = id;
    say(`▸ ${text}`);
    const step: DemoStep = { story, id, title: text, ok: true, ms: 0, lines: [] };
    const t = performance.now();
    try {
      await body(step.lines);
      if (volume && world.vmId !== undefined) {
        step.volume = volume;
        step.roles = nodeRoles(oned, volume);
      }
    } catch (e) {
      step.ok = false;
      step.error = errorLine(e);
    }
    step.ms = Math.round(performance.now() - t);
    for (const l of step.lines) say(`    ${l}`);
    if (step.error) say(`    FAILED: ${step.error}`);
    steps.push(step);
    if (step.ok && onStep) await onStep(step, world);
    return step.ok;
  };

  const src = `${cluster.root}/demo-${story}.raw`;
  const image = randomBytes(6 * MiB);
  await Deno.writeFile(src, image);
  const imageSha = await sha256(image);

  const ds = oned.datastore(oned.imageDs);
  const placement = oned.profile.placement(ds.template, ds.id);
  if (
    !await run(
      "register",
      `register image "alpine" on datastore ${ds.id} (${ds.name})`,
      async (l) => {
        const img = await oned.registerImage({ name: "alpine", path: src });
        world.imageId = img.id;
        const vol = oned.imageVolume(img.id);
        const roles = nodeRoles(oned, vol);
        const full = roles.filter((r) => r.role === "diskful").map((r) => r.host);
        l.push(`image ${img.id}: SOURCE ${img.source}, FORMAT ${img.format}, ${img.sizeMb} MB`);
        if (oned.store === "linstor") {
          l.push(`resource group ${placement.group}: replicas on ${full.join(" and ")}`);
          check(full.length === 2, "the image has 2 diskful replicas");
        } else {
          const sp = cluster.storpool.state();
          const t = sp.templates[placement.group];
          l.push(
            `template ${placement.group}: replication ${t?.replication}, placeAll ${t?.placeAll}`,
          );
          check(!!sp.volumes[vol], "the image volume exists");
        }
        check(
          await regionSha(oned.volumeFile(vol)!, 0, image.length, "raw") === imageSha,
          "the image bytes are in the volume",
        );
        l.push("image bytes verified in the store (sha256)");
      },
    )
  ) return false;

  if (
    !await run(
      "instantiate",
      "instantiate a VM on bravo (non-persistent disk + context)",
      async (l) => {
        const vm = await oned.instantiate({
          host: "bravo",
          name: `demo-${story}`,
          disks: [{ image: world.imageId!, sizeMb: 16 }],
        });
        world.vmId = vm.id;
        const m = await oned.linkedVolume("bravo", `${oned.vmDir(vm)}/disk.0`);
        check(!!m, "disk.0 on bravo links to a store device");
        volume = m!.name;
        const bytes = randomBytes(data.len);
        await writeRegion(oned.diskPath(vm.id, 0), data.offset, bytes, "raw");
        dataSha = await sha256(bytes);
        const roles = nodeRoles(oned, volume);
        l.push(`VM ${vm.id} runs on bravo; disk 0 is ${volume}`);
        l.push(`roles: ${rolesLine(roles)}`);
        l.push(`wrote 1 MiB into disk 0 on bravo (sha256 ${dataSha.slice(0, 12)}…)`);
        check(roles.find((r) => r.host === "bravo")!.inUse, "the disk is open on bravo");
      },
    )
  ) return false;

  const migrate = async (id: string, from: string, to: string) =>
    await run(id, `live-migrate the VM ${from} → ${to}`, async (l) => {
      const before = nodeRoles(oned, volume);
      await oned.liveMigrate(world.vmId!, to);
      const roles = nodeRoles(oned, volume);
      const dst = roles.find((r) => r.host === to)!;
      const old = roles.find((r) => r.host === from)!;
      l.push(`roles: ${rolesLine(roles)}`);
      const dstBefore = before.find((r) => r.host === to)!;
      if (dst.role === "diskless") {
        l.push(
          dstBefore.role === "tie-breaker"
            ? `${to}'s tie-breaker became a diskless assignment, primary for the VM`
            : `${to} got a diskless assignment, primary for the VM`,
        );
      } else if (dst.role === "attached") l.push(`${to} got a client attachment`);
      else l.push(`${to} holds a ${dst.role} replica: no extra assignment needed`);
      const srcBefore = before.find((r) => r.host === from)!;
      if (srcBefore.role === "diskless" || srcBefore.role === "attached") {
        const what = srcBefore.role === "diskless" ? "diskless assignment" : "attachment";
        l.push(
          old.role === "tie-breaker"
            ? `${from}'s ${what} went away (LINSTOR keeps a tie-breaker there: no data, no I/O)`
            : `${from}'s ${what} went away`,
        );
      }
      check(dst.inUse, `the disk is open on ${to}`);
      check(!old.inUse, `the disk is closed on ${from}`);
      check(
        old.role !== "diskless" && old.role !== "attached",
        `no client access left on ${from}`,
      );
      const got = await regionSha(oned.diskPath(world.vmId!, 0), data.offset, data.len, "raw");
      check(got === dataSha, `the data written on bravo reads back on ${to}`);
      l.push(`the data written on bravo reads back on ${to} (sha256 ${got.slice(0, 12)}…)`);
    });
  if (!await migrate("migrate-charlie", "bravo", "charlie")) return false;
  if (!await migrate("migrate-delta", "charlie", "delta")) return false;

  if (
    !await run("snapshot", "take a disk snapshot of the running VM", async (l) => {
      const sid = await oned.diskSnapshotCreate(world.vmId!, 0, "demo");
      const name = oned.profile.snapshotName(volume, sid);
      const snaps = inspectStore(oned).snapshots.filter((s) =>
        s.volume.toLowerCase() === volume.toLowerCase() && !s.delayedDelete
      );
      check(snaps.some((s) => s.name.toLowerCase() === name.toLowerCase()), `${name} exists`);
      l.push(`disk snapshot ${sid}: ${volume} → ${name}`);
    })
  ) return false;

  if (
    !await run("resize", "resize disk 0 to 32 MB while the VM runs", async (l) => {
      await oned.diskResize(world.vmId!, 0, 32);
      const size = (await Deno.stat(oned.diskPath(world.vmId!, 0))).size;
      check(size >= 32 * MiB, "the device grew to 32 MiB");
      l.push(
        `${volume} is now ${Math.round(size / MiB)} MiB; data intact: ${
          await regionSha(oned.diskPath(world.vmId!, 0), data.offset, data.len, "raw") === dataSha
        }`,
      );
    })
  ) return false;

  return await run("terminate", "terminate the VM", async (l) => {
    await oned.terminate(world.vmId!);
    const view = inspectStore(oned);
    const left = view.volumes.filter((v) => v.toLowerCase() === volume.toLowerCase());
    check(left.length === 0, `${volume} was deleted`);
    const clients = view.attachments.filter((a) => !a.diskful && !a.tieBreaker);
    check(clients.length === 0, "no diskless/client attachment left");
    l.push(`${volume} and its snapshot are gone; the image stays: ${view.volumes.join(", ")}`);
  });
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** What the table's columns mean (printed under it). */
export const TABLE_LEGEND = [
  "wall ms    whole driver program, as oned waits for it: process start, Deno start-up and module",
  "           loading included (the launcher runs `deno run`; a compiled binary starts faster)",
  "action ms  the same call measured inside the program, from dispatch to exit (its stats line)",
  "REST       requests to the LINSTOR controller or the StorPool API (retries included)",
  "ssh        commands run on hosts (here simulated hosts: local processes, no ssh)",
].join("\n");

/** Render the table of driver calls as text. */
export function renderTable(rows: CallRow[]): string {
  const head = ["story", "step", "action", "wall ms", "action ms", "REST", "ssh"];
  const cells = rows.map((r) => [
    r.story,
    r.step,
    r.action + (r.ok ? "" : " (failed)"),
    r.wallMs.toFixed(0),
    r.actionMs === null ? "-" : r.actionMs.toFixed(0),
    r.rest === null ? "-" : String(r.rest),
    r.ssh === null ? "-" : String(r.ssh),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => pad(x, w[i], i >= 3)).join("  ");
  const sum = (k: "wallMs" | "rest" | "ssh") => rows.reduce((n, r) => n + (r[k] ?? 0), 0);
  return [
    line(head),
    w.map((n) => "─".repeat(n)).join("  "),
    ...cells.map(line),
    w.map((n) => "─".repeat(n)).join("  "),
    line([
      "total",
      "",
      `${rows.length} driver calls`,
      sum("wallMs").toFixed(0),
      "",
      String(sum("rest")),
      String(sum("ssh")),
    ]),
  ].join("\n");
}

/** `oneblk demo [--json] [--latency-ms N]`; returns the exit code. */
export async function demoMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      json: { type: "boolean", default: false },
      "latency-ms": { type: "string", default: "1" },
    },
    allowPositionals: false,
  });
  const latencyMs = Number(values["latency-ms"]);
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    console.error("ERROR: oneblk: --latency-ms must be a non-negative number");
    return 1;
  }
  const json = values.json === true;
  const enc = new TextEncoder();
  const progress = (line: string) => {
    const b = enc.encode(line + "\n");
    if (json) Deno.stderr.writeSync(b);
    else Deno.stdout.writeSync(b);
  };
  const report = await runDemo({ latencyMs, progress });
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log("");
    console.log(renderTable(report.table));
    console.log("");
    console.log(TABLE_LEGEND);
    console.log("");
    console.log(
      report.ok
        ? `demo finished in ${(report.totalMs / 1000).toFixed(1)} s: every step checked out`
        : `demo FAILED at: ${
          report.steps.filter((s) => !s.ok).map((s) => `${s.story}/${s.id}`).join(", ")
        }`,
    );
  }
  return report.ok ? 0 : 1;
}

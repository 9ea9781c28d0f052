/**
 * `oneblk adopt drbd RESFILE [options]`: take a hand-made DRBD resource over into LINSTOR
 * without moving data (LINBIT's "How to migrate manually created resources to LINSTOR", made
 * one command), and optionally register it as a persistent OpenNebula image. Loaded lazily by
 * app/cli.ts; the procedure is lib/adopt/ (read → plan → act).
 *
 * Output: the plan on stdout (text, or JSON with --json, which then also carries the result);
 * one progress line per step on stderr; errors as one line. The DRBD shared secret of the file
 * is carried over to LINSTOR and never printed.
 */
import { parseArgs } from "node:util";
import { OneblkError } from "../lib/errors.ts";
import { type HostRunner, hostRunnerFromEnv } from "../lib/host/index.ts";
import { LinstorClient } from "../lib/backend/linstor/client.ts";
import { OneClient } from "../lib/one/xmlrpc.ts";
import { type AdoptFacts, readFacts } from "../lib/adopt/facts.ts";
import { type AdoptPlan, makePlan, redact, type Step } from "../lib/adopt/plan.ts";
import { applyPlan, planUndo, undoAdoption } from "../lib/adopt/apply.ts";
import { planRegister, register, type RegisterPlan } from "../lib/adopt/register.ts";

/** The command's help text. */
export const ADOPT_HELP = `oneblk adopt drbd RESFILE [options]
  Takes a hand-made DRBD resource over into LINSTOR with no data movement: same port, volume
  numbers, minors, node ids and backing volumes (OverrideVlmId), the exact net size and the
  peer slots of the existing meta data. RESFILE is a local path or HOST:PATH (read on HOST).
  Prints the plan, asks, then runs it; re-running continues where a failed run stopped.

  --controllers LIST     LINSTOR controllers (default $LS_CONTROLLERS, $LINSTOR_CONTROLLERS,
                         linstor://localhost); --ca-file, --cert-file, --key-file for TLS,
                         bearer token from $LINSTOR_TOKEN
  --resource NAME        the resource of RESFILE (when it defines several)
  --rename NAME          LINSTOR name (when LINSTOR refuses the DRBD name; the running
                         resource is renamed with drbdsetup rename-resource on every node)
  --storage-pool POOL    pool on every node (default: the pool whose VG holds the disk)
  --peer-slots N         peer slots of the meta data (default: read from the meta data of a
                         stopped resource, else inferred from the device and disk sizes)
  --register --datastore ID [--name NAME]
                         also make a persistent image of it in LINSTOR image datastore ID
                         (oned from $ONE_XMLRPC / $ONE_AUTH)
  --wait SECONDS         how long to wait for online satellites (default 120)
  --dry-run              print the plan, change nothing
  --yes                  do not ask
  --json                 plan and result as JSON on stdout
  --undo                 put everything back (only before LINSTOR has taken the resource over:
                         no resource of it on an online satellite)`;

interface Args {
  resFile: string;
  controllers?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  resource?: string;
  rename?: string;
  storagePool?: string;
  peerSlots?: number;
  register: boolean;
  datastore?: number;
  name?: string;
  waitMs: number;
  dryRun: boolean;
  yes: boolean;
  json: boolean;
  undo: boolean;
}

function parse(argv: string[]): Args {
  let v: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    const r = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        controllers: { type: "string" },
        "ca-file": { type: "string" },
        "cert-file": { type: "string" },
        "key-file": { type: "string" },
        resource: { type: "string" },
        rename: { type: "string" },
        "storage-pool": { type: "string" },
        "peer-slots": { type: "string" },
        register: { type: "boolean" },
        datastore: { type: "string" },
        name: { type: "string" },
        wait: { type: "string" },
        "dry-run": { type: "boolean" },
        yes: { type: "boolean" },
        json: { type: "boolean" },
        undo: { type: "boolean" },
      },
    });
    v = r.values as Record<string, string | boolean | undefined>;
    positionals = r.positionals;
  } catch (e) {
    throw new OneblkError("usage", (e as Error).message);
  }
  const [what, resFile, ...more] = positionals;
  if (what !== "drbd") {
    throw new OneblkError(
      "usage",
      "usage: oneblk adopt drbd RESFILE [options] (oneblk help adopt)",
    );
  }
  if (!resFile) throw new OneblkError("usage", "adopt drbd needs RESFILE (PATH or HOST:PATH)");
  if (more.length) throw new OneblkError("usage", `unexpected argument '${more[0]}'`);
  const int = (name: string, min: number, max: number): number | undefined => {
    const s = v[name];
    if (s === undefined) return undefined;
    const n = Number(s);
    if (typeof s !== "string" || !/^\d+$/.test(s) || n < min || n > max) {
      throw new OneblkError("usage", `--${name} must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
  const str = (name: string) => (typeof v[name] === "string" ? String(v[name]) : undefined);
  const a: Args = {
    resFile,
    controllers: str("controllers"),
    caFile: str("ca-file"),
    certFile: str("cert-file"),
    keyFile: str("key-file"),
    resource: str("resource"),
    rename: str("rename"),
    storagePool: str("storage-pool"),
    peerSlots: int("peer-slots", 1, 31),
    register: !!v.register,
    datastore: int("datastore", 0, 2 ** 31 - 1),
    name: str("name"),
    waitMs: (int("wait", 1, 86400) ?? 120) * 1000,
    dryRun: !!v["dry-run"],
    yes: !!v.yes,
    json: !!v.json,
    undo: !!v.undo,
  };
  if (a.register && a.datastore === undefined) {
    throw new OneblkError("usage", "--register needs --datastore ID");
  }
  if (!a.register && (a.datastore !== undefined || a.name !== undefined)) {
    throw new OneblkError("usage", "--datastore and --name go with --register");
  }
  if (a.undo && a.register) {
    throw new OneblkError("usage", "--undo and --register exclude each other");
  }
  return a;
}

function kib(n: number): string {
  return `${n.toLocaleString("en-US")} KiB`;
}

function stepLines(steps: Step[], first = 1): string[] {
  return steps.flatMap((s, i) => {
    const head = `  ${first + i}. ${s.what}${s.done ? "  (done already)" : ""}`;
    if (s.call && !s.done) {
      const body = s.call.body === undefined ? "" : ` ${JSON.stringify(redact(s.call.body))}`;
      return [head, `       ${s.call.method} ${s.call.path}${body}`];
    }
    return [head];
  });
}

function planText(plan: AdoptPlan, reg: RegisterPlan | undefined): string {
  const out = [
    `Adopt DRBD resource ${plan.resource} (${plan.readFrom}) into LINSTOR as ${plan.name}`,
    `  port ${plan.port}; peer slots ${plan.peerSlots} (${plan.peerSlotsFrom})` +
    (plan.secret ? "; the file's shared secret (not shown)" : ""),
  ];
  for (const v of plan.volumes) {
    out.push(
      `  volume ${v.vnr}: minor ${v.minor}, ${kib(v.netKiB)} net (${v.netFrom}); backing ` +
        `${v.disk}${v.vlmId ? ` (OverrideVlmId ${v.vlmId})` : ""}, LINSTOR gross ${
          kib(v.grossKiB)
        }`,
    );
  }
  for (const n of plan.nodes) {
    out.push(
      `  ${n.node}: node id ${n.nodeId}, storage pool ${n.pool}, satellite ` +
        (n.online ? "online" : "offline (takes over when started)"),
    );
  }
  out.push("Steps:", ...stepLines(plan.steps));
  if (reg) {
    out.push(
      `  ${plan.steps.length + 1}. register persistent image ${JSON.stringify(reg.name)} in ` +
        `datastore ${reg.datastore} (${reg.driver}): SOURCE ${reg.source}, SIZE ${reg.sizeMiB} MiB, ` +
        `FORMAT raw` +
        (reg.existing !== undefined ? `  (done already: image ${reg.existing})` : ""),
      `       one.image.allocate`,
    );
  }
  for (const w of [...plan.warnings, ...(reg?.warnings ?? [])]) out.push(`warning: ${w}`);
  return out.join("\n");
}

function planJson(plan: AdoptPlan, reg: RegisterPlan | undefined): unknown {
  return redact({
    ...plan,
    register: reg && {
      datastore: reg.datastore,
      driver: reg.driver,
      name: reg.name,
      source: reg.source,
      sizeMiB: reg.sizeMiB,
      existing: reg.existing ?? null,
      warnings: reg.warnings,
    },
  });
}

function confirm(question: string): boolean {
  if (!Deno.stdin.isTerminal()) {
    throw new OneblkError("usage", "not confirmed: rerun with --yes (stdin is not a terminal)");
  }
  const answer = prompt(question);
  return /^y(es)?$/i.test((answer ?? "").trim());
}

/** Run `oneblk adopt …`; returns the exit code. */
export async function adoptMain(argv: string[]): Promise<number> {
  const a = parse(argv);
  const env = Deno.env.toObject();
  const hosts = await hostRunnerFromEnv(env);
  const controllers = a.controllers ?? env.LS_CONTROLLERS ?? env.LINSTOR_CONTROLLERS ?? "";
  const linstor = new LinstorClient({
    controllers,
    caFile: a.caFile,
    certFile: a.certFile,
    keyFile: a.keyFile,
    token: env.LINSTOR_TOKEN || undefined,
  });
  const log = (line: string) => console.error(`oneblk adopt: ${line}`);
  const read = (readMetadata: boolean): Promise<AdoptFacts> =>
    readFacts({ resFile: a.resFile, resource: a.resource, rename: a.rename, readMetadata }, {
      hosts,
      linstor,
    });
  try {
    const facts = await read(a.peerSlots === undefined && !a.undo);
    if (a.undo) return await undo(a, facts, { hosts, linstor, log });
    const plan = makePlan(facts, { storagePool: a.storagePool, peerSlots: a.peerSlots });
    const one = a.register ? await OneClient.fromEnv({ env }) : undefined;
    const reg = one
      ? await planRegister(plan, { datastore: a.datastore!, name: a.name }, one, env, controllers)
      : undefined;
    const todo = plan.steps.some((s) => !s.done) ||
      (reg !== undefined && reg.existing === undefined);
    if (a.json && a.dryRun) {
      console.log(JSON.stringify({ dryRun: true, plan: planJson(plan, reg) }, null, 2));
      return 0;
    }
    if (!a.json) console.log(planText(plan, reg));
    if (a.dryRun) return 0;
    if (
      todo && !a.yes && !(confirm(`Adopt ${plan.resource} into LINSTOR as ${plan.name}? [y/N] `))
    ) {
      log("not confirmed: nothing changed");
      return 1;
    }
    const res = await applyPlan(plan, facts, {
      hosts,
      linstor,
      log,
      waitMs: a.waitMs,
      reread: () => read(false),
    });
    let image: number | undefined;
    if (reg && one) {
      log(`[register] image ${JSON.stringify(reg.name)} in datastore ${reg.datastore}`);
      image = await register(reg, one);
      log(`[register] image ${image}: SOURCE ${reg.source}`);
    }
    const result = { ...res, image: image ?? null };
    if (a.json) {
      console.log(JSON.stringify({ dryRun: false, plan: planJson(plan, reg), result }, null, 2));
    } else if (!todo) {
      console.log(`${plan.name} is adopted already: nothing to do`);
    } else {
      console.log(
        `adopted ${plan.resource} as ${plan.name}: ${res.ran} step(s) run, ${res.skipped} done before` +
          (image !== undefined ? `; image ${image}` : ""),
      );
    }
    return 0;
  } finally {
    linstor.close();
  }
}

async function undo(
  a: Args,
  facts: AdoptFacts,
  deps: {
    hosts: HostRunner;
    linstor: LinstorClient;
    log: (l: string) => void;
  },
): Promise<number> {
  const steps = planUndo(facts);
  const todo = steps.some((s) => !s.done);
  if (a.json && a.dryRun) {
    console.log(JSON.stringify({ dryRun: true, undo: redact(steps) }, null, 2));
    return 0;
  }
  if (!a.json) {
    console.log(`Undo the adoption of ${facts.res.name} (LINSTOR name ${facts.name})`);
    console.log(["Steps:", ...stepLines(steps)].join("\n"));
  }
  if (a.dryRun) return 0;
  if (!todo) {
    deps.log(`nothing to undo for ${facts.name}`);
    if (a.json) {
      console.log(
        JSON.stringify({ dryRun: false, undo: redact(steps), result: { ran: 0 } }, null, 2),
      );
    }
    return 0;
  }
  if (!a.yes && !(confirm(`Undo the adoption of ${facts.res.name}? [y/N] `))) {
    deps.log("not confirmed: nothing changed");
    return 1;
  }
  const ran = await undoAdoption(facts, deps);
  if (a.json) {
    console.log(JSON.stringify({ dryRun: false, undo: redact(steps), result: { ran } }, null, 2));
  } else console.log(`undone: ${ran} step(s)`);
  return 0;
}

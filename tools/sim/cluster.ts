/**
 * A whole simulated cloud on one machine, for tests, the demo, the benchmark and users' CI
 * smoke tests: a simulated LINSTOR controller, StorPool API and oned, simulated hosts, and a
 * remotes tree made by `oneblk install` whose symlinks run the real driver programs.
 *
 * Layout under `root`:
 *   hosts/<name>/       filesystem of host <name> (alpha = front-end and bridge, bravo, charlie,
 *                       delta = hypervisors); store devices appear under hosts/<name>/dev/…
 *   remotes/            oned's remotes dir ($R): datastore/<drv>/*, tm/<drv>/*, vmm/kvm/*, VERSION
 *   bin/virsh           the hosts' simulated virsh; each host also has the stock VMM scripts
 *                       deploy, attach_disk, detach_disk under var/tmp/one/ (tools/sim/libvirt.ts)
 *   sim.json            the store simulators' URLs (the simulated virsh opens volumes there)
 *   linstor/, storpool/ simulator state (sparse data files)
 *   one_auth            credentials for the simulated oned
 *   oned.conf           TM_MAD, DATASTORE_MAD and VM_MAD kvm with our drivers, the -l overrides
 *                       and the blocks `oneblk install` prints
 *   stats.jsonl         one JSON line per action run (REST/ssh/oned calls, wall ms)
 *
 * Datastores registered in the simulated oned (ids are fixed so tests can name them):
 *   linstor    image 100, system 101   (LINSTOR_CONTROLLERS, LINSTOR_RESOURCE_GROUP)
 *   storpool   image 110, system 111   (SP_API_HTTP_HOST/PORT, SP_AUTH_TOKEN; templates one-ds-*)
 *   linstor_un image 120, system 121   (LS_CONTROLLERS, RESOURCE_GROUP)
 *   rsync      backup 130               (RSYNC_HOST vault; tools/sim/rsync.ts, with downloader.sh)
 * Hosts: alpha (0), bravo (1), charlie (2), delta (3), with SP_OURID 1..4; each has the DRBD 9
 * module loaded (its /proc/drbd) and the remotes as `onehost sync` leaves them
 * (/var/tmp/one/VERSION). `plant` breaks a host the way real ones break (DRBD 8 loaded, a program
 * missing: lib/host/sim.ts rules 5 and 6), for the doctor and fault tests. vault is the rsync
 * server (a simulated host oned does not know).
 * LINSTOR: storage pools open_image and open_system (thin) on every node; resource groups
 * one_image and one_system with place count 2 (the seed article's setup).
 */
import { dirname, join } from "node:path";
import { SIM_ABSENT_FILE } from "../../lib/host/sim.ts";
import { startLinstorSim } from "./linstor/server.ts";
import type { LinstorSim, SimExchange } from "./linstor/server.ts";
import { startStorpoolSim } from "./storpool/server.ts";
import type { StorpoolSim } from "./storpool/server.ts";
import { startOnedSim } from "./oned/server.ts";
import type { OnedSim } from "./oned/server.ts";
import { buildDatastoreXml, buildHostXml } from "./oned/builders.ts";
import { defaultBin, install, onedConfSnippets, vmmLocalList } from "../../app/install.ts";
import { encodeBase64Text } from "../../lib/one/args.ts";
import { listActions } from "../../app/registry.ts";
import { DRIVERS } from "../../lib/addons/index.ts";
import { installSimLibvirt } from "./libvirt.ts";
import { RSYNC_ACTIONS } from "./rsync.ts";

/** The simulated hosts; the first is the front-end and bridge. */
export const CLUSTER_HOSTS = ["alpha", "bravo", "charlie", "delta"] as const;

/** The simulated rsync backup server (RSYNC_HOST of the backup datastore). */
export const BACKUP_HOST = "vault";

/** Id of the simulated rsync backup datastore (tools/sim/rsync.ts). */
export const CLUSTER_BACKUP_DS = 130;

/** Fixed datastore ids per profile. */
export const CLUSTER_DS: Record<string, { image: number; system: number }> = {
  linstor: { image: 100, system: 101 },
  storpool: { image: 110, system: 111 },
  linstor_un: { image: 120, system: 121 },
};

/** Options of startCluster. */
export interface ClusterOptions {
  /** Latency added to every store request (ms). */
  latencyMs?: number;
  /** OpenNebula version written to $R/VERSION (default 7.0.0). */
  oneVersion?: string;
  /** Use this directory instead of a fresh temp dir (kept on stop). */
  root?: string;
  /** Extra environment for every action. */
  env?: Record<string, string>;
  /** StorPool API token of the simulator and the datastores (default: random). */
  storpoolToken?: string;
  /**
   * Measure every driver program run (the benchmark): each is started through
   * tools/bench/rusage.py, which records its wall time, CPU and peak memory.
   */
  meter?: boolean;
  /** Called for every LINSTOR REST exchange (tests counting what the driver asked). */
  linstorRecord?: (ex: SimExchange) => void;
}

/** What one driver program run cost (tools/bench/rusage.py; with the processes it waited for). */
export interface ProcessUsage {
  wallMs: number;
  userMs: number;
  sysMs: number;
  /** Peak resident set of the largest process, KiB. */
  maxrssKiB: number;
}

/** The /proc/drbd first line of the simulated hosts' DRBD module. */
export const SIM_DRBD_VERSION = "version: 9.2.12 (api:2/proto:86-122)";

/** Faults planted in simulated hosts (lib/host/sim.ts rules 5 and 6). */
export interface HostPlanting {
  /** Replace host's /proc/drbd with `text` (e.g. a DRBD 8.4 one); null: no module loaded. */
  drbd(host: string, text: string | null): Promise<void>;
  /** Make `program` absent on host (as if not installed), or present again (`absent` false). */
  program(host: string, program: string, absent?: boolean): Promise<void>;
}

/** Result of running one driver program. */
export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
  /** With ClusterOptions.meter. */
  usage?: ProcessUsage;
}

const RUSAGE = decodeURIComponent(new URL("../bench/rusage.py", import.meta.url).pathname);

/**
 * How to start driver program `path`: itself, or through the process meter (ClusterOptions.meter)
 * with `read()` giving what the run cost once it ended.
 */
export async function driverCommand(
  c: Pick<Cluster, "meter">,
  path: string,
  args: string[],
): Promise<{ program: string; args: string[]; read(): Promise<ProcessUsage | undefined> }> {
  if (!c.meter) return { program: path, args, read: () => Promise.resolve(undefined) };
  const out = await Deno.makeTempFile({ prefix: "oneblk-usage-" });
  return {
    program: "python3",
    args: [RUSAGE, out, path, ...args],
    async read() {
      try {
        const line = (await Deno.readTextFile(out)).trim().split("\n").at(-1);
        if (!line) return undefined;
        const u = JSON.parse(line);
        return {
          wallMs: u.wall_ms,
          userMs: u.user_ms,
          sysMs: u.sys_ms,
          maxrssKiB: u.maxrss_kib,
        };
      } catch {
        return undefined;
      } finally {
        await Deno.remove(out).catch(() => {});
      }
    },
  };
}

/** How a call passes its payload: ≤6.6 as argv base64, ≥6.8 on stdin. */
export type CallStyle = "argv" | "stdin";

/** A running simulated cloud. */
export interface Cluster {
  root: string;
  remotes: string;
  hostsRoot: string;
  /** Driver programs run through the process meter (ClusterOptions.meter). */
  meter: boolean;
  frontend: string;
  /** oned.conf of the simulated front-end. */
  onedConf: string;
  env: Record<string, string>;
  linstor: LinstorSim;
  storpool: StorpoolSim;
  oned: OnedSim;
  /** Run `<remotes>/<kind>/<dir>/<name> args…` as oned would (cwd = root). */
  run(
    kind: "datastore" | "tm" | "vmm",
    dir: string,
    name: string,
    args: string[],
    opts?: { stdin?: string | Uint8Array; env?: Record<string, string> },
  ): Promise<RunOutput>;
  /** Run a datastore action (or tm monitor) with its XML payload in the given call style. */
  runDs(
    kind: "datastore" | "tm",
    driver: string,
    action: string,
    payloadXml: string,
    id: number | string,
    style?: CallStyle,
  ): Promise<RunOutput>;
  /**
   * Run `oneblk <args…>` (an operator's command: gc, doctor …) on the front-end with the
   * cluster's environment (cwd = root).
   */
  cli(args: string[]): Promise<RunOutput>;
  /** Real local path of `path` on simulated host `host`. */
  hostPath(host: string, path: string): string;
  /** Parsed stats lines written so far. */
  stats(): Promise<ActionStats[]>;
  /** Plant host faults. */
  plant: HostPlanting;
  stop(): Promise<void>;
}

/** One stats line (see app/runner.ts). */
export interface ActionStats {
  kind: string;
  driver: string;
  action: string;
  ok: boolean;
  ms: number;
  /** The action's own work (run, output, closing); `ms` minus this is the runner's start. */
  runMs: number;
  rest: number;
  /** Reply bytes read from the stores (decoded). */
  restBytes: number;
  ssh: number;
  one: number;
  /**
   * The process's memory when the action ended (KiB, Linux only): its peak resident set, and of
   * the resident set then the private part and the part mapped from files (the deno executable).
   */
  memoryKiB?: { peak: number; private: number; file: number };
  /**
   * The program that ran: "dist/bundle/drivers/linstor/tm/ln.js", "dist/bundle/actions/vmm/deploy.js",
   * "dist/bundle/main.js", "main.ts".
   */
  program?: string;
}

/**
 * The simulated rsync backup datastore's actions (`$R/datastore/rsync/<action>`) and
 * `$R/datastore/downloader.sh`, each a two-line script running `oneblk sim rsync <action>`.
 */
async function installRsyncSim(remotes: string, bin: string): Promise<void> {
  const script = (action: string) =>
    `#!/bin/sh\nexec '${bin.replaceAll("'", "'\\''")}' sim rsync ${action} "$@"\n`;
  await Deno.mkdir(join(remotes, "datastore", "rsync"), { recursive: true });
  for (const a of RSYNC_ACTIONS) {
    await Deno.writeTextFile(join(remotes, "datastore", "rsync", a), script(a), { mode: 0o755 });
  }
  await Deno.writeTextFile(join(remotes, "datastore", "downloader.sh"), script("downloader"), {
    mode: 0o755,
  });
}

/** Start the simulated cloud. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  // Started from the sources (tests): the launcher must not run a bundle built from others.
  if (import.meta.url.endsWith(".ts")) await (await import("../bundle.ts")).refreshBundle();
  const ownRoot = !opts.root;
  const root = opts.root ?? await Deno.makeTempDir({ prefix: "oneblk-cluster-" });
  const hostsRoot = join(root, "hosts");
  for (const h of CLUSTER_HOSTS) {
    for (const d of ["var/lib/one/datastores", "var/tmp", "dev", dirname(SIM_ABSENT_FILE)]) {
      await Deno.mkdir(join(hostsRoot, h, d), { recursive: true });
    }
    // The list of programs the host lacks exists (empty; a restart on the same root keeps it),
    // so that reading it before each command is no failed runtime call: a real host's ssh
    // makes none, and the first one costs an action's process memory (lib/frugal.ts).
    await Deno.writeTextFile(join(hostsRoot, h, SIM_ABSENT_FILE), "", { append: true });
  }
  const latencyMs = opts.latencyMs ?? 0;
  const linstor = await startLinstorSim({
    nodes: [...CLUSTER_HOSTS],
    pools: [
      { name: "open_image", sizeGiB: 200, thin: true },
      { name: "open_system", sizeGiB: 200, thin: true },
    ],
    resourceGroups: [
      { name: "one_image", placeCount: 2, storagePools: ["open_image"] },
      { name: "one_system", placeCount: 2, storagePools: ["open_system"] },
    ],
    stateDir: join(root, "linstor"),
    hostsRoot,
    latencyMs,
    record: opts.linstorRecord,
  });
  const storpool = await startStorpoolSim({
    clients: Object.fromEntries(CLUSTER_HOSTS.map((h, i) => [h, i + 1])),
    templates: [
      { name: "one-ds-110", capacityGiB: 200, replication: 3, placeAll: "hdd" },
      { name: "one-ds-111", capacityGiB: 200, replication: 3, placeAll: "ssd" },
    ],
    stateDir: join(root, "storpool"),
    hostsRoot,
    latencyMs,
    token: opts.storpoolToken,
  });
  const oned = await startOnedSim({});
  await Deno.writeTextFile(join(root, "one_auth"), "oneadmin:opennebula\n");

  const spAttrs = {
    SP_API_HTTP_HOST: "127.0.0.1",
    SP_API_HTTP_PORT: String(storpool.port),
    SP_AUTH_TOKEN: storpool.token,
  };
  const dsTemplates: Record<string, Record<string, string>> = {
    linstor: {
      LINSTOR_CONTROLLERS: linstor.url,
      DISK_TYPE: "BLOCK",
      BRIDGE_LIST: "alpha",
    },
    linstor_un: { LS_CONTROLLERS: linstor.url, DISK_TYPE: "BLOCK", BRIDGE_LIST: "alpha" },
    storpool: { ...spAttrs, DISK_TYPE: "BLOCK", BRIDGE_LIST: "alpha" },
  };
  const rgAttr: Record<string, string> = {
    linstor: "LINSTOR_RESOURCE_GROUP",
    linstor_un: "RESOURCE_GROUP",
    storpool: "",
  };
  for (const [drv, ids] of Object.entries(CLUSTER_DS)) {
    const base = dsTemplates[drv];
    const rg = rgAttr[drv];
    oned.state.putDatastore(buildDatastoreXml({
      id: ids.image,
      name: `${drv}_image`,
      tmMad: drv,
      dsMad: drv,
      type: "IMAGE",
      template: { ...base, ...(rg ? { [rg]: "one_image" } : {}) },
    }));
    oned.state.putDatastore(buildDatastoreXml({
      id: ids.system,
      name: `${drv}_system`,
      tmMad: drv,
      type: "SYSTEM",
      template: { ...base, SHARED: "YES", ...(rg ? { [rg]: "one_system" } : {}) },
    }));
  }
  oned.state.putDatastore(buildDatastoreXml({
    id: CLUSTER_BACKUP_DS,
    name: "rsync_backup",
    dsMad: "rsync",
    tmMad: "-",
    type: "BACKUP",
    template: { RSYNC_HOST: BACKUP_HOST, RSYNC_USER: "oneadmin" },
  }));
  CLUSTER_HOSTS.forEach((name, i) =>
    oned.state.putHost(buildHostXml({ id: i, name, template: { SP_OURID: String(i + 1) } }))
  );

  const remotes = join(root, "remotes");
  await Deno.mkdir(remotes, { recursive: true });
  const version = `${opts.oneVersion ?? "7.0.0"}\n`;
  await Deno.writeTextFile(join(remotes, "VERSION"), version);
  for (const h of CLUSTER_HOSTS) {
    await Deno.mkdir(join(hostsRoot, h, "proc"), { recursive: true });
    await Deno.writeTextFile(join(hostsRoot, h, "proc/drbd"), `${SIM_DRBD_VERSION}\n`);
    await Deno.mkdir(join(hostsRoot, h, "var/tmp/one"), { recursive: true });
    await Deno.writeTextFile(join(hostsRoot, h, "var/tmp/one/VERSION"), version);
  }
  await install({ remotes, drivers: [...DRIVERS], bin: defaultBin(), actions: listActions() });
  await installRsyncSim(remotes, defaultBin());
  await Deno.mkdir(join(hostsRoot, BACKUP_HOST, "var/lib/one/datastores"), { recursive: true });
  // oned.conf as an operator leaves it after applying what `oneblk install` prints
  const local = vmmLocalList(DRIVERS, listActions());
  const drivers = DRIVERS.join(",");
  await Deno.writeTextFile(
    join(root, "oned.conf"),
    `TM_MAD = [ EXECUTABLE = "one_tm", ARGUMENTS = "-t 15 -d dummy,shared,ssh,${drivers}" ]\n` +
      'DATASTORE_MAD = [ EXECUTABLE = "one_datastore",\n' +
      `    ARGUMENTS = "-t 15 -d dummy,fs,rsync,${drivers} -s shared,ssh,${drivers}" ]\n` +
      "VM_MAD = [\n" +
      '    NAME = "kvm", SUNSTONE_NAME = "KVM", EXECUTABLE = "one_vmm_exec",\n' +
      `    ARGUMENTS = "-t 15 -r 0 kvm -p${local ? ` -l ${local}` : ""}",\n` +
      '    DEFAULT = "vmm_exec/vmm_exec_kvm.conf", TYPE = "kvm", KEEP_SNAPSHOTS = "yes",\n' +
      '    LIVE_RESIZE = "yes" ]\n' + onedConfSnippets(DRIVERS, listActions()) + "\n",
  );
  await Deno.writeTextFile(join(root, "monitord.conf"), 'MONITOR_ADDRESS = "127.0.0.1"\n');
  const virsh = await installSimLibvirt(root, CLUSTER_HOSTS, opts.oneVersion ?? "7.0.0", {
    linstor: linstor.url,
    storpool: `http://127.0.0.1:${storpool.port}`,
  });

  const statsFile = join(root, "stats.jsonl");
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? root,
    ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
    ...(Deno.env.get("NODE_EXTRA_CA_CERTS")
      ? { NODE_EXTRA_CA_CERTS: Deno.env.get("NODE_EXTRA_CA_CERTS")! }
      : {}),
    ONEBLK_SIM_ROOT: root,
    ONE_XMLRPC: oned.url,
    ONE_AUTH: join(root, "one_auth"),
    ONEBLK_FRONTEND: "alpha",
    ONEBLK_STATS_FILE: statsFile,
    ONEBLK_MONITORD_CONF: join(root, "monitord.conf"),
    ONEBLK_VIRSH: virsh,
    ...(opts.env ?? {}),
  };

  const cluster: Cluster = {
    root,
    remotes,
    hostsRoot,
    meter: opts.meter ?? false,
    frontend: "alpha",
    onedConf: join(root, "oned.conf"),
    env,
    linstor,
    storpool,
    oned,
    async run(kind, dir, name, args, o = {}) {
      const how = await driverCommand(cluster, join(remotes, kind, dir, name), args);
      const cmd = new Deno.Command(how.program, {
        args: how.args,
        cwd: root,
        env: { ...env, ...(o.env ?? {}) },
        clearEnv: true,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      });
      const child = cmd.spawn();
      const w = child.stdin.getWriter();
      if (o.stdin !== undefined) {
        await w.write(typeof o.stdin === "string" ? new TextEncoder().encode(o.stdin) : o.stdin)
          .catch(() => {});
      }
      await w.close().catch(() => {});
      const out = await child.output();
      const dec = new TextDecoder();
      return {
        code: out.code,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
        usage: await how.read(),
      };
    },
    runDs(kind, driver, action, payloadXml, id, style = "stdin") {
      const payload = encodeBase64Text(payloadXml);
      return style === "argv"
        ? cluster.run(kind, driver, action, [payload, String(id)])
        : cluster.run(kind, driver, action, [String(id)], { stdin: payload });
    },
    async cli(args) {
      const out = await new Deno.Command(defaultBin(), {
        args,
        env,
        clearEnv: true,
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
    hostPath: (host, path) => join(hostsRoot, host, path),
    plant: {
      async drbd(host, text) {
        const f = join(hostsRoot, host, "proc/drbd");
        if (text === null) await Deno.remove(f).catch(() => {});
        else await Deno.writeTextFile(f, text.endsWith("\n") ? text : `${text}\n`);
      },
      async program(host, program, absent = true) {
        const f = join(hostsRoot, host, SIM_ABSENT_FILE);
        const now = await Deno.readTextFile(f).then((t) => t.split("\n"), () => [] as string[]);
        const next = [...new Set(now.filter((l) => l && l !== program))];
        if (absent) next.push(program);
        await Deno.mkdir(dirname(f), { recursive: true });
        await Deno.writeTextFile(f, next.map((l) => `${l}\n`).join(""));
      },
    },
    async stats() {
      try {
        const text = await Deno.readTextFile(statsFile);
        return text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as ActionStats);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return [];
        throw e;
      }
    },
    async stop() {
      await Promise.allSettled([linstor.stop(), storpool.stop(), oned.stop()]);
      if (ownRoot) await Deno.remove(root, { recursive: true }).catch(() => {});
    },
  };
  return cluster;
}

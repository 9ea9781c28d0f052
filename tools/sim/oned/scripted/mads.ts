/**
 * The scripted oned's MAD side: what is installed under the remotes dir, and running the
 * driver programs exactly as oned's MADs run them (argv, stdin, working directory, environment,
 * deadline), judging each answer by the played version's conventions and recording every call.
 * The layers above (documents.ts, images.ts, vms.ts, vm_storage.ts) build on it.
 */
import { join } from "node:path";
import { OneblkError } from "../../../../lib/errors.ts";
import { encodeBase64Text, parseTransferLine } from "../../../../lib/one/args.ts";
import { datastoreFromNode } from "../../../../lib/one/views.ts";
import { parseXmlSync } from "../../../../lib/one/xml_saxes.ts";
import { profileFor } from "../../../../lib/addons/index.ts";
import type { Profile } from "../../../../lib/addons/index.ts";
import { VMM_OVERRIDES } from "../../../../lib/addons/index.ts";
import {
  type ActionStats,
  type Cluster,
  CLUSTER_DS,
  CLUSTER_HOSTS,
  driverCommand,
} from "../../cluster.ts";
import { type Convention, conventionFor, LOG_RE, onedErrorText } from "./conventions.ts";
import {
  type DriverCall,
  OnedFailure,
  type ProfileName,
  type ScriptedOnedOptions,
  type VmModel,
} from "./models.ts";
import { installSimLibvirt } from "../../libvirt.ts";

/** The cluster, profile and played version, and the driver programs run so far. */
export abstract class OnedMads {
  readonly cluster: Cluster;
  readonly profileName: ProfileName;
  readonly profile: Profile;
  readonly convention: Convention;
  readonly imageDs: number;
  readonly systemDs: number;
  /** Front-end host name (oned's HOSTNAME). */
  readonly frontend: string;
  /** Every driver program run, in order. */
  readonly calls: DriverCall[] = [];
  /** Which store the profile's datastores live on. */
  readonly store: "linstor" | "storpool";
  /** Complaints not tied to one driver call (e.g. links to unattached devices). */
  readonly complaints: string[] = [];
  protected readonly opts: ScriptedOnedOptions;
  /** Whether close() stops the cluster (set by ScriptedOned.start()). */
  protected ownsCluster = false;
  #seq = 0;
  #inFlight = 0;
  #statsOffset = 0;

  constructor(cluster: Cluster, opts: ScriptedOnedOptions) {
    this.cluster = cluster;
    this.opts = opts;
    this.profileName = opts.profile;
    this.profile = profileFor(opts.profile, cluster.env);
    this.convention = conventionFor(opts.version ?? "7.0.0", { dsDashStdin: opts.dsDashStdin });
    this.imageDs = opts.imageDs ?? CLUSTER_DS[opts.profile].image;
    this.systemDs = opts.systemDs ?? CLUSTER_DS[opts.profile].system;
    this.frontend = cluster.frontend;
    const ds = this.datastore(this.imageDs);
    this.store = this.profile.store(ds.template, ds.id).kind;
  }

  /** Write `$R/VERSION` and the front-end's working directory. Call once before use. */
  async prepare(): Promise<void> {
    await Deno.writeTextFile(join(this.cluster.remotes, "VERSION"), `${this.convention.version}\n`);
    await Deno.mkdir(this.feCwd, { recursive: true });
    // The hosts' stock scripts answer as the played version's do (deploy id: UUID or name).
    await installSimLibvirt(this.cluster.root, CLUSTER_HOSTS, this.convention.version);
    try {
      this.#statsOffset = (await Deno.stat(join(this.cluster.root, "stats.jsonl"))).size;
    } catch {
      this.#statsOffset = 0;
    }
  }

  /** Stop the cluster when this scripted oned started it (see start()). */
  async close(): Promise<void> {
    if (this.ownsCluster) await this.cluster.stop();
  }

  /** The simulated virsh (ONEBLK_VIRSH of every action run). */
  get virsh(): string {
    return join(this.cluster.root, "bin", "virsh");
  }

  /** Real local path of oned's working directory (`/var/lib/one` on the front-end). */
  get feCwd(): string {
    return this.cluster.hostPath(this.frontend, "/var/lib/one");
  }

  /** True when `$R/<kind>/<dir>/<name>` exists (the driver program oned would run). */
  installed(kind: "datastore" | "tm" | "vmm", dir: string, name: string): boolean {
    try {
      Deno.lstatSync(join(this.cluster.remotes, kind, dir, name));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The VMM override file (vmm/kvm/<name>) of this profile for a VM_MAD action (`save`,
   * `restore`, `deploy`, `attach_disk`, `detach_disk`), or null when none is installed: oned
   * then runs the host's stock script.
   */
  vmmOverride(action: string): string | null {
    return this.#override(action);
  }

  /** The VM snapshot override of this profile for `action`, or null when none is installed. */
  vmSnapshotOverride(
    action: "snapshotcreate" | "snapshotrevert" | "snapshotdelete",
  ): string | null {
    return this.#override(action);
  }

  /** The installed VMM override (vmm/kvm/<name>) of this profile for `action`, or null. */
  #override(action: string): string | null {
    const e = Object.entries(VMM_OVERRIDES).find(([, v]) =>
      v.driver === this.profileName && v.action === action
    );
    return e && this.installed("vmm", "kvm", e[0]) ? e[0] : null;
  }

  /**
   * Which of the named actions (`datastore/cp`, `tm/clone`, `vmm/save`) are not installed for
   * this profile. VMM actions count as present only as overrides of this profile.
   */
  missing(actions: string[]): string[] {
    const tm = this.datastore(this.systemDs).tmMad;
    const dsMad = this.datastore(this.imageDs).dsMad;
    return actions.filter((a) => {
      const [kind, name] = a.split("/");
      if (kind === "vmm") return this.vmmOverride(name) === null;
      if (kind === "datastore") return !this.installed("datastore", dsMad, name);
      return !this.installed("tm", tm, name);
    });
  }

  /** Datastore view from the simulated oned. */
  datastore(id: number) {
    const xml = this.cluster.oned.state.datastores.get(id);
    if (!xml) throw new OneblkError("not_found", `simulated oned has no datastore ${id}`);
    return datastoreFromNode(parseXmlSync(xml, "DATASTORE XML"));
  }

  /** Host id of a host name. */
  hostId(name: string): number {
    const i = (CLUSTER_HOSTS as readonly string[]).indexOf(name);
    if (i >= 0) return i;
    for (const [id, xml] of this.cluster.oned.state.hosts) {
      if (xml.includes(`<NAME>${name}</NAME>`)) return id;
    }
    throw new OneblkError("not_found", `simulated oned has no host ${name}`);
  }

  async #exec(
    op: string,
    kind: DriverCall["kind"],
    dir: string,
    script: string,
    args: string[],
    stdin: { text: string; mode: DriverCall["stdin"] } | undefined,
  ): Promise<DriverCall> {
    const path = join(this.cluster.remotes, kind, dir, script);
    const given = await this.opts.beforeCall?.({ seq: this.#seq + 1, op, kind, dir, script, args });
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.opts.timeoutMs ?? 120_000);
    const t0 = performance.now();
    this.#inFlight++;
    const enc = new TextEncoder();
    let out: { code: number; stdout: Uint8Array; stderr: Uint8Array };
    let how: Awaited<ReturnType<typeof driverCommand>> | undefined;
    try {
      if (given) {
        out = {
          code: given.code,
          stdout: enc.encode(given.stdout),
          stderr: enc.encode(given.stderr),
        };
      } else {
        how = await driverCommand(this.cluster, path, args);
        const child = new Deno.Command(how.program, {
          args: how.args,
          cwd: this.feCwd,
          env: { ...this.cluster.env, ONEBLK_VIRSH: this.virsh },
          clearEnv: true,
          stdin: "piped",
          stdout: "piped",
          stderr: "piped",
          signal: ac.signal,
        }).spawn();
        const w = child.stdin.getWriter();
        if (stdin) await w.write(enc.encode(stdin.text)).catch(() => {});
        await w.close().catch(() => {});
        out = await child.output();
      }
    } finally {
      clearTimeout(timer);
      this.#inFlight--;
    }
    const wallMs = Math.round((performance.now() - t0) * 10) / 10;
    const dec = new TextDecoder();
    const stdout = dec.decode(out.stdout);
    let stderr = dec.decode(out.stderr);
    if (ac.signal.aborted) stderr += `\nTimeout executing ${path}`;
    const ok = out.code === 0 && !ac.signal.aborted;
    const judged = onedErrorText(stderr, this.convention.errorStyle);
    const call: DriverCall = {
      seq: ++this.#seq,
      op,
      kind,
      dir,
      script,
      args,
      stdin: stdin?.mode ?? "none",
      code: out.code,
      ok,
      wallMs,
      stdout,
      stderr,
      info: ok ? "" : judged.info,
      logs: judged.logs,
      complaints: ok ? [] : judged.complaints,
    };
    if (ok && this.convention.errorStyle === "log") {
      const plain = stderr.split("\n").filter((l) => l.trim() && !LOG_RE.test(l));
      if (plain.length) call.complaints.push(`successful run wrote non-log stderr: ${plain[0]}`);
    }
    call.stats = given ? undefined : await this.#takeStats(call);
    if (how) call.usage = await how.read();
    call.rerun = () => this.#exec(op, kind, dir, script, args, stdin);
    this.calls.push(call);
    await this.opts.onCall?.(call);
    return call;
  }

  /** Attach the action's stats line (sequential runs only; concurrent runs share the file). */
  async #takeStats(call: DriverCall): Promise<ActionStats | undefined> {
    const file = join(this.cluster.root, "stats.jsonl");
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch {
      return undefined;
    }
    const fresh = new TextDecoder().decode(bytes.subarray(this.#statsOffset));
    this.#statsOffset = bytes.length;
    // With other programs still running the new lines cannot be told apart.
    if (this.#inFlight > 0) return undefined;
    const lines = fresh.split("\n").filter(Boolean);
    if (lines.length !== 1) return undefined;
    try {
      const s = JSON.parse(lines[0]) as ActionStats;
      return s.kind === call.kind ? s : undefined;
    } catch {
      return undefined;
    }
  }

  /** Throw the OnedFailure oned records for a failed driver call of `op`. */
  protected fail(op: string, what: string, call: DriverCall): never {
    // The runner prefixes its errors with `kind/driver/action:` already.
    const info = call.info.startsWith(`${what}:`) ? call.info : `${what}: ${call.info}`;
    throw new OnedFailure(`${op}: ${info}`, { call });
  }

  /** Run a datastore action (or a system datastore's tm monitor) as one_datastore.rb does. */
  async dsAction(
    op: string,
    action: string,
    dsId: number,
    payloadXml: string,
    id: number | string,
  ): Promise<DriverCall> {
    const ds = this.datastore(dsId);
    const sysMonitor = ds.isSystem && action === "monitor";
    const kind = sysMonitor ? "tm" : "datastore";
    const dir = sysMonitor ? ds.tmMad : ds.dsMad;
    if (!this.installed(kind, dir, action)) {
      throw new OnedFailure(
        `${op}: ${kind}/${dir}/${action} is not installed (action not implemented)`,
        { missing: true },
      );
    }
    const payload = encodeBase64Text(payloadXml);
    const style = this.convention.dsArgs;
    const args = style === "argv" ? [payload, String(id)] : style === "dash" ? ["-", String(id)] : [
      String(id),
    ];
    const stdin = style === "argv" ? undefined : { text: payload, mode: "base64" as const };
    const call = await this.#exec(op, kind, dir, action, args, stdin);
    if (call.ok && !["monitor", "export"].includes(action)) {
      const lines = call.stdout.split("\n").filter((l) => l !== "");
      if (lines.length > 1) {
        call.complaints.push(`stdout has ${lines.length} lines; oned reads only one`);
      }
    }
    return call;
  }

  /**
   * Run `$R/datastore/<dsMad>/<action>` with argv and stdin as given (the VMM MAD's backup step
   * runs the backup datastore's `backup` so, and the TM restore its `ls`).
   */
  async dsScript(
    op: string,
    dsMad: string,
    action: string,
    args: string[],
    stdin?: { text: string; mode: DriverCall["stdin"] },
  ): Promise<DriverCall> {
    if (!this.installed("datastore", dsMad, action)) {
      throw new OnedFailure(`${op}: datastore/${dsMad}/${action} is not installed`, {
        missing: true,
      });
    }
    return await this.#exec(op, "datastore", dsMad, action, args, stdin);
  }

  /** Resolve `cmd` of a transfer line to the script one_tm.rb runs (`clone.ssh` → `clone`). */
  resolveTm(tm: string, script: string): string | null {
    if (this.installed("tm", tm, script)) return script;
    const dot = script.indexOf(".");
    if (dot > 0 && this.installed("tm", tm, script.slice(0, dot))) return script.slice(0, dot);
    return null;
  }

  /** Run one TM command line (a transfer-file line or a VMM TM step). */
  async tmLine(
    op: string,
    line: string,
    stdin?: { text: string; mode: DriverCall["stdin"] },
  ): Promise<DriverCall> {
    const l = parseTransferLine(line);
    if (!l) throw new OneblkError("internal", `empty TM command in ${op}`);
    const script = this.resolveTm(l.tm, l.script);
    if (!script) {
      const base = join(this.cluster.remotes, "tm", l.tm);
      const tried = l.sysTm
        ? `Driver path '${base}/${l.script}' nor '${base}/${l.action}' exists`
        : `Driver path '${base}/${l.script}' does not exist`;
      throw new OnedFailure(`${op}: ${tried} (action not implemented)`, { missing: true });
    }
    return await this.#exec(op, "tm", l.tm, script, l.args, stdin);
  }

  /**
   * Run a transfer file: write it where oned writes it, then run its lines in order,
   * stopping at the first failure (OnedFailure).
   */
  async transfer(op: string, vm: VmModel, suffix: string, lines: string[]): Promise<DriverCall[]> {
    const dir = this.cluster.hostPath(this.frontend, `/var/lib/one/vms/${vm.id}`);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      join(dir, `transfer.${vm.transferSeq++}.${suffix}`),
      lines.join("\n") + "\n",
    );
    const out: DriverCall[] = [];
    for (const line of lines) {
      const call = await this.tmLine(op, line);
      out.push(call);
      if (!call.ok) this.fail(op, `${call.script} ${call.args.join(" ")}`, call);
    }
    return out;
  }

  /** Run a VMM local override (`-l action=script`) with base64 driver message on stdin. */
  async vmmLocal(op: string, script: string, args: string[], dataXml: string): Promise<DriverCall> {
    const call = await this.#exec(op, "vmm", "kvm", script, args, {
      text: encodeBase64Text(dataXml),
      mode: "base64",
    });
    if (!call.ok) this.fail(op, `vmm/kvm/${script}`, call);
    return call;
  }

  /** Record a complaint not tied to one driver call. */
  protected complain(op: string, text: string): void {
    this.complaints.push(`${op}: ${text}`);
  }

  /** Every complaint: per call and global. */
  allComplaints(): string[] {
    return [
      ...this.calls.flatMap((c) =>
        c.complaints.map((t) => `${c.op}: ${c.kind}/${c.dir}/${c.script}: ${t}`)
      ),
      ...this.complaints,
    ];
  }
}

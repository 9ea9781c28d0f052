/**
 * Checks of the front-end: oned (XML-RPC and credentials), the oneblk datastores, the remotes
 * tree next to `oneblk actions`, and oned.conf's VM_MAD `-l` overrides next to the tree.
 */
import { posix } from "node:path";
import { errorLine, isKind } from "../errors.ts";
import { VMM_OVERRIDES } from "../addons/index.ts";
import { parseTemplate } from "../one/template.ts";
import { safeEndpoint } from "../one/xmlrpc.ts";
import { type Check, type Finding, findings } from "./types.ts";

/** oned answers and accepts our credentials (one.system.version authenticates). */
export const onedCheck: Check = {
  id: "oned",
  title: "oned answers over XML-RPC and accepts the credentials (ONE_XMLRPC, ONE_AUTH)",
  async run(env) {
    const f = findings("oned");
    let client;
    try {
      client = await env.one();
    } catch (e) {
      return [f.error(
        "oned",
        errorLine(e),
        "give the user that runs the drivers (oneadmin) a ~/.one/one_auth with user:password, " +
          "or set ONE_AUTH to such a file",
      )];
    }
    const where = safeEndpoint(client.endpoint);
    try {
      const v = await client.systemVersion();
      return [f.ok(where, `OpenNebula ${v}, credentials accepted`)];
    } catch (e) {
      if (isKind(e, "config")) {
        return [f.error(
          where,
          `the credentials are refused: ${errorLine(e)}`,
          "put the right user:password in ONE_AUTH (or ~/.one/one_auth)",
        )];
      }
      return [f.error(
        where,
        `oned does not answer: ${errorLine(e)}`,
        "start oned, or point ONE_XMLRPC (or ~/.one/one_endpoint) at it",
      )];
    }
  },
};

/** The datastores that use our drivers, and whether their store settings are valid. */
export const datastoresCheck: Check = {
  id: "datastores",
  title: "datastores using linstor, linstor_un or storpool, and their store settings",
  needs: ["oned"],
  async run(env) {
    const f = findings("datastores");
    const dss = await env.datastores();
    if (!dss.length) {
      return [f.warning(
        "oned",
        "no datastore uses a oneblk driver (DS_MAD/TM_MAD linstor, linstor_un or storpool)",
        "create the image and system datastores (README: trying it by hand shows templates)",
      )];
    }
    return dss.map((ds) => {
      const type = ds.view.typeName || "?";
      if (ds.store instanceof Error) {
        return f.error(
          ds.label,
          `${ds.driver} ${type}: ${errorLine(ds.store)}`,
          `fix the datastore's attributes: onedatastore update ${ds.view.id}`,
        );
      }
      return f.ok(ds.label, `${ds.driver} ${type} datastore on ${ds.store.kind}`);
    });
  },
};

/** The front-end's remotes tree holds every action `oneblk actions` lists, all runnable. */
export const remotesCheck: Check = {
  id: "remotes",
  title: "the remotes tree holds every action `oneblk actions` lists, linked to a runnable binary",
  async run(env) {
    const f = findings("remotes");
    const r = await env.remotes();
    const subject = r.dir;
    const out: Finding[] = [];
    let used: string[] = [];
    try {
      used = [...new Set((await env.datastores()).map((d) => d.driver))];
    } catch {
      // oned unreachable: its own check says so; judge the tree alone
    }
    const drivers = [...new Set([...r.drivers, ...used])].sort();
    const install = (extra = "") =>
      `oneblk install --remotes ${r.dir} --drivers ${drivers.join(",") || "<drivers>"}` +
      `${r.bin ? ` --bin ${r.bin}` : ""}${r.stubs ? " --stubs" : ""}${extra}`;
    if (!r.drivers.length) {
      return [f.error(subject, "no oneblk action is installed here", install())];
    }
    if (r.binProblem) out.push(f.error(subject, r.binProblem, install()));
    for (const d of used.filter((d) => !r.drivers.includes(d))) {
      out.push(f.error(
        subject,
        `datastores use ${d}, but none of its actions is installed`,
        install(),
      ));
    }
    const by = (s: string) => r.entries.filter((e) => e.state === s);
    const list = (es: { rel: string }[]) =>
      es.slice(0, 5).map((e) => e.rel).join(", ") + (es.length > 5 ? `, … (${es.length})` : "");
    const missing = by("missing"), stale = by("stale"), foreign = by("foreign");
    if (missing.length) {
      out.push(
        f.error(subject, `${missing.length} action(s) missing: ${list(missing)}`, install()),
      );
    }
    if (stale.length) {
      out.push(f.warning(
        subject,
        `${stale.length} entr${stale.length > 1 ? "ies" : "y"} of another oneblk binary or ` +
          `mode: ${list(stale)} (${stale[0].reason})`,
        install(),
      ));
    }
    if (foreign.length) {
      out.push(f.warning(
        subject,
        `${foreign.length} action path(s) hold something else, which oned runs instead of ` +
          `oneblk: ${list(foreign)}`,
        install(" --force (keeps a backup of each replaced file)"),
      ));
    }
    if (!out.length) {
      out.push(f.ok(
        subject,
        `${r.entries.length} actions for ${r.drivers.join(", ")}, ` +
          `${r.stubs ? "stubs running" : "links to"} ${r.bin}`,
      ));
    }
    return out;
  },
};

/** The value of each `-x LIST` option in a MAD's ARGUMENTS, split at commas. */
function madLists(args: string, opt: string): string[] {
  const words = args.split(/\s+/).filter(Boolean);
  const out: string[] = [];
  words.forEach((w, i) => {
    if (w === opt && words[i + 1]) out.push(...words[i + 1].split(",").map((x) => x.trim()));
  });
  return out.filter(Boolean);
}

/**
 * oned.conf registers every driver the datastores use: TM_MAD and DATASTORE_MAD `-d` lists,
 * DATASTORE_MAD `-s` for system datastores, and a TM_MAD_CONF / DS_MAD_CONF per driver.
 */
export const onedConfCheck: Check = {
  id: "oned-conf",
  title: "oned.conf registers the drivers in use (-d/-s lists, TM_MAD_CONF, DS_MAD_CONF)",
  async run(env) {
    const f = findings("oned-conf");
    const conf = await env.onedConf();
    if ("error" in conf) {
      return [f.warning(
        conf.path,
        `cannot read oned.conf (${conf.error}): driver registration and VM_MAD -l overrides ` +
          "are not checked",
        "run the doctor where oned.conf is readable, or pass --oned-conf PATH",
      )];
    }
    let attrs;
    try {
      attrs = parseTemplate(conf.text, "oned.conf");
    } catch (e) {
      return [f.error(conf.path, errorLine(e), "fix the syntax of oned.conf")];
    }
    // drivers: from the datastores when oned answers, else from the remotes tree
    const want = new Map<string, { image: boolean; system: boolean }>();
    try {
      for (const ds of await env.datastores()) {
        const w = want.get(ds.driver) ?? { image: false, system: false };
        if (ds.view.isSystem) w.system = true;
        else w.image = true;
        want.set(ds.driver, w);
      }
    } catch {
      for (const d of (await env.remotes()).drivers) want.set(d, { image: true, system: false });
    }
    const vec = (name: string) => attrs.filter((a) => a.name === name && a.vector);
    const args = (name: string) => vec(name).map((a) => a.vector!.ARGUMENTS ?? "").join(" ");
    const tmD = madLists(args("TM_MAD"), "-d");
    const dsD = madLists(args("DATASTORE_MAD"), "-d");
    const dsS = madLists(args("DATASTORE_MAD"), "-s");
    const named = (name: string, d: string) =>
      vec(name).some((a) => (a.vector!.NAME ?? "").toLowerCase() === d);
    const out: Finding[] = [];
    const fix = `add it as \`oneblk install --dry-run\` prints, then restart oned`;
    for (const [d, w] of [...want].sort()) {
      const missing: string[] = [];
      if (!tmD.includes(d)) missing.push("TM_MAD's -d list");
      if (!named("TM_MAD_CONF", d)) missing.push("a TM_MAD_CONF");
      if (w.image && !dsD.includes(d)) missing.push("DATASTORE_MAD's -d list");
      if (w.image && !named("DS_MAD_CONF", d)) missing.push("a DS_MAD_CONF");
      if (missing.length) {
        out.push(f.error(
          `driver ${d}`,
          `oned.conf lacks it in ${missing.join(", ")}: its datastores fail ("driver not ` +
            'available")',
          fix,
        ));
      } else if (w.system && !dsS.includes(d)) {
        out.push(f.warning(
          `driver ${d}`,
          "DATASTORE_MAD's -s list lacks it: oned does not monitor its system datastores' " +
            "capacity",
          fix,
        ));
      } else out.push(f.ok(`driver ${d}`, "registered in oned.conf"));
    }
    return out;
  },
};

/** `-l` overrides of one VM_MAD: the hypervisor directory and action → script (null: stock). */
export interface VmMadLocal {
  name: string;
  hypervisor: string;
  local: Map<string, string | null>;
  /** How many -l options ARGUMENTS has (one_vmm_exec keeps only the last). */
  localOptions: number;
  keepSnapshots: boolean;
}

/** Options of one_vmm_exec that take a value, and those whose value is optional. */
const REQUIRED_VALUE = new Set(["-l", "--local", "-d", "--delegate", "-s", "--shell"]);
const OPTIONAL_VALUE = new Set(["-t", "--threads", "-r", "--retries", "-w", "--timeout"]);

/**
 * The VM_MAD entries of oned.conf with one_vmm_exec's reading of ARGUMENTS: words split on
 * blanks, `-l LIST` (`action[=script],…`; the last -l wins), the first other word is the
 * hypervisor (its directory under vmm/).
 */
export function parseVmMads(text: string): VmMadLocal[] {
  const out: VmMadLocal[] = [];
  for (const a of parseTemplate(text, "oned.conf")) {
    if (a.name !== "VM_MAD" || !a.vector) continue;
    const words = (a.vector.ARGUMENTS ?? "").split(/\s+/).filter(Boolean);
    let hypervisor = "";
    let list: string | undefined;
    let localOptions = 0;
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      const eq = /^(--[a-z]+)=(.*)$/.exec(w);
      const opt = eq ? eq[1] : w;
      let value: string | undefined = eq ? eq[2] : undefined;
      if (REQUIRED_VALUE.has(opt) && value === undefined) value = words[++i];
      else if (
        OPTIONAL_VALUE.has(opt) && value === undefined && words[i + 1] &&
        !words[i + 1].startsWith("-")
      ) value = words[++i];
      if (opt === "-l" || opt === "--local") {
        localOptions++;
        list = value ?? "";
      } else if (!w.startsWith("-") && !hypervisor) hypervisor = w;
    }
    const local = new Map<string, string | null>();
    for (const item of (list ?? "").split(",").map((s) => s.trim()).filter(Boolean)) {
      const m = /^([^=]+?)\s*(?:=\s*(.*))?$/.exec(item);
      if (m) local.set(m[1].trim().toLowerCase(), m[2]?.trim() || null);
    }
    out.push({
      name: a.vector.NAME ?? "",
      hypervisor,
      local,
      localOptions,
      keepSnapshots: /^yes$/i.test(a.vector.KEEP_SNAPSHOTS ?? ""),
    });
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * oned.conf's VM_MAD `-l` overrides: every script it names is in the remotes tree (a missing
 * one fails that VM operation for every VM of the hypervisor), told apart by what provides it.
 */
export const vmmOverridesCheck: Check = {
  id: "vmm-overrides",
  title: "oned.conf VM_MAD -l overrides exist in the remotes tree (oneblk's or the add-ons')",
  async run(env) {
    const f = findings("vmm-overrides");
    const conf = await env.onedConf();
    if ("error" in conf) return []; // oned-conf says so
    let mads: VmMadLocal[];
    try {
      mads = parseVmMads(conf.text);
    } catch {
      return []; // oned-conf says so
    }
    const remotes = (await env.remotes()).dir;
    const out: Finding[] = [];
    for (const m of mads) {
      const subject = `VM_MAD ${m.name}`;
      if (m.localOptions > 1) {
        out.push(f.warning(
          subject,
          `ARGUMENTS has ${m.localOptions} -l options; one_vmm_exec keeps only the last`,
          "merge them into one -l option (comma-separated)",
        ));
      }
      let ours = 0;
      for (const [action, script] of m.local) {
        const file = script ?? action;
        const path = posix.join(remotes, "vmm", m.hypervisor, file);
        const known = VMM_OVERRIDES[file];
        if (env.vmmOverrides.has(file)) ours++;
        if (await exists(path)) continue;
        const what = `-l ${action}${script ? `=${script}` : ""}: ${path} does not exist, so ` +
          `every ${action} of a ${m.name} VM fails`;
        if (env.vmmOverrides.has(file)) {
          out.push(f.error(
            subject,
            what,
            `oneblk install --remotes ${remotes} --drivers ${known?.driver ?? "<driver>"}`,
          ));
        } else if (known) {
          out.push(f.error(
            subject,
            what,
            `oneblk does not provide ${file} (the ${known.action} override of ` +
              `addon-${known.driver}) yet: remove ${action}=${file} from -l, or keep the ` +
              "add-on's script there",
          ));
        } else {
          out.push(f.error(subject, what, `put the script there or remove ${action} from -l`));
        }
      }
      const snapOverride = ["snapshotcreate", "snapshotrevert", "snapshotdelete"].some((a) =>
        env.vmmOverrides.has(m.local.get(a) ?? "")
      );
      if (snapOverride && !m.keepSnapshots) {
        out.push(f.warning(
          subject,
          "oneblk's VM snapshot overrides are in -l but KEEP_SNAPSHOTS is not YES",
          `set KEEP_SNAPSHOTS = "YES" in this VM_MAD (snapshots are kept across stop/resume)`,
        ));
      }
      if (m.local.size && !out.some((x) => x.subject === subject)) {
        out.push(f.ok(
          subject,
          `${m.local.size} -l override(s) present in the remotes tree` +
            (ours ? ` (${ours} of them oneblk's)` : ""),
        ));
      }
    }
    if (!out.length) out.push(f.ok(conf.path, "no VM_MAD -l overrides"));
    return out;
  },
};

/**
 * From what was read (facts.ts) to the plan of `oneblk adopt drbd`: every number LINSTOR needs
 * (name, port, peer slots, volume numbers, minors, net sizes, node ids, storage pools, backing
 * volume names) with where it came from, and every step in order — LINSTOR REST calls and host
 * steps — each marked done when an earlier run did it. Anything that does not add up stops here,
 * before any change, with one line saying what to do.
 *
 * Sizes: LINSTOR wants the net size in KiB. It is read from the running device
 * (`blockdev --getsize64 /dev/drbdN`, which must divide by 1024) and computed independently
 * from the backing size and the peer slots with DRBD's internal meta-data layout
 * (lib/drbd/metadata.ts); the two must agree. Peer slots come from `--peer-slots`, else from
 * the meta data of a host where the resource is down, else are inferred from the two sizes.
 */
import { OneblkError } from "../errors.ts";
import {
  bytesToKiB,
  grossSizeKiB,
  inferPeerSlots,
  type MetadataLayout,
  netSizeKiB,
} from "../drbd/metadata.ts";
import {
  linstorResourceNameProblem,
  proposeLinstorResourceName,
  sameLinstorName,
} from "../drbd/names.ts";
import {
  ADOPTED_PROP,
  type AdoptFacts,
  DISABLED_SUFFIX,
  type HostFacts,
  nameKey,
  type PoolJson,
} from "./facts.ts";

/** The property that sets the peer slots of new resources. */
export const PEER_SLOTS_PROP = "PeerSlotsNewResource";
/** The volume-definition property naming the existing backing volume. */
export const OVERRIDE_VLM_ID = "OverrideVlmId";

/** Choices the user made. */
export interface PlanOptions {
  /** Storage pool on every node (default: the pool whose VG holds the backing volume). */
  storagePool?: string;
  /** Peer slots of the existing meta data (default: meta data, else inferred). */
  peerSlots?: number;
}

/** A REST call of the plan. */
export interface RestCall {
  method: "POST" | "PUT" | "DELETE";
  path: string;
  body?: unknown;
}

/** One step. */
export interface Step {
  kind: "controller" | "host";
  /** One line saying what it does. */
  what: string;
  /** Done already (an earlier run): skipped. */
  done: boolean;
  call?: RestCall;
  /** Host step: rename a file, or run a command. */
  host?: string;
  move?: { from: string; to: string };
  argv?: string[];
  /** This step creates LINSTOR resources (after it, LINSTOR may touch the meta data). */
  createsResources?: boolean;
}

/** A volume as it will be adopted. */
export interface PlannedVolume {
  vnr: number;
  minor: number;
  disk: string;
  netKiB: number;
  /** How the net size was established. */
  netFrom: string;
  backingBytes: number;
  /** The backing volume's name for OverrideVlmId (undefined: LINSTOR's own naming). */
  vlmId?: string;
  /** LINSTOR's gross size (net + meta data) in KiB. */
  grossKiB: number;
}

/** A node as it will be adopted. */
export interface PlannedNode {
  node: string;
  nodeId: number;
  pool: string;
  online: boolean;
}

/** The plan. */
export interface AdoptPlan {
  /** The DRBD resource name. */
  resource: string;
  /** The LINSTOR resource name. */
  name: string;
  readFrom: string;
  port: number;
  peerSlots: number;
  peerSlotsFrom: string;
  /** The file's net.shared-secret is carried over (never shown). */
  secret: boolean;
  volumes: PlannedVolume[];
  nodes: PlannedNode[];
  steps: Step[];
  warnings: string[];
}

function stop(msg: string): never {
  throw new OneblkError("input", msg);
}

/** `/dev/VG/LV`, `/dev/mapper/VG-LV` (dashes doubled) or `/dev/zvol/POOL…/NAME`. */
export function parseBackingPath(
  path: string,
): { kind: "lvm"; vg: string; lv: string } | { kind: "zfs"; pool: string; name: string } | null {
  const z = /^\/dev\/zvol\/(.+)\/([^/]+)$/.exec(path);
  if (z) return { kind: "zfs", pool: z[1], name: z[2] };
  const m = /^\/dev\/mapper\/((?:[^-/]|--)+)-((?:[^-/]|--)+)$/.exec(path);
  if (m) return { kind: "lvm", vg: m[1].replace(/--/g, "-"), lv: m[2].replace(/--/g, "-") };
  const l = /^\/dev\/([^/]+)\/([^/]+)$/.exec(path);
  const notVg = ["mapper", "disk", "drbd", "zvol", "md", "bcache", "block", "char", "shm"];
  if (l && !notVg.includes(l[1])) return { kind: "lvm", vg: l[1], lv: l[2] };
  return null;
}

const LVM_KINDS = ["LVM", "LVM_THIN"];
const ZFS_KINDS = ["ZFS", "ZFS_THIN"];

/** The volume group / zpool a LINSTOR pool uses. */
function poolBase(p: PoolJson): string | undefined {
  const props = p.props ?? {};
  if (LVM_KINDS.includes(p.provider_kind)) {
    return props["StorDriver/LvmVg"] ?? props["StorDriver/StorPoolName"]?.split("/")[0];
  }
  if (ZFS_KINDS.includes(p.provider_kind)) {
    return props["StorDriver/ZPool"] ?? props["StorDriver/ZPoolThin"] ??
      props["StorDriver/StorPoolName"];
  }
  return undefined;
}

/** The storage pool of one node: the given one, or the one whose VG/zpool holds the disk. */
function choosePool(
  facts: AdoptFacts,
  node: string,
  disk: string,
  given: string | undefined,
): string {
  const back = parseBackingPath(disk);
  if (!back) {
    stop(
      `${disk} is not an LVM logical volume (/dev/VG/LV) or a ZFS volume (/dev/zvol/POOL/NAME); ` +
        `LINSTOR can only take over a backing volume of one of its storage pools: migrate it by hand`,
    );
  }
  const base = back.kind === "lvm" ? back.vg : back.pool;
  const kinds = back.kind === "lvm" ? LVM_KINDS : ZFS_KINDS;
  const onNode = facts.linstor.pools.filter((p) => nameKey(p.node_name) === nameKey(node));
  if (given) {
    const p = onNode.find((x) => sameLinstorName(x.storage_pool_name, given));
    if (!p) stop(`storage pool ${given} does not exist on node ${node}`);
    if (!kinds.includes(p.provider_kind) || poolBase(p) !== base) {
      stop(
        `storage pool ${given} on ${node} is ${p.provider_kind} on ${poolBase(p) ?? "?"}, but ` +
          `${disk} is in ${
            back.kind === "lvm" ? "VG" : "zpool"
          } ${base}: LINSTOR would make a new ` +
          `volume instead of taking over this one; give a pool on ${base}`,
      );
    }
    return p.storage_pool_name;
  }
  const match = onNode.filter((p) => kinds.includes(p.provider_kind) && poolBase(p) === base);
  if (match.length === 1) return match[0].storage_pool_name;
  if (match.length === 0) {
    stop(
      `no storage pool on node ${node} uses ${back.kind === "lvm" ? "VG" : "zpool"} ${base} ` +
        `(holding ${disk}): create one (linstor storage-pool create ${
          back.kind === "lvm" ? "lvm" : "zfs"
        } ${node} POOL ${base}) or give --storage-pool`,
    );
  }
  stop(
    `several storage pools on node ${node} use ${base} (${
      match.map((p) => p.storage_pool_name).join(", ")
    }): choose one with --storage-pool`,
  );
}

/** The volume name LINSTOR gives volume `vnr` of `name` by itself. */
function linstorVolumeName(name: string, vnr: number): string {
  return `${name}_${String(vnr).padStart(5, "0")}`;
}

/** Peer slots and where they come from. */
function choosePeerSlots(
  facts: AdoptFacts,
  opts: PlanOptions,
): { slots: number; from: string; layout: MetadataLayout; dumpNetKiB?: number } {
  const dumps = facts.hosts.flatMap((h) =>
    (h.metadata ?? []).flatMap((m) => (m.dump ? [{ host: h.host, ...m, dump: m.dump }] : []))
  );
  const layout = dumps[0]?.dump.layout ?? {};
  const dumpNet = dumps[0]?.dump.netKiB;
  for (const d of dumps) {
    if (d.dump.peerSlots !== dumps[0].dump.peerSlots) {
      stop(
        `the meta data disagree on peer slots (${
          dumps.map((x) => `${x.host} ${x.dump.peerSlots}`)
            .join(", ")
        }): adopt by hand`,
      );
    }
  }
  if (opts.peerSlots !== undefined) {
    const n = opts.peerSlots;
    if (!Number.isInteger(n) || n < 1 || n > 31) stop(`--peer-slots must be 1..31, not ${n}`);
    if (dumps.length && dumps[0].dump.peerSlots !== n) {
      stop(
        `--peer-slots ${n} disagrees with the meta data on ${dumps[0].host} ` +
          `(max-peers ${dumps[0].dump.peerSlots})`,
      );
    }
    return { slots: n, from: "--peer-slots", layout, dumpNetKiB: dumpNet };
  }
  if (facts.res.syntax === "8.4") {
    return { slots: 1, from: "DRBD 8.4 meta data (one slot)", layout, dumpNetKiB: dumpNet };
  }
  if (dumps.length) {
    return {
      slots: dumps[0].dump.peerSlots,
      from: `meta data on ${dumps[0].host}`,
      layout,
      dumpNetKiB: dumpNet,
    };
  }
  // inferred from the first volume's backing and running sizes
  const v0 = facts.res.volumes[0];
  const withDev = facts.hosts.flatMap((h) =>
    h.volumes.filter((v) => v.vnr === v0.number && v.deviceBytes !== null && v.backingBytes)
      .map((v) => ({ host: h.host, ...v }))
  );
  const errs = facts.hosts.flatMap((h) =>
    (h.metadata ?? []).flatMap((m) => (m.error ? [`${h.host}: ${m.error}`] : []))
  );
  if (!withDev.length) {
    stop(
      `resource ${facts.res.name} is down and its meta data could not be read (${
        errs.join("; ") || "no host"
      }): give --peer-slots N (drbdmeta … dump-md shows max-peers)`,
    );
  }
  const d = withDev[0];
  const net = bytesToKiB(d.deviceBytes!, `/dev/drbd${d.minor} on ${d.host}`);
  const inf = inferPeerSlots(d.backingBytes!, net);
  if (inf.kind === "exact") {
    return { slots: inf.peerSlots, from: `inferred from the sizes on ${d.host}`, layout: {} };
  }
  if (inf.kind === "ambiguous") {
    stop(
      `the sizes on ${d.host} fit ${inf.candidates.length} peer-slot counts (${
        inf.candidates.join(", ")
      }): give --peer-slots N (drbdmeta … dump-md of the stopped resource shows max-peers)`,
    );
  }
  stop(
    `no peer-slot count explains /dev/drbd${d.minor} on ${d.host} (${net} KiB) on a ` +
      `${d.backingBytes}-byte ${d.disk} (closest: ${inf.closest.peerSlots} slots give ` +
      `${inf.closest.netKiB} KiB): external meta data, a disk-size limit or an unfinished resize? ` +
      `adopt by hand`,
  );
}

/** The net size of one volume, read and computed; they must agree. */
function planVolume(
  facts: AdoptFacts,
  vnr: number,
  slots: number,
  layout: MetadataLayout,
  dumpNetKiB: number | undefined,
  name: string,
): PlannedVolume {
  const per = facts.hosts.map((h) => ({ host: h.host, v: h.volumes.find((x) => x.vnr === vnr)! }));
  const { minor, disk } = per[0].v;
  for (const p of per) {
    if (p.v.backingBytes === null) stop(`${p.host} has no ${disk} (volume ${vnr})`);
  }
  const sizes = [...new Set(per.map((p) => p.v.backingBytes!))];
  if (sizes.length > 1) {
    stop(
      `${disk} differs in size between the hosts (${
        per.map((p) => `${p.host} ${p.v.backingBytes}`).join(", ")
      } bytes): make them equal (lvresize) and resize the DRBD device first`,
    );
  }
  const backingBytes = sizes[0];
  const computed = netSizeKiB(backingBytes, slots, layout);
  const running = per.filter((p) => p.v.deviceBytes !== null).map((p) => ({
    host: p.host,
    kib: bytesToKiB(p.v.deviceBytes!, `/dev/drbd${minor} on ${p.host}`),
  }));
  for (const r of running) {
    if (r.kib !== running[0].kib) {
      stop(
        `/dev/drbd${minor} has different sizes on ${running[0].host} (${running[0].kib} KiB) ` +
          `and ${r.host} (${r.kib} KiB): let DRBD finish its resize first`,
      );
    }
    if (r.kib !== computed) {
      stop(
        `/dev/drbd${minor} on ${r.host} has ${r.kib} KiB, but a ${backingBytes}-byte ${disk} ` +
          `with ${slots} peer slots gives ${computed} KiB: check --peer-slots (or external meta ` +
          `data, a disk-size limit) before LINSTOR recreates meta data`,
      );
    }
  }
  let netFrom = `computed from ${backingBytes} bytes of ${disk} and ${slots} peer slots`;
  if (running.length) {
    netFrom = `blockdev --getsize64 /dev/drbd${minor} on ${
      running.map((r) => r.host).join(", ")
    }, equal to the computed size`;
  } else if (dumpNetKiB !== undefined) {
    if (dumpNetKiB !== computed) {
      stop(
        `the meta data of ${disk} record ${dumpNetKiB} KiB (la-size-sect), but ${slots} peer ` +
          `slots on ${backingBytes} bytes give ${computed} KiB: adopt by hand`,
      );
    }
    netFrom = "the meta data (la-size-sect), equal to the computed size";
  }
  const grossKiB = grossSizeKiB(computed, slots, layout);
  if (grossKiB * 1024 > backingBytes) {
    stop(
      `LINSTOR would need ${grossKiB} KiB for ${computed} KiB net with ${slots} peer slots, ` +
        `more than the ${backingBytes} bytes of ${disk}: adopt by hand`,
    );
  }
  const back = parseBackingPath(disk);
  const id = back ? (back.kind === "lvm" ? back.lv : back.name) : undefined;
  return {
    vnr,
    minor,
    disk,
    netKiB: computed,
    netFrom,
    backingBytes,
    vlmId: id && id !== linstorVolumeName(name, vnr) ? id : undefined,
    grossKiB,
  };
}

/**
 * Constant script: rename DRBD resource $1 to $2 when the kernel knows it as $1 (a repeated run
 * finds it renamed already).
 */
export const RENAME_SCRIPT = 'drbdsetup status "$1" >/dev/null 2>&1 || exit 0\n' +
  'exec drbdsetup rename-resource "$1" "$2"';

const rdPath = (name: string) => `/v1/resource-definitions/${encodeURIComponent(name)}`;

/** Compute the plan. Throws OneblkError("input") with one line when adoption must not go on. */
export function makePlan(facts: AdoptFacts, opts: PlanOptions = {}): AdoptPlan {
  const { res, name, linstor } = facts;
  const warnings = [...res.warnings];

  // the name
  const problem = linstorResourceNameProblem(name);
  if (problem) {
    const proposal = proposeLinstorResourceName(name);
    stop(
      `LINSTOR refuses the resource name ${problem}: rerun with --rename ${proposal} (oneblk ` +
        `then renames the running resource with drbdsetup rename-resource on every node)`,
    );
  }
  // the nodes
  const missing = res.hosts.filter((h) => !linstor.nodes.has(nameKey(h.name)));
  if (missing.length) {
    stop(
      `${missing.map((h) => h.name).join(", ")} ${missing.length > 1 ? "are" : "is"} not a ` +
        `LINSTOR node: register ${missing.length > 1 ? "them" : "it"} first (linstor node create)`,
    );
  }
  if (res.syntax === "8.4" && res.hosts.length > 2) {
    stop("a DRBD 8.4 resource has one peer slot: it cannot have more than two hosts");
  }

  const { slots, from, layout, dumpNetKiB } = choosePeerSlots(facts, opts);
  if (slots < res.hosts.length - 1) {
    stop(
      `${slots} peer slot(s) cannot connect ${res.hosts.length} hosts: the meta data need at ` +
        `least ${res.hosts.length - 1}`,
    );
  }
  if (res.syntax === "8.4") {
    warnings.push(
      `${res.name} has DRBD 8.4 meta data (one peer slot): a third diskful replica needs new ` +
        `meta data`,
    );
  }
  const volumes = res.volumes.map((v) =>
    planVolume(facts, v.number, slots, layout, dumpNetKiB, name)
  );
  const nodes: PlannedNode[] = res.hosts.map((h) => {
    const pools = [
      ...new Set(volumes.map((v) => choosePool(facts, h.name, v.disk, opts.storagePool))),
    ];
    if (pools.length > 1) {
      stop(
        `the volumes of ${res.name} on ${h.name} are in different storage pools ` +
          `(${pools.join(", ")}); LINSTOR puts a resource's volumes in one pool: adopt by hand`,
      );
    }
    const n = linstor.nodes.get(nameKey(h.name))!;
    return { node: n.name, nodeId: h.nodeId, pool: pools[0], online: n.online };
  });
  const secret = res.sections.net?.["shared-secret"];
  for (const [k, v] of Object.entries(res.sections.net ?? {})) {
    if (k === "shared-secret" || k === "cram-hmac-alg" || (k === "protocol" && v === "C")) continue;
    warnings.push(
      `net option ${k} is not carried over: set DrbdOptions/Net/${k} on ${name} if needed`,
    );
  }
  for (const sec of Object.keys(res.sections)) {
    if (sec !== "net" && Object.keys(res.sections[sec]).length) {
      warnings.push(
        `the ${sec} section is not carried over: set the DrbdOptions by hand if needed`,
      );
    }
  }

  const steps = planSteps(facts, { name, slots, volumes, nodes, secret });
  return {
    resource: res.name,
    name,
    readFrom: facts.readFrom,
    port: res.port,
    peerSlots: slots,
    peerSlotsFrom: from,
    secret: secret !== undefined,
    volumes,
    nodes,
    steps,
    warnings,
  };
}

/** The steps, each checked against what exists (done, to do, or a conflict that stops). */
function planSteps(
  facts: AdoptFacts,
  p: {
    name: string;
    slots: number;
    volumes: PlannedVolume[];
    nodes: PlannedNode[];
    secret?: string;
  },
): Step[] {
  const { res, linstor } = facts;
  const { name, slots } = p;
  const rd = linstor.rd;
  const steps: Step[] = [];
  const origin = facts.file.host
    ? `${facts.file.host}:${facts.file.path}`
    : `${res.hosts[0].name}:/etc/drbd.d/${res.name}.res`;

  // 1. resource definition with the port (and the peer slots of its DRBD data)
  if (rd) {
    if (rd.props?.[ADOPTED_PROP] === undefined) {
      stop(
        `LINSTOR already has a resource definition ${rd.name} that oneblk adopt did not make: ` +
          `choose another name with --rename, or remove it`,
      );
    }
    const port = rd.layer_data?.find((l) => l.type === "DRBD")?.data?.port;
    if (port !== undefined && port !== res.port) {
      stop(`resource definition ${rd.name} has port ${port}, not ${res.port}: remove it first`);
    }
  }
  const body: Record<string, unknown> = {
    resource_definition: { name, props: { [ADOPTED_PROP]: origin } },
    drbd_port: res.port,
    drbd_peer_slots: slots,
  };
  if (p.secret !== undefined) body.drbd_secret = p.secret;
  steps.push({
    kind: "controller",
    what: `create resource definition ${name}: port ${res.port}, peer slots ${slots}` +
      (p.secret !== undefined ? ", the file's shared secret" : ""),
    done: rd !== null,
    call: { method: "POST", path: "/v1/resource-definitions", body },
  });
  // 2. PeerSlotsNewResource (and the DRBD data's slots, if an earlier run left them otherwise)
  const rdSlots = rd?.layer_data?.find((l) => l.type === "DRBD")?.data?.peer_slots;
  steps.push({
    kind: "controller",
    what: `set ${PEER_SLOTS_PROP}=${slots} on ${name}`,
    done: rd !== null && rd.props?.[PEER_SLOTS_PROP] === String(slots) &&
      (rdSlots === undefined || rdSlots === slots),
    call: {
      method: "PUT",
      path: rdPath(name),
      body: { override_props: { [PEER_SLOTS_PROP]: String(slots) }, drbd_peer_slots: slots },
    },
  });
  // 3./4. volume definitions and OverrideVlmId
  for (const v of p.volumes) {
    const vd = (rd?.volume_definitions ?? []).find((x) => (x.volume_number ?? 0) === v.vnr);
    if (vd) {
      const minor = vd.layer_data?.find((l) => l.type === "DRBD")?.data?.minor_number;
      if (vd.size_kib !== v.netKiB || (minor !== undefined && minor !== v.minor)) {
        stop(
          `volume definition ${v.vnr} of ${name} has ${vd.size_kib} KiB and minor ${minor}, not ` +
            `${v.netKiB} KiB and minor ${v.minor}: undo (oneblk adopt drbd --undo) and start again`,
        );
      }
    }
    steps.push({
      kind: "controller",
      what: `create volume definition ${v.vnr} of ${name}: minor ${v.minor}, ${v.netKiB} KiB`,
      done: vd !== undefined,
      call: {
        method: "POST",
        path: `${rdPath(name)}/volume-definitions`,
        body: {
          volume_definition: { volume_number: v.vnr, size_kib: v.netKiB },
          drbd_minor_number: v.minor,
        },
      },
    });
    if (v.vlmId !== undefined) {
      steps.push({
        kind: "controller",
        what: `set ${OVERRIDE_VLM_ID}=${v.vlmId} on volume definition ${v.vnr} (keeps ${v.disk})`,
        done: vd?.props?.[OVERRIDE_VLM_ID] === v.vlmId,
        call: {
          method: "PUT",
          path: `${rdPath(name)}/volume-definitions/${v.vnr}`,
          body: { override_props: { [OVERRIDE_VLM_ID]: v.vlmId } },
        },
      });
    }
  }
  // 5. host steps: rename the running resource, move the configuration file away
  const rscOn = (node: string) => linstor.rscs.find((r) => nameKey(r.node_name) === nameKey(node));
  for (const h of facts.hosts) {
    if (name !== res.name) {
      const running = h.volumes.some((v) => v.deviceBytes !== null);
      steps.push({
        kind: "host",
        host: h.host,
        what: `${h.host}: drbdsetup rename-resource ${res.name} ${name}`,
        done: !running || rscOn(h.host) !== undefined,
        argv: ["sh", "-c", RENAME_SCRIPT, "oneblk-rename", res.name, name],
      });
    }
    steps.push(disableStep(h));
  }
  // 6. resources with their node ids and pools, in one request
  const todo: PlannedNode[] = [];
  for (const n of p.nodes) {
    const r = rscOn(n.node);
    if (!r) {
      todo.push(n);
      continue;
    }
    const f = r.flags ?? [];
    const id = r.layer_object?.drbd?.node_id;
    if (
      f.includes("DISKLESS") || f.includes("DRBD_DISKLESS") ||
      (id !== undefined && id !== n.nodeId) ||
      (r.props?.StorPoolName !== undefined && !sameLinstorName(r.props.StorPoolName, n.pool))
    ) {
      stop(
        `${name} on ${n.node} exists in LINSTOR as something else (node id ${id}, pool ` +
          `${r.props?.StorPoolName}, flags ${f.join(",") || "none"}) than node id ${n.nodeId} in ` +
          `${n.pool}: fix it by hand`,
      );
    }
  }
  const all = p.nodes;
  steps.push({
    kind: "controller",
    what: `create resources of ${name}: ${
      all.map((n) => `${n.node} (node id ${n.nodeId}, pool ${n.pool})`).join(", ")
    }`,
    done: todo.length === 0,
    createsResources: true,
    call: {
      method: "POST",
      path: `${rdPath(name)}/resources`,
      body: todo.map((n) => ({
        resource: { node_name: n.node, props: { StorPoolName: n.pool } },
        drbd_node_id: n.nodeId,
      })),
    },
  });
  return steps;
}

/** Move the configuration file away on one host (done when only `.disabled` is there). */
function disableStep(h: HostFacts): Step {
  const to = h.resPath + DISABLED_SUFFIX;
  if (h.enabled && h.disabled) {
    stop(`${h.host} has both ${h.resPath} and ${to}: keep one of them`);
  }
  if (!h.enabled && !h.disabled) stop(`${h.host} has no ${h.resPath}`);
  return {
    kind: "host",
    host: h.host,
    what: `${h.host}: mv ${h.resPath} ${to}`,
    done: !h.enabled,
    move: { from: h.resPath, to },
  };
}

/** A copy of `v` for printing: the shared secret replaced. */
export function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).map((
        [k, x],
      ) => [k, k === "drbd_secret" ? "(the file's shared secret, not shown)" : redact(x)]),
    );
  }
  return v;
}

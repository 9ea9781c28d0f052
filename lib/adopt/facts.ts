/**
 * What `oneblk adopt drbd` reads before it decides anything (nothing here changes anything):
 * the DRBD configuration file, on every host of the resource the state of its configuration
 * file, backing disks and DRBD devices (and, for a resource that is down, its meta data), and
 * what the LINSTOR controller already has (nodes, storage pools, the resource definition and
 * its resources).
 */
import { OneblkError } from "../errors.ts";
import type { HostRunner } from "../host/types.ts";
import { deviceSize, readTextFile } from "../host/ops.ts";
import { checkResource, type DrbdResource } from "../drbd/res_check.ts";
import { parseResFile } from "../drbd/res_file.ts";
import { dumpMdArgv, type MetadataDump, parseDumpMd } from "../drbd/dump_md.ts";
import type { LinstorClient } from "../backend/linstor/client.ts";

/** The suffix a disabled configuration file gets. */
export const DISABLED_SUFFIX = ".disabled";
/** The RD property naming the file an adoption came from (its mark: undo deletes only these). */
export const ADOPTED_PROP = "Aux/oneblk/adopted-from";

/** Where the configuration file is read. */
export interface ResFileRef {
  /** Host it is read on (undefined: this machine). */
  host?: string;
  path: string;
}

/** `HOST:PATH` or a local path. */
export function parseResFileArg(arg: string): ResFileRef {
  const m = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(\/.*)$/.exec(arg);
  if (m) return { host: m[1], path: m[2] };
  if (!arg) throw new OneblkError("usage", "adopt drbd needs RESFILE (PATH or HOST:PATH)");
  return { path: arg };
}

/** One volume of the resource on one host. */
export interface HostVolumeFacts {
  vnr: number;
  minor: number;
  disk: string;
  /** Size of the backing disk in bytes (null: missing). */
  backingBytes: number | null;
  /** Size of `/dev/drbd<minor>` in bytes (null: not there, the volume is down). */
  deviceBytes: number | null;
}

/** One host of the resource. */
export interface HostFacts {
  host: string;
  nodeId: number;
  /** The configuration file to disable there. */
  resPath: string;
  /** Whether `resPath` and `resPath.disabled` exist. */
  enabled: boolean;
  disabled: boolean;
  volumes: HostVolumeFacts[];
  /** Meta data read with drbdmeta (resource down there), or why it could not be read. */
  metadata?: { vnr: number; dump?: MetadataDump; error?: string }[];
}

/** A LINSTOR resource definition as listed with its volume definitions. */
export interface RdJson {
  name: string;
  props?: Record<string, string>;
  flags?: string[];
  layer_data?: { type: string; data?: { port?: number; peer_slots?: number } }[];
  volume_definitions?: {
    volume_number?: number;
    size_kib: number;
    props?: Record<string, string>;
    layer_data?: { type: string; data?: { minor_number?: number } }[];
  }[];
}

/** A LINSTOR resource as the resource view lists it. */
export interface RscJson {
  name: string;
  node_name: string;
  flags?: string[];
  props?: Record<string, string>;
  state?: { in_use?: boolean };
  layer_object?: { drbd?: { node_id?: number; peer_slots?: number } };
  volumes?: { volume_number?: number; state?: { disk_state?: string } }[];
}

/** A LINSTOR storage pool. */
export interface PoolJson {
  storage_pool_name: string;
  node_name: string;
  provider_kind: string;
  props?: Record<string, string>;
}

/** What the controller has. */
export interface LinstorFacts {
  /** Node name (as LINSTOR spells it) and connection, by upper-case name. */
  nodes: Map<string, { name: string; online: boolean }>;
  pools: PoolJson[];
  /** The target resource definition, if it exists. */
  rd: RdJson | null;
  rscs: RscJson[];
}

/** Everything read. */
export interface AdoptFacts {
  file: ResFileRef;
  /** Where the text was actually read (the `.disabled` file after an earlier adoption). */
  readFrom: string;
  res: DrbdResource;
  /** The LINSTOR name (the DRBD name or --rename). */
  name: string;
  hosts: HostFacts[];
  linstor: LinstorFacts;
}

/** What to read. */
export interface FactsRequest {
  resFile: string;
  /** Which resource of the file (default: its only one). */
  resource?: string;
  /** The LINSTOR name, when it is not the DRBD name. */
  rename?: string;
  /** Read the meta data of volumes that are down (default true; false with --peer-slots). */
  readMetadata?: boolean;
}

/** Read the configuration file: `PATH`, or `PATH.disabled` when an adoption moved it. */
async function readConfig(
  hosts: HostRunner,
  ref: ResFileRef,
): Promise<{ text: string; readFrom: string }> {
  const where = (p: string) => (ref.host ? `${ref.host}:${p}` : p);
  const read = async (p: string): Promise<string | null> => {
    if (ref.host) return await readTextFile(hosts, ref.host, p);
    try {
      return await Deno.readTextFile(p);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw new OneblkError("input", `cannot read ${p}: ${(e as Error).message}`);
    }
  };
  const text = await read(ref.path);
  if (text !== null) return { text, readFrom: where(ref.path) };
  const moved = await read(ref.path + DISABLED_SUFFIX);
  if (moved !== null) return { text: moved, readFrom: where(ref.path + DISABLED_SUFFIX) };
  throw new OneblkError("input", `${where(ref.path)}: no such file`);
}

/** The upper-case key LINSTOR compares names by. */
export function nameKey(s: string): string {
  return s.toUpperCase();
}

/** Read everything adoption needs; changes nothing. */
export async function readFacts(
  req: FactsRequest,
  deps: { hosts: HostRunner; linstor: LinstorClient },
): Promise<AdoptFacts> {
  const file = parseResFileArg(req.resFile);
  const { text, readFrom } = await readConfig(deps.hosts, file);
  const check = checkResource(parseResFile(text, readFrom), req.resource);
  if (!check.resource) throw new OneblkError("input", check.problems.join("; "));
  const res = check.resource;
  const name = req.rename ?? res.name;
  // the file disabled on every host: the one given as HOST:PATH, else the usual place
  const resPath = file.host ? file.path : `/etc/drbd.d/${res.name}.res`;

  const [hosts, linstor] = await Promise.all([
    Promise.all(res.hosts.map((h) => hostFacts(deps.hosts, res, h.name, h.nodeId, resPath, req))),
    linstorFacts(deps.linstor, res.hosts.map((h) => h.name), name),
  ]);
  return { file, readFrom, res, name, hosts, linstor };
}

async function hostFacts(
  runner: HostRunner,
  res: DrbdResource,
  host: string,
  nodeId: number,
  resPath: string,
  req: FactsRequest,
): Promise<HostFacts> {
  const [enabled, disabled] = await Promise.all([
    readTextFile(runner, host, resPath).then((t) => t !== null),
    readTextFile(runner, host, resPath + DISABLED_SUFFIX).then((t) => t !== null),
  ]);
  const volumes = await Promise.all(res.volumes.map(async (v) => ({
    vnr: v.number,
    minor: v.minor,
    disk: v.disk,
    backingBytes: await deviceSize(runner, host, v.disk),
    deviceBytes: await deviceSize(runner, host, `/dev/drbd${v.minor}`),
  })));
  const facts: HostFacts = { host, nodeId, resPath, enabled, disabled, volumes };
  if (req.readMetadata !== false) {
    const down = volumes.filter((v) => v.deviceBytes === null && v.backingBytes !== null);
    if (down.length) {
      facts.metadata = await Promise.all(down.map(async (v) => {
        const version = res.syntax === "8.4" ? "v08" : "v09";
        try {
          const r = await runner.run(host, dumpMdArgv(v.minor, v.disk, version), {
            okCodes: [0, 1, 10, 20, 126, 127],
            timeoutMs: 60_000,
          });
          if (r.code !== 0) {
            const why = (r.stderr.trim().split("\n")[0] || `exit code ${r.code}`).slice(0, 200);
            return { vnr: v.vnr, error: `drbdmeta: ${why}` };
          }
          return { vnr: v.vnr, dump: parseDumpMd(r.stdout, `${host}: drbdmeta dump-md`) };
        } catch (e) {
          return { vnr: v.vnr, error: (e as Error).message };
        }
      }));
    }
  }
  return facts;
}

async function linstorFacts(
  c: LinstorClient,
  hostNames: string[],
  name: string,
): Promise<LinstorFacts> {
  const [nodes, pools, rds, rscs] = await Promise.all([
    c.get<{ name: string; connection_status?: string }[]>("/v1/nodes", { nodes: hostNames }),
    c.get<PoolJson[]>("/v1/view/storage-pools", { nodes: hostNames }),
    c.get<RdJson[]>("/v1/resource-definitions", {
      resource_definitions: [name],
      with_volume_definitions: true,
    }),
    c.get<RscJson[]>("/v1/view/resources", { resources: [name] }),
  ]);
  const key = nameKey(name);
  return {
    nodes: new Map(
      nodes.map((n) => [nameKey(n.name), {
        name: n.name,
        online: (n.connection_status ?? "ONLINE") === "ONLINE",
      }]),
    ),
    pools,
    rd: rds.find((r) => nameKey(r.name) === key) ?? null,
    rscs: rscs.filter((r) => nameKey(r.name) === key),
  };
}

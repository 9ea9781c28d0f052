/**
 * Checks of the LINSTOR stores, per controller (datastores sharing settings are checked once):
 * the controller answers with the datastores' TLS and token settings (version and REST API
 * version), every OpenNebula host serving a LINSTOR datastore is a LINSTOR node of the same name
 * with its satellite connected, and each datastore's placement can be satisfied (resource group,
 * storage pools, place count vs the nodes that have them).
 */
import { errorLine } from "../errors.ts";
import { linstorClientOptions, type LinstorStore } from "../backend/linstor/index.ts";
import type { LinstorPlacement } from "../backend/linstor/index.ts";
import { LinstorClient } from "../backend/linstor/client.ts";
import { compareVersion } from "../one/output.ts";
import { closeLater, dsList, hostsOf, shared, type StoreGroup, storeGroups } from "./scope.ts";
import { type Check, type DoctorEnv, type Finding, findings } from "./types.ts";

/** REST API versions: below the first nothing attaches (make-available, 1.7.0); below the
 *  second some operations fall back or fail (clone into a resource group, 1.24.0). */
const REST_MIN = "1.7.0";
const REST_GOOD = "1.24.0";

interface NodeJson {
  name: string;
  type?: string;
  connection_status?: string;
}
interface PoolJson {
  storage_pool_name: string;
  node_name: string;
  provider_kind?: string;
}
interface RgJson {
  name: string;
  select_filter?: {
    place_count?: number;
    storage_pool?: string;
    storage_pool_list?: string[];
    node_name_list?: string[];
  };
}

/** A controller that answered the version call, or why it did not. */
type Controller =
  | {
    ok: true;
    client: LinstorClient;
    /** The controller that answered, when not the first of the list. */
    failover: string | null;
    version: Record<string, unknown>;
  }
  | { ok: false; error: unknown };

/** The controller of a store group, asked once per run with short deadlines and no waiting. */
function controller(env: DoctorEnv, g: StoreGroup<LinstorStore>): Promise<Controller> {
  return shared(env, `linstor:${g.key}`, async () => {
    try {
      const client = new LinstorClient({
        ...linstorClientOptions(g.store, env.env),
        timeoutMs: env.timeoutMs,
        getRetries: 0,
        refusedWaitMs: 0,
      });
      closeLater(env, () => client.close());
      const version = await client.version();
      const failover = client.currentUrl === client.endpoints[0].url ? null : client.currentUrl;
      return { ok: true, client, failover, version };
    } catch (e) {
      return { ok: false, error: e };
    }
  });
}

const lc = (s: string) => s.toLowerCase();

/** The attributes naming a datastore's controllers, for fix lines. */
function controllerAttr(g: StoreGroup<LinstorStore>): string {
  return g.datastores[0].driver === "linstor_un" ? "LS_CONTROLLERS" : "LINSTOR_CONTROLLERS";
}

/** The controller answers with the datastores' settings; its LINSTOR and REST API versions. */
export const linstorControllerCheck: Check = {
  id: "linstor-controller",
  title: "each LINSTOR controller answers with its datastores' TLS/token settings; versions",
  needs: ["oned"],
  async run(env) {
    const f = findings("linstor-controller");
    const out: Finding[] = [];
    for (const g of await storeGroups(env, "linstor")) {
      const c = await controller(env, g);
      const subject = `LINSTOR ${g.store.controllers} (${dsList(g.datastores)})`;
      if (!c.ok) {
        const tls = /certificate|tls|ssl|handshake|CA file|client key/i.test(errorLine(c.error));
        out.push(f.error(
          subject,
          `controller unreachable: ${errorLine(c.error)}`,
          tls
            ? "check LINSTOR_CAFILE / LINSTOR_CERTFILE / LINSTOR_KEYFILE (LS_CAFILE … for " +
              "linstor_un) against the controller's certificate"
            : /HTTP 40[13]\b/.test(errorLine(c.error))
            ? "set LINSTOR_TOKEN to a token the controller accepts (in oned's defaultrc)"
            : `start linstor-controller, or fix ${controllerAttr(g)} of ${dsList(g.datastores)} ` +
              `(onedatastore update)`,
        ));
        continue;
      }
      const v = c.version;
      const api = String(v.rest_api_version ?? "0");
      const text = `LINSTOR ${v.version ?? "?"}, REST API ${api}` +
        (c.failover ? ` (answered by ${c.failover}: the first controller does not)` : "");
      if (compareVersion(api, REST_MIN) < 0) {
        out.push(f.error(
          subject,
          `${text}: oneblk needs REST API ${REST_MIN} or newer`,
          "upgrade LINSTOR",
        ));
      } else if (compareVersion(api, REST_GOOD) < 0) {
        out.push(f.warning(
          subject,
          `${text}: below REST API ${REST_GOOD} some operations fall back or fail ` +
            "(clone into a resource group)",
          "upgrade LINSTOR",
        ));
      } else out.push(f.ok(subject, text));
    }
    return out;
  },
};

/** Every host serving a LINSTOR datastore is a LINSTOR node of the same name, satellite up. */
export const linstorNodesCheck: Check = {
  id: "linstor-nodes",
  title: "OpenNebula host names are LINSTOR node names; their satellites are connected",
  needs: ["oned"],
  async run(env) {
    const f = findings("linstor-nodes");
    const out: Finding[] = [];
    const pool = await env.hostPool();
    for (const g of await storeGroups(env, "linstor")) {
      const c = await controller(env, g);
      if (!c.ok) continue; // linstor-controller reports it
      const nodes = await c.client.get<NodeJson[]>("/v1/nodes");
      const byName = new Map(nodes.map((n) => [lc(n.name), n]));
      const hosts = [...new Set(g.datastores.flatMap((ds) => hostsOf(ds, pool, env.env)))].sort();
      const bad: Finding[] = [];
      for (const h of hosts) {
        const n = byName.get(lc(h));
        if (!n) {
          const alike = nodes.filter((x) =>
            lc(x.name).startsWith(`${lc(h)}.`) || lc(x.name) === lc(h).split(".")[0]
          ).map((x) => x.name);
          bad.push(f.error(
            `host ${h}`,
            `no LINSTOR node is named ${h}` +
              (alike.length ? ` (node ${alike.join(", ")} looks like it)` : "") +
              `: its disks cannot be attached there`,
            alike.length
              ? `name them alike: onehost rename the host to ${alike[0]}, or register the ` +
                `node again under the host's name (linstor node create ${h} <ip>)`
              : `make ${h} a LINSTOR satellite: linstor node create ${h} <ip>`,
          ));
        } else if (/^controller$/i.test(n.type ?? "")) {
          bad.push(f.error(
            `host ${h}`,
            `LINSTOR node ${n.name} is a controller-only node: it runs no satellite`,
            `linstor node create ${h} <ip> --node-type combined (or satellite)`,
          ));
        } else if ((n.connection_status ?? "ONLINE").toUpperCase() !== "ONLINE") {
          bad.push(f.error(
            `host ${h}`,
            `LINSTOR node ${n.name} is ${n.connection_status}: the controller cannot reach its ` +
              "satellite",
            `start linstor-satellite on ${h} (systemctl enable --now linstor-satellite) and let ` +
              "the controller reach it (port 3366, or 3367 with SSL)",
          ));
        }
      }
      out.push(...bad);
      if (!bad.length && hosts.length) {
        out.push(f.ok(
          `LINSTOR ${g.store.controllers}`,
          `${hosts.length} host(s) are nodes with connected satellites: ${hosts.join(", ")}`,
        ));
      }
    }
    return out;
  },
};

/** Each LINSTOR datastore's placement can be satisfied by the nodes that have its pools. */
export const linstorPlacementCheck: Check = {
  id: "linstor-placement",
  title: "resource group, storage pools and place count of each LINSTOR datastore vs the nodes",
  needs: ["oned"],
  async run(env) {
    const f = findings("linstor-placement");
    const out: Finding[] = [];
    for (const g of await storeGroups(env, "linstor")) {
      const c = await controller(env, g);
      if (!c.ok) continue;
      const [pools, nodes] = await Promise.all([
        c.client.get<PoolJson[]>("/v1/view/storage-pools"),
        c.client.get<NodeJson[]>("/v1/nodes"),
      ]);
      const online = new Set(
        nodes.filter((n) => (n.connection_status ?? "ONLINE").toUpperCase() === "ONLINE")
          .map((n) => lc(n.name)),
      );
      for (const ds of g.datastores) {
        const p = ds.profile.placement(ds.view.template, ds.view.id) as LinstorPlacement;
        let wantPools = p.storagePools;
        let count = p.replicas;
        let onNodes = p.nodes;
        let what = "no resource group";
        if (p.group) {
          const rgs = await c.client.get<RgJson[]>("/v1/resource-groups", {
            resource_groups: [p.group],
          });
          const rg = rgs.find((r) => lc(r.name) === lc(p.group));
          if (!rg) {
            out.push(f.error(
              ds.label,
              `resource group ${p.group} does not exist: no volume can be created`,
              `linstor resource-group create ${p.group} --storage-pool <pool> --place-count 2 ` +
                `&& linstor volume-group create ${p.group} (or fix the datastore's group)`,
            ));
            continue;
          }
          const sf = rg.select_filter ?? {};
          wantPools ??= sf.storage_pool_list?.length
            ? sf.storage_pool_list
            : sf.storage_pool
            ? [sf.storage_pool]
            : undefined;
          count ??= sf.place_count;
          onNodes ??= sf.node_name_list?.length ? sf.node_name_list : undefined;
          what = `resource group ${p.group}`;
        }
        const places = count ?? 2;
        const diskful = pools.filter((x) => (x.provider_kind ?? "") !== "DISKLESS");
        const missingPools = (wantPools ?? []).filter((w) =>
          !diskful.some((x) => lc(x.storage_pool_name) === lc(w))
        );
        if (missingPools.length) {
          out.push(f.error(
            ds.label,
            `${what}: storage pool ${missingPools.join(", ")} exists on no node`,
            `create it (linstor storage-pool create lvmthin <node> ${missingPools[0]} <vg/lv>) ` +
              "or fix the pool list",
          ));
          continue;
        }
        const able = new Set(
          diskful.filter((x) =>
            !wantPools || wantPools.some((w) => lc(w) === lc(x.storage_pool_name))
          ).map((x) => lc(x.node_name)).filter((n) => !onNodes || onNodes.some((o) => lc(o) === n)),
        );
        const up = [...able].filter((n) => online.has(n));
        const poolText = wantPools ? `pool ${wantPools.join(",")}` : "any pool";
        const summary = `${what}: ${places} replica(s) on ${poolText}; ${able.size} node(s) ` +
          `can hold one (${up.length} online)`;
        if (able.size < places) {
          out.push(f.error(
            ds.label,
            `${summary}: new volumes cannot be placed`,
            `add ${poolText === "any pool" ? "a storage pool" : poolText} to more nodes, or ` +
              `lower the place count (linstor resource-group modify ${p.group || "<rg>"} ` +
              `--place-count ${Math.max(1, able.size)})`,
          ));
        } else if (up.length < places) {
          out.push(f.warning(
            ds.label,
            `${summary}: too few online for new volumes now`,
            "bring the satellites back (linstor-nodes lists them)",
          ));
        } else if (places < 2) {
          out.push(f.warning(
            ds.label,
            `${summary}: one copy only, a host failure loses the data`,
            `raise the place count to 2 or more`,
          ));
        } else out.push(f.ok(ds.label, summary));
      }
    }
    return out;
  },
};

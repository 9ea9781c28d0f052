/**
 * Checks of the StorPool stores, per API endpoint (datastores sharing settings are checked
 * once): the API answers with the datastores' token (ServicesList, the cluster running), each
 * datastore's template `<ONE_PX>-ds-<id>` exists, and every OpenNebula host serving a StorPool
 * datastore has a client id (SP_OURID, as the driver resolves it) of a running StorPool client.
 */
import { errorLine } from "../errors.ts";
import type { StorpoolStore } from "../backend/storpool/index.ts";
import { type ServicesDesc, StorpoolClient } from "../backend/storpool/client.ts";
import {
  type ClientIdSource,
  createClientIdResolver,
  readAddonRc,
  resolveStorpoolConfig,
} from "../backend/storpool/config.ts";
import type { StorpoolPlacement } from "../backend/storpool/index.ts";
import { closeLater, dsList, hostsOf, shared, type StoreGroup, storeGroups } from "./scope.ts";
import { type Check, type DoctorEnv, type Finding, findings } from "./types.ts";

/** An API that answered ServicesList, or why it did not. */
type Api =
  | { ok: true; client: StorpoolClient; where: string; services: ServicesDesc; rc: Rc }
  | { ok: false; where: string; error: unknown };

type Rc = Record<string, string>;

/** Where a client id came from, for messages. */
const SOURCES: Record<ClientIdSource, string> = {
  "host-attr": "the host's SP_OURID",
  "storpool.conf": "the front-end's storpool.conf",
  host: "the host's own storpool.conf",
};

function api(env: DoctorEnv, g: StoreGroup<StorpoolStore>): Promise<Api> {
  return shared(env, `storpool:${g.key}`, async () => {
    let where = "StorPool API";
    try {
      const rc = readAddonRc(g.store.rcFiles);
      const cfg = resolveStorpoolConfig({ template: g.store.attrs, rc });
      where = `StorPool API ${cfg.host}:${cfg.port}`;
      const client = new StorpoolClient(
        { host: cfg.host, port: cfg.port, token: cfg.token },
        { timeoutMs: env.timeoutMs, retries: 0 },
      );
      closeLater(env, () => client.close());
      return { ok: true, client, where, services: await client.servicesList(), rc };
    } catch (e) {
      return { ok: false, where, error: e };
    }
  });
}

/** The API answers with the datastores' token; the cluster is running. */
export const storpoolApiCheck: Check = {
  id: "storpool-api",
  title: "each StorPool API answers with its datastores' token; the cluster runs",
  needs: ["oned"],
  async run(env) {
    const f = findings("storpool-api");
    const out: Finding[] = [];
    for (const g of await storeGroups(env, "storpool")) {
      const a = await api(env, g);
      const subject = `${a.where} (${dsList(g.datastores)})`;
      if (!a.ok) {
        const text = errorLine(a.error);
        out.push(f.error(
          subject,
          `not usable: ${text}`,
          /auth|token|401|403/i.test(text)
            ? "set SP_AUTH_TOKEN (datastore template, addon-storpoolrc or /etc/storpool.conf) " +
              "to the cluster's API token"
            : "start storpool_mgmt / fix SP_API_HTTP_HOST and SP_API_HTTP_PORT",
        ));
        continue;
      }
      const clients = Object.keys(a.services.clients ?? {}).length;
      if (a.services.clusterStatus !== "running") {
        out.push(f.error(
          subject,
          `the cluster is ${a.services.clusterStatus}`,
          "bring the StorPool servers up (storpool service list)",
        ));
      } else out.push(f.ok(subject, `cluster running, ${clients} client(s)`));
    }
    return out;
  },
};

/** Each StorPool datastore's template exists. */
export const storpoolTemplateCheck: Check = {
  id: "storpool-template",
  title: "each StorPool datastore's template <ONE_PX>-ds-<id> exists",
  needs: ["oned"],
  async run(env) {
    const f = findings("storpool-template");
    const out: Finding[] = [];
    for (const g of await storeGroups(env, "storpool")) {
      const a = await api(env, g);
      if (!a.ok) continue; // storpool-api reports it
      const names = new Set((await a.client.templatesList()).map((t) => t.name));
      for (const ds of g.datastores) {
        const p = ds.profile.placement(ds.view.template, ds.view.id) as StorpoolPlacement;
        if (names.has(p.group)) out.push(f.ok(ds.label, `template ${p.group}`));
        else {
          out.push(f.error(
            ds.label,
            `StorPool template ${p.group} does not exist: no volume can be created`,
            `storpool template ${p.group} replication 3 placeAll <placement group> ` +
              "placeTail <placement group>",
          ));
        }
      }
    }
    return out;
  },
};

/** Every host serving a StorPool datastore is a running StorPool client under its id. */
export const storpoolClientsCheck: Check = {
  id: "storpool-clients",
  title: "each host's StorPool client id (SP_OURID) is a running client of the cluster",
  needs: ["oned"],
  async run(env) {
    const f = findings("storpool-clients");
    const out: Finding[] = [];
    const pool = await env.hostPool();
    for (const g of await storeGroups(env, "storpool")) {
      const a = await api(env, g);
      if (!a.ok) continue;
      const resolver = createClientIdResolver({
        hostAttr: (h) =>
          Promise.resolve(pool.find((x) => x.name === h)?.template.get("SP_OURID") || undefined),
        hosts: env.hosts,
        hostTimeoutMs: env.timeoutMs,
        commonDomain: a.rc.COMMON_DOMAIN?.trim() || undefined,
      });
      const hosts = [...new Set(g.datastores.flatMap((ds) => hostsOf(ds, pool, env.env)))].sort();
      const bad: Finding[] = [];
      const ids: string[] = [];
      for (const h of hosts) {
        let id: number;
        try {
          id = await resolver.clientIdOf(h);
        } catch (e) {
          bad.push(f.error(`host ${h}`, errorLine(e), `onehost update ${h}: SP_OURID = "<id>"`));
          continue;
        }
        const c = a.services.clients?.[String(id)];
        if (!c) {
          bad.push(f.error(
            `host ${h}`,
            `client id ${id} (${SOURCES[resolver.sourceOf(h) ?? "host"]}) is not a client of ` +
              "the StorPool cluster",
            `set SP_OURID of ${h} to its StorPool id (storpool_confshow SP_OURID on ${h})`,
          ));
        } else if (c.status !== "running") {
          bad.push(f.error(
            `host ${h}`,
            `StorPool client ${id} is ${c.status}`,
            `start the StorPool client (storpool_block) on ${h}`,
          ));
        } else ids.push(`${h}=${id}`);
      }
      out.push(...bad);
      if (!bad.length && hosts.length) {
        out.push(f.ok(a.where, `${hosts.length} host(s) are running clients: ${ids.join(", ")}`));
      }
    }
    return out;
  },
};

/**
 * `--register`: the adopted resource becomes a persistent OpenNebula image (one.image.allocate
 * with a SOURCE, so oned copies nothing) in a LINSTOR image datastore of the `linstor` or
 * `linstor_un` add-on. Its SOURCE is what that add-on's profile writes for the resource's volume
 * (`legacy/10`, `/dev/drbd/by-res/legacy/10`), SIZE the net size in MiB (rounded down: the disk
 * never claims more than the device has), FORMAT raw, TYPE DATABLOCK, PERSISTENT YES. Persistent
 * disks are never private to a VM (lib/domain/vm_disk.ts), so no TM action deletes the volume
 * while the image exists; `oneimage delete` removes it like any image's volume.
 *
 * Idempotent: an image of that datastore with that SOURCE is the one an earlier run made.
 */
import { OneblkError } from "../errors.ts";
import type { OneClient } from "../one/xmlrpc.ts";
import type { DatastoreView } from "../one/views.ts";
import { profileFor } from "../addons/index.ts";
import { volumeRef } from "../backend/linstor/index.ts";
import { parseControllers } from "../backend/linstor/client.ts";
import type { AdoptPlan } from "./plan.ts";

/** What to register. */
export interface RegisterRequest {
  datastore: number;
  /** Image name (default: the resource name). */
  name?: string;
}

/** The image step, planned. */
export interface RegisterPlan {
  datastore: number;
  driver: string;
  name: string;
  source: string;
  sizeMiB: number;
  template: string;
  /** The image that exists already (an earlier run), if any. */
  existing?: number;
  /** Things to know, one line each. */
  warnings: string[];
}

function sameControllers(a: string, b: string): boolean {
  try {
    const urls = (s: string) => parseControllers(s).map((e) => e.url).sort().join(",");
    return urls(a) === urls(b);
  } catch {
    return false;
  }
}

const LINSTOR_DRIVERS = ["linstor", "linstor_un"];

function quote(v: string): string {
  return `"${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Check the datastore and build the image template; finds an earlier run's image. */
export async function planRegister(
  plan: AdoptPlan,
  req: RegisterRequest,
  one: OneClient,
  env: Record<string, string | undefined>,
  controllers = "",
): Promise<RegisterPlan> {
  if (plan.volumes.length !== 1) {
    throw new OneblkError(
      "input",
      `${plan.name} has ${plan.volumes.length} volumes; an OpenNebula image is one volume: ` +
        `adopt without --register`,
    );
  }
  let ds: DatastoreView;
  try {
    ds = await one.datastoreInfo(req.datastore);
  } catch (e) {
    throw new OneblkError("input", `--datastore ${req.datastore}: ${(e as Error).message}`);
  }
  const driver = ds.dsMad;
  if (ds.isSystem || !LINSTOR_DRIVERS.includes(driver)) {
    throw new OneblkError(
      "input",
      `datastore ${req.datastore} (${ds.name}) is not a LINSTOR image datastore (DS_MAD ` +
        `${driver || "none"}; linstor or linstor_un needed)`,
    );
  }
  const profile = profileFor(driver, env);
  const warnings: string[] = [];
  const store = profile.store(ds.template, ds.id);
  if (store.kind === "linstor" && !sameControllers(store.controllers, controllers)) {
    warnings.push(
      `datastore ${ds.id} names LINSTOR controllers ${store.controllers}, not ${
        controllers || "linstor://localhost"
      }: the image only works if they are the same cluster`,
    );
  }
  const v = plan.volumes[0];
  const source = profile.volumeSource(volumeRef(plan.name, v.vnr), ds.id);
  const sizeMiB = Math.floor(v.netKiB / 1024);
  const name = req.name ?? plan.name;
  const template = [
    `NAME = ${quote(name)}`,
    `SOURCE = ${quote(source)}`,
    `SIZE = ${sizeMiB}`,
    `FORMAT = "raw"`,
    `TYPE = "DATABLOCK"`,
    `PERSISTENT = "YES"`,
    `DESCRIPTION = ${
      quote(`DRBD resource ${plan.resource} adopted into LINSTOR as ${plan.name} by oneblk`)
    }`,
  ].join("\n") + "\n";
  const existing = (await one.imagePool()).find((i) =>
    i.datastoreId === ds.id && i.source === source
  );
  return {
    datastore: ds.id,
    driver,
    name,
    source,
    sizeMiB,
    template,
    existing: existing?.id,
    warnings,
  };
}

/** Make the image (unless it exists); returns its id. */
export async function register(rp: RegisterPlan, one: OneClient): Promise<number> {
  if (rp.existing !== undefined) return rp.existing;
  return await one.imageAllocate(rp.template, rp.datastore);
}

/**
 * Shared pieces of the TM disk action tests: a simulated cluster (tools/sim/cluster.ts), one
 * case per profile (datastores, VM id range), backends opened from the test process to prepare
 * and inspect volumes, VM builders for the simulated oned, and data helpers (bytes written into
 * image volumes through a host device path, sha256 of what a host reads through DIR/disk.i).
 */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import { join } from "node:path";
import {
  type Cluster,
  CLUSTER_DS,
  type RunOutput,
  startCluster,
} from "../../../tools/sim/cluster.ts";
import type { DiskInput, VmInput } from "../../../tools/sim/oned/builders.ts";
import { DRIVERS, profileFor } from "../../../lib/addons/index.ts";
import type { Profile } from "../../../lib/addons/types.ts";
import type { Backend } from "../../../lib/backend/types.ts";
import type { Placement } from "../../../lib/backend/index.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import type { DatastoreView } from "../../../lib/one/views.ts";
import {
  assertOneLineFailure,
  datastoreView,
  dsPlacement,
  openDsBackend,
  putVm,
  runWithStats,
  vmDir,
} from "../../support/cluster.ts";
import { sha256Hex, xorshiftBytes } from "../../support/bytes.ts";
import { fileSha256, lexists, writeAt } from "../../support/files.ts";

export { vmDir, writeAt };

/** 1 MiB. */
export const MiB = 1024 * 1024;

/** One profile under test. */
export interface Case {
  driver: string;
  profile: Profile;
  imageDs: number;
  systemDs: number;
  /** First VM id of this profile (ids are disjoint so profiles can run in parallel). */
  vmBase: number;
}

/** The three profiles. */
export const CASES: Case[] = DRIVERS.map((driver, i) => ({
  driver,
  profile: profileFor(driver, {}),
  imageDs: CLUSTER_DS[driver].image,
  systemDs: CLUSTER_DS[driver].system,
  vmBase: 100 * (i + 1),
}));

/** Run `fn` for every profile in parallel; a failure names the profile. */
export async function forEachCase(fn: (c: Case) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(CASES.map((c) => fn(c)));
  const bad = results.flatMap((r, i) =>
    r.status === "rejected"
      ? [`[${CASES[i].driver}] ${(r.reason as Error)?.stack ?? r.reason}`]
      : []
  );
  if (bad.length) throw new Error(bad.join("\n\n"));
}

/** Test access to the stores, oned and hosts of a cluster. */
export class Env {
  #c?: Cluster;
  #hosts?: SimRunner;
  readonly #backends = new Map<string, Backend>();

  /** Wrap a started cluster (or bind one later with bind(), as useEnv does). */
  constructor(c?: Cluster) {
    if (c) this.bind(c);
  }

  /** Bind the started cluster. */
  bind(c: Cluster): void {
    this.#c = c;
    this.#hosts = new SimRunner(c.root);
  }

  /** The cluster (throws before bind()). */
  get c(): Cluster {
    if (!this.#c) throw new Error("Env used before its cluster started");
    return this.#c;
  }

  /** Host runner on the simulated hosts. */
  get hosts(): SimRunner {
    if (!this.#hosts) throw new Error("Env used before its cluster started");
    return this.#hosts;
  }

  /** The datastore view of `id` from the simulated oned. */
  ds(id: number): DatastoreView {
    return datastoreView(this.c, id);
  }

  /** Backend of datastore `dsId` under `tc`'s profile (opened once). */
  backend(tc: Case, dsId = tc.imageDs): Backend {
    const key = `${tc.driver}/${dsId}`;
    let b = this.#backends.get(key);
    if (!b) {
      b = openDsBackend(this.c, tc.profile, dsId);
      this.#backends.set(key, b);
    }
    return b;
  }

  /** Placement of datastore `dsId` under `tc`'s profile. */
  placement(tc: Case, dsId = tc.imageDs): Placement {
    return dsPlacement(this.c, tc.profile, dsId);
  }

  /** Close the backends. */
  async close(): Promise<void> {
    await Promise.all([...this.#backends.values()].map((b) => b.close()));
  }

  /** Run a TM action of `tc`'s driver; returns its output and its stats line. */
  async tm(
    tc: Case,
    action: string,
    args: (string | number)[],
  ): Promise<RunOutput & { rest: number }> {
    if (action.includes(".")) await this.suffixLink(tc.driver, action);
    return await runWithStats(this.c, "tm", tc.driver, action, args);
  }

  /**
   * Make `tm/<driver>/<action>.<sys>` exist like an operator's extra link would (oned itself
   * falls back from `clone.ssh` to `clone`): a symlink to the same program as `<action>`.
   */
  async suffixLink(driver: string, name: string): Promise<void> {
    const dir = join(this.c.remotes, "tm", driver);
    const link = join(dir, name);
    if (await lexists(link)) return;
    const target = await Deno.readLink(join(dir, name.slice(0, name.indexOf("."))));
    await Deno.symlink(target, link).catch((e) => {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    });
  }

  /** Like tm(), asserting success. */
  async ok(tc: Case, action: string, args: (string | number)[]) {
    const r = await this.tm(tc, action, args);
    assert.equal(r.code, 0, `${action} ${args.join(" ")}: ${r.stderr}`);
    return r;
  }

  /** Like tm(), asserting a one-line failure (exit 1, nothing on stdout). */
  async fails(tc: Case, action: string, args: (string | number)[], re?: RegExp) {
    const r = await this.tm(tc, action, args);
    assertOneLineFailure(r, re, { ignoreInfo: true, what: `${action} ${args.join(" ")}` });
    return r;
  }

  /**
   * Create image volume `imageId` of `sizeMiB` holding `data` at offset 0 (written through
   * the device on the front-end, then detached). Returns its volume and SOURCE.
   */
  async image(tc: Case, imageId: number, sizeMiB: number, data: Uint8Array) {
    const b = this.backend(tc);
    const volume = tc.profile.imageVolume(imageId, tc.imageDs);
    await b.createVolume(volume, sizeMiB, { placement: this.placement(tc) });
    await this.write(tc, volume, data);
    return { volume, source: tc.profile.imageSource(imageId, tc.imageDs) };
  }

  /** Write `data` at `offset` into `volume` through a temporary attachment on the front-end. */
  async write(tc: Case, volume: string, data: Uint8Array, offset = 0, dsId = tc.imageDs) {
    const b = this.backend(tc, dsId);
    const before = (await b.attachments(volume)).some((a) => a.host === "alpha");
    await b.attach(volume, "alpha");
    await writeAt(this.c.hostPath("alpha", b.devicePath(volume)), offset, data);
    if (!before) await b.detach(volume, "alpha");
  }

  /** sha256 of the first `len` bytes of `volume`, read on the front-end. */
  async volumeSha(tc: Case, volume: string, len: number, dsId = tc.imageDs): Promise<string> {
    const b = this.backend(tc, dsId);
    const before = (await b.attachments(volume)).some((a) => a.host === "alpha");
    await b.attach(volume, "alpha");
    try {
      return await shaOf(this.c.hostPath("alpha", b.devicePath(volume)), len);
    } finally {
      if (!before) await b.detach(volume, "alpha");
    }
  }

  /** Put a VM into the simulated oned. */
  vm(input: VmInput): void {
    putVm(this.c, input);
  }

  /** Mark `volume` open (in use) on `host` through the store simulator's /_sim/in-use. */
  async inUse(tc: Case, volume: string, host: string, inUse: boolean): Promise<void> {
    const kind = tc.profile.store(this.ds(tc.imageDs).template, tc.imageDs).kind;
    const [url, body] = kind === "linstor"
      ? [this.c.linstor.url, { resource: volume, node: host, in_use: inUse }]
      : [this.c.storpool.url, { volume, client: host, in_use: inUse }];
    const r = await fetch(`${url}/_sim/in-use`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `in-use ${volume}@${host}: ${r.status} ${text}`);
  }
}

/** `host:DIR/disk.i`. */
export function diskArg(host: string, sysDs: number, vmId: number, diskId: number): string {
  return `${host}:${vmDir(sysDs, vmId)}/disk.${diskId}`;
}

/** A non-persistent (CLONE=YES) image disk. */
export function cloneDisk(
  tc: Case,
  diskId: number,
  imageId: number,
  size: number,
  originalSize: number,
  extra: Partial<DiskInput> = {},
): DiskInput {
  return {
    diskId,
    imageId,
    image: `img-${imageId}`,
    source: tc.profile.imageSource(imageId, tc.imageDs),
    clone: true,
    type: "FS",
    diskType: "BLOCK",
    size,
    originalSize,
    datastoreId: tc.imageDs,
    tmMad: tc.driver,
    format: "raw",
    driver: "raw",
    target: `vd${String.fromCharCode(97 + diskId)}`,
    ...extra,
  };
}

/** A persistent image disk (CLONE=NO, PERSISTENT=YES). */
export function persistentDisk(tc: Case, diskId: number, imageId: number, size: number) {
  return cloneDisk(tc, diskId, imageId, size, size, { clone: false, persistent: true });
}

/** A CDROM image disk (CLONE=NO, READONLY=YES). */
export function cdromDisk(tc: Case, diskId: number, imageId: number, size: number) {
  return cloneDisk(tc, diskId, imageId, size, size, {
    clone: false,
    type: "CDROM",
    readonly: true,
    target: "hdb",
  });
}

/** A volatile disk of the system datastore (no image). */
export function volatileDisk(tc: Case, diskId: number, size: number): DiskInput {
  return {
    diskId,
    type: "fs",
    diskType: "BLOCK",
    size,
    datastoreId: tc.systemDs,
    tmMad: tc.driver,
    format: "raw",
    fs: "ext4",
    target: `vd${String.fromCharCode(97 + diskId)}`,
  };
}

/** A VM on `host` (system datastore of the profile), RUNNING unless `lcmState` says else. */
export function vmInput(
  tc: Case,
  id: number,
  host: string,
  disks: DiskInput[],
  more: Partial<VmInput> = {},
): VmInput {
  return {
    id,
    state: 3,
    lcmState: 3,
    deployId: `one-${id}`,
    disks,
    history: [{ hostname: host, dsId: tc.systemDs, tmMad: tc.driver }],
    ...more,
  };
}

/** Deterministic pseudo-random bytes (xorshift). */
export function pattern(seed: number, len: number): Uint8Array {
  return xorshiftBytes(len, seed);
}

/** sha256 (hex) of the first `len` bytes of a file (following links; zeros past its end). */
export function shaOf(path: string, len: number): Promise<string> {
  return fileSha256(path, len, { padZeros: true });
}

/** sha256 (hex) of `data` padded with zeros to `len` bytes. */
export function shaBytes(data: Uint8Array, len = data.length): Promise<string> {
  return Promise.resolve(sha256Hex(data, len));
}

/** True when `path` exists on the local filesystem (not following a final symlink). */
export const present: (path: string) => Promise<boolean> = lexists;

/**
 * Register node:test hooks for the enclosing describe: before() starts a cluster and binds it
 * to the returned Env, after() closes its backends and stops the cluster.
 */
export function useEnv(): Env {
  const env = new Env();
  before(async () => {
    env.bind(await startCluster());
  });
  after(async () => {
    await env.close();
    await env.c.stop();
  });
  return env;
}

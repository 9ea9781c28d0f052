/**
 * The per-VM disk usage cache (lib/domain/usage_cache.ts) on the real LINSTOR backend and the
 * simulator, counting the views the simulator answered: a budget of volumes read per run,
 * never-read volumes first then the oldest, every figure re-read within ceil(N / budget) runs,
 * the cache equal to a full read once filled, a replaced volume re-read, deleted volumes
 * dropped, and a corrupt, other-version or unwritable cache that never fails a run.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { LinstorPlacement as Placement } from "../../lib/backend/linstor/index.ts";
import { listUsage } from "../../lib/backend/usage.ts";
import { compareText } from "../../lib/compare.ts";
import type { VolumeUsage } from "../../lib/backend/types.ts";
import { TEXT_STEP } from "../../lib/json_items.ts";
import {
  type CachedUsage,
  cachedUsage,
  parseUsageCache,
  usageCachePath,
} from "../../lib/domain/usage_cache.ts";
import { type Cluster, pattern, startCluster, writeAt } from "./helpers.ts";

const RG: Placement = { group: "one_rg" };
const MATCH = { DS_ID: "500" };
const N = 100, BUDGET = 40;
const name = (i: number) => `uc-${String(i).padStart(3, "0")}`;
const byName = (a: { name: string }, b: { name: string }) => compareText(a.name, b.name);

describe("usage cache on the LINSTOR backend", () => {
  let cl: Cluster;
  let stateDir: string;
  let clock = 1_000_000;
  const infos: string[] = [];
  before(async () => {
    cl = await startCluster();
    stateDir = join(cl.root, "state");
    for (let i = 0; i < N; i++) {
      await cl.be.createVolume(name(i), 4, {
        placement: RG,
        props: { DS_ID: "500", VM_ID: String(i), DISK_ID: "0" },
      });
    }
    // another datastore's volume: never asked for
    await cl.be.createVolume("uc-other", 4, { placement: RG, props: { DS_ID: "501" } });
  });
  after(async () => {
    await cl.close();
  });

  /** One monitor's worth of cachedUsage; what it asked the simulator's views for. */
  async function run(
    opts: { budget?: number; dir?: string } = {},
  ): Promise<{ r: CachedUsage; asked: string[]; views: number; snapViews: number }> {
    clock += 60_000;
    const seen = cl.exchanges.length;
    const r = await cachedUsage({
      env: { ONEBLK_STATE_DIR: opts.dir ?? stateDir },
      info: (m) => infos.push(m),
      backend: cl.be,
      driver: "linstor",
      dsId: 500,
      match: MATCH,
      budget: opts.budget ?? BUDGET,
      now: () => clock,
    });
    const ex = cl.exchanges.slice(seen);
    const views = ex.filter((x) => x.path === "/v1/view/resources");
    return {
      r,
      asked: views.flatMap((x) => x.query.getAll("resources")).sort(),
      views: views.length,
      snapViews: ex.filter((x) => x.path === "/v1/view/snapshots").length,
    };
  }

  const names = (u: { name: string }[]) => u.map((x) => x.name).sort();
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => name(a + i));
  const full = async (): Promise<VolumeUsage[]> => (await listUsage(cl.be, MATCH)).sort(byName);

  it("reads a budget per run, never-read first, then the oldest; equals a full read once filled", async () => {
    // cold: the first 40 by name, in one view and one snapshot view; the rest is pending
    const r1 = await run();
    assert.deepEqual(r1.asked, range(0, 40));
    assert.equal(r1.views, 1);
    assert.equal(r1.snapViews, 1);
    assert.deepEqual(names(r1.r.usage), range(0, 40));
    assert.deepEqual(names(r1.r.pending), range(40, 100));
    // the next 40 never read, then the last 20 and the 20 oldest (ties by name)
    const r2 = await run();
    assert.deepEqual(r2.asked, range(40, 80));
    assert.equal(r2.r.usage.length, 80);
    const r3 = await run();
    assert.deepEqual(r3.asked, [...range(0, 20), ...range(80, 100)]);
    assert.equal(r3.r.pending.length, 0);
    assert.equal(r3.r.read, 40);
    assert.deepEqual(r3.r.usage.sort(byName), await full());
    // every figure is read again within ceil(100 / 40) = 3 runs, 40 per run
    const seen = new Set<string>();
    for (let k = 0; k < 3; k++) {
      const r = await run();
      assert.equal(r.asked.length, BUDGET);
      assert.equal(r.views, 1);
      r.asked.forEach((n) => seen.add(n));
      assert.equal(r.r.usage.length, N);
    }
    assert.equal(seen.size, N);
  });

  it("a replaced volume has no figure until it is read again; a resized one is read by age", async () => {
    // replaced: deleted and made again under the same name (another RD uuid), 9 MiB written
    const v = name(50);
    await cl.be.deleteVolume(v);
    await cl.be.createVolume(v, 12, {
      placement: RG,
      props: { DS_ID: "500", VM_ID: "50", DISK_ID: "0" },
    });
    const node = cl.sim.controller.rd(v)!.rscs.find((r) => !r.diskless)!.node;
    await writeAt(cl.hostPath(node, `/dev/drbd/by-res/${v}/0`), 0, pattern(9 << 20, 5));
    const r1 = await run();
    assert.ok(!r1.r.usage.some((u) => u.name === v), "no figure under the old stamp");
    assert.deepEqual(names(r1.r.pending), [v]);
    const r2 = await run();
    assert.ok(r2.asked.includes(v));
    const want = (await full()).find((u) => u.name === v)!;
    assert.ok(want.allocatedMiB >= 9, `allocated ${want.allocatedMiB} MiB`);
    assert.deepEqual(r2.r.usage.find((u) => u.name === v), want);
    assert.equal(r2.r.pending.length, 0);
    // resized: the same volume, its figure kept until its turn like any other (the listing
    // carries no sizes); within ceil(N / budget) runs it is read again
    const w = name(60);
    const before = r2.r.usage.find((u) => u.name === w)!;
    await cl.be.resizeVolume(w, 12);
    const r3 = await run();
    assert.deepEqual(r3.r.usage.find((u) => u.name === w), before);
    assert.equal(r3.r.pending.length, 0);
    let seen = r3.asked.includes(w);
    for (let k = 1; k < Math.ceil(N / BUDGET) && !seen; k++) seen = (await run()).asked.includes(w);
    assert.ok(seen, "read again by age");
  });

  it("drops the entries of deleted volumes", async () => {
    for (let i = 90; i < 95; i++) await cl.be.deleteVolume(name(i));
    const r = await run();
    const gone = range(90, 95);
    assert.ok(!r.r.usage.some((u) => gone.includes(u.name)));
    const st = parseUsageCache(
      await Deno.readTextFile(usageCachePath({ ONEBLK_STATE_DIR: stateDir }, "linstor", 500)),
    );
    assert.equal(st.entries.size + st.pending.size, N - 5);
    for (const g of gone) assert.ok(!st.entries.has(g) && !st.pending.has(g), g);
  });

  it("up to the budget every volume is read on every run", async () => {
    for (let k = 0; k < 2; k++) {
      const r = await run({ budget: 1000 });
      assert.equal(r.asked.length, N - 5);
      assert.deepEqual(r.r.usage.sort(byName), await full());
    }
  });

  it("reads the listings a piece at a time: no reply is parsed whole, the figures are the same", async () => {
    const v = name(3);
    await cl.be.createSnapshot(v, "s1");
    // what a whole parse of the same replies gives (the figures before element-wise reading)
    const get = async (path: string, q: [string, string][]) =>
      await (await fetch(`${cl.sim.url}${path}?${new URLSearchParams(q)}`)).json();
    const rds = await get("/v1/resource-definitions", [
      ["props", "Aux/one/DS_ID=500"],
      ["with_volume_definitions", "true"],
    ]);
    const names = rds.map((rd: { name: string }) => rd.name);
    const rscs = await get("/v1/view/resources", names.map((n: string) => ["resources", n]));
    const snaps = await get("/v1/view/snapshots", names.map((n: string) => ["resources", n]));
    const want = names.map((n: string) => ({
      name: n,
      allocatedMiB: Math.ceil(
        Math.max(
          0,
          ...rscs.filter((r: { name: string; flags: string[] }) =>
            r.name === n && !r.flags.some((f) => /DISKLESS|TIE_BREAKER/.test(f))
          ).map((r: { volumes: { allocated_size_kib: number }[] }) =>
            r.volumes[0].allocated_size_kib
          ),
        ) / 1024,
      ),
      snapshots: Object.fromEntries(
        snaps.filter((s: { resource_name: string }) => s.resource_name === n).map((
          s: { name: string; volume_definitions: { size_kib: number }[] },
        ) => [s.name, Math.ceil(s.volume_definitions[0].size_kib / 1024)]),
      ),
    })).sort(byName);
    assert.ok(want.find((w: VolumeUsage) => w.name === v)!.snapshots.s1 > 0);
    // every text JSON.parse sees while the backend lists and reads
    const parse = JSON.parse;
    let largest = 0;
    JSON.parse = (text: string, reviver?: Parameters<typeof parse>[1]) => {
      largest = Math.max(largest, text.length);
      return parse(text, reviver);
    };
    const before = cl.be.stats.bytes;
    let got: VolumeUsage[];
    try {
      got = (await listUsage(cl.be, MATCH)).sort(byName);
    } finally {
      JSON.parse = parse;
    }
    const read = cl.be.stats.bytes - before;
    assert.deepEqual(
      got.map(({ name, allocatedMiB, snapshots }) => ({ name, allocatedMiB, snapshots })),
      want,
    );
    // the views of 95 volumes are hundreds of KB; what is parsed at once is a step of the
    // text (its elements together) and the rest of an element, a few KB
    assert.ok(read > 200_000, `read ${read} bytes`);
    assert.ok(
      largest < TEXT_STEP + 8_000,
      `largest text parsed at once: ${largest} of ${read} bytes read`,
    );
    await cl.be.deleteSnapshot(v, "s1");
  });

  it("a corrupt or other-version cache is an empty one; an unwritable one is logged", async () => {
    const file = usageCachePath({ ONEBLK_STATE_DIR: stateDir }, "linstor", 500);
    const live = (await full()).map((u) => u.name);
    // a full, well-formed cache of another version
    const other = { ...JSON.parse(await Deno.readTextFile(file)), version: 99 };
    assert.equal(other.volumes.length, N - 5);
    for (const text of ["{not json", JSON.stringify(other)]) {
      await Deno.writeTextFile(file, text);
      infos.length = 0;
      const r = await run();
      assert.deepEqual(r.asked, live.slice(0, BUDGET), "read as a cold cache");
      assert.equal(r.r.usage.length, BUDGET);
      if (text.startsWith("{not")) assert.ok(infos.some((m) => /not usable/.test(m)), infos.join());
      assert.ok(parseUsageCache(await Deno.readTextFile(file)).entries.size === BUDGET);
    }
    // a well-formed file naming a volume the store refuses (not RESOURCE or RESOURCE/N), past
    // the budget: the refresh chosen from it fails, the run reads as a cold cache
    const bad = { ...JSON.parse(await Deno.readTextFile(file)) };
    bad.volumes = live.map((n) => [n, "x", clock, 1, 0]).concat([["a/b/c", "x", 0, 1, 0]]);
    await Deno.writeTextFile(file, JSON.stringify(bad));
    const r0 = await run();
    assert.deepEqual(r0.asked.filter((n) => n !== "a/b/c"), live.slice(0, BUDGET));
    assert.equal(r0.r.usage.length, BUDGET);
    // the state directory cannot be made (a file is in the way): figures still come back
    const blocker = join(cl.root, "blocker");
    await Deno.writeTextFile(blocker, "");
    infos.length = 0;
    const r = await run({ dir: join(blocker, "state") });
    assert.equal(r.r.usage.length, BUDGET);
    assert.ok(infos.some((m) => /usage cache not written/.test(m)), infos.join(" | "));
  });
});

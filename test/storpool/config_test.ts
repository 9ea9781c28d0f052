/**
 * StorPool settings: endpoint/token resolution order (template > rc > storpool.conf with its
 * [hostname] section) and host → client id resolution order (host attribute > front-end
 * storpool.conf [host] section > the host's own storpool.conf over the host runner).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createClientIdResolver,
  mergeStorpoolConf,
  parseDuration,
  parseStorpoolConf,
  readAddonRc,
  readStorpoolConfFiles,
  resolveStorpoolConfig,
} from "../../lib/backend/storpool/config.ts";
import { openStorpoolBackend } from "../../lib/backend/storpool/index.ts";
import { parseShellRc } from "../../lib/one/shell_rc.ts";
import { PLACEMENT, startEnv } from "./helpers.ts";
import { SimRunner } from "../../lib/host/sim.ts";
import { OneblkError } from "../../lib/errors.ts";

const SECRET = "4242424242424242";

describe("storpool.conf parsing", () => {
  it("parses globals, sections, comments and quotes", () => {
    const f = parseStorpoolConf(
      '# comment\nSP_API_HTTP_HOST=10.0.0.1\n; other\nSP_CLUSTER_NAME = "Lab"\n\n' +
        "[fe1]\nSP_OURID=11\n[kvm1.example.org]\nSP_OURID='12'\nbroken line\n",
    );
    assert.deepEqual(f.global, { SP_API_HTTP_HOST: "10.0.0.1", SP_CLUSTER_NAME: "Lab" });
    assert.deepEqual(f.sections, {
      fe1: { SP_OURID: "11" },
      "kvm1.example.org": { SP_OURID: "12" },
    });
  });

  it("merges every file's globals, then every file's [host] section", () => {
    const a = parseStorpoolConf("A=1\nB=1\n[h]\nB=2\nC=2\n");
    const b = parseStorpoolConf("A=3\nC=3\n[h]\nD=4\n");
    assert.deepEqual(mergeStorpoolConf([a, b], "h"), { A: "3", B: "2", C: "2", D: "4" });
    assert.deepEqual(mergeStorpoolConf([a, b], "other"), { A: "3", B: "1", C: "3" });
  });

  it("parses durations", () => {
    assert.equal(parseDuration("48h"), 172800);
    assert.equal(parseDuration("30m"), 1800);
    assert.equal(parseDuration("2d"), 172800);
    assert.equal(parseDuration("15"), 15);
    assert.equal(parseDuration("0"), 0);
    assert.throws(
      () => parseDuration("soon"),
      (e) => e instanceof OneblkError && e.kind === "config",
    );
  });
});

describe("add-on rc files", () => {
  it("parses shell assignments, skipping expansions and commands", () => {
    const rc = parseShellRc(
      [
        "# addon-storpoolrc",
        "DELAY_DELETE=24h",
        'export SP_API_HTTP_HOST="10.9.9.9"',
        "ONE_PX='one' # prefix",
        "ATTACH_TIMEOUT=30 # seconds",
        'LOC_TAG_VAL="$ONE_PX"',
        "X=$(hostname)",
        "  indented=1",
      ].join("\n"),
    );
    assert.deepEqual(rc, {
      DELAY_DELETE: "24h",
      SP_API_HTTP_HOST: "10.9.9.9",
      ONE_PX: "one",
      ATTACH_TIMEOUT: "30",
      indented: "1",
    });
  });

  it("reads the first rc file found per name, then the other names, later ones winning", async () => {
    const dir = await Deno.makeTempDir({ prefix: "oneblk-sprc-" });
    try {
      for (const d of ["one", "two", "three", "etc"]) await Deno.mkdir(join(dir, d));
      const rc = (d: string) => join(dir, d, "addon-storpoolrc");
      await Deno.writeTextFile(rc("two"), "DELAY_DELETE=1h\nATTACH_TIMEOUT=5\nONE_PX=lab\n");
      // a stale copy further down the add-on's lookup list: never read
      await Deno.writeTextFile(rc("three"), "ONE_PX=stale\nSP_API_HTTP_PORT=1\n");
      await Deno.writeTextFile(join(dir, "etc", "addon-storpool.conf"), "DELAY_DELETE=2h\n");
      const got = readAddonRc([
        rc("one"),
        rc("two"),
        rc("three"),
        join(dir, "etc", "addon-storpool.conf"),
      ]);
      assert.deepEqual(got, { DELAY_DELETE: "2h", ATTACH_TIMEOUT: "5", ONE_PX: "lab" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  it("openStorpoolBackend: template + rc → a working backend", async () => {
    const env = await startEnv();
    try {
      const b = openStorpoolBackend({
        template: {
          SP_API_HTTP_HOST: "127.0.0.1",
          SP_API_HTTP_PORT: String(env.sim.port),
          SP_AUTH_TOKEN: env.sim.token,
        },
        rc: { DELAY_DELETE: "0" },
        hostAttr: (h) => Promise.resolve(h === "alpha" ? "1" : undefined),
        confPath: join(env.root, "none.conf"),
        confDir: join(env.root, "none.d"),
      });
      try {
        await b.createVolume("one-img-1", 4, { placement: PLACEMENT });
        await b.attach("one-img-1", "alpha");
        assert.deepEqual((await b.attachments("one-img-1")).map((a) => a.host), ["alpha"]);
        await env.backend.detach("one-img-1", "alpha");
        await b.deleteVolume("one-img-1");
        assert.deepEqual(Object.keys(env.sim.state().snapshots), [], "DELAY_DELETE=0 from rc");
      } finally {
        await b.close();
      }
    } finally {
      await env.close();
    }
  });
});

describe("storpool endpoint resolution", () => {
  let dir: string;
  let confPath: string;
  let confDir: string;
  before(async () => {
    dir = await Deno.makeTempDir({ prefix: "oneblk-spconf-" });
    confPath = join(dir, "storpool.conf");
    confDir = join(dir, "storpool.conf.d");
    await Deno.mkdir(confDir);
    await Deno.writeTextFile(
      confPath,
      `SP_API_HTTP_HOST=10.1.1.1\nSP_AUTH_TOKEN=${SECRET}\nSP_OURID=1\n[fe1]\nSP_API_HTTP_PORT=8081\n`,
    );
    await Deno.writeTextFile(join(confDir, "10-a.conf"), "SP_API_HTTP_HOST=10.2.2.2\n");
    await Deno.writeTextFile(join(confDir, "20-b.conf"), "[fe1]\nSP_API_HTTP_HOST=10.3.3.3\n");
    await Deno.writeTextFile(join(confDir, "ignored.txt"), "SP_API_HTTP_HOST=6.6.6.6\n");
  });
  after(async () => {
    await Deno.remove(dir, { recursive: true });
  });

  it("storpool.conf: global, conf.d in order, then the [hostname] section", () => {
    const files = readStorpoolConfFiles(confPath, confDir);
    assert.equal(files.length, 3);
    const c = resolveStorpoolConfig({ confPath, confDir, hostname: "fe1" });
    assert.equal(c.host, "10.3.3.3");
    assert.equal(c.port, 8081);
    assert.equal(c.token, SECRET);
    assert.deepEqual(c.sources, {
      host: "storpool.conf",
      port: "storpool.conf",
      token: "storpool.conf",
    });
    const other = resolveStorpoolConfig({ confPath, confDir, hostname: "fe2" });
    assert.equal(other.host, "10.2.2.2");
    assert.equal(other.port, 81, "default port");
    assert.equal(other.sources.port, "default");
  });

  it("rc values win over storpool.conf, the datastore template over both (per key)", () => {
    const rc = { SP_API_HTTP_HOST: "rc-host", SP_AUTH_TOKEN: "rc-token" };
    const c1 = resolveStorpoolConfig({ rc, confPath, confDir, hostname: "fe1" });
    assert.deepEqual([c1.host, c1.port, c1.token], ["rc-host", 8081, "rc-token"]);
    assert.deepEqual(c1.sources, { host: "rc", port: "storpool.conf", token: "rc" });
    const c2 = resolveStorpoolConfig({
      template: { SP_API_HTTP_HOST: "ds-host", SP_API_HTTP_PORT: "9081", SP_AUTH_TOKEN: "" },
      rc,
      confPath,
      confDir,
      hostname: "fe1",
    });
    assert.deepEqual([c2.host, c2.port, c2.token], ["ds-host", 9081, "rc-token"]);
    assert.deepEqual(c2.sources, { host: "template", port: "template", token: "rc" });
  });

  it("the template alone is enough when storpool.conf is absent", () => {
    const c = resolveStorpoolConfig({
      template: { SP_API_HTTP_HOST: "h", SP_AUTH_TOKEN: "t" },
      confPath: join(dir, "missing.conf"),
      confDir: join(dir, "missing.d"),
    });
    assert.deepEqual([c.host, c.port, c.token], ["h", 81, "t"]);
  });

  it("rc knobs: DELAY_DELETE, ATTACH_TIMEOUT, SP_API_TIMEOUT", () => {
    const t = { SP_API_HTTP_HOST: "h", SP_AUTH_TOKEN: "t" };
    const c = resolveStorpoolConfig({
      template: t,
      rc: { DELAY_DELETE: "24h", ATTACH_TIMEOUT: "30", SP_API_TIMEOUT: "120" },
    });
    assert.equal(c.delayDeleteSeconds, 86400);
    assert.equal(c.attachTimeoutSeconds, 30);
    assert.equal(c.requestTimeoutMs, 120000);
    assert.equal(
      resolveStorpoolConfig({ template: t, rc: { DELAY_DELETE: "" } }).delayDeleteSeconds,
      0,
    );
    assert.equal(resolveStorpoolConfig({ template: t }).delayDeleteSeconds, undefined);
    assert.throws(
      () => resolveStorpoolConfig({ template: t, rc: { DELAY_DELETE: "48 hours" } }),
      (e) => e instanceof OneblkError && e.kind === "config",
    );
  });

  it("missing host/token or a bad port are config errors that never show the token", () => {
    const none = { confPath: join(dir, "none.conf"), confDir: join(dir, "none.d") };
    assert.throws(
      () => resolveStorpoolConfig({ ...none, template: { SP_AUTH_TOKEN: SECRET } }),
      (e) =>
        e instanceof OneblkError && e.kind === "config" && /SP_API_HTTP_HOST/.test(e.message) &&
        !e.message.includes(SECRET),
    );
    assert.throws(
      () => resolveStorpoolConfig({ ...none, template: { SP_API_HTTP_HOST: "h" } }),
      (e) => e instanceof OneblkError && /SP_AUTH_TOKEN/.test(e.message),
    );
    assert.throws(
      () =>
        resolveStorpoolConfig({
          ...none,
          template: { SP_API_HTTP_HOST: "h", SP_AUTH_TOKEN: SECRET, SP_API_HTTP_PORT: "eighty" },
        }),
      (e) => e instanceof OneblkError && /eighty/.test(e.message) && !e.message.includes(SECRET),
    );
  });
});

describe("storpool client id resolution", () => {
  let root: string;
  let fe: string;
  before(async () => {
    root = await Deno.makeTempDir({ prefix: "oneblk-spid-" });
    fe = join(root, "fe");
    await Deno.mkdir(join(fe, "storpool.conf.d"), { recursive: true });
    // Front-end storpool.conf: its own global SP_OURID (never used for other hosts) and a
    // section for host "bravo".
    await Deno.writeTextFile(
      join(fe, "storpool.conf"),
      "SP_OURID=9\n[bravo]\nSP_OURID=22\n[alpha]\nSP_OURID=21\n",
    );
    await Deno.writeTextFile(join(fe, "storpool.conf.d", "x.conf"), "[delta.lab]\nSP_OURID=24\n");
    // Simulated hosts: charlie has its id in /etc/storpool.conf, echo in conf.d, foxtrot none.
    const etc = (h: string) => join(root, "hosts", h, "etc");
    for (const h of ["alpha", "bravo", "charlie", "echo", "foxtrot"]) {
      await Deno.mkdir(join(etc(h), "storpool.conf.d"), { recursive: true });
    }
    await Deno.writeTextFile(join(etc("alpha"), "storpool.conf"), "SP_OURID=31\n");
    await Deno.writeTextFile(join(etc("charlie"), "storpool.conf"), "SP_OURID=33\n");
    await Deno.writeTextFile(
      join(etc("echo"), "storpool.conf"),
      "SP_API_HTTP_HOST=10.0.0.1\n",
    );
    await Deno.writeTextFile(
      join(etc("echo"), "storpool.conf.d", "local.conf"),
      "[echo]\nSP_OURID=35\n",
    );
  });
  after(async () => {
    await Deno.remove(root, { recursive: true });
  });

  it("order: host attribute, then front-end [host] section, then the host itself", async () => {
    const runner = new SimRunner(root);
    const attrs: Record<string, string> = { alpha: "11", bravo: "", charlie: "bogus" };
    const asked: string[] = [];
    const r = createClientIdResolver({
      hostAttr: (h) => {
        asked.push(h);
        return Promise.resolve(attrs[h]);
      },
      confPath: join(fe, "storpool.conf"),
      confDir: join(fe, "storpool.conf.d"),
      commonDomain: "lab",
      hosts: runner,
    });
    assert.equal(await r.clientIdOf("alpha"), 11);
    assert.equal(r.sourceOf("alpha"), "host-attr");
    assert.equal(await r.clientIdOf("bravo"), 22);
    assert.equal(r.sourceOf("bravo"), "storpool.conf");
    assert.equal(await r.clientIdOf("delta"), 24, "[delta.<COMMON_DOMAIN>] section");
    assert.equal(runner.calls, 0);
    assert.equal(await r.clientIdOf("charlie"), 33);
    assert.equal(r.sourceOf("charlie"), "host");
    assert.equal(runner.calls, 1);
    assert.equal(await r.clientIdOf("echo"), 35, "from the host's storpool.conf.d");
    assert.equal(runner.calls, 3);
    // Cached: no new lookups.
    const n = asked.length;
    assert.equal(await r.clientIdOf("charlie"), 33);
    assert.equal(await r.clientIdOf("alpha"), 11);
    assert.equal(asked.length, n);
    assert.equal(runner.calls, 3);
    assert.equal(r.hostOf(33), "charlie");
  });

  it("unknown ids are config errors naming the host; failures are not cached", async () => {
    const runner = new SimRunner(root);
    const r = createClientIdResolver({
      confPath: join(fe, "storpool.conf"),
      confDir: join(fe, "storpool.conf.d"),
      hosts: runner,
    });
    await assert.rejects(
      r.clientIdOf("foxtrot"),
      (e) => e instanceof OneblkError && e.kind === "config" && /foxtrot/.test(e.message),
    );
    await assert.rejects(r.clientIdOf("foxtrot"));
    assert.equal(runner.calls, 4, "asked again");
    // Out-of-range ids are ignored.
    const r2 = createClientIdResolver({
      hostAttr: () => Promise.resolve("5000"),
      confPath: join(fe, "none.conf"),
    });
    await assert.rejects(
      r2.clientIdOf("x"),
      (e) => e instanceof OneblkError && e.kind === "config",
    );
    // Unreachable host: the runner's error.
    await assert.rejects(
      r.clientIdOf("golf"),
      (e) => e instanceof OneblkError && e.kind === "unavailable",
    );
  });

  it("the front-end's global SP_OURID is never taken for another host", async () => {
    const r = createClientIdResolver({
      confPath: join(fe, "storpool.conf"),
      confDir: join(fe, "storpool.conf.d"),
    });
    await assert.rejects(r.clientIdOf("kilo"), (e) => e instanceof OneblkError);
  });
});

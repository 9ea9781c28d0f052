/**
 * `oneblk doctor` against the simulated cloud (tools/sim/cluster.ts, the demo's world): it
 * passes there with every check ok, and it finds each fault planted the way real installations
 * break — a host named differently from its LINSTOR node, DRBD 8 loaded, a missing resource
 * group, a missing StorPool template, an unreachable controller, a host without qemu-img, a
 * satellite down, a host whose StorPool client id is unknown, an oned.conf -l override whose
 * script is missing (oneblk's, or an unknown one), an oned.conf without our drivers — each as one
 * error line with a fix, exit code 1. oned unreachable or refusing the credentials is one error
 * and the checks that need it say they did not run. With install stubs, the hosts that run
 * tm monitor_ds must have the binary.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Cluster,
  CLUSTER_DS,
  SIM_DRBD_VERSION,
  startCluster,
} from "../../tools/sim/cluster.ts";
import { recordHostLeftover, resolveHostLeftover } from "../../lib/domain/host_leftovers.ts";
import { buildDatastoreXml, buildHostXml } from "../../tools/sim/oned/builders.ts";
import { createDoctorEnv, type DoctorReport, runDoctor } from "../../lib/doctor/index.ts";
import type { Finding } from "../../lib/doctor/types.ts";
import { inspectRemotes } from "../../app/doctor.ts";
import { install } from "../../app/install.ts";
import { listActions } from "../../app/registry.ts";
import { needing } from "../support/tools.ts";
import { deadPort } from "../linstor/helpers.ts";
import { openStore } from "../actions/datastore/helpers.ts";
import { dsPlacement } from "../support/cluster.ts";
import { encodeMark } from "../../lib/backend/marks.ts";

const LAUNCHER = new URL("../../scripts/oneblk", import.meta.url).pathname;

const VMM = new Set(listActions().filter((a) => a.kind === "vmm").map((a) => a.name));

async function doctor(c: Cluster, env: Record<string, string> = {}, onedConf = c.onedConf) {
  return runDoctor(
    await createDoctorEnv({
      env: { ...c.env, ...env },
      remotes: () => inspectRemotes(c.remotes),
      onedConf,
      vmmOverrides: VMM,
      timeoutMs: 5_000,
    }),
  );
}

/** The one finding of `check` about `subject` (a prefix), asserting it exists. */
function finding(r: DoctorReport, check: string, subject: RegExp): Finding {
  const f = r.findings.filter((x) => x.check === check && subject.test(x.subject));
  assert.equal(f.length, 1, `${check} ${subject}: ${JSON.stringify(r.findings, null, 1)}`);
  return f[0];
}

function assertError(f: Finding, message: RegExp, fix: RegExp): void {
  assert.equal(f.status, "error", JSON.stringify(f));
  assert.match(f.message, message);
  assert.match(f.fix ?? "", fix);
  assert.doesNotMatch(`${f.message} ${f.fix}`, /\n/);
}

describe("oneblk doctor", () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await c.stop();
  });

  it(...needing(["qemu-img"], "passes on the demo's world: every check ok"), async () => {
    const r = await doctor(c);
    const notOk = r.findings.filter((f) => f.status !== "ok");
    assert.deepEqual(notOk, []);
    assert.ok(r.ok);
    const checks = new Set(r.findings.map((f) => f.check));
    for (
      const id of [
        "oned",
        "remotes",
        "oned-conf",
        "vmm-overrides",
        "datastores",
        "linstor-controller",
        "linstor-nodes",
        "linstor-placement",
        "storpool-api",
        "storpool-template",
        "storpool-clients",
        "host-ssh",
        "host-drbd",
        "host-qemu-img",
        "host-remotes",
        "leftovers",
      ]
    ) assert.ok(checks.has(id), `${id} reported`);
    assert.match(finding(r, "linstor-controller", /LINSTOR/).message, /REST API 1\.\d+/);
    assert.match(finding(r, "host-drbd", /^hosts /).message, /^DRBD 9\.2\.12 loaded$/);
  });

  it("reports the leftovers of failed operations by gc's rules (issue 10), removing nothing", async () => {
    const s = await openStore(c, "linstor_un");
    const placement = dsPlacement(c, s.profile, s.dsId);
    const old = "doctor-left-old", young = "doctor-left-young";
    try {
      await s.backend.createVolume(old, 4, { placement, pending: "tm clone vm 77 disk 0" });
      await s.backend.createVolume(young, 4, { placement, pending: "tm clone vm 78 disk 0" });
      // Marked two hours ago (an action that died then): gc would remove it.
      c.linstor.controller.rd(old)!.props["Aux/oneblk/leftover"] = encodeMark(
        "tm clone vm 77 disk 0",
        Date.now() - 7_200_000,
      );
      const r = await doctor(c);
      const left = r.findings.filter((f) => f.check === "leftovers");
      const warn = left.filter((f) => f.status === "warning");
      assert.equal(warn.length, 1, JSON.stringify(left));
      assert.match(warn[0].subject, new RegExp(`datastores? .*\\b${s.dsId}\\b`));
      assert.match(warn[0].message, new RegExp(`^would remove: volume ${old} .*tm clone vm 77`));
      assert.match(warn[0].fix ?? "", /^oneblk gc --datastore \d+/);
      const kept = left.filter((f) => f.status === "ok" && f.message.includes(young));
      assert.equal(kept.length, 1, JSON.stringify(left));
      assert.match(kept[0].message, /^kept: .*younger than 60 min/);
      // Every other store: nothing left.
      assert.ok(
        left.some((f) => f.status === "ok" && f.message === "no leftovers of failed operations"),
      );
      assert.ok(await s.backend.getVolume(old), "the doctor removes nothing");
    } finally {
      for (const v of [old, young]) await s.backend.deleteVolume(v, { immediate: true });
      await s.backend.close();
    }
  });

  it("reports the journal of host leftovers by gc's rules, removing nothing", async () => {
    const sys = CLUSTER_DS.linstor.system;
    const marker = `/var/lib/one/datastores/${sys}/93/.oneblk-shared-${crypto.randomUUID()}`;
    await Deno.mkdir(c.hostPath("bravo", `/var/lib/one/datastores/${sys}/93`), {
      recursive: true,
    });
    await Deno.writeTextFile(c.hostPath("bravo", marker), "");
    const entry = {
      host: "bravo",
      path: marker,
      kind: "marker" as const,
      vmId: 93,
      dsId: sys,
      action: "tm failmigrate",
      owner: "tm/linstor/failmigrate pid 1",
      why: "host bravo is not reachable",
    };
    try {
      await recordHostLeftover(c.env, { ...entry, since: Date.now() - 7_200_000 });
      const r = await doctor(c);
      const host = r.findings.filter((f) =>
        f.check === "leftovers" && f.subject === "host leftovers"
      );
      assert.equal(host.length, 1, JSON.stringify(host));
      assert.equal(host[0].status, "warning");
      assert.match(host[0].message, /^would remove: shared-directory marker .* on bravo \(VM 93/);
      assert.equal(host[0].fix, `oneblk gc --datastore ${sys} (--dry-run first to see the list)`);
      assert.ok(await Deno.stat(c.hostPath("bravo", marker)), "the doctor removes nothing");
      // a young entry: ok, kept
      await recordHostLeftover(c.env, { ...entry, since: Date.now() });
      const young = (await doctor(c)).findings.filter((f) => f.subject === "host leftovers");
      assert.equal(young.length, 1);
      assert.equal(young[0].status, "ok");
      assert.match(young[0].message, /^kept: .*younger than 60 min/);
    } finally {
      await resolveHostLeftover(c.env, "bravo", marker);
    }
    const none = (await doctor(c)).findings.filter((f) => f.subject === "host leftovers");
    assert.deepEqual(none, [], "an empty journal adds no line");
  });

  it("oned unreachable or refusing the credentials: one error, dependants not run", async () => {
    const down = await doctor(c, { ONE_XMLRPC: `http://127.0.0.1:${deadPort()}/RPC2` });
    assertError(finding(down, "oned", /RPC2/), /oned does not answer/, /start oned|ONE_XMLRPC/);
    const skipped = down.findings.filter((f) => /^not run: oned found an error/.test(f.message));
    assert.ok(skipped.some((f) => f.check === "linstor-nodes"), JSON.stringify(down.findings));
    assert.ok(!down.ok);
    const auth = join(c.root, "wrong_auth");
    await Deno.writeTextFile(auth, "oneadmin:wrong-s3cr3t\n");
    const refused = await doctor(c, { ONE_AUTH: auth });
    const f = finding(refused, "oned", /RPC2/);
    assertError(f, /credentials are refused/, /ONE_AUTH/);
    assert.doesNotMatch(JSON.stringify(refused), /wrong-s3cr3t/);
  });

  it("with --stubs: hosts of StorPool system datastores need the binary (monitor_ds runs there)", async () => {
    const remotes = await Deno.makeTempDir({ dir: c.root, prefix: "stub-remotes-" });
    await install({ remotes, bin: LAUNCHER, actions: listActions(), stubs: true });
    await Deno.copyFile(join(c.remotes, "VERSION"), join(remotes, "VERSION"));
    const run = async () =>
      runDoctor(
        await createDoctorEnv({
          env: c.env,
          remotes: () => inspectRemotes(remotes),
          onedConf: c.onedConf,
          vmmOverrides: VMM,
          timeoutMs: 5_000,
        }),
      );
    const r = await run();
    assert.match(finding(r, "remotes", /./).message, new RegExp(`stubs running ${LAUNCHER}`));
    const warned = r.findings.filter((f) => f.check === "host-remotes" && f.status === "warning");
    assert.deepEqual(warned.map((f) => f.subject), [
      "host alpha",
      "host bravo",
      "host charlie",
      "host delta",
    ]);
    assert.match(warned[0].message, /stubs synced here run .*monitor_ds fails/);
    assert.match(warned[0].fix!, new RegExp(`copy the oneblk binary to ${LAUNCHER} on alpha`));
    // the binary where the stubs look for it on alpha: alpha is ok
    const onAlpha = c.hostPath("alpha", LAUNCHER);
    await Deno.mkdir(join(onAlpha, ".."), { recursive: true });
    await Deno.writeTextFile(onAlpha, "#!/bin/sh\n", { mode: 0o755 });
    try {
      const again = await run();
      const still = again.findings.filter((f) => f.check === "host-remotes" && f.status !== "ok");
      assert.deepEqual(still.map((f) => f.subject), ["host bravo", "host charlie", "host delta"]);
      assert.match(finding(again, "host-remotes", /alpha/).message, /^remotes /);
    } finally {
      await Deno.remove(onAlpha);
    }
  });

  it("finds each planted fault, one error line with a fix each; the CLI exits 1", async () => {
    // a host whose LINSTOR node was registered under its FQDN (and no StorPool client id)
    const res = await fetch(`${c.linstor.url}/v1/nodes`, {
      method: "POST",
      body: JSON.stringify({ name: "echo.example.com", type: "Satellite" }),
    });
    assert.ok(res.ok, await res.text());
    c.oned.state.putHost(buildHostXml({ id: 4, name: "echo", template: { SP_OURID: "40" } }));
    for (const d of ["proc", "var/tmp/one"]) {
      await Deno.mkdir(c.hostPath("echo", d), { recursive: true });
    }
    await Deno.writeTextFile(c.hostPath("echo", "proc/drbd"), `${SIM_DRBD_VERSION}\n`);
    await Deno.copyFile(join(c.remotes, "VERSION"), c.hostPath("echo", "var/tmp/one/VERSION"));
    // DRBD 8.4 loaded on charlie, no qemu-img on delta, bravo's satellite gone
    await c.plant.drbd("charlie", "version: 8.4.11 (api:1/proto:86-101)");
    await c.plant.program("delta", "qemu-img");
    c.linstor.setNodeOnline("bravo", false);
    // the resource group of the system datastores deleted
    const del = await fetch(`${c.linstor.url}/v1/resource-groups/one_system`, {
      method: "DELETE",
    });
    assert.ok(del.ok, await del.text());
    // a new StorPool datastore without its template, a LINSTOR one with a wrong address
    const sp = c.oned.state.datastores.get(111)!;
    c.oned.state.putDatastore(buildDatastoreXml({
      id: 112,
      name: "sp_new",
      tmMad: "storpool",
      type: "SYSTEM",
      template: {
        SP_API_HTTP_HOST: "127.0.0.1",
        SP_API_HTTP_PORT: String(c.storpool.port),
        SP_AUTH_TOKEN: c.storpool.token,
      },
    }));
    assert.ok(sp);
    const port = deadPort();
    c.oned.state.putDatastore(buildDatastoreXml({
      id: 102,
      name: "linstor_typo",
      tmMad: "linstor",
      dsMad: "linstor",
      type: "IMAGE",
      template: { LINSTOR_CONTROLLERS: `127.0.0.1:${port}`, DISK_TYPE: "BLOCK" },
    }));
    // oned.conf names an unknown override script, and one of ours is gone
    const conf = join(c.root, "oned-faults.conf");
    await Deno.writeTextFile(
      conf,
      'VM_MAD = [ NAME = "kvm", EXECUTABLE = "one_vmm_exec", KEEP_SNAPSHOTS = "yes",\n' +
        '  ARGUMENTS = "-t 15 -r 0 kvm -l deploy=deploy-tweaks,save=tmsave,migrate=migrate_fast" ]\n',
    );
    await Deno.remove(join(c.remotes, "vmm/kvm/tmsave"));

    const r = await doctor(c, {}, conf);
    assert.ok(!r.ok);
    assertError(
      finding(r, "linstor-nodes", /^host echo$/),
      /no LINSTOR node is named echo \(node echo\.example\.com looks like it\)/,
      /onehost rename|node create echo/,
    );
    assertError(
      finding(r, "linstor-nodes", /^host bravo$/),
      /LINSTOR node bravo is OFFLINE/,
      /linstor-satellite on bravo/,
    );
    assertError(
      finding(r, "host-drbd", /^host charlie$/),
      /DRBD 8\.4\.11 is loaded; LINSTOR needs DRBD 9/,
      /DRBD 9 kernel module.*rmmod drbd && modprobe drbd/,
    );
    for (const id of [101, 121]) {
      assertError(
        finding(r, "linstor-placement", new RegExp(`^datastore ${id} `)),
        /resource group one_system does not exist/,
        /linstor resource-group create one_system/,
      );
    }
    assertError(
      finding(r, "storpool-template", /^datastore 112 /),
      /StorPool template one-ds-112 does not exist/,
      /storpool template one-ds-112/,
    );
    assertError(
      finding(r, "linstor-controller", new RegExp(`127\\.0\\.0\\.1:${port}`)),
      /controller unreachable/,
      /LINSTOR_CONTROLLERS of datastore 102/,
    );
    assertError(
      finding(r, "host-qemu-img", /^host delta$/),
      /qemu-img is not installed/,
      /qemu-utils/,
    );
    assertError(
      finding(r, "storpool-clients", /^host echo$/),
      /client id 40 \(the host.s SP_OURID\) is not a client of the StorPool cluster/,
      /SP_OURID of echo/,
    );
    const missing = r.findings.filter((f) => f.check === "vmm-overrides" && f.status === "error");
    assert.equal(missing.length, 2, JSON.stringify(missing));
    assert.match(missing[0].message, /-l save=tmsave: .*vmm\/kvm\/tmsave does not exist/);
    assert.match(missing[0].fix!, /oneblk install --remotes .* --drivers storpool/);
    assert.match(missing[1].message, /-l migrate=migrate_fast: .* every migrate of a kvm VM fails/);
    assert.match(missing[1].fix!, /put the script there or remove migrate from -l/);
    assertError(
      finding(r, "remotes", /remotes$/),
      /1 action\(s\) missing: vmm\/kvm\/tmsave/,
      /oneblk install --remotes/,
    );
    // that oned.conf has only the VM_MAD: no driver is registered
    assertError(
      finding(r, "oned-conf", /^driver storpool$/),
      /lacks it in TM_MAD's -d list, a TM_MAD_CONF, DATASTORE_MAD's -d list, a DS_MAD_CONF/,
      /oneblk install --dry-run/,
    );
    // what still works is still ok
    assert.equal(finding(r, "storpool-template", /^datastore 110 /).status, "ok");
    assert.match(finding(r, "host-drbd", /^hosts /).message, /^DRBD 9\.2\.12 loaded$/);

    // the command line: one line per finding plus the summary, exit 1; --json the same data
    const cli = async (...args: string[]) => {
      const out = await new Deno.Command(LAUNCHER, {
        args: ["doctor", "--remotes", c.remotes, "--oned-conf", conf, "--timeout", "5", ...args],
        env: c.env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: out.code,
        stdout: new TextDecoder().decode(out.stdout),
        stderr: new TextDecoder().decode(out.stderr),
      };
    };
    const text = await cli();
    assert.equal(text.code, 1, text.stderr);
    const lines = text.stdout.trim().split("\n");
    assert.match(lines.at(-1)!, /^doctor: \d+ ok, \d+ warnings?, \d+ errors$/);
    assert.ok(
      lines.some((l) => /^error +host-drbd +host charlie: DRBD 8\.4\.11 .* — fix: /.test(l)),
      text.stdout,
    );
    const json = await cli("--json");
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stdout) as DoctorReport;
    assert.equal(parsed.ok, false);
    assert.equal(lines.length - 1, parsed.findings.length, "one line per finding");
    assert.ok(parsed.counts.error >= 11);
    const bad = await cli("--only", "nosuch");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ERROR: oneblk: unknown check 'nosuch'/);
  });
});

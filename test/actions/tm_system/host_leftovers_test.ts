/**
 * Host leftovers (issue 10): the host-side cleanups oned never retries — tm postmigrate (the
 * VM directory on the old host), tm failmigrate (the shared-directory marker in the VM's
 * directory), tm postbackup (the backup directory) — journal what a host that went down, or
 * whose `rm` failed, kept; the action exits as it did before; `oneblk gc` removes the path once
 * the host answers and drops the entry, keeps it while the host is down, and never removes a
 * directory that is live again (the VM back on that host, or moving away from it); a premigrate
 * back to that host removes the stale directory before copying. A path not below the
 * datastore's BASE_PATH is never removed whatever the journal says.
 *
 * A host "goes down" at one command: a shim for `rm` (first in the actions' PATH) that, when
 * one of its arguments matches a pattern, moves the host's directory away (the simulated runner
 * then reports the host unreachable) and exits 255 as ssh does; or, in `fail` mode, only exits 1.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Cluster, CLUSTER_DS, startCluster } from "../../../tools/sim/cluster.ts";
import {
  type HostLeftover,
  listHostLeftovers,
  recordHostLeftover,
  resolveHostLeftover,
} from "../../../lib/domain/host_leftovers.ts";
import { runHostGc } from "../../../lib/domain/gc.ts";
import { SimRunner } from "../../../lib/host/sim.ts";
import { OneblkError } from "../../../lib/errors.ts";
import { OneClient } from "../../../lib/one/xmlrpc.ts";
import { assertOk, lexists, type ProfileName, putVm, vmDir } from "./helpers.ts";

const PROFILE: ProfileName = "linstor";

/** The `rm` shim (see the module doc). */
function rmShim(hostsRoot: string, graves: string, realRm: string): string {
  return `#!/bin/sh
# test shim: rm on a simulated host meets a fault when an argument matches $ONEBLK_TEST_RM_AT
# (only a command the action runs itself, as one host step: not an rm inside a host script)
comm=
[ -n "$ONEBLK_TEST_RM_AT" ] && read -r comm < "/proc/$PPID/comm"
if [ "$comm" = deno ] && [ ! -e "${graves}/done" ]; then
  for a in "$@"; do
    case "$a" in
      "$PWD"$ONEBLK_TEST_RM_AT)
        : > "${graves}/done"
        if [ "$ONEBLK_TEST_RM_MODE" = fail ]; then echo "rm: simulated failure" >&2; exit 1; fi
        h=\${PWD#${hostsRoot}/}; h=\${h%%/*}
        mv "${hostsRoot}/$h" "${graves}/$h"
        echo "ssh: connect to host $h port 22: Connection refused" >&2
        exit 255 ;;
    esac
  done
fi
exec ${realRm} "$@"
`;
}

describe("host leftovers: journaled by never-retried cleanups, removed by oneblk gc", () => {
  let c: Cluster;
  let shimDir: string;
  let graves: string;
  let sys: number;
  before(async () => {
    c = await startCluster();
    shimDir = join(c.root, "rmshim");
    graves = join(c.root, "graves");
    await Deno.mkdir(shimDir);
    await Deno.mkdir(graves);
    const realRm = new TextDecoder().decode(
      (await new Deno.Command("sh", { args: ["-c", "command -v rm"] }).output()).stdout,
    ).trim();
    await Deno.writeTextFile(
      join(shimDir, "rm"),
      rmShim(join(c.root, "hosts"), graves, realRm),
      { mode: 0o755 },
    );
    sys = CLUSTER_DS[PROFILE].system;
  });
  after(async () => {
    await c.stop();
  });

  /** Run a tm action with the `rm` fault at the path matching `at` (a glob on the host). */
  async function runFaulted(
    action: string,
    args: string[],
    stdin: string,
    at: string,
    mode: "down" | "fail",
  ) {
    await Deno.remove(join(graves, "done")).catch(() => {});
    return await c.run("tm", PROFILE, action, args, {
      stdin,
      env: {
        PATH: `${shimDir}:${c.env.PATH}`,
        ONEBLK_TEST_RM_AT: at,
        ONEBLK_TEST_RM_MODE: mode,
      },
    });
  }

  /** Bring every host the shim took down back. */
  async function revive(): Promise<void> {
    for await (const e of Deno.readDir(graves)) {
      if (e.isDirectory) await Deno.rename(join(graves, e.name), join(c.root, "hosts", e.name));
    }
  }

  async function journal(): Promise<HostLeftover[]> {
    const { entries, bad } = await listHostLeftovers(c.env);
    assert.deepEqual(bad, []);
    return entries;
  }

  /** The one journal entry: VM `vmId`'s directory on bravo, written by `action` (and said so). */
  async function assertDirJournaled(stderr: string, vmId: number, action: string) {
    assert.match(stderr, /VM directory .* left on bravo .*recorded for oneblk gc/);
    const [e, ...more] = await journal();
    assert.deepEqual(more, []);
    assert.deepEqual([e.kind, e.host, e.path, e.vmId, e.dsId, e.action], [
      "vm-dir",
      "bravo",
      `/var/lib/one/datastores/${sys}/${vmId}`,
      vmId,
      sys,
      action,
    ]);
  }

  const gc = (...args: string[]) => c.cli(["gc", ...args]);

  /** A VM whose directory is on `hosts` (one file in it), oned's record on the last of them. */
  async function vmOn(vmId: number, dirHosts: string[], history: string[], extra = {}) {
    const dir = vmDir(sys, vmId);
    for (const h of dirHosts) {
      await Deno.mkdir(c.hostPath(h, dir), { recursive: true });
      await Deno.writeTextFile(c.hostPath(h, `${dir}/deployment.0`), `domain of VM ${vmId}`);
    }
    const xml = putVm(c, {
      id: vmId,
      disks: [],
      history: history.map((hostname) => ({ hostname, dsId: sys, tmMad: PROFILE })),
      ...extra,
    });
    return { dir, stdin: btoa(xml) };
  }

  it("postmigrate: the old host goes down → its VM directory and marker are journaled; gc removes them once it is back", async () => {
    const vmId = 81;
    const { dir, stdin } = await vmOn(vmId, ["bravo", "charlie"], ["bravo", "charlie"]);
    const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
    // bravo goes down at the removal of the directory, which was to take the sharing test's
    // marker with it (the suite's host-down@3)
    const r = await runFaulted("postmigrate", args, stdin, `/*/${vmId}`, "down");
    assertOk(r, "an unreachable old host does not fail postmigrate (as before)");
    assert.match(r.stderr, /VM directory .* left on bravo .*recorded for oneblk gc/);
    const left = await journal();
    assert.deepEqual(left.map((e) => [e.kind, e.host, e.vmId, e.dsId]).sort(), [
      ["marker", "bravo", vmId, sys],
      ["vm-dir", "bravo", vmId, sys],
    ]);
    const vmDirEntry = left.find((e) => e.kind === "vm-dir")!;
    assert.equal(vmDirEntry.path, `/var/lib/one/datastores/${sys}/${vmId}`);
    assert.equal(vmDirEntry.action, "tm postmigrate");
    assert.match(vmDirEntry.owner, /^tm\/linstor\/postmigrate pid \d+$/);
    assert.ok(Date.now() - vmDirEntry.since < 120_000);

    // while bravo is still down gc keeps them
    const down = await gc("--min-age", "0");
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /kept: VM directory .* on bravo .*not reachable/);
    assert.equal((await journal()).length, 2);
    // too young for the default minimum age: kept
    await revive();
    assert.match((await gc()).stdout, /kept: VM directory .*younger than 60 min/);
    // --dry-run: said, not done
    const dry = await gc("--dry-run", "--min-age", "0");
    assert.match(
      dry.stdout,
      /would remove: VM directory \/var\/lib\/one\/datastores\/\d+\/81 on bravo/,
    );
    assert.ok(await lexists(c.hostPath("bravo", dir)));
    // bravo is back: gc removes both, drops the entries, charlie's directory is untouched
    const done = await gc("--min-age", "0");
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(done.stdout, /removed: VM directory .* on bravo \(VM 81/);
    assert.match(done.stdout, /removed: shared-directory marker .* on bravo/);
    assert.equal(await lexists(c.hostPath("bravo", dir)), false);
    assert.ok(await lexists(c.hostPath("charlie", `${dir}/deployment.0`)));
    assert.deepEqual(await journal(), []);
  });

  it("failmigrate: the source goes down while its marker is removed → the marker alone is journaled and removed, the VM's directory stays", async () => {
    const vmId = 82;
    const { dir, stdin } = await vmOn(vmId, ["bravo", "charlie"], ["bravo", "charlie"]);
    const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
    const r = await runFaulted("failmigrate", args, stdin, "/*/.oneblk-shared-*", "down");
    assertOk(r, "as before: the marker is not worth failing failmigrate for");
    const left = await journal();
    assert.equal(left.length, 1, JSON.stringify(left));
    assert.equal(left[0].kind, "marker");
    assert.equal(left[0].host, "bravo");
    assert.match(
      left[0].path,
      new RegExp(`^/var/lib/one/datastores/${sys}/${vmId}/\\.oneblk-shared-`),
    );
    assert.equal(left[0].action, "tm failmigrate");
    assert.equal(await lexists(c.hostPath("charlie", dir)), false, "dst cleaned as before");
    await revive();
    assert.ok(await lexists(c.hostPath("bravo", left[0].path)), "the marker is there");
    // the VM runs on bravo (its own directory there): only the marker file goes
    putVm(c, {
      id: vmId,
      disks: [],
      history: ["bravo", "charlie", "bravo"].map((hostname) => ({
        hostname,
        dsId: sys,
        tmMad: PROFILE,
      })),
    });
    const done = await gc("--min-age", "0");
    assert.equal(done.code, 0, done.stdout + done.stderr);
    assert.match(done.stdout, /removed: shared-directory marker/);
    assert.equal(await lexists(c.hostPath("bravo", left[0].path)), false);
    assert.equal(
      await Deno.readTextFile(c.hostPath("bravo", `${dir}/deployment.0`)),
      `domain of VM ${vmId}`,
    );
    assert.deepEqual(await journal(), []);
  });

  for (const mode of ["down", "fail"] as const) {
    it(`postbackup: host ${mode} at the backup directory's removal → journaled, postbackup still succeeds; gc removes it`, async () => {
      const vmId = mode === "down" ? 83 : 84;
      // disk 0 is another TM driver's: postbackup only cleans up
      const other = { diskId: 0, imageId: 8, source: "y", tmMad: "ssh", type: "BLOCK" };
      const { dir, stdin } = await vmOn(vmId, ["bravo"], ["bravo"], {
        state: 8,
        lcmState: 0,
        disks: [other],
      });
      await Deno.mkdir(c.hostPath("bravo", `${dir}/backup`));
      await Deno.writeTextFile(c.hostPath("bravo", `${dir}/backup/disk.0.0`), "backup bytes");
      const xml = atob(stdin);
      const args = [`bravo:${dir}`, "0", `one-${vmId}`, "-", `${vmId}`, `${sys}`];
      const r = await runFaulted("postbackup", args, xml, "*/backup", mode);
      assertOk(r, "postbackup never fails for its cleanup");
      const left = await journal();
      assert.equal(left.length, 1, JSON.stringify(left));
      assert.deepEqual([left[0].kind, left[0].host, left[0].path, left[0].action], [
        "backup-dir",
        "bravo",
        `/var/lib/one/datastores/${sys}/${vmId}/backup`,
        "tm postbackup",
      ]);
      await revive();
      // a backup of the VM is running now: its backup directory is in use, kept
      putVm(c, {
        id: vmId,
        disks: [],
        state: 3,
        lcmState: 69,
        history: [{ hostname: "bravo", dsId: sys, tmMad: PROFILE }],
      });
      assert.match((await gc("--min-age", "0")).stdout, /kept: backup directory .*being backed up/);
      assert.ok(await lexists(c.hostPath("bravo", `${dir}/backup/disk.0.0`)));
      putVm(c, {
        id: vmId,
        disks: [],
        state: 8,
        lcmState: 0,
        history: [{ hostname: "bravo", dsId: sys, tmMad: PROFILE }],
      });
      const done = await gc("--min-age", "0", "--datastore", `${sys}`);
      assert.equal(done.code, 0, done.stdout + done.stderr);
      assert.match(done.stdout, /removed: backup directory/);
      assert.equal(await lexists(c.hostPath("bravo", `${dir}/backup`)), false);
      assert.ok(await lexists(c.hostPath("bravo", `${dir}/deployment.0`)), "only DIR/backup");
      assert.deepEqual(await journal(), []);
    });
  }

  it("a VM back on the old host: gc drops the entry and never touches its directory; moving away: kept", async () => {
    const vmId = 85;
    const { dir, stdin } = await vmOn(vmId, ["bravo", "charlie"], ["bravo", "charlie"]);
    const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
    // the rm of the directory fails: postmigrate fails as before, the directory is journaled
    const r = await runFaulted("postmigrate", args, stdin, dir.replaceAll("//", "/"), "fail");
    assert.equal(r.code, 1, "a failed rm fails postmigrate, as before");
    assert.equal((await journal()).filter((e) => e.kind === "vm-dir").length, 1);
    await Deno.writeTextFile(c.hostPath("bravo", `${dir}/disk.0`), "live");
    const history = (hs: string[]) =>
      hs.map((hostname) => ({ hostname, dsId: sys, tmMad: PROFILE }));
    // moving back to bravo right now (MIGRATE, last record bravo): the directory is its own
    putVm(c, { id: vmId, disks: [], lcmState: 4, history: history(["bravo", "charlie", "bravo"]) });
    const dry = await gc("--dry-run", "--min-age", "0");
    assert.match(dry.stdout, /would drop: VM directory .*VM 85 is on bravo again/);
    // leaving bravo again, still in a migration (previous record bravo): kept
    putVm(c, {
      id: vmId,
      disks: [],
      lcmState: 4,
      history: history(["bravo", "charlie", "bravo", "charlie"]),
    });
    assert.match(
      (await gc("--min-age", "0")).stdout,
      /kept: VM directory .*moving away from bravo/,
    );
    assert.equal(await Deno.readTextFile(c.hostPath("bravo", `${dir}/disk.0`)), "live");
    // running on bravo: dropped, the directory stays
    putVm(c, { id: vmId, disks: [], history: history(["bravo", "charlie", "bravo"]) });
    const done = await gc("--min-age", "0");
    assert.match(done.stdout, /dropped: VM directory .*VM 85 is on bravo again/);
    assert.equal(await Deno.readTextFile(c.hostPath("bravo", `${dir}/disk.0`)), "live");
    assert.deepEqual(await journal(), []);
    // on charlie again; the rm fails twice: one entry (rewritten), not two
    putVm(c, { id: vmId, disks: [], history: history(["bravo", "charlie", "bravo", "charlie"]) });
    for (let n = 0; n < 2; n++) {
      await runFaulted("postmigrate", args, stdin, dir.replaceAll("//", "/"), "fail");
    }
    const again = (await journal()).filter((e) => e.kind === "vm-dir");
    assert.equal(again.length, 1, JSON.stringify(again));
    // oned cannot be asked where the VM is: kept, nothing touched
    const blind = await runHostGc({
      env: c.env,
      hosts: new SimRunner(c.root),
      one: () => Promise.reject(new OneblkError("unavailable", "oned does not answer")),
      remotes: c.remotes,
    }, { minAgeMs: 0 });
    assert.deepEqual(blind.items.map((i) => [i.action, i.why]), [
      ["kept", "oned cannot tell where VM 85 is: oned does not answer"],
    ]);
    assert.equal(await Deno.readTextFile(c.hostPath("bravo", `${dir}/disk.0`)), "live");
    // an action settles the entry while gc decides (a premigrate back to bravo drops it before
    // its copy): gc reads the entry again before removing and leaves the directory alone
    const racing = await runHostGc({
      env: c.env,
      hosts: new SimRunner(c.root),
      one: async () => {
        const real = await OneClient.fromEnv({ env: c.env });
        return new Proxy(real, {
          get(t, k) {
            if (k !== "vmInfo") {
              const v = Reflect.get(t, k, t);
              return typeof v === "function" ? v.bind(t) : v;
            }
            return async (id: number) => {
              await resolveHostLeftover(c.env, "bravo", dir);
              return await t.vmInfo(id);
            };
          },
        });
      },
      remotes: c.remotes,
    }, { minAgeMs: 0 });
    assert.deepEqual(racing.items.map((i) => [i.action, i.why]), [
      ["dropped", "its entry was settled by an action meanwhile"],
    ]);
    assert.equal(await Deno.readTextFile(c.hostPath("bravo", `${dir}/disk.0`)), "live");
    await runFaulted("postmigrate", args, stdin, dir.replaceAll("//", "/"), "fail");
    assert.equal((await journal()).filter((e) => e.kind === "vm-dir").length, 1);
    // oned answers: VM 85 is on charlie, the directory on bravo goes
    assert.match((await gc("--min-age", "0")).stdout, /removed: VM directory .* on bravo \(VM 85/);
    assert.equal(await lexists(c.hostPath("bravo", dir)), false);
    assert.deepEqual(await journal(), []);
  });

  it("a journal entry whose path is not below the datastore's BASE_PATH is never removed (issue 10 item 8)", async () => {
    await Deno.mkdir(c.hostPath("bravo", `/etc/${sys}/87`), { recursive: true });
    await Deno.writeTextFile(c.hostPath("bravo", `/etc/${sys}/87/file`), "precious");
    for (
      const [kind, path] of [
        ["vm-dir", `/etc/${sys}/87`],
        ["vm-dir", `/var/lib/one/datastores/${sys}/87/../../../../../etc/${sys}/87`],
        ["backup-dir", `/etc/${sys}/87/backup`],
        ["marker", `/etc/${sys}/87/file`],
      ] as const
    ) {
      await recordHostLeftover(c.env, {
        host: "bravo",
        path,
        kind,
        vmId: 87,
        dsId: sys,
        action: "tm postmigrate",
        owner: "forged",
        since: 0,
        why: "forged",
      });
    }
    const r = await gc("--min-age", "0");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /^removed:/m);
    assert.equal((r.stdout.match(/kept: .*VM 87/g) ?? []).length, 4, r.stdout);
    assert.equal(await Deno.readTextFile(c.hostPath("bravo", `/etc/${sys}/87/file`)), "precious");
    for (const e of await journal()) {
      await resolveHostLeftover(c.env, e.host, e.path);
    }
  });

  it("postmigrate with the old host down from its first step: fails as before, DIR journaled; gc drops it when the directory is shared with the VM's host, removes it when not", async () => {
    const vmId = 88;
    const { dir, stdin } = await vmOn(vmId, ["bravo", "charlie"], ["bravo", "charlie"]);
    const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
    const down = async () => {
      await Deno.rename(join(c.root, "hosts", "bravo"), join(graves, "bravo"));
      const r = await c.run("tm", PROFILE, "postmigrate", args, { stdin });
      await revive();
      return r;
    };
    const r = await down();
    assert.equal(r.code, 1, "cannot tell whether DIR is shared: fails, as before");
    assert.match(r.stderr, /cannot tell whether .* is shared/);
    const [e] = await journal();
    assert.deepEqual([e.kind, e.host, e.vmId], ["vm-dir", "bravo", vmId]);
    assert.match(e.why, /^not removed after: cannot tell whether/);
    // a dry run writes nothing on the hosts, not even gc's probe
    const dry = await gc("--dry-run", "--min-age", "0");
    assert.match(dry.stdout, /would remove: VM directory .*\(once not shared with charlie\)/);
    const names = async (h: string) =>
      (await Array.fromAsync(Deno.readDir(c.hostPath(h, dir)))).map((x) => x.name).sort();
    assert.deepEqual(await names("bravo"), ["deployment.0"]);
    // charlie sees bravo's directory (one filesystem): the VM's live directory, never removed
    await Deno.remove(c.hostPath("charlie", dir), { recursive: true });
    await Deno.symlink(c.hostPath("bravo", dir), c.hostPath("charlie", dir));
    const sharedRun = await gc("--min-age", "0");
    assert.match(sharedRun.stdout, /dropped: VM directory .*uses on charlie \(shared\)/);
    assert.deepEqual(await names("bravo"), ["deployment.0"], "untouched, probe removed");
    assert.deepEqual(await journal(), []);
    // not shared: removed
    await Deno.remove(c.hostPath("charlie", dir));
    await Deno.mkdir(c.hostPath("charlie", dir));
    assert.equal((await down()).code, 1);
    const done = await gc("--min-age", "0");
    assert.match(done.stdout, /removed: VM directory .* on bravo \(VM 88/);
    assert.equal(await lexists(c.hostPath("bravo", dir)), false);
    assert.deepEqual(await journal(), []);
  });

  it("tm mv from a dead source (host_error, LCM 60): the directory given up there is journaled; gc removes it once the VM runs elsewhere", async () => {
    const vmId = 89;
    const history = (hs: string[]) =>
      hs.map((hostname) => ({ hostname, dsId: sys, tmMad: PROFILE }));
    const { dir } = await vmOn(vmId, ["bravo"], ["bravo", "charlie"], { lcmState: 60 });
    const args = [`bravo:${dir}`, `charlie:${dir}`, `${vmId}`, `${sys}`];
    await Deno.rename(join(c.root, "hosts", "bravo"), join(graves, "bravo"));
    const r = await c.run("tm", PROFILE, "mv", args);
    await revive();
    assertOk(r, "a dead source is given up on the host_error path (as before)");
    await assertDirJournaled(r.stderr, vmId, "tm mv");
    assert.ok(await lexists(c.hostPath("charlie", dir)), "created (empty) on the destination");
    // still being moved away from bravo: kept
    assert.match((await gc("--min-age", "0")).stdout, /kept: VM directory .*moving away/);
    assert.ok(await lexists(c.hostPath("bravo", `${dir}/deployment.0`)));
    putVm(c, { id: vmId, disks: [], history: history(["bravo", "charlie"]) });
    const done = await gc("--min-age", "0");
    assert.match(done.stdout, /removed: VM directory .* on bravo \(VM 89/);
    assert.equal(await lexists(c.hostPath("bravo", dir)), false);
    assert.ok(await lexists(c.hostPath("charlie", dir)), "the VM's directory is untouched");
    assert.deepEqual(await journal(), []);

    // the source dies at the removal, after the copy: LCM 60 journals it and succeeds; any
    // other move fails (oned's retry removes it once the host answers) and journals nothing
    for (const lcmState of [60, 8]) {
      await vmOn(vmId, ["bravo"], ["bravo", "charlie"], { lcmState });
      await Deno.remove(c.hostPath("charlie", dir), { recursive: true });
      const m = await runFaulted("mv", args, "", dir.replaceAll("//", "/"), "down");
      await revive();
      assert.equal(
        await Deno.readTextFile(c.hostPath("charlie", `${dir}/deployment.0`)),
        `domain of VM ${vmId}`,
        "copied",
      );
      if (lcmState === 60) {
        assertOk(m);
        assert.deepEqual((await journal()).map((x) => [x.kind, x.host]), [["vm-dir", "bravo"]]);
      } else {
        assert.equal(m.code, 1, "a source out of reach fails the move");
        assert.deepEqual(await journal(), []);
      }
      // the retry (host back) removes it and settles the entry
      putVm(c, { id: vmId, disks: [], lcmState, history: history(["bravo", "charlie"]) });
      assertOk(await c.run("tm", PROFILE, "mv", args));
      assert.equal(await lexists(c.hostPath("bravo", dir)), false);
      assert.deepEqual(await journal(), []);
    }
  });

  it("tm delete of DIR with the host going down at the removal: succeeds as before, DIR journaled; a retry or gc removes it", async () => {
    const vmId = 90;
    const history = [{ hostname: "bravo", dsId: sys, tmMad: PROFILE }];
    const args = [`bravo:${vmDir(sys, vmId)}`, `${vmId}`, `${sys}`];
    for (const settle of ["retry", "gc"] as const) {
      const { dir } = await vmOn(vmId, ["bravo"], ["bravo"], { lcmState: 15 });
      const r = await runFaulted("delete", args, "", dir.replaceAll("//", "/"), "down");
      await revive();
      assertOk(r, "an unreachable host is reported, not an error");
      await assertDirJournaled(r.stderr, vmId, "tm delete");
      assert.ok(await lexists(c.hostPath("bravo", `${dir}/deployment.0`)), "left there");
      if (settle === "retry") {
        // oned's retry (recover --retry) with the host back: removed, entry dropped
        const again = await c.run("tm", PROFILE, "delete", args);
        assertOk(again);
        assert.match(again.stderr, /dropped from oneblk gc's journal/);
      } else {
        // the VM is gone (DONE): gc removes the directory once the host answers
        putVm(c, { id: vmId, disks: [], state: 6, lcmState: 0, history });
        assert.match((await gc("--min-age", "0")).stdout, /removed: VM directory .* on bravo/);
      }
      assert.equal(await lexists(c.hostPath("bravo", dir)), false);
      assert.deepEqual(await journal(), []);
    }
  });

  it("premigrate back to the old host removes the stale directory there before copying, and drops the entry", async () => {
    const vmId = 86;
    const { dir, stdin } = await vmOn(vmId, ["bravo", "charlie"], ["bravo", "charlie"]);
    const args = ["bravo", "charlie", dir, `${vmId}`, `${sys}`];
    await runFaulted("postmigrate", args, stdin, `/*/${vmId}`, "down");
    await revive();
    await Deno.writeTextFile(c.hostPath("bravo", `${dir}/stale.file`), "old");
    assert.ok((await journal()).some((e) => e.kind === "vm-dir" && e.vmId === vmId));
    const back = putVm(c, {
      id: vmId,
      disks: [],
      lcmState: 4,
      history: ["bravo", "charlie", "bravo"].map((hostname) => ({
        hostname,
        dsId: sys,
        tmMad: PROFILE,
      })),
    });
    const r = await c.run("tm", PROFILE, "premigrate", [
      "charlie",
      "bravo",
      dir,
      `${vmId}`,
      `${sys}`,
    ], {
      stdin: btoa(back),
    });
    assertOk(r);
    assert.equal(await lexists(c.hostPath("bravo", `${dir}/stale.file`)), false);
    assert.equal(
      await Deno.readTextFile(c.hostPath("bravo", `${dir}/deployment.0`)),
      `domain of VM ${vmId}`,
    );
    assert.deepEqual((await journal()).filter((e) => e.kind === "vm-dir"), []);
    // the marker entry of the failed postmigrate is still there; gc removes it
    assert.match((await gc("--min-age", "0")).stdout, /removed: shared-directory marker/);
    assert.deepEqual(await journal(), []);
  });
});

/**
 * The README's walkthrough ("Trying it by hand against the simulators") runs as written: the
 * sh block after its marker is run by bash in the repository (on free ports, with errors fatal),
 * and prints what the README says it prints, ending with a doctor run that finds no error. And
 * the project's documents (README, docs/, every README.md) name no file that does not exist.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { toolTest } from "../support/tools.ts";
import { deadPort } from "../linstor/helpers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const MARKER = "<!-- walkthrough: test/doctor/readme_test.ts runs this block -->";

const README = Deno.readTextFileSync(join(ROOT, "README.md"));

/** The walkthrough's shell text. */
function walkthrough(): string {
  const readme = README;
  const at = readme.indexOf(MARKER);
  assert.ok(at >= 0, "README has the walkthrough marker");
  const m = /```sh\n([^]*?)\n```/.exec(readme.slice(at));
  assert.ok(m, "a sh block follows the marker");
  return m[1];
}

toolTest(["curl", "qemu-img"], "the README's walkthrough against the simulators runs", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "oneblk-readme-" });
  try {
    // errors are fatal; the simulators are stopped whatever happens
    const script = "set -e -o pipefail\ntrap 'kill $LS_PID $ONED_PID 2>/dev/null' EXIT\n" +
      walkthrough();
    const out = await new Deno.Command("bash", {
      args: ["-c", script],
      cwd: ROOT,
      env: {
        TMPDIR: tmp,
        LS_PORT: String(deadPort()),
        ONED_PORT: String(deadPort()),
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(180_000),
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${stdout}\n${stderr}`);
    // what the README says the walkthrough prints (the link count itself: install_test.ts)
    const said = (re: RegExp) => {
      const m = re.exec(README);
      assert.ok(m, `README says ${re}`);
      return m[1];
    };
    const links = said(/`summary: (\d+) created, …`/);
    assert.equal(links, said(/(\d+) per driver today/));
    assert.match(
      stdout,
      new RegExp(`^summary: ${links} created, 0 updated, 0 unchanged, 0 skipped$`, "m"),
    );
    assert.match(stdout, /^OpenNebula-Image-7$/m);
    assert.match(stdout, /"node_name":"charlie","flags":\[[^\]]*"TIE_BREAKER"\]/);
    assert.match(stdout, /\/hosts\/delta\/dev\/drbd\/by-res\/OpenNebula-Image-7\/0$/m);
    assert.match(stdout, /^"node_name":"delta","flags":\["DISKLESS","DRBD_DISKLESS"\]$/m);
    assert.match(stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+$/m);
    const oks = said(/the doctor's (\d+) ok lines/);
    assert.match(stdout, new RegExp(`^doctor: ${oks} ok, 0 warnings, 0 errors$`, "m"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the project's documents point only to files that exist", async () => {
  const docs = ["README.md", "test/fixtures/README.md"];
  for await (const e of Deno.readDir(join(ROOT, "docs"))) {
    if (e.name.endsWith(".md")) docs.push(`docs/${e.name}`);
  }
  const ls = await new Deno.Command("git", {
    args: ["ls-files", "*README.md"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  for (const f of new TextDecoder().decode(ls.stdout).trim().split("\n")) {
    if (f && !docs.includes(f)) docs.push(f);
  }
  const exists = (p: string) => {
    try {
      Deno.statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  const missing: string[] = [];
  for (const doc of docs) {
    const text = await Deno.readTextFile(join(ROOT, doc));
    const dir = join(ROOT, doc, "..");
    // markdown links to files, relative to the document
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (!/^[a-z]+:/.test(m[1]) && !exists(join(dir, m[1]))) missing.push(`${doc}: ${m[1]}`);
    }
    // code spans naming the project's files, relative to the repository or the document
    const span = /`((?:\.\.\/)*(?:lib|app|actions|tools|test|docs|scripts|\.ci)\/[\w./-]+)`/g;
    for (const m of text.matchAll(span)) {
      const p = m[1].replace(/\/$/, "");
      if (!exists(join(ROOT, p)) && !exists(join(dir, p))) missing.push(`${doc}: ${m[1]}`);
    }
  }
  assert.ok(docs.length > 5, docs.join(" "));
  assert.deepEqual(missing, []);
});

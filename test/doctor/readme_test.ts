/**
 * The README's walkthrough ("Trying it by hand against the simulators") runs as written: the
 * sh block after its marker is run by bash in the repository (on free ports, with errors fatal),
 * and prints what the README says it prints, ending with a doctor run that finds no error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { toolTest } from "../support/tools.ts";
import { deadPort } from "../linstor/helpers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const MARKER = "<!-- walkthrough: test/doctor/readme_test.ts runs this block -->";

/** The walkthrough's shell text. */
function walkthrough(): string {
  const readme = Deno.readTextFileSync(join(ROOT, "README.md"));
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
    assert.match(stdout, /^summary: 40 created, 0 updated, 0 unchanged, 0 skipped$/m);
    assert.match(stdout, /^OpenNebula-Image-7$/m);
    assert.match(stdout, /"node_name":"charlie","flags":\[[^\]]*"TIE_BREAKER"\]/);
    assert.match(stdout, /\/hosts\/delta\/dev\/drbd\/by-res\/OpenNebula-Image-7\/0$/m);
    assert.match(stdout, /^"node_name":"delta","flags":\["DISKLESS","DRBD_DISKLESS"\]$/m);
    assert.match(stdout, /^USED_MB=\d+\nTOTAL_MB=\d+\nFREE_MB=\d+$/m);
    assert.match(stdout, /^doctor: 14 ok, 0 warnings, 0 errors$/m);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

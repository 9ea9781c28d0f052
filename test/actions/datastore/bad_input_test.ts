/**
 * Bad input to every datastore action, in both payload styles: garbage base64, a payload with
 * no IMAGE, a missing id argument, no PATH. Each answer is exactly one line on stderr, exit 1,
 * nothing on stdout, and the simulated world (volumes, attachments, files on hosts) unchanged.
 * Actions rotate over the profiles so every action and every profile is covered.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Cluster, type RunOutput, startCluster } from "../../../tools/sim/cluster.ts";
import { dsOnlyPayload, imagePayload, lines, PROFILES, worldState } from "./helpers.ts";

const ACTIONS = [
  "cp",
  "mkfs",
  "clone",
  "rm",
  "monitor",
  "snap_delete",
  "snap_revert",
  "snap_flatten",
  "export",
];

function refused(r: RunOutput, what: string, why: RegExp): void {
  assert.equal(r.code, 1, what);
  assert.equal(r.stdout, "", what);
  assert.equal(lines(r.stderr), 1, `${what}: ${r.stderr}`);
  assert.match(r.stderr, why, what);
}

describe("datastore actions refuse bad input with one line and no side effect", () => {
  let c: Cluster;
  let world: string[];

  before(async () => {
    c = await startCluster();
    world = await worldState(c);
  });
  after(async () => {
    await c?.stop();
  });

  it("garbage base64, in argv (≤6.6) and on stdin (≥6.8), for every action", async () => {
    await Promise.all(ACTIONS.map(async (action, i) => {
      const drv = PROFILES[i % PROFILES.length];
      const why = new RegExp(`^datastore/${drv}/${action}: .*not valid base64`);
      refused(
        await c.run("datastore", drv, action, ["%%%not-base64%%%", "5"]),
        `${drv}/${action} argv`,
        why,
      );
      refused(
        await c.run("datastore", drv, action, ["5"], { stdin: "%%%not-base64%%%\n" }),
        `${drv}/${action} stdin`,
        why,
      );
    }));
    assert.deepEqual(await worldState(c), world);
  });

  it("empty stdin, no id, base64 of something that is not XML", async () => {
    await Promise.all(PROFILES.map(async (drv, i) => {
      const action = ACTIONS[i * 3];
      refused(
        await c.run("datastore", drv, action, ["5"], { stdin: "" }),
        `${drv}/${action} empty`,
        /no driver action on stdin/,
      );
      refused(await c.run("datastore", drv, action, []), `${drv}/${action} no id`, /expects/);
      refused(
        await c.run("datastore", drv, action, [btoa("hello"), "5"]),
        `${drv}/${action} not XML`,
        /does not decode to XML/,
      );
    }));
    assert.deepEqual(await worldState(c), world);
  });

  it("image actions given a payload without IMAGE, and cp without PATH", async () => {
    const imageActions = ACTIONS.filter((a) => a !== "monitor");
    await Promise.all(imageActions.map(async (action, i) => {
      const drv = PROFILES[i % PROFILES.length];
      refused(
        await c.runDs("datastore", drv, action, dsOnlyPayload(c, drv), 5, i % 2 ? "argv" : "stdin"),
        `${drv}/${action}`,
        /has no IMAGE element/,
      );
    }));
    for (const drv of PROFILES) {
      refused(
        await c.runDs(
          "datastore",
          drv,
          "cp",
          imagePayload(c, drv, { id: 5, path: "", size: 4 }),
          5,
          "argv",
        ),
        `${drv}/cp`,
        /image has no PATH/,
      );
    }
    assert.deepEqual(await worldState(c), world);
  });
});

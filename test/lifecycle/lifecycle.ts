/**
 * Shared body of the lifecycle tests: one `describe` per (profile, OpenNebula calling
 * convention) playing tools/sim/scenario.ts, one `it` per step. Steps whose driver actions are
 * not implemented yet are skipped with the missing action names in the test name.
 */
import { after, before, describe, it } from "node:test";
import { AssertionError } from "node:assert/strict";
import { Lifecycle, unsupportedReason } from "../../tools/sim/scenario.ts";
import {
  conventionFor,
  CONVENTIONS,
  type ProfileName,
} from "../../tools/sim/oned/scripted_oned.ts";
import { needing } from "../support/tools.ts";

/** Register the lifecycle tests of one profile under one calling convention. */
export function describeLifecycle(
  profile: ProfileName,
  convention: keyof typeof CONVENTIONS,
  opts: { short?: boolean } = {},
): void {
  const version = CONVENTIONS[convention];
  const life = new Lifecycle({ profile, version, short: opts.short });
  const style = conventionFor(version).dsArgs === "stdin"
    ? "DS payload on stdin"
    : "DS payload base64 on argv";
  const title = `${profile}: ${
    opts.short ? "short" : "whole"
  } VM life, OpenNebula ${convention} (${style})`;
  // the scenario converts and inspects images with qemu-img and makes ext4 volatile disks
  describe(...needing(["qemu-img", "mkfs.ext4"], title), () => {
    let failed: string | null = null;
    before(async () => {
      await life.start();
    });
    after(async () => {
      await life.close();
    });
    for (const step of life.steps()) {
      const missing = life.missing(step);
      const unsupported = unsupportedReason(life, step);
      if (missing.length || unsupported) {
        const why = unsupported ?? `not implemented yet: ${missing.join(", ")}`;
        it.skip(`${step.title} [skipped: ${why}]`, () => {});
        continue;
      }
      it(step.title, async () => {
        if (failed) throw new Error(`not run: the earlier step "${failed}" failed`);
        try {
          await step.run(life);
        } catch (e) {
          // A driver failure leaves oned's objects in a *_FAILURE state: later steps cannot
          // build on them. A failed check (AssertionError), or a failure in a step that
          // cleans up after itself, does not stop the story.
          if (!(e instanceof AssertionError) && !step.isolated) failed = step.title;
          throw e;
        }
      });
    }
  });
}

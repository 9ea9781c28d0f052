/** lib/errors.ts: several failures of one step, each distinct cause said once (issue 10). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { joinCauses } from "../lib/errors.ts";

describe("joinCauses", () => {
  it("says a cause once whatever call met it; keeps different causes in order", () => {
    const gone = "cannot reach the API at 127.0.0.1:81 (fetch failed: Connection refused)";
    assert.equal(
      joinCauses([
        `StorPool VolumesReassignWait: ${gone}`,
        `StorPool SnapshotsList: ${gone}`,
        "rm on bravo failed (exit 1): rm: Permission denied",
        `StorPool SnapshotsList: ${gone}`,
      ]),
      `StorPool VolumesReassignWait: ${gone}; rm on bravo failed (exit 1): rm: Permission denied`,
    );
    assert.equal(joinCauses([]), "");
    // Once the store is unreachable, later calls' "unreachable" lines add nothing.
    assert.equal(
      joinCauses([
        "LINSTOR PUT /v1/x: connection to http://c:3370 lost after sending (reset); outcome unknown",
        "LINSTOR GET /v1/y: no controller reachable (http://c:3370: Connection refused)",
      ]),
      "LINSTOR PUT /v1/x: connection to http://c:3370 lost after sending (reset); outcome unknown",
    );
    // The same cause in other transport words (nested parentheses) is still the same cause.
    const at = "StorPool VolumesReassignWait: cannot reach the API at 127.0.0.1:81";
    assert.equal(
      joinCauses([
        `${at} (fetch failed: client error (SendRequest): connection closed)`,
        `${at} (fetch failed: client error (Connect): Connection refused (os error 111))`,
      ]),
      `${at} (fetch failed: client error (SendRequest): connection closed)`,
    );
  });
});

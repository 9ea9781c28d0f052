/**
 * The fast subset of the fault matrix that `deno task test` runs (test/faults/fast_test.ts): a
 * few points on four (setting, action) pairs, chosen so that every fault mode meets both stores
 * and so that faults that once found a bug of issue 10 stay covered (noted per point). Items 3,
 * 4 and 5 (snap_create) have their own regression tests (test/actions/tm_disk/safety_test.ts),
 * which cost less than their fault pairs. Points are named by the request or host step they
 * fault (a pattern over the reference run), so they stay valid when an action's requests change
 * elsewhere.
 */
import type { PointPick } from "./run.ts";

/** The fast points (see the module doc). */
export const FAST_PICKS: readonly PointPick[] = [
  // LINSTOR
  // item 1: the reply of the clone is lost; success only once the clone is complete
  { setting: "linstor", case: "tm/clone", mode: "lost", at: "^POST .*/clone$" },
  // items 1, 2: the reply is lost and the clone then fails: never a disk of zeros
  { setting: "linstor", case: "tm/clone", mode: "clone-fail-lost", at: "^POST .*/clone$" },
  { setting: "linstor", case: "tm/clone", mode: "error", at: "^POST .*/clone$" },
  { setting: "linstor", case: "tm/clone", mode: "reset", at: "^POST .*/clone$" },
  // item 7: a token with a line break never shows in an error
  { setting: "linstor", case: "tm/clone", mode: "token" },
  { setting: "linstor", case: "tm/clone", mode: "host-fail", at: "sh$" },
  { setting: "linstor_un", case: "datastore/cp", mode: "gone", at: "spawn$" },
  { setting: "linstor_un", case: "datastore/cp", mode: "stall", at: "make-available$" },
  { setting: "linstor_un", case: "datastore/cp", mode: "host-down", at: "dd$" },
  // StorPool
  // item 5: a failed final detach is marked, and oneblk gc releases it
  { setting: "storpool", case: "datastore/cp", mode: "error", at: "VolumesReassignWait$", nth: -1 },
  // item 5: a failed cp leaves no volume behind (oned drops the image without DS rm)
  { setting: "storpool", case: "datastore/cp", mode: "lost", at: "VolumeCreate$" },
  { setting: "storpool", case: "datastore/cp", mode: "gone", at: "VolumeCreate$" },
  // item 7
  { setting: "storpool", case: "datastore/cp", mode: "token" },
  { setting: "storpool", case: "datastore/cp", mode: "host-fail", at: "dd$" },
  { setting: "storpool", case: "datastore/cp", mode: "host-down", at: "dd$" },
  // a revert's re-attach fails: the retry leaves the disk attached on its host
  {
    setting: "storpool",
    case: "tm/snap_revert",
    mode: "error",
    at: "VolumesReassignWait$",
    nth: 2,
  },
  { setting: "storpool", case: "tm/snap_revert", mode: "reset", at: "." },
  { setting: "storpool", case: "tm/snap_revert", mode: "stall", at: "." },
];

/** A readable key of a pick: `<setting> <case> <mode>[@<at>[#nth]]`. */
export function pickKey(p: PointPick): string {
  return `${p.setting} ${p.case} ${p.mode}${p.at ? `@${p.at}` : ""}${p.nth ? `#${p.nth}` : ""}`;
}

/**
 * The fast subset of the fault matrix that `deno task test` runs (test/faults/fast_test.ts): a
 * few points per store chosen so that every fault mode meets both stores, and so that the known
 * failures of issue 10 (items 1–7) each show. Points are named by the request or host step
 * they fault (a pattern over the reference run), so they stay valid when an action's requests
 * change elsewhere.
 */
import type { PointPick } from "./run.ts";

/** The fast points (see the module doc). */
export const FAST_PICKS: readonly PointPick[] = [
  // LINSTOR (linstor, linstor_un)
  { setting: "linstor", case: "tm/clone", mode: "lost", at: "^POST .*/clone$" },
  { setting: "linstor", case: "tm/clone", mode: "clone-fail-lost", at: "^POST .*/clone$" },
  { setting: "linstor", case: "tm/clone", mode: "error", at: "^POST .*/clone$" },
  { setting: "linstor", case: "tm/clone", mode: "token" },
  { setting: "linstor", case: "tm/clone", mode: "host-fail", at: "sh$" },
  { setting: "linstor_un", case: "datastore/cp", mode: "gone", at: "spawn$" },
  { setting: "linstor_un", case: "datastore/cp", mode: "host-down", at: "dd$" },
  { setting: "linstor_un", case: "datastore/cp", mode: "stall", at: "make-available$" },
  { setting: "linstor_un", case: "tm/snap_create", mode: "lost", at: "snapshots$" },
  { setting: "linstor_un", case: "tm/snap_create", mode: "reset", at: "snapshots$" },
  { setting: "linstor_un", case: "tm/delete:cdrom", mode: "none" },
  {
    setting: "linstor_un+snapclone",
    case: "tm/clone",
    mode: "lost",
    at: "^POST /v1/resource-definitions$",
  },
  // StorPool
  { setting: "storpool", case: "datastore/cp", mode: "error", at: "VolumesReassignWait$", nth: -1 },
  { setting: "storpool", case: "datastore/cp", mode: "lost", at: "VolumeCreate$" },
  { setting: "storpool", case: "datastore/cp", mode: "gone", at: "VolumeCreate$" },
  { setting: "storpool", case: "datastore/cp", mode: "token" },
  { setting: "storpool", case: "datastore/cp", mode: "host-fail", at: "dd$" },
  { setting: "storpool", case: "tm/delete", mode: "reset", at: "." },
  { setting: "storpool", case: "tm/delete", mode: "stall", at: "." },
  { setting: "storpool", case: "tm/delete", mode: "host-down", at: "." },
];

/** A readable key of a pick: `<setting> <case> <mode>[@<at>[#nth]]`. */
export function pickKey(p: PointPick): string {
  return `${p.setting} ${p.case} ${p.mode}${p.at ? `@${p.at}` : ""}${p.nth ? `#${p.nth}` : ""}`;
}

/**
 * Fast fault points (tools/faults/fast.ts) that fail today because of issue 10 items 1–9,
 * whose fixes are another engineer's work: point key (fast.ts pickKey) → the item. The fast
 * test requires each of them to fail (so that a fix shows) and every other fast point to be
 * clean. Whoever fixes an item removes its lines here; the list ends empty.
 */
export const KNOWN_FAILURES: Readonly<Record<string, string>> = {
  "linstor tm/clone lost@^POST .*/clone$":
    "item 1: the clone's reply is lost, tm clone reuses the clone while it is still CLONING",
  "linstor tm/clone clone-fail-lost@^POST .*/clone$":
    "items 1, 2: the reply is lost and the clone then FAILS: tm clone succeeds on zeros",
  "linstor_un+snapclone tm/clone lost@^POST /v1/resource-definitions$":
    "item 3: snapshot-restore path, RD reply lost: tm clone succeeds with an RD without volume",
  "linstor_un tm/delete:cdrom none":
    "item 4: terminating VM A detaches the shared CDROM under powered-off VM B",
  "linstor_un tm/snap_create lost@snapshots$":
    "item 5: a snap_create whose reply is lost leaves snapshot-N oned never learns of",
  "storpool datastore/cp lost@VolumeCreate$":
    "item 5: a failed cp leaves the image's volume (oned drops the image without DS rm)",
  "storpool datastore/cp error@VolumesReassignWait$#-1":
    "item 5: cp's final detach fails: the attachment on the bridge host stays for good",
  "linstor tm/clone token": "item 7: a LINSTOR_TOKEN with a line break ends up in the error",
  "storpool datastore/cp token": "item 7: an SP_AUTH_TOKEN with a line break ends up in the error",
};

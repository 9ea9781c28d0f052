/**
 * The DRBD and storage layer facts of the simulated LINSTOR controller that a migrated
 * (adopted) DRBD resource depends on, as LINSTOR 1.34 decides them:
 *
 * - **Peer slots.** A resource definition's DRBD layer data fixes its peer slots when it is
 *   created: at RD creation when the request carries DRBD data (`drbd_port`, `drbd_peer_slots`,
 *   `drbd_secret`, `drbd_transport_type`, or the group has `peer_slots`), else when the first
 *   volume definition with an explicit `drbd_minor_number`, else the first resource, is made.
 *   The value is the request's `drbd_peer_slots`, else the group's `peer_slots`, else the
 *   `PeerSlotsNewResource` property of the RD, the group, then the controller, else 7. Later changes of the
 *   property do not touch it; `peer_slots` of an RD modify does. Every resource takes the
 *   definition's value. (RscDrbdLayerHelper.createRscDfnData / getPeerSlotsForNewResource /
 *   mergeRscDfnData, ResourceDefinitionControllerFactory.create,
 *   CtrlRscLayerDataFactory.ensureRequiredRscDfnLayerDataExits / ensureVlmDfnLayerDataExits;
 *   DrbdRscData takes the definition's slots when the resource has none of its own.)
 *   So the article's order — create the RD with its port, then set PeerSlotsNewResource —
 *   leaves new resources at 7 on 1.34; sending `drbd_peer_slots` with the create gives 4.
 * - **`PeerSlotsNewResource`** is whitelisted as an integer from 1 to 31 (RD, RG, controller):
 *   props.ts checks it with the rest of the whitelist.
 * - **Minors and node ids.** `drbd_minor_number` of a volume definition create must be free and
 *   within 0..1048575 (else FAIL_INVLD_MINOR_NR); `drbd_node_id` of a resource create must be
 *   within 0..31 (else FAIL_UNKNOWN_ERROR "An exception occurred while creating layer data");
 *   LINSTOR does not check that a given node id is unused.
 * - **Backing devices.** The storage layer names a volume `<rd>_<5-digit volume number>`, or the
 *   volume definition's `OverrideVlmId`; an LVM volume is `/dev/<VG>/<name>` with the VG of the
 *   pool (`StorDriver/LvmVg`, or the first part of `StorDriver/StorPoolName`). With
 *   OverrideVlmId set the controller skips its free-space check (the volume exists already).
 */
import { CODE } from "../../../lib/backend/linstor/api_call_rc.ts";
import { MAX_PEER_SLOTS, MIN_PEER_SLOTS } from "../../../lib/drbd/metadata.ts";
import { fail } from "./replies.ts";
import {
  align,
  drbdMetaKib,
  extentKib,
  OVERRIDE_VLM_ID,
  PEER_SLOTS,
  PEER_SLOTS_PROP,
  type SimPool,
  type SimRd,
  type SimRsc,
  type SimVd,
} from "./model.ts";
import type { SimController } from "./controller.ts";

/** Highest DRBD minor number (MinorNumber.MINOR_NR_MAX). */
export const MINOR_MAX = (1 << 20) - 1;
/** First minor of the automatic range (NumberPoolModule.DEFAULT_MINOR_NR_MIN). */
export const MINOR_AUTO_MIN = 1000;
/** Highest DRBD node id (NodeId.NODE_ID_MAX). */
export const NODE_ID_MAX = 31;

/** A whole number in a request (JSON number), else undefined. */
export function intField(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) ? v : undefined;
}

function slotsProp(props: Record<string, string> | undefined): number | undefined {
  const v = props?.[PEER_SLOTS_PROP];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Make sure `rd` has its DRBD layer data; returns its peer slots. `explicit` (a request's
 * `drbd_peer_slots` or an RD modify's `peer_slots`) sets them even when the data exists.
 */
export function ensureDrbdLayer(ctl: SimController, rd: SimRd, explicit?: number): number {
  if (explicit !== undefined) {
    if (explicit < MIN_PEER_SLOTS || explicit > MAX_PEER_SLOTS) {
      fail(CODE.FAIL_UNKNOWN_ERROR, "An exception occurred while creating layer data", {
        cause: `Peer slots ${explicit} is out of range [${MIN_PEER_SLOTS}..${MAX_PEER_SLOTS}]`,
      });
    }
    rd.peerSlots = explicit;
  } else if (rd.peerSlots === undefined) {
    const g = ctl.rg(rd.rg);
    rd.peerSlots = g?.peerSlots ?? slotsProp(rd.props) ?? slotsProp(g?.props) ??
      slotsProp(ctl.state.ctrlProps) ?? PEER_SLOTS;
  }
  return rd.peerSlots;
}

/** Peer slots of `r` as the controller shows them. */
export function rscPeerSlots(rd: SimRd, r: SimRsc): number {
  return r.peerSlots ?? rd.peerSlots ?? PEER_SLOTS;
}

/** The minor for a new volume definition: `want` if valid and free, else the next free one. */
export function allocMinor(ctl: SimController, want: number | undefined): number {
  // the minors in use are kept incrementally (a scan of every definition per volume would
  // make creating N definitions cost N²)
  const used = { has: (m: number) => ctl.usage.minorInUse(m) };
  if (want !== undefined) {
    if (want < 0 || want > MINOR_MAX || used.has(want)) {
      fail(CODE.FAIL_INVLD_MINOR_NR, `The specified minor number '${want}' is invalid.`);
    }
    return want;
  }
  let m = Math.max(ctl.state.nextMinor, MINOR_AUTO_MIN);
  while (used.has(m)) m++;
  ctl.state.nextMinor = m + 1;
  return m;
}

/** Check a resource create's `drbd_node_id` (0..31); undefined when absent. */
export function checkNodeId(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = intField(v);
  if (n === undefined || n < 0 || n > NODE_ID_MAX) {
    fail(CODE.FAIL_UNKNOWN_ERROR, "An exception occurred while creating layer data", {
      cause: `Node id ${String(v)} is out of range [0..${NODE_ID_MAX}]`,
    });
  }
  return n;
}

/** The storage layer's name of volume `vd` of `rd`. */
export function storageVolumeId(rd: SimRd, vd: SimVd): string {
  return vd.props[OVERRIDE_VLM_ID] ?? `${rd.name}_${String(vd.nr).padStart(5, "0")}`;
}

/** The volume group of an LVM pool (the sim's default pools: linstorpool). */
export function poolVg(pool: SimPool | undefined): string {
  const vg = pool?.props["StorDriver/LvmVg"] ??
    pool?.props["StorDriver/StorPoolName"]?.split("/")[0];
  return vg || "linstorpool";
}

/**
 * Backing device of volume `vd` of `rd` in `pool` on a node: an LVM volume in the pool's
 * volume group, a zvol under the zpool, a file in the pool's directory.
 */
export function backingDevice(rd: SimRd, vd: SimVd, pool: SimPool | undefined): string {
  const id = storageVolumeId(rd, vd);
  const spn = pool?.props["StorDriver/StorPoolName"] ?? "";
  if (pool?.kind === "ZFS" || pool?.kind === "ZFS_THIN") {
    return `/dev/zvol/${spn || "linstorpool"}/${id}`;
  }
  if (pool?.kind === "FILE" || pool?.kind === "FILE_THIN") {
    return `${spn || "/var/lib/linstor-pools"}/${id}.img`;
  }
  return `/dev/${poolVg(pool)}/${id}`;
}

/**
 * Size of the storage layer's volume in KiB: the DRBD gross size (net rounded to 4 KiB +
 * internal meta data) rounded up to the pool's allocation unit (the LVM extent, 4 MiB).
 */
export function storageUsableKib(
  rd: SimRd,
  r: SimRsc,
  vd: SimVd,
  pool: SimPool | undefined,
): number {
  const gross = align(vd.sizeKib, 4) + drbdMetaKib(vd.sizeKib, rscPeerSlots(rd, r));
  return align(gross, extentKib(pool?.kind ?? "LVM_THIN"));
}

/** True when `vd` names an existing backing volume (no free-space check). */
export function hasOverrideVlmId(vd: SimVd): boolean {
  return vd.props[OVERRIDE_VLM_ID] !== undefined;
}

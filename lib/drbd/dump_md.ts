/**
 * DRBD's meta data as `drbdmeta … dump-md` prints it: the facts adoption needs from the meta
 * data of a resource that is down (drbdmeta refuses to dump the meta data of an attached
 * device): the format, the peer-slot count (`max-peers`, v09), the local node id, the last
 * agreed net size (`la-size-sect`, 512-byte sectors) and the activity-log / bitmap layout.
 *
 * The dump is a sequence of `keyword value…;` statements and `{ … }` blocks (per-peer slots,
 * the bitmap, the history uuids); comments start with `#`. Only top-level statements are read.
 */
import { OneblkError } from "../errors.ts";
import type { MetadataLayout } from "./metadata.ts";

/** What a meta-data dump says. */
export interface MetadataDump {
  /** "v08" (DRBD 8.4, one peer slot) or "v09". */
  version: string;
  /** Bitmap (peer) slots: `max-peers` of v09, 1 for v08. */
  peerSlots: number;
  /** The node id recorded in the meta data (v09). */
  nodeId?: number;
  /** Last agreed net size in KiB (`la-size-sect` / 2). */
  netKiB: number;
  /** Activity-log stripes and stripe size, bitmap block size (for lib/drbd/metadata.ts). */
  layout: MetadataLayout;
}

/**
 * The argv that dumps the internal meta data of minor `minor` on `disk` (the resource must be
 * down): `drbdmeta <minor> <v08|v09> <disk> internal dump-md`.
 */
export function dumpMdArgv(minor: number, disk: string, version: "v08" | "v09" = "v09"): string[] {
  return ["drbdmeta", String(minor), version, disk, "internal", "dump-md"];
}

function bad(what: string, msg: string): never {
  throw new OneblkError("input", `${what}: ${msg}`);
}

/** Parse a `drbdmeta … dump-md` output; `what` names it in errors. */
export function parseDumpMd(text: string, what = "dump-md"): MetadataDump {
  const top: Record<string, string> = {};
  let depth = 0;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    if (depth === 0) {
      const m = /^([a-z][a-z0-9-]*)\s+(.*?)\s*;$/.exec(line);
      if (m && !(m[1] in top)) top[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
    }
    depth += (line.match(/\{/g) ?? []).length - (line.match(/\}/g) ?? []).length;
    if (depth < 0) bad(what, "unbalanced braces");
  }
  const version = top["version"];
  if (version !== "v08" && version !== "v09") {
    bad(what, `no DRBD 8.4/9 meta data (version ${JSON.stringify(version ?? "missing")})`);
  }
  const int = (key: string, required: boolean): number | undefined => {
    const v = top[key];
    if (v === undefined) {
      if (required) bad(what, `no ${key}`);
      return undefined;
    }
    if (!/^\d+$/.test(v)) bad(what, `${key} is not a number: ${JSON.stringify(v)}`);
    return Number(v);
  };
  const peerSlots = version === "v09" ? int("max-peers", true)! : 1;
  const sectors = int("la-size-sect", true)!;
  const bmBytes = int("bm-byte-per-bit", false);
  const stripes = int("al-stripes", false);
  const stripe4k = int("al-stripe-size-4k", false);
  const layout: MetadataLayout = {};
  if (bmBytes !== undefined) layout.bitmapBlockKiB = bmBytes / 1024;
  if (stripes !== undefined) layout.alStripes = stripes;
  if (stripe4k !== undefined) layout.alStripeSizeKiB = stripe4k * 4;
  return {
    version,
    peerSlots,
    nodeId: version === "v09" ? int("node-id", false) : undefined,
    netKiB: sectors / 2,
    layout,
  };
}

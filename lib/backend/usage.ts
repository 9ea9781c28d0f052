/**
 * Volumes with their usage in one call: Backend.usageVolumes joined with Backend.readUsage for
 * the volumes whose listing did not carry it. tm monitor reads through its usage cache instead,
 * which asks readUsage for a part of them per run.
 */
import type { Backend, VolumeUsage } from "./types.ts";

/** Every volume whose props match `match`, with its usage read now. */
export async function listUsage(
  backend: Pick<Backend, "usageVolumes" | "readUsage">,
  match: Record<string, string>,
): Promise<VolumeUsage[]> {
  const vols = await backend.usageVolumes(match);
  const unread = vols.filter((v) => !v.usage);
  const read = unread.length ? await backend.readUsage(unread) : new Map();
  return vols.map((v) => {
    const u = v.usage ?? read.get(v.name) ?? { allocatedMiB: 0, snapshots: {} };
    return { name: v.name, props: v.props, allocatedMiB: u.allocatedMiB, snapshots: u.snapshots };
  });
}

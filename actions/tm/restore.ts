/**
 * tm restore `host:DIR vmid img_id inc_id disk_id` (6.10+; docs/contract.md "tm restore"):
 * replace the content of a powered-off VM's disks (all, or `disk_id`) with backup increment
 * `inc_id` (-1: the last) of backup image `img_id`, crash-safely (lib/domain/restore.ts).
 */
import type { ActionContext } from "../../lib/context.ts";
import { restore } from "../../lib/domain/restore.ts";

/** Run tm restore. */
export function run(ctx: ActionContext): Promise<void> {
  return restore(ctx);
}

/**
 * datastore monitor (image datastores): capacity for new volumes under the datastore's
 * placement, from one store query (LINSTOR query-size-info of the resource group, StorPool
 * template status). stdout: `USED_MB=…`, `TOTAL_MB=…`, `FREE_MB=…` (three lines).
 */
import type { ActionContext } from "../../lib/context.ts";
import { monitorOutput } from "../../lib/one/output.ts";
import { loadPayload } from "../../lib/domain/image.ts";

/** Run datastore monitor. */
export async function run(ctx: ActionContext): Promise<void> {
  const f = await loadPayload(ctx);
  const c = await f.backend.capacity(f.placement);
  ctx.out(monitorOutput({ usedMb: c.usedMiB, totalMb: c.totalMiB, freeMb: c.freeMiB }).trimEnd());
}

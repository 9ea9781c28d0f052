/**
 * Nothing half-made: a step whose failure undoes what the call made before it.
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";

/**
 * Run `step`; if it throws, run `undo` (errors in undo are reported, the original error
 * is rethrown).
 */
export async function withUndo<T>(
  ctx: ActionContext,
  step: () => Promise<T>,
  undo: () => Promise<unknown>,
): Promise<T> {
  try {
    return await step();
  } catch (e) {
    try {
      await undo();
    } catch (u) {
      ctx.info(`cleanup failed: ${(u as Error).message}`);
    }
    throw e;
  }
}

/**
 * Create-then-fill: run `fill` for a volume that was just created (`created`), deleting the
 * volume at once (no delayed-delete copy) if `fill` fails so nothing half-made stays. A
 * volume that existed before is left alone on failure (it was not ours to remove).
 */
export function fillOrDelete<T>(
  ctx: ActionContext,
  backend: Backend,
  volume: string,
  created: boolean,
  fill: () => Promise<T>,
): Promise<T> {
  return withUndo(ctx, fill, async () => {
    if (created) await backend.deleteVolume(volume, { immediate: true });
  });
}

/**
 * The image of a datastore action: the decoded payload (argv ≤6.6 or stdin ≥6.8;
 * docs/contract.md "Datastore action payload") with its image, datastore, store and placement, the image id, the
 * volume of an existing image and the snapshot id of the snap_* actions.
 */
import type { ActionContext } from "../context.ts";
import type { Backend } from "../backend/types.ts";
import type { Placement } from "../backend/index.ts";
import { OneblkError } from "../errors.ts";
import { readDsPayload } from "../one/args.ts";
import {
  type DatastoreView,
  type DsActionView,
  type ImageView,
  parseDsAction,
} from "../one/views.ts";

/** The decoded payload of a datastore action. */
export interface DsPayloadFacts {
  act: DsActionView;
  ds: DatastoreView;
  /** The id argument (image id, datastore id, or marketplace app id). */
  id: number;
  /** The datastore's store, opened on first use (mkfs save_as never touches it). */
  readonly backend: Backend;
  /** Placement of new volumes on this datastore. */
  readonly placement: Placement;
}

/** Read and parse the payload (argv ≤6.6 or stdin ≥6.8); the store is opened lazily. */
export async function loadPayload(ctx: ActionContext): Promise<DsPayloadFacts> {
  const p = await readDsPayload(ctx.args, () => ctx.stdin());
  const act = await parseDsAction(p.xml);
  const ds = act.datastore;
  let backend: Backend | undefined;
  return {
    act,
    ds,
    id: Number(p.id),
    get backend() {
      backend ??= ctx.backend(ds);
      return backend;
    },
    get placement() {
      return ctx.profile.placement(ds.template, ds.id);
    },
  };
}

/** The payload's image plus its id (IMAGE/ID, else the id argument). */
export function imageOf(f: DsPayloadFacts): { image: ImageView; imageId: number } {
  const image = f.act.requireImage();
  const imageId = image.id >= 0 ? image.id : f.id;
  if (!Number.isInteger(imageId) || imageId < 0) {
    throw new OneblkError("input", "the driver action names no image id");
  }
  return { image, imageId };
}

/** What a SOURCE of ours is made of (volume names, `/` separators, a device path). */
const SOURCE_RE = /^[A-Za-z0-9_.:~@+/-]+$/;

/**
 * The volume of an existing image: from its SOURCE when set, else the profile's name for the
 * image id (an image whose cp failed has no SOURCE yet). A SOURCE that cannot name a volume
 * (shell or quote characters, a line break, a `..` segment) is refused (kind input): it was
 * mangled, and acting on what is left of it could hit another volume.
 */
export function existingImageVolume(
  ctx: ActionContext,
  image: ImageView,
  imageId: number,
  dsId: number,
): string {
  const source = image.source.trim();
  if (source && (!SOURCE_RE.test(source) || source.split("/").includes(".."))) {
    throw new OneblkError(
      "input",
      `image ${imageId}: SOURCE ${JSON.stringify(image.source)} cannot name a volume; ` +
        `nothing done`,
    );
  }
  const v = source ? ctx.profile.sourceVolume(source) : ctx.profile.imageVolume(imageId, dsId);
  if (!v) throw new OneblkError("input", `image ${imageId} SOURCE names no volume: ${source}`);
  return v;
}

/** The snapshot id of a snap_* action (IMAGE/TARGET_SNAPSHOT). */
function targetSnapshot(image: ImageView): number {
  const s = image.targetSnapshot;
  if (!Number.isInteger(s) || s < 0) {
    throw new OneblkError("input", "the driver action has no IMAGE/TARGET_SNAPSHOT");
  }
  return s;
}

/** The image snapshot a datastore snap_* action works on. */
export interface ImageSnapshot {
  f: DsPayloadFacts;
  image: ImageView;
  imageId: number;
  /** IMAGE/TARGET_SNAPSHOT. */
  snapId: number;
  /** The image's volume. */
  volume: string;
}

/** Load the payload of a snap_* action: the image, its volume and the target snapshot id. */
export async function loadImageSnapshot(ctx: ActionContext): Promise<ImageSnapshot> {
  const f = await loadPayload(ctx);
  const { image, imageId } = imageOf(f);
  const snapId = targetSnapshot(image);
  return { f, image, imageId, snapId, volume: existingImageVolume(ctx, image, imageId, f.ds.id) };
}

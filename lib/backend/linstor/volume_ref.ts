/**
 * How a LINSTOR volume is named in oneblk: `<resource>` is volume 0 of that resource definition
 * (every volume oneblk makes), `<resource>/<n>` is volume n (a resource adopted with its DRBD
 * volume number, e.g. `legacy/10`, device `/dev/drbd/by-res/legacy/10`).
 */
import { OneblkError } from "../../errors.ts";

/** A parsed volume name. */
export interface VolumeRef {
  /** The resource definition. */
  rd: string;
  /** The volume number. */
  vnr: number;
}

/** Largest DRBD volume number. */
const VNR_MAX = 65534;

/** The resource definition and volume number a volume name stands for. */
export function parseVolumeRef(volume: string): VolumeRef {
  const i = volume.indexOf("/");
  if (i < 0) return { rd: volume, vnr: 0 };
  const n = volume.slice(i + 1);
  const vnr = Number(n);
  if (!/^\d+$/.test(n) || vnr > VNR_MAX || volume.slice(0, i) === "") {
    throw new OneblkError(
      "input",
      `invalid LINSTOR volume name "${volume}" (RESOURCE or RESOURCE/N)`,
    );
  }
  return { rd: volume.slice(0, i), vnr };
}

/** The volume name of volume `vnr` of resource definition `rd`. */
export function volumeRef(rd: string, vnr: number): string {
  return vnr === 0 ? rd : `${rd}/${vnr}`;
}

/** The resource definition of a volume name. */
export function rdOf(volume: string): string {
  return parseVolumeRef(volume).rd;
}

/** The DRBD device of a volume: `/dev/drbd/by-res/<resource>/<volume number>`. */
export function linstorDevicePath(volume: string): string {
  const { rd, vnr } = parseVolumeRef(volume);
  return `/dev/drbd/by-res/${rd}/${vnr}`;
}

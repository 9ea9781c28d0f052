/**
 * The simulated StorPool API's object model: templates (each with its disks), placement groups,
 * volumes and snapshots (with parent chains and tags), attachments per client, the persisted
 * state, the API's error replies and the checks of request fields (names, tags, sizes, client
 * and disk ids).
 */

/** A template known at start. */
export interface SimTemplateSpec {
  name: string;
  /** Client-data capacity in GiB (or capacityBytes). */
  capacityGiB?: number;
  capacityBytes?: number;
  replication?: number;
  placeAll?: string;
  placeTail?: string;
  placeHead?: string;
  iops?: number;
  bw?: number;
}

/** A volume template. */
export interface SimTemplate {
  name: string;
  capacity: number;
  replication: number;
  placeAll: string;
  placeTail: string;
  placeHead: string;
  iops?: number;
  bw?: number;
  /**
   * The template's disks, one a copy (`replication` of them): disk i is on server i + 1 and
   * holds a copy of every volume and snapshot of the template (see store.ts, syncDisks).
   */
  disks: number[];
}

/** A placement group: a named set of disks (the API's internal id kept with it). */
export interface SimPlacementGroup {
  id: number;
  name: string;
  disks: number[];
}

/** A disk: its id, the template whose copies it holds and its place among that one's disks. */
export interface DiskRef {
  id: number;
  t: SimTemplate;
  index: number;
}

/** A volume, or the common part of a snapshot. */
export interface SimObj {
  name: string;
  globalId: string;
  visibleVolumeId: number;
  size: number;
  templateName: string;
  parentName: string;
  replication: number;
  placeAll: string;
  placeTail: string;
  placeHead: string;
  iops?: number;
  bw?: number;
  tags: Record<string, string>;
  creationTimestamp: number;
  file: string;
}

/** A snapshot. */
export interface SimSnap extends SimObj {
  onVolume: string;
  autoName: boolean;
  bound: boolean;
  targetDeleteDate: number;
}

/** A volume or snapshot attached to a client. */
export interface SimAttachment {
  volume: string;
  snapshot: boolean;
  client: number;
  rights: "rw" | "ro";
  pos: number;
  open: boolean;
}

/** The whole persisted state. */
export interface SimState {
  generation: number;
  nextId: number;
  clockOffset: number;
  templates: Record<string, SimTemplate>;
  placementGroups: Record<string, SimPlacementGroup>;
  volumes: Record<string, SimObj>;
  snapshots: Record<string, SimSnap>;
  attachments: SimAttachment[];
}

/** What GET /_sim/state returns. */
export type SimStateDump = SimState & { clients: Record<string, number> };

/** An API error reply: HTTP status, error name, description, transient flag. */
export class SimError extends Error {
  constructor(
    readonly status: number,
    readonly apiName: string,
    readonly descr: string,
    readonly transient = false,
  ) {
    super(descr);
  }
}

/** Volume names the API accepts (`#` prefix: anonymous). */
const VOLUME_NAME = /^#?[A-Za-z0-9_\-.:]+$/;
/** Snapshot names the API accepts (`*` prefix: anonymous). */
const SNAPSHOT_NAME = /^\*?[A-Za-z0-9_\-.:@]+$/;
/** Template names the API accepts. */
const TEMPLATE_NAME = /^[A-Za-z0-9_\-]+$/;
const PLACEMENT_GROUP_NAME = /^[A-Za-z0-9_\-]+$/;
const TAG_NAME = /^[A-Za-z0-9_\-.:]+$/;
const TAG_VALUE = /^[A-Za-z0-9_\-.:]*$/;
/** Longest volume, snapshot, template or tag name (and tag value) the API takes. */
const NAME_MAX = 199;

/** The names of each kind of object: pattern, longest length, and the words the API keeps. */
const NAME_RULES = {
  volume: { re: VOLUME_NAME, max: NAME_MAX, reserved: ["list", "status"] },
  snapshot: { re: SNAPSHOT_NAME, max: NAME_MAX, reserved: ["list", "status"] },
  template: { re: TEMPLATE_NAME, max: NAME_MAX, reserved: ["list"] },
  "placement group": { re: PLACEMENT_GROUP_NAME, max: 127, reserved: ["list"] },
} as const;

/** Whether `name` is a name of `kind` the API accepts. */
export function isName(kind: keyof typeof NAME_RULES, name: unknown): name is string {
  const r = NAME_RULES[kind];
  return typeof name === "string" && r.re.test(name) && name.length <= r.max &&
    !(r.reserved as readonly string[]).includes(name);
}

/** `name` when it is a name of `kind` the API accepts; invalidParam otherwise. */
export function checkName(kind: keyof typeof NAME_RULES, name: unknown): string {
  if (!isName(kind, name)) throw invalid(`Invalid ${kind} name ${JSON.stringify(name)}`);
  return name;
}
/** One GiB in bytes. */
export const GiB = 1024 ** 3;
/** The size of one StorPool object: a volume's data is kept in objects of 32 MiB. */
export const OBJECT_SIZE = 32 * 1024 * 1024;
/** The objects a volume or snapshot of `size` bytes is made of. */
export const objectsOf = (size: number) => Math.ceil(size / OBJECT_SIZE);
/** The highest disk id the API takes. */
export const MAX_DISK_ID = 4095;

/** objectDoesNotExist (404) for `what`. */
export const notFound = (what: string) =>
  new SimError(404, "objectDoesNotExist", `${what} does not exist`);
/** invalidParam (400) with `descr`. */
export const invalid = (descr: string) => new SimError(400, "invalidParam", descr);
/** objectExists (409) for `what`. */
export const exists = (what: string) => new SimError(409, "objectExists", `${what} already exists`);
/** busy (409, in use) with `descr`. */
export const busy = (descr: string) => new SimError(409, "busy", descr);

/** A parsed JSON request body. */
// deno-lint-ignore no-explicit-any
export type Json = any;

/** One API method: its HTTP method, whether it changes the state, and its handler. */
export interface ApiMethod {
  http: "GET" | "POST";
  mutates?: boolean;
  fn: (arg: string | undefined, body: Json) => Promise<unknown> | unknown;
}

/** The object name of the request's path; invalidParam when there is none. */
export function needArg(arg: string | undefined, what: string): string {
  if (!arg) throw invalid(`missing ${what} name in the path`);
  return arg;
}

/** Checked tags of a request (names and values as the API allows them). */
export function checkTags(tags: unknown): Record<string, string> {
  if (tags === undefined || tags === null) return {};
  if (typeof tags !== "object" || Array.isArray(tags)) throw invalid("tags must be an object");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags as Record<string, unknown>)) {
    if (!TAG_NAME.test(k) || k.length > NAME_MAX) throw invalid(`Invalid tag name "${k}"`);
    if (typeof v !== "string" || !TAG_VALUE.test(v) || v.length > NAME_MAX) {
      throw invalid(`Invalid value for tag "${k}"`);
    }
    out[k] = v;
  }
  return out;
}

/** Merge tag updates into `cur` (an empty value removes the tag). */
export function mergeTags(cur: Record<string, string>, upd: Record<string, string>) {
  for (const [k, v] of Object.entries(upd)) {
    if (v === "") delete cur[k];
    else cur[k] = v;
  }
}

/** A checked size: a positive multiple of 512. */
export function checkSize(size: unknown, what = "size"): number {
  if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) {
    throw invalid(`Invalid ${what} ${JSON.stringify(size)}`);
  }
  if (size % 512 !== 0) throw invalid(`${what} ${size} is not a multiple of 512`);
  return size;
}

/** A checked id of `what` in `lo..hi` (also as a decimal string, as a path gives it). */
export function checkId(v: unknown, lo: number, hi: number, what: string): number {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < lo || n > hi) {
    throw invalid(`Invalid ${what} ${JSON.stringify(v)}`);
  }
  return n;
}

/** A checked client id (1..4095, also as a decimal string). */
export const checkClient = (c: unknown): number => checkId(c, 1, 4095, "client id");

/** An optional replication (absent or null: undefined): 1, 2 or 3 copies. */
export function optReplication(v: unknown): number | undefined {
  const n = optNum(v, "replication");
  if (n !== undefined && (n < 1 || n > 3)) throw invalid(`Invalid replication ${n}: 1 to 3`);
  return n;
}

/** The placement group fields of volumes and templates. */
export const PLACES = ["placeAll", "placeTail", "placeHead"] as const;
/** Placement group names by field (the fields a request or an object names). */
export type Placements = Partial<Record<(typeof PLACES)[number], string>>;

/** The placement groups a request names (checked names; absent or null ones left out). */
export function placementsOf(b: Json): Placements {
  const out: Placements = {};
  for (const k of PLACES) {
    if (b?.[k] !== undefined && b?.[k] !== null) out[k] = checkName("placement group", b[k]);
  }
  return out;
}

/**
 * The name of volume `volume`'s anonymous snapshot `id`: `<volume>@<id>`, without the mark of an
 * unnamed (`~<globalId>`) or `#` volume, which a snapshot name cannot have.
 */
export const anonSnapshotName = (volume: string, id: number) =>
  `${volume.replace(/^[#~]/, "")}@${id}`;

/** A checked disk id (0..4095). */
export const checkDiskId = (v: unknown): number => checkId(v, 0, MAX_DISK_ID, "disk id");

/** An optional non-negative integer (absent, null or "-": undefined). */
export function optNum(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null || v === "-") return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw invalid(`Invalid ${what}`);
  return v;
}

/**
 * The fault cases: for each mutating action, the world it runs in (setup), the oned operation
 * that runs it (op), what oned or the user does after it failed (retry), and the end of the
 * story (teardown). See docs/contract.md "Which VM operation calls which TM action" and the
 * per-action headings for when oned runs each action and what it does on a failure.
 *
 * What oned does after a failure, per action (the retry):
 *  - datastore cp, clone: the image goes to ERROR without a SOURCE; `oneimage delete` then drops
 *    it from the pool without calling DS rm (ImageManager::delete_image); the user creates it
 *    again, under a new id;
 *  - datastore rm: the image goes to ERROR; the user deletes it again (DS rm again);
 *  - datastore snap_revert, snap_flatten: the image keeps its snapshots; the user asks again;
 *  - tm clone, ln, mkimage (prolog): PROLOG_FAILURE; `onevm recover --retry` runs the whole
 *    prolog again, then the deploy;
 *  - tm context (deploy): BOOT_FAILURE; `recover --retry` deploys again (context first);
 *  - tm mv (stop / resume): EPILOG_STOP_FAILURE / PROLOG_RESUME_FAILURE; `recover --retry`;
 *  - tm delete (terminate): EPILOG_FAILURE; `recover --retry` runs the epilog again;
 *  - tm premigrate: failmigrate runs, the VM keeps running on the source; the user migrates
 *    again; postmigrate and failmigrate failures are only logged by oned: nothing is retried;
 *  - tm snap_create: the snapshot is dropped, its id stays used (oned's NEXT_SNAPSHOT); the user
 *    asks again and gets the next id; tm snap_revert, resize: the user asks again;
 *  - tm prebackup, postbackup: the backup fails (postbackup runs after a failed prebackup); the
 *    user backs up again.
 * Every case ends with a teardown that ends the VM's (or the image's) life the normal way, so the
 * final inventory shows what nothing will ever delete.
 */
import {
  type DiskSpec,
  type ImageModel,
  type PendingCall,
  type ProfileName,
  PROFILES,
  type VmModel,
} from "../sim/oned/scripted_oned.ts";
import { regionSha, writeRegion } from "../sim/scenario.ts";
import { type Expect, type FaultWorld, seededBytes } from "./world.ts";

const MiB = 1024 * 1024;

/** One action under test and the story around it (see the module doc). */
export interface FaultCase {
  /** `kind/action`, with `:qualifier` when an action has several cases (`tm/delete:dir`). */
  name: string;
  /** Profiles it runs on (default all). */
  profiles?: readonly ProfileName[];
  /** Which driver call is the target (default: the first call of the named action). */
  target?: (c: PendingCall) => boolean;
  /** Builds the world before the operation. */
  setup(w: FaultWorld): Promise<void>;
  /** The oned operation that runs the target; updates the expected data when it returns. */
  op(w: FaultWorld): Promise<void>;
  /** The operation always ends in a failure (the target runs on oned's failure path). */
  opFails?: boolean;
  /** What oned or the user does after the target failed; updates the expected data. */
  retry(w: FaultWorld): Promise<void>;
  /** The normal end of what the case made (terminate the VM, delete the new image). */
  teardown(w: FaultWorld): Promise<void>;
}

/** The action of a case name (`tm/delete:dir` → kind tm, script delete). */
export function caseAction(name: string): { kind: string; script: string } {
  const [kind, rest] = name.split("/");
  return { kind, script: rest.split(":")[0] };
}

/** The target predicate of a case. */
export function targetOf(c: FaultCase): (p: PendingCall) => boolean {
  if (c.target) return c.target;
  const { kind, script } = caseAction(c.name);
  return (p) => p.kind === kind && p.script === script;
}

// ---------------------------------------------------------------------------------------------
// building blocks

/** Register an image from seeded bytes; it becomes an expected image. Returns its id. */
async function addImage(
  w: FaultWorld,
  name: string,
  seed: number,
  mib: number,
  opts: { persistent?: boolean; type?: number } = {},
): Promise<number> {
  const src = await w.source(`${name}.raw`, seed, mib * MiB);
  const img = await w.oned.registerImage({ name, path: src.path, ...opts });
  w.images.set(img.id, { sha: src.sha, len: src.len });
  return img.id;
}

/** The newest image called `name`. */
function newestImage(w: FaultWorld, name: string): ImageModel {
  const all = [...w.oned.images.values()].filter((i) => i.name === name);
  const img = all.sort((a, b) => b.id - a.id)[0];
  if (!img) throw new Error(`no image ${name}`);
  return img;
}

/** The newest VM. */
function newestVm(w: FaultWorld): VmModel {
  const vm = [...w.oned.vms.values()].sort((a, b) => b.id - a.id)[0];
  if (!vm) throw new Error("no VM");
  return vm;
}

/** Expected content of each disk of `vm`: its image's, or only "resolves" for the others. */
function expectDisks(w: FaultWorld, vm: VmModel): void {
  for (const d of vm.disks) {
    const img = d.imageId === undefined ? undefined : w.images.get(d.imageId);
    w.disks.set(`${vm.id}/${d.diskId}`, img ? { ...img } : { sha: "", len: 0 });
  }
  if (vm.contextDiskId !== null) w.disks.set(`${vm.id}/${vm.contextDiskId}`, { sha: "", len: 0 });
}

/** Forget the disks of a VM that is gone. */
function forgetDisks(w: FaultWorld, vmId: number): void {
  for (const k of [...w.disks.keys()]) if (k.startsWith(`${vmId}/`)) w.disks.delete(k);
}

/** Instantiate a VM on `host`; its disks become expected. Returns its id. */
async function startVm(
  w: FaultWorld,
  disks: DiskSpec[],
  opts: { host?: string; context?: boolean } = {},
): Promise<number> {
  const vm = await w.oned.instantiate({
    host: opts.host ?? "bravo",
    disks,
    context: opts.context ?? false,
  });
  expectDisks(w, vm);
  return vm.id;
}

/** The usual images: a non-persistent `base` (2 MiB) and a persistent `pers` (4 MiB). */
async function images(w: FaultWorld): Promise<void> {
  w.vars.base = await addImage(w, "base", 1, 2);
  w.vars.pers = await addImage(w, "pers", 2, 4, { persistent: true });
}

/** A running VM on bravo with a clone of `base` (disk 0) and `pers` (disk 1). */
async function runningVm(w: FaultWorld, context = false): Promise<void> {
  await images(w);
  w.vars.vm = await startVm(w, [{ image: w.vars.base }, { image: w.vars.pers }], { context });
}

/**
 * Write seeded bytes at the start of the persistent disk 1 of `vm.vm`; the disk and the `pers`
 * image expect the new content. Returns that Expect.
 */
async function writePers(w: FaultWorld, seed: number): Promise<Expect> {
  const path = w.oned.diskPath(w.vars.vm, 1);
  await writeRegion(path, 0, seededBytes(seed, MiB), "raw");
  const len = w.images.get(w.vars.pers)!.len;
  const exp = { sha: await regionSha(path, 0, len, "raw"), len };
  w.images.set(w.vars.pers, exp);
  w.disks.set(`${w.vars.vm}/1`, { ...exp });
  return exp;
}

/** Terminate VM `vm.vm` (a normal terminate); its disks are no longer expected. */
async function terminate(w: FaultWorld, hard = false): Promise<void> {
  await w.oned.terminate(w.vars.vm, { hard });
  forgetDisks(w, w.vars.vm);
}

/** Expect VM `vm.vm`'s disks again after it moved or came back. */
function reexpect(w: FaultWorld): void {
  forgetDisks(w, w.vars.vm);
  expectDisks(w, w.oned.vm(w.vars.vm));
  // a written persistent disk keeps what was written (the image's expectation follows it)
  const pers = w.images.get(w.vars.pers);
  if (pers) w.disks.set(`${w.vars.vm}/1`, { ...pers });
}

/** The argument of a TM call names disk `n` (`…/disk.<n>`). */
const onDisk = (c: PendingCall, n: number) => (c.args[0] ?? "").endsWith(`/disk.${n}`);
/** The argument of a TM call names the VM directory itself. */
const onDir = (c: PendingCall) => /\/\d+$/.test(c.args[0] ?? "") && !/disk\.\d+$/.test(c.args[0]);

// ---------------------------------------------------------------------------------------------
// the cases

const dsCp: FaultCase = {
  name: "datastore/cp",
  async setup(w) {
    await w.source("new.raw", 11, 3 * MiB);
  },
  async op(w) {
    await registerNew(w);
  },
  async retry(w) {
    await w.oned.deleteImage(newestImage(w, "new").id);
    await registerNew(w);
  },
  async teardown(w) {
    w.images.delete(w.vars.img);
    await w.oned.deleteImage(w.vars.img);
  },
};

async function registerNew(w: FaultWorld): Promise<void> {
  const src = await w.source("new.raw", 11, 3 * MiB);
  const img = await w.oned.registerImage({ name: "new", path: src.path });
  w.vars.img = img.id;
  w.images.set(img.id, { sha: src.sha, len: src.len });
}

async function cloneBase(w: FaultWorld): Promise<void> {
  const img = await w.oned.cloneImage(w.vars.base, "copy");
  w.vars.img = img.id;
  w.images.set(img.id, { ...w.images.get(w.vars.base)! });
}

const dsClone: FaultCase = {
  name: "datastore/clone",
  async setup(w) {
    w.vars.base = await addImage(w, "base", 1, 2);
  },
  op: cloneBase,
  async retry(w) {
    await w.oned.deleteImage(newestImage(w, "copy").id);
    await cloneBase(w);
  },
  async teardown(w) {
    w.images.delete(w.vars.img);
    await w.oned.deleteImage(w.vars.img);
  },
};

const dsRm: FaultCase = {
  name: "datastore/rm",
  async setup(w) {
    w.vars.base = await addImage(w, "base", 1, 2);
    w.vars.img = await addImage(w, "victim", 12, 2);
    w.images.delete(w.vars.img);
  },
  async op(w) {
    await w.oned.deleteImage(w.vars.img);
  },
  async retry(w) {
    await w.oned.deleteImage(w.vars.img);
  },
  async teardown() {},
};

/**
 * A persistent image with two snapshots made as disk snapshots of a powered-off VM (they move
 * into the image at terminate): snapshot 0 holds content A, snapshot 1 content B (saved as
 * `snap0`, `snap1`), the image C.
 */
async function imageWithSnapshots(w: FaultWorld): Promise<void> {
  await runningVm(w);
  await w.oned.poweroff(w.vars.vm);
  w.saved.set("snap0", await writePers(w, 21));
  await w.oned.diskSnapshotCreate(w.vars.vm, 1);
  w.saved.set("snap1", await writePers(w, 22));
  await w.oned.diskSnapshotCreate(w.vars.vm, 1);
  await writePers(w, 23);
  await terminate(w);
}

function imageSnapCase(action: "snap_revert" | "snap_flatten", snapId: number): FaultCase {
  const run = async (w: FaultWorld) => {
    await w.oned.imageSnapshot(action, w.vars.pers, snapId);
    w.images.set(w.vars.pers, { ...w.saved.get(`snap${snapId}`)! });
  };
  return {
    name: `datastore/${action}`,
    setup: imageWithSnapshots,
    op: run,
    retry: run,
    async teardown() {},
  };
}

const tmClone: FaultCase = {
  name: "tm/clone",
  async setup(w) {
    w.vars.base = await addImage(w, "base", 1, 2);
  },
  async op(w) {
    w.vars.vm = await startVm(w, [{ image: w.vars.base }]);
  },
  async retry(w) {
    const vm = newestVm(w);
    await w.oned.recoverRetry(vm.id);
    w.vars.vm = vm.id;
    expectDisks(w, vm);
  },
  teardown: (w) => terminate(w),
};

const tmLn: FaultCase = {
  name: "tm/ln",
  async setup(w) {
    w.vars.pers = await addImage(w, "pers", 2, 4, { persistent: true });
  },
  async op(w) {
    w.vars.vm = await startVm(w, [{ image: w.vars.pers }]);
  },
  retry: tmClone.retry,
  teardown: (w) => terminate(w),
};

const tmMkimage: FaultCase = {
  name: "tm/mkimage",
  async setup() {},
  async op(w) {
    w.vars.vm = await startVm(w, [{ volatile: "fs", sizeMb: 16, format: "raw", fs: "ext4" }]);
  },
  retry: tmClone.retry,
  teardown: (w) => terminate(w),
};

const tmContext: FaultCase = {
  name: "tm/context",
  async setup(w) {
    w.vars.base = await addImage(w, "base", 1, 2);
  },
  async op(w) {
    w.vars.vm = await startVm(w, [{ image: w.vars.base }], { context: true });
  },
  retry: tmClone.retry,
  teardown: (w) => terminate(w),
};

function stopCase(name: string, target: (c: PendingCall) => boolean): FaultCase {
  return {
    name,
    target,
    setup: (w) => runningVm(w, true),
    async op(w) {
      await w.oned.stop(w.vars.vm);
    },
    async retry(w) {
      await w.oned.recoverRetry(w.vars.vm);
    },
    async teardown(w) {
      await w.oned.resume(w.vars.vm, "charlie");
      reexpect(w);
      await terminate(w);
    },
  };
}

function resumeCase(name: string, target: (c: PendingCall) => boolean): FaultCase {
  return {
    name,
    target,
    async setup(w) {
      await runningVm(w, true);
      await w.oned.stop(w.vars.vm);
    },
    async op(w) {
      await w.oned.resume(w.vars.vm, "charlie");
      reexpect(w);
    },
    async retry(w) {
      await w.oned.recoverRetry(w.vars.vm);
      reexpect(w);
    },
    teardown: (w) => terminate(w),
  };
}

function deleteCase(
  name: string,
  target: (c: PendingCall) => boolean,
  hard = false,
): FaultCase {
  return {
    name,
    target,
    setup: (w) => runningVm(w, true),
    op: (w) => terminate(w, hard),
    async retry(w) {
      await w.oned.recoverRetry(w.vars.vm);
      forgetDisks(w, w.vars.vm);
    },
    async teardown() {},
  };
}

/**
 * Two VMs on bravo share the CDROM image; VM B is powered off (its disks stay linked); VM A is
 * terminated. B's CDROM must still resolve afterwards (docs/contract.md "tm ln": a CDROM may be
 * linked by several VMs at once).
 */
const tmDeleteCdrom: FaultCase = {
  name: "tm/delete:cdrom",
  target: (c) => c.kind === "tm" && c.script === "delete" && onDisk(c, 1),
  async setup(w) {
    w.vars.base = await addImage(w, "base", 1, 2);
    w.vars.cdrom = await addImage(w, "tools", 5, 1, { type: 1 });
    const cd = [{ image: w.vars.base }, { image: w.vars.cdrom }];
    w.vars.other = await startVm(w, cd);
    await w.oned.poweroff(w.vars.other);
    w.vars.vm = await startVm(w, cd);
  },
  op: (w) => terminate(w),
  async retry(w) {
    await w.oned.recoverRetry(w.vars.vm);
    forgetDisks(w, w.vars.vm);
  },
  async teardown(w) {
    await w.oned.terminate(w.vars.other);
    forgetDisks(w, w.vars.other);
  },
};

function migrateCase(action: "premigrate" | "postmigrate" | "failmigrate"): FaultCase {
  const fail = action === "failmigrate";
  return {
    name: `tm/${action}`,
    opFails: fail,
    setup: (w) => runningVm(w, true),
    async op(w) {
      await w.oned.liveMigrate(w.vars.vm, "charlie", { failVirsh: fail });
      reexpect(w);
    },
    async retry(w) {
      // premigrate: the user migrates again; post/failmigrate: oned only logged the failure
      if (action === "premigrate") {
        await w.oned.liveMigrate(w.vars.vm, "charlie");
        reexpect(w);
      }
    },
    async teardown(w) {
      if (fail) {
        await w.oned.liveMigrate(w.vars.vm, "charlie");
        reexpect(w);
      }
      await terminate(w);
    },
  };
}

const tmSnapCreate: FaultCase = {
  name: "tm/snap_create",
  async setup(w) {
    await runningVm(w);
    await w.oned.poweroff(w.vars.vm);
    await writePers(w, 21);
    await w.oned.diskSnapshotCreate(w.vars.vm, 1);
    await writePers(w, 22);
  },
  async op(w) {
    await w.oned.diskSnapshotCreate(w.vars.vm, 1);
  },
  async retry(w) {
    await w.oned.diskSnapshotCreate(w.vars.vm, 1);
  },
  teardown: (w) => terminate(w),
};

async function revertDisk(w: FaultWorld): Promise<void> {
  await w.oned.diskSnapshotRevert(w.vars.vm, 1, 0);
  const snap = w.saved.get("snap0")!;
  w.images.set(w.vars.pers, { ...snap });
  w.disks.set(`${w.vars.vm}/1`, { ...snap });
}

const tmSnapRevert: FaultCase = {
  name: "tm/snap_revert",
  async setup(w) {
    await runningVm(w);
    await w.oned.poweroff(w.vars.vm);
    w.saved.set("snap0", await writePers(w, 21));
    await w.oned.diskSnapshotCreate(w.vars.vm, 1);
    await writePers(w, 22);
  },
  op: revertDisk,
  retry: revertDisk,
  teardown: (w) => terminate(w),
};

const tmResize: FaultCase = {
  name: "tm/resize",
  setup: (w) => runningVm(w),
  async op(w) {
    await resize(w);
  },
  retry: resize,
  teardown: (w) => terminate(w),
};

async function resize(w: FaultWorld): Promise<void> {
  await w.oned.diskResize(w.vars.vm, 0, 16);
  const d = w.disks.get(`${w.vars.vm}/0`)!;
  w.disks.set(`${w.vars.vm}/0`, { ...d, size: 16 * MiB });
}

function backupCase(action: "prebackup" | "postbackup"): FaultCase {
  const run = async (w: FaultWorld) => {
    const r = await w.oned.backup(w.vars.vm);
    // the backup of disk 0 holds the image's bytes
    const f = r.files.find((x) => x.diskId === 0);
    const base = w.images.get(w.vars.base)!;
    if (!f || await regionSha(f.path, 0, base.len, f.format) !== base.sha) {
      throw new Error("backup of disk 0 does not hold the disk's data");
    }
  };
  return {
    name: `tm/${action}`,
    async setup(w) {
      await runningVm(w);
      await w.oned.poweroff(w.vars.vm);
    },
    op: run,
    retry: run,
    teardown: (w) => terminate(w),
  };
}

/** Every case, in the order the matrix runs them. */
export const CASES: readonly FaultCase[] = [
  dsCp,
  dsClone,
  dsRm,
  imageSnapCase("snap_revert", 1),
  imageSnapCase("snap_flatten", 0),
  tmClone,
  tmLn,
  tmMkimage,
  tmContext,
  stopCase("tm/mv:stop", (c) => c.kind === "tm" && c.script === "mv" && onDisk(c, 0)),
  stopCase("tm/mv:stop-dir", (c) => c.kind === "tm" && c.script === "mv" && onDir(c)),
  resumeCase("tm/mv:resume", (c) => c.kind === "tm" && c.script === "mv" && onDisk(c, 0)),
  resumeCase("tm/mv:resume-dir", (c) => c.kind === "tm" && c.script === "mv" && onDir(c)),
  deleteCase("tm/delete", (c) => c.kind === "tm" && c.script === "delete" && onDisk(c, 0)),
  deleteCase(
    "tm/delete:persistent",
    (c) => c.kind === "tm" && c.script === "delete" && onDisk(c, 1),
    true,
  ),
  deleteCase("tm/delete:dir", (c) => c.kind === "tm" && c.script === "delete" && onDir(c)),
  tmDeleteCdrom,
  migrateCase("premigrate"),
  migrateCase("postmigrate"),
  migrateCase("failmigrate"),
  tmSnapCreate,
  tmSnapRevert,
  tmResize,
  backupCase("prebackup"),
  backupCase("postbackup"),
];

/** A profile and, optionally, a datastore variant of it (`linstor_un+snapclone`). */
export interface Setting {
  /** `profile` or `profile+variant`. */
  name: string;
  profile: ProfileName;
  /** Datastore attributes of the variant. */
  dsAttrs?: Record<string, string>;
  /** Cases it runs (default all of the profile). */
  cases?: string[];
}

/**
 * The settings the matrix runs: each profile, and linstor_un with CLONE_MODE=snapshot for the
 * clone actions (clones start from a snapshot instead of LINSTOR's clone API).
 */
export const SETTINGS: readonly Setting[] = [
  ...PROFILES.map((p) => ({ name: p, profile: p })),
  {
    name: "linstor_un+snapclone",
    profile: "linstor_un",
    dsAttrs: { CLONE_MODE: "snapshot" },
    cases: ["datastore/clone", "tm/clone"],
  },
];

/** The cases a setting runs. */
export function casesOf(s: Setting): FaultCase[] {
  return CASES.filter((c) =>
    (!c.profiles || c.profiles.includes(s.profile)) && (!s.cases || s.cases.includes(c.name))
  );
}

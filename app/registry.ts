/**
 * The action registry: every implemented action, how to load it, and what `oneblk actions`
 * lists and `oneblk install` links.
 *
 * Datastore and TM actions are served for every driver (lib/addons/):
 * `datastore/<driver>/<action>`, `tm/<driver>/<action>`. A VMM action is an override of oned's VM_MAD action of that name: each
 * add-on names its override file under `vmm/kvm/` (AddOn.vmmOverrides), and the files of the
 * actions implemented here are listed. Modules load lazily, so a call pays only for the action
 * it runs; the import specifiers stay literal so `deno compile` includes every action.
 *
 * A new action is one file under actions/<kind>/ exporting run(), and one line here.
 */
import type { Kind } from "../lib/dispatch.ts";
import type { ActionModule } from "../lib/context.ts";
import { ADDONS, DRIVERS } from "../lib/addons/index.ts";
import { compareText } from "../lib/compare.ts";

/** One implemented action. */
export interface ActionDef {
  kind: Kind;
  /** Logical action name: the file name under datastore/ and tm/, the VM_MAD action for vmm. */
  action: string;
  load(): Promise<ActionModule>;
}

const def = (kind: Kind, action: string, load: () => Promise<ActionModule>): ActionDef => ({
  kind,
  action,
  load,
});

/** Every implemented action. */
export const ACTIONS: readonly ActionDef[] = [
  def("datastore", "stat", () => import("../actions/datastore/stat.ts")),
  def("datastore", "cp", () => import("../actions/datastore/cp.ts")),
  def("datastore", "mkfs", () => import("../actions/datastore/mkfs.ts")),
  def("datastore", "clone", () => import("../actions/datastore/clone.ts")),
  def("datastore", "rm", () => import("../actions/datastore/rm.ts")),
  def("datastore", "monitor", () => import("../actions/datastore/monitor.ts")),
  def("datastore", "snap_delete", () => import("../actions/datastore/snap_delete.ts")),
  def("datastore", "snap_revert", () => import("../actions/datastore/snap_revert.ts")),
  def("datastore", "snap_flatten", () => import("../actions/datastore/snap_flatten.ts")),
  def("datastore", "export", () => import("../actions/datastore/export.ts")),
  def("tm", "clone", () => import("../actions/tm/clone.ts")),
  def("tm", "ln", () => import("../actions/tm/ln.ts")),
  def("tm", "mv", () => import("../actions/tm/mv.ts")),
  def("tm", "mvds", () => import("../actions/tm/mvds.ts")),
  def("tm", "cpds", () => import("../actions/tm/cpds.ts")),
  def("tm", "delete", () => import("../actions/tm/delete.ts")),
  def("tm", "resize", () => import("../actions/tm/resize.ts")),
  def("tm", "snap_create", () => import("../actions/tm/snap_create.ts")),
  def("tm", "snap_create_live", () => import("../actions/tm/snap_create_live.ts")),
  def("tm", "snap_delete", () => import("../actions/tm/snap_delete.ts")),
  def("tm", "snap_revert", () => import("../actions/tm/snap_revert.ts")),
  def("tm", "mkimage", () => import("../actions/tm/mkimage.ts")),
  def("tm", "mkswap", () => import("../actions/tm/mkswap.ts")),
  def("tm", "context", () => import("../actions/tm/context.ts")),
  def("tm", "monitor", () => import("../actions/tm/monitor.ts")),
  def("tm", "monitor_ds", () => import("../actions/tm/monitor_ds.ts")),
  def("tm", "premigrate", () => import("../actions/tm/premigrate.ts")),
  def("tm", "postmigrate", () => import("../actions/tm/postmigrate.ts")),
  def("tm", "failmigrate", () => import("../actions/tm/failmigrate.ts")),
  def("tm", "prebackup", () => import("../actions/tm/prebackup.ts")),
  def("tm", "prebackup_live", () => import("../actions/tm/prebackup_live.ts")),
  def("tm", "postbackup", () => import("../actions/tm/postbackup.ts")),
  def("tm", "postbackup_live", () => import("../actions/tm/postbackup_live.ts")),
  def("tm", "restore", () => import("../actions/tm/restore.ts")),
  def("vmm", "deploy", () => import("../actions/vmm/deploy.ts")),
  def("vmm", "attach_disk", () => import("../actions/vmm/attach_disk.ts")),
  def("vmm", "detach_disk", () => import("../actions/vmm/detach_disk.ts")),
  def("vmm", "save", () => import("../actions/vmm/save.ts")),
  def("vmm", "restore", () => import("../actions/vmm/restore.ts")),
  def("vmm", "snapshotcreate", () => import("../actions/vmm/snapshot_create.ts")),
  def("vmm", "snapshotrevert", () => import("../actions/vmm/snapshot_revert.ts")),
  def("vmm", "snapshotdelete", () => import("../actions/vmm/snapshot_delete.ts")),
];

/** A listed action: what `oneblk actions` prints and `oneblk install` links. */
export interface ListedAction {
  kind: Kind;
  /** Directory under the kind: the driver, or "kvm" for VMM overrides. */
  driver: string;
  /** File name. */
  name: string;
  /** Driver (add-on) that serves it. */
  profile: string;
  action: string;
}

/** Every installable kind/driver/name, sorted. */
export function listActions(): ListedAction[] {
  const out: ListedAction[] = [];
  for (const def of ACTIONS) {
    if (def.kind === "vmm") {
      for (const a of ADDONS) {
        const name = a.vmmOverrides[def.action];
        if (name) {
          out.push({ kind: "vmm", driver: "kvm", name, profile: a.driver, action: def.action });
        }
      }
      continue;
    }
    for (const d of DRIVERS) {
      out.push({ kind: def.kind, driver: d, name: def.action, profile: d, action: def.action });
    }
  }
  const order = (k: Kind) => ["datastore", "tm", "vmm"].indexOf(k);
  return out.sort((a, b) =>
    order(a.kind) - order(b.kind) || compareText(a.driver, b.driver) ||
    compareText(a.name, b.name)
  );
}

/** The definition for kind + logical action. */
export function findAction(kind: Kind, action: string): ActionDef | undefined {
  return ACTIONS.find((a) => a.kind === kind && a.action === action);
}

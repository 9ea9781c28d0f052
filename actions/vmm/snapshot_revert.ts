/**
 * VMM override snapshotrevert (file names per add-on: lib/addons/): `deploy_id HYPERVISOR_ID
 * vmid host` (oned passes the active snapshot's HYPERVISOR_ID; a numeric snapshot id is
 * accepted too), stdin base64 VMM_DRIVER_ACTION_DATA (docs/contract.md "vmm VM snapshots").
 *
 * oned calls it for a RUNNING VM and expects it running again afterwards. The disks cannot be
 * rolled back under a running guest, so, as addon-storpool does:
 *
 * 1. Check first, change nothing: every disk's snapshot of VM snapshot `snap_id` is looked up
 *    (found from the snapshot's HYPERVISOR_ID in the message); a disk without one (attached
 *    after the snapshot) is left as it is and reported. A VM with no disk of ours goes to the
 *    host's stock snapshot_revert.
 * 2. Stop the domain: its live XML (`virsh dumpxml --migratable`: same name and UUID, so the
 *    deploy id stays valid, and every hot-plugged disk and CDROM medium) is kept on the host
 *    as `DIR/oneblk-revert.xml`, then `virsh destroy`.
 * 3. Roll every disk back, in order (a volume still closing is waited for).
 * 4. Start the domain again from the kept XML (`virsh create`) and remove the file.
 *
 * Failures say what state the VM is in. Before any disk changed (step 2, or the first
 * rollback) the domain is started again unchanged. After some disks changed it stays off (a
 * guest on half-reverted disks would be worse) and the message names the disks reverted and
 * not; running the revert again finishes it: with no domain running and the kept XML on the
 * host, the rollbacks (idempotent) and the start are repeated. The domain of an ACTIVE VM that
 * was not running at all is started from the last `DIR/deployment.<n>`, with the deploy id as
 * its UUID when that is one (6.0+); a powered-off VM (KEEP_SNAPSHOTS) only gets its disks
 * rolled back.
 *
 * VM state on the store (StorPool, lib/domain/vm_state.ts): the NVRAM and TPM state volumes are
 * rolled back with the disks and the TPM state is put back into `DIR/tpm` before the start. A
 * snapshot taken with the domain's memory (VMSNAPSHOT_WITH_CHECKPOINT) is started by restoring
 * that memory instead (the memory volume rolled back, attached read-only, `virsh restore`): the
 * guest continues from the moment of the snapshot.
 */
import type { ActionContext } from "../../lib/context.ts";
import { errorLine, isKind, OneblkError } from "../../lib/errors.ts";
import { sleep } from "../../lib/timer.ts";
import {
  checkDomain,
  createDomain,
  destroyDomain,
  domainExists,
  dumpDomainXml,
  restoreDomain,
} from "../../lib/domain/libvirt.ts";
import { restoreTpm, tpmOnStore } from "../../lib/domain/vm_state.ts";
import { withAttached } from "../../lib/domain/attach.ts";
import { parseDomainXml, serializeDomainXml } from "../../lib/domain/domain_xml.ts";
import { exists, putFile, unlink } from "../../lib/host/ops.ts";
import { child, mapChildren } from "../../lib/one/xml.ts";
import { VM_STATE } from "../../lib/one/views.ts";
import {
  delegateVmSnap,
  hypervisorIdOf,
  loadVmSnapCall,
  namesFor,
  stateVolumes,
  stockOnly,
  type VmSnapCall,
  type VmSnapVolume,
} from "../../lib/domain/vm_snapshot.ts";

/** Name of the kept domain XML in the VM directory (step 2). */
const KEPT_XML = "oneblk-revert.xml";

/** How long a rollback waits for a volume the stopped domain still holds open. */
const CLOSE_WAIT_MS = 20_000;

/** Run the snapshotrevert override. */
export async function run(ctx: ActionContext): Promise<void> {
  const call = await loadVmSnapCall(ctx, "revert");
  if (stockOnly(call)) return void (await delegateVmSnap(ctx, call, "revert"));
  const hvId = hypervisorIdOf(call);
  const members = [...call.volumes, ...await stateVolumes(call, ["nvram", "tpm"])];
  const items = namesFor(call, hvId, members);
  if (!items) {
    throw new OneblkError(
      "not_found",
      `VM ${call.vmId} has no oneblk VM snapshot ${call.snapId} (HYPERVISOR_ID ${
        JSON.stringify(hvId)
      })`,
    );
  }
  const present = await Promise.all(items.map(async (i) => {
    const snaps = await i.v.backend.listSnapshots(i.v.volume);
    return snaps.some((s) => s.name === i.snapshot);
  }));
  const todo = items.filter((_, k) => present[k]);
  if (!todo.some((i) => i.v.disk)) {
    throw new OneblkError(
      "not_found",
      `no disk of VM ${call.vmId} has the snapshots of VM snapshot ${call.snapId} (${hvId})`,
    );
  }
  for (const [k, i] of items.entries()) {
    if (!present[k]) {
      ctx.info(`${i.v.label} (${i.v.volume}) has no snapshot ${i.snapshot}: left as it is`);
    }
  }
  const memory = (namesFor(call, hvId, await stateVolumes(call, ["memory"], true)) ?? [])[0];
  const memorySaved = memory !== undefined &&
    (await memory.v.backend.listSnapshots(memory.v.volume)).some((s) => s.name === memory.snapshot);
  const domain = call.deployId && call.deployId !== "-" ? checkDomain(call.deployId) : null;
  const kept = domain ? await stopDomain(ctx, call, domain) : null;
  const done: VmSnapVolume[] = [];
  for (const i of todo) {
    try {
      await rollback(i.v, i.snapshot);
    } catch (e) {
      if (kept && done.length === 0) {
        await startDomain(ctx, call, kept);
        throw new OneblkError(
          isKind(e, "in_use") ? "in_use" : "host",
          `VM ${call.vmId}: nothing reverted, ${i.v.label} (${i.v.volume}) failed: ` +
            `${errorLine(e)}; the domain was started again unchanged`,
        );
      }
      const left = todo.slice(done.length).map((x) => x.v.label);
      throw new OneblkError(
        "host",
        `VM ${call.vmId}: revert to VM snapshot ${call.snapId} stopped at ` +
          `${i.v.label} (${i.v.volume}): ${errorLine(e)}; ` +
          `${done.map((v) => v.label).join(", ")} reverted, ${left.join(", ")} ` +
          `not` +
          (kept
            ? `; the domain stays shut off on ${call.host} (its XML is kept in ${kept}); ` +
              `revert again to finish`
            : ""),
      );
    }
    done.push(i.v);
  }
  const st = call.state;
  const tpm = st?.profile.vmStateVolume(call.vmId, "tpm");
  if (st && tpmOnStore(ctx, st.profile, call.vm) && todo.some((i) => i.v.volume === tpm)) {
    await restoreTpm(ctx, st.profile, st.backend, call.vmId, call.host, st.dir);
  }
  if (!kept) return;
  if (memorySaved) await restoreMemory(ctx, call, memory.v.volume, memory.snapshot, kept);
  else await startDomain(ctx, call, kept, `disks reverted to VM snapshot ${call.snapId}, but`);
}

/**
 * Start the domain from memory snapshot `snapshot` (instead of from `kept`): roll the memory
 * volume back to it, attach it read-only, `virsh restore`, detach, remove `kept`. A failure
 * leaves the domain off with `kept` in place: reverting again repeats it.
 */
async function restoreMemory(
  ctx: ActionContext,
  call: VmSnapCall,
  volume: string,
  snapshot: string,
  kept: string,
): Promise<void> {
  const { backend } = call.state!;
  try {
    await backend.rollbackSnapshot(volume, snapshot);
    await withAttached(ctx, backend, volume, call.host, async (dev) => {
      await restoreDomain(ctx, call.host, dev);
    }, { readOnly: true });
  } catch (e) {
    throw new OneblkError(
      "host",
      `VM ${call.vmId}: volumes reverted to VM snapshot ${call.snapId}, but its memory could ` +
        `not be restored on ${call.host}: ${errorLine(e)}; the domain is shut off (its XML is ` +
        `kept in ${kept}); revert again to retry`,
    );
  }
  ctx.info(`${call.deployId} restored on ${call.host} from ${snapshot}`);
  await unlink(ctx.hosts, call.host, kept).catch((e) =>
    ctx.info(`${kept} not removed: ${errorLine(e)}`)
  );
}

/**
 * Roll `v` back to `snapshot`, waiting (bounded) while the volume is still open: QEMU closes
 * its devices a moment after `virsh destroy` returns. Repeating a rollback gives the same result.
 */
async function rollback(v: VmSnapVolume, snapshot: string): Promise<void> {
  const until = Date.now() + CLOSE_WAIT_MS;
  for (let delay = 250;; delay = Math.min(delay * 2, 2000)) {
    try {
      return await v.backend.rollbackSnapshot(v.volume, snapshot);
    } catch (e) {
      if (!isKind(e, "in_use") || Date.now() + delay > until) throw e;
      await sleep(delay);
    }
  }
}

/** The VM directory on the host: the system datastore's BASE_PATH/<vmid>. */
function vmDir(call: VmSnapCall): string {
  const base = call.sysDs?.basePath;
  if (!base) {
    throw new OneblkError(
      "input",
      `the message of VM ${call.vmId} names no system datastore BASE_PATH`,
    );
  }
  return `${base.replace(/\/+$/, "")}/${call.vmId}`;
}

/**
 * Step 2: keep the domain's XML on the host and stop it; returns the kept file. With no domain
 * running, an earlier call's file is reused, else, for an ACTIVE VM, one is made from the last
 * deployment file; a VM that is not ACTIVE (powered off) gets none: only its disks change.
 */
async function stopDomain(
  ctx: ActionContext,
  call: VmSnapCall,
  domain: string,
): Promise<string | null> {
  const { host } = call;
  const dir = vmDir(call);
  const kept = `${dir}/${KEPT_XML}`;
  if (await domainExists(ctx, host, domain)) {
    const xml = await dumpDomainXml(ctx, host, domain, { migratable: true });
    parseDomainXml(xml, `domain XML of ${domain}`);
    await putFile(ctx.hosts, host, kept, xml);
    await destroyDomain(ctx, host, domain);
    return kept;
  }
  if (await exists(ctx.hosts, host, kept)) {
    ctx.info(`${domain} is not running on ${host}: finishing an earlier revert (${kept})`);
    return kept;
  }
  if (call.vm.state !== VM_STATE.ACTIVE) return null; // powered off: only the disks
  const dep = await lastDeploymentFile(ctx, host, dir);
  if (!dep) {
    throw new OneblkError(
      "not_found",
      `${domain} is not running on ${host} and ${dir} has no deployment file: nothing reverted`,
    );
  }
  ctx.info(`${domain} is not running on ${host}: it will be started from ${dep}`);
  const r = await ctx.hosts.run(host, ["cat", "--", dep]);
  let parsed = parseDomainXml(r.stdout, dep);
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(domain)) {
    // 6.0+: the deploy id is the domain's UUID; a new one would orphan it.
    const uuid = { name: "uuid", attrs: {}, text: domain, children: [] };
    parsed = child(parsed, "uuid")
      ? mapChildren(parsed, (c) => c.name === "uuid" ? uuid : c)
      : { ...parsed, children: [...parsed.children, uuid] };
  }
  await putFile(ctx.hosts, host, kept, serializeDomainXml(parsed));
  return kept;
}

/** Constant script: the `deployment.<n>` files of directory $1, one per line. */
const LIST_DEPLOYMENTS = 'for f in "$1"/deployment.*; do [ -f "$f" ] && echo "$f"; done; exit 0';

/** The deployment file with the highest sequence number in `dir` on `host`, or null. */
async function lastDeploymentFile(
  ctx: ActionContext,
  host: string,
  dir: string,
): Promise<string | null> {
  const r = await ctx.hosts.run(host, ["sh", "-c", LIST_DEPLOYMENTS, "oneblk-ls", dir]);
  let best: { n: number; path: string } | null = null;
  for (const path of r.stdout.split("\n")) {
    const m = /\/deployment\.(\d+)$/.exec(path.trim());
    if (m && (!best || Number(m[1]) > best.n)) best = { n: Number(m[1]), path: path.trim() };
  }
  return best?.path ?? null;
}

/** Step 4: start the domain from the kept XML, then remove the file. */
async function startDomain(
  ctx: ActionContext,
  call: VmSnapCall,
  kept: string,
  what = "",
): Promise<void> {
  try {
    await createDomain(ctx, call.host, kept);
  } catch (e) {
    throw new OneblkError(
      "host",
      `VM ${call.vmId}: ${what ? `${what} ` : ""}the domain could not be started on ` +
        `${call.host}: ${errorLine(e)}; it is shut off, its XML is kept in ${kept}; ` +
        `revert again to retry`,
    );
  }
  await unlink(ctx.hosts, call.host, kept).catch((e) =>
    ctx.info(`${kept} not removed: ${errorLine(e)}`)
  );
}

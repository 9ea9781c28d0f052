/**
 * VMM override deploy (file names per add-on: lib/addons/; addon-storpool's `deploy-tweaks`):
 * `local_deployment_file host vmid host`, stdin base64 of the domain XML oned generated
 * (docs/contract.md "vmm deploy and disk hot-plug"). Prints what the host's stock deploy prints:
 * the deploy id (the domain UUID on 6.0+, its name on 5.12).
 *
 * 1. The domain XML from stdin (or, when stdin is empty, the local deployment file, which is
 *    what the add-on reads), and the VM: the `vm.xml` the MAD wrote next to the deployment file
 *    (6.0+), else oned's `one.vm.info`.
 * 2. oneblk's storage rewrites (lib/domain/deploy_tweaks.ts, domain_xml.ts): store-backed
 *    file disks (volatile disks, the context ISO on a StorPool system datastore, CDROM images)
 *    become block devices, and the persistent CDROM drives are added. XML that does not parse
 *    (oned writes the VM name into `<title>` unescaped) is handed on unchanged, said in one line.
 * 3. The operator's helpers in `<this override>.d/`, as the add-on runs them, each result kept
 *    only when the helper exits 0 within its deadline and leaves usable domain XML.
 * 4. The stock host `$RR/vmm/kvm/deploy <remote deployment file>` with the result on stdin; the
 *    remote file is `<one:system_datastore>/<name of the local file>` (the datastore's
 *    BASE_PATH/<vmid> when the XML has no such metadata). When the MAD wrote `vm.xml` and
 *    `ds.xml` locally (6.0+; a local deploy gets none on the host, where the stock deploy reads
 *    vm.xml for vGPUs and vTPM state) they are copied, decoded, to the host's VM directory.
 * If nothing changed, the original bytes are handed on: the stock deploy of 6.8+ resolves the
 * `disk.N` links of file disks with a text match on single-quoted attributes, which any
 * rewritten XML (double quotes) would defeat.
 */
import { basename, dirname, join } from "../../lib/path.ts";
import type { ActionContext } from "../../lib/context.ts";
import { errorLine, OneblkError } from "../../lib/errors.ts";
import { checkPath, putFile } from "../../lib/host/ops.ts";
import { decodeBase64Text, decodeXmlPayload, parseId, validateHost } from "../../lib/one/args.ts";
import { parseDatastore, parseVm, type VmView } from "../../lib/one/views.ts";
import { toXml } from "../../lib/one/xml.ts";
import { runStock } from "../../lib/domain/stock.ts";
import {
  parseDomainXml,
  rewriteDomainStorage,
  systemDatastoreDir,
} from "../../lib/domain/domain_xml.ts";
import {
  addonRcFiles,
  runDeployHelpers,
  storageRewriteFor,
} from "../../lib/domain/deploy_tweaks.ts";
import { addonRc } from "../../lib/backend/storpool/config.ts";

/** Run the deploy override. */
export async function run(ctx: ActionContext): Promise<void> {
  const [depArg, hostArg, vmArg] = ctx.args;
  const depFile = checkPath(depArg, "deployment file");
  const host = validateHost(hostArg);
  const vmId = parseId(vmArg, "vmid");
  const original = await domainText(ctx, depFile);
  const local = await localDocs(depFile, vmId);
  const vm = local.vm ?? await (await ctx.one()).vmInfo(vmId);
  const vmXml = local.vmXml ?? toXml(vm.node);

  let xml = original;
  let sysDir: string | undefined;
  try {
    sysDir = systemDatastoreDir(parseDomainXml(original, "the deployment file"));
    const rc = addonRc(addonRcFiles());
    const r = rewriteDomainStorage(original, storageRewriteFor(ctx, vm, rc), "the deployment file");
    if (r.changed) {
      const blocks = r.converted.map((d) => d.target || d.source);
      ctx.info(
        [
          blocks.length ? `block devices: ${blocks.join(", ")}` : "",
          r.addedCdroms.length ? `empty CDROM drives: ${r.addedCdroms.join(", ")}` : "",
        ].filter(Boolean).join("; "),
      );
    }
    xml = r.xml;
  } catch (e) {
    if (!(e instanceof OneblkError) || e.kind !== "input") throw e;
    ctx.info(`domain XML handed on unchanged: ${errorLine(e)}`);
  }

  const remotes = ctx.remotes;
  const kvmrc = join(remotes, "etc", "vmm", "kvm", "kvmrc");
  const helpers = await runDeployHelpers(ctx, {
    dir: join(remotes, "vmm", "kvm", `${ctx.inv.name}.d`),
    xml,
    vmXml,
    vm,
    depFile,
    host,
    rcFiles: [
      (await isFile(kvmrc)) ? kvmrc : join(remotes, "vmm", "kvm", "kvmrc"),
      join(remotes, "scripts_common.sh"),
      ...addonRcFiles(),
    ],
  });
  for (const name of helpers.applied) ctx.info(`${ctx.inv.name}.d/${name} applied`);

  const dir = sysDir ?? await vmDirFromDatastore(ctx, vm, local.dsBasePath);
  if (local.copies.length) {
    for (const [name, text] of local.copies) await putFile(ctx.hosts, host, `${dir}/${name}`, text);
  }
  const out = await runStock(ctx, "deploy", host, [`${dir}/${basename(depFile)}`], helpers.xml);
  ctx.out(out.replace(/\n+$/, ""));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The domain XML: base64 on stdin (raw XML accepted), else the local deployment file. */
async function domainText(ctx: ActionContext, depFile: string): Promise<string> {
  const raw = await ctx.stdin();
  if (raw.trim()) {
    // Decoded byte for byte (decodeXmlPayload would trim it): unchanged XML is handed on as is.
    const text = raw.trim().startsWith("<") ? raw : decodeBase64Text(raw, "domain XML on stdin");
    if (!text.trimStart().startsWith("<")) {
      throw new OneblkError("input", "stdin does not decode to domain XML");
    }
    return text;
  }
  try {
    return await Deno.readTextFile(depFile);
  } catch (e) {
    throw new OneblkError(
      "input",
      `no domain XML on stdin and ${depFile} cannot be read: ${(e as Error).message}`,
    );
  }
}

/** What the MAD wrote next to the local deployment file (6.0+), decoded. */
interface LocalDocs {
  vm?: VmView;
  vmXml?: string;
  dsBasePath?: string;
  /** `vm.xml` and `ds.xml` to copy to the host, as [name, text]. */
  copies: [string, string][];
}

async function localDocs(depFile: string, vmId: number): Promise<LocalDocs> {
  const out: LocalDocs = { copies: [] };
  const read = async (name: string): Promise<string | undefined> => {
    try {
      const t = (await Deno.readTextFile(join(dirname(depFile), name))).trim();
      return t ? decodeXmlPayload(t, name, { allowRaw: true }) : undefined;
    } catch {
      return undefined;
    }
  };
  const vmXml = await read("vm.xml");
  if (vmXml) {
    try {
      const vm = await parseVm(vmXml);
      if (vm.id === vmId) {
        out.vm = vm;
        out.vmXml = vmXml;
        out.copies.push(["vm.xml", vmXml]);
      }
    } catch { /* not this VM's document: ask oned */ }
  }
  const dsXml = await read("ds.xml");
  if (dsXml && out.vm) {
    try {
      out.dsBasePath = (await parseDatastore(dsXml)).basePath || undefined;
      out.copies.push(["ds.xml", dsXml]);
    } catch { /* ignored */ }
  }
  return out;
}

/** The VM directory on the host from its system datastore's BASE_PATH. */
async function vmDirFromDatastore(
  ctx: ActionContext,
  vm: VmView,
  basePath: string | undefined,
): Promise<string> {
  let base = basePath;
  if (!base) {
    const dsId = vm.history?.dsId ?? -1;
    if (dsId < 0) throw new OneblkError("input", `VM ${vm.id} has no system datastore`);
    base = (await (await ctx.one()).datastoreInfo(dsId)).basePath;
  }
  if (!base) throw new OneblkError("input", `the system datastore of VM ${vm.id} has no BASE_PATH`);
  return `${base.replace(/\/+$/, "")}/${vm.id}`;
}

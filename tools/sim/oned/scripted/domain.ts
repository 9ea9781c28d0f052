/**
 * The domain XML the scripted oned writes for a VM (its deployment file), shaped like
 * OpenNebula's KVM generator for the played version (docs/contract.md "vmm deploy and disk
 * hot-plug"): single-quoted attributes, tabs, CDATA, several top-level `<devices>`, the VM
 * directory in `<metadata><one:vm><one:system_datastore>`. Image disks of a BLOCK datastore are
 * block devices; volatile disks, the context CD and (before 6.8) CDROM images are files, which
 * is what oneblk's deploy override rewrites; 7.2+ machines are q35 with the context on SATA.
 */
import { compareVersion } from "../../../../lib/one/output.ts";
import type { VmModel } from "./models.ts";

/** What the generator needs besides the VM. */
export interface DomainPlace {
  /** The VM directory on the host (`/var/lib/one//datastores/<sys>/<vm>`). */
  dir: string;
  /** OpenNebula version played. */
  version: string;
  /** The domain's UUID, when it has one already (a redeploy keeps it). */
  uuid?: string;
}

/** The deployment file oned writes for `vm`. */
export function buildDomainXml(vm: VmModel, p: DomainPlace): string {
  const q35 = compareVersion(p.version, "7.2.0") >= 0;
  const cdromBlock = compareVersion(p.version, "6.8.0") >= 0;
  const disks: string[] = [];
  for (const d of vm.disks) {
    const path = `${p.dir}/disk.${d.diskId}`;
    const cdrom = d.type === "CDROM";
    const block = d.imageId !== undefined && (!cdrom || cdromBlock);
    const src = block ? `<source dev='${path}'/>` : `<source file='${path}'/>`;
    const drv = cdrom ? "raw" : (d.format || "raw");
    disks.push(
      `\t\t<disk type='${block ? "block" : "file"}' device='${cdrom ? "cdrom" : "disk"}'>\n` +
        `\t\t\t${src}\n\t\t\t<target dev='${d.target}' bus='virtio'/>\n` +
        (d.readonly || cdrom ? "\t\t\t<readonly/>\n" : "") +
        `\t\t\t<driver name='qemu' type='${drv}' cache='none'/>\n\t\t</disk>\n`,
    );
  }
  if (vm.contextDiskId !== null) {
    const [target, bus] = q35 ? ["sda", "sata"] : ["hda", "ide"];
    disks.push(
      `\t\t<disk type='file' device='cdrom'>\n` +
        `\t\t\t<source file='${p.dir}/disk.${vm.contextDiskId}'/>\n` +
        `\t\t\t<target dev='${target}' bus='${bus}'/>\n\t\t\t<readonly/>\n` +
        `\t\t\t<driver name='qemu' type='raw'${q35 ? " cache='none'" : ""}/>\n\t\t</disk>\n`,
    );
  }
  return `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n` +
    `\t<name>one-${vm.id}</name>\n` +
    (p.uuid ? `\t<uuid>${p.uuid}</uuid>\n` : "") +
    `\t<title>${vm.name}</title>\n` +
    `\t<vcpu><![CDATA[1]]></vcpu>\n` +
    `\t<memory>${vm.memoryMb * 1024}</memory>\n` +
    `\t<os>\n\t\t<type arch='x86_64'${q35 ? " machine='q35'" : ""}>hvm</type>\n\t</os>\n` +
    `\t<devices>\n\t\t<emulator><![CDATA[/usr/bin/qemu-kvm-one]]></emulator>\n` +
    disks.join("") +
    `\t</devices>\n` +
    `\t<devices>\n\t\t<channel type='unix'>\n\t\t\t<source mode='bind'/>` +
    `<target type='virtio' name='org.qemu.guest_agent.0'/>\n\t\t</channel>\n\t</devices>\n` +
    `\t<metadata>\n\t\t<one:vm xmlns:one="http://opennebula.org/xmlns/libvirt/1.0">\n` +
    `\t\t\t<one:system_datastore><![CDATA[${p.dir}]]></one:system_datastore>\n` +
    `\t\t\t<one:name><![CDATA[${vm.name}]]></one:name>\n` +
    `\t\t\t<one:opennebula_version>${p.version}</one:opennebula_version>\n` +
    `\t\t</one:vm>\n\t</metadata>\n</domain>\n`;
}

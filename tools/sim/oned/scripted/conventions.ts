/**
 * Per-version conventions of oned: how each OpenNebula version calls the driver programs and how
 * it reads their answers (the failure text it takes from stderr, the monitor keys).
 */
import { parseTemplate } from "../../../../lib/one/template.ts";
import { ERROR_BLOCK_END, ERROR_BLOCK_START, versionAtLeast } from "../../../../lib/one/output.ts";

/**
 * How one OpenNebula version calls drivers and reads their answers (docs/contract.md "Version
 * differences").
 */
export interface Convention {
  /** Version string written to `$R/VERSION`. */
  version: string;
  /** DS actions (and system-DS tm monitor): `b64 id` argv, `- id` + stdin, or `id` + stdin. */
  dsArgs: "argv" | "dash" | "stdin";
  /** IMAGE XML carries FSTYPE instead of FORMAT/FS (≤5.12); mkimage's 2nd arg is the FS. */
  legacyFstype: boolean;
  /** cp must print `SOURCE FORMAT` (≥6.0); 5.x takes the first word. */
  cpFormatRequired: boolean;
  /** Failure text: ERROR MESSAGE block (<6.2), all stderr (6.2–6.10), non-log lines (≥7.0). */
  errorStyle: "block" | "stderr" | "log";
  /** Backups exist (≥6.6). */
  backups: boolean;
  /** pre/postbackup get the backup-job id argument (≥6.8). */
  backupJobArg: boolean;
  /** postbackup also runs after a failed prebackup (≥6.8). */
  postbackupAfterPre: boolean;
  /** DS backup stdin is DS_DRIVER_ACTION_DATA with DATASTORE and VM (7.0+), else DATASTORE. */
  backupDsVm: boolean;
  /** TM restore and the backup datastores' `ls` (≥6.10). */
  restore: boolean;
  /** MODE=INCREMENT allowed for raw disks of a block TM (≥7.2; before, oned forces FULL). */
  rawIncrements: boolean;
  /** A failed backup's postbackup gets `<BACKUP_RESULT>FAILURE</BACKUP_RESULT>` (after 7.4). */
  backupResult: boolean;
}

/** The convention of an OpenNebula version (`"5.12.0"`, `"6.6.0"`, `"6.8.0"`, `"7.0.0"` …). */
export function conventionFor(version: string, opts: { dsDashStdin?: boolean } = {}): Convention {
  const at = (min: string) => versionAtLeast(version, min);
  return {
    version,
    dsArgs: at("6.7.80") ? "stdin" : opts.dsDashStdin ? "dash" : "argv",
    legacyFstype: !at("5.13.80"),
    cpFormatRequired: at("5.13.80"),
    errorStyle: !at("6.0.3") ? "block" : !at("6.99.80") ? "stderr" : "log",
    backups: at("6.5.80"),
    backupJobArg: at("6.7.80"),
    postbackupAfterPre: at("6.7.80"),
    backupDsVm: at("6.99.80"),
    restore: at("6.9.80"),
    rawIncrements: at("7.1.80"),
    backupResult: at("7.4.80"),
  };
}

/** The calling conventions the tests play, by short name. */
export const CONVENTIONS: Readonly<Record<string, string>> = {
  "5.12": "5.12.0",
  "6.6": "6.6.0",
  "6.8": "6.8.0",
  "7.x": "7.0.0",
};

/** A log line on stderr (`ERROR: 42 text`): oned ≥7.0 turns it into a LOG message. */
export const LOG_RE = /^(ERROR|INFO|WARN|DEBUG):\s+(\d+)?\s*(.*)$/;

/**
 * The failure text and LOG messages oned derives from a script's stderr (docs/contract.md
 * "Results, errors and logging"), plus complaints when the text is not one plain line.
 */
export function onedErrorText(
  stderr: string,
  style: Convention["errorStyle"],
): { info: string; logs: string[]; complaints: string[] } {
  const lines = stderr.split("\n").map((l) => l.trimEnd()).filter((l) => l.trim() !== "");
  const complaints: string[] = [];
  if (style === "block") {
    const start = lines.indexOf(ERROR_BLOCK_START);
    const end = lines.indexOf(ERROR_BLOCK_END, start + 1);
    if (start < 0 || end < 0) {
      complaints.push("no ERROR MESSAGE block on stderr (oned <6.2 shows '-')");
      return { info: "-", logs: [], complaints };
    }
    const inner = lines.slice(start + 1, end);
    if (inner.length !== 1) complaints.push(`error block has ${inner.length} lines, not 1`);
    return { info: inner.join(" ").trim() || "-", logs: [], complaints };
  }
  if (style === "stderr") {
    if (lines.length !== 1) complaints.push(`stderr has ${lines.length} lines, not 1`);
    return { info: lines.join(" ").trim() || "-", logs: [], complaints };
  }
  const logs: string[] = [];
  const plain: string[] = [];
  for (const l of lines) (LOG_RE.test(l) ? logs : plain).push(l);
  if (plain.length !== 1) complaints.push(`stderr has ${plain.length} non-log lines, not 1`);
  return { info: plain.join("").trim() || "-", logs, complaints };
}

/** Parse the three capacity keys of a monitor answer; null when one is missing. */
export function parseMonitor(
  stdout: string,
): { usedMb: number; totalMb: number; freeMb: number } | null {
  let attrs;
  try {
    attrs = parseTemplate(stdout, "monitor output");
  } catch {
    return null;
  }
  const get = (k: string) => {
    const a = attrs.find((x) => x.name === k);
    const n = a?.value === undefined ? NaN : Number(a.value);
    return Number.isFinite(n) ? n : null;
  };
  const usedMb = get("USED_MB");
  const totalMb = get("TOTAL_MB");
  const freeMb = get("FREE_MB");
  if (usedMb === null || totalMb === null || freeMb === null) return null;
  return { usedMb, totalMb, freeMb };
}

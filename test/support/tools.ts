/**
 * Tests that need a program the machine may lack (qemu-img, mkfs.ext4, openssl, the ISO
 * readers, curl, python3, the decompressors …): one place that knows which Debian package brings each, and wraps such a test so
 * that, when a program is missing, it is skipped with one line naming the program and the
 * package instead of failing with a stack trace. `.ci/run` installs every package listed here
 * and fails when any test was skipped, so CI always runs them all.
 *
 *   toolTest(["qemu-img"], "converts a qcow2", async () => …);          // Deno.test
 *   it(...needing(["qemu-img"], "converts a qcow2"), async () => …);     // node:test it()
 */

/** Every program some test needs, with the Debian package that brings it. */
export const TOOL_PACKAGES = {
  "qemu-img": "qemu-utils",
  "mkfs.ext4": "e2fsprogs",
  openssl: "openssl",
  isoinfo: "genisoimage",
  genisoimage: "genisoimage",
  xorriso: "xorriso",
  bsdtar: "libarchive-tools",
  "7z": "p7zip-full",
  blkid: "util-linux",
  curl: "curl",
  python3: "python3",
  gzip: "gzip",
  bzip2: "bzip2",
  xz: "xz-utils",
} as const;

/** A program from TOOL_PACKAGES. */
export type Tool = keyof typeof TOOL_PACKAGES;

const found = new Map<string, boolean>();

/** True when `cmd` is an executable file in a directory of PATH (looked up once). */
export function onPath(cmd: string): boolean {
  let hit = found.get(cmd);
  if (hit !== undefined) return hit;
  hit = false;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${cmd}`);
      if (st.isFile && ((st.mode ?? 0o111) & 0o111)) {
        hit = true;
        break;
      }
    } catch {
      // not in this directory
    }
  }
  found.set(cmd, hit);
  return hit;
}

/** The programs of `tools` that are not on PATH. */
export function missingTools(tools: readonly Tool[]): Tool[] {
  return tools.filter((t) => !onPath(t));
}

/**
 * The one-line reason a test needing `tools` is skipped here, or null when all are present:
 * `skipped: no qemu-img (Debian package qemu-utils)`.
 */
export function skipReason(tools: readonly Tool[]): string | null {
  const miss = missingTools(tools);
  if (!miss.length) return null;
  const what = miss.map((t) => `${t} (Debian package ${TOOL_PACKAGES[t]})`).join(", ");
  return `skipped: no ${what}`;
}

/**
 * Name and options for a node:test `it`/`describe` that needs `tools`: the name gets the skip
 * reason appended when something is missing, and the test is then skipped.
 */
export function needing(
  tools: readonly Tool[],
  name: string,
): [string, { skip: boolean }] {
  const reason = skipReason(tools);
  return [reason ? `${name} (${reason})` : name, { skip: reason !== null }];
}

/** A Deno.test that needs `tools` (skipped with a one-line reason when one is missing). */
export function toolTest(tools: readonly Tool[], name: string, fn: () => Promise<void>): void {
  const reason = skipReason(tools);
  Deno.test({ name: reason ? `${name} (${reason})` : name, ignore: reason !== null, fn });
}

/** Shared test helpers for the host layer (not a test file itself). */
import { join } from "node:path";
import { sha256Hex } from "../support/bytes.ts";

export { sha256Hex };

/** Strings that break naive shell quoting. */
export const HOSTILE: string[] = [
  "plain",
  "with space",
  "  leading and trailing  ",
  "it's",
  "''",
  "'",
  '"double"',
  "\"'\"'mixed",
  "$HOME",
  "${HOME}",
  "$(id -u)",
  "`id -u`",
  "a;b",
  "a && b || c | d > e < f",
  "line1\nline2\n",
  "\r\n",
  "tab\there",
  "*",
  "/*",
  "?",
  "[a-z]",
  "~",
  "~root",
  "{a,b}",
  "!",
  "#not a comment",
  "-n",
  "--",
  "x=y",
  "A=b",
  "back\\slash\\",
  "ünïcødé ✓ 日本語 🚀",
  "",
  "%s %d %%",
];

/** Write an executable bash script and return its path. */
export async function writeScript(dir: string, name: string, body: string): Promise<string> {
  const p = join(dir, name);
  await Deno.writeTextFile(p, `#!/bin/bash\n${body}\n`);
  await Deno.chmod(p, 0o755);
  return p;
}

/**
 * A stand-in for ssh that behaves like sshd on the other side: it drops ssh's own options
 * (`-o X` pairs, single flags, `--`), takes the host, and hands the remaining single command
 * string to `sh -c`, exactly as sshd does with the login shell. Host "unreachable" fails
 * like ssh does (exit 255). Each invocation appends its host to `<dir>/ssh.log`.
 */
export function fakeSsh(dir: string): Promise<string> {
  return writeScript(
    dir,
    "fake-ssh",
    `log=${JSON.stringify(join(dir, "ssh.log"))}
while [ $# -gt 0 ]; do
  case "$1" in
    -o|-p|-i|-l) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=$1; shift
printf '%s\\n' "$host" >> "$log"
if [ "$host" = unreachable ]; then
  echo "ssh: connect to host unreachable port 22: Connection refused" >&2
  exit 255
fi
[ $# -eq 1 ] || { echo "fake-ssh: expected exactly one command argument, got $#" >&2; exit 254; }
exec sh -c "$1"`,
  );
}

/** Decode NUL-separated printf output into the list of arguments. */
export function nulSplit(s: string): string[] {
  const parts = s.split("\0");
  parts.pop();
  return parts;
}

/** True once the process is gone (or a zombie nobody reaps), waiting up to ~5 s. */
export async function processGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (/^\d+ \(.*\) Z /.test(stat)) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * POSIX shell quoting for the remote side of ssh.
 *
 * `ssh host word…` joins its words with blanks and the remote sshd hands the result to the
 * account's login shell as `sh -c "<string>"`. To make every argument arrive byte for byte we
 * build that string ourselves: each argument becomes one shell word. Words made only of
 * characters that are never special to a POSIX shell stay bare (readable logs); everything
 * else is wrapped in single quotes, with each `'` written as `'\''` (close quote, escaped
 * quote, reopen). Inside single quotes nothing is special: `$`, backticks, `\`, `;`, `*`,
 * newlines and non-ASCII bytes are all literal. Assumes a POSIX login shell (sh, bash, dash,
 * zsh, ksh) on the remote account, as OpenNebula itself does.
 */
import { OneblkError } from "../errors.ts";

/** Characters that never need quoting. `=` is excluded so no word can look like `VAR=value`. */
const BARE = /^[A-Za-z0-9_@%+:,./-]+$/;

/** Quote one argument as a single POSIX shell word. Throws on NUL (cannot be in argv). */
export function quote(arg: string): string {
  if (arg.includes("\0")) {
    throw new OneblkError("input", "a command argument contains a NUL byte");
  }
  if (BARE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Quote every argument and join them with blanks: a command line for `sh -c`. */
export function commandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new OneblkError("internal", "empty command");
  return argv.map(quote).join(" ");
}

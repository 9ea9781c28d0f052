/**
 * Cheap stand-ins for runtime calls whose first use costs a short action memory.
 *
 * A driver action is a process of 30-45 MiB, most of it the deno executable's pages: every
 * distinct piece of the runtime's native code it runs is mapped in 64 KiB blocks (README,
 * Performance). Measured on top of the bench's floor script (one HTTP request, one host
 * command), first use only, peak RSS:
 *
 * | call                              | costs     | instead                            | costs     |
 * | --------------------------------- | --------- | ---------------------------------- | --------- |
 * | `crypto.randomUUID()`             | +0.55 MiB | `uniqueId()` (`Math.random`)       | +0.07 MiB |
 * | `Deno.statSync(p).isDirectory`    | +0.6 MiB  | `isDirectory()` (`realPathSync`)   | +0.2 MiB  |
 * | `crypto.subtle.digest("SHA-256")` | +0.45 MiB | @noble/hashes (host_leftovers.ts)  | its code  |
 * | BigInt operations (ret_code)      | +0.45 MiB | its text (linstor/api_call_rc.ts)  | its code  |
 * | `new URLSearchParams()`           | +0.15 MiB | `buildQuery` (linstor/client.ts)   | its code  |
 *
 * (The two Web Crypto calls together cost 0.9 MiB: they do not share their code. The last two
 * rows on a script of an action's usual calls and one host command; in a LINSTOR premigrate,
 * whose other calls share part of that code, together 0.2-0.3 MiB.) lib/ and
 * actions/ call neither Web Crypto nor stat for a directory nor URLSearchParams
 * (test/startup_test.ts); tools and tests may.
 *
 * Measured the same way and not avoided: a runtime call that fails (an op's error, e.g. reading a
 * file that does not exist) on its first failure, and a promise rejected before it has a handler
 * (+0.45 MiB; the two add up). What a failure costs depends on the call: after the usual reads, a
 * failed `Deno.readTextFile` +0.13 MiB, a failed `Deno.remove`, `Deno.lstat` or `Deno.open`
 * +0.32 (a failed read and a failed removal together: as the removal alone). Every check whether
 * a file exists that the runtime offers fails that way or costs as much (`Deno.readDirSync` +0.4
 * MiB), and the journal of host leftovers and StorPool's rc files are looked up where they
 * usually do not exist; so an action pays for its first failed call once, and where it can, with
 * the cheapest: the journal's entry is read before it is removed (host_leftovers.ts
 * dropHostLeftover).
 *
 * The runtime's asynchronous file calls (and its writes to stdout and stderr) run on a thread of
 * its own, whose path costs a short action more than the synchronous calls' path. The small
 * local files an action reads on its way (oned's VERSION, the credentials, the journal's entry)
 * are read synchronously and its output written with `writeAllSync` (lib/bytes.ts): paired bench
 * rounds on 2026-12-07, tm ln, mv and delete 0.1-0.7 MiB lower, the migrations 0.1-0.2 (the
 * migration test notes every asynchronous file call: none). stdin stays asynchronous: its read
 * has a deadline (one/args.ts processStdin), and a synchronous read measured no clear gain.
 */

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, "0");
const random32 = () => Math.floor(Math.random() * 0x1_0000_0000);

/**
 * A name no other call makes: 122 random bits in the layout of a version 4 UUID (so every name
 * oneblk ever made, from Web Crypto before, has one shape). For the names of temporary files and
 * markers, which must not collide; not a secret: `Math.random` is V8's generator, seeded from
 * the system's entropy for each process.
 */
export function uniqueId(): string {
  const a = random32();
  const b = random32();
  const c = random32();
  const d = random32();
  return `${hex(a, 8)}-${hex(b >>> 16, 4)}-${hex(0x4000 | (b & 0x0fff), 4)}-` +
    `${hex(0x8000 | ((c >>> 16) & 0x3fff), 4)}-${hex(c & 0xffff, 4)}${hex(d, 8)}`;
}

/** True when `path` is a directory this process can enter (false when it is anything else). */
export function isDirectory(path: string): boolean {
  try {
    // "dir/." resolves only through a directory (ENOTDIR for a file)
    Deno.realPathSync(`${path.replace(/\/+$/, "")}/.`);
    return true;
  } catch {
    return false;
  }
}

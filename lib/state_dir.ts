/**
 * The front-end directory where oneblk keeps what must outlive one action: work it could not
 * finish and must find again (a cleanup on a host that was down), and caches. The one reader
 * of ONEBLK_STATE_DIR.
 *
 * Resolution: ONEBLK_STATE_DIR when set; in the simulated mode (ONEBLK_SIM_ROOT) the `state`
 * folder of the simulated world; else `$ONE_LOCATION/var/oneblk`; else `/var/lib/one/oneblk`
 * (oneadmin's home, where oned's drivers may write). The directory is created on first write,
 * mode 0700. With an HA oned (several front-ends) each front-end has its own: what one leader
 * recorded is found by actions and `oneblk gc` run on that front-end.
 */
import { join } from "./path.ts";

/** The front-end state directory for `env` (not created here). */
export function stateDir(env: Record<string, string | undefined>): string {
  const set = env.ONEBLK_STATE_DIR?.trim();
  if (set) return set;
  const sim = env.ONEBLK_SIM_ROOT?.trim();
  if (sim) return join(sim, "state");
  const loc = env.ONE_LOCATION?.trim();
  return loc ? join(loc, "var/oneblk") : "/var/lib/one/oneblk";
}

/** `stateDir(env)/<sub>`, created (with parents, mode 0700) when missing. */
export async function ensureStateDir(
  env: Record<string, string | undefined>,
  sub: string,
): Promise<string> {
  const dir = join(stateDir(env), sub);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

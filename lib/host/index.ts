/**
 * The host runner for this process, chosen by configuration only: ONEBLK_SIM_ROOT set →
 * simulated hosts under that root, otherwise ssh (local execution for this machine).
 * Action code receives a HostRunner and never branches on the mode.
 */
import { SimRunner } from "./sim.ts";
import { sshOptionsFromEnv, SshRunner } from "./ssh.ts";
import type { HostRunner } from "./types.ts";

export type { HostRunner, RunOptions, RunResult, Streaming } from "./types.ts";
export { killActiveCommands } from "./process.ts";

/** Build the host runner the environment asks for (see ssh.ts for the ssh variables). */
export function hostRunnerFromEnv(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): HostRunner {
  const simRoot = env.ONEBLK_SIM_ROOT?.trim();
  const ssh = sshOptionsFromEnv(env);
  if (simRoot) return new SimRunner(simRoot, { defaultTimeoutMs: ssh.defaultTimeoutMs });
  return new SshRunner(ssh);
}

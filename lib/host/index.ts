/**
 * The host runner for this process, chosen by configuration only: ONEBLK_SIM_ROOT set →
 * simulated hosts under that root, otherwise ssh (local execution for this machine).
 * Action code receives a HostRunner and never branches on the mode.
 */
import type { HostRunner } from "./types.ts";

export type { HostRunner, RunOptions, RunResult, Streaming } from "./types.ts";
export { killActiveCommands } from "./process.ts";

/**
 * Load the code of the host runner the environment asks for, and return its constructor: only
 * the runner in use is loaded (the simulated one never on a real front-end). The settings are
 * read when it is called, so a bad one fails only a call that runs host commands.
 */
export async function hostRunnerFactory(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<() => HostRunner> {
  const simRoot = env.ONEBLK_SIM_ROOT?.trim();
  const { sshOptionsFromEnv, SshRunner } = await import("./ssh.ts");
  if (!simRoot) return () => new SshRunner(sshOptionsFromEnv(env));
  const { SimRunner } = await import("./sim.ts");
  return () =>
    new SimRunner(simRoot, { defaultTimeoutMs: sshOptionsFromEnv(env).defaultTimeoutMs });
}

/** Build the host runner the environment asks for (see ssh.ts for the ssh variables). */
export async function hostRunnerFromEnv(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<HostRunner> {
  return (await hostRunnerFactory(env))();
}

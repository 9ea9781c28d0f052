/**
 * The module graph of the sources as `deno info --json` reports it, and what a set of modules
 * imports statically: for the tests that say what a driver action loads at start.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

/** The repository root (no trailing slash). */
export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");

/** The file URL of `path` (relative to the repository root). */
export function fileUrl(path: string): string {
  return new URL(path, `file://${ROOT}/`).href;
}

/** One module of `deno info --json`. */
export interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

/** Every module reachable from `entry` (relative path), by specifier (redirects resolved). */
export async function moduleGraph(entry: string): Promise<Map<string, InfoModule>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(ROOT, entry)],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const byId = new Map(info.modules.map((m) => [m.specifier, m]));
  for (const [from, to] of Object.entries(info.redirects)) {
    const m = byId.get(to);
    if (m) byId.set(from, m);
  }
  return byId;
}

/** Specifiers reached from `roots` by static (non-type, non-dynamic) imports, roots included. */
export function staticClosure(graph: Map<string, InfoModule>, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of graph.get(s)?.dependencies ?? []) {
      if (d.code && !d.isDynamic) todo.push(d.code.specifier);
    }
  }
  return seen;
}

/**
 * POSIX path helpers of the runtime: Node's own `path.posix` code (npm `path-browserify`), so the
 * results are exactly `node:path`'s, without loading Node compatibility into every action.
 */
// @ts-types="@types/path-browserify"
import path from "path-browserify";

/** Last part of a path (`node:path` basename). */
export const basename: (p: string, ext?: string) => string = path.basename;
/** A path without its last part (`node:path` dirname). */
export const dirname: (p: string) => string = path.dirname;
/** Join parts and normalize (`node:path` join). */
export const join: (...parts: string[]) => string = path.join;
/** Resolve `.`/`..` and repeated slashes (`node:path` normalize). */
export const normalize: (p: string) => string = path.normalize;
/** True for an absolute path (`node:path` isAbsolute). */
export const isAbsolute: (p: string) => boolean = path.isAbsolute;
/** The relative path from `from` to `to` (`node:path` relative; both resolved first). */
export function relative(from: string, to: string): string {
  return path.relative(resolve(from), resolve(to));
}
/** An absolute path from the parts, relative ones against the current directory. */
export function resolve(...parts: string[]): string {
  return path.resolve(...(parts.some(isAbsolute) ? parts : [Deno.cwd(), ...parts]));
}

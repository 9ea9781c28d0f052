/**
 * `oneblk install` / `oneblk uninstall` command lines (app/install.ts does the work).
 */
import { parseArgs } from "node:util";
import { OneblkError } from "../lib/errors.ts";
import { DRIVERS, isDriver } from "../lib/addons/index.ts";
import { install, uninstall } from "./install.ts";
import { listActions } from "./registry.ts";

function args(argv: string[], extra: Record<string, { type: "string" | "boolean" }>) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { remotes: { type: "string" }, "dry-run": { type: "boolean" }, ...extra },
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new OneblkError("usage", (e as Error).message);
  }
}

/** Run `install` or `uninstall`; returns the exit code. */
export async function installMain(cmd: "install" | "uninstall", argv: string[]): Promise<number> {
  if (cmd === "uninstall") {
    const v = args(argv, { bin: { type: "string" } });
    if (!v.remotes) throw new OneblkError("usage", "uninstall needs --remotes DIR");
    const r = await uninstall({
      remotes: String(v.remotes),
      bin: v.bin ? String(v.bin) : undefined,
      dryRun: !!v["dry-run"],
    });
    console.log(r.text);
    return 0;
  }
  const v = args(argv, {
    drivers: { type: "string" },
    bin: { type: "string" },
    force: { type: "boolean" },
    stubs: { type: "boolean" },
  });
  if (!v.remotes) throw new OneblkError("usage", "install needs --remotes DIR");
  const drivers = v.drivers ? String(v.drivers).split(",").map((s) => s.trim()) : [...DRIVERS];
  const unknown = drivers.filter((d) => !isDriver(d));
  if (unknown.length) {
    throw new OneblkError(
      "usage",
      `unknown driver '${unknown[0]}' (known: ${DRIVERS.join(", ")})`,
    );
  }
  const r = await install({
    remotes: String(v.remotes),
    drivers,
    bin: v.bin ? String(v.bin) : undefined,
    dryRun: !!v["dry-run"],
    force: !!v.force,
    stubs: !!v.stubs,
    actions: listActions(),
  });
  console.log(r.text);
  return r.counts.skipped > 0 ? 3 : 0;
}

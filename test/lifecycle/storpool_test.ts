/**
 * Whole VM lives on the storpool profile, played by the scripted oned against the simulators,
 * in the 7.x (DS payload on stdin) and 6.6 (base64 on argv) calling conventions, plus short
 * lives for 5.12 and 6.8. Data is checked with sha256 at every step (tools/sim/scenario.ts).
 */
import { describeLifecycle } from "./lifecycle.ts";

describeLifecycle("storpool", "7.x");
describeLifecycle("storpool", "6.6");
describeLifecycle("storpool", "6.8", { short: true });
describeLifecycle("storpool", "5.12", { short: true });

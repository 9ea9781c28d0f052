/**
 * Whole VM lives on the linstor profile, played by the scripted oned against the simulators,
 * in the 7.x (DS payload on stdin) and 6.6 (base64 on argv) calling conventions, plus short
 * lives for 5.12 and 6.8. Data is checked with sha256 at every step (tools/sim/scenario.ts).
 */
import { describeLifecycle } from "./lifecycle.ts";

describeLifecycle("linstor", "7.x");
describeLifecycle("linstor", "6.6");
describeLifecycle("linstor", "6.8", { short: true });
describeLifecycle("linstor", "5.12", { short: true });

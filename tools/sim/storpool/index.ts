/**
 * The StorPool simulator: server, `oneblk sim storpool` entry point and backend benchmark.
 */
export {
  SIM_ENDPOINTS,
  type SimFault,
  type SimStats,
  startStorpoolSim,
  type StorpoolSim,
  type StorpoolSimOptions,
} from "./server.ts";
export type { SimStateDump, SimTemplateSpec } from "./model.ts";
export { parseClients, parseTemplate, storpoolSimMain } from "./main.ts";
export { type BenchRow, benchStorpoolBackend } from "./bench.ts";

/**
 * The StorPool simulator: server, `oneblk sim storpool` entry point and backend benchmark.
 */
export {
  SIM_ENDPOINTS,
  type SimFault,
  type SimStateDump,
  type SimStats,
  type SimTemplateSpec,
  startStorpoolSim,
  type StorpoolSim,
  type StorpoolSimOptions,
} from "./server.ts";
export { parseClients, parseTemplate, storpoolSimMain } from "./main.ts";
export { type BenchRow, benchStorpoolBackend } from "./bench.ts";

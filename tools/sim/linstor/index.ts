/**
 * The LINSTOR controller simulator: server, `oneblk sim linstor` entry point and backend
 * benchmark.
 */
export {
  type LinstorSim,
  type LinstorSimOptions,
  type SimExchange,
  type SimFault,
  startLinstorSim,
} from "./server.ts";
export { ROUTES } from "./routes.ts";
export { linstorSimMain, parseGroup, parsePool } from "./main.ts";
export { benchLinstorBackend, benchLinstorScale, type BenchRow, type ScaleRow } from "./bench.ts";

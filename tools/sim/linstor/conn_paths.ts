/**
 * DRBD connection paths of the simulated LINSTOR controller: `Paths/<path>/<node>` properties of a
 * resource or node connection, each naming a network interface of that node (`linstor
 * resource-connection path create`, `linstor node-connection path create`). Both handlers check
 * them before the whitelist (which leaves `Paths/` free): the key must name one of the two nodes
 * (as given in the request's path) and the value one of its interfaces, else FAIL_INVLD_PROP.
 * They differ in the key's shape: a resource connection takes any `Paths/…/<node>`, a node
 * connection exactly `Paths/<path>/<node>`, and its refusal of another `Paths/` key shows the
 * key with its value (`K=V`, the entry the controller formats).
 */
import { CODE } from "../../../lib/backend/linstor/api_call_rc.ts";
import { fail } from "./replies.ts";
import { k, nicsOf, type SimNode } from "./model.ts";

/** Check the `Paths/` keys of `override` for the connection of `a` and `b` (request names). */
export function checkConnectionPaths(
  override: Record<string, string>,
  a: { name: string; node: SimNode },
  b: { name: string; node: SimNode },
  kind: "resource" | "node",
): void {
  const shape = kind === "resource" ? /^Paths\/.*\/(.*)$/ : /^Paths\/[^/]+\/([^/]+)$/;
  for (const [key, nic] of Object.entries(override)) {
    if (!key.startsWith("Paths/")) continue;
    const m = shape.exec(key);
    if (!m) {
      fail(CODE.FAIL_INVLD_PROP, "Connection path property invalid.", {
        cause: `The key '${kind === "resource" ? key : `${key}=${nic}`}' is invalid.`,
      });
    }
    const node = m[1];
    if (node !== a.name && node !== b.name) {
      fail(CODE.FAIL_INVLD_PROP, "Connection path node unknown.", {
        cause: `The node name '${node}' is unknown.`,
      });
    }
    const n = node === a.name ? a.node : b.node;
    if (!nicsOf(n).some((x) => k(x.name) === k(nic))) {
      fail(CODE.FAIL_INVLD_PROP, "NetInterface for node unknown.", {
        cause: `The Netinterface '${nic}' is not known for node '${node}'`,
      });
    }
  }
}

/** Two node names in the controller's order for a connection (by name, without case). */
export function orderedPair(x: string, y: string): [string, string] {
  return k(x) <= k(y) ? [x, y] : [y, x];
}

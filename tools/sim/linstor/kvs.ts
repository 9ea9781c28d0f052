/**
 * The key-value store of the simulated LINSTOR controller (REST `KeyValueStore`,
 * CtrlKvsApiCallHandler): named instances of free-form properties that LINBIT's tools keep their
 * own data in (`linstor key-value-store list/show/modify/delete`). An instance is made by its
 * first change and goes when its last property goes; no property whitelist applies. Names are
 * compared without case. The replies carry the handler's entries as they are, without the masks
 * other calls' entries get.
 */
import {
  CODE,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import { plainEntry, type SimReply } from "./replies.ts";
import { asStrings, k, type SimKvs, uuid } from "./model.ts";
import type { SimController } from "./controller.ts";
import { keysUnder } from "./props.ts";

/** FAIL_NOT_FOUND_KVS (316). */
const FAIL_NOT_FOUND_KVS = 316;

const kvsView = (s: SimKvs) => ({ name: s.name, props: { ...s.props } });

/**
 * GET /v1/key-value-store[/{instance}]: every instance, or the one named (404
 * FAIL_NOT_FOUND_KVS when there is none).
 */
export function listKvs(ctl: SimController, instance?: string): SimReply {
  const all = (ctl.state.kvs ?? []).filter((s) =>
    instance === undefined || k(s.name) === k(instance)
  );
  if (instance !== undefined && !all.length) {
    return {
      status: 404,
      body: [
        plainEntry(
          MASK_ERROR | BigInt(FAIL_NOT_FOUND_KVS),
          `Could not find key value store instance '${instance}'.`,
        ),
      ],
    };
  }
  return { status: 200, body: all.map(kvsView) };
}

/**
 * PUT /v1/key-value-store/{instance} `{override_props, delete_props, delete_namespaces}`: the
 * instance made if new, the changes applied without checks, removed when left empty.
 */
export function modifyKvs(
  ctl: SimController,
  instance: string,
  body: Record<string, unknown>,
): SimReply {
  const list = ctl.state.kvs ??= [];
  let s = list.find((x) => k(x.name) === k(instance));
  if (!s) {
    s = { name: instance, props: {}, uuid: uuid() };
    list.push(s);
  }
  const override = (body.override_props ?? {}) as Record<string, string>;
  Object.assign(s.props, override);
  for (const key of asStrings(body.delete_props) ?? []) delete s.props[key];
  for (const ns of asStrings(body.delete_namespaces) ?? []) {
    for (const key of keysUnder(s.props, ns)) delete s.props[key];
  }
  if (!Object.keys(s.props).length) ctl.state.kvs = list.filter((x) => x !== s);
  return {
    status: 200,
    body: [
      plainEntry(
        OBJ.CTRL_CONF | MASK_MOD | BigInt(CODE.MODIFIED),
        "Successfully updated properties",
      ),
    ],
  };
}

/** DELETE /v1/key-value-store/{instance}: deleted, or WARN_NOT_FOUND for none (HTTP 200). */
export function deleteKvs(ctl: SimController, instance: string): SimReply {
  const list = ctl.state.kvs ?? [];
  const s = list.find((x) => k(x.name) === k(instance));
  if (!s) {
    return {
      status: 200,
      body: [
        plainEntry(
          MASK_WARN | BigInt(CODE.WARN_NOT_FOUND),
          `Deletion of kvs '${instance}' had no effect.`,
          {
            cause: `Kvs '${instance}' does not exist.`,
          },
        ),
      ],
    };
  }
  ctl.state.kvs = list.filter((x) => x !== s);
  return {
    status: 200,
    body: [
      plainEntry(BigInt(CODE.DELETED), `Kvs '${s.name}' deleted.`, {
        details: `Kvs '${s.name}' UUID was: ${s.uuid}`,
      }),
    ],
  };
}

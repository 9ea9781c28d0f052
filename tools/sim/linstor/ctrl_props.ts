/**
 * The controller's own properties in the simulated LINSTOR controller (REST
 * `/v1/controller/properties`, CtrlConfApiCallHandler; `linstor controller list-properties`,
 * `set-property`): one map, listed sorted by key (the real controller keeps the keys of its
 * REST and autoplacer namespaces apart from those it passes to the satellites, and lists both
 * merged).
 *
 * - A fresh controller starts with the properties LINSTOR's database initialisation and its
 *   later migrations leave (its network connectors, the DRBD automatisms, `Cluster/LocalID`).
 * - A set (POST `override_props`) is checked against the controller's whitelist (`Aux/` and
 *   `EBS/Tags/` are free); each accepted key answers "Successfully set property 'K' to value 'V'"
 *   (MASK_CTRL_CONF|MASK_CRT|CREATED, the value normalised). An unknown key ("The key 'K' is not
 *   whitelisted") or a refused value ("The value 'V' is not valid.", the rule in the details)
 *   rejects the whole request (FAIL_INVLD_PROP, HTTP 500) without an error report.
 * - `DrbdOptions/Resource/quorum` also marks the quorum set by the user
 *   (`Internal/Drbd/QuorumSetBy=user`; removed with it); the deprecated `DrbdOptions/auto-quorum`
 *   is not stored: a WARN_DEPRECATED names its successor (the success entry still follows).
 * - A delete (POST `delete_props`, `delete_namespaces`, or DELETE `/properties/{key}`) answers
 *   "Successfully deleted property 'K'" for every whitelisted key, set or not; a namespace
 *   deletes the keys it holds. DELETE of an unknown key answers FAIL_INVLD_PROP (HTTP 500).
 * - `PeerSlotsNewResource` set here is the last fallback of a new resource's peer slots
 *   (drbd_layer.ts). Other keys are stored and listed only: the port and minor ranges, the
 *   network connectors, `Cluster/Remote/…` and the automatisms change nothing here.
 */
import {
  CODE,
  isError,
  MASK_CRT,
  MASK_DEL,
  MASK_ERROR,
  MASK_MOD,
  MASK_WARN,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import { asStrings, uuid } from "./model.ts";
import { plainEntry, SimApiError, type SimRc, type SimReply, statusFor } from "./replies.ts";
import { keysUnder, whitelistVerdict } from "./props.ts";
import { WARN_DEPRECATED } from "./codes.ts";
import type { SimController } from "./controller.ts";

const QUORUM = "DrbdOptions/Resource/quorum";
const QUORUM_SET_BY = "Internal/Drbd/QuorumSetBy";
const AUTO_QUORUM = "DrbdOptions/auto-quorum";

/** A fresh controller's properties (Cluster/LocalID a new random uuid). */
export function freshCtrlProps(): Record<string, string> {
  const ssl = (port: number) => ({
    Enabled: "true",
    KeyPasswd: "linstor",
    KeyStore: "ssl/keystore.jks",
    KeyStorePasswd: "linstor",
    Port: String(port),
    SslProtocol: "TLSv1.2",
    TrustStore: "ssl/certificates.jks",
    TrustStorePasswd: "linstor",
    Type: "SSL",
  });
  const out: Record<string, string> = {
    "Cluster/LocalID": uuid(),
    "DrbdOptions/AutoEvictAllowEviction": "True",
    "DrbdOptions/Resource/on-no-quorum": "io-error",
    "DrbdOptions/auto-add-quorum-tiebreaker": "True",
    "DrbdOptions/auto-diskful-allow-cleanup": "True",
    "DrbdOptions/auto-resync-after-disable": "True",
    "DrbdOptions/auto-verify-algo-allowed-list":
      "crct10dif;crc32c;sha384;sha512;sha256;sha1;md5;windrbd",
    "NetCom/PlainConnector/BindAddress": "",
    "NetCom/PlainConnector/Enabled": "true",
    "NetCom/PlainConnector/Port": "3376",
    "NetCom/PlainConnector/Type": "Plain",
    "NetCom/SslConnector/BindAddress": "",
    defaultDebugSslConnector: "DebugSslConnector",
    defaultPlainConSvc: "PlainConnector",
    defaultSslConSvc: "SslConnector",
  };
  for (const [k, v] of Object.entries({ ...ssl(3373), BindAddress: "::0" })) {
    out[`NetCom/DebugSslConnector/${k}`] = v;
  }
  for (const [k, v] of Object.entries(ssl(3377))) out[`NetCom/SslConnector/${k}`] = v;
  return out;
}

/** The controller's properties (SimController gives a state saved before them a fresh set). */
function ctrlProps(ctl: SimController): Record<string, string> {
  return ctl.state.ctrlProps!;
}

/** GET /v1/controller/properties: every property, sorted by key. */
export function listCtrlProps(ctl: SimController): SimReply {
  const props = ctrlProps(ctl);
  const body: Record<string, string> = {};
  for (const key of Object.keys(props).sort()) body[key] = props[key];
  return { status: 200, body };
}

/** One key removed (whitelisted or free), its entry; an unknown key's error entry. */
function deleteOne(props: Record<string, string>, key: string): SimRc {
  if (!whitelistVerdict("controller", key).ok) {
    return plainEntry(
      MASK_ERROR | OBJ.CTRL_CONF | MASK_DEL | BigInt(CODE.FAIL_INVLD_PROP),
      `The key '${key}' is not whitelisted`,
    );
  }
  if (key === QUORUM && key in props) delete props[QUORUM_SET_BY];
  delete props[key];
  return plainEntry(
    OBJ.CTRL_CONF | MASK_DEL | BigInt(CODE.DELETED),
    `Successfully deleted property '${key}'`,
  );
}

/** The request refused whole: these entries are its reply. */
function refuse(entries: SimRc[]): never {
  throw new SimApiError(entries);
}

/**
 * POST /v1/controller/properties `{override_props, delete_props, delete_namespaces}`: every
 * change applied, or none (the first refused key's entries are the reply).
 */
export function modifyCtrlProps(ctl: SimController, body: Record<string, unknown>): SimReply {
  const props = ctrlProps(ctl);
  const out: SimRc[] = [];
  const override = (body.override_props ?? {}) as Record<string, string>;
  for (const [key, value] of Object.entries(override)) {
    const v = whitelistVerdict("controller", key, value);
    if (!v.ok) {
      const code = MASK_ERROR | OBJ.CTRL_CONF | MASK_CRT | BigInt(CODE.FAIL_INVLD_PROP);
      refuse([
        v.known
          ? plainEntry(code, `The value '${value}' is not valid.`, { details: v.rule })
          : plainEntry(code, `The key '${key}' is not whitelisted`),
      ]);
    }
    const stored = v.value ?? value;
    if (key === AUTO_QUORUM) {
      out.push(
        plainEntry(
          MASK_WARN | MASK_MOD | OBJ.CTRL_CONF | BigInt(WARN_DEPRECATED),
          `${key} is deprecated, please use ${QUORUM}`,
        ),
      );
    } else {
      if (key === QUORUM) props[QUORUM_SET_BY] = "user";
      props[key] = stored;
    }
    out.push(
      plainEntry(
        OBJ.CTRL_CONF | MASK_CRT | BigInt(CODE.CREATED),
        `Successfully set property '${key}' to value '${stored}'`,
      ),
    );
  }
  const dels = [...asStrings(body.delete_props) ?? []];
  for (const ns of asStrings(body.delete_namespaces) ?? []) dels.push(...keysUnder(props, ns));
  for (const key of dels) {
    const e = deleteOne(props, key);
    if (isError(e.ret_code)) refuse([e]);
    out.push(e);
  }
  return { status: 201, body: out };
}

/** DELETE /v1/controller/properties/{key}: the key removed (its entry, an error for none). */
export function deleteCtrlProp(ctl: SimController, key: string): SimReply {
  const e = deleteOne(ctrlProps(ctl), key);
  return { status: statusFor([e], 200), body: [e] };
}

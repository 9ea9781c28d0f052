/**
 * ApiCallRc codes the simulator answers with beyond those the driver knows
 * (lib/backend/linstor/api_call_rc.ts CODE): the low 15 bits, as in LINSTOR's consts
 * (linstor-common); the severity mask is added where they are used.
 */

import { MASK_ERROR } from "../../../lib/backend/linstor/api_call_rc.ts";

/** Error 201: a node type that does not exist. */
export const FAIL_INVLD_NODE_TYPE = 201;
/** Error 205: a volume number that is not one. */
export const FAIL_INVLD_VLM_NR = 205;
/** Error 210: a network address that is not one. */
export const FAIL_INVLD_NET_ADDR = 210;
/** Error 209: a network interface name that is not one. */
export const FAIL_INVLD_NET_NAME = 209;
/** Error 221: an unknown storage provider. */
export const FAIL_INVLD_STOR_DRIVER = 221;
/** Error 230: an invalid configuration value (a log level; evacuation targets both ways). */
export const FAIL_INVLD_CONF = 230;
/** Error 233: a node that still holds resources in use or last replicas. */
export const FAIL_NODE_HAS_USED_RSC = 233;
/** Error 304: no such volume. */
export const FAIL_NOT_FOUND_VLM = 304;
/** Error 305: no such network interface. */
export const FAIL_NOT_FOUND_NET_IF = 305;
/** Error 309: no such storage pool definition, or no such pool on a node (CtrlApiDataLoader). */
export const FAIL_NOT_FOUND_STOR_POOL_DFN = 309;
/** Error 311: the storage pool a resource's volume resolves to is not on its node. */
export const FAIL_NOT_FOUND_DFLT_STOR_POOL = 311;
/** Error 315: no such snapshot. */
export const FAIL_NOT_FOUND_SNAPSHOT = 315;
/** Error 306: the node connection does not exist. */
export const FAIL_NOT_FOUND_NODE_CONN = 306;
/** Error 307: the resource connection does not exist. */
export const FAIL_NOT_FOUND_RSC_CONN = 307;
/** Error 321: no such remote (S3, LINSTOR or EBS). */
export const FAIL_NOT_FOUND_REMOTE = 321;
/** Error 505: the network interface exists. */
export const FAIL_EXISTS_NET_IF = 505;
/** Error 516: snapshots the request cannot go ahead with (a ZFS delete strategy of DELETE). */
export const FAIL_EXISTS_SNAPSHOT = 516;
/** A node's satellite is still connected (node lost refused). */
export const FAIL_EXISTS_NODE_CONN = 506;
/** Error 512: a master passphrase to create exists, or one to modify does not. */
export const FAIL_EXISTS_CRYPT_PASSPHRASE = 512;
/** Error 600: properties missing (no master passphrase to enter, or a wrong one). */
export const FAIL_MISSING_PROPS = 600;
/** Success 4: the master passphrase entered was accepted. */
export const PASSPHRASE_ACCEPTED = 4;
/** Warning 1002: a satellite is not connected. */
export const WARN_NOT_CONNECTED = 1002;
/** Warning 1003: a satellite was not updated (node restore keeps a last diskful resource). */
export const WARN_STLT_NOT_UPDATED = 1003;
/** Warning 1020: a resource of a node being evacuated that finds no place elsewhere. */
export const WARN_NOT_EVACUATING = 1020;
/** Error 975: a new resource on a node that is being evacuated. */
export const FAIL_EVACUATING = 975;
/** Warning 4000: a deprecated property. */
export const WARN_DEPRECATED = 4000;
/** Info 10005: a property the controller removed. */
export const INFO_PROP_REMOVED = 10005;
/** Info 10007: the call changed nothing (e.g. no error report to delete). */
export const INFO_NOOP = 10007;
/** Info 10008: the resource already exists (not an error since 2020). */
export const INFO_RSC_ALREADY_EXISTS = 10008;
/** The object mask of backups (MASK_BACKUP), which the driver's OBJ does not name. */
export const MASK_BACKUP = 0x80000n;
/** API_CALL_PARSE_ERROR: a body the controller cannot bind (HTTP 400). */
export const API_CALL_PARSE_ERROR = MASK_ERROR | 0x0FFFFFFFFFFFFFFDn;

/**
 * ApiCallRc codes the simulator answers with beyond those the driver knows
 * (lib/backend/linstor/api_call_rc.ts CODE): the low 15 bits, as in LINSTOR's consts
 * (linstor-common); the severity mask is added where they are used.
 */

/** Warning 4000: a deprecated property. */
export const WARN_DEPRECATED = 4000;

/**
 * The listings of LINSTOR features the simulator has no objects of: remotes (and so backups),
 * backup schedules, external files and the satellites' unused block devices. Each answers as a
 * controller answers where none was ever configured (Remotes, Schedules, ExternalFiles,
 * PhysicalStorage and Backups in linstor-server's REST layer), so that LINBIT's clients list
 * them empty instead of meeting an unknown path. Making any of them is not modelled: such a
 * request is refused as one the simulator does not route (404, or 405 on a path listed here).
 */
import { CODE, MASK_ERROR } from "../../../lib/backend/linstor/api_call_rc.ts";
import { FAIL_NOT_FOUND_REMOTE, MASK_BACKUP } from "./codes.ts";
import { plainEntry, type SimReply } from "./replies.ts";

/** GET /v1/remotes: the three kinds of remote, none of each (RemoteList). */
export function listRemotes(): SimReply {
  return { status: 200, body: { s3_remotes: [], linstor_remotes: [], ebs_remotes: [] } };
}

/** GET /v1/remotes/{s3|linstor|ebs}: the remotes of one kind, none. */
export function listRemotesOfKind(): SimReply {
  return { status: 200, body: [] };
}

/**
 * GET /v1/remotes/{remote}/backups: the backups on a remote; with no remote, the remote does not
 * exist (CtrlBackupApiHelper.getRemote: FAIL_NOT_FOUND_REMOTE in the backup object, 404).
 */
export function listBackups(remote: string): SimReply {
  return {
    status: 404,
    body: [
      plainEntry(
        MASK_ERROR | MASK_BACKUP | BigInt(FAIL_NOT_FOUND_REMOTE),
        `The remote ${remote} does not exist. Please provide a valid remote or create a new one.`,
      ),
    ],
  };
}

/** GET /v1/schedules: the backup schedules, none (ScheduleList). */
export function listSchedules(): SimReply {
  return { status: 200, body: { data: [] } };
}

/**
 * GET /v1/files[/{name}]: the external files, none; one named is not found
 * (RequestHelper.queryRequestResponse: 404 with FAIL_UNKNOWN_ERROR).
 */
export function listFiles(name?: string): SimReply {
  if (name === undefined) return { status: 200, body: [] };
  return {
    status: 404,
    body: [
      plainEntry(
        MASK_ERROR | BigInt(CODE.FAIL_UNKNOWN_ERROR),
        `External file '${name}' not found.`,
      ),
    ],
  };
}

/**
 * GET /v1/physical-storage: the unused block devices the satellites report, grouped by device;
 * a simulated satellite has none (its storage is the simulator's files), and an offline one is
 * left out, as the controller does.
 */
export function listPhysicalStorage(): SimReply {
  return { status: 200, body: [] };
}

/**
 * The controller's master passphrase in the simulated LINSTOR controller (REST
 * `/v1/encryption/passphrase`; CtrlConfApiCallHandler setPassphrase, enterPassphrase and
 * masterPassphraseStatus, EncryptionHelper): what LINBIT's `linstor encryption
 * create-passphrase`, `modify-passphrase` and `enter-passphrase` do, and the status python-linstor's
 * `crypt_status()` reads.
 *
 * - Status (`GET`): `unset` while the controller properties hold nothing under `encrypted/`,
 *   else `unlocked` once this controller process has the master key (created or entered),
 *   `locked` before. The master key lives in memory only: a controller started again on the
 *   same state is `locked` until the passphrase is entered. (A real controller can also be
 *   given the passphrase in linstor.toml, its environment or systemd credentials, and unlocks
 *   itself at start; the simulator's controller has none of these.)
 * - Create (`POST {new_passphrase}`, or `PUT` without `old_passphrase`): refused when
 *   `encrypted/masterkey` exists (FAIL_EXISTS_CRYPT_PASSPHRASE); otherwise a new master key is
 *   sealed under the passphrase, the controller is unlocked: "Crypt passphrase created."
 * - Modify (`PUT {new_passphrase, old_passphrase}`): refused without a passphrase
 *   (FAIL_EXISTS_CRYPT_PASSPHRASE) or with a wrong old one (FAIL_MISSING_PROPS "… the given old
 *   passphrase was incorrect"); otherwise the same master key is sealed under the new
 *   passphrase ("Crypt passphrase updated"); locked or unlocked stays as it was.
 * - Enter (`PATCH "<passphrase>"`, the body a JSON string): FAIL_MISSING_PROPS "encrypted
 *   namespace is empty, …" without a passphrase, the wrong-passphrase refusal, else "Passphrase
 *   accepted" and unlocked.
 * - The first unlock of a controller process (create, or the first accepted enter) updates
 *   every satellite holding a resource: "Updated resource definition R" per resource, in
 *   definition and node order, WARN_NOT_CONNECTED first where the satellite is not connected.
 * - An empty passphrase is accepted as the controller accepts it (its key derivation takes
 *   one). A missing one (`new_passphrase` absent, a JSON `null`) fails as the controller's
 *   handler does: a NullPointerException reported with an error report (FAIL_UNKNOWN_ERROR).
 * - Entries carry MASK_CTRL_CONF and the handler's operation: creation for `POST` and `PUT`
 *   (a modify's own entries name MASK_MOD), modification for `PATCH`; no object references.
 *
 * Where it is kept: as the controller keeps it, three controller properties that
 * `GET /v1/controller/properties` lists (and the whitelist keeps out of reach of its set and
 * delete): `encrypted/passphrasesalt` (16 random bytes), `encrypted/masterkey` (an IV and the
 * length-padded 16-byte master key enciphered under a key derived from the passphrase and the
 * salt: PBKDF2-HMAC-SHA1, 5,000 rounds, 128 bits, as the controller derives it) and
 * `encrypted/masterhash` (SHA-512 of the padded key), all base64. A passphrase is checked by
 * deciphering the key and comparing its hash. The passphrase itself is never stored, logged,
 * put in a reply or an error report; a body that is not JSON is refused without its text (see
 * {@link SECRET_BODY_UNPARSED}). The cipher is the simulator's own (HMAC-SHA512 keystream, not
 * the controller's AES-CFB): the values have the controller's form and sizes but a real
 * controller could not open them, nor the simulator a real controller's.
 *
 * Not modelled: the LUKS layer the master key serves (encrypted volumes, their passphrases),
 * EBS remotes' secrets, automatic unlocking from the configuration.
 */
import { pbkdf2 } from "@noble/hashes/pbkdf2.js";
import { sha1 } from "@noble/hashes/legacy.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";
import { concatBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import {
  CODE,
  MASK_CRT,
  MASK_ERROR,
  MASK_MOD,
  OBJ,
} from "../../../lib/backend/linstor/api_call_rc.ts";
import { compareText } from "../../../lib/compare.ts";
import {
  errorReportId,
  notConnectedWarning,
  parseErrorReply,
  rc,
  type RcContext,
  rcReply,
  type SimRc,
  type SimReply,
} from "./replies.ts";
import type { SimController } from "./controller.ts";
import { k } from "./model.ts";
import { NOT_CONNECTED_DETAILS } from "./nodes.ts";
import { FAIL_EXISTS_CRYPT_PASSPHRASE, FAIL_MISSING_PROPS, PASSPHRASE_ACCEPTED } from "./codes.ts";

/**
 * The details of a parse error for a body that holds a passphrase: the controller's JSON
 * reader would quote the offending text, the simulator does not.
 */
export const SECRET_BODY_UNPARSED =
  "The request body is not valid JSON (its text is not shown: it holds a passphrase)";

const NAMESPACE = "encrypted";
const HASH = `${NAMESPACE}/masterhash`;
const KEY = `${NAMESPACE}/masterkey`;
const SALT = `${NAMESPACE}/passphrasesalt`;
const MASTER_KEY_BYTES = 16;
const SALT_BYTES = 16;
const IV_BYTES = 16;
/** The length padding's block: a 2-byte length, the key, random bytes up to 32. */
const PAD_BLOCK = 32;
const KD_ROUNDS = 5000;
const KD_BYTES = 16;

/** Controllers (processes) that hold the master key. */
const UNLOCKED = new WeakSet<SimController>();

/** The passphrase status as GET /v1/encryption/passphrase words it. */
export type PassphraseStatus = "unset" | "locked" | "unlocked";

const props = (ctl: SimController) => ctl.state.ctrlProps!;

function toBase64(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

function fromBase64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** The keystream enciphering `len` (≤ 64) bytes under `passphrase`, `salt` and `iv`. */
function keystream(passphrase: string, salt: Uint8Array, iv: Uint8Array, len: number) {
  const key = pbkdf2(sha1, utf8ToBytes(passphrase), salt, { c: KD_ROUNDS, dkLen: KD_BYTES });
  return hmac(sha512, key, iv).subarray(0, len);
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x ^ b[i]);
}

/** Store `masterKey` sealed under `passphrase` (a new salt, IV and padding each time). */
function seal(ctl: SimController, passphrase: string, masterKey: Uint8Array): void {
  const padded = concatBytes(
    Uint8Array.of(masterKey.length >> 8, masterKey.length & 0xff),
    masterKey,
    randomBytes(PAD_BLOCK - 2 - masterKey.length),
  );
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const p = props(ctl);
  p[HASH] = toBase64(sha512(padded));
  p[KEY] = toBase64(concatBytes(iv, xor(padded, keystream(passphrase, salt, iv, PAD_BLOCK))));
  p[SALT] = toBase64(salt);
}

/** The error entry of a passphrase that does not open the master key. */
function wrongPassphrase(): SimRc {
  return rc(
    MASK_ERROR | MASK_MOD | OBJ.CTRL_CONF,
    FAIL_MISSING_PROPS,
    "Could not restore master passphrase as the given old passphrase was incorrect",
    { cause: "Wrong passphrase", correction: "Enter the correct passphrase" },
  );
}

/**
 * The master key opened with `passphrase` (EncryptionHelper.getDecryptedMasterKey), or the
 * error entry: one of the three properties missing, or the passphrase wrong.
 */
function open(ctl: SimController, passphrase: string): Uint8Array | SimRc {
  const p = props(ctl);
  if (p[HASH] === undefined || p[KEY] === undefined || p[SALT] === undefined) {
    return rc(
      MASK_ERROR | MASK_MOD | OBJ.CTRL_CONF,
      FAIL_MISSING_PROPS,
      "Could not restore crypt passphrase as one of the following properties is not set:\n" +
        "'masterhash', 'masterkey', 'passphrasesalt'",
      {
        cause: "This is either an implementation error or a user has manually removed one of " +
          "the mentioned protperties.",
      },
    );
  }
  const sealed = fromBase64(p[KEY]);
  const iv = sealed.subarray(0, IV_BYTES);
  const body = sealed.subarray(IV_BYTES);
  const padded = xor(body, keystream(passphrase, fromBase64(p[SALT]), iv, body.length));
  if (toBase64(sha512(padded)) !== p[HASH]) return wrongPassphrase();
  const len = (padded[0] << 8) | padded[1];
  return padded.slice(2, 2 + len);
}

/** Whether the controller properties hold anything under `encrypted/`. */
function isSet(ctl: SimController): boolean {
  return Object.keys(props(ctl)).some((key) => key.startsWith(`${NAMESPACE}/`));
}

/** The status of `ctl`'s master passphrase. */
export function passphraseStatusOf(ctl: SimController): PassphraseStatus {
  if (!isSet(ctl)) return "unset";
  return UNLOCKED.has(ctl) ? "unlocked" : "locked";
}

/** GET /v1/encryption/passphrase: `{status}`. */
export function passphraseStatus(ctl: SimController): SimReply {
  return { status: 200, body: { status: passphraseStatusOf(ctl) } };
}

/**
 * `ctl` holds the master key from now on; the first time, every satellite with a resource is
 * updated (EncryptionHelper.setCryptKey): its entries.
 */
function unlock(ctl: SimController): SimRc[] {
  if (UNLOCKED.has(ctl)) return [];
  UNLOCKED.add(ctl);
  const out: SimRc[] = [];
  const rds = [...ctl.state.rds].sort((a, b) => compareText(k(a.name), k(b.name)));
  for (const rd of rds) {
    for (const node of rd.rscs.map((r) => r.node).sort((a, b) => compareText(k(a), k(b)))) {
      if (!ctl.isOnline(node)) {
        out.push(notConnectedWarning(node, { details: NOT_CONNECTED_DETAILS }));
      }
      out.push(rc(0n, CODE.MODIFIED, `Updated resource definition ${rd.name}`));
    }
  }
  return out;
}

/**
 * The reply of the NullPointerException a missing passphrase (`param`) raises in the
 * handler: FAIL_UNKNOWN_ERROR with an error report, as the controller reports an exception.
 */
function missingPassphrase(ctx: RcContext, param: string): SimReply {
  const noun = ctx.op === MASK_CRT ? "Creation" : "Modification";
  return rcReply(
    [
      rc(
        MASK_ERROR,
        CODE.FAIL_UNKNOWN_ERROR,
        `${noun} of controller failed due to an unhandled exception of type ` +
          `NullPointerException. Cannot invoke "String.getBytes(java.nio.charset.Charset)" ` +
          `because "${param}" is null`,
        { details: "Controller", error_report_ids: [errorReportId()] },
      ),
    ],
    ctx,
    200,
  );
}

/** A request field as the handler gets it: a string, or null (absent). */
function text(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

/**
 * POST (`create`) and PUT /v1/encryption/passphrase `{new_passphrase, old_passphrase}`
 * (CtrlConfApiCallHandler.setPassphrase: a POST never passes the old passphrase; a PUT without
 * one creates).
 */
export function setPassphrase(
  ctl: SimController,
  body: Record<string, unknown>,
  create: boolean,
): SimReply {
  const ctx: RcContext = { op: MASK_CRT, obj: OBJ.CTRL_CONF };
  const fresh = text(body.new_passphrase);
  const old = create ? null : text(body.old_passphrase);
  if (old === null) {
    if (props(ctl)[KEY] !== undefined) {
      return rcReply(
        [
          rc(
            MASK_ERROR | MASK_CRT | OBJ.CTRL_CONF,
            FAIL_EXISTS_CRYPT_PASSPHRASE,
            "Could not create new crypt passphrase as it already exists",
            {
              cause: "A passphrase was already defined",
              correction:
                "Use the crypt-modify-passphrase command instead of crypt-create-passphrase",
            },
          ),
        ],
        ctx,
        200,
      );
    }
    if (fresh === null) return missingPassphrase(ctx, "newPassphrase");
    seal(ctl, fresh, randomBytes(MASTER_KEY_BYTES));
    return rcReply(
      [
        rc(MASK_CRT | OBJ.CTRL_CONF, CODE.CREATED, "Crypt passphrase created."),
        ...unlock(ctl),
      ],
      ctx,
      200,
    );
  }
  if (!isSet(ctl)) {
    return rcReply(
      [
        rc(
          MASK_ERROR | MASK_MOD | OBJ.CTRL_CONF,
          FAIL_EXISTS_CRYPT_PASSPHRASE,
          "Could not modify crypt passphrase as it does not exist",
          {
            cause: "No passphrase was defined yet",
            correction:
              "Use the crypt-create-passphrase command instead of crypt-modify-passphrase",
          },
        ),
      ],
      ctx,
      200,
    );
  }
  const masterKey = open(ctl, old);
  if (!(masterKey instanceof Uint8Array)) return rcReply([masterKey], ctx, 200);
  if (fresh === null) return missingPassphrase(ctx, "newPassphrase");
  seal(ctl, fresh, masterKey);
  return rcReply(
    [rc(MASK_MOD | OBJ.CTRL_CONF, CODE.MODIFIED, "Crypt passphrase updated")],
    ctx,
    200,
  );
}

/**
 * PATCH /v1/encryption/passphrase `"<passphrase>"` (CtrlConfApiCallHandler.enterPassphrase);
 * `body` undefined: no body at all, which the controller's JSON reader refuses.
 */
export function enterPassphrase(ctl: SimController, body: unknown): SimReply {
  if (body === undefined) return parseErrorReply("No content to map due to end-of-input", false);
  const ctx: RcContext = { op: MASK_MOD, obj: OBJ.CTRL_CONF };
  if (!isSet(ctl)) {
    return rcReply(
      [
        rc(
          MASK_ERROR | OBJ.CTRL_CONF,
          FAIL_MISSING_PROPS,
          `${NAMESPACE} namespace is empty, you need to set a passphrase first`,
        ),
      ],
      ctx,
      200,
    );
  }
  const passphrase = text(body);
  if (passphrase === null) return missingPassphrase(ctx, "passphrase");
  const masterKey = open(ctl, passphrase);
  if (!(masterKey instanceof Uint8Array)) return rcReply([masterKey], ctx, 200);
  return rcReply(
    [
      rc(OBJ.CTRL_CONF, PASSPHRASE_ACCEPTED, "Passphrase accepted"),
      ...unlock(ctl),
    ],
    ctx,
    200,
  );
}

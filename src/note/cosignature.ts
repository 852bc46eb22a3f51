/**
 * note/cosignature — C2SP witness cosignatures, Ed25519 `cosignature/v1` (c2sp.org/tlog-cosignature), signature
 * type 0x04 of c2sp.org/signed-note.
 *
 * A cosignature is a note signature line on a checkpoint:
 * ```
 * — <witness name> base64(key id (4) || timestamp (8, big-endian uint64 POSIX seconds) || Ed25519 signature (64))
 * ```
 * key id = SHA-256(<name> || "\n" || 0x04 || 32-byte public key)[:4]; verifier key text
 * `<name>+<hex key id>+base64(0x04 || public key)`. The Ed25519 signature is over this message, byte for byte:
 * ```
 * cosignature/v1\n
 * time 1679315147\n                  ("time", one space, the timestamp in decimal without leading zeros)
 * <the whole checkpoint note text, including its final newline, excluding the signature lines>
 * ```
 * The ML-DSA-44 `subtree/v1` cosignature (type 0x06) of the same spec is not implemented; a future version may add
 * it beside this one.
 *
 * Trust boundary: a cosignature says only that, at `timestamp`, the witness had seen no tree for this origin that is
 * inconsistent with this one. The message does not commit to the witness name, so one key must never serve two
 * witnesses. Timestamps are limited to 0..2^53−1 here (the spec allows up to 2^63−1; larger ones are refused as
 * malformed rather than rounded). Future timestamps are refused only when the caller passes `now`.
 */
import { PublicKey, verifyEd25519, type Signer } from '../crypto/index.ts';
import { decodeBase64 } from '../encoding/bytes.ts';
import { FormatError, PolicyError, VerificationError } from '../errors.ts';
import { parseCheckpoint } from './checkpoint.ts';
import {
  formatNoteKeyText,
  formatSignatureLine,
  isValidKeyName,
  keyIdHex,
  noteKeyId,
  parseNoteKeyText,
  type NoteSigner,
  type NoteVerifier,
} from './note.ts';

/** NOTE_SIG_TYPE_COSIGNATURE_V1 is the signature type byte of Ed25519 cosignature/v1 (c2sp.org/signed-note). */
export const NOTE_SIG_TYPE_COSIGNATURE_V1 = 0x04;

/** COSIGNATURE_V1_BYTES is the size of a cosignature after the key id: timestamp (8) + Ed25519 signature (64). */
export const COSIGNATURE_V1_BYTES = 8 + 64;

/** DEFAULT_MAX_FUTURE_SECONDS is how far ahead of `now` a timestamp may be when `now` is given (clock skew). */
export const DEFAULT_MAX_FUTURE_SECONDS = 60;

const HEADER = 'cosignature/v1\n';
const utf8 = new TextEncoder();

/** Cosigner produces cosignature/v1 signatures; it is a {@link NoteSigner}, so `signNote` can use it directly. */
export interface Cosigner extends NoteSigner {
  readonly publicKey: PublicKey;
  /** signAt returns timestamp (8) || signature (64) over the cosigned message for `text` at `timestamp`. */
  signAt(text: Uint8Array, timestamp: number): Uint8Array;
}

/** CosignatureVerifier verifies cosignature/v1 signatures of one witness key; it is a {@link NoteVerifier}. */
export interface CosignatureVerifier extends NoteVerifier {
  readonly publicKey: PublicKey;
}

/** CosignerOptions tunes {@link newCosigner}. */
export interface CosignerOptions {
  /** unixTime returns the current POSIX time in whole seconds; defaults to the system clock. */
  readonly unixTime?: () => number;
}

/** VerifiedCosignature is the result of {@link verifyCosignature}. */
export interface VerifiedCosignature {
  readonly name: string;
  readonly keyId: number;
  /** timestamp is the POSIX time (seconds) at which the witness cosigned. */
  readonly timestamp: number;
}

/** VerifyCosignatureOptions tunes {@link verifyCosignature}. */
export interface VerifyCosignatureOptions {
  /** now (POSIX seconds) enables the future-timestamp check. */
  readonly now?: number;
  /** maxFutureSeconds is the allowed clock skew when `now` is given; default {@link DEFAULT_MAX_FUTURE_SECONDS}. */
  readonly maxFutureSeconds?: number;
}

/** cosignatureMessage returns the signed message of c2sp.org/tlog-cosignature "Ed25519 signed message". */
export function cosignatureMessage(checkpointText: string | Uint8Array, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  const text = typeof checkpointText === 'string' ? utf8.encode(checkpointText) : checkpointText;
  // c2sp.org/tlog-cosignature: "cosignature/v1" line, "time <decimal>" line, then the whole checkpoint note body.
  const head = utf8.encode(`${HEADER}time ${timestamp}\n`);
  const msg = new Uint8Array(head.length + text.length);
  msg.set(head, 0);
  msg.set(text, head.length);
  return msg;
}

/** newCosigner returns the cosignature/v1 signer of `privateKey` for the witness `name`. */
export function newCosigner(name: string, privateKey: Signer, options: CosignerOptions = {}): Cosigner {
  if (!isValidKeyName(name)) throw new FormatError('ERR_NOTE_KEY_INVALID', 'invalid key name');
  const unixTime = options.unixTime ?? (() => Math.floor(Date.now() / 1000));
  const publicKey = privateKey.publicKey;
  const signAt = (text: Uint8Array, timestamp: number): Uint8Array => {
    const out = new Uint8Array(COSIGNATURE_V1_BYTES);
    // c2sp.org/tlog-cosignature: timestamped_signature = u64 timestamp (big-endian) || ed25519_signature[64].
    new DataView(out.buffer).setBigUint64(0, BigInt(timestamp));
    out.set(privateKey.sign(cosignatureMessage(text, timestamp)), 8);
    return out;
  };
  return {
    name,
    // c2sp.org/tlog-cosignature: key ID = SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4].
    keyId: noteKeyId(name, NOTE_SIG_TYPE_COSIGNATURE_V1, publicKey.raw),
    publicKey,
    signAt,
    sign: (text) => signAt(text, unixTime()),
  };
}

/** newCosignatureVerifier returns the cosignature/v1 verifier of `publicKey` for the witness `name`. */
export function newCosignatureVerifier(name: string, publicKey: PublicKey): CosignatureVerifier {
  if (!isValidKeyName(name)) throw new FormatError('ERR_NOTE_KEY_INVALID', 'invalid key name');
  return {
    name,
    keyId: noteKeyId(name, NOTE_SIG_TYPE_COSIGNATURE_V1, publicKey.raw),
    publicKey,
    verify(text, signature) {
      if (signature.length !== COSIGNATURE_V1_BYTES) return false;
      const ts = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0);
      if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return false;
      return verifyEd25519(publicKey, cosignatureMessage(text, Number(ts)), signature.subarray(8));
    },
  };
}

/**
 * parseCosignatureVerifierKey parses a witness verifier key `<name>+<id>+base64(0x04 || key)` (c2sp.org/signed-note
 * vkey with type 0x04), checking the id. A type-0x01 log key is refused: a log key is never a witness key.
 */
export function parseCosignatureVerifierKey(text: string): CosignatureVerifier {
  const k = parseNoteKeyText(text);
  if (k.type !== NOTE_SIG_TYPE_COSIGNATURE_V1) {
    throw new FormatError('ERR_KEY_UNSUPPORTED', `expected a cosignature/v1 key (type 0x04), got type 0x${k.type.toString(16).padStart(2, '0')}`);
  }
  let publicKey: PublicKey;
  try {
    publicKey = PublicKey.fromRaw(k.key);
  } catch (e) {
    throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed verifier key: not an ed25519 public key', { cause: e });
  }
  const v = newCosignatureVerifier(k.name, publicKey);
  if (v.keyId !== k.keyId) throw new FormatError('ERR_NOTE_KEY_INVALID', 'malformed verifier key: the key id does not match');
  return v;
}

/** formatCosignatureVerifierKey renders the witness verifier key text of `publicKey` under `name`. */
export function formatCosignatureVerifierKey(name: string, publicKey: PublicKey): string {
  const id = noteKeyId(name, NOTE_SIG_TYPE_COSIGNATURE_V1, publicKey.raw);
  return formatNoteKeyText(name, id, NOTE_SIG_TYPE_COSIGNATURE_V1, publicKey.raw);
}

/**
 * cosignCheckpoint cosigns a checkpoint note text at `timestamp` and returns the signature line
 * (`— <name> <base64>\n`), as a witness answers add-checkpoint (c2sp.org/tlog-witness). The text must be a valid
 * checkpoint: a witness only ever signs checkpoints.
 *
 * @example
 * const line = cosignCheckpoint(note.text, newCosigner('witness.example/w1', key), Math.floor(Date.now() / 1000));
 */
export function cosignCheckpoint(checkpointText: string, cosigner: Cosigner, timestamp: number): string {
  parseCheckpoint(checkpointText);
  checkTimestamp(timestamp);
  const signature = cosigner.signAt(utf8.encode(checkpointText), timestamp);
  return formatSignatureLine({ name: cosigner.name, keyId: cosigner.keyId, signature });
}

/**
 * verifyCosignature checks one cosignature line against a checkpoint note text and a witness key, returning the
 * witness name, key id and timestamp. Throws `FormatError('ERR_COSIGNATURE_MALFORMED')` for a malformed line,
 * `VerificationError('ERR_COSIGNATURE_INVALID')` for another key or a bad signature, and
 * `PolicyError('ERR_COSIGNATURE_FUTURE')` for a timestamp beyond `now` + skew.
 */
export function verifyCosignature(
  checkpointText: string,
  signatureLine: string,
  verifier: CosignatureVerifier,
  options: VerifyCosignatureOptions = {},
): VerifiedCosignature {
  const m = /^\u2014 (\S+) (\S+)\n?$/u.exec(typeof signatureLine === 'string' ? signatureLine : '');
  if (!m || !isValidKeyName(m[1]!)) throw malformedCosignature('expected a signature line "— <name> <base64>"');
  const name = m[1]!;
  let raw: Uint8Array;
  try {
    raw = decodeBase64(m[2]!);
  } catch {
    throw malformedCosignature('the signature is not canonical base64');
  }
  if (raw.length !== 4 + COSIGNATURE_V1_BYTES) {
    throw malformedCosignature(`expected ${4 + COSIGNATURE_V1_BYTES} bytes, got ${raw.length}`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const keyId = view.getUint32(0);
  if (name !== verifier.name || keyId !== verifier.keyId) {
    throw new VerificationError(
      'ERR_COSIGNATURE_INVALID',
      `the cosignature is by ${name}+${keyIdHex(keyId)}, not ${verifier.name}+${keyIdHex(verifier.keyId)}`,
    );
  }
  const ts = view.getBigUint64(4);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) throw malformedCosignature('the timestamp is above 2^53−1');
  const timestamp = Number(ts);
  if (!verifier.verify(utf8.encode(checkpointText), raw.subarray(4))) {
    throw new VerificationError('ERR_COSIGNATURE_INVALID', `the cosignature by ${name} does not verify for this checkpoint`);
  }
  if (options.now !== undefined) {
    // c2sp.org/tlog-cosignature: verifiers MAY reject cosignatures with timestamps in the future.
    const skew = options.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS;
    if (timestamp > options.now + skew) {
      throw new PolicyError('ERR_COSIGNATURE_FUTURE', `the cosignature by ${name} is dated ${timestamp - options.now} s in the future`, {
        details: { timestamp, now: options.now },
      });
    }
  }
  return { name, keyId, timestamp };
}

/**
 * cosignatureTimestamp reads the timestamp of a cosignature/v1 signature (the bytes after the key id, as in
 * `VerifiedNote.verified[i].signature`).
 */
export function cosignatureTimestamp(signature: Uint8Array): number {
  if (signature.length !== COSIGNATURE_V1_BYTES) {
    throw malformedCosignature(`expected ${COSIGNATURE_V1_BYTES} bytes after the key id, got ${signature.length}`);
  }
  const ts = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0);
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) throw malformedCosignature('the timestamp is above 2^53−1');
  return Number(ts);
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw malformedCosignature(`expected a timestamp from 0 to 2^53−1, got ${String(timestamp)}`);
  }
}

function malformedCosignature(why: string): FormatError {
  return new FormatError('ERR_COSIGNATURE_MALFORMED', `malformed cosignature: ${why}`);
}

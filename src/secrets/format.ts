/**
 * secrets/format — the on-disk format of one envelope-encrypted secret, `custody-secret/v1` (docs/keys.md
 * "Secrets"). Envelope encryption as NIST SP 800-57 Part 1 §6.2.2.3 / SP 800-38F describe key wrapping: the payload is
 * sealed with AES-256-GCM (SP 800-38D) under its own random data key, and the data key is wrapped by a
 * key-encryption key (KEK, secrets/kek).
 *
 * A secret file `STORE/<name>.secret` is one JSON object (UTF-8, at most SECRET_FILE_MAX_BYTES, members exactly these,
 * written in this order, one trailing "\n"):
 * ```
 * {"format":"custody-secret/v1","name":"daemon.log-key","version":3,
 *  "data_key_id":"<32 lowercase hex>","kek_id":"kek-<16 hex>",
 *  "wrapped_key":"<base64>","nonce":"<base64 of 12 bytes>","ciphertext":"<base64 of payload || 16-byte tag>"}
 * ```
 * - `name`        — SECRET_NAME_RE; equals the file name without `.secret`.
 * - `version`     — 1 for the first `put`, +1 for each later `put` of the name (1..2^53−1).
 * - `data_key_id` — 16 random bytes naming the data key for its whole life (a rewrap keeps it).
 * - `kek_id`      — the KEK that wrapped the data key (KEK_ID_RE: printable ASCII, so a token URI fits later).
 * - `wrapped_key` — opaque to this module, 1..WRAPPED_KEY_MAX_BYTES: for the keyring's AES-256-GCM KEKs it is
 *                   nonce (12) || AES-256-GCM(KEK, data key) (32) || tag (16), 60 bytes.
 * - `nonce`, `ciphertext` — the payload's AES-256-GCM nonce and ciphertext || tag (payload 0..SECRET_VALUE_MAX_BYTES).
 *
 * Associated data (each line ends in "\n", numbers in decimal):
 * ```
 * payload:  "custody-secret/v1 payload\n" name "\n" version "\n" data_key_id "\n"
 * data key: "custody-secret/v1 data-key\n" name "\n" version "\n" data_key_id "\n" kek_id "\n"
 * ```
 * So a file renamed to another name, a version number edited, a wrapped key moved to another secret or attributed to
 * another KEK all fail authentication. The payload's associated data leaves the KEK out on purpose: rotation re-wraps
 * the data key under a new KEK without touching (or decrypting) the payload.
 * Not detected: replacing a file by an older version of the same secret (no external state; a rollback of the whole
 * store is the backup's business). A future version changes `format`; readers refuse formats they do not know.
 */
import { decodeBase64, decodeHex, encodeBase64 } from '../encoding/bytes.ts';
import { parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { FormatError, UsageError } from '../errors.ts';

export const SECRET_FORMAT = 'custody-secret/v1';
/** SECRET_VALUE_MAX_BYTES caps one secret's value: 1 MiB (passphrases, tokens and keys are far smaller). */
export const SECRET_VALUE_MAX_BYTES = 1024 * 1024;
/** SECRET_FILE_MAX_BYTES caps a secret file before parsing: the base64 of the largest value plus the header. */
export const SECRET_FILE_MAX_BYTES = Math.ceil(((SECRET_VALUE_MAX_BYTES + 16) * 4) / 3) + 4096;
/** WRAPPED_KEY_MAX_BYTES caps a wrapped data key (any KEK kind). */
export const WRAPPED_KEY_MAX_BYTES = 1024;
/** SECRET_NAME_RE: 1–128 of a-z 0-9 . _ - starting with a letter or digit (no path separator, never hidden). */
export const SECRET_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** KEK_ID_RE: 1–256 printable ASCII characters without space. */
export const KEK_ID_RE = /^[\x21-\x7e]{1,256}$/;
const DATA_KEY_ID_RE = /^[0-9a-f]{32}$/;
const MEMBERS = ['format', 'name', 'version', 'data_key_id', 'kek_id', 'wrapped_key', 'nonce', 'ciphertext'] as const;

/** SecretRecord is one parsed secret file (nothing in it is authenticated until the KEK and data key open it). */
export interface SecretRecord {
  name: string;
  version: number;
  dataKeyId: string;
  kekId: string;
  wrappedKey: Uint8Array;
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

/** checkSecretName returns name if it is a valid secret name, else throws ERR_SECRETS_NAME. */
export function checkSecretName(name: string): string {
  if (!SECRET_NAME_RE.test(name)) {
    throw new UsageError('ERR_SECRETS_NAME', `invalid secret name ${JSON.stringify(name.slice(0, 140))}: expected 1–128 of a-z 0-9 . _ - starting with a letter or digit`);
  }
  return name;
}

const enc = new TextEncoder();

/** payloadAad is the associated data of the payload's encryption. */
export function payloadAad(name: string, version: number, dataKeyId: string): Uint8Array {
  return enc.encode(`${SECRET_FORMAT} payload\n${name}\n${version}\n${dataKeyId}\n`);
}

/** wrapAad is the associated data of the data key's wrapping. */
export function wrapAad(name: string, version: number, dataKeyId: string, kekId: string): Uint8Array {
  return enc.encode(`${SECRET_FORMAT} data-key\n${name}\n${version}\n${dataKeyId}\n${kekId}\n`);
}

/** formatSecretFile writes a record as its file text (members in the documented order, one trailing newline). */
export function formatSecretFile(r: SecretRecord): string {
  return (
    JSON.stringify({
      format: SECRET_FORMAT,
      name: r.name,
      version: r.version,
      data_key_id: r.dataKeyId,
      kek_id: r.kekId,
      wrapped_key: encodeBase64(r.wrappedKey),
      nonce: encodeBase64(r.nonce),
      ciphertext: encodeBase64(r.ciphertext),
    }) + '\n'
  );
}

function bad(what: string): never {
  throw new FormatError('ERR_SECRETS_FORMAT', `secret file: ${what}`);
}

function str(o: JsonObject, k: string): string {
  const v = o[k];
  if (typeof v !== 'string') bad(`${k} must be a string`);
  return v;
}

/**
 * parseSecretFile parses a secret file under the caps above. It checks shape only: the caller authenticates the
 * record by unwrapping its data key and opening its payload. `expectedName`, when given, must equal `name`.
 */
export function parseSecretFile(input: Uint8Array | string, expectedName?: string): SecretRecord {
  const o = parseJsonObject(input, { maxBytes: SECRET_FILE_MAX_BYTES, maxDepth: 2, maxValues: 32, what: 'secret file' });
  const keys = Object.keys(o);
  if (keys.length !== MEMBERS.length || !MEMBERS.every((m) => Object.hasOwn(o, m))) bad(`expected exactly the members ${MEMBERS.join(', ')}`);
  if (o.format !== SECRET_FORMAT) bad(`unknown format ${typeof o.format === 'string' ? JSON.stringify(o.format.slice(0, 64)) : '(not a string)'}`);
  const name = str(o, 'name');
  if (!SECRET_NAME_RE.test(name)) bad('invalid name');
  if (expectedName !== undefined && name !== expectedName) bad(`names ${JSON.stringify(name)}, expected ${JSON.stringify(expectedName)}`);
  const version = o.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) bad('version must be an integer from 1');
  const dataKeyId = str(o, 'data_key_id');
  if (!DATA_KEY_ID_RE.test(dataKeyId)) bad('data_key_id must be 32 lowercase hex characters');
  decodeHex(dataKeyId, 16, 'data_key_id');
  const kekId = str(o, 'kek_id');
  if (!KEK_ID_RE.test(kekId)) bad('kek_id must be 1–256 printable ascii characters');
  const wrappedKey = decodeBase64(str(o, 'wrapped_key'), undefined, 'wrapped_key');
  if (wrappedKey.length < 1 || wrappedKey.length > WRAPPED_KEY_MAX_BYTES) bad(`wrapped_key must be 1–${WRAPPED_KEY_MAX_BYTES} bytes`);
  const nonce = decodeBase64(str(o, 'nonce'), 12, 'nonce');
  const ciphertext = decodeBase64(str(o, 'ciphertext'), undefined, 'ciphertext');
  if (ciphertext.length < 16 || ciphertext.length > SECRET_VALUE_MAX_BYTES + 16) bad('ciphertext length out of range');
  return { name, version, dataKeyId, kekId, wrappedKey, nonce, ciphertext };
}

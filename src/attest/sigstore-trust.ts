/**
 * attest/sigstore-trust — Custody's trust as Sigstore reads it: a TrustedRoot (sigstore/protobuf-specs
 * sigstore_trustroot.proto, media type `application/vnd.dev.sigstore.trustedroot+json;version=0.1`) naming our C2SP
 * log as a transparency log, a file of the trusted signing keys beside it, and the bundles Custody writes.
 *
 * The TrustedRoot has no place for the keys that sign artifacts (it names CAs, logs and timestamp authorities; a
 * Sigstore verifier is handed key material separately). So `custody trust export --sigstore trusted_root.json` also
 * writes `trusted_root.keys.json`:
 * ```
 * {"threshold": 1,
 *  "keys": {"<hint = TUF key id>": {"rawBytes": "<b64 SPKI DER>", "keyDetails": "PKIX_ED25519",
 *                                  "validFor": {"start": "<RFC 3339>", "end"?: …}}}}
 * ```
 * `keys` is exactly the `keys` argument of @sigstore/verify's `toTrustMaterial(root, keys)` (hint → protobuf
 * PublicKey JSON): the bundle's `verificationMaterial.publicKey.hint` is the signer's TUF key id, which is how
 * @sigstore/verify finds the key. `threshold` is informational for Sigstore verifiers (a bundle carries one
 * signature, and any one key of the file verifies it); `custody verify-blob --trust root.json` applies the root's
 * own threshold. So the CLI refuses to export a threshold above 1 unless told `--allow-single-signer`.
 *
 * The tlog entry (see attest/sigstore-tlog for why these values make @sigstore/verify find it):
 * `{"baseUrl": "https://<key name>", "hashAlgorithm": "SHA2_256", "publicKey": {"rawBytes": <SPKI DER>,
 * "keyDetails": "PKIX_ED25519", "validFor": {"start": …}}, "logId": {"keyId": <SHA-256(name‖0x0A‖0x01‖key)>}}`.
 */
import { PublicKey, type Signer } from '../crypto/index.ts';
import { decodeBase64, encodeBase64 } from '../encoding/bytes.ts';
import { isJsonObject, parseJson, type JsonObject } from '../encoding/json.ts';
import { FormatError } from '../errors.ts';
import { tufKeyId } from '../keys/key-id.ts';
import { isValidKeyName, newNoteVerifier, type Ed25519NoteVerifier } from '../note/note.ts';
import { bytesEqual } from '../tlog/merkle.ts';
import { signEnvelope, type EnvelopeKeys } from './dsse.ts';
import { BUNDLE_V03_MEDIA_TYPE, type SigstoreBundle, type TlogEntry } from './sigstore-bundle.ts';
import { noteLogId } from './sigstore-tlog.ts';
import { INTOTO_PAYLOAD_TYPE, encodeStatement } from './statement.ts';

/** TRUSTED_ROOT_MEDIA_TYPE is the TrustedRoot media type written. */
export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
/** TRUSTED_ROOT_MAX_BYTES caps a trusted root read by `verify-blob --trusted-root`. */
export const TRUSTED_ROOT_MAX_BYTES = 1024 * 1024;

/**
 * BLOB_PREDICATE_TYPE is the predicate of the statement `custody sign-blob` signs with an Ed25519 key: "the holder
 * of this key signed the subject" and nothing more (predicate `{}`). A URN, so it names no web site we do not own.
 */
export const BLOB_PREDICATE_TYPE = 'urn:custody:predicate:signed-blob:v1';

/** ED25519_SPKI_PREFIX is the DER SubjectPublicKeyInfo header of an Ed25519 key (RFC 8410 §4), 12 bytes. */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** ed25519SpkiDer is the DER SubjectPublicKeyInfo of an Ed25519 key (the `rawBytes` of a Sigstore PublicKey). */
export function ed25519SpkiDer(key: PublicKey): Uint8Array {
  const out = new Uint8Array(ED25519_SPKI_PREFIX.length + key.raw.length);
  out.set(ED25519_SPKI_PREFIX);
  out.set(key.raw, ED25519_SPKI_PREFIX.length);
  return out;
}

function fromEd25519SpkiDer(der: Uint8Array): PublicKey | undefined {
  if (der.length !== 44 || !bytesEqual(der.subarray(0, 12), ED25519_SPKI_PREFIX)) return undefined;
  return PublicKey.fromRaw(der.subarray(12));
}

function validFor(start: Date, end?: Date): JsonObject {
  return end === undefined ? { start: start.toISOString() } : { start: start.toISOString(), end: end.toISOString() };
}

/** logBaseUrl is the `baseUrl` written for a log key: `https://<key name>`, which @sigstore/verify matches the name against. */
export function logBaseUrl(logKey: Ed25519NoteVerifier): string {
  return `https://${logKey.name}`;
}

/** trustedRootJson renders a TrustedRoot whose only trusted parties are our C2SP logs. */
export function trustedRootJson(logKeys: readonly Ed25519NoteVerifier[], validFrom: Date): JsonObject {
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: logKeys.map((k) => ({
      baseUrl: logBaseUrl(k),
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: encodeBase64(ed25519SpkiDer(k.publicKey)), keyDetails: 'PKIX_ED25519', validFor: validFor(validFrom) },
      logId: { keyId: encodeBase64(noteLogId(k)) },
    })),
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}

/** trustedKeysJson renders the signing keys beside the trusted root (the format in the module doc). */
export function trustedKeysJson(keys: EnvelopeKeys, validFrom: Date): JsonObject {
  const out: JsonObject = {};
  for (const ak of keys.authorized.values()) {
    if (keys.revoked?.has(ak.id)) continue;
    out[tufKeyId(ak.key)] = {
      rawBytes: encodeBase64(ed25519SpkiDer(ak.key)),
      keyDetails: 'PKIX_ED25519',
      validFor: validFor(ak.notBefore ?? validFrom, ak.notAfter),
    };
  }
  return { threshold: keys.threshold, keys: out };
}

/**
 * logKeysFromTrustedRoot reads the C2SP logs of a TrustedRoot: tlogs with an Ed25519 key whose baseUrl is
 * `https://<key name>` and whose logId is that key's {@link noteLogId}. Other tlogs (Rekor's ECDSA logs) are
 * skipped: Custody cannot check their inclusion promises. Throws ERR_BUNDLE_SCHEMA for a malformed root.
 */
export function logKeysFromTrustedRoot(input: Uint8Array | string): Ed25519NoteVerifier[] {
  const fail = (why: string): never => {
    throw new FormatError('ERR_BUNDLE_SCHEMA', `trusted root: ${why}`);
  };
  const root = parseJson(input, { maxBytes: TRUSTED_ROOT_MAX_BYTES, maxDepth: 16, what: 'trusted root' });
  if (!isJsonObject(root) || typeof root['mediaType'] !== 'string' || !root['mediaType'].startsWith('application/vnd.dev.sigstore.trustedroot')) {
    return fail('expected a Sigstore TrustedRoot (mediaType application/vnd.dev.sigstore.trustedroot+json)');
  }
  const tlogs = root['tlogs'] ?? [];
  if (!Array.isArray(tlogs) || tlogs.length > 64) return fail('"tlogs" must be an array of at most 64 logs');
  const out: Ed25519NoteVerifier[] = [];
  for (const t of tlogs) {
    if (!isJsonObject(t) || !isJsonObject(t['publicKey']) || !isJsonObject(t['logId'])) return fail('a tlog lacks publicKey or logId');
    const pk = t['publicKey'];
    const baseUrl = t['baseUrl'];
    if (pk['keyDetails'] !== 'PKIX_ED25519' || typeof baseUrl !== 'string' || !baseUrl.startsWith('https://')) continue;
    const name = baseUrl.slice('https://'.length);
    if (!isValidKeyName(name) || typeof pk['rawBytes'] !== 'string' || typeof t['logId']['keyId'] !== 'string') continue;
    const key = fromEd25519SpkiDer(decodeBase64(pk['rawBytes'], undefined, 'tlog publicKey.rawBytes'));
    if (!key) return fail(`tlog ${baseUrl}: rawBytes is not an Ed25519 SPKI key`);
    const verifier = newNoteVerifier(name, key);
    if (!bytesEqual(noteLogId(verifier), decodeBase64(t['logId']['keyId'], 32, 'tlog logId.keyId'))) {
      return fail(`tlog ${baseUrl}: logId is not SHA-256(name || 0x0A || 0x01 || key) of its key`);
    }
    out.push(verifier);
  }
  return out;
}

/** blobStatementPayload is the in-toto statement `sign-blob` signs for an Ed25519 key: the blob as its one subject. */
export function blobStatementPayload(name: string, sha256Hex: string): Uint8Array {
  return encodeStatement({ subject: [{ name, digest: { sha256: sha256Hex } }], predicateType: BLOB_PREDICATE_TYPE, predicate: {} });
}

/** dsseBundle signs an in-toto payload with one key and wraps it in a bundle without log entries (add them with {@link withTlogEntry}). */
export function dsseBundle(payload: Uint8Array, signer: Signer): SigstoreBundle {
  const envelope = signEnvelope(INTOTO_PAYLOAD_TYPE, payload, [signer]);
  return { mediaType: BUNDLE_V03_MEDIA_TYPE, key: { type: 'publicKey', hint: tufKeyId(signer.publicKey) }, tlogEntries: [], content: { type: 'dsseEnvelope', envelope } };
}

/** withTlogEntry returns the bundle with one more log entry. */
export function withTlogEntry(bundle: SigstoreBundle, entry: TlogEntry): SigstoreBundle {
  return { ...bundle, tlogEntries: [...bundle.tlogEntries, entry] };
}

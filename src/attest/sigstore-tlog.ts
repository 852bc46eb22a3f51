/**
 * attest/sigstore-tlog — transparency-log entries of Sigstore bundles, kept in Custody's own C2SP log
 * (c2sp.org/tlog-tiles, tlog-checkpoint, signed-note) instead of Rekor.
 *
 * The log entry is the Rekor-style canonicalized body a bundle's verifier compares with the bundle content
 * (sigstore/rekor pkg/types: dsse v0.0.1 and hashedrekord v0.0.1; the JSON keys sorted, no spaces):
 * ```
 * {"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"<hex>"},
 *   "payloadHash":{"algorithm":"sha256","value":"<hex of SHA-256(payload)>"},
 *   "signatures":[{"signature":"<base64 sig>","verifier":"<base64 of the signer's SPKI PEM>"}]}}
 * {"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"<hex>"}},
 *   "signature":{"content":"<base64 sig>","publicKey":{"content":"<base64 of the SPKI PEM>"}}}}
 * ```
 * The leaf hash is RFC 6962's SHA-256(0x00 || body), the inclusion proof and checkpoint are our log's.
 *
 * How a verifier finds our log (what @sigstore/verify 3.1 does, and what `custody verify-blob` does the same way):
 *  - the checkpoint's signature line `— <name> base64(keyhash4 || sig)` is matched to a trusted-root tlog whose
 *    `logId.keyId` (or `checkpointKeyId`) starts with those 4 key-hash bytes AND whose `baseUrl` matches `<name>`
 *    (tested as a regular expression against the URL); the signature is then verified with that tlog's public key;
 *  - the entry's `logId.keyId` names the log (Rekor: SHA-256 of the log's DER public key; used for inclusion
 *    promises, which our log does not make).
 * So Custody's log id is the whole SHA-256 whose first 4 bytes c2sp.org/signed-note calls the key id:
 * `logId = SHA-256(key name || 0x0A || 0x01 || Ed25519 public key)` ({@link noteLogId}), and the trusted root's
 * `baseUrl` is `https://<key name>` (the C2SP origin is a schema-less URL; `trust export --sigstore`). Both matches
 * then hold by construction, and one log key names one log on both paths.
 *
 * Trust boundary: bodies, proofs and checkpoints in a bundle are attacker-controlled. {@link checkTlogBody} parses a
 * body with the bounded parser and compares every field it binds with the verified content; {@link verifyLogInclusion}
 * opens the checkpoint with the log key before it trusts any number in it.
 */
import { sha256, sha256Concat, PublicKey, P256PublicKey } from '../crypto/index.ts';
import { decodeBase64, encodeBase64, encodeHex } from '../encoding/bytes.ts';
import { decodeUtf8, isJsonObject, parseJson, type JsonObject, type JsonValue } from '../encoding/json.ts';
import { printable } from '../encoding/text.ts';
import { FormatError, VerificationError } from '../errors.ts';
import { openCheckpoint, type Checkpoint } from '../note/checkpoint.ts';
import { NOTE_SIG_TYPE_ED25519, type Ed25519NoteVerifier } from '../note/note.ts';
import { bytesEqual, hashLeaf, verifyInclusion } from '../tlog/merkle.ts';
import { envelopeToJson, type DsseEnvelope } from './dsse.ts';
import { BUNDLE_MAX_BODY_BYTES, type TlogEntry } from './sigstore-bundle.ts';

/** REKOR_API_VERSION is the version of both body kinds Custody writes and checks ("0.0.1"). */
export const REKOR_API_VERSION = '0.0.1';

/** BodyKey is a key a body can name as its verifier: Ed25519 (Custody) or ECDSA P-256 (cosign). */
export type BodyKey = PublicKey | P256PublicKey;

/** keyPem is the SPKI PEM of either key type. */
function keyPem(key: BodyKey): string {
  return key.toPem();
}

/** noteLogId is the log id of a C2SP log key: SHA-256(name || 0x0A || 0x01 || key), whose first 4 bytes are its key id. */
export function noteLogId(verifier: Ed25519NoteVerifier): Uint8Array {
  // c2sp.org/signed-note: key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]; we keep all 32.
  return sha256Concat(new TextEncoder().encode(verifier.name), Uint8Array.of(0x0a, NOTE_SIG_TYPE_ED25519), verifier.publicKey.raw);
}

/** dsseBody is the canonicalized dsse v0.0.1 body of a one-signature envelope signed by `key`. */
export function dsseBody(env: DsseEnvelope, key: BodyKey): Uint8Array {
  if (env.signatures.length !== 1) throw new Error('dsseBody: a Sigstore bundle envelope has exactly one signature');
  // envelopeHash: SHA-256 of the envelope as Custody serializes it. Verifiers do not recompute it (JSON has many
  // spellings of one envelope); payloadHash and the signature bind the content.
  const envelopeHash = encodeHex(sha256(JSON.stringify(envelopeToJson(env))));
  const body = {
    apiVersion: REKOR_API_VERSION,
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: envelopeHash },
      payloadHash: { algorithm: 'sha256', value: encodeHex(sha256(env.payload)) },
      signatures: [{ signature: encodeBase64(env.signatures[0]!.sig), verifier: encodeBase64(Buffer.from(keyPem(key), 'utf8')) }],
    },
  };
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** hashedrekordBody is the canonicalized hashedrekord v0.0.1 body of a signature over a blob of this SHA-256. */
export function hashedrekordBody(sha256Hex: string, signature: Uint8Array, key: BodyKey): Uint8Array {
  const body = {
    apiVersion: REKOR_API_VERSION,
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm: 'sha256', value: sha256Hex } },
      signature: { content: encodeBase64(signature), publicKey: { content: encodeBase64(Buffer.from(keyPem(key), 'utf8')) } },
    },
  };
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** LogAnswer is what our log answered to `POST add` (log/client AddResponse), unverified. */
export interface LogAnswer {
  index: number;
  checkpoint: string;
  proof: Uint8Array[];
}

/**
 * tlogEntryFromLog verifies our log's answer for `body` (checkpoint signed by the log key, inclusion of the body's
 * leaf hash in it) and returns the bundle's tlog entry. `integratedTime` is 0: our log signs no entry timestamp (no
 * inclusion promise), and a time only the submitter claims would be worth nothing to a verifier.
 */
export function tlogEntryFromLog(body: Uint8Array, kind: 'dsse' | 'hashedrekord', answer: LogAnswer, logKey: Ed25519NoteVerifier): TlogEntry {
  const { checkpoint } = openCheckpoint(answer.checkpoint, logKey);
  verifyInclusion(hashLeaf(body), answer.index, checkpoint.size, answer.proof, checkpoint.rootHash);
  return {
    logIndex: answer.index,
    logId: noteLogId(logKey),
    kind,
    version: REKOR_API_VERSION,
    integratedTime: 0,
    inclusionProof: { logIndex: answer.index, rootHash: checkpoint.rootHash, treeSize: checkpoint.size, hashes: answer.proof, checkpoint: answer.checkpoint },
    canonicalizedBody: body,
  };
}

/** findLogKey returns the trusted log key whose log id is the entry's, if any. */
export function findLogKey(entry: TlogEntry, logKeys: readonly Ed25519NoteVerifier[]): Ed25519NoteVerifier | undefined {
  return logKeys.find((k) => bytesEqual(noteLogId(k), entry.logId));
}

/** LogInclusion is a verified inclusion: which log (its checkpoint origin), at which index, in a tree of what size. */
export interface LogInclusion {
  origin: string;
  index: number;
  treeSize: number;
}

/**
 * verifyLogInclusion opens the entry's checkpoint with the log key (ERR_NOTE_*, ERR_CHECKPOINT_*), checks that the
 * proof's index, size and root are the entry's and the checkpoint's (ERR_BUNDLE_INCLUSION_MISMATCH), and verifies the
 * RFC 6962 inclusion of SHA-256(0x00 || canonicalizedBody) (ERR_TLOG_INCLUSION_INVALID).
 */
export function verifyLogInclusion(entry: TlogEntry, logKey: Ed25519NoteVerifier): LogInclusion {
  const p = entry.inclusionProof;
  if (!p) throw new VerificationError('ERR_BUNDLE_INCLUSION_MISMATCH', `log entry ${entry.logIndex} carries no inclusion proof`);
  const { checkpoint } = openCheckpoint(p.checkpoint, logKey);
  const mismatch = (what: string): VerificationError =>
    new VerificationError('ERR_BUNDLE_INCLUSION_MISMATCH', `the inclusion proof's ${what} is not the ${what === 'log index' ? "entry's" : "checkpoint's"}`, {
      details: { origin: checkpoint.origin, logIndex: entry.logIndex },
    });
  if (p.logIndex !== entry.logIndex) throw mismatch('log index');
  if (p.treeSize !== checkpoint.size) throw mismatch('tree size');
  if (!bytesEqual(p.rootHash, checkpoint.rootHash)) throw mismatch('root hash');
  // RFC 6962 §2.1.1: the audit path from SHA-256(0x00 || body) to the root the log signed.
  verifyInclusion(hashLeaf(entry.canonicalizedBody), p.logIndex, checkpoint.size, p.hashes, checkpoint.rootHash);
  return inclusionOf(checkpoint, p.logIndex);
}

function inclusionOf(cp: Checkpoint, index: number): LogInclusion {
  return { origin: cp.origin, index, treeSize: cp.size };
}

/** BodyExpectation is the verified content a body must describe. */
export type BodyExpectation =
  | { kind: 'dsse'; envelope: DsseEnvelope; key: BodyKey }
  | { kind: 'hashedrekord'; sha256Hex: string; signature: Uint8Array; key: BodyKey };

function mismatch(message: string): VerificationError {
  return new VerificationError('ERR_BUNDLE_TLOG_BODY_MISMATCH', `log entry body: ${message}`);
}

function field(o: JsonValue | undefined, ...path: string[]): JsonValue | undefined {
  let v = o;
  for (const p of path) {
    if (!isJsonObject(v)) return undefined;
    v = v[p];
  }
  return v;
}

function b64(v: JsonValue | undefined, what: string): Uint8Array {
  if (typeof v !== 'string') throw mismatch(`${what} is missing`);
  return decodeBase64(v, undefined, `tlog body ${what}`); // ERR_FORMAT_BASE64 when not canonical
}

function sameKey(pemB64: JsonValue | undefined, key: BodyKey, what: string): void {
  const raw = b64(pemB64, what);
  let ok: boolean;
  try {
    const pem = decodeUtf8(raw, what);
    ok = key instanceof PublicKey ? bytesEqual(PublicKey.fromPem(pem).raw, key.raw) : bytesEqual(P256PublicKey.fromPem(pem).spkiDer, key.spkiDer);
  } catch {
    ok = false;
  }
  if (!ok) throw mismatch(`${what} is not the key that signed the bundle`);
}

/**
 * checkTlogBody checks that a log entry's body describes exactly the verified content: kind and apiVersion as the
 * entry says, and for dsse the payload hash, the one signature and its verifier key; for hashedrekord the artifact
 * digest, the signature and the public key. Throws ERR_BUNDLE_TLOG_BODY_MISMATCH (ERR_BUNDLE_UNSUPPORTED for kinds
 * other than these two, as v0.0.1).
 */
export function checkTlogBody(entry: TlogEntry, expect: BodyExpectation): void {
  if (entry.kind !== expect.kind || entry.version !== REKOR_API_VERSION) {
    throw new FormatError(
      'ERR_BUNDLE_UNSUPPORTED',
      `log entry of kind ${printable(entry.kind, 40)} v${printable(entry.version, 20)}: this content needs ${expect.kind} v${REKOR_API_VERSION}`,
    );
  }
  let body: JsonObject;
  try {
    const v = parseJson(entry.canonicalizedBody, { maxBytes: BUNDLE_MAX_BODY_BYTES, maxDepth: 10, what: 'log entry body' });
    if (!isJsonObject(v)) throw mismatch('not a JSON object');
    body = v;
  } catch (e) {
    if (e instanceof VerificationError) throw e;
    throw new VerificationError('ERR_BUNDLE_TLOG_BODY_MISMATCH', 'log entry body: not JSON', { cause: e });
  }
  if (body['kind'] !== entry.kind || body['apiVersion'] !== entry.version) {
    throw mismatch(`kind/apiVersion are not ${entry.kind}/${entry.version} as the entry says`);
  }
  if (expect.kind === 'dsse') {
    const spec = field(body, 'spec');
    if (field(spec, 'payloadHash', 'algorithm') !== 'sha256' || field(spec, 'payloadHash', 'value') !== encodeHex(sha256(expect.envelope.payload))) {
      throw mismatch('payloadHash is not the SHA-256 of the envelope payload');
    }
    const sigs = field(spec, 'signatures');
    if (!Array.isArray(sigs) || sigs.length !== expect.envelope.signatures.length || sigs.length !== 1) {
      throw mismatch('expected exactly the envelope\'s one signature');
    }
    if (!bytesEqual(b64(field(sigs[0], 'signature'), 'signature'), expect.envelope.signatures[0]!.sig)) throw mismatch('signature is not the envelope\'s');
    sameKey(field(sigs[0], 'verifier'), expect.key, 'verifier');
    return;
  }
  const spec = field(body, 'spec');
  if (field(spec, 'data', 'hash', 'algorithm') !== 'sha256' || field(spec, 'data', 'hash', 'value') !== expect.sha256Hex) {
    throw mismatch('data.hash is not the SHA-256 of the artifact');
  }
  if (!bytesEqual(b64(field(spec, 'signature', 'content'), 'signature.content'), expect.signature)) throw mismatch("signature.content is not the bundle's signature");
  sameKey(field(spec, 'signature', 'publicKey', 'content'), expect.key, 'signature.publicKey');
}

/**
 * trust/signature-set — detached threshold signatures over a file's SHA-256 (`custody sign-package`), so a
 * quorum of trust-root keys can vouch for a package (or any file) whose own format carries a single signature.
 *
 * Document (`<file>.sigs`, JSON):
 *
 *   { "type": "custody.signature-set/v1",
 *     "subject": { "name": "app.psp", "sha256": "<64 hex of SHA-256 of the whole file>" },
 *     "signatures": [ { "algorithm": "ed25519", "key_id": "<64 hex TUF key id>", "public_key": "<64 hex>",
 *                       "signature": "<128 hex>" } ] }
 *
 * Signed bytes: SIGNATURE_SET_PREFIX followed by "sha256:<hex>" (ASCII, no newline). `name` is informative only.
 * Verification counts signatures with trust/threshold against the trust root's MANIFEST_SIGNER_ROLE ("targets").
 * `key_id` is written as the signer's TUF key id (keys/key-id `tufKeyId`); it is not signed, so on read it is only a
 * hint (`keyIdsAreHints`): an id the root does not list is resolved by `public_key` to the trust-root key with those
 * bytes, and the signature is verified against that key — sets written with the legacy 32-hex ids still verify.
 */
import { encodeHex, decodeHex } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { FormatError, LimitError, VerificationError } from '../errors.ts';
import type { Signer } from '../crypto/index.ts';
import { tufKeyId } from '../keys/key-id.ts';
import { MANIFEST_SIGNER_ROLE, roleKeys, type TrustRoot } from './root.ts';
import { countThreshold, type CandidateSignature, type ThresholdResult } from './threshold.ts';

export const SIGNATURE_SET_TYPE = 'custody.signature-set/v1';
export const SIGNATURE_SET_PREFIX = 'custody-signature-set:v1:';
export const SIGNATURE_SET_MAX_BYTES = 256 * 1024;
export const SIGNATURE_SET_MAX_SIGNATURES = 64;

export interface SetSignature {
  algorithm: string;
  key_id: string;
  public_key: string;
  signature: string;
}

/** SignatureSet is a parsed (unverified) signature set. */
export interface SignatureSet {
  name: string;
  /** sha256 is the lowercase hex digest of the file the set signs. */
  sha256: string;
  signatures: SetSignature[];
}

function bad(msg: string): never {
  throw new FormatError('ERR_SIGSET_SCHEMA', `signature set: ${msg}`);
}

/** signatureSetMessage returns the bytes each signature covers. */
export function signatureSetMessage(sha256Hex: string): Uint8Array {
  return new TextEncoder().encode(`${SIGNATURE_SET_PREFIX}sha256:${sha256Hex}`);
}

/** parseSignatureSet parses a `.sigs` document strictly. */
export function parseSignatureSet(bytes: Uint8Array | string): SignatureSet {
  const d = parseJsonObject(bytes, { maxBytes: SIGNATURE_SET_MAX_BYTES, what: 'signature set' });
  if (d.type !== SIGNATURE_SET_TYPE) bad(`type must be ${JSON.stringify(SIGNATURE_SET_TYPE)}`);
  const subject = d.subject;
  if (!isJsonObject(subject) || typeof subject.name !== 'string' || subject.name.length > 255) bad('subject.name must be a string');
  if (typeof subject.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(subject.sha256)) bad('subject.sha256 must be 64 lowercase hex chars');
  if (!Array.isArray(d.signatures)) bad('signatures must be an array');
  if (d.signatures.length > SIGNATURE_SET_MAX_SIGNATURES) {
    throw new LimitError('ERR_LIMIT_COUNT', `signature set has ${d.signatures.length} signatures, over the cap of ${SIGNATURE_SET_MAX_SIGNATURES}`);
  }
  const signatures = d.signatures.map((s, i): SetSignature => {
    if (!isJsonObject(s)) bad(`signatures[${i}] must be an object`);
    const { algorithm, key_id, public_key, signature } = s;
    if (typeof algorithm !== 'string' || typeof key_id !== 'string' || typeof public_key !== 'string' || typeof signature !== 'string') {
      bad(`signatures[${i}] needs algorithm, key_id, public_key and signature strings`);
    }
    if (!/^[0-9a-f]{16,128}$/.test(key_id)) bad(`signatures[${i}].key_id must be lowercase hex`);
    decodeHex(public_key, 32, `signatures[${i}].public_key`);
    if (signature.length > 256) bad(`signatures[${i}].signature is too long`);
    return { algorithm, key_id, public_key, signature };
  });
  return { name: subject.name, sha256: subject.sha256, signatures };
}

/** formatSignatureSet renders the document (2-space indented JSON). */
export function formatSignatureSet(set: SignatureSet): string {
  const doc: JsonObject = {
    type: SIGNATURE_SET_TYPE,
    subject: { name: set.name, sha256: set.sha256 },
    signatures: set.signatures.map((s) => ({ ...s })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

/**
 * addSetSignature adds signer's signature over sha256Hex to `set` (a new set when undefined). A set for another
 * digest is refused (ERR_SIGSET_DIGEST_MISMATCH); signing twice with one key replaces its signature.
 */
export function addSetSignature(set: SignatureSet | undefined, name: string, sha256Hex: string, signer: Signer): SignatureSet {
  if (set && set.sha256 !== sha256Hex) {
    throw new VerificationError('ERR_SIGSET_DIGEST_MISMATCH', `the signature set signs sha256:${set.sha256}, the file is sha256:${sha256Hex}`);
  }
  const sig: SetSignature = {
    algorithm: 'ed25519',
    key_id: tufKeyId(signer.publicKey),
    public_key: signer.publicKey.hex,
    signature: encodeHex(signer.sign(signatureSetMessage(sha256Hex))),
  };
  const others = (set?.signatures ?? []).filter((s) => s.public_key !== sig.public_key);
  return { name: set?.name ?? name, sha256: sha256Hex, signatures: [...others, sig] };
}

/** checkSignatureSet counts the set's signatures over sha256Hex under the root's manifest-signer role. */
export function checkSignatureSet(set: SignatureSet, sha256Hex: string, root: TrustRoot, now: Date): ThresholdResult {
  if (set.sha256 !== sha256Hex) {
    throw new VerificationError('ERR_SIGSET_DIGEST_MISMATCH', `the signature set signs sha256:${set.sha256}, the file is sha256:${sha256Hex}`);
  }
  const candidates: CandidateSignature[] = set.signatures.map((s) => {
    let signature: Uint8Array | undefined;
    try {
      signature = decodeHex(s.signature, 64);
    } catch {
      signature = undefined;
    }
    return { keyId: s.key_id, algorithm: s.algorithm, signature, claimedPublicKey: decodeHex(s.public_key, 32) };
  });
  return countThreshold({
    message: signatureSetMessage(sha256Hex),
    signatures: candidates,
    authorized: roleKeys(root, MANIFEST_SIGNER_ROLE),
    threshold: root.roles[MANIFEST_SIGNER_ROLE].threshold,
    revoked: root.revoked,
    now,
    keyIdsAreHints: true,
  });
}

/** verifySignatureSet throws ERR_SIGSET_THRESHOLD_UNMET unless a threshold of distinct trusted keys signed. */
export function verifySignatureSet(set: SignatureSet, sha256Hex: string, root: TrustRoot, now: Date): ThresholdResult {
  const r = checkSignatureSet(set, sha256Hex, root, now);
  if (!r.met) {
    throw new VerificationError('ERR_SIGSET_THRESHOLD_UNMET', `signed by ${r.valid.length}/${r.threshold} keys the trust root authorizes`, {
      details: { valid: r.valid, threshold: r.threshold, rejected: r.rejected },
    });
  }
  return r;
}

/**
 * trust/threshold — counting signatures toward an N-of-M threshold, the one place Custody does it.
 *
 * A signature counts only when ALL of these hold (each rule answers a TUF/tough advisory class, spec PR #154):
 * - its key id names a key the role authorizes (unknown keys never count);
 * - that key is not revoked (revocation is by Custody key id, derived from the raw key, so relabelling a revoked
 *   key under another id does not revive it);
 * - `now` is inside the key's validity window (not-before ≤ now < not-after);
 * - the algorithm is ed25519 and the signature verifies over the exact message bytes;
 * - its raw public key has not already been counted — duplicate signatures, and one key listed under two ids,
 *   count once (distinctness is over key bytes, not over ids).
 * Every rejected signature is reported with its reason, so refusals can say "signed by 1/2 keys" and why.
 */
import { PublicKey, verifyEd25519 } from '../crypto/index.ts';

/** AuthorizedKey is a key a role trusts, with its optional validity window. */
export interface AuthorizedKey {
  /** id is the label the document uses for the key (a TUF keyid). */
  id: string;
  key: PublicKey;
  notBefore?: Date | undefined;
  notAfter?: Date | undefined;
}

/** CandidateSignature is a signature as found in a document, before any check. */
export interface CandidateSignature {
  keyId: string;
  algorithm: string;
  /** signature bytes, or undefined when they did not decode (counted as malformed). */
  signature: Uint8Array | undefined;
  /** claimedPublicKey, when the document names the key bytes, must equal the authorized key. */
  claimedPublicKey?: Uint8Array | undefined;
}

export type RejectReason =
  | 'unknown-key'
  | 'revoked'
  | 'key-not-yet-valid'
  | 'key-expired'
  | 'unsupported-algorithm'
  | 'malformed'
  | 'key-mismatch'
  | 'bad-signature'
  | 'duplicate';

export interface ThresholdResult {
  threshold: number;
  /** valid lists the ids of the distinct keys whose signatures counted, in document order. */
  valid: string[];
  rejected: Array<{ keyId: string; reason: RejectReason }>;
  met: boolean;
}

export interface ThresholdInput {
  message: Uint8Array;
  signatures: readonly CandidateSignature[];
  /** authorized maps a document key id to the key the role trusts. */
  authorized: ReadonlyMap<string, AuthorizedKey>;
  threshold: number;
  /** revoked holds Custody key ids (hex SHA-256(raw)[0:32]) that never count. */
  revoked: ReadonlySet<string>;
  now: Date;
}

/** countThreshold applies the rules above and reports which signatures counted. */
export function countThreshold(input: ThresholdInput): ThresholdResult {
  const counted = new Set<string>(); // raw key hex
  const valid: string[] = [];
  const rejected: ThresholdResult['rejected'] = [];
  const now = input.now.getTime();
  for (const sig of input.signatures) {
    const reject = (reason: RejectReason): void => void rejected.push({ keyId: sig.keyId, reason });
    const ak = input.authorized.get(sig.keyId);
    if (!ak) {
      reject('unknown-key');
      continue;
    }
    if (input.revoked.has(ak.key.keyId)) {
      reject('revoked');
      continue;
    }
    if (ak.notBefore && now < ak.notBefore.getTime()) {
      reject('key-not-yet-valid');
      continue;
    }
    if (ak.notAfter && now >= ak.notAfter.getTime()) {
      reject('key-expired');
      continue;
    }
    if (sig.algorithm !== 'ed25519') {
      reject('unsupported-algorithm');
      continue;
    }
    if (!sig.signature || sig.signature.length !== 64) {
      reject('malformed');
      continue;
    }
    if (sig.claimedPublicKey && !Buffer.from(sig.claimedPublicKey).equals(ak.key.raw)) {
      reject('key-mismatch');
      continue;
    }
    // Check distinctness before spending a verification: a second signature by a counted key adds nothing.
    if (counted.has(ak.key.hex)) {
      reject('duplicate');
      continue;
    }
    if (!verifyEd25519(ak.key, input.message, sig.signature)) {
      reject('bad-signature');
      continue;
    }
    counted.add(ak.key.hex);
    valid.push(sig.keyId);
  }
  return { threshold: input.threshold, valid, rejected, met: valid.length >= input.threshold && input.threshold >= 1 };
}

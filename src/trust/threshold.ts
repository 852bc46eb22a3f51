/**
 * trust/threshold — counting signatures toward an N-of-M threshold, the one place Custody does it.
 *
 * A signature counts only when ALL of these hold (each rule answers a TUF/tough advisory class, spec PR #154):
 * - its key id names a key the role authorizes (unknown keys never count). Where ids are unsigned hints
 *   (`keyIdsAreHints`: manifests and signature sets), a signature whose id names no authorized key is matched to one
 *   by the public key it claims, or by a legacy 32-hex id (keys/key-id `legacyKeyId`) for documents written before
 *   TUF key ids; either way it is then verified against the AUTHORIZED key's bytes, so a hint never adds trust;
 * - that key is not revoked (revocation is by TUF key id recomputed from the key bytes, keys/key-id, so relabelling
 *   a revoked key under another id does not revive it);
 * - `now` is inside the key's validity window (not-before ≤ now < not-after);
 * - the algorithm is ed25519 and the signature verifies over the exact message bytes;
 * - its raw public key has not already been counted — duplicate signatures, and one key listed under two ids,
 *   count once (distinctness is over key bytes, not over ids).
 * Every rejected signature is reported with its reason, so refusals can say "signed by 1/2 keys" and why.
 */
import { PublicKey, verifyEd25519 } from '../crypto/ed25519.ts';
import { LEGACY_KEY_ID_PATTERN, legacyKeyId, tufKeyId } from '../keys/key-id.ts';

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
  /** valid lists the authorized ids (AuthorizedKey.id) of the distinct keys whose signatures counted, in document order. */
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
  /** revoked holds TUF key ids (keys/key-id `tufKeyId`) that never count. */
  revoked: ReadonlySet<string>;
  now: Date;
  /**
   * keyIdsAreHints: the signatures' key ids are outside the signed bytes (manifests, signature sets), so an id that
   * names no authorized key is resolved by the claimed public key or a legacy id. False for roots (TUF §4.3: ids are
   * exact there, and parsing checked them).
   */
  keyIdsAreHints?: boolean;
  /**
   * matchByVerification: when a signature's id (a hint, or absent) resolves to no authorized key, the key is found by
   * trying each authorized key not yet counted (DSSE §Protocol: "optionally, filter acceptable public keys by
   * KEYID"; the id may be empty or name a key the verifier does not know). Implies keyIdsAreHints.
   */
  matchByVerification?: boolean;
}

/** resolveKey finds the authorized key a signature refers to (see keyIdsAreHints); undefined when none. */
function resolveKey(input: ThresholdInput, sig: CandidateSignature, hints: boolean): AuthorizedKey | undefined {
  const byId = input.authorized.get(sig.keyId);
  if (byId !== undefined || !hints) return byId;
  const claimed = sig.claimedPublicKey;
  const legacy = LEGACY_KEY_ID_PATTERN.test(sig.keyId);
  for (const ak of input.authorized.values()) {
    if (claimed !== undefined ? Buffer.from(claimed).equals(ak.key.raw) : legacy && legacyKeyId(ak.key) === sig.keyId) return ak;
  }
  return undefined;
}

/** countThreshold applies the rules above and reports which signatures counted. */
export function countThreshold(input: ThresholdInput): ThresholdResult {
  const counted = new Set<string>(); // raw key hex
  const valid: string[] = [];
  const rejected: ThresholdResult['rejected'] = [];
  const now = input.now.getTime();
  const hints = input.matchByVerification === true || input.keyIdsAreHints === true;
  for (const sig of input.signatures) {
    // The rules in the module doc, in order; the first that fails is the reason the signature does not count.
    let ak = resolveKey(input, sig, hints);
    let verified = false;
    if (!ak && input.matchByVerification && sig.algorithm === 'ed25519' && sig.signature?.length === 64) {
      const bytes = sig.signature;
      ak = [...input.authorized.values()].find((k) => !counted.has(k.key.hex) && verifyEd25519(k.key, input.message, bytes));
      verified = ak !== undefined;
    }
    let reason: RejectReason | undefined;
    if (!ak) reason = 'unknown-key';
    else if (input.revoked.has(tufKeyId(ak.key))) reason = 'revoked';
    else if (ak.notBefore && now < ak.notBefore.getTime()) reason = 'key-not-yet-valid';
    else if (ak.notAfter && now >= ak.notAfter.getTime()) reason = 'key-expired';
    else if (sig.algorithm !== 'ed25519') reason = 'unsupported-algorithm';
    else if (!sig.signature || sig.signature.length !== 64) reason = 'malformed';
    else if (sig.claimedPublicKey && !Buffer.from(sig.claimedPublicKey).equals(ak.key.raw)) reason = 'key-mismatch';
    // Check distinctness before spending a verification: a second signature by a counted key adds nothing.
    else if (counted.has(ak.key.hex)) reason = 'duplicate';
    else if (!verified && !verifyEd25519(ak.key, input.message, sig.signature)) reason = 'bad-signature';
    if (reason !== undefined || !ak) {
      rejected.push({ keyId: sig.keyId, reason: reason ?? 'unknown-key' });
      continue;
    }
    counted.add(ak.key.hex);
    valid.push(ak.id);
  }
  return { threshold: input.threshold, valid, rejected, met: valid.length >= input.threshold && input.threshold >= 1 };
}

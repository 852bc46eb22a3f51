/**
 * manifest/verify — `verifyManifest`: a manifest is accepted only when a threshold of DISTINCT keys authorized by the
 * trust root's MANIFEST_SIGNER_ROLE signed its exact canonical bytes (manifest/manifest `manifestSignedBytes`), it is
 * within its validity period, and its sequence is not below the last one the caller saw (rollback protection).
 *
 * Order: signatures first (nothing about an unauthenticated document is believed), then time, then sequence. The
 * returned VerifiedManifest is the only object callers may use; it is built from the bytes that were verified.
 */
import { sha256 } from '../crypto/hash.ts';
import { decodeHex, encodeHex } from '../encoding/bytes.ts';
import { formatTimestamp } from '../encoding/time.ts';
import { PolicyError, VerificationError } from '../errors.ts';
import { MANIFEST_SIGNER_ROLE, roleKeys, type TrustRoot } from '../trust/root.ts';
import { countThreshold, type CandidateSignature, type ThresholdResult } from '../trust/threshold.ts';
import { manifestSignedBytes, type Manifest } from './manifest.ts';

/** MANIFEST_CLOCK_SKEW_MS tolerates signer clocks this far ahead of ours for created_at. */
export const MANIFEST_CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface VerifyManifestOptions {
  now: Date;
  /** lastSeenSequence is the highest sequence already accepted for this channel/arch. */
  lastSeenSequence?: number | undefined;
  /** lastSeenDigest is the signed-bytes digest of that manifest: the same sequence must carry the same body. */
  lastSeenDigest?: string | undefined;
}

/** VerifiedManifest is a manifest whose signatures, validity and sequence were checked. */
export interface VerifiedManifest {
  readonly manifest: Manifest;
  /** digest is "sha256:<hex>" of the signed bytes: the identity of what was signed (logged, compared). */
  readonly digest: string;
  /** signers are the trust-root key ids whose signatures counted. */
  readonly signers: readonly string[];
  readonly threshold: number;
}

/** manifestCandidates converts signature entries for trust/threshold. */
export function manifestCandidates(m: Manifest): CandidateSignature[] {
  return m.signatures.map((s) => {
    let signature: Uint8Array | undefined;
    let claimedPublicKey: Uint8Array | undefined;
    try {
      signature = decodeHex(s.signature, 64);
    } catch {
      signature = undefined;
    }
    if (s.public_key !== undefined) claimedPublicKey = decodeHex(s.public_key, 32);
    return { keyId: s.key_id, algorithm: s.algorithm, signature, claimedPublicKey };
  });
}

/** checkManifestSignatures counts the manifest's signatures under the trust root without throwing. */
export function checkManifestSignatures(m: Manifest, root: TrustRoot, now: Date): ThresholdResult {
  return countThreshold({
    message: manifestSignedBytes(m),
    signatures: manifestCandidates(m),
    authorized: roleKeys(root, MANIFEST_SIGNER_ROLE),
    threshold: root.roles[MANIFEST_SIGNER_ROLE].threshold,
    revoked: root.revoked,
    now,
    // key_id is outside the signed bytes: a hint (manifest/manifest), old 32-hex ids included.
    keyIdsAreHints: true,
  });
}

/** manifestDigest returns "sha256:<hex>" of the signed bytes. */
export function manifestDigest(m: Manifest): string {
  return 'sha256:' + encodeHex(sha256(manifestSignedBytes(m)));
}

/** verifyManifest checks a parsed manifest against a verified trust root and returns the VerifiedManifest. */
export function verifyManifest(m: Manifest, root: TrustRoot, options: VerifyManifestOptions): VerifiedManifest {
  const r = checkManifestSignatures(m, root, options.now);
  if (!r.met) {
    const bad = r.rejected.filter((x) => x.reason === 'bad-signature' || x.reason === 'key-mismatch').length;
    const details = { valid: r.valid, threshold: r.threshold, rejected: r.rejected };
    const counts = `signed by ${r.valid.length}/${r.threshold} keys`;
    if (bad > 0) {
      throw new VerificationError(
        'ERR_MANIFEST_SIGNATURE_INVALID',
        `${counts}: ${bad} signature${bad > 1 ? 's' : ''} by trusted keys do not verify over this manifest`,
        { details },
      );
    }
    const why = r.rejected.length ? ` (ignored: ${r.rejected.map((x) => `${x.keyId.slice(0, 8)} ${x.reason}`).join(', ')})` : '';
    throw new VerificationError('ERR_MANIFEST_THRESHOLD_UNMET', `${counts} the trust root authorizes${why}`, { details });
  }
  const now = options.now.getTime();
  if (now >= m.expiresAt.getTime()) {
    throw new PolicyError('ERR_MANIFEST_EXPIRED', `manifest expired at ${formatTimestamp(m.expiresAt)}`, {
      details: { expires_at: formatTimestamp(m.expiresAt) },
    });
  }
  if (m.createdAt.getTime() > now + MANIFEST_CLOCK_SKEW_MS) {
    throw new PolicyError('ERR_MANIFEST_NOT_YET_VALID', `manifest created_at ${formatTimestamp(m.createdAt)} is in the future`);
  }
  const digest = manifestDigest(m);
  const last = options.lastSeenSequence;
  if (last !== undefined) {
    if (m.sequence < last) {
      throw new PolicyError('ERR_MANIFEST_ROLLBACK', `manifest sequence ${m.sequence} is below the last seen ${last}`, {
        details: { sequence: m.sequence, last_seen: last },
      });
    }
    if (m.sequence === last && options.lastSeenDigest !== undefined && options.lastSeenDigest !== digest) {
      throw new PolicyError('ERR_MANIFEST_ROLLBACK', `manifest sequence ${m.sequence} was already used for different content`, {
        details: { sequence: m.sequence },
      });
    }
  }
  return Object.freeze({ manifest: m, digest, signers: Object.freeze([...r.valid]), threshold: r.threshold });
}

/**
 * attest/verify — an in-toto attestation (DSSE envelope of an in-toto Statement) verified against trusted keys:
 * threshold over distinct keys first, then the statement parsed from exactly the verified payload bytes.
 *
 * Trust comes from a Custody/TUF root (the "targets" role's keys and threshold, like manifests and packages) or from
 * explicit public keys. The result is the "verified evidence" a policy (src/policy) evaluates.
 */
import { sha256 } from '../crypto/index.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { roleKeys, MANIFEST_SIGNER_ROLE, type TrustRoot } from '../trust/root.ts';
import { pae, requirePayloadType, verifyEnvelope, type DsseEnvelope, type EnvelopeKeys } from './dsse.ts';
import { INTOTO_PAYLOAD_TYPE, parseStatement, type Statement } from './statement.ts';

/** keysFromRoot trusts the root's manifest-signer ("targets") role: its keys, threshold and revocations. */
export function keysFromRoot(root: TrustRoot): EnvelopeKeys {
  return { authorized: roleKeys(root, MANIFEST_SIGNER_ROLE), threshold: root.roles[MANIFEST_SIGNER_ROLE].threshold, revoked: root.revoked };
}

/** VerifiedAttestation is a statement a threshold of trusted keys signed. */
export interface VerifiedAttestation {
  statement: Statement;
  /** signers are the TUF key ids of the distinct trusted keys whose signatures counted. */
  signers: string[];
  /** envelopeDigest is the sha256 hex of the PAE bytes (what was signed), for reports and log entries. */
  signedDigest: string;
}

/** verifyAttestation verifies the envelope (ERR_DSSE_*), then parses its payload as a statement (ERR_INTOTO_*). */
export function verifyAttestation(env: DsseEnvelope, keys: EnvelopeKeys, now: Date = new Date()): VerifiedAttestation {
  const v = verifyEnvelope(env, { keys, payloadType: INTOTO_PAYLOAD_TYPE, now });
  return attestationFromVerified(v.payloadType, v.payload, v.result.valid);
}

/**
 * attestationFromVerified is the attestation an envelope's verified signatures establish: it refuses a payloadType
 * other than in-toto's (ERR_DSSE_PAYLOAD_TYPE), then parses exactly the signed payload bytes as the statement
 * (ERR_INTOTO_*). The one path for every signature scheme: Ed25519 thresholds ({@link verifyAttestation}) and a
 * P-256 key (attest/sigstore-verify). `signers` name the keys whose signatures verified.
 */
export function attestationFromVerified(payloadType: string, payload: Uint8Array, signers: string[]): VerifiedAttestation {
  requirePayloadType(payloadType, INTOTO_PAYLOAD_TYPE);
  const statement = parseStatement(payload);
  // signedDigest is for reports and log entries; computed on first use, not on every verification.
  let signedDigest: string | undefined;
  return {
    statement,
    signers,
    get signedDigest(): string {
      return (signedDigest ??= encodeHex(sha256(pae(payloadType, payload))));
    },
  };
}

/**
 * server/signing/keyless — keyless signing on POST /v1/sign and its verification on POST /v1/verify (issue 11), in
 * the manner of Sigstore (Fulcio certificate + Rekor entry), on the daemon's own CA (auth/keyless-ca) and log.
 *
 * Signing, for an OIDC caller (auth/bearer): a fresh Ed25519 key is made for this one request, the CA certifies it
 * for 10 minutes with the caller's identity and issuer, the statement is signed with it, and the key is dropped.
 * The log entry binds the certificate itself (this UTF-8 text, byte for byte, five lines each ending in "\n"):
 * ```
 * custody.dsse-keyless/v1
 * pae sha256:<64 hex of SHA-256(DSSE PAE(payloadType, payload))>
 * keyid <the signature's keyid>
 * sig <standard base64 of the signature>
 * cert <standard base64 of the certificate's DER>
 * ```
 * so the entry id (RFC 6962 leaf hash, lowercase hex) commits to envelope, signature and certificate together; a
 * monitor of the log sees every certificate the CA issued for a signature.
 *
 * Verifying a certificate-bearing request: the certificate must chain to our CA (ERR_KEYLESS_CERT_UNTRUSTED), its
 * key must have signed the envelope (ERR_DSSE_THRESHOLD_UNMET), the statement must name the artifact, the entry
 * recomputed from envelope and certificate must be in the log (ERR_SIGNAPI_NOT_LOGGED: the logged time is the only
 * trustworthy signing time), the certificate must have been valid at that time — not now
 * (ERR_KEYLESS_CERT_EXPIRED) — and identity and issuer must satisfy the caller's constraints, exact or regexp
 * (ERR_KEYLESS_IDENTITY_MISMATCH / ERR_KEYLESS_ISSUER_MISMATCH).
 *
 * Trust boundary: envelope, certificate and constraints come from the verify caller; the CA, the log and the store's
 * records are ours.
 */
import type { FastifyInstance } from 'fastify';
import { keysFromPublicKeys, pae, type DsseEnvelope, type DsseSignature } from '../../attest/dsse.ts';
import { requireSubject } from '../../attest/statement.ts';
import { verifyAttestation, type VerifiedAttestation } from '../../attest/verify.ts';
import type { Principal } from '../../auth/auth.ts';
import { checkIdentity, parseCertificatePem, type IdentityConstraints, type KeylessCa, type KeylessCertificate, type KeylessVerifier } from '../../auth/keyless-ca.ts';
import type { AuthStore, SignatureRecord } from '../../auth/store.ts';
import { PrivateKey, sha256, type Signer } from '../../crypto/index.ts';
import { encodeBase64, encodeHex } from '../../encoding/bytes.ts';
import { IoError, PolicyError, VerificationError } from '../../errors.ts';
import { entryIdOf } from './entry.ts';
import type { KeylessVerifyFields } from './verify-request.ts';

export const KEYLESS_ENTRY_HEADER = 'custody.dsse-keyless/v1';

/** keylessEntry returns the exact log entry bytes of a keyless signature (module comment). */
export function keylessEntry(env: Pick<DsseEnvelope, 'payloadType' | 'payload'>, sig: DsseSignature, certDer: Uint8Array): Uint8Array {
  const digest = encodeHex(sha256(pae(env.payloadType, env.payload)));
  return new TextEncoder().encode(`${KEYLESS_ENTRY_HEADER}\npae sha256:${digest}\nkeyid ${sig.keyid}\nsig ${encodeBase64(sig.sig)}\ncert ${encodeBase64(certDer)}\n`);
}

/** certificateDerOf returns the DER of a stored certificate PEM (for recomputing its log entry). */
export function certificateDerOf(pem: string): Uint8Array {
  return parseCertificatePem(pem).cert.der;
}

/** KeylessSigning is the one-request key and its certificate. */
export interface KeylessSigning {
  signer: Signer;
  certificate: KeylessCertificate;
}

/** beginKeyless makes the ephemeral key of one OIDC caller's request and has the CA certify it. */
export async function beginKeyless(ca: KeylessCa, p: Principal, now: Date): Promise<KeylessSigning> {
  const id = p.oidc;
  if (id === undefined) throw new Error('beginKeyless: not an OIDC caller');
  if (id.identityKind === 'subject') {
    // A certificate names its subject as an email address or a URI (Fulcio's SAN types); a bare subject is neither.
    throw new PolicyError('ERR_OIDC_CLAIMS', `the subject ${JSON.stringify(id.identity.slice(0, 200))} is neither an email address nor a URI, so no certificate can name it; configure the issuer with --oidc-identity-claim email`);
  }
  const key = PrivateKey.generate();
  const certificate = await ca.issue({ publicKey: key.publicKey, identity: id.identity, identityKind: id.identityKind, issuer: id.issuer, now });
  return { signer: key, certificate };
}

/** KeylessVerified is what a certificate-bearing verification established. */
export interface KeylessVerified {
  attestation: VerifiedAttestation;
  certificate: KeylessCertificate;
  record: SignatureRecord;
  entry: Uint8Array;
}

/**
 * verifyKeyless verifies an envelope with a keyless certificate (module comment, in that order). `identity` is
 * Certus's field: when no certificate_identity is given it is the exact identity required.
 */
export async function verifyKeyless(o: {
  store: AuthStore;
  trust: KeylessVerifier | undefined;
  env: DsseEnvelope;
  certificatePem: string;
  artifactHex: string;
  fields: KeylessVerifyFields & { identity?: string | null | undefined };
  now: Date;
}): Promise<KeylessVerified> {
  const constraints: IdentityConstraints = {
    identity: o.fields.certificate_identity ?? o.fields.identity ?? undefined,
    identityRegexp: o.fields.certificate_identity_regexp,
    issuer: o.fields.certificate_oidc_issuer,
    issuerRegexp: o.fields.certificate_oidc_issuer_regexp,
  };
  if (o.trust === undefined) {
    parseCertificatePem(o.certificatePem);
    throw new VerificationError('ERR_KEYLESS_CERT_UNTRUSTED', 'this daemon has no keyless CA (no --oidc-issuer), so no certificate is trusted');
  }
  const cert = await o.trust.verify(o.certificatePem);
  const attestation = verifyAttestation(o.env, keysFromPublicKeys([cert.publicKey]), o.now);
  requireSubject(attestation.statement, o.artifactHex);
  let found: { record: SignatureRecord; entry: Uint8Array } | undefined;
  for (const s of o.env.signatures) {
    const entry = keylessEntry(o.env, s, cert.der);
    const record = await o.store.getSignature(entryIdOf(entry));
    if (record !== undefined) {
      found = { record, entry };
      break;
    }
  }
  if (found === undefined) throw new VerificationError('ERR_SIGNAPI_NOT_LOGGED', 'no signature of this envelope with this certificate is in the transparency log');
  const loggedAt = new Date(found.record.createdAt);
  if (loggedAt < cert.notBefore || loggedAt > cert.notAfter) {
    throw new PolicyError('ERR_KEYLESS_CERT_EXPIRED', `the certificate was valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()}, not at ${loggedAt.toISOString()} when the signature was logged`);
  }
  checkIdentity(cert, constraints);
  return { attestation, certificate: cert, ...found };
}

/** keylessRoutes registers GET /keys/keyless-ca.pem (under the plugin's /v1 prefix): the CA certificate, 404 without one. */
export function keylessRoutes(app: FastifyInstance, ca: KeylessCa | undefined): void {
  app.get('/keys/keyless-ca.pem', (_req, reply) => {
    if (ca === undefined) throw new IoError('ERR_SIGNAPI_NOT_FOUND', 'this daemon has no keyless CA (start it with --oidc-issuer)');
    return reply.type('application/x-pem-file').send(ca.certificatePem);
  });
}

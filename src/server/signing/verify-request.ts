/**
 * server/signing/verify-request — what POST /v1/verify computes (issue 11, Certus-Trust `/v1/verify` field names,
 * ../shared/reference/seed-systems.md §2), apart from HTTP: one function shared by the daemon's fastify route
 * (server/signing/plugin) and a cluster worker's own answer (server/signing/worker-verify), so both give the same
 * answer for the same body.
 *
 * A verification verifies: DSSE envelope signatures under the trust root's manifest-signer keys (or the caller's
 * `public_key`), the in-toto statement naming the artifact, the signer recorded in the statement when `identity` is
 * given, and the log record of the envelope's signature (looked up in the auth store by the recomputed entry id).
 * A keyless certificate (server/signing/keyless, loaded on the first one) and `require_inclusion` (an RFC 6962
 * proof from the log) need the daemon's CA and log: {@link needsLog} tells a worker to leave those to the leader.
 *
 * Trust boundary: the body is attacker-controlled (schema-checked before this is called); the keys, the store's
 * records and the log are trusted.
 */
import { envelopeFromJson, keysFromPublicKeys, parseEnvelope, type DsseEnvelope, type EnvelopeKeys } from '../../attest/dsse.ts';
import { requireSubject } from '../../attest/statement.ts';
import { verifyAttestation } from '../../attest/verify.ts';
import type { KeylessCa } from '../../auth/keyless-ca.ts';
import type { AuthStore, SignatureRecord } from '../../auth/store.ts';
import { randomUuid } from '../../crypto/uuid.ts';
import type { JsonObject, JsonValue } from '../../encoding/json.ts';
import { FormatError, PolicyError, VerificationError, type TrustError } from '../../errors.ts';
import { parsePublicKey } from '../../keys/key-file.ts';
import { entryIdOf, signatureEntry } from './entry.ts';

/** KEYLESS_VERIFY_PROPERTIES are the JSON-schema properties /v1/verify takes for certificate constraints. */
export const KEYLESS_VERIFY_PROPERTIES = {
  certificate_identity: { type: 'string', minLength: 1, maxLength: 1024 },
  certificate_identity_regexp: { type: 'string', minLength: 1, maxLength: 256 },
  certificate_oidc_issuer: { type: 'string', minLength: 1, maxLength: 1024 },
  certificate_oidc_issuer_regexp: { type: 'string', minLength: 1, maxLength: 256 },
} as const satisfies Record<keyof KeylessVerifyFields, object>;

/** KeylessVerifyFields are the request fields of {@link KEYLESS_VERIFY_PROPERTIES}. */
export interface KeylessVerifyFields {
  certificate_identity?: string;
  certificate_identity_regexp?: string;
  certificate_oidc_issuer?: string;
  certificate_oidc_issuer_regexp?: string;
}

/** VERIFY_BODY_MAX_BYTES caps a verify request (an envelope with its statement). */
export const VERIFY_BODY_MAX_BYTES = 1024 * 1024;

/** REQUEST_ID_RE: a caller's X-Request-ID is kept when it is 1–128 of [A-Za-z0-9._:-]. */
export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** newRequestId is a fresh random (version 4) UUID for a request without a well-formed X-Request-ID. */
export function newRequestId(): string {
  return randomUuid();
}

/** requestIdFor keeps a well-formed X-Request-ID of the caller, else makes one. */
export function requestIdFor(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID_RE.test(given) ? given : newRequestId();
}

/** VERIFY_BODY_SCHEMA is the JSON schema of a POST /v1/verify body (validated by fastify, or by the worker's ajv). */
export const VERIFY_BODY_SCHEMA = {
  type: 'object',
  required: ['artifact'],
  additionalProperties: false,
  properties: {
    artifact: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' },
    signature: { type: 'string', maxLength: VERIFY_BODY_MAX_BYTES },
    envelope: { type: 'object' },
    certificate: { type: ['string', 'null'], maxLength: 65_536 },
    identity: { type: ['string', 'null'], maxLength: 1024 },
    public_key: { type: ['string', 'null'], maxLength: 4096 },
    require_inclusion: { type: 'boolean' },
    ...KEYLESS_VERIFY_PROPERTIES,
  },
} as const;

/** VerifyBody is a schema-checked POST /v1/verify body. */
export type VerifyBody = {
  artifact: string;
  signature?: string;
  envelope?: JsonValue;
  certificate?: string | null;
  identity?: string | null;
  public_key?: string | null;
  require_inclusion?: boolean;
} & KeylessVerifyFields;

/** VerifyContext is what a verification reads: the store, the trust root's keys, and (leader only) the CA and the log. */
export interface VerifyContext {
  store: AuthStore;
  rootKeys: EnvelopeKeys;
  /** keyless is the daemon's keyless CA (certificate-bearing requests). */
  keyless?: KeylessCa | undefined;
  /** proofOf is the RFC 6962 inclusion proof of a log index (require_inclusion); only the log's process has it. */
  proofOf?: ((index: number, entry: Uint8Array) => Promise<JsonObject>) | undefined;
}

/** needsLog tells whether a body needs the daemon's log or CA: a keyless certificate, or `require_inclusion`. */
export function needsLog(b: VerifyBody): boolean {
  return b.require_inclusion === true || (b.certificate !== undefined && b.certificate !== null);
}

/**
 * verifyRequest verifies a POST /v1/verify body and returns the `valid: true` answer, or throws the coded reason
 * (answered as `valid: false` by the callers when its status is below 500).
 */
export async function verifyRequest(c: VerifyContext, b: VerifyBody, verifiedAt: Date): Promise<JsonObject> {
  let env: DsseEnvelope;
  if (b.signature !== undefined) env = parseEnvelope(b.signature);
  else if (b.envelope !== undefined) env = envelopeFromJson(b.envelope);
  else throw new FormatError('ERR_SIGNAPI_REQUEST', 'expected "signature" (the envelope JSON /v1/sign answered) or "envelope"');
  const proofOf = (index: number, entry: Uint8Array): Promise<JsonObject> => {
    // A worker hands such requests to the leader (needsLog): reaching this without the log is a bug.
    if (c.proofOf === undefined) throw new Error('verify-request: require_inclusion needs the log (needsLog)');
    return c.proofOf(index, entry);
  };
  if (b.certificate !== undefined && b.certificate !== null) {
    // Keyless (server/signing/keyless): certificate chain, logged time, identity and issuer constraints.
    // The keyless code (and its X.509 and ASN.1 libraries) loads here, on the first certificate: a cluster worker,
    // which leaves such requests to the leader (needsLog), never loads it.
    const { verifyKeyless } = await import('./keyless.ts');
    const k = await verifyKeyless({ store: c.store, trust: c.keyless?.verifier, env, certificatePem: b.certificate, artifactHex: b.artifact.slice('sha256:'.length), fields: b, now: verifiedAt });
    return {
      valid: true,
      verified_at: verifiedAt.toISOString(),
      signer: k.certificate.identity,
      key_ids: k.attestation.signers,
      transparency_index: k.record.logIndex,
      entry_id: k.record.entryId,
      certificate_chain: [k.certificate.pem, c.keyless!.certificatePem],
      certificate: { identity: k.certificate.identity, oidc_issuer: k.certificate.issuer, not_before: k.certificate.notBefore.toISOString(), not_after: k.certificate.notAfter.toISOString(), serial: k.certificate.serial, logged_at: new Date(k.record.createdAt).toISOString() },
      ...(b.require_inclusion === true ? { proof: await proofOf(k.record.logIndex, k.entry) } : {}),
    };
  }
  // Certificate constraints on a key-signed signature would be ignored, and "valid" read as "signed by that
  // identity": a key has no certificate identity or issuer to check, so the request is refused instead.
  const constrained = (Object.keys(KEYLESS_VERIFY_PROPERTIES) as (keyof KeylessVerifyFields)[]).filter((f) => b[f] !== undefined);
  if (constrained.length > 0) {
    throw new PolicyError('ERR_KEYLESS_NO_CERTIFICATE', `${constrained.join(', ')} given, but the request holds no certificate: a key-signed signature has no certificate identity or issuer to check`);
  }
  const keys = b.public_key === undefined || b.public_key === null ? c.rootKeys : keysFromPublicKeys([parsePublicKey(b.public_key)]);
  const v = verifyAttestation(env, keys, verifiedAt);
  requireSubject(v.statement, b.artifact.slice('sha256:'.length));
  const signer = typeof v.statement.predicate['signer'] === 'string' ? v.statement.predicate['signer'] : null;
  if (b.identity !== undefined && b.identity !== null && signer !== b.identity) {
    throw new PolicyError('ERR_SIGNAPI_IDENTITY_MISMATCH', `the statement was signed for "${signer ?? '(none)'}", expected "${b.identity.slice(0, 200)}"`);
  }
  // The log entry is recomputed from the verified envelope: each signature's entry is looked up.
  let logged: { rec: SignatureRecord; entry: Uint8Array } | undefined;
  for (const s of env.signatures) {
    const entry = signatureEntry(env, s);
    const rec = await c.store.getSignature(entryIdOf(entry));
    if (rec !== undefined) {
      logged = { rec, entry };
      break;
    }
  }
  let proof: JsonObject | undefined;
  if (b.require_inclusion === true) {
    if (logged === undefined) throw new VerificationError('ERR_SIGNAPI_NOT_LOGGED', 'no signature of this envelope is in the transparency log');
    proof = await proofOf(logged.rec.logIndex, logged.entry);
  }
  return {
    valid: true,
    verified_at: verifiedAt.toISOString(),
    signer,
    key_ids: v.signers,
    transparency_index: logged?.rec.logIndex ?? null,
    entry_id: logged?.rec.entryId ?? null,
    certificate_chain: null,
    ...(proof === undefined ? {} : { proof }),
  };
}

/** verifyRefusal is the `valid: false` answer for a coded reason. */
export function verifyRefusal(e: TrustError, verifiedAt: Date): JsonObject {
  return { valid: false, verified_at: verifiedAt.toISOString(), signer: null, code: e.code, reason: e.message };
}

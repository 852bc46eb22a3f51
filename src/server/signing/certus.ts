/**
 * server/signing/certus — the Certus chain-of-custody, gatekeeper and provenance routes of the signing API (issue 11;
 * request and response field names of Certus-Trust and Certus-Transform, ../shared/reference/seed-systems.md §2),
 * registered by server/signing/plugin under `/v1`, every answer computed:
 * ```
 * POST /v1/sign-artifact               scope sign    inner (scanner) signatures verified, outer signature ours, logged
 * POST /v1/verify-chain                scope verify  every field recomputed from the signatures, the log and the store
 * POST /v1/verify-and-permit-upload    scope permit  inner signature + upload policy → signed, expiring, single-use permission
 * POST /v1/execute-upload              scope upload  permission verified and spent once, bytes checked, artifacts stored
 * GET  /v1/stats                                    counts from the store and the log
 * GET  /v1/provenance/{scan_id}                     the scan's recorded events
 * GET  /v1/keys/{role}.json                         root.json (plugin); other roles 404 ERR_CERTUS_UNKNOWN_ROLE
 * ```
 * Inner signatures: server/signing/scan (registered identities with the `scan` scope; the caller's `verified` flags
 * are never read). Permissions: server/signing/permission (DSSE under the daemon's key) + auth/certus-store (single
 * use). Policy: server/signing/upload-policy. Storage: server/signing/artifact-store.
 *
 * A refused request stores and logs nothing: every check runs before the first write, the refusal is one audit event
 * (the plugin's error handler, or {@link deny} for the gatekeeper's Certus-shaped denial). The store records a
 * provenance event and bumps a counter only for an accepted request.
 *
 * Trust boundary: bodies and parameters are attacker-controlled; the auth store, the policy file and the daemon's
 * key are trusted.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../../auth/auth.ts';
import type { CertusStore, ScanEvent } from '../../auth/certus-store.ts';
import type { AuthStore, Scope, SignatureRecord } from '../../auth/store.ts';
import { envelopeToJson, formatEnvelope, parseEnvelope, signEnvelope, type EnvelopeKeys } from '../../attest/dsse.ts';
import { INTOTO_PAYLOAD_TYPE, encodeStatement } from '../../attest/statement.ts';
import { verifyAttestation } from '../../attest/verify.ts';
import { constantTimeEqual, randomBytes, sha256, type Signer } from '../../crypto/index.ts';
import { decodeBase64, decodeHex, encodeHex } from '../../encoding/bytes.ts';
import type { JsonObject, JsonValue } from '../../encoding/json.ts';
import { FormatError, IoError, PolicyError, VerificationError, isTrustError, type TrustError } from '../../errors.ts';
import { tufKeyId } from '../../keys/key-id.ts';
import type { LogService } from '../log/service.ts';
import type { ArtifactStore, StoredArtifact } from './artifact-store.ts';
import { entryIdOf, signatureEntry } from './entry.ts';
import { signPermission, verifyPermission } from './permission.ts';
import { checkInnerSignature, parseTimestamp, requireAlgorithm, scanFileMessage, scanMessage, scannerIdentity } from './scan.ts';
import { DESTINATIONS, UPLOAD_ARTIFACT_TYPES, evaluateUploadPolicy, type Destination, type UploadPolicy } from './upload-policy.ts';

/** CERTUS_CHAIN_PREDICATE is the predicateType of the outer statements POST /v1/sign-artifact signs. */
export const CERTUS_CHAIN_PREDICATE = 'https://custody.dev/signing-api/sign-artifact/v1';
/** CHAIN_BODY_MAX_BYTES caps sign-artifact and verify-chain requests (up to 1,024 files with their signatures). */
export const CHAIN_BODY_MAX_BYTES = 1024 * 1024;
/** PERMIT_BODY_MAX_BYTES caps a gatekeeper request. */
export const PERMIT_BODY_MAX_BYTES = 512 * 1024;
/** UPLOAD_BODY_MAX_BYTES is the default cap of an execute-upload request (contents base64 inside JSON). */
export const UPLOAD_BODY_MAX_BYTES = 16 * 1024 * 1024;
/** SCAN_FILES_MAX caps the files of one scan and the artifacts of one permission. */
export const SCAN_FILES_MAX = 1024;
/** PROVENANCE_EVENTS_MAX caps the events GET /v1/provenance answers. */
export const PROVENANCE_EVENTS_MAX = 1000;

const DIGEST = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } as const;
/** ID: scan ids, signer names, artifact names — no "/", no control characters, no spaces. */
const ID = { type: 'string', pattern: '^[A-Za-z0-9._@+-]{1,128}$' } as const;
const PATH = { type: 'string', pattern: '^[^\\u0000-\\u001f\\u007f]{1,1024}$' } as const;
const TEXT = (n: number): Record<string, unknown> => ({ type: 'string', maxLength: n, pattern: '^[^\\u0000-\\u001f\\u007f]*$' });
const SIG = { type: 'string', minLength: 1, maxLength: 200 } as const;
const UUID_RE = '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$';

const LOCATIONS_SCHEMA = {
  type: 'object',
  minProperties: 1,
  maxProperties: 8,
  propertyNames: { pattern: '^[a-z][a-z0-9_]{0,31}$' },
  additionalProperties: {
    type: 'object',
    required: ['uri'],
    additionalProperties: false,
    properties: { uri: TEXT(2048), digest: { anyOf: [DIGEST, { type: 'null' }] }, verified_at: { type: ['string', 'null'], maxLength: 64 } },
  },
} as const;

const INNER_SCHEMA = {
  type: 'object',
  required: ['signer', 'timestamp', 'signature', 'files'],
  additionalProperties: false,
  properties: {
    signer: ID,
    timestamp: { type: 'string', maxLength: 64 },
    signature: SIG,
    algorithm: { type: ['string', 'null'], maxLength: 40 },
    files: {
      type: 'array',
      minItems: 1,
      maxItems: SCAN_FILES_MAX,
      items: {
        type: 'object',
        required: ['path', 'signature', 'digest'],
        additionalProperties: false,
        properties: { path: PATH, signature: SIG, digest: DIGEST, verified: { type: 'boolean' } },
      },
    },
  },
} as const;

const ASSESSMENT_SCHEMA = {
  type: 'object',
  required: ['assessment_id'],
  additionalProperties: false,
  properties: {
    assessment_id: ID,
    client_id: { type: ['string', 'null'], maxLength: 256 },
    assessment_type: { type: ['string', 'null'], maxLength: 128 },
    domains: { type: 'array', maxItems: 64, items: { type: 'string', maxLength: 256 } },
  },
} as const;

const OUTER_SCHEMA = {
  type: 'object',
  required: ['signature'],
  additionalProperties: false,
  properties: {
    signature: { type: 'string', maxLength: 256 * 1024 },
    signer: { type: ['string', 'null'], maxLength: 256 },
    key_id: { type: ['string', 'null'], maxLength: 128 },
    timestamp: { type: ['string', 'null'], maxLength: 64 },
    sigstore_entry_id: { type: ['string', 'null'], maxLength: 64 },
    transparency_log_url: { type: ['string', 'null'], maxLength: 2048 },
  },
} as const;

/** SIGN_ARTIFACT_SCHEMA is the body of POST /v1/sign-artifact. */
export const SIGN_ARTIFACT_SCHEMA = {
  type: 'object',
  required: ['artifact_locations', 'inner_signatures', 'assessment_metadata'],
  additionalProperties: false,
  properties: { artifact_locations: LOCATIONS_SCHEMA, inner_signatures: INNER_SCHEMA, assessment_metadata: ASSESSMENT_SCHEMA },
} as const;

/** VERIFY_CHAIN_SCHEMA is the body of POST /v1/verify-chain. */
export const VERIFY_CHAIN_SCHEMA = {
  type: 'object',
  required: ['artifact_locations', 'signatures'],
  additionalProperties: false,
  properties: {
    artifact_locations: LOCATIONS_SCHEMA,
    signatures: { type: 'object', required: ['inner', 'outer'], additionalProperties: false, properties: { inner: INNER_SCHEMA, outer: OUTER_SCHEMA } },
    sigstore_entry_id: { type: ['string', 'null'], maxLength: 64 },
    assessment_id: ID,
  },
} as const;

const ARTIFACT_SCHEMA = {
  type: 'object',
  required: ['name', 'hash', 'size'],
  additionalProperties: false,
  properties: { name: ID, hash: DIGEST, size: { type: 'integer', minimum: 0, maximum: 2 ** 40 }, type: { enum: [...UPLOAD_ARTIFACT_TYPES] } },
} as const;

/** PERMIT_SCHEMA is the body of POST /v1/verify-and-permit-upload (Certus UploadRequestModel). */
export const PERMIT_SCHEMA = {
  type: 'object',
  required: ['scan_id', 'tier', 'inner_signature', 'artifacts'],
  additionalProperties: false,
  properties: {
    scan_id: ID,
    tier: { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,31}$' },
    inner_signature: {
      type: 'object',
      required: ['signer', 'timestamp', 'signature'],
      additionalProperties: false,
      properties: { signer: ID, timestamp: { type: 'string', maxLength: 64 }, signature: SIG, algorithm: { type: ['string', 'null'], maxLength: 40 }, certificate: { type: 'null' } },
    },
    artifacts: { type: 'array', minItems: 1, maxItems: SCAN_FILES_MAX, items: ARTIFACT_SCHEMA },
    metadata: {
      type: 'object',
      additionalProperties: false,
      properties: { git_url: TEXT(2048), branch: TEXT(256), commit: { type: 'string', pattern: '^[0-9a-f]{7,64}$' }, requested_by: { type: ['string', 'null'], maxLength: 256 } },
    },
    storage_destinations: { type: 'object', additionalProperties: false, properties: { raw_s3: { type: 'boolean' }, oci_registry: { type: 'boolean' } } },
  },
} as const;

/** EXECUTE_UPLOAD_SCHEMA is the body of POST /v1/execute-upload (Certus-Transform ExecuteUploadRequestModel + bytes). */
export const EXECUTE_UPLOAD_SCHEMA = {
  type: 'object',
  required: ['upload_permission_id', 'scan_id', 'permission', 'artifacts'],
  additionalProperties: false,
  properties: {
    upload_permission_id: { type: 'string', pattern: UUID_RE },
    scan_id: ID,
    tier: { type: 'string', maxLength: 32 },
    permission: { type: 'string', maxLength: 256 * 1024 },
    artifacts: {
      type: 'array',
      minItems: 1,
      maxItems: SCAN_FILES_MAX,
      items: { ...ARTIFACT_SCHEMA, required: ['name', 'hash', 'size', 'content'], properties: { ...ARTIFACT_SCHEMA.properties, content: { type: 'string' } } },
    },
    metadata: { type: 'object', maxProperties: 16 },
    verification_proof: { type: ['object', 'null'], maxProperties: 32 },
    storage_config: { type: ['object', 'null'], maxProperties: 16 },
  },
} as const;

/** CertusOptions configure the Certus routes (server/daemon opens the store and the artifact store). */
export interface CertusOptions {
  store: CertusStore;
  artifacts: ArtifactStore;
  policy: UploadPolicy;
  /** uploadBodyMaxBytes caps POST /v1/execute-upload (default {@link UPLOAD_BODY_MAX_BYTES}). */
  uploadBodyMaxBytes?: number | undefined;
}

/** CertusContext is what the signing API plugin shares with these routes. */
export interface CertusContext {
  auth: AuthStore;
  service: LogService;
  signer: Signer;
  rootKeys: EnvelopeKeys;
  origin: string;
  guard: (scope: Scope) => (req: FastifyRequest) => Promise<void>;
  principal: (req: FastifyRequest) => Principal | undefined;
  audit: (event: string, req: FastifyRequest, reply: FastifyReply, fields: JsonObject) => void;
  limitIp: (req: FastifyRequest, reply: FastifyReply, done: (e?: Error) => void) => void;
  proofOf: (index: number, entry: Uint8Array) => Promise<JsonObject>;
  now: () => Date;
  certus: CertusOptions;
}

/** certusBodyCap is the body cap of a Certus route path (for the cluster leader's 100-continue decision), else undefined. */
export function certusBodyCap(path: string, uploadCap = UPLOAD_BODY_MAX_BYTES): number | undefined {
  if (path === '/v1/sign-artifact' || path === '/v1/verify-chain') return CHAIN_BODY_MAX_BYTES;
  if (path === '/v1/verify-and-permit-upload') return PERMIT_BODY_MAX_BYTES;
  if (path === '/v1/execute-upload') return uploadCap;
  return undefined;
}

/** certusScopeOf is the scope a Certus route path needs, else undefined. */
export function certusScopeOf(path: string): Scope | undefined {
  return { '/v1/sign-artifact': 'sign', '/v1/verify-chain': 'verify', '/v1/verify-and-permit-upload': 'permit', '/v1/execute-upload': 'upload' }[path] as Scope | undefined;
}

function uuid(): string {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = encodeHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

interface InnerBody {
  signer: string;
  timestamp: string;
  signature: string;
  algorithm?: string | null;
  files: Array<{ path: string; signature: string; digest: string; verified?: boolean }>;
}
type Locations = Record<string, { uri: string; digest?: string | null; verified_at?: string | null }>;

/**
 * verifyInner checks a sign-artifact inner signature: the scanner is registered, every file signature and the scan
 * signature verify. Throws the scan module's coded errors.
 */
async function verifyInner(auth: AuthStore, scanId: string, inner: InnerBody): Promise<void> {
  requireAlgorithm(inner.algorithm);
  parseTimestamp(inner.timestamp, 'inner_signatures.timestamp');
  const id = await scannerIdentity(auth, inner.signer);
  const artifacts = inner.files.map((f) => ({ name: f.path, digest: f.digest }));
  const message = scanMessage({ scanId, signer: inner.signer, timestamp: inner.timestamp, artifacts });
  for (const f of inner.files) {
    checkInnerSignature(id, scanFileMessage({ scanId, signer: inner.signer, path: f.path, digest: f.digest }), f.signature, `the signature of file "${f.path.slice(0, 100)}"`);
  }
  checkInnerSignature(id, message, inner.signature, 'the scan signature');
}

/** locationDigest returns the one digest every location names, or throws ERR_CERTUS_DIGEST_MISMATCH. */
function locationDigest(locations: Locations): string {
  const digests = new Set(Object.values(locations).map((l) => l.digest ?? null));
  if (digests.has(null)) throw new FormatError('ERR_SIGNAPI_REQUEST', 'every artifact location needs its "digest" (sha256:…)');
  if (digests.size !== 1) throw new VerificationError('ERR_CERTUS_DIGEST_MISMATCH', `the artifact locations name ${digests.size} different digests`);
  return [...digests][0]!;
}

/** registerCertusRoutes adds the routes of the module comment to the signing API plugin's instance. */
export function registerCertusRoutes(app: FastifyInstance, c: CertusContext): void {
  const o = c.certus;
  const keyId = tufKeyId(c.signer.publicKey);
  const record = async (e: Omit<ScanEvent, 'at'> & { at?: number }, counter: string): Promise<void> => {
    await o.store.addEvent({ ...e, at: e.at ?? c.now().getTime() });
    await o.store.bump(counter);
  };
  const callerName = (req: FastifyRequest): string => {
    const p = c.principal(req);
    return p === undefined ? 'anonymous' : (p.identity ?? p.name);
  };
  const pre = (scope: Scope) => async (req: FastifyRequest, _reply: FastifyReply, payload: unknown) => {
    await c.guard(scope)(req);
    return payload;
  };

  // --- sign-artifact: inner verified, outer ours, logged ---
  app.post(
    '/sign-artifact',
    { bodyLimit: CHAIN_BODY_MAX_BYTES, onRequest: c.limitIp, preParsing: pre('sign'), schema: { body: SIGN_ARTIFACT_SCHEMA } },
    async (req, reply) => {
      const b = req.body as { artifact_locations: Locations; inner_signatures: InnerBody; assessment_metadata: { assessment_id: string } & JsonObject };
      const scanId = b.assessment_metadata.assessment_id;
      const digest = locationDigest(b.artifact_locations);
      await verifyInner(c.auth, scanId, b.inner_signatures);
      const signedAt = c.now();
      const inner = b.inner_signatures;
      const payload = encodeStatement({
        subject: inner.files.map((f) => ({ name: f.path, digest: { sha256: f.digest.slice(7) } })),
        predicateType: CERTUS_CHAIN_PREDICATE,
        predicate: {
          assessment: b.assessment_metadata,
          artifact_digest: digest,
          artifact_locations: Object.fromEntries(Object.entries(b.artifact_locations).map(([k, l]) => [k, { uri: l.uri, digest: l.digest ?? null }])),
          inner: { signer: inner.signer, timestamp: inner.timestamp, signature: inner.signature, algorithm: 'Ed25519' },
          signer: callerName(req),
          signed_at: signedAt.toISOString(),
        },
      });
      const env = signEnvelope(INTOTO_PAYLOAD_TYPE, payload, [c.signer]);
      const entry = signatureEntry(env, env.signatures[0]!);
      const entryId = entryIdOf(entry);
      const added = await c.service.add(entry);
      const envelope = formatEnvelope(env);
      const p = c.principal(req)!;
      await c.auth.insertSignature({
        entryId,
        logIndex: added.index,
        signer: callerName(req),
        callerId: p.tokenId,
        artifact: digest,
        artifactType: 'assessment',
        createdAt: signedAt.getTime(),
        envelope,
      });
      await record(
        { scanId, kind: 'signed', actor: keyId, result: 'pass', details: { entry_id: entryId, log_index: added.index, inner_signer: inner.signer, inner_timestamp: inner.timestamp, files: inner.files.length, artifact_digest: digest, assessment_type: (b.assessment_metadata['assessment_type'] as JsonValue) ?? null, signed_at: signedAt.toISOString() } },
        'artifacts_signed',
      );
      c.audit('signapi.artifact_signed', req, reply, { scan_id: scanId, entry_id: entryId, log_index: added.index, inner_signer: inner.signer, files: inner.files.length });
      const locs = Object.values(b.artifact_locations);
      return reply.code(202).send({
        status: 'signed',
        assessment_id: scanId,
        outer_signature: {
          signer: c.origin,
          key_id: keyId,
          timestamp: signedAt.toISOString(),
          signature: envelope,
          sigstore_entry_id: entryId,
          transparency_log_url: `/v1/transparency/${entryId}`,
        },
        verification_proof: {
          inner_signatures_verified: true,
          artifact_locations_valid: true,
          chain_of_custody: true,
          both_locations_identical: locs.length >= 2,
        },
        transparency_entry: { uuid: entryId, index: added.index, timestamp: signedAt.toISOString() },
        envelope: envelopeToJson(env),
      });
    },
  );

  // --- verify-chain: every field recomputed ---
  app.post(
    '/verify-chain',
    { bodyLimit: CHAIN_BODY_MAX_BYTES, onRequest: c.limitIp, preParsing: pre('verify'), schema: { body: VERIFY_CHAIN_SCHEMA } },
    async (req, reply) => {
      const b = req.body as {
        artifact_locations: Locations;
        signatures: { inner: InnerBody; outer: { signature: string; sigstore_entry_id?: string | null } };
        sigstore_entry_id?: string | null;
        assessment_id?: string;
      };
      const failures: JsonObject[] = [];
      const fail = (check: string, e: unknown): void => {
        if (isTrustError(e) && e.httpStatus < 500) failures.push({ check, code: e.code, reason: e.message });
        else throw e;
      };
      const verifiedAt = c.now();
      // Outer: our signature over the statement, under the trust root.
      let predicate: JsonObject | undefined;
      let subjects: Array<{ name: string; digest: string }> = [];
      let entry: Uint8Array | undefined;
      let outerValid = false;
      try {
        const env = parseEnvelope(b.signatures.outer.signature);
        const v = verifyAttestation(env, c.rootKeys, verifiedAt);
        if (v.statement.predicateType !== CERTUS_CHAIN_PREDICATE) throw new VerificationError('ERR_CERTUS_CHAIN_BROKEN', `the outer statement has predicate type ${v.statement.predicateType.slice(0, 100)}`);
        predicate = v.statement.predicate;
        subjects = v.statement.subject.map((s) => ({ name: s.name, digest: `sha256:${s.digest['sha256'] ?? ''}` }));
        for (const s of env.signatures) {
          const e = signatureEntry(env, s);
          if ((await c.auth.getSignature(entryIdOf(e))) !== undefined) {
            entry = e;
            break;
          }
        }
        outerValid = true;
      } catch (e) {
        fail('outer_signature', e);
      }
      const assessment = predicate?.['assessment'] as JsonObject | undefined;
      const scanId = b.assessment_id ?? (typeof assessment?.['assessment_id'] === 'string' ? assessment['assessment_id'] : undefined);
      // Inner: the scanner's signatures, for real.
      let innerValid = false;
      try {
        if (scanId === undefined) throw new VerificationError('ERR_CERTUS_CHAIN_BROKEN', 'no assessment id: give "assessment_id" or a valid outer signature');
        await verifyInner(c.auth, scanId, b.signatures.inner);
        innerValid = true;
      } catch (e) {
        fail('inner_signature', e);
      }
      // Chain: the outer statement covers exactly this inner signature and these files, and is in the log.
      let unbroken = false;
      let logged: SignatureRecord | undefined;
      try {
        if (predicate === undefined) throw new VerificationError('ERR_CERTUS_CHAIN_BROKEN', 'the outer signature did not verify');
        const inner = predicate['inner'] as JsonObject | undefined;
        const bi = b.signatures.inner;
        if (inner?.['signer'] !== bi.signer || inner['timestamp'] !== bi.timestamp || inner['signature'] !== bi.signature) {
          throw new VerificationError('ERR_CERTUS_CHAIN_BROKEN', 'the outer statement covers another inner signature');
        }
        const files = new Set(bi.files.map((f) => `${f.digest} ${f.path}`));
        const covered = new Set(subjects.map((s) => `${s.digest} ${s.name}`));
        if (files.size !== covered.size || [...files].some((f) => !covered.has(f))) {
          throw new VerificationError('ERR_CERTUS_CHAIN_BROKEN', `the outer statement covers ${covered.size} files, ${bi.files.length} presented, not the same`);
        }
        if (entry === undefined) throw new VerificationError('ERR_SIGNAPI_NOT_LOGGED', 'the outer signature is not in the transparency log');
        const entryId = entryIdOf(entry);
        const claimed = b.sigstore_entry_id ?? b.signatures.outer.sigstore_entry_id ?? null;
        if (claimed !== null && claimed !== entryId) throw new VerificationError('ERR_CERTUS_CHAIN_BROKEN', 'sigstore_entry_id names another log entry than the outer signature\'s');
        logged = await c.auth.getSignature(entryId);
        if (logged === undefined) throw new VerificationError('ERR_SIGNAPI_NOT_LOGGED', 'the outer signature is not in the transparency log');
        // The inclusion proof is computed and checked against the current checkpoint (proofOf self-checks).
        await c.proofOf(logged.logIndex, entry);
        unbroken = true;
      } catch (e) {
        fail('chain', e);
      }
      // Locations: the presented digests agree with each other and with the signed ones.
      const signedLocs = (predicate?.['artifact_locations'] ?? {}) as Record<string, { digest?: JsonValue }>;
      const signedDigest = typeof predicate?.['artifact_digest'] === 'string' ? predicate['artifact_digest'] : undefined;
      const locs = Object.entries(b.artifact_locations);
      const digestsAgree = locs.every(([, l]) => typeof l.digest === 'string' && l.digest === signedDigest);
      if (!digestsAgree) failures.push({ check: 'artifact_locations', code: 'ERR_CERTUS_DIGEST_MISMATCH', reason: 'a location digest differs from the signed artifact digest' });
      const locValid = (k: string, scheme: RegExp): boolean => {
        const l = b.artifact_locations[k];
        return l !== undefined && scheme.test(l.uri) && l.digest === signedDigest && signedLocs[k]?.digest === l.digest;
      };
      const s3Valid = locValid('s3', /^s3:\/\//);
      const registryValid = locValid('registry', /^(oci:\/\/|[a-z0-9.-]+(:\d+)?\/)/);
      const chainVerified = outerValid && innerValid && unbroken && digestsAgree;
      if (scanId !== undefined && outerValid) {
        await record({ scanId, kind: 'chain-verified', actor: callerName(req), result: chainVerified ? 'pass' : 'fail', details: { failures } }, chainVerified ? 'chains_verified' : 'chains_failed');
      }
      return reply.send({
        chain_verified: chainVerified,
        inner_signature_valid: innerValid,
        outer_signature_valid: outerValid,
        chain_unbroken: unbroken,
        signer_inner: b.signatures.inner.signer,
        signer_outer: outerValid ? c.origin : null,
        sigstore_timestamp: logged === undefined ? null : new Date(logged.createdAt).toISOString(),
        sigstore_entry_id: logged?.entryId ?? null,
        transparency_index: logged?.logIndex ?? null,
        artifact_locations: { s3_valid: s3Valid, registry_valid: registryValid, digests_match: digestsAgree, content_identical: digestsAgree && locs.length >= 2 },
        non_repudiation: {
          assurance_accountable: innerValid,
          trust_verified: outerValid,
          timestamp_authority: logged === undefined ? null : c.origin,
          provenance_chain: chainVerified,
        },
        verified_at: verifiedAt.toISOString(),
        failures,
      });
    },
  );

  // --- the gatekeeper ---
  /** deny answers a refused gatekeeper request in Certus's shape (permitted: false) with the code; one audit event. */
  const deny = (req: FastifyRequest, reply: FastifyReply, e: TrustError, scanId: string, tier: string): FastifyReply => {
    c.audit('signapi.refused', req, reply, { route: '/v1/verify-and-permit-upload', code: e.code, scan_id: scanId });
    const reason =
      e.code === 'ERR_CERTUS_SCANNER_UNKNOWN' || e.code === 'ERR_CERTUS_SCANNER_REVOKED'
        ? 'invalid_signer'
        : e.code === 'ERR_CERTUS_INNER_SIGNATURE_INVALID' || e.code === 'ERR_CERTUS_ALGORITHM'
          ? 'invalid_signature'
          : e.code === 'ERR_CERTUS_SIGNATURE_STALE'
            ? 'stale_signature'
            : 'policy_violation';
    return reply.code(e.httpStatus).send({
      upload_permission_id: null,
      scan_id: scanId,
      tier,
      permitted: false,
      reason,
      detail: e.message,
      verification_proof: null,
      storage_config: null,
      code: e.code,
      message: e.message,
    });
  };

  app.post(
    '/verify-and-permit-upload',
    { bodyLimit: PERMIT_BODY_MAX_BYTES, onRequest: c.limitIp, preParsing: pre('permit'), schema: { body: PERMIT_SCHEMA } },
    async (req, reply) => {
      const b = req.body as {
        scan_id: string;
        tier: string;
        inner_signature: { signer: string; timestamp: string; signature: string; algorithm?: string | null };
        artifacts: Array<{ name: string; hash: string; size: number; type?: string }>;
        metadata?: { git_url?: string; branch?: string; commit?: string; requested_by?: string | null };
        storage_destinations?: { raw_s3?: boolean; oci_registry?: boolean };
      };
      const now = c.now();
      const artifacts = b.artifacts.map((a) => ({ name: a.name, hash: a.hash, size: a.size, type: a.type ?? 'other' }));
      const sd = b.storage_destinations ?? {};
      const destinations = DESTINATIONS.filter((d) => sd[d] !== false);
      let tierRules;
      try {
        if (destinations.length === 0) throw new PolicyError('ERR_CERTUS_POLICY_DENIED', 'no storage destination is asked for');
        requireAlgorithm(b.inner_signature.algorithm);
        const signedAt = parseTimestamp(b.inner_signature.timestamp, 'inner_signature.timestamp');
        const id = await scannerIdentity(c.auth, b.inner_signature.signer);
        const message = scanMessage({
          scanId: b.scan_id,
          signer: b.inner_signature.signer,
          timestamp: b.inner_signature.timestamp,
          artifacts: artifacts.map((a) => ({ name: a.name, digest: a.hash, size: a.size, type: a.type })),
        });
        checkInnerSignature(id, message, b.inner_signature.signature, 'the inner signature');
        tierRules = evaluateUploadPolicy(o.policy, { tier: b.tier, scanner: id.name, signedAt, artifacts, destinations, now: now.getTime() });
      } catch (e) {
        if (!isTrustError(e) || e.httpStatus >= 500 || e.kind === 'format') throw e;
        return deny(req, reply, e, b.scan_id, b.tier);
      }
      void tierRules;
      const permissionId = uuid();
      const expires = new Date(now.getTime() + o.policy.permissionTtlSeconds * 1000);
      const signed = signPermission(
        {
          id: permissionId,
          scanId: b.scan_id,
          tier: b.tier,
          scanner: b.inner_signature.signer,
          artifacts,
          destinations,
          issuedAt: now.toISOString(),
          expiresAt: expires.toISOString(),
        },
        c.signer,
      );
      const p = c.principal(req)!;
      await o.store.insertPermission({ id: permissionId, scanId: b.scan_id, tier: b.tier, digest: signed.digest, callerId: p.tokenId, issuedAt: now.getTime(), expiresAt: expires.getTime(), usedAt: null });
      await record(
        { scanId: b.scan_id, kind: 'permitted', actor: keyId, result: 'pass', details: { upload_permission_id: permissionId, tier: b.tier, inner_signer: b.inner_signature.signer, inner_timestamp: b.inner_signature.timestamp, artifacts: artifacts.length, destinations } },
        'permits_granted',
      );
      c.audit('signapi.permitted', req, reply, { scan_id: b.scan_id, upload_permission_id: permissionId, tier: b.tier, inner_signer: b.inner_signature.signer, artifacts: artifacts.length });
      const md = b.metadata ?? {};
      const prefix = `${(md.git_url ?? b.scan_id).replace(/\//g, '-')}/${(md.commit ?? '').slice(0, 8) || b.scan_id}`;
      const env = parseEnvelope(signed.envelope);
      return reply.code(202).send({
        upload_permission_id: permissionId,
        scan_id: b.scan_id,
        tier: b.tier,
        permitted: true,
        reason: null,
        detail: null,
        permission: signed.envelope,
        expires_at: expires.toISOString(),
        verification_proof: {
          chain_verified: true,
          inner_signature_valid: true,
          outer_signature_valid: true,
          chain_unbroken: true,
          signer_inner: b.inner_signature.signer,
          signer_outer: c.origin,
          sigstore_timestamp: null,
          verification_timestamp: now.toISOString(),
          rekor_entry_uuid: null,
          cosign_signature: Buffer.from(env.signatures[0]!.sig).toString('base64'),
        },
        storage_config: {
          raw_s3_bucket: 'raw',
          raw_s3_prefix: prefix,
          oci_registry: null,
          oci_repository: null,
          upload_to_s3: destinations.includes('raw_s3'),
          upload_to_oci: destinations.includes('oci_registry'),
        },
      });
    },
  );

  // --- execute-upload: a valid unused permission, bytes checked, then stored ---
  app.post(
    '/execute-upload',
    { bodyLimit: o.uploadBodyMaxBytes ?? UPLOAD_BODY_MAX_BYTES, onRequest: c.limitIp, preParsing: pre('upload'), schema: { body: EXECUTE_UPLOAD_SCHEMA } },
    async (req, reply) => {
      const b = req.body as {
        upload_permission_id: string;
        scan_id: string;
        permission: string;
        artifacts: Array<{ name: string; hash: string; size: number; type?: string; content: string }>;
      };
      const now = c.now();
      const { permission, digest } = verifyPermission(b.permission, c.rootKeys, now);
      const mismatch = (why: string): PolicyError => new PolicyError('ERR_CERTUS_PERMISSION_MISMATCH', why);
      if (permission.id !== b.upload_permission_id) throw mismatch('upload_permission_id is not the id the permission names');
      if (permission.scanId !== b.scan_id) throw mismatch(`the permission is for scan "${permission.scanId}", not "${b.scan_id}"`);
      const expiresAt = Date.parse(permission.expiresAt);
      if (!(expiresAt > now.getTime())) throw new PolicyError('ERR_CERTUS_PERMISSION_EXPIRED', `the permission expired at ${permission.expiresAt}`);
      if (b.artifacts.length !== permission.artifacts.length) throw mismatch(`the permission names ${permission.artifacts.length} artifacts, ${b.artifacts.length} sent`);
      const permitted = new Map(permission.artifacts.map((a) => [a.name, a]));
      const bytes: Array<{ name: string; hash: string; size: number; data: Uint8Array }> = [];
      for (const a of b.artifacts) {
        const p = permitted.get(a.name);
        if (p === undefined || p.hash !== a.hash || p.size !== a.size) throw mismatch(`artifact "${a.name}" is not permitted with this digest and size`);
        permitted.delete(a.name);
        const data = decodeBase64(a.content, undefined, `content of "${a.name}"`);
        // The bytes must be the permitted ones: length, then SHA-256 (constant time; the digest is public, this is hygiene).
        if (data.length !== p.size || !constantTimeEqual(sha256(data), decodeHex(p.hash.slice(7), 32, 'hash'))) {
          throw new VerificationError('ERR_CERTUS_DIGEST_MISMATCH', `the bytes of "${a.name}" do not have the permitted digest ${p.hash}`);
        }
        bytes.push({ name: a.name, hash: a.hash, size: a.size, data });
      }
      // Single use, across daemons: the one conditional UPDATE decides (auth/certus-store duty 1).
      const use = await o.store.usePermission(permission.id, digest, now.getTime());
      if (use === 'replayed') throw new PolicyError('ERR_CERTUS_PERMISSION_USED', `permission ${permission.id} was already used`);
      if (use === 'expired') throw new PolicyError('ERR_CERTUS_PERMISSION_EXPIRED', `the permission expired at ${permission.expiresAt}`);
      if (use === 'unknown') throw new PolicyError('ERR_CERTUS_PERMISSION_UNKNOWN', `permission ${permission.id} was not issued by this service`);
      // Spent: from here a failure loses the permission rather than risk a second use.
      const stored: Array<StoredArtifact & { hash: string; size: number }> = [];
      for (const d of permission.destinations as Destination[]) {
        for (const a of bytes) stored.push({ ...(await o.artifacts.put({ destination: d, scanId: permission.scanId, name: a.name, bytes: a.data, digest: a.hash })), hash: a.hash, size: a.size });
      }
      await record(
        {
          scanId: permission.scanId,
          kind: 'uploaded',
          actor: callerName(req),
          result: 'pass',
          details: { upload_permission_id: permission.id, tier: permission.tier, stored: stored.map((s) => ({ destination: s.destination, name: s.name, uri: s.uri, hash: s.hash })) },
        },
        'uploads',
      );
      c.audit('signapi.uploaded', req, reply, { scan_id: permission.scanId, upload_permission_id: permission.id, artifacts: bytes.length, destinations: permission.destinations });
      return reply.send({
        status: 'uploaded',
        upload_permission_id: permission.id,
        scan_id: permission.scanId,
        tier: permission.tier,
        uploaded_at: now.toISOString(),
        stored: stored.map((s) => ({ destination: s.destination, name: s.name, uri: s.uri, hash: s.hash, size: s.size })),
      });
    },
  );

  // --- stats and provenance ---
  app.get('/stats', async (_req, reply) => {
    const counters = await o.store.counters();
    const signers = await o.store.signerCounts(100);
    return reply.send({
      total_signatures: signers.total,
      total_transparency_entries: c.service.checkpoint()?.size ?? 0,
      verification_stats: {
        artifacts_signed: counters['artifacts_signed'] ?? 0,
        chains_verified: counters['chains_verified'] ?? 0,
        chains_failed: counters['chains_failed'] ?? 0,
        permits_granted: counters['permits_granted'] ?? 0,
        uploads: counters['uploads'] ?? 0,
      },
      signers: signers.signers.map((s) => s.signer),
      signer_counts: signers.signers.map((s) => ({ signer: s.signer, count: s.count })),
      timestamp: c.now().toISOString(),
    });
  });

  app.get(
    '/provenance/:scan_id',
    { schema: { params: { type: 'object', required: ['scan_id'], properties: { scan_id: { type: 'string', maxLength: 128 } } } } },
    async (req, reply) => {
      const scanId = (req.params as { scan_id: string }).scan_id;
      const events = /^[A-Za-z0-9._@+-]{1,128}$/.test(scanId) ? await o.store.listEvents(scanId, PROVENANCE_EVENTS_MAX) : [];
      if (events.length === 0) throw new IoError('ERR_CERTUS_SCAN_NOT_FOUND', 'no record of this scan id');
      return reply.send(provenanceOf(scanId, events, c.origin));
    },
  );

  app.get(
    '/keys/:file',
    { schema: { params: { type: 'object', required: ['file'], properties: { file: { type: 'string', maxLength: 64 } } } } },
    (req, reply) => {
      const file = (req.params as { file: string }).file;
      void reply;
      throw new IoError('ERR_CERTUS_UNKNOWN_ROLE', `no trust metadata named ${JSON.stringify(file.slice(0, 64))} here; this service publishes root.json`);
    },
  );
}

/** provenanceOf builds Certus's ProvenanceChain from a scan's recorded events (docs/signing-api.md). */
export function provenanceOf(scanId: string, events: readonly ScanEvent[], origin: string): JsonObject {
  const signed = [...events].reverse().find((e) => e.kind === 'signed');
  const permits = events.filter((e) => e.kind === 'permitted');
  const uploads = events.filter((e) => e.kind === 'uploaded');
  const failed = events.some((e) => e.result === 'fail');
  const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
  const scans: JsonObject[] = [];
  for (const e of [...(signed === undefined ? [] : [signed]), ...permits]) {
    scans.push({
      tool: str(e.details['assessment_type']) ?? 'scanner',
      version: null,
      signed_by: str(e.details['inner_signer']),
      verified_by: origin,
      timestamp: str(e.details['inner_timestamp']) ?? new Date(e.at).toISOString(),
    });
  }
  const uris = (dest: string): string[] =>
    uploads.flatMap((u) => ((u.details['stored'] ?? []) as JsonObject[]).flatMap((s) => (s['destination'] === dest && typeof s['uri'] === 'string' ? [s['uri']] : [])));
  const s3 = uris('raw_s3');
  const oci = uris('oci_registry');
  const lastTier = str(permits.at(-1)?.details['tier']);
  return {
    scan_id: scanId,
    manifest:
      signed === undefined
        ? null
        : { version: '1', digest: str(signed.details['artifact_digest']), signed_by: signed.actor, signed_at: str(signed.details['signed_at']), entry_id: str(signed.details['entry_id']) },
    scans,
    verification_trail: events.map((e) => ({ timestamp: new Date(e.at).toISOString(), verifier: e.actor, result: e.result, event: e.kind, details: e.details })),
    storage_locations: { ...(s3.length > 0 ? { s3: s3[0]! } : {}), ...(oci.length > 0 ? { oci: oci[0]! } : {}), all: [...s3, ...oci] },
    chain_status: failed ? 'broken' : (signed !== undefined || permits.length > 0) && uploads.length > 0 ? 'complete' : 'partial',
    trust_level: failed ? 'untrusted' : lastTier === 'verified' ? 'high' : lastTier !== null || signed !== undefined ? 'low' : 'none',
  };
}

/**
 * server/signing/plugin — the signing API of `custody serve` under `/v1` (issue 11), with the request and response
 * field names of Certus-Trust (../shared/reference/seed-systems.md §2) so its clients work, and every answer computed
 * for real: DSSE envelopes of in-toto statements (attest/dsse, attest/statement) signed by the daemon's key and
 * appended to its transparency log (C2SP tlog-tiles log, RFC 6962 proofs), verification that verifies, readiness that
 * probes. Authentication: scoped bearer tokens and Ed25519 challenge-response (auth/auth), read from the store on
 * every request, so a revocation is effective at the next request.
 *
 * Routes (docs/signing-api.md):
 * ```
 * POST /v1/auth/challenge          {identity} → {nonce, audience, expires_at}                      no auth
 * POST /v1/auth/token              {identity, nonce, signature} → {token, token_type, expires_at, scopes}   no auth
 * POST /v1/sign                    scope sign   → 202 {entry_id, signature, envelope, certificate, transparency_entry, proof}
 * POST /v1/verify                  scope verify → 200 {valid, verified_at, signer, …} or {valid:false, code, reason}
 * GET  /v1/transparency/{entry_id} ?include_proof=true                                            public
 * GET  /v1/transparency            ?signer&limit&offset                                             public
 * GET  /v1/health, /v1/ready, /v1/keys/root.json                                                   public
 * ```
 * With `certus` options, the chain-of-custody, gatekeeper, upload, stats and provenance routes of
 * server/signing/certus are registered too (sign-artifact, verify-chain, verify-and-permit-upload, execute-upload).
 * Every answer carries `X-Request-ID` (the caller's when it is 1–128 of [A-Za-z0-9._:-], else a fresh UUID).
 * Refusals are the JSON body of server/http with the status of their code; sign and verify are limited per token and
 * per client address (429 + Retry-After), the auth routes per address; bodies are capped (413) and validated by
 * fastify's JSON schemas. Each signature and each refusal (except 429s: a flood must not become an fsync per
 * request) is an event of the daemon's hash-chained audit log, naming the token id, never the token.
 *
 * Trust boundary: bodies, headers and query strings are attacker-controlled. The signing key signs only statements
 * this module builds; a caller chooses the artifact digest, subject name and predicates, never the payload type, the
 * predicate type or the `signer` recorded in the predicate (that is the authenticated caller).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { answerChallenge, issueChallenge, requireScope, type Principal } from '../../auth/auth.ts';
import { authenticateBearer } from '../../auth/bearer.ts';
import type { KeylessCa } from '../../auth/keyless-ca.ts';
import type { OidcVerifier } from '../../auth/oidc.ts';
import type { AuthStore, Scope, SignatureRecord } from '../../auth/store.ts';
import { envelopeToJson, formatEnvelope, parseEnvelope, signEnvelope } from '../../attest/dsse.ts';
import { INTOTO_PAYLOAD_TYPE, encodeStatement } from '../../attest/statement.ts';
import { keysFromRoot } from '../../attest/verify.ts';
import { verifyEd25519, type Signer } from '../../crypto/index.ts';
import { encodeHex } from '../../encoding/bytes.ts';
import type { JsonObject } from '../../encoding/json.ts';
import { FormatError, IoError, LimitError, isTrustError, type TrustError } from '../../errors.ts';
import { openCheckpoint, type Checkpoint } from '../../note/checkpoint.ts';
import { parseVerifierKey } from '../../note/note.ts';
import { hashLeaf, verifyInclusion } from '../../tlog/merkle.ts';
import type { TrustRoot } from '../../trust/root.ts';
import { clientAddress, sendError, toHttpError } from '../http.ts';
import type { LogService } from '../log/service.ts';
import { CERTUS_SIGN_PREDICATE, entryIdOf, jsonDepth, signatureEntry } from './entry.ts';
import { certusBodyCap, certusScopeOf, registerCertusRoutes, type CertusOptions } from './certus.ts';
import { COUNTED_HEADER, signingLimits, type SigningLimits } from './limits.ts';
import { beginKeyless, certificateDerOf, keylessEntry, keylessRoutes } from './keyless.ts';
import { VERIFY_BODY_MAX_BYTES, VERIFY_BODY_SCHEMA, requestIdFor, verifyRefusal, verifyRequest, type VerifyBody } from './verify-request.ts';

/** SIGN_BODY_MAX_BYTES caps a sign request (a digest, a name and predicates). */
export const SIGN_BODY_MAX_BYTES = 64 * 1024;
export { VERIFY_BODY_MAX_BYTES } from './verify-request.ts';
/** AUTH_BODY_MAX_BYTES caps the challenge-response requests. */
export const AUTH_BODY_MAX_BYTES = 4 * 1024;
/** PREDICATES_MAX_DEPTH caps the nesting of the caller's predicates. */
export const PREDICATES_MAX_DEPTH = 16;
/** TRANSPARENCY_MAX_LIMIT caps one page of GET /v1/transparency. */
export const TRANSPARENCY_MAX_LIMIT = 100;
/** ARTIFACT_TYPES are Certus's artifact types. */
export const ARTIFACT_TYPES = ['image', 'sbom', 'report', 'assessment'] as const;

const DIGEST_PATTERN = '^sha256:[0-9a-f]{64}$';

/** SigningApiOptions are the options of {@link signingApiPlugin}. */
export interface SigningApiOptions {
  store: AuthStore;
  service: LogService;
  /** signer is the daemon's signing key (a targets key of its trust root). */
  signer: Signer;
  root: TrustRoot;
  rootBytes: Uint8Array;
  /** vkey is the log's verifier key; origin its name (the challenge audience). */
  vkey: string;
  origin: string;
  /** rateLimitPerToken and rateLimitPerIp: sign and verify requests per second (0 = off; defaults 20 and 50). */
  rateLimitPerToken?: number;
  rateLimitPerIp?: number;
  /** audit records an event (never a token). */
  audit: (event: string, fields: JsonObject) => void;
  /** oidc verifies OIDC bearer JWTs (auth/oidc); keyless is the CA of keyless certificates (server/signing/keyless). */
  oidc?: OidcVerifier | undefined;
  keyless?: KeylessCa | undefined;
  /** mode labels every /v1 answer (`custody-mode` header) and /v1/health: `development` with `custody serve --dev`. */
  mode?: 'production' | 'development';
  now?: () => Date;
  /** certus: the Certus chain-of-custody, gatekeeper and provenance routes (server/signing/certus); off when absent. */
  certus?: CertusOptions | undefined;
  /**
   * limits are the per-address and per-token counters (default: the plugin's own, from the two rates above). A
   * cluster leader passes the ones its workers consult over IPC (server/signing/worker-verify), so each limit holds
   * across every worker.
   */
  limits?: SigningLimits | undefined;
  /**
   * decisions: the authentication a cluster leader's "100 Continue" check did for a request (continueAllowed), used
   * by the request's route instead of authenticating again (AuthDecisions).
   */
  decisions?: AuthDecisions | undefined;
  /**
   * trustCountedHeader: a request carrying `X-Custody-Limits-Counted: 1` was already counted by a worker (which
   * forwards it to the leader after reading its body) and is not counted again. Only a cluster leader sets this:
   * nothing but its workers reach its socket, and workers drop the header from what clients send.
   */
  trustCountedHeader?: boolean | undefined;
}


/** requestIdOf returns the request id set by the plugin's onRequest hook. */
function requestIdOf(reply: FastifyReply): string {
  return String(reply.getHeader('x-request-id') ?? '');
}

const str = (maxLength: number): Record<string, unknown> => ({ type: 'string', maxLength });

/** AuthOutcome is the result of authenticating one request's bearer: the caller, or the refusal thrown. */
export type AuthOutcome = { principal: Principal } | { error: unknown };

/**
 * AuthDecisions carries the authentication {@link continueAllowed} did for a request to that request's route, so a
 * request is authenticated once (an OIDC JWT's signature verified once, a token looked up once), not twice. Keyed by
 * the request object (a WeakMap: nothing outlives the request), taken at most once, and only for the same
 * Authorization header. The route then decides exactly as the first check did: what that check refused, the route
 * refuses with the same error; a token revoked between the two is honoured as the first check found it (it was
 * valid when the request was let in). A request that did not go through the check finds nothing, and the route
 * authenticates it in full.
 */
export class AuthDecisions {
  readonly #m = new WeakMap<IncomingMessage, { authorization: string | undefined; outcome: AuthOutcome }>();

  /** remember keeps the outcome of authenticating `req` with `authorization`. */
  remember(req: IncomingMessage, authorization: string | undefined, outcome: AuthOutcome): void {
    this.#m.set(req, { authorization, outcome });
  }

  /** take returns (and forgets) the outcome kept for `req`, if it was made for the same Authorization header. */
  take(req: IncomingMessage, authorization: string | undefined): AuthOutcome | undefined {
    const d = this.#m.get(req);
    if (d === undefined) return undefined;
    this.#m.delete(req);
    return d.authorization === authorization ? d.outcome : undefined;
  }
}

/**
 * continueAllowed decides whether a leader lets a forwarded /v1 request send its body (server/daemon checkContinue).
 * `remember` receives the outcome of the authentication it does (when it does one), for the request's route
 * (AuthDecisions.remember).
 */
export async function continueAllowed(
  store: AuthStore,
  url: string,
  authorization: string | undefined,
  declared: number,
  oidc?: OidcVerifier,
  remember?: (outcome: AuthOutcome) => void,
): Promise<boolean> {
  const path = url.split('?')[0] ?? '';
  const cap = path === '/v1/sign' ? SIGN_BODY_MAX_BYTES : path === '/v1/verify' ? VERIFY_BODY_MAX_BYTES : (certusBodyCap(path) ?? AUTH_BODY_MAX_BYTES);
  if (declared > cap) return false;
  if (path === '/v1/auth/challenge' || path === '/v1/auth/token') return true;
  let p: Principal;
  try {
    p = await authenticateBearer(store, oidc, authorization, new Date());
  } catch (e) {
    remember?.({ error: e });
    return false;
  }
  remember?.({ principal: p });
  try {
    // A request the route refuses for its scope gets no "100 Continue" either: its body never crosses the socket.
    if (path === '/v1/sign') requireScope(p, 'sign');
    if (path === '/v1/verify') requireScope(p, 'verify');
    const certusScope = certusScopeOf(path);
    if (certusScope !== undefined) requireScope(p, certusScope);
    return true;
  } catch {
    return false;
  }
}

/** signingApiPlugin registers the /v1 routes (use `prefix: '/v1'`). */
export function signingApiPlugin(app: FastifyInstance, o: SigningApiOptions, done: (err?: Error) => void): void {
  const now = o.now ?? (() => new Date());
  const principals = new WeakMap<FastifyRequest, Principal>();
  const limits = o.limits ?? signingLimits(o.rateLimitPerIp, o.rateLimitPerToken);
  const counted = (req: FastifyRequest): boolean => o.trustCountedHeader === true && req.headers[COUNTED_HEADER] === '1';
  const verifier = parseVerifierKey(o.vkey);
  const rootKeys = keysFromRoot(o.root);
  let opened: { text: string; checkpoint: Checkpoint } | undefined;

  /** currentCheckpoint is the log's latest checkpoint, opened (signature verified) under the log key. */
  const currentCheckpoint = (): { text: string; checkpoint: Checkpoint } => {
    const cp = o.service.checkpoint();
    if (cp === null) throw new IoError('ERR_SIGNAPI_NOT_READY', 'the transparency log has not published a checkpoint yet');
    if (opened?.text !== cp.text) opened = { text: cp.text, checkpoint: openCheckpoint(cp.text, verifier).checkpoint };
    return opened;
  };

  /** proofOf is the RFC 6962 inclusion proof of a log index in the current checkpoint, checked before it is served. */
  const proofOf = async (index: number, entry: Uint8Array): Promise<JsonObject> => {
    const { text, checkpoint } = currentCheckpoint();
    const hashes = await o.service.sequencer.proveInclusion(index, checkpoint.size);
    // Self-check: never serve a proof that our own verifier refuses.
    verifyInclusion(hashLeaf(entry), index, checkpoint.size, hashes, checkpoint.rootHash);
    return { tree_size: checkpoint.size, leaf_index: index, hashes: hashes.map(encodeHex), root_hash: encodeHex(checkpoint.rootHash), checkpoint: text };
  };

  const audit = (event: string, req: FastifyRequest, reply: FastifyReply, fields: JsonObject): void => {
    const p = principals.get(req);
    o.audit(event, { ...fields, ip: clientAddress(req), request_id: requestIdOf(reply), ...(p === undefined ? {} : { caller_id: p.tokenId, caller: p.name }) });
  };

  app.addHook('onRequest', (req, reply, done) => {
    const given = req.headers['x-request-id'];
    reply.header('x-request-id', requestIdFor(given));
    reply.header('cache-control', 'no-store');
    if (o.mode === 'development') reply.header('custody-mode', 'development');
    done();
  });

  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const fe = err as { validation?: unknown; message?: string };
    let e: TrustError;
    if (!isTrustError(err) && fe?.validation !== undefined) {
      e = new FormatError('ERR_SIGNAPI_REQUEST', `bad request: ${String(fe.message ?? 'invalid body').toLowerCase().slice(0, 200)}`);
    } else {
      e = toHttpError(err, {
        tooLarge: () => new LimitError('ERR_SIGNAPI_TOO_LARGE', 'the request body is over the cap of this route'),
      });
    }
    if (e.httpStatus >= 500 && !isTrustError(err)) req.log.error({ err }, 'signing API route failed');
    if (e.httpStatus !== 429) audit('signapi.refused', req, reply, { route: (req.routeOptions.url ?? req.url.split('?')[0] ?? '').slice(0, 100), code: e.code });
    if (req.method !== 'GET' && req.method !== 'HEAD' && e.httpStatus !== 400 && e.httpStatus < 500) reply.header('connection', 'close');
    return sendError(reply, e);
  });
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, new IoError('ERR_SIGNAPI_NOT_FOUND', `no such signing API route: ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}`)),
  );

  /** limitIp counts a request from the client address (onRequest: before the body and the token check). */
  const limitIp = (req: FastifyRequest, _reply: FastifyReply, done: (e?: Error) => void): void => {
    done(counted(req) ? undefined : limits.ip.checkAddress(clientAddress(req)));
  };
  /** guard authenticates the bearer token, checks the scope, then the per-token limit (before the body is read). */
  const guard = (scope: Scope) => async (req: FastifyRequest): Promise<void> => {
    const first = o.decisions?.take(req.raw, req.headers.authorization);
    if (first !== undefined && 'error' in first) throw first.error;
    const p = first?.principal ?? (await authenticateBearer(o.store, o.oidc, req.headers.authorization, now()));
    principals.set(req, p);
    requireScope(p, scope);
    const limited = counted(req) ? undefined : limits.token.check(p.tokenId);
    if (limited !== undefined) throw limited;
  };

  // --- challenge-response (auth/auth) ---
  app.post(
    '/auth/challenge',
    {
      bodyLimit: AUTH_BODY_MAX_BYTES,
      onRequest: limitIp,
      schema: { body: { type: 'object', required: ['identity'], additionalProperties: false, properties: { identity: str(128) } } },
    },
    async (req, reply) => {
      const { identity } = req.body as { identity: string };
      const c = await issueChallenge(o.store, identity, now().getTime());
      return reply.send({ identity, nonce: c.nonce, audience: o.origin, expires_at: new Date(c.expiresAt).toISOString() });
    },
  );

  app.post(
    '/auth/token',
    {
      bodyLimit: AUTH_BODY_MAX_BYTES,
      onRequest: limitIp,
      schema: {
        body: {
          type: 'object',
          required: ['identity', 'nonce', 'signature'],
          additionalProperties: false,
          properties: { identity: str(128), nonce: str(64), signature: str(200) },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { identity: string; nonce: string; signature: string };
      const t = await answerChallenge(o.store, { ...b, audience: o.origin, now: now().getTime() });
      audit('signapi.token_issued', req, reply, { identity: b.identity, issued_id: t.record.id });
      return reply.send({ token: t.token, token_type: 'Bearer', expires_at: new Date(t.record.expiresAt!).toISOString(), scopes: t.record.scopes });
    },
  );

  // --- sign ---
  app.post(
    '/sign',
    {
      bodyLimit: SIGN_BODY_MAX_BYTES,
      onRequest: limitIp,
      preParsing: async (req, _reply, payload) => {
        await guard('sign')(req);
        return payload;
      },
      schema: {
        body: {
          type: 'object',
          required: ['artifact', 'artifact_type'],
          additionalProperties: false,
          properties: {
            artifact: { type: 'string', pattern: DIGEST_PATTERN },
            artifact_type: { type: 'string', enum: [...ARTIFACT_TYPES] },
            subject: { type: ['string', 'null'], minLength: 1, maxLength: 1024 },
            predicates: { type: ['object', 'null'], maxProperties: 256 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { artifact: string; artifact_type: string; subject?: string | null; predicates?: JsonObject | null };
      const p = principals.get(req)!;
      const predicates = b.predicates ?? {};
      if (jsonDepth(predicates, PREDICATES_MAX_DEPTH) > PREDICATES_MAX_DEPTH) {
        throw new LimitError('ERR_SIGNAPI_TOO_LARGE', `predicates nest deeper than ${PREDICATES_MAX_DEPTH} levels`);
      }
      const signedAt = now();
      const hex = b.artifact.slice('sha256:'.length);
      const payload = encodeStatement({
        subject: [{ name: b.subject ?? b.artifact, digest: { sha256: hex } }],
        predicateType: CERTUS_SIGN_PREDICATE,
        predicate: { artifact_type: b.artifact_type, predicates, signer: p.identity ?? p.name, signed_at: signedAt.toISOString() },
      });
      // An OIDC caller signs keyless: a one-request key certified by our CA (server/signing/keyless).
      const keyless = p.kind === 'oidc' && o.keyless !== undefined ? await beginKeyless(o.keyless, p, signedAt) : undefined;
      const env = signEnvelope(INTOTO_PAYLOAD_TYPE, payload, [keyless?.signer ?? o.signer]);
      const sig = env.signatures[0]!;
      const entry = keyless === undefined ? signatureEntry(env, sig) : keylessEntry(env, sig, keyless.certificate.der);
      const entryId = entryIdOf(entry);
      const added = await o.service.add(entry);
      const envelope = formatEnvelope(env);
      const rec: SignatureRecord = {
        entryId,
        logIndex: added.index,
        signer: p.identity ?? p.name,
        callerId: p.tokenId,
        artifact: b.artifact,
        artifactType: b.artifact_type,
        createdAt: signedAt.getTime(),
        envelope,
      };
      if (keyless !== undefined) await o.store.insertCertificate(entryId, keyless.certificate.pem);
      await o.store.insertSignature(rec);
      audit('signapi.signed', req, reply, {
        entry_id: entryId,
        log_index: added.index,
        artifact: b.artifact,
        artifact_type: b.artifact_type,
        ...(keyless === undefined ? {} : { certificate_serial: keyless.certificate.serial, oidc_issuer: keyless.certificate.issuer }),
      });
      const cp = openCheckpoint(added.checkpoint, verifier).checkpoint;
      return reply.code(202).send({
        entry_id: entryId,
        signature: envelope,
        envelope: envelopeToJson(env),
        certificate: keyless?.certificate.pem ?? null,
        key_id: sig.keyid,
        transparency_entry: { uuid: entryId, index: added.index, timestamp: signedAt.toISOString() },
        proof: {
          tree_size: added.size,
          leaf_index: added.index,
          hashes: added.proof.map(encodeHex),
          root_hash: encodeHex(cp.rootHash),
          checkpoint: added.checkpoint,
        },
      });
    },
  );

  // --- verify (server/signing/verify-request; a cluster worker answers most of these itself: signing/worker-verify) ---
  const verifyContext = { store: o.store, rootKeys, keyless: o.keyless, proofOf };
  app.post(
    '/verify',
    {
      bodyLimit: VERIFY_BODY_MAX_BYTES,
      onRequest: limitIp,
      preParsing: async (req, _reply, payload) => {
        await guard('verify')(req);
        return payload;
      },
      schema: { body: VERIFY_BODY_SCHEMA },
    },
    async (req, reply) => {
      const b = req.body as VerifyBody;
      const verifiedAt = now();
      try {
        return reply.send(await verifyRequest(verifyContext, b, verifiedAt));
      } catch (e) {
        if (!isTrustError(e) || e.httpStatus >= 500) throw e;
        audit('signapi.verify_failed', req, reply, { artifact: b.artifact, code: e.code });
        return reply.send(verifyRefusal(e, verifiedAt));
      }
    },
  );

  // --- transparency ---
  const entryJson = async (r: SignatureRecord, includeProof: boolean): Promise<JsonObject> => {
    const env = parseEnvelope(r.envelope);
    const cert = await o.store.getCertificate(r.entryId);
    const entry = cert === undefined ? signatureEntry(env, env.signatures[0]!) : keylessEntry(env, env.signatures[0]!, certificateDerOf(cert));
    return {
      entry_id: r.entryId,
      artifact: r.artifact,
      artifact_type: r.artifactType,
      timestamp: new Date(r.createdAt).toISOString(),
      signer: r.signer,
      signature: r.envelope,
      log_index: r.logIndex,
      log_entry: new TextDecoder().decode(entry),
      certificate: cert ?? null,
      ...(includeProof ? { proof: await proofOf(r.logIndex, entry) } : {}),
    };
  };

  app.get(
    '/transparency/:entry_id',
    {
      schema: {
        params: { type: 'object', properties: { entry_id: { type: 'string', maxLength: 64 } } },
        querystring: { type: 'object', properties: { include_proof: { type: 'boolean' } } },
      },
    },
    async (req, reply) => {
      const id = (req.params as { entry_id: string }).entry_id;
      const rec = /^[0-9a-f]{64}$/.test(id) ? await o.store.getSignature(id) : undefined;
      if (rec === undefined) throw new IoError('ERR_SIGNAPI_NOT_FOUND', 'no transparency entry has this id');
      return reply.send(await entryJson(rec, (req.query as { include_proof?: boolean }).include_proof === true));
    },
  );

  app.get(
    '/transparency',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            signer: { type: 'string', maxLength: 256 },
            assessment_id: { type: 'string', maxLength: 256 },
            limit: { type: 'integer', minimum: 1, maximum: TRANSPARENCY_MAX_LIMIT, default: 10 },
            offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
          },
        },
      },
    },
    async (req, reply) => {
      const q = req.query as { signer?: string; limit: number; offset: number };
      const page = await o.store.listSignatures({ signer: q.signer, limit: q.limit, offset: q.offset });
      const entries: JsonObject[] = [];
      for (const r of page.records) entries.push(await entryJson(r, false));
      return reply.send({ entries, total: page.total, limit: q.limit, offset: q.offset });
    },
  );

  // --- health, readiness, trust metadata ---
  app.get('/health', (_req, reply) => reply.send({ status: 'healthy', timestamp: now().toISOString(), ...(o.mode === 'development' ? { mode: 'development' } : {}) }));

  app.get('/ready', async (req, reply) => {
    const checks: Record<string, boolean> = { log: false, store: false, key: false };
    const failures: Record<string, string> = {};
    try {
      if (o.service.sequencer.fatalError !== undefined) throw o.service.sequencer.fatalError;
      currentCheckpoint();
      checks.log = true;
    } catch (e) {
      failures.log = isTrustError(e) ? e.code : 'failed';
    }
    try {
      await o.store.ping();
      checks.store = true;
    } catch (e) {
      failures.store = isTrustError(e) ? e.code : 'failed';
    }
    try {
      // The key must still sign, and its signature verify (a key backend that broke would fail here).
      const probe = new TextEncoder().encode(`custody.ready-probe/v1\n${now().toISOString()}\n`);
      if (!verifyEd25519(o.signer.publicKey, probe, o.signer.sign(probe))) throw new Error('probe signature does not verify');
      checks.key = true;
    } catch {
      failures.key = 'failed';
    }
    if (o.certus !== undefined) {
      // The Certus routes' records and the artifact store (server/signing/certus) are probed too.
      for (const [name, probe] of [['records', () => o.certus!.store.ping()], ['artifacts', () => o.certus!.artifacts.probe()]] as const) {
        try {
          await probe();
          checks[name] = true;
        } catch (e) {
          checks[name] = false;
          failures[name] = isTrustError(e) ? e.code : 'failed';
        }
      }
    }
    const ready = Object.values(checks).every((x) => x);
    if (!ready) {
      req.log.warn({ failures }, 'signing API not ready');
      const failing = Object.keys(failures);
      return reply.code(503).send({
        ready: false,
        checks,
        failing,
        code: 'ERR_SIGNAPI_NOT_READY',
        message: `not ready: ${failing.map((k) => `${k} (${failures[k]})`).join(', ')}`,
        timestamp: now().toISOString(),
      });
    }
    return reply.send({ ready: true, checks, timestamp: now().toISOString() });
  });

  keylessRoutes(app, o.keyless);
  app.get('/keys/root.json', (_req, reply) =>
    reply.type('application/json; charset=utf-8').send(Buffer.from(o.rootBytes.buffer, o.rootBytes.byteOffset, o.rootBytes.byteLength)),
  );
  if (o.certus !== undefined) registerCertusRoutes(app, { auth: o.store, service: o.service, signer: o.signer, rootKeys, origin: o.origin, guard, principal: (r) => principals.get(r), audit, limitIp, proofOf, now, certus: o.certus });
  done();
}

/**
 * auth/oidc — OIDC bearer tokens (ID tokens, or RFC 9068 JWT access tokens) verified against configured issuers:
 * OpenID Connect Discovery 1.0 (`<issuer>/.well-known/openid-configuration`, whose `issuer` must equal the configured
 * one, §4.3) and the issuer's JWKS (RFC 7517), with the JWS and JWT checks of RFC 7515 / RFC 7519 done by `jose`.
 *
 * A token is accepted when, in this order:
 * 1. it is a compact JWS of at most {@link OIDC_TOKEN_MAX_BYTES}, its header and claims parse (bounded JSON);
 * 2. its `alg` is in {@link OIDC_ALGORITHMS} — asymmetric only: never `none`, never HS* (a JWKS holds public keys; an
 *    HMAC "verified" with a public key as the secret is the classic confusion, so `oct` keys are dropped from JWKS);
 * 3. its `iss` is a configured issuer (exact string match);
 * 4. a key of that issuer's JWKS with the token's `kid` verifies the signature — an unknown `kid` refetches the JWKS
 *    once (rotation), at most once per {@link OidcVerifierOptions.jwksRefreshCooldownMs}, so a flood of made-up kids
 *    cannot turn into a flood of fetches;
 * 5. `aud` contains the issuer's configured audience; `exp` is present and not past, `nbf`/`iat` not in the future,
 *    each with a clock tolerance of at most 60 seconds;
 * 6. the identity claim is usable: `email` (a string, with `email_verified: true`, as Fulcio requires) or `sub`.
 * Scopes are not taken from the token: each issuer is configured with the scopes its callers get (default
 * sign, verify), so an issuer controls who signs but never what an OIDC caller may do.
 *
 * Fetching: discovery and JWKS over HTTPS (plain HTTP only to a loopback address, for tests and local issuers),
 * redirects refused, {@link OIDC_DOCUMENT_MAX_BYTES} and {@link OidcVerifierOptions.fetchTimeoutMs} per document, at
 * most {@link JWKS_MAX_KEYS} keys. A JWKS is reused for {@link OidcVerifierOptions.jwksMaxAgeMs}; a failed refresh
 * keeps the previous set (the issuer being briefly down does not lock every caller out).
 *
 * Trust boundary: the token is attacker-controlled until step 4 passes; discovery and JWKS come from the configured
 * issuer over TLS and are trusted as that issuer's word. Errors never contain the token.
 */
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import { sha256 } from '../crypto/index.ts';
import { decodeBase64Either } from '../encoding/bytes.ts';
import { isJsonObject, parseJsonObject, type JsonObject } from '../encoding/json.ts';
import { ConfigError, FormatError, IoError, PolicyError, isTrustError } from '../errors.ts';
import { httpGet, readCapped } from '../io/http-client.ts';
import { OIDC_IDENTITY_CLAIMS, OIDC_TOKEN_MAX_BYTES, isJwtShaped, type OidcIdentityClaim } from './oidc-shape.ts';
import type { Scope } from './store.ts';

export { OIDC_IDENTITY_CLAIMS, OIDC_TOKEN_MAX_BYTES, isJwtShaped, type OidcIdentityClaim };

/** OIDC_DOCUMENT_MAX_BYTES caps a discovery document or a JWKS. */
export const OIDC_DOCUMENT_MAX_BYTES = 256 * 1024;
/** JWKS_MAX_KEYS caps the keys of one JWKS. */
export const JWKS_MAX_KEYS = 100;
/** OIDC_MAX_CLOCK_TOLERANCE_S: clock skew allowed on exp/nbf/iat is at most 60 seconds (issue 11). */
export const OIDC_MAX_CLOCK_TOLERANCE_S = 60;
/** OIDC_ALGORITHMS is the JWS algorithm allow-list: asymmetric signatures only (RFC 7518 §3.3–3.5, RFC 8037). */
export const OIDC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const IDENTITY_MAX_CHARS = 255;
// Printable ASCII without blanks or control characters: an identity goes into certificates, logs and audit records.
const IDENTITY_RE = /^[\x21-\x7e]{1,255}$/;

/** OidcIssuerConfig is one trusted issuer. */
export interface OidcIssuerConfig {
  /** issuer is the exact `iss` value, an https URL (http only on a loopback address). */
  issuer: string;
  /** audience must be in the token's `aud`. */
  audience: string;
  /** identityClaim names the caller (default `email`). */
  identityClaim: OidcIdentityClaim;
  /** scopes OIDC callers of this issuer get (default sign, verify). */
  scopes: Scope[];
}

/** OidcVerifierOptions configures {@link OidcVerifier}. */
export interface OidcVerifierOptions {
  issuers: OidcIssuerConfig[];
  /** clockToleranceSec on exp/nbf/iat, 0–60 (default 60). */
  clockToleranceSec?: number;
  /** fetchTimeoutMs per discovery or JWKS fetch (default 5,000). */
  fetchTimeoutMs?: number;
  /** jwksMaxAgeMs: a JWKS older than this is refetched at its next use (default 10 minutes). */
  jwksMaxAgeMs?: number;
  /** jwksRefreshCooldownMs: an unknown kid refetches at most this often per issuer (default 30 s). */
  jwksRefreshCooldownMs?: number;
}

/** OidcIdentity is a verified OIDC caller. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  /** identity is the value of the configured identity claim (an email address, or the subject). */
  identity: string;
  /** identityKind: `email`, `uri` (a subject that is an absolute URI) or `subject` (any other subject). */
  identityKind: 'email' | 'uri' | 'subject';
  scopes: Scope[];
  /** expiresAt is the token's `exp` in milliseconds. */
  expiresAt: number;
  /** callerId is a stable, non-secret id of (issuer, subject): `oidc-` + 16 hex of SHA-256 (rate limits, audit). */
  callerId: string;
}

/** isLoopbackHost tells whether a URL host is a loopback address (plain HTTP is allowed there only). */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** checkIssuerUrl checks an issuer or jwks_uri: https, or http on a loopback address; no credentials, no fragment. */
export function checkIssuerUrl(text: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new ConfigError('ERR_CONFIG_INVALID', `${what}: expected an absolute URL, got ${JSON.stringify(text.slice(0, 100))}`);
  }
  if (!(u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname)))) {
    throw new ConfigError('ERR_CONFIG_INVALID', `${what}: expected an https URL (http only on a loopback address), got ${JSON.stringify(text.slice(0, 100))}`);
  }
  if (u.username !== '' || u.password !== '' || u.hash !== '') {
    throw new ConfigError('ERR_CONFIG_INVALID', `${what}: a URL with credentials or a fragment is not an issuer`);
  }
  return u;
}

/**
 * decodeJwtParts parses a compact JWS's protected header and claims without verifying anything (bounded JSON; the
 * fuzz target `oidc-jwt` drives it). Throws ERR_OIDC_TOKEN_MALFORMED.
 */
export function decodeJwtParts(token: string): { header: JsonObject; claims: JsonObject } {
  if (!isJwtShaped(token)) throw new PolicyError('ERR_OIDC_TOKEN_MALFORMED', `expected a compact JWS of at most ${OIDC_TOKEN_MAX_BYTES} bytes`);
  const [h, c] = token.split('.') as [string, string, string];
  const part = (b64: string, what: string): JsonObject => {
    try {
      return parseJsonObject(decodeBase64Either(b64, what), { maxBytes: OIDC_TOKEN_MAX_BYTES, maxDepth: 16, maxValues: 4096, allowFloats: true, what });
    } catch (e) {
      if (!isTrustError(e)) throw e;
      throw new PolicyError('ERR_OIDC_TOKEN_MALFORMED', `the token's ${what} is not a JSON object: ${e.message}`, { cause: e });
    }
  };
  return { header: part(h, 'jwt header'), claims: part(c, 'jwt claims') };
}

/** identityOf reads the configured identity claim of verified claims (ERR_OIDC_CLAIMS when unusable). */
export function identityOf(claims: JsonObject, claim: OidcIdentityClaim): { identity: string; kind: OidcIdentity['identityKind'] } {
  const sub = claims['sub'];
  if (typeof sub !== 'string' || !IDENTITY_RE.test(sub)) throw new PolicyError('ERR_OIDC_CLAIMS', `expected a "sub" claim of 1–${IDENTITY_MAX_CHARS} printable characters`);
  if (claim === 'email') {
    const email = claims['email'];
    // Fulcio's rule: an email identity only when the issuer says it verified the address.
    if (typeof email !== 'string' || !IDENTITY_RE.test(email) || !/^[^@]+@[^@]+$/.test(email)) {
      throw new PolicyError('ERR_OIDC_CLAIMS', 'expected an "email" claim holding one address');
    }
    if (claims['email_verified'] !== true) throw new PolicyError('ERR_OIDC_CLAIMS', 'the token\'s "email_verified" is not true');
    return { identity: email, kind: 'email' };
  }
  return { identity: sub, kind: /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/.test(sub) && URL.canParse(sub) ? 'uri' : 'subject' };
}

interface IssuerState {
  config: OidcIssuerConfig;
  jwksUri?: URL;
  keys?: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
  pending?: Promise<void>;
}

/** OidcVerifier verifies bearer JWTs of the configured issuers (module comment). One per daemon; safe to share. */
export class OidcVerifier {
  readonly #issuers = new Map<string, IssuerState>();
  readonly #tolerance: number;
  readonly #timeoutMs: number;
  readonly #maxAgeMs: number;
  readonly #cooldownMs: number;

  constructor(o: OidcVerifierOptions) {
    if (o.issuers.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', 'expected at least one OIDC issuer');
    for (const c of o.issuers) {
      checkIssuerUrl(c.issuer, '--oidc-issuer');
      if (c.audience === '' || c.audience.length > 1024) throw new ConfigError('ERR_CONFIG_INVALID', '--oidc-audience: expected 1–1024 characters');
      if (this.#issuers.has(c.issuer)) throw new ConfigError('ERR_CONFIG_INVALID', `--oidc-issuer ${c.issuer} is given twice`);
      this.#issuers.set(c.issuer, { config: { ...c, scopes: [...c.scopes] }, fetchedAt: 0 });
    }
    const tol = o.clockToleranceSec ?? OIDC_MAX_CLOCK_TOLERANCE_S;
    if (!Number.isInteger(tol) || tol < 0 || tol > OIDC_MAX_CLOCK_TOLERANCE_S) {
      throw new ConfigError('ERR_CONFIG_INVALID', `the OIDC clock tolerance must be 0–${OIDC_MAX_CLOCK_TOLERANCE_S} seconds, got ${tol}`);
    }
    this.#tolerance = tol;
    this.#timeoutMs = o.fetchTimeoutMs ?? 5_000;
    this.#maxAgeMs = o.jwksMaxAgeMs ?? 600_000;
    this.#cooldownMs = o.jwksRefreshCooldownMs ?? 30_000;
  }

  /** issuers lists the configured issuers. */
  get issuers(): OidcIssuerConfig[] {
    return [...this.#issuers.values()].map((s) => ({ ...s.config, scopes: [...s.config.scopes] }));
  }

  /** verify checks a bearer JWT (module comment, steps 1–6) at `now` and returns the caller. */
  async verify(token: string, now: Date): Promise<OidcIdentity> {
    const { header, claims } = decodeJwtParts(token);
    const alg = header['alg'];
    if (typeof alg !== 'string' || !(OIDC_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new PolicyError('ERR_OIDC_ALGORITHM', `the token's algorithm ${JSON.stringify(typeof alg === 'string' ? alg.slice(0, 20) : alg ?? null)} is not allowed`);
    }
    const iss = claims['iss'];
    const state = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (state === undefined) throw new PolicyError('ERR_OIDC_ISSUER_UNKNOWN', `the token's issuer ${JSON.stringify(typeof iss === 'string' ? iss.slice(0, 200) : null)} is not trusted here`);

    const nowMs = now.getTime();
    if (state.keys === undefined || nowMs - state.fetchedAt > this.#maxAgeMs) await this.#refresh(state, nowMs, state.keys !== undefined);
    let payload: JWTPayload;
    try {
      payload = await this.#verifyWith(state, token, now);
    } catch (e) {
      // Step 4: a kid we do not know may be a rotation; refetch once (rate-limited), then decide.
      if (!(e instanceof joseErrors.JWKSNoMatchingKey) || nowMs - state.fetchedAt < this.#cooldownMs) throw mapJoseError(e);
      await this.#refresh(state, nowMs, true);
      try {
        payload = await this.#verifyWith(state, token, now);
      } catch (e2) {
        throw mapJoseError(e2);
      }
    }
    const verified = payload as unknown as JsonObject;
    const { identity, kind } = identityOf(verified, state.config.identityClaim);
    const subject = verified['sub'] as string;
    return {
      issuer: state.config.issuer,
      subject,
      identity,
      identityKind: kind,
      scopes: [...state.config.scopes],
      expiresAt: (payload.exp ?? 0) * 1000,
      callerId: `oidc-${Buffer.from(sha256(`${state.config.issuer}\n${subject}`)).toString('hex').slice(0, 16)}`,
    };
  }

  #verifyWith(state: IssuerState, token: string, now: Date): Promise<JWTPayload> {
    return jwtVerify(token, state.keys!, {
      issuer: state.config.issuer,
      audience: state.config.audience,
      algorithms: [...OIDC_ALGORITHMS],
      clockTolerance: this.#tolerance,
      currentDate: now,
      requiredClaims: ['exp', 'sub'],
    }).then((r) => r.payload);
  }

  /** refresh fetches discovery (first time) and the JWKS; one fetch at a time per issuer. */
  #refresh(state: IssuerState, nowMs: number, keepOnFailure: boolean): Promise<void> {
    state.pending ??= (async () => {
      try {
        state.jwksUri ??= await this.#discover(state.config.issuer);
        const set = await this.#fetchJwks(state.jwksUri);
        state.keys = createLocalJWKSet(set);
        state.fetchedAt = nowMs;
      } catch (e) {
        // A refresh that fails keeps the keys we had (an issuer briefly down does not lock callers out).
        if (!keepOnFailure || state.keys === undefined) throw e;
        state.fetchedAt = nowMs;
      } finally {
        delete state.pending;
      }
    })();
    return state.pending;
  }

  async #fetchJson(url: URL, what: string): Promise<JsonObject> {
    try {
      const a = await httpGet(url, { stallMs: this.#timeoutMs, deadline: Date.now() + this.#timeoutMs, headers: { accept: 'application/json' } });
      if (a.status !== 200) {
        a.close();
        throw new IoError('ERR_OIDC_PROVIDER', `${url.href}: the ${what} answered HTTP ${a.status}`);
      }
      const body = await readCapped(a, OIDC_DOCUMENT_MAX_BYTES, url, what);
      return parseJsonObject(body, { maxBytes: OIDC_DOCUMENT_MAX_BYTES, maxDepth: 16, allowFloats: true, what });
    } catch (e) {
      if (isTrustError(e) && e.code === 'ERR_OIDC_PROVIDER') throw e;
      throw new IoError('ERR_OIDC_PROVIDER', `cannot use the ${what} at ${url.href}: ${(e as Error).message}`, { cause: e });
    }
  }

  async #discover(issuer: string): Promise<URL> {
    const url = new URL(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    const doc = await this.#fetchJson(url, 'discovery document');
    // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be exactly the issuer we asked.
    if (doc['issuer'] !== issuer) throw new IoError('ERR_OIDC_PROVIDER', `${url.href}: the discovery document names issuer ${JSON.stringify(typeof doc['issuer'] === 'string' ? doc['issuer'].slice(0, 200) : (doc['issuer'] ?? null))}, expected ${issuer}`);
    const jwks = doc['jwks_uri'];
    if (typeof jwks !== 'string') throw new IoError('ERR_OIDC_PROVIDER', `${url.href}: the discovery document has no jwks_uri`);
    try {
      return checkIssuerUrl(jwks, 'jwks_uri');
    } catch (e) {
      throw new IoError('ERR_OIDC_PROVIDER', `${url.href}: ${(e as Error).message}`, { cause: e });
    }
  }

  async #fetchJwks(url: URL): Promise<JSONWebKeySet> {
    const doc = await this.#fetchJson(url, 'JWKS');
    const keys = doc['keys'];
    if (!Array.isArray(keys)) throw new IoError('ERR_OIDC_PROVIDER', `${url.href}: expected a JWKS {"keys": [...]}`);
    if (keys.length > JWKS_MAX_KEYS) throw new IoError('ERR_OIDC_PROVIDER', `${url.href}: the JWKS has ${keys.length} keys, over the cap of ${JWKS_MAX_KEYS}`);
    // Public keys only: a symmetric ("oct") key in a JWKS is never used (no HS* with published keys).
    const usable = keys.filter((k): k is JsonObject => isJsonObject(k) && typeof k['kty'] === 'string' && k['kty'] !== 'oct' && k['d'] === undefined);
    return { keys: usable as unknown as JWK[] };
  }
}

/** mapJoseError turns jose's failures into the coded refusals of this module. */
export function mapJoseError(e: unknown): Error {
  if (isTrustError(e)) return e;
  if (e instanceof joseErrors.JWTExpired) return new PolicyError('ERR_OIDC_EXPIRED', 'the token has expired', { cause: e });
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return new PolicyError('ERR_OIDC_AUDIENCE', 'the token is not for this service (aud)', { cause: e });
    if ((e.claim === 'nbf' || e.claim === 'iat') && e.reason === 'check_failed') return new PolicyError('ERR_OIDC_NOT_YET_VALID', `the token's "${e.claim}" is in the future`, { cause: e });
    if (e.claim === 'iss') return new PolicyError('ERR_OIDC_ISSUER_UNKNOWN', 'the token\'s issuer is not trusted here', { cause: e });
    return new PolicyError('ERR_OIDC_CLAIMS', `the token's "${e.claim.slice(0, 40)}" claim is ${e.reason}`, { cause: e });
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return new PolicyError('ERR_OIDC_ALGORITHM', 'the token\'s algorithm is not allowed', { cause: e });
  if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new PolicyError('ERR_OIDC_KEY_UNKNOWN', 'no single key of the issuer\'s JWKS matches the token\'s "kid" and algorithm', { cause: e });
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return new PolicyError('ERR_OIDC_SIGNATURE_INVALID', 'the token\'s signature does not verify', { cause: e });
  if (e instanceof joseErrors.JOSEError) return new PolicyError('ERR_OIDC_TOKEN_MALFORMED', `the token is not a valid JWT (${e.code})`, { cause: e });
  if (e instanceof FormatError) return new PolicyError('ERR_OIDC_TOKEN_MALFORMED', e.message, { cause: e });
  return e instanceof Error ? e : new Error(String(e));
}

/**
 * auth/auth — bearer tokens and Ed25519 challenge-response for the signing API (issue 11; the identity design of
 * CANIDAE: a registered Ed25519 key signs a server nonce and gets a 5-minute token).
 *
 * Token text, byte for byte: `custody_` + id (16 lowercase hex: 8 random bytes, public, the row key) + `_` + secret
 * (43 base64url characters: 32 random bytes). The store keeps SHA-256 of the whole text (or HMAC-SHA-256 under the
 * secret store's token key, auth/token-key), never the text. A presented token is looked up by its id, then its
 * digest is compared with the stored digest in constant time: the
 * lookup timing depends only on the public id, the comparison on nothing.
 *
 * Challenge message (what the identity signs, pure Ed25519 over these UTF-8 bytes, each line ending in "\n"):
 * ```
 * custody.auth-challenge/v1
 * audience <the daemon's log origin, e.g. example.com/custody/log>
 * identity <name>
 * nonce <43 base64url characters>
 * ```
 * The header separates this from every other Custody signature (manifests, notes, DSSE PAE all start otherwise); the
 * audience binds the answer to one service, so a challenge relayed from another service cannot be answered with a
 * signature the client made for it; identity and nonce bind it to one registered name and one single-use challenge.
 *
 * Trust boundary: the Authorization header and every request field are attacker-controlled; the store is trusted.
 * Errors never contain a token.
 */
import { PublicKey, constantTimeEqual, randomBytes, sha256, verifyEd25519 } from '../crypto/index.ts';
import { decodeBase64Either } from '../encoding/bytes.ts';
import { FormatError, PolicyError, UsageError, isTrustError } from '../errors.ts';
import type { OidcIdentity } from './oidc.ts';
import { isScope, type AuthStore, type IdentityRecord, type Scope, type TokenRecord } from './store.ts';

export const TOKEN_PREFIX = 'custody_';
const TOKEN_RE = /^custody_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** IDENTITY_TOKEN_TTL_MS: a token from POST /v1/auth/token lives 5 minutes (CANIDAE). */
export const IDENTITY_TOKEN_TTL_MS = 5 * 60_000;
/** CHALLENGE_TTL_MS: a nonce must be answered within 60 seconds. */
export const CHALLENGE_TTL_MS = 60_000;
/** CHALLENGE_MAX_OUTSTANDING caps unanswered nonces per identity (the challenge route needs no authentication). */
export const CHALLENGE_MAX_OUTSTANDING = 16;
export const CHALLENGE_HEADER = 'custody.auth-challenge/v1';
const NAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/;
const NONCE_RE = /^[A-Za-z0-9_-]{43}$/;

/** Principal is an authenticated caller. */
export interface Principal {
  tokenId: string;
  name: string;
  scopes: readonly Scope[];
  kind: 'api' | 'identity' | 'oidc';
  identity: string | null;
  /** oidc is the verified OIDC caller (kind `oidc`: auth/bearer, auth/oidc). */
  oidc?: OidcIdentity;
}

/** NewToken is a freshly created token: its record and its text (shown once). */
export interface NewToken {
  record: TokenRecord;
  token: string;
}

/** parseScopeList reads "sign,verify" (no blanks, no duplicates, at least one known scope). */
export function parseScopeList(text: string): Scope[] {
  const parts = text.split(',').map((s) => s.trim());
  const out: Scope[] = [];
  for (const p of parts) {
    if (!isScope(p)) throw new UsageError('ERR_USAGE_ARGUMENT', `--scope: expected a comma-separated list of sign, verify, permit, upload, admin, scan; got ${JSON.stringify(p.slice(0, 40))}`);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** checkName checks a token or identity name: 1–128 characters A-Z a-z 0-9 . _ @ + -. */
export function checkName(name: string, what: string): string {
  if (!NAME_RE.test(name)) throw new UsageError('ERR_USAGE_ARGUMENT', `${what}: expected 1–128 characters A-Z a-z 0-9 . _ @ + -, got ${JSON.stringify(name.slice(0, 40))}`);
  return name;
}

/** tokenDigestOf is what the store keeps of a token: its own keyed digest (auth/token-key) or SHA-256. */
function tokenDigestOf(store: AuthStore, token: string): Uint8Array {
  return store.tokenDigest !== undefined ? store.tokenDigest(token) : sha256(token);
}

/** createToken makes a token, stores its digest, and returns the text (the only time it exists outside the caller). */
export async function createToken(
  store: AuthStore,
  o: { name: string; scopes: readonly Scope[]; now: number; ttlMs: number | null; kind?: 'api' | 'identity'; identity?: string | null },
): Promise<NewToken> {
  const id = Buffer.from(randomBytes(8)).toString('hex');
  const token = `${TOKEN_PREFIX}${id}_${Buffer.from(randomBytes(32)).toString('base64url')}`;
  const record: TokenRecord = {
    id,
    name: o.name,
    scopes: [...o.scopes],
    kind: o.kind ?? 'api',
    identity: o.identity ?? null,
    createdAt: o.now,
    expiresAt: o.ttlMs === null ? null : o.now + o.ttlMs,
    revokedAt: null,
  };
  await store.insertToken({ ...record, digest: tokenDigestOf(store, token) });
  return { record, token };
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/**
 * authenticate checks an Authorization header against the store and returns the caller, or throws a PolicyError:
 * ERR_AUTH_UNAUTHENTICATED (no bearer token), ERR_AUTH_TOKEN_INVALID (not a token this store issued),
 * ERR_AUTH_TOKEN_EXPIRED, ERR_AUTH_TOKEN_REVOKED (the token or its identity was revoked). Reads the store every call.
 */
export async function authenticate(store: AuthStore, authorization: string | undefined, now: number): Promise<Principal> {
  const m = BEARER.exec(authorization ?? '');
  if (!m) throw new PolicyError('ERR_AUTH_UNAUTHENTICATED', 'expected an Authorization: Bearer header');
  const text = m[1]!;
  const parts = TOKEN_RE.exec(text);
  const invalid = (): PolicyError => new PolicyError('ERR_AUTH_TOKEN_INVALID', 'the bearer token is not one this service issued');
  if (!parts) throw invalid();
  const stored = await store.findToken(parts[1]!);
  // Constant-time comparison of digests (a missing row is compared against zeros, the same work).
  const ok = constantTimeEqual(tokenDigestOf(store, text), stored?.digest ?? new Uint8Array(32));
  if (stored === undefined || !ok) throw invalid();
  if (stored.revokedAt !== null || stored.identityRevoked) {
    throw new PolicyError('ERR_AUTH_TOKEN_REVOKED', `token ${stored.id} was revoked${stored.identityRevoked ? ' (its identity was revoked)' : ''}`);
  }
  if (stored.expiresAt !== null && stored.expiresAt <= now) {
    throw new PolicyError('ERR_AUTH_TOKEN_EXPIRED', `token ${stored.id} expired at ${new Date(stored.expiresAt).toISOString()}`);
  }
  return { tokenId: stored.id, name: stored.name, scopes: stored.scopes, kind: stored.kind, identity: stored.identity };
}

/** requireScope refuses a caller without `scope` with ERR_AUTH_SCOPE (403). */
export function requireScope(p: Principal, scope: Scope): void {
  if (!p.scopes.includes(scope)) {
    throw new PolicyError('ERR_AUTH_SCOPE', `this route needs the "${scope}" scope; the token has ${p.scopes.length === 0 ? 'none' : p.scopes.join(', ')}`, {
      details: { needed: scope, scopes: [...p.scopes] },
    });
  }
}

/** challengeMessage is the exact byte string an identity signs (module comment). */
export function challengeMessage(audience: string, identity: string, nonce: string): Uint8Array {
  return new TextEncoder().encode(`${CHALLENGE_HEADER}\naudience ${audience}\nidentity ${identity}\nnonce ${nonce}\n`);
}

/** registerIdentity stores a new identity with its Ed25519 key and scopes. */
export async function registerIdentity(store: AuthStore, o: { name: string; key: PublicKey; scopes: readonly Scope[]; now: number }): Promise<IdentityRecord> {
  const rec: IdentityRecord = { name: checkName(o.name, 'identity name'), publicKey: o.key.hex, scopes: [...o.scopes], createdAt: o.now, revokedAt: null };
  await store.addIdentity(rec);
  return rec;
}

/** issueChallenge stores a fresh nonce for a registered, unrevoked identity. */
export async function issueChallenge(store: AuthStore, identity: string, now: number): Promise<{ nonce: string; expiresAt: number }> {
  const id = await store.getIdentity(identity);
  if (id === undefined) throw new PolicyError('ERR_AUTH_IDENTITY_UNKNOWN', 'no such identity is registered');
  if (id.revokedAt !== null) throw new PolicyError('ERR_AUTH_IDENTITY_REVOKED', `the identity "${identity}" was revoked`);
  const nonce = Buffer.from(randomBytes(32)).toString('base64url');
  const expiresAt = now + CHALLENGE_TTL_MS;
  if (!(await store.putChallenge({ nonce, identity, expiresAt }, now, CHALLENGE_MAX_OUTSTANDING))) {
    throw new PolicyError('ERR_AUTH_CHALLENGE_LIMIT', `the identity has ${CHALLENGE_MAX_OUTSTANDING} unanswered challenges; answer or let them expire (60 s)`);
  }
  return { nonce, expiresAt };
}

/**
 * answerChallenge checks a signed nonce and issues a 5-minute token with the identity's scopes. The nonce is used up
 * by the attempt, whatever its outcome (single use). Refusals (all 401): ERR_AUTH_NONCE_UNKNOWN (never issued, or
 * issued to another identity), ERR_AUTH_NONCE_REPLAYED, ERR_AUTH_NONCE_EXPIRED, ERR_AUTH_IDENTITY_REVOKED,
 * ERR_AUTH_SIGNATURE_INVALID.
 */
export async function answerChallenge(
  store: AuthStore,
  o: { identity: string; nonce: string; signature: string; audience: string; now: number },
): Promise<NewToken> {
  if (!NONCE_RE.test(o.nonce)) throw new PolicyError('ERR_AUTH_NONCE_UNKNOWN', 'the nonce was not issued by this service');
  const c = await store.consumeChallenge(o.nonce, o.now);
  if (c === undefined || c.identity !== o.identity) throw new PolicyError('ERR_AUTH_NONCE_UNKNOWN', 'the nonce was not issued by this service to this identity');
  if (!c.fresh) throw new PolicyError('ERR_AUTH_NONCE_REPLAYED', 'the nonce was already used; ask for a new challenge');
  if (c.expiresAt <= o.now) throw new PolicyError('ERR_AUTH_NONCE_EXPIRED', `the challenge expired at ${new Date(c.expiresAt).toISOString()}; ask for a new one`);
  const id = await store.getIdentity(o.identity);
  if (id === undefined) throw new PolicyError('ERR_AUTH_IDENTITY_UNKNOWN', 'no such identity is registered');
  if (id.revokedAt !== null) throw new PolicyError('ERR_AUTH_IDENTITY_REVOKED', `the identity "${o.identity}" was revoked`);
  let valid = false;
  try {
    const sig = decodeBase64Either(o.signature, 'signature');
    valid = verifyEd25519(PublicKey.fromRaw(Buffer.from(id.publicKey, 'hex')), challengeMessage(o.audience, o.identity, o.nonce), sig);
  } catch (e) {
    // A malformed signature (bad base64, wrong length) is a wrong signature like any other.
    if (!isTrustError(e) || !(e instanceof FormatError)) throw e;
  }
  if (!valid) throw new PolicyError('ERR_AUTH_SIGNATURE_INVALID', 'the signature does not verify under the identity key for this challenge');
  return createToken(store, { name: `identity:${o.identity}`, scopes: id.scopes, now: o.now, ttlMs: IDENTITY_TOKEN_TTL_MS, kind: 'identity', identity: o.identity });
}

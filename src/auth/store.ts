/**
 * auth/store — the durable state of the signing API's authentication (issue 11): scoped API tokens (stored as
 * SHA-256 digests), registered Ed25519 identities, and single-use challenge nonces. One interface, two backends in
 * the same storage tier as the transparency log: SQLite embedded by default (auth/store-sqlite, `DATA/auth.db`), and
 * PostgreSQL when the log's state lives there (auth/store-postgres, schema `<log schema>_auth`), so several daemons
 * behind a load balancer share tokens, identities and nonces.
 *
 * Why a sibling store and not more tables in the log's database: the log's schema is versioned by its own storage
 * (user_version / meta.schema_version) and its write lock is the sequencer's fsync path; token lookups and nonce
 * consumption neither need nor should wait on that lock. Same backends, same durability settings, separate tables.
 *
 * Duties of every backend:
 * 1. Linearizable reads. Once a write resolved (a token revoked, an identity revoked, a nonce consumed), every later
 *    read from any process sees it. Daemons read the store on every request; nothing is cached, so a revocation is
 *    effective at the next request (no stale acceptance).
 * 2. Atomic single use. `consumeChallenge` marks a nonce used and returns it in one atomic step: of two concurrent
 *    calls with the same nonce (same process or not), exactly one gets `fresh: true`.
 * 3. Revoking an identity revokes every token issued to it in the same transaction; a token's lookup also returns
 *    whether its identity is revoked (belt and braces: a token issued while the revoke ran is still refused).
 * 4. Secrets. The store never sees a token, only its digest: SHA-256 of the token, or, when the daemon keeps its
 *    secrets in a secret store (`--secrets`), HMAC-SHA-256 under a key that lives only in that store
 *    (auth/token-key): then the database alone can neither confirm a token nor mint one. Ids, names and public keys
 *    are not secret.
 * 5. Errors. Infrastructure failures reject with IoError ERR_AUTH_STORE (cause attached, no connection string).
 */

/**
 * SCOPES are the permissions a token can carry; a route names the one it needs. `admin` implies no other scope.
 * `scan` marks a registered identity as a scanner: its key's inner signatures over scans are the ones the Certus
 * routes accept (server/signing/scan); it opens no route.
 */
export const SCOPES = ['sign', 'verify', 'permit', 'upload', 'admin', 'scan'] as const;
export type Scope = (typeof SCOPES)[number];

/** TokenRecord is a stored token without its digest. Times are milliseconds since the Unix epoch. */
export interface TokenRecord {
  /** id is 16 lowercase hex characters, public (it is part of the token and names it in lists and audit events). */
  id: string;
  name: string;
  scopes: Scope[];
  /** kind: `api` (custody token create) or `identity` (issued by POST /v1/auth/token). */
  kind: 'api' | 'identity';
  /** identity names the identity an `identity` token was issued to, else null. */
  identity: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

/** StoredToken is what a lookup returns: the record, its digest, and whether its identity was revoked. */
export interface StoredToken extends TokenRecord {
  /** digest is SHA-256 of the whole token text (32 bytes). */
  digest: Uint8Array;
  identityRevoked: boolean;
}

/** IdentityRecord is a registered Ed25519 identity. */
export interface IdentityRecord {
  /** name: 1–128 characters [A-Za-z0-9._@+-]. */
  name: string;
  /** publicKey is the raw Ed25519 public key, 64 lowercase hex characters. */
  publicKey: string;
  scopes: Scope[];
  createdAt: number;
  revokedAt: number | null;
}

/** ChallengeRecord is one issued nonce. */
export interface ChallengeRecord {
  nonce: string;
  identity: string;
  expiresAt: number;
}

/** ConsumedChallenge is the answer of consumeChallenge: the record, and whether this call was its first use. */
export interface ConsumedChallenge extends ChallengeRecord {
  fresh: boolean;
}

/** SignatureRecord is one envelope signed by POST /v1/sign and appended to the log (GET /v1/transparency). */
export interface SignatureRecord {
  /** entryId is the RFC 6962 leaf hash of the log entry, 64 lowercase hex (content-addressed, like Rekor's UUID). */
  entryId: string;
  logIndex: number;
  /** signer is who asked: the identity name, or the API token's name. */
  signer: string;
  /** callerId is the id of the token that asked (never the token). */
  callerId: string;
  artifact: string;
  artifactType: string;
  createdAt: number;
  /** envelope is the DSSE envelope as compact JSON. */
  envelope: string;
}

/** AuthStore is the state of the signing API's authentication; see the module comment for its duties. */
export interface AuthStore {
  /** where names the backend for messages (never a connection string). */
  readonly where: string;
  /**
   * tokenDigest, when present, is the digest stored for a token and compared with it (auth/token-key: HMAC-SHA-256
   * under the secret store's key); absent, SHA-256 of the token text.
   */
  readonly tokenDigest?: (token: string) => Uint8Array;
  insertToken(t: TokenRecord & { digest: Uint8Array }): Promise<void>;
  /** findToken returns the token with this id, or undefined. */
  findToken(id: string): Promise<StoredToken | undefined>;
  /** listTokens lists tokens of kind `api` (or every kind with `all`), oldest first. */
  listTokens(all?: boolean): Promise<TokenRecord[]>;
  /** revokeToken sets revokedAt if the token exists and is not revoked; returns whether the token exists. */
  revokeToken(id: string, now: number): Promise<boolean>;
  /** addIdentity registers an identity; an existing name (even revoked) rejects with ERR_AUTH_IDENTITY_EXISTS. */
  addIdentity(i: IdentityRecord): Promise<void>;
  getIdentity(name: string): Promise<IdentityRecord | undefined>;
  listIdentities(): Promise<IdentityRecord[]>;
  /** revokeIdentity revokes the identity and every token issued to it (duty 3); returns whether it exists. */
  revokeIdentity(name: string, now: number): Promise<boolean>;
  /**
   * putChallenge stores a nonce unless the identity already has `maxOutstanding` unexpired, unused nonces (then it
   * resolves false). Expired nonces and expired identity tokens are swept here.
   */
  putChallenge(c: ChallengeRecord, now: number, maxOutstanding: number): Promise<boolean>;
  /** consumeChallenge marks the nonce used and returns it (duty 2), or undefined when it was never issued. */
  consumeChallenge(nonce: string, now: number): Promise<ConsumedChallenge | undefined>;
  /** insertSignature records a logged envelope; a second record of the same entryId resolves false (kept first). */
  insertSignature(r: SignatureRecord): Promise<boolean>;
  getSignature(entryId: string): Promise<SignatureRecord | undefined>;
  /** listSignatures lists records, oldest first, optionally of one signer. */
  listSignatures(o: { signer?: string | undefined; limit: number; offset: number }): Promise<{ total: number; records: SignatureRecord[] }>;
  /** insertCertificate records the keyless certificate (PEM) of a logged entry; a second one for the same entry is ignored. */
  insertCertificate(entryId: string, pem: string): Promise<void>;
  /** getCertificate returns the keyless certificate of an entry, or undefined (an entry signed by the daemon's key). */
  getCertificate(entryId: string): Promise<string | undefined>;
  /** revokeOidcIdentity refuses an OIDC identity (email or subject, any issuer) from the next request; false when it already was. */
  revokeOidcIdentity(identity: string, now: number): Promise<boolean>;
  isOidcIdentityRevoked(identity: string): Promise<boolean>;
  /** ping proves the store answers (GET /v1/ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** parseScopes reads stored or typed scope lists ("sign,verify"); unknown scopes are refused by the callers. */
export function splitScopes(text: string): string[] {
  return text === '' ? [] : text.split(',');
}

/** isScope tells whether s names a scope. */
export function isScope(s: string): s is Scope {
  return (SCOPES as readonly string[]).includes(s);
}

/**
 * auth/token-key — API token digests keyed by a secret that is not in the database (issue 12: "the daemon keeps its
 * admin and API token hashes … in this store when `--secrets` is configured"). The auth store (auth/store) keeps, for
 * each token, HMAC-SHA-256 (RFC 2104) of the whole token text under a 256-bit key, `daemon.token-hmac-key` of the
 * daemon's secret store (secrets/store: envelope-encrypted, its keyring sealed by a passphrase or a token KEK),
 * instead of the unkeyed SHA-256 it keeps without `--secrets`.
 *
 * Why a key and not the digests themselves in the secret store: the store is small and written rarely (each write is
 * a new envelope and a locked rename); tokens are created and revoked at request rate (a 5-minute identity token per
 * challenge) and must be shared by several daemons on one PostgreSQL database, with revocation seen at the next
 * request. Keeping the rows where they are and keying their digests gives the property that matters:
 * - a copy of the database (a backup, a replica, a leaked dump) verifies nothing: without the key no digest can be
 *   matched against a token seen elsewhere (a log line, a shell history);
 * - write access to the database mints nothing: a row with the SHA-256 of a token the attacker chose is refused,
 *   because the daemon compares HMAC(key, token), which only the holder of the key can compute.
 * The token's own 256 random bits already defeat guessing; the key guards against the database being the only
 * barrier. Tokens made without the key (before `--secrets` was configured) do not verify under it: re-issue them
 * (`custody token create --secrets STORE`).
 *
 * Format of the stored secret: 43 base64url characters (32 random bytes), one line, made on the daemon's first start
 * with `--secrets` and never rotated in place (rotating it would invalidate every token; revoke and re-issue instead).
 */
import { hmacSha256, randomBytes } from '../crypto/index.ts';
import { decodeBase64Either } from '../encoding/bytes.ts';
import { ConfigError } from '../errors.ts';
import type { AuthStore } from './store.ts';

/** TOKEN_KEY_BYTES: the HMAC key is 256 bits. */
export const TOKEN_KEY_BYTES = 32;

/** newTokenKeyText makes the stored text of a new token key (43 base64url characters). */
export function newTokenKeyText(): string {
  return Buffer.from(randomBytes(TOKEN_KEY_BYTES)).toString('base64url');
}

/** parseTokenKeyText reads the stored key text; ERR_CONFIG_INVALID when it is not 32 bytes of base64url. */
export function parseTokenKeyText(text: string): Uint8Array {
  let key: Uint8Array | undefined;
  try {
    key = decodeBase64Either(text.trim(), 'token key');
  } catch {
    key = undefined;
  }
  if (key?.length !== TOKEN_KEY_BYTES) throw new ConfigError('ERR_CONFIG_INVALID', `the token key must be ${TOKEN_KEY_BYTES} bytes of base64url`);
  return key;
}

/**
 * withTokenKey returns the auth store whose token digests are HMAC-SHA-256 under key (module doc); every other
 * method is the store's own. The key is copied; the caller may zero its buffer.
 */
export function withTokenKey(store: AuthStore, key: Uint8Array): AuthStore {
  if (key.length !== TOKEN_KEY_BYTES) throw new RangeError(`expected a ${TOKEN_KEY_BYTES}-byte token key, got ${key.length}`);
  const k = new Uint8Array(key);
  const tokenDigest = (token: string): Uint8Array => hmacSha256(k, token);
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'tokenDigest') return tokenDigest;
      const v: unknown = Reflect.get(target, prop, target);
      // Backends keep private fields: their methods run with the real store as `this`.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * keys/key-id — the one key id Custody writes: the TUF KEYID (The Update Framework specification v1.0.x, §4.2
 * "File formats: general principles", KEYID), and the legacy id Custody wrote before, kept for reading hints only.
 *
 * TUF key id, byte for byte. For the RFC 8032 §7.1 TEST 1 public key the hashed text is exactly
 *
 *   {"keytype":"ed25519","keyval":{"public":"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"},"scheme":"ed25519"}
 *
 * (OLPC canonical JSON as TUF signs it, encoding/canonical `canonicalizeTuf`: keys sorted, no whitespace, one line,
 * no newline), and the key id is the lowercase hex of its SHA-256, 64 chars:
 * `74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916`.
 * Only `keytype`, `keyval.public` and `scheme` enter the hash, as securesystemslib's key id rule does; extension
 * fields a root puts next to them (`x-custody-not-before`, …) do not. A future key type adds its own keytype and
 * scheme strings; the rule stays the same.
 *
 * Trust boundary: a key id is a name, never evidence. Readers recompute it from the key bytes (trust/root refuses a
 * root whose ids do not match, TUF §4.3), and thresholds count distinct key bytes, not ids (trust/threshold).
 *
 * Display: key ids are for documents and machines. `PublicKey.fingerprint` (`SHA256:<base64 of SHA-256(raw)>`) is a
 * display form for people (and the `CUSTODY_ALLOWED_KEYS` pin of a package signer); it is never written as a key id.
 */
import type { PublicKey } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';
import { encodeHex } from '../encoding/bytes.ts';
import { canonicalizeTuf } from '../encoding/canonical.ts';
import type { JsonObject } from '../encoding/json.ts';

/** TUF_KEY_ID_PATTERN matches a TUF key id: 64 lowercase hex chars (hex SHA-256). */
export const TUF_KEY_ID_PATTERN = /^[0-9a-f]{64}$/;
/** LEGACY_KEY_ID_PATTERN matches the ids Custody wrote before TUF key ids: 32 lowercase hex chars. */
export const LEGACY_KEY_ID_PATTERN = /^[0-9a-f]{32}$/;

/** ED25519_KEY_TYPE and ED25519_KEY_SCHEME are the TUF `keytype` and `scheme` strings of an Ed25519 key. */
export const ED25519_KEY_TYPE = 'ed25519';
export const ED25519_KEY_SCHEME = 'ed25519';

/** tufKeyObject returns the TUF key object of an Ed25519 key: `{keytype, keyval: {public: <64 hex>}, scheme}`. */
export function tufKeyObject(key: PublicKey): JsonObject {
  return { keytype: ED25519_KEY_TYPE, keyval: { public: key.hex }, scheme: ED25519_KEY_SCHEME };
}

// Ids are asked for the same few keys many times per verification (revocation checks, lookups); PublicKey objects
// are immutable, so an id computed once per object stays right.
const cache = new WeakMap<PublicKey, string>();
const legacyCache = new WeakMap<PublicKey, string>();

/**
 * tufKeyId returns the TUF key id of `key`: hex SHA-256 of the canonical JSON of its key object (TUF §4.2).
 *
 * @example
 * tufKeyId(PublicKey.fromRaw(decodeHex('d75a98…511a', 32))) // '74c181c7…4916'
 */
export function tufKeyId(key: PublicKey): string {
  let id = cache.get(key);
  if (id === undefined) {
    // TUF §4.2: KEYID = hexdigest(SHA-256(canonical JSON of the key object)).
    id = encodeHex(sha256(canonicalizeTuf(tufKeyObject(key))));
    cache.set(key, id);
  }
  return id;
}

/**
 * legacyKeyId returns the id Custody wrote before TUF key ids, hex(SHA-256(raw key))[0:32]. It is only ever
 * compared with a `key_id` hint in an old manifest or signature set, never written.
 */
export function legacyKeyId(key: PublicKey): string {
  let id = legacyCache.get(key);
  if (id === undefined) {
    id = encodeHex(sha256(key.raw).subarray(0, 16));
    legacyCache.set(key, id);
  }
  return id;
}

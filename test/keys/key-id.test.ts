/**
 * TUF key ids (TUF §4.2): the RFC 8032 §7.1 TEST 1 vector, the exact hashed bytes, and a cross-check of every id in
 * a root Custody writes against an independent computation (node:crypto + JSON.stringify of the sorted key object,
 * the way securesystemslib and tuf-js compute it) — not through any Custody code.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { PublicKey } from '../../src/crypto/index.ts';
import { decodeHex } from '../../src/encoding/bytes.ts';
import { LEGACY_KEY_ID_PATTERN, TUF_KEY_ID_PATTERN, legacyKeyId, tufKeyId, tufKeyObject } from '../../src/keys/key-id.ts';
import { canonicalizeTuf } from '../../src/encoding/canonical.ts';
import { formatRoot } from '../../src/trust/root.ts';
import { key, rootOf } from '../support/fixtures.ts';

// RFC 8032 §7.1 TEST 1 public key, and its TUF key id (issue #8, item 1).
const RFC8032_TEST1_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const RFC8032_TEST1_TUF_KEY_ID = '74c181c7ad8a0855d4b55e44d2ba87aabdddb196832571f15f92fece332e4916';

/** independentKeyId hashes the key object as a TUF client would: keys sorted, no whitespace, hex SHA-256. */
function independentKeyId(keyObject: { keytype: string; scheme: string; keyval: { public: string } }): string {
  const sorted = { keytype: keyObject.keytype, keyval: { public: keyObject.keyval.public }, scheme: keyObject.scheme };
  return createHash('sha256').update(JSON.stringify(sorted), 'utf8').digest('hex');
}

test('key id vector: RFC 8032 TEST 1 public key → its TUF key id', () => {
  const pk = PublicKey.fromRaw(decodeHex(RFC8032_TEST1_PUBLIC, 32));
  assert.equal(tufKeyId(pk), RFC8032_TEST1_TUF_KEY_ID);
  assert.match(tufKeyId(pk), TUF_KEY_ID_PATTERN);
  // The hashed text, byte for byte (keys/key-id module doc).
  assert.equal(
    Buffer.from(canonicalizeTuf(tufKeyObject(pk))).toString('utf8'),
    `{"keytype":"ed25519","keyval":{"public":"${RFC8032_TEST1_PUBLIC}"},"scheme":"ed25519"}`,
  );
  assert.equal(createHash('sha256').update(canonicalizeTuf(tufKeyObject(pk))).digest('hex'), RFC8032_TEST1_TUF_KEY_ID);
  // A second PublicKey object for the same bytes has the same id (the cache is per object, the id per key).
  assert.equal(tufKeyId(PublicKey.fromRaw(decodeHex(RFC8032_TEST1_PUBLIC, 32))), RFC8032_TEST1_TUF_KEY_ID);
  // The legacy id (read as a hint only) is hex(SHA-256(raw))[0:32], the value Custody used to write.
  assert.equal(legacyKeyId(pk), '21fe31dfa154a261626bf854046fd227');
  assert.match(legacyKeyId(pk), LEGACY_KEY_ID_PATTERN);
  assert.equal(legacyKeyId(pk), createHash('sha256').update(pk.raw).digest('hex').slice(0, 32));
});

test('every key id in a root Custody writes equals the independent computation, in keys, roles and signatures', () => {
  const keys = ['a', 'b', 'c'].map(key);
  const doc = JSON.parse(formatRoot(rootOf(keys, 2))) as {
    signed: { keys: Record<string, { keytype: string; scheme: string; keyval: { public: string } }>; roles: Record<string, { keyids: string[] }> };
    signatures: Array<{ keyid: string }>;
  };
  const ids = Object.keys(doc.signed.keys);
  assert.equal(ids.length, 3);
  for (const [id, k] of Object.entries(doc.signed.keys)) {
    assert.equal(id, independentKeyId(k));
    assert.match(id, /^[0-9a-f]{64}$/);
  }
  const expected = keys.map((k) => independentKeyId({ keytype: 'ed25519', scheme: 'ed25519', keyval: { public: k.publicKey.hex } })).sort();
  assert.deepEqual([...ids].sort(), expected);
  for (const role of Object.values(doc.signed.roles)) assert.deepEqual([...role.keyids].sort(), expected);
  assert.deepEqual(doc.signatures.map((s) => s.keyid).sort(), expected);
});

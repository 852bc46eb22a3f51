/**
 * The threshold table: the TUF/tough advisory classes (duplicate signatures, the same key under two ids, unknown
 * key, revoked, expired, not-yet-valid, bad signature, wrong algorithm, malformed) — none of them counts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrivateKey } from '../../src/crypto/index.ts';
import { countThreshold, type AuthorizedKey, type CandidateSignature } from '../../src/trust/threshold.ts';
import { NOW, key } from '../support/fixtures.ts';
import { legacyKeyId, tufKeyId } from '../../src/keys/key-id.ts';

const msg = new TextEncoder().encode('the exact signed bytes');
const a = key('a');
const b = key('b');
const c = key('c');
const stranger = key('stranger');

function ak(id: string, k: PrivateKey, window: { notBefore?: string; notAfter?: string } = {}): [string, AuthorizedKey] {
  return [id, { id, key: k.publicKey, notBefore: window.notBefore ? new Date(window.notBefore) : undefined, notAfter: window.notAfter ? new Date(window.notAfter) : undefined }];
}
function sig(id: string, k: PrivateKey, m: Uint8Array = msg, algorithm = 'ed25519'): CandidateSignature {
  return { keyId: id, algorithm, signature: k.sign(m) };
}

const authorized = new Map([ak('a', a), ak('b', b), ak('b-again', b), ak('c', c, { notAfter: '2026-01-01T00:00:00Z' }), ak('d', stranger, { notBefore: '2027-01-01T00:00:00Z' })]);

const rows: Array<[string, CandidateSignature[], number, string[]]> = [
  ['one valid signature', [sig('a', a)], 1, []],
  ['duplicate signatures by one key', [sig('a', a), sig('a', a)], 1, ['duplicate']],
  ['the same key listed under two ids', [sig('b', b), sig('b-again', b)], 1, ['duplicate']],
  ['unknown key', [sig('zz', stranger)], 0, ['unknown-key']],
  ['key outside its validity window (expired)', [sig('c', c)], 0, ['key-expired']],
  ['key not yet valid', [sig('d', stranger)], 0, ['key-not-yet-valid']],
  ['signature over other bytes', [sig('a', a, new TextEncoder().encode('other'))], 0, ['bad-signature']],
  ['signature by another key under a trusted id', [sig('a', b)], 0, ['bad-signature']],
  ['unsupported algorithm', [sig('a', a, msg, 'rsa')], 0, ['unsupported-algorithm']],
  ['malformed signature', [{ keyId: 'a', algorithm: 'ed25519', signature: undefined }], 0, ['malformed']],
  ['claimed public key differs from the trusted one', [{ ...sig('a', a), claimedPublicKey: b.publicKey.raw }], 0, ['key-mismatch']],
];

for (const [name, sigs, count, reasons] of rows) {
  test(`threshold: ${name} → ${count} counted`, () => {
    const r = countThreshold({ message: msg, signatures: sigs, authorized, threshold: 2, revoked: new Set(), now: NOW });
    assert.equal(r.valid.length, count);
    assert.deepEqual(r.rejected.map((x) => x.reason), reasons);
    assert.equal(r.met, false);
  });
}

test('threshold: revoked keys never count, whatever id they are listed under', () => {
  const r = countThreshold({ message: msg, signatures: [sig('b', b), sig('b-again', b), sig('a', a)], authorized, threshold: 2, revoked: new Set([tufKeyId(b.publicKey)]), now: NOW });
  assert.deepEqual(r.valid, ['a']);
  assert.deepEqual(r.rejected.map((x) => x.reason), ['revoked', 'revoked']);
  assert.equal(r.met, false);
});

test('threshold: two distinct valid keys meet 2', () => {
  const r = countThreshold({ message: msg, signatures: [sig('zz', stranger), sig('a', a), sig('a', a), sig('b', b)], authorized, threshold: 2, revoked: new Set(), now: NOW });
  assert.deepEqual(r.valid, ['a', 'b']);
  assert.equal(r.met, true);
});

test('threshold: a threshold of 0 is never met', () => {
  const r = countThreshold({ message: msg, signatures: [], authorized, threshold: 0, revoked: new Set(), now: NOW });
  assert.equal(r.met, false);
});

test('threshold: key ids are exact for roots; where the document marks them as hints they resolve by key bytes or a legacy id', () => {
  const byTufId = new Map([ak(tufKeyId(a.publicKey), a)]);
  const legacy = sig(legacyKeyId(a.publicKey), a);
  const claimed: CandidateSignature = { ...sig('ab'.repeat(32), a), claimedPublicKey: a.publicKey.raw };
  const count = (s: CandidateSignature, keyIdsAreHints: boolean) =>
    countThreshold({ message: msg, signatures: [s], authorized: byTufId, threshold: 1, revoked: new Set(), now: NOW, keyIdsAreHints });
  for (const s of [legacy, claimed]) {
    assert.deepEqual(count(s, false).rejected.map((x) => x.reason), ['unknown-key'], 'strict: the id must name the key');
    const r = count(s, true);
    assert.deepEqual(r.valid, [tufKeyId(a.publicKey)], 'hint: counted under the authorized id');
    assert.equal(r.met, true);
  }
  // A hint that resolves still has to verify against the authorized key, and revocation follows the key bytes.
  assert.deepEqual(count({ ...legacy, signature: b.sign(msg) }, true).rejected.map((x) => x.reason), ['bad-signature']);
  const revoked = countThreshold({ message: msg, signatures: [legacy], authorized: byTufId, threshold: 1, revoked: new Set([tufKeyId(a.publicKey)]), now: NOW, keyIdsAreHints: true });
  assert.deepEqual(revoked.rejected.map((x) => x.reason), ['revoked']);
});

/**
 * Ed25519 under our declared acceptance rule (ED25519_ACCEPTANCE_RULE): every Wycheproof case gives its expected
 * verdict, and the RFC 8032 §7.1 vectors sign and verify byte for byte.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ED25519_ACCEPTANCE_RULE, PrivateKey, PublicKey, verifyEd25519 } from '../../src/crypto/index.ts';
import { assertCode } from '../support/assert.ts';
import { vectorPath } from '../support/vectors.ts';

interface WycheproofCase {
  tcId: number;
  comment: string;
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface WycheproofGroup {
  publicKey: { pk: string };
  tests: WycheproofCase[];
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

test(`wycheproof ed25519_test.json: all 151 cases give the expected verdict (${ED25519_ACCEPTANCE_RULE})`, () => {
  const doc = JSON.parse(readFileSync(vectorPath('wycheproof', 'ed25519_test.json'), 'utf8')) as { numberOfTests: number; testGroups: WycheproofGroup[] };
  let n = 0;
  const wrong: string[] = [];
  for (const g of doc.testGroups) {
    const key = PublicKey.fromRaw(hex(g.publicKey.pk));
    for (const t of g.tests) {
      n++;
      // Our verify function: a malformed signature (not 64 bytes) throws ERR_KEY_SIGNATURE_LENGTH, which is a refusal.
      let ok: boolean;
      try {
        ok = verifyEd25519(key, hex(t.msg), hex(t.sig));
      } catch {
        ok = false;
      }
      const want = t.result === 'valid';
      assert.notEqual(t.result, 'acceptable', `case ${t.tcId} is "acceptable": pin it explicitly`);
      if (ok !== want) wrong.push(`tcId ${t.tcId} (${t.comment}): expected ${t.result}, got ${ok ? 'valid' : 'invalid'}`);
    }
  }
  assert.equal(n, 151);
  assert.equal(n, doc.numberOfTests);
  assert.deepEqual(wrong, []);
});

// RFC 8032 §7.1 TEST 1, TEST 2 and TEST 3 (secret key, public key, message, signature), from the RFC text.
const RFC8032 = [
  {
    sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    msg: '72',
    sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

test('RFC 8032 §7.1 vectors: derived public key, deterministic signature, verification', () => {
  for (const v of RFC8032) {
    const k = PrivateKey.fromSeed(hex(v.sk));
    assert.equal(k.publicKey.hex, v.pk);
    assert.equal(Buffer.from(k.sign(hex(v.msg))).toString('hex'), v.sig);
    assert.equal(verifyEd25519(PublicKey.fromRaw(hex(v.pk)), hex(v.msg), hex(v.sig)), true);
    const bad = hex(v.sig);
    bad[0]! ^= 1;
    assert.equal(verifyEd25519(PublicKey.fromRaw(hex(v.pk)), hex(v.msg), bad), false);
  }
});

test('malformed input throws coded errors; well-formed invalid input returns false', () => {
  const k = PrivateKey.generate();
  assertCode(() => PublicKey.fromRaw(new Uint8Array(31)), 'ERR_KEY_INVALID');
  assertCode(() => PublicKey.fromRaw(new Uint8Array(33)), 'ERR_KEY_INVALID');
  assertCode(() => verifyEd25519(k.publicKey, new Uint8Array(1), new Uint8Array(63)), 'ERR_KEY_SIGNATURE_LENGTH');
  assertCode(() => verifyEd25519(k.publicKey, new Uint8Array(1), new Uint8Array(65)), 'ERR_KEY_SIGNATURE_LENGTH');
  assertCode(() => PrivateKey.fromSeed(new Uint8Array(16)), 'ERR_KEY_INVALID');
  assert.equal(verifyEd25519(k.publicKey, new Uint8Array(1), new Uint8Array(64)), false);
});

test('fingerprint and PEM round trips (key ids: test/keys/key-id.test.ts)', () => {
  const k = PrivateKey.fromSeed(hex(RFC8032[0]!.sk));
  assert.match(k.publicKey.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  assert.ok(PublicKey.fromPem(k.publicKey.toPem()).equals(k.publicKey));
  assert.deepEqual(JSON.parse(JSON.stringify(k)), { publicKey: k.publicKey.hex }, 'private key material never serializes');
});

/**
 * crypto/aead: the AES-256-GCM primitive of sealed keys against the Wycheproof AES-GCM vectors
 * (test/vectors/wycheproof/aes_gcm_test.json). Our shape is a 256-bit key, a 96-bit nonce and a 128-bit tag, so the
 * cases that apply are the 66 with that shape (39 valid, 27 invalid: modified tags); each must seal to exactly the
 * file's ciphertext and tag when valid, and open to its message when valid and to nothing when invalid. The 39 other
 * 256-bit-key cases use nonces of 0–2056 bits, which the primitive refuses as a programming error; 128- and 192-bit
 * keys do not apply.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { AES_GCM_NONCE_BYTES, aes256GcmOpen, aes256GcmSeal, openSealedKey, sealPrivateKey } from '../../src/crypto/index.ts';
import { assertCode } from '../support/assert.ts';
import { vectorPath } from '../support/vectors.ts';

interface AeadCase {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface AeadGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: AeadCase[];
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));
const doc = JSON.parse(readFileSync(vectorPath('wycheproof', 'aes_gcm_test.json'), 'utf8')) as {
  algorithm: string;
  numberOfTests: number;
  testGroups: AeadGroup[];
};

test('wycheproof aes_gcm_test.json: every AES-256-GCM case with a 96-bit nonce and 128-bit tag gives its verdict', () => {
  assert.equal(doc.algorithm, 'AES-GCM');
  const counts = { valid: 0, invalid: 0 };
  const wrong: string[] = [];
  for (const g of doc.testGroups) {
    if (g.keySize !== 256 || g.ivSize !== 96 || g.tagSize !== 128) continue;
    for (const c of g.tests) {
      assert.notEqual(c.result, 'acceptable', `tc ${c.tcId}: no case of our shape is "acceptable"`);
      counts[c.result as 'valid' | 'invalid']++;
      const key = hex(c.key);
      const iv = hex(c.iv);
      const aad = hex(c.aad);
      const sealed = hex(c.ct + c.tag);
      const opened = toHex(aes256GcmOpen(key, iv, sealed, aad));
      const resealed = toHex(aes256GcmSeal(key, iv, hex(c.msg), aad));
      if (c.result === 'valid') {
        if (opened !== c.msg) wrong.push(`tc ${c.tcId} (${c.flags.join(',')}): open gave ${opened}`);
        if (resealed !== c.ct + c.tag) wrong.push(`tc ${c.tcId} (${c.flags.join(',')}): seal gave ${resealed}`);
      } else {
        if (opened !== undefined) wrong.push(`tc ${c.tcId} (${c.flags.join(',')}): an invalid case opened`);
        if (resealed === c.ct + c.tag) wrong.push(`tc ${c.tcId} (${c.flags.join(',')}): seal reproduced an invalid tag`);
      }
    }
  }
  assert.deepEqual(wrong, []);
  assert.deepEqual(counts, { valid: 39, invalid: 27 });
});

test('wycheproof AES-256-GCM cases with other nonce sizes are refused (our format fixes 96-bit nonces)', () => {
  let n = 0;
  for (const g of doc.testGroups) {
    if (g.keySize !== 256 || g.ivSize === 96) continue;
    for (const c of g.tests) {
      n++;
      assert.throws(() => aes256GcmOpen(hex(c.key), hex(c.iv), hex(c.ct + c.tag), hex(c.aad)), RangeError, `tc ${c.tcId}`);
      assert.throws(() => aes256GcmSeal(hex(c.key), hex(c.iv), hex(c.msg), hex(c.aad)), RangeError, `tc ${c.tcId}`);
    }
  }
  assert.equal(n, 39);
});

test('a 128- or 192-bit key, or a sealed text shorter than its tag, is a programming error', () => {
  const nonce = new Uint8Array(AES_GCM_NONCE_BYTES);
  assert.throws(() => aes256GcmSeal(new Uint8Array(16), nonce, new Uint8Array(1), new Uint8Array(0)), RangeError);
  assert.throws(() => aes256GcmOpen(new Uint8Array(24), nonce, new Uint8Array(17), new Uint8Array(0)), RangeError);
  assert.throws(() => aes256GcmOpen(new Uint8Array(32), nonce, new Uint8Array(15), new Uint8Array(0)), RangeError);
});

test('sealed keys use this primitive: the body after the 35-byte header opens with the scrypt key the header names', () => {
  // Altering one ciphertext byte of a sealed key is caught by the GCM tag (ERR_CONFIG_PASSPHRASE_WRONG).
  const der = new Uint8Array(48).fill(7);
  const pass = new TextEncoder().encode('correct horse');
  const pem = sealPrivateKey(der, pass, { log2N: 10 });
  assert.deepEqual(new Uint8Array(openSealedKey(pem, pass)), der);
  const lines = pem.split('\n');
  const body = Buffer.from(lines.slice(1, -2).join(''), 'base64');
  body[40]! ^= 1;
  const altered = [lines[0], ...body.toString('base64').match(/.{1,64}/g)!, lines.at(-2), ''].join('\n');
  assertCode(() => openSealedKey(altered, pass), 'ERR_CONFIG_PASSPHRASE_WRONG');
});

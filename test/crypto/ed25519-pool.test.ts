/**
 * Ed25519VerifyPool: every verdict equals verifyEd25519's (Wycheproof ed25519_test.json and generated batches with
 * several keys and forged signatures), answers come back in order across split batches, and malformed input is
 * refused before anything is sent.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { Ed25519VerifyPool, PrivateKey, PublicKey, verifyEd25519, type VerifyItem } from '../../src/crypto/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { vectorPath } from '../support/vectors.ts';

const pool = new Ed25519VerifyPool(2);
after(() => pool.close());

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

test('a batch of 1,000 with 3 keys, every 7th signature forged and every 11th under the wrong key: verdicts in order', async () => {
  const keys = ['a', 'b', 'c'].map(() => PrivateKey.generate());
  const items: VerifyItem[] = [];
  const want: boolean[] = [];
  for (let i = 0; i < 1000; i++) {
    const k = keys[i % 3]!;
    const message = new TextEncoder().encode(`entry ${i}`.repeat(i % 5));
    const signature = k.sign(message);
    if (i % 7 === 0) signature[i % 64]! ^= 1;
    const publicKey = i % 11 === 0 ? keys[(i + 1) % 3]!.publicKey : k.publicKey;
    items.push({ publicKey, message, signature });
    want.push(verifyEd25519(publicKey, message, signature));
  }
  assert.ok(want.includes(true) && want.includes(false));
  assert.deepEqual(await pool.verifyBatch(items), want);
  // Small batches (not split) and concurrent batches answer in order too.
  const [a, b] = await Promise.all([pool.verifyBatch(items.slice(0, 10)), pool.verifyBatch(items.slice(10, 300))]);
  assert.deepEqual([...a, ...b], want.slice(0, 300));
  assert.deepEqual(await pool.verifyBatch([]), []);
});

test('a signature that is not 64 bytes is ERR_KEY_SIGNATURE_LENGTH, as for verifyEd25519', async () => {
  const k = PrivateKey.generate();
  await assertRejectsCode(pool.verifyBatch([{ publicKey: k.publicKey, message: new Uint8Array(1), signature: new Uint8Array(63) }]), 'ERR_KEY_SIGNATURE_LENGTH');
});

test('wycheproof ed25519_test.json: the pool gives verifyEd25519 verdicts on every 64-byte case', async () => {
  const doc = JSON.parse(readFileSync(vectorPath('wycheproof', 'ed25519_test.json'), 'utf8')) as {
    testGroups: Array<{ publicKey: { pk: string }; tests: Array<{ msg: string; sig: string }> }>;
  };
  const items: VerifyItem[] = [];
  for (const g of doc.testGroups) {
    const publicKey = PublicKey.fromRaw(hex(g.publicKey.pk));
    for (const t of g.tests) if (t.sig.length === 128) items.push({ publicKey, message: hex(t.msg), signature: hex(t.sig) });
  }
  assert.ok(items.length > 100);
  assert.deepEqual(await pool.verifyBatch(items), items.map((it) => verifyEd25519(it.publicKey, it.message, it.signature)));
});

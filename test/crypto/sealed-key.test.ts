import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PrivateKey, openSealedKey, privateKeyFromDer, sealPrivateKey } from '../../src/crypto/index.ts';
import { assertCode } from '../support/assert.ts';

const pass = new TextEncoder().encode('correct horse battery staple');

test('sealed keys round trip and refuse a wrong passphrase or an altered file', () => {
  const k = PrivateKey.generate();
  const pem = sealPrivateKey(k.toPkcs8Der(), pass, { log2N: 10 });
  assert.match(pem, /^-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----\n/);
  assert.ok(!pem.includes(Buffer.from(k.toPkcs8Der()).toString('base64')), 'the key is not in the clear');
  assert.ok(privateKeyFromDer(openSealedKey(pem, pass)).publicKey.equals(k.publicKey));
  assertCode(() => openSealedKey(pem, new TextEncoder().encode('wrong')), 'ERR_CONFIG_PASSPHRASE_WRONG');
  // Lowering the scrypt cost in the header breaks the GCM tag (the header is additional data).
  const body = Buffer.from(pem.split('\n').slice(1, -2).join(''), 'base64');
  body[4] = 11;
  const altered = `-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----\n${body.toString('base64')}\n-----END CUSTODY ENCRYPTED PRIVATE KEY-----\n`;
  assertCode(() => openSealedKey(altered, pass), 'ERR_CONFIG_PASSPHRASE_WRONG');
  body[4] = 30;
  const greedy = `-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----\n${body.toString('base64')}\n-----END CUSTODY ENCRYPTED PRIVATE KEY-----\n`;
  assertCode(() => openSealedKey(greedy, pass), 'ERR_KEY_INVALID');
  // scrypt's r and p are fixed (8 and 1): a header asking for more work is refused before any key derivation.
  for (const [at, v] of [[5, 16], [6, 4], [5, 7], [6, 0]] as const) {
    const b = Buffer.from(pem.split('\n').slice(1, -2).join(''), 'base64');
    b[at] = v;
    assertCode(() => openSealedKey(`-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----\n${b.toString('base64')}\n-----END CUSTODY ENCRYPTED PRIVATE KEY-----\n`, pass), 'ERR_KEY_INVALID');
  }
  assertCode(() => openSealedKey('-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END CUSTODY ENCRYPTED PRIVATE KEY-----\n', pass), 'ERR_KEY_INVALID');
});

test('a caller capping the scrypt cost (maxLog2N) gets ERR_LIMIT_KDF_COST before any derivation; the cap at the key\'s own cost opens it', () => {
  const k = PrivateKey.generate();
  const pem = sealPrivateKey(k.toPkcs8Der(), pass, { log2N: 10 });
  const body = Buffer.from(pem.split('\n').slice(1, -2).join(''), 'base64');
  // The fuzzer's kind of input: the cost raised to 2^20 (1 GiB of scrypt). Refused by the cap, not by AES-GCM after a
  // derivation (which would say ERR_CONFIG_PASSPHRASE_WRONG: the header is authenticated).
  body[4] = 20;
  const costly = `-----BEGIN CUSTODY ENCRYPTED PRIVATE KEY-----\n${body.toString('base64')}\n-----END CUSTODY ENCRYPTED PRIVATE KEY-----\n`;
  assertCode(() => openSealedKey(costly, pass, { maxLog2N: 10 }), 'ERR_LIMIT_KDF_COST');
  assertCode(() => openSealedKey(pem, pass, { maxLog2N: 9 }), 'ERR_LIMIT_KDF_COST');
  assert.ok(privateKeyFromDer(openSealedKey(pem, pass, { maxLog2N: 10 })).publicKey.equals(k.publicKey));
});

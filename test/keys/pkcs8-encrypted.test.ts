/**
 * An OpenSSL `ENCRYPTED PRIVATE KEY` names its own key derivation, and OpenSSL runs it before anything in the file is
 * authenticated (RFC 5958 §3, RFC 8018, RFC 7914 §7): keys/pkcs8-encrypted bounds it first. Real files come from
 * node:crypto's PKCS#8 export (PBES2 + PBKDF2) and, where the openssl CLI is present, `openssl pkcs8 -scrypt`; the
 * hostile ones are built as DER, field by field, with test/support/der (an encoder independent of src/encoding/der).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DerReader } from '../../src/encoding/der.ts';
import { TrustError } from '../../src/errors.ts';
import { parsePrivateKeyPem } from '../../src/keys/key-file.ts';
import { PKCS8_MAX_PBKDF2_WORK, checkEncryptedPkcs8Cost } from '../../src/keys/pkcs8-encrypted.ts';
import { AES256_CBC, OID_PBES2, OID_PBKDF2, encryptedKeyPem, int, oid, pbeKeyPem, pbkdf2KeyPem, pem, scryptKeyPem, seq, tlv } from '../support/der.ts';

const PASS = Buffer.from('correct horse');

function refused(f: () => unknown, code: string, name: string, pattern?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof TrustError, String(e));
    assert.equal(e.code, code, e.message);
    assert.equal(e.name, name);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('a key node:crypto encrypts (PBES2, PBKDF2-HMAC-SHA256) reads its iteration count and opens', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const text = privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: PASS }) as string;
  assert.deepEqual(checkEncryptedPkcs8Cost(text), { kdf: 'pbkdf2', prf: 'HMAC-SHA256', iterations: 2048 });
  const opened = parsePrivateKeyPem(text, PASS);
  assert.equal(opened.publicKey.hex, Buffer.from(privateKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex'));
  refused(() => parsePrivateKeyPem(text, Buffer.from('wrong')), 'ERR_CONFIG_PASSPHRASE_WRONG', 'ConfigError');
});

test('PBKDF2: the work (iterations × HMAC blocks × the cost of the PRF) is bounded before OpenSSL derives anything', () => {
  const cap = BigInt(PKCS8_MAX_PBKDF2_WORK);
  assert.deepEqual(checkEncryptedPkcs8Cost(pbkdf2KeyPem(cap)), { kdf: 'pbkdf2', prf: 'HMAC-SHA256', iterations: PKCS8_MAX_PBKDF2_WORK });
  // 2^31−1 iterations: about 17 minutes of PBKDF2 here, if it ever reached OpenSSL; 2^64: over what a number holds.
  for (const n of [cap + 1n, 2n ** 31n - 1n, 2n ** 64n]) {
    refused(() => parsePrivateKeyPem(pbkdf2KeyPem(n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /HMAC-SHA256 iterations, over the 5,000,000 Custody runs/);
  }
  // No PRF means HMAC-SHA1 (RFC 8018 B.1.2): 20-byte blocks, two per 32-byte key, so half the count.
  assert.deepEqual(checkEncryptedPkcs8Cost(pbkdf2KeyPem(cap / 2n, null)), { kdf: 'pbkdf2', prf: 'HMAC-SHA1', iterations: PKCS8_MAX_PBKDF2_WORK / 2 });
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(cap / 2n + 1n, null), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /HMAC-SHA1 iterations, over the 2,500,000/);
  // HMAC-SHA512/224: two blocks, each some five HMAC-SHA256 blocks here; a keyLength before the PRF is read past.
  const sha512_224 = seq(oid('1.2.840.113549.2.12'), tlv(0x05));
  assert.equal(checkEncryptedPkcs8Cost(pbkdf2KeyPem(500_000n, sha512_224, [int(32n)])).kdf, 'pbkdf2');
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(500_001n, sha512_224, [int(32n)]), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /HMAC-SHA512\/224 iterations, over the 500,000/);
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(2048n, seq(oid('1.2.840.113549.2.99'), tlv(0x05))), PASS), 'ERR_KEY_INVALID', 'FormatError', /unsupported PBKDF2 PRF 1\.2\.840\.113549\.2\.99/);
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(0n), PASS), 'ERR_KEY_INVALID', 'FormatError', /iteration count below 1/);
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(-5n), PASS), 'ERR_KEY_INVALID', 'FormatError', /negative/);
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(4096n), PASS, { maxIterations: 2048 }), 'ERR_LIMIT_KDF_COST', 'LimitError', /over the 2,048 this caller accepts/);
  // A count under the cap passes the check and reaches OpenSSL, which cannot open 48 random bytes.
  refused(() => parsePrivateKeyPem(pbkdf2KeyPem(1000n), PASS), 'ERR_CONFIG_PASSPHRASE_WRONG', 'ConfigError');
});

test('scrypt: N a power of two, within the memory OpenSSL allows itself and the work of a sealed key; the caller cap applies', () => {
  assert.deepEqual(checkEncryptedPkcs8Cost(scryptKeyPem(16384n, 8n, 1n)), { kdf: 'scrypt', n: 16384, r: 8, p: 1 });
  // OpenSSL refuses scrypt over 32 MiB (reported by Node as a bad decrypt): refused here with its reason instead.
  refused(() => parsePrivateKeyPem(scryptKeyPem(32768n, 8n, 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /N 32768, r 8, p 1: over the 32 MiB/);
  refused(() => parsePrivateKeyPem(scryptKeyPem(2n ** 21n, 8n, 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /32 MiB/);
  // p multiplies the time without raising the memory much: N 2^10, r 1, p 2^14 is 2^24 of work, over a sealed key's 2^23.
  refused(() => parsePrivateKeyPem(scryptKeyPem(1024n, 1n, 2n ** 14n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /N·r·p ≤ 8,388,608\) Custody runs/);
  refused(() => parsePrivateKeyPem(scryptKeyPem(2n ** 60n, 1n, 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /over 2\^48/);
  refused(() => parsePrivateKeyPem(scryptKeyPem(1000n, 8n, 1n), PASS), 'ERR_KEY_INVALID', 'FormatError', /N 1000/);
  refused(() => parsePrivateKeyPem(scryptKeyPem(16384n, 0n, 1n), PASS), 'ERR_KEY_INVALID', 'FormatError');
  // maxLog2N: no costlier than a sealed key at 2^maxLog2N — N and N·r·p (what the fuzz target reads hostile keys at).
  refused(() => parsePrivateKeyPem(scryptKeyPem(16384n, 8n, 1n), PASS, { maxLog2N: 12 }), 'ERR_LIMIT_KDF_COST', 'LimitError', /this caller accepts/);
  refused(() => parsePrivateKeyPem(scryptKeyPem(1024n, 1n, 8192n), PASS, { maxLog2N: 10 }), 'ERR_LIMIT_KDF_COST', 'LimitError', /N·r·p ≤ 8,192\) this caller accepts/);
});

test('PBES1 and PKCS#12 schemes: their iteration count is bounded too', () => {
  // pbeWithSHA1AndDES-CBC (RFC 8018 A.3) and pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 C).
  refused(() => parsePrivateKeyPem(pbeKeyPem('1.2.840.113549.1.5.10', 2n ** 31n - 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /PBE iterations, over the 5,000,000/);
  refused(() => parsePrivateKeyPem(pbeKeyPem('1.2.840.113549.1.12.1.3', 2n ** 40n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError');
  assert.deepEqual(checkEncryptedPkcs8Cost(pbeKeyPem('1.2.840.113549.1.12.1.3', 2048n)), { kdf: 'pbe', iterations: 2048 });
});

test('what the check cannot read is refused, not handed to OpenSSL', () => {
  const invalid = (text: string, pattern: RegExp): void => refused(() => parsePrivateKeyPem(text, PASS), 'ERR_KEY_INVALID', 'FormatError', pattern);
  invalid(encryptedKeyPem(seq(oid('1.2.3.4'), tlv(0x05))), /unsupported encryption scheme 1\.2\.3\.4/);
  invalid(encryptedKeyPem(seq(oid(OID_PBES2), seq(seq(oid('1.2.840.113549.1.5.99'), seq()), seq(AES256_CBC)))), /unsupported PBES2 key derivation/);
  // PBKDF2's otherSource salt choice (an AlgorithmIdentifier) is not read.
  invalid(encryptedKeyPem(seq(oid(OID_PBES2), seq(seq(oid(OID_PBKDF2), seq(seq(oid('1.2.3')), int(5n))), seq(AES256_CBC)))), /salt is not an OCTET STRING/);
  // An indefinite length, a length beyond its container, a high tag number, trailing truncation.
  const good = Buffer.from(checkablePem(pbkdf2KeyPem(2048n)), 'base64');
  invalid(pem(Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(2)])), /indefinite DER length/);
  invalid(pem(Buffer.concat([Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), good.subarray(3)])), /beyond its container/);
  invalid(pem(Buffer.concat([Buffer.from([0x3f]), good.subarray(1)])), /high-tag-number/);
  invalid(pem(good.subarray(0, 20)), /beyond its container|truncated/);
  // An empty line: OpenSSL's PEM reader takes the lines before it as headers (and drops a short one).
  const lines = pbkdf2KeyPem(2048n).split('\n');
  invalid([lines[0], 'AAAAAAAA', '', ...lines.slice(1)].join('\n'), /empty line inside the PEM block/);
  invalid([lines[0], '', ...lines.slice(1)].join('\n'), /empty line inside the PEM block/);
  // Two PEM blocks: OpenSSL would read the first; the check refuses to guess.
  invalid(pbkdf2KeyPem(2048n) + pbkdf2KeyPem(2n ** 31n), /exactly one PEM block/);
  invalid('-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n', /malformed PEM|base64/);
});

function checkablePem(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('-----')).join('');
}

test('der: OBJECT IDENTIFIERs and INTEGERs as X.690 encodes them', () => {
  const oidOf = (der: Uint8Array): string => new DerReader(der, 't').oid();
  assert.equal(oidOf(oid(OID_PBES2)), OID_PBES2);
  assert.equal(oidOf(oid('2.999.3')), '2.999.3');
  assert.throws(() => oidOf(tlv(0x06, Buffer.from([0x2a, 0x86]))), /truncated OBJECT IDENTIFIER/);
  assert.throws(() => oidOf(tlv(0x06, Buffer.from([0x2a, 0x80, 0x01]))), /leading 0x80/);
  const r = new DerReader(Buffer.concat([int(0n), int(127n), int(128n), int(2n ** 48n - 1n), int(2n ** 48n)]), 't');
  assert.deepEqual([r.integer(), r.integer(), r.integer(), r.integer(), r.integer()], [0, 127, 128, 2 ** 48 - 1, Infinity]);
  assert.ok(r.done);
});

test('an scrypt-encrypted key written by the openssl CLI opens', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'custody-pkcs8-'));
  try {
    const plain = join(dir, 'k.pem');
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(plain, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    writeFileSync(join(dir, 'pass'), PASS, { mode: 0o600 });
    const out = join(dir, 'k.enc.pem');
    const r = spawnSync('openssl', ['pkcs8', '-topk8', '-scrypt', '-scrypt_N', '16384', '-scrypt_r', '8', '-scrypt_p', '1', '-in', plain, '-out', out, '-passout', `file:${join(dir, 'pass')}`]);
    if (r.error || r.status !== 0) {
      t.skip(`SKIPPED: the openssl CLI is missing or cannot write scrypt keys (${r.error?.message ?? r.stderr.toString().trim()}); apt-get install openssl`);
      return;
    }
    const text = readFileSync(out, 'utf8');
    assert.deepEqual(checkEncryptedPkcs8Cost(text), { kdf: 'scrypt', n: 16384, r: 8, p: 1 });
    assert.equal(parsePrivateKeyPem(text, PASS).publicKey.hex, Buffer.from(privateKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

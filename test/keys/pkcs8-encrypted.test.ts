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
import { DerReader, decodeOid } from '../../src/encoding/der.ts';
import { TrustError } from '../../src/errors.ts';
import { parsePrivateKeyPem } from '../../src/keys/key-file.ts';
import { PKCS8_MAX_PBKDF2_ITERATIONS, checkEncryptedPkcs8Cost } from '../../src/keys/pkcs8-encrypted.ts';
import { AES256_CBC, OID_PBES2, OID_PBKDF2, encryptedKeyPem, int, oid, pbeKeyPem, pbkdf2KeyPem, pem, scryptKeyPem, seq, tlv } from '../support/der.ts';

const PBES2 = OID_PBES2;
const encrypted = encryptedKeyPem;
const pbkdf2Key = pbkdf2KeyPem;
const scryptKey = scryptKeyPem;
const pbeKey = pbeKeyPem;

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
  assert.deepEqual(checkEncryptedPkcs8Cost(text), { kdf: 'pbkdf2', iterations: 2048 });
  const opened = parsePrivateKeyPem(text, PASS);
  assert.equal(opened.publicKey.hex, Buffer.from(privateKey.export({ format: 'jwk' }).x!, 'base64url').toString('hex'));
  refused(() => parsePrivateKeyPem(text, Buffer.from('wrong')), 'ERR_CONFIG_PASSPHRASE_WRONG', 'ConfigError');
});

test('PBKDF2 iteration counts over the cap are refused before OpenSSL derives anything', () => {
  assert.deepEqual(checkEncryptedPkcs8Cost(pbkdf2Key(BigInt(PKCS8_MAX_PBKDF2_ITERATIONS))), { kdf: 'pbkdf2', iterations: PKCS8_MAX_PBKDF2_ITERATIONS });
  // 2^31−1 iterations: about 17 minutes of PBKDF2 here, if it ever reached OpenSSL; 2^64: over what a number holds.
  for (const n of [BigInt(PKCS8_MAX_PBKDF2_ITERATIONS) + 1n, 2n ** 31n - 1n, 2n ** 64n]) {
    refused(() => parsePrivateKeyPem(pbkdf2Key(n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /PBKDF2 iterations, over the 10,000,000/);
  }
  refused(() => parsePrivateKeyPem(pbkdf2Key(0n), PASS), 'ERR_KEY_INVALID', 'FormatError', /iteration count below 1/);
  refused(() => parsePrivateKeyPem(pbkdf2Key(-5n), PASS), 'ERR_KEY_INVALID', 'FormatError');
  refused(() => parsePrivateKeyPem(pbkdf2Key(4096n), PASS, { maxIterations: 2048 }), 'ERR_LIMIT_KDF_COST', 'LimitError', /over the 2,048 this caller accepts/);
  // A count under the cap passes the check and reaches OpenSSL, which cannot open 48 random bytes.
  refused(() => parsePrivateKeyPem(pbkdf2Key(1000n), PASS), 'ERR_CONFIG_PASSPHRASE_WRONG', 'ConfigError');
});

test('scrypt parameters: work and memory bounded, N a power of two, the caller cap applies', () => {
  assert.deepEqual(checkEncryptedPkcs8Cost(scryptKey(16384n, 8n, 1n)), { kdf: 'scrypt', n: 16384, r: 8, p: 1 });
  // p multiplies the time without raising the memory: 2^14 · 8 · 2^20 is far over the work cap.
  refused(() => parsePrivateKeyPem(scryptKey(16384n, 8n, 2n ** 20n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /N 16384, r 8, p 1048576/);
  refused(() => parsePrivateKeyPem(scryptKey(2n ** 21n, 8n, 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError');
  refused(() => parsePrivateKeyPem(scryptKey(2n ** 60n, 1n, 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /over 2\^48/);
  refused(() => parsePrivateKeyPem(scryptKey(1000n, 8n, 1n), PASS), 'ERR_KEY_INVALID', 'FormatError', /N 1000/);
  refused(() => parsePrivateKeyPem(scryptKey(16384n, 0n, 1n), PASS), 'ERR_KEY_INVALID', 'FormatError');
  refused(() => parsePrivateKeyPem(scryptKey(16384n, 8n, 1n), PASS, { maxLog2N: 12 }), 'ERR_LIMIT_KDF_COST', 'LimitError', /over the 2\^12/);
});

test('PBES1 and PKCS#12 schemes: their iteration count is bounded too', () => {
  // pbeWithSHA1AndDES-CBC (RFC 8018 A.3) and pbeWithSHAAnd3-KeyTripleDES-CBC (RFC 7292 C).
  refused(() => parsePrivateKeyPem(pbeKey('1.2.840.113549.1.5.10', 2n ** 31n - 1n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError', /PBE iterations/);
  refused(() => parsePrivateKeyPem(pbeKey('1.2.840.113549.1.12.1.3', 2n ** 40n), PASS), 'ERR_LIMIT_KDF_COST', 'LimitError');
  assert.deepEqual(checkEncryptedPkcs8Cost(pbeKey('1.2.840.113549.1.12.1.3', 2048n)), { kdf: 'pbe', iterations: 2048 });
});

test('what the check cannot read is refused, not handed to OpenSSL', () => {
  const invalid = (text: string, pattern: RegExp): void => refused(() => parsePrivateKeyPem(text, PASS), 'ERR_KEY_INVALID', 'FormatError', pattern);
  invalid(encrypted(seq(oid('1.2.3.4'), tlv(0x05))), /unsupported encryption scheme 1\.2\.3\.4/);
  invalid(encrypted(seq(oid(PBES2), seq(seq(oid('1.2.840.113549.1.5.99'), seq()), seq(AES256_CBC)))), /unsupported PBES2 key derivation/);
  // PBKDF2's otherSource salt choice (an AlgorithmIdentifier) is not read.
  invalid(encrypted(seq(oid(PBES2), seq(seq(oid(OID_PBKDF2), seq(seq(oid('1.2.3')), int(5n))), seq(AES256_CBC)))), /salt is not an OCTET STRING/);
  // An indefinite length, a length beyond its container, a high tag number, trailing truncation.
  const good = Buffer.from(checkablePem(pbkdf2Key(2048n)), 'base64');
  invalid(pem(Buffer.concat([Buffer.from([0x30, 0x80]), good.subarray(2)])), /indefinite DER length/);
  invalid(pem(Buffer.concat([Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), good.subarray(3)])), /beyond its container/);
  invalid(pem(Buffer.concat([Buffer.from([0x3f]), good.subarray(1)])), /high-tag-number/);
  invalid(pem(good.subarray(0, 20)), /beyond its container|truncated/);
  // Two PEM blocks: OpenSSL would read the first; the check refuses to guess.
  invalid(pbkdf2Key(2048n) + pbkdf2Key(2n ** 31n), /exactly one PEM block/);
  invalid('-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n', /malformed PEM|base64/);
});

function checkablePem(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('-----')).join('');
}

test('der: OBJECT IDENTIFIERs and INTEGERs as X.690 encodes them', () => {
  assert.equal(decodeOid(oid(PBES2).subarray(2), 't'), PBES2);
  assert.equal(decodeOid(oid('2.999.3').subarray(2), 't'), '2.999.3');
  assert.throws(() => decodeOid(Buffer.from([0x2a, 0x86]), 't'), /truncated OBJECT IDENTIFIER/);
  assert.throws(() => decodeOid(Buffer.from([0x2a, 0x80, 0x01]), 't'), /leading 0x80/);
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

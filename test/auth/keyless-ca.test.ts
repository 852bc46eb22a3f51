/**
 * auth/keyless-ca: the CA made on first use (files and modes), reloaded, refused when its files do not belong
 * together; issued certificates (SAN kinds, Fulcio issuer extensions V1 and V2, 10-minute validity) parsed back and
 * verified at a time; caller PEM refusals; the regexp safety rules and identity constraints.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  KEYLESS_CA_CERT_FILE,
  KEYLESS_CA_KEY_FILE,
  KEYLESS_CERT_TTL_MS,
  KeylessCa,
  checkIdentity,
  compileSafeRegexp,
  expandCountedRepetitions,
  parseCertificatePem,
  verifyKeylessCertificate,
} from '../../src/auth/keyless-ca.ts';
import { PrivateKey } from '../../src/crypto/index.ts';
import { assertRejectsCode } from '../support/assert.ts';
import { tmpDir } from '../support/tmp.ts';

const T0 = new Date('2026-12-01T12:00:00.250Z');

test('the CA is made once (key 0600), reloaded, and refused when its two files do not belong together', async (t) => {
  const dir = tmpDir(t);
  const first = await KeylessCa.loadOrCreate(dir, T0);
  assert.equal(first.created, true);
  assert.equal(statSync(join(dir, KEYLESS_CA_KEY_FILE)).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, KEYLESS_CA_CERT_FILE), 'utf8'), /^-----BEGIN CERTIFICATE-----\n/);
  const again = await KeylessCa.loadOrCreate(dir, T0);
  assert.equal(again.created, false);
  assert.equal(again.ca.certificatePem, first.ca.certificatePem);

  const other = tmpDir(t);
  await KeylessCa.loadOrCreate(other, T0);
  copyFileSync(join(other, KEYLESS_CA_CERT_FILE), join(dir, KEYLESS_CA_CERT_FILE));
  await assertRejectsCode(KeylessCa.loadOrCreate(dir, T0), 'ERR_KEYLESS_CA');
  rmSync(join(dir, KEYLESS_CA_CERT_FILE));
  await assertRejectsCode(KeylessCa.loadOrCreate(dir, T0), 'ERR_KEYLESS_CA');
});

test('issued certificates: SAN, Fulcio issuer extensions, 10 minutes; verified at a time, refused outside it or from another CA', async (t) => {
  const { ca } = await KeylessCa.loadOrCreate(tmpDir(t), T0);
  const key = PrivateKey.generate();
  const email = await ca.issue({ publicKey: key.publicKey, identity: 'alice@example.com', identityKind: 'email', issuer: 'https://accounts.example.com', now: T0 });
  const parsed = parseCertificatePem(email.pem).cert;
  assert.deepEqual([parsed.identity, parsed.identityKind, parsed.issuer], ['alice@example.com', 'email', 'https://accounts.example.com']);
  assert.ok(parsed.publicKey.equals(key.publicKey));
  assert.equal(parsed.notAfter.getTime() - parsed.notBefore.getTime(), KEYLESS_CERT_TTL_MS);
  assert.equal(parsed.notBefore.toISOString(), '2026-12-01T12:00:00.000Z');

  const uri = await ca.issue({ publicKey: key.publicKey, identity: 'https://ci.example.org/pipelines/7', identityKind: 'uri', issuer: 'https://token.ci.example.org', now: T0 });
  assert.deepEqual([parseCertificatePem(uri.pem).cert.identity, parseCertificatePem(uri.pem).cert.identityKind], ['https://ci.example.org/pipelines/7', 'uri']);

  assert.equal((await verifyKeylessCertificate(email.pem, ca.certificatePem, new Date(T0.getTime() + 60_000))).identity, 'alice@example.com');
  await assertRejectsCode(verifyKeylessCertificate(email.pem, ca.certificatePem, new Date(T0.getTime() + 11 * 60_000)), 'ERR_KEYLESS_CERT_EXPIRED');
  await assertRejectsCode(verifyKeylessCertificate(email.pem, ca.certificatePem, new Date(T0.getTime() - 60_000)), 'ERR_KEYLESS_CERT_EXPIRED');
  const { ca: foreign } = await KeylessCa.loadOrCreate(tmpDir(t), T0);
  await assertRejectsCode(verifyKeylessCertificate(email.pem, foreign.certificatePem, T0), 'ERR_KEYLESS_CERT_UNTRUSTED');
  // The CA's own certificate is not a code-signing certificate (and names no identity).
  await assertRejectsCode(verifyKeylessCertificate(ca.certificatePem, ca.certificatePem, T0), 'ERR_KEYLESS_CERT_MALFORMED');

  for (const bad of ['', 'x'.repeat(17 * 1024), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', email.pem + email.pem, email.pem.replace('CERTIFICATE', 'PUBLIC KEY')]) {
    assert.throws(() => parseCertificatePem(bad), { code: 'ERR_KEYLESS_CERT_MALFORMED' });
  }
});

test('identity constraints and the regexp safety rules', () => {
  const cert = { identity: 'alice@example.com', issuer: 'https://accounts.example.com' };
  checkIdentity(cert, { identity: 'alice@example.com', issuer: 'https://accounts.example.com' });
  checkIdentity(cert, { identityRegexp: '@example\\.com$', issuerRegexp: '^https://accounts\\.' });
  checkIdentity(cert, {});
  assert.throws(() => checkIdentity(cert, { identity: 'Alice@example.com' }), { code: 'ERR_KEYLESS_IDENTITY_MISMATCH' });
  assert.throws(() => checkIdentity(cert, { identityRegexp: '^bob' }), { code: 'ERR_KEYLESS_IDENTITY_MISMATCH' });
  assert.throws(() => checkIdentity(cert, { issuer: 'https://accounts.example.com/' }), { code: 'ERR_KEYLESS_ISSUER_MISMATCH' });
  assert.throws(() => checkIdentity(cert, { issuerRegexp: 'evil' }), { code: 'ERR_KEYLESS_ISSUER_MISMATCH' });

  // Nested repetitions, exponential for a backtracking engine, are linear here (V8's linear-time engine, as RE2).
  for (const ok of ['^alice@example\\.com$', '^https://github\\.com/(org|other)/[^/]+/\\.github/workflows/.*$', '^(ab)+$', '^[a-z]+(\\.[a-z]+)?@x$', '(a|b)', '(a+)+$', '(a|aa)*', '((a)*)+', '(x{1,3}){2,}', 'x{400}']) {
    const re = compileSafeRegexp(ok, 'x');
    assert.equal(re.flags, 'l', `${ok} runs on the linear-time engine`);
  }
  // Over RE2's count limit, over the written-out cap, a count of a repeated group over 16, escapes that need `u`.
  for (const bad of ['(a)\\1', '(?=a)', '(?<!a)b', '(', 'a'.repeat(257), '[', 'x{1001}', 'x{1000}', '[a-z]{500}', '(a+){17}', '^\\p{L}+$', '\\u{61}', 'a{3,1}', '\\07{2}']) {
    assert.throws(() => compileSafeRegexp(bad, 'x'), { code: 'ERR_KEYLESS_REGEXP' }, bad);
  }
});

test('counted repetitions (which the linear engine takes only up to 16) are written out, to the same language', () => {
  // Workflow identities pin commits: a count of 40 must work, as in cosign.
  const sha = compileSafeRegexp('^https://github\\.com/org/repo@[a-f0-9]{40}$', 'x');
  assert.equal(sha.test(`https://github.com/org/repo@${'a1'.repeat(20)}`), true);
  assert.equal(sha.test(`https://github.com/org/repo@${'a1'.repeat(19)}a`), false);
  assert.equal(sha.test(`https://github.com/org/repo@${'a1'.repeat(20)}0`), false);
  const refuse = (why: string): never => {
    throw new Error(why);
  };
  const cases: Array<[string, string]> = [
    ['a{2}', '(?:a)(?:a)'],
    ['a{2,}', '(?:a)(?:a)(?:a)*'],
    ['a{0,3}b', '(?:a)?(?:a)?(?:a)?b'],
    ['\\d{3}-\\x41{2}', '(?:\\d)(?:\\d)(?:\\d)-(?:\\x41)(?:\\x41)'],
    ['\\x4{2}', '\\x(?:4)(?:4)'],
    ['[{]{2}', '(?:[{])(?:[{])'],
    ['[]]{2}', '[](?:])(?:])'],
    ['[\\]a]{2}', '(?:[\\]a])(?:[\\]a])'],
    ['.{1,2}?', '(?:.)(?:.)??'],
    ['(ab){2}', '(ab){2}'],
    ['(?:ab){3}a{1}', '(?:ab){3}(?:a)'],
    ['a{x}b{', 'a{x}b{'],
  ];
  for (const [pattern, written] of cases) assert.equal(expandCountedRepetitions(pattern, refuse), written, pattern);
  // The same answers as the backtracking engine on the pattern as given.
  const subjects = ['', 'a', 'aa', 'aaa', 'aaab', 'ab', 'abab', 'ababab', '123-AA', '{{', ']]', ']a', 'x', 'x44', 'D'];
  for (const [pattern] of cases) {
    const linear = compileSafeRegexp(pattern, 'x');
    const backtracking = new RegExp(pattern);
    for (const s of subjects) assert.equal(linear.test(s), backtracking.test(s), `${pattern} on ${JSON.stringify(s)}`);
  }
});

test('patterns a backtracking engine needs n^k or 2^n steps for run in one pass (the fuzz campaign\'s finding)', () => {
  // Found by the keyless-regexp target (test/fuzz-regressions/keyless-regexp): eight overlapping repetitions took
  // over a second on an 81-character identity under backtracking. Both answers below come from one linear pass.
  const eight = compileSafeRegexp('[a-z]+.[a-z]+.[a-z]+.[a-z]+.[a-z]+.[a-z]+.[a-z]+.[a-z]+/?@', 'x');
  assert.equal(eight.test('a'.repeat(40) + '@' + 'b'.repeat(40) + '!'), true);
  assert.equal(eight.test('a'.repeat(100_000) + '!'), false);
  assert.equal(compileSafeRegexp('^(a+)+$', 'x').test('a'.repeat(100_000) + 'b'), false);
});

/**
 * The PKCS#11 signer (src/hsm/pkcs11.ts) against a real SoftHSM2 token made by the test: keygen inside the token,
 * signatures verified by Node crypto and `openssl pkeyutl -verify -rawin`, the key reported non-extractable by OpenSC's
 * pkcs11-tool, the session pool, and the bad-input table (PINs, URIs naming no or several keys, keys of the wrong
 * type, a token that disappears mid-run). Skips loudly when SoftHSM2 is not installed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PKCS11 } from 'pkcs11js';
import { PublicKey, verifyEd25519 } from '../../src/crypto/index.ts';
import { signerHealth } from '../../src/hsm/health.ts';
import { generatePkcs11Key, loginFailure, openPkcs11Signer, openTokenSession, readEd25519Point, type Pkcs11Options } from '../../src/hsm/pkcs11.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { HAS_PKCS11_TOOL, SKIP_SOFTHSM, USER_PIN, setupSoftHsm, type SoftHsm } from '../support/softhsm.ts';

const skip = SKIP_SOFTHSM;
let hsm: SoftHsm;
let o: Pkcs11Options;
const enc = new TextEncoder();

before(() => {
  if (skip) return;
  hsm = setupSoftHsm(['custody', 'mixed', 'removable']);
  o = { cwd: hsm.dir, env: hsm.env };
});
after(() => hsm?.cleanup());

const uri = (token: string, object: string, extra = '?pin-source=file:pin.txt') => `pkcs11:token=${token};object=${object}${extra}`;

test('keygen in the token, sign, verify with Node crypto and openssl; pkcs11-tool sees a non-extractable key', { skip }, async () => {
  const g = await generatePkcs11Key(uri('custody', 'release-1'), o);
  assert.match(g.uri, /^pkcs11:token=custody;object=release-1;id=(%[0-9A-F]{2}){16}$/);
  const signer = await openPkcs11Signer(uri('custody', 'release-1'), o);
  assert.ok(signer.publicKey.equals(g.publicKey), 'the signer reads back the public key keygen made');
  assert.equal(signer.uri, 'pkcs11:token=custody;object=release-1', 'the URI shown has no PIN source');
  const msg = enc.encode('custody pkcs11 test message\n');
  const sig = signer.sign(msg);
  assert.equal(sig.length, 64);
  assert.ok(verifyEd25519(g.publicKey, msg, sig), 'Node crypto verifies the token signature');
  assert.ok(!verifyEd25519(g.publicKey, enc.encode('another message'), sig));
  // Ed25519 is deterministic: the token signs the same bytes to the same signature.
  assert.deepEqual(signer.sign(msg), sig);

  // openssl pkeyutl -verify over the raw message (Ed25519 takes -rawin), with the SPKI PEM keygen writes.
  writeFileSync(join(hsm.dir, 'pub.pem'), g.publicKey.toPem());
  writeFileSync(join(hsm.dir, 'msg'), msg);
  writeFileSync(join(hsm.dir, 'sig'), sig);
  const out = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'msg', '-sigfile', 'sig'], { cwd: hsm.dir, encoding: 'utf8' });
  assert.match(out, /Signature Verified Successfully/);
  writeFileSync(join(hsm.dir, 'msg'), enc.encode('tampered'));
  assert.throws(() => execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'msg', '-sigfile', 'sig'], { cwd: hsm.dir, stdio: 'pipe' }));

  if (!HAS_PKCS11_TOOL) {
    process.stderr.write('\n*** SKIPPED: pkcs11-tool (opensc) is not installed; the object listing was not checked ***\n\n');
  } else {
    const list = hsm.pkcs11Tool(['--token-label', 'custody', '--login', '--pin', USER_PIN, '--list-objects']);
    const priv = list.slice(list.indexOf('Private Key Object'));
    assert.match(priv, /^Private Key Object; EC_EDWARDS/);
    assert.match(priv, /label:\s+release-1/);
    assert.match(priv, /Access:\s+sensitive, always sensitive, never extractable, local/);
    assert.match(priv, /Usage:\s+sign\n/, 'a signing key and nothing else');
    assert.match(list, new RegExp(`EC_POINT:\\s+0420${g.publicKey.hex}`), 'CKA_EC_POINT is the DER OCTET STRING of the key');
  }
  signer.close();
});

test('the session pool: concurrent signAsync calls spread over 2 sessions and all verify', { skip }, async () => {
  const signer = await openPkcs11Signer(uri('custody', 'release-1'), { ...o, poolSize: 2 });
  const msgs = Array.from({ length: 24 }, (_, i) => enc.encode(`message ${i}`));
  const sigs = await Promise.all(msgs.map((m) => signer.signAsync(m)));
  sigs.forEach((s, i) => assert.ok(verifyEd25519(signer.publicKey, msgs[i]!, s), `signature ${i}`));
  // The sync path and the pool give the same (deterministic) signature.
  assert.deepEqual(signer.sign(msgs[3]!), sigs[3]);
  signer.close();
});

test('the PIN: from CUSTODY_PKCS11_PIN, refused when wrong, required when absent, never in a message', { skip }, async () => {
  const viaEnv = await openPkcs11Signer(uri('custody', 'release-1', ''), { ...o, env: { ...hsm.env, CUSTODY_PKCS11_PIN: USER_PIN } });
  assert.equal(viaEnv.sign(enc.encode('x')).length, 64);
  viaEnv.close();
  writeFileSync(join(hsm.dir, 'wrong-pin.txt'), '999999\n', { mode: 0o600 });
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1', '?pin-source=file:wrong-pin.txt'), o), 'ERR_PKCS11_PIN_INCORRECT');
  try {
    await openPkcs11Signer(uri('custody', 'release-1', '?pin-source=file:wrong-pin.txt'), o);
  } catch (e) {
    assert.ok(!String((e as Error).message).includes('999999'), 'the refused PIN is not in the message');
  }
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1', ''), o), 'ERR_PKCS11_PIN_REQUIRED');
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1', '?pin-source=file:no-such-pin'), o), 'ERR_IO_NOT_FOUND');
  // A world-readable PIN file works but is warned about.
  writeFileSync(join(hsm.dir, 'open-pin.txt'), USER_PIN, { mode: 0o644 });
  const warnings: string[] = [];
  const s = await openPkcs11Signer(uri('custody', 'release-1', '?pin-source=file:open-pin.txt'), { ...o, warn: (m) => warnings.push(m) });
  s.close();
  assert.match(warnings.join('\n'), /open-pin\.txt is readable by group or others/);
});

test('C_Login failures map to distinct codes (CKR_PIN_LOCKED cannot be provoked in SoftHSM2, which has no lockout)', () => {
  const ckr = (name: string, code: number) => Object.assign(new Error(name), { code });
  assert.equal(loginFailure(ckr('CKR_PIN_LOCKED', 0xa4), 't').code, 'ERR_PKCS11_PIN_LOCKED');
  assert.equal(loginFailure(ckr('CKR_PIN_INCORRECT', 0xa0), 't').code, 'ERR_PKCS11_PIN_INCORRECT');
  assert.equal(loginFailure(ckr('CKR_PIN_EXPIRED', 0xa3), 't').code, 'ERR_PKCS11_PIN_INCORRECT');
  assert.equal(loginFailure(ckr('CKR_DEVICE_REMOVED', 0x32), 't').code, 'ERR_PKCS11_TOKEN_FAILED');
});

test('URIs naming no key, several keys, a missing token or module, and keys of the wrong type', { skip }, async () => {
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'no-such-key'), o), 'ERR_PKCS11_KEY_NOT_FOUND');
  await assertRejectsCode(openPkcs11Signer('pkcs11:token=custody;object=release-1;x-vendor=1?pin-source=file:pin.txt', o), 'ERR_PKCS11_KEY_NOT_FOUND');
  await assertRejectsCode(openPkcs11Signer(uri('no-such-token', 'release-1'), o), 'ERR_PKCS11_TOKEN_NOT_FOUND');
  await assertRejectsCode(openPkcs11Signer('pkcs11:token=custody;object=release-1;type=public?pin-source=file:pin.txt', o), 'ERR_PKCS11_KEY_TYPE');
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1'), { ...o, env: {} }), 'ERR_PKCS11_MODULE');
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1', '?module-path=/nonexistent/libnothing.so&pin-source=file:pin.txt'), o), 'ERR_PKCS11_MODULE');
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1', '?module-path=libsofthsm2.so&pin-source=file:pin.txt'), o), 'ERR_PKCS11_MODULE');
  await assertRejectsCode(openPkcs11Signer(uri('custody', 'release-1', '?pin-value=1234'), o), 'ERR_PKCS11_PIN_IN_URI');
  await assertRejectsCode(generatePkcs11Key(uri('custody', 'release-1'), o), 'ERR_PKCS11_KEY_EXISTS');
  await assertRejectsCode(generatePkcs11Key('pkcs11:token=custody?pin-source=file:pin.txt', o), 'ERR_PKCS11_URI_INVALID');

  // Two Ed25519 keys in one token: a URI naming only the token is ambiguous; naming the object is not.
  await generatePkcs11Key(uri('mixed', 'ed-a'), o);
  await generatePkcs11Key(uri('mixed', 'ed-b'), o);
  await assertRejectsCode(openPkcs11Signer('pkcs11:token=mixed?pin-source=file:pin.txt', o), 'ERR_PKCS11_KEY_AMBIGUOUS');
  (await openPkcs11Signer(uri('mixed', 'ed-b'), o)).close();

  if (!HAS_PKCS11_TOOL) {
    process.stderr.write('\n*** SKIPPED: pkcs11-tool (opensc) is not installed; RSA and P-256 key objects were not made ***\n\n');
    return;
  }
  // Keys of the wrong type made with OpenSC: RSA and ECDSA P-256.
  const gen = (type: string, label: string, id: string) =>
    hsm.pkcs11Tool(['--token-label', 'mixed', '--login', '--pin', USER_PIN, '--keypairgen', '--key-type', type, '--label', label, '--id', id]);
  gen('rsa:1024', 'rsa-1', 'a1');
  gen('EC:prime256v1', 'p256-1', 'a2');
  await assertRejectsCode(openPkcs11Signer(uri('mixed', 'rsa-1'), o), 'ERR_PKCS11_KEY_TYPE');
  await assertRejectsCode(openPkcs11Signer(uri('mixed', 'p256-1'), o), 'ERR_PKCS11_KEY_TYPE');
  try {
    await openPkcs11Signer(uri('mixed', 'p256-1'), o);
  } catch (e) {
    assert.match((e as Error).message, /expected CKK_EC_EDWARDS, got CKK_EC/);
  }
});

test('CKA_EC_POINT: the DER OCTET STRING or the 32 raw bytes, nothing else', () => {
  const raw = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'); // RFC 8032 §7.1 test 1
  assert.equal(readEd25519Point(Buffer.concat([Buffer.from([4, 32]), raw])).hex, raw.toString('hex'));
  assert.ok(readEd25519Point(raw).equals(PublicKey.fromRaw(raw)));
  assertCode(() => readEd25519Point(Buffer.concat([Buffer.from([4, 33, 0]), raw])), 'ERR_PKCS11_KEY_TYPE');
  assertCode(() => readEd25519Point(Buffer.concat([Buffer.from([3, 32]), raw])), 'ERR_PKCS11_KEY_TYPE');
  assertCode(() => readEd25519Point(raw.subarray(1)), 'ERR_PKCS11_KEY_TYPE');
});

test('token errors: a finalized module is re-opened transparently; a removed token is a coded I/O error, unhealthy until it returns', { skip }, async () => {
  const g = await generatePkcs11Key(uri('removable', 'online-1'), o);
  const signer = await openPkcs11Signer(uri('removable', 'online-1'), { ...o, poolSize: 2 });
  const m = enc.encode('before');
  assert.ok(verifyEd25519(g.publicKey, m, signer.sign(m)));

  // Another user of the module in this process finalizes it (PKCS#11 C_Finalize is per process): every session and
  // the login are gone; the signer re-initializes, re-opens and logs in again, once, inside the same sign call.
  const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const other = new pkcs11js.PKCS11();
  other.load(hsm.module);
  other.C_Finalize();
  assert.ok(verifyEd25519(g.publicKey, m, signer.sign(m)), 'signed after the re-open');
  assert.ok(verifyEd25519(g.publicKey, m, await signer.signAsync(m)), 'the pool was re-opened too');
  assert.deepEqual(signerHealth(signer), { ok: true });

  // The token disappears (its directory is removed, as when a device is pulled): a coded I/O error, and unhealthy.
  const dir = hsm.tokenDirOf('removable');
  const backup = join(hsm.dir, 'removable-backup');
  cpSync(dir, backup, { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  assertCode(() => signer.sign(m), 'ERR_PKCS11_TOKEN_FAILED', 'IoError');
  await assertRejectsCode(signer.signAsync(m), 'ERR_PKCS11_TOKEN_FAILED');
  const h = signerHealth(signer);
  assert.equal(h.ok, false);
  assert.match(h.reason ?? '', /\[ERR_PKCS11_TOKEN_FAILED\]$/);

  // It comes back: the next call re-opens, checks it is the same key, and the signer is healthy again.
  cpSync(backup, dir, { recursive: true });
  other.C_Finalize(); // SoftHSM2 reads its token directory at initialization
  assert.ok(verifyEd25519(g.publicKey, m, signer.sign(m)));
  assert.equal(signerHealth(signer).ok, true);
  signer.close();
  assert.throws(() => signer.sign(m), /after close/);
});

test('a token whose user PIN is locked is refused before any session or login; a token that cannot say what it is is a coded I/O error', () => {
  const calls: string[] = [];
  const fake = (flags: number | Error): PKCS11 =>
    ({
      C_GetTokenInfo: () => {
        calls.push('info');
        if (flags instanceof Error) throw flags;
        return { label: 'custody'.padEnd(32, ' '), flags };
      },
      C_OpenSession: () => {
        calls.push('open');
        return Buffer.from([1]);
      },
    }) as unknown as PKCS11;
  assertCode(() => openTokenSession(fake(0x40000 | 0x4), Buffer.from([0]), false), 'ERR_PKCS11_PIN_LOCKED');
  assert.deepEqual(calls, ['info']);
  assertCode(() => openTokenSession(fake(new Error('CKR_DEVICE_REMOVED')), Buffer.from([0]), true), 'ERR_PKCS11_TOKEN_FAILED');
  calls.length = 0;
  const t = openTokenSession(fake(0x4), Buffer.from([0]), true);
  assert.deepEqual({ label: t.label, loginRequired: t.loginRequired, calls }, { label: 'custody', loginRequired: true, calls: ['info', 'open'] });
});

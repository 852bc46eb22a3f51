/**
 * test/hsm/pin-refusal — a wrong PIN on a real SoftHSM2 token is refused with its code after exactly one C_Login, and
 * never presented again by the same signer or token KEK (issue 12, "the token's lockout respected: never retried in a
 * loop"). SoftHSM2 has no lockout counter, so the logins are counted instead: every PKCS#11 call goes through OpenSC's
 * pkcs11-spy module, which logs each call to a file. Skips loudly without SoftHSM2 or pkcs11-spy.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openPkcs11AesKey, generatePkcs11AesKey } from '../../src/hsm/aes-key.ts';
import { generatePkcs11Key, openPkcs11Signer, type Pkcs11Options } from '../../src/hsm/pkcs11.ts';
import { TokenKek } from '../../src/secrets/token-kek.ts';
import { assertCode, assertRejectsCode } from '../support/assert.ts';
import { SKIP_SOFTHSM, USER_PIN, setupSoftHsm, type SoftHsm } from '../support/softhsm.ts';

/** SPY_CANDIDATES are where distributions install OpenSC's pkcs11-spy. */
const SPY = ['/usr/lib/x86_64-linux-gnu/pkcs11-spy.so', '/usr/lib/aarch64-linux-gnu/pkcs11-spy.so', '/usr/lib64/pkcs11-spy.so', '/usr/lib/pkcs11-spy.so', '/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so'].find((p) =>
  existsSync(p),
);
const skip =
  SKIP_SOFTHSM ||
  (SPY === undefined
    ? (() => {
        const msg = 'SKIPPED: pkcs11-spy (opensc) is not installed; the C_Login count on a wrong PIN was not checked';
        process.stderr.write(`\n*** ${msg} ***\n\n`);
        return msg;
      })()
    : false);

let hsm: SoftHsm;
let o: Pkcs11Options;
let spyLog: string;
const enc = new TextEncoder();

before(() => {
  if (skip) return;
  hsm = setupSoftHsm(['pins']);
  spyLog = join(hsm.dir, 'spy.log');
  // pkcs11-spy reads these when it is loaded, in this process: the module we load is the spy, which loads SoftHSM2.
  process.env.PKCS11SPY = hsm.module;
  process.env.PKCS11SPY_OUTPUT = spyLog;
  o = { cwd: hsm.dir, env: { ...hsm.env, CUSTODY_PKCS11_MODULE: SPY! } };
  writeFileSync(join(hsm.dir, 'wrong.pin'), '000000\n', { mode: 0o600 });
});
after(() => hsm?.cleanup());

/** logins counts the C_Login calls the spy has logged so far. */
function logins(): number {
  if (!existsSync(spyLog)) return 0;
  return readFileSync(spyLog, 'latin1').split('\n').filter((l) => /\bC_Login\b/.test(l)).length;
}

test('a wrong PIN: one C_Login, ERR_PKCS11_PIN_INCORRECT, and the signer and token KEK never log in again', { skip }, async () => {
  await generatePkcs11Key('pkcs11:token=pins;object=signer?pin-source=file:pin.txt', o);
  await generatePkcs11AesKey('pkcs11:token=pins;object=kek?pin-source=file:pin.txt', o);
  assert.ok(logins() >= 2, 'the spy sees the logins (its log is where the count comes from)');

  // Opening with a wrong PIN: exactly one C_Login, refused with its code.
  let n = logins();
  await assertRejectsCode(openPkcs11Signer('pkcs11:token=pins;object=signer?pin-source=file:wrong.pin', o), 'ERR_PKCS11_PIN_INCORRECT');
  assert.equal(logins() - n, 1, 'one C_Login for the signer');
  n = logins();
  await assertRejectsCode(openPkcs11AesKey('pkcs11:token=pins;object=kek?pin-source=file:wrong.pin', o), 'ERR_PKCS11_PIN_INCORRECT');
  assert.equal(logins() - n, 1, 'one C_Login for the token KEK');

  // A signer and a KEK that worked, then the PIN is changed under them and every session dropped (the module
  // finalized, as a token reset would): the next use logs in once with the old PIN, is refused, and never again.
  const signer = await openPkcs11Signer('pkcs11:token=pins;object=signer?pin-source=file:pin.txt', o);
  const kek = await openPkcs11AesKey('pkcs11:token=pins;object=kek?pin-source=file:pin.txt', o);
  const aad = enc.encode('aad');
  const wrapped = kek.encrypt(new Uint8Array(32), aad);
  assert.equal(signer.sign(enc.encode('m')).length, 64);
  const pkcs11js = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const direct = new pkcs11js.PKCS11();
  direct.load(hsm.module);
  const slot = direct.C_GetSlotList(true)[0]!;
  const s = direct.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  direct.C_SetPIN(s, USER_PIN, '135790');
  direct.C_CloseSession(s);
  direct.C_Finalize();

  n = logins();
  assertCode(() => signer.sign(enc.encode('m')), 'ERR_PKCS11_PIN_INCORRECT');
  assert.throws(() => kek.decrypt(wrapped, aad), (e: Error & { code?: string }) => e.code === 'ERR_PKCS11_PIN_INCORRECT');
  assert.equal(logins() - n, 2, 'one C_Login each');
  for (let i = 0; i < 5; i++) {
    assertCode(() => signer.sign(enc.encode('m')), 'ERR_PKCS11_PIN_INCORRECT');
    await assertRejectsCode(signer.signAsync(enc.encode('m')), 'ERR_PKCS11_PIN_INCORRECT');
    assert.throws(() => kek.encrypt(new Uint8Array(32), aad), (e: Error & { code?: string }) => e.code === 'ERR_PKCS11_PIN_INCORRECT');
  }
  assert.equal(logins() - n, 2, 'no further C_Login: a refused PIN is never presented again');
  signer.close();
  kek.close();
});

test('a token KEK of the secret store with a wrong PIN: one C_Login however many secrets are read', { skip }, async () => {
  const kek = new TokenKek('kek-0123456789abcdef', { uri: 'pkcs11:token=pins;object=kek', pinSource: join(hsm.dir, 'wrong.pin') }, o);
  const aad = enc.encode('aad');
  const n = logins();
  for (let i = 0; i < 5; i++) {
    await assertRejectsCode(kek.unwrap(new Uint8Array(60), aad), 'ERR_PKCS11_PIN_INCORRECT');
    await assertRejectsCode(kek.wrap(new Uint8Array(32), aad), 'ERR_PKCS11_PIN_INCORRECT');
  }
  assert.equal(logins() - n, 1, 'one C_Login, never retried');
  kek.close();
});
